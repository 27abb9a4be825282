#!/usr/bin/env python3
"""Mock OpenAI + Anthropic admin APIs and the OpenRouter management API on 127.0.0.1 (entry point).

    python3 tests/mock/mock_providers.py --port N [--org small|medium|large|demo] [--seed 42]
        [--anchor YYYY-MM-DD] [--latency-ms 0] [--port-file PATH] [--verbose]

See README.md in this directory for endpoints, organisations, the fault prefix and /mock/totals.
"""
import argparse
import datetime
import json
import os
import signal
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import anthropic_api  # noqa: E402
import faults  # noqa: E402
import openai_api  # noqa: E402
import openrouter_api  # noqa: E402
import totals  # noqa: E402
from api_common import ApiError, dumps  # noqa: E402
from entities import epoch_day  # noqa: E402
from orgs import ORG_NAMES, get_org  # noqa: E402

PROVIDERS = {"openai": openai_api, "anthropic": anthropic_api, "openrouter": openrouter_api}


class MockServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, org="small", seed=42, anchor=None, latency_ms=0, verbose=False):
        super().__init__(address, Handler)
        self.org_name, self.seed, self.anchor, self.latency_ms = org, seed, anchor, latency_ms
        self.verbose = verbose
        self.tracker = faults.Tracker()
        self.webhooks = []          # bodies posted to /mock/webhook/<name>, in order
        self.webhook_failures = {}  # name -> failures still to answer
        self.lock = threading.Lock()

    def org_for(self, opts):
        """The organisation a request addresses: server defaults overridden by prefix options."""
        name = opts.get("org", self.org_name)
        if name not in ORG_NAMES:
            raise ValueError(f"unknown org '{name}'; known: {', '.join(ORG_NAMES)}")
        anchor = opts.get("anchor") or self.anchor
        anchor_day = epoch_day(datetime.date.fromisoformat(anchor)) if anchor else None
        bumps = frozenset(epoch_day(datetime.date.fromisoformat(d)) for d in opts.get("bump", "").split(",") if d)
        return get_org(name, opts.get("seed", self.seed), anchor_day, bumps)


