"""The catalogue of synthetic organisations: small, medium, large (generated) and demo (hand-written).

Entities depend only on (org name, seed, reference day); their usage is generated lazily by usage.py.
The reference day is --anchor when given, else DEFAULT_REF: so without --anchor a fixed window has the
same figures on every calendar day (traffic simply continues, at its final level, up to today).
"""
import datetime
import functools
from collections import namedtuple

from entities import Key, Lane, Org, Workspace, draws, epoch_day, ident

DEFAULT_REF = epoch_day(datetime.date(2026, 11, 28))

# name -> (workspaces, keys, days of activity before the reference day)
SIZES = {"small": (5, 20, 90), "medium": (50, 500, 365), "large": (200, 5000, 730)}
ORG_NAMES = tuple(SIZES) + ("demo",)

# Traffic mix of generated orgs: models per key (up to), probability of a batch / audio / embeddings /
# long-context lane, share of keys created before traffic starts, activity = lo + spread * u.
Mix = namedtuple("Mix", "models batch audio embeddings long_context early activity_lo activity_spread")
SPARSE = Mix(3, 0.15, 0.08, 0.2, 0.1, 0.7, 0.75, 0.24)
DENSE = Mix(4, 0.3, 0.08, 0.5, 0.25, 0.9, 0.88, 0.11)  # large: sized to ~10 M usage rows in 730 days
MIXES = {"small": SPARSE, "medium": SPARSE, "large": DENSE}

OPENAI_CHAT_MODELS = ("gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18", "gpt-4.1-2025-04-14", "gpt-5-mini-2025-08-07")
OPENAI_AUDIO_MODEL = "gpt-4o-audio-preview-2024-12-17"
EMBEDDING_MODELS = ("text-embedding-3-small", "text-embedding-3-large")
ANTHROPIC_MODELS = ("claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001", "claude-3-5-haiku-20241022",
                    "claude-opus-4-5-20251101")
COLORS = ("#b6613c", "#6a5acd", "#2e8b57", "#d2691e", "#4682b4", "#c71585")


@functools.lru_cache(maxsize=16)
def get_org(name, seed, anchor_day=None, bumps=frozenset()):
    """The organisation `name` for a seed; anchor_day None means "up to today" with DEFAULT_REF timelines.

    `bumps` are days whose figures are x1.5.
    """
    ref = DEFAULT_REF if anchor_day is None else anchor_day
    if name == "demo":
        org = _demo(seed, ref)
    else:
        n_ws, n_keys, days = SIZES[name]
        org = _generated(name, seed, ref, n_ws, n_keys, days, MIXES[name])
    workspaces, keys, days = org
    return Org(name, seed, ref, anchor_day, days, workspaces, keys, bumps)


# Ids depend on (seed, index) only: orgs of one seed share ids, which is harmless (accounts differ) and
# keeps the figures other suites pinned (non-usage cost lines hash the project id) stable.
def _workspace_id(seed, provider, n):
    if provider == "openai":
        return ident(seed, "proj_", "ws", n, 24)
    return ident(seed, "wrkspc_01", "ws", n, 22)


def _key_id(seed, provider, n):
    if provider == "openai":
        return ident(seed, "key_", "key", n, 16)
    return ident(seed, "apikey_01", "key", n, 22)


def default_workspace(seed, ref):
    """The Anthropic default workspace (listed only with include_default=true; null in reports)."""
    return Workspace("anthropic", ident(seed, "wrkspc_01", "default-ws", 0, 22), "Default",
                     ref - 800, is_default=True, color="#888888")


def _openai_lanes(u, mix):
    lanes = []
    models = sorted(OPENAI_CHAT_MODELS, key=lambda m: draws(u[0], m)[0])[: 1 + int(u[1] * mix.models)]
    for i, model in enumerate(models):
        lanes.append(Lane("completions", model, 1.0 / (i + 1), cache_frac=0.6 * u[2 + i]))
    if u[5] < mix.batch:
        lanes.append(Lane("completions", models[0], 0.5, batch=True))
    if u[6] < mix.audio:
        lanes.append(Lane("completions", OPENAI_AUDIO_MODEL, 0.2, cache_frac=0.2, audio=True))
    if u[7] < mix.embeddings:
        lanes.append(Lane("embeddings", EMBEDDING_MODELS[u[8] < 0.3], 2.0))
    return tuple(lanes)


