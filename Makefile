# tensorlens — PGXS build.  `make && make install`, `make test` runs everything.
EXTENSION  = tensorlens
EXTVERSION = 0.3.0

PG_CONFIG ?= $(shell test -x /usr/lib/postgresql/15/bin/pg_config && \
               echo /usr/lib/postgresql/15/bin/pg_config || echo pg_config)

# The ONNX schema's C code is generated from Debian's onnx.proto (libonnx-dev)
# by protoc-c into build/, not committed; the core compiles it with its own.
ONNX_PROTO = /usr/include/onnx/onnx.proto
ONNX_PB    = build/onnx/onnx.pb-c.c
ONNX_PB_H  = build/onnx/onnx.pb-c.h
CORE_SRCS = $(sort $(wildcard src/core/*/*.c)) $(ONNX_PB)
CORE_HDRS = $(wildcard src/core/*/*.h) $(ONNX_PB_H)
PG_SRCS   = $(sort $(wildcard src/pg/*.c))
MODULE_big = tensorlens
OBJS = $(CORE_SRCS:.c=.o) $(PG_SRCS:.c=.o)

# The install script is the concatenation of sql/parts/*.sql with the report
# page's template (kept as HTML) appended as the function
# tl_report_template(); the upgrade script to it is built (below).  The
# scripts of released versions (install and upgrade) are committed as they
# were built when they shipped and installed as they are: sql/released.sha256
# holds their sums, checked by the suite (test/lint/releases.sh;
# doc/architecture.md: releases).
SQL_PARTS  = $(sort $(wildcard sql/parts/*.sql))
UPGRADES   = $(patsubst sql/upgrades/%.sql,sql/$(EXTENSION)--%.sql,$(wildcard sql/upgrades/*.sql))
DATA_built = sql/$(EXTENSION)--$(EXTVERSION).sql $(UPGRADES)
DATA       = $(filter-out $(DATA_built),$(wildcard sql/$(EXTENSION)--*.sql))

DEPS_PKG    = hdf5 openblas jansson libzip
PG_CPPFLAGS = -Isrc/core -Ibuild $(shell pkg-config --cflags $(DEPS_PKG))
SHLIB_LINK  = -lhdf5_hl $(shell pkg-config --libs $(DEPS_PKG)) -lprotobuf-c -lm

REGRESS      = $(sort $(basename $(notdir $(wildcard test/sql/*.sql))))
REGRESS_OPTS = --inputdir=test --outputdir=test/out --load-extension=plpgsql

EXTRA_CLEAN = $(DATA_built) test/out test/unit/build test/fuzz/build build

# PGXS would also build LLVM bitcode for JIT inlining; the kernels are BLAS
# calls and gain nothing from it.
override with_llvm = no

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

define with_report_template
( cat $(1); \
  echo 'CREATE OR REPLACE FUNCTION @extschema@.tl_report_template() RETURNS text'; \
  echo 'LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$tl_report$$ SELECT $$tl_html$$'; \
  cat sql/report_template.html; \
  echo '$$tl_html$$::pg_catalog.text $$tl_report$$;' ) > $@
endef
sql/$(EXTENSION)--$(EXTVERSION).sql: $(SQL_PARTS) sql/report_template.html
	$(call with_report_template,$(SQL_PARTS))
# An upgrade to the version being built: what cannot be derived, written by
# hand in sql/upgrades/FROM--TO.sql, and the statements the install scripts
# differ by (sql/build_upgrade.py: no function copied by hand)
sql/$(EXTENSION)--%--$(EXTVERSION).sql: sql/upgrades/%--$(EXTVERSION).sql sql/$(EXTENSION)--%.sql \
                                        sql/$(EXTENSION)--$(EXTVERSION).sql sql/build_upgrade.py
	python3 sql/build_upgrade.py sql/$(EXTENSION)--$*.sql sql/$(EXTENSION)--$(EXTVERSION).sql $< > $@.tmp
	mv $@.tmp $@

$(ONNX_PB) $(ONNX_PB_H): $(ONNX_PROTO)
	@mkdir -p build
	protoc-c --c_out=build -I$(dir $(ONNX_PROTO)).. onnx/onnx.proto

# PGXS does not track headers: every object depends on all of them.
$(OBJS): $(CORE_HDRS) $(wildcard src/pg/*.h)

# The core's element-wise kernels (ReLU, pooling, gradients) only vectorise
# at -O3 (no fast-math: results stay bit-identical to scalar code).
$(CORE_SRCS:.c=.o): CFLAGS += -O3
# exp/tanh/sigmoid loops only vectorise when comparisons may not trap (the
# values computed are the same: no fast-math)
src/core/nn/tl_activation.o src/core/nn/tl_embedding.o src/core/nn/tl_pool.o: CFLAGS += -fno-trapping-math

# ---- the core as a plain C library, for unit tests and fuzzing ----------
CORE_CFLAGS = -std=gnu99 -O3 -g -Wall -Wextra -Wno-unused-parameter -Werror=implicit-function-declaration \
              -Isrc/core -Ibuild $(shell pkg-config --cflags $(DEPS_PKG))
CORE_LIBS   = -lhdf5_hl $(shell pkg-config --libs $(DEPS_PKG)) -lprotobuf-c -lm

# One program per core module, test/unit/test_<module>.c, found by wildcard
# and built by one rule against the core compiled once into a library; each
# takes the fixture directory and prints "N passed, N failed".
UNIT_SRCS  = $(sort $(wildcard test/unit/test_*.c))
UNIT_NAMES = $(notdir $(basename $(UNIT_SRCS)))
UNIT_BUILD = test/unit/build
UNIT_BINS  = $(addprefix $(UNIT_BUILD)/,$(UNIT_NAMES))
UNIT_ASAN  = $(addsuffix _asan,$(UNIT_BINS))

# the objects of the core's sources (src/core/x/y.c, and the generated
# build/onnx/*.c) under a build directory
core_objs = $(patsubst build/%.c,$(1)/%.o,$(patsubst src/core/%.c,$(1)/%.o,$(CORE_SRCS)))

$(UNIT_BUILD)/core/%.o: src/core/%.c $(CORE_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CORE_CFLAGS) -c -o $@ $<
$(UNIT_BUILD)/core/onnx/%.o: build/onnx/%.c $(CORE_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CORE_CFLAGS) -c -o $@ $<
$(UNIT_BUILD)/libtlcore.a: $(call core_objs,$(UNIT_BUILD)/core)
	rm -f $@ && ar rcs $@ $^
$(UNIT_BINS): $(UNIT_BUILD)/%: test/unit/%.c test/unit/test_util.h $(UNIT_BUILD)/libtlcore.a
	$(CC) $(CORE_CFLAGS) -o $@ $< $(UNIT_BUILD)/libtlcore.a $(CORE_LIBS)

# every program runs even if one fails
unit: $(UNIT_BINS)
	s=0; for t in $(UNIT_BINS); do $$t test/fixtures || s=1; done; exit $$s

# The same under AddressSanitizer + UndefinedBehaviorSanitizer (clang).
SAN_FLAGS = -fsanitize=address,undefined -fno-sanitize-recover=all \
            -fno-omit-frame-pointer -DTL_SANITIZE
$(UNIT_BUILD)/asan/%.o: src/core/%.c $(CORE_HDRS)
	@mkdir -p $(dir $@)
	clang $(CORE_CFLAGS) -O1 $(SAN_FLAGS) -c -o $@ $<
$(UNIT_BUILD)/asan/onnx/%.o: build/onnx/%.c $(CORE_HDRS)
	@mkdir -p $(dir $@)
	clang $(CORE_CFLAGS) -O1 $(SAN_FLAGS) -c -o $@ $<
$(UNIT_BUILD)/libtlcore_asan.a: $(call core_objs,$(UNIT_BUILD)/asan)
	rm -f $@ && ar rcs $@ $^
$(UNIT_ASAN): $(UNIT_BUILD)/%_asan: test/unit/%.c test/unit/test_util.h $(UNIT_BUILD)/libtlcore_asan.a
	clang $(CORE_CFLAGS) -O1 $(SAN_FLAGS) -o $@ $< $(UNIT_BUILD)/libtlcore_asan.a $(CORE_LIBS)

# bench/row_bench.c (the per-row cost in the core) and bench/plain_bench.c
# (the plain path's GFLOP/s), linked against the objects the server runs
# (their flags: the unit tests' library lacks some)
build/row_bench build/plain_bench: build/%: bench/%.c bench/bench_core.h $(CORE_SRCS:.c=.o)
	$(CC) $(CORE_CFLAGS) -o $@ $< $(CORE_SRCS:.c=.o) $(CORE_LIBS)

unit-asan: $(UNIT_ASAN)
	s=0; for t in $(UNIT_ASAN); do \
	  ASAN_OPTIONS=detect_leaks=1:fast_unwind_on_malloc=0 UBSAN_OPTIONS=print_stacktrace=1 \
	  LSAN_OPTIONS=suppressions=test/fuzz/lsan.supp:print_suppressions=0 \
	  $$t test/fixtures || s=1; done; exit $$s

# ---- libFuzzer targets (test/fuzz/README.md) -------------------------------
FUZZ_TARGETS = load config forward flat onnx
FUZZ_BINS    = $(addprefix test/fuzz/build/fuzz_,$(FUZZ_TARGETS))
FUZZ_SECONDS ?= 600

FUZZ_CORE = $(call core_objs,test/fuzz/build/core)

FUZZ_TOOLS = test/fuzz/build/make_seeds test/fuzz/build/replay_isolated

# the core once, instrumented for coverage and the sanitizers
$(filter-out test/fuzz/build/core/onnx/%,$(FUZZ_CORE)): test/fuzz/build/core/%.o: src/core/%.c $(CORE_HDRS)
	@mkdir -p $(dir $@)
	clang $(CORE_CFLAGS) -O1 -fsanitize=fuzzer-no-link $(SAN_FLAGS) -c -o $@ $<
test/fuzz/build/core/onnx/%.o: build/onnx/%.c $(CORE_HDRS)
	@mkdir -p $(dir $@)
	clang $(CORE_CFLAGS) -O1 -fsanitize=fuzzer-no-link $(SAN_FLAGS) -c -o $@ $<

$(FUZZ_BINS): test/fuzz/build/fuzz_%: test/fuzz/fuzz_%.c $(FUZZ_CORE)
	clang $(CORE_CFLAGS) -O1 -fsanitize=fuzzer $(SAN_FLAGS) -o $@ $< $(FUZZ_CORE) $(CORE_LIBS)

# helpers: seed generation, and replaying inputs through the isolated loader
$(FUZZ_TOOLS): test/fuzz/build/%: test/fuzz/%.c $(CORE_SRCS) $(CORE_HDRS)
	@mkdir -p test/fuzz/build
	$(CC) $(CORE_CFLAGS) -o $@ $< $(CORE_SRCS) $(CORE_LIBS)

fuzz-build: $(FUZZ_BINS) $(FUZZ_TOOLS)

# Each target for FUZZ_SECONDS (one worker), after replaying its regressions.
fuzz: fuzz-build
	bash test/fuzz/run_fuzz.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# pg_regress with the server under valgrind memcheck (slow: not in `make test`).
VALGRIND_REGRESS ?= 10_model_store 11_hostile 20_infer 21_errors 22_layers 23_conformance
installcheck-valgrind:
	TL_VALGRIND=1 TL_REGRESS="$(VALGRIND_REGRESS)" bash test/run_tests.sh

# The whole suite: packages, build, install, throwaway cluster, pg_regress,
# unit tests; prints "N passed, N failed".
test:
	bash test/run_tests.sh

.PHONY: unit unit-asan fuzz fuzz-build installcheck-valgrind test
