"""Fault injection driven by the /mock/<options>/ path prefix.

<options> is `;`-separated key=value pairs, e.g. `fault=429;count=2;retry_after=1`.  count/after are
counted per exact options string (add `tag=anything` to get a fresh counter), thread-safely.
"""
import datetime
import json
import threading

from api_common import ApiError

FAULTS = ("none", "429", "500", "502", "503", "504", "529", "401", "403", "timeout", "slow", "drop", "truncate",
          "malformed", "wrongtype", "cursorloop", "oversize")
INT_OPTIONS = ("count", "after", "retry_after", "delay_ms", "seed")
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
