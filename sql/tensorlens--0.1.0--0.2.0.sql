-- tensorlens 0.1.0 -> 0.2.0 (ALTER EXTENSION tensorlens UPDATE): what changes
-- in the objects of 0.1.0 (sql/parts/10_, 20_, 30_).  0.2.0 adds compiled
-- models in the store, the model cache functions, PCA (issue 4), saliency
-- (issue 5), runs and results with analysis at commit (issue 6), pictures
-- and the report (issue 7), usage grants and row-level security (issue 9):
-- the Makefile appends those parts (sql/parts/40_ onwards) and the report
-- template to this file, making sql/tensorlens--0.1.0--0.2.0.sql.  Frozen
-- once 0.2.0 is released; until then every change to parts 10_-30_ must be
-- mirrored here (test/sql/63_upgrade.sql fails otherwise).  See
-- doc/security.md, "Upgrades".
\echo Use "ALTER EXTENSION tensorlens UPDATE TO '0.2.0'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- The model store: the model as parsed at import (sql/parts/10_model_store.sql)
-- ---------------------------------------------------------------------------
ALTER TABLE @extschema@.tl_model ADD COLUMN compiled bytea, ADD COLUMN compiled_for bytea;
ALTER TABLE @extschema@.tl_model ALTER COLUMN compiled SET STORAGE EXTERNAL;

-- a new OUT column: the function is made again
DROP FUNCTION @extschema@.tl_model_inspect(bytea);
CREATE FUNCTION @extschema@.tl_model_inspect(
    data bytea,
    OUT format text, OUT keras_version text, OUT config jsonb,
    OUT training_config jsonb, OUT input_shape integer[], OUT output_shape integer[],
    OUT compiled bytea)
RETURNS record
AS 'MODULE_PATHNAME', 'pg_tl_model_inspect'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_model_inspect(bytea) IS
    'Parses a Keras .h5/.keras file (weights included) and reports what it holds, without storing it.';

CREATE OR REPLACE FUNCTION @extschema@.tl_model_import(name text, data bytea)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    info record;
    rev  integer;
BEGIN
    IF name IS NULL OR data IS NULL THEN
        RAISE EXCEPTION 'tl_model_import: name and data must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF name = '' OR strpos(name, '@') > 0 OR length(name) > 200 THEN
        RAISE EXCEPTION 'invalid model name "%"', name
            USING ERRCODE = 'invalid_name',
                  DETAIL = 'A model name has 1 to 200 characters and no "@" ("name@3" means revision 3).';
    END IF;
    -- parse before storing: a file that cannot be run is refused here
    info := @extschema@.tl_model_inspect(data);
    -- one importer per name at a time, so revisions count 1, 2, 3...
    PERFORM pg_advisory_xact_lock(hashtextextended('tensorlens.tl_model:' || name, 0));
    SELECT coalesce(max(m.revision), 0) + 1 INTO rev
      FROM @extschema@.tl_model m WHERE m.name = name;
    INSERT INTO @extschema@.tl_model
           (name, revision, format, keras_version, data, config,
            training_config, input_shape, output_shape, compiled, compiled_for)
    VALUES (name, rev, info.format, info.keras_version, data, info.config,
            info.training_config, info.input_shape, info.output_shape,
            info.compiled, sha256(data));
    RETURN rev;
END
$$;
COMMENT ON FUNCTION @extschema@.tl_model_import(text, bytea) IS
    'Stores a Keras model (.h5 or .keras bytes) as a new revision of name; returns the revision.';

CREATE FUNCTION @extschema@.tl_model_cache()
RETURNS TABLE (name text, revision integer, bytes bigint, last_used bigint)
AS 'MODULE_PATHNAME', 'pg_tl_model_cache'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.tl_model_cache() IS
    'The models parsed and cached in this backend (bounded by tensorlens.model_cache_size), most recently used first by last_used.';

CREATE FUNCTION @extschema@.tl_model_cache_clear()
RETURNS integer
AS 'MODULE_PATHNAME', 'pg_tl_model_cache_clear'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.tl_model_cache_clear() IS
    'Drops every model cached in this backend; returns how many. The next use loads them again.';

-- Models imported under 0.1.0 get their compiled form now, so that backends
-- need not parse their files (they would: the loader falls back to the file
-- without one).  A model the parser now refuses keeps none, with a warning.
DO $tl_upgrade$
DECLARE
    m record;
BEGIN
    FOR m IN SELECT t.name, t.revision FROM @extschema@.tl_model t
              WHERE t.compiled IS NULL ORDER BY t.name, t.revision LOOP
        BEGIN
            UPDATE @extschema@.tl_model t
               SET compiled = (@extschema@.tl_model_inspect(t.data)).compiled, compiled_for = t.sha256
             WHERE t.name = m.name AND t.revision = m.revision;
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'tensorlens: model %@% is not compiled (%); it is parsed from its file when used',
                m.name, m.revision, SQLERRM;
        END;
    END LOOP;
END
$tl_upgrade$;

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
-- ---------------------------------------------------------------------------
-- Sample analysis: which tokens (or pixels) drive a model's score for a
-- class, how faithful that attribution is, and a heat map to read it.
-- Scores are taken before the final activation: a single sigmoid/linear
-- unit scores class 1 as its logit z and class 0 as -z; a softmax scores
-- class k as its logit z_k.  See doc/saliency.md.
-- ---------------------------------------------------------------------------
CREATE FUNCTION @extschema@.tl_token_saliency(
    model text, tokens integer[], target integer,
    method text DEFAULT 'grad_input', steps integer DEFAULT 32,
    layer text DEFAULT NULL, seed bigint DEFAULT 0)
RETURNS TABLE (pos integer, token integer, score real)
AS 'MODULE_PATHNAME', 'pg_tl_token_saliency'
LANGUAGE C CALLED ON NULL INPUT STABLE PARALLEL SAFE ROWS 500;
COMMENT ON FUNCTION @extschema@.tl_token_saliency(text, integer[], integer, text, integer, text, bigint) IS
    'One row per position of the token sequence as the model sees it (fitted like tl_infer: pre-padded with 0 / pre-truncated); score = contribution to class target. Methods: gradient, grad_input, integrated_gradients (steps), occlusion, grad_cam/layer_cam (layer, default the last convolution), random (seed).';

CREATE FUNCTION @extschema@.tl_pixel_saliency(
    model text, input real[], target integer,
    method text DEFAULT 'grad_input', steps integer DEFAULT 32,
    layer text DEFAULT NULL, seed bigint DEFAULT 0)
