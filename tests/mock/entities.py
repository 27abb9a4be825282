"""Entities of a synthetic organisation (workspaces, keys, traffic lanes) and the hashing they rest on."""
import datetime
import hashlib
import struct
import time
from dataclasses import dataclass

DAY = 86400
HOUR = 3600
EPOCH = datetime.date(1970, 1, 1)
ORG_LIFETIME_DAYS = 800
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def epoch_day(d):
    return (d - EPOCH).days


def day_date(day):
    return EPOCH + datetime.timedelta(days=day)


def today():
    return int(time.time() // DAY)


def draws(*parts):
    """Sixteen uniform floats in [0, 1) that depend only on `parts`."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=64).digest()
    return [x / 4294967296.0 for x in struct.unpack("<16I", digest)]


def ident(seed, prefix, kind, index, length):
    """A stable random-looking identifier such as proj_7Qm2XbLk9VtR4sWn1cHe8JdA."""
    digest = hashlib.blake2b(repr((seed, kind, index)).encode(), digest_size=32).digest()
    return prefix + "".join(_ALNUM[b % 62] for b in digest[:length])


@dataclass(frozen=True)
class Workspace:
    provider: str             # "openai" (a project) or "anthropic" (a workspace)
    id: str                   # id in listings
    name: str
    created_day: int
    archived_day: int = None
    is_default: bool = False  # the Anthropic default workspace: reported as workspace_id null
    color: str = "#6a5acd"

    @property
    def report_id(self):
        return None if self.is_default else self.id


@dataclass(frozen=True)
class Lane:
    """One stream of a key's traffic: a model with fixed options, one usage row per active day."""
    endpoint: str             # completions | embeddings | messages
    model: str
    weight: float             # share of the key's requests
    batch: bool = False       # OpenAI batch / Anthropic service_tier batch
    long_context: bool = False
    cache_frac: float = 0.0   # share of input read from cache
    audio: bool = False
    web_search: bool = False
    cache_1h: bool = False


@dataclass(frozen=True)
class Key:
    provider: str
    index: int                # stable position, part of every hash for this key
    id: str                   # None for Anthropic Console (Workbench) usage
    name: str
    workspace: Workspace
    created_day: int
    lanes: tuple
    scale: float              # typical requests per day
    activity: float = 0.9     # probability of any traffic on a given day
    end_day: int = None       # last day of traffic (deactivated, archived, project archived)
    status: str = "active"    # Anthropic: active | inactive | archived
    owner_access: str = "active"  # OpenAI owner_project_access
    never_used: bool = False
    user_id: str = None       # OpenAI owner user (None for service accounts)
    owner_name: str = ""
    spike_from: int = None    # from this day on, traffic is multiplied by spike_factor
    spike_factor: float = 1.0


class Org:
    """An organisation: its entities plus the parameters its daily figures derive from.

    ref_day is the day entity timelines are laid out from (traffic starts activity_days before it);
    anchor_day is the last day with data (None: today, re-evaluated on every request).
    """

    def __init__(self, name, seed, ref_day, anchor_day, activity_days, workspaces, keys, bumps=frozenset()):
        self.name, self.seed, self.ref_day, self.anchor_day = name, seed, ref_day, anchor_day
        self.activity_days = activity_days
        self.first_day = ref_day - ORG_LIFETIME_DAYS
        self.workspaces, self.keys, self.bumps = workspaces, keys, frozenset(bumps)
        self.ident = (name, seed, ref_day, anchor_day, self.bumps)
        self.org_id = ident(seed, "org-", "org", 0, 24)

    def __hash__(self):
        return hash(self.ident)

    def __eq__(self, other):
        return isinstance(other, Org) and self.ident == other.ident

    def workspaces_of(self, provider):
        return [w for w in self.workspaces if w.provider == provider]

    def keys_of(self, provider):
        """Listed keys (the Anthropic Console pseudo-key has no id and is never listed)."""
        return [k for k in self.keys if k.provider == provider and k.id is not None]

    def last_day(self):
        return today() if self.anchor_day is None else self.anchor_day

    def data_cutoff(self, day):
        """Hours of `day` that have data: 24 for past days, the elapsed hours for today, 0 otherwise."""
        now = time.time()
        current = int(now // DAY)
        if day > self.last_day() or day > current or day < self.first_day:
            return 0
        return int(now % DAY // HOUR) if day == current else 24
