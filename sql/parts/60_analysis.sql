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
    -- vectors: a query returning (sample_id, input); it runs as created_by,
    -- with the search_path of the session that created the run
    input_query     text,
    search_path     text        NOT NULL DEFAULT pg_catalog.current_setting('search_path'),
    class_names     text[],
    pca             @extschema@.tl_pca,
    -- the run tl_analyze aligned this one to (a plain number, no foreign
    -- key: a reference would reveal, and lock, runs the role cannot see)
    aligned_to      integer,
    analysis_error  text,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    analyzed_at     timestamptz,
    created_by      name        NOT NULL DEFAULT CURRENT_USER,
    -- (new in 0.3.0, last so that ALTER TABLE ADD COLUMN upgrades to the
    -- same table) what the outputs mean (58_output.sql): derived from the
    -- model at tl_evaluate, or given by whoever inserts the run; tl_analyze
    -- fills it in when NULL.  Predictions, confidences, label functions read it.
    output_kind     text        CHECK (output_kind IN ('softmax', 'sigmoid', 'softmax_logits', 'sigmoid_logits',
                                                       'linear_probability', 'regression')),
    -- the space of the run's neighbours: its perception vectors on their
    -- leading principal components (at most 32; tl_neighbours)
    neighbour_space @extschema@.tl_pca,
    -- what x, y, z show (tl_analyze's map; a pipeline sets it for the
    -- analysis at commit), and the run whose map this one was placed into
    -- (last: an upgrade adds them with ALTER TABLE)
    map             text        NOT NULL DEFAULT 'pca' CHECK (map IN ('pca', 'umap', 'tsne')),
    -- (a plain number like aligned_to: a foreign key would reveal, and lock,
    -- runs the role cannot see)
    map_reference   integer
);
ALTER SEQUENCE @extschema@.tl_run_id_seq OWNED BY @extschema@.tl_run.id;
CREATE INDEX tl_run_lineage ON @extschema@.tl_run (model, dataset, subset, epoch);
COMMENT ON TABLE @extschema@.tl_run IS
    'One evaluation of a model on a dataset (subset, epoch). status: running (tl_evaluate at work), pending (results arrived, analysis at commit), ready, failed (analysis_error says why; the results are kept).';
COMMENT ON COLUMN @extschema@.tl_run.output_kind IS
    'What the outputs are: softmax or sigmoid probabilities, softmax_logits/sigmoid_logits, linear_probability (a linear head trained as a probability, read clipped to [1e-7, 1-1e-7]) or regression. From the model''s final activation and training loss unless given.';
COMMENT ON COLUMN @extschema@.tl_run.neighbour_space IS
    'The PCA (at most 32 components) of the run''s perception vectors in which tl_neighbour, tl_similar, tl_near_duplicates and tl_outliers measure distances.';

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
    pca_x       real,
    pca_y       real,
    pca_z       real,
    -- the sample's own attributes (source, length, annotator...): the
    -- columns of tl_evaluate's query after (sample_id, input, label), keyed
    -- by column name; pipelines insert it themselves
    metadata    jsonb CHECK (metadata IS NULL OR pg_catalog.jsonb_typeof(metadata) OPERATOR(pg_catalog.=) 'object'),
    -- the sample's region of perception space (tl_perception_clusters)
    cluster     integer,
    PRIMARY KEY (run, sample_id)
);
CREATE INDEX tl_result_by_loss ON @extschema@.tl_result (run, loss DESC);
COMMENT ON TABLE @extschema@.tl_result IS
    'Per-sample results of a run: label, model output, predicted class, loss, perception vector, the x/y/z coordinates of population exploration (the run''s map: PCA, UMAP or t-SNE), the PCA coordinates pca_x/pca_y/pca_z, the sample''s metadata (a JSON object) and its cluster in perception space.';
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
       -- the probability of the predicted class, as the run's output kind
       -- defines it (62_data_issues.sql)
       (@extschema@.tl_class_probs(r.output, ru.output_kind))[r.prediction + 1] AS confidence,
       ru.map, r.pca_x, r.pca_y, r.pca_z, r.metadata, r.cluster
  FROM @extschema@.tl_result r
  JOIN @extschema@.tl_run ru ON ru.id = r.run;
COMMENT ON VIEW @extschema@.tl_population IS
    'One dot per sample and run: coordinates (x, y, z) of the run''s map (map: pca, umap or tsne) and of its PCA (pca_x, pca_y, pca_z), loss (dot size), label and prediction (colour), correct, the sample''s metadata and its cluster in perception space.';

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
       CASE WHEN 2 * c.tp + c.fp + c.fn > 0 THEN (2 * c.tp)::float8 / (2 * c.tp + c.fp + c.fn) END AS f1,
       c.mean_loss
  FROM counts c JOIN @extschema@.tl_run ru ON ru.id = c.run;
