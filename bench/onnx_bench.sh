#!/usr/bin/env bash
# bench/onnx_bench.sh — exported PyTorch models through tensorlens against
# PyTorch eager on the same weights and inputs, one thread each
# (bench/onnx_bench.py).  Not part of the test suite (about 2 minutes).
#
#   bash bench/onnx_bench.sh        TL_BENCH_PORT (54436), ROWS (5000), ROUNDS (3)
set -eu
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
. contrib/packages.sh
. contrib/cluster.sh
PORT=${TL_BENCH_PORT:-54436}
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
tl_install_packages python3-torch python3-psycopg2 python3-onnx || exit 1
TL_INITDB_OPTS="-E UTF8 --locale=C" tl_installed_cluster onnx-bench "$PORT" -c fsync=off
TMP=$TL_CLUSTER
"${RUN_AS[@]}" $TL_PG_BIN/psql -X -q -h "$TMP" -p "$PORT" -U postgres -c "CREATE EXTENSION tensorlens" postgres
/usr/bin/python3 bench/onnx_bench.py --dsn "host=$TMP port=$PORT user=postgres dbname=postgres" \
  --work "$TMP" --rows "${ROWS:-5000}" --rounds "${ROUNDS:-3}" 2> >(grep -v -i warn >&2)
