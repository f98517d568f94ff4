#!/usr/bin/env bash
# test/run_tests.sh — the whole test suite (`make test`; CI runs it).
#
# Installs missing packages, runs the core unit tests under ASan+UBSan and
# each fuzz target for TL_FUZZ_SECONDS (default 60), builds and installs the
# extension, runs the core unit tests, prepares the reference fixtures from
# ../shared/data when it is there (TL_DATA_DIR overrides), starts a throwaway cluster owned by a
# non-root user, runs pg_regress, stops the cluster and prints
# "N passed, N failed".  Exits non-zero on any failure.
set -u
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
. contrib/packages.sh

DATA_DIR=${TL_DATA_DIR:-$REPO/../shared/data}
PORT=${TL_TEST_PORT:-54398}
PASSED=0
FAILED=0

tl_install_packages chromium || exit 1

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
fi

# Installing the extension and testing it against the installed copy must not
# interleave with another checkout doing the same on this machine.
exec 9>"$TL_INSTALL_LOCK"
if ! flock -n 9; then
  echo "== waiting for $TL_INSTALL_LOCK, held by: $(fuser "$TL_INSTALL_LOCK" 2>/dev/null)"
  flock 9
fi
make -s PG_CONFIG=$TL_PG_BIN/pg_config >/dev/null || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }
make -s PG_CONFIG=$TL_PG_BIN/pg_config install >/dev/null || { echo "install failed"; echo "0 passed, 1 failed"; exit 1; }

# ---- core unit tests ------------------------------------------------------
echo "== core unit tests"
unit_out=$(make -s unit 2>&1)
echo "$unit_out" | grep -v '^test/unit' | grep -v '^  ' | tail -20
# one "N passed, N failed" line per unit test program (test_core, test_grad, test_pca, test_onnx)
lines=$(echo "$unit_out" | grep -E '^[0-9]+ passed, [0-9]+ failed$')
while read -r p _ f _; do
  PASSED=$((PASSED + ${p:-0}))
  FAILED=$((FAILED + ${f:-0}))
done <<< "$lines"
# a program that did not get to its summary line is a failure
[ "$(echo "$lines" | grep -c passed)" -lt 4 ] && FAILED=$((FAILED + 1))

# ---- a throwaway cluster owned by a non-root user --------------------------
TMP=$(mktemp -d /tmp/tensorlens-test.XXXXXX)
chmod 755 "$TMP"
RUN_AS=()
if [ "$(id -u)" = 0 ]; then
  chown postgres "$TMP"
  RUN_AS=(runuser -u postgres --)
fi
stop_cluster() {
  "${RUN_AS[@]}" $TL_PG_BIN/pg_ctl -D "$TMP/data" -m immediate stop >/dev/null 2>&1
  rm -rf "$TMP"
}
trap stop_cluster EXIT

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
  # scikit-learn references for test/sql/20_pca.sql (Fashion-MNIST + IMDB)
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
  # PyTorch autograd reference gradients for 30_saliency, cached the same way
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
fi

"${RUN_AS[@]}" $TL_PG_BIN/initdb -D "$TMP/data" -U postgres -A trust --no-sync >"$TMP/initdb.log" 2>&1 ||
  { cat "$TMP/initdb.log"; echo "$PASSED passed, $((FAILED + 1)) failed"; exit 1; }
server_opts=()
if [ "$VALGRIND" = 1 ]; then
  mkdir -p "$TMP/valgrind" && chmod 777 "$TMP/valgrind"
  printf '#!/bin/sh\nexec valgrind --quiet --trace-children=yes --undef-value-errors=no --leak-check=no --error-limit=no --num-callers=30 --log-file=%s/valgrind/%%p.log %s/postgres "$@"\n' \
    "$TMP" "$TL_PG_BIN" >"$TMP/postgres-valgrind"
  chmod 755 "$TMP/postgres-valgrind"
  server_opts=(-p "$TMP/postgres-valgrind" -t 600)
fi
"${RUN_AS[@]}" $TL_PG_BIN/pg_ctl "${server_opts[@]}" -D "$TMP/data" -l "$TMP/server.log" -w \
  -o "-c listen_addresses='' -k $TMP -p $PORT -c fsync=off" start >/dev/null 9>&- ||
  { cat "$TMP/server.log"; echo "$PASSED passed, $((FAILED + 1)) failed"; exit 1; }

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
# Perception vectors must survive a server restart bit for bit: 10_perception
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
fi
# Two pipelines and an analyst at once: nothing lost, every run analysed.
if [ "$("${PSQL[@]}" -c "SELECT to_regclass('tl_run') IS NOT NULL" 2>/dev/null)" = t ]; then
  if out=$(bash test/concurrency/run.sh "$TMP" $PORT 2>&1); then
    echo "test concurrent pipelines and readers ... ok"; PASSED=$((PASSED + 1))
  else
    echo "test concurrent pipelines and readers ... FAILED"; echo "$out"; FAILED=$((FAILED + 1))
  fi
fi
# Load (short: 20 s of the 5-minute test) and faults (kill -9, statement_timeout)
# of doc/security.md; the fault test runs a cluster of its own.
if [ "$VALGRIND" = 0 ] && [ -z "${TL_REGRESS:-}" ]; then
  if out=$(TL_PG_BIN=$TL_PG_BIN bash test/load/run.sh "${TL_LOAD_SECONDS:-20}" "$TMP" $PORT 2>&1); then
    echo "test load, 8 clients for ${TL_LOAD_SECONDS:-20} s ... ok ($(echo "$out" | grep -E '^(pipelines|analysts):' | cut -d, -f1-2 | tr '\n' ';'))"
    PASSED=$((PASSED + 1))
  else
    echo "test load ... FAILED"; echo "$out"; FAILED=$((FAILED + 1))
  fi
  if out=$(TL_PG_BIN=$TL_PG_BIN TL_INSTALL_LOCKED=1 bash test/fault/run.sh 2>&1); then
    echo "test faults: kill -9 in tl_evaluate, statement_timeout ... ok"; echo "$out" | grep -v 'fault test: ok' | sed 's/^/   /'
    PASSED=$((PASSED + 1))
  else
    echo "test faults ... FAILED"; echo "$out"; FAILED=$((FAILED + 1))
  fi
fi
# The HTML report of a real run in headless Chromium: no script errors, every
# dot drawn, a click shows a heat map.  The IMDB CNN run of 40_analysis when
# the shared data is there, else the token-model run of 70_render.
report_run=$("${PSQL[@]}" -c "SELECT coalesce((SELECT id FROM tl_run WHERE dataset = 'imdb reviews' ORDER BY id LIMIT 1),
                                              (SELECT id FROM tl_run WHERE dataset = 'toy tokens' ORDER BY id LIMIT 1))" 2>/dev/null)
if [ -n "$report_run" ]; then
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

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
