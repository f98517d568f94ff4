-- contrib/bi/readonly_role.sql — a read-only login role for BI tools
-- (Grafana, Superset, Metabase): SELECT on what the dashboards read, nothing
-- else.  Run it as a superuser (or the database and extension owner) in the
-- database that holds tensorlens; run it again after recreating that
-- database (contrib/demo.sh does, at the end of every demo).  Idempotent.
--
--   psql -h /var/lib/tensorlens -p 5488 -U postgres -d tensorlens_demo \
--        -v bi_password='a long secret' -f contrib/bi/readonly_role.sql
--
-- Without -v bi_password the role's password is left as it is (none at
-- first: enough for the demo cluster, which trusts local connections; set
-- one, or use psql's \password tensorlens_bi, before allowing any other).
\set ON_ERROR_STOP on
SET client_min_messages = warning;

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'tensorlens_bi') THEN
        CREATE ROLE tensorlens_bi LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
    END IF;
END
$$;
-- Read-only by privileges: it can write to nothing (it has no INSERT,
-- UPDATE or DELETE anywhere, and PostgreSQL 15 gives PUBLIC no CREATE in
-- schema public).  The settings are a second fence and a time limit.
ALTER ROLE tensorlens_bi SET default_transaction_read_only = on;
ALTER ROLE tensorlens_bi SET statement_timeout = '60s';

DO $$
DECLARE
    s text := (SELECT n.nspname FROM pg_catalog.pg_extension e
                 JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
                WHERE e.extname = 'tensorlens');
BEGIN
    IF s IS NULL THEN
        RAISE EXCEPTION 'the tensorlens extension is not installed in database %', current_database();
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO tensorlens_bi', current_database());
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO tensorlens_bi', s);
    -- the three views; tl_run for the run picker; tl_result because
    -- tl_label_issues and tl_failure_clusters read it with the caller's rights
    EXECUTE format('GRANT SELECT ON %1$I.tl_population, %1$I.tl_class_metrics, %1$I.tl_run_compare, %1$I.tl_run_health, '
                   '%1$I.tl_run, %1$I.tl_result TO tensorlens_bi', s);
    -- unqualified names (tl_population, ...) resolve in this database
    EXECUTE format('ALTER ROLE tensorlens_bi IN DATABASE %I SET search_path = %I, public', current_database(), s);
END
$$;

\if :{?bi_password}
ALTER ROLE tensorlens_bi PASSWORD :'bi_password';
\endif
