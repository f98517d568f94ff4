#!/usr/bin/env bash
# bench/run_all.sh — the performance benchmark of doc/performance.md in one
# command (issue 8).  Not part of the test suite (about 15 minutes).
#
#   bash bench/run_all.sh            TL_DATA_DIR (default ../shared/data),
#                                    TL_BENCH_PORT (54433), ROUNDS (3), QUICK=1
#
# Builds and installs the extension under the install lock, starts a
# throwaway cluster that preloads the library (shared_preload_libraries), so
# the lock is held only for install + start + CREATE EXTENSION and the
# measurements run against this build even if another checkout installs its
# own meanwhile.  TL_PG_BIN may name a private copy of the PostgreSQL tree
# (PostgreSQL finds lib/ and share/ relative to its binaries; tl-private-pg
# makes one), with its own TL_INSTALL_LOCK.  Then bench/sgemm_peak.c (the single-thread sgemm rate) and
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
. contrib/cluster.sh
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
tl_on_exit 'tl_cluster_stop "$TMP"; rm -rf "$TMP"'

cc -O2 -o "$TMP/sgemm_peak" bench/sgemm_peak.c $(pkg-config --cflags --libs openblas)
mkdir -p "$TMP/work" "$TMP/models"
cp "$DATA_DIR"/models/imdb/imdb_{conv1d__datadonk23,embed_gap_dense__kolerabi,embed_lstm__anushree1001,embed_gru__anushree1001,embed_simplernn__anushree1001}.h5 \
   "$DATA_DIR"/models/mnist/mnist_cnn__gosolna.keras contrib/fashion/fashion_cnn.h5 "$TMP/models/"
chmod -R a+rX "$TMP/models"
chmod 777 "$TMP/work"

tl_cluster_init "$TMP" --no-sync
# the lock only until the server has preloaded this build
(
  tl_lock_install
  tl_build_install
  TL_SERVER_ENV=(OPENBLAS_NUM_THREADS=1 ${OPENBLAS_CORETYPE:+OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE})
  tl_cluster_start "$TMP" $PORT -c fsync=off -c shared_preload_libraries=tensorlens \
    -c max_parallel_workers_per_gather=0 -c max_wal_size=4GB
  $TL_PG_BIN/psql -X -q -h "$TMP" -p $PORT -U postgres -d postgres -c "CREATE EXTENSION tensorlens"
)

echo "== machine"
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc --all) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src || echo ' (+ local changes)');" \
     "install: $TL_PG_BIN, under $TL_INSTALL_LOCK"
"$TMP/sgemm_peak" | tee "$TMP/work/peak.txt"
PEAK=$(awk '/^sgemm 2048/ {print $6}' "$TMP/work/peak.txt")
PEAK_CPU=$(awk '/^sgemm 2048/ {print $8}' "$TMP/work/peak.txt")
echo "torch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)'), threads 1;" \
     "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(OpenBLAS default)}"

/usr/bin/python3 bench/perf.py --dsn "host=$TMP port=$PORT user=postgres dbname=postgres" \
  --data "$DATA_DIR" --fashion "$FASHION" --work "$TMP/work" --models "$TMP/models" \
  --rounds "${ROUNDS:-3}" --peak "$PEAK" --peak-cpu "$PEAK_CPU" ${QUICK:+--quick}
cp "$TMP/work/summary.txt" "${TL_BENCH_OUT:-/tmp/tensorlens-perf-summary.txt}" 2>/dev/null || true
