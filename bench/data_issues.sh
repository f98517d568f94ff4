#!/usr/bin/env bash
# bench/data_issues.sh — planted data issues against the baselines
# (bench/data_issues.py): builds and installs this checkout, starts a
# throwaway cluster, loads the shared models and data and prints one JSON
# line per case.  Arguments go to data_issues.py (e.g. --seeds 4,5).
#   TL_DATA_DIR=/path/to/shared/data bash bench/data_issues.sh --seeds 1,2,3
set -euo pipefail
cd "$(dirname "$0")/.."
. contrib/packages.sh
. contrib/cluster.sh
DATA=${TL_DATA_DIR:-$PWD/../shared/data}
PORT=${TL_BENCH_PORT:-55471}
tl_installed_cluster data-issues "$PORT" -c fsync=off
"${RUN_AS[@]}" $TL_PG_BIN/psql -X -q -h "$TL_CLUSTER" -p "$PORT" -U postgres -c "CREATE DATABASE data_issues" postgres
/usr/bin/python3 bench/data_issues.py --host "$TL_CLUSTER" --port "$PORT" --db data_issues --data "$DATA" "$@"
