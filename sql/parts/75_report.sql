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
    insights  jsonb := '[]';
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
    -- the page opens with the run's findings (66_insights.sql); a row
    -- selects its samples on the map
    BEGIN
        SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'rank', i.rank, 'kind', i.kind, 'severity', i.severity, 'samples', i.samples,
                   'description', i.description, 'sample_ids', i.sample_ids) ORDER BY i.rank), '[]')
          INTO insights FROM @extschema@.tl_insights(run) i WHERE i.rank <= 20;
    EXCEPTION WHEN invalid_parameter_value OR undefined_object THEN
        insights := '[]';   -- e.g. a run without results
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
        'points', points, 'metrics', metrics, 'issues', issues, 'insights', insights, 'heatmaps', heat,
        'heatmap_note', format('%s highest-loss samples and the %s most likely mislabelled', heatmaps, heatmaps))::text;
    -- inside <script>, "<" could close the element: JSON allows \u003c instead
    RETURN replace(@extschema@.tl_report_template(), '/*TL_DATA*/',
                   replace(replace(replace(data, '<', '\u003c'), '>', '\u003e'), '&', '\u0026'));
END
$$;
COMMENT ON FUNCTION @extschema@.tl_html_report(integer, text, text, integer) IS
    'One self-contained HTML page for a run: its insights (tl_insights; a row selects its samples on the map), population scatter (size/colour selectable), hover preview (preview_query returns (sample_id, text)), click for details and a heat map (precomputed for the top heatmaps samples by loss and by label issue; vocab names the words of token models), class metrics and label issues. Write it with \o from psql.';
