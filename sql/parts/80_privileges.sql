-- ---------------------------------------------------------------------------
-- Privileges (doc/security.md)
--
-- Installing grants nothing on the tables: only their owner (the role that
-- ran CREATE EXTENSION) and superusers can use them.  tl_grant_usage(role)
-- gives a role, or a group role its members inherit from, what the
-- extension needs: read the model store and vocabularies and add to them
-- (models as bytes; reading server files still needs pg_read_server_files),
-- create runs and results, and read the views.  Functions are executable by
-- everyone, as PostgreSQL's default; none is SECURITY DEFINER.
--
-- Row-level security on the runs: a role sees, changes and analyses the runs
-- created (tl_run.created_by, CURRENT_USER by default) by a role whose
-- privileges it has (itself, or a group it inherits from), and the results
-- of those runs only.  The owner and superusers (and BYPASSRLS roles) see
-- every run.  Models and vocabularies are shared by all roles with usage.
-- ---------------------------------------------------------------------------
ALTER TABLE @extschema@.tl_run ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.tl_result ENABLE ROW LEVEL SECURITY;

-- pg_roles and the oid form of pg_has_role: a run whose creator was dropped
-- is simply invisible (the name form would raise "role does not exist")
CREATE POLICY tl_run_by_creator ON @extschema@.tl_run
    USING (created_by IN (SELECT a.rolname FROM pg_catalog.pg_roles a
                           WHERE pg_catalog.pg_has_role(a.oid, 'USAGE')))
    WITH CHECK (created_by IN (SELECT a.rolname FROM pg_catalog.pg_roles a
                                WHERE pg_catalog.pg_has_role(a.oid, 'USAGE')));
COMMENT ON POLICY tl_run_by_creator ON @extschema@.tl_run IS
    'A role sees and changes the runs created by a role whose privileges it has.';

-- A run's SQL runs as its creator (src/pg/pg_run_as.c), so only a role with
-- the creator's privileges may name the creator or write that SQL: the
-- policy's WITH CHECK does not bind roles that bypass row-level security
-- (the owner, BYPASSRLS roles), this trigger binds everyone.
CREATE FUNCTION @extschema@.tl_run_check_creator()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    creator name;
BEGIN
    IF (SELECT a.rolsuper FROM pg_catalog.pg_roles a WHERE a.rolname = CURRENT_USER) THEN
        RETURN NEW;
    END IF;
    FOREACH creator IN ARRAY CASE WHEN TG_OP = 'UPDATE' THEN ARRAY[OLD.created_by, NEW.created_by]
                                  ELSE ARRAY[NEW.created_by] END LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles a
                        WHERE a.rolname = creator AND pg_catalog.pg_has_role(a.oid, 'USAGE')) THEN
            RAISE EXCEPTION 'permission denied to write a run created by "%"', creator
                USING ERRCODE = 'insufficient_privilege',
                      DETAIL = 'A run''s input_query runs as the role that created the run: only that role, roles with its privileges and superusers may create such a run, change its query or search_path, or give it another creator.';
        END IF;
    END LOOP;
    RETURN NEW;
END
$$;
CREATE TRIGGER tl_run_creator
    BEFORE INSERT OR UPDATE OF created_by, input_query, search_path ON @extschema@.tl_run
    FOR EACH ROW EXECUTE FUNCTION @extschema@.tl_run_check_creator();

-- the run is looked up under tl_run's own policy
CREATE POLICY tl_result_by_run ON @extschema@.tl_result
    USING (EXISTS (SELECT FROM @extschema@.tl_run r WHERE r.id = tl_result.run))
    WITH CHECK (EXISTS (SELECT FROM @extschema@.tl_run r WHERE r.id = tl_result.run));
COMMENT ON POLICY tl_result_by_run ON @extschema@.tl_result IS
    'A role sees and changes the results of the runs it sees.';

