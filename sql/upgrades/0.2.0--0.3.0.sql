-- tensorlens 0.2.0 -> 0.3.0: what the install scripts cannot say — changes
-- to tables and the grants of roles that already have usage.  The Makefile
-- builds sql/tensorlens--0.2.0--0.3.0.sql from this file and the statements
-- of the 0.3.0 install script that 0.2.0's lacks or has otherwise
-- (sql/build_upgrade.py: new and replaced functions, views, policies,
-- triggers, comments), placed at "@generated".  test/sql/90_upgrade.sql
-- checks that 0.1.0 and 0.2.0 upgraded this way have the catalog of a fresh
-- 0.3.0 install.
\echo Use "ALTER EXTENSION tensorlens UPDATE TO '0.3.0'" to load this file. \quit

-- tl_run.aligned_to is a plain number: a foreign key would reveal, and lock,
-- runs the role cannot see
ALTER TABLE @extschema@.tl_run DROP CONSTRAINT tl_run_aligned_to_fkey;

-- what a run's outputs mean, and the space of its neighbour graph
-- (62_data_issues.sql); tl_analyze fills both in on the next analysis
ALTER TABLE @extschema@.tl_run
    ADD COLUMN output_kind text CHECK (output_kind IN ('softmax', 'sigmoid', 'softmax_logits', 'sigmoid_logits',
                                                      'linear_probability', 'regression')),
    ADD COLUMN neighbour_space @extschema@.tl_pca,
    -- what x, y, z show and the run a map was placed into (64_maps.sql);
    -- the default is set after the rows are filled: a default given with
    -- ADD COLUMN would be kept as a "missing value" a fresh table lacks
    ADD COLUMN map text CHECK (map IN ('pca', 'umap', 'tsne')),
    ADD COLUMN map_reference integer;
UPDATE @extschema@.tl_run SET map = 'pca';
ALTER TABLE @extschema@.tl_run ALTER COLUMN map SET DEFAULT 'pca', ALTER COLUMN map SET NOT NULL;
-- the PCA coordinates, kept beside a UMAP or t-SNE map (64_maps.sql)
ALTER TABLE @extschema@.tl_result ADD COLUMN pca_x real, ADD COLUMN pca_y real, ADD COLUMN pca_z real,
    -- a sample's own attributes and its region of perception space (66_insights.sql)
    ADD COLUMN metadata jsonb CHECK (metadata IS NULL OR pg_catalog.jsonb_typeof(metadata) OPERATOR(pg_catalog.=) 'object'),
    ADD COLUMN cluster integer;

-- @generated

-- Roles that had usage (tl_grant_usage grants SELECT on tl_population) get
-- 0.3.0's grants: tl_model takes only (name, data) from them now (its
-- trigger makes the rest from the bytes), and tl_read_grant is new.
DO $tl_upgrade$
DECLARE
    g record;
BEGIN
    FOR g IN SELECT DISTINCT a.grantee FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a
              WHERE c.oid = '@extschema@.tl_population'::pg_catalog.regclass AND a.privilege_type = 'SELECT'
                AND a.grantee <> c.relowner
    LOOP
        EXECUTE pg_catalog.format('REVOKE INSERT ON @extschema@.tl_model FROM %s',
            CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(g.grantee)) END);
        IF g.grantee <> 0 THEN
            PERFORM @extschema@.tl_grant_usage(g.grantee::pg_catalog.regrole);
        END IF;
    END LOOP;
END
$tl_upgrade$;
