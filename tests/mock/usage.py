"""Per-day and per-hour usage rows of an organisation, generated on demand.

A key's usage on a day is drawn from a hash of (seed, provider, day, key index, lane), never from shared
RNG state, so it is a pure function of (seed, date, entity) and pages can be produced in any order.
Rows are (dims, metrics) tuples at the finest grain; the API modules aggregate them per group_by.
Only whole days are cached (functools.lru_cache); nothing is precomputed.
"""
import datetime
import functools

import pricing
from entities import DAY, day_date, draws, epoch_day

NEW_OPENAI_FIELDS_DAY = epoch_day(datetime.date(2026, 7, 15))  # completions field set changes here

# Row layouts.  Metrics of completions: (uncached text, cached text, cache write, uncached audio,
# cached audio, output text, output audio, requests); embeddings: (input tokens, requests); messages:
# (uncached input, 5m cache write, 1h cache write, cache read, output, web search requests).
COMPLETIONS_DIMS = ("project_id", "user_id", "api_key_id", "model", "batch", "service_tier")
EMBEDDINGS_DIMS = ("project_id", "user_id", "api_key_id", "model")
MESSAGES_DIMS = ("workspace_id", "api_key_id", "model", "service_tier", "context_window", "inference_geo")
ENDPOINTS = {"openai": ("completions", "embeddings"), "anthropic": ("messages",)}

# Relative traffic per UTC hour for a key at UTC+0 (rotated per key to spread time zones).
HOURLY_PROFILE = (2, 1, 1, 1, 1, 2, 3, 5, 8, 10, 11, 12, 11, 11, 12, 12, 11, 10, 8, 6, 5, 4, 3, 2)
HOURLY_TOTAL = sum(HOURLY_PROFILE)


def lane_requests(org, key, day, lane_index):
    """Requests of one lane of a key on a day (0 when idle) and the draws that shape its token mix."""
    if key.never_used or day < key.created_day or (key.end_day is not None and day > key.end_day):
        return 0, None
    window_start = org.ref_day - org.activity_days
    if day <= window_start or day > org.last_day():
        return 0, None
    u = draws(org.seed, key.provider, day, key.index, lane_index)
    if u[0] >= key.activity:
        return 0, None
    factor = 0.55 if day_date(day).weekday() >= 5 else 1.0
    factor *= 0.7 + 0.6 * min(1.0, (day - window_start) / org.activity_days)  # growth up to ref_day
    if key.spike_from is not None and day >= key.spike_from:
        factor *= key.spike_factor
    requests = int(key.scale * key.lanes[lane_index].weight * factor * (0.6 + 0.8 * u[1])) + 1
    if day in org.bumps:
        requests = requests * 3 // 2
    return requests, u


def key_active(org, key, day):
    return any(lane_requests(org, key, day, i)[0] for i in range(len(key.lanes)))


def _completions_row(key, lane, requests, u, day):
    text_in = requests * (400 + int(2600 * u[2]))
    cached = min(text_in, int(text_in * lane.cache_frac * (0.6 + 0.8 * u[3])))
    new_era = day >= NEW_OPENAI_FIELDS_DAY
    write = int((text_in - cached) * 0.08 * u[4]) if new_era and lane.cache_frac else 0
    audio_in = requests * (300 + int(900 * u[5])) if lane.audio else 0
    audio_cached = audio_in // 5
    out_text = requests * (80 + int(700 * u[6]))
    out_audio = requests * (200 + int(500 * u[7])) if lane.audio else 0
    dims = (key.workspace.id, key.user_id, key.id, lane.model, lane.batch, "default")
    return dims, (text_in - cached - write, cached, write, audio_in - audio_cached, audio_cached,
                  out_text, out_audio, requests)


def _embeddings_row(key, lane, requests, u):
    dims = (key.workspace.id, key.user_id, key.id, lane.model)
    return dims, (requests * (200 + int(1800 * u[2])), requests)