RETURNS real[]
AS 'MODULE_PATHNAME', 'pg_tl_pixel_saliency'
LANGUAGE C CALLED ON NULL INPUT STABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_pixel_saliency(text, real[], integer, text, integer, text, bigint) IS
    'Saliency of every input element for class target of a model that takes real numbers (images, vectors), shaped like the input; same methods as tl_token_saliency (occlusion blanks all channels of a position).';

CREATE FUNCTION @extschema@.tl_ig_completeness(
    model text, input anyarray, target integer, steps integer DEFAULT 32,
    OUT score real, OUT baseline real, OUT attribution_sum real, OUT gap real)
RETURNS record
AS 'MODULE_PATHNAME', 'pg_tl_ig_completeness'
LANGUAGE C CALLED ON NULL INPUT STABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_ig_completeness(text, anyarray, integer, integer) IS
    'Integrated gradients'' completeness check: the class score of the input and of the all-zero baseline, the sum of the attributions, and gap = |sum - (score - baseline)| / |score - baseline|.';

CREATE FUNCTION @extschema@.tl_saliency_eval(
    model text, tokens integer[], target integer,
    method text DEFAULT 'grad_input', steps integer DEFAULT 32,
    layer text DEFAULT NULL, seed bigint DEFAULT 0,
    OUT n_tokens integer, OUT score real, OUT empty_score real,
    OUT comprehensiveness real, OUT sufficiency real, OUT deletion_auc real,
    OUT comprehensiveness_at real[], OUT sufficiency_at real[])
RETURNS record
AS 'MODULE_PATHNAME', 'pg_tl_saliency_eval'
LANGUAGE C CALLED ON NULL INPUT STABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_saliency_eval(text, integer[], integer, text, integer, text, bigint) IS
    'Faithfulness of a saliency method on one token sequence (ERASER): comprehensiveness and sufficiency averaged over the top 1/5/10/20/50 % tokens (per bin in the _at arrays), and the area under the deletion curve; erased tokens become padding (0).';

