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
    outliers  jsonb := '[]';
    duplicates jsonb := '[]';
    insights  jsonb := '[]';
    heat      jsonb := '{}';
    tokens    boolean;
    in_shape  integer[];
    s         record;
    data      text;
    ids       text[];
    issue_ids text[];
    labelled  integer;
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
    -- text).  Like the run's input query it reads the creator's data: both
    -- run as the run's creator, under the run's search_path (tl_run_rows),
    -- never with the caller's rights.
    SELECT array_agg(t.sample_id) INTO ids FROM @extschema@.tl_result t WHERE t.run = run;
    IF preview_query IS NOT NULL AND ids IS NOT NULL THEN
        SELECT pg_catalog.jsonb_object_agg(q.sample_id, pg_catalog.left(q.value, 300)) INTO previews
          FROM @extschema@.tl_run_rows(run, ids, preview_query) q;
        previews := coalesce(previews, '{}');
    END IF;
    SELECT coalesce(jsonb_agg(jsonb_build_array(p.sample_id, p.x, p.y, p.loss, p.label_name, p.prediction_name,
                                                p.correct, p.confidence, previews ->> p.sample_id,
                                                -- a map's PCA, for the page's switch
                                                CASE WHEN p.map <> 'pca' THEN p.pca_x END,
                                                CASE WHEN p.map <> 'pca' THEN p.pca_y END)
                              ORDER BY p.sample_id), '[]')
      INTO points FROM @extschema@.tl_population p WHERE p.run = run;
    SELECT coalesce(jsonb_agg(to_jsonb(m) ORDER BY m.class), '[]')
      INTO metrics FROM @extschema@.tl_class_metrics m WHERE m.run = run;
    -- label issues with up to 10 neighbours: fewer in a small run
    SELECT count(*) INTO labelled FROM @extschema@.tl_result t
     WHERE t.run = run AND t.label IS NOT NULL AND t.output IS NOT NULL;
    BEGIN
        SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'sample_id', i.sample_id, 'label', coalesce(r.class_names[i.label + 1], i.label::text),
                   'suggested', coalesce(r.class_names[i.suggested_label + 1], i.suggested_label::text),
                   'score', i.score, 'self_confidence', i.self_confidence,
                   'neighbour_disagreement', i.neighbour_disagreement) ORDER BY i.rank)
                   FILTER (WHERE i.rank <= 50), '[]'),
               array_agg(i.sample_id ORDER BY i.rank) FILTER (WHERE i.rank <= heatmaps)
          INTO issues, issue_ids
          FROM @extschema@.tl_label_issues(run, least(10, greatest(labelled - 1, 1))) i;
    EXCEPTION WHEN invalid_parameter_value OR undefined_object OR object_not_in_prerequisite_state THEN
        issues := '[]';     -- e.g. a single class: no label issues to list
    END;
    -- outliers and near-duplicates beside them (62_data_issues.sql)
    BEGIN
        SELECT coalesce(jsonb_agg(jsonb_build_object('sample_id', o.sample_id, 'score', o.score, 'outlier', o.outlier,
                                                     'nearest_id', o.nearest_id) ORDER BY o.rank), '[]')
          INTO outliers FROM @extschema@.tl_outliers(run) o WHERE o.rank <= 20;
        SELECT coalesce(jsonb_agg(jsonb_build_object('sample_id', d.sample_id, 'duplicate_id', d.duplicate_id,
                                                     'distance', d.distance) ORDER BY d.distance, d.sample_id), '[]')
          INTO duplicates FROM (SELECT * FROM @extschema@.tl_near_duplicates(run) n ORDER BY n.distance, n.sample_id LIMIT 50) d;
    EXCEPTION WHEN object_not_in_prerequisite_state OR invalid_parameter_value THEN
        outliers := '[]';   -- no perception vectors: no neighbour graph
        duplicates := '[]';
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
            UNION SELECT pg_catalog.unnest(issue_ids)) c;
        -- the inputs, from the run's query, as text ('{1,2,3}')
        FOR s IN SELECT q.sample_id, q.value::pg_catalog.float8[] AS input, t.prediction
                   FROM @extschema@.tl_run_rows(run, coalesce(ids, '{}')) q
                   JOIN @extschema@.tl_result t ON t.run = run AND t.sample_id = q.sample_id
                  ORDER BY q.sample_id
        LOOP
            IF tokens AND vocab IS NOT NULL THEN
                heat := heat || jsonb_build_object(s.sample_id, (
                    SELECT jsonb_build_object('kind', 'tokens', 'method', 'grad_input',
                               'target', coalesce(r.class_names[s.prediction + 1], s.prediction::text),
                               'words', @extschema@.tl_detokenize(vocab, array_agg(ts.token ORDER BY ts.pos)),
                               'scores', array_agg(ts.score ORDER BY ts.pos))
                      FROM @extschema@.tl_token_saliency(spec, ARRAY(SELECT pg_catalog.unnest(s.input)::integer), s.prediction) ts
                     WHERE ts.token <> 0));
            ELSIF NOT tokens AND cardinality(in_shape) >= 2 THEN
                heat := heat || jsonb_build_object(s.sample_id, jsonb_build_object(
                    'kind', 'image', 'method', 'grad_input',
                    'target', coalesce(r.class_names[s.prediction + 1], s.prediction::text),
                    'height', in_shape[1], 'width', in_shape[2],
                    'pixels', to_jsonb(s.input),
                    'scores', @extschema@.tl_pixel_saliency(spec, ARRAY(SELECT pg_catalog.unnest(s.input)::real), s.prediction)));
            END IF;
        END LOOP;
    END IF;

    data := jsonb_build_object(
        'run', jsonb_build_object('id', r.id, 'model', r.model, 'revision', r.revision, 'dataset', r.dataset,
                                  'subset', r.subset, 'epoch', r.epoch, 'map', r.map,
                                  'accuracy', (SELECT avg((t.prediction = t.label)::int) FROM @extschema@.tl_result t WHERE t.run = run),
                                  'mean_loss', (SELECT avg(t.loss) FROM @extschema@.tl_result t WHERE t.run = run)),
        'points', points, 'metrics', metrics, 'issues', issues, 'outliers', outliers, 'duplicates', duplicates,
        'insights', insights, 'heatmaps', heat,
        'heatmap_note', format('%s highest-loss samples and the %s most likely mislabelled', heatmaps, heatmaps))::text;
    -- inside <script>, "<" could close the element: JSON allows \u003c instead
    RETURN replace(@extschema@.tl_report_template(), '/*TL_DATA*/',
                   replace(replace(replace(data, '<', '\u003c'), '>', '\u003e'), '&', '\u0026'));
END
$$;
COMMENT ON FUNCTION @extschema@.tl_html_report(integer, text, text, integer) IS
    'One self-contained HTML page for a run: its insights (tl_insights; a row selects its samples on the map), population scatter (size/colour selectable), hover preview (preview_query returns (sample_id, text)), click for details and a heat map (precomputed for the top heatmaps samples by loss and by label issue; vocab names the words of token models), class metrics and label issues. Write it with \o from psql.';