COMMENT ON VIEW @extschema@.tl_class_metrics IS
    'Per run and class: support (count: samples labelled with the class), one-vs-rest accuracy (share of labelled samples whose "is it this class?" is answered right), precision, recall, F1 (all double precision), mean loss of the samples labelled with the class. Unlabelled samples are left out.';

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
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    -- an unknown run is an error, as for tl_label_issues and tl_failure_clusters
    IF NOT EXISTS (SELECT FROM @extschema@.tl_run t WHERE t.id = $1) THEN
        RAISE EXCEPTION 'run % does not exist', $1 USING ERRCODE = 'undefined_object';
    END IF;
    -- an unlabelled sample is not a failure
    RETURN QUERY
    SELECT r.sample_id, r.label, r.prediction, r.loss, r.x, r.y
      FROM @extschema@.tl_result r
     WHERE r.run = $1 AND r.label IS NOT NULL AND r.prediction IS DISTINCT FROM r.label
     ORDER BY r.loss DESC NULLS LAST, r.sample_id;
END
$$;
COMMENT ON FUNCTION @extschema@.tl_failures(integer) IS
    'The wrong predictions of a run (labelled samples only), highest loss first; an unknown run is an error.';

-- ---------------------------------------------------------------------------
-- Evaluation and analysis
-- ---------------------------------------------------------------------------
CREATE FUNCTION @extschema@.tl_evaluate(model text, query text, dataset text,
                                        subset text DEFAULT NULL, epoch integer DEFAULT NULL,
                                        loss text DEFAULT NULL, class_names text[] DEFAULT NULL,
                                        output_kind text DEFAULT NULL, map text DEFAULT NULL)
RETURNS integer
AS 'MODULE_PATHNAME', 'pg_tl_evaluate'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.tl_evaluate(text, text, text, text, integer, text, text[], text, text) IS
    'Runs the model over the rows (sample_id, input, label, metadata columns...) of a query, in batches, into a new run: output, prediction, loss (the model''s training loss unless loss names one), perception vector, the further columns as the metadata object; then tl_analyze places the samples (map: pca, the default, umap or tsne). output_kind overrides what the outputs mean (tl_output_kind). Returns the run id.';

CREATE FUNCTION @extschema@.tl_procrustes(m double precision[])
RETURNS double precision[]
AS 'MODULE_PATHNAME', 'pg_tl_procrustes'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_procrustes(double precision[]) IS
    'For M = AᵀB (d×d, d <= 3, row-major) the orthogonal R minimising |A R − B| (orthogonal Procrustes).';

-- A run's SQL, run as the run's creator (src/pg/pg_run_as.c): never with
-- the rights of whoever analyses or reports the run.
CREATE FUNCTION @extschema@.tl_run_perception(run integer, sample_ids text[])
RETURNS TABLE (sample_id text, output real[], perception real[])
AS 'MODULE_PATHNAME', 'pg_tl_run_perception'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.tl_run_perception(integer, text[]) IS
    'The run''s model over the rows of its input_query for the samples listed: output and perception vector. The query runs as the run''s creator (security-restricted, under the run''s search_path); the caller needs the creator''s privileges.';

CREATE FUNCTION @extschema@.tl_run_rows(run integer, sample_ids text[], query text DEFAULT NULL)
RETURNS TABLE (sample_id text, value text)
AS 'MODULE_PATHNAME', 'pg_tl_run_rows'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.tl_run_rows(integer, text[], text) IS
    'The first two columns (as text) of query, by default the run''s input_query, for the samples listed, run as the run''s creator (security-restricted, under the run''s search_path); the caller needs the creator''s privileges.';

CREATE FUNCTION @extschema@.tl_procrustes_align(run integer, reference integer)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pg_tl_procrustes_align'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.tl_procrustes_align(integer, integer) IS
    'Rotates (or reflects) and shifts the x/y/z of a run onto those of a reference run, fitted by orthogonal Procrustes on the samples both placed. False, and nothing changed, when they share fewer than 4 placed samples.';

