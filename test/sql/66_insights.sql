-- Insights: sample metadata, clusters in perception space, tl_insights and
-- tl_run_health, on planted cases (doc/insights.md).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS tensorlens;
RESET client_min_messages;
\getenv fixtures TL_FIXTURES
-- run ids depend on the tests before: messages show them as N
CREATE FUNCTION insight_mask(s text) RETURNS text LANGUAGE sql AS $$
    SELECT regexp_replace(regexp_replace(s, '\m(runs?|than) [0-9]+', '\1 N', 'g'), '(runs N) and [0-9]+', '\1 and N', 'g')
$$;
CREATE FUNCTION insight_error(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN insight_mask(SQLSTATE || ': ' || SQLERRM);
END $$;

-- ---- the statistics, against SciPy 1.10 (values in test/unit/test_insights.c) ----
-- Fisher's exact test, one-sided, table [[7, 3], [8, 32]]: 0.004490150795828771
SELECT round(p::numeric, 12) AS fisher_p, expected
  FROM tl_excess_test('{50}', '{10}', '{15}', 7);
-- three strata (convolution of hypergeometric pmfs): 0.3187906364819429, mean 7.6
SELECT round(p::numeric, 12) AS stratified_p, round(expected::numeric, 6) AS expected
  FROM tl_excess_test('{100,50,30}', '{10,25,3}', '{20,10,6}', 9);
-- binom.sf(7, 10, 0.5) = 0.0546875; mannwhitneyu(greater, asymptotic) = 0.009728323387268452
SELECT round(tl_binomial_test(8, 10, 0.5)::numeric, 12) AS binomial_p,
       round(tl_rank_sum_test(63.5, 6, 8, 30)::numeric, 12) AS rank_sum_p;
-- Holm and Benjamini-Hochberg, by hand: {0.03, 0.06, 0.06, 0.02} and {0.02, 0.04, 0.04, 0.02}
SELECT array(SELECT round(v::numeric, 6) FROM unnest(tl_p_adjust('{0.01,0.04,0.03,0.005,NULL}')) v) AS holm,
       array(SELECT round(v::numeric, 6) FROM unnest(tl_p_adjust('{0.01,0.04,0.03,0.005}', 'bh')) v) AS bh;
SELECT insight_error($$SELECT tl_p_adjust('{0.5}', 'bonferroni')$$);
SELECT insight_error($$SELECT tl_p_adjust('{1.5}')$$);
SELECT insight_error($$SELECT tl_excess_test('{10}', '{11}', '{2}', 1)$$);
SELECT insight_error($$SELECT tl_excess_test('{10,5}', '{1}', '{2}', 1)$$);
SELECT insight_error($$SELECT tl_excess_test('{10}', '{NULL}', '{2}', 1)$$);
SELECT insight_error($$SELECT tl_binomial_test(1, 10, 1.5)$$);
SELECT insight_error($$SELECT tl_rank_sum_test(1, -1, 3)$$);
SELECT insight_error($$SELECT tl_rank_sum_test('NaN', 1, 3)$$);
SELECT insight_error($$SELECT tl_p_adjust('{0.5,NaN}')$$);

-- ---- metadata: the columns of tl_evaluate's query after the label ----------------
\set emb_hex `od -An -v -tx1 :'fixtures'/layers/embedding_conv1d_gmp.h5 | tr -d ' \n'`
SELECT tl_model_import('insight_tokens', decode(:'emb_hex', 'hex')) AS revision;
SELECT tl_evaluate('insight_tokens',
    $$SELECT i, ARRAY[i % 20, (i * 7) % 20, (i * 3) % 20, (i * 11) % 20, (i * 5) % 20, (i * 13) % 20, (i * 17) % 20, (i * 19) % 20],
             i % 2, CASE WHEN i % 3 = 0 THEN 'scanner_b' ELSE 'scanner_a' END AS source, i * 10 AS length,
             (i % 4 = 0) AS reviewed, 0.25 * i AS score, 'NaN'::float8 AS odd, NULL::text AS missing,
             '{"a": [1, 2]}'::jsonb AS nested, 'quote " and \ backslash' AS note
        FROM generate_series(1, 40) i$$, 'insight tokens') AS run_tokens \gset
SELECT sample_id, metadata FROM tl_population WHERE run = :run_tokens ORDER BY sample_id::int LIMIT 3;
-- and a pipeline inserts it itself; it must be an object
SELECT insight_error($$INSERT INTO tl_result (run, sample_id, metadata) VALUES ($$ || :run_tokens || $$, 'x', '[1]')$$);

-- ---- clusters in perception space ------------------------------------------------
-- three blobs 12 apart in 5 dimensions, 60/40/20 samples: found without being told k
CREATE TABLE insight_blobs AS
SELECT i, CASE WHEN i <= 60 THEN 0 WHEN i <= 100 THEN 1 ELSE 2 END AS blob FROM generate_series(1, 120) i;
BEGIN;
INSERT INTO tl_run (model, dataset) VALUES ('blobs', 'insight blobs') RETURNING id AS run_blobs \gset
INSERT INTO tl_result (run, sample_id, label, output, perception)
SELECT :run_blobs, b.i, b.blob % 2, '{0.3}',
       (SELECT array_agg(CASE WHEN d = b.blob THEN 12 ELSE 0 END + sin(b.i * 7.1 + d * 3.3) ORDER BY d) FROM generate_series(0, 4) d)::real[]
  FROM insight_blobs b;
COMMIT;
-- stored by tl_analyze at commit, numbered by size, one cluster per blob
SELECT p.cluster, count(*) AS samples, min(b.blob) AS blob, count(DISTINCT b.blob) AS blobs
  FROM tl_population p JOIN insight_blobs b ON b.i = p.sample_id::int
 WHERE p.run = :run_blobs GROUP BY p.cluster ORDER BY p.cluster;
-- deterministic: recomputed equals stored
SELECT count(*) AS samples, bool_and(c.cluster = r.cluster) AS same_as_stored
  FROM tl_perception_clusters(:run_blobs) c JOIN tl_result r ON r.run = :run_blobs AND r.sample_id = c.sample_id;
SELECT insight_error($$SELECT * FROM tl_perception_clusters(987654)$$);
SELECT insight_error($$SELECT * FROM tl_perception_clusters(NULL)$$);

-- ---- planted runs ----------------------------------------------------------------
-- 1000 samples, 6 blobs in 8-D perception space, 3 classes, the model wrong
-- at random (rate 0.15) -- unless planted: about 10 % of the samples are
-- tagged source = scanner_b, transformed (moved off their blob) and wrong at
-- rate 0.6.  batch and length are random: they must never be blamed.
CREATE FUNCTION plant_run(seed float8, planted boolean, n integer DEFAULT 1000, dataset text DEFAULT NULL)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    id integer;
BEGIN
    PERFORM setseed(seed);
    INSERT INTO tl_run (model, dataset, class_names)
    VALUES ('synthetic', coalesce(dataset, 'blobs ' || seed), '{a,b,c}') RETURNING tl_run.id INTO id;
    INSERT INTO tl_result (run, sample_id, label, output, loss, perception, metadata)
    SELECT id, s.i, s.label,
           (SELECT array_agg(CASE WHEN c = s.predicted THEN 0.55 WHEN c = s.label THEN 0.35 ELSE 0.1 END
                             + CASE WHEN s.predicted = s.label AND c = s.label THEN 0.35 ELSE 0 END ORDER BY c)
              FROM generate_series(0, 2) c)::real[],
           CASE WHEN s.predicted = s.label THEN -ln(0.9) ELSE -ln(0.35) END,
           (SELECT array_agg(s.shift * (CASE WHEN d % 6 = s.blob THEN 4 ELSE 0 END) + g.z ORDER BY d)
              FROM generate_series(0, 7) d,
                   LATERAL (SELECT sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) + 0 * d AS z) g)::real[],
           jsonb_build_object('source', CASE WHEN s.b THEN 'scanner_b' ELSE (ARRAY['scanner_a', 'scanner_c'])[1 + floor(random() * 2)::int] END,
                              'batch', 'batch ' || (1 + floor(random() * 5)),
                              'length', round((random() * 500)::numeric))
      FROM (SELECT t.*, CASE WHEN random() < CASE WHEN t.b THEN 0.6 ELSE 0.15 END THEN (t.label + 1) % 3 ELSE t.label END AS predicted
              FROM (SELECT u.i, u.blob, u.blob % 3 AS label, u.b, CASE WHEN u.b THEN -1.5 ELSE 1 END AS shift
                      FROM (SELECT g.i, floor(random() * 6)::int AS blob, planted AND random() < 0.1 AS b
                              FROM generate_series(1, n) g(i)) u) t) s;
    RETURN id;