def _anthropic_lanes(u, mix):
    lanes = []
    models = sorted(ANTHROPIC_MODELS, key=lambda m: draws(u[0], m)[0])[: 1 + int(u[1] * mix.models)]
    for i, model in enumerate(models):
        lanes.append(Lane("messages", model, 1.0 / (i + 1), cache_frac=0.7 * u[2 + i],
                          web_search=u[9] < 0.3 and i == 0, cache_1h=u[10] < 0.2))
    if u[5] < mix.batch:
        lanes.append(Lane("messages", models[0], 0.6, batch=True, cache_frac=0.3))
    if u[6] < mix.long_context:
        lanes.append(Lane("messages", "claude-sonnet-4-5-20250929", 0.05, long_context=True, cache_frac=0.5))
    return tuple(lanes)


def _generated(name, seed, ref, n_ws, n_keys, days, mix):
    """(workspaces, keys, days): workspaces alternate providers; keys spread over them with a skew."""
    birth = ref - 800
    workspaces = {"openai": [], "anthropic": [default_workspace(seed, ref)]}
    for g in range(n_ws):
        provider = "openai" if g % 2 == 0 else "anthropic"
        u = draws(seed, "ws", g)
        archived = ref - days // 3 - int(u[1] * days // 3) if g % 20 == 2 else None
        label = "Project" if provider == "openai" else "Workspace"
        workspaces[provider].append(Workspace(provider, _workspace_id(seed, provider, g), f"{label} {g:03d}",
                                              birth + int(u[0] * 100), archived,
                                              color=COLORS[g % len(COLORS)]))
    keys = []
    for k in range(n_keys):
        provider = "openai" if k % 2 == 0 else "anthropic"
        j = k // 2  # index within the provider
        u = draws(seed, "key", k)
        pool = workspaces[provider]
        ws = pool[min(len(pool) - 1, int(len(pool) * u[0] ** 1.7))]  # skewed towards the first ones
        created = birth + int(u[1] * (800 - days)) if u[2] < mix.early else ref - days + int(u[1] * days)
        created = max(created, ws.created_day)
        end, status, access = ws.archived_day, "active", "active"
        if provider == "anthropic" and (j % 17 == 5 or ws.archived_day is not None):
            status, end = "archived", end or ref - int(u[3] * days / 2)
        elif provider == "anthropic" and j % 23 == 7:
            status, end = "inactive", ref - int(u[3] * days / 2)
        elif provider == "openai" and j % 17 == 5:
            access = "inactive"
        user_owned = u[4] < 0.65
        keys.append(Key(
            provider, k, _key_id(seed, provider, k), f"{provider[:2]}-key-{j:04d}", ws, created,
            (_openai_lanes if provider == "openai" else _anthropic_lanes)(draws(seed, "lanes", k), mix),
            scale=10 ** (1 + 2.2 * u[5]), activity=mix.activity_lo + mix.activity_spread * u[6],
            end_day=end, status=status,
            owner_access=access, never_used=j % 29 == 3,
            user_id=ident(seed, "user-", "user", k % 97, 24) if user_owned else None,
            owner_name=f"user{k % 97:02d}" if user_owned else f"svc-{j:04d}"))
    keys.append(_console_key(seed, n_keys, workspaces["anthropic"][0], birth))
    return tuple(workspaces["openai"] + workspaces["anthropic"]), tuple(keys), days


def _console_key(seed, index, default_ws, birth):
    """Anthropic Console / Workbench traffic: no API key (api_key_id null), in the default workspace."""
    return Key("anthropic", index, None, "(console)", default_ws, birth,
               (Lane("messages", "claude-sonnet-4-5-20250929", 1.0, cache_frac=0.2),), scale=15, activity=0.6)


# Demo org: (provider, workspace name, archived, [(key name, scale, lanes preset, flags)])
_CHAT = (Lane("completions", "gpt-4o-2024-08-06", 1.0, cache_frac=0.4),
         Lane("completions", "gpt-4o-mini-2024-07-18", 2.0, cache_frac=0.2))
_MINI = (Lane("completions", "gpt-4o-mini-2024-07-18", 1.0, cache_frac=0.1),)
_ETL = (Lane("completions", "gpt-4.1-2025-04-14", 1.0, batch=True),
        Lane("embeddings", "text-embedding-3-small", 4.0))
