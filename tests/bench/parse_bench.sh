#!/usr/bin/env bash
# Builds parse_bench (-O2) into build/bench/ and runs it; the table also goes to tests/bench/results/parse.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p build/bench tests/bench/results
core=(json decimal timeutil paging line_item openai anthropic registry errors)
"${CXX:-g++}" -std=c++17 -O2 -DNDEBUG -Isrc $(pkg-config --cflags jansson) tests/bench/parse_bench.cpp \
    $(printf "src/core/%s.cpp " "${core[@]}") -o build/bench/parse_bench $(pkg-config --libs jansson)
build/bench/parse_bench tests/bench/results/parse.txt
