-- contrib/demo_imdb.sql — the IMDB part of the demo, run by contrib/demo.sh
-- with the psql variables :data (the shared data directory), :import (where
-- the server may read the model files) and :out (the directory the reports
-- and SVGs go to).  Expects a fresh database (demo.sh recreates it).
\set QUIET on
\set ON_ERROR_STOP on
\pset footer off
SET client_min_messages = warning;

-- the Keras IMDB word index and 5000 real reviews
\set word_index :data/datasets/imdb/imdb_word_index.json
\set reviews :data/datasets/imdb/imdb_reviews_5000.tsv
CREATE TABLE word_index_file (doc jsonb);
\set copy_word_index '\\copy word_index_file FROM ' :'word_index' ' WITH (FORMAT csv, QUOTE E''\\x01'', DELIMITER E''\\x02'')'
:copy_word_index
SELECT tl_vocab_import('imdb', doc) AS words FROM word_index_file \gset
CREATE TABLE reviews (id int PRIMARY KEY, label int, text text);
\set copy_reviews '\\copy reviews FROM ' :'reviews' ' WITH (FORMAT csv, DELIMITER E''\\t'', QUOTE E''\\x01'', HEADER true)'
:copy_reviews
SELECT count(*) AS n_reviews FROM reviews \gset

-- the shared IMDB models and how each was fed during training
CREATE TABLE demo_models (model text PRIMARY KEY, file text, num_words int, maxlen int, multi_hot boolean, about text);
INSERT INTO demo_models VALUES
 ('imdb_cnn',       'imdb_conv1d__datadonk23.h5',                    2000, 500,  false, 'Embedding→Conv1D×2→Dense (linear output)'),
 ('imdb_gap_dense', 'imdb_embed_gap_dense__kolerabi.h5',             18000, 5000, false, 'Embedding→GlobalAveragePooling→Dense'),
 ('imdb_lstm',      'imdb_embed_lstm__anushree1001.h5',              5000, 300,  false, 'Embedding→LSTM'),
 ('imdb_gru',       'imdb_embed_gru__anushree1001.h5',               5000, 300,  false, 'Embedding→GRU'),
 ('imdb_bigru',     'imdb_embed_bigru__anushree1001.h5',             5000, 300,  false, 'Embedding→Bidirectional(GRU)'),
 ('imdb_simplernn', 'imdb_embed_simplernn__anushree1001.h5',         5000, 300,  false, 'Embedding→SimpleRNN'),
 ('imdb_multihot',  'imdb_multihot_dense__datadonk23.h5',            10000, NULL, true,  'multi-hot→Dense×3 (Keras 2)'),
 ('imdb_multihot3', 'imdb_multihot_dense_keras3__chinmayadas2003.h5', 10000, NULL, true,  'multi-hot→Dense×3 (Keras 3 file)');
SELECT count(tl_model_load(model, :'import' || '/' || file)) AS imported FROM demo_models \gset
CREATE FUNCTION pg_temp.input_sql(m demo_models) RETURNS text LANGUAGE sql AS $$
  SELECT CASE WHEN m.multi_hot
              THEN format('tl_multi_hot(tl_tokenize(''imdb'', text, NULL, %s), %s)', m.num_words, m.num_words)
              ELSE format('tl_tokenize(''imdb'', text, %s, %s)', m.maxlen, m.num_words) END $$;

-- the two models of the analysis, each one tl_evaluate call (outputs,
-- predictions, losses from the model's training_config, perception
-- vectors, PCA coordinates; the review's length kept as metadata); the
-- other six only run (tl_infer_batch).
-- Progress: a NOTICE line every second while each runs (tl_progress shows
-- it to other sessions)
SET client_min_messages = notice;
SET tensorlens.progress_interval = '1s';
SELECT clock_timestamp() AS t0 \gset
SELECT tl_evaluate(m.model, format('SELECT id, %s, label, length(text) AS characters FROM reviews', pg_temp.input_sql(m)), 'imdb-reviews', 'shared-5000',
                   class_names => '{negative,positive}') AS cnn
  FROM demo_models m WHERE m.model = 'imdb_cnn' \gset
SELECT round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric, 1) AS cnn_s, clock_timestamp() AS t0 \gset
SELECT tl_evaluate(m.model, format('SELECT id, %s, label, length(text) AS characters FROM reviews', pg_temp.input_sql(m)), 'imdb-reviews', 'shared-5000',
                   class_names => '{negative,positive}') AS dense
  FROM demo_models m WHERE m.model = 'imdb_gap_dense' \gset
SELECT round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric, 1) AS dense_s, clock_timestamp() AS t0 \gset
SET client_min_messages = warning;
CREATE TABLE predictions AS
SELECT m.model, b.id::int AS id, b.output[1] AS score
  FROM demo_models m, tl_infer_batch(m.model, format('SELECT id, %s FROM reviews', pg_temp.input_sql(m))) b
 WHERE m.model NOT IN ('imdb_cnn', 'imdb_gap_dense');
