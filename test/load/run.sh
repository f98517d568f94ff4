#!/usr/bin/env bash
# test/load/run.sh [SECONDS [HOST PORT]] — the load test (doc/security.md).
#
# 8 pgbench clients for SECONDS (default 300) as an ordinary role with usage
# (row-level security in the path): 4 pipelines insert epochs (one
# transaction per epoch: a run and its 500 results, analysed at commit) and
# 4 analysts run tl_infer and tl_label_issues on the newest analysed run.
# Meanwhile VmRSS, RssAnon (the backend's private heap) and VmHWM of every
# pgbench backend are sampled from /proc every few seconds.  Checks, exactly:
# no failed transaction, one analysed run per committed epoch with all its
# 500 results placed, no ERROR in the server log, and no backend whose
# RssAnon grew steadily: by more than TL_LOAD_MAX_GROWTH_KB / 2 (default
# 8192 / 2) in each of the last two quarters of the run, or by more than 4
# times TL_LOAD_MAX_GROWTH_KB over the second half.  (The first half is
# warm-up.  A backend's RssAnon takes one step of 10-15 MB and is flat after
# it, while its memory contexts (pg_log_backend_memory_contexts) stay at 2-5
# MB: memory malloc keeps after a larger transient allocation, not growth
# per row.  The step comes once the tables hold about 90 epochs, with or
# without autovacuum, so it can fall after the warm-up; a leak grows in both
# quarters.)  Prints a summary and
# "load test: ok" (exit 0) or "load test: FAILED ...".
#
# Without HOST PORT it builds and installs (holding the install lock for
# the whole run unless TL_INSTALL_LOCK_HELD=1: the caller holds it and has
# installed) and runs its own throwaway cluster on TL_LOAD_PORT (54461).
# With HOST PORT (test/run_tests.sh) it uses that cluster, which must run on
# this machine, in a database of its own.  TL_PG_BIN: the server's bindir.
set -u
SECS=${1:-300}
REPO=$(cd "$(dirname "$0")/../.." && pwd)
cd "$REPO"
. contrib/packages.sh
. contrib/cluster.sh
DIR=$REPO/test/load
PG_BIN=$TL_PG_BIN
CLIENTS_EACH=4
MAX_GROWTH_KB=${TL_LOAD_MAX_GROWTH_KB:-8192}
WARMUP=$((SECS / 2))
WORK=$(mktemp -d /tmp/tensorlens-load.XXXXXX)
tl_on_exit 'rm -rf "$WORK"'
OWN_CLUSTER=0
if [ $# -ge 3 ]; then
  HOST=$2 PORT=$3
  tl_on_exit 'psql -X -q -h "$HOST" -p "$PORT" -U postgres -d postgres -c "DROP DATABASE IF EXISTS tl_load" -c "DROP ROLE IF EXISTS tl_load_user" >/dev/null 2>&1'
else
  OWN_CLUSTER=1
  if [ -z "${TL_INSTALL_LOCK_HELD:-}" ]; then
    tl_lock_install
    tl_build_install || { echo "load test: FAILED (install)"; exit 1; }
  fi
  PORT=${TL_LOAD_PORT:-54461}
  tl_throwaway_cluster load "$PORT" || { echo "load test: FAILED (cluster)"; exit 1; }
  HOST=$TL_CLUSTER
fi
SERVER_LOG=${TL_CLUSTER:-}/server.log
tl_on_exit '[ -n "${SAMPLER:-}" ] && kill "$SAMPLER" 2>/dev/null'
PSQL=(psql -X -q -At -h "$HOST" -p "$PORT" -U postgres)

PGOPTIONS="-c client_min_messages=warning" "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS tl_load" -c "CREATE DATABASE tl_load" >/dev/null ||
  { echo "load test: FAILED (createdb)"; exit 1; }
"${PSQL[@]}" -d tl_load -v fixtures="$REPO/test/fixtures" -f "$DIR/setup.sql" >"$WORK/setup.log" 2>&1 ||
  { cat "$WORK/setup.log"; echo "load test: FAILED (setup)"; exit 1; }
[ $OWN_CLUSTER = 1 ] && log_start=$(wc -l < "$SERVER_LOG")

# memory of every pgbench backend, every STEP seconds: t pid kind VmRSS RssAnon VmHWM (kB)
STEP=$((SECS >= 60 ? 5 : 2))
sample() {
  local t0=$SECONDS
  while :; do
    "${PSQL[@]}" -d postgres -F ' ' -c "SELECT pid, application_name FROM pg_stat_activity
                                         WHERE application_name LIKE 'tl_load_%'" 2>/dev/null |
    while read -r pid app; do
      [ -r "/proc/$pid/status" ] || continue
      awk -v t=$((SECONDS - t0)) -v pid="$pid" -v app="${app#tl_load_}" '
        /^VmRSS:/ {rss=$2} /^RssAnon:/ {anon=$2} /^VmHWM:/ {hwm=$2}
        END {if (rss != "") print t, pid, app, rss, anon, hwm}' "/proc/$pid/status"
    done
    sleep $STEP
  done
}
sample >"$WORK/memory.txt" &
SAMPLER=$!

PGBENCH=("$PG_BIN/pgbench" -n -h "$HOST" -p "$PORT" -U tl_load_user -c $CLIENTS_EACH -j 1 -T "$SECS" tl_load)
PGAPPNAME=tl_load_pipeline "${PGBENCH[@]}" -f "$DIR/pipeline.sql" >"$WORK/pipeline.out" 2>&1 & p=$!
PGAPPNAME=tl_load_analyst "${PGBENCH[@]}" -f "$DIR/analyst.sql" >"$WORK/analyst.out" 2>&1 & a=$!
wait $p; p_rc=$?
wait $a; a_rc=$?
kill $SAMPLER 2>/dev/null; wait $SAMPLER 2>/dev/null; SAMPLER=

fail=""
epochs=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$WORK/pipeline.out")
queries=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$WORK/analyst.out")
p_tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$WORK/pipeline.out")
a_tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$WORK/analyst.out")
p_lat=$(sed -n 's/^latency average = \([0-9.]*\) ms.*/\1/p' "$WORK/pipeline.out")
a_lat=$(sed -n 's/^latency average = \([0-9.]*\) ms.*/\1/p' "$WORK/analyst.out")
p_failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$WORK/pipeline.out")
a_failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$WORK/analyst.out")
if [ $p_rc != 0 ] || [ $a_rc != 0 ] || [ -z "$epochs" ] || [ -z "$queries" ] ||
   [ "${p_failed:-0}" != 0 ] || [ "${a_failed:-0}" != 0 ]; then
  fail="$fail pgbench"
  echo "== pipelines:"; cat "$WORK/pipeline.out"
  echo "== analysts:"; cat "$WORK/analyst.out"
fi
echo "load: $SECS s, $((2 * CLIENTS_EACH)) clients as an ordinary role ($CLIENTS_EACH pipelines, $CLIENTS_EACH analysts)"
echo "pipelines: ${epochs:-?} epochs of 500 results, ${p_tps:-?} epochs/s, ${p_lat:-?} ms per epoch; failed ${p_failed:-?}"
echo "analysts: ${queries:-?} tl_infer + tl_label_issues, ${a_tps:-?} tps, ${a_lat:-?} ms each; failed ${a_failed:-?}"

# every committed epoch is there exactly once, analysed, all its rows placed
counts=$("${PSQL[@]}" -d tl_load -F ' ' -c "
  SELECT count(*), count(*) FILTER (WHERE r.status = 'ready'), coalesce(sum(c.n), 0), coalesce(sum(c.placed), 0),
         count(*) FILTER (WHERE c.n <> 500 OR c.placed <> 500)
    FROM tl_run r, LATERAL (SELECT count(*) AS n, count(t.x) AS placed FROM tl_result t WHERE t.run = r.id) c
   WHERE r.dataset = 'load'")
read -r runs ready results placed partial <<< "$counts"
echo "rows: $runs runs ($ready ready), $results results ($placed placed), $partial runs not complete; expected ${epochs:-?} runs, $((${epochs:-0} * 500)) results"
if [ -z "$epochs" ] || [ "$runs" != "$epochs" ] || [ "$ready" != "$epochs" ] || [ "$results" != $((epochs * 500)) ] ||
   [ "$placed" != $((epochs * 500)) ] || [ "$partial" != 0 ]; then
  fail="$fail counts"
fi
if [ $OWN_CLUSTER = 1 ]; then
  errors=$(tail -n +$((log_start + 1)) "$SERVER_LOG" | grep -cE 'ERROR|FATAL|PANIC|terminated by signal')
  echo "server log: $errors errors"
  if [ "$errors" != 0 ]; then
    fail="$fail log"; tail -n +$((log_start + 1)) "$SERVER_LOG" | grep -E 'ERROR|FATAL|PANIC|terminated' | head -20
  fi
fi

# memory: per backend, at the end of the warm-up and at the end
echo "memory per backend (kB), after ${WARMUP} s warm-up -> end: RssAnon, VmRSS, VmHWM"
awk -v w="$WARMUP" -v w3="$((SECS * 3 / 4))" -v limit="$MAX_GROWTH_KB" '
  $1 >= w && !($2 in first) {first[$2] = $0; kind[$2] = $3}
  $1 >= w3 && !($2 in third) {third[$2] = $5}
  $1 >= w {last[$2] = $0}
  END {
    worst = -1e18; bad = 0
    for (p in first) {
      split(first[p], a, " "); split(last[p], b, " ")
      g = b[5] - a[5]
      q = (p in third) ? third[p] : b[5]
      steady = (q - a[5] < b[5] - q) ? q - a[5] : b[5] - q
      printf "  %-8s pid %-7s RssAnon %6d -> %6d -> %6d (%+d, steady %+d)  VmRSS %6d -> %6d  VmHWM %6d -> %6d  (%d..%d s)\n",
             kind[p], p, a[5], q, b[5], g, steady, a[4], b[4], a[6], b[6], a[1], b[1] > "/dev/stderr"
      if (g > worst) worst = g
      if (steady > limit / 2 || g > 4 * limit) bad = 1
      n++
    }
    printf "backends %d, largest RssAnon growth %d kB (limit %d, or %d in each quarter)\n", n, (n ? worst : 0), 4 * limit, limit / 2
    exit (n == 0 || bad)
  }' "$WORK/memory.txt" 2>"$WORK/per_backend.txt" >"$WORK/memory_summary.txt"
mem_rc=$?
sort -k1,1 -k3,3n "$WORK/per_backend.txt"
cat "$WORK/memory_summary.txt"
[ "$mem_rc" != 0 ] && fail="$fail memory"
if [ -n "${TL_LOAD_KEEP:-}" ]; then cp "$WORK/memory.txt" "$TL_LOAD_KEEP"; fi

if [ -z "$fail" ]; then
  echo "load test: ok"
else
  echo "load test: FAILED ($fail )"
  exit 1
fi
