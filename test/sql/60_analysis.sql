-- Runs, results, automatic analysis, views, mislabel and failure search.
-- Orthogonal Procrustes on a known case: B is A turned by 90° (x,y → -y,x),
-- so M = AᵀB for A = I gives R = [[0,1],[-1,0]] (rows map A's axes onto B's)
SELECT tl_procrustes('{0,1,-1,0}'::float8[]) AS rotation_2d;
SELECT array_agg(round(v::numeric, 6)) AS reflection
  FROM unnest(tl_procrustes('{-2,0,0,0,3,0,0,0,1}'::float8[])) v;
SELECT expect_error($$SELECT tl_procrustes('{1,2,3}'::float8[])$$);

-- a pipeline writes its own epochs: one transaction per epoch, plain INSERTs;
-- the coordinates appear when the transaction commits
CREATE TABLE toy_samples AS
SELECT i AS id, (i % 2) AS label,
       ARRAY[3 * sin(i) + (i % 2), 2.8 * cos(i), 0.8 * sin(3 * i) - 0.5 * (i % 2), 0.3 * cos(5 * i)]::real[] AS features
  FROM generate_series(1, 200) i;
CREATE FUNCTION movement(a integer, b integer) RETURNS float8 LANGUAGE sql AS $$
    -- mean distance a dot moved between two runs, relative to the spread
    SELECT avg(sqrt((p.x - q.x) ^ 2 + (p.y - q.y) ^ 2 + (p.z - q.z) ^ 2))
           / (SELECT stddev(x) FROM tl_result WHERE run = b)
      FROM tl_result p JOIN tl_result q USING (sample_id) WHERE p.run = a AND q.run = b
$$;
BEGIN;
INSERT INTO tl_run (model, dataset, subset, epoch, class_names)
VALUES ('toy', 'toy samples', 'train', 1, '{even,odd}') RETURNING id AS run1 \gset
INSERT INTO tl_result (run, sample_id, label, output, loss, perception)
SELECT :run1, id, label, ARRAY[CASE WHEN features[1] > 1 THEN 0.9 ELSE 0.1 END]::real[],
       NULL, features
  FROM toy_samples;
SELECT status, count(x) AS placed FROM tl_run JOIN tl_result ON run = id WHERE id = :run1 GROUP BY status;
COMMIT;
SELECT status, analysis_error, aligned_to IS NULL AS first_epoch FROM tl_run WHERE id = :run1;
SELECT count(*) AS results, count(x) AS with_xyz, count(prediction) AS predicted
  FROM tl_result WHERE run = :run1;
-- the next epoch: the two leading directions trade places (their variances
-- cross), so a plain PCA would swap x and y; alignment keeps the picture
BEGIN;
INSERT INTO tl_run (model, dataset, subset, epoch, class_names)
VALUES ('toy', 'toy samples', 'train', 2, '{even,odd}') RETURNING id AS run2 \gset
INSERT INTO tl_result (run, sample_id, label, output, perception)
SELECT :run2, id, label, ARRAY[CASE WHEN features[1] > 1.1 THEN 0.95 ELSE 0.05 END]::real[],
       ARRAY[0.9 * features[1], 1.1 * features[2], features[3], features[4]]::real[]
  FROM toy_samples;
COMMIT;
SELECT r.status, r.aligned_to = :run1 AS aligned_to_epoch_1, movement(:run2, :run1) < 0.2 AS dots_stay_put
  FROM tl_run r WHERE r.id = :run2;
SELECT tl_analyze(:run2, 3, false) AS placed_without_alignment;
SELECT movement(:run2, :run1) > 1 AS dots_jump_without_alignment;
SELECT tl_analyze(:run2) AS placed, movement(:run2, :run1) < 0.2 AS aligned_again;
-- a failing analysis never loses the pipeline's rows: the run is 'failed'
BEGIN;
INSERT INTO tl_run (model, dataset, epoch) VALUES ('toy', 'broken', 1) RETURNING id AS run_bad \gset
INSERT INTO tl_result (run, sample_id, label, output, perception)
VALUES (:run_bad, 'a', 0, '{0.5}', '{1,2}'), (:run_bad, 'b', 1, '{0.5}', '{1,NaN}');
COMMIT;
SELECT status, analysis_error IS NOT NULL AS says_why,
       (SELECT count(*) FROM tl_result WHERE run = :run_bad) AS rows_kept
  FROM tl_run WHERE id = :run_bad;
-- tl_procrustes_align, tl_analyze's alignment step: a run laid onto itself
-- stays put; onto a run without placed samples nothing changes (false)
SELECT tl_procrustes_align(:run2, :run2) AS aligned, movement(:run2, :run1) < 0.2 AS still_aligned;
SELECT tl_procrustes_align(:run2, :run_bad) AS aligned_to_unplaced, movement(:run2, :run1) < 0.2 AS unchanged;
SELECT expect_error(format('SELECT tl_procrustes_align(%s, -1)', :run2));

-- the views
SELECT run, sample_id, label_name, prediction_name, correct, round(confidence::numeric, 2) AS confidence,
       x IS NOT NULL AS placed
  FROM tl_population WHERE run = :run1 ORDER BY sample_id::int LIMIT 4;