END
$$;
CREATE TABLE planted AS SELECT s AS seed, plant_run(s / 10.0 - 0.05, true) AS run FROM generate_series(1, 5) s;
-- the top finding of each planted run names source = scanner_b
SELECT p.seed, i.kind, i.description ~ 'source = scanner_b' AS names_scanner_b,
       round((SELECT avg((r.metadata->>'source' = 'scanner_b')::int) FROM tl_result r
               WHERE r.run = p.run AND r.sample_id = ANY (i.sample_ids)), 2) AS share_scanner_b
  FROM planted p, tl_insights(p.run) i WHERE i.rank = 1 ORDER BY p.seed;
-- the random columns are never blamed, in any finding of any planted run
SELECT count(*) AS findings, count(*) FILTER (WHERE i.kind <> 'not_computed') AS computed,
       count(*) FILTER (WHERE i.description ~ 'batch|length' OR i.details::text ~ '"(batch|length)"') AS blame_random
  FROM planted p, tl_insights(p.run) i;
-- every significant finding carries its test; the planted region is explained by its metadata
SELECT i.kind, bool_and((i.details->>'q')::float8 <= 0.01) AS significant,
       bool_and(i.details->'metadata'->0->>'condition' = 'source = scanner_b') AS explained
  FROM planted p, tl_insights(p.run) i
 WHERE i.kind IN ('low_performance', 'under_represented') GROUP BY i.kind ORDER BY i.kind;

