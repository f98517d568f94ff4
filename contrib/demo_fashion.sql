-- contrib/demo_fashion.sql — the Fashion-MNIST part of the demo, run by
-- contrib/demo.sh with the psql variables :h5 (the model file, read on the
-- client side) and :out (the directory the report and the SVG go to).
-- Needs the table fashion(id, label, pixels) of contrib/fashion/load_fashion.sql.
-- Safe to run again: the model gets a new revision and the run is new;
-- the files are overwritten.
\set QUIET on
\set ON_ERROR_STOP on
\pset footer off
SET client_min_messages = warning;
\set classes '{T-shirt/top,Trouser,Pullover,Dress,Coat,Sandal,Shirt,Sneaker,Bag,"Ankle boot"}'

\set h5hex `od -An -v -tx1 :'h5' | tr -d ' \n'`
SELECT tl_model_import('fashion_cnn', decode(:'h5hex', 'hex')) AS revision \gset
\unset h5hex

-- the whole analysis in one call: outputs, predictions, losses (the model's
-- own sparse_categorical_crossentropy), perception vectors, PCA coordinates
-- progress: a NOTICE line every second while it runs (another session
-- sees the same in the view tl_progress)
SET client_min_messages = notice;
SET tensorlens.progress_interval = '1s';
SELECT clock_timestamp() AS t0 \gset
SELECT tl_evaluate('fashion_cnn', 'SELECT id, pixels, label FROM fashion', 'fashion-mnist', 'test',
                   class_names => :'classes') AS run \gset
SET client_min_messages = warning;
SELECT round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric, 1) AS eval_s \gset

\echo
\echo '== Fashion-MNIST: run' :run '= fashion_cnn (revision' :revision') on the 10,000 test images'
SELECT count(*) AS images, round(avg(correct::int), 4) AS accuracy, round(avg(loss)::numeric, 4) AS mean_loss,
       (SELECT sum(params) FROM tl_layers('fashion_cnn')) AS parameters,
       :'eval_s' || ' s' AS "tl_evaluate took"
  FROM tl_population WHERE run = :run;

\echo 'Per class (tl_class_metrics) and the class each is most often mistaken for (tl_population):'
SELECT m.class_name AS class, m.count AS images, round(m.precision::numeric, 3) AS precision,
       round(m.recall::numeric, 3) AS recall, round(m.f1::numeric, 3) AS f1,
       round(m.mean_loss::numeric, 3) AS mean_loss,
       (SELECT p.prediction_name || ' (' || count(*) || ')' FROM tl_population p
         WHERE p.run = m.run AND p.label = m.class AND NOT p.correct
         GROUP BY p.prediction_name ORDER BY count(*) DESC, p.prediction_name LIMIT 1) AS most_often_taken_for
  FROM tl_class_metrics m WHERE m.run = :run ORDER BY m.class;

\echo 'Where the failures sit: the population map''s regions (k-means, tl_failure_clusters) with the most errors:'
SELECT c.cluster AS region, c.size AS images, c.failures, round(c.error_rate::numeric, 3) AS error_rate,
       (SELECT string_agg(t.label_name || '→' || t.prediction_name, ', ' ORDER BY t.n DESC, t.label_name)
          FROM (SELECT p.label_name, p.prediction_name, count(*) AS n
                  FROM unnest(c.worst_samples) w JOIN tl_population p ON p.run = :run AND p.sample_id = w
                 WHERE NOT p.correct GROUP BY 1, 2) t) AS "worst errors (labelled→predicted)"
  FROM tl_failure_clusters(:run, 8) c ORDER BY c.error_rate DESC, c.cluster LIMIT 3;

\echo 'Top suspected mislabels (tl_label_issues: confident learning, margin, disagreeing neighbours):'
CREATE TEMP TABLE fashion_issues AS
SELECT i.rank, i.sample_id, r.class_names[i.label + 1] AS labelled, r.class_names[i.suggested_label + 1] AS suggested,
       i.score, i.self_confidence, i.neighbour_disagreement, i.loss
  FROM tl_label_issues(:run, 10) i, tl_run r WHERE r.id = :run AND i.rank <= 8;
