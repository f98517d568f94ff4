#!/usr/bin/env bash
# test/fault/run.sh — the fault test (doc/security.md).
#
# In a throwaway cluster of its own (the crash below restarts every backend),
# as an ordinary role with usage:
#  1. kill -9 of the backend in the middle of tl_evaluate: the server
#     recovers, no run or result of the killed call is visible, and the same
#     call then completes;
#  2. statement_timeout = 1 s stops a long tl_evaluate, tl_pca_fit,
#     tl_token_saliency, tl_saliency_eval, tl_embed_umap and tl_embed_tsne
#     within 1.5 s (each would take tens of seconds: estimated from a run on
#     a fraction of the input);
#  3. pg_cancel_backend stops tl_embed_umap and tl_embed_tsne 2 s into their
#     optimisation within 0.5 s.
# Prints the timings and "fault test: ok" (exit 0) or "fault test: FAILED".
# Installs the build first, holding the install lock (TL_INSTALL_LOCK), unless
# TL_INSTALL_LOCK_HELD=1 (the caller holds the lock and has installed).
# TL_PG_BIN: the server's bindir; TL_FAULT_PORT: the port (54471).
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
cd "$REPO"
. contrib/packages.sh
. contrib/cluster.sh
PORT=${TL_FAULT_PORT:-54471}
LIMIT=1.5
fail() { echo "fault test: FAILED ($*)"; exit 1; }
calc() { awk "BEGIN { print $* }"; }
if [ -z "${TL_INSTALL_LOCK_HELD:-}" ]; then
  tl_lock_install
  tl_build_install || fail install
fi
# restart_after_crash is on by default: the postmaster reinitialises itself
tl_throwaway_cluster fault "$PORT" || fail "cluster"
WORK=$TL_CLUSTER
PSQL=(psql -X -q -At -h "$WORK" -p "$PORT" -d tl_fault)
USER_PSQL=("${PSQL[@]}" -U tl_fault_user)

# the long token model (2000 tokens), readable by the server
/usr/bin/python3 "$REPO/test/fault/make_long_model.py" "$WORK/long.h5" || fail "model generation"
chmod a+r "$WORK/long.h5"
psql -X -q -h "$WORK" -p "$PORT" -U postgres -d postgres -c "CREATE DATABASE tl_fault" || fail createdb
"${PSQL[@]}" -U postgres -v ON_ERROR_STOP=1 >/dev/null <<EOF || fail setup
CREATE EXTENSION tensorlens;
SELECT tl_model_load('long', '$WORK/long.h5');
CREATE ROLE tl_fault_user LOGIN;
SELECT tl_grant_usage('tl_fault_user');
-- 1000 reviews of 2000 tokens (repeated by a join for longer runs)
CREATE TABLE reviews AS
SELECT i AS id, ARRAY(SELECT (i * j + j / 7) % 1000 FROM generate_series(1, 2000) j) AS tokens, i % 2 AS label
  FROM generate_series(1, 1000) i;
-- 200 vectors of 1024 values (repeated by a join for a long PCA)
CREATE TABLE vectors AS
SELECT i AS id, ARRAY(SELECT sin(i * j)::real FROM generate_series(1, 1024) j) AS v FROM generate_series(1, 200) i;
GRANT SELECT ON reviews, vectors TO tl_fault_user;
-- 2000 points of 16 values for the maps (UMAP, t-SNE), written into x, y
CREATE TABLE map_points AS
SELECT i AS id, ARRAY(SELECT (sin(i * j) + (i % 5))::real FROM generate_series(1, 16) j) AS v,
       NULL::real AS x, NULL::real AS y FROM generate_series(1, 2000) i;
GRANT SELECT, UPDATE ON map_points TO tl_fault_user;
EOF

# the backend running "SELECT fn(...)" for more than 2 s (waits up to 10 s; empty if none)
running_pid() {
  local pid="" i
  for i in $(seq 1 100); do
    pid=$("${PSQL[@]}" -U postgres -c "SELECT pid FROM pg_stat_activity WHERE state = 'active'
                                        AND query LIKE 'SELECT $1(%' AND now() - query_start > interval '2 s'")
    [ -n "$pid" ] && break
    sleep 0.1
  done
  echo "$pid"
}

# ---- 1. kill -9 in the middle of tl_evaluate ----------------------------------
EVALUATE="SELECT tl_evaluate('long', 'SELECT r.id || ''.'' || g, r.tokens, r.label FROM reviews r, generate_series(1, 3) g',
                             'fault', NULL, NULL, 'binary_crossentropy')"
