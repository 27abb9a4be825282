# shellcheck shell=bash
# Sourced by tests/upgrade/run.sh and tests/upgrade/dump_restore.sh: what the dashboard shows and what the
# extension consists of, as text files that two databases can be compared with (diff). Functions only.
# Needs PGHOST/PGPORT/PGUSER. Every query result is sorted text (COLLATE "C"), one row per line.

# Columns that record *when* a sync or an edit ran (now(), clock_timestamp()): two databases synced seconds apart
# legitimately differ there. Only timestamp / timestamptz columns of these names are left out, and only when a
# caller asks for it (the upgrade test: two syncs; not the dump/restore test: the same rows).
AISPEND_NOW_COLUMNS="first_seen last_seen started_at finished_at refreshed_at loaded_at changed_at last_success_at
last_attempt_at last_error_at running_since complete_through last_sync"

# tab_queries DB TODAY EXCLUDE_NOW_COLUMNS(0|1) > MANIFEST
# One line per query, "group<TAB>label<TAB>sql", discovered in DB's catalog:
#   * every dashboard function of the public API: aispend.* not starting with "_", STABLE, every argument
#     defaulted (workspaces_*, api_keys_*, models_*, middleware_coverage, report_html, ...). One taking a period
#     first is called for each period below (and last_30_days with provider => 'anthropic' when it filters by
#     provider); the others with their defaults;
#   * every view of the extension (workspace_management, workspace_history, cost_facts, reconciliation, the
#     *_30d views, ...).
# The periods end on TODAY (passed explicitly, so that both databases see the same days whatever the clock does).
# A column "options text[]" (a server's options, as in aispend.accounts) is compared sorted: pg_dump writes a
# server's OPTIONS in name order, so their order is not kept by a dump and restore.
tab_queries() {
    local db=$1 today=$2 exclude=$3
    psql -X -q -At -F $'\t' -v ON_ERROR_STOP=1 -d "$db" -v today="$today" -v exclude="$exclude" \
         -v now_columns="$AISPEND_NOW_COLUMNS" \
         -v sorted='(SELECT pg_catalog.array_agg(o ORDER BY o COLLATE "C") FROM pg_catalog.unnest(x.%I) o)' <<'SQL'
WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'aispend'),
excl AS (
    SELECT c AS name FROM pg_catalog.regexp_split_to_table(:'now_columns', '\s+') AS c WHERE :'exclude' = '1'),
periods(ord, label, expr) AS (
    SELECT p.ord, p.label, p.expr FROM (VALUES
        (1, 'last_7_days', pg_catalog.format('aispend.period(%L, %L::date)', 'last_7_days', :'today')),
        (2, 'last_30_days', pg_catalog.format('aispend.period(%L, %L::date)', 'last_30_days', :'today')),
        (3, 'last_90_days', pg_catalog.format('aispend.period(%L, %L::date)', 'last_90_days', :'today')),
        (4, 'month_to_date', pg_catalog.format('aispend.period(%L, %L::date)', 'month_to_date', :'today')),
        (5, pg_catalog.format('custom_period(%s, %s)', :'today'::date - 60, :'today'::date - 31),
            pg_catalog.format('aispend.custom_period(%L, %L)', :'today'::date - 60, :'today'::date - 31)),
        -- reaches back before the first synced day (the 90 days backfill): a partly empty period
        (6, pg_catalog.format('custom_period(%s, %s)', :'today'::date - 120, :'today'::date - 85),
            pg_catalog.format('aispend.custom_period(%L, %L)', :'today'::date - 120, :'today'::date - 85))
    ) AS p(ord, label, expr)),
