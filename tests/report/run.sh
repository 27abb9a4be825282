#!/usr/bin/env bash
# By hand: PGHOST=127.0.0.1 PGPORT=5432 PGUSER=postgres tests/report/run.sh DB [SCREENSHOT.png]   (DB from setup_demo_db)
# The chart report (aispend.report_html): exports it with psql, checks that the HTML parses and is self-contained,
# that its figures equal the tab functions', that user text is escaped, and renders it with headless Chromium.
# Prints "ok - ..." / "not ok - ..." per check and ends with "N passed, N failed".
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
db=${1:?usage: tests/report/run.sh DB [SCREENSHOT.png]}
shot=${2:-}
work=$(mktemp -d /tmp/aispend-report.XXXXXX)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0

check() {  # check WHAT COMMAND...: one line per check
    local what=$1; shift
    if "$@" >"$work/last.log" 2>&1; then
        echo "ok - $what"; passed=$((passed + 1))
    else
        echo "not ok - $what"; sed 's/^/#   /' "$work/last.log" | head -15; failed=$((failed + 1))
    fi
}

# Counts the checker's lines into the totals.
checker() {
    local out
    out=$(python3 "$here/check_report.py" "$@" 2>&1)
    echo "$out"
    passed=$((passed + $(grep -c '^ok - ' <<<"$out")))
    failed=$((failed + $(grep -c '^not ok - ' <<<"$out")))
    if ! grep -qE '^(not )?ok - ' <<<"$out"; then failed=$((failed + 1)); echo "not ok - checker ran"; fi
}

psql_q() { psql -X -q -v ON_ERROR_STOP=1 -d "$db" "$@"; }

# ---- the export, as docs/report.md shows it
check "export: psql -Atc \"SELECT aispend.report_html()\" > report.html" \
    bash -c "psql -X -d '$db' -Atc 'SELECT aispend.report_html()' > '$work/report.html' && test -s '$work/report.html'"
check "report_html (by range and by period name) is STABLE with a COMMENT; html_escape is IMMUTABLE" test "$(psql_q -Atc "
    SELECT string_agg(p.proname || ':' || p.provolatile::text || ':' || (obj_description(p.oid, 'pg_proc') IS NOT NULL), ' '
                      ORDER BY p.proname, p.oid::regprocedure::text)
      FROM pg_proc p WHERE p.pronamespace = 'aispend'::regnamespace AND p.proname IN ('report_html', 'html_escape')")" \
    = "html_escape:i:true report_html:s:true report_html:s:true"
check "html_escape escapes & < > \" '" test "$(psql_q -Atc "SELECT aispend.html_escape(\$\$<a href=\"x\">Tom & Jerry's</a>\$\$)")" \
    = '&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;'
checker "$work/report.html" "$db"

# ---- another period and a provider filter
check "export for the last 7 days, Anthropic only" bash -c "psql -X -d '$db' -Atc \
    \"SELECT aispend.report_html(aispend.period('last_7_days'), 'anthropic')\" > '$work/anthropic.html'"
checker "$work/anthropic.html" "$db" --period "aispend.period('last_7_days')" --provider anthropic
check "an unknown provider filter is refused (22023)" bash -c "psql -X -d '$db' -Atc \
    \"SELECT aispend.report_html(provider => 'azure')\" 2>&1 | grep -q 'unknown provider filter'"

# ---- hostile names, inside a transaction that is rolled back
check "hostile names: rename a workspace and a key inside a rolled-back transaction" bash -c "psql -X -q -v ON_ERROR_STOP=1 -d '$db' -At >'$work/escaped.html' <<'SQL'
BEGIN;
UPDATE aispend.workspaces SET display_name = '<script>alert(1)</script>'
 WHERE (account, workspace_id) = (SELECT account, workspace_id FROM aispend.workspaces ORDER BY account, workspace_id LIMIT 1);
UPDATE aispend.api_keys SET name = '\"><img src=x onerror=alert(2)>'
 WHERE (account, api_key_id) = (SELECT k.account, k.api_key_id FROM aispend.api_keys_table() t
                                  JOIN aispend.api_keys k USING (account, api_key_id) ORDER BY t.cost DESC LIMIT 1);
SELECT aispend.report_html();
ROLLBACK;
SQL"
checker --escaped "$work/escaped.html"
check "hostile names: nothing was left renamed" test "$(psql_q -Atc \
    "SELECT count(*) FROM aispend.workspaces WHERE display_name LIKE '%<script>%'")" = 0

# ---- headless Chromium renders the page to a PNG
if ! command -v chromium >/dev/null 2>&1; then
    echo "# installing chromium"
    if [ "$(id -u)" -eq 0 ]; then sudo_cmd=(); else sudo_cmd=(sudo); fi
    "${sudo_cmd[@]}" apt-get update -qq >/dev/null 2>&1
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1
fi
check "chromium is installed" command -v chromium
profile=$(mktemp -d /tmp/aispend-chromium.XXXXXX)
png="$work/report.png"
timeout 90 chromium --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --user-data-dir="$profile" --screenshot="$png" \
    --window-size=1400,3000 "file://$work/report.html" >"$work/chromium.log" 2>&1
rc=$?
rm -rf "$profile"
check "chromium --headless exited 0 (rc=$rc)" test "$rc" -eq 0
[ "$rc" -ne 0 ] && tail -5 "$work/chromium.log" | sed 's/^/#   /'
check "screenshot is a 1400x3000 PNG of non-trivial size" python3 - "$png" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
assert data[12:16] == b"IHDR", "no IHDR"
w, h = struct.unpack(">II", data[16:24])
assert (w, h) == (1400, 3000), (w, h)
assert b"IEND" in data[-12:], "truncated"
assert len(data) > 50_000, f"only {len(data)} bytes: blank page?"
print(w, h, len(data))
PY
if [ -n "$shot" ] && [ -s "$png" ]; then
    check "screenshot written to $shot" cp "$png" "$shot"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
