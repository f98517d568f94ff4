#!/usr/bin/env bash
# bench/million.sh — a million IMDB reviews end to end (issue 18): the 5000
# real reviews repeated and shuffled, tl_evaluate on the GAP model (inference,
# losses, perception vectors, rows, tl_analyze), the PCA aggregate and per-row
# inference with and without parallel workers, failure clusters, the map,
# label issues and outliers; time per stage and the backend's peak
# memory (bench/million.py).  Shared buffers: a quarter of the machine's
# memory (PostgreSQL's advice for a dedicated server; 6 GB here), so that the
# million-row tables stay in them: a sequential scan of a table larger than a
# quarter of shared_buffers reads through a 256 kB ring and gets every page
# from the operating system again.  Not part of the test suite: it takes about
# 20-40 minutes and 3-4 GB of disk; run it when the machine is quiet.
#
#   bash bench/million.sh              TL_DATA_DIR (default ../shared/data),
#                                      TL_BENCH_PORT (54440),
#                                      TL_MILLION_SIZES (100000,1000000)
set -eu
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
. contrib/packages.sh
DATA_DIR=$(cd "${TL_DATA_DIR:-$REPO/../shared/data}" && pwd)
PORT=${TL_BENCH_PORT:-54440}
export OPENBLAS_NUM_THREADS=1

tl_install_packages python3-psycopg2
. contrib/cluster.sh
SHARED_MB=$(( $(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 4096 ))
tl_installed_cluster million "$PORT" -c fsync=off -c synchronous_commit=off -c shared_buffers=${SHARED_MB}MB \
  -c max_wal_size=16GB -c checkpoint_timeout=30min -c max_parallel_workers_per_gather=2 \
  -c tensorlens.progress_interval=60s
TMP=$TL_CLUSTER
mkdir -p "$TMP/models" "$TMP/work"
cp "$DATA_DIR"/models/imdb/imdb_embed_gap_dense__kolerabi.h5 "$TMP/models/"
chmod -R a+rX "$TMP/models"
chmod 777 "$TMP/work"
"${RUN_AS[@]}" $TL_PG_BIN/psql -h "$TMP" -p $PORT -U postgres -X -q -c "CREATE EXTENSION tensorlens"

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
     "load $(cut -d' ' -f1-3 /proc/loadavg); commit $(git rev-parse --short HEAD)"
"${RUN_AS[@]}" $TL_PG_BIN/psql -h "$TMP" -p $PORT -U postgres -X -At -c "SELECT core, cpu_features FROM tl_blas_info()"
/usr/bin/python3 bench/million.py --dsn "host=$TMP port=$PORT user=postgres dbname=postgres" \
  --data "$DATA_DIR" --models "$TMP/models" --work "$TMP/work" \
  --sizes "${TL_MILLION_SIZES:-100000,1000000}" --out "${TL_BENCH_OUT:-/tmp/tensorlens-million.txt}"