CREATE FUNCTION @extschema@.tl_grant_usage(role regrole)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    nsp oid := (SELECT c.relnamespace FROM pg_class c WHERE c.oid = '@extschema@.tl_model'::regclass);
BEGIN
    IF role IS NULL THEN
        RAISE EXCEPTION 'tl_grant_usage: role must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT has_schema_privilege(role::oid, nsp, 'USAGE') THEN
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO %s', (SELECT n.nspname FROM pg_namespace n WHERE n.oid = nsp), role);
    END IF;
    -- models: read, and add revisions as (name, data) — tl_model_import, or
    -- an INSERT that the trigger tl_model_parse completes the same way: the
    -- revision, what was read from the file and its compiled form are the
    -- extension's; stored models cannot be changed
    EXECUTE format('GRANT SELECT ON TABLE @extschema@.tl_model TO %s', role);
    EXECUTE format('GRANT INSERT (name, data) ON TABLE @extschema@.tl_model TO %s', role);
    -- vocabularies: tl_vocab_import replaces a vocabulary of the same name
    EXECUTE format('GRANT SELECT, INSERT, DELETE ON TABLE @extschema@.tl_vocab TO %s', role);
    -- runs and results, limited to the role's own by row-level security
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE @extschema@.tl_run, @extschema@.tl_result, '
                   '@extschema@.tl_neighbour TO %s', role);
    EXECUTE format('GRANT USAGE, SELECT ON SEQUENCE @extschema@.tl_run_id_seq TO %s', role);
    EXECUTE format('GRANT SELECT ON TABLE @extschema@.tl_population, @extschema@.tl_class_metrics, '
                   '@extschema@.tl_run_compare, @extschema@.tl_progress, @extschema@.tl_sample_issues, @extschema@.tl_run_health TO %s', role);
    -- sharing its runs with a reader (tl_grant_read; row-level security)
    EXECUTE format('GRANT INSERT, UPDATE, DELETE ON TABLE @extschema@.tl_read_grant TO %s', role);
END
$$;
REVOKE EXECUTE ON FUNCTION @extschema@.tl_grant_usage(regrole) FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.tl_grant_usage(regrole) IS
    'Lets a role (or the members of a group role) use tensorlens: import and run models, vocabularies, evaluate, insert runs and results (its own: row-level security), read the views. For the extension''s owner or a superuser.';

CREATE FUNCTION @extschema@.tl_revoke_usage(role regrole)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF role IS NULL THEN
        RAISE EXCEPTION 'tl_revoke_usage: role must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- (column privileges go with the table's); the schema's USAGE stays:
    -- it may have been granted for other reasons
    EXECUTE format('REVOKE ALL ON TABLE @extschema@.tl_model, @extschema@.tl_vocab, @extschema@.tl_run, '
                   '@extschema@.tl_result, @extschema@.tl_neighbour, @extschema@.tl_population, '
                   '@extschema@.tl_class_metrics, @extschema@.tl_run_compare, @extschema@.tl_progress, '
                   '@extschema@.tl_sample_issues, @extschema@.tl_run_health FROM %s', role);
    EXECUTE format('REVOKE INSERT, UPDATE, DELETE ON TABLE @extschema@.tl_read_grant FROM %s', role);
    EXECUTE format('REVOKE ALL ON SEQUENCE @extschema@.tl_run_id_seq FROM %s', role);
END
$$;
REVOKE EXECUTE ON FUNCTION @extschema@.tl_revoke_usage(regrole) FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.tl_revoke_usage(regrole) IS
    'Takes back what tl_grant_usage granted (the schema''s USAGE stays). The role''s runs stay, visible to the owner.';

