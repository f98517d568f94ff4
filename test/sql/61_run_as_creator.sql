-- A run's stored SQL (tl_run.input_query; the report's preview query) runs
-- as the run's creator, inside a security-restricted operation, under the
-- run's search_path, with every setting it makes discarded afterwards —
-- whoever triggers it (tl_analyze, tl_html_report, analysis at commit).
-- Each attack below is made by an ordinary login with usage (SET SESSION
-- AUTHORIZATION, so that RESET ROLE inside cannot fall back to the
-- superuser running this script) and must fail (doc/security.md).
\getenv fixtures TL_FIXTURES
SELECT tl_model_load('rr_emb', :'fixtures' || '/layers/embedding_conv1d_gmp.h5') AS revision;
CREATE ROLE rr_mallory;
CREATE ROLE rr_alice;
CREATE ROLE rr_bob;
CREATE ROLE rr_team;
GRANT rr_team TO rr_alice, rr_bob;
CREATE ROLE rr_auditor BYPASSRLS;
SELECT tl_grant_usage('rr_mallory'), tl_grant_usage('rr_team'), tl_grant_usage('rr_auditor');
CREATE SCHEMA mal AUTHORIZATION rr_mallory;
-- a run of 12 samples with outputs but no perception vectors: analysing it
-- runs its stored query.  The query is planted afterwards, so that the
-- creator's own analysis at commit has nothing to run.
CREATE FUNCTION rr_run(dataset text, creator name DEFAULT CURRENT_USER) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    id integer;
BEGIN
    INSERT INTO tl_run (model, dataset, created_by) VALUES ('rr_emb', dataset, creator) RETURNING tl_run.id INTO id;
    INSERT INTO tl_result (run, sample_id, label, output)
    SELECT id, i, i % 2, ARRAY[0.25 + 0.5 * (i % 2)]::real[] FROM generate_series(1, 12) i;
    RETURN id;
END $$;
-- the samples of a stored query, rows kept WHERE the attack's condition holds
\set rows 'SELECT i, ARRAY[i % 20, (i * 7) % 20, (i * 3) % 20, (i * 11) % 20, 1, 2, 3, 4] FROM generate_series(1, 12) i WHERE '
-- plants a query in a run of the caller and clears its perception vectors
CREATE FUNCTION rr_plant(run integer, q text, sp text DEFAULT NULL) RETURNS void
LANGUAGE sql AS $$
    UPDATE tl_run SET input_query = q, search_path = coalesce(sp, search_path) WHERE id = run;
    UPDATE tl_result SET perception = NULL, x = NULL, y = NULL, z = NULL WHERE tl_result.run = rr_plant.run;
$$;

-- ---- mallory's tools: each records who it ran as, then tries to gain more -----
SET SESSION AUTHORIZATION rr_mallory;
CREATE TABLE mal.loot (who name, what text);
GRANT SELECT, INSERT ON mal.loot TO PUBLIC;
CREATE FUNCTION mal.reset_role() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    RESET ROLE;
    INSERT INTO mal.loot SELECT current_user, pg_catalog.pg_read_file('PG_VERSION');
    RETURN true;
END $$;
CREATE FUNCTION mal.set_local_role() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    SET LOCAL ROLE postgres;
    INSERT INTO mal.loot SELECT current_user, pg_catalog.pg_read_file('PG_VERSION');
    RETURN true;
END $$;
CREATE FUNCTION mal.do_set_role() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    DO $d$ BEGIN
        SET ROLE postgres;
        INSERT INTO mal.loot SELECT current_user, pg_catalog.pg_read_file('PG_VERSION');
    END $d$;
    RETURN true;
END $$;
CREATE FUNCTION mal.session_auth() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_catalog.set_config('session_authorization', 'postgres', true);
    INSERT INTO mal.loot SELECT current_user, pg_catalog.pg_read_file('PG_VERSION');
    RETURN true;
END $$;
CREATE FUNCTION mal.superuser_please() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_catalog.set_config('role', 'none', true);
    ALTER ROLE rr_mallory SUPERUSER;
    RETURN true;