CREATE FUNCTION @extschema@.tl_analyze(run integer, dims integer DEFAULT 3, align boolean DEFAULT true,
                                        map text DEFAULT NULL, reference_run integer DEFAULT NULL)
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
BEGIN
    IF dims IS NULL OR dims < 1 OR dims > 3 THEN
        RAISE EXCEPTION 'dims must be 1, 2 or 3, not %', dims USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO r FROM @extschema@.tl_run t WHERE t.id = run FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'run % does not exist', run USING ERRCODE = 'undefined_object';
    END IF;
    spec := r.model || coalesce('@' || r.revision, '');
    PERFORM @extschema@.tl_progress_begin('tl_analyze', run);

    -- 1. perception vectors (and outputs) the pipeline did not provide, from
    --    the run's query: its creator's SQL, run as the creator whoever
    --    analyses (tl_run_perception)
    SELECT array_agg(t.sample_id) INTO missing
      FROM @extschema@.tl_result t WHERE t.run = run AND t.perception IS NULL;
    IF r.input_query IS NOT NULL AND missing IS NOT NULL THEN
        PERFORM @extschema@.tl_progress_step('perception vectors', 0, pg_catalog.cardinality(missing));
        UPDATE @extschema@.tl_result t
           SET perception = p.perception, output = coalesce(t.output, p.output)
          FROM @extschema@.tl_run_perception(run, missing) p
         WHERE t.run = run AND t.sample_id = p.sample_id AND t.perception IS NULL;
    END IF;

    -- 2. what the outputs mean (62_data_issues.sql), the predictions and
    --    losses they imply
    PERFORM @extschema@.tl_progress_step('predictions and losses', 0);
    IF r.output_kind IS NULL THEN
        r.output_kind := CASE WHEN EXISTS (SELECT 1 FROM @extschema@.tl_model m WHERE m.name = r.model)
                              THEN @extschema@.tl_output_kind(spec) ELSE @extschema@.tl_run_output_kind(run) END;
        UPDATE @extschema@.tl_run t SET output_kind = r.output_kind WHERE t.id = run;
    END IF;
    UPDATE @extschema@.tl_result t SET prediction = @extschema@.tl_predict_class(t.output, r.output_kind)
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
        PERFORM @extschema@.tl_progress_step('PCA', 0);
        SELECT @extschema@.tl_pca_fit(t.perception, least(dims, width)) INTO p
          FROM @extschema@.tl_result t WHERE t.run = run AND t.perception IS NOT NULL;
        -- a sample without a perception vector has no place (any longer)
        UPDATE @extschema@.tl_result t SET x = NULL, y = NULL, z = NULL
         WHERE t.run = run AND t.perception IS NULL AND t.x IS NOT NULL;
        -- row by row, no join: linear however stale the statistics of the
        -- rows this transaction just inserted are
        UPDATE @extschema@.tl_result t SET (x, y, z) =
               (SELECT v[1], v[2], v[3] FROM (SELECT @extschema@.tl_pca_project(p, t.perception) AS v) pr)
         WHERE t.run = run AND t.perception IS NOT NULL;
        GET DIAGNOSTICS placed = ROW_COUNT;
        PERFORM @extschema@.tl_progress_step('PCA', placed, placed);
        PERFORM @extschema@.tl_progress_step('neighbour graph', 0, placed);
        PERFORM @extschema@.tl_neighbours(run);     -- the neighbour graph (62_data_issues.sql)

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
            PERFORM @extschema@.tl_progress_step('aligning', 0, placed);
        END IF;
        IF prev IS NOT NULL AND NOT @extschema@.tl_procrustes_align(run, prev) THEN
            prev := NULL;
        END IF;
    END IF;

    -- 5. the map: PCA kept in pca_x/y/z, UMAP or t-SNE in x/y/z (64_maps.sql)
    IF width IS NOT NULL OR coalesce(map, r.map) <> 'pca' THEN
        placed := @extschema@.tl_analyze_map(run, map, dims, prev, reference_run);
    END IF;

    -- 6. regions of perception space, for insights (66_insights.sql)
    UPDATE @extschema@.tl_result t SET cluster = NULL WHERE t.run = run AND t.cluster IS NOT NULL;
    UPDATE @extschema@.tl_result t SET cluster = pc.cluster
      FROM @extschema@.tl_perception_clusters(run) pc WHERE t.run = run AND t.sample_id = pc.sample_id;

    UPDATE @extschema@.tl_run t
       SET status = 'ready', pca = p, aligned_to = prev, analyzed_at = clock_timestamp(), analysis_error = NULL
     WHERE t.id = run;
    PERFORM @extschema@.tl_progress_end();
    RETURN placed;
END
$$;
COMMENT ON FUNCTION @extschema@.tl_analyze(integer, integer, boolean, text, integer) IS
    'Completes a run: perception vectors from input_query where missing, predictions and losses from outputs, x/y/z by PCA of the perception vectors, aligned (orthogonal Procrustes) to the previous epoch of the same model, dataset and subset; with map umap or tsne (NULL: the run''s tl_run.map) x/y/z become that map (the PCA stays in pca_x/y/z), started from the previous epoch''s map or placed into reference_run''s; clusters in perception space (tl_perception_clusters) into tl_result.cluster. Returns the samples placed.';

CREATE FUNCTION @extschema@.tl_failure_clusters(run integer, clusters integer DEFAULT 8)
RETURNS TABLE (cluster integer, size integer, failures integer, error_rate real, mean_loss real,
               x real, y real, worst_samples text[])
AS 'MODULE_PATHNAME', 'pg_tl_failure_clusters'
LANGUAGE C STRICT STABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_failure_clusters(integer, integer) IS
    'k-means (fixed seed) on the coordinates of a run: per cluster its size, failures (labelled samples predicted otherwise), error rate (failures / labelled samples; NULL when none is labelled), mean loss, centre and five highest-loss samples.';
