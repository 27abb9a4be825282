"""The OpenRouter management API surface: workspaces, keys, key, credits and the activity report.

Facts it follows: ../shared/docs/other-providers.md §1 (relative to the repository). Every organisation gets
the same small OpenRouter account, seeded by the org's seed: three workspaces, keys spread over them, and
six traffic lanes (model, serving provider, endpoint, workspace, key), one of them BYOK and one a reasoning
model. /activity serves the last 30 completed UTC days before "today": the real today, or the day after
--anchor / anchor= when one is given, so a fixed anchor gives fixed figures.
"""
import datetime
import hashlib
from decimal import Decimal

from api_common import ApiError, Query, raw_number
from entities import day_date, draws, today

MANAGEMENT_KEY = "sk-or-v1-mgmt-test"
PATHS = ("/v1/activity", "/v1/keys", "/v1/key", "/v1/credits", "/v1/workspaces")
RETENTION_DAYS = 30
KEY_PAGE = 100
KEYS_PER_ORG = {"small": 6, "medium": 30, "large": 250, "demo": 8}
NANO = Decimal("0.000000001")  # the API's amounts carry 9 decimals

# (model, permaslug, provider_name, workspace index, byok, reasoning share, $/M input, $/M output, requests/day)
LANES = (
    ("openai/gpt-4.1", "openai/gpt-4.1-2025-04-14", "OpenAI", 0, False, 0, "2", "8", 40),
    ("openai/gpt-4.1", "openai/gpt-4.1-2025-04-14", "Azure", 1, False, 0, "2", "8", 15),
    ("anthropic/claude-sonnet-4.5", "anthropic/claude-4.5-sonnet-20250929", "Anthropic", 0, True, 0, "3", "15", 25),
    ("deepseek/deepseek-r1", "deepseek/deepseek-r1-0528", "baseten/fp4", 2, False, 0.6, "0.5", "2.15", 12),
    ("google/gemini-2.5-flash", "google/gemini-2.5-flash", "Google", 1, False, 0.3, "0.3", "2.5", 30),
    ("meta-llama/llama-3.3-70b-instruct", "meta-llama/llama-3.3-70b-instruct", "Groq", 2, False, 0, "0.59",
     "0.79", 8),
)
WORKSPACES = (("Default", "default"), ("Agents", "agents"), ("Evaluation", "evaluation"))


def error_body(err, request_id):
    """{"error": {"code", "message", "metadata"}, "user_id"}: OpenRouter's one error shape."""
    return {"error": {"code": err.status, "message": err.message, "metadata": err.code}, "user_id": None}


def _error(status, message, metadata=None, headers=None):
    return ApiError(status, None, message, code=metadata, headers=headers)


def check_auth(headers, path=""):
    """401 without a key; 403 for any key but the management key (an inference key, a wrong key)."""
    auth = headers.get("Authorization") or ""
    token = auth[7:].strip() if auth.startswith("Bearer ") else ""
    if token == MANAGEMENT_KEY:
        return
    if not token:
        raise _error(401, "Missing Authentication header")
    if path.rstrip("/") == "/v1/key":
        return  # any key may read its own stats
    if path.rstrip("/") == "/v1/activity":
        raise _error(403, "Only management keys can fetch activity for an account")
    raise _error(403, "Only management keys can perform this operation")


def _uuid(seed, kind, n):
    h = hashlib.blake2b(repr((seed, "openrouter", kind, n)).encode(), digest_size=16).hexdigest()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def workspaces(org):
    return [{"id": _uuid(org.seed, "ws", i), "name": name, "slug": slug,
             "description": None if i == 0 else f"{name} workspace",
             "created_at": day_date(org.first_day + 30 * i).isoformat() + "T08:00:00.123456+00:00",
             "updated_at": None, "created_by": _user(org, i), "default_text_model": None}
            for i, (name, slug) in enumerate(WORKSPACES)]


def _user(org, i):
    return "user_2dHFtVWx2n56w6HkM" + hashlib.blake2b(repr((org.seed, i % 3)).encode(),
                                                       digest_size=5).hexdigest()[:10]


def keys(org):
    wss = workspaces(org)
    out = []
    for i in range(KEYS_PER_ORG.get(org.name, 6)):
        h = hashlib.sha256(repr((org.seed, "openrouter-key", i)).encode()).hexdigest()
        out.append({"hash": h, "name": f"or-key-{i:04d}", "label": f"sk-or-v1-{h[:3]}...{h[-4:]}",
                    "disabled": i % 5 == 4, "limit": None if i % 3 else 50, "limit_remaining": None,
                    "limit_reset": None if i % 3 else "monthly", "include_byok_in_limit": False,
                    "usage": 0, "usage_daily": 0, "usage_weekly": 0, "usage_monthly": 0, "byok_usage": 0,
                    "created_at": day_date(org.first_day + 40 + i % 300).isoformat() + "T12:34:56.363244+00:00",
                    "updated_at": None, "expires_at": None,
                    "creator_user_id": _user(org, i) if i % 4 else None,
                    "workspace_id": wss[i % 3 if i < 3 else (0 if i % 2 else i % 3)]["id"]})
    return out


def current_day(org):
    """The open UTC day (never reported): today, or the day after the anchor."""
    return today() if org.anchor_day is None else org.anchor_day + 1


def window(org):
    """[first, end) epoch days /activity reports: the last 30 completed days with traffic."""
    end = current_day(org)
    return max(end - RETENTION_DAYS, org.ref_day - org.activity_days), end


