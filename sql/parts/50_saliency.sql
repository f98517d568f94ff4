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