INSERT INTO predictions
SELECT t.model, p.sample_id::int, r.output[1] FROM tl_population p JOIN tl_run t ON t.id = p.run
  JOIN tl_result r ON r.run = p.run AND r.sample_id = p.sample_id WHERE p.run IN (:cnn, :dense);
SELECT round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric, 1) AS others_s \gset

\echo
\echo '== IMDB:' :imported 'shared Keras models on' :n_reviews 'reviews; vocabulary imdb of' :words 'words'
\echo 'Accuracy of every model (output > 0.5 means positive; some reviews may have been in the'
\echo 'training sets, so this is not held-out accuracy). Runs' :cnn 'and' :dense 'are tl_evaluate calls, in' :cnn_s 's'
\echo 'and' :dense_s 's; the other six models only run, by tl_infer_batch, in' :others_s 's.'
SELECT m.model, m.about, (SELECT sum(params) FROM tl_layers(m.model)) AS parameters,
       round(100.0 * avg(((p.score > 0.5)::int = r.label)::int), 1) AS accuracy_pct,
       round(avg(tl_loss(p.model, ARRAY[p.score], r.label))::numeric, 3) AS mean_loss,
       CASE m.model WHEN 'imdb_cnn' THEN 'run ' || :cnn WHEN 'imdb_gap_dense' THEN 'run ' || :dense END AS run
  FROM demo_models m JOIN predictions p USING (model) JOIN reviews r USING (id)
 GROUP BY m.model, m.about ORDER BY accuracy_pct DESC, m.model;

\echo 'Per class (tl_class_metrics):'
SELECT t.model, m.class_name AS class, m.count AS reviews, round(m.precision::numeric, 3) AS precision,
       round(m.recall::numeric, 3) AS recall, round(m.f1::numeric, 3) AS f1, round(m.mean_loss::numeric, 3) AS mean_loss
  FROM tl_class_metrics m JOIN tl_run t ON t.id = m.run WHERE m.run IN (:cnn, :dense) ORDER BY m.run, m.class;
\echo 'The CNN''s last layer is linear and it was trained with binary_crossentropy on that output, so its'
\echo 'loss saturates (15.42) for outputs <= 0 on positive reviews; every analysis reads that output the'
\echo 'way Keras did, as a probability clipped to [1e-7, 1-1e-7] (tl_run.output_kind = linear_probability).'

\echo
\echo 'Dense (run' :dense') vs CNN (run' :cnn') on the same reviews (tl_run_compare):'
SELECT count(*) FILTER (WHERE correct_a AND correct_b) AS both_right,
       count(*) FILTER (WHERE correct_a AND NOT correct_b) AS only_dense_right,
       count(*) FILTER (WHERE NOT correct_a AND correct_b) AS only_cnn_right,
       count(*) FILTER (WHERE NOT correct_a AND NOT correct_b) AS both_wrong,
       round(avg((prediction_a = prediction_b)::int), 3) AS agreement
  FROM tl_run_compare WHERE run_a = :dense AND run_b = :cnn;
\echo 'Where they disagree most (highest loss of the model that is wrong):'
SELECT * FROM (
  (SELECT 'Dense' AS right_one, c.sample_id AS review, CASE c.label WHEN 1 THEN 'positive' ELSE 'negative' END AS label,
          round(c.loss_b::numeric, 2) AS loss_of_wrong_one,
          left(regexp_replace(r.text, '<br />', ' ', 'g'), 80) || '…' AS text
     FROM tl_run_compare c JOIN reviews r ON r.id = c.sample_id::int
    WHERE c.run_a = :dense AND c.run_b = :cnn AND c.correct_a AND NOT c.correct_b
    ORDER BY c.loss_b DESC, c.sample_id LIMIT 2)
  UNION ALL
  (SELECT 'CNN', c.sample_id, CASE c.label WHEN 1 THEN 'positive' ELSE 'negative' END,
          round(c.loss_a::numeric, 2), left(regexp_replace(r.text, '<br />', ' ', 'g'), 80) || '…'
     FROM tl_run_compare c JOIN reviews r ON r.id = c.sample_id::int
    WHERE c.run_a = :dense AND c.run_b = :cnn AND NOT c.correct_a AND c.correct_b
    ORDER BY c.loss_a DESC, c.sample_id LIMIT 2)) d;

\echo
\echo 'Top suspected mislabels (tl_label_issues; the five most suspect of each model, with the rank the'
\echo 'other model gives them among its 100 most suspect, and both models together: with_runs):'
CREATE TEMP TABLE issues AS
SELECT 'cnn' AS m, i.* FROM tl_label_issues(:cnn, 10) i WHERE i.rank <= 100
UNION ALL
SELECT 'dense', i.* FROM tl_label_issues(:dense, 10) i WHERE i.rank <= 100
UNION ALL
SELECT 'both', i.* FROM tl_label_issues(:cnn, 10, ARRAY[:dense]) i WHERE i.rank <= 100;
SELECT r.id AS review, CASE r.label WHEN 1 THEN 'positive' ELSE 'negative' END AS labelled,
       c.rank AS cnn_rank, d.rank AS dense_rank, b.rank AS both_rank,
       left(regexp_replace(r.text, '<br />', ' ', 'g'), 90) || '…' AS text
  FROM reviews r
  LEFT JOIN issues c ON c.m = 'cnn' AND c.sample_id = r.id::text
  LEFT JOIN issues d ON d.m = 'dense' AND d.sample_id = r.id::text
  LEFT JOIN issues b ON b.m = 'both' AND b.sample_id = r.id::text
 WHERE c.rank <= 5 OR d.rank <= 5
 ORDER BY least(c.rank, d.rank), coalesce(c.rank, 101) + coalesce(d.rank, 101), r.id;

