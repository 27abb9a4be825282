# shellcheck shell=bash disable=SC2034
# Sourced by the dashboard and savings benchmarks: the synthetic organisation of a scale (the mock's generated
# orgs' shape) and the connection. Sets scale, ws, keys, days, anchor, db and psql_.
scale=${1:-$default_scale}
case "$scale" in
    small)  ws=10;  keys=100;  days=90 ;;
    medium) ws=50;  keys=1000; days=365 ;;
    large)  ws=200; keys=5000; days=730 ;;
    *) echo "usage: $0 [small|medium|large]" >&2; exit 2 ;;
esac
anchor=${ANCHOR:-2026-09-30}
db=${PGDATABASE:-aispend_test}
psql_() { psql -X -q -v ON_ERROR_STOP=1 -d "$db" "$@"; }
