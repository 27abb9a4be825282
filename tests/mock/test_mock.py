"""Self-tests of the mock providers: run `python3 -m unittest tests/mock/test_mock.py -v` from the repo root."""
import base64
import datetime
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import unittest.mock
from decimal import Decimal
from urllib.parse import urlencode

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import costs  # noqa: E402
import entities  # noqa: E402
import mock_providers  # noqa: E402
import orgs  # noqa: E402
import totals  # noqa: E402
import usage  # noqa: E402

ANCHOR = "2026-08-10"  # windows around it straddle the 2026-07-15 change of OpenAI completions fields
OPENAI = {"Authorization": "Bearer sk-admin-test-openai"}
ANTHROPIC = {"x-api-key": "sk-ant-admin01-test", "anthropic-version": "2023-06-01"}
OPENROUTER = {"Authorization": "Bearer sk-or-v1-mgmt-test"}
DAY = 86400


def ts(date_text):
    return int(datetime.datetime.fromisoformat(date_text + "T00:00:00+00:00").timestamp())


class Client:
    def __init__(self, port):
        self.port = port

    def raw(self, path, headers=None, timeout=10):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("GET", path, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp, resp.read()
        finally:
            conn.close()

    def get(self, path, headers, params=None, **kw):
        url = path + ("?" + urlencode(params, doseq=True) if params else "")
        status, resp, body = self.raw(url, headers, **kw)
        return status, json.loads(body, parse_float=Decimal), resp

    def pages(self, path, headers, params, cursor_param="page"):
        """Every page of a paginated endpoint (bucket or id cursor), as a list of bodies."""
        params, out = dict(params), []
        while True:
            status, body, _ = self.get(path, headers, params)
            assert status == 200, body
            out.append(body)
            if not body["has_more"]:
                return out
            params[cursor_param] = body["next_page"] if cursor_param == "page" else body["last_id"]
            assert len(out) < 500


class MockTestCase(unittest.TestCase):
    server = None

    @classmethod
    def setUpClass(cls):
        cls.server = mock_providers.MockServer(("127.0.0.1", 0), "small", 42, ANCHOR)
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()
        cls.c = Client(cls.server.server_address[1])

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.server.server_close()

    def openai_usage(self, endpoint, start, end, **params):
        params.update(start_time=ts(start), end_time=ts(end))
        return self.c.pages(f"/v1/organization/usage/{endpoint}", OPENAI, params)

    def anthropic_usage(self, start, end, **params):
        params.update(starting_at=start + "T00:00:00Z", ending_at=end + "T00:00:00Z")
        return self.c.pages("/v1/organizations/usage_report/messages", ANTHROPIC, params)


class TestAuthAndLists(MockTestCase):
    def test_healthz(self):
        status, _, body = self.c.raw("/mock/healthz")
        self.assertEqual((status, json.loads(body)), (200, {"ok": True}))

    def test_openai_auth(self):
        cases = [({}, 401), ({"Authorization": "Bearer sk-admin-wrong"}, 401),
                 ({"Authorization": "Bearer sk-proj-abc"}, 403)]
        for headers, expected in cases:
            status, body, _ = self.c.get("/v1/organization/projects", headers)
            self.assertEqual(status, expected)
            self.assertEqual(set(body["error"]), {"message", "type", "param", "code"})
        status, body, _ = self.c.get("/v1/organization/projects", {"Authorization": "Bearer sk-admin-wrong"})
        self.assertEqual(body["error"]["code"], "invalid_api_key")
        self.assertTrue(body["error"]["message"].startswith("Incorrect API key provided: sk-ad***"))

    def test_anthropic_auth(self):
        status, body, resp = self.c.get("/v1/organizations/workspaces", {"x-api-key": "nope",
                                                                        "anthropic-version": "2023-06-01"})
        self.assertEqual(status, 401)
        self.assertEqual(body["error"], {"type": "authentication_error", "message": "invalid x-api-key"})
        self.assertTrue(body["request_id"].startswith("req_"))
        self.assertEqual(body["type"], "error")
        status, body, _ = self.c.get("/v1/organizations/workspaces", {"x-api-key": "sk-ant-admin01-test"})
        self.assertEqual((status, body["error"]["type"]), (400, "invalid_request_error"))

    def test_openai_projects_paging(self):
        pages = self.c.pages("/v1/organization/projects", OPENAI, {"limit": 1, "include_archived": "true"}, "after")
        projects = [p for page in pages for p in page["data"]]
        self.assertTrue(all(len(page["data"]) <= 1 for page in pages))
        self.assertEqual(len({p["id"] for p in projects}), len(projects))
        self.assertIn("archived", {p["status"] for p in projects})
        _, active, _ = self.c.get("/v1/organization/projects", OPENAI, {"limit": 100})
        self.assertEqual(len(active["data"]), len(projects) - 1)
        self.assertEqual(active["object"], "list")
        self.assertEqual(set(active["data"][0]), {"id", "object", "name", "created_at", "archived_at", "status",
                                                  "external_key_id"})

    def test_openai_keys(self):
        _, projects, _ = self.c.get("/v1/organization/projects", OPENAI, {"include_archived": "true"})
        keys, hidden = [], 0
        for p in projects["data"]:
            every = self.c.pages(f"/v1/organization/projects/{p['id']}/api_keys", OPENAI,
                                 {"owner_project_access": "any", "limit": 2}, "after")
            default = self.c.pages(f"/v1/organization/projects/{p['id']}/api_keys", OPENAI, {}, "after")
            keys += [k for page in every for k in page["data"]]
            hidden += sum(len(pg["data"]) for pg in every) - sum(len(pg["data"]) for pg in default)
        self.assertEqual(len(keys), 10)
        self.assertGreaterEqual(hidden, 1)  # an owner_project_access=inactive key is hidden by default
        self.assertIn(None, [k["last_used_at"] for k in keys])  # the never-used key
        self.assertTrue(all(k["object"] == "organization.project.api_key" and k["id"].startswith("key_")
                            for k in keys))
        status, body, _ = self.c.get("/v1/organization/projects/proj_nope/api_keys", OPENAI)
        self.assertEqual(status, 404)

    def test_anthropic_lists(self):
        pages = self.c.pages("/v1/organizations/workspaces", ANTHROPIC,
                             {"limit": 1, "include_archived": "true", "include_default": "true"}, "after_id")
        spaces = [w for page in pages for w in page["data"]]
        self.assertEqual(len(spaces), 3)
        self.assertTrue(all(w["type"] == "workspace" and w["id"].startswith("wrkspc_") for w in spaces))
        keys = [k for page in self.c.pages("/v1/organizations/api_keys", ANTHROPIC, {"limit": 3}, "after_id")
                for k in page["data"]]
        self.assertEqual(len(keys), 10)
        self.assertIn(None, {k["workspace_id"] for k in keys})  # default-workspace keys
        self.assertTrue({"archived", "inactive"} & {k["status"] for k in keys})
        _, active, _ = self.c.get("/v1/organizations/api_keys", ANTHROPIC, {"status": "active", "limit": 100})
        self.assertTrue(all(k["status"] == "active" for k in active["data"]))


class TestUsage(MockTestCase):
    def test_openai_completions_fields_by_era(self):
        pages = self.openai_usage("completions", "2026-07-13", "2026-07-17", group_by=["project_id", "model"])
        buckets = [b for page in pages for b in page["data"]]
        self.assertEqual([b["start_time"] for b in buckets], [ts("2026-07-13") + i * DAY for i in range(4)])
        for b in buckets:
            self.assertEqual(b["object"], "bucket")
            for r in b["results"]:
                self.assertIsNone(r["api_key_id"])
                self.assertIsNotNone(r["project_id"])
                if b["start_time"] >= ts("2026-07-15"):
                    self.assertEqual(r["input_tokens"], r["input_cached_tokens"] + r["input_cache_write_tokens"]
                                     + r["input_uncached_tokens"])
                    self.assertEqual(r["output_tokens"], r["output_text_tokens"] + r["output_audio_tokens"])
                else:
                    self.assertNotIn("input_uncached_tokens", r)
                    self.assertLessEqual(r["input_cached_tokens"], r["input_tokens"])
        self.assertTrue(all(b["results"] for b in buckets))

    def test_pagination_and_empty_buckets(self):
        pages = self.openai_usage("completions", "2026-04-01", "2026-05-15", limit=5)
        self.assertTrue(all(len(p["data"]) <= 5 for p in pages))
        self.assertTrue(all(p["has_more"] for p in pages[:-1]))
        self.assertIsNone(pages[-1]["next_page"])
        buckets = [b for p in pages for b in p["data"]]
        self.assertEqual(len(buckets), 44)
        self.assertEqual(buckets[0]["results"], [])  # the small org only has 90 days of traffic
        self.assertTrue(buckets[-1]["results"])
        one = self.openai_usage("completions", "2026-04-01", "2026-05-15", limit=31)
        self.assertEqual(buckets, [b for p in one for b in p["data"]])

    def test_anthropic_usage_shape_and_nulls(self):
        pages = self.anthropic_usage("2026-08-01", "2026-08-08", group_by=["workspace_id", "api_key_id", "model"])
        results = [r for p in pages for b in p["data"] for r in b["results"]]
        self.assertIn(None, {r["workspace_id"] for r in results})  # default workspace
        self.assertIn(None, {r["api_key_id"] for r in results})    # Console usage
        self.assertTrue(all(r["service_tier"] is None and r["context_window"] is None for r in results))
        self.assertEqual(set(results[0]["cache_creation"]), {"ephemeral_1h_input_tokens", "ephemeral_5m_input_tokens"})
        ungrouped = self.anthropic_usage("2026-08-01", "2026-08-08")
        self.assertTrue(all(len(b["results"]) == 1 for b in ungrouped[0]["data"]))
        total = sum(r["output_tokens"] for r in results)
        self.assertEqual(total, sum(b["results"][0]["output_tokens"] for b in ungrouped[0]["data"]))

    def test_hourly_sums_equal_daily(self):
        day = self.openai_usage("completions", "2026-08-05", "2026-08-06", group_by=["api_key_id", "model"])
        hours = self.openai_usage("completions", "2026-08-05", "2026-08-06", group_by=["api_key_id", "model"],
                                  bucket_width="1h", limit=24)
        self.assertEqual(len(hours[0]["data"]), 24)
        for metric in ("input_tokens", "output_tokens", "num_model_requests", "input_cached_tokens"):
            self.assertEqual(sum(r[metric] for b in day[0]["data"] for r in b["results"]),
                             sum(r[metric] for b in hours[0]["data"] for r in b["results"]))
        day = self.anthropic_usage("2026-08-05", "2026-08-06")
        hours = self.anthropic_usage("2026-08-05", "2026-08-06", bucket_width="1h", limit=168)
        for metric in ("uncached_input_tokens", "cache_read_input_tokens", "output_tokens"):
            self.assertEqual(sum(r[metric] for b in day[0]["data"] for r in b["results"]),
                             sum(r[metric] for b in hours[0]["data"] for r in b["results"]))

    def test_nothing_after_anchor(self):
        pages = self.openai_usage("completions", "2026-08-09", "2026-08-13")
        self.assertEqual([bool(b["results"]) for b in pages[0]["data"]], [True, True, False, False])

    def test_validation(self):
        bad = [("/v1/organization/usage/completions", OPENAI, {"start_time": 0, "limit": 32}),
               ("/v1/organization/usage/completions", OPENAI, {"start_time": 0, "bucket_width": "1h", "limit": 169}),
               ("/v1/organization/usage/completions", OPENAI, {"start_time": 0, "group_by": "nope"}),
               ("/v1/organization/usage/completions", OPENAI, {"limit": 3}),
               ("/v1/organization/costs", OPENAI, {"start_time": 0, "bucket_width": "1h"}),
               ("/v1/organization/costs", OPENAI, {"start_time": 0, "limit": 181}),
               ("/v1/organization/costs", OPENAI, {"start_time": 0, "page": "page_!!"}),
               ("/v1/organizations/cost_report", ANTHROPIC, {"starting_at": "2026-01-01T00:00:00Z", "limit": 32}),
               ("/v1/organizations/cost_report", ANTHROPIC, {"starting_at": "2026-01-01T00:00:00Z",
                                                             "bucket_width": "1h"}),
               ("/v1/organizations/usage_report/messages", ANTHROPIC, {"starting_at": "yesterday"})]
        for path, headers, params in bad:
            status, body, _ = self.c.get(path, headers, params)
            self.assertEqual(status, 400, (path, params))
            err = body["error"]
            self.assertEqual(err["type"], "invalid_request_error")
        status, body, _ = self.c.get("/v1/organization/costs", OPENAI, {"start_time": ts("2026-08-01"), "limit": 180})
        self.assertEqual(status, 200)


class TestCostsAndTotals(MockTestCase):
    def costs(self, start, end, **params):
        params.update(start_time=ts(start), end_time=ts(end), limit=180)
        return [r for p in self.c.pages("/v1/organization/costs", OPENAI, params) for b in p["data"]
                for r in b["results"]]

    def totals(self, provider, start, end, **extra):
        status, body, _ = self.c.get("/mock/totals", {}, dict(provider=provider, start=start, end=end, **extra))
        self.assertEqual(status, 200, body)
        return body

    def test_openai_costs_shape_and_groupings_agree(self):
        fine = self.costs("2026-08-01", "2026-08-08", group_by=["project_id", "line_item", "api_key_id"])
        self.assertEqual({r["amount"]["currency"] for r in fine}, {"usd"})
        lines = {r["line_item"] for r in fine}
        self.assertTrue(any(line.endswith(", cached input") for line in lines))
        self.assertTrue(any(line.startswith("assistants api | ") for line in lines))
        total = self.totals("openai", "2026-08-01", "2026-08-08")["total"]["cost_usd"]
        for groups in ([], ["project_id"], ["line_item"], ["api_key_id"], ["project_id", "line_item"]):
            rows = fine if len(groups) == 3 else self.costs("2026-08-01", "2026-08-08", group_by=groups)
            self.assertEqual(sum(r["amount"]["value"] for r in rows), Decimal(total), groups)

    def test_float_noise_text_is_served(self):
        status, resp, body = self.c.raw(f"/v1/organization/costs?start_time={ts('2026-08-01')}&group_by=line_item"
                                        f"&group_by=project_id&group_by=api_key_id", OPENAI)
        self.assertRegex(body.decode(), r'"value":\d+\.\d{15,}')

    def test_anthropic_cost_report(self):
        params = {"starting_at": "2026-08-01T00:00:00Z", "ending_at": "2026-08-08T00:00:00Z",
                  "group_by[]": ["workspace_id", "description"], "limit": 31}
        rows = [r for p in self.c.pages("/v1/organizations/cost_report", ANTHROPIC, params)
                for b in p["data"] for r in b["results"]]
        self.assertTrue(all(isinstance(r["amount"], str) and r["currency"] == "USD" for r in rows))
        self.assertIn(None, {r["workspace_id"] for r in rows})
        web = [r for r in rows if r["cost_type"] == "web_search"]
        self.assertTrue(web and all(r["model"] is None and r["description"] == "Web Search Usage" for r in web))
        self.assertIn("code_execution", {r["cost_type"] for r in rows})
        cents = sum(Decimal(r["amount"]) for r in rows)
        total = self.totals("anthropic", "2026-08-01", "2026-08-08")["total"]["cost_usd"]
        self.assertEqual(cents / 100, Decimal(total))

    def test_totals_equal_served_usage(self):
        pages = self.openai_usage("completions", "2026-07-20", "2026-07-30", group_by=["model"])
        served = sum(r["output_tokens"] for p in pages for b in p["data"] for r in b["results"])
        served_req = sum(r["num_model_requests"] for p in pages for b in p["data"] for r in b["results"])
        t = self.totals("openai", "2026-07-20", "2026-07-30", group="model")
        self.assertEqual(served, t["total"]["text_output"] + t["total"]["audio_output"])
        self.assertEqual(served_req, t["total"]["requests"])
        self.assertEqual(sum(g["requests"] for g in t["groups"]), served_req)
        pages = self.anthropic_usage("2026-07-20", "2026-07-30", group_by=["api_key_id"])
        served = sum(r["cache_read_input_tokens"] for p in pages for b in p["data"] for r in b["results"])
        t = self.totals("anthropic", "2026-07-20", "2026-07-30", group="api_key")
        self.assertEqual(served, t["total"]["cache_read_input_tokens"])
        self.assertIsNone(t["groups"][0]["cost_usd"])  # Anthropic never bills per key

    def test_bump_changes_one_day(self):
        before = self.totals("anthropic", "2026-08-01", "2026-08-04", group="day")["groups"]
        after = self.totals("anthropic", "2026-08-01", "2026-08-04", group="day", bump="2026-08-02")["groups"]
        changed = [b["key"] for b, a in zip(before, after) if b != a]
        self.assertEqual(changed, ["2026-08-02"])
        status, body, _ = self.c.get("/mock/bump=2026-08-02/v1/organizations/cost_report", ANTHROPIC,
                                     {"starting_at": "2026-08-02T00:00:00Z", "ending_at": "2026-08-03T00:00:00Z"})
        self.assertEqual(Decimal(body["data"][0]["results"][0]["amount"]) / 100, Decimal(after[1]["cost_usd"]))


class TestOpenRouter(MockTestCase):
    """The OpenRouter management API (anchor 2026-08-10: /activity reports 2026-07-12 .. 2026-08-10)."""

    def test_auth_and_error_shape(self):
        status, body, _ = self.c.get("/v1/activity", {})
        self.assertEqual((status, body), (401, {"error": {"code": 401, "message": "Missing Authentication header",
                                                          "metadata": None}, "user_id": None}))
        status, body, _ = self.c.get("/v1/activity", {"Authorization": "Bearer sk-or-v1-0123inference"})
        self.assertEqual((status, body["error"]["code"], body["error"]["message"]),
                         (403, 403, "Only management keys can fetch activity for an account"))
        status, body, _ = self.c.get("/v1/keys", {"Authorization": "Bearer sk-or-v1-0123inference"})
        self.assertEqual((status, body["error"]["message"]), (403, "Only management keys can perform this operation"))
        status, body, _ = self.c.get("/v1/key", {"Authorization": "Bearer sk-or-v1-0123inference"})
        self.assertEqual(status, 200)
        status, body, resp = self.c.get("/mock/fault=429;tag=or/v1/activity", OPENROUTER)
        self.assertEqual((status, body["error"]), (429, {"code": 429, "message": "Rate limit exceeded",
                                                         "metadata": {"error_type": "rate_limit_exceeded"}}))
        self.assertEqual(resp.getheader("X-RateLimit-Remaining"), "0")
        status, body, _ = self.c.get("/mock/fault=500;tag=or/v1/workspaces", OPENROUTER)
        self.assertEqual((status, body["error"]["code"]), (500, 500))

    def test_workspaces_and_keys_by_offset(self):
        status, body, _ = self.c.get("/v1/workspaces", OPENROUTER, {"limit": 2})
        self.assertEqual((status, body["total_count"], [w["name"] for w in body["data"]]),
                         (200, 3, ["Default", "Agents"]))
        _, body2, _ = self.c.get("/v1/workspaces", OPENROUTER, {"limit": 2, "offset": 2})
        self.assertEqual([w["name"] for w in body2["data"]], ["Evaluation"])
        default, agents = body["data"][0]["id"], body["data"][1]["id"]
        _, keys, _ = self.c.get("/v1/keys", OPENROUTER)
        self.assertEqual([k["name"] for k in keys["data"]], ["or-key-0000", "or-key-0003", "or-key-0005"])
        self.assertTrue(all(k["workspace_id"] == default for k in keys["data"]))
        _, keys, _ = self.c.get("/v1/keys", OPENROUTER, {"workspace_id": agents})
        self.assertEqual([k["name"] for k in keys["data"]], ["or-key-0001"])
        _, keys, _ = self.c.get("/v1/keys", OPENROUTER, {"workspace_id": agents, "include_disabled": "true"})
        self.assertEqual([(k["name"], k["disabled"]) for k in keys["data"]],
                         [("or-key-0001", False), ("or-key-0004", True)])
        self.assertEqual(self.c.get("/v1/keys", OPENROUTER, {"offset": 3})[1], {"data": []})
        # the large org pages the 133 keys of its default workspace: 100 + 33
        sizes = [len(self.c.get("/mock/org=large/v1/keys", OPENROUTER, {"offset": o})[1]["data"])
                 for o in (0, 100, 200)]
        self.assertEqual(sizes, [100, 33, 0])

    def test_activity_window_fields_and_exact_sums(self):
        status, body, _ = self.c.get("/v1/activity", OPENROUTER, {"group_by": "workspace"})
        self.assertEqual(status, 200)
        rows = body["data"]
        days = sorted({r["date"][:10] for r in rows})
        self.assertEqual((days[0], days[-1], len(days)), ("2026-07-12", "2026-08-10", 30))  # no 2026-08-11
        self.assertEqual({len(r["date"]) for r in rows}, {10, 19})  # both forms of the date
        self.assertEqual(len(rows), 158)
        self.assertEqual(sum(r["usage"] for r in rows), Decimal("13.120234220"))
        self.assertEqual(sum(r["byok_usage_inference"] for r in rows), Decimal("9.213825000"))
        self.assertEqual(sum(r["prompt_tokens"] for r in rows), 5996848)
        self.assertEqual(sum(r["completion_tokens"] for r in rows), 1653775)
        self.assertEqual(sum(r["reasoning_tokens"] for r in rows), 200845)
        self.assertTrue(all(r["reasoning_tokens"] <= r["completion_tokens"] for r in rows))
        byok = [r for r in rows if r["byok_usage_inference"]]
        self.assertEqual({r["provider_name"] for r in byok}, {"Anthropic"})
        # credits carry the 5 % BYOK fee of BYOK rows
        self.assertTrue(all(r["usage"] == (r["byok_usage_inference"] * Decimal("0.05")).quantize(Decimal("1e-9"))
                            for r in byok))
        _, totals_body, _ = self.c.get("/mock/totals", {}, {"provider": "openrouter", "start": "2026-07-01",
                                                            "end": "2026-09-01", "anchor": ANCHOR})
        self.assertEqual((totals_body["rows"], totals_body["usage"]), (158, "13.120234220"))
        # without group_by the rows carry no workspace_id, the sums are unchanged
        _, flat, _ = self.c.get("/v1/activity", OPENROUTER)
        self.assertFalse(any("workspace_id" in r for r in flat["data"]))
        self.assertEqual(sum(r["usage"] for r in flat["data"]), Decimal("13.120234220"))

    def test_activity_filters_and_bad_dates(self):
        _, body, _ = self.c.get("/v1/activity", OPENROUTER, {"date": "2026-08-10"})
        self.assertEqual({r["date"][:10] for r in body["data"]}, {"2026-08-10"})
        for bad in ("2026-08-11", "2026-07-11", "10/08/2026"):
            status, body, _ = self.c.get("/v1/activity", OPENROUTER, {"date": bad})
            self.assertEqual((status, body["error"]["message"]), (400, "Invalid date format or date range"), bad)
        status, _, _ = self.c.get("/v1/activity", OPENROUTER, {"group_by": "key"})
        self.assertEqual(status, 400)
        hashes = [k["hash"] for w in self.c.get("/v1/workspaces", OPENROUTER)[1]["data"]
                  for k in self.c.get("/v1/keys", OPENROUTER, {"workspace_id": w["id"], "include_disabled": "true"})[1]["data"]]
        per_key = [self.c.get("/v1/activity", OPENROUTER, {"api_key_hash": h})[1]["data"] for h in hashes]
        self.assertEqual([len(rows) for rows in per_key], [53, 26, 24, 26, 0, 29])  # or-key-0004 (disabled) has none
        self.assertEqual(sum(r["usage"] for rows in per_key for r in rows), Decimal("13.120234220"))

    def test_activity_faults(self):
        status, body, _ = self.c.get("/mock/fault=wrongtype;tag=or/v1/activity", OPENROUTER)
        self.assertIsInstance(body["data"][0]["usage"], str)
        status, body, _ = self.c.get("/mock/fault=negative;tag=or/v1/activity", OPENROUTER)
        self.assertEqual(body["data"][0]["prompt_tokens"], -5)


class TestWebhookReceiver(MockTestCase):
    def post(self, path, body):
        conn = http.client.HTTPConnection("127.0.0.1", self.c.port, timeout=10)
        try:
            conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def test_records_bodies_after_the_failures_asked_for(self):
        self.c.raw("/mock/reset")
        self.assertEqual(self.post("/mock/webhook/ops?fail=1", {"text": "a"})[0], 500)
        self.assertEqual(self.post("/mock/webhook/ops?fail=1", {"text": "a"})[0], 200)
        self.assertEqual(self.post("/mock/webhook/other", {"text": "b"})[0], 200)
        status, got, _ = self.c.get("/mock/webhooks", {})
        self.assertEqual(status, 200)
        self.assertEqual(got, [{"name": "ops", "content_type": "application/json", "body": {"text": "a"}},
                               {"name": "other", "content_type": "application/json", "body": {"text": "b"}}])
        self.assertEqual(self.post("/v1/organization/projects", {})[0], 404)


class TestFaults(MockTestCase):
    def api(self, options, provider="openai", timeout=10):
        if provider == "openai":
            path = f"/mock/{options}/v1/organization/usage/completions?start_time={ts('2026-08-01')}&limit=2"
            return self.c.raw(path, OPENAI, timeout)
        return self.c.raw(f"/mock/{options}/v1/organizations/workspaces?limit=1", ANTHROPIC, timeout)

    def test_http_status_faults(self):
        for code in ("429", "500", "502", "503", "504", "529", "401", "403"):
            for provider in ("openai", "anthropic"):
                status, _, body = self.api(f"fault={code};tag=s{provider}", provider)
                self.assertEqual(status, int(code))
                body = json.loads(body)
                self.assertIn("error", body)
                if provider == "anthropic":
                    self.assertEqual(body["type"], "error")

    def test_count_after_retry_after(self):
        statuses = [self.api("fault=429;count=2;retry_after=3")[0] for _ in range(4)]
        self.assertEqual(statuses, [429, 429, 200, 200])
        _, resp, _ = self.api("fault=503;retry_after=7")
        self.assertEqual(resp.getheader("retry-after"), "7")
        statuses = [self.api("fault=500;after=2;count=1")[0] for _ in range(4)]
        self.assertEqual(statuses, [200, 200, 500, 200])

    def test_timeout_and_slow(self):
        with self.assertRaises((socket.timeout, TimeoutError)):
            self.api("fault=timeout;delay_ms=1500", timeout=0.3)
        started = time.time()
        status, _, body = self.api("fault=slow;delay_ms=400")
        self.assertEqual(status, 200)
        self.assertGreaterEqual(time.time() - started, 0.3)
        json.loads(body)

    def test_broken_bodies(self):
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
            self.api("fault=drop")
        with self.assertRaises(http.client.IncompleteRead):
            self.api("fault=truncate")
        status, _, body = self.api("fault=malformed")
        self.assertEqual(status, 200)
        with self.assertRaises(ValueError):
            json.loads(body)

    def test_wrongtype(self):
        _, _, body = self.api("fault=wrongtype")
        bucket = json.loads(body)["data"][0]
        self.assertEqual(bucket["start_time"], "abc")
        self.assertIsInstance(bucket["results"][0]["input_tokens"], str)

    def test_cursorloop(self):
        bodies = []
        path = f"/mock/fault=cursorloop/v1/organization/costs?start_time={ts('2026-08-01')}"
        for _ in range(3):
            status, body, _ = self.c.get(path + (f"&page={bodies[-1]['next_page']}" if bodies else ""), OPENAI)
            bodies.append(body)
        self.assertTrue(all(b["has_more"] for b in bodies))
        self.assertEqual(len({b["next_page"] for b in bodies}), 1)

    def test_oversize(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.c.port, timeout=30)
        conn.request("GET", "/mock/fault=oversize/v1/organizations/usage_report/messages"
                            "?starting_at=2026-08-01T00:00:00Z", headers=ANTHROPIC)
        resp = conn.getresponse()
        size = int(resp.getheader("Content-Length"))
        self.assertGreater(size, 69 * 1024 * 1024)
        read = 0
        while True:
            chunk = resp.read(1 << 20)
            if not chunk:
                break
            read += len(chunk)
        conn.close()
        self.assertEqual(read, size)

    def test_keyecho_echoes_the_key_it_was_sent(self):
        for provider, headers, key in (("openai", {"Authorization": "Bearer sk-admin-some-other-key-0123"},
                                        "sk-admin-some-other-key-0123"),
                                       ("anthropic", {"x-api-key": "sk-ant-admin01-other-key-4567",
                                                      "anthropic-version": "2023-06-01"},
                                        "sk-ant-admin01-other-key-4567")):
            prefix = "/v1/organization/projects" if provider == "openai" else "/v1/organizations/workspaces"
            status, _, body = self.c.raw(f"/mock/fault=keyecho;tag=k{provider}{prefix}", headers)
            self.assertEqual(status, 401)
            message = json.loads(body)["error"]["message"]
            header = ("Bearer " if provider == "openai" else "") + key
            for echo in (key, key.upper(), key[:-3], key[3:], base64.b64encode(key.encode()).decode(),
                         base64.b64encode(header.encode()).decode()):
                self.assertIn(echo, message)

    def test_endless_gives_a_fresh_cursor_every_time(self):
        cursors = set()
        path = f"/mock/fault=endless/v1/organization/costs?start_time={ts('2026-08-01')}"
        for _ in range(3):
            status, body, _ = self.c.get(path, OPENAI)
            self.assertTrue(body["has_more"])
            cursors.add(body["next_page"])
        self.assertEqual(len(cursors), 3)
        status, body, _ = self.c.get("/mock/fault=endless/v1/organizations/workspaces", ANTHROPIC)
        self.assertTrue(body["has_more"])
        self.assertTrue(body["last_id"].startswith("page_"))

    def test_manysmall_is_many_tiny_results(self):
        status, _, body = self.api("fault=manysmall;mb=1")
        self.assertEqual(status, 200)
        self.assertGreater(len(body), 1024 * 1024 - 64)
        results = json.loads(body)["data"][0]["results"]
        self.assertGreater(len(results), 50000)
        self.assertEqual(results[0], {"input_tokens": 0})

    def test_multibyte_and_badutf8(self):
        status, _, body = self.api("fault=multibyte", "anthropic")
        self.assertEqual(status, 500)
        message = json.loads(body)["error"]["message"]
        self.assertEqual(sum(ord(c) > 127 for c in message), 40 * 23)  # 23 multibyte characters, 40 times
        self.assertIn("🚨", message)
        status, _, body = self.api("fault=badutf8")
        self.assertEqual(status, 200)
        with self.assertRaises(UnicodeDecodeError):
            body.decode("utf-8")

    def test_newkinds(self):
        """fault=newkinds rewrites the OpenAI cost kinds and keeps every amount."""
        path = f"/v1/organization/costs?start_time={ts('2026-08-01')}&limit=7&group_by=line_item"
        _, _, plain = self.c.raw(path, OPENAI)
        status, _, body = self.c.raw("/mock/fault=newkinds" + path, OPENAI)
        self.assertEqual(status, 200)
        def lines(b):
            return [(r["line_item"], r["amount"]["value"]) for d in json.loads(b)["data"] for r in d["results"]]
        before, after = lines(plain), lines(body)
        self.assertEqual([v for _, v in before], [v for _, v in after])
        self.assertIn("sparkle units v2", " ".join(line for line, _ in after))
        self.assertTrue(all(b.split(", ")[0] == a.split(", ")[0] for (b, _), (a, _) in zip(before, after) if b))

    def test_overflow_and_negative(self):
        _, _, body = self.api("fault=overflow")
        result = json.loads(body)["data"][0]["results"][0]
        self.assertEqual(result["output_tokens"] + result["output_audio_tokens"], 2 * (2 ** 63 - 1))
        _, _, body = self.api("fault=overflow", "anthropic")
        self.assertEqual(json.loads(body)["data"], json.loads(self.api("fault=none", "anthropic")[2])["data"])
        status, body, _ = self.c.get("/mock/fault=overflow/v1/organization/projects", OPENAI)
        self.assertEqual(body["data"][0]["created_at"], 10 ** 17)
        status, body, _ = self.c.get("/mock/fault=overflow/v1/organizations/usage_report/messages",
                                     ANTHROPIC, {"starting_at": "2026-08-01T00:00:00Z", "limit": 1})
        self.assertEqual(body["data"][0]["results"][0]["uncached_input_tokens"], 2 * (2 ** 63 - 1))
        _, _, body = self.api("fault=negative")
        self.assertEqual(json.loads(body)["data"][0]["results"][0]["input_tokens"], -5)

    def test_data_options_and_errors(self):
        status, _, body = self.c.raw("/mock/org=demo;seed=7/v1/organization/projects", OPENAI)
        self.assertIn("Customer Support Bot", {p["name"] for p in json.loads(body)["data"]})
        status, _, _ = self.c.raw("/mock/fault=nope/v1/organization/projects", OPENAI)
        self.assertEqual(status, 400)
        for path in ("/mock/fault=none;tag=slash//v1/organization/projects", "//v1/organization/projects"):
            self.assertEqual(self.c.raw(path, OPENAI)[0], 200, path)


class TestCalendarIndependence(unittest.TestCase):
    """Without --anchor, a fixed past window has the same figures whatever day the server runs."""

    def figures(self):
        for cached in (usage._full_day, usage.day_rows_upto, usage._hour_rows, costs._day_costs, orgs.get_org):
            cached.cache_clear()
        start, end = entities.epoch_day(datetime.date(2026, 9, 1)), entities.epoch_day(datetime.date(2026, 10, 1))
        org = orgs.get_org("small", 42)
        return [totals.compute(org, p, start, end, "api_key") for p in ("openai", "anthropic")]

    def test_fixed_window_same_forty_days_later(self):
        now = time.time()
        first = self.figures()
        with unittest.mock.patch.object(entities.time, "time", lambda: now + 40 * DAY):
            later = self.figures()
        self.figures()  # leave the caches filled for today
        self.assertEqual(first, later)
        self.assertGreater(first[0]["total"]["usage_rows"], 100)


class TestProcess(unittest.TestCase):
    """The CLI: --port 0 + --port-file, the startup line, determinism across runs, SIGTERM."""

    def start(self, *args):
        port_file = tempfile.mktemp()
        proc = subprocess.Popen([sys.executable, os.path.join(HERE, "mock_providers.py"), "--port", "0",
                                 "--port-file", port_file, *args], stdout=subprocess.PIPE, text=True)
        line = proc.stdout.readline()
        with open(port_file) as f:
            port = int(f.read())
        os.unlink(port_file)
        self.assertEqual(line.strip(), f"mock providers listening on http://127.0.0.1:{port}")
        return proc, Client(port)

    def stop(self, proc):
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(timeout=5), 0)
        proc.stdout.close()

    def test_determinism_and_sigterm(self):
        query = (f"/v1/organization/costs?start_time={ts('2026-07-01')}&limit=40"
                 "&group_by=project_id&group_by=line_item&group_by=api_key_id")
        bodies = []
        for _ in range(2):
            proc, client = self.start("--org", "demo", "--anchor", ANCHOR)
            try:
                bodies.append(client.raw(query, OPENAI)[2])
                bodies.append(client.raw("/v1/organizations/api_keys?limit=100", ANTHROPIC)[2])
            finally:
                self.stop(proc)
        self.assertEqual(bodies[:2], bodies[2:])
        self.assertGreater(len(bodies[0]), 10000)

    def test_today_is_partial(self):
        proc, client = self.start("--org", "demo")
        try:
            today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
            base = {"starting_at": today + "T00:00:00Z", "group_by[]": "model"}
            _, day, _ = client.get("/v1/organizations/usage_report/messages", ANTHROPIC, base)
            _, hours, _ = client.get("/v1/organizations/usage_report/messages", ANTHROPIC,
                                     dict(base, bucket_width="1h", ending_at=today + "T23:59:59Z"))
            hour_now = datetime.datetime.now(datetime.timezone.utc).hour
            self.assertTrue(all(not b["results"] for b in hours["data"][hour_now:]))
            self.assertEqual(sum(r["output_tokens"] for b in day["data"] for r in b["results"]),
                             sum(r["output_tokens"] for b in hours["data"] for r in b["results"]))
        finally:
            self.stop(proc)


if __name__ == "__main__":
    unittest.main()
