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
exec 9>/tmp/tensorlens-install.lock
flock 9          # the library under test must stay the one built here
make -s PG_CONFIG=$TL_PG_BIN/pg_config >/dev/null
make -s PG_CONFIG=$TL_PG_BIN/pg_config install >/dev/null
TMP=$(mktemp -d /tmp/tensorlens-bench.XXXXXX)
chmod 755 "$TMP"
RUN_AS=()
if [ "$(id -u)" = 0 ]; then chown postgres "$TMP"; RUN_AS=(runuser -u postgres --); fi
trap '"${RUN_AS[@]}" $TL_PG_BIN/pg_ctl -D "$TMP/data" -m immediate stop >/dev/null 2>&1; rm -rf "$TMP"' EXIT
"${RUN_AS[@]}" $TL_PG_BIN/initdb -D "$TMP/data" -U postgres -A trust -E UTF8 --locale=C >/dev/null
"${RUN_AS[@]}" $TL_PG_BIN/pg_ctl -D "$TMP/data" -l "$TMP/log" -w -o "-c listen_addresses='' -k $TMP -p $PORT" start >/dev/null 9>&-
psql -X -q -h "$TMP" -p $PORT -U postgres -d postgres -c "CREATE DATABASE bench"
/usr/bin/python3 bench/cold_warm.py --host "$TMP" --port $PORT --db bench --setup "$DATA" "${@:2}"
[ -n "${TL_COLD_PARTS:-}" ] && /usr/bin/python3 "$TL_COLD_PARTS" "$TMP" $PORT bench
