"""Pieces shared by both provider APIs: errors, query parsing, cursors, bucket paging, aggregation."""
import base64
import binascii
import json
import re
import time
from decimal import Decimal

from entities import DAY

WIDTHS = {"1d": DAY, "1h": 3600}
BUCKET_LIMITS = {"1d": (7, 31), "1h": (24, 168), "1m": (60, 1440)}  # (default, max) buckets per page
LOOP_CURSOR = "page_bG9vcA=="  # served by the cursorloop fault: the same token forever


class ApiError(Exception):
    """A request the provider would refuse; rendered in the provider's own error format."""

    def __init__(self, status, etype, message, param=None, code=None, headers=None):
        super().__init__(message)
        self.status, self.etype, self.message = status, etype, message
        self.param, self.code, self.headers = param, code, headers or {}


def bad_request(message, param=None):
    return ApiError(400, "invalid_request_error", message, param)


class Query:
    """Access to a parsed query string with the validation the real APIs apply."""

    def __init__(self, params):
        self.params = params  # name -> [values], from urllib.parse.parse_qs

    def one(self, name, default=None):
        values = self.params.get(name)
        return values[-1] if values else default

    def many(self, *names):
        """Repeated parameters, under any of the given spellings (e.g. "group_by", "group_by[]")."""
        return [v for n in names for v in self.params.get(n, [])]

    def integer(self, name, default=None, lo=None, hi=None):
        raw = self.one(name)
        if raw is None:
            if default is None:
                raise bad_request(f"Missing required parameter: '{name}'.", name)
            return default
        try:
            value = int(raw)
        except ValueError:
            raise bad_request(f"Invalid value for '{name}': expected an integer, got '{raw}'.", name)
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise bad_request(f"Invalid value for '{name}': must be between {lo} and {hi}, got {value}.", name)
        return value

    def boolean(self, name, default=False):
        raw = self.one(name)
        if raw is None:
            return default
        if raw.lower() not in ("true", "false", "1", "0"):
            raise bad_request(f"Invalid value for '{name}': expected a boolean, got '{raw}'.", name)
        return raw.lower() in ("true", "1")

    def choice(self, name, allowed, default):
        value = self.one(name, default)
        if value not in allowed:
            raise bad_request(f"Invalid value for '{name}': '{value}'. Allowed: {', '.join(allowed)}.", name)
        return value

    def subset(self, names, allowed, param):
        values = self.many(*names)
        for v in values:
            if v not in allowed:
                raise bad_request(f"Invalid value for '{param}': '{v}'. Allowed: {', '.join(allowed)}.", param)
        return values


def encode_cursor(position):
    return "page_" + base64.b64encode(str(position).encode()).decode()


def decode_cursor(token, param="page"):
    try:
        return int(base64.b64decode(token[5:] if token.startswith("page_") else token, validate=True))
    except (ValueError, binascii.Error):
        raise bad_request(f"Invalid value for '{param}': the page token is not valid.", param)


def plan_page(start, end, width, limit, token, loop=False):
    """Bucket starts to serve on this page and the next cursor (None when done).

    Buckets are UTC-aligned: start is snapped down, end up.  The cursor is the next bucket's start.
    With loop=True (the cursorloop fault) the first page is served with the same cursor forever.
    """
    first = start - start % width
    stop = -(-end // width) * width
    if stop <= first:
        raise bad_request("The end of the time range must be after its start.", "end_time")
    position = first
    if token and not loop:
        position = decode_cursor(token)
        if position < first or position >= stop or (position - first) % width:
            raise bad_request("Invalid value for 'page': the page token does not match this query.", "page")
    starts = list(range(position, min(stop, position + limit * width), width))
    following = position + limit * width
    if loop:
        return starts, LOOP_CURSOR
    return starts, (encode_cursor(following) if following < stop else None)


def default_end(width):
    """A missing end of range means "up to now" (the open bucket included)."""
    now = int(time.time())
    return now - now % width + width


def aggregate(rows, keep, filters):
    """Sum metric tuples of (dims, metrics) rows over the dims not in `keep` (indexes).

    filters: {dim index: set of accepted values}.  Dropped dims become None; first-seen order is kept.
    """
    out = {}
    for dims, metrics in rows:
        if filters and any(dims[i] not in accepted for i, accepted in filters.items()):
            continue
        group = tuple(d if i in keep else None for i, d in enumerate(dims))
        acc = out.get(group)
        if acc is None:
            out[group] = list(metrics)
        else:
            for i, m in enumerate(metrics):
                acc[i] += m
    return list(out.items())


def money_text(parts):
    """Exact text of a sum of amounts: a lone float keeps its repr, several are summed as Decimals."""
    if len(parts) == 1 and isinstance(parts[0], float):
        return repr(parts[0])
    total = sum((Decimal(repr(p)) if isinstance(p, float) else p for p in parts), Decimal(0))
    return format(total, "f")


_RAW = re.compile(r'"\\u0000N([-0-9.eE+]+)\\u0000"')


def raw_number(text):
    """A placeholder that dumps() turns into a bare JSON number with exactly this text."""
    return "\0N" + text + "\0"


def dumps(obj):
    """JSON text of obj, with raw_number() placeholders replaced by their literal digits."""
    text = json.dumps(obj, separators=(",", ":"))
    return _RAW.sub(r"\1", text) if "\\u0000N" in text else text
