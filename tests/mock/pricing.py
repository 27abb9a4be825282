"""The mock's internal price table and the names the providers bill under.

Costs served by the mock are derived from its own usage with these prices, so they look realistic and
reconcile with usage.  Prices are US dollars per million tokens (see provider-apis.md §3.4/§3.5).
"""
from decimal import Decimal

# OpenAI: model -> (input, cached input, output, audio input, audio output); cache writes cost 1.25 x input.
OPENAI_CHAT = {
    "gpt-4o-2024-08-06": (2.50, 1.25, 10.00, None, None),
    "gpt-4o-mini-2024-07-18": (0.15, 0.075, 0.60, None, None),
    "gpt-4.1-2025-04-14": (2.00, 0.50, 8.00, None, None),
    "gpt-5-mini-2025-08-07": (0.25, 0.025, 2.00, None, None),
    "gpt-4o-audio-preview-2024-12-17": (2.50, 1.25, 10.00, 40.00, 80.00),
}
OPENAI_EMBEDDINGS = {"text-embedding-3-small": 0.02, "text-embedding-3-large": 0.13}
CACHE_WRITE_FACTOR = 1.25
BATCH_FACTOR = 0.5

# Non-usage OpenAI line items (billed per project, not tied to tokens or keys): name -> typical $/day.
OPENAI_EXTRA_LINES = {"assistants api | file search": 0.35, "assistants api | code interpreter": 0.12}

# Anthropic: model -> (display name, input, 5m cache write, 1h cache write, cache hit, output, geo-capable).
ANTHROPIC = {
    "claude-sonnet-4-5-20250929": ("Claude Sonnet 4.5", "3", "3.75", "6", "0.30", "15", True),
    "claude-haiku-4-5-20251001": ("Claude Haiku 4.5", "1", "1.25", "2", "0.10", "5", True),
    "claude-3-5-haiku-20241022": ("Claude Haiku 3.5", "0.80", "1", "1.6", "0.08", "4", False),
    "claude-opus-4-5-20251101": ("Claude Opus 4.5", "5", "6.25", "10", "0.50", "25", True),
}
LONG_CONTEXT_INPUT = Decimal(2)      # 200k-1M window: input and cache prices x2 ...
LONG_CONTEXT_OUTPUT = Decimal("1.5")  # ... and output x1.5
WEB_SEARCH_CENTS = Decimal(1)        # $10 per 1,000 searches

# Anthropic token kinds in usage-row order: (token_type, description suffix, price column).
ANTHROPIC_TOKEN_KINDS = (
    ("uncached_input_tokens", "Input Tokens", 1),
    ("cache_creation.ephemeral_5m_input_tokens", "Input Tokens, Cache Write", 2),
    ("cache_creation.ephemeral_1h_input_tokens", "Input Tokens, 1h Cache Write", 3),
    ("cache_read_input_tokens", "Input Tokens, Cache Hit", 4),
    ("output_tokens", "Output Tokens", 5),
)


def openai_per_token(price_per_million):
    """Dollars per token as a float: multiplying tokens by it gives the provider-style float noise."""
    return price_per_million / 1e6


def anthropic_cents(tokens, price_per_million, long_context, is_output, batch):
    """Exact cost in cents (Decimal) of `tokens` at a per-million-token dollar price."""
    price = Decimal(price_per_million)
    if long_context:
        price *= LONG_CONTEXT_OUTPUT if is_output else LONG_CONTEXT_INPUT
    if batch:
        price *= Decimal("0.5")
    return Decimal(tokens) * price / Decimal(10000)


def anthropic_description(model, suffix, batch, long_context):
    display = ANTHROPIC[model][0]
    variant = " Batch" if batch else ""
    variant += " Long Context" if long_context else ""
    return f"{display}{variant} Usage - {suffix}"
