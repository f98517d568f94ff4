-- Read grants (sql/parts/80_privileges.sql): a read-only role for BI tools
-- reads the runs of the roles it was granted to read, changes nothing, and
-- only the owner or whoever has of_role's privileges may share them.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS tensorlens;
RESET client_min_messages;
\getenv fixtures TL_FIXTURES
\set emb_hex `od -An -v -tx1 :'fixtures'/layers/embedding_conv1d_gmp.h5 | tr -d ' \n'`
CREATE FUNCTION rg_error(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
GRANT EXECUTE ON FUNCTION rg_error(text) TO PUBLIC;
SELECT tl_model_import('rg_emb', decode(:'emb_hex', 'hex')) AS revision;
\set samples 'SELECT i, ARRAY[i % 20, (i * 7) % 20, (i * 3) % 20, (i * 11) % 20, (i * 5) % 20, (i * 13) % 20, (i * 17) % 20, (i * 19) % 20], i % 2 FROM generate_series(1, 40) i'

CREATE ROLE rg_pipeline;
CREATE ROLE rg_other;
CREATE ROLE rg_bi;
SELECT tl_grant_usage('rg_pipeline');
SELECT tl_grant_usage('rg_other');
-- a run of each: the pipeline's and another team's
SET ROLE rg_pipeline;
SELECT tl_evaluate('rg_emb', :'samples', 'rg pipeline data', loss => 'binary_crossentropy') AS pipeline_run \gset
-- sample i + 20 repeats sample i: the creator finds these pairs in input
-- space (19: samples 20 and 40 are all padding)
SELECT count(*) FILTER (WHERE method <> 'perception' AND (sample_id::int - duplicate_id::int) % 20 = 0) AS repeats_from_inputs
  FROM tl_near_duplicates(:pipeline_run);
RESET ROLE;
SET ROLE rg_other;
SELECT tl_evaluate('rg_emb', :'samples', 'rg other data', loss => 'binary_crossentropy') AS other_run \gset
RESET ROLE;

-- before any grant the BI role reads nothing (no privilege), and may not grant itself
SET ROLE rg_bi;
SELECT rg_error('SELECT count(*) FROM tl_run');
SELECT rg_error($$SELECT tl_grant_read('rg_bi', 'rg_pipeline')$$);
RESET ROLE;
-- nor may another team share the pipeline's runs
SET ROLE rg_other;
SELECT rg_error($$SELECT tl_grant_read('rg_bi', 'rg_pipeline')$$);
SELECT rg_error($$INSERT INTO tl_read_grant (reader, of_role) VALUES ('rg_other', 'rg_pipeline')$$);
RESET ROLE;

-- the owner grants: the row, and SELECT on what reading needs
SELECT tl_grant_read('rg_bi', 'rg_pipeline');
SELECT tl_grant_read('rg_bi', 'rg_pipeline');      -- again: no error, one row
SELECT reader, of_role, granted_by = current_user AS by_owner FROM tl_read_grant;
SELECT c.relname, has_table_privilege('rg_bi', c.oid, 'SELECT') AS can_select,
       has_table_privilege('rg_bi', c.oid, 'INSERT, UPDATE, DELETE') AS can_write
  FROM pg_class c
 WHERE c.relname IN ('tl_run', 'tl_result', 'tl_population', 'tl_class_metrics', 'tl_run_compare', 'tl_model', 'tl_vocab', 'tl_read_grant')
   AND c.relnamespace = (SELECT extnamespace FROM pg_extension WHERE extname = 'tensorlens')
 ORDER BY c.relname;

SET ROLE rg_bi;
-- exactly the pipeline's run, its results, the views and the analyses on it
SELECT dataset FROM tl_run ORDER BY id;
SELECT count(*) AS results FROM tl_result;
SELECT count(*) AS dots FROM tl_population;
SELECT count(*) > 0 AS class_rows FROM tl_class_metrics;
SELECT count(*) AS label_issues FROM tl_label_issues(:pipeline_run, 5);
SELECT sum(size) AS clustered FROM tl_failure_clusters(:pipeline_run, 2);
SELECT rg_error('SELECT count(*) FROM tl_label_issues(' || :other_run || ', 5)') LIKE '42704: run % does not exist' AS other_runs_unknown;
-- near-duplicates: the pipeline's input query is not run (not as the
-- pipeline, whose privileges the reader lacks, nor as the reader): the
-- perception space alone, said in a NOTICE (run ids vary: not shown), and
-- none of the pairs in input space
SET client_min_messages = warning;
SELECT count(*) FILTER (WHERE method <> 'perception') AS pairs_from_inputs
  FROM tl_near_duplicates(:pipeline_run);
