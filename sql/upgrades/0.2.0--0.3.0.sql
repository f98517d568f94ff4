-- tensorlens 0.2.0 -> 0.3.0: the changes to the objects of 0.2.0, in the
-- order the install script (sql/parts) has them.  Built into
-- sql/tensorlens--0.2.0--0.3.0.sql with the report template appended; once
-- 0.3.0 ships, that built script is frozen like the others
-- (sql/released.sha256).  test/sql/90_upgrade.sql checks that 0.1.0 and
-- 0.2.0 upgraded this way have the catalog of a fresh 0.3.0 install.
\echo Use "ALTER EXTENSION tensorlens UPDATE TO '0.3.0'" to load this file. \quit

-- 60_analysis: tl_analyze aligns a run onto the previous epoch with one
-- call, tl_procrustes_align (the alignment in C, issue 17)
CREATE FUNCTION @extschema@.tl_procrustes_align(run integer, reference integer)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pg_tl_procrustes_align'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.tl_procrustes_align(integer, integer) IS
    'Rotates (or reflects) and shifts the x/y/z of a run onto those of a reference run, fitted by orthogonal Procrustes on the samples both placed. False, and nothing changed, when they share fewer than 4 placed samples.';

CREATE OR REPLACE FUNCTION @extschema@.tl_analyze(run integer, dims integer DEFAULT 3, align boolean DEFAULT true)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r       @extschema@.tl_run;
    spec    text;
    p       @extschema@.tl_pca;
    width   integer;
    placed  integer := 0;
    prev    integer;
    missing text[];
    computed jsonb;
    caller  text;
BEGIN
    IF dims IS NULL OR dims < 1 OR dims > 3 THEN
        RAISE EXCEPTION 'dims must be 1, 2 or 3, not %', dims USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO r FROM @extschema@.tl_run t WHERE t.id = run FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'run % does not exist', run USING ERRCODE = 'undefined_object';
    END IF;
    spec := r.model || coalesce('@' || r.revision, '');

    -- 1. perception vectors (and outputs) the pipeline did not provide.  The
    --    run's query is its creator's SQL: it alone runs with the run's
    --    search_path, inside a wrapper that names everything it uses, and
    --    when another role (an administrator) analyses the run, as the
    --    run's creator (SET ROLE): never with more privileges than theirs.
    SELECT array_agg(t.sample_id) INTO missing
      FROM @extschema@.tl_result t WHERE t.run = run AND t.perception IS NULL;
    IF r.input_query IS NOT NULL AND missing IS NOT NULL THEN
        IF r.created_by <> CURRENT_USER THEN
            caller := pg_catalog.current_setting('role');
            PERFORM pg_catalog.set_config('role', r.created_by, true);
        END IF;
        PERFORM pg_catalog.set_config('search_path', r.search_path, true);
        SELECT pg_catalog.jsonb_agg(b) INTO computed
          FROM @extschema@.tl_perception_batch(spec, pg_catalog.format(
                 'SELECT q.* FROM (%s) q(sample_id) WHERE q.sample_id::pg_catalog.text OPERATOR(pg_catalog.=) ANY (%L::pg_catalog.text[])',
                 r.input_query, missing)) b;
        PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
        IF caller IS NOT NULL THEN
            PERFORM pg_catalog.set_config('role', caller, true);
        END IF;
        UPDATE @extschema@.tl_result t
           SET perception = (SELECT array_agg(v::real ORDER BY o) FROM jsonb_array_elements_text(e -> 'perception') WITH ORDINALITY p(v, o)),
               output = coalesce(t.output, (SELECT array_agg(v::real ORDER BY o) FROM jsonb_array_elements_text(e -> 'output') WITH ORDINALITY p(v, o)))
          FROM jsonb_array_elements(computed) e
         WHERE t.run = run AND t.sample_id = e ->> 'id' AND t.perception IS NULL;
    END IF;

    -- 2. predictions and losses the outputs imply
    UPDATE @extschema@.tl_result t SET prediction = @extschema@.tl_predict_class(t.output)
     WHERE t.run = run AND t.prediction IS NULL AND t.output IS NOT NULL;
    IF EXISTS (SELECT 1 FROM @extschema@.tl_result t
                WHERE t.run = run AND t.loss IS NULL AND t.output IS NOT NULL AND t.label IS NOT NULL)
       AND EXISTS (SELECT 1 FROM @extschema@.tl_model m WHERE m.name = r.model) THEN
        BEGIN
            UPDATE @extschema@.tl_result t SET loss = @extschema@.tl_loss(spec, t.output, t.label)
             WHERE t.run = run AND t.loss IS NULL AND t.output IS NOT NULL AND t.label IS NOT NULL;
        EXCEPTION WHEN undefined_object THEN
            NULL;   -- the model file records no loss: losses stay as the pipeline gave them
        END;
    END IF;

    -- 3. coordinates: PCA of the perception vectors
    SELECT min(pg_catalog.cardinality(t.perception)) INTO width
      FROM @extschema@.tl_result t WHERE t.run = run AND t.perception IS NOT NULL;
    IF width IS NOT NULL THEN
        SELECT @extschema@.tl_pca_fit(t.perception, least(dims, width)) INTO p
          FROM @extschema@.tl_result t WHERE t.run = run AND t.perception IS NOT NULL;
        -- row by row, no join: linear however stale the statistics of the
        -- rows this transaction just inserted are
        UPDATE @extschema@.tl_result t SET (x, y, z) =
               (SELECT v[1], v[2], v[3] FROM (SELECT @extschema@.tl_pca_project(p, t.perception) AS v) pr)
         WHERE t.run = run AND t.perception IS NOT NULL;
        GET DIAGNOSTICS placed = ROW_COUNT;

        -- 4. keep the picture steady between epochs: rotate/reflect onto the
        --    previous run of the same model, dataset and subset (orthogonal
        --    Procrustes over the samples both runs placed)
        IF align THEN
            SELECT t.id INTO prev FROM @extschema@.tl_run t
             WHERE t.model = r.model AND t.dataset = r.dataset AND t.subset IS NOT DISTINCT FROM r.subset
               AND t.id <> r.id AND t.status = 'ready'
               AND CASE WHEN r.epoch IS NOT NULL AND t.epoch IS NOT NULL THEN t.epoch < r.epoch ELSE t.id < r.id END
             ORDER BY t.epoch DESC NULLS LAST, t.id DESC LIMIT 1;
        END IF;
        IF prev IS NOT NULL AND NOT @extschema@.tl_procrustes_align(run, prev) THEN
            prev := NULL;
        END IF;
    END IF;

    UPDATE @extschema@.tl_run t
       SET status = 'ready', pca = p, aligned_to = prev, analyzed_at = clock_timestamp(), analysis_error = NULL
     WHERE t.id = run;
    RETURN placed;
END
$$;
COMMENT ON FUNCTION @extschema@.tl_analyze(integer, integer, boolean) IS
    'Completes a run: perception vectors from input_query where missing, predictions and losses from outputs, x/y/z by PCA of the perception vectors, aligned (orthogonal Procrustes) to the previous epoch of the same model, dataset and subset. Returns the samples placed.';