END $$;
CREATE FUNCTION mal.alter_role() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    ALTER ROLE rr_mallory SUPERUSER;
    RETURN true;
END $$;
CREATE FUNCTION mal.definer_reset() RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    RESET ROLE;
    INSERT INTO mal.loot SELECT current_user, pg_catalog.pg_read_file('PG_VERSION');
    RETURN true;
END $$;
-- shadows lower(text) for whoever runs with mal first in search_path
CREATE FUNCTION mal.lower(t text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_catalog.set_config('role', 'none', true);
    INSERT INTO mal.loot SELECT current_user, pg_catalog.pg_read_file('PG_VERSION');
    RETURN t;
END $$;
CREATE FUNCTION mal.who() RETURNS boolean LANGUAGE sql AS $$
    INSERT INTO mal.loot SELECT current_user, 'session ' || session_user RETURNING true
$$;
CREATE FUNCTION mal.settings() RETURNS boolean LANGUAGE sql AS $$
    SELECT pg_catalog.set_config('search_path', 'mal, pg_catalog', false) IS NOT NULL
       AND pg_catalog.set_config('work_mem', '7777kB', false) IS NOT NULL
       AND pg_catalog.set_config('tl.planted', 'yes', false) IS NOT NULL
$$;
CREATE FUNCTION mal.temp_table() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    CREATE TEMP TABLE tl_model (name text);
    RETURN true;
END $$;
-- the analyst's temporary schema is searched first for types: a domain
-- "text" there would run mal.grab(VALUE) in every later cast of the analyst's
CREATE FUNCTION mal.grab(t text) RETURNS boolean LANGUAGE sql AS $$
    INSERT INTO mal.loot SELECT current_user, t RETURNING true
$$;
CREATE FUNCTION mal.temp_type() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    CREATE DOMAIN pg_temp.text AS pg_catalog.text CHECK (mal.grab(VALUE));
    RETURN true;
END $$;
CREATE FUNCTION mal.temp_view() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    CREATE VIEW pg_temp.tl_run AS SELECT * FROM public.tl_run WHERE mal.grab('view');
    RETURN true;
END $$;
SELECT rr_run('mallory') AS mal_run \gset
RESET SESSION AUTHORIZATION;

-- ---- a superuser analyses mallory's run: every escalation is refused ------------
CREATE FUNCTION rr_attack(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    run integer := (SELECT min(id) FROM tl_run WHERE dataset = 'mallory');
    err text;
    loot text;
BEGIN
    EXECUTE format('SET SESSION AUTHORIZATION rr_mallory');
    PERFORM rr_plant(run, q);
    RESET SESSION AUTHORIZATION;
    err := expect_error(format('SELECT tl_analyze(%s)', run));
    loot := (SELECT string_agg(DISTINCT who || ' read ' || replace(what, E'\n', ''), ', ') FROM mal.loot);
    TRUNCATE mal.loot;
    RETURN err || ' | loot: ' || coalesce(loot, 'none') || ' | now ' || current_user || '/' || session_user;
END $$;
-- the issue's form: set_config('role', 'none') inside the stored query
SELECT rr_attack(:'rows' || $$pg_catalog.set_config('role', 'none', true) IS NOT NULL
                               AND pg_catalog.pg_read_file('PG_VERSION') IS NOT NULL$$) AS set_config_role;
SELECT rr_attack(:'rows' || $$(SELECT pg_catalog.set_config('role', 'none', true)) IS NOT NULL AND mal.who()$$) AS set_config_then_who;
SELECT rr_attack(:'rows' || 'mal.reset_role()') AS reset_role_in_function;
SELECT rr_attack(:'rows' || 'mal.set_local_role()') AS set_local_role;
SELECT rr_attack(:'rows' || 'mal.do_set_role()') AS set_role_in_do_block;
SELECT rr_attack(:'rows' || 'mal.session_auth()') AS session_authorization;
SELECT rr_attack(:'rows' || 'mal.superuser_please()') AS role_none_then_alter_role;
SELECT rr_attack(:'rows' || 'mal.alter_role()') AS alter_role;
SELECT rr_attack(:'rows' || 'mal.definer_reset()') AS security_definer_reset_role;
SELECT rr_attack(:'rows' || $$pg_catalog.pg_read_file('PG_VERSION') IS NOT NULL$$) AS read_file;
SELECT rr_attack(:'rows' || 'mal.temp_table()') AS temp_table;
CREATE TEMP TABLE analyst_scratch (x integer);  -- the analyst's temporary schema exists
SELECT rr_attack(:'rows' || 'mal.temp_type()') AS temp_type;
SELECT rr_attack(:'rows' || 'mal.temp_view()') AS temp_view;
SELECT 'abc'::text AS cast_after, (SELECT count(*) FROM mal.loot) AS loot;
SELECT rolsuper AS mallory_is_superuser FROM pg_roles WHERE rolname = 'rr_mallory';
SELECT count(*) AS loot FROM mal.loot;
-- the query runs with the creator's rights, not the analyst's: it sees
-- current_user = mallory and returns every row, while session_user is the analyst
SELECT rr_attack(:'rows' || 'mal.who()') AS as_mallory;
SELECT count(perception) AS perceived FROM tl_result WHERE run = :mal_run;
TRUNCATE mal.loot;

-- ---- the report's preview query and heat-map inputs, as the attack vector --------
-- mallory's run records search_path "mal, pg_catalog": the analyst's innocent
-- preview query calls lower(), which there means mal.lower
SET SESSION AUTHORIZATION rr_mallory;
SELECT rr_plant(:mal_run, :'rows' || 'true', 'mal, pg_catalog');
RESET SESSION AUTHORIZATION;
SELECT tl_analyze(:mal_run) AS placed;
SELECT expect_error(format($$SELECT tl_html_report(%s, 'SELECT i, lower(''x'') FROM generate_series(1, 12) i', NULL, 0)$$, :mal_run))
       AS preview_shadowed, (SELECT count(*) FROM mal.loot) AS loot, current_user;
-- the heat maps run the stored query too
SET SESSION AUTHORIZATION rr_mallory;
UPDATE tl_run SET input_query = :'rows' || 'mal.reset_role()' WHERE id = :mal_run;
RESET SESSION AUTHORIZATION;
SELECT expect_error(format('SELECT tl_html_report(%s, NULL, NULL, 5)', :mal_run)) AS heatmap_inputs,
       (SELECT count(*) FROM mal.loot) AS loot, current_user;

-- ---- settings made by the stored query do not leak into the analyst's session ---
SET SESSION AUTHORIZATION rr_mallory;
SELECT rr_plant(:mal_run, :'rows' || 'mal.settings()', '"$user", public');
RESET SESSION AUTHORIZATION;
SET search_path = public;
SELECT tl_analyze(:mal_run) AS placed;
SELECT current_setting('search_path') AS search_path, current_setting('work_mem') AS work_mem,
       current_setting('tl.planted', true) AS planted;
SELECT length(tl_html_report(:mal_run, 'SELECT i, mal.settings() FROM generate_series(1, 12) i', NULL, 3)) > 0 AS report;
SELECT current_setting('search_path') AS search_path, current_setting('work_mem') AS work_mem,
       current_setting('tl.planted', true) AS planted;
-- and at commit, in mallory's own session
SET SESSION AUTHORIZATION rr_mallory;
BEGIN;
INSERT INTO tl_run (model, dataset, input_query) VALUES ('rr_emb', 'mallory at commit', :'rows' || 'mal.settings()')
RETURNING id AS commit_run \gset
INSERT INTO tl_result (run, sample_id, label, output)
SELECT :commit_run, i, i % 2, ARRAY[0.5]::real[] FROM generate_series(1, 12) i;
COMMIT;
SELECT status, analysis_error, (SELECT count(perception) FROM tl_result WHERE run = :commit_run) AS perceived
  FROM tl_run WHERE id = :commit_run;
SELECT current_setting('search_path') AS search_path, current_setting('work_mem') AS work_mem,
       current_setting('tl.planted', true) AS planted;
-- analysis at commit refuses role changes as well
BEGIN;
INSERT INTO tl_run (model, dataset, input_query) VALUES ('rr_emb', 'mallory at commit', :'rows' || 'mal.reset_role()')
RETURNING id AS commit_run \gset
INSERT INTO tl_result (run, sample_id, label, output)
SELECT :commit_run, i, i % 2, ARRAY[0.5]::real[] FROM generate_series(1, 12) i;
COMMIT;
SELECT status, analysis_error FROM tl_run WHERE id = :commit_run;
RESET SESSION AUTHORIZATION;
RESET search_path;
-- a superuser committing results into mallory's run: analysed as mallory
BEGIN;
UPDATE tl_run SET input_query = :'rows' || 'mal.who()' WHERE id = :commit_run;
INSERT INTO tl_result (run, sample_id, label, output) VALUES (:commit_run, 'late', 1, '{0.5}');
COMMIT;
SELECT status, analysis_error FROM tl_run WHERE id = :commit_run;
SELECT DISTINCT who, what FROM mal.loot;
TRUNCATE mal.loot;

-- ---- who a run is created by cannot be forged -----------------------------------
SET SESSION AUTHORIZATION rr_mallory;
SELECT expect_error(format($$UPDATE tl_run SET created_by = 'postgres' WHERE id = %s$$, :mal_run)) AS to_superuser;
SELECT expect_error(format($$UPDATE tl_run SET created_by = 'rr_team' WHERE id = %s$$, :mal_run)) AS to_a_team_not_hers;
SELECT expect_error($$INSERT INTO tl_run (model, dataset, created_by) VALUES ('rr_emb', 'forged', 'rr_alice')$$) AS as_alice;
RESET SESSION AUTHORIZATION;

-- ---- teammates: a team run's query cannot read a colleague's private run ---------
SET SESSION AUTHORIZATION rr_alice;
SELECT rr_run('alice private') AS alice_private \gset
RESET SESSION AUTHORIZATION;
CREATE SCHEMA bobs AUTHORIZATION rr_bob;
SET SESSION AUTHORIZATION rr_bob;
CREATE TABLE bobs.loot (who name, alice_results bigint);
GRANT USAGE ON SCHEMA bobs TO rr_team;
GRANT INSERT ON bobs.loot TO rr_team;
SELECT rr_run('team run', 'rr_team') AS team_run \gset
-- a function of bob's, called by the team run's query
CREATE FUNCTION bobs.spy(run integer) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    RESET ROLE;
    INSERT INTO bobs.loot SELECT current_user, count(*) FROM tl_result WHERE tl_result.run = spy.run;
    RETURN true;
END $$;
SELECT rr_plant(:team_run, :'rows' || format('bobs.spy(%s)', :alice_private));
RESET SESSION AUTHORIZATION;
-- alice analyses the team's run, which she may: the query runs as rr_team
SET SESSION AUTHORIZATION rr_alice;
SELECT expect_error(format('SELECT tl_analyze(%s)', :team_run)) AS team_query_reset_role;
RESET SESSION AUTHORIZATION;
SELECT count(*) AS bob_got FROM bobs.loot;
-- without the trick the team query runs as rr_team and sees the team's runs only
SET SESSION AUTHORIZATION rr_bob;
CREATE OR REPLACE FUNCTION bobs.spy(run integer) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO bobs.loot SELECT current_user, count(*) FROM tl_result WHERE tl_result.run = spy.run;
    RETURN true;
END $$;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION rr_alice;
SELECT tl_analyze(:team_run) AS placed;
RESET SESSION AUTHORIZATION;
SELECT DISTINCT who, alice_results FROM bobs.loot;

-- ---- a role that sees every run (BYPASSRLS) but is not the creator's member ----
-- cannot make a run's SQL run as its creator, nor run its own SQL as them
SELECT rr_plant(:alice_private, :'rows' || 'true');
SET SESSION AUTHORIZATION rr_auditor;
SELECT count(*) > 0 AS sees_alice FROM tl_run WHERE id = :alice_private;
-- it cannot plant SQL in alice's run either (row-level security does not
-- stop it: a trigger does), nor create a run in her name
SELECT expect_error(format($$UPDATE tl_run SET input_query = 'SELECT 1' WHERE id = %s$$, :alice_private)) AS auditor_plants;
SELECT expect_error($$INSERT INTO tl_run (model, dataset, created_by) VALUES ('rr_emb', 'forged', 'rr_alice')$$) AS auditor_forges;
SELECT regexp_replace(expect_error(format('SELECT tl_analyze(%s)', :alice_private)), 'run \d+', 'run N') AS auditor_analyze;
SELECT regexp_replace(expect_error(format($$SELECT tl_html_report(%s, 'SELECT i, current_user FROM generate_series(1, 12) i', NULL, 0)$$,
                           :alice_private)), 'run \d+', 'run N') AS auditor_preview;
SELECT length(tl_html_report(:alice_private, NULL, NULL, 0)) > 0 AS auditor_report_without_sql;
RESET SESSION AUTHORIZATION;
-- and a run whose creator no longer exists is not run as anyone
SELECT rr_run('orphan') AS orphan_run \gset
UPDATE tl_run SET created_by = 'rr_dropped' WHERE id = :orphan_run;
SELECT rr_plant(:orphan_run, :'rows' || 'true');
SELECT regexp_replace(expect_error(format('SELECT tl_analyze(%s)', :orphan_run)), 'run \d+', 'run N') AS orphan;

-- ---- the two functions that run a run's SQL, called directly -------------------
SET SESSION AUTHORIZATION rr_mallory;
-- another role's run does not exist for her (row-level security)
SELECT regexp_replace(expect_error(format($$SELECT * FROM tl_run_rows(%s, '{1}', 'SELECT 1, current_user')$$, :alice_private)),
                      'run \d+', 'run N') AS rows_of_hidden_run;
SELECT regexp_replace(expect_error(format($$SELECT * FROM tl_run_perception(%s, '{1}')$$, :team_run)),
                      'run \d+', 'run N') AS perception_of_hidden_run;
-- her own: her SQL runs as herself, restricted
SELECT * FROM tl_run_rows(:mal_run, '{1,2}', 'SELECT i, current_user FROM generate_series(1, 3) i') ORDER BY 1;
SELECT expect_error(format($$SELECT * FROM tl_run_rows(%s, '{1}', 'SELECT 1, pg_catalog.set_config(''role'', ''none'', false)')$$, :mal_run))
       AS role_change;
SELECT expect_error($$SELECT * FROM tl_run_rows(NULL, '{1}')$$) AS null_run;
SELECT expect_error(format($$SELECT * FROM tl_run_perception(%s, NULL)$$, :mal_run)) AS null_ids;
SELECT expect_error(format($$SELECT * FROM tl_run_rows(%s, '{1}', 'SELECT 1')$$, :mal_run)) AS one_column;
SELECT expect_error(format($$SELECT * FROM tl_run_rows(%s, '{1}', 'not sql')$$, :mal_run)) AS not_sql;
SELECT current_user, current_setting('role') AS role;
RESET SESSION AUTHORIZATION;

-- ---- clean up -----------------------------------------------------------------
DELETE FROM tl_run WHERE created_by IN ('rr_mallory', 'rr_alice', 'rr_bob', 'rr_team', 'rr_dropped');
DROP SCHEMA mal CASCADE;
DROP SCHEMA bobs CASCADE;
DROP FUNCTION rr_run(text, name), rr_plant(integer, text, text), rr_attack(text);
DELETE FROM tl_model WHERE name = 'rr_emb';
SELECT tl_revoke_usage('rr_mallory'), tl_revoke_usage('rr_team'), tl_revoke_usage('rr_auditor');
DROP ROLE rr_mallory, rr_alice, rr_bob, rr_team, rr_auditor;