-- ---------------------------------------------------------------------------
-- Read grants: a role (typically a BI tool's read-only login) may read the
-- runs created by another role, e.g. every run a pipeline logs, without
-- being able to change them.  tl_grant_read(reader, of_role) records it in
-- tl_read_grant; a SELECT-only policy on tl_run consults it (tl_result
-- follows tl_run's visibility).  Who may grant: the extension's owner and
-- superusers, or a role that has of_role's privileges (of_role itself, or
-- a member of that group): reading runs is shared only by whoever may read
-- them already as their own.
-- ---------------------------------------------------------------------------
CREATE TABLE @extschema@.tl_read_grant (
    reader      regrole     NOT NULL,
    of_role     regrole     NOT NULL,
    granted_by  name        NOT NULL DEFAULT CURRENT_USER,
    granted_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (reader, of_role)
);
COMMENT ON TABLE @extschema@.tl_read_grant IS
    'Who may read whose runs (tl_grant_read / tl_revoke_read): reader sees, read-only, the runs created by of_role.';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.tl_read_grant', '');
ALTER TABLE @extschema@.tl_read_grant ENABLE ROW LEVEL SECURITY;
-- a grant is seen by its reader and by the roles whose runs it opens
CREATE POLICY tl_read_grant_involved ON @extschema@.tl_read_grant
    USING (pg_catalog.pg_has_role(reader, 'USAGE') OR pg_catalog.pg_has_role(of_role, 'USAGE'))
    WITH CHECK (pg_catalog.pg_has_role(of_role, 'USAGE'));
COMMENT ON POLICY tl_read_grant_involved ON @extschema@.tl_read_grant IS
    'A grant is seen by its reader and by whoever has of_role''s privileges; only they may add or remove it.';
-- every query on tl_run evaluates the read policy, as the querying role: all
-- must be able to read this table (its own policy shows each role its rows)
GRANT SELECT ON TABLE @extschema@.tl_read_grant TO PUBLIC;

CREATE POLICY tl_run_read_granted ON @extschema@.tl_run FOR SELECT
    USING (EXISTS (SELECT FROM @extschema@.tl_read_grant g
                     JOIN pg_catalog.pg_roles a ON a.oid OPERATOR(pg_catalog.=) g.of_role::pg_catalog.oid
                    WHERE a.rolname OPERATOR(pg_catalog.=) tl_run.created_by
                      AND pg_catalog.pg_has_role(g.reader, 'USAGE')));
COMMENT ON POLICY tl_run_read_granted ON @extschema@.tl_run IS
    'A role reads (only) the runs of the roles whose runs it was granted to read (tl_grant_read).';

-- a run one may only read must not receive results: writing into tl_result
-- needs the run's creator's privileges, whatever tl_run shows
CREATE POLICY tl_result_insert_own_run ON @extschema@.tl_result AS RESTRICTIVE FOR INSERT
    WITH CHECK (EXISTS (SELECT FROM @extschema@.tl_run r WHERE r.id OPERATOR(pg_catalog.=) tl_result.run
                          AND r.created_by IN (SELECT a.rolname FROM pg_catalog.pg_roles a
                                                WHERE pg_catalog.pg_has_role(a.oid, 'USAGE'))));
CREATE POLICY tl_result_update_own_run ON @extschema@.tl_result AS RESTRICTIVE FOR UPDATE
    USING (EXISTS (SELECT FROM @extschema@.tl_run r WHERE r.id OPERATOR(pg_catalog.=) tl_result.run
                     AND r.created_by IN (SELECT a.rolname FROM pg_catalog.pg_roles a
                                           WHERE pg_catalog.pg_has_role(a.oid, 'USAGE'))));
CREATE POLICY tl_result_delete_own_run ON @extschema@.tl_result AS RESTRICTIVE FOR DELETE
    USING (EXISTS (SELECT FROM @extschema@.tl_run r WHERE r.id OPERATOR(pg_catalog.=) tl_result.run
                     AND r.created_by IN (SELECT a.rolname FROM pg_catalog.pg_roles a
                                           WHERE pg_catalog.pg_has_role(a.oid, 'USAGE'))));
-- the same for the neighbour graph of a run (62_data_issues.sql)
CREATE POLICY tl_neighbour_insert_own_run ON @extschema@.tl_neighbour AS RESTRICTIVE FOR INSERT
    WITH CHECK (EXISTS (SELECT FROM @extschema@.tl_run r WHERE r.id OPERATOR(pg_catalog.=) tl_neighbour.run
                          AND r.created_by IN (SELECT a.rolname FROM pg_catalog.pg_roles a
                                                WHERE pg_catalog.pg_has_role(a.oid, 'USAGE'))));
CREATE POLICY tl_neighbour_update_own_run ON @extschema@.tl_neighbour AS RESTRICTIVE FOR UPDATE
    USING (EXISTS (SELECT FROM @extschema@.tl_run r WHERE r.id OPERATOR(pg_catalog.=) tl_neighbour.run
                     AND r.created_by IN (SELECT a.rolname FROM pg_catalog.pg_roles a
                                           WHERE pg_catalog.pg_has_role(a.oid, 'USAGE'))));
CREATE POLICY tl_neighbour_delete_own_run ON @extschema@.tl_neighbour AS RESTRICTIVE FOR DELETE
    USING (EXISTS (SELECT FROM @extschema@.tl_run r WHERE r.id OPERATOR(pg_catalog.=) tl_neighbour.run
                     AND r.created_by IN (SELECT a.rolname FROM pg_catalog.pg_roles a
                                           WHERE pg_catalog.pg_has_role(a.oid, 'USAGE'))));
COMMENT ON POLICY tl_neighbour_insert_own_run ON @extschema@.tl_neighbour IS
    'Neighbours are added only to runs created by a role whose privileges one has.';
COMMENT ON POLICY tl_neighbour_update_own_run ON @extschema@.tl_neighbour IS
    'Neighbours are changed only in runs created by a role whose privileges one has.';
COMMENT ON POLICY tl_neighbour_delete_own_run ON @extschema@.tl_neighbour IS
    'Neighbours are deleted only from runs created by a role whose privileges one has.';
COMMENT ON POLICY tl_result_insert_own_run ON @extschema@.tl_result IS
    'Results are added only to runs created by a role whose privileges one has (not to runs one may only read).';
COMMENT ON POLICY tl_result_update_own_run ON @extschema@.tl_result IS
    'Results are changed only in runs created by a role whose privileges one has.';
COMMENT ON POLICY tl_result_delete_own_run ON @extschema@.tl_result IS
    'Results are deleted only from runs created by a role whose privileges one has.';

CREATE FUNCTION @extschema@.tl_grant_read(reader regrole, of_role regrole)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    owner oid := (SELECT c.relowner FROM pg_class c WHERE c.oid = '@extschema@.tl_run'::regclass);
    nsp   name := (SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE c.oid = '@extschema@.tl_run'::regclass);
BEGIN
    IF reader IS NULL OR of_role IS NULL THEN
        RAISE EXCEPTION 'tl_grant_read: reader and of_role must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT pg_has_role(owner, 'USAGE') AND NOT pg_has_role(of_role, 'USAGE') THEN
        RAISE EXCEPTION 'permission denied to let % read the runs of %', reader, of_role
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Only the extension''s owner, a superuser, or a role with the privileges of '
                         || of_role || ' may share its runs.';
    END IF;
    INSERT INTO @extschema@.tl_read_grant AS g (reader, of_role) VALUES (reader, of_role)
        ON CONFLICT ON CONSTRAINT tl_read_grant_pkey DO UPDATE SET granted_by = CURRENT_USER, granted_at = now();
    -- the owner also gives the reader what reading needs: SELECT on the runs,
    -- results and views, nothing else (another caller leaves that to the owner)
    IF pg_has_role(owner, 'USAGE') THEN
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO %s', nsp, reader);
        EXECUTE format('GRANT SELECT ON TABLE @extschema@.tl_run, @extschema@.tl_result, @extschema@.tl_neighbour, '
                       '@extschema@.tl_population, @extschema@.tl_class_metrics, @extschema@.tl_run_compare, '
                       '@extschema@.tl_sample_issues, @extschema@.tl_run_health TO %s', reader);
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.tl_grant_read(regrole, regrole) IS
    'Lets reader read (not change) the runs created by of_role, and their results; called by the owner it also grants SELECT on the runs, results and views. For the owner, a superuser, or a role with of_role''s privileges.';

CREATE FUNCTION @extschema@.tl_revoke_read(reader regrole, of_role regrole)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
BEGIN
    IF reader IS NULL OR of_role IS NULL THEN
        RAISE EXCEPTION 'tl_revoke_read: reader and of_role must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    DELETE FROM @extschema@.tl_read_grant g WHERE g.reader = reader AND g.of_role = of_role;
    IF NOT FOUND THEN
        RAISE EXCEPTION '% is not granted to read the runs of % (or you may not change that grant)', reader, of_role
            USING ERRCODE = 'undefined_object';
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.tl_revoke_read(regrole, regrole) IS
    'Takes back tl_grant_read: reader no longer sees the runs of of_role (its table privileges stay).';