CREATE FUNCTION @extschema@.tl_html_escape(s text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT replace(replace(replace(replace(replace(s,
           '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), '"', '&quot;'), '''', '&#39;')
$$;
COMMENT ON FUNCTION @extschema@.tl_html_escape(text) IS
    'The text with & < > " and '' replaced by HTML entities, safe inside HTML elements and attributes.';

CREATE FUNCTION @extschema@.tl_html_saliency(
    words text[], scores real[],
    towards text DEFAULT 'towards the target', against text DEFAULT 'against the target')
RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    top  float8;
    body text;
    -- towards the target in red, against it in blue (ColorBrewer RdBu ends)
    red  CONSTANT text := '178,24,43';
    blue CONSTANT text := '33,102,172';
BEGIN
    IF cardinality(words) <> cardinality(scores) THEN
        RAISE EXCEPTION 'tl_html_saliency: % words but % scores', cardinality(words), cardinality(scores)
            USING ERRCODE = 'array_subscript_error';
    END IF;
    IF EXISTS (SELECT FROM unnest(scores) s WHERE s IN ('NaN', 'Infinity', '-Infinity')) THEN
        RAISE EXCEPTION 'tl_html_saliency: the scores must be finite numbers (NULL leaves a word uncoloured)'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT max(abs(s)) INTO top FROM unnest(scores) s;
    SELECT string_agg(CASE WHEN s IS NULL OR coalesce(top, 0) = 0
                           THEN format('<span>%s</span>', @extschema@.tl_html_escape(w))
                           ELSE format('<span style="background:rgba(%s,%s);border-radius:3px;padding:0 2px" title="%s">%s</span>',
                                       CASE WHEN s > 0 THEN red ELSE blue END,
                                       round((abs(s) / top)::numeric, 3),
                                       round(s::numeric, 4),
                                       @extschema@.tl_html_escape(w)) END,
                      ' ' ORDER BY i)
      INTO body
      FROM unnest(words, scores) WITH ORDINALITY AS t(w, s, i);
    RETURN format('<div class="tl-saliency" style="font-family:sans-serif;line-height:1.8">'
                  '<div>%s</div>'
                  '<div class="tl-legend" style="margin-top:0.5em;font-size:80%%">'
                  '<span style="background:rgba(%s,1);color:white;padding:0 4px">%s</span> '
                  '<span style="padding:0 4px">0</span> '
                  '<span style="background:rgba(%s,1);color:white;padding:0 4px">%s</span> '
                  '<span>(colour scale up to |score| = %s)</span></div></div>',
                  coalesce(body, ''), blue, @extschema@.tl_html_escape(against),
                  red, @extschema@.tl_html_escape(towards),
                  coalesce(round(top::numeric, 4), 0));
END
$$;
COMMENT ON FUNCTION @extschema@.tl_html_saliency(text[], real[], text, text) IS
    'A self-contained HTML fragment showing the words with a diverging heat map of their scores (red towards the target class, blue against it, opacity = |score| / max |score|) and a legend; everything HTML-escaped.';
-- ---------------------------------------------------------------------------
-- Runs and results: the analysis schema analysts, BI tools and pipelines share
-- ---------------------------------------------------------------------------
-- A run is one model (revision) evaluated on one dataset/subset, typically
-- one training epoch.  Samples stay in the user's own tables; results refer
-- to them by the user's key (sample_id, as text).
CREATE SEQUENCE @extschema@.tl_run_id_seq AS integer;
CREATE TABLE @extschema@.tl_run (
    id              integer     PRIMARY KEY DEFAULT pg_catalog.nextval('@extschema@.tl_run_id_seq'),
    model           text        NOT NULL,
    revision        integer,
    dataset         text        NOT NULL,
    subset          text,
    epoch           integer,
    status          text        NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('running', 'pending', 'ready', 'failed')),
    -- where the inputs are, so that analysis can compute missing perception
    -- vectors: a query returning (sample_id, input); it runs with the
    -- search_path of the session that created the run
    input_query     text,
    search_path     text        NOT NULL DEFAULT pg_catalog.current_setting('search_path'),
    class_names     text[],
    pca             @extschema@.tl_pca,
    aligned_to      integer     REFERENCES @extschema@.tl_run (id) ON DELETE SET NULL,
    analysis_error  text,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    analyzed_at     timestamptz,
    created_by      name        NOT NULL DEFAULT CURRENT_USER
);
ALTER SEQUENCE @extschema@.tl_run_id_seq OWNED BY @extschema@.tl_run.id;
CREATE INDEX tl_run_lineage ON @extschema@.tl_run (model, dataset, subset, epoch);
COMMENT ON TABLE @extschema@.tl_run IS
    'One evaluation of a model on a dataset (subset, epoch). status: running (tl_evaluate at work), pending (results arrived, analysis at commit), ready, failed (analysis_error says why; the results are kept).';

CREATE TABLE @extschema@.tl_result (
    run         integer NOT NULL REFERENCES @extschema@.tl_run (id) ON DELETE CASCADE,
    sample_id   text    NOT NULL,
    label       integer,
    output      real[],
    prediction  integer,
    loss        real,
    perception  real[],
    x           real,
    y           real,
    z           real,
    PRIMARY KEY (run, sample_id)
);
CREATE INDEX tl_result_by_loss ON @extschema@.tl_result (run, loss DESC);
COMMENT ON TABLE @extschema@.tl_result IS
    'Per-sample results of a run: label, model output, predicted class, loss, perception vector and the x/y/z coordinates of population exploration.';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.tl_run', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.tl_run_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.tl_result', '');

-- ---------------------------------------------------------------------------
-- Automatic analysis.  Inserting results marks the run 'pending' (a
-- statement-level trigger, once per statement); a deferred constraint
-- trigger then runs tl_analyze(run) when the transaction commits, once per
-- run however many statements inserted it.  Chosen over pg_cron because it
-- needs nothing preloaded and the coordinates are there the moment the
-- pipeline's epoch transaction commits; an analysis error never aborts that
-- commit: the run is marked 'failed' with the reason and the results stay.
-- ---------------------------------------------------------------------------
CREATE FUNCTION @extschema@.tl_result_mark_pending()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE @extschema@.tl_run r SET status = 'pending'
     WHERE r.id IN (SELECT DISTINCT n.run FROM new_results n)
       AND r.status NOT IN ('pending', 'running');
    RETURN NULL;
END
$$;
CREATE TRIGGER tl_result_inserted
    AFTER INSERT ON @extschema@.tl_result
    REFERENCING NEW TABLE AS new_results
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.tl_result_mark_pending();

CREATE FUNCTION @extschema@.tl_run_analyze_at_commit()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- several statements may have queued this run: analyse it once
    IF (SELECT r.status FROM @extschema@.tl_run r WHERE r.id = NEW.id) = 'pending' THEN
        BEGIN
            PERFORM @extschema@.tl_analyze(NEW.id);
        EXCEPTION WHEN OTHERS THEN
            UPDATE @extschema@.tl_run r
               SET status = 'failed', analysis_error = SQLSTATE || ': ' || SQLERRM
             WHERE r.id = NEW.id;
        END;
    END IF;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER tl_run_analyze
    AFTER INSERT OR UPDATE OF status ON @extschema@.tl_run
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.status = 'pending')
    EXECUTE FUNCTION @extschema@.tl_run_analyze_at_commit();

-- ---------------------------------------------------------------------------
-- Views for charts: plain columns a BI tool can use without knowing tensorlens.
-- security_invoker: a view reads tl_run/tl_result with the rights (and the
-- row-level security policies, 80_privileges.sql) of whoever queries it, not
-- of the view's owner.
-- ---------------------------------------------------------------------------
CREATE VIEW @extschema@.tl_population WITH (security_invoker = true) AS
SELECT r.run, ru.model, ru.revision, ru.dataset, ru.subset, ru.epoch,
       r.sample_id, r.x, r.y, r.z, r.loss, r.label,
       coalesce(ru.class_names[r.label + 1], r.label::text) AS label_name,
       r.prediction,
       coalesce(ru.class_names[r.prediction + 1], r.prediction::text) AS prediction_name,
       (r.label = r.prediction) AS correct,
       -- the probability of the predicted class; one unit is clipped to
       -- [0, 1] as Keras' binary cross-entropy reads it (a linear output)
       CASE WHEN r.output IS NULL THEN NULL
            WHEN pg_catalog.cardinality(r.output) = 1
            THEN CASE WHEN r.prediction = 1 THEN least(1, greatest(0, r.output[1]))
                      ELSE 1 - least(1, greatest(0, r.output[1])) END
            ELSE (SELECT max(o) FROM pg_catalog.unnest(r.output) o) END AS confidence
  FROM @extschema@.tl_result r
  JOIN @extschema@.tl_run ru ON ru.id = r.run;
COMMENT ON VIEW @extschema@.tl_population IS
    'One dot per sample and run: coordinates (x, y, z), loss (dot size), label and prediction (colour), correct.';

CREATE VIEW @extschema@.tl_class_metrics WITH (security_invoker = true) AS
WITH counts AS (
    SELECT r.run, c.class,
           count(*) FILTER (WHERE r.label = c.class) AS support,
           count(*) FILTER (WHERE r.label = c.class AND r.prediction = c.class) AS tp,
           count(*) FILTER (WHERE r.label <> c.class AND r.prediction = c.class) AS fp,
           count(*) FILTER (WHERE r.label = c.class AND r.prediction <> c.class) AS fn,
           count(*) AS n,
           avg(r.loss) FILTER (WHERE r.label = c.class) AS mean_loss
      FROM @extschema@.tl_result r
      JOIN (SELECT DISTINCT run, label AS class FROM @extschema@.tl_result WHERE label IS NOT NULL
            UNION SELECT DISTINCT run, prediction FROM @extschema@.tl_result WHERE prediction IS NOT NULL) c
        ON c.run = r.run
     WHERE r.label IS NOT NULL AND r.prediction IS NOT NULL
     GROUP BY r.run, c.class)
SELECT c.run, c.class, coalesce(ru.class_names[c.class + 1], c.class::text) AS class_name,
       c.support AS count,
       (c.n - c.fp - c.fn)::float8 / c.n AS accuracy,
       CASE WHEN c.tp + c.fp > 0 THEN c.tp::float8 / (c.tp + c.fp) END AS precision,
       CASE WHEN c.tp + c.fn > 0 THEN c.tp::float8 / (c.tp + c.fn) END AS recall,
       CASE WHEN 2 * c.tp + c.fp + c.fn > 0 THEN 2.0 * c.tp / (2 * c.tp + c.fp + c.fn) END AS f1,
       c.mean_loss
  FROM counts c JOIN @extschema@.tl_run ru ON ru.id = c.run;
COMMENT ON VIEW @extschema@.tl_class_metrics IS
    'Per run and class: support (count), one-vs-rest accuracy, precision, recall, F1, mean loss of the samples labelled with the class.';

CREATE VIEW @extschema@.tl_run_compare WITH (security_invoker = true) AS
SELECT a.run AS run_a, b.run AS run_b, a.sample_id, a.label,
       a.prediction AS prediction_a, b.prediction AS prediction_b,
       a.loss AS loss_a, b.loss AS loss_b,
       (a.label = a.prediction) AS correct_a, (b.label = b.prediction) AS correct_b
  FROM @extschema@.tl_result a
  JOIN @extschema@.tl_run ra ON ra.id = a.run
  JOIN @extschema@.tl_run rb ON rb.dataset = ra.dataset AND rb.id <> ra.id
  JOIN @extschema@.tl_result b ON b.run = rb.id AND b.sample_id = a.sample_id;
COMMENT ON VIEW @extschema@.tl_run_compare IS
    'The same samples under two runs of the same dataset (filter run_a and run_b), e.g. a Dense model against a CNN: both predictions and losses.';

CREATE FUNCTION @extschema@.tl_failures(run integer)
RETURNS TABLE (sample_id text, label integer, prediction integer, loss real, x real, y real)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT r.sample_id, r.label, r.prediction, r.loss, r.x, r.y
      FROM @extschema@.tl_result r
     WHERE r.run = $1 AND r.prediction IS DISTINCT FROM r.label
     ORDER BY r.loss DESC NULLS LAST, r.sample_id
$$;
COMMENT ON FUNCTION @extschema@.tl_failures(integer) IS
    'The wrong predictions of a run, highest loss first.';

-- ---------------------------------------------------------------------------
-- Evaluation and analysis
-- ---------------------------------------------------------------------------
CREATE FUNCTION @extschema@.tl_evaluate(model text, query text, dataset text,
                                        subset text DEFAULT NULL, epoch integer DEFAULT NULL,
                                        loss text DEFAULT NULL, class_names text[] DEFAULT NULL)
RETURNS integer
AS 'MODULE_PATHNAME', 'pg_tl_evaluate'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.tl_evaluate(text, text, text, text, integer, text, text[]) IS
    'Runs the model over the rows (sample_id, input, label) of a query, in batches, into a new run: output, prediction, loss (the model''s training loss unless loss names one), perception vector; then tl_analyze places the samples. Returns the run id.';

CREATE FUNCTION @extschema@.tl_procrustes(m double precision[])
RETURNS double precision[]
AS 'MODULE_PATHNAME', 'pg_tl_procrustes'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_procrustes(double precision[]) IS
    'For M = AᵀB (d×d, d <= 3, row-major) the orthogonal R minimising |A R − B| (orthogonal Procrustes).';

CREATE FUNCTION @extschema@.tl_analyze(run integer, dims integer DEFAULT 3, align boolean DEFAULT true)
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
    c       record;
    rot     double precision[];
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
        IF prev IS NOT NULL THEN
            SELECT count(*) AS n,
                   avg(a.x) AS a_x, avg(a.y) AS a_y, avg(coalesce(a.z, 0)) AS a_z,
                   avg(b.x) AS b_x, avg(b.y) AS b_y, avg(coalesce(b.z, 0)) AS b_z
              INTO c
              FROM @extschema@.tl_result a JOIN @extschema@.tl_result b ON b.sample_id = a.sample_id
             WHERE a.run = run AND b.run = prev AND a.x IS NOT NULL AND b.x IS NOT NULL;
            IF c.n > 3 THEN
                SELECT @extschema@.tl_procrustes(ARRAY[
                         sum((a.x - c.a_x) * (b.x - c.b_x)), sum((a.x - c.a_x) * (b.y - c.b_y)), sum((a.x - c.a_x) * (coalesce(b.z, 0) - c.b_z)),
                         sum((a.y - c.a_y) * (b.x - c.b_x)), sum((a.y - c.a_y) * (b.y - c.b_y)), sum((a.y - c.a_y) * (coalesce(b.z, 0) - c.b_z)),
                         sum((coalesce(a.z, 0) - c.a_z) * (b.x - c.b_x)), sum((coalesce(a.z, 0) - c.a_z) * (b.y - c.b_y)),
                         sum((coalesce(a.z, 0) - c.a_z) * (coalesce(b.z, 0) - c.b_z))])
                  INTO rot
                  FROM @extschema@.tl_result a JOIN @extschema@.tl_result b ON b.sample_id = a.sample_id
                 WHERE a.run = run AND b.run = prev AND a.x IS NOT NULL AND b.x IS NOT NULL;
                UPDATE @extschema@.tl_result t
                   SET x = (t.x - c.a_x) * rot[1][1] + (t.y - c.a_y) * rot[2][1] + (coalesce(t.z, 0) - c.a_z) * rot[3][1] + c.b_x,
                       y = (t.x - c.a_x) * rot[1][2] + (t.y - c.a_y) * rot[2][2] + (coalesce(t.z, 0) - c.a_z) * rot[3][2] + c.b_y,
                       z = CASE WHEN t.z IS NULL THEN NULL ELSE
                           (t.x - c.a_x) * rot[1][3] + (t.y - c.a_y) * rot[2][3] + (t.z - c.a_z) * rot[3][3] + c.b_z END
                 WHERE t.run = run AND t.x IS NOT NULL;
            ELSE
                prev := NULL;
            END IF;
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

CREATE FUNCTION @extschema@.tl_label_issues(run integer, k integer DEFAULT 10)
RETURNS TABLE (rank integer, sample_id text, label integer, suggested_label integer, score real,
               self_confidence real, margin real, neighbour_disagreement real,
               confident_learning boolean, prediction integer, loss real)
AS 'MODULE_PATHNAME', 'pg_tl_label_issues'
LANGUAGE C STRICT STABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_label_issues(integer, integer) IS
    'Labelled samples of a run ranked most likely mislabelled first: confident learning (per-class thresholds), normalised margin and the share of the k nearest neighbours (in the 32 leading principal components of perception space) labelled otherwise.';

CREATE FUNCTION @extschema@.tl_failure_clusters(run integer, clusters integer DEFAULT 8)
RETURNS TABLE (cluster integer, size integer, failures integer, error_rate real, mean_loss real,
               x real, y real, worst_samples text[])
AS 'MODULE_PATHNAME', 'pg_tl_failure_clusters'
LANGUAGE C STRICT STABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_failure_clusters(integer, integer) IS
    'k-means (fixed seed) on the coordinates of a run: per cluster its size, failures, error rate, mean loss, centre and five highest-loss samples.';
-- ---------------------------------------------------------------------------
-- Pictures from SQL
-- ---------------------------------------------------------------------------
CREATE FUNCTION @extschema@.tl_svg_scatter_add(internal, float8, float8, float8, text, text)
RETURNS internal AS 'MODULE_PATHNAME', 'pg_tl_svg_scatter_add'
LANGUAGE C CALLED ON NULL INPUT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION @extschema@.tl_svg_scatter_add(internal, float8, float8, float8, text, text, text)
RETURNS internal AS 'MODULE_PATHNAME', 'pg_tl_svg_scatter_add'
LANGUAGE C CALLED ON NULL INPUT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION @extschema@.tl_svg_scatter_final(internal)
RETURNS text AS 'MODULE_PATHNAME', 'pg_tl_svg_scatter_final'
LANGUAGE C CALLED ON NULL INPUT IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE @extschema@.tl_svg_scatter(x float8, y float8, size float8, colour text, label text) (
    SFUNC = @extschema@.tl_svg_scatter_add,
    STYPE = internal,
    FINALFUNC = @extschema@.tl_svg_scatter_final
);
COMMENT ON AGGREGATE @extschema@.tl_svg_scatter(float8, float8, float8, text, text) IS
    'A self-contained SVG scatter plot: dots sized by size (e.g. loss, biggest drawn on top), coloured by colour (categories get a legend, numbers a colour bar), label as each dot''s tooltip. Feed it rows in a fixed order (ORDER BY inside the call) for identical output.';
CREATE AGGREGATE @extschema@.tl_svg_scatter(x float8, y float8, size float8, colour text, label text, title text) (
    SFUNC = @extschema@.tl_svg_scatter_add,
    STYPE = internal,
    FINALFUNC = @extschema@.tl_svg_scatter_final
);
COMMENT ON AGGREGATE @extschema@.tl_svg_scatter(float8, float8, float8, text, text, text) IS
    'tl_svg_scatter with a title (taken from the first row).';
-- ---------------------------------------------------------------------------
-- The run report: one self-contained HTML page (template in
-- sql/report_template.html, embedded by the Makefile as tl_report_template())
-- ---------------------------------------------------------------------------
CREATE FUNCTION @extschema@.tl_html_report(run integer, preview_query text DEFAULT NULL,
                                           vocab text DEFAULT NULL, heatmaps integer DEFAULT 20)
RETURNS text
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r         @extschema@.tl_run;
    spec      text;
    previews  jsonb := '{}';
    points    jsonb;
    metrics   jsonb;
    issues    jsonb := '[]';
    heat      jsonb := '{}';
    tokens    boolean;
    in_shape  integer[];
    s         record;
    data      text;
    ids       text[];
    inputs    jsonb;
    caller    text;
BEGIN
    IF heatmaps IS NULL OR heatmaps < 0 OR heatmaps > 1000 THEN
        RAISE EXCEPTION 'heatmaps must be between 0 and 1000, not %', heatmaps
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO r FROM @extschema@.tl_run t WHERE t.id = run;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'run % does not exist', run USING ERRCODE = 'undefined_object';
    END IF;
    spec := r.model || coalesce('@' || r.revision, '');

    -- what a hover shows: the caller's query returns (sample_id, preview
    -- text).  Like the run's input query it is the user's SQL: it alone runs
    -- with the run's search_path, in a wrapper that names everything it uses.
    -- Both run as the run's creator when the caller is another role (an
    -- administrator): a search_path or query the creator chose never runs
    -- with more privileges than the creator's.
    IF r.created_by <> CURRENT_USER THEN
        caller := pg_catalog.current_setting('role');
    END IF;
    SELECT array_agg(t.sample_id) INTO ids FROM @extschema@.tl_result t WHERE t.run = run;
    IF preview_query IS NOT NULL AND ids IS NOT NULL THEN
        IF caller IS NOT NULL THEN
            PERFORM pg_catalog.set_config('role', r.created_by, true);
        END IF;
        PERFORM pg_catalog.set_config('search_path', r.search_path, true);
        EXECUTE pg_catalog.format(
            'SELECT pg_catalog.jsonb_object_agg(q.sample_id::pg_catalog.text, pg_catalog.left(q.preview::pg_catalog.text, 300)) '
            'FROM (%s) q(sample_id, preview) WHERE q.sample_id::pg_catalog.text OPERATOR(pg_catalog.=) ANY ($1)',
            preview_query) INTO previews USING ids;
        PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
        IF caller IS NOT NULL THEN
            PERFORM pg_catalog.set_config('role', caller, true);
        END IF;
        previews := coalesce(previews, '{}');
    END IF;
    SELECT coalesce(jsonb_agg(jsonb_build_array(p.sample_id, p.x, p.y, p.loss, p.label_name, p.prediction_name,
                                                p.correct, p.confidence, previews ->> p.sample_id)
                              ORDER BY p.sample_id), '[]')
      INTO points FROM @extschema@.tl_population p WHERE p.run = run;
    SELECT coalesce(jsonb_agg(to_jsonb(m) ORDER BY m.class), '[]')
      INTO metrics FROM @extschema@.tl_class_metrics m WHERE m.run = run;
    BEGIN
        SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'sample_id', i.sample_id, 'label', coalesce(r.class_names[i.label + 1], i.label::text),
                   'suggested', coalesce(r.class_names[i.suggested_label + 1], i.suggested_label::text),
                   'score', i.score, 'self_confidence', i.self_confidence,
                   'neighbour_disagreement', i.neighbour_disagreement) ORDER BY i.rank), '[]')
          INTO issues FROM @extschema@.tl_label_issues(run, 10) i WHERE i.rank <= 50;
    EXCEPTION WHEN invalid_parameter_value OR undefined_object THEN
        issues := '[]';     -- e.g. a single class: no label issues to list
    END;

    -- heat maps of the highest-loss samples and the top label issues,
    -- for the class the model predicted
    IF heatmaps > 0 AND r.input_query IS NOT NULL
       AND EXISTS (SELECT 1 FROM @extschema@.tl_model m WHERE m.name = r.model) THEN
        SELECT l.kind = 'Embedding' INTO tokens FROM @extschema@.tl_layers(spec) l WHERE l.idx = 1;
        SELECT l.output_shape INTO in_shape FROM @extschema@.tl_layers(spec) l WHERE l.idx = 0;
        SELECT array_agg(DISTINCT c.sample_id) INTO ids FROM (
            (SELECT t.sample_id FROM @extschema@.tl_result t WHERE t.run = run
              ORDER BY t.loss DESC NULLS LAST, t.sample_id LIMIT heatmaps)
            UNION (SELECT i.sample_id FROM @extschema@.tl_label_issues(run, 10) i ORDER BY i.rank LIMIT heatmaps)) c;
        IF caller IS NOT NULL THEN
            PERFORM pg_catalog.set_config('role', r.created_by, true);
        END IF;
        PERFORM pg_catalog.set_config('search_path', r.search_path, true);
        EXECUTE pg_catalog.format(
            'SELECT pg_catalog.jsonb_object_agg(q.sample_id::pg_catalog.text, q.input) FROM (%s) q(sample_id, input) '
            'WHERE q.sample_id::pg_catalog.text OPERATOR(pg_catalog.=) ANY ($1)', r.input_query) INTO inputs USING ids;
        PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
        IF caller IS NOT NULL THEN
            PERFORM pg_catalog.set_config('role', caller, true);
        END IF;
        FOR s IN SELECT e.key AS sample_id, e.value AS input, t.prediction
                   FROM jsonb_each(coalesce(inputs, '{}')) e
                   JOIN @extschema@.tl_result t ON t.run = run AND t.sample_id = e.key
                  ORDER BY e.key
        LOOP
            IF tokens AND vocab IS NOT NULL THEN
                heat := heat || jsonb_build_object(s.sample_id, (
                    SELECT jsonb_build_object('kind', 'tokens', 'method', 'grad_input',
                               'target', coalesce(r.class_names[s.prediction + 1], s.prediction::text),
                               'words', @extschema@.tl_detokenize(vocab, array_agg(ts.token ORDER BY ts.pos)),
                               'scores', array_agg(ts.score ORDER BY ts.pos))
                      FROM @extschema@.tl_token_saliency(spec, ARRAY(SELECT v::text::integer FROM jsonb_path_query(s.input, 'strict $.** ? (@.type() == "number")') WITH ORDINALITY j(v, o) ORDER BY o), s.prediction) ts
                     WHERE ts.token <> 0));
            ELSIF NOT tokens AND cardinality(in_shape) >= 2 THEN
                heat := heat || jsonb_build_object(s.sample_id, jsonb_build_object(
                    'kind', 'image', 'method', 'grad_input',
                    'target', coalesce(r.class_names[s.prediction + 1], s.prediction::text),
                    'height', in_shape[1], 'width', in_shape[2],
                    'pixels', s.input,
                    'scores', @extschema@.tl_pixel_saliency(spec, ARRAY(SELECT v::text::real FROM jsonb_path_query(s.input, 'strict $.** ? (@.type() == "number")') WITH ORDINALITY j(v, o) ORDER BY o), s.prediction)));
            END IF;
        END LOOP;
    END IF;

    data := jsonb_build_object(
        'run', jsonb_build_object('id', r.id, 'model', r.model, 'revision', r.revision, 'dataset', r.dataset,
                                  'subset', r.subset, 'epoch', r.epoch,
                                  'accuracy', (SELECT avg((t.prediction = t.label)::int) FROM @extschema@.tl_result t WHERE t.run = run),
                                  'mean_loss', (SELECT avg(t.loss) FROM @extschema@.tl_result t WHERE t.run = run)),
        'points', points, 'metrics', metrics, 'issues', issues, 'heatmaps', heat,
        'heatmap_note', format('%s highest-loss samples and the %s most likely mislabelled', heatmaps, heatmaps))::text;
    -- inside <script>, "<" could close the element: JSON allows \u003c instead
    RETURN replace(@extschema@.tl_report_template(), '/*TL_DATA*/',
                   replace(replace(replace(data, '<', '\u003c'), '>', '\u003e'), '&', '\u0026'));
