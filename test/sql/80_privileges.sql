-- Privileges: what an ordinary role granted usage can do, and row-level
-- security on runs and results (doc/security.md).
\getenv fixtures TL_FIXTURES
-- the model travels as bytes, read by psql: no server file access needed
\set emb_hex `od -An -v -tx1 :'fixtures'/layers/embedding_conv1d_gmp.h5 | tr -d ' \n'`
-- samples of the toy token model (8 token ids below 20), as a query
\set samples 'SELECT i, ARRAY[i % 20, (i * 7) % 20, (i * 3) % 20, (i * 11) % 20, (i * 5) % 20, (i * 13) % 20, (i * 17) % 20, (i * 19) % 20], i % 2 FROM generate_series(1, 120) i'

-- two analysts in a team; a role without usage can use none of the tables
CREATE ROLE tl_alice;
CREATE ROLE tl_bob;
CREATE ROLE tl_team;
GRANT tl_team TO tl_alice, tl_bob;
SET ROLE tl_alice;
SELECT expect_error($$SELECT count(*) FROM tl_run$$);
SELECT expect_error($$SELECT tl_model_import('x', decode('$$ || :'emb_hex' || $$', 'hex'))$$);
-- and cannot grant itself usage
SELECT expect_error($$SELECT tl_grant_usage('tl_alice')$$);
RESET ROLE;

-- usage, granted by the owner to the team role (its members inherit it)
SELECT tl_grant_usage('tl_team');
SELECT c.relname, pg_catalog.array_to_string(c.relacl, ' ') LIKE '%tl_team=%' AS granted,
       c.relrowsecurity AS row_security
  FROM pg_class c JOIN pg_depend d ON d.objid = c.oid AND d.classid = 'pg_class'::regclass
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'tensorlens') AND d.deptype = 'e'
   AND c.relkind IN ('r', 'v', 'S')
 ORDER BY c.relname;
SELECT relname, reloptions FROM pg_class WHERE relname IN ('tl_population', 'tl_class_metrics', 'tl_run_compare')
 ORDER BY relname;

-- ---- alice: everything an analyst does ----------------------------------------
SET ROLE tl_alice;
-- import (bytes), store, inspect, run
SELECT tl_model_import('team_emb', decode(:'emb_hex', 'hex')) AS revision;
SELECT name, revision, created_by, compiled IS NOT NULL AS compiled FROM tl_model WHERE name = 'team_emb';
SELECT count(*) AS layers FROM tl_layers('team_emb');
SELECT round((tl_infer('team_emb', '{1,2,3,4,5,6,7,8}'::int[]))[1]::numeric, 6) AS y;
SELECT cardinality(tl_perception('team_emb', '{1,2,3,4,5,6,7,8}'::int[])) AS perception_width;
-- the model store is append-only for the role: no rewriting who imported what
SELECT expect_error($$UPDATE tl_model SET created_by = 'postgres' WHERE name = 'team_emb'$$);
SELECT expect_error($$DELETE FROM tl_model WHERE name = 'team_emb'$$);
SELECT expect_error($$INSERT INTO tl_model (name, revision, format, keras_version, data, config, input_shape, output_shape, created_by)
                      SELECT 'spoof', 1, format, keras_version, data, config, input_shape, output_shape, 'postgres'
                        FROM tl_model WHERE name = 'team_emb'$$);
-- reading a server file still needs pg_read_server_files
SELECT replace(expect_error($$SELECT tl_model_load('x', '$$ || :'fixtures' || $$/tiny_dense.h5')$$),
               :'fixtures', '$FIXTURES') AS error;
-- a vocabulary
SELECT tl_vocab_import('team_toy', '{"the": 1, "movie": 2, "was": 3, "great": 4, "bad": 5}') AS words;
SELECT tl_tokenize('team_toy', 'The movie was great', 8) AS ids, tl_detokenize('team_toy', '{1,4,5,6,7}') AS words;
-- a run evaluated in one call, analysed at once
SELECT tl_evaluate('team_emb', :'samples', 'alice data', NULL, 1, 'binary_crossentropy', '{no,yes}') AS alice_run \gset
SELECT status, created_by, (SELECT count(*) FROM tl_result WHERE run = :alice_run) AS results,
       (SELECT count(x) FROM tl_result WHERE run = :alice_run) AS placed
  FROM tl_run WHERE id = :alice_run;
