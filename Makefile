# tensorlens — PGXS build.  `make && make install`, `make test` runs everything.
EXTENSION  = tensorlens
EXTVERSION = 0.1.0

PG_CONFIG ?= $(shell test -x /usr/lib/postgresql/15/bin/pg_config && \
               echo /usr/lib/postgresql/15/bin/pg_config || echo pg_config)

CORE_SRCS = $(sort $(wildcard src/core/*.c))
PG_SRCS   = $(sort $(wildcard src/pg/*.c))
MODULE_big = tensorlens
OBJS = $(CORE_SRCS:.c=.o) $(PG_SRCS:.c=.o)

# The install script is the concatenation of sql/parts/*.sql.
SQL_PARTS  = $(sort $(wildcard sql/parts/*.sql))
DATA_built = sql/$(EXTENSION)--$(EXTVERSION).sql
DATA       = $(filter-out $(DATA_built),$(wildcard sql/$(EXTENSION)--*--*.sql))

DEPS_PKG    = hdf5 openblas jansson libzip
PG_CPPFLAGS = -Isrc/core $(shell pkg-config --cflags $(DEPS_PKG))
SHLIB_LINK  = -lhdf5_hl $(shell pkg-config --libs $(DEPS_PKG)) -lm

REGRESS      = $(sort $(basename $(notdir $(wildcard test/sql/*.sql))))
REGRESS_OPTS = --inputdir=test --outputdir=test/out --load-extension=plpgsql

EXTRA_CLEAN = $(DATA_built) test/out test/unit/test_core test/unit/test_pca

# PGXS would also build LLVM bitcode for JIT inlining; the kernels are BLAS
# calls and gain nothing from it.
override with_llvm = no

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# The report page's template is kept as HTML and embedded as a function.
$(DATA_built): $(SQL_PARTS) sql/report_template.html
	( cat $(SQL_PARTS); \
	  echo 'CREATE FUNCTION @extschema@.tl_report_template() RETURNS text'; \
	  echo 'LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$tl_report$$ SELECT $$tl_html$$'; \
	  cat sql/report_template.html; \
	  echo '$$tl_html$$::text $$tl_report$$;' ) > $@

# PGXS does not track headers: every object depends on all of them.
$(OBJS): $(wildcard src/core/*.h src/pg/*.h)

# ---- the core as a plain C library, for unit tests and fuzzing ----------
CORE_CFLAGS = -std=gnu99 -O2 -g -Wall -Wextra -Wno-unused-parameter \
              -Isrc/core $(shell pkg-config --cflags $(DEPS_PKG))
CORE_LIBS   = -lhdf5_hl $(shell pkg-config --libs $(DEPS_PKG)) -lm

test/unit/test_core: test/unit/test_core.c $(CORE_SRCS) src/core/*.h
	$(CC) $(CORE_CFLAGS) -o $@ test/unit/test_core.c $(CORE_SRCS) $(CORE_LIBS)

unit: test/unit/test_core
	test/unit/test_core test/fixtures

test/unit/test_pca: test/unit/test_pca.c $(CORE_SRCS) src/core/*.h
	$(CC) $(CORE_CFLAGS) -o $@ test/unit/test_pca.c $(CORE_SRCS) $(CORE_LIBS)

unit-pca: test/unit/test_pca
	test/unit/test_pca

# The whole suite: packages, build, install, throwaway cluster, pg_regress,
# unit tests; prints "N passed, N failed".
test:
	bash test/run_tests.sh

.PHONY: unit unit-pca test