SELECT rank, sample_id AS image, labelled, suggested, round(score::numeric, 3) AS score,
       round(self_confidence::numeric, 4) AS "p(label)", round(neighbour_disagreement::numeric, 1) AS neighbours_disagree,
       round(loss::numeric, 2) AS loss
  FROM fashion_issues ORDER BY rank;

\echo 'Top insights (tl_insights: regions of perception space that fail more than their classes explain,'
\echo 'groups of label issues):'
SELECT rank, kind, round(severity::numeric, 3) AS severity, samples, description
  FROM tl_insights(:run) WHERE rank <= 5 AND kind <> 'not_computed' ORDER BY rank;

-- the three most suspect images in the terminal: 28 columns x 14 lines
-- (two pixel rows per character), darkest ' ' to brightest '@'
\echo 'The three most suspect images (labelled / suggested):'
\pset format unaligned
\pset tuples_only on
WITH top AS (SELECT rank, sample_id, labelled, suggested FROM fashion_issues WHERE rank <= 3),
     art AS (
  SELECT t.rank, r.row,
         string_agg(substr(' .:-=+*#%@', 1 + least(9, floor(5 * (f.pixels[56 * r.row + c.col + 1] + f.pixels[56 * r.row + 28 + c.col + 1]))::int), 1),
                    '' ORDER BY c.col) AS line
    FROM top t JOIN fashion f ON f.id = t.sample_id::int,
         generate_series(0, 13) r(row), generate_series(0, 27) c(col)
   GROUP BY t.rank, r.row)
SELECT line FROM (
  SELECT -1 AS row, string_agg(rpad('#' || rank || ' image ' || sample_id, 34), '' ORDER BY rank) AS line FROM top
  UNION ALL
  SELECT 0, string_agg(rpad(left(labelled || ' / ' || suggested, 32), 34), '' ORDER BY rank) FROM top
  UNION ALL
  SELECT row + 1, string_agg('|' || line || '|    ', '' ORDER BY rank) FROM art GROUP BY row) l
 ORDER BY row;

\echo 'Beside them: the most atypical images (tl_outliers) and near-duplicate pairs (tl_near_duplicates):'
SELECT o.rank, o.sample_id AS image, r.class_names[o.label + 1] AS labelled, round(o.score::numeric, 3) AS score, o.outlier
  FROM tl_outliers(:run) o, tl_run r WHERE r.id = :run AND o.rank <= 3 ORDER BY o.rank;
SELECT d.sample_id AS image, d.duplicate_id AS near_copy, round(d.distance::numeric, 4) AS distance
  FROM tl_near_duplicates(:run) d ORDER BY d.distance, d.sample_id LIMIT 3;

-- the pictures: an SVG population map and the interactive report
SELECT :'out' || '/fashion_population.svg' AS svg_file, :'out' || '/fashion_report.html' AS html_file \gset
\o :svg_file
SELECT tl_svg_scatter(x, y, loss, label_name,
                      format('image %s: %s, predicted %s, loss %s', sample_id, label_name, prediction_name, round(loss::numeric, 3)),
                      'Fashion-MNIST CNN, run ' || run || ': 10,000 test images (PCA of perception vectors; size = loss, colour = label)'
                      ORDER BY sample_id::int)
  FROM tl_population WHERE run = :run;
\o
SELECT clock_timestamp() AS t0 \gset
\o :html_file
SELECT tl_html_report(:run, NULL, NULL, 20);
\o
SELECT round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric, 1) AS report_s \gset
\pset format aligned
\pset tuples_only off
\echo 'Wrote' :svg_file '(tl_svg_scatter) and' :html_file
\echo '(tl_html_report: pixel heat maps of the 20 highest-loss and 20 most suspect images,' :report_s 's).'
