-- Hostile and malformed input (test/fixtures/make_hostile.py writes the
-- files): every case is an ERROR with a SQLSTATE, and none of them takes a
-- backend down — this session's backend and the postmaster are the same
-- processes at the end.
\getenv fixtures TL_FIXTURES
SELECT pg_backend_pid() AS backend0, pg_postmaster_start_time() AS postmaster0 \gset
SELECT set_config('tl.fixtures', :'fixtures', false) IS NOT NULL AS ok;
CREATE FUNCTION load_hostile(f text) RETURNS text LANGUAGE sql AS $$
    SELECT expect_error(format('SELECT tl_model_import(%L, pg_read_binary_file(%L))',
                               'hostile', current_setting('tl.fixtures') || '/hostile/' || f))
$$;

-- model files: damaged superblocks, truncations, bit flips, lying configs
-- and weights, deep JSON, zip bombs and broken archives, fuzzer finds
SELECT f AS file, load_hostile(f) AS error
  FROM pg_ls_dir(:'fixtures' || '/hostile') AS f ORDER BY f;
-- the 64 MB zip bomb again, under a model size limit it exceeds
SET tensorlens.max_model_size = '16MB';
SELECT load_hostile('zip_bomb_64mb.keras');
RESET tensorlens.max_model_size;
SELECT count(*) AS nothing_stored FROM tl_model WHERE name = 'hostile';

-- arguments
SELECT tl_model_load('h_tiny', :'fixtures' || '/tiny_dense.h5') AS revision;
SELECT tl_model_load('h_emb', :'fixtures' || '/layers/embedding_conv1d_gmp.h5') AS revision;
SELECT expect_error($$SELECT tl_infer('h_emb', array_fill(1, ARRAY[5000000]))$$);
SELECT expect_error($$SELECT tl_infer('h_tiny', array_fill(1::real, ARRAY[5000000]))$$);
SELECT expect_error($$SELECT * FROM tl_infer_batch('h_tiny', 'SELECT 1, array_fill(1::real, ARRAY[5000000])')$$);
SET tensorlens.max_input_length = 2;
SELECT expect_error($$SELECT tl_infer('h_tiny', '{1,0,-1}'::real[])$$);
RESET tensorlens.max_input_length;
SELECT expect_error($$SELECT tl_infer('h_emb', ARRAY[9223372036854775807]::bigint[])$$);
SELECT expect_error($$SELECT tl_infer('h_emb', ARRAY[-9223372036854775808]::bigint[])$$);
SELECT expect_error($$SELECT tl_infer('h_tiny', '{{{{{{{1}}}}}}}'::real[])$$);
SELECT expect_error($$SELECT tl_multi_hot('{1}', 100000000)$$);
SELECT expect_error($$SELECT tl_multi_hot('{1}', 2147483647)$$);
SELECT expect_error($$SELECT tl_multi_hot('{1}', -2147483648)$$);
SELECT expect_error($$SELECT * FROM tl_infer_batch('h_tiny', 'SELECT 1, ''{1,0,-1}''::real[]', 2147483647)$$);
SELECT expect_error($$SELECT * FROM tl_infer_batch('h_tiny', 'SELECT 1, ''{1,0,-1}''::real[]', -2147483648)$$);
SELECT left(expect_error($$SELECT tl_infer(repeat('x', 1000000), '{1}'::real[])$$), 40) AS error;
SELECT expect_error($$SELECT tl_infer('h_tiny@99999999999', '{1,0,-1}'::real[])$$);
SELECT expect_error($$SELECT tl_infer('h_tiny@2147483647', '{1,0,-1}'::real[])$$);
SELECT left(expect_error($$SELECT tl_model_import(repeat('n', 201), '\x00'::bytea)$$), 40) AS error;
SELECT expect_error($$SELECT tl_read_model_file('/dev/zero')$$);
SELECT expect_error($$SELECT tl_model_load('hostile', '/proc/self/status')$$);
SELECT expect_error($$SET tensorlens.max_input_length = 0$$);
SELECT expect_error($$SET tensorlens.model_parse_timeout = -1$$);
SELECT expect_error($$SET tensorlens.max_model_size = '100TB'$$);

-- still the same backend and postmaster: nothing above crashed
SELECT pg_backend_pid() = :backend0 AS same_backend,
       pg_postmaster_start_time() = :'postmaster0' AS same_postmaster;
