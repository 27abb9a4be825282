"""The Anthropic Admin API surface: workspaces, API keys, usage_report/messages, cost_report."""
import datetime

from api_common import (WIDTHS, BUCKET_LIMITS, ApiError, Query, aggregate, bad_request, default_end,
                        money_text, plan_page)
from costs import day_costs
from entities import DAY
from usage import MESSAGES_DIMS, bucket_rows

ADMIN_KEY = "sk-ant-admin01-test"
PREFIX = "/v1/organizations/"
USAGE_GROUPS = MESSAGES_DIMS  # workspace_id, api_key_id, model, service_tier, context_window, inference_geo
COST_GROUPS = ("workspace_id", "description")


def error_body(err, request_id):
    return {"type": "error", "error": {"type": err.etype, "message": err.message}, "request_id": request_id}


def check_auth(headers):
    """Raise the 401 Anthropic sends for a wrong key, or the 400 for a missing anthropic-version."""
    if headers.get("x-api-key") != ADMIN_KEY:
        raise ApiError(401, "authentication_error", "invalid x-api-key")
    if not headers.get("anthropic-version"):
        raise ApiError(400, "invalid_request_error", "anthropic-version: header is required")


def rfc3339(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(q, name, default=None):
    raw = q.one(name)
    if raw is None:
        if default is None:
            raise bad_request(f"{name}: Field required")
        return default
    try:
        parsed = datetime.datetime.fromisoformat(raw.replace("z", "Z"))
    except ValueError:
        raise bad_request(f"{name}: Input should be a valid datetime, got '{raw}'")
    if parsed.tzinfo is None:
        raise bad_request(f"{name}: Timezone offset is required in RFC 3339 timestamps")
    return int(parsed.timestamp())


def handle(path, query, org, loop=False):
    """The response object for an Anthropic API path (without the /mock prefix)."""
    q = Query(query)
    rest = path[len(PREFIX):].strip("/")
    routes = {"workspaces": list_workspaces, "api_keys": list_keys,
              "usage_report/messages": usage_report, "cost_report": cost_report}
    if rest not in routes:
        raise ApiError(404, "not_found_error", f"Not found: {path}")
    return routes[rest](q, org, loop)


def _list_page(items, q, loop, to_json):
    """Paging by object id (after_id / before_id) as in Anthropic's list endpoints."""
    limit = q.integer("limit", 20, 1, 1000)
    ids = [i.id for i in items]
    after, before = q.one("after_id"), q.one("before_id")
    start, stop = 0, len(items)
    for name, value in (("after_id", after), ("before_id", before)):
        if value and not loop and value not in ids:
            raise bad_request(f"{name}: no object with id '{value}'")
    if after and not loop:
        start = ids.index(after) + 1
    if before and not loop:
        stop = ids.index(before)
        start = max(start, stop - limit)
    page = [to_json(i) for i in items[start:min(stop, start + limit)]]
    return {"data": page, "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None, "has_more": loop or start + limit < stop}


def list_workspaces(q, org, loop):
    include_archived, include_default = q.boolean("include_archived"), q.boolean("include_default")
    spaces = [w for w in org.workspaces_of("anthropic")
              if (include_archived or w.archived_day is None) and (include_default or not w.is_default)]
    return _list_page(spaces, q, loop, lambda w: {
        "id": w.id, "type": "workspace", "name": w.name, "created_at": rfc3339(w.created_day * DAY + 72326),
        "archived_at": rfc3339(w.archived_day * DAY + 61200) if w.archived_day is not None else None,
        "display_color": w.color})


def _key_created_at(k):
    """RFC 3339 with microseconds, as real key objects carry (e.g. 2024-10-30T23:58:27.427722Z)."""
    return rfc3339(k.created_day * DAY + 1000 + k.index % 80000)[:-1] + ".%06dZ" % (k.index * 7919 % 10**6)


def list_keys(q, org, loop):
    status = q.one("status")
    if status is not None:
        q.choice("status", ("active", "inactive", "archived", "expired"), None)
    workspace = q.one("workspace_id")
    keys = [k for k in org.keys_of("anthropic") if (status is None or k.status == status)
            and (workspace is None or k.workspace.id == workspace)]
    return _list_page(keys, q, loop, lambda k: {
        "id": k.id, "type": "api_key", "name": k.name,
        "partial_key_hint": f"sk-ant-api03-{k.id[9:12]}...{k.id[-4:]}", "status": k.status,
        "workspace_id": k.workspace.report_id,
        "created_at": _key_created_at(k),
        "created_by": {"id": "user_01" + k.id[9:31], "type": "user"}})


def _filters(q):
    """{dim index: accepted set} from the bracketed filter parameters present."""
    spec = (("api_key_ids", "api_key_id"), ("workspace_ids", "workspace_id"), ("models", "model"),
            ("service_tiers", "service_tier"), ("context_window", "context_window"),
            ("inference_geos", "inference_geo"))
    out = {}
    for param, dim in spec:
        values = q.many(param + "[]", param)
        if values:
            out[USAGE_GROUPS.index(dim)] = set(values)
    return out


def usage_report(q, org, loop):
    width_name = q.choice("bucket_width", ("1d", "1h", "1m"), "1d")
    if width_name == "1m":
        raise bad_request("bucket_width: '1m' is not supported by this mock; use '1h' or '1d'")
    width = WIDTHS[width_name]
    default_limit, max_limit = BUCKET_LIMITS[width_name]
    limit = q.integer("limit", default_limit, 1, max_limit)
    groups = q.subset(("group_by[]", "group_by"), USAGE_GROUPS, "group_by[]")
    keep = {USAGE_GROUPS.index(g) for g in groups}
    start = _parse_time(q, "starting_at")
    end = _parse_time(q, "ending_at", default_end(width))
    starts, cursor = plan_page(start, end, width, limit, q.one("page"), loop)
    filters, data = _filters(q), []
    for ts in starts:
        rows = aggregate(bucket_rows(org, "anthropic", ts, width)["messages"], keep, filters)
        data.append({"starting_at": rfc3339(ts), "ending_at": rfc3339(ts + width),
                     "results": [_usage_item(d, m) for d, m in rows]})
    return {"data": data, "has_more": cursor is not None, "next_page": cursor}


def _usage_item(dims, m):
    workspace, key, model, tier, window, geo = dims
    return {"uncached_input_tokens": m[0],
            "cache_creation": {"ephemeral_1h_input_tokens": m[2], "ephemeral_5m_input_tokens": m[1]},
            "cache_read_input_tokens": m[3], "output_tokens": m[4],
            "server_tool_use": {"web_search_requests": m[5]},
            "api_key_id": key, "workspace_id": workspace, "model": model, "service_tier": tier,
            "context_window": window, "inference_geo": geo}


def cost_report(q, org, loop):
    q.choice("bucket_width", ("1d",), "1d")
    limit = q.integer("limit", 7, 1, 31)
    groups = q.subset(("group_by[]", "group_by"), COST_GROUPS, "group_by[]")
    by_ws, by_desc = "workspace_id" in groups, "description" in groups
    workspaces = set(q.many("workspace_ids[]", "workspace_ids"))
    start = _parse_time(q, "starting_at")
    end = _parse_time(q, "ending_at", default_end(DAY))
    starts, cursor = plan_page(start, end, DAY, limit, q.one("page"), loop)
    data = []
    for ts in starts:
        out = {}
        for ws, desc, cost_type, model, token_type, tier, window, geo, cents in day_costs(
                org, "anthropic", ts // DAY):
            if workspaces and ws not in workspaces:
                continue
            described = (desc, cost_type, window, model, tier, token_type, geo) if by_desc else (None,) * 7
            group = (ws if by_ws else None,) + described
            out.setdefault(group, []).append(cents)
        results = [{"currency": "USD", "amount": money_text(parts), "workspace_id": g[0], "description": g[1],
                    "cost_type": g[2], "context_window": g[3], "model": g[4], "service_tier": g[5],
                    "token_type": g[6], "inference_geo": g[7]} for g, parts in out.items()]
        data.append({"starting_at": rfc3339(ts), "ending_at": rfc3339(ts + DAY), "results": results})
    return {"data": data, "has_more": cursor is not None, "next_page": cursor}