def activity_rows(org, day):
    """The day's rows, one per active lane, with exact Decimal amounts (the workspace and key kept)."""
    wss, ks = workspaces(org), [k for k in keys(org) if not k["disabled"]]
    rows = []
    for n, (model, slug, prov, ws, byok, reasoning, pin, pout, scale) in enumerate(LANES):
        u = draws(org.seed, "openrouter", day, n)
        if u[0] > 0.85:
            continue
        requests = 1 + int(scale * (0.5 + u[1]))
        prompt = requests * (200 + int(3000 * u[2]))
        completion = requests * (50 + int(800 * u[3]))
        price = (prompt * Decimal(pin) + completion * Decimal(pout)) / 1000000
        price = price.quantize(NANO)
        if byok:  # inference billed by the user's own provider key; OpenRouter charges its 5 % fee in credits
            usage, byok_usage = (price * Decimal("0.05")).quantize(NANO), price
        else:
            usage, byok_usage = price, Decimal(0)
        rows.append({
            # the real API's form on even days, the spec's on odd ones
            "date": day_date(day).isoformat() + (" 00:00:00" if day % 2 == 0 else ""),
            "model": model, "model_permaslug": slug, "endpoint_id": _uuid(org.seed, "endpoint", n),
            "provider_name": prov, "usage": usage, "byok_usage_inference": byok_usage,
            "requests": requests, "prompt_tokens": prompt, "completion_tokens": completion,
            "reasoning_tokens": int(completion * reasoning), "byok_requests": requests if byok else 0,
            "workspace_id": wss[ws]["id"], "_key": ks[n % len(ks)]["hash"]})
    return rows


def _num(d):
    return raw_number(format(d, "f"))


def handle(path, query, org, loop=False):
    q = Query(query)
    p = path.rstrip("/")
    if p == "/v1/workspaces":
        return list_workspaces(q, org)
    if p == "/v1/keys":
        return list_keys(q, org, loop)
    if p == "/v1/key":
        return {"data": {"label": "sk-or-v1-mgm...test", "limit": None, "limit_remaining": None,
                         "limit_reset": None, "include_byok_in_limit": False, "usage": 0, "is_free_tier": False,
                         "is_management_key": True, "is_provisioning_key": True, "expires_at": None}}
    if p == "/v1/credits":
        return {"data": {"total_credits": 150, "total_usage": _num(credits_used(org))}}
    if p == "/v1/activity":
        return activity(q, org)
    raise _error(404, f"Not Found: {path}")


def _offset(q, hi=None):
    raw = q.one("offset", "0")
    if not raw.isdigit():
        raise _error(400, "offset: Expected number, received string")
    return int(raw)


def list_workspaces(q, org):
    offset = _offset(q)
    limit = q.one("limit", "50")
    if not limit.isdigit() or not 1 <= int(limit) <= 100:
        raise _error(400, "limit: Number must be less than or equal to 100")
    items = workspaces(org)
    return {"data": items[offset:offset + int(limit)], "total_count": len(items)}


def list_keys(q, org, loop):
    include_disabled = q.one("include_disabled", "false")
    if include_disabled not in ("true", "false"):
        raise _error(400, "include_disabled: Invalid enum value. Expected 'true' | 'false'")
    offset = 0 if loop else _offset(q)
    wss = {w["id"] for w in workspaces(org)}
    ws = q.one("workspace_id", workspaces(org)[0]["id"])
    if ws not in wss:
        raise _error(404, "Workspace not found")
    items = [k for k in keys(org) if k["workspace_id"] == ws and (include_disabled == "true" or not k["disabled"])]
    return {"data": items[offset:offset + KEY_PAGE]}


def activity(q, org):
    first, end = window(org)
    group_by = q.one("group_by")
    if group_by not in (None, "workspace"):
        raise _error(400, "group_by: Invalid enum value. Expected 'workspace'")
    days = range(first, end)
    date = q.one("date")
    if date is not None:
        try:
            day = (datetime.date.fromisoformat(date) - datetime.date(1970, 1, 1)).days
        except ValueError:
            raise _error(400, "Invalid date format or date range")
        if not end - RETENTION_DAYS <= day < end:
            raise _error(400, "Invalid date format or date range")
        days = [day] if day in days else []
    ws, key = q.one("workspace_id"), q.one("api_key_hash")
    data = []
    for day in days:
        merged = {}
        for row in activity_rows(org, day):
            if (ws and row["workspace_id"] != ws) or (key and row["_key"] != key):
                continue
            row = {k: v for k, v in row.items() if k != "_key" and (group_by or k != "workspace_id")}
            # aggregated across workspaces (by date, model and endpoint) unless split per workspace
            ident = (row["model"], row["endpoint_id"], row.get("workspace_id"))
            if ident in merged:
                for f in ("usage", "byok_usage_inference", "requests", "prompt_tokens", "completion_tokens",
                          "reasoning_tokens", "byok_requests"):
                    merged[ident][f] += row[f]
            else:
                merged[ident] = row
        for row in merged.values():
            row["usage"], row["byok_usage_inference"] = _num(row["usage"]), _num(row["byok_usage_inference"])
            data.append(row)
    return {"data": data}


def credits_used(org):
    first, end = window(org)
    return sum((r["usage"] for d in range(first, end) for r in activity_rows(org, d)), Decimal(0))


def totals(org, start, end):
    """Sums of /activity over the epoch days [start, end) that it reports."""
    first, stop = window(org)
    out = {"rows": 0, "usage": Decimal(0), "byok_usage_inference": Decimal(0), "requests": 0,
           "prompt_tokens": 0, "completion_tokens": 0, "reasoning_tokens": 0}
    for day in range(max(start, first), min(end, stop)):
        for r in activity_rows(org, day):
            out["rows"] += 1
            for f in list(out)[1:]:
                out[f] += r[f]
    out["usage"], out["byok_usage_inference"] = format(out["usage"], "f"), format(out["byok_usage_inference"], "f")
    return out