END
$$;
COMMENT ON FUNCTION @extschema@.tl_html_report(integer, text, text, integer) IS
    'One self-contained HTML page for a run: population scatter (size/colour selectable), hover preview (preview_query returns (sample_id, text)), click for details and a heat map (precomputed for the top heatmaps samples by loss and by label issue; vocab names the words of token models), class metrics and label issues. Write it with \o from psql.';
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
                   '@extschema@.tl_run_compare TO %s', role);
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
                   '@extschema@.tl_run_compare FROM %s', role);
    EXECUTE format('REVOKE ALL ON SEQUENCE @extschema@.tl_run_id_seq FROM %s', role);
END
$$;
REVOKE EXECUTE ON FUNCTION @extschema@.tl_revoke_usage(regrole) FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.tl_revoke_usage(regrole) IS
    'Takes back what tl_grant_usage granted (the schema''s USAGE stays). The role''s runs stay, visible to the owner.';
CREATE FUNCTION @extschema@.tl_report_template() RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $tl_report$ SELECT $tl_html$
<!DOCTYPE html>
<!-- tensorlens run report: one self-contained page (no network, no external
     scripts).  tl_html_report() puts the run's data, as JSON, where the
     placeholder below stands. -->
<html lang="en">
<head>
<meta charset="utf-8">
<title>tensorlens report</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #222; background: #fafafa; }
header { padding: 12px 20px; background: #263238; color: #fff; }
header h1 { font-size: 18px; margin: 0 0 4px; }
header .meta { font-size: 13px; opacity: .85; }
main { display: grid; grid-template-columns: minmax(520px, 3fr) minmax(320px, 2fr); gap: 16px; padding: 16px 20px; }
section { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 12px; }
section h2 { font-size: 15px; margin: 0 0 8px; }
.controls { display: flex; gap: 14px; margin-bottom: 6px; font-size: 13px; flex-wrap: wrap; }
#plot { width: 100%; height: 560px; display: block; }
#plot circle { fill-opacity: .72; stroke: #fff; stroke-width: .5; cursor: pointer; }
#plot circle.selected { stroke: #000; stroke-width: 2; fill-opacity: 1; }
#legend span { display: inline-block; margin-right: 12px; font-size: 12px; }
#legend i { display: inline-block; width: 10px; height: 10px; border-radius: 5px; margin-right: 4px; vertical-align: -1px; }
#tooltip { position: fixed; pointer-events: none; background: #fff; border: 1px solid #999; border-radius: 4px;
           padding: 6px 8px; font-size: 12px; max-width: 360px; box-shadow: 0 2px 6px rgba(0,0,0,.2); display: none; z-index: 10; }
