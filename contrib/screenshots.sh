#!/usr/bin/env bash
# contrib/screenshots.sh — makes the report screenshots of doc/demo.md:
#
#   bash contrib/demo.sh [DATA_DIR]      # first: the demo database with its runs
#   bash contrib/screenshots.sh          # then: doc/demo_fashion_report.png, doc/demo_imdb_report.png
#
# For the newest fashion_cnn run and the newest imdb_cnn run of the demo
# database: runs test/browser/report_test.sh (tl_html_report rendered in
# headless Chromium: no script errors, one dot per sample, a heat map shown
# after clicking a dot), then renders the same report, opens it in headless
# Chromium with the most suspect sample selected (a click on the first row of
# "Likely mislabelled", so its heat map shows), takes a 1400x1000 screenshot
# and compresses it with pngquant (each must stay under 400 KB).  Holds the
# install lock while the installed extension renders the reports
# (TL_INSTALL_LOCK_HELD=1: the caller holds it).  TL_HOME / TL_PORT as for
# the demo.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
. contrib/packages.sh
. contrib/cluster.sh
tl_install_packages chromium pngquant

TL_HOME=${TL_HOME:-/var/lib/tensorlens}
PORT=${TL_PORT:-5488}
DB=tensorlens_demo
TMP=$(mktemp -d /tmp/tensorlens-shots.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
tl_lock_install

newest_run() {
  psql -X -At -h "$TL_HOME" -p "$PORT" -U postgres -d $DB \
    -c "SELECT max(id) FROM tl_run WHERE model = '$1' AND status = 'ready'"
}

shoot() {   # name run [preview query] [vocabulary]
  local name=$1 run=$2 preview=${3:-} vocab=${4:-} size
  echo "== $name: run $run"
  TL_REPORT_PREVIEW=$preview TL_REPORT_VOCAB=$vocab \
    bash test/browser/report_test.sh "$TL_HOME" "$PORT" $DB "$run"
  echo "SELECT tl_html_report(:run, nullif(:'preview', ''), nullif(:'vocab', ''), 10)" |
    psql -X -At -v ON_ERROR_STOP=1 -h "$TL_HOME" -p "$PORT" -U postgres -d $DB \
      -v run="$run" -v preview="$preview" -v vocab="$vocab" -f - > "$TMP/$name.html"
  # select the most suspect sample, as a click on it would (the page escapes
  # every "<" of its data, so this is the only </body>)
  sed -i 's#</body>#<script>document.querySelector("\#issues tr.issue").click(); window.scrollTo(0, 0);</script></body>#' \
    "$TMP/$name.html"
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$TMP/profile" --window-size=1400,1000 --virtual-time-budget=10000 \
    --screenshot="$TMP/$name.png" "file://$TMP/$name.html" >/dev/null 2>&1
  pngquant --force --strip --speed 1 --quality 60-90 --output "doc/$name.png" "$TMP/$name.png"
  size=$(stat -c %s "doc/$name.png")
  echo "doc/$name.png: $((size / 1024)) KB (from $(( $(stat -c %s "$TMP/$name.png") / 1024 )) KB)"
  [ "$size" -lt 409600 ] || { echo "doc/$name.png is over 400 KB"; exit 1; }
}

run=$(newest_run fashion_cnn)
[ -n "$run" ] || { echo "no fashion_cnn run in $DB: run bash contrib/demo.sh first"; exit 1; }
shoot demo_fashion_report "$run"

run=$(newest_run imdb_cnn)
if [ -n "$run" ]; then
  shoot demo_imdb_report "$run" \
    "SELECT id, regexp_replace(text, '<br />', ' ', 'g') FROM reviews" imdb
else
  echo "no imdb_cnn run in $DB (the demo ran without the IMDB data): doc/demo_imdb_report.png not made"
fi
