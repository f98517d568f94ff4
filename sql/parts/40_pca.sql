-- ---------------------------------------------------------------------------
-- Population exploration: PCA of perception vectors (doc/pca.md)
-- ---------------------------------------------------------------------------
CREATE TYPE @extschema@.tl_pca;

CREATE FUNCTION @extschema@.tl_pca_in(cstring)
RETURNS @extschema@.tl_pca
AS 'MODULE_PATHNAME', 'pg_tl_pca_in'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_pca_in(cstring) IS
    'Reads a tl_pca from the JSON text its output function writes.';

CREATE FUNCTION @extschema@.tl_pca_out(@extschema@.tl_pca)
RETURNS cstring
AS 'MODULE_PATHNAME', 'pg_tl_pca_out'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_pca_out(@extschema@.tl_pca) IS
    'Writes a tl_pca as a JSON object: width, k, n, nulls, method, sketch, explained_variance_ratio, explained_variance, total_variance, mean, components.';

CREATE FUNCTION @extschema@.tl_pca_recv(internal)
RETURNS @extschema@.tl_pca
AS 'MODULE_PATHNAME', 'pg_tl_pca_recv'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_pca_recv(internal) IS
    'Binary input of tl_pca.';

CREATE FUNCTION @extschema@.tl_pca_send(@extschema@.tl_pca)
RETURNS bytea
AS 'MODULE_PATHNAME', 'pg_tl_pca_send'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_pca_send(@extschema@.tl_pca) IS
    'Binary output of tl_pca.';

CREATE TYPE @extschema@.tl_pca (
    INPUT = @extschema@.tl_pca_in,
    OUTPUT = @extschema@.tl_pca_out,
    RECEIVE = @extschema@.tl_pca_recv,
    SEND = @extschema@.tl_pca_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = extended
);
COMMENT ON TYPE @extschema@.tl_pca IS
    'A fitted PCA: input width, k components, mean, components, explained variance and ratio, rows used, NULL vectors skipped, method.';

-- the aggregate's support functions (state: the core's accumulator)
CREATE FUNCTION @extschema@.tl_pca_fit_trans(internal, real[], integer)
RETURNS internal
AS 'MODULE_PATHNAME', 'pg_tl_pca_fit_trans'
LANGUAGE C CALLED ON NULL INPUT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_pca_fit_trans(internal, real[], integer) IS
    'tl_pca_fit transition: buffers a vector, accumulates blocks of rows with BLAS.';

CREATE FUNCTION @extschema@.tl_pca_fit_trans(internal, real[], integer, text)
RETURNS internal
AS 'MODULE_PATHNAME', 'pg_tl_pca_fit_trans'
LANGUAGE C CALLED ON NULL INPUT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_pca_fit_trans(internal, real[], integer, text) IS
    'tl_pca_fit transition with a method: buffers a vector, accumulates blocks of rows with BLAS.';