-- clean runs (errors independent of everything): no finding beyond what
-- alpha = 0.01 (Holm, the chance of any false finding per run) allows;
-- 20 seeds of 500 samples: the expected number of runs with a false finding is at most 0.2
CREATE TABLE clean AS SELECT s AS seed, plant_run(s / 100.0, false, 500) AS run FROM generate_series(1, 20) s;
SELECT count(DISTINCT c.run) FILTER (WHERE i.kind IS NOT NULL) AS runs_with_a_finding, count(i.kind) AS findings
  FROM clean c LEFT JOIN tl_insights(c.run) i ON i.kind IN ('low_performance', 'metadata', 'under_represented');
-- a looser alpha finds more, never less
SELECT count(*) FILTER (WHERE i.kind = 'metadata') AS metadata_findings_at_0_5
  FROM clean c, tl_insights(c.run, NULL, 0.5) i WHERE c.seed <= 5;

-- ---- with a reference run: domain gap and drift ----------------------------------
-- a clean run, then the same samples again ("the next epoch") where a tenth of
-- them now come from scanner_b: transformed (moved in perception space) and
-- misclassified.  The scanner_b region is the gap, the regressions the drift.
SELECT plant_run(0.33, false, 1000, 'epochs') AS run_before \gset
BEGIN;
INSERT INTO tl_run (model, dataset, class_names) VALUES ('synthetic', 'epochs', '{a,b,c}') RETURNING id AS run_after \gset
INSERT INTO tl_result (run, sample_id, label, output, loss, perception, metadata)
SELECT :run_after, r.sample_id, r.label,
       CASE WHEN b THEN (SELECT array_agg(CASE WHEN c = (r.label + 1) % 3 THEN 0.55 WHEN c = r.label THEN 0.35 ELSE 0.1 END ORDER BY c)
                           FROM generate_series(0, 2) c)::real[] ELSE r.output END,
       CASE WHEN b THEN -ln(0.35) ELSE r.loss END,
       CASE WHEN b THEN (SELECT array_agg(v - 6 ORDER BY o) FROM unnest(r.perception) WITH ORDINALITY u(v, o))::real[] ELSE r.perception END,
       CASE WHEN b THEN r.metadata || '{"source": "scanner_b"}' ELSE r.metadata END
  FROM tl_result r, LATERAL (SELECT r.sample_id::int % 10 = 0 AS b) h WHERE r.run = :run_before;
COMMIT;
SELECT i.kind, i.description ~ 'source = scanner_b' AS names_scanner_b, i.samples > 0 AS has_samples
  FROM tl_insights(:run_after, :run_before) i WHERE i.kind IN ('domain_gap', 'drift')
 ORDER BY i.kind, i.severity DESC LIMIT 3;
