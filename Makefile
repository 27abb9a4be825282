# aispend: PGXS build. The version lives in aispend.control only.
EXTENSION   = aispend
EXTVERSION  = $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" $(EXTENSION).control)

MODULE_big  = $(EXTENSION)
CORE_SRCS   = $(sort $(wildcard src/core/*.cpp))
PG_SRCS     = $(sort $(wildcard src/pg/*.cpp))
OBJS        = $(CORE_SRCS:.cpp=.o) $(PG_SRCS:.cpp=.o)

# The install script is the numbered parts of src/sql/ concatenated in order (not its subdirectories).
SQL_PARTS   = $(sort $(wildcard src/sql/*.sql))
DATA_built  = $(EXTENSION)--$(EXTVERSION).sql
# Installed beside it: the upgrade scripts, and the install scripts of earlier releases exactly as released
# (src/sql/releases/aispend--X.Y.Z.sql, frozen: never edited), so that CREATE EXTENSION aispend VERSION 'X.Y.Z'
# followed by ALTER EXTENSION aispend UPDATE works (tests/upgrade/run.sh). The release of the current version,
# once frozen, is not installed twice: the script built from src/sql/ is.
RELEASES    = $(filter-out src/sql/releases/$(EXTENSION)--$(EXTVERSION).sql,$(wildcard src/sql/releases/$(EXTENSION)--*.sql))
DATA        = $(wildcard src/sql/upgrades/*--*--*.sql) $(RELEASES)
DOCS        = $(wildcard docs/*.md)
EXTRA_CLEAN = $(DATA_built) build

# pg_regress suites (sql/, expected/); they need the mock providers and pg_cron (see scripts/test.sh).
REGRESS      = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --encoding=UTF8 --no-locale

WERROR      ?=
PG_CPPFLAGS += -Isrc -DAISPEND_VERSION='"$(EXTVERSION)"' $(shell pkg-config --cflags libcurl jansson)
PG_CXXFLAGS += -std=c++17 -Wall -Wextra -Wno-unused-parameter -Wno-register $(WERROR)
SHLIB_LINK  += $(shell pkg-config --libs libcurl jansson) -lstdc++

# Debian's PGXS also emits LLVM bitcode with clang and without PG_CXXFLAGS (C++14): JIT gains nothing here.
# It must be overridden before the include, which decides the bitcode targets.
override with_llvm = no

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies: every object is rebuilt when any header changes (a struct's layout
# seen differently by two objects corrupts memory silently), and when the version (compiled in) changes.
$(OBJS): $(wildcard src/*/*.hpp) $(EXTENSION).control

$(DATA_built): $(SQL_PARTS) $(EXTENSION).control
	{ printf -- "-- aispend %s: generated from src/sql/ by make; edit those files.\n" "$(EXTVERSION)"; \
	  printf '%s\n' '\echo Use "CREATE EXTENSION aispend" to load this file. \quit'; \
	  for f in $(SQL_PARTS); do printf '\n-- ---- %s\n' "$$f"; cat "$$f"; done; } > $@

# ---- plain C++ (no PostgreSQL) : unit tests, fuzzers, benchmarks of src/core
CXX        ?= g++
CORE_FLAGS  = -std=c++17 -O2 -g -Wall -Wextra -Isrc -DAISPEND_VERSION='"$(EXTVERSION)"' $(WERROR) $(shell pkg-config --cflags libcurl jansson)
CORE_LIBS   = $(shell pkg-config --libs libcurl jansson)
UNIT_SRCS   = $(sort $(wildcard tests/unit/*.cpp))

build/unit_tests: $(CORE_SRCS) $(UNIT_SRCS) $(wildcard src/core/*.hpp tests/unit/*.hpp)
	@mkdir -p build
	$(CXX) $(CORE_FLAGS) -o $@ $(CORE_SRCS) $(UNIT_SRCS) -lgtest -lgtest_main -pthread $(CORE_LIBS)

unit: build/unit_tests

TIDY_CHECKS = -*,bugprone-*,performance-*,-bugprone-easily-swappable-parameters,-performance-inefficient-string-concatenation

lint:
	clang-format --dry-run --Werror $(CORE_SRCS) $(PG_SRCS) $(wildcard src/*/*.hpp tests/unit/*.cpp tests/fuzz/*.cpp tests/bench/*.cpp)
	clang-tidy -quiet --checks='$(TIDY_CHECKS)' --warnings-as-errors='*' $(CORE_SRCS) -- $(CORE_FLAGS)

format:
	clang-format -i $(CORE_SRCS) $(PG_SRCS) $(wildcard src/*/*.hpp tests/unit/*.cpp tests/fuzz/*.cpp tests/bench/*.cpp)

dist:
	git archive --format zip --prefix=$(EXTENSION)-$(EXTVERSION)/ -o $(EXTENSION)-$(EXTVERSION).zip HEAD

.PHONY: unit lint format dist
