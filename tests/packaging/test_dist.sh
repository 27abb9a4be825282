#!/usr/bin/env bash
# By hand: PGHOST=127.0.0.1 PGPORT=5432 PGUSER=postgres tests/packaging/test_dist.sh      (aispend installed)
# Packaging: `make dist` produces the release archive (committed files of HEAD) with what PGXN and a builder need;
# DROP EXTENSION + CREATE EXTENSION gives exactly the same objects (definitions, comments, privileges); the frozen
# install scripts of earlier releases (src/sql/releases/) are untouched and each has an upgrade path to the current
# version. The upgrade itself (install each release, ALTER EXTENSION aispend UPDATE, compare with a fresh install)
# is tests/upgrade/run.sh.
# Prints "ok - ..." / "not ok - ..." per check and ends with "N passed, N failed".
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
work=$(mktemp -d /tmp/aispend-dist.XXXXXX)
db=aispend_pkg_objects
passed=0
failed=0
trap 'psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1; rm -rf "$work"' EXIT

check() {  # check WHAT COMMAND...
    local what=$1; shift
    if "$@" >"$work/last.log" 2>&1; then
        echo "ok - $what"; passed=$((passed + 1))
    else
        echo "not ok - $what"; sed 's/^/#   /' "$work/last.log" | head -15; failed=$((failed + 1))
    fi
}

version=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$root/aispend.control")
zip="aispend-$version.zip"

# ---- make dist (the archive lands in the tree; it is moved out at once)
check "make dist produces $zip" bash -c "make -s -C '$root' dist && mv '$root/$zip' '$work/$zip'"
check "$zip is a valid zip archive rooted at aispend-$version/ with the release files" python3 - "$work/$zip" "$version" <<'PY'
import json, re, sys, zipfile
path, version = sys.argv[1], sys.argv[2]
prefix = f"aispend-{version}/"
with zipfile.ZipFile(path) as z:
    assert z.testzip() is None, "corrupt member"
    names = z.namelist()
    outside = [n for n in names if not n.startswith(prefix)]
    assert not outside, f"outside {prefix}: {outside[:5]}"
    files = {n[len(prefix):] for n in names}
    for need in ("aispend.control", "META.json", "Makefile", "README.md", "CHANGELOG.md"):
        assert need in files, f"missing {need}"
    for d in ("src/", "src/sql/", "src/core/", "src/pg/", "sql/", "expected/", "docs/"):
        assert any(f.startswith(d) and f != d for f in files), f"missing {d}"
    built = [f for f in files if re.search(r"(\.o|\.so|\.bc|\.zip)$", f) or re.match(r"aispend--[^/]*\.sql$", f)]
    assert not built, f"build products in the archive: {built[:5]}"
    meta = json.loads(z.read(prefix + "META.json"))
    assert meta["version"] == version, (meta["version"], version)
    for name, ext in meta["provides"].items():
        assert ext["file"] in files, f"provides.{name}.file {ext['file']} not in the archive"
        assert ext["version"] == version
    control = z.read(prefix + "aispend.control").decode()
    assert f"default_version = '{version}'" in control