"${USER_PSQL[@]}" -c "$EVALUATE" >"$WORK/killed.out" 2>&1 &
client=$!
pid=$(running_pid tl_evaluate)
[ -n "$pid" ] || fail "tl_evaluate did not start"
# rows of the run are being written (the heap grows; no one else can see them)
written=$("${PSQL[@]}" -U postgres -c "SELECT pg_relation_size('tl_result')")
kill -9 "$pid"
t0=$(date +%s.%N)
wait $client
up=""
for i in $(seq 1 300); do
  if "${PSQL[@]}" -U postgres -c "SELECT 1" >/dev/null 2>&1; then up=$(date +%s.%N); break; fi
  sleep 0.05
done
[ -n "$up" ] || fail "the server did not come back"
recovery=$(calc "sprintf(\"%.2f\", $up - $t0)")
grep -q "server process (PID $pid) was terminated by signal 9" "$WORK/server.log" || fail "no crash in the log"
grep -q "all server processes terminated; reinitializing" "$WORK/server.log" || fail "no reinitialisation in the log"
visible=$("${PSQL[@]}" -U postgres -c "SELECT (SELECT count(*) FROM tl_run) || ' runs, ' || (SELECT count(*) FROM tl_result) || ' results'")
client_saw=$(grep -m1 -oE 'server closed the connection unexpectedly|terminating connection' "$WORK/killed.out")
echo "kill -9 of the backend (pid $pid) 2 s into tl_evaluate over 3000 reviews (tl_result heap at $written bytes):"
echo "  the client saw: ${client_saw:-?}; the server accepted connections again after ${recovery} s (crash recovery)"
echo "  visible afterwards: $visible"
[ "$visible" = "0 runs, 0 results" ] || fail "a half-written run is visible"
t1=$(date +%s.%N)
run=$("${USER_PSQL[@]}" -c "$EVALUATE") || fail "the repeated tl_evaluate failed"
t2=$(date +%s.%N)
again=$("${USER_PSQL[@]}" -c "SELECT status || ', ' || (SELECT count(*) FROM tl_result WHERE run = $run) || ' results, '
                                     || (SELECT count(x) FROM tl_result WHERE run = $run) || ' placed'
                                FROM tl_run WHERE id = $run")
echo "  the same call again: run $run $again in $(calc "sprintf(\"%.1f\", $t2 - $t1)") s"
[ "$again" = "ready, 3000 results, 3000 placed" ] || fail "the repeated run is not complete"

# ---- 2. statement_timeout = 1 s -----------------------------------------------
# Each long call runs in a session with statement_timeout = 1 s; the elapsed
# time is measured by the server (clock_timestamp around the statement, which
# psql sends separately), and the backend must answer a query afterwards.
# A short version (a fraction of the work) estimates the full call's time.
TOKENS="ARRAY(SELECT (j * 7) % 1000 FROM generate_series(1, 2000) j)"
timeout_case() {  # name, long query, short query, scale of long / short
  local name=$1 long=$2 short=$3 scale=$4 out elapsed err short_ms
  out=$("${USER_PSQL[@]}" 2>&1 <<EOF
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
$short;
SELECT 'short_ms ' || round(1000 * (extract(epoch FROM clock_timestamp()) - :t0));
SET statement_timeout = '1s';
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
$long;
SELECT 'elapsed ' || round((extract(epoch FROM clock_timestamp()) - :t0)::numeric, 3);
SELECT 'alive ' || count(*) FROM tl_run;
EOF
)
  short_ms=$(echo "$out" | sed -n 's/^short_ms //p')
  elapsed=$(echo "$out" | sed -n 's/^elapsed //p')
  err=$(echo "$out" | grep -m1 -o 'canceling statement due to statement timeout')
  printf '  %-18s stopped after %s s (%s); the full call would take about %s s\n' "$name" "${elapsed:-?}" \
    "${err:-no timeout error}" "$(calc "int(${short_ms:-0} * $scale / 1000)")"
  if [ -z "$elapsed" ] || [ -z "$err" ] || [ "$(calc "($elapsed < $LIMIT)")" != 1 ] || ! echo "$out" | grep -q '^alive '; then
    echo "$out" | head -20
    TIMEOUT_FAILED="$TIMEOUT_FAILED $name"
  fi
}
TIMEOUT_FAILED=""
echo "statement_timeout = 1 s (limit $LIMIT s):"
timeout_case tl_evaluate \
  "SELECT tl_evaluate('long', 'SELECT r.id || ''.'' || g, r.tokens, r.label FROM reviews r, generate_series(1, 20) g', 'timeout', NULL, NULL, 'binary_crossentropy')" \
  "SELECT tl_evaluate('long', 'SELECT id, tokens, label FROM reviews WHERE id <= 500', 'timeout short', NULL, NULL, 'binary_crossentropy')" 40
timeout_case tl_pca_fit \
  "SELECT tl_pca_n(tl_pca_fit(v, 3)) FROM vectors, generate_series(1, 2000) g" \
  "SELECT tl_pca_n(tl_pca_fit(v, 3)) FROM vectors, generate_series(1, 20) g" 100
timeout_case tl_token_saliency \
  "SELECT count(*) FROM tl_token_saliency('long', $TOKENS, 1, 'integrated_gradients', 1024)" \
  "SELECT count(*) FROM tl_token_saliency('long', $TOKENS, 1, 'integrated_gradients', 16)" 64
timeout_case tl_saliency_eval \
  "SELECT n_tokens FROM tl_saliency_eval('long', $TOKENS, 1, 'integrated_gradients', 1024)" \
  "SELECT n_tokens FROM tl_saliency_eval('long', $TOKENS, 1, 'integrated_gradients', 16)" 64
timeout_case tl_embed_umap \
  "SELECT tl_embed_umap('map_points', 'v', iterations => 50000)" \
  "SELECT tl_embed_umap('map_points', 'v', iterations => 500)" 100
timeout_case tl_embed_tsne \
  "SELECT tl_embed_tsne('map_points', 'v', iterations => 50000)" \
  "SELECT tl_embed_tsne('map_points', 'v', iterations => 500)" 100
[ -z "$TIMEOUT_FAILED" ] || fail "statement_timeout:$TIMEOUT_FAILED"

# ---- 3. pg_cancel_backend inside a map's optimisation ---------------------------
echo "pg_cancel_backend 2 s into a map (limit 0.5 s):"
"${PSQL[@]}" -U postgres -c "UPDATE map_points SET x = NULL, y = NULL" >/dev/null
for fn in tl_embed_umap tl_embed_tsne; do
  "${USER_PSQL[@]}" -c "SELECT $fn('map_points', 'v', iterations => 50000)" >"$WORK/cancel.out" 2>&1 &
  client=$!
  pid=$(running_pid "$fn")
  [ -n "$pid" ] || fail "$fn did not start"
  t0=$(date +%s.%N)
  "${PSQL[@]}" -U postgres -c "SELECT pg_cancel_backend($pid)" >/dev/null
  wait $client
  t1=$(date +%s.%N)
  took=$(calc "sprintf(\"%.3f\", $t1 - $t0)")
  said=$(grep -m1 -o 'canceling statement due to user request' "$WORK/cancel.out")
  printf '  %-18s stopped %s s after the cancel (%s)\n' "$fn" "$took" "${said:-no cancel error}"
  [ -n "$said" ] && [ "$(calc "($took < 0.5)")" = 1 ] || fail "$fn did not stop on pg_cancel_backend"
done
[ "$("${PSQL[@]}" -U postgres -c "SELECT count(x) FROM map_points")" = 0 ] || fail "a cancelled map left coordinates"
"${PSQL[@]}" -U postgres -c "SELECT count(*) FROM tl_run WHERE dataset LIKE 'timeout%' AND dataset <> 'timeout short'" | grep -qx 0 ||
  fail "a timed-out run is visible"
echo "fault test: ok"
