-- Conformance with real Keras: every model under
-- ../shared/data/models/expected_outputs/ whose layers tensorlens supports,
-- run on the inputs stored beside it and compared with the predictions
-- Keras itself stored (predictions/ group; outputs/ can be training targets).
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
-- simple_lstm stores no predictions (its outputs/ group holds training
-- targets), so it is only loaded and run
\set simple_lstm :data/models/expected_outputs/dl4j/simple_lstm/simple_lstm_tf_keras_2_model.h5
SELECT tl_model_load('dl4j/simple_lstm', :'simple_lstm') AS revision;
SELECT cardinality(tl_infer('dl4j/simple_lstm', '{0.5}'::real[])) AS outputs;
\else
\echo NOTICE: shared data absent (set TL_DATA_DIR or put ../shared/data beside the repo): conformance skipped
\endif
