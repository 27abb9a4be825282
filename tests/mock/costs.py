"""Billed cost line items of an organisation, derived from its own daily usage x the price table.

OpenAI items: (project_id, api_key_id, line_item, quantity, quantity_unit, value, model) where value is a
float in dollars (its repr is the text served; float noise included).  Anthropic items: (workspace_id,
description, cost_type, model, token_type, service_tier, context_window, inference_geo, cents) where cents
is an exact Decimal.  Both are the finest grain; the API modules aggregate them per group_by.
"""
import functools
from collections import defaultdict
from decimal import Decimal

import pricing
from entities import draws
from usage import day_rows_upto


def day_costs(org, provider, day):
    """Cost items of one UTC day (today: of the hours elapsed so far)."""
    return _day_costs(org, provider, day, org.data_cutoff(day))


@functools.lru_cache(maxsize=40)
def _day_costs(org, provider, day, cutoff):
    rows = day_rows_upto(org, provider, day, cutoff)
    return _openai_items(org, day, rows) if provider == "openai" else _anthropic_items(org, day, rows)


def _openai_items(org, day, rows):
    items = []
    active_projects = {}
    for (project, _user, key, model, batch, _tier), m in rows["completions"]:
        p_in, p_cached, p_out, p_ain, p_aout = pricing.OPENAI_CHAT[model]
        discount = pricing.BATCH_FACTOR if batch else 1.0
        prefix = "batch | " if batch else ""
        kinds = ((m[0], "input", p_in), (m[1], "cached input", p_cached),
                 (m[2], "cache write", p_in * pricing.CACHE_WRITE_FACTOR),
                 (m[3], "audio input", p_ain), (m[4], "cached audio input", (p_ain or 0) * 0.2),
                 (m[5], "output", p_out), (m[6], "audio output", p_aout))
        for tokens, kind, price in kinds:
            if tokens:
                value = tokens * pricing.openai_per_token(price * discount)
                items.append((project, key, f"{prefix}{model}, {kind}", tokens, "tokens", value, model))
        active_projects[project] = True
    for (project, _user, key, model), (tokens, _req) in rows["embeddings"]:
        value = tokens * pricing.openai_per_token(pricing.OPENAI_EMBEDDINGS[model])
        items.append((project, key, f"{model}, input", tokens, "tokens", value, model))
        active_projects[project] = True
    for project in active_projects:
        u = draws(org.seed, "openai-extra", day, project)
        for i, (line, typical) in enumerate(pricing.OPENAI_EXTRA_LINES.items()):
            if u[2 * i] < 0.4:
                items.append((project, None, line, None, None, typical * (0.3 + 1.4 * u[2 * i + 1]), None))
    return items


def _anthropic_items(org, day, rows):
    tokens = defaultdict(lambda: [0, 0, 0, 0, 0])
    web = defaultdict(int)
    for (ws, _key, model, tier, window, geo), m in rows["messages"]:
        acc = tokens[(ws, model, tier, window, geo)]
        for i in range(5):
            acc[i] += m[i]
        web[ws] += m[5]
    items = []
    for (ws, model, tier, window, geo), acc in tokens.items():
        batch, long_ctx = tier == "batch", window == "200k-1M"
        for (token_type, suffix, col), count in zip(pricing.ANTHROPIC_TOKEN_KINDS, acc):
            if count:
                cents = pricing.anthropic_cents(count, pricing.ANTHROPIC[model][col], long_ctx,
                                                col == 5, batch)
                items.append((ws, pricing.anthropic_description(model, suffix, batch, long_ctx), "tokens",
                              model, token_type, tier, window, geo, cents))
    for ws, searches in web.items():
        if searches:
            items.append((ws, "Web Search Usage", "web_search", None, None, None, None, None,
                          searches * pricing.WEB_SEARCH_CENTS))
    for ws in dict.fromkeys(dims[0] for dims, _ in rows["messages"]):
        u = draws(org.seed, "anthropic-code-exec", day, ws)
        if u[0] < 0.35:  # container hours at $0.05/h, billed in cents with fractional cents
            items.append((ws, "Code Execution Usage", "code_execution", None, None, None, None, None,
                          Decimal(int(u[1] * 400000)) / Decimal(1000)))
    return items
