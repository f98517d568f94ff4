-- bench/label_issues_experiment.sql — how well does tl_label_issues find
-- mislabelled reviews?  In a copy of the 5000 IMDB reviews, flip the labels
-- of a random 5 % (seeded), evaluate a model, rank with tl_label_issues and
-- measure, for the combined score and for self-confidence alone and margin
-- alone: precision at m (m = the number of flipped labels: the share of
-- flipped ones among the m most suspect) and the AUROC of the ranking.
--
--   psql -v model=imdb_cnn -v num_words=2000 -v loss=binary_crossentropy_from_logits \
--        -f bench/label_issues_experiment.sql tensorlens_demo
-- (bench/label_issues_experiment.sh runs it on the demo database.)
\set QUIET on
\pset footer off
SELECT setseed(0.20261129);
CREATE TEMP TABLE flip AS
SELECT id, rank() OVER (ORDER BY r) <= 250 AS flipped
  FROM (SELECT id, random() AS r FROM (SELECT id FROM reviews ORDER BY id) s) t;
CREATE TEMP TABLE noisy AS
SELECT r.id, r.text, r.label AS true_label,
       CASE WHEN f.flipped THEN 1 - r.label ELSE r.label END AS label
  FROM reviews r JOIN flip f USING (id);

\timing on
SELECT tl_evaluate(:'model',
                   format($q$SELECT id, tl_tokenize('imdb', text, NULL, %s), label FROM noisy$q$, :num_words),
                   'imdb reviews, 5% labels flipped', 'experiment', NULL, :'loss') AS run \gset
CREATE TEMP TABLE issues AS
SELECT li.*, (n.label <> n.true_label) AS flipped
  FROM tl_label_issues(:run, 10) li JOIN noisy n ON n.id::text = li.sample_id;
\timing off

-- suspicion of each ranking: higher = more suspect
CREATE TEMP TABLE rankings AS
SELECT 'combined score' AS ranking, flipped, score::float8 AS suspicion FROM issues
UNION ALL SELECT 'self-confidence alone', flipped, -self_confidence FROM issues
UNION ALL SELECT 'margin alone', flipped, -margin FROM issues
UNION ALL SELECT 'neighbours alone', flipped, neighbour_disagreement FROM issues;
WITH ranked AS (
    SELECT ranking, flipped,
           rank() OVER (PARTITION BY ranking ORDER BY suspicion) AS asc_rank,   -- ties: average below
           row_number() OVER (PARTITION BY ranking ORDER BY suspicion DESC, random()) AS desc_pos,
           count(*) OVER (PARTITION BY ranking, suspicion) AS ties
      FROM rankings),
stats AS (
    SELECT ranking,
           count(*) FILTER (WHERE flipped) AS p, count(*) FILTER (WHERE NOT flipped) AS n,
           sum(asc_rank + (ties - 1) / 2.0) FILTER (WHERE flipped) AS rank_sum,
           count(*) FILTER (WHERE flipped AND desc_pos <= (SELECT count(*) FROM flip WHERE flipped)) AS hits
      FROM ranked GROUP BY ranking)
SELECT ranking, p AS flipped,
       round(hits::numeric / p, 3) AS precision_at_m,
       round(((rank_sum - p * (p + 1) / 2.0) / (p * n))::numeric, 4) AS auroc
  FROM stats ORDER BY auroc DESC;
SELECT :'model' AS model, round(avg((prediction = label)::int), 3) AS accuracy_on_noisy_labels
  FROM tl_result WHERE run = :run;
