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
    'Per-sample results of a run: label, model output, predicted class, loss, perception vector, the x/y/z coordinates of population exploration, the sample''s metadata (a JSON object) and its cluster in perception space.';
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
            ELSE (SELECT max(o) FROM pg_catalog.unnest(r.output) o) END AS confidence,
       r.metadata, r.cluster
  FROM @extschema@.tl_result r
  JOIN @extschema@.tl_run ru ON ru.id = r.run;
COMMENT ON VIEW @extschema@.tl_population IS
    'One dot per sample and run: coordinates (x, y, z), loss (dot size), label and prediction (colour), correct, the sample''s metadata and its cluster in perception space.';

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
    'Runs the model over the rows (sample_id, input, label, metadata columns...) of a query, in batches, into a new run: output, prediction, loss (the model''s training loss unless loss names one), perception vector, the further columns as the metadata object; then tl_analyze places the samples. Returns the run id.';

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

    -- 5. regions of perception space, for insights (66_insights.sql)
    UPDATE @extschema@.tl_result t SET cluster = NULL WHERE t.run = run AND t.cluster IS NOT NULL;
    UPDATE @extschema@.tl_result t SET cluster = pc.cluster
      FROM @extschema@.tl_perception_clusters(run) pc WHERE t.run = run AND t.sample_id = pc.sample_id;

    UPDATE @extschema@.tl_run t
       SET status = 'ready', pca = p, aligned_to = prev, analyzed_at = clock_timestamp(), analysis_error = NULL
     WHERE t.id = run;
    RETURN placed;
END
$$;
COMMENT ON FUNCTION @extschema@.tl_analyze(integer, integer, boolean) IS
    'Completes a run: perception vectors from input_query where missing, predictions and losses from outputs, x/y/z by PCA of the perception vectors, aligned (orthogonal Procrustes) to the previous epoch of the same model, dataset and subset; clusters in perception space (tl_perception_clusters) into tl_result.cluster. Returns the samples placed.';

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
