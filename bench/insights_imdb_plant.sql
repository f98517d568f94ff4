-- bench/insights_imdb_plant.sql — a planted subgroup on a real text model
-- (doc/insights.md).  Run in the demo database after bash contrib/demo.sh
-- (it needs the demo's reviews table, vocabulary imdb and model imdb_gap_dense):
--   psql -h /var/lib/tensorlens -p 5488 -U postgres -d tensorlens_demo -f bench/insights_imdb_plant.sql
-- A tenth of the 5000 reviews (chosen by a hash) come from "forum_b", which
-- appends a rant to every review; batch is random, characters is the length.
\set ON_ERROR_STOP on
\timing on
SELECT tl_evaluate('imdb_gap_dense',
  $$SELECT id, tl_tokenize('imdb', CASE WHEN abs(hashint4(id * 31 + 7)) % 10 = 0
                                        THEN text || ' This was the worst, most boring waste of time. Awful, terrible, bad. Worst acting, awful script.'
                                        ELSE text END, 5000, 18000),
           label, CASE WHEN abs(hashint4(id * 31 + 7)) % 10 = 0 THEN 'forum_b' ELSE 'forum_a' END AS source,
           'batch ' || abs(hashint4(id * 17 + 3)) % 5 AS batch, length(text) AS characters
      FROM reviews$$, 'imdb-reviews-planted', 'suffix', class_names => '{negative,positive}') AS run \gset
SELECT metadata->>'source' AS source, count(*), round(avg(correct::int), 3) AS accuracy
  FROM tl_population WHERE run = :run GROUP BY 1 ORDER BY 1;
SELECT rank, kind, round(severity::numeric, 3) AS severity, samples, description
  FROM tl_insights(:run) WHERE rank <= 3 ORDER BY rank;
SELECT count(*) FILTER (WHERE description ~ 'batch|characters' OR details::text ~ '"(batch|characters)"') AS blame_random
  FROM tl_insights(:run);
