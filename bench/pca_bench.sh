#!/usr/bin/env bash
# bench/pca_bench.sh — times tl_pca_fit against scikit-learn's PCA on the
# same data in the same run (bench/pca_bench.py), one thread on each side.
# Not part of the test suite.  Builds and installs the extension, starts a
# throwaway cluster (port TL_BENCH_PORT, default 54420), runs the Python
# part and stops the cluster.  Usage: bash bench/pca_bench.sh [--repeat N] [--k K...]
# OPENBLAS_CORETYPE, when set, applies to both sides (server and numpy).
set -eu
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
. contrib/packages.sh
PORT=${TL_BENCH_PORT:-54420}
export OPENBLAS_NUM_THREADS=1

tl_install_packages python3-psycopg2
. contrib/cluster.sh
# shared_buffers holds both tables, so every timed run reads from memory
TL_INITDB_OPTS="-E UTF8 --locale=C" tl_installed_cluster bench "$PORT" -c fsync=off -c shared_buffers=1GB
TMP=$TL_CLUSTER
"${RUN_AS[@]}" $TL_PG_BIN/psql -h "$TMP" -p $PORT -U postgres -X -q -c "CREATE EXTENSION tensorlens"

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
     "OpenBLAS core $(/usr/bin/python3 -c 'import ctypes; l=ctypes.CDLL("libopenblas.so.0"); l.openblas_get_corename.restype=ctypes.c_char_p; print(l.openblas_get_corename().decode())')," \
     "load $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 bench/pca_bench.py --dsn "host=$TMP port=$PORT user=postgres dbname=postgres" "$@"