fns AS (
    SELECT p.oid, p.proname,
           p.pronargs > 0 AND p.proargnames[1] = 'period' AND p.proargtypes[0] = 'daterange'::regtype AS takes_period,
           p.proargnames IS NOT NULL AND 'provider' = ANY (p.proargnames[1:p.pronargs]) AS takes_provider,
           (SELECT pg_catalog.string_agg(CASE WHEN a.typ = 'text[]'::regtype AND a.name = 'options'
                                              THEN pg_catalog.format(:'sorted', a.name)
                                              ELSE pg_catalog.format('x.%I', a.name) END, ', ' ORDER BY a.ord)
              FROM unnest(p.proargnames, p.proargmodes, p.proallargtypes)
                   WITH ORDINALITY AS a(name, mode, typ, ord)
             WHERE a.mode IN ('o', 't', 'b')
               AND NOT (a.typ IN ('timestamptz'::regtype, 'timestamp'::regtype) AND a.name IN (SELECT name FROM excl)))
               AS cols,
           p.prorettype = 'text'::regtype AND NOT p.proretset AS returns_text
    FROM pg_proc p
    WHERE p.pronamespace = 'aispend'::regnamespace AND p.proname !~ '^_' AND p.prokind = 'f'
      AND p.provolatile = 's' AND p.pronargs > 0 AND p.pronargdefaults = p.pronargs
      AND EXISTS (SELECT 1 FROM pg_depend d, ext WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                                                   AND d.deptype = 'e' AND d.refobjid = ext.oid)),
calls AS (
    SELECT f.proname AS grp, f.proname || '(' || pr.label || ')' AS label, f.cols, f.returns_text,
           pg_catalog.format('aispend.%I(%s)', f.proname, pr.expr) AS call, 1 AS kind, pr.ord
    FROM fns f, periods pr WHERE f.takes_period
    UNION ALL
    SELECT f.proname, f.proname || '(' || pr.label || ', provider => anthropic)', f.cols, f.returns_text,
           pg_catalog.format('aispend.%I(%s, provider => %L)', f.proname, pr.expr, 'anthropic'), 1, 10 + pr.ord
    FROM fns f, periods pr WHERE f.takes_period AND f.takes_provider AND pr.label = 'last_30_days'
    UNION ALL
    SELECT f.proname, f.proname || '()', f.cols, f.returns_text, pg_catalog.format('aispend.%I()', f.proname), 1, 0
    FROM fns f WHERE NOT f.takes_period
    UNION ALL
    SELECT c.relname, 'view ' || c.relname,
           (SELECT pg_catalog.string_agg(CASE WHEN a.atttypid = 'text[]'::regtype AND a.attname = 'options'
                                              THEN pg_catalog.format(:'sorted', a.attname)
                                              ELSE pg_catalog.format('x.%I', a.attname) END, ', ' ORDER BY a.attnum)
              FROM pg_attribute a
             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
               AND NOT (a.atttypid IN ('timestamptz'::regtype, 'timestamp'::regtype)
                        AND a.attname IN (SELECT name FROM excl))),
           false, pg_catalog.format('aispend.%I', c.relname), 2, 0
    FROM pg_class c, ext
    WHERE c.relnamespace = 'aispend'::regnamespace AND c.relkind IN ('v', 'm')
      AND EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                                              AND d.deptype = 'e' AND d.refobjid = ext.oid))
SELECT c.grp, c.label,
       pg_catalog.format('SELECT (%s) COLLATE "C" FROM %s x ORDER BY 1;',
           CASE WHEN c.returns_text
                -- the chart report prints the minute it was generated
                THEN 'pg_catalog.regexp_replace(x::text, ''[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2} UTC'', ''(generated) UTC'', ''g'')'
                WHEN c.cols IS NULL THEN 'x::text'
                ELSE 'ROW(' || c.cols || ')::text' END,
           c.call)
FROM calls c
ORDER BY c.kind, c.grp COLLATE "C", c.ord, c.label COLLATE "C";
SQL
}

