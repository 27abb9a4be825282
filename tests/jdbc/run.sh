#!/usr/bin/env bash
# By hand: PGHOST=127.0.0.1 PGPORT=5432 PGUSER=postgres tests/jdbc/run.sh DB      (DB from setup_demo_db)
# BI readiness through the PostgreSQL JDBC driver (what Metabase uses): creates the LOGIN role aispend_bi_test
# with aispend.grant_reader, compiles and runs BiMetadataCheck.java as that role, drops the role.
# Prints "ok - ..." / "not ok - ..." per check and ends with "N passed, N failed".
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
db=${1:?usage: tests/jdbc/run.sh DB}
role=aispend_bi_test
password="bi-$RANDOM-$RANDOM"
work=$(mktemp -d /tmp/aispend-jdbc.XXXXXX)
passed=0
failed=0

drop_role() {
    psql -X -q -d "$db" -c "SELECT aispend.revoke_all('$role')" >/dev/null 2>&1
    psql -X -q -d "$db" -c "DROP OWNED BY $role" >/dev/null 2>&1
    psql -X -q -d postgres -c "DROP ROLE IF EXISTS $role" >/dev/null 2>&1
}
trap 'drop_role; rm -rf "$work"' EXIT

fail() { echo "not ok - $1"; failed=$((failed + 1)); }
pass() { echo "ok - $1"; passed=$((passed + 1)); }

# Debian's JDK and JDBC driver, when missing.
missing=()
for pkg in default-jdk-headless libpostgresql-jdbc-java; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "# installing ${missing[*]}"
    if [ "$(id -u)" -eq 0 ]; then sudo_cmd=(); else sudo_cmd=(sudo); fi
    "${sudo_cmd[@]}" apt-get update -qq >/dev/null 2>&1
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1
fi
jar=/usr/share/java/postgresql.jar
if [ -f "$jar" ] && command -v javac >/dev/null; then pass "JDK and $jar installed"; else fail "JDK and $jar installed"; fi

if javac -d "$work" -cp "$jar" "$here/BiMetadataCheck.java" 2>"$work/javac.log"; then
    pass "BiMetadataCheck.java compiles"
else
    fail "BiMetadataCheck.java compiles"; sed 's/^/#   /' "$work/javac.log" | head -20
fi

drop_role
if psql -X -q -v ON_ERROR_STOP=1 -d "$db" >/dev/null 2>"$work/role.log" <<SQL
CREATE ROLE $role LOGIN PASSWORD '$password';
SELECT aispend.grant_reader('$role');
SQL
then pass "LOGIN role $role with aispend.grant_reader"; else fail "LOGIN role $role with aispend.grant_reader"; cat "$work/role.log"; fi

if [ -f "$work/BiMetadataCheck.class" ]; then
    out=$(timeout 90 java -cp "$work:$jar" BiMetadataCheck "jdbc:postgresql://127.0.0.1:${PGPORT:-5432}/$db" \
        "$role" "$password" 2>&1)
    rc=$?
    echo "$out" | grep -v ' passed, .* failed$'
    passed=$((passed + $(grep -c '^ok - ' <<<"$out")))
    failed=$((failed + $(grep -c '^not ok - ' <<<"$out")))
    if [ "$rc" -ne 0 ] && ! grep -q '^not ok - ' <<<"$out"; then fail "BiMetadataCheck ran (exit $rc)"; fi
fi

drop_role
if psql -X -d postgres -Atc "SELECT count(*) FROM pg_roles WHERE rolname = '$role'" | grep -qx 0; then
    pass "role $role dropped"
else
    fail "role $role dropped"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