-- the gap regions hold only the new samples: no centroid to compare with
SELECT (i.details->>'reference_samples')::int AS reference_samples, jsonb_typeof(i.details->'centroid_shift') AS centroid_shift
  FROM tl_insights(:run_after, :run_before) i WHERE i.kind = 'domain_gap' ORDER BY i.rank;
-- every region both runs share: its centroid barely moved (the same vectors, a tenth fewer)
SELECT count(*) AS shared_regions, max((f.details->>'centroid_shift')::float8) < 0.2 AS barely_moved
  FROM tl_insights_domain_gap(:run_after, :run_before) f WHERE (f.details->>'reference_samples')::int > 0 AND f.samples > 0;
SELECT i.details->>'regressions' AS regressions, i.details->>'fixes' AS fixes,
       (i.details->>'q')::float8 <= 0.01 AS significant
  FROM tl_insights(:run_after, :run_before) i WHERE i.kind = 'drift';
-- the other way round: no regression to report
SELECT count(*) AS drift_findings FROM tl_insights(:run_before, :run_after) i WHERE i.kind = 'drift';

-- ---- bad input -------------------------------------------------------------------
SELECT insight_error($$SELECT * FROM tl_insights(987654)$$);
SELECT insight_error($$SELECT * FROM tl_insights(NULL)$$);
SELECT insight_error($$SELECT * FROM tl_insights($$ || :run_after || $$, NULL, 0)$$);
SELECT insight_error($$SELECT * FROM tl_insights($$ || :run_after || $$, NULL, 1.5)$$);
SELECT insight_error($$SELECT * FROM tl_insights($$ || :run_after || $$, 987654)$$);
SELECT insight_error($$SELECT * FROM tl_insights($$ || :run_after || $$, $$ || :run_after || $$)$$);
-- a reference run of another model: different perception spaces
SELECT insight_error($$SELECT * FROM tl_insights($$ || :run_after || $$, $$ || :run_blobs || $$)$$);
INSERT INTO tl_run (model, dataset) VALUES ('synthetic', 'empty') RETURNING id AS run_empty \gset
SELECT insight_error($$SELECT * FROM tl_insights($$ || :run_empty || $$)$$);
-- a run without labels, metadata or perception vectors: findings that say so
BEGIN;
INSERT INTO tl_run (model, dataset) VALUES ('synthetic', 'unlabelled') RETURNING id AS run_bare \gset
INSERT INTO tl_result (run, sample_id, output) SELECT :run_bare, i, ARRAY[0.1 * (i % 10)]::real[] FROM generate_series(1, 30) i;
COMMIT;
SELECT rank, kind, samples, insight_mask(description) AS description FROM tl_insights(:run_bare) ORDER BY rank;
-- the same model with nothing in common (no perception vectors, no shared samples)
SELECT kind, insight_mask(description) AS description FROM tl_insights(:run_bare, :run_after) WHERE kind = 'not_computed' AND details->>'kind' IN ('domain_gap', 'drift');
-- labels but no metadata
SELECT count(*) FILTER (WHERE kind = 'not_computed' AND details->>'kind' = 'metadata') AS says_no_metadata
  FROM tl_insights(:run_blobs);

-- ---- tl_run_health ---------------------------------------------------------------
SELECT run = :run_after AS planted_run, samples, labelled, round(accuracy, 3) AS accuracy,
       round(mean_loss::numeric, 3) AS mean_loss, round(label_issue_rate::numeric, 3) AS label_issue_rate
  FROM tl_run_health WHERE run IN (:run_before, :run_after) ORDER BY run;
-- against the previous epoch
BEGIN;
INSERT INTO tl_run (model, dataset, subset, epoch) VALUES ('synthetic', 'epochs', 'test', 1) RETURNING id AS epoch1 \gset
INSERT INTO tl_result (run, sample_id, label, output, loss, perception)
SELECT :epoch1, sample_id, label, output, loss, perception FROM tl_result WHERE run = :run_before;
INSERT INTO tl_run (model, dataset, subset, epoch) VALUES ('synthetic', 'epochs', 'test', 2) RETURNING id AS epoch2 \gset
INSERT INTO tl_result (run, sample_id, label, output, loss, perception)
SELECT :epoch2, sample_id, label, output, loss, perception FROM tl_result WHERE run = :run_after;
COMMIT;
SELECT run = :epoch2 AS second, previous_run = :epoch1 AS follows_epoch_1, round(accuracy_change, 3) AS accuracy_change,
       round(mean_loss_change::numeric, 3) AS mean_loss_change, round(prediction_churn, 3) AS prediction_churn,
       label_issue_rate IS NULL AS no_label_issues
  FROM tl_run_health WHERE run IN (:epoch1, :epoch2) ORDER BY run;