def _messages_row(key, lane, requests, u):
    total_in = requests * (800 + int(4000 * u[2])) * (60 if lane.long_context else 1)
    read = min(total_in, int(total_in * lane.cache_frac * (0.6 + 0.8 * u[3])))
    write = int((total_in - read) * 0.15 * u[4]) if lane.cache_frac else 0
    w1h = write // 3 if lane.cache_1h else 0
    out = requests * (150 + int(900 * u[5]))
    web = int(requests * 0.04 * u[6]) if lane.web_search else 0
    geo = "global" if pricing.ANTHROPIC[lane.model][6] else "not_available"
    dims = (key.workspace.report_id, key.id, lane.model, "batch" if lane.batch else "standard",
            "200k-1M" if lane.long_context else "0-200k", geo)
    return dims, (total_in - read - write, write - w1h, w1h, read, out, web)


@functools.lru_cache(maxsize=48)
def _full_day(org, provider, day):
    """{endpoint: [((dims, metrics), key)]}: every row of a whole day with the key that produced it."""
    out = {ep: [] for ep in ENDPOINTS[provider]}
    for key in org.keys:
        if key.provider != provider:
            continue
        for li, lane in enumerate(key.lanes):
            requests, u = lane_requests(org, key, day, li)
            if not requests:
                continue
            if lane.endpoint == "completions":
                row = _completions_row(key, lane, requests, u, day)
            elif lane.endpoint == "embeddings":
                row = _embeddings_row(key, lane, requests, u)
            else:
                row = _messages_row(key, lane, requests, u)
            out[lane.endpoint].append((row, key))
    return out


def _hour_weights(key):
    shift = key.index % 24
    return HOURLY_PROFILE[shift:] + HOURLY_PROFILE[:shift]


def _split(value, weights):
    """Split an integer over 24 hours in proportion to weights; the remainder goes to the peak hour."""
    parts = [value * w // HOURLY_TOTAL for w in weights]
    parts[weights.index(max(weights))] += value - sum(parts)
    return parts


def _hours_slice(rows, first, last):
    """Rows restricted to hours [first, last) of their day (rows that become all-zero are dropped)."""
    out = []
    for (dims, metrics), key in rows:
        w = _hour_weights(key)
        part = tuple(sum(_split(m, w)[first:last]) for m in metrics)
        if any(part):
            out.append((dims, part))
    return out


@functools.lru_cache(maxsize=96)
def day_rows_upto(org, provider, day, cutoff):
    """{endpoint: [(dims, metrics)]} for the first `cutoff` hours of a UTC day."""
    if cutoff == 0:
        return {ep: [] for ep in ENDPOINTS[provider]}
    full = _full_day(org, provider, day)
    if cutoff == 24:
        return {ep: [row for row, _ in rows] for ep, rows in full.items()}
    return {ep: _hours_slice(rows, 0, cutoff) for ep, rows in full.items()}


def day_rows(org, provider, day):
    """{endpoint: [(dims, metrics)]} for one UTC day; today holds only the hours already elapsed."""
    return day_rows_upto(org, provider, day, org.data_cutoff(day))


@functools.lru_cache(maxsize=72)
def _hour_rows(org, provider, day, hour):
    return {ep: _hours_slice(rows, hour, hour + 1) for ep, rows in _full_day(org, provider, day).items()}


def hour_rows(org, provider, ts):
    """{endpoint: [(dims, metrics)]} for the UTC hour starting at `ts`; a day's hours sum to the day."""
    day, hour = divmod(ts // 3600, 24)
    if hour >= org.data_cutoff(day):
        return {ep: [] for ep in ENDPOINTS[provider]}
    return _hour_rows(org, provider, day, hour)


def bucket_rows(org, provider, start_ts, width):
    """Rows of the bucket [start_ts, start_ts + width) for width DAY or 3600."""
    if width == DAY:
        return day_rows(org, provider, start_ts // DAY)
    return hour_rows(org, provider, start_ts)


def last_used_at(org, key):
    """Unix time of the key's last traffic (searching back up to 60 days), or None if none."""
    if key.never_used:
        return None
    last = min(org.last_day(), key.end_day if key.end_day is not None else org.last_day())
    for day in range(last, max(last - 60, key.created_day - 1), -1):
        cutoff = org.data_cutoff(day)
        if cutoff and key_active(org, key, day):
            return day * DAY + min(cutoff * 3600 - 1, 17 * 3600 + key.index % 3600)
    return None
