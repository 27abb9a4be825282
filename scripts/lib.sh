# Shared by scripts/test.sh and scripts/demo.sh: packages, a throwaway PostgreSQL 15, the mock providers.
# Source it; it defines functions only.

PG_BIN=/usr/lib/postgresql/15/bin
AISPEND_PACKAGES=(build-essential pkg-config postgresql-15 postgresql-server-dev-15 postgresql-15-cron
                  postgresql-15-pgtap pgtap postgresql-contrib libcurl4-openssl-dev libjansson-dev
                  libgtest-dev clang clang-format libclang-rt-14-dev python3 git)
# What only the test command needs: the report's screenshot (Chromium) and the BI check (JDBC).
AISPEND_TEST_PACKAGES=(chromium default-jdk-headless libpostgresql-jdbc-java zip unzip)

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# Runs a command as root: directly when we are root, else through sudo.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Installs the Debian packages that are missing (apt-get update only when something is).
ensure_packages() {
    local missing=() pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# The OS user that owns throwaway clusters: initdb refuses root, so root uses "postgres".
cluster_user() {
    if [ "$(id -u)" -eq 0 ]; then echo postgres; else id -un; fi
}

as_cluster_user() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# build_and_install [WERROR]: builds the extension and installs it into PostgreSQL 15.
build_and_install() {
    local werror=${1:-}
    say "building aispend"
    make -s -j2 WERROR="$werror" >/dev/null || return 1
    as_root make -s install >/dev/null || return 1
}

# start_cluster DIR PORT DBNAME [SETTING...]: initdb + start with pg_cron preloaded (jobs run in DBNAME), trust
# auth on loopback and the socket in DIR. Everything lives under DIR. aispend may reach loopback (the mock
# providers), and the server's environment holds the mock's OpenAI key for the account aispend_env_openai
# (tests/pgtap/security_keys.sql reads it through the environment-key rules). Each SETTING ("name = value") is
# added to postgresql.conf at initdb, after the defaults (so it wins).
start_cluster() {
    local dir=$1 port=$2 db=$3
    shift 3
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        as_cluster_user "$PG_BIN/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --no-locale >/dev/null || return 1
        as_cluster_user tee -a "$dir/data/postgresql.conf" >/dev/null <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
shared_preload_libraries = 'pg_cron'
cron.database_name = '$db'
cron.use_background_workers = on
max_worker_processes = 16
log_min_messages = warning
fsync = off
aispend.allow_loopback = on
CONF
        [ $# -eq 0 ] || printf '%s\n' "$@" | as_cluster_user tee -a "$dir/data/postgresql.conf" >/dev/null
    else
        as_cluster_user sed -i "s/^port = .*/port = $port/" "$dir/data/postgresql.conf"
        grep -q '^aispend.allow_loopback' "$dir/data/postgresql.conf" ||
            echo "aispend.allow_loopback = on" | as_cluster_user tee -a "$dir/data/postgresql.conf" >/dev/null
    fi
    as_cluster_user env AISPEND_ADMIN_KEY_aispend_env_openai=sk-admin-test-openai \
        "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w start >/dev/null || {
        tail -20 "$dir/postgres.log"; return 1; }
}

stop_cluster() {
    local dir=$1
    [ -f "$dir/data/postmaster.pid" ] && as_cluster_user "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1
    return 0
}

# start_mock DIR PORT ORG [OPTION...]: the mock providers serving ORG on 127.0.0.1:PORT (more options, such as
# --latency-ms 300, passed on), pid in DIR/mock-ORG-PORT.pid.
start_mock() {
    local dir=$1 port=$2 org=$3
    shift 3
    python3 "$AISPEND_ROOT/tests/mock/mock_providers.py" --port "$port" --org "$org" "$@" >"$dir/mock-$org-$port.log" 2>&1 &
    echo $! >"$dir/mock-$org-$port.pid"
    local i
    for i in $(seq 1 100); do
        python3 - "$port" <<'PY' 2>/dev/null && return 0
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/mock/healthz", timeout=1)
PY
        sleep 0.1
    done
    echo "mock providers did not start:"; cat "$dir/mock-$org-$port.log"; return 1
}

# stop_mock DIR: stops every mock started with DIR.
stop_mock() {
    local dir=$1 pidfile
    for pidfile in "$dir"/mock-*.pid; do
        [ -f "$pidfile" ] || continue
        kill "$(cat "$pidfile")" 2>/dev/null || true   # already gone: nothing to stop
        rm -f "$pidfile"
    done
    return 0
}

# setup_demo_db DB MOCK_URL: (re)creates aispend in DB with the accounts demo_openai and demo_anthropic
# pointed at the mock providers, then syncs both (the demo organisation's 90 days). Needs PGHOST/PGPORT/PGUSER.
setup_demo_db() {
    local db=$1 mock_url=$2
    psql -X -q -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1 ||
        psql -X -q -d postgres -c "CREATE DATABASE $db" >/dev/null || return 1
    psql -X -q -v ON_ERROR_STOP=1 -d "$db" -v mock_url="$mock_url" >/dev/null <<'SQL' || return 1
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS aispend CASCADE;
CREATE EXTENSION aispend;
CREATE SERVER demo_openai FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai', base_url :'mock_url');
CREATE SERVER demo_anthropic FOREIGN DATA WRAPPER aispend OPTIONS (provider 'anthropic', base_url :'mock_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER demo_openai OPTIONS (admin_key 'sk-admin-test-openai');
CREATE USER MAPPING FOR CURRENT_USER SERVER demo_anthropic OPTIONS (admin_key 'sk-ant-admin01-test');
CREATE SERVER demo_openrouter FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openrouter', base_url :'mock_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER demo_openrouter OPTIONS (admin_key 'sk-or-v1-mgmt-test');
CREATE SERVER demo_bedrock FOREIGN DATA WRAPPER aispend OPTIONS (provider 'focus');
SQL
    psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "CALL aispend.sync()" 2>&1 | sed 's/^NOTICE:  /  /'
    [ "${PIPESTATUS[0]}" -eq 0 ] || return 1
    # Amazon Bedrock spend from a FOCUS export (docs/focus.md): the AWS sample, moved to recent days.
    psql -X -q -v ON_ERROR_STOP=1 -d "$db" -v focus="$(demo_focus_csv)" <<'SQL' 2>&1 | sed 's/^NOTICE:  /  /'
SELECT format('  aispend: demo_bedrock FOCUS import, billing period %s: %s rows, %s of AI (%s unparsed), $%s billed',
              billing_period_start::date, rows_read, ai_rows, unparsed_rows, billed_cost)
FROM aispend.import_focus('demo_bedrock', :'focus') \g (tuples_only format=unaligned)
SQL
    return "${PIPESTATUS[0]}"
}

# demo_focus_csv: tests/fixtures/focus/aws.csv (September 2026) moved to the month whose 3rd to 18th lie in the
# last 30 days, so that the demo's dashboard shows it.
demo_focus_csv() {
    python3 - "$AISPEND_ROOT/tests/fixtures/focus/aws.csv" <<'PY'
import datetime, sys
today = datetime.datetime.now(datetime.timezone.utc).date()
month = today.replace(day=1) if today.day >= 19 else (today.replace(day=1) - datetime.timedelta(days=1)).replace(day=1)
following = (month + datetime.timedelta(days=32)).replace(day=1)
text = open(sys.argv[1], encoding="utf-8").read()
sys.stdout.write(text.replace("2026-10-01", following.isoformat()).replace("2026-09-", month.strftime("%Y-%m-")))
PY
}
