-- The model store: import, revisions, layers, cache freshness, privileges.
CREATE EXTENSION tensorlens;
\getenv fixtures TL_FIXTURES
-- errors are shown as "SQLSTATE: message" so each test states its code
CREATE FUNCTION expect_error(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

SELECT tl_model_load('tiny', :'fixtures' || '/tiny_dense.h5') AS revision;
SELECT * FROM tl_layers('tiny');
SELECT name, revision, format, keras_version, input_shape, output_shape,
       octet_length(sha256) AS sha_bytes, config->>'class_name' AS class
  FROM tl_model;
-- hand-derived: sigmoid([1,0,-1]·W1 + b1 · W2 + b2) = sigmoid(1) = 0.7310586
SELECT round((tl_infer('tiny', '{1,0,-1}'::real[]))[1]::numeric, 6) AS y;

-- a second import is revision 2; "name" means the newest, "name@1" the first
SELECT tl_model_load('tiny', :'fixtures' || '/tiny_dense_v2.h5') AS revision;
SELECT round((tl_infer('tiny', '{1,0,-1}'::real[]))[1]::numeric, 6) AS newest,
       round((tl_infer('tiny@1', '{1,0,-1}'::real[]))[1]::numeric, 6) AS first,
       round((tl_infer('tiny@2', '{1,0,-1}'::real[]))[1]::numeric, 6) AS second;

-- never stale: delete every revision and import other bytes as revision 1
-- again, in the same session; the cache is keyed by the bytes' sha256
DELETE FROM tl_model WHERE name = 'tiny';
SELECT tl_model_load('tiny', :'fixtures' || '/tiny_dense_v2.h5') AS revision;
SELECT round((tl_infer('tiny', '{1,0,-1}'::real[]))[1]::numeric, 6) AS y_v2;
DELETE FROM tl_model WHERE name = 'tiny';
SELECT tl_model_import('tiny', pg_read_binary_file(:'fixtures' || '/tiny_dense.h5')) AS revision;
SELECT round((tl_infer('tiny', '{1,0,-1}'::real[]))[1]::numeric, 6) AS y_v1;

-- the model is stored compiled too (parsed once, at import); backends load
-- that form while it was made from the very bytes stored (compiled_for)
SELECT name, compiled IS NOT NULL AS compiled, compiled_for = sha256 AS fresh FROM tl_model ORDER BY name;
SELECT tl_model_cache_clear() >= 1 AS dropped;
SELECT round((tl_infer('tiny', '{1,0,-1}'::real[]))[1]::numeric, 6) AS from_compiled;
SELECT name, revision FROM tl_model_cache();
-- a compiled form that does not read is ignored: the file is parsed again
UPDATE tl_model SET compiled = '\x544c4d31deadbeef' WHERE name = 'tiny';
SELECT tl_model_cache_clear() AS dropped;
SELECT round((tl_infer('tiny', '{1,0,-1}'::real[]))[1]::numeric, 6) AS from_file;
-- as is one made from other bytes
UPDATE tl_model SET compiled = (SELECT compiled FROM tl_model WHERE name = 'tiny' AND false), compiled_for = '\x00' WHERE name = 'tiny';
SELECT tl_model_cache_clear() AS dropped;
SELECT round((tl_infer('tiny', '{1,0,-1}'::real[]))[1]::numeric, 6) AS from_file_again;

-- inspect without storing
SELECT format, keras_version, input_shape, output_shape, training_config IS NULL AS no_training
  FROM tl_model_inspect(pg_read_binary_file(:'fixtures' || '/tiny_dense.h5'));

-- Keras 3 files: a legacy .h5 written by Keras 3 and a .keras zip
SELECT tl_model_load('k3_h5', :'fixtures' || '/layers/keras3_legacy_sequential.h5') AS rev,
       tl_model_load('k3_zip', :'fixtures' || '/layers/keras3_zip_functional.keras') AS rev_zip;
SELECT name, format, keras_version >= '3' AS keras3 FROM tl_model WHERE name LIKE 'k3%' ORDER BY name;
SELECT * FROM tl_layers('k3_zip');

-- names: no "@", not empty; NULLs refused
SELECT expect_error($$SELECT tl_model_import('a@b', pg_read_binary_file('$$ || :'fixtures' || $$/tiny_dense.h5'))$$);
SELECT expect_error($$SELECT tl_model_import('', '\x00'::bytea)$$);
SELECT expect_error($$SELECT tl_model_import(NULL, '\x00'::bytea)$$);
SELECT expect_error($$SELECT * FROM tl_layers('tiny@9')$$);
SELECT expect_error($$SELECT * FROM tl_layers('nonexistent')$$);

-- pg_dump keeps the models with the user's data
SELECT extconfig::regclass[] FROM pg_extension WHERE extname = 'tensorlens';

-- reading a server file needs pg_read_server_files (or superuser)
CREATE ROLE tl_analyst;
GRANT SELECT, INSERT ON tl_model TO tl_analyst;
SET ROLE tl_analyst;
SELECT replace(expect_error($$SELECT tl_model_load('x', '$$ || :'fixtures' || $$/tiny_dense.h5')$$),
               :'fixtures', '$FIXTURES') AS error;
-- sending the bytes needs no file privilege, and inference works for the role
SELECT round((tl_infer('tiny', '{1,0,-1}'::real[]))[1]::numeric, 6) AS y_as_analyst;
RESET ROLE;
GRANT pg_read_server_files TO tl_analyst;
SET ROLE tl_analyst;
SELECT tl_model_load('tiny_by_analyst', :'fixtures' || '/tiny_dense.h5') AS revision;
RESET ROLE;
SELECT name, revision, created_by FROM tl_model WHERE name = 'tiny_by_analyst';
