-- Upgrades: version 0.1.0 (the frozen install script of the first release)
-- with data, ALTER EXTENSION ... UPDATE to 0.2.0 (the frozen upgrade
-- script), the data still there and working, then to 0.3.0; the upgraded
-- catalog the same as a fresh 0.3.0 install, and so is that of a fresh
-- 0.2.0 install upgraded.
\getenv fixtures TL_FIXTURES
\set emb_hex `od -An -v -tx1 :'fixtures'/layers/embedding_conv1d_gmp.h5 | tr -d ' \n'`
\set tiny_hex `od -An -v -tx1 :'fixtures'/tiny_dense.h5 | tr -d ' \n'`
\set tiny2 :fixtures /tiny_dense_v2.h5
SELECT current_database() AS regress_db \gset
SELECT name, default_version FROM pg_available_extensions WHERE name = 'tensorlens';
SELECT version, installed, superuser, relocatable, requires FROM pg_available_extension_versions
 WHERE name = 'tensorlens' ORDER BY version;
SELECT * FROM pg_extension_update_paths('tensorlens') WHERE path IS NOT NULL ORDER BY source, target;
CREATE DATABASE tl_upgrade_old;
CREATE DATABASE tl_upgrade_fresh;
CREATE DATABASE tl_upgrade_020;

-- ---- 0.1.0, with the current library ------------------------------------------
\c tl_upgrade_old
CREATE EXTENSION tensorlens VERSION '0.1.0';
SELECT extversion, extconfig::regclass[] FROM pg_extension WHERE extname = 'tensorlens';
SELECT to_regclass('tl_run') IS NULL AS no_runs_in_0_1_0, to_regproc('tl_evaluate') IS NULL AS no_evaluate_in_0_1_0;
-- every 0.1.0 function works with this library until the update runs
SELECT tl_model_import('emb', decode(:'emb_hex', 'hex')) AS emb, tl_model_import('tiny', decode(:'tiny_hex', 'hex')) AS tiny,
       tl_model_load('tiny', :'tiny2') AS tiny_2;
SELECT format, keras_version, input_shape, output_shape FROM tl_model_inspect(decode(:'tiny_hex', 'hex'));
SELECT idx, name, kind, output_shape, params FROM tl_layers('emb') ORDER BY idx;
SELECT tl_vocab_import('toy', '{"the": 1, "movie": 2, "was": 3, "great": 4}') AS words;
CREATE SCHEMA app;
CREATE TABLE app.samples AS
SELECT i AS id, ARRAY[i % 20, (i * 7) % 20, (i * 3) % 20, (i * 11) % 20, (i * 5) % 20, (i * 13) % 20, (i * 17) % 20, (i * 19) % 20] AS tokens,
       i % 2 AS label
  FROM generate_series(1, 100) i;
CREATE TABLE app.saved AS
SELECT s.id, tl_infer('emb', s.tokens) AS output, tl_perception('emb', s.tokens) AS perception,
       tl_activations('emb', s.tokens, 'conv1d') AS conv,
       tl_loss(tl_infer('emb', s.tokens), s.label, 'binary_crossentropy') AS loss,
       tl_predict_class(tl_infer('emb', s.tokens)) AS class
  FROM app.samples s;
CREATE TABLE app.saved_batch AS
SELECT b.id, b.output, b.perception FROM tl_perception_batch('emb', 'SELECT id, tokens FROM app.samples') b;
CREATE TABLE app.saved_misc AS
SELECT tl_infer('tiny@1', '{1,0,-1}'::real[]) AS tiny_1, tl_infer('tiny', '{1,0,-1}'::real[]) AS tiny_2,
       tl_tokenize('toy', 'The movie was great', 8) AS ids, tl_detokenize('toy', '{1,4,5,6,7}') AS words,
       tl_multi_hot('{1,3}', 5) AS multi_hot,
       (SELECT count(*) FROM tl_infer_batch('emb', 'SELECT id, tokens FROM app.samples')) AS batch_rows,
       (SELECT array_agg(width ORDER BY first_index) FROM tl_perception_layers('emb')) AS perception_widths;
SELECT round(tiny_1[1]::numeric, 6) AS tiny_1, round(tiny_2[1]::numeric, 6) AS tiny_2, ids, words, multi_hot, batch_rows, perception_widths
  FROM app.saved_misc;
-- (a model without a training loss is found, and says so)
SELECT tl_loss('emb', '{0.5}', 1);
-- a user's view on the model store
CREATE VIEW app.models AS SELECT name, revision, format FROM tl_model;

