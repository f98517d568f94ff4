#!/usr/bin/env bash
# bench/cold_warm.sh — builds and installs this checkout, starts a throwaway
# cluster, imports the shared IMDB models and runs bench/cold_warm.py
# (cold = first tl_infer in a backend, warm = the call again).
#   bash bench/cold_warm.sh [DATA]     (DATA defaults to ../shared/data)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
. contrib/packages.sh
DATA=$(cd "${1:-${TL_DATA_DIR:-$REPO/../shared/data}}" && pwd)
PORT=${TL_BENCH_PORT:-54477}
. contrib/cluster.sh
TL_INITDB_OPTS="-E UTF8 --locale=C" tl_installed_cluster bench "$PORT" ${TL_BENCH_SERVER_OPTS:-}
TMP=$TL_CLUSTER
psql -X -q -h "$TMP" -p $PORT -U postgres -d postgres -c "CREATE DATABASE bench"
/usr/bin/python3 bench/cold_warm.py --host "$TMP" --port $PORT --db bench --setup "$DATA" "${@:2}"
[ -n "${TL_COLD_PARTS:-}" ] && /usr/bin/python3 "$TL_COLD_PARTS" "$TMP" $PORT bench
