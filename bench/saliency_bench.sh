#!/usr/bin/env bash
# bench/saliency_bench.sh — token saliency on the shared IMDB Conv1D model:
# tensorlens against PyTorch autograd, measured in one run.
#
#   bash bench/saliency_bench.sh            (N=1000 reviews; TL_DATA_DIR, N)
#
# Both sides run grad_input one review at a time on one thread: tensorlens
# in one backend (tensorlens.blas_threads = 1, OPENBLAS_NUM_THREADS=1), as a
# query over N reviews CROSS JOIN LATERAL tl_token_saliency(...); PyTorch
# with torch.set_num_threads(1), float32, forward + backward + grad x input
# per review (test/reference/torch/saliency_ref.py --bench).  Three
# interleaved rounds; the best round of each side counts, in wall time and
# in CPU time (the backend's from /proc, Python's process_time), since the
# machine may be shared.  Then the table-wide query (the tokens pushing most towards
# "negative", timed), integrated gradients' completeness, and the
# faithfulness of grad_input / integrated_gradients / random on 200 reviews.
# Installs the build (under the test suite's lock) and uses a throwaway
# cluster, like test/run_tests.sh.
set -eu
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
. contrib/packages.sh
DATA_DIR=$(cd "${TL_DATA_DIR:-$REPO/../shared/data}" && pwd)
N=${N:-1000}
PORT=${TL_BENCH_PORT:-54419}
MODEL=imdb_conv1d__datadonk23
export OPENBLAS_NUM_THREADS=1

tl_install_packages python3-torch
. contrib/cluster.sh
TL_INITDB_OPTS="-E UTF8 --locale=C" tl_installed_cluster bench "$PORT" -c fsync=off
TMP=$TL_CLUSTER
PSQL=("$TL_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$TMP" -p "$PORT" -U postgres -d postgres)

TORCH=(/usr/bin/python3 test/reference/torch/saliency_ref.py --data "$DATA_DIR")
"${TORCH[@]}" --bench "$N" --bench-out "$TMP/in" >/dev/null
chmod -R a+rX "$TMP/in"
cp "$DATA_DIR/models/imdb/$MODEL.h5" "$TMP/in/" && chmod a+r "$TMP/in/$MODEL.h5"

"${PSQL[@]}" <<SQL
CREATE EXTENSION tensorlens;
SELECT tl_model_load('imdb_cnn', '$TMP/in/$MODEL.h5') IS NOT NULL AS loaded \gset
CREATE TABLE reviews (id int PRIMARY KEY, label int, tokens int[]);
COPY reviews FROM '$TMP/in/reviews.tsv';
CREATE TABLE words (id int PRIMARY KEY, word text);
COPY words FROM '$TMP/in/words.tsv';
CREATE FUNCTION ms(q text) RETURNS float8 LANGUAGE plpgsql AS \$\$
DECLARE t timestamptz := clock_timestamp();
BEGIN EXECUTE q; RETURN 1000 * extract(epoch FROM clock_timestamp() - t); END \$\$;
SQL

# Runs one query in a session and prints "wall_ms cpu_ms" per review: the
# wall time measured in the server, the CPU time of its backend process.
sql_per_review() {
  local pid t0 t1 wall
  coproc Q { "${PSQL[@]}" -At 2>&1; }
  echo "SELECT pg_backend_pid();" >&"${Q[1]}"; read -r -u "${Q[0]}" pid
  # parse the model into this backend's cache first
  echo "SELECT count(*) FROM tl_token_saliency('imdb_cnn', '{1}', 0);" >&"${Q[1]}"
  read -r -u "${Q[0]}" _
  t0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  echo "SELECT ms(\$\$$1\$\$);" >&"${Q[1]}"; read -r -u "${Q[0]}" wall
  t1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  echo '\q' >&"${Q[1]}"
  wait "$Q_PID" 2>/dev/null || true
  echo "$wall $t0 $t1 $(getconf CLK_TCK)" |
    awk -v n="$2" '{printf "%.3f %.3f\n", $1 / n, ($3 - $2) * 1000 / $4 / n}'
}