-- a pipeline's epoch, analysed at commit: perception vectors from the run's query
BEGIN;
INSERT INTO tl_run (model, dataset, epoch, input_query)
VALUES ('team_emb', 'alice data', 2,
        'SELECT i, ARRAY[i % 20, (i * 7) % 20, (i * 3) % 20, (i * 11) % 20, 1, 2, 3, 4] FROM generate_series(1, 60) i')
RETURNING id AS alice_pipe \gset
INSERT INTO tl_result (run, sample_id, label, output)
SELECT :alice_pipe, i, i % 2, tl_infer('team_emb', ARRAY[i % 20, (i * 7) % 20, (i * 3) % 20, (i * 11) % 20, 1, 2, 3, 4])
  FROM generate_series(1, 60) i;
COMMIT;
SELECT status, analysis_error, (SELECT count(perception) FROM tl_result WHERE run = :alice_pipe) AS perceived,
       (SELECT count(x) FROM tl_result WHERE run = :alice_pipe) AS placed
  FROM tl_run WHERE id = :alice_pipe;
-- mislabel search, failure clusters, PCA, saliency, the report, the views
SELECT count(*) AS ranked, min(rank) AS first FROM tl_label_issues(:alice_run);
SELECT count(*) AS clusters, sum(size) AS samples FROM tl_failure_clusters(:alice_run, 3);
SELECT tl_pca_n(tl_pca_fit(perception, 2)) AS fitted FROM tl_result WHERE run = :alice_run;
SELECT count(*) AS positions, count(*) FILTER (WHERE score <> 0) AS scored
  FROM tl_token_saliency('team_emb', '{1,2,3,4,5,6,7,8}', 1);
SELECT length(tl_html_report(:alice_run, 'SELECT i, ''sample '' || i FROM generate_series(1, 120) i', 'team_toy', 3)) > 20000
       AS report;
SELECT count(*) AS dots, count(x) AS placed FROM tl_population WHERE run = :alice_run;
SELECT count(*) AS classes FROM tl_class_metrics WHERE run = :alice_run;
SELECT count(*) AS pairs FROM tl_run_compare WHERE run_a = :alice_run AND run_b = :alice_pipe;
SELECT count(*) AS failures FROM tl_failures(:alice_run);
-- a run for the whole team: created by a role whose privileges alice has
INSERT INTO tl_run (model, dataset, created_by) VALUES ('team_emb', 'team data', 'tl_team') RETURNING id AS team_run \gset
INSERT INTO tl_result (run, sample_id, label, output, perception)
SELECT :team_run, i, i % 2, ARRAY[0.5 + 0.4 * sin(i)]::real[], ARRAY[sin(i), cos(i), sin(2 * i)]::real[]
  FROM generate_series(1, 40) i;
SELECT status, count(x) AS placed FROM tl_run JOIN tl_result ON run = id WHERE id = :team_run GROUP BY status;
-- but not one in bob's name
SELECT expect_error($$INSERT INTO tl_run (model, dataset, created_by) VALUES ('team_emb', 'forged', 'tl_bob')$$);
RESET ROLE;

-- ---- bob: his own runs; alice's are invisible ----------------------------------
SET ROLE tl_bob;
SELECT tl_evaluate('team_emb', :'samples', 'bob data', NULL, 1, 'binary_crossentropy') AS bob_run \gset
BEGIN;
INSERT INTO tl_run (model, dataset, epoch) VALUES ('team_emb', 'bob pipeline', 1) RETURNING id AS bob_pipe \gset
INSERT INTO tl_result (run, sample_id, label, output, perception)
SELECT :bob_pipe, i, i % 2, ARRAY[0.5 + 0.4 * cos(i)]::real[], ARRAY[cos(i), sin(3 * i), 1]::real[]
  FROM generate_series(1, 50) i;
