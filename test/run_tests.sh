#!/usr/bin/env bash
# test/run_tests.sh — the whole test suite (`make test`; CI runs it).
#
# Installs missing packages, runs the core unit tests under ASan+UBSan and
# each fuzz target for TL_FUZZ_SECONDS (default 60), builds and installs the
# extension, runs the core unit tests, prepares the reference fixtures from
# ../shared/data when it is there (TL_DATA_DIR overrides), starts a throwaway cluster owned by a
# non-root user, runs pg_regress, stops the cluster and prints
# "N passed, N failed, N skipped" and what was skipped and why.  Exits
# non-zero on any failure.
set -u
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
. contrib/packages.sh
. contrib/cluster.sh

DATA_DIR=${TL_DATA_DIR:-$REPO/../shared/data}
PORT=${TL_TEST_PORT:-54398}
PASSED=0
FAILED=0
SKIPPED=0
SKIPS=()
# skip WHAT WHY: a part that did not run is counted and named, never passed
skip() {
  SKIPPED=$((SKIPPED + 1))
  SKIPS+=("$1 ($2)")
  echo "test $1 ... skipped: $2"
}
summary() {
  echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
  for s in ${SKIPS[@]+"${SKIPS[@]}"}; do echo "  skipped: $s"; done
}

tl_install_packages || exit 1
# the browser test is skipped (and named) without chromium
tl_install_packages chromium 2>/dev/null

# TL_VALGRIND=1 (`make installcheck-valgrind`): the server runs under
# valgrind memcheck (invalid reads, writes and frees; no leak or
# uninitialised-value checks, which Debian's postgres, built without
# USE_VALGRIND, floods with false reports), fuzzing is skipped, and any
# invalid access fails the run.  TL_REGRESS narrows the pg_regress tests.
VALGRIND=${TL_VALGRIND:-0}

# ---- sanitizers and fuzzing (no install needed: before taking the lock) ----
# The core unit tests under ASan+UBSan count as one test; each fuzz target
# (regression inputs replayed, then TL_FUZZ_SECONDS of fuzzing) as one more.
if [ "$VALGRIND" = 0 ]; then
echo "== core unit tests under AddressSanitizer + UndefinedBehaviorSanitizer"
if asan_out=$(make -s unit-asan 2>&1); then
  echo "all unit checks pass under the sanitizers ($(echo "$asan_out" | grep -E "^[0-9]+ passed" | tr "\n" " "))"
  PASSED=$((PASSED + 1))
else
  # the failing checks and sanitizer reports first (the tail alone can miss them), then the tail
  echo "$asan_out" | grep -E "FAIL|ERROR|Sanitizer|runtime error|Segmentation|Aborted" | head -40
  echo "$asan_out" | tail -30
  FAILED=$((FAILED + 1))
fi
echo "== fuzzing, ${TL_FUZZ_SECONDS:-60} s per target (test/fuzz/README.md)"
if make -s fuzz-build >/dev/null 2>"$REPO/test/fuzz-build.log"; then
  fuzz_out=$(TL_DATA_DIR="$DATA_DIR" bash test/fuzz/run_fuzz.sh "${TL_FUZZ_SECONDS:-60}" 2>&1)
  echo "$fuzz_out"
  PASSED=$((PASSED + $(echo "$fuzz_out" | grep -cE '^fuzz [a-z]+: ok')))
  FAILED=$((FAILED + $(echo "$fuzz_out" | grep -cE '^fuzz [a-z]+: FAILED')))
else
  tail -20 "$REPO/test/fuzz-build.log"
  FAILED=$((FAILED + 1))
fi
rm -f "$REPO/test/fuzz-build.log"
else
  skip "sanitizers and fuzzing" "TL_VALGRIND=1: the server runs under valgrind instead"
fi

# Installing the extension and testing it against the installed copy must not
# interleave with another checkout doing the same on this machine.
tl_lock_install
tl_build_install || { echo "build or install failed"; FAILED=$((FAILED + 1)); summary; exit 1; }

# ---- the architecture's rules (doc/architecture.md) ------------------------
for lint in deps sizes releases sourced; do
  if out=$(bash test/lint/$lint.sh 2>&1); then
    echo "test lint/$lint ... ok"; PASSED=$((PASSED + 1))
  else
    echo "test lint/$lint ... FAILED"; echo "$out" | head -30; FAILED=$((FAILED + 1))
  fi