-- ---- the update to 0.2.0 ------------------------------------------------------
ALTER EXTENSION tensorlens UPDATE TO '0.2.0';
SELECT extversion, extconfig::regclass[] FROM pg_extension WHERE extname = 'tensorlens';
-- the models are all there; the update compiled them
SELECT name, revision, format, compiled IS NOT NULL AND compiled_for = sha256 AS compiled, created_by = current_user AS by_me
  FROM tl_model ORDER BY name, revision;
SELECT * FROM app.models ORDER BY name, revision;
SELECT count(*) AS words FROM tl_vocab WHERE vocab = 'toy';
-- and give the same results, bit for bit, loaded from the compiled form
SELECT tl_model_cache_clear() >= 0 AS cache_cleared;
SELECT count(*) AS samples, bool_and(v.output = tl_infer('emb', s.tokens)) AS same_outputs,
       bool_and(v.perception = tl_perception('emb', s.tokens)) AS same_perception,
       bool_and(v.conv = tl_activations('emb', s.tokens, 'conv1d')) AS same_activations,
       bool_and(v.loss = tl_loss(v.output, s.label, 'binary_crossentropy')) AS same_loss,
       bool_and(v.class = tl_predict_class(v.output)) AS same_class
  FROM app.saved v JOIN app.samples s USING (id);
SELECT count(*) AS batch, bool_and(v.output = b.output AND v.perception = b.perception) AS same_batch
  FROM app.saved_batch v JOIN tl_perception_batch('emb', 'SELECT id, tokens FROM app.samples') b USING (id);
SELECT tiny_1 = tl_infer('tiny@1', '{1,0,-1}'::real[]) AS same_tiny_1, tiny_2 = tl_infer('tiny', '{1,0,-1}'::real[]) AS same_tiny_2,
       ids = tl_tokenize('toy', 'The movie was great', 8) AS same_ids, words = tl_detokenize('toy', '{1,4,5,6,7}') AS same_words
  FROM app.saved_misc;
SELECT name, revision FROM tl_model_cache() ORDER BY name, revision;
-- what 0.2.0 added works on the upgraded data
SELECT tl_evaluate('emb', 'SELECT id, tokens, label FROM app.samples', 'upgraded', NULL, NULL, 'binary_crossentropy', '{no,yes}') AS run \gset
SELECT status, (SELECT count(x) FROM tl_result WHERE run = :run) AS placed FROM tl_run WHERE id = :run;
SELECT bool_and(r.output = v.output) AS same_outputs FROM tl_result r JOIN app.saved_batch v ON v.id::text = r.sample_id WHERE r.run = :run;
SELECT count(*) AS ranked FROM tl_label_issues(:run);
SELECT tl_pca_n(tl_pca_fit(perception, 2)) AS pca_rows FROM app.saved;
SELECT count(*) AS positions FROM tl_token_saliency('emb', '{1,2,3,4,5,6,7,8}', 1);
SELECT length(tl_html_report(:run, NULL, 'toy', 2)) > 20000 AS report;
SELECT relname, relrowsecurity FROM pg_class WHERE relname IN ('tl_run', 'tl_result') ORDER BY relname;

-- ---- and to 0.3.0 -------------------------------------------------------------
ALTER EXTENSION tensorlens UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'tensorlens';
-- the run and its coordinates are there; what 0.3.0 changed works on them
SELECT status, (SELECT count(x) FROM tl_result WHERE run = :run) AS placed FROM tl_run WHERE id = :run;
SELECT tl_procrustes_align(:run, :run) AS aligned;
SELECT tl_analyze(:run) AS placed_again;
-- the test's own objects go (only the extension's are compared below)
SET client_min_messages = warning;
DROP SCHEMA app CASCADE;
RESET client_min_messages;

-- ---- the upgraded catalog is the one a fresh install makes ---------------------
\c tl_upgrade_fresh
CREATE EXTENSION tensorlens;
SELECT extversion, extconfig::regclass[] FROM pg_extension WHERE extname = 'tensorlens';
\! bash test/upgrade/compare_catalogs.sh tl_upgrade_old tl_upgrade_fresh
-- a fresh 0.2.0, upgraded
\c tl_upgrade_020
CREATE EXTENSION tensorlens VERSION '0.2.0';
ALTER EXTENSION tensorlens UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'tensorlens';
\! bash test/upgrade/compare_catalogs.sh tl_upgrade_020 tl_upgrade_fresh
\c tl_upgrade_fresh
-- (and the comparison sees a difference when there is one)
ALTER TABLE tl_model ALTER COLUMN format SET STORAGE EXTERNAL;
\! bash test/upgrade/compare_catalogs.sh tl_upgrade_old tl_upgrade_fresh | head -1
\c :regress_db
DROP DATABASE tl_upgrade_old;
DROP DATABASE tl_upgrade_fresh;
DROP DATABASE tl_upgrade_020;
