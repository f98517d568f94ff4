-- Bad input: every case is an ERROR with a SQLSTATE, never a crash.
\getenv fixtures TL_FIXTURES
CREATE FUNCTION load_bad(f text) RETURNS text LANGUAGE sql AS $$
    SELECT expect_error(format('SELECT tl_model_import(%L, pg_read_binary_file(%L))',
                               'bad', current_setting('tl.fixtures') || '/bad/' || f))
$$;
SELECT set_config('tl.fixtures', :'fixtures', false) IS NOT NULL AS ok;

-- model files
SELECT f, load_bad(f) FROM unnest(ARRAY[
    'empty.h5', 'random.bin', 'truncated.h5', 'not_keras.h5', 'bad_json.h5',
    'missing_weight.h5', 'wrong_shape.h5', 'int_weights.h5', 'string_weights.h5',
    'unsupported_layer.h5', 'zip_no_config.keras']) AS f;
SELECT expect_error($$SELECT tl_model_import('bad', '\xdeadbeef'::bytea)$$);
SELECT expect_error($$SELECT tl_model_import('bad', 'PK\003\004 not really a zip'::bytea)$$);
SELECT count(*) AS nothing_stored FROM tl_model WHERE name = 'bad';

-- unknown models and revisions
SELECT expect_error($$SELECT tl_infer('no_such_model', '{1}'::real[])$$);
SELECT expect_error($$SELECT tl_infer('tiny@77', '{1,0,-1}'::real[])$$);

-- inputs that do not fit the model
SELECT expect_error($$SELECT tl_infer('tiny', '{1,2}'::real[])$$);
SELECT expect_error($$SELECT tl_infer('tiny', '{{1,2},{3,4}}'::real[])$$);
SELECT expect_error($$SELECT tl_infer('tiny', '{}'::real[])$$);
SELECT expect_error($$SELECT tl_infer('tiny', '{1,NULL,3}'::real[])$$);
SELECT expect_error($$SELECT tl_infer('tiny', '{1,NaN,3}'::real[])$$);
SELECT expect_error($$SELECT tl_infer('tiny', '{1,Infinity,3}'::float8[])$$);
SELECT expect_error($$SELECT tl_infer('tiny', '{1,1e300,3}'::float8[])$$);
SELECT expect_error($$SELECT tl_infer('tiny', '{1,2,3}'::int[])$$);
SELECT expect_error($$SELECT tl_infer('tiny', '{a,b,c}'::text[])$$);

-- token models: ids must be integers inside the Embedding's range
SELECT tl_model_load('emb', :'fixtures' || '/layers/embedding_conv1d_gmp.h5') AS revision;
SELECT output_shape FROM tl_layers('emb') WHERE kind = 'Embedding';
SELECT expect_error($$SELECT tl_infer('emb', '{1,2,-3,4}'::int[])$$);
SELECT expect_error($$SELECT tl_infer('emb', '{1,2,300000,4}'::bigint[])$$);
SELECT expect_error($$SELECT tl_infer('emb', '{1.5,2}'::real[])$$);
SELECT expect_error($$SELECT tl_infer('emb', '{}'::int[])$$);
SELECT expect_error($$SELECT tl_infer('emb', '{1,NULL}'::int[])$$);

-- the batched form: bad queries and bad rows
SELECT expect_error($$SELECT * FROM tl_infer_batch('tiny', 'SELEC nonsense')$$);
SELECT expect_error($$SELECT * FROM tl_infer_batch('tiny', 'SELECT 1')$$);
SELECT expect_error($$SELECT * FROM tl_infer_batch('tiny', 'SELECT 1, ''x''::text')$$);
SELECT expect_error($$SELECT * FROM tl_infer_batch('tiny', 'SELECT 1, ''{1,2}''::real[]')$$);
SELECT expect_error($$SELECT * FROM tl_infer_batch('tiny', 'SELECT 1, NULL::real[]')$$);
SELECT expect_error($$SELECT * FROM tl_infer_batch('tiny', 'INSERT INTO samples VALUES (0, NULL)')$$);
SELECT expect_error($$SELECT * FROM tl_infer_batch('tiny', 'SELECT id, x FROM samples', -1)$$);
SELECT expect_error($$SELECT * FROM tl_infer_batch(NULL, 'SELECT id, x FROM samples')$$);
SELECT expect_error($$SELECT tl_multi_hot('{1,7}', 5)$$);
SELECT expect_error($$SELECT tl_multi_hot('{1,2}', 0)$$);

-- batch memory limit: one sample larger than the limit is refused
SET tensorlens.max_batch_memory = '1MB';
SELECT tl_model_load('big_act', :'fixtures' || '/layers/conv2d_same_s2.h5') AS revision;
SELECT expect_error($$SELECT tl_infer('big_act', array_fill(0.5::real, ARRAY[(SELECT output_shape[1] FROM tl_layers('big_act') WHERE idx = 0) * 4000]))$$) IS NOT NULL AS checked;
RESET tensorlens.max_batch_memory;
-- model size limit (superuser setting)
SET tensorlens.max_model_size = '1MB';
SELECT expect_error($$SELECT tl_model_import('big', '\x00'::bytea || decode(repeat('00', 2 * 1024 * 1024), 'hex'))$$);
RESET tensorlens.max_model_size;

-- the server is still the same process: nothing above crashed a backend
SELECT count(*) > 0 AS alive FROM pg_stat_activity WHERE pid = pg_backend_pid();