print(len(names), "entries")
PY
check "the archive builds the extension script (make aispend--$version.sql) with every src/sql part" bash -c "
    cd '$work' && python3 -m zipfile -e '$zip' x >/dev/null && make -s -C 'x/aispend-$version' 'aispend--$version.sql' &&
    parts=\$(ls 'x/aispend-$version'/src/sql/*.sql | wc -l) &&
    got=\$(grep -c '^-- ---- src/sql/' 'x/aispend-$version/aispend--$version.sql') &&
    echo \"\$got of \$parts parts\" && [ \"\$got\" -eq \"\$parts\" ] && [ \"\$parts\" -gt 0 ]"

# ---- DROP / CREATE EXTENSION gives the same objects
objects() {
    psql -X -At -v ON_ERROR_STOP=1 -d "$db" <<'SQL'
SELECT pg_describe_object(d.classid, d.objid, d.objsubid)
       || coalesce(' | fn ' || (SELECT p.provolatile::text || ' ' || coalesce(p.proacl::text, '-') || ' '
                                       || md5(CASE WHEN p.prokind IN ('f', 'p') THEN pg_get_functiondef(p.oid)
                                                   ELSE p.prosrc END)
                                       || ' ' || coalesce(obj_description(p.oid, 'pg_proc'), '<no comment>')
                                FROM pg_proc p WHERE d.classid = 'pg_proc'::regclass AND p.oid = d.objid), '')
       || coalesce(' | rel ' || (SELECT c.relkind::text || ' ' || coalesce(c.relacl::text, '-') || ' '
                                        || coalesce(md5(pg_get_viewdef(c.oid)), '') || ' '
                                        || coalesce(obj_description(c.oid, 'pg_class'), '<no comment>') || ' '
                                        || (SELECT md5(string_agg(a.attname || ':' || format_type(a.atttypid, a.atttypmod)
                                                                  || ':' || a.attnotnull || ':'
                                                                  || coalesce(col_description(c.oid, a.attnum), ''),
                                                                  ',' ORDER BY a.attnum))
                                              FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0
                                                                    AND NOT a.attisdropped)
                                 FROM pg_class c WHERE d.classid = 'pg_class'::regclass AND c.oid = d.objid), '')
FROM pg_depend d
WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'aispend')
UNION ALL
SELECT 'constraint ' || conname || ' on ' || conrelid::regclass || ' ' || md5(pg_get_constraintdef(oid))
FROM pg_constraint WHERE connamespace = 'aispend'::regnamespace
UNION ALL
SELECT 'trigger ' || tgname || ' on ' || tgrelid::regclass || ' ' || md5(pg_get_triggerdef(oid))
FROM pg_trigger WHERE tgrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'aispend'::regnamespace)
  AND NOT tgisinternal
UNION ALL
SELECT 'index ' || indexrelid::regclass || ' ' || md5(pg_get_indexdef(indexrelid))
FROM pg_index WHERE indrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'aispend'::regnamespace)
ORDER BY 1;
SQL
}
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1
check "CREATE EXTENSION aispend in a fresh database" bash -c "
    psql -X -q -v ON_ERROR_STOP=1 -d postgres -c 'CREATE DATABASE $db' &&
    psql -X -q -v ON_ERROR_STOP=1 -d $db -c 'SET client_min_messages = warning; CREATE EXTENSION aispend'"
objects >"$work/first.txt" 2>"$work/first.err"
check "the extension's objects are listed ($(wc -l <"$work/first.txt") objects)" \
    bash -c "{ [ ! -s '$work/first.err' ] && [ \$(wc -l <'$work/first.txt') -gt 100 ]; } || { cat '$work/first.err'; false; }"
# CREATE EXTENSION creates the control file's schema when it is missing; that schema is not a member of the
# extension, so DROP EXTENSION keeps it (empty). Nothing else may stay behind.
check "DROP EXTENSION aispend leaves nothing behind in schema aispend" bash -c "
    psql -X -q -v ON_ERROR_STOP=1 -d $db -c 'DROP EXTENSION aispend' &&
    left=\$(psql -X -At -d $db -c \"SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = n.oid)
                                       + (SELECT count(*) FROM pg_proc WHERE pronamespace = n.oid)
                                       + (SELECT count(*) FROM pg_type WHERE typnamespace = n.oid)
                                  FROM pg_namespace n WHERE nspname = 'aispend'\") &&
    echo \"left: \${left:-no schema}\" && [ \"\${left:-0}\" = 0 ] &&
    test -z \"\$(psql -X -At -d $db -c \"SELECT 1 FROM pg_foreign_data_wrapper WHERE fdwname = 'aispend'\")\""
check "CREATE EXTENSION aispend again" \
    psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "SET client_min_messages = warning; CREATE EXTENSION aispend"
objects >"$work/second.txt" 2>>"$work/first.err"
check "DROP + CREATE EXTENSION gives the same objects (definitions, comments, privileges)" \
    diff -u "$work/first.txt" "$work/second.txt"
check "every public function, table and view of the extension has a COMMENT" \
    bash -c "! grep -F '<no comment>' '$work/first.txt' | grep -v -e ' aispend\._' -e ' | rel S '"
internal=$(grep -F '<no comment>' "$work/first.txt" | grep -c ' aispend\._')
[ "$internal" -gt 0 ] && echo "# $internal internal (aispend._*) function(s) have no COMMENT"

# ---- releases and upgrade paths (the upgrade itself: tests/upgrade/run.sh)
releases=$(ls "$root"/src/sql/releases/aispend--*.sql 2>/dev/null | sed 's|.*/aispend--\(.*\)\.sql$|\1|' | sort -V | xargs)
if [ -z "$releases" ]; then
    echo "ok - frozen releases # SKIP none in src/sql/releases/"
    passed=$((passed + 1))
else
    check "each frozen release src/sql/releases/aispend--X.sql is the generated install script of X ($releases)" \
        bash -c "for v in $releases; do
                     head -1 '$root/src/sql/releases/aispend--'\$v.sql | grep -q \"^-- aispend \$v: generated from src/sql/\" ||
                         { echo \"aispend--\$v.sql does not start with the header make writes for \$v\"; exit 1; }
                 done"
    # Frozen: added by one commit and never changed after (a released script is what users installed).
    if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
        check "frozen releases are never edited (one commit each, no change in the work tree)" bash -c "
            cd '$root' && bad=0
            for f in src/sql/releases/aispend--*.sql; do
                n=\$(git log --format=%h -- \"\$f\" | wc -l)
                [ \"\$n\" -le 1 ] || { echo \"\$f changed by \$n commits: \$(git log --format=%h -- \"\$f\" | xargs)\"; bad=1; }
                if [ \"\$n\" -eq 1 ] && ! git diff --quiet HEAD -- \"\$f\"; then echo \"\$f edited in the work tree\"; bad=1; fi
            done
            exit \$bad"
    fi
    check "from each earlier release there is an upgrade path to $version (src/sql/upgrades/)" \
        python3 - "$root" "$version" $releases <<'PY'
import pathlib, re, sys
root, target, releases = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
edges = {}
for f in sorted((root / "src/sql/upgrades").glob("aispend--*--*.sql")):
    m = re.fullmatch(r"aispend--(.+)--(.+)\.sql", f.name)
    edges.setdefault(m.group(1), set()).add(m.group(2))
missing = []
for start in releases:
    seen, todo = {start}, [start]
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    if target not in seen:
        missing.append(start)
for v in missing:
    print(f"no upgrade path from {v} to {target}: add src/sql/upgrades/aispend--{v}--{target}.sql")
print(f"{len(edges)} upgrade source version(s); releases {' '.join(releases)}")
sys.exit(1 if missing else 0)
PY
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
