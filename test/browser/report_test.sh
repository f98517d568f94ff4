#!/usr/bin/env bash
# test/browser/report_test.sh HOST PORT DB RUN [SCREENSHOT.png]
# Renders tl_html_report(RUN) from the database, opens it in headless
# Chromium with #tl-selftest (the page then counts its dots, clicks a dot that
# has a heat map and writes what it saw into <pre id="selftest">), and checks:
# no script errors, one dot per result, the heat map shown, the first
# insight's row selecting exactly its placed samples.  With a fifth
# argument it also saves a screenshot of the page.
set -u
HOST=$1 PORT=$2 DB=$3 RUN=$4 SHOT=${5:-}
PREVIEW=${TL_REPORT_PREVIEW:-}
VOCAB=${TL_REPORT_VOCAB:-}
DIR=$(mktemp -d /tmp/tensorlens-report.XXXXXX)
trap 'rm -rf "$DIR"' EXIT
PSQL=(psql -X -At -h "$HOST" -p "$PORT" -U postgres -d "$DB" -v ON_ERROR_STOP=1)
echo "SELECT tl_html_report(:run, nullif(:'preview', ''), nullif(:'vocab', ''), 10)" |
  "${PSQL[@]}" -v run="$RUN" -v preview="$PREVIEW" -v vocab="$VOCAB" -f - > "$DIR/report.html" || exit 1
expected=$("${PSQL[@]}" -c "SELECT count(*) FROM tl_result WHERE run = $RUN AND x IS NOT NULL AND y IS NOT NULL")
CHROME=(chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run
        --disable-background-networking --disable-component-update --disable-sync
        --user-data-dir="$DIR/profile")
"${CHROME[@]}" --virtual-time-budget=10000 --dump-dom "file://$DIR/report.html#tl-selftest" \
  > "$DIR/dom.html" 2>"$DIR/chrome.log"
result=$(sed -n 's/.*<pre id="selftest">\(.*\)<\/pre>.*/\1/p' "$DIR/dom.html" | sed 's/&quot;/"/g')
if [ -z "$result" ]; then
  echo "the page did not run its self-test"; tail -5 "$DIR/chrome.log"; exit 1
fi
echo "self-test: $result (expected $expected dots)"
/usr/bin/python3 - "$result" "$expected" <<'PY' || exit 1
import json, sys
r = json.loads(sys.argv[1]); want = int(sys.argv[2])
problems = []
if r["errors"]: problems.append("script errors: %s" % r["errors"])
if r["dots"] != want: problems.append("%d dots drawn, %d expected" % (r["dots"], want))
if "pca" in r.get("coordinates", []) and r.get("pca_dots") != want:
    problems.append("%s dots on the PCA's coordinates, %d expected" % (r.get("pca_dots"), want))
if not r["clicked"] or not r["heatmap_shown"]: problems.append("no heat map shown after a click")
if r["insights"] and r["insight_members"] != r["insight_placed"]:
    problems.append("the first finding selected %d dots, it has %d placed samples" % (r["insight_members"], r["insight_placed"]))
if problems:
    print("; ".join(problems)); sys.exit(1)
PY
if [ -n "$SHOT" ]; then
  "${CHROME[@]}" --window-size=1400,1050 --virtual-time-budget=10000 --screenshot="$SHOT" \
    "file://$DIR/report.html#tl-selftest" >/dev/null 2>&1
  echo "screenshot: $SHOT"
fi
echo ok
