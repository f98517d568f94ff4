-- ONNX models exported by PyTorch, run through SQL against PyTorch's own
-- outputs (test/fixtures/make_onnx_fixtures.py wrote the committed .onnx
-- files and onnx.tsv with torch 1.13: seeded random weights and inputs).
-- Tolerance: 1e-4, absolute or relative to |y| when |y| > 1.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS tensorlens;
RESET client_min_messages;
\getenv fixtures TL_FIXTURES
CREATE FUNCTION onnx_err(got real[], want real[]) RETURNS float8
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN cardinality(got) <> cardinality(want) THEN 'Infinity'::float8
                ELSE (SELECT max(abs(g - w) / greatest(1, abs(w)))
                        FROM unnest(got, want) AS t(g, w)) END
$$;
CREATE FUNCTION onnx_expect_error(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

CREATE TABLE onnx_cases (name text, input real[], dims int[], expected real[]);
\set onnx_file :fixtures/onnx.tsv
COPY onnx_cases FROM :'onnx_file';
ALTER TABLE onnx_cases ADD COLUMN id serial;
SELECT count(*) AS rows, count(DISTINCT name) AS models FROM onnx_cases;

-- tl_model_import recognises ONNX by its content
SELECT name, tl_model_import('onnx_' || name,
                             pg_read_binary_file(format('%s/onnx/%s.onnx', :'fixtures', name))) AS rev
  FROM (SELECT DISTINCT name FROM onnx_cases) c ORDER BY name;
SELECT name, format, keras_version, input_shape, output_shape, config->>'class_name' AS config_class
  FROM tl_model WHERE name LIKE 'onnx\_%' ORDER BY name;

-- models that take token ids (an Embedding reads the input)
CREATE TABLE onnx_models AS
SELECT d.name, bool_or(l.kind = 'Embedding') AS tokens
  FROM (SELECT DISTINCT name FROM onnx_cases) d, tl_layers('onnx_' || d.name) l
 GROUP BY d.name;

-- one sample at a time (token ids as integers)
SELECT c.name, m.tokens,
       max(onnx_err(CASE WHEN m.tokens THEN tl_infer('onnx_' || c.name, c.input::int[])
                         ELSE tl_infer('onnx_' || c.name, c.input) END,
                    c.expected)) <= 1e-4 AS matches_torch
  FROM onnx_cases c JOIN onnx_models m USING (name)
 GROUP BY c.name, m.tokens ORDER BY c.name;

-- the dynamic batch axis: batches of 2 and of every sample at once
SELECT c.name, count(*) AS samples,
       max(onnx_err(b.output, c.expected)) <= 1e-4 AS batch_of_2,
       max(onnx_err(a.output, c.expected)) <= 1e-4 AS one_batch
  FROM onnx_cases c JOIN onnx_models m USING (name)
  JOIN LATERAL (SELECT * FROM tl_infer_batch('onnx_' || c.name,
         format('SELECT id, input%s FROM onnx_cases WHERE name = %L',
                CASE WHEN m.tokens THEN '::int[]' ELSE '' END, c.name), 2)) b
    ON b.id = c.id::text
  JOIN LATERAL (SELECT * FROM tl_infer_batch('onnx_' || c.name,
         format('SELECT id, input%s FROM onnx_cases WHERE name = %L',
                CASE WHEN m.tokens THEN '::int[]' ELSE '' END, c.name))) a
    ON a.id = c.id::text
 GROUP BY c.name ORDER BY c.name;

-- NCHW inputs are given shaped like the ONNX input without its batch axis
SELECT tl_infer('onnx_cnn', array_fill(0.25::real, ARRAY[3, 12, 12])) =
       tl_infer('onnx_cnn', array_fill(0.25::real, ARRAY[432])) AS nchw_equals_flat,
       tl_infer('onnx_cnn', array_fill(0.25::real, ARRAY[1, 3, 12, 12])) =
       tl_infer('onnx_cnn', array_fill(0.25::real, ARRAY[432])) AS leading_one_ignored;
SELECT onnx_expect_error($$SELECT tl_infer('onnx_cnn', array_fill(0.25::real, ARRAY[12, 12, 3]))$$);

-- how the image CNN was mapped: NCHW converted to channels last once, at the input
SELECT idx, name, kind, output_shape, params FROM tl_layers('onnx_cnn') ORDER BY idx;

-- a token model takes one sequence: a 2-D array of ids is refused, not flattened
SELECT onnx_expect_error($$SELECT tl_infer('onnx_textcnn', array_fill(1, ARRAY[10, 10]))$$);
SELECT tl_infer('onnx_textcnn', array_fill(1, ARRAY[1, 20])) =
       tl_infer('onnx_textcnn', array_fill(1, ARRAY[20])) AS one_row_is_one_sequence;

-- perception vectors: one L2-normalised block per learned layer
SELECT c.name, cardinality(p) > 0 AS has_values,
       abs(sum(v * v) - (SELECT count(*) FROM tl_perception_layers('onnx_' || c.name))) < 1e-3 AS unit_blocks
  FROM (SELECT DISTINCT ON (name) name, input FROM onnx_cases
         WHERE name IN ('cnn', 'resnet', 'mlp', 'conv1d_signal', 'gru_signal', 'transformer_float')
         ORDER BY name, id) c,
       LATERAL tl_perception('onnx_' || c.name, c.input) p, unnest(p) v
 GROUP BY c.name, p ORDER BY c.name;
SELECT c.name, cardinality(tl_perception('onnx_' || c.name, c.input::int[])) > 0 AS token_perception
  FROM (SELECT DISTINCT ON (name) name, input FROM onnx_cases JOIN onnx_models USING (name)
         WHERE tokens ORDER BY name, id) c ORDER BY c.name;

-- grad_input saliency of the text CNN against torch autograd (class 1's logit)
CREATE TABLE onnx_grad (name text, input int[], expected real[]);
\set grad_file :fixtures/onnx_grad.tsv
COPY onnx_grad FROM :'grad_file';
SELECT count(*) AS reviews, min(c.r) >= 0.999 AS pearson_r_over_0_999,
       max(c.rel_err) <= 1e-3 AS max_rel_err_under_1e_3
  FROM onnx_grad g CROSS JOIN LATERAL (
         SELECT corr(s.score, e.v) AS r, max(abs(s.score - e.v)) / max(abs(e.v)) AS rel_err
           FROM tl_token_saliency('onnx_textcnn', g.input, 1, 'grad_input') s
           JOIN unnest(g.expected) WITH ORDINALITY e(v, pos) USING (pos)) c;

-- hostile and unsupported files: clean errors, nothing stored
SELECT f, onnx_expect_error(format('SELECT tl_model_import(%L, pg_read_binary_file(%L))',
                                   'bad_' || f, :'fixtures' || '/onnx/bad/' || f || '.onnx'))
  FROM unnest(ARRAY['truncated', 'cyclic', 'huge_dims', 'huge_input', 'short_data',
                    'external_data', 'unsupported_op', 'custom_domain', 'two_inputs', 'deep_nesting']) f;
SELECT count(*) AS stored FROM tl_model WHERE name LIKE 'bad\_%';
-- a few bytes that start like a ModelProto but are not one
SELECT onnx_expect_error($$SELECT tl_model_import('bad_bytes', '\x0807120474657374'::bytea)$$);
