#!/usr/bin/env bash
# The demo: a local PostgreSQL 15 with aispend, the bundled mock providers serving a demo organisation,
# OpenAI, Anthropic and OpenRouter accounts and Amazon Bedrock spend from a FOCUS export, a sync, a background
# refresh with its progress, and the dashboard tabs printed.
# Usage: scripts/demo.sh           start (or reuse) and print the dashboard
#        scripts/demo.sh --stop    stop PostgreSQL and the mock providers
#        scripts/demo.sh --clean   stop and delete the demo directory
set -euo pipefail
AISPEND_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$AISPEND_ROOT"
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

DEMO_DIR=${AISPEND_DEMO_DIR:-$AISPEND_ROOT/.demo}
DB=aispend_demo

case "${1:-}" in
    --stop) stop_mock "$DEMO_DIR"; stop_cluster "$DEMO_DIR/pg"; say "demo stopped"; exit 0 ;;
    --clean) stop_mock "$DEMO_DIR"; stop_cluster "$DEMO_DIR/pg"; rm -rf "$DEMO_DIR"; say "demo removed"; exit 0 ;;
    "") ;;
    *) echo "usage: $0 [--stop|--clean]" >&2; exit 2 ;;
esac

ensure_packages "${AISPEND_PACKAGES[@]}"
build_and_install ""
mkdir -p "$DEMO_DIR"
chmod 755 "$DEMO_DIR"

# PostgreSQL: reuse the running demo cluster, else start it on a free port.
if [ -f "$DEMO_DIR/pg/data/postmaster.pid" ] && as_cluster_user "$PG_BIN/pg_ctl" -D "$DEMO_DIR/pg/data" status >/dev/null 2>&1; then
    pg_port=$(cat "$DEMO_DIR/pg.port")
    as_cluster_user "$PG_BIN/pg_ctl" -D "$DEMO_DIR/pg/data" -w restart -m fast >/dev/null  # loads the fresh build
    say "PostgreSQL restarted on port $pg_port"
else
    pg_port=$(free_port)
    start_cluster "$DEMO_DIR/pg" "$pg_port" "$DB"
    echo "$pg_port" >"$DEMO_DIR/pg.port"
    say "PostgreSQL 15 started on port $pg_port (data in $DEMO_DIR/pg, run by $(cluster_user))"
fi

# Mock providers: one fresh process per run, so a changed mock is picked up.
stop_mock "$DEMO_DIR"
mock_port=$(free_port)
start_mock "$DEMO_DIR" "$mock_port" demo
say "mock providers (demo organisation) on http://127.0.0.1:$mock_port"

export PGHOST=127.0.0.1 PGPORT=$pg_port PGUSER=postgres
psql -X -q -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1 ||
    psql -X -q -d postgres -c "CREATE DATABASE $DB" >/dev/null
PGOPTIONS="-c client_min_messages=warning" psql -X -q -d "$DB" -c "CREATE EXTENSION IF NOT EXISTS pg_cron" >/dev/null

say "creating the accounts demo_openai, demo_anthropic and demo_openrouter, syncing them (90 days), and importing demo_bedrock (a FOCUS export)"
setup_demo_db "$DB" "http://127.0.0.1:$mock_port"

say "Refresh Data: a background refresh of every synced account, requested with SELECT, its progress as it goes"
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" <<'SQL' 2>&1 | sed 's/^NOTICE:  /  /'
SELECT aispend.request_refresh() AS request \gset
\pset footer off
SELECT aispend.wait_refresh(:request) AS refreshed;
SELECT account, state, sum(steps_done) AS steps, sum(rows_fetched) AS rows_fetched,
       sum(http_requests) AS http_requests, max(elapsed) AS took
FROM aispend.refresh_progress WHERE request = :request GROUP BY account, state ORDER BY account;
SQL

say "dashboard, last 30 days"
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f scripts/demo_tabs.sql

say "chart report"
psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB" -c "SELECT aispend.report_html()" >"$DEMO_DIR/report.html"
echo "  $DEMO_DIR/report.html"
if command -v chromium >/dev/null 2>&1; then
    profile=$(mktemp -d)
    if timeout 60 chromium --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
        --disable-component-update --disable-sync --user-data-dir="$profile" --window-size=1400,3000 \
        --screenshot="$DEMO_DIR/report.png" "file://$DEMO_DIR/report.html" >/dev/null 2>&1; then
        echo "  $DEMO_DIR/report.png (screenshot by headless Chromium)"
    fi
    rm -rf "$profile"
else
    echo "  (install the chromium package for a PNG screenshot of it)"
fi

cat <<EOF

$(say "what next")
  connect:        psql "host=127.0.0.1 port=$pg_port user=postgres dbname=$DB"
  real accounts:  CREATE SERVER acme_openai FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai');
                  CREATE USER MAPPING FOR CURRENT_USER SERVER acme_openai OPTIONS (admin_key 'sk-admin-...');
                  CALL aispend.sync('acme_openai');          (see docs/accounts.md)
  report again:   psql -At "host=127.0.0.1 port=$pg_port user=postgres dbname=$DB" -c "SELECT aispend.report_html()" > report.html
  stop:           scripts/demo.sh --stop        remove everything: scripts/demo.sh --clean
EOF
