#!/usr/bin/env bash
# contrib/demo.sh — README's first command.
#
#   bash contrib/demo.sh [DATA_DIR] [OUT_DIR]
#
# Installs what is missing, builds and installs tensorlens, starts a local
# cluster that persists between runs (data in $TL_HOME, default
# /var/lib/tensorlens; socket there, port $TL_PORT, default 5488), rebuilds
# the database tensorlens_demo and runs the whole analysis on real data:
#
#  1. Fashion-MNIST (always): the project's CNN (contrib/fashion/fashion_cnn.h5)
#     on the 10,000 test images of Debian's dataset-fashion-mnist;
#  2. IMDB (when DATA_DIR has them; default ../shared/data beside the
#     repository, or $TL_DATA_DIR): the shared IMDB models on 5000 reviews.
#
# Each run gets tl_evaluate, class metrics, label issues, an SVG population
# map (tl_svg_scatter) and an HTML report with heat maps (tl_html_report).
# Files go to OUT_DIR (default $TL_REPORT_DIR, else $TL_HOME/reports); a
# text summary is printed and kept there as summary.txt.  Run it again at
# will: it rebuilds the database and rewrites the files.  doc/demo.md says
# more.  TL_LISTEN=localhost (or an address list) makes the cluster listen on
# TCP too, for BI tools (contrib/bi/README.md); it is restarted if needed.
# Holds the install lock (TL_INSTALL_LOCK) for its whole run.
set -euo pipefail
T0=$(date +%s)
# relative paths in the arguments are relative to where the script is called from
from_caller() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
REPO=$(cd "$(dirname "$0")/.." && pwd)
TL_HOME=$(from_caller "${TL_HOME:-/var/lib/tensorlens}")
PORT=${TL_PORT:-5488}
DATA=$(from_caller "${1:-${TL_DATA_DIR:-$REPO/../shared/data}}")
OUT=$(from_caller "${2:-${TL_REPORT_DIR:-$TL_HOME/reports}}")
cd "$REPO"
. contrib/packages.sh
. contrib/cluster.sh

DB=tensorlens_demo
FASHION_DIR=/usr/share/datasets/fashion-mnist

tl_install_packages
# Another checkout installing tensorlens meanwhile would swap the library
# under the demo: hold the machine's install lock for the whole run
# (TL_INSTALL_LOCK_HELD=1: the caller holds it for us, e.g. a script that
# runs the demo and then checks its output under one lock).
T_WAIT=$(date +%s)
tl_lock_install
T_WAIT=$(( $(date +%s) - T_WAIT ))
tl_build_install
echo "tensorlens: built and installed into $($TL_PG_BIN/pg_config --pkglibdir)"

# ---- a local cluster that persists between runs ---------------------------
if [ ! -f "$TL_HOME/data/PG_VERSION" ]; then
  tl_cluster_init "$TL_HOME" -E UTF8 --locale=C
  echo "tensorlens: created a cluster in $TL_HOME/data"
fi
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -h "$TL_HOME" -p "$PORT" -U postgres)
# the server outlives this script (tl_cluster_start keeps the install lock
# from it)
if ! "${RUN_AS[@]}" $TL_PG_BIN/pg_ctl -D "$TL_HOME/data" status >/dev/null 2>&1; then
  tl_cluster_start "$TL_HOME" "$PORT"
elif [ -n "${TL_LISTEN+set}" ] &&
     [ "$("${PSQL[@]}" -At -d postgres -c 'SHOW listen_addresses')" != "$TL_LISTEN" ]; then
  tl_cluster_stop "$TL_HOME" fast
  tl_cluster_start "$TL_HOME" "$PORT"
  echo "tensorlens: restarted the cluster with listen_addresses='$TL_LISTEN'"
fi
# FORCE: a BI tool or a psql left connected must not make the rerun fail
"${PSQL[@]}" -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" \
  -c "CREATE DATABASE $DB"
"${PSQL[@]}" -d $DB -c "CREATE EXTENSION tensorlens"
echo "tensorlens: cluster running; connect with: psql -h $TL_HOME -p $PORT -U postgres $DB"

# ---- where the files go ---------------------------------------------------
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
# only what this script writes, so that an absent data set leaves no stale report
rm -f "$OUT"/fashion_* "$OUT"/imdb_* "$OUT"/index.html "$OUT"/summary.txt
SUMMARY=$OUT/summary.txt
report() { tee -a "$SUMMARY"; }

