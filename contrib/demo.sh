#!/usr/bin/env bash
# contrib/demo.sh — README's first command: installs what is missing, builds
# and installs tensorlens, starts a local cluster that persists between runs
# (data in $TL_HOME, default /var/lib/tensorlens), and runs the demo on real
# data: the shared IMDB models over the shared IMDB reviews when
# ../shared/data (or the path given as $1 / $TL_DATA_DIR) is there.
# Running it again rebuilds the demo database from scratch.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
. contrib/packages.sh

TL_HOME=${TL_HOME:-/var/lib/tensorlens}
PORT=${TL_PORT:-5488}
DATA=${1:-${TL_DATA_DIR:-$REPO/../shared/data}}
DB=tensorlens_demo

tl_install_packages
# Another checkout installing tensorlens meanwhile would swap the library
# under the demo: hold the machine's install lock for the whole run.
exec 9>/tmp/tensorlens-install.lock
flock 9
make -s PG_CONFIG=$TL_PG_BIN/pg_config >/dev/null
make -s PG_CONFIG=$TL_PG_BIN/pg_config install >/dev/null
echo "tensorlens: built and installed into $($TL_PG_BIN/pg_config --pkglibdir)"

# ---- a local cluster that persists between runs ---------------------------
RUN_AS=()
[ "$(id -u)" = 0 ] && RUN_AS=(runuser -u postgres --)
mkdir -p "$TL_HOME"
[ "$(id -u)" = 0 ] && chown postgres "$TL_HOME"
if [ ! -f "$TL_HOME/data/PG_VERSION" ]; then
  "${RUN_AS[@]}" $TL_PG_BIN/initdb -D "$TL_HOME/data" -U postgres -A trust -E UTF8 --locale=C >/dev/null
  echo "tensorlens: created a cluster in $TL_HOME/data"
fi
if ! "${RUN_AS[@]}" $TL_PG_BIN/pg_ctl -D "$TL_HOME/data" status >/dev/null 2>&1; then
  "${RUN_AS[@]}" $TL_PG_BIN/pg_ctl -D "$TL_HOME/data" -l "$TL_HOME/server.log" -w \
    -o "-c listen_addresses='' -k $TL_HOME -p $PORT" start >/dev/null
fi
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -h "$TL_HOME" -p "$PORT" -U postgres)
"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
"${PSQL[@]}" -d $DB -c "CREATE EXTENSION tensorlens"
echo "tensorlens: cluster running; connect with: psql -h $TL_HOME -p $PORT -U postgres $DB"

if [ ! -f "$DATA/datasets/imdb/imdb_reviews_5000.tsv" ] || [ ! -d "$DATA/models/imdb" ]; then
  echo "tensorlens: the shared IMDB data is absent (looked in $DATA);"
  echo "            give its path as the first argument (bash contrib/demo.sh /path/to/shared/data)."
  exit 0
fi
DATA=$(cd "$DATA" && pwd)
echo "tensorlens: using the IMDB models and reviews in $DATA"
# the server reads the model files itself: hand it copies it may read
mkdir -p "$TL_HOME/import"
cp "$DATA"/models/imdb/*.h5 "$TL_HOME/import/"
[ "$(id -u)" = 0 ] && chown -R postgres "$TL_HOME/import"
"${PSQL[@]}" -d $DB -v data="$DATA" -v import="$TL_HOME/import" -f contrib/demo_imdb.sql