SELECT class, class_name, count, round(accuracy::numeric, 3) AS accuracy, round(precision::numeric, 3) AS precision,
       round(recall::numeric, 3) AS recall, round(f1::numeric, 3) AS f1
  FROM tl_class_metrics WHERE run = :run1 ORDER BY class;
-- by hand: the prediction is "features[1] > 1", i.e. 3 sin(i) + odd > 1; the
-- recall of a class is its correct share (0.63 and 0.52 above)
SELECT label, count(*) AS n, sum(((3 * sin(id) + label > 1)::int = label)::int) AS correct
  FROM toy_samples GROUP BY label ORDER BY label;
SELECT count(*) AS pairs, sum((prediction_a <> prediction_b)::int) AS changed
  FROM tl_run_compare WHERE run_a = :run1 AND run_b = :run2;
SELECT count(*) AS failures, bool_and(prediction <> label) AS all_wrong
  FROM tl_failures(:run1);

-- mislabel search and failure clusters (a golden file: the rows show the
-- columns; the ranking's quality is tested on real data in 62_data_issues.
-- The toy's outputs are 0.9 or 0.1, so the top is a tie broken by id)
SELECT rank, sample_id, label, suggested_label, confident_learning,
       round(self_confidence::numeric, 2) AS self_conf, neighbour_disagreement
  FROM tl_label_issues(:run1, 5) ORDER BY rank LIMIT 5;
SELECT count(*) AS ranked, min(rank) AS first, max(rank) AS last FROM tl_label_issues(:run1);
SELECT count(*) AS clusters, sum(size) AS samples, sum(failures) AS failures
  FROM tl_failure_clusters(:run1, 4);

-- bad input
SELECT expect_error($$SELECT * FROM tl_label_issues(987654)$$);
SELECT expect_error($$SELECT * FROM tl_label_issues($$ || :run1 || $$, 0)$$);
SELECT expect_error($$SELECT * FROM tl_failure_clusters(987654)$$);
SELECT expect_error($$SELECT * FROM tl_failure_clusters($$ || :run1 || $$, 0)$$);
SELECT expect_error($$SELECT tl_analyze(987654)$$);
INSERT INTO tl_run (model, dataset) VALUES ('toy', 'one class') RETURNING id AS run_one \gset
INSERT INTO tl_result (run, sample_id, label, output) VALUES (:run_one, 'a', 1, '{0.9}'), (:run_one, 'b', 1, '{0.8}'), (:run_one, 'c', 1, '{0.7}');
SELECT expect_error($$SELECT * FROM tl_label_issues($$ || :run_one || $$, 1)$$);
SELECT expect_error($$SELECT tl_evaluate('tiny', 'SELECT 1, ''{1,2,3}''::real[]', 'd')$$);
SELECT expect_error($$SELECT tl_evaluate('tiny', 'SELECT 1, ''{1,2,3}''::real[], ''x''::text', 'd')$$);
SELECT expect_error($$SELECT tl_evaluate('no_such_model', 'SELECT 1, ''{1,2,3}''::real[], 1', 'd')$$);
SELECT expect_error($$SELECT tl_evaluate('tiny', 'SELECT 1, ''{1,2,3}''::real[], 1', NULL)$$);
SELECT count(*) AS no_half_written_runs FROM tl_run WHERE dataset = 'd';

\getenv prep TL_PREP
\if :{?prep}
-- a real run: the IMDB CNN over 2000 reviews, batched, in one call
SELECT tl_evaluate('imdb_conv1d__datadonk23',
                   $$SELECT id, tl_tokenize('imdb', text, NULL, 2000), label FROM reviews WHERE id < 2000$$,
                   'imdb reviews', 'test', NULL, NULL,
                   '{negative,positive}') AS run_cnn \gset
SELECT model, revision, dataset, subset, status, input_query IS NOT NULL AS remembers_inputs
  FROM tl_run WHERE id = :run_cnn;
SELECT count(*) AS results, count(x) AS placed, count(DISTINCT cardinality(perception)) AS widths,
       min(cardinality(perception)) AS width
  FROM tl_result WHERE run = :run_cnn;
-- the stored outputs are tl_infer's, the accuracy is the one measured before
SELECT max(max_rel_err(t.output, o.output)) <= 1e-5 AS same_as_tl_infer,
       round(avg((t.prediction = t.label)::int), 3) AS accuracy
  FROM tl_result t JOIN imdb_out o ON o.model = 'imdb_conv1d__datadonk23' AND o.id = t.sample_id::int
 WHERE t.run = :run_cnn;
SELECT class_name, count, round(recall::numeric, 3) AS recall FROM tl_class_metrics WHERE run = :run_cnn ORDER BY class;
-- the top suspects: with a loss above the median, mostly flagged by confident learning
SELECT count(*) AS top20, sum(confident_learning::int) >= 10 AS mostly_flagged,
       bool_and(label <> suggested_label) AS suggest_other_label
  FROM tl_label_issues(:run_cnn, 10) WHERE rank <= 20;
\else
\echo NOTICE: shared data absent (set TL_DATA_DIR or put ../shared/data beside the repo): real-run tests skipped
\endif