#detail .empty { color: #777; }
#detail dl { display: grid; grid-template-columns: auto 1fr; gap: 2px 10px; margin: 0 0 8px; font-size: 13px; }
#detail dt { color: #555; }
.heat { line-height: 1.9; font-size: 13px; }
.heat span { padding: 1px 2px; border-radius: 2px; }
.heat-legend { font-size: 12px; color: #555; margin: 4px 0; }
.heat-legend b { padding: 0 4px; border-radius: 2px; font-weight: normal; }
canvas.pixels { image-rendering: pixelated; width: 224px; height: 224px; border: 1px solid #ccc; margin-right: 8px; }
table { border-collapse: collapse; width: 100%; font-size: 12.5px; }
th, td { text-align: right; padding: 3px 6px; border-bottom: 1px solid #eee; }
th:first-child, td:first-child { text-align: left; }
tr.issue { cursor: pointer; }
tr.issue:hover { background: #f0f4ff; }
.wide { grid-column: 1 / -1; }
</style>
</head>
<body>
<header><h1 id="title">tensorlens</h1><div class="meta" id="meta"></div></header>
<main>
  <section>
    <h2>Population</h2>
    <div class="controls">
      <label>size <select id="size-by"><option value="loss">loss</option><option value="confidence">confidence</option><option value="none">none</option></select></label>
      <label>colour <select id="colour-by"><option value="label">label</option><option value="prediction">prediction</option><option value="correct">correct</option><option value="loss">loss</option></select></label>
    </div>
    <svg id="plot" viewBox="0 0 800 560" preserveAspectRatio="xMidYMid meet"><g id="dots"></g></svg>
    <div id="legend"></div>
  </section>
  <section id="detail"><h2>Sample</h2><p class="empty">Click a dot (or a row of the label issues) to see the sample and its heat map.</p></section>
  <section><h2>Classes</h2><table id="metrics"></table></section>
  <section><h2>Likely mislabelled</h2><table id="issues"></table></section>
</main>
<div id="tooltip"></div>
<pre id="selftest" hidden></pre>
<script id="tl-data" type="application/json">/*TL_DATA*/</script>
<script>
"use strict";
var errors = [];
window.addEventListener("error", function (e) { errors.push(String(e.message)); });
var D = JSON.parse(document.getElementById("tl-data").textContent);
var P = D.points.map(function (p) {
  return { id: p[0], x: p[1], y: p[2], loss: p[3], label: p[4], prediction: p[5], correct: p[6],
           confidence: p[7], preview: p[8] };
});
var byId = {};
P.forEach(function (p) { byId[p.id] = p; });
var PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];
var SVGNS = "http://www.w3.org/2000/svg";

function el(tag, attrs, text) {
  var e = document.createElement(tag);
  for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
  if (text !== undefined && text !== null) e.textContent = text;
  return e;
}
function fmt(v, d) { return v === null || v === undefined ? "–" : Number(v).toFixed(d === undefined ? 3 : d); }

function header() {
  var r = D.run;
  document.getElementById("title").textContent = "Run " + r.id + ": " + r.model + (r.revision ? " @" + r.revision : "");
  document.title = "tensorlens run " + r.id;
  document.getElementById("meta").textContent = [r.dataset, r.subset, r.epoch === null ? null : "epoch " + r.epoch,
    P.length + " samples", "accuracy " + fmt(r.accuracy), "mean loss " + fmt(r.mean_loss)].filter(Boolean).join(" · ");
}

function extent(values) {
  var lo = Infinity, hi = -Infinity;
  values.forEach(function (v) { if (v !== null && isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); } });
  if (!isFinite(lo)) { lo = 0; hi = 1; }
  if (hi - lo < 1e-12) { lo -= 1; hi += 1; }
  return [lo, hi];
}
function ramp(t) {   // the viridis-like ramp of tl_svg_scatter
  var s = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  t = Math.max(0, Math.min(1, t)) * 4; var i = Math.min(3, Math.floor(t)), f = t - i;
  return "rgb(" + s[i].map(function (c, j) { return Math.round(c + f * (s[i + 1][j] - c)); }).join(",") + ")";
}

function draw() {
  var sizeBy = document.getElementById("size-by").value, colourBy = document.getElementById("colour-by").value;
  var W = 800, H = 560, M = 30, g = document.getElementById("dots");
  var xs = extent(P.map(function (p) { return p.x; })), ys = extent(P.map(function (p) { return p.y; }));
  var ss = extent(P.map(function (p) { return sizeBy === "none" ? null : p[sizeBy]; }));
  var cats = {}, catList = [];
  if (colourBy !== "loss") {
    P.forEach(function (p) { var c = String(p[colourBy]); if (!(c in cats)) { cats[c] = 0; catList.push(c); } });
    catList.sort();
    catList.forEach(function (c, i) { cats[c] = PALETTE[i % PALETTE.length]; });
  }
  var ls = extent(P.map(function (p) { return p.loss; }));
  // biggest dots last, so high-loss samples are on top
  var order = P.slice().sort(function (a, b) {
    var sa = sizeBy === "none" ? 0 : (a[sizeBy] || 0), sb = sizeBy === "none" ? 0 : (b[sizeBy] || 0);
    return sa - sb;
  });
  while (g.firstChild) g.removeChild(g.firstChild);
  order.forEach(function (p) {
    if (p.x === null || p.y === null) return;
    var c = document.createElementNS(SVGNS, "circle");
    var v = sizeBy === "none" ? null : p[sizeBy];
    var r = v === null || v === undefined ? 3 : 2 + 8 * Math.sqrt((v - ss[0]) / (ss[1] - ss[0]));
    c.setAttribute("cx", (M + (p.x - xs[0]) / (xs[1] - xs[0]) * (W - 2 * M)).toFixed(1));
    c.setAttribute("cy", (H - M - (p.y - ys[0]) / (ys[1] - ys[0]) * (H - 2 * M)).toFixed(1));
    c.setAttribute("r", r.toFixed(1));
    c.setAttribute("fill", colourBy === "loss" ? ramp((p.loss - ls[0]) / (ls[1] - ls[0])) : cats[String(p[colourBy])]);
    c.setAttribute("data-id", p.id);
    if (selected === p.id) c.setAttribute("class", "selected");
    g.appendChild(c);
  });
  var legend = document.getElementById("legend");
  legend.textContent = "";
  if (colourBy === "loss") legend.appendChild(el("span", {}, "colour: loss from " + fmt(ls[0]) + " (dark) to " + fmt(ls[1]) + " (yellow)"));
  else catList.forEach(function (c) {
    var s = el("span"); var i = el("i"); i.style.background = cats[c]; s.appendChild(i);
    s.appendChild(document.createTextNode(colourBy + " " + c)); legend.appendChild(s);
  });
  legend.appendChild(el("span", {}, sizeBy === "none" ? "" : "size: " + sizeBy));
}

var tooltip = document.getElementById("tooltip"), selected = null;
document.getElementById("dots").addEventListener("mousemove", function (e) {
  var id = e.target.getAttribute && e.target.getAttribute("data-id");
  if (!id) { tooltip.style.display = "none"; return; }
  var p = byId[id];
  tooltip.textContent = "";
  tooltip.appendChild(el("b", {}, "sample " + p.id));
  tooltip.appendChild(el("div", {}, "label " + p.label + " · predicted " + p.prediction + " · loss " + fmt(p.loss)));
  if (p.preview) tooltip.appendChild(el("div", {}, p.preview));
  tooltip.style.display = "block";
  tooltip.style.left = Math.min(e.clientX + 14, window.innerWidth - 380) + "px";
  tooltip.style.top = (e.clientY + 14) + "px";
});
document.getElementById("dots").addEventListener("mouseleave", function () { tooltip.style.display = "none"; });
document.getElementById("dots").addEventListener("click", function (e) {
  var id = e.target.getAttribute && e.target.getAttribute("data-id");
  if (id) select(id);
});

function heatColour(s, top) {
  var a = Math.min(1, Math.abs(s) / (top || 1));
  return s >= 0 ? "rgba(178,24,43," + (0.85 * a).toFixed(3) + ")" : "rgba(33,102,172," + (0.85 * a).toFixed(3) + ")";
}

function select(id) {
  selected = id;
  var p = byId[id], d = document.getElementById("detail"), h = D.heatmaps[id];
  Array.prototype.forEach.call(document.querySelectorAll("#dots circle.selected"), function (c) { c.removeAttribute("class"); });
  var dot = document.querySelector('#dots circle[data-id="' + (window.CSS && CSS.escape ? CSS.escape(id) : id) + '"]');
  if (dot) dot.setAttribute("class", "selected");
  d.textContent = "";
  d.appendChild(el("h2", {}, "Sample " + id));
  var dl = el("dl");
  [["label", p.label], ["predicted", p.prediction], ["correct", p.correct ? "yes" : "no"],
   ["loss", fmt(p.loss)], ["confidence", fmt(p.confidence)]].forEach(function (kv) {
    dl.appendChild(el("dt", {}, kv[0])); dl.appendChild(el("dd", {}, kv[1]));
  });
  d.appendChild(dl);
  if (p.preview) d.appendChild(el("p", {}, p.preview));
  if (!h) {
    d.appendChild(el("p", { "class": "empty" }, "No heat map for this sample: they are precomputed for the " +
      D.heatmap_note + "."));
    return;
  }
  var top = 0;
  h.scores.forEach(function (s) { top = Math.max(top, Math.abs(s || 0)); });
  d.appendChild(el("div", { "class": "heat-legend" }, "Heat map (" + h.method + ") for class " + h.target + ": "));
  var lg = d.lastChild;
  var t = el("b", {}, "towards"); t.style.background = heatColour(top, top); lg.appendChild(t);
  lg.appendChild(document.createTextNode(" "));
  var a = el("b", {}, "against"); a.style.background = heatColour(-top, top); lg.appendChild(a);
  if (h.kind === "tokens") {
    var box = el("div", { "class": "heat" });
    h.words.forEach(function (w, i) {
      var s = el("span", { title: fmt(h.scores[i], 4) }, w);
      s.style.background = heatColour(h.scores[i] || 0, top);
      box.appendChild(s); box.appendChild(document.createTextNode(" "));
    });
    d.appendChild(box);
  } else {
    var row = el("div");
    [h.pixels, h.scores].forEach(function (vals, k) {
      var cv = el("canvas", { width: h.width, height: h.height, "class": "pixels heat" });
      var ctx = cv.getContext("2d"), img = ctx.createImageData(h.width, h.height);
      for (var i = 0; i < h.width * h.height; i++) {
        var rgb;
        if (k === 0) { var v = Math.round(255 * (vals[i] || 0)); rgb = [v, v, v]; }
        else { var c = heatColour(vals[i] || 0, top).match(/[\d.]+/g).map(Number); rgb = [255 - c[3] * (255 - c[0]), 255 - c[3] * (255 - c[1]), 255 - c[3] * (255 - c[2])]; }
        img.data[4 * i] = rgb[0]; img.data[4 * i + 1] = rgb[1]; img.data[4 * i + 2] = rgb[2]; img.data[4 * i + 3] = 255;
      }
      ctx.putImageData(img, 0, 0);
      row.appendChild(cv);
    });
    d.appendChild(row);
  }
}

function tables() {
  var m = document.getElementById("metrics");
  m.appendChild(el("tr")).innerHTML = "<th>class</th><th>count</th><th>accuracy</th><th>precision</th><th>recall</th><th>F1</th><th>mean loss</th>";
  D.metrics.forEach(function (r) {
    var tr = el("tr");
    [r.class_name, r.count, fmt(r.accuracy), fmt(r.precision), fmt(r.recall), fmt(r.f1), fmt(r.mean_loss)]
      .forEach(function (v) { tr.appendChild(el("td", {}, v)); });
    m.appendChild(tr);
  });
  var t = document.getElementById("issues");
  t.appendChild(el("tr")).innerHTML = "<th>sample</th><th>label</th><th>suggested</th><th>score</th><th>self-conf.</th><th>neighbours</th>";
  D.issues.forEach(function (r) {
    var tr = el("tr", { "class": "issue" });
    [r.sample_id, r.label, r.suggested, fmt(r.score), fmt(r.self_confidence), fmt(r.neighbour_disagreement, 1)]
      .forEach(function (v) { tr.appendChild(el("td", {}, v)); });
    tr.addEventListener("click", function () { select(r.sample_id); });
    t.appendChild(tr);
  });
}

header();
draw();
tables();
document.getElementById("size-by").addEventListener("change", draw);
document.getElementById("colour-by").addEventListener("change", draw);

// #tl-selftest: draw, click the first dot that has a heat map, report (read
// by the headless-browser test from the DOM; no element has that id, so the
// page does not scroll to the report)
if (location.hash === "#tl-selftest") {
  var withHeat = Object.keys(D.heatmaps)[0], out = document.getElementById("selftest");
  var target = withHeat && document.querySelector('#dots circle[data-id="' + withHeat + '"]');
  if (target) target.dispatchEvent(new MouseEvent("click", { bubbles: true }));
  out.textContent = JSON.stringify({
    dots: document.querySelectorAll("#dots circle").length,
    points: P.length,
    clicked: withHeat || null,
    heatmap_shown: document.querySelectorAll("#detail .heat").length > 0,
    errors: errors
  });
  out.hidden = false;
}
</script>
</body>
</html>
$tl_html$::pg_catalog.text $tl_report$;
