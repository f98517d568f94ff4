-- A hostile search_path: schema "evil" shadows the operators, functions,
-- types and tables the extension's SQL, PL/pgSQL and C code use, and sits
-- before pg_catalog.  Every tl_ function is called under it; none of the
-- evil objects may run and the results must equal those of a normal path.
\getenv fixtures TL_FIXTURES
\set tiny :fixtures /tiny_dense.h5
\set emb_hex `od -An -v -tx1 :'fixtures'/layers/embedding_conv1d_gmp.h5 | tr -d ' \n'`

CREATE SCHEMA evil;
-- every evil object counts its calls here (sequences survive rollbacks) and raises
CREATE SEQUENCE evil.hits;
CREATE FUNCTION evil.boom(what text) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    PERFORM pg_catalog.nextval('evil.hits');
    RAISE EXCEPTION 'evil % ran', what;
END $$;
-- functions shadowing built-ins and the extension's own helpers, by signature
DO $$
DECLARE
    f text[];
BEGIN
    FOREACH f SLICE 1 IN ARRAY ARRAY[
        -- name, arguments, result
        ['now', '', 'timestamptz'], ['sha256', 'bytea', 'bytea'], ['strpos', 'text, text', 'integer'],
        ['length', 'text', 'integer'], ['format', 'text', 'text'], ['format', 'text, text', 'text'],
        ['format', 'text, integer', 'text'], ['format', 'text, text, text', 'text'],
        ['cardinality', 'anyarray', 'integer'], ['current_setting', 'text', 'text'],
        ['set_config', 'text, text, boolean', 'text'], ['pg_advisory_xact_lock', 'bigint', 'void'],
        ['hashtextextended', 'text, bigint', 'bigint'], ['jsonb_typeof', 'jsonb', 'text'],
        ['array_ndims', 'anyarray', 'integer'], ['array_position', 'anycompatiblearray, anycompatible', 'integer'],
        ['round', 'numeric, integer', 'numeric'], ['abs', 'real', 'real'], ['abs', 'double precision', 'double precision'],
        ['replace', 'text, text, text', 'text'], ['left', 'text, integer', 'text'], ['lower', 'text', 'text'],
        ['nextval', 'regclass', 'bigint'], ['to_jsonb', 'anyelement', 'jsonb'], ['sqrt', 'double precision', 'double precision'],
        ['quote_ident', 'text', 'text'], ['pg_has_role', 'oid, text', 'boolean'],
        ['has_schema_privilege', 'oid, oid, text', 'boolean'],
        ['tl_model_inspect', 'bytea', 'record'], ['tl_model_import', 'text, bytea', 'integer'],
        ['tl_read_model_file', 'text', 'bytea'], ['tl_analyze', 'integer', 'integer'],
        ['tl_analyze', 'integer, integer, boolean', 'integer'], ['tl_perception_batch', 'text, text', 'record'],
        ['tl_predict_class', 'real[]', 'integer'], ['tl_loss', 'text, real[], integer', 'real'],
        ['tl_pca_project', 'public.tl_pca, real[]', 'real[]'], ['tl_pca_explained_variance', 'public.tl_pca', 'real[]'],
        ['tl_procrustes', 'double precision[]', 'double precision[]'], ['tl_layers', 'text', 'record'],
        ['tl_procrustes_align', 'integer, integer', 'boolean'],
        ['tl_detokenize', 'text, integer[]', 'text[]'], ['tl_html_escape', 'text', 'text'],
        ['tl_report_template', '', 'text'], ['tl_label_issues', 'integer, integer', 'record'],
        ['tl_token_saliency', 'text, integer[], integer', 'record'],
        ['tl_pixel_saliency', 'text, real[], integer', 'real[]']]
    LOOP
        EXECUTE format('CREATE FUNCTION evil.%I(%s) RETURNS %s LANGUAGE plpgsql SET search_path = pg_catalog '
                       'AS $f$ BEGIN PERFORM evil.boom(%L); RETURN NULL; END $f$',
                       f[1], f[2], f[3], f[1] || '(' || f[2] || ')');
    END LOOP;