# run_tab_queries DB MANIFEST OUTDIR: runs every query of MANIFEST in one session; the result of line N goes to
# OUTDIR/N.txt, its error (if any) to OUTDIR/N.err.
run_tab_queries() {
    local db=$1 manifest=$2 out=$3
    mkdir -p "$out"
    awk -F'\t' -v out="$out" '{ printf "\\o %s/%d.txt\n%s\n", out, NR, $3 } END { print "\\o" }' "$manifest" \
        >"$out/queries.sql"
    PGOPTIONS="-c statement_timeout=300s" psql -X -q -At -v VERBOSITY=terse -d "$db" -f "$out/queries.sql" \
        >/dev/null 2>"$out/stderr.log"
    # "psql:FILE:LINE: ERROR:  ..." -> the query of that line (line 2N holds query N)
    awk -v out="$out" 'match($0, /^psql:[^:]*:[0-9]+: /) {
            split(substr($0, 1, RLENGTH), p, ":"); n = int(p[3] / 2)
            print substr($0, RLENGTH + 1) >> (out "/" n ".err") }' "$out/stderr.log"
}

# compare_tab_outputs MANIFEST DIR_A NAME_A DIR_B NAME_B: one check per group (a function over every period, a
# view): prints "ok - ..." / "not ok - ..." lines with the first differences, and sets cmp_passed / cmp_failed.
compare_tab_outputs() {
    local manifest=$1 a=$2 an=$3 b=$4 bn=$5
    cmp_passed=0
    cmp_failed=0
    local groups grp
    groups=$(cut -f1 "$manifest" | awk '!seen[$0]++')
    for grp in $groups; do
        local ids bad=() rows=0 calls=0 first="" id label
        ids=$(awk -F'\t' -v g="$grp" '$1 == g { print NR }' "$manifest")
        for id in $ids; do
            calls=$((calls + 1))
            label=$(sed -n "${id}p" "$manifest" | cut -f2)
            if [ -s "$a/$id.err" ] || [ -s "$b/$id.err" ] || [ ! -f "$a/$id.txt" ] || [ ! -f "$b/$id.txt" ] ||
               ! cmp -s "$a/$id.txt" "$b/$id.txt"; then
                bad+=("$label")
                [ -z "$first" ] && first=$id
            else
                rows=$((rows + $(wc -l <"$a/$id.txt")))
            fi
        done
        if [ ${#bad[@]} -eq 0 ]; then
            echo "ok - $grp: same output in $an and $bn ($calls call(s), $rows rows)"
            cmp_passed=$((cmp_passed + 1))
        else
            echo "not ok - $grp: output differs between $an and $bn: ${bad[*]}"
            label=$(sed -n "${first}p" "$manifest" | cut -f2)
            echo "#   first difference, $label (- $an, + $bn):"
            [ -s "$a/$first.err" ] && sed "s/^/#   $an: /" "$a/$first.err" | head -3
            [ -s "$b/$first.err" ] && sed "s/^/#   $bn: /" "$b/$first.err" | head -3
            if [ -f "$a/$first.txt" ] && [ -f "$b/$first.txt" ]; then
                echo "#   rows: $(wc -l <"$a/$first.txt") in $an, $(wc -l <"$b/$first.txt") in $bn"
                diff -U0 "$a/$first.txt" "$b/$first.txt" | sed -n '3,$p' | grep -v '^@@' | cut -c1-300 |
                    head -12 | sed 's/^/#   /'
            fi
            cmp_failed=$((cmp_failed + 1))
        fi
    done
}

# schema_snapshot DB OUTDIR: the extension's definition as text, one file per kind, to diff with another database.
# Privileges are shown as the sorted items of the ACL, the default one when it is NULL: an ACL that a GRANT and
# REVOKE left as {owner=...} equals the NULL a restore gives back.
#   members.txt    pg_describe_object of every member (pg_depend deptype 'e'), and the extension's config tables
#   functions.txt  every function of schema aispend: pg_get_functiondef, volatility, privileges, comment
#   relations.txt  every table, view, sequence of schema aispend: kind, privileges, comment, columns in order
#                  (type, not null, default, identity, generated, comment), view definition, sequence parameters
#   others.txt     constraints, indexes, triggers, policies, types of schema aispend; the wrapper; schema privileges
schema_snapshot() {
    local db=$1 out=$2
    mkdir -p "$out"
    local q="psql -X -q -At -v ON_ERROR_STOP=1 -d $db"
    $q >"$out/members.txt" <<'SQL' || return 1
SELECT x FROM (
SELECT 'member: ' || pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid)
FROM pg_depend d
WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'aispend')
UNION ALL
SELECT 'config table (pg_extension_config_dump): ' || x.rel::regclass || coalesce(' ' || NULLIF(x.cond, ''), '')
FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS x(rel, cond)
WHERE e.extname = 'aispend'
UNION ALL
SELECT 'extension: relocatable ' || e.extrelocatable || ', schema ' || e.extnamespace::regnamespace
FROM pg_extension e WHERE e.extname = 'aispend'
) s(x)
ORDER BY x COLLATE "C";
SQL
    $q >"$out/functions.txt" <<'SQL' || return 1
SELECT '==== ' || p.oid::regprocedure || E'\n'
       || 'kind ' || p.prokind::text || ', volatility ' || p.provolatile::text || ', parallel ' || p.proparallel::text
       || ', security definer ' || p.prosecdef || ', strict ' || p.proisstrict || ', cost ' || p.procost
       || ', rows ' || p.prorows || ', owner ' || p.proowner::regrole || E'\n'
       || 'privileges ' || (SELECT pg_catalog.string_agg(a::text, ',' ORDER BY a::text)
                            FROM unnest(coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))) a) || E'\n'
       || 'comment ' || coalesce(pg_catalog.obj_description(p.oid, 'pg_proc'), '(none)') || E'\n'
       || CASE WHEN p.prokind IN ('f', 'p', 'w') THEN pg_catalog.pg_get_functiondef(p.oid) ELSE p.prosrc END
