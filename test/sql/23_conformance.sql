-- Conformance with real Keras: every model under
-- ../shared/data/models/expected_outputs/ whose layers tensorlens supports,
-- run on the inputs stored beside it and compared with the predictions
-- Keras itself stored (predictions/ group; outputs/ can be training targets)
-- and with every layer's activation Keras stored (activations/ group).
-- Then every real model under ../shared/data/models/other, which comes
-- without stored outputs, against the numpy reference (keras_ref.py) on
-- seeded random inputs, every layer.
-- Tolerance 1e-4, absolute or relative for |y| > 1.
\getenv prep TL_PREP
\getenv data TL_DATA
\if :{?prep}
CREATE TABLE conformance (case_name text, model_path text, sample int, input real[],
                          dims int[], layer text, kind text, expected real[]);
\set conformance_file :prep/conformance.tsv
COPY conformance FROM :'conformance_file';
SELECT count(DISTINCT case_name) AS cases,
       count(*) FILTER (WHERE kind = 'prediction') AS predictions,
       count(*) FILTER (WHERE kind = 'activation') AS activations
  FROM conformance;
SELECT count(tl_model_load('dl4j/' || case_name, model_path)) AS imported
  FROM (SELECT DISTINCT case_name, model_path FROM conformance) c;
CREATE TABLE conformance_result AS
SELECT case_name, max(max_rel_err(tl_infer('dl4j/' || case_name, input), expected)) AS err
  FROM conformance WHERE kind = 'prediction'
 GROUP BY case_name;
SELECT split_part(case_name, '/', 1) AS family, count(*) FILTER (WHERE err <= 1e-4) AS passed,
       count(*) AS total
  FROM conformance_result GROUP BY 1 ORDER BY 1;
SELECT count(*) FILTER (WHERE err <= 1e-4) AS passed, count(*) AS total FROM conformance_result;
-- any case over the tolerance is listed here
SELECT case_name, err FROM conformance_result WHERE NOT err <= 1e-4 ORDER BY 1;
-- every layer's activation that real Keras stored, read with tl_activations
CREATE TABLE conformance_layers AS
SELECT case_name, layer,
       max(max_rel_err(tl_activations('dl4j/' || case_name, input, layer), expected)) AS err
  FROM conformance WHERE kind = 'activation'
 GROUP BY case_name, layer;
SELECT split_part(case_name, '/', 1) AS family, count(DISTINCT case_name) AS cases,
       count(*) FILTER (WHERE err <= 1e-4) AS layers_passed, count(*) AS layers
  FROM conformance_layers GROUP BY 1 ORDER BY 1;
SELECT case_name, layer, err FROM conformance_layers WHERE NOT err <= 1e-4 ORDER BY 1, 2;
-- simple_lstm stores no predictions (its outputs/ group holds training
-- targets), so it is only loaded and run
\set simple_lstm :data/models/expected_outputs/dl4j/simple_lstm/simple_lstm_tf_keras_2_model.h5
SELECT tl_model_load('dl4j/simple_lstm', :'simple_lstm') AS revision;
SELECT cardinality(tl_infer('dl4j/simple_lstm', '{0.5}'::real[])) AS outputs;

-- models/other: every file loads and runs; every layer against keras_ref.py
-- (token ids are given as integers to the model that reads them)
CREATE TABLE other_models (model text, model_path text, sample int, input real[],
                           dims int[], layer text, expected real[]);
\set other_file :prep/other.tsv
COPY other_models FROM :'other_file';
SELECT count(tl_model_load('other/' || model, model_path)) AS imported
  FROM (SELECT DISTINCT model, model_path FROM other_models) m;
CREATE TABLE other_results AS
SELECT o.model, o.layer,
       max(max_rel_err(CASE WHEN o.layer = '__output__'
                            THEN CASE WHEN t.tokens THEN tl_infer('other/' || o.model, o.input::int[])
                                      ELSE tl_infer('other/' || o.model, o.input) END
                            WHEN t.tokens THEN tl_activations('other/' || o.model, o.input::int[], o.layer)
                            ELSE tl_activations('other/' || o.model, o.input, o.layer) END,
                       o.expected)) AS err
  FROM other_models o
  JOIN (SELECT DISTINCT model, (SELECT kind FROM tl_layers('other/' || model) WHERE idx = 1) = 'Embedding' AS tokens
          FROM other_models) t USING (model)
 GROUP BY o.model, o.layer;
SELECT model, count(*) FILTER (WHERE err <= 1e-4) AS layers_passed, count(*) AS layers,
       bool_and(err <= 1e-4) FILTER (WHERE layer = '__output__') AS output_ok
  FROM other_results GROUP BY model ORDER BY model;
SELECT model, layer, err FROM other_results WHERE NOT err <= 1e-4 ORDER BY 1, 2;
\else
\echo NOTICE: shared data absent (set TL_DATA_DIR or put ../shared/data beside the repo): conformance skipped
\endif
