"""Fault injection driven by the /mock/<options>/ path prefix.

<options> is `;`-separated key=value pairs, e.g. `fault=429;count=2;retry_after=1`.  count/after are
counted per exact options string (add `tag=anything` to get a fresh counter), thread-safely.
"""
import base64
import datetime
import json
import threading
import time
import uuid

from api_common import ApiError

FAULTS = ("none", "429", "500", "502", "503", "504", "529", "401", "403", "timeout", "slow", "drop", "truncate",
          "malformed", "wrongtype", "cursorloop", "oversize",
          # a hostile provider
          "keyecho", "endless", "manysmall", "multibyte", "badutf8", "overflow", "negative",
          # provider strings that changed without notice
          "newkinds")
INT_OPTIONS = ("count", "after", "retry_after", "delay_ms", "seed", "mb")
TEXT_OPTIONS = ("fault", "org", "bump", "anchor", "tag")
OVERSIZE_BYTES = 70 * 1024 * 1024
STOP = threading.Event()  # set on shutdown so long sleeps (timeout, slow) end promptly

# HTTP status -> (OpenAI error type, OpenAI code, Anthropic error type, message)
_ERRORS = {
    429: ("requests", "rate_limit_exceeded", "rate_limit_error",
          "Rate limit reached for requests. Please retry later."),
    500: ("server_error", None, "api_error", "The server had an error while processing your request."),
    502: ("server_error", None, "api_error", "Bad gateway."),
    503: ("server_error", None, "api_error", "The server is overloaded or not ready yet."),
    504: ("server_error", None, "api_error", "Gateway timeout."),
    529: ("server_error", None, "overloaded_error", "Overloaded"),
    401: ("invalid_request_error", "invalid_api_key", "authentication_error", "invalid x-api-key"),
    403: ("invalid_request_error", None, "permission_error",
          "You have insufficient permissions for this operation."),
}


def parse_options(text):
    """The options dict of a prefix such as `fault=500;count=1`; ValueError on anything unknown."""
    opts = {}
    for part in filter(None, text.split(";")):
        key, sep, value = part.partition("=")
        if not sep or key not in INT_OPTIONS + TEXT_OPTIONS:
            raise ValueError(f"unknown mock option '{part}'")
        opts[key] = int(value) if key in INT_OPTIONS else value
    if "fault" in opts and opts["fault"] not in FAULTS:
        raise ValueError(f"unknown fault '{opts['fault']}'; known: {', '.join(FAULTS)}")
    for day in opts.get("bump", "").split(",") if "bump" in opts else ():
        datetime.date.fromisoformat(day)
    return opts


class Tracker:
    """Counts requests per options string and decides whether this one gets the fault."""

    def __init__(self):
        self._lock = threading.Lock()
        self._seen = {}

    def decide(self, options_text, opts):
        if opts.get("fault", "none") == "none":
            return False
        with self._lock:
            n = self._seen.get(options_text, 0)
            self._seen[options_text] = n + 1
        after = opts.get("after", 0)
        count = opts.get("count")
        return n >= after and (count is None or n - after < count)

    def reset(self):
        with self._lock:
            self._seen.clear()


def error_for(fault, provider, opts):
    """The ApiError an HTTP-status fault produces, in the provider's format, with Retry-After if asked."""
    status = int(fault)
    oa_type, oa_code, an_type, message = _ERRORS[status]
    if status == 401 and provider == "openai":
        message = "Incorrect API key provided: sk-ad***...test. You can find your API key at " \
                  "https://platform.openai.com/account/api-keys."
    headers = {}
    if "retry_after" in opts and status in (429, 503, 529):
        headers["retry-after"] = str(opts["retry_after"])
    if provider == "openai":
        return ApiError(status, oa_type, message, code=oa_code, headers=headers)
    if provider == "openrouter":  # {"error": {"code": <status>, "message", "metadata"}}; 429 with X-RateLimit-*
        metadata = None
        if status == 429:
            message, metadata = "Rate limit exceeded", {"error_type": "rate_limit_exceeded"}
            headers.update({"X-RateLimit-Limit": "20", "X-RateLimit-Remaining": "0",
                            "X-RateLimit-Reset": str(int(time.time() * 1000) + 1000)})
        elif status == 401:
            message = "Missing Authentication header"
        return ApiError(status, None, message, code=metadata, headers=headers)
    return ApiError(status, an_type, message, headers=headers)


def sleep_ms(ms):
    STOP.wait(ms / 1000.0)