def _sent_key(provider, headers):
    """The admin key a request carried (whatever it is): what a key-echoing provider echoes."""
    if provider in ("openai", "openrouter"):
        auth = headers.get("Authorization") or ""
        return auth[7:].strip() if auth.startswith("Bearer ") else auth
    return headers.get("x-api-key") or ""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: with Nagle on, each keep-alive response waits ~40 ms
    # for the client's delayed ACK.
    disable_nagle_algorithm = True
    server_version = "aispend-mock/1.0"
    sys_version = ""

    def log_message(self, fmt, *args):
        if self.server.verbose:
            super().log_message(fmt, *args)

    def do_GET(self):
        url = urlsplit(self.path)
        query = parse_qs(url.query, keep_blank_values=True)
        try:
            if url.path == "/mock/healthz":
                return self._send_json(200, {"ok": True})
            if url.path == "/mock/reset":
                self.server.tracker.reset()
                with self.server.lock:
                    self.server.webhooks.clear()
                    self.server.webhook_failures.clear()
                return self._send_json(200, {"ok": True})
            if url.path == "/mock/totals":
                return self._totals(query)
            if url.path == "/mock/webhooks":
                with self.server.lock:
                    return self._send_json(200, list(self.server.webhooks))
            path, options_text, opts = "/" + url.path.lstrip("/"), "", {}
            if path.startswith("/mock/"):
                options_text, _, api_path = path[len("/mock/"):].partition("/")
                opts = faults.parse_options(unquote(options_text))
                path = "/" + api_path.lstrip("/")  # a base URL ending in "/" gives ".../tag=x//v1/..."
            org = self.server.org_for(opts)
        except (ValueError, KeyError) as exc:
            return self._send_json(400, {"mock_error": str(exc)})
        provider = ("openai" if path.startswith(openai_api.PREFIX)
                    else "anthropic" if path.startswith(anthropic_api.PREFIX)
                    else "openrouter" if path.rstrip("/") in openrouter_api.PATHS else None)
        if provider is None:
            return self._send_json(404, {"mock_error": f"no such endpoint: {path}"})
        self._api(provider, path, query, org, options_text, opts)

    def do_POST(self):
        """The webhook receiver of the alert tests: POST /mock/webhook/<name>[?fail=N] records the JSON body
        (GET /mock/webhooks lists them); with fail=N the first N posts to that name are answered 500."""
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if not url.path.startswith("/mock/webhook/"):
            return self._send_json(404, {"mock_error": f"no such endpoint: {url.path}"})
        name = url.path[len("/mock/webhook/"):]
        fail = int(parse_qs(url.query).get("fail", ["0"])[0])
        with self.server.lock:
            left = self.server.webhook_failures.setdefault(name, fail)
            if left > 0:
                self.server.webhook_failures[name] = left - 1
                return self._send_json(500, {"mock_error": "webhook failure on request"})
            try:
                body = json.loads(raw)
            except ValueError:
                return self._send_json(400, {"mock_error": "not JSON"})
            self.server.webhooks.append({"name": name, "content_type": self.headers.get("Content-Type"),
                                         "body": body})
        self._send_json(200, {"ok": True})

    def _api(self, provider, path, query, org, options_text, opts):
        module = PROVIDERS[provider]
        request_id = "req_" + uuid.uuid4().hex[:24]
        headers = {"Content-Type": "application/json",
                   ("x-request-id" if provider == "openai" else "request-id"): request_id}
        if self.server.latency_ms:
            faults.sleep_ms(self.server.latency_ms)
        try:
            if opts.get("fault") == "keyecho" and self.server.tracker.decide(options_text, opts):
                raise faults.keyecho(provider, _sent_key(provider, self.headers))
            if provider == "openrouter":
                module.check_auth(self.headers, path)
            else:
                module.check_auth(self.headers)
            fault = opts.get("fault") if self.server.tracker.decide(options_text, opts) else None
            if fault and fault.isdigit():
                raise faults.error_for(fault, provider, opts)
            if fault == "drop":
                self.close_connection = True
                return
            if fault == "malformed":
                return faults.send_malformed(self, headers)
            if fault == "oversize":
                return faults.send_oversize(self, headers, provider)
            if fault == "manysmall":
                return faults.send_manysmall(self, headers, provider, opts.get("mb", 60))
            if fault == "multibyte":
                raise faults.multibyte(provider)
            if fault == "badutf8":
                return self._send(200, headers, faults.badutf8_body())
            if fault == "timeout":
                faults.sleep_ms(opts.get("delay_ms", 30000))
            obj = module.handle(path, query, org, loop=fault in ("cursorloop", "endless"))
        except ApiError as err:
            headers.update(err.headers)
            return self._send(err.status, headers, dumps(module.error_body(err, request_id)).encode())
        if fault in ("wrongtype", "endless", "overflow", "negative", "newkinds"):
            obj = getattr(faults, fault)(obj)
        body = dumps(obj).encode()
        if fault == "slow":
            return faults.send_slow(self, 200, headers, body, opts.get("delay_ms", 3000))
        if fault == "truncate":
            return faults.send_truncated(self, 200, headers, body)
        self._send(200, headers, body)

    def _totals(self, query):
        one = {k: v[-1] for k, v in query.items()}
        provider, group = one.get("provider"), one.get("group")
        if provider not in PROVIDERS or (group and (group not in totals.GROUPS or provider == "openrouter")):
            raise ValueError("provider must be openai|anthropic|openrouter; group one of " + "|".join(totals.GROUPS)
                             + " (openrouter: none)")
        opts = {k: (int(one[k]) if k == "seed" else one[k]) for k in ("org", "seed", "anchor", "bump") if k in one}
        start = epoch_day(datetime.date.fromisoformat(one["start"]))
        end = epoch_day(datetime.date.fromisoformat(one["end"]))
        if provider == "openrouter":
            result = openrouter_api.totals(self.server.org_for(opts), start, end)
        else:
            result = totals.compute(self.server.org_for(opts), provider, start, end, group)
        result.update(provider=provider, start=one["start"], end=one["end"], end_exclusive=True)
        self._send_json(200, result)

    def _send_json(self, status, obj):
        self._send(status, {"Content-Type": "application/json"}, json.dumps(obj).encode())

    def _send(self, status, headers, body):
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle(self):
        try:
            super().handle()
        except (ConnectionError, TimeoutError):
            pass  # the client went away (e.g. it aborted an oversize or slow body)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="0 picks a free port")
    parser.add_argument("--org", choices=ORG_NAMES, default="small")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--anchor", help="last day of the org's life, YYYY-MM-DD (default: today UTC, with "
                                         "timelines laid out from 2026-11-28 so past figures never change)")
    parser.add_argument("--latency-ms", type=int, default=0, help="added to every API request")
    parser.add_argument("--port-file", help="write the bound port here (useful with --port 0)")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)
    if args.anchor:
        datetime.date.fromisoformat(args.anchor)
    server = MockServer(("127.0.0.1", args.port), args.org, args.seed, args.anchor, args.latency_ms, args.verbose)
    port = server.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        os.replace(tmp, args.port_file)

    def stop(_signum, _frame):
        faults.STOP.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"mock providers listening on http://127.0.0.1:{port}", flush=True)
    server.serve_forever(poll_interval=0.2)
    server.server_close()


if __name__ == "__main__":
    main()