_VOICE = (Lane("completions", OPENAI_AUDIO_MODEL, 1.0, cache_frac=0.1, audio=True),)
_SONNET = (Lane("messages", "claude-sonnet-4-5-20250929", 1.0, cache_frac=0.6, web_search=True),
           Lane("messages", "claude-haiku-4-5-20251001", 1.5, cache_frac=0.3))
_RESEARCH = (Lane("messages", "claude-opus-4-5-20251101", 1.0, cache_frac=0.5, cache_1h=True, web_search=True),
             Lane("messages", "claude-sonnet-4-5-20250929", 0.3, long_context=True, cache_frac=0.4))
_HAIKU = (Lane("messages", "claude-3-5-haiku-20241022", 1.0, cache_frac=0.1),
          Lane("messages", "claude-haiku-4-5-20251001", 0.5, batch=True))
DEMO = (
    ("openai", "Customer Support Bot", False, [("support-bot-prod", 900, _CHAT, ""),
                                               ("support-bot-staging", 60, _MINI, ""),
                                               ("zendesk-webhook", 300, _MINI, ""),
                                               ("voice-agent-pilot", 40, _VOICE, "")]),
    ("openai", "Data Pipeline", False, [("etl-nightly", 500, _ETL, ""), ("etl-backfill", 120, _ETL, ""),
                                        ("dbt-enrichment", 200, _MINI, "")]),
    ("openai", "proj_x7Kq2mZ9", False, [("x7-worker", 150, _CHAT, ""), ("x7-test", 10, _MINI, "")]),
    ("openai", "Marketing Copy", False, [("copywriter-ui", 80, _CHAT, ""), ("seo-batch", 40, _MINI, ""),
                                         ("ci-smoke-test", 1, _MINI, "never")]),
    ("openai", "Legacy Search", True, [("search-rerank-old", 200, _MINI, "")]),
    ("anthropic", "Research Assistant", False, [("research-batch-runner", 60, _RESEARCH, "spike"),
                                                ("research-notebook-alice", 25, _SONNET, ""),
                                                ("research-notebook-bob", 15, _SONNET, "")]),
    ("anthropic", "Code Review", False, [("code-review-gh-action", 400, _SONNET, ""),
                                         ("code-review-staging", 30, _SONNET, ""),
                                         ("old-review-bot", 100, _HAIKU, "archived")]),
    ("anthropic", "Sales Email Drafts", False, [("sales-drafts-prod", 250, _HAIKU, ""),
                                                ("sales-drafts-dev", 20, _HAIKU, "inactive")]),
    ("anthropic", "Default", False, [("legacy-default-key", 50, _HAIKU, ""),
                                     ("team-playground", 30, _SONNET, "")]),
)


def _demo(seed, ref):
    """(workspaces, keys, days) of the demo org: realistic names, a cost spike from 9 days before the
    reference day driven by one key, an unused key."""
    days, birth = 90, ref - 800
    workspaces, keys = [], []
    for g, (provider, ws_name, archived, key_specs) in enumerate(DEMO):
        if ws_name == "Default":
            ws = default_workspace(seed, ref)
        else:
            ws = Workspace(provider, _workspace_id(seed, provider, g), ws_name, birth + 30 * g,
                           ref - 40 if archived else None, color=COLORS[g % len(COLORS)])
        workspaces.append(ws)
        for key_name, scale, lanes, flag in key_specs:
            k = len(keys)
            u = draws(seed, "demo-key", k)
            status = flag if flag in ("archived", "inactive") else "active"
            end = ref - 25 if status != "active" else ws.archived_day
            user_owned = "notebook" in key_name or "playground" in key_name or u[0] < 0.3
            keys.append(Key(
                provider, k, _key_id(seed, provider, k), key_name, ws,
                birth + 30 * g + int(u[1] * 200), lanes,
                scale=scale, activity=0.97, end_day=end, status=status, never_used=flag == "never",
                user_id=ident(seed, "user-", "user", k % 7, 24) if user_owned else None,
                owner_name=("alice", "bob", "carol", "dan", "erin", "frank", "grace")[k % 7] if user_owned
                else key_name, spike_from=ref - 9 if flag == "spike" else None, spike_factor=8.0))
    keys.append(_console_key(seed, len(keys), workspaces[-1], birth))
    return tuple(workspaces), tuple(keys), days