FROM pg_proc p
WHERE p.pronamespace = 'aispend'::regnamespace
ORDER BY p.oid::regprocedure::text COLLATE "C";
SQL
    $q >"$out/relations.txt" <<'SQL' || return 1
SELECT '==== ' || c.relname || ' (relkind ' || c.relkind::text || ', persistence ' || c.relpersistence::text
       || ', row security ' || c.relrowsecurity || ', options ' || coalesce(c.reloptions::text, '-')
       || ', owner ' || c.relowner::regrole || ')' || E'\n'
       || 'privileges ' || (SELECT pg_catalog.string_agg(a::text, ',' ORDER BY a::text)
                            FROM unnest(coalesce(c.relacl, pg_catalog.acldefault(CASE WHEN c.relkind = 'S' THEN 's'
                                                                                      ELSE 'r' END::"char",
                                                                                 c.relowner))) a) || E'\n'
       || 'comment ' || coalesce(pg_catalog.obj_description(c.oid, 'pg_class'), '(none)')
       || coalesce(E'\n' || (
            SELECT pg_catalog.string_agg(
                       '  column ' || pg_catalog.quote_ident(a.attname) || ' '
                       || pg_catalog.format_type(a.atttypid, a.atttypmod)
                       || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
                       || coalesce(' default ' || pg_catalog.pg_get_expr(ad.adbin, ad.adrelid), '')
                       || CASE a.attidentity WHEN 'a' THEN ' identity always' WHEN 'd' THEN ' identity by default'
                                             ELSE '' END
                       || CASE a.attgenerated WHEN 's' THEN ' generated stored' ELSE '' END
                       || CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation
                               THEN ' collate ' || a.attcollation::regcollation ELSE '' END
                       || coalesce(' -- ' || pg_catalog.col_description(c.oid, a.attnum), ''),
                       E'\n' ORDER BY a.attnum)
            FROM pg_attribute a
            JOIN pg_type t ON t.oid = a.atttypid
            LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
            WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '')
       || CASE WHEN c.relkind IN ('v', 'm') THEN E'\n  definition ' || pg_catalog.pg_get_viewdef(c.oid) ELSE '' END
       || coalesce((SELECT E'\n  sequence ' || s.seqtypid::regtype || ' start ' || s.seqstart || ' increment '
                           || s.seqincrement || ' min ' || s.seqmin || ' max ' || s.seqmax || ' cache '
                           || s.seqcache || ' cycle ' || s.seqcycle
                    FROM pg_sequence s WHERE s.seqrelid = c.oid), '')
FROM pg_class c
WHERE c.relnamespace = 'aispend'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c')
ORDER BY c.relname COLLATE "C";
SQL
    $q >"$out/others.txt" <<'SQL' || return 1
SELECT x FROM (
    SELECT 'constraint ' || c.conname || ' on ' || c.conrelid::regclass || ': ' || pg_catalog.pg_get_constraintdef(c.oid)
           || CASE WHEN c.condeferrable THEN ' deferrable' ELSE '' END AS x
    FROM pg_constraint c WHERE c.connamespace = 'aispend'::regnamespace
    UNION ALL
    SELECT 'index: ' || pg_catalog.pg_get_indexdef(i.indexrelid)
           || coalesce(' -- ' || pg_catalog.obj_description(i.indexrelid, 'pg_class'), '')
    FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid WHERE c.relnamespace = 'aispend'::regnamespace
    UNION ALL
    SELECT 'trigger: ' || pg_catalog.pg_get_triggerdef(t.oid) || ' (enabled ' || t.tgenabled::text || ')'
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
    WHERE c.relnamespace = 'aispend'::regnamespace AND NOT t.tgisinternal
    UNION ALL
    SELECT 'policy ' || p.polname || ' on ' || p.polrelid::regclass || ': ' || p.polcmd::text || ' '
           || coalesce(pg_catalog.pg_get_expr(p.polqual, p.polrelid), '-') || ' '
           || coalesce(pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid), '-')
    FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid WHERE c.relnamespace = 'aispend'::regnamespace
    UNION ALL
    SELECT 'type ' || t.oid::regtype || ' (typtype ' || t.typtype::text || ')'
           || coalesce(': ' || (SELECT pg_catalog.string_agg(e.enumlabel, ', ' ORDER BY e.enumsortorder)
                                 FROM pg_enum e WHERE e.enumtypid = t.oid), '')
           || CASE WHEN t.typtype = 'd' THEN ' over ' || pg_catalog.format_type(t.typbasetype, t.typtypmod) ELSE '' END
    FROM pg_type t
    WHERE t.typnamespace = 'aispend'::regnamespace AND t.typtype IN ('e', 'd', 'r', 'm', 'b')
    UNION ALL
    SELECT 'foreign-data wrapper ' || w.fdwname || ': handler ' || w.fdwhandler::regproc || ', validator '
           || w.fdwvalidator::regproc || ', options ' || coalesce(w.fdwoptions::text, '-') || ', privileges '
           || (SELECT pg_catalog.string_agg(a::text, ',' ORDER BY a::text)
                 FROM unnest(coalesce(w.fdwacl, pg_catalog.acldefault('F', w.fdwowner))) a)
    FROM pg_foreign_data_wrapper w WHERE w.fdwname = 'aispend'
    UNION ALL
    SELECT 'schema aispend: privileges ' || (SELECT pg_catalog.string_agg(a::text, ',' ORDER BY a::text)
                                               FROM unnest(coalesce(n.nspacl, pg_catalog.acldefault('n', n.nspowner))) a)
           || ', comment '
           || coalesce(pg_catalog.obj_description(n.oid, 'pg_namespace'), '(none)')
    FROM pg_namespace n WHERE n.nspname = 'aispend'
) s
ORDER BY x COLLATE "C";
SQL
}
