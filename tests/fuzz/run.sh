#!/usr/bin/env bash
# Builds the libFuzzer targets into build/fuzz/ and runs each for SECONDS (default 5), seeded from the unit
# fixtures. Prints "fuzz <name>: ok (N runs)" or "fuzz <name>: FAILED" per target; exits non-zero on a finding.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-5}"
cxx="${FUZZ_CXX:-clang++-14}"
out=build/fuzz
flags=(-std=c++17 -g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -Isrc
       $(pkg-config --cflags jansson))
libs=(-fsanitize=fuzzer,address,undefined $(pkg-config --libs jansson))
core=(json decimal timeutil paging url_policy line_item token_class openai anthropic openrouter registry errors utf8)
mkdir -p "$out/obj"

# Core objects once, two at a time (shared machine).
printf '%s\n' "${core[@]}" | xargs -P2 -I{} "$cxx" "${flags[@]}" -c "src/core/{}.cpp" -o "$out/obj/{}.o"
objs=("${core[@]/#/$out/obj/}")
objs=("${objs[@]/%/.o}")

targets=(json line_item)
for provider in openai anthropic openrouter; do
    for call in workspaces api_keys usage costs; do targets+=("${provider}_${call}"); done
done

build() {
    local name="$1"
    if [[ "$name" == json || "$name" == line_item ]]; then
        "$cxx" "${flags[@]}" "tests/fuzz/fuzz_$name.cpp" "${objs[@]}" "${libs[@]}" -o "$out/fuzz_$name"
    else
        "$cxx" "${flags[@]}" -DFUZZ_PROVIDER="\"${name%%_*}\"" -DFUZZ_CALL="\"${name#*_}\"" \
            tests/fuzz/fuzz_provider.cpp "${objs[@]}" "${libs[@]}" -o "$out/fuzz_$name"
    fi
}
for name in "${targets[@]}"; do build "$name" & (( $(jobs -r | wc -l) >= 2 )) && wait -n; done
wait

status=0
for name in "${targets[@]}"; do
    corpus="$out/corpus_$name"
    mkdir -p "$corpus"
    seeds="tests/unit/fixtures/${name%%_*}"
    [[ -d "$seeds" ]] || seeds=tests/unit/fixtures/openai
    cp -n "$seeds"/*.json "$corpus"/ 2>/dev/null || true
    log="$out/fuzz_$name.log"
    if "$out/fuzz_$name" -max_total_time="$seconds" -rss_limit_mb=1024 -timeout=10 \
        -artifact_prefix="$out/crash_${name}_" "$corpus" >"$log" 2>&1; then
        runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -1)
        echo "fuzz $name: ok (${runs:-?} runs)"
    else
        echo "fuzz $name: FAILED (see $log)"
        status=1
    fi
done
exit "$status"