CREATE FUNCTION @extschema@.tl_pca_fit_combine(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'pg_tl_pca_fit_combine'
LANGUAGE C CALLED ON NULL INPUT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_pca_fit_combine(internal, internal) IS
    'tl_pca_fit combine: adds two partial states (parallel workers, shards).';

CREATE FUNCTION @extschema@.tl_pca_fit_serialize(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'pg_tl_pca_fit_serialize'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_pca_fit_serialize(internal) IS
    'tl_pca_fit state to bytes, for partial aggregation.';

CREATE FUNCTION @extschema@.tl_pca_fit_deserialize(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'pg_tl_pca_fit_deserialize'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_pca_fit_deserialize(bytea, internal) IS
    'tl_pca_fit state from bytes, for partial aggregation.';

CREATE FUNCTION @extschema@.tl_pca_fit_final(internal)
RETURNS @extschema@.tl_pca
AS 'MODULE_PATHNAME', 'pg_tl_pca_fit_final'
LANGUAGE C CALLED ON NULL INPUT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_pca_fit_final(internal) IS
    'tl_pca_fit final: solves for the components (LAPACK), or NULL without non-NULL vectors.';

-- SSPACE: the exact state of 784-wide vectors, a typical size
CREATE AGGREGATE @extschema@.tl_pca_fit(vec real[], k integer) (
    SFUNC = @extschema@.tl_pca_fit_trans,
    STYPE = internal,
    SSPACE = 5000000,
    FINALFUNC = @extschema@.tl_pca_fit_final,
    COMBINEFUNC = @extschema@.tl_pca_fit_combine,
    SERIALFUNC = @extschema@.tl_pca_fit_serialize,
    DESERIALFUNC = @extschema@.tl_pca_fit_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.tl_pca_fit(real[], integer) IS
    'Fits a PCA with k components to the vectors; method auto (exact up to 2048 wide, randomized above). NULL vectors are skipped and counted.';

CREATE AGGREGATE @extschema@.tl_pca_fit(vec real[], k integer, method text) (
    SFUNC = @extschema@.tl_pca_fit_trans,
    STYPE = internal,
    SSPACE = 5000000,
    FINALFUNC = @extschema@.tl_pca_fit_final,
    COMBINEFUNC = @extschema@.tl_pca_fit_combine,
    SERIALFUNC = @extschema@.tl_pca_fit_serialize,
    DESERIALFUNC = @extschema@.tl_pca_fit_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.tl_pca_fit(real[], integer, text) IS
    'Fits a PCA with k components to the vectors; method ''auto'', ''exact'' or ''randomized''. NULL vectors are skipped and counted.';

CREATE FUNCTION @extschema@.tl_pca_project(pca @extschema@.tl_pca, vec real[])
RETURNS real[]
AS 'MODULE_PATHNAME', 'pg_tl_pca_project'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_pca_project(@extschema@.tl_pca, real[]) IS
    'The coordinates of a vector on the components: (vec - mean) · componentsᵀ, k values.';

CREATE FUNCTION @extschema@.tl_pca_explained_variance_ratio(pca @extschema@.tl_pca)
RETURNS real[]
AS 'MODULE_PATHNAME', 'pg_tl_pca_explained_variance_ratio'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_pca_explained_variance_ratio(@extschema@.tl_pca) IS
    'Each component''s share of the total variance.';

CREATE FUNCTION @extschema@.tl_pca_explained_variance(pca @extschema@.tl_pca)
RETURNS real[]
AS 'MODULE_PATHNAME', 'pg_tl_pca_explained_variance'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_pca_explained_variance(@extschema@.tl_pca) IS
    'The variance along each component (divided by n - 1, as scikit-learn does).';

CREATE FUNCTION @extschema@.tl_pca_components(pca @extschema@.tl_pca)
RETURNS real[]
AS 'MODULE_PATHNAME', 'pg_tl_pca_components'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_pca_components(@extschema@.tl_pca) IS
    'The components as a k x width array, one unit vector per row; each row''s largest-magnitude value is positive.';

CREATE FUNCTION @extschema@.tl_pca_mean(pca @extschema@.tl_pca)
RETURNS real[]
AS 'MODULE_PATHNAME', 'pg_tl_pca_mean'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_pca_mean(@extschema@.tl_pca) IS
    'The mean of the vectors the PCA was fitted on.';

CREATE FUNCTION @extschema@.tl_pca_n(pca @extschema@.tl_pca)
RETURNS bigint
AS 'MODULE_PATHNAME', 'pg_tl_pca_n'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_pca_n(@extschema@.tl_pca) IS
    'The number of vectors the PCA was fitted on.';

CREATE FUNCTION @extschema@.tl_pca_nulls(pca @extschema@.tl_pca)
RETURNS bigint
AS 'MODULE_PATHNAME', 'pg_tl_pca_nulls'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_pca_nulls(@extschema@.tl_pca) IS
    'The number of NULL vectors tl_pca_fit skipped.';

-- One call from a table column to coordinates in that table.  A later
-- overload will take a run id (the runs/results tables) instead of a table.
CREATE FUNCTION @extschema@.tl_embed_pca(
    tbl regclass,
    vec_column text,
    coord_columns text[] DEFAULT '{x,y}',
    filter text DEFAULT NULL,
    pca @extschema@.tl_pca DEFAULT NULL)
RETURNS @extschema@.tl_pca
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k     integer := cardinality(coord_columns);
    cond  text := coalesce('(' || filter || ')', 'true');
    vec   text;
    cols  text;
    vals  text;
    missing text;
BEGIN
    IF tbl IS NULL OR vec_column IS NULL OR coord_columns IS NULL THEN
        RAISE EXCEPTION 'tl_embed_pca: tbl, vec_column and coord_columns must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF k < 1 OR array_ndims(coord_columns) <> 1 OR array_position(coord_columns, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'tl_embed_pca: coord_columns must list one column name per coordinate, not %',
                        coord_columns
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'For example ''{x,y}'' or ''{x,y,z}''.';
    END IF;
    -- the columns must exist before the (possibly long) fit, not only at the UPDATE after it
    IF NOT EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = tbl AND a.attname = vec_column
                      AND a.attnum > 0 AND NOT a.attisdropped) THEN
        RAISE EXCEPTION 'tl_embed_pca: table % has no column % (the vectors)', tbl, vec_column
            USING ERRCODE = 'undefined_column';
    END IF;
    SELECT string_agg(format('%I', c), ', ' ORDER BY i), string_agg(format('ADD %I real', c), ', ' ORDER BY i)
      INTO missing, cols
      FROM unnest(coord_columns) WITH ORDINALITY u(c, i)
     WHERE NOT EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = tbl AND a.attname = u.c
                          AND a.attnum > 0 AND NOT a.attisdropped);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'tl_embed_pca: table % has no column %', tbl, missing
            USING ERRCODE = 'undefined_column',
                  HINT = format('Create the coordinate columns first: ALTER TABLE %s %s;', tbl, cols);
    END IF;
    -- the table's own name qualifies the vector column inside the sub-select
    vec := format('%s.%I', tbl, vec_column);
    IF pca IS NULL THEN
        EXECUTE format('SELECT @extschema@.tl_pca_fit(%s, $1) FROM %s WHERE %s', vec, tbl, cond)
           INTO pca USING k;
        IF pca IS NULL THEN
            RAISE EXCEPTION 'tl_embed_pca: no vectors to fit in % (column %)', tbl, vec_column
                USING ERRCODE = 'no_data_found',
                      DETAIL = 'No row matches the filter, or every vector is NULL.';
        END IF;
    ELSIF cardinality(@extschema@.tl_pca_explained_variance(pca)) < k THEN
        RAISE EXCEPTION 'tl_embed_pca: the PCA has % components, but % coordinate columns are named',
                        cardinality(@extschema@.tl_pca_explained_variance(pca)), k
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT string_agg(format('%I', c), ', ' ORDER BY i), string_agg(format('p.c[%s]', i), ', ' ORDER BY i)
      INTO cols, vals
      FROM unnest(coord_columns) WITH ORDINALITY u(c, i);
    EXECUTE format('UPDATE %s SET (%s) = (SELECT %s FROM (SELECT @extschema@.tl_pca_project($1, %s)) p(c)) WHERE %s',
                   tbl, cols, vals, vec, cond)
      USING pca;
    RETURN pca;
END
$$;
COMMENT ON FUNCTION @extschema@.tl_embed_pca(regclass, text, text[], text, @extschema@.tl_pca) IS
    'Fits a PCA over a table''s vector column (rows matching filter, an SQL condition) unless one is given, writes each row''s coordinates into coord_columns, returns the PCA.';
