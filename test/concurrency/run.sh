#!/usr/bin/env bash
# test/concurrency/run.sh HOST PORT — two pipelines insert three epochs each
# (one transaction per epoch) while an analyst reads the views; then every
# row must be there exactly once and every run analysed.  Prints "ok" or
# what went wrong; exit status 0 on success.
set -u
HOST=$1 PORT=$2
DIR=$(cd "$(dirname "$0")" && pwd)
PSQL=(psql -X -q -h "$HOST" -p "$PORT" -U postgres -d contrib_regression)
N=3000
"${PSQL[@]}" -c "DELETE FROM tl_run WHERE dataset = 'concurrency'" >/dev/null || exit 1
"${PSQL[@]}" -v name=pipeline_a -v n=$N -f "$DIR/pipeline.sql" > /tmp/tl_conc_a.log 2>&1 & a=$!
"${PSQL[@]}" -v name=pipeline_b -v n=$N -f "$DIR/pipeline.sql" > /tmp/tl_conc_b.log 2>&1 & b=$!
(for i in $(seq 1 30); do "${PSQL[@]}" -f "$DIR/reader.sql" || exit 1; done) > /tmp/tl_conc_r.log 2>&1 & r=$!
fail=0
wait $a || { echo "pipeline a failed:"; cat /tmp/tl_conc_a.log; fail=1; }
wait $b || { echo "pipeline b failed:"; cat /tmp/tl_conc_b.log; fail=1; }
wait $r || { echo "reader failed:"; cat /tmp/tl_conc_r.log; fail=1; }
got=$("${PSQL[@]}" -At -c "
  SELECT string_agg(format('%s/%s/%s/%s', ru.model, ru.epoch, ru.status, count_rows), ' ' ORDER BY ru.model, ru.epoch)
    FROM tl_run ru, LATERAL (SELECT count(*) AS count_rows, count(x) AS placed FROM tl_result WHERE run = ru.id) c
   WHERE ru.dataset = 'concurrency' AND c.count_rows = $N AND c.placed = $N")
want="pipeline_a/1/ready/$N pipeline_a/2/ready/$N pipeline_a/3/ready/$N pipeline_b/1/ready/$N pipeline_b/2/ready/$N pipeline_b/3/ready/$N"
if [ "$got" != "$want" ]; then
  echo "runs: got '$got', want '$want'"
  fail=1
fi
[ $fail = 0 ] && echo ok
exit $fail
