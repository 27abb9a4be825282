"""The OpenAI Admin API surface: projects, project API keys, usage (completions, embeddings), costs."""
from api_common import (WIDTHS, BUCKET_LIMITS, ApiError, Query, aggregate, bad_request, default_end,
                        money_text, plan_page, raw_number)
from costs import day_costs
from entities import DAY
from usage import COMPLETIONS_DIMS, EMBEDDINGS_DIMS, NEW_OPENAI_FIELDS_DAY, bucket_rows, last_used_at

ADMIN_KEY = "sk-admin-test-openai"
PREFIX = "/v1/organization/"
COST_DIMS = ("project_id", "api_key_id", "line_item")
USAGE_GROUPS = {"completions": COMPLETIONS_DIMS, "embeddings": EMBEDDINGS_DIMS}


def error_body(err, request_id):
    return {"error": {"message": err.message, "type": err.etype, "param": err.param, "code": err.code}}


def check_auth(headers):
    """Raise the 401/403 OpenAI sends for a missing, wrong or non-admin key."""
    auth = headers.get("Authorization") or ""
    token = auth[7:].strip() if auth.startswith("Bearer ") else ""
    if token == ADMIN_KEY:
        return
    if not token:
        raise ApiError(401, "invalid_request_error",
                       "You didn't provide an API key. You need to provide your API key in an Authorization "
                       "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")
    if token.startswith("sk-proj-"):
        raise ApiError(403, "invalid_request_error",
                       "You have insufficient permissions for this operation. Missing scopes: api.usage.read. "
                       "Check that you have the correct role in your organization, and if you're using a "
                       "restricted API key, that it has the necessary scopes.")
    raise ApiError(401, "invalid_request_error",
                   f"Incorrect API key provided: {token[:5]}***...{token[-4:]}. You can find your API key at "
                   "https://platform.openai.com/account/api-keys.", code="invalid_api_key")


def handle(path, query, org, loop=False):
    """The response object for an OpenAI API path (without the /mock prefix)."""
    q = Query(query)
    rest = path[len(PREFIX):].strip("/").split("/")
    if rest == ["projects"]:
        return list_projects(q, org, loop)
    if len(rest) == 3 and rest[0] == "projects" and rest[2] == "api_keys":
        return list_keys(q, org, rest[1], loop)
    if len(rest) == 2 and rest[0] == "usage" and rest[1] in USAGE_GROUPS:
        return usage(q, org, rest[1], loop)
    if rest == ["costs"]:
        return costs(q, org, loop)
    raise ApiError(404, "invalid_request_error", f"Invalid URL (GET {path})")


def _list_page(items, q, loop, to_json):
    """Cursor paging by object id (`after`), as in every OpenAI list endpoint."""
    limit = q.integer("limit", 20, 1, 100)
    after = q.one("after")
    start = 0
    if after and not loop:
        ids = [i.id for i in items]
        if after not in ids:
            raise bad_request(f"Invalid value for 'after': no object with id '{after}'.", "after")
        start = ids.index(after) + 1
    page = [to_json(i) for i in items[start:start + limit]]
    return {"object": "list", "data": page,
            "first_id": page[0]["id"] if page else None, "last_id": page[-1]["id"] if page else None,
            "has_more": loop or start + limit < len(items)}


def list_projects(q, org, loop):
    include_archived = q.boolean("include_archived")
    projects = [w for w in org.workspaces_of("openai") if include_archived or w.archived_day is None]
    return _list_page(projects, q, loop, lambda w: {
        "id": w.id, "object": "organization.project", "name": w.name, "created_at": w.created_day * DAY + 3723,
        "archived_at": w.archived_day * DAY + 50000 if w.archived_day is not None else None,
        "status": "archived" if w.archived_day is not None else "active", "external_key_id": None})


def list_keys(q, org, project_id, loop):
    if project_id not in {w.id for w in org.workspaces_of("openai")}:
        raise ApiError(404, "invalid_request_error", f"No such project: {project_id}", code="not_found")
    access = q.choice("owner_project_access", ("active", "inactive", "any"), "active")
    keys = [k for k in org.keys_of("openai") if k.workspace.id == project_id
            and (access == "any" or k.owner_access == access)]
    return _list_page(keys, q, loop, lambda k: _key_json(org, k))


def _key_json(org, k):
    created = k.created_day * DAY + 1000 + k.index % 80000
    if k.user_id:
        owner = {"type": "user", "user": {"id": k.user_id, "name": k.owner_name.title(),
                                          "email": f"{k.owner_name}@example.com", "role": "member",
                                          "created_at": org.first_day * DAY}}
    else:
        owner = {"type": "service_account", "service_account": {
            "id": "svc_acct_" + k.id[4:], "name": k.owner_name, "created_at": created - 60, "role": "member"}}
    return {"object": "organization.project.api_key", "redacted_value": f"sk-proj-****...{k.id[-4:]}",
            "name": k.name, "created_at": created, "last_used_at": last_used_at(org, k), "id": k.id,
            "owner_project_access": k.owner_access, "owner": owner}