done

# ---- core unit tests ------------------------------------------------------
echo "== core unit tests"
unit_out=$(make -s unit 2>&1)
echo "$unit_out" | grep -v '^test/unit' | grep -v '^  ' | tail -20
# one "N passed, N failed" line per unit test program (test/unit/test_*.c)
lines=$(echo "$unit_out" | grep -E '^[0-9]+ passed, [0-9]+ failed$')
while read -r p _ f _; do
  PASSED=$((PASSED + ${p:-0}))
  FAILED=$((FAILED + ${f:-0}))
done <<< "$lines"
# a program that did not get to its summary line is a failure
programs=$(ls test/unit/test_*.c | wc -l)
[ "$(echo "$lines" | grep -c passed)" -lt "$programs" ] && FAILED=$((FAILED + 1))

# ---- a throwaway cluster owned by a non-root user --------------------------
TMP=$(mktemp -d /tmp/tensorlens-test.XXXXXX)
tl_on_exit 'tl_cluster_stop "$TMP"; rm -rf "$TMP"'
chmod 755 "$TMP"
[ "$(id -u)" = 0 ] && chown postgres "$TMP"

# fixtures the server reads (tl_model_load) must be readable by its user
cp -r test/fixtures "$TMP/fixtures"
chmod -R a+rX "$TMP/fixtures"
export TL_FIXTURES="$TMP/fixtures"
if [ -d "$DATA_DIR/models" ]; then
  DATA_DIR=$(cd "$DATA_DIR" && pwd)
  if ! "${RUN_AS[@]}" test -r "$DATA_DIR/models/imdb/imdb_conv1d__datadonk23.h5"; then
    cp -r "$DATA_DIR" "$TMP/shared_data" && chmod -R a+rX "$TMP/shared_data"
    DATA_DIR="$TMP/shared_data"
  fi
  # The reference outputs depend only on the data and test/reference; a
  # cache (TL_PREP_CACHE) keyed by both saves the ~35 s of numpy on reruns.
  key=$(cat test/reference/*.py | sha256sum | cut -c1-16)
  PREP="$TMP/prep"
  [ -n "${TL_PREP_CACHE:-}" ] && PREP="$TL_PREP_CACHE/$key"
  if [ -f "$PREP/done" ]; then
    echo "== reference outputs from the cache $PREP"
    prep_ok=1
  else
    echo "== preparing reference outputs from $DATA_DIR (numpy, test/reference)"
    mkdir -p "$PREP"
    prep_ok=0
    if /usr/bin/python3 test/reference/prep_fixtures.py --data "$DATA_DIR" --out "$PREP" 2>"$TMP/prep.log"; then
      prep_ok=1
      touch "$PREP/done"
      grep -i "acc " "$TMP/prep.log" | sed 's/^/   reference: /'
    fi
  fi
  # scikit-learn references for test/sql/40_pca.sql (Fashion-MNIST + IMDB)
  FASHION=/usr/share/datasets/fashion-mnist
  if [ $prep_ok = 1 ] && [ -f "$FASHION/train-images-idx3-ubyte.gz" ] && [ ! -f "$PREP/pca/done" ]; then
    echo "== scikit-learn PCA references (test/reference/pca_vs_sklearn.py)"
    mkdir -p "$PREP/pca"
    if /usr/bin/python3 test/reference/pca_vs_sklearn.py --data "$DATA_DIR" --fashion "$FASHION" \
        --out "$PREP/pca" 2>"$TMP/pca.log"; then
      touch "$PREP/pca/done"
      sed 's/^/   reference: /' "$TMP/pca.log"
    else
      echo "PCA reference preparation failed:"; tail -20 "$TMP/pca.log"
      FAILED=$((FAILED + 1))
    fi
  fi
  [ -f "$PREP/pca/done" ] && export TL_PCA_REF="$PREP/pca"
  if [ $prep_ok = 1 ]; then
    chmod -R a+rX "$PREP"
    chmod a+x "$(dirname "$PREP")" 2>/dev/null
    export TL_DATA="$DATA_DIR" TL_PREP="$PREP"
  else
    echo "reference preparation failed:"; tail -20 "$TMP/prep.log"
    FAILED=$((FAILED + 1))
  fi
  # PyTorch autograd reference gradients for 50_saliency, cached the same way
  # (keyed by the scripts it runs; about 20 s when not cached).
  tl_install_packages python3-torch || FAILED=$((FAILED + 1))
  skey=$(cat test/reference/torch/*.py test/reference/imdb_tokenize.py \
         test/reference/prep_fixtures.py | sha256sum | cut -c1-16)
  SAL="$TMP/saliency"
  [ -n "${TL_PREP_CACHE:-}" ] && SAL="$TL_PREP_CACHE/saliency-$skey"
  if [ -f "$SAL/done" ]; then
    echo "== PyTorch saliency reference from the cache $SAL"
  else
    echo "== preparing the PyTorch saliency reference (test/reference/torch)"
    mkdir -p "$SAL"
    if /usr/bin/python3 test/reference/torch/saliency_ref.py --data "$DATA_DIR" \
         --out "$SAL" 2>"$TMP/saliency.log"; then
      touch "$SAL/done"
    else
      echo "saliency reference failed:"; tail -20 "$TMP/saliency.log"
      FAILED=$((FAILED + 1))
    fi
  fi
  if [ $prep_ok = 1 ] && [ -f "$SAL/done" ]; then
    chmod -R a+rX "$SAL"
    export TL_SAL="$SAL"
  fi
else
  echo "== NOTICE: shared data not found at $DATA_DIR: tests on real models are skipped"
  skip "real models, reference outputs and PyTorch gradients" "no shared data at $DATA_DIR"
fi

tl_cluster_init "$TMP" --no-sync || { FAILED=$((FAILED + 1)); summary; exit 1; }
if [ "$VALGRIND" = 1 ]; then
  mkdir -p "$TMP/valgrind" && chmod 777 "$TMP/valgrind"
  printf '#!/bin/sh\nexec valgrind --quiet --trace-children=yes --undef-value-errors=no --leak-check=no --error-limit=no --num-callers=30 --log-file=%s/valgrind/%%p.log %s/postgres "$@"\n' \
    "$TMP" "$TL_PG_BIN" >"$TMP/postgres-valgrind"
  chmod 755 "$TMP/postgres-valgrind"
  TL_PG_CTL_OPTS="-p $TMP/postgres-valgrind -t 600"
fi
# progress NOTICE lines come at an interval: timed output has no place in
# expected files (67_progress sets the interval where it tests them)
tl_cluster_start "$TMP" $PORT -c fsync=off -c tensorlens.progress_interval=0 || { FAILED=$((FAILED + 1)); summary; exit 1; }
TL_PG_CTL_OPTS=

echo "== pg_regress"
rm -rf test/out
regress_args=()
[ -n "${TL_REGRESS:-}" ] && regress_args=(REGRESS="$TL_REGRESS")
regress_out=$(make -s PG_CONFIG=$TL_PG_BIN/pg_config installcheck "${regress_args[@]}" \
  PGHOST="$TMP" PGPORT=$PORT PGUSER=postgres 2>&1)
echo "$regress_out" | grep -E '^(test| |ok|not ok|All|=)' | grep -v '^ *$'
ok=$(echo "$regress_out" | grep -cE '\.\.\. ok|^ok ')
bad=$(echo "$regress_out" | grep -cE '\.\.\. FAILED|\.\.\. failed|^not ok ')
# a test line that is neither (e.g. "diff: ... No such file": no expected output)
other=$(echo "$regress_out" | grep -E '^test ' | grep -cvE '\.\.\. (ok|FAILED|failed)')
bad=$((bad + other))
if [ "$ok" = 0 ] && [ "$bad" = 0 ]; then bad=1; echo "$regress_out" | tail -20; fi
PASSED=$((PASSED + ok))
FAILED=$((FAILED + bad))
if [ "$bad" != 0 ] && [ -f test/out/regression.diffs ]; then
  echo "== regression.diffs"
  head -300 test/out/regression.diffs
fi
# A test that passed with its alternative output (NN_x_1.out) ran without
# the shared data: its real-data part is counted as skipped.
for res in test/out/results/*.out; do
  [ -f "$res" ] || continue
  t=$(basename "$res" .out)
  if [ -f "test/expected/${t}_1.out" ] && ! cmp -s "$res" "test/expected/$t.out" &&
     cmp -s "$res" "test/expected/${t}_1.out"; then
    skip "$t on real data" "no shared data: the output matched ${t}_1.out"
  fi
done
# Perception vectors must survive a server restart bit for bit: 30_perception
# saved some; restart and recompute them in a fresh backend.
PSQL=(psql -X -At -h "$TMP" -p $PORT -U postgres -d contrib_regression)
if [ "$("${PSQL[@]}" -c "SELECT to_regclass('perception_saved') IS NOT NULL" 2>/dev/null)" = t ]; then
  "${RUN_AS[@]}" $TL_PG_BIN/pg_ctl -D "$TMP/data" -w -m fast restart >/dev/null 2>&1 9>&-
  same=$("${PSQL[@]}" -c "SELECT count(*) > 0 AND bool_and(s.v = tl_perception(s.model, r.input))
                            FROM perception_saved s JOIN imdb_ref r USING (model, id)" 2>&1)
  if [ "$same" = t ]; then
    echo "test perception after a restart ... ok"; PASSED=$((PASSED + 1))
  else
    echo "test perception after a restart ... FAILED: $same"; FAILED=$((FAILED + 1))
  fi
else
  skip "perception after a restart" "no perception_saved: 30_perception did not run on real data"
fi
# Two pipelines and an analyst at once: nothing lost, every run analysed.
if [ "$("${PSQL[@]}" -c "SELECT to_regclass('tl_run') IS NOT NULL" 2>/dev/null)" = t ]; then
  if out=$(bash test/concurrency/run.sh "$TMP" $PORT 2>&1); then
    echo "test concurrent pipelines and readers ... ok"; PASSED=$((PASSED + 1))
  else
    echo "test concurrent pipelines and readers ... FAILED"; echo "$out"; FAILED=$((FAILED + 1))
  fi
else
  skip "concurrent pipelines and readers" "no tl_run table: TL_REGRESS left out the test that creates it"
fi
# Load (short: 20 s of the 5-minute test) and faults (kill -9, statement_timeout)
# of doc/security.md; the fault test runs a cluster of its own.
if [ "$VALGRIND" = 0 ] && [ -z "${TL_REGRESS:-}" ]; then
  if out=$(bash test/load/run.sh "${TL_LOAD_SECONDS:-20}" "$TMP" $PORT 2>&1); then
    echo "test load, 8 clients for ${TL_LOAD_SECONDS:-20} s ... ok ($(echo "$out" | grep -E '^(pipelines|analysts):' | cut -d, -f1-2 | tr '\n' ';'))"
    PASSED=$((PASSED + 1))
  else
    echo "test load ... FAILED"; echo "$out"; FAILED=$((FAILED + 1))
  fi
  if out=$(TL_INSTALL_LOCK_HELD=1 bash test/fault/run.sh 2>&1); then
    echo "test faults: kill -9 in tl_evaluate, statement_timeout ... ok"; echo "$out" | grep -v 'fault test: ok' | sed 's/^/   /'
    PASSED=$((PASSED + 1))
  else
    echo "test faults ... FAILED"; echo "$out"; FAILED=$((FAILED + 1))
  fi
else
  why="TL_REGRESS narrows the run"
  [ "$VALGRIND" = 1 ] && why="TL_VALGRIND=1"
  skip "load" "$why"
  skip "faults" "$why"
fi
# The HTML report of a real run in headless Chromium: no script errors, every
# dot drawn, a click shows a heat map.  The IMDB CNN run of 60_analysis when
# the shared data is there, else the token-model run of 70_render.
report_run=$("${PSQL[@]}" -c "SELECT coalesce((SELECT id FROM tl_run WHERE dataset = 'imdb reviews' ORDER BY id LIMIT 1),
                                              (SELECT id FROM tl_run WHERE dataset = 'toy tokens' ORDER BY id LIMIT 1))" 2>/dev/null)
if [ -z "$report_run" ]; then
  skip "report in headless Chromium" "no run to render: TL_REGRESS left out 60_analysis and 70_render"
elif ! command -v chromium >/dev/null; then
  skip "report in headless Chromium" "no chromium"
else
  if [ "$("${PSQL[@]}" -c "SELECT dataset FROM tl_run WHERE id = $report_run")" = "imdb reviews" ]; then
    export TL_REPORT_PREVIEW="SELECT id, left(replace(text, '<br />', ' '), 200) FROM reviews" TL_REPORT_VOCAB=imdb
  else
    export TL_REPORT_PREVIEW="" TL_REPORT_VOCAB=toy
  fi
  if out=$(bash test/browser/report_test.sh "$TMP" $PORT contrib_regression "$report_run" 2>&1); then
    echo "test report in headless Chromium ... ok ($(echo "$out" | grep self-test))"; PASSED=$((PASSED + 1))
  else
    echo "test report in headless Chromium ... FAILED"; echo "$out"; FAILED=$((FAILED + 1))
  fi
fi
# ---- docs as tests (doc/docs_as_tests.md) ------------------------------------
# Every ```sql block of README.md, doc/*.md and contrib/**/README.md runs as
# printed in a fresh database, its shown output compared (one test per file;
# files skipped without the shared data are counted and named).  Then the BI
# queries of contrib/bi run as the read-only role on the README's runs.
if { [ "$VALGRIND" = 0 ] && [ -z "${TL_REGRESS:-}" ]; } || [ -n "${TL_DOCS:-}" ]; then
  echo "== docs as tests"
  docs_out=$(/usr/bin/python3 test/docs/run_docs.py --host "$TMP" --port $PORT --data "$DATA_DIR" \
               --keep tl_docs_readme 2>&1)
  echo "$docs_out"
  PASSED=$((PASSED + $(echo "$docs_out" | grep -c '^doc .* \.\.\. ok')))
  FAILED=$((FAILED + $(echo "$docs_out" | grep -c '^doc .* \.\.\. FAILED')))
  SKIPPED=$((${SKIPPED:-0} + $(echo "$docs_out" | grep -c '^doc .* \.\.\. SKIPPED')))
  echo "$docs_out" | grep -q '^docs: [0-9]* passed' || FAILED=$((FAILED + 1))
  # the harness itself: a page that drifted in three ways must fail in those three ways
  if [ -f "$DATA_DIR/datasets/imdb/imdb_reviews_5000.tsv" ]; then
    drift_out=$(/usr/bin/python3 test/docs/run_docs.py --host "$TMP" --port $PORT --data "$DATA_DIR" \
                  test/docs/drift_example.md 2>&1)
    if echo "$drift_out" | grep -q 'shows → {<start>,the,film,is}, printed' &&
       echo "$drift_out" | grep -q 'prints something else than the ```out block' &&
       echo "$drift_out" | grep -q 'report.html is not a well-formed html file' &&
       echo "$drift_out" | grep -q '^docs: 0 passed, 1 failed'; then
      echo "test docs harness fails a drifted page ... ok"; PASSED=$((PASSED + 1))
    else
      echo "test docs harness fails a drifted page ... FAILED"; echo "$drift_out"; FAILED=$((FAILED + 1))
    fi
  fi
  if [ "$(psql -X -At -h "$TMP" -p $PORT -U postgres -d tl_docs_readme -c "SELECT count(*) > 0 FROM tl_run" 2>/dev/null)" = t ]; then
    if out=$(TL_INSTALL_LOCK_HELD=1 bash contrib/bi/check_queries.sh "$TMP" $PORT tl_docs_readme 2>&1); then
      echo "test contrib/bi queries as the read-only role ... ok ($(echo "$out" | tail -1))"; PASSED=$((PASSED + 1))
    else
      echo "test contrib/bi queries as the read-only role ... FAILED"; echo "$out"; FAILED=$((FAILED + 1))
    fi
  else
    echo "test contrib/bi queries as the read-only role ... SKIPPED (no README runs: the shared data is absent)"
    SKIPPED=$((${SKIPPED:-0} + 1))
  fi
fi
# ---- end of docs as tests ----------------------------------------------------
if grep -qE 'server process .* was terminated|terminated by signal' "$TMP/server.log"; then
  echo "== a backend crashed:"; grep -E 'terminated' "$TMP/server.log"
  FAILED=$((FAILED + 1))
fi

if [ "$VALGRIND" = 1 ]; then
  if grep -qE 'Invalid (read|write|free)|Mismatched free|Source and destination overlap' "$TMP"/valgrind/*.log; then
    echo "== valgrind reports:"
    grep -h -A25 -E 'Invalid (read|write|free)|Mismatched free|Source and destination overlap' "$TMP"/valgrind/*.log | head -150
    FAILED=$((FAILED + 1))
  else
    echo "== valgrind: no invalid reads, writes or frees ($(ls "$TMP"/valgrind | wc -l) processes)"
  fi
fi

summary
[ "$FAILED" = 0 ]