END $$;
-- set-returning and aggregate ones
CREATE FUNCTION evil.jsonb_each(jsonb) RETURNS SETOF record LANGUAGE plpgsql AS $$ BEGIN PERFORM evil.boom('jsonb_each'); END $$;
CREATE FUNCTION evil.unnest(anyarray) RETURNS SETOF anyelement LANGUAGE plpgsql AS $$ BEGIN PERFORM evil.boom('unnest'); END $$;
CREATE FUNCTION evil.jsonb_array_elements(jsonb) RETURNS SETOF jsonb LANGUAGE plpgsql AS $$ BEGIN PERFORM evil.boom('jsonb_array_elements'); END $$;
CREATE FUNCTION evil.jsonb_array_elements_text(jsonb) RETURNS SETOF text LANGUAGE plpgsql AS $$ BEGIN PERFORM evil.boom('jsonb_array_elements_text'); END $$;
CREATE FUNCTION evil.agg_step(bigint) RETURNS bigint LANGUAGE plpgsql AS $$ BEGIN PERFORM evil.boom('count(*)'); RETURN NULL; END $$;
CREATE FUNCTION evil.agg_step_t(text, text, text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN PERFORM evil.boom('string_agg'); RETURN NULL; END $$;
CREATE FUNCTION evil.agg_step_v(anycompatiblearray, anycompatible) RETURNS anycompatiblearray LANGUAGE plpgsql AS $$ BEGIN PERFORM evil.boom('array_agg'); RETURN NULL; END $$;
CREATE FUNCTION evil.agg_step_j(jsonb, anyelement) RETURNS jsonb LANGUAGE plpgsql AS $$ BEGIN PERFORM evil.boom('jsonb_agg'); RETURN NULL; END $$;
CREATE FUNCTION evil.agg_step_i(integer, integer) RETURNS integer LANGUAGE plpgsql AS $$ BEGIN PERFORM evil.boom('max/min/sum(integer)'); RETURN NULL; END $$;
CREATE FUNCTION evil.agg_step_r(real, real) RETURNS real LANGUAGE plpgsql AS $$ BEGIN PERFORM evil.boom('max/avg(real)'); RETURN NULL; END $$;
CREATE AGGREGATE evil.count(*) (SFUNC = evil.agg_step, STYPE = bigint);
CREATE AGGREGATE evil.string_agg(text, text) (SFUNC = evil.agg_step_t, STYPE = text);
CREATE AGGREGATE evil.array_agg(anycompatible) (SFUNC = evil.agg_step_v, STYPE = anycompatiblearray);
CREATE AGGREGATE evil.jsonb_agg(anyelement) (SFUNC = evil.agg_step_j, STYPE = jsonb);
CREATE AGGREGATE evil.max(integer) (SFUNC = evil.agg_step_i, STYPE = integer);
CREATE AGGREGATE evil.min(integer) (SFUNC = evil.agg_step_i, STYPE = integer);
CREATE AGGREGATE evil.sum(integer) (SFUNC = evil.agg_step_i, STYPE = integer);
CREATE AGGREGATE evil.max(real) (SFUNC = evil.agg_step_r, STYPE = real);
CREATE AGGREGATE evil.avg(real) (SFUNC = evil.agg_step_r, STYPE = real);
-- operators: comparisons, arithmetic, concatenation, matching, JSON access
DO $$
DECLARE
    t text;
    o text;
BEGIN
    FOREACH t IN ARRAY ARRAY['integer', 'bigint', 'text', 'bytea', 'name', 'real', 'double precision', 'boolean', 'jsonb'] LOOP
        FOREACH o IN ARRAY ARRAY['=', '<>', '<', '>', '<=', '>='] LOOP
            EXECUTE format('CREATE FUNCTION evil.%I(%s, %s) RETURNS boolean LANGUAGE plpgsql AS $f$ BEGIN RETURN evil.boom(%L); END $f$',
                           'op_' || md5(o || t), t, t, o || '(' || t || ')');
            EXECUTE format('CREATE OPERATOR evil.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = evil.%I)', o, t, t, 'op_' || md5(o || t));
        END LOOP;
    END LOOP;
    FOREACH t IN ARRAY ARRAY['integer', 'bigint', 'real', 'double precision'] LOOP
        FOREACH o IN ARRAY ARRAY['+', '-', '*', '/'] LOOP
            EXECUTE format('CREATE FUNCTION evil.%I(%s, %s) RETURNS %s LANGUAGE plpgsql AS $f$ BEGIN PERFORM evil.boom(%L); RETURN NULL; END $f$',
                           'op_' || md5(o || t), t, t, t, o || '(' || t || ')');
            EXECUTE format('CREATE OPERATOR evil.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = evil.%I)', o, t, t, 'op_' || md5(o || t));
        END LOOP;
    END LOOP;
    FOREACH o IN ARRAY ARRAY['||', '~', '!~', '~~'] LOOP
        EXECUTE format('CREATE FUNCTION evil.%I(text, text) RETURNS %s LANGUAGE plpgsql AS $f$ BEGIN PERFORM evil.boom(%L); RETURN NULL; END $f$',
                       'op_' || md5(o || 'text'), CASE o WHEN '||' THEN 'text' ELSE 'boolean' END, o || '(text)');
        EXECUTE format('CREATE OPERATOR evil.%s (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.%I)', o, 'op_' || md5(o || 'text'));
    END LOOP;
    FOREACH o IN ARRAY ARRAY['->', '->>'] LOOP
        EXECUTE format('CREATE FUNCTION evil.%I(jsonb, text) RETURNS %s LANGUAGE plpgsql AS $f$ BEGIN PERFORM evil.boom(%L); RETURN NULL; END $f$',
                       'op_' || md5(o || 'jsonb'), CASE o WHEN '->' THEN 'jsonb' ELSE 'text' END, o || '(jsonb)');
        EXECUTE format('CREATE OPERATOR evil.%s (LEFTARG = jsonb, RIGHTARG = text, FUNCTION = evil.%I)', o, 'op_' || md5(o || 'jsonb'));
    END LOOP;
END $$;
-- types: a cast to text, bytea, jsonb or name would land on these
CREATE DOMAIN evil.text AS pg_catalog.text CHECK (evil.boom('type text'));
CREATE DOMAIN evil.bytea AS pg_catalog.bytea CHECK (evil.boom('type bytea'));
CREATE DOMAIN evil.jsonb AS pg_catalog.jsonb CHECK (evil.boom('type jsonb'));
CREATE DOMAIN evil.name AS pg_catalog.name CHECK (evil.boom('type name'));
-- the extension's tables, shadowed by views that raise when read
CREATE VIEW evil.tl_model AS SELECT * FROM public.tl_model WHERE evil.boom('table tl_model');
CREATE VIEW evil.tl_vocab AS SELECT * FROM public.tl_vocab WHERE evil.boom('table tl_vocab');
CREATE VIEW evil.tl_run AS SELECT * FROM public.tl_run WHERE evil.boom('table tl_run');
CREATE VIEW evil.tl_result AS SELECT * FROM public.tl_result WHERE evil.boom('table tl_result');
SELECT count(*) AS evil_functions FROM pg_proc WHERE pronamespace = 'evil'::regnamespace;
SELECT count(*) AS evil_operators FROM pg_operator WHERE oprnamespace = 'evil'::regnamespace;

-- the samples, and reference results under a normal search_path
CREATE TABLE hostile_samples AS
SELECT i AS id,
       ARRAY[i % 20, (i * 7) % 20, (i * 3) % 20, (i * 11) % 20, (i * 5) % 20, (i * 13) % 20, (i * 17) % 20, (i * 19) % 20] AS tokens,
       i % 2 AS label, format('review <b>%s</b> & more', i) AS review,
       NULL::real[] AS output, NULL::real[] AS perception, NULL::real AS x, NULL::real AS y
  FROM generate_series(1, 80) i;
SELECT tl_model_import('ref_emb', decode(:'emb_hex', 'hex')) AS ref_revision;
UPDATE hostile_samples SET output = tl_infer('ref_emb', tokens), perception = tl_perception('ref_emb', tokens);
SELECT tl_evaluate('ref_emb', 'SELECT id, tokens, label FROM hostile_samples', 'hostile ref',
                   NULL, NULL, 'binary_crossentropy', '{neg,pos}') AS ref_run \gset
SELECT tl_vocab_import('ref_vocab', '{"the": 1, "movie": 2, "was": 3, "great": 4}') AS ref_words;
CREATE ROLE tl_hostile_user;

-- ============================ under the hostile path =============================
SET search_path = evil, public, pg_catalog;
-- the evil objects are live: an unqualified comparison runs one
SELECT 1 = 1;
ALTER SEQUENCE evil.hits RESTART;
-- the model store
SELECT public.tl_model_import('sp_emb', decode(:'emb_hex', 'hex')) AS h_revision;
SELECT public.tl_model_import('sp_emb', decode(:'emb_hex', 'hex')) AS h_revision_2;
SELECT tl_model_load('sp_tiny', :'tiny') AS h_tiny_revision;
CREATE TEMP TABLE h_layers AS SELECT * FROM public.tl_layers('sp_emb@1');
CREATE TEMP TABLE h_inspect AS SELECT i.format, i.input_shape FROM public.tl_model_inspect(decode(:'emb_hex', 'hex')) i;
SELECT tl_model_cache_clear() IS NOT NULL AS cache_cleared;
-- running models (a cold load from the compiled form, then from the cache)
CREATE TEMP TABLE h_infer AS
SELECT s.id, tl_infer('sp_emb', s.tokens) AS output, tl_perception('sp_emb', s.tokens) AS perception,
       tl_activations('sp_emb@2', s.tokens, 'conv1d') AS conv
  FROM public.hostile_samples s;
CREATE TEMP TABLE h_batch AS
SELECT b.id, b.output FROM tl_infer_batch('sp_emb', 'SELECT s.id, s.tokens FROM public.hostile_samples s') b;
CREATE TEMP TABLE h_pbatch AS
SELECT b.id, b.perception FROM public.tl_perception_batch('sp_emb', 'SELECT s.id, s.tokens FROM public.hostile_samples s') b;
-- (the model is found; its file records no loss)
SELECT public.tl_loss('sp_tiny', '{0.25}'::real[], 1) AS by_model;
SELECT public.tl_predict_class('{0.2,0.7}') AS class;
-- vocabularies
SELECT tl_vocab_import('sp_vocab', '{"the": 1, "movie": 2, "was": 3, "great": 4}') AS h_words;
CREATE TEMP TABLE h_tokens AS
SELECT tl_tokenize('sp_vocab', 'The movie was GREAT!', 8) AS ids, public.tl_detokenize('sp_vocab', '{1,4,5,6,7,0}') AS words;
-- saliency and its HTML
CREATE TEMP TABLE h_saliency AS SELECT t.pos, t.score FROM public.tl_token_saliency('sp_emb', '{1,2,3,4,5,6,7,8}', 1) t;
CREATE TEMP TABLE h_html AS
SELECT tl_html_saliency('{the,<movie>}', '{0.5,-0.25}') AS fragment, public.tl_html_escape('<&>') AS escaped,
       length(public.tl_report_template()) AS template_length;
-- a run in one call
SELECT tl_evaluate('sp_emb', 'SELECT s.id, s.tokens, s.label FROM public.hostile_samples s', 'hostile ref',
                   NULL, NULL, 'binary_crossentropy', '{neg,pos}') AS h_run \gset
-- a pipeline's epoch: plain INSERTs, the triggers mark it and analyse it at
-- commit; its perception vectors come from its query, run under the run's
-- recorded search_path (this one)
BEGIN;
INSERT INTO public.tl_run (model, dataset, epoch, input_query, class_names)
VALUES ('sp_emb', 'hostile pipeline', 1, 'SELECT s.id, s.tokens FROM public.hostile_samples s', '{neg,pos}')
RETURNING id AS h_pipe \gset
INSERT INTO public.tl_result (run, sample_id, label, output)
SELECT :h_pipe, s.id, s.label, s.output FROM public.hostile_samples s;
COMMIT;
-- the next epoch, aligned to it
BEGIN;
INSERT INTO public.tl_run (model, dataset, epoch, input_query)
VALUES ('sp_emb', 'hostile pipeline', 2, 'SELECT s.id, s.tokens FROM public.hostile_samples s')
RETURNING id AS h_pipe2 \gset
INSERT INTO public.tl_result (run, sample_id, label, output, perception)
SELECT :h_pipe2, s.id, s.label, s.output, s.perception FROM public.hostile_samples s;
COMMIT;
SELECT public.tl_analyze(:h_pipe2) AS h_placed;
-- reading runs
CREATE TEMP TABLE h_issues AS SELECT i.rank, i.sample_id, i.score FROM public.tl_label_issues(:h_run, 5) i;
CREATE TEMP TABLE h_clusters AS SELECT c.cluster, c.size FROM tl_failure_clusters(:h_run, 3) c;
CREATE TEMP TABLE h_failures AS SELECT f.sample_id, f.loss FROM tl_failures(:h_run) f;
CREATE TEMP TABLE h_population AS SELECT p.run, p.sample_id, p.x, p.y, p.label_name, p.correct, p.confidence FROM tl_population p;
CREATE TEMP TABLE h_metrics AS SELECT m.run, m.class, m.f1 FROM tl_class_metrics m;
CREATE TEMP TABLE h_compare AS SELECT c.run_a, c.run_b, c.sample_id FROM tl_run_compare c;
CREATE TEMP TABLE h_report AS
SELECT tl_html_report(:h_run, 'SELECT s.id, s.review FROM public.hostile_samples s', 'sp_vocab', 3) AS page;
-- PCA
CREATE TEMP TABLE h_pca AS SELECT tl_pca_fit(s.perception, 2) AS p FROM public.hostile_samples s;
SELECT tl_pca_n(tl_embed_pca('public.hostile_samples', 'perception')) AS h_embedded;
-- pictures
CREATE TEMP TABLE h_svg AS SELECT tl_svg_scatter(s.x, s.y, s.label, s.review, s.review ORDER BY s.id) AS doc FROM public.hostile_samples s;
-- privileges
SELECT tl_grant_usage('tl_hostile_user');
SELECT tl_revoke_usage('tl_hostile_user');
-- not one evil object ran
SELECT is_called AS evil_ran FROM evil.hits;
RESET search_path;

-- ============================ the results are right ==============================
SELECT is_called AS evil_ran FROM evil.hits;
SELECT name, revision, sha256 = (SELECT sha256 FROM tl_model WHERE name = 'ref_emb') AS same_bytes,
       compiled IS NOT NULL AND compiled_for = sha256 AS compiled, created_by
  FROM tl_model WHERE name IN ('sp_emb', 'sp_tiny') ORDER BY name, revision;
SELECT (SELECT count(*) FROM h_layers) AS layers, (SELECT format FROM h_inspect) AS format;
SELECT count(*) AS samples, bool_and(h.output = s.output) AS same_outputs, bool_and(h.perception = s.perception) AS same_perception,
       bool_and(h.conv = tl_activations('ref_emb', s.tokens, 'conv1d')) AS same_activations
  FROM h_infer h JOIN hostile_samples s USING (id);
SELECT count(*) AS batch, bool_and(b.output = r.output) AS same
  FROM h_batch b JOIN tl_infer_batch('ref_emb', 'SELECT id, tokens FROM hostile_samples') r USING (id);
SELECT count(*) AS pbatch, bool_and(b.perception = r.perception) AS same
  FROM h_pbatch b JOIN tl_perception_batch('ref_emb', 'SELECT id, tokens FROM hostile_samples') r USING (id);
SELECT ids, words, ids = tl_tokenize('ref_vocab', 'The movie was GREAT!', 8) AS same FROM h_tokens;
SELECT count(*) AS positions, bool_and(h.score = r.score) AS same_scores
  FROM h_saliency h JOIN tl_token_saliency('ref_emb', '{1,2,3,4,5,6,7,8}', 1) r USING (pos);
SELECT position('&lt;movie&gt;' IN fragment) > 0 AS escaped_fragment, escaped, template_length > 1000 AS template FROM h_html;
-- the evaluated run equals the same evaluation under a normal path (the
-- coordinates up to rounding: the PCA sums the rows in scan order)
SELECT r.status, r.search_path, r.analysis_error,
       (SELECT count(*) FROM tl_result WHERE run = :h_run) AS results,
       (SELECT bool_and(abs(a.x - b.x) < 1e-5 AND abs(a.y - b.y) < 1e-5 AND a.loss = b.loss AND a.output = b.output
                        AND a.perception = b.perception)
          FROM tl_result a JOIN tl_result b USING (sample_id) WHERE a.run = :h_run AND b.run = :ref_run) AS same_as_reference
  FROM tl_run r WHERE r.id = :h_run;
SELECT r.epoch, r.status, r.analysis_error, r.aligned_to = :h_pipe AS aligned, count(t.perception) AS perceived, count(t.x) AS placed,
       count(t.prediction) AS predicted
  FROM tl_run r JOIN tl_result t ON t.run = r.id WHERE r.id IN (:h_pipe, :h_pipe2) GROUP BY r.id ORDER BY r.epoch;
-- the perception vectors computed at commit are the reference ones
SELECT bool_and(t.perception = r.perception) AS same_perception
  FROM tl_result t JOIN tl_perception_batch('ref_emb', 'SELECT id, tokens FROM hostile_samples') r ON r.id = t.sample_id
 WHERE t.run = :h_pipe;
SELECT count(*) AS issues, min(rank) AS first FROM h_issues;
SELECT (SELECT array_agg(sample_id ORDER BY rank) FROM h_issues) =
       (SELECT array_agg(sample_id ORDER BY rank) FROM tl_label_issues(:ref_run, 5)) AS same_issues;
SELECT (SELECT sum(size) FROM h_clusters) AS clustered, (SELECT count(*) FROM h_failures) AS failures,
       (SELECT count(*) FROM tl_failures(:ref_run)) AS ref_failures;
SELECT count(*) FILTER (WHERE run = :h_run) AS dots, count(*) FILTER (WHERE run = :h_run AND x IS NOT NULL) AS placed
  FROM h_population;
SELECT count(*) AS metric_rows FROM h_metrics WHERE run = :h_run;
SELECT count(*) AS compared FROM h_compare WHERE run_a = :h_run AND run_b = :ref_run;
SELECT length(page) > 20000 AS report,
       position('review \u003cb\u003e1\u003c/b\u003e \u0026 more' IN page) > 0 AS previews,
       position('"kind": "tokens"' IN page) > 0 AS heat_maps
  FROM h_report;
SELECT tl_pca_n(p) AS pca_n FROM h_pca;
SELECT count(x) AS embedded, count(y) AS embedded_y FROM hostile_samples;
SELECT xmlparse(document doc) IS NOT NULL AS svg FROM h_svg;
SELECT has_table_privilege('tl_hostile_user', 'tl_run', 'SELECT') AS still_granted;
DROP ROLE tl_hostile_user;
SET client_min_messages = warning;
DROP SCHEMA evil CASCADE;