\echo
\echo 'Beside them (Dense model): the most atypical reviews (tl_outliers) and near-duplicate pairs'
\echo '(tl_near_duplicates), in the model''s perception space:'
SELECT o.rank, o.sample_id AS review, round(o.score::numeric, 3) AS score, o.outlier,
       left(regexp_replace(r.text, '<br />', ' ', 'g'), 80) || '…' AS text
  FROM tl_outliers(:dense) o JOIN reviews r ON r.id::text = o.sample_id WHERE o.rank <= 3 ORDER BY o.rank;
SELECT count(*) AS near_duplicate_pairs, min(distance) AS closest FROM tl_near_duplicates(:dense);

\echo 'Top insights of each run (tl_insights: regions of perception space that fail more than their'
\echo 'classes explain, metadata over-represented among the failures, groups of label issues):'
SELECT i.run, i.rank, i.kind, round(i.severity::numeric, 3) AS severity, i.samples, i.description
  FROM (SELECT :cnn AS run, f.* FROM tl_insights(:cnn) f
        UNION ALL SELECT :dense, f.* FROM tl_insights(:dense) f) i
 WHERE i.rank <= 5 AND i.kind <> 'not_computed'
 ORDER BY i.run, i.rank;

-- the pictures: SVG population maps, a Dense-vs-CNN plot and the reports
\pset format unaligned
\pset tuples_only on
SELECT :'out' || '/imdb_cnn_population.svg' AS f \gset
\o :f
SELECT tl_svg_scatter(x, y, loss, label_name,
                      format('review %s: %s, predicted %s, loss %s', sample_id, label_name, prediction_name, round(loss::numeric, 3)),
                      'IMDB Conv1D CNN, run ' || run || ': 5000 reviews (PCA of perception vectors; size = loss, colour = label)'
                      ORDER BY sample_id::int)
  FROM tl_population WHERE run = :cnn;
\o
SELECT :'out' || '/imdb_gap_dense_population.svg' AS f \gset
\o :f
SELECT tl_svg_scatter(x, y, loss, label_name,
                      format('review %s: %s, predicted %s, loss %s', sample_id, label_name, prediction_name, round(loss::numeric, 3)),
                      'IMDB GAP Dense, run ' || run || ': 5000 reviews (PCA of perception vectors; size = loss, colour = label)'
                      ORDER BY sample_id::int)
  FROM tl_population WHERE run = :dense;
\o
SELECT :'out' || '/imdb_dense_vs_cnn.svg' AS f \gset
\o :f
SELECT tl_svg_scatter(a.output[1], b.output[1], greatest(c.loss_a, c.loss_b),
                      CASE WHEN c.correct_a AND c.correct_b THEN 'both right' WHEN c.correct_a THEN 'only Dense right'
                           WHEN c.correct_b THEN 'only CNN right' ELSE 'both wrong' END,
                      format('review %s (%s): Dense %s, CNN %s', c.sample_id, CASE c.label WHEN 1 THEN 'positive' ELSE 'negative' END,
                             round(a.output[1]::numeric, 3), round(b.output[1]::numeric, 3)),
                      'Dense output (x) vs CNN output (y) per review; size = the larger loss'
                      ORDER BY c.sample_id::int)
  FROM tl_run_compare c
  JOIN tl_result a ON a.run = c.run_a AND a.sample_id = c.sample_id
  JOIN tl_result b ON b.run = c.run_b AND b.sample_id = c.sample_id
 WHERE c.run_a = :dense AND c.run_b = :cnn;
\o
SELECT clock_timestamp() AS t0, :'out' || '/imdb_cnn_report.html' AS f \gset
\o :f
SELECT tl_html_report(:cnn, $$SELECT id, regexp_replace(text, '<br />', ' ', 'g') FROM reviews$$, 'imdb', 20);
\o
SELECT :'out' || '/imdb_gap_dense_report.html' AS f \gset
\o :f
SELECT tl_html_report(:dense, $$SELECT id, regexp_replace(text, '<br />', ' ', 'g') FROM reviews$$, 'imdb', 20);
\o
SELECT round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric, 1) AS report_s \gset
\pset format aligned
\pset tuples_only off
\echo 'Wrote imdb_cnn_report.html and imdb_gap_dense_report.html (tl_html_report: text previews, token heat maps'
\echo 'of the 20 highest-loss and 20 most suspect reviews,' :report_s 's), imdb_cnn_population.svg,'
\echo 'imdb_gap_dense_population.svg and imdb_dense_vs_cnn.svg (tl_svg_scatter).'
