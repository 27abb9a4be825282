"""Exact sums of an organisation's usage and billed cost, for cross-checking what a client stored.

Computed from the generator's rows and cost items directly (not from served JSON).  Cost is exact
decimal text in US dollars: OpenAI amounts are summed as the Decimal of each served float's repr,
Anthropic cents are summed as Decimals and divided by 100.
"""
from decimal import Decimal

from costs import day_costs
from entities import day_date
from usage import day_rows

# Usage metrics reported per provider (names describe the generator's own canonical split).
OPENAI_KINDS = ("text_uncached_input", "text_cached_input", "cache_write_input", "audio_uncached_input",
                "audio_cached_input", "text_output", "audio_output", "requests",
                "embeddings_input", "embeddings_requests")
ANTHROPIC_KINDS = ("uncached_input_tokens", "cache_creation_5m_input_tokens", "cache_creation_1h_input_tokens",
                   "cache_read_input_tokens", "output_tokens", "web_search_requests")
GROUPS = ("workspace", "api_key", "model", "day")

# Index of each grouping dim in (completions row, embeddings row, cost item) / (messages row, cost item).
_OPENAI_DIM = {"workspace": (0, 0, 0), "api_key": (2, 2, 1), "model": (3, 3, 6)}
_ANTHROPIC_DIM = {"workspace": (0, 0), "api_key": (1, None), "model": (2, 3)}


def compute(org, provider, start_day, end_day, group=None):
    """Totals for days [start_day, end_day), optionally split by one of GROUPS."""
    kinds = OPENAI_KINDS if provider == "openai" else ANTHROPIC_KINDS
    dims_map = _OPENAI_DIM if provider == "openai" else _ANTHROPIC_DIM
    cost_index = dims_map[group][-1] if group in dims_map else None
    per_group_cost = group in (None, "day") or cost_index is not None  # Anthropic never bills per key
    groups, grand_cost = {}, Decimal(0)

    def bucket(key):
        return groups.setdefault(key, {"tokens": [0] * len(kinds), "cost": Decimal(0), "rows": 0})

    for day in range(start_day, end_day):
        rows = day_rows(org, provider, day)
        day_key = day_date(day).isoformat()
        if provider == "openai":
            streams = ((rows["completions"], 0, 0), (rows["embeddings"], 1, 8))
        else:
            streams = ((rows["messages"], 0, 0),)
        for stream, which, offset in streams:
            for dims, metrics in stream:
                key = day_key if group == "day" else dims[dims_map[group][which]] if group else None
                acc = bucket(key)
                acc["rows"] += 1
                for i, m in enumerate(metrics):
                    acc["tokens"][offset + i] += m
        for item in day_costs(org, provider, day):
            cost = Decimal(repr(item[5])) if provider == "openai" else item[8] / 100
            grand_cost += cost
            if per_group_cost:
                key = day_key if group == "day" else item[cost_index] if group else None
                bucket(key)["cost"] += cost
    return _render(kinds, groups, group, grand_cost, per_group_cost)


def _render(kinds, groups, group, grand_cost, per_group_cost):
    def one(tokens, rows, cost):
        out = dict(zip(kinds, tokens))
        out["usage_rows"] = rows
        out["cost_usd"] = format(cost, "f") if cost is not None else None
        return out

    tokens = [sum(a["tokens"][i] for a in groups.values()) for i in range(len(kinds))]
    result = {"total": one(tokens, sum(a["rows"] for a in groups.values()), grand_cost)}
    if group:
        result["groups"] = [dict(key=k, **one(a["tokens"], a["rows"], a["cost"] if per_group_cost else None))
                            for k, a in groups.items()]
    return result