COMMIT;
-- bob's runs, and the team's
SELECT dataset, created_by, status FROM tl_run ORDER BY id;
SELECT count(*) AS results FROM tl_result;
SELECT count(*) AS bob_results FROM tl_result WHERE run IN (:bob_run, :bob_pipe);
SELECT count(*) AS alice_results FROM tl_result WHERE run IN (:alice_run, :alice_pipe);
-- through the views too (security_invoker)
SELECT count(DISTINCT run) AS runs, count(*) AS dots FROM tl_population;
SELECT count(*) AS alice_dots FROM tl_population WHERE run = :alice_run;
SELECT count(*) AS alice_metrics FROM tl_class_metrics WHERE run = :alice_run;
SELECT count(*) AS alice_pairs FROM tl_run_compare WHERE run_a = :alice_run OR run_b = :alice_run;
-- the functions that read a run do so with bob's rights
SELECT expect_error(format('SELECT * FROM tl_failures(%s)', :alice_run)) ~ '^42704: run \d+ does not exist$' AS failures_hidden;
SELECT expect_error(format('SELECT * FROM tl_label_issues(%s)', :alice_run)) ~ '^42704: run \d+ does not exist$' AS label_issues_hidden;
SELECT expect_error(format('SELECT * FROM tl_failure_clusters(%s, 2)', :alice_run)) ~ '^42704: run \d+ does not exist$' AS clusters_hidden;
SELECT expect_error(format('SELECT tl_html_report(%s)', :alice_run)) ~ '^42704: run \d+ does not exist$' AS report_hidden;
SELECT expect_error(format('SELECT tl_analyze(%s)', :alice_run)) ~ '^42704: run \d+ does not exist$' AS analyze_hidden;
SELECT expect_error(format('SELECT tl_procrustes_align(%s, %s)', :alice_run, :bob_run)) ~ '^42704: run \d+ does not exist$' AS align_hidden;
SELECT expect_error(format('SELECT tl_procrustes_align(%s, %s)', :bob_run, :alice_run)) ~ '^42704: run \d+ does not exist$' AS align_onto_hidden;
-- and nothing of alice's can be changed or added to
UPDATE tl_run SET dataset = 'stolen' WHERE id = :alice_run;
DELETE FROM tl_result WHERE run = :alice_run;
DELETE FROM tl_run WHERE id = :alice_run;
SELECT regexp_replace(expect_error(format($$INSERT INTO tl_result (run, sample_id) VALUES (%s, 'planted')$$, :alice_run)),
                      '"tl_result"', 'tl_result') AS planted;
-- his own run works all the way
SELECT count(*) AS ranked FROM tl_label_issues(:bob_run);
SELECT count(*) AS clusters FROM tl_failure_clusters(:bob_pipe, 2);
SELECT status, (SELECT count(x) FROM tl_result WHERE run = :bob_pipe) AS placed FROM tl_run WHERE id = :bob_pipe;
SELECT length(tl_html_report(:bob_run, NULL, 'team_toy', 2)) > 20000 AS report;
-- the team's run is his too
SELECT count(*) AS team_results FROM tl_result WHERE run = :team_run;
RESET ROLE;

-- ---- the owner (a superuser here) sees every run; alice's are intact ------------
SELECT dataset, created_by, status, (SELECT count(*) FROM tl_result WHERE run = r.id) AS results
  FROM tl_run r WHERE created_by IN ('tl_alice', 'tl_bob', 'tl_team') ORDER BY id;
-- when the owner analyses alice's run, her query runs as alice (never as the
-- owner): a query that returns rows only for alice places every sample
UPDATE tl_run SET input_query = 'SELECT i, ARRAY[i % 20, (i * 7) % 20, (i * 3) % 20, (i * 11) % 20, 1, 2, 3, 4] '
                                'FROM generate_series(1, 60) i WHERE current_user = ''tl_alice'''
 WHERE id = :alice_pipe;
UPDATE tl_result SET perception = NULL WHERE run = :alice_pipe;
SELECT tl_analyze(:alice_pipe) AS placed, current_user AS still;
SELECT count(perception) AS perceived FROM tl_result WHERE run = :alice_pipe;
-- and so does a preview query of the report
SELECT position('as tl_alice' IN tl_html_report(:alice_pipe, 'SELECT i, ''as '' || current_user FROM generate_series(1, 60) i', NULL, 0)) > 0
       AS preview_as_alice, current_user AS still;

-- revoking usage takes the tables away again; the runs stay
SELECT tl_revoke_usage('tl_team');
SET ROLE tl_alice;
SELECT expect_error($$SELECT count(*) FROM tl_run$$);
SELECT expect_error($$SELECT count(*) FROM tl_population$$);
RESET ROLE;
SELECT count(*) AS runs_kept FROM tl_run WHERE created_by IN ('tl_alice', 'tl_bob', 'tl_team');
-- a run whose creator is dropped is hidden from everyone but the owner
SELECT tl_grant_usage('tl_bob');
DROP ROLE tl_alice;
SET ROLE tl_bob;
SELECT count(*) AS visible_runs FROM tl_run;
RESET ROLE;
SELECT tl_revoke_usage('tl_bob');
DROP ROLE tl_bob;
DROP ROLE tl_team;