def _window(q, width_names):
    width_name = q.choice("bucket_width", width_names, "1d")
    if width_name == "1m":
        raise bad_request("bucket_width '1m' is not supported by this mock; use '1h' or '1d'.", "bucket_width")
    width = WIDTHS[width_name]
    default_limit, max_limit = BUCKET_LIMITS[width_name]
    start = q.integer("start_time")
    end = q.integer("end_time", default_end(width))
    return width, start, end, default_limit, max_limit


def _filters(q, dims, spec):
    """{dim index: accepted set} for the filter parameters present (`project_ids` or `project_ids[]`)."""
    out = {}
    for param, dim in spec:
        values = q.many(param, param + "[]")
        if values and dim in dims:
            out[dims.index(dim)] = set(values)
    return out


def usage(q, org, endpoint, loop):
    width, start, end, default_limit, max_limit = _window(q, ("1m", "1h", "1d"))
    limit = q.integer("limit", default_limit, 1, max_limit)
    dims = USAGE_GROUPS[endpoint]
    groups = q.subset(("group_by", "group_by[]"), dims, "group_by")
    keep = {dims.index(g) for g in groups}
    filters = _filters(q, dims, (("project_ids", "project_id"), ("api_key_ids", "api_key_id"),
                                 ("user_ids", "user_id"), ("models", "model")))
    if endpoint == "completions" and q.one("batch") is not None:
        filters[dims.index("batch")] = {q.boolean("batch")}
    starts, cursor = plan_page(start, end, width, limit, q.one("page"), loop)
    data = []
    for ts in starts:
        rows = aggregate(bucket_rows(org, "openai", ts, width)[endpoint], keep, filters)
        new_era = ts // DAY >= NEW_OPENAI_FIELDS_DAY
        render = _completion_result if endpoint == "completions" else _embedding_result
        data.append({"object": "bucket", "start_time": ts, "end_time": ts + width,
                     "results": [render(d, m, new_era, keep) for d, m in rows]})
    return {"object": "page", "data": data, "has_more": cursor is not None, "next_page": cursor}


def _completion_result(dims, m, new_era, keep):
    ut, ct, cw, ua, ca, ot, oa, req = m
    project, user, key, model, batch, tier = dims
    if new_era:
        r = {"object": "organization.usage.completions.result",
             "input_tokens": ut + ct + cw + ua + ca, "input_cached_tokens": ct + ca,
             "input_cache_write_tokens": cw, "input_uncached_tokens": ut + ua, "output_tokens": ot + oa,
             "input_text_tokens": ut, "output_text_tokens": ot, "input_cached_text_tokens": ct,
             "input_audio_tokens": ua, "input_cached_audio_tokens": ca, "output_audio_tokens": oa,
             "input_image_tokens": 0, "input_cached_image_tokens": 0, "output_image_tokens": 0,
             "num_model_requests": req}
    else:  # the pre-2026-07-15 field set: input_tokens is text input including cached
        r = {"object": "organization.usage.completions.result",
             "input_tokens": ut + ct + cw, "output_tokens": ot, "input_cached_tokens": ct,
             "input_audio_tokens": ua + ca, "output_audio_tokens": oa, "num_model_requests": req}
    r.update(project_id=project, user_id=user, api_key_id=key, model=model, batch=batch)
    if new_era or COMPLETIONS_DIMS.index("service_tier") in keep:
        r["service_tier"] = tier
    return r


def _embedding_result(dims, m, new_era, keep):
    project, user, key, model = dims
    return {"object": "organization.usage.embeddings.result", "input_tokens": m[0],
            "num_model_requests": m[1], "project_id": project, "user_id": user, "api_key_id": key,
            "model": model}


def costs(q, org, loop):
    q.choice("bucket_width", ("1d",), "1d")
    limit = q.integer("limit", 7, 1, 180)
    groups = q.subset(("group_by", "group_by[]"), COST_DIMS, "group_by")
    keep = {COST_DIMS.index(g) for g in groups}
    filters = _filters(q, COST_DIMS, (("project_ids", "project_id"), ("api_key_ids", "api_key_id")))
    start = q.integer("start_time")
    end = q.integer("end_time", default_end(DAY))
    starts, cursor = plan_page(start, end, DAY, limit, q.one("page"), loop)
    data = []
    for ts in starts:
        groups_out = {}
        for project, key, line, quantity, unit, value, _model in day_costs(org, "openai", ts // DAY):
            dims = (project, key, line)
            if filters and any(dims[i] not in ok for i, ok in filters.items()):
                continue
            group = tuple(d if i in keep else None for i, d in enumerate(dims))
            acc = groups_out.setdefault(group, [[], 0, unit])
            acc[0].append(value)
            acc[1] = None if quantity is None or acc[1] is None else acc[1] + quantity
        results = []
        for (project, key, line), (values, quantity, unit) in groups_out.items():
            results.append({"object": "organization.costs.result",
                            "amount": {"value": raw_number(money_text(values)), "currency": "usd"},
                            "line_item": line, "project_id": project, "api_key_id": key,
                            "organization_id": org.org_id,
                            "quantity": quantity if line is not None else None,
                            "quantity_unit": unit if line is not None else None})
        data.append({"object": "bucket", "start_time": ts, "end_time": ts + DAY, "results": results})
    return {"object": "page", "data": data, "has_more": cursor is not None, "next_page": cursor}
