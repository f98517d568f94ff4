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
    -- models: read, and add revisions; created_by/created_at keep their
    -- defaults (who imported, when) and stored models cannot be changed
    EXECUTE format('GRANT SELECT ON TABLE @extschema@.tl_model TO %s', role);
    EXECUTE format('GRANT INSERT (name, revision, format, keras_version, data, config, training_config, '
                   'input_shape, output_shape, compiled, compiled_for) ON TABLE @extschema@.tl_model TO %s', role);
    -- vocabularies: tl_vocab_import replaces a vocabulary of the same name
    EXECUTE format('GRANT SELECT, INSERT, DELETE ON TABLE @extschema@.tl_vocab TO %s', role);
    -- runs and results, limited to the role's own by row-level security
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE @extschema@.tl_run, @extschema@.tl_result TO %s', role);
    EXECUTE format('GRANT USAGE, SELECT ON SEQUENCE @extschema@.tl_run_id_seq TO %s', role);
    EXECUTE format('GRANT SELECT ON TABLE @extschema@.tl_population, @extschema@.tl_class_metrics, '
                   '@extschema@.tl_run_compare, @extschema@.tl_run_health TO %s', role);
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
                   '@extschema@.tl_result, @extschema@.tl_population, @extschema@.tl_class_metrics, '
                   '@extschema@.tl_run_compare, @extschema@.tl_run_health FROM %s', role);
    EXECUTE format('REVOKE ALL ON SEQUENCE @extschema@.tl_run_id_seq FROM %s', role);
END
$$;
REVOKE EXECUTE ON FUNCTION @extschema@.tl_revoke_usage(regrole) FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.tl_revoke_usage(regrole) IS
    'Takes back what tl_grant_usage granted (the schema''s USAGE stays). The role''s runs stay, visible to the owner.';