# which OpenBLAS kernels the server runs (OPENBLAS_CORETYPE: contrib/packages.sh)
"${PSQL[@]}" -d $DB -At -c "SELECT 'tensorlens: OpenBLAS ' || core || ' kernels on a CPU with ' || cpu_features ||
                                   coalesce(' (slower than it could be: ' || advice || ')', '') FROM tl_blas_info()" | report

# ---- 1. Fashion-MNIST -----------------------------------------------------
echo
echo "tensorlens: Fashion-MNIST test images from $FASHION_DIR (Debian dataset-fashion-mnist),"
echo "            model contrib/fashion/fashion_cnn.h5 (the project's CNN, contrib/fashion/README.md)"
/usr/bin/python3 contrib/fashion/load_fashion.py --data-dir "$FASHION_DIR" |
  "${PSQL[@]}" -d $DB -o /dev/null -f contrib/fashion/load_fashion.sql
"${PSQL[@]}" -d $DB -v h5="$REPO/contrib/fashion/fashion_cnn.h5" -v out="$OUT" \
  -f contrib/demo_fashion.sql 2>&1 | report

# ---- 2. IMDB reviews with the shared IMDB models --------------------------
IMDB=no
if [ -f "$DATA/datasets/imdb/imdb_reviews_5000.tsv" ] && [ -f "$DATA/datasets/imdb/imdb_word_index.json" ] &&
   [ -d "$DATA/models/imdb" ]; then
  DATA=$(cd "$DATA" && pwd)
  echo
  echo "tensorlens: IMDB models and reviews from $DATA (models/imdb, datasets/imdb)"
  # the server reads the model files itself: hand it copies it may read
  mkdir -p "$TL_HOME/import"
  cp -f "$DATA"/models/imdb/*.h5 "$TL_HOME/import/"
  [ "$(id -u)" = 0 ] && chown -R postgres "$TL_HOME/import"
  "${PSQL[@]}" -d $DB -v data="$DATA" -v import="$TL_HOME/import" -v out="$OUT" \
    -f contrib/demo_imdb.sql 2>&1 | report
  IMDB=yes
else
  {
    echo
    echo "tensorlens: the shared IMDB data is absent (looked in $DATA): the IMDB part is skipped."
    echo "            Give its path as the first argument: bash contrib/demo.sh /path/to/shared/data"
  } | report
fi

# ---- BI: a read-only role for dashboards (contrib/bi/README.md) -------------
"${PSQL[@]}" -d $DB -o /dev/null -f contrib/bi/readonly_role.sql

# ---- an index page, and where everything is -------------------------------
{
  echo '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>tensorlens demo</title>'
  echo '<style>body{font:15px/1.5 system-ui,sans-serif;margin:2em;max-width:60em}</style></head><body>'
  echo "<h1>tensorlens demo</h1><p>Written by contrib/demo.sh on $(date -u '+%Y-%m-%d %H:%M UTC'). See doc/demo.md.</p><ul>"
  for f in "$OUT"/*.html "$OUT"/*.svg "$OUT"/summary.txt; do
    [ -e "$f" ] || continue
    b=$(basename "$f")
    [ "$b" = index.html ] && continue
    echo "<li><a href=\"$b\">$b</a> ($(( ($(stat -c %s "$f") + 1023) / 1024 )) KB)</li>"
  done
  echo '</ul></body></html>'
} > "$OUT/index.html"

{
  echo
  echo "== Files (open the .html in a browser; each is self-contained)"
  for f in "$OUT"/*.html "$OUT"/*.svg; do
    printf '  %-60s %6s KB\n' "$f" "$(( ($(stat -c %s "$f") + 1023) / 1024 ))"
  done
  echo "  $SUMMARY  (this summary)"
  echo
  echo "Data used: Fashion-MNIST from $FASHION_DIR; IMDB: $([ $IMDB = yes ] && echo "$DATA" || echo "absent, skipped")."
  echo "BI tools: role tensorlens_bi (read-only) on database $DB, port $PORT; contrib/bi/README.md."
  echo "Database: psql -h $TL_HOME -p $PORT -U postgres $DB"
  waited=""
  [ "$T_WAIT" -le 1 ] || waited=" (after $T_WAIT s waiting for the install lock)"
  echo "tensorlens: demo done in $(( $(date +%s) - T0 - T_WAIT )) s$waited; reports in $OUT (start with $OUT/index.html)"
} | report