RESET client_min_messages;
-- and changes nothing, not even the runs it reads
SELECT rg_error('UPDATE tl_run SET dataset = ''x''');
SELECT rg_error('DELETE FROM tl_result');
SELECT rg_error('INSERT INTO tl_result (run, sample_id) VALUES (' || :pipeline_run || ', ''new'')');
SELECT rg_error($$SELECT tl_evaluate('rg_emb', 'SELECT 1, ARRAY[1,2,3], 1', 'rg bi data', loss => 'binary_crossentropy')$$);
SELECT rg_error('SELECT tl_analyze(' || :pipeline_run || ')');
-- it sees its own grant, and cannot widen it
SELECT reader, of_role FROM tl_read_grant;
SELECT rg_error($$SELECT tl_grant_read('rg_bi', 'rg_other')$$);
RESET ROLE;

-- a role with usage that was granted reading another's runs still cannot write into them
SELECT tl_grant_read('rg_other', 'rg_pipeline');
SET ROLE rg_other;
SELECT dataset FROM tl_run ORDER BY id;
SELECT rg_error('INSERT INTO tl_result (run, sample_id) VALUES (' || :pipeline_run || ', ''new'')');
WITH u AS (UPDATE tl_result SET loss = 0 WHERE run = :pipeline_run RETURNING 1) SELECT count(*) AS results_updated FROM u;
WITH d AS (DELETE FROM tl_result WHERE run = :pipeline_run RETURNING 1) SELECT count(*) AS results_deleted FROM d;
WITH u AS (UPDATE tl_run SET dataset = 'x' WHERE id = :pipeline_run RETURNING 1) SELECT count(*) AS runs_updated FROM u;
WITH d AS (DELETE FROM tl_run WHERE id = :pipeline_run RETURNING 1) SELECT count(*) AS runs_deleted FROM d;
RESET ROLE;
SELECT count(*) AS pipeline_results_intact, count(*) FILTER (WHERE loss = 0) AS zero_losses
  FROM tl_result WHERE run = :pipeline_run;
SELECT dataset FROM tl_run WHERE id = :pipeline_run;

-- the pipeline itself may share its runs, and take that back
SET ROLE rg_pipeline;
SELECT tl_revoke_read('rg_other', 'rg_pipeline');
SELECT rg_error($$SELECT tl_revoke_read('rg_other', 'rg_pipeline')$$);
SELECT tl_grant_read('rg_other', 'rg_pipeline');
SELECT reader, of_role FROM tl_read_grant ORDER BY reader::text;
RESET ROLE;
SELECT tl_revoke_read('rg_other', 'rg_pipeline');
SELECT tl_revoke_read('rg_bi', 'rg_pipeline');
SET ROLE rg_bi;
SELECT count(*) AS runs_after_revoke FROM tl_run;
RESET ROLE;
SELECT rg_error($$SELECT tl_grant_read(NULL, 'rg_pipeline')$$);
SELECT rg_error($$SELECT tl_grant_read('rg_bi', 'no_such_role')$$);

-- clean up (roles belong to the cluster)
DELETE FROM tl_run WHERE created_by IN ('rg_pipeline', 'rg_other');
SELECT tl_revoke_usage('rg_pipeline');
SELECT tl_revoke_usage('rg_other');
REVOKE ALL ON TABLE tl_run, tl_result, tl_neighbour, tl_population, tl_class_metrics, tl_run_compare,
                    tl_sample_issues, tl_run_health FROM rg_bi;
REVOKE ALL ON SCHEMA public FROM rg_pipeline, rg_other, rg_bi;
REVOKE ALL ON FUNCTION rg_error(text) FROM PUBLIC;
DROP ROLE rg_pipeline;
DROP ROLE rg_other;
DROP ROLE rg_bi;
