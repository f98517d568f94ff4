-- Every supported layer type and option against the independent numpy
-- reference (test/reference/keras_ref.py via test/fixtures/make_fixtures.py).
-- Tolerance: 1e-4, absolute or relative to |y| when |y| > 1.
\getenv fixtures TL_FIXTURES
CREATE FUNCTION max_rel_err(got real[], want real[]) RETURNS float8
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN cardinality(got) <> cardinality(want) THEN 'Infinity'::float8
                ELSE (SELECT max(abs(g - w) / greatest(1, abs(w)))
                        FROM unnest(got, want) AS t(g, w)) END
$$;
CREATE TABLE layer_cases (name text, input real[], dims int[], expected real[]);
\set layers_file :fixtures/layers.tsv
COPY layer_cases FROM :'layers_file';
SELECT count(*) AS rows, count(DISTINCT name) AS cases FROM layer_cases;

-- import each case model (.keras for the zip cases)
SELECT count(tl_model_load('case_' || name,
           format('%s/layers/%s.%s', :'fixtures', name,
                  CASE WHEN name LIKE 'keras3_zip%' THEN 'keras' ELSE 'h5' END))) AS imported
  FROM (SELECT DISTINCT name FROM layer_cases) c;

-- inputs are given with their dimensions (token ids as integers)
CREATE TABLE layer_results AS
SELECT c.name,
       max_rel_err(tl_infer('case_' || c.name,
                            CASE WHEN m.input_is_tokens
                                 THEN NULL ELSE c.input END), c.expected) AS err_float,
       max_rel_err(CASE WHEN m.input_is_tokens
                        THEN tl_infer('case_' || c.name, c.input::int[]) END, c.expected) AS err_tokens
  FROM layer_cases c
  JOIN (SELECT name, (SELECT kind FROM tl_layers('case_' || name) WHERE idx = 1) = 'Embedding' AS input_is_tokens
          FROM (SELECT DISTINCT name FROM layer_cases) d) m USING (name);
SELECT name, coalesce(max(err_float), max(err_tokens)) <= 1e-4 AS ok
  FROM layer_results GROUP BY name ORDER BY name;
SELECT count(*) FILTER (WHERE ok) AS passed, count(*) AS total FROM (
  SELECT name, coalesce(max(err_float), max(err_tokens)) <= 1e-4 AS ok
    FROM layer_results GROUP BY name) s;

-- A model with several inputs takes one flat array: its inputs' values one
-- after the other, in the order of its input_layers.  tl_layers shows the
-- packed input (tl_inputs) and where each input sits (TLInputSlice).
SELECT idx, name, kind, output_shape FROM tl_layers('case_two_inputs')
 WHERE kind IN ('InputLayer', 'TLInputSlice') ORDER BY idx;
SELECT bool_and(max_rel_err(tl_infer('case_two_inputs', c.input[1:4] || c.input[5:10]), c.expected) <= 1e-4) AS concatenated
  FROM layer_cases c WHERE c.name = 'two_inputs';
-- too few values for the two inputs
SELECT tl_infer('case_two_inputs', '{1,2,3,4,5,6}'::real[]);