SELECT label_issue_rate IS NULL AS unlabelled_has_no_rate FROM tl_run_health WHERE run = :run_bare;

-- ---- an ordinary role sees only its own runs -------------------------------------
CREATE ROLE tl_insight_carol;
SELECT tl_grant_usage('tl_insight_carol');
SET ROLE tl_insight_carol;
SELECT insight_error($$SELECT * FROM tl_insights($$ || :run_after || $$)$$);
SELECT insight_error($$SELECT * FROM tl_perception_clusters($$ || :run_after || $$)$$);
SELECT insight_error($$SELECT * FROM tl_metadata_enrichment($$ || :run_after || $$, '{1,2,3}')$$);
SELECT count(*) AS health_rows_seen FROM tl_run_health;
-- the parts of tl_insights see nothing of it either
SELECT (SELECT count(*) FROM tl_metadata_conditions(:run_after)) AS conditions,
       (SELECT count(*) FROM tl_insight_samples(:run_after)) AS samples,
       (SELECT count(*) FROM tl_insights_failure_groups(:run_after)) AS failure_groups,
       (SELECT count(*) FROM tl_insights_under_represented(:run_after)) AS sparse_regions,
       (SELECT count(*) FROM tl_insights_drift(:run_after, :run_before) f WHERE f.kind = 'drift') AS drift;
SELECT insight_error($$SELECT * FROM tl_insights_domain_gap($$ || :run_after || $$, $$ || :run_before || $$)$$);
-- her own run, with the owner's run as reference: invisible, so unknown
SELECT plant_run(0.7, true, 300, 'carol') AS run_carol \gset
SELECT count(*) > 0 AS own_insights FROM tl_insights(:run_carol);
SELECT insight_error($$SELECT * FROM tl_insights($$ || :run_carol || $$, $$ || :run_after || $$)$$);
SELECT count(*) AS health_rows_seen FROM tl_run_health;
RESET ROLE;
SELECT tl_revoke_usage('tl_insight_carol');
DELETE FROM tl_run WHERE created_by = 'tl_insight_carol';
DROP ROLE tl_insight_carol;

-- ---- a real model: Fashion-MNIST with a scanner that inverts its images ----------
\set have_fashion `test -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz && echo 1 || echo 0`
\if :have_fashion
\set cnn_hex `od -An -v -tx1 contrib/fashion/fashion_cnn.h5 | tr -d ' \n'`
SELECT tl_model_import('insight_fashion', decode(:'cnn_hex', 'hex')) AS revision;
CREATE TABLE insight_fashion (id integer PRIMARY KEY, label integer, pixels real[]);
\copy insight_fashion FROM PROGRAM '/usr/bin/python3 contrib/fashion/load_fashion.py --limit 3000'
-- 10 % of the images (chosen by a hash) come from scanner_b, which inverts
-- them; batch is random
SELECT tl_evaluate('insight_fashion',
    $$SELECT id, CASE WHEN abs(hashint4(id * 7 + 1)) % 10 = 0 THEN array(SELECT 1 - p FROM unnest(pixels) p) ELSE pixels END,
             label, CASE WHEN abs(hashint4(id * 7 + 1)) % 10 = 0 THEN 'scanner_b' ELSE 'scanner_a' END AS source,
             'batch ' || abs(hashint4(id * 13 + 5)) % 5 AS batch
        FROM insight_fashion$$, 'insight fashion', 'test') AS run_fashion \gset
SELECT rank, kind, description ~ 'source = scanner_b' AS names_scanner_b
  FROM tl_insights(:run_fashion) WHERE rank <= 3 ORDER BY rank;
SELECT count(*) FILTER (WHERE description ~ 'batch' OR details::text ~ '"batch') AS blame_batch
  FROM tl_insights(:run_fashion);
\else
\echo NOTICE: dataset-fashion-mnist is not installed: the real-model case is skipped
\endif
