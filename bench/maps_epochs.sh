#!/usr/bin/env bash
# bench/maps_epochs.sh — epoch stability of the maps on a real training run
# (issue 14; figures in doc/maps.md): trains the Fashion-MNIST CNN with the
# pipeline example (contrib/pipeline, PyTorch, one transaction per epoch),
# then bench/maps_epochs.py draws each epoch's UMAP and t-SNE from the
# previous epoch's and independently, and prints how far the points move.
# Not part of the test suite.  Builds, installs and starts a throwaway
# cluster (port TL_BENCH_PORT, default 54424).
#   bash bench/maps_epochs.sh [--epochs N] [--train N] [--test N]   (the pipeline's options)
set -eu
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
. contrib/packages.sh
PORT=${TL_BENCH_PORT:-54424}
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

tl_install_packages python3-psycopg2 python3-torch python3-h5py python3-numpy dataset-fashion-mnist
. contrib/cluster.sh
TL_INITDB_OPTS="-E UTF8 --locale=C" tl_installed_cluster maps-epochs "$PORT" -c fsync=off -c tensorlens.blas_threads=1
TMP=$TL_CLUSTER
"${RUN_AS[@]}" $TL_PG_BIN/psql -h "$TMP" -p $PORT -U postgres -X -q -c "CREATE EXTENSION tensorlens"
DSN="host=$TMP port=$PORT user=postgres dbname=postgres"
echo "machine: $(nproc --all) cores, load $(cut -d' ' -f1-3 /proc/loadavg) (shared with other work); commit $(git rev-parse --short HEAD)"
/usr/bin/python3 contrib/pipeline/train_with_tensorlens.py --dsn "$DSN" --no-import "$@" | tail -n 8
/usr/bin/python3 bench/maps_epochs.py --dsn "$DSN"
