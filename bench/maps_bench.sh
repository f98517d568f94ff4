#!/usr/bin/env bash
# bench/maps_bench.sh — tensorlens' UMAP and t-SNE against scikit-learn's TSNE
# on the same perception vectors, in the same run, one thread on each side
# (bench/maps_bench.py; the figures are in doc/maps.md).  Not part of the
# test suite.  Builds and installs the extension, starts a throwaway cluster
# (port TL_BENCH_PORT, default 54423), runs the Python part, stops the cluster.
#   bash bench/maps_bench.sh [--sizes 5000,10000] [--imdb 5000] [--large 100000] [--repeat N]
# TL_DATA_DIR: the shared data (default ../shared/data beside the repo).
set -eu
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
. contrib/packages.sh
PORT=${TL_BENCH_PORT:-54423}
DATA=${TL_DATA_DIR:-$REPO/../shared/data}
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

tl_install_packages python3-psycopg2 python3-sklearn dataset-fashion-mnist
. contrib/cluster.sh
# one BLAS thread in the server (tensorlens.blas_threads, the default)
TL_INITDB_OPTS="-E UTF8 --locale=C" tl_installed_cluster maps-bench "$PORT" -c fsync=off -c shared_buffers=1GB -c tensorlens.blas_threads=1
TMP=$TL_CLUSTER
"${RUN_AS[@]}" $TL_PG_BIN/psql -h "$TMP" -p $PORT -U postgres -X -q -c "CREATE EXTENSION tensorlens"

echo "machine: $(nproc --all) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
     "$(free -g | awk '/Mem:/ {print $2}') GiB, load $(cut -d' ' -f1-3 /proc/loadavg) (shared with other work)"
/usr/bin/python3 bench/maps_bench.py --dsn "host=$TMP port=$PORT user=postgres dbname=postgres" --data "$DATA" "$@"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