def wrongtype(obj):
    """Give one field the wrong JSON type: a bucket's start as text and a token count as a string."""
    data = obj.get("data")
    if not data:
        obj["has_more"] = "no"
        return obj
    first = data[0]
    for field in ("start_time", "starting_at"):
        if field in first:
            first[field] = "abc" if field == "start_time" else 1767225600
    for result in first.get("results", [])[:1]:
        for field in ("input_tokens", "uncached_input_tokens", "amount"):
            if field in result:
                result[field] = str(result[field]) if field != "amount" else 12.5
    if "usage" in first and "prompt_tokens" in first:  # an OpenRouter activity row: money as a string
        usage = first["usage"]
        first["usage"] = usage[2:-1] if isinstance(usage, str) and usage.startswith("\0N") else str(usage)
    for field in ("created_at", "name"):
        if field in first and "results" not in first:
            first[field] = "abc" if isinstance(first[field], int) else 12345
    return obj


def send_slow(handler, status, headers, body, delay_ms):
    """Send headers at once, then dribble the body out in ~20 pieces over delay_ms."""
    _send_head(handler, status, headers, len(body))
    pieces = 20
    step = max(1, -(-len(body) // pieces))
    for i in range(0, len(body), step):
        handler.wfile.write(body[i:i + step])
        handler.wfile.flush()
        sleep_ms(delay_ms / pieces)


def send_truncated(handler, status, headers, body):
    """Announce the full length, send half of the body, then close the connection."""
    _send_head(handler, status, headers, len(body) + 1024)
    handler.wfile.write(body[: len(body) // 2])
    handler.wfile.flush()
    handler.close_connection = True


def send_malformed(handler, headers):
    body = b'{"object": "page", "data": [{"object": "bucket", "start_time": 1767225600,, "results": [}'
    _send_head(handler, 200, headers, len(body))
    handler.wfile.write(body)


def send_oversize(handler, headers, provider):
    """Stream a ~70 MiB JSON page built from one repeated result (never held in memory at once)."""
    if provider == "openai":
        item = json.dumps({"object": "organization.usage.completions.result", "input_tokens": 1,
                           "output_tokens": 1, "num_model_requests": 1, "project_id": "proj_" + "x" * 24,
                           "user_id": None, "api_key_id": "key_" + "y" * 16, "model": "gpt-4o-2024-08-06",
                           "batch": None}).encode()
        head = b'{"object":"page","data":[{"object":"bucket","start_time":1767225600,"end_time":1767312000,"results":['
        tail = b']}],"has_more":false,"next_page":null}'
    else:
        item = json.dumps({"uncached_input_tokens": 1, "cache_creation": {"ephemeral_1h_input_tokens": 0,
                           "ephemeral_5m_input_tokens": 0}, "cache_read_input_tokens": 0, "output_tokens": 1,
                           "server_tool_use": {"web_search_requests": 0}, "api_key_id": "apikey_01" + "y" * 22,
                           "workspace_id": None, "model": "claude-sonnet-4-5-20250929",
                           "service_tier": "standard", "context_window": "0-200k"}).encode()
        head = b'{"data":[{"starting_at":"2026-01-01T00:00:00Z","ending_at":"2026-01-02T00:00:00Z","results":['
        tail = b']}],"has_more":false,"next_page":null}'
    n = OVERSIZE_BYTES // (len(item) + 1)
    per_chunk = 512
    _send_head(handler, 200, headers, len(head) + n * (len(item) + 1) - 1 + len(tail))
    handler.wfile.write(head)
    chunk = b",".join([item] * per_chunk) + b","
    written = 0
    while written + per_chunk < n:
        handler.wfile.write(chunk)
        written += per_chunk
    handler.wfile.write(b",".join([item] * (n - written)) + tail)


def _send_head(handler, status, headers, length):
    handler.send_response(status)
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(length))
    handler.end_headers()


# ---- a hostile provider

INT64_MAX = 2 ** 63 - 1
MULTIBYTE = "Überlastung – ошибка сервера – 服务器错误 – 🚨 "  # 2-, 3- and 4-byte UTF-8 characters


def keyecho(provider, key):
    """A 401 in the provider's format whose message echoes the key it was sent, in the ways a careless
    provider or gateway might: as is, upper- and lower-cased, cut at either end, and base64-encoded (alone
    and as the whole "Bearer <key>" header value)."""
    header = ("Bearer " if provider in ("openai", "openrouter") else "") + key
    message = (f"Invalid key {key}; KEY={key.upper()}; key={key.lower()}; starts {key[:-3]}...; "
               f"ends ...{key[3:]}; b64 {base64.b64encode(key.encode()).decode()}; "
               f"header {base64.b64encode(header.encode()).decode()}")
    etype = "invalid_request_error" if provider == "openai" else "authentication_error"
    return ApiError(401, etype, message)


def multibyte(provider):
    """A 500 whose message is long multibyte text (every cut by bytes would split a character)."""
    etype = "server_error" if provider == "openai" else "api_error"
    return ApiError(500, etype, (MULTIBYTE * 40).strip())


def endless(obj):
    """has_more forever, with a cursor never seen before: the pagination never ends by itself."""
    obj["has_more"] = True
    fresh = "page_" + uuid.uuid4().hex
    if "next_page" in obj:
        obj["next_page"] = fresh
    if "last_id" in obj:
        obj["last_id"] = fresh
    return obj


def overflow(obj):
    """Numbers that do not fit: OpenAI token fields whose sums pass 2^63 - 1 (whichever field set the bucket
    uses), an Anthropic token count beyond int64, and a creation time in the year 3 billion (which fits in
    int64 seconds but in no timestamp)."""
    for item in (obj.get("data") or [])[:1]:
        for result in item.get("results", [])[:1]:
            if "uncached_input_tokens" in result:
                result["uncached_input_tokens"] = 2 * INT64_MAX
            else:
                for field in ("output_tokens", "output_audio_tokens", "input_audio_tokens",
                              "input_cached_audio_tokens"):
                    result[field] = INT64_MAX
        if isinstance(item.get("created_at"), int):
            item["created_at"] = 10 ** 17
    return obj


def negative(obj):
    """A negative token count in the first result of a usage page (OpenRouter: of the first activity row)."""
    for row in (obj.get("data") or [])[:1] if isinstance(obj.get("data"), list) else ():
        if "prompt_tokens" in row:
            row["prompt_tokens"] = -5
    for bucket in (obj.get("data") or [])[:1]:
        for result in bucket.get("results", [])[:1]:
            for field in ("input_tokens", "uncached_input_tokens"):
                if field in result:
                    result[field] = -5
    return obj


# OpenAI cost kinds as a future API might write them: a suffix, a pipe, a comma, case, and one kind no rule knows.
NEW_KINDS = {"input": "Input (standard)", "output": "output | priority", "cached input": "cached input, flex",
             "cache write": "sparkle units v2"}


def newkinds(obj):
    """Every OpenAI cost line "<model>, <kind>" of the page with its kind rewritten by NEW_KINDS (amounts kept)."""
    for bucket in obj.get("data") or []:
        for result in bucket.get("results", []):
            line = result.get("line_item")
            if isinstance(line, str) and ", " in line:
                head, kind = line.split(", ", 1)
                result["line_item"] = head + ", " + NEW_KINDS.get(kind, kind)
    return obj


def badutf8_body():
    """A 200 page whose only workspace name holds bytes that are not UTF-8 (invalid JSON text)."""
    return (b'{"object":"list","data":[{"id":"proj_bad","object":"organization.project","name":"caf\xe9 \xff\xfe",'
            b'"created_at":1767225600,"status":"active"}],"has_more":false,"last_id":"proj_bad"}')


def send_manysmall(handler, headers, provider, megabytes):
    """A 200 usage page of `megabytes` MiB made of as many tiny results as fit: little text, many values."""
    item = b'{"input_tokens":0}' if provider == "openai" else b'{"output_tokens":0}'
    if provider == "openai":
        head = b'{"object":"page","data":[{"object":"bucket","start_time":1767225600,"end_time":1767312000,"results":['
    else:
        head = b'{"data":[{"starting_at":"2026-01-01T00:00:00Z","ending_at":"2026-01-02T00:00:00Z","results":['
    tail = b']}],"has_more":false,"next_page":null}'
    n = megabytes * 1024 * 1024 // (len(item) + 1)
    per_chunk = 4096
    _send_head(handler, 200, headers, len(head) + n * (len(item) + 1) - 1 + len(tail))
    handler.wfile.write(head)
    chunk = b",".join([item] * per_chunk) + b","
    written = 0
    while written + per_chunk < n:
        handler.wfile.write(chunk)
        written += per_chunk
    handler.wfile.write(b",".join([item] * (n - written)) + tail)