echo "grad_input per review, imdb_conv1d__datadonk23 (500 tokens), $N reviews, 1 thread each"
rounds=
for round in 1 2 3; do
  read -r sql_wall sql_cpu < <(sql_per_review "SELECT count(*), sum(s.score) FROM reviews r
      CROSS JOIN LATERAL tl_token_saliency('imdb_cnn', r.tokens, 0) s" "$N")
  read -r _ torch_wall _ torch_cpu < <("${TORCH[@]}" --bench "$N")
  echo "  round $round: tensorlens $sql_wall ms/review (cpu $sql_cpu)" \
       "  PyTorch autograd $torch_wall ms/review (cpu $torch_cpu)"
  rounds="$rounds$sql_wall $sql_cpu $torch_wall $torch_cpu"$'\n'
done
echo "$rounds" | awk 'NF == 4 {
    if (!sw || $1 < sw) sw = $1; if (!sc || $2 < sc) sc = $2
    if (!tw || $3 < tw) tw = $3; if (!tc || $4 < tc) tc = $4 }
  END { printf "  best: tensorlens %.3f ms/review (cpu %.3f), PyTorch %.3f (cpu %.3f):" \
               " %.2fx faster (cpu %.2fx)\n", sw, sc, tw, tc, tw / sw, tc / sc }'

echo
echo "table-wide: the words pushing most towards 'negative' (class 0) over $N reviews"
"${PSQL[@]}" <<'SQL'
\timing on
SELECT w.word, count(*) AS uses, round(avg(s.score)::numeric, 4) AS mean_score
  FROM reviews r
  CROSS JOIN LATERAL tl_token_saliency('imdb_cnn', r.tokens, 0) s
  JOIN words w ON w.id = s.token
 GROUP BY w.word
HAVING count(*) >= 20
 ORDER BY avg(s.score) DESC
 LIMIT 15;
\timing off
SQL

echo "other methods, per review (first 100 reviews):"
"${PSQL[@]}" -At <<'SQL'
SELECT count(*) FROM tl_token_saliency('imdb_cnn', '{1}', 0) \g /dev/null
SELECT format('  %-22s %8s ms/review', m,
              round((ms(format('SELECT count(*) FROM reviews r CROSS JOIN LATERAL
                  tl_token_saliency(''imdb_cnn'', r.tokens, 0, %L) s WHERE r.id < 100', m)) / 100)::numeric, 2))
  FROM unnest(ARRAY['gradient', 'grad_input', 'integrated_gradients', 'occlusion',
                    'grad_cam', 'layer_cam', 'random']) m;
SQL

echo
echo "integrated gradients' completeness at 64 steps (first 100 reviews, target = label):"
"${PSQL[@]}" <<'SQL'
SELECT count(*) AS reviews,
       round((sum(abs(attribution_sum - (score - baseline))) / sum(abs(score - baseline)))::numeric, 5) AS total_gap,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY gap)::numeric, 5) AS median_gap,
       round(avg(gap)::numeric, 5) AS mean_gap,
       count(*) FILTER (WHERE gap < 0.02) AS under_2pct,
       round(max(abs(attribution_sum - (score - baseline)))::numeric, 4) AS max_abs_gap,
       round(avg(abs(score - baseline))::numeric, 3) AS mean_abs_delta
  FROM reviews r, tl_ig_completeness('imdb_cnn', r.tokens, r.label, 64)
 WHERE r.id < 100;
SQL

echo "faithfulness on 200 reviews (target = label; higher comprehensiveness,"
echo "lower sufficiency and deletion AUC are better):"
"${PSQL[@]}" <<'SQL'
SELECT m AS method, count(*) AS reviews,
       round(avg(e.comprehensiveness)::numeric, 3) AS comprehensiveness,
       round(avg(e.sufficiency)::numeric, 3) AS sufficiency,
       round(avg(e.deletion_auc)::numeric, 3) AS deletion_auc
  FROM reviews r, unnest(ARRAY['grad_input', 'integrated_gradients', 'occlusion', 'gradient',
                               'grad_cam', 'random']) m,
       tl_saliency_eval('imdb_cnn', r.tokens, r.label, m) e
 WHERE r.id < 200
 GROUP BY m ORDER BY avg(e.comprehensiveness) DESC;
SQL
