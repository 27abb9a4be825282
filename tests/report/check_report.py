#!/usr/bin/env python3
"""Checks an aispend chart report (aispend.report_html) against the tab functions it was made from.

Usage: check_report.py REPORT.html DB [--period SQL] [--provider NAME]
       check_report.py --escaped REPORT.html          (the hostile-name variant: only the escaping checks)
Queries the database with psql (PGHOST/PGPORT/PGUSER from the environment). Prints one line per check,
"ok - ..." or "not ok - ...". Standard library only.
"""
import csv
import io
import re
import subprocess
import sys
from decimal import ROUND_HALF_UP, Decimal
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
results = []


def check(ok, what, detail=""):
    results.append(bool(ok))
    print(("ok - " if ok else "not ok - ") + what + ("" if ok or not detail else ": " + detail))


class Report(HTMLParser):
    """Parses the page: tag balance, data-check elements, table cells, legend and bar items, trend spans."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.tags, self.attrs_seen = [], [], [], []
        self.cards = {}          # check -> {value, shown}
        self.tables = {}         # check -> [[cell text, ...], ...]
        self.legends = {}        # check -> [(label, value, pct)]
        self.bars = {}           # check -> [(label, current, previous)]
        self.days = {}           # check -> [(day, cost)]
        self.trends = {}         # table check -> [class of each row's trend span]
        self.stars = {}          # table check -> [row index with a star]
        self.texts = []
        self._card = None
        self._card_depth = 0
        self._card_value = False
        self._table = None
        self._row = None
        self._cell = None
        self._figure = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        self.attrs_seen.append((tag, a))
        if tag not in VOID:
            self.stack.append(tag)
        self._open(tag, a)

    def handle_startendtag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        self.attrs_seen.append((tag, a))
        self._open(tag, a)

    def _open(self, tag, a):
        cls = a.get("class", "") or ""
        if tag == "div" and cls == "card":
            self._card = a.get("data-check")
            self.cards[self._card] = {"value": a.get("data-value"), "shown": ""}
            self._card_depth = len(self.stack)
        if tag == "div" and cls == "card-value" and self._card:
            self._card_value = True
        if tag == "table" and a.get("data-check"):
            self._table = a["data-check"]
            self.tables[self._table] = []
            self.trends[self._table] = []
            self.stars[self._table] = []
        if tag == "tr" and self._table:
            self._row = []
        if tag == "td" and self._row is not None:
            self._cell = ""
        if tag == "span" and "trend" in cls.split() and self._table and self._row is not None:
            self.trends[self._table].append(cls)
        if tag == "svg" and "star" in cls.split() and self._table and self._row is not None:
            self.stars[self._table].append(len(self.tables[self._table]))
        if tag == "figure" and a.get("data-check"):
            self._figure = a["data-check"]
            self.legends.setdefault(self._figure, [])
            self.bars.setdefault(self._figure, [])
            self.days.setdefault(self._figure, [])
        if tag == "g" and self._figure and "day-item" in cls:
            self.days[self._figure].append((a.get("data-label"), a.get("data-value")))
        if tag == "g" and self._figure and "legend-item" in cls:
            self.legends[self._figure].append((a.get("data-label"), a.get("data-value"), a.get("data-pct")))
        if tag == "g" and self._figure and "bar-item" in cls:
            self.bars[self._figure].append((a.get("data-label"), a.get("data-current"), a.get("data-previous")))

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else 'nothing'}> "
                               f"at line {self.getpos()[0]} col {self.getpos()[1]}")
            if tag in self.stack:
                while self.stack and self.stack.pop() != tag:
                    pass
            return
        self.stack.pop()
        if tag == "div" and self._card_value:
            self._card_value = False
        if tag == "div" and self._card and len(self.stack) < self._card_depth:
            self._card = None
        if tag == "td" and self._cell is not None:
            self._row.append(self._cell.strip())
            self._cell = None
        if tag == "tr" and self._row is not None:
            if self._row:
                self.tables[self._table].append(self._row)
            self._row = None
        if tag == "table":
            self._table = None
        if tag == "figure":
            self._figure = None

    def handle_data(self, data):
        self.texts.append(data)
        if self._card_value and self._card:
            self.cards[self._card]["shown"] += data
        if self._cell is not None and self._row is not None and "svg" not in self.stack:
            self._cell += data


# ---- formats (must agree with aispend._report_money, _rate, _int, _pct)
def money(v):
    if v == "":
        return "—"
    q = Decimal(v).quantize(Decimal("0.01"), ROUND_HALF_UP)
    return ("-$" if q < 0 else "$") + f"{abs(q):,.2f}"


def rate(v):
    return "—" if v == "" else "$" + f"{Decimal(v).quantize(Decimal('0.0001'), ROUND_HALF_UP):,.4f}"


def integer(v):
    return "—" if v == "" else f"{int(Decimal(v)):,}"


def pct(v):
    return "—" if v == "" else f"{Decimal(v).quantize(Decimal('0.01'), ROUND_HALF_UP):,.2f}%"


def same_number(a, b):
    if (a or "") == "" or (b or "") == "":
        return (a or "") == (b or "")
    return Decimal(a) == Decimal(b)


def psql(db, sql):
    out = subprocess.run(["psql", "-X", "-q", "--csv", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql],
                         capture_output=True, text=True, check=True).stdout
    return list(csv.DictReader(io.StringIO(out)))


def parse(path):
    text = open(path, encoding="utf-8").read()
    page = Report()
    page.feed(text)
    page.close()
    return text, page


def structure_checks(text, page, what):
    check(text.lstrip().startswith("<!DOCTYPE html>"), f"{what}: starts with <!DOCTYPE html>")
    check(not page.errors and not page.stack, f"{what}: HTML parses with balanced tags",
          "; ".join(page.errors[:3]) + (f" unclosed: {page.stack}" if page.stack else ""))
    external = [(t, k, v) for t, a in page.attrs_seen for k, v in a.items()
                if k in ("src", "href", "srcset", "action") or (k == "style" and "url(" in (v or ""))]
    banned = [t for t in page.tags if t in ("script", "link", "img", "iframe", "object", "embed")]
    handlers = [(t, k) for t, a in page.attrs_seen for k in a if k.startswith("on")]
    check(not external and not banned and not handlers and "@import" not in text and "url(" not in text,
          f"{what}: self-contained (no script, no event handlers, no external assets)",
          f"{external[:3]} {banned[:3]} {handlers[:3]}")


def main(argv):
    if argv[:1] == ["--escaped"]:
        text, page = parse(argv[1])
        structure_checks(text, page, "hostile names")
        check(re.search(r"<\s*script", text, re.I) is None, "hostile names: no <script> tag in the page")
        check("&lt;script&gt;alert(1)&lt;/script&gt;" in text,
              "hostile names: the workspace name <script>alert(1)</script> appears escaped")
        check('&quot;&gt;&lt;img src=x onerror=alert(2)&gt;' in text and "<img" not in text,
              "hostile names: the API key name \"><img onerror=...> appears escaped")
        names = [row[0] for row in page.tables.get("workspaces_table", [])]
        check("<script>alert(1)</script>" in names, "hostile names: the parsed table shows the name as text")
        return
    path, db = argv[0], argv[1]
    period, provider = "aispend.period('last_30_days')", "all"
    if "--period" in argv:
        period = argv[argv.index("--period") + 1]
    if "--provider" in argv:
        provider = argv[argv.index("--provider") + 1]
    args = f"{period}, '{provider}'"
    what = f"report({provider})"
    text, page = parse(path)
    structure_checks(text, page, what)

    p = psql(db, f"SELECT ({period})::text AS p")[0]["p"]
    header = [a.get("data-value") for t, a in page.attrs_seen if a.get("data-check") == "period"]
    check(header == [p], f"{what}: the header's period is {p}", f"got {header}")

    # Summary cards: exact value and the figure shown.
    sums = {"workspaces_summary": psql(db, f"SELECT * FROM aispend.workspaces_summary({args})")[0],
            "api_keys_summary": psql(db, f"SELECT * FROM aispend.api_keys_summary({args})")[0],
            "models_summary": psql(db, f"SELECT * FROM aispend.models_summary({args})")[0]}
    fmt = {"total_cost": money, "openai_cost": money, "anthropic_cost": money, "other_cost": money,
           "avg_cost_per_1m": rate, "most_efficient_model": lambda v: v or "—"}
    for tab, row in sums.items():
        cards = {k.split(".", 1)[1]: v for k, v in page.cards.items() if k.startswith(tab + ".")}
        bad = []
        for col, card in cards.items():
            want = row.get(col)
            f = fmt.get(col, integer)
            if want is None:
                bad.append(f"{col}: no such column")
            elif not (card["value"] == want or (col != "most_efficient_model" and same_number(card["value"], want))):
                bad.append(f"{col}: data-value {card['value']!r} != {want!r}")
            elif card["shown"].strip() != f(want):
                bad.append(f"{col}: shows {card['shown'].strip()!r}, expected {f(want)!r}")
        check(len(cards) >= 5 and not bad, f"{what}: {tab} cards ({len(cards)}) equal aispend.{tab}()", "; ".join(bad))
    # A card per provider in view, none for a provider the filter leaves out; the estimated share of the cost.
    shown = {c for c in ("openai_cost", "anthropic_cost", "other_cost") if "workspaces_summary." + c in page.cards}
    want_shown = {"all": {"openai_cost", "anthropic_cost"} | ({"other_cost"} if Decimal(sums["workspaces_summary"]
                                                             ["other_cost"]) != 0 else set()),
                  "openai": {"openai_cost"}, "anthropic": {"anthropic_cost"}, "other": {"other_cost"}}[provider]
    check(shown == want_shown, f"{what}: provider cards only for the providers in view", f"{shown} vs {want_shown}")
    est = psql(db, f"SELECT coalesce((SELECT pct_of_cost FROM aispend.cost_basis_split({args}) "
                   "WHERE cost_basis = 'estimated'), 0) AS v")[0]["v"]
    card = page.cards.get("cost_basis.estimated_pct", {})
    check(card.get("value") is not None and same_number(card["value"], est) and card["shown"].strip() == pct(est),
          f"{what}: the Estimated card is the estimated share of aispend.cost_basis_split ({pct(est)})", f"{card}")
    total = Decimal(sums["workspaces_summary"]["total_cost"] or 0)
    if provider == "all":
        check(total > 0, f"{what}: the report shows the demo data (Total Cost > 0; an empty rollup would make "
                         "every comparison trivial)", "aispend.workspaces_summary() is 0: were the rollups refreshed?")
    check(sums["api_keys_summary"]["total_cost"] == sums["workspaces_summary"]["total_cost"] ==
          sums["models_summary"]["total_cost"], f"{what}: the three tabs' Total Cost agree ({money(str(total))})")
    ws = psql(db, "SELECT count(*) AS n, count(*) FILTER (WHERE status = 'active') AS a, "
                  "count(*) FILTER (WHERE display_name IS NOT NULL) AS r FROM aispend.workspace_management "
                  f"WHERE aispend._provider_matches(provider, '{provider}')")[0]
    got = {k: page.cards.get("workspace_management." + k, {}).get("value") for k in ("count", "active", "renamed")}
    check(got == {"count": ws["n"], "active": ws["a"], "renamed": ws["r"]},
          f"{what}: workspace management cards equal aispend.workspace_management", f"{got} vs {ws}")

    # Tables: every cell as printed.
    def table(name, sql, cols):
        want = [[f(r[c]) for c, f in cols] for r in psql(db, sql)][:50]
        got = page.tables.get(name)
        if got is None:
            check(False, f"{what}: table {name} present")
            return []
        diff = next((f"row {i + 1}: {g} != {w}" for i, (g, w) in enumerate(zip(got, want)) if g != w), "")
        if len(got) != len(want):
            diff = f"{len(got)} rows shown, {len(want)} expected. " + diff
        check(not diff, f"{what}: table {name} ({len(got)} rows) equals the tab function", diff)
        return psql(db, sql)[:50]

    txt = lambda v: v  # noqa: E731
    table("workspaces_table", f"SELECT * FROM aispend.workspaces_table({args}) ORDER BY cost DESC, name",
          [("name", txt), ("provider", txt), ("cost", money), ("pct_of_total", pct), ("requests", integer),
           ("tokens", integer), ("trend_label", txt)])
    keys = table("api_keys_table", f"SELECT * FROM aispend.api_keys_table({args}, include_unused => false) "
                                   "WITH ORDINALITY ORDER BY ordinality",
                 [("api_key", txt), ("kind", txt), ("workspace", txt), ("key_hint", txt), ("provider", txt), ("status", txt),
                  ("cost", money), ("tokens", integer), ("requests", integer), ("cost_per_1m", rate),
                  ("pct_of_total", pct), ("trend_label", txt)])
    models = table("models_table", f"SELECT * FROM aispend.models_table({args}) ORDER BY cost_per_1m NULLS LAST, model",
                   [("model", txt), ("class", txt), ("provider", txt), ("cost_per_1m", rate), ("cost", money), ("tokens", integer),
                    ("requests", integer), ("pct_of_total", pct), ("trend_label", txt)])
    day = lambda v: v if v is not None else "—"  # noqa: E731
    dash = lambda v: v or "—"  # noqa: E731  (the freshness table shows NULL as a dash; psql gives it as '')
    table("savings_opportunities", f"SELECT * FROM aispend.savings_opportunities({args}) LIMIT 10",
          [("api_key", txt), ("workspace", txt), ("model", txt), ("alternative", txt), ("list_cost", money),
           ("repriced_cost", money), ("saving", money), ("saving_pct", pct)])
    table("cache_efficiency", f"SELECT *, CASE WHEN uncached_heavy = 't' THEN 'no caching' ELSE '' END AS flag "
                              f"FROM aispend.cache_efficiency({args}) LIMIT 10",
          [("api_key", txt), ("model", txt), ("input_tokens", integer), ("cached_pct", pct),
           ("caching_saved", money), ("saving_at_hit_rate", money), ("flag", txt)])
    table("workspace_management", "SELECT m.*, workspace_name || CASE WHEN display_name IS NOT NULL THEN ' (renamed)' "
                                  "ELSE '' END AS shown "
                                  f"FROM aispend.workspace_management_table(NULL, '{provider}') m",
          [("shown", txt), ("provider", txt), ("workspace_id", txt), ("provider_name", txt),
           ("status", txt), ("created", day), ("first_seen", day), ("last_seen", day), ("name_changes", txt)])
    table("data_freshness", "SELECT f.*, to_char(f.last_sync AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC' AS synced "
                            f"FROM aispend.data_freshness f WHERE aispend._provider_matches(provider, '{provider}') "
                            "ORDER BY account",
          [("account", txt), ("provider", txt), ("usage_day", dash), ("costs_day", dash), ("settled_day", dash),
           ("synced", dash), ("status", dash), ("refresh_state", dash)])

    band = lambda r: f"{money(r['forecast_low'])} – {money(r['forecast_high'])}"  # noqa: E731
    budgets = psql(db, "SELECT *, '' AS bar FROM aispend.budgets_status()")
    for r in budgets:
        r["band"] = band(r)
    shown = page.tables.get("budgets_status")
    want = [[r["name"], r["period"], money(r["amount_usd"]), money(r["spent"]), pct(r["pct_used"]),
             money(r["forecast"]), r["band"], ""] for r in budgets]
    check(shown is not None and [row[:7] for row in shown] == [w[:7] for w in want],
          f"{what}: table budgets_status ({len(want)} rows) equals aispend.budgets_status()", f"{shown} vs {want}")
    bars = [(a.get("data-spent"), a.get("data-forecast"), a.get("data-amount")) for t, a in page.attrs_seen
            if t == "svg" and a.get("class") == "budget"]
    check(bars == [(r["spent"], r["forecast"], r["amount_usd"]) for r in budgets],
          f"{what}: a budget bar per budget (spent, forecast, amount)", f"{bars}")
    table("alerts", "SELECT *, to_char(first_fired AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC' AS since "
                    "FROM aispend.alerts WHERE state <> 'resolved' ORDER BY first_fired, id",
          [("state", txt), ("rule", txt), ("message", txt), ("since", txt)])
    marked = sorted({a.get("data-label") for t, a in page.attrs_seen if t == "circle" and a.get("class") == "anomaly"})
    spikes = sorted({r["day"] for r in psql(db, f"SELECT DISTINCT day::text FROM aispend.anomalies({period}, NULL, "
                                                 f"'{provider}')")})
    check(marked == spikes, f"{what}: the daily chart marks the {len(spikes)} days with a spike (aispend.anomalies)",
          f"{marked} vs {spikes}")

    # Trend arrows: class per row = the tab's indicator (up red, down green), and the colours themselves.
    for name, rows in (("workspaces_table", psql(db, f"SELECT trend FROM aispend.workspaces_table({args}) "
                                                     "ORDER BY cost DESC, name")[:50]),
                       ("api_keys_table", keys), ("models_table", models)):
        got = page.trends.get(name, [])
        want = ["trend " + r["trend"] for r in rows]
        check(got == want, f"{what}: {name} trend arrows follow the indicators ({sum('up' in g for g in got)} up, "
                           f"{sum('down' in g for g in got)} down)", f"{got[:5]} vs {want[:5]}")
    check(re.search(r"\.trend\.up\{color:#c62828\}", text) and re.search(r"\.trend\.down\{color:#2e7d32\}", text),
          f"{what}: increases are red, decreases green")
    starred = [i for i, r in enumerate(models) if r["most_efficient"] == "t"]
    check(page.stars.get("models_table") == starred and len(starred) == len({r["class"] for r in models if
                                                                              r["most_efficient"] == "t"}),
          f"{what}: the efficiency stars mark aispend.models_table's most_efficient rows (one per class)",
          f"{page.stars.get('models_table')} vs {starred}")

    # Pie legends and bars: the charts' figures.
    def series(name, got, want):
        diff = [f"{g} != {w}" for g, w in zip(got, want)
                if g[0] != w[0] or not all(same_number(x, y) for x, y in zip(g[1:], w[1:]))]
        ok = len(got) == len(want) and not diff
        check(ok, f"{what}: chart {name} ({len(got)} items) equals the tab function",
              f"{len(got)} vs {len(want)} items; " + "; ".join(diff[:2]))

    series("workspaces_by_provider", page.legends.get("workspaces_by_provider", []),
           [(r["provider"], r["cost"], r["pct_of_total"]) for r in
            psql(db, f"SELECT * FROM aispend.workspaces_by_provider({args}) ORDER BY cost DESC, provider")])
    series("api_keys_top", page.legends.get("api_keys_top", []),
           [(r["label"] if r["label"] != "Other keys" else f"Other keys ({r['keys']})", r["cost"], r["pct_of_total"])
            for r in psql(db, f"SELECT * FROM aispend.api_keys_top({period}, 10, '{provider}') ORDER BY rank")])
    bym = psql(db, f"SELECT * FROM aispend.models_by_cost({args}) ORDER BY cost DESC, model")
    if len(bym) > 10:
        rest = bym[9:]
        bym = bym[:9] + [{"model": f"Other ({len(rest)} models)", "cost": str(sum(Decimal(r["cost"]) for r in rest)),
                          "pct_of_total": str(sum(Decimal(r["pct_of_total"] or 0) for r in rest))}]
    series("models_by_cost", page.legends.get("models_by_cost", []),
           [(r["model"], r["cost"], r["pct_of_total"]) for r in bym])
    series("workspaces_vs_previous", page.bars.get("workspaces_vs_previous", []),
           [(r["name"], r["current_cost"], r["previous_cost"]) for r in
            psql(db, f"SELECT * FROM aispend.workspaces_vs_previous({args}) ORDER BY current_cost DESC, name LIMIT 10")])
    series("api_keys_vs_previous", page.bars.get("api_keys_vs_previous", []),
           [(f"{r['api_key']} ({r['workspace']})", r["current_cost"], r["previous_cost"]) for r in
            psql(db, f"SELECT * FROM aispend.api_keys_vs_previous({args}) ORDER BY current_cost DESC, api_key, "
                     "account, workspace_id, api_key_id LIMIT 10")])
    series("models_vs_previous", page.bars.get("models_vs_previous", []),
           [(r["model"], r["current_cost"], r["previous_cost"]) for r in
            psql(db, f"SELECT * FROM aispend.models_vs_previous({args}) ORDER BY current_cost DESC, model LIMIT 10")])
    series("daily_series", page.days.get("daily_series", []),
           [(r["day"], r["cost"]) for r in psql(db, f"SELECT * FROM aispend.daily_series({args})")])
    svgs = sum(1 for t in page.tags if t == "svg")
    check(svgs >= 6 and sum(1 for t in page.tags if t == "path") >= 2, f"{what}: inline SVG charts ({svgs} svg)")


if __name__ == "__main__":
    main(sys.argv[1:])
    sys.exit(0 if all(results) and results else 1)
