-- ---------------------------------------------------------------------------
-- Population maps that show clusters: UMAP and t-SNE (doc/maps.md)
-- ---------------------------------------------------------------------------
CREATE FUNCTION @extschema@.tl_embed_umap(
    tbl regclass,
    vec_column text,
    out_columns text[] DEFAULT '{x,y}',
    filter text DEFAULT NULL,
    n_neighbors integer DEFAULT 15,
    min_dist double precision DEFAULT 0.1,
    seed bigint DEFAULT 0,
    warm_start boolean DEFAULT false,
    fixed text DEFAULT NULL,
    iterations integer DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'pg_tl_embed_umap'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.tl_embed_umap(regclass, text, text[], text, integer, double precision, bigint, boolean, text, integer) IS
    'UMAP of a table''s vector column (rows matching filter, an SQL condition) into 2 or 3 coordinate columns of the same rows; warm_start starts rows from the coordinates they have; rows matching fixed (an SQL condition) keep theirs and the others are placed among them. Returns the rows written.';

CREATE FUNCTION @extschema@.tl_embed_tsne(
    tbl regclass,
    vec_column text,
    out_columns text[] DEFAULT '{x,y}',
    filter text DEFAULT NULL,
    perplexity double precision DEFAULT 30,
    warm_start boolean DEFAULT false,
    fixed text DEFAULT NULL,
    iterations integer DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'pg_tl_embed_tsne'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.tl_embed_tsne(regclass, text, text[], text, double precision, boolean, text, integer) IS
    'Barnes-Hut t-SNE of a table''s vector column (rows matching filter) into 2 or 3 coordinate columns of the same rows; warm_start and fixed as for tl_embed_umap. Returns the rows written.';

-- The map step of tl_analyze: the PCA coordinates stay in pca_x/pca_y/pca_z;
-- map 'umap' or 'tsne' replaces x, y (, z) with the map of the run's
-- perception vectors: started from the coordinates of warm_from (the
-- previous epoch, when it has a map of the same kind), or placed into the
-- map of reference_run without moving its points.
CREATE FUNCTION @extschema@.tl_analyze_map(run integer, map text DEFAULT NULL, dims integer DEFAULT 3,
                                           warm_from integer DEFAULT NULL, reference_run integer DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r       @extschema@.tl_run;
    ref     @extschema@.tl_run;
    m       text;
    cols    text[];
    warm    boolean := false;
    placed  bigint;
BEGIN
    SELECT * INTO r FROM @extschema@.tl_run t WHERE t.id = run;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'run % does not exist', run USING ERRCODE = 'undefined_object';
    END IF;
    m := coalesce(map, r.map, 'pca');
    IF m NOT IN ('pca', 'umap', 'tsne') THEN
        RAISE EXCEPTION 'unknown map "%"', m
            USING ERRCODE = 'invalid_parameter_value', HINT = 'The maps are pca, umap and tsne.';
    END IF;
    IF m <> 'pca' AND (dims IS NULL OR dims NOT IN (2, 3)) THEN
        RAISE EXCEPTION 'a % map has 2 or 3 dimensions, not %', m, dims
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF reference_run IS NOT NULL AND m = 'pca' THEN
        RAISE EXCEPTION 'reference_run places a run into a UMAP or t-SNE map, not a PCA'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass map => ''umap'' or map => ''tsne''.';
    END IF;
    UPDATE @extschema@.tl_result t SET pca_x = t.x, pca_y = t.y, pca_z = t.z WHERE t.run = run;
    IF m = 'pca' THEN
        UPDATE @extschema@.tl_run t SET map = m, map_reference = NULL WHERE t.id = run;
        SELECT count(*) INTO placed FROM @extschema@.tl_result t WHERE t.run = run AND t.x IS NOT NULL;
        RETURN placed;
    END IF;
    IF NOT EXISTS (SELECT FROM @extschema@.tl_result t WHERE t.run = run AND t.perception IS NOT NULL) THEN
        RAISE EXCEPTION 'run % has no perception vectors to map', run
            USING ERRCODE = 'no_data_found',
                  HINT = 'Insert them with the results, or give the run an input_query to compute them from.';
    END IF;
    cols := CASE dims WHEN 2 THEN '{x,y}'::text[] ELSE '{x,y,z}'::text[] END;

    IF reference_run IS NOT NULL THEN
        SELECT * INTO ref FROM @extschema@.tl_run t WHERE t.id = reference_run;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'reference run % does not exist', reference_run USING ERRCODE = 'undefined_object';
        END IF;
        IF ref.id = run OR ref.map IS DISTINCT FROM m OR ref.status <> 'ready'
           OR EXISTS (SELECT FROM @extschema@.tl_result t WHERE t.run = reference_run AND t.perception IS NOT NULL
                        AND (t.x IS NULL OR (dims = 3) <> (t.z IS NOT NULL))) THEN
            RAISE EXCEPTION 'reference run % has no % map in % dimensions to place run % into', reference_run, m, dims, run
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = pg_catalog.format('Map it first: SELECT tl_analyze(%s, %s, map => %L).', reference_run, dims, m);
        END IF;
        placed := CASE m
            WHEN 'umap' THEN @extschema@.tl_embed_umap('@extschema@.tl_result', 'perception', cols,
                pg_catalog.format('run OPERATOR(pg_catalog.=) ANY (''{%s,%s}'')', run, reference_run),
                fixed => pg_catalog.format('run OPERATOR(pg_catalog.=) %s', reference_run))
            ELSE @extschema@.tl_embed_tsne('@extschema@.tl_result', 'perception', cols,
                pg_catalog.format('run OPERATOR(pg_catalog.=) ANY (''{%s,%s}'')', run, reference_run),
                fixed => pg_catalog.format('run OPERATOR(pg_catalog.=) %s', reference_run)) END;
    ELSE
        -- a warm start from the previous epoch's map: the samples both runs
        -- have start where they were, the others are placed among them
        IF warm_from IS NOT NULL
           AND (SELECT t.map FROM @extschema@.tl_run t WHERE t.id = warm_from) = m THEN
            UPDATE @extschema@.tl_result t SET (x, y, z) =
                   (SELECT p.x, p.y, p.z FROM @extschema@.tl_result p WHERE p.run = warm_from AND p.sample_id = t.sample_id)
             WHERE t.run = run AND t.perception IS NOT NULL;
            warm := true;
        END IF;
        placed := CASE m
            WHEN 'umap' THEN @extschema@.tl_embed_umap('@extschema@.tl_result', 'perception', cols,
                pg_catalog.format('run OPERATOR(pg_catalog.=) %s', run), warm_start => warm)
            ELSE @extschema@.tl_embed_tsne('@extschema@.tl_result', 'perception', cols,
                pg_catalog.format('run OPERATOR(pg_catalog.=) %s', run), warm_start => warm) END;
    END IF;
    IF dims = 2 THEN
        UPDATE @extschema@.tl_result t SET z = NULL WHERE t.run = run AND t.z IS NOT NULL;
    END IF;
    UPDATE @extschema@.tl_run t SET map = m, map_reference = reference_run WHERE t.id = run;
    RETURN placed;
END
$$;
COMMENT ON FUNCTION @extschema@.tl_analyze_map(integer, text, integer, integer, integer) IS
    'The map step of tl_analyze: keeps the PCA coordinates in pca_x/pca_y/pca_z and, for map umap or tsne (NULL: the run''s own tl_run.map), replaces x/y/z by the map of the run''s perception vectors, warm-started from run warm_from when it has the same kind of map, or placed into reference_run''s map without moving its points. Returns the samples placed.';
