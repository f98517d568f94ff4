-- Settings that bound what a backend takes of the server are a superuser's:
-- an ordinary role (with usage) cannot raise them, or set them at all; the
-- ones that change results are its own (README: settings).
CREATE ROLE st_user LOGIN;
SELECT tl_grant_usage('st_user');
-- a new session of the user: a value SET before the library is loaded is a
-- placeholder, dropped (with a warning) when the library defines the setting
\c - st_user
SET tensorlens.max_batch_memory = '4GB';
SELECT tl_predict_class('{0.7}') AS loads_the_library;
SHOW tensorlens.max_batch_memory;
-- once loaded, SET and set_config are refused
SELECT name, expect_error(format('SET %s = %L', name, value)) AS set_by_user,
       expect_error(format('SELECT set_config(%L, %L, false)', name, value)) AS set_config_by_user
  FROM (VALUES ('tensorlens.max_model_size', '16GB'), ('tensorlens.max_batch_memory', '4GB'),
               ('tensorlens.model_cache_size', '64GB'), ('tensorlens.fusion_max_memory', '16GB'),
               ('tensorlens.max_input_length', '268435456'), ('tensorlens.blas_threads', '64'),
               ('tensorlens.model_parse_timeout', '1h')) s(name, value)
 ORDER BY name;
-- results, not costs: the user's
SET tensorlens.fusion = off;
SET tensorlens.perception_max_width = 64;
SELECT current_setting('tensorlens.fusion') AS fusion, current_setting('tensorlens.perception_max_width') AS width;
RESET tensorlens.fusion;
RESET tensorlens.perception_max_width;
\c - postgres
-- who may set each, from the catalog (once the library is loaded)
SELECT tl_predict_class('{0.7}') AS loads_the_library;
SELECT name, context FROM pg_settings WHERE name LIKE 'tensorlens.%' ORDER BY name;
-- a superuser sets them, also for a role
SET tensorlens.max_batch_memory = '128MB';
SHOW tensorlens.max_batch_memory;
RESET tensorlens.max_batch_memory;
ALTER ROLE st_user SET tensorlens.max_batch_memory = '16MB';
SELECT setconfig FROM pg_db_role_setting WHERE setrole = 'st_user'::regrole;
ALTER ROLE st_user RESET ALL;
SELECT tl_revoke_usage('st_user');
DROP ROLE st_user;
