-- The shared real models on real data, against the independent numpy
-- reference (test/reference/keras_ref.py, written apart from the C code):
-- every IMDB model on the 5000 reviews (tokenised the Keras IMDB way by
-- test/reference/imdb_tokenize.py) and the MNIST CNNs on 1000 test digits.
-- Tolerance 1e-4, absolute or relative for |y| > 1.
\getenv prep TL_PREP
\getenv data TL_DATA
\if :{?prep}
SELECT set_config('tl.prep', :'prep', false) IS NOT NULL AS ok,
       set_config('tl.data', :'data', false) IS NOT NULL AS ok;
CREATE TABLE imdb_stage (id int, label int, input int[], expected real[]);
CREATE TABLE imdb_ref (model text, id int, label int, input int[], expected real[]);
CREATE TABLE imdb_models (model text PRIMARY KEY, multi_hot boolean);
INSERT INTO imdb_models VALUES
  ('imdb_conv1d__datadonk23', false), ('imdb_embed_bigru__anushree1001', false),
  ('imdb_embed_flatten_dense__lyhue1991', false), ('imdb_embed_gap_dense__kolerabi', false),
  ('imdb_embed_gru__anushree1001', false), ('imdb_embed_lstm__anushree1001', false),
  ('imdb_embed_simplernn__anushree1001', false), ('imdb_multihot_dense__datadonk23', true),
  ('imdb_multihot_dense_keras3__chinmayadas2003', true);
DO $$
DECLARE m text;
BEGIN
  FOR m IN SELECT model FROM imdb_models ORDER BY model LOOP
    EXECUTE format('COPY imdb_stage FROM %L', current_setting('tl.prep') || '/' || m || '.tsv');
    INSERT INTO imdb_ref SELECT m, * FROM imdb_stage;
    TRUNCATE imdb_stage;
    PERFORM tl_model_load(m, current_setting('tl.data') || '/models/imdb/' || m || '.h5');
  END LOOP;
END $$;
SELECT model, count(*) AS reviews FROM imdb_ref GROUP BY model ORDER BY model;
SELECT m.model, l.kind, l.output_shape FROM imdb_models m, tl_layers(m.model) l
 WHERE l.idx = 0 ORDER BY 1;

-- batched inference over all reviews; multi-hot models get tl_multi_hot(ids, 10000)
CREATE TABLE imdb_out AS
SELECT m.model, b.id::int AS id, b.output
  FROM imdb_models m,
       tl_infer_batch(m.model,
                      format('SELECT id, %s FROM imdb_ref WHERE model = %L',
                             CASE WHEN m.multi_hot THEN 'tl_multi_hot(input, 10000)' ELSE 'input' END,
                             m.model)) b;
-- agreement with the reference, and accuracy against the review labels
-- (a 0.5 threshold; the Conv1D model's last layer is linear, as in the book)
SELECT r.model, count(*) AS n,
       max(max_rel_err(o.output, r.expected)) <= 1e-4 AS matches_reference,
       CASE WHEN min(r.label) >= 0
            THEN round(avg(((o.output[1] > 0.5)::int = r.label)::int), 3) END AS accuracy,
       CASE WHEN min(r.label) >= 0
            THEN round(avg(((r.expected[1] > 0.5)::int = r.label)::int), 3) END AS reference_accuracy
  FROM imdb_ref r JOIN imdb_out o USING (model, id)
 GROUP BY r.model ORDER BY r.model;
-- one call per row agrees with the batched path (first 50 reviews per model)
SELECT r.model,
       max(max_rel_err(tl_infer(r.model, CASE WHEN m.multi_hot THEN NULL ELSE r.input END), o.output)) FILTER (WHERE NOT m.multi_hot) <= 1e-5
       OR bool_and(m.multi_hot) AS single_equals_batch
  FROM imdb_ref r JOIN imdb_out o USING (model, id) JOIN imdb_models m USING (model)
 WHERE r.id < 50 GROUP BY r.model ORDER BY r.model;
SELECT max(max_rel_err(tl_infer(r.model, tl_multi_hot(r.input, 10000)), o.output)) <= 1e-5 AS multi_hot_single_equals_batch
  FROM imdb_ref r JOIN imdb_out o USING (model, id) JOIN imdb_models m USING (model)
 WHERE r.id < 50 AND m.multi_hot;

-- MNIST: a Keras 2 .h5 CNN and a Keras 3 .keras CNN
CREATE TABLE mnist (id int, label int, pixels real[], expected_neuroedge real[], expected_gosolna real[]);
\set mnist_file :prep/mnist.tsv
COPY mnist FROM :'mnist_file';
\set neuroedge :data/models/mnist/mnist_cnn_small__neuroedge.h5
\set gosolna :data/models/mnist/mnist_cnn__gosolna.keras
SELECT tl_model_load('mnist_neuroedge', :'neuroedge') AS rev1, tl_model_load('mnist_gosolna', :'gosolna') AS rev2;
CREATE FUNCTION argmax(v real[]) RETURNS int LANGUAGE sql IMMUTABLE AS
  $$ SELECT (i - 1)::int FROM unnest(v) WITH ORDINALITY u(x, i) ORDER BY x DESC, i LIMIT 1 $$;
SELECT 'neuroedge' AS model, count(*) AS n,
       max(max_rel_err(b.output, m.expected_neuroedge)) <= 1e-4 AS matches_reference,
       round(avg((argmax(b.output) = m.label)::int), 3) AS accuracy
  FROM tl_infer_batch('mnist_neuroedge', 'SELECT id, pixels FROM mnist') b JOIN mnist m ON m.id = b.id::int
UNION ALL
SELECT 'gosolna', count(*),
       max(max_rel_err(b.output, m.expected_gosolna)) <= 1e-4,
       round(avg((argmax(b.output) = m.label)::int), 3)
  FROM tl_infer_batch('mnist_gosolna', 'SELECT id, pixels FROM mnist') b JOIN mnist m ON m.id = b.id::int;
-- image inputs may also be given with their dimensions (28 x 28)
SELECT max(max_rel_err(tl_infer('mnist_neuroedge', (SELECT array_agg(r) FROM (
         SELECT array_agg(p ORDER BY k) AS r FROM unnest(pixels) WITH ORDINALITY u(p, k)
          GROUP BY (k - 1) / 28 ORDER BY (k - 1) / 28) rows)), expected_neuroedge)) <= 1e-4 AS two_d_input_ok
  FROM mnist WHERE id < 5;
\else
\echo NOTICE: shared data absent (set TL_DATA_DIR or put ../shared/data beside the repo): real-model tests skipped
\endif
