#!/usr/bin/env bash
# bench/run_all.sh — the performance benchmark of doc/performance.md in one
# command (issue 8).  Not part of the test suite (about 15 minutes).
#
#   bash bench/run_all.sh            TL_DATA_DIR (default ../shared/data),
#                                    TL_BENCH_PORT (54433), ROUNDS (3), QUICK=1
#
# Builds and installs the extension under the shared install lock, starts a
# throwaway cluster that preloads the library (shared_preload_libraries), so
# the lock is held only for install + start + CREATE EXTENSION and the
# measurements run against this build even if another checkout installs its
# own meanwhile.  TL_BENCH_PRIVATE=1 installs into a private copy of the
# PostgreSQL tree instead (PostgreSQL finds lib/ and share/ relative to its
# binaries), which touches nothing shared and needs no lock.  Then bench/sgemm_peak.c (the single-thread sgemm rate) and
# bench/perf.py (everything else; PyTorch and scikit-learn in the same run,
# on the same data, one thread on each side).
#
# OpenBLAS 0.3.21 does not know recent AMD cores and falls back to its
# Haswell (AVX2) kernels.  On a CPU with AVX-512 the benchmark sets
# OPENBLAS_CORETYPE=SkylakeX (contrib/packages.sh; TL_OPENBLAS_CORETYPE
# overrides, empty = leave OpenBLAS's choice) for every side: the server,
# numpy/scikit-learn, PyTorch (whose convolutions use oneDNN, which picks
# AVX-512 by itself) and the sgemm peak.
set -eu
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
. contrib/packages.sh
DATA_DIR=$(cd "${TL_DATA_DIR:-$REPO/../shared/data}" && pwd)
FASHION=/usr/share/datasets/fashion-mnist
PORT=${TL_BENCH_PORT:-54433}
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
# (contrib/packages.sh has set OPENBLAS_CORETYPE where OpenBLAS would fall back)
if [ -n "${TL_OPENBLAS_CORETYPE+x}" ]; then
  unset OPENBLAS_CORETYPE
  [ -n "$TL_OPENBLAS_CORETYPE" ] && export OPENBLAS_CORETYPE=$TL_OPENBLAS_CORETYPE
fi

tl_install_packages python3-torch python3-psycopg2 python3-sklearn || exit 1

TMP=$(mktemp -d /tmp/tensorlens-perf.XXXXXX)
chmod 755 "$TMP"
RUN_AS=()
if [ "$(id -u)" = 0 ]; then
  chown postgres "$TMP"
  RUN_AS=(runuser -u postgres --)
fi
stop_cluster() {
  "${RUN_AS[@]}" ${PG_BIN:-$TL_PG_BIN}/pg_ctl -D "$TMP/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap stop_cluster EXIT

cc -O2 -o "$TMP/sgemm_peak" bench/sgemm_peak.c $(pkg-config --cflags --libs openblas)
mkdir -p "$TMP/work" "$TMP/models"
cp "$DATA_DIR"/models/imdb/imdb_{conv1d__datadonk23,embed_gap_dense__kolerabi,embed_lstm__anushree1001}.h5 \
   "$DATA_DIR"/models/mnist/mnist_cnn__gosolna.keras contrib/fashion/fashion_cnn.h5 "$TMP/models/"
chmod -R a+rX "$TMP/models"
chmod 777 "$TMP/work"

PG_BIN=$TL_PG_BIN
LOCK=${TL_INSTALL_LOCK:-/tmp/tensorlens-install.lock}
if [ "${TL_BENCH_PRIVATE:-0}" = 1 ]; then
  mkdir -p "$TMP/pg/usr/lib/postgresql" "$TMP/pg/usr/share/postgresql"
  cp -a /usr/lib/postgresql/$TL_PG_VERSION "$TMP/pg/usr/lib/postgresql/"
  cp -a /usr/share/postgresql/$TL_PG_VERSION "$TMP/pg/usr/share/postgresql/"
  PG_BIN=$TMP/pg/usr/lib/postgresql/$TL_PG_VERSION/bin
  LOCK=$TMP/install.lock
fi
"${RUN_AS[@]}" $PG_BIN/initdb -D "$TMP/data" -U postgres -A trust --no-sync >/dev/null
(
  flock 9
  make -s PG_CONFIG=$TL_PG_BIN/pg_config >/dev/null
  make -s PG_CONFIG=$PG_BIN/pg_config install >/dev/null
  # 9>&-: the server must not inherit (and so hold) the lock
  "${RUN_AS[@]}" env OPENBLAS_NUM_THREADS=1 ${OPENBLAS_CORETYPE:+OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE} \
    $PG_BIN/pg_ctl -D "$TMP/data" -l "$TMP/server.log" -w \
    -o "-c listen_addresses='' -k $TMP -p $PORT -c fsync=off -c shared_preload_libraries=tensorlens \
        -c max_parallel_workers_per_gather=0 -c max_wal_size=4GB" start >/dev/null 9>&-
  $TL_PG_BIN/psql -X -q -h "$TMP" -p $PORT -U postgres -d postgres -c "CREATE EXTENSION tensorlens"
) 9>"$LOCK"

echo "== machine"
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc --all) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src || echo ' (+ local changes)');" \
     "install: $([ "${TL_BENCH_PRIVATE:-0}" = 1 ] && echo "private copy of the PostgreSQL tree" || echo "shared, under $LOCK")"
"$TMP/sgemm_peak" | tee "$TMP/work/peak.txt"
PEAK=$(awk '/^sgemm 2048/ {print $6}' "$TMP/work/peak.txt")
PEAK_CPU=$(awk '/^sgemm 2048/ {print $8}' "$TMP/work/peak.txt")
echo "torch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)'), threads 1;" \
     "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(OpenBLAS default)}"

/usr/bin/python3 bench/perf.py --dsn "host=$TMP port=$PORT user=postgres dbname=postgres" \
  --data "$DATA_DIR" --fashion "$FASHION" --work "$TMP/work" --models "$TMP/models" \
  --rounds "${ROUNDS:-3}" --peak "$PEAK" --peak-cpu "$PEAK_CPU" ${QUICK:+--quick}
cp "$TMP/work/summary.txt" "${TL_BENCH_OUT:-/tmp/tensorlens-perf-summary.txt}" 2>/dev/null || true
