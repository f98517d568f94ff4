-- ---------------------------------------------------------------------------
-- Data issues (doc/data_issues.md): what a model's output means, the run's
-- neighbour graph, label issues, near-duplicates and leakage, outliers,
-- similar samples, and one row per sample for BI tools.
-- ---------------------------------------------------------------------------

-- For runs whose model is not stored and whose inserter gave no kind: the
-- outputs tell what they can (a last resort, documented as such).
CREATE FUNCTION @extschema@.tl_run_output_kind(run integer)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN count(*) = 0 THEN NULL
                WHEN bool_and(o.lo >= 0 AND o.hi <= 1) THEN
                     CASE WHEN max(o.w) = 1 OR max(abs(o.s - 1)) > 1e-3 THEN 'sigmoid' ELSE 'softmax' END
                WHEN max(o.w) = 1 THEN 'sigmoid_logits' ELSE 'softmax_logits' END
      FROM (SELECT pg_catalog.cardinality(t.output) AS w,
                   (SELECT sum(v) FROM pg_catalog.unnest(t.output) v) AS s,
                   (SELECT min(v) FROM pg_catalog.unnest(t.output) v) AS lo,
                   (SELECT max(v) FROM pg_catalog.unnest(t.output) v) AS hi
              FROM @extschema@.tl_result t WHERE t.run = $1 AND t.output IS NOT NULL) o
$$;
COMMENT ON FUNCTION @extschema@.tl_run_output_kind(integer) IS
    'The output kind of a run whose model is not stored and which says none: probabilities when every output is in [0, 1] (softmax when several units sum to 1), else logits. A last resort: set tl_run.output_kind when you know it.';

-- ---------------------------------------------------------------------------
-- The neighbour graph: each sample's k nearest neighbours in the run's
-- neighbour space, rebuilt by tl_analyze, deleted with the run.
-- ---------------------------------------------------------------------------
-- No foreign key: checking one per edge doubled the time to store a graph
-- (10 edges per sample); a trigger deletes a run's edges before the run
-- (while row-level security still shows the run to whoever deletes it).
CREATE TABLE @extschema@.tl_neighbour (
    run           integer NOT NULL,
    sample_id     text    NOT NULL,
    rank          integer NOT NULL,
    neighbour_id  text    NOT NULL,
    distance      real    NOT NULL,
    PRIMARY KEY (run, sample_id, rank)
);
COMMENT ON TABLE @extschema@.tl_neighbour IS
    'The k nearest neighbours (rank 1 = nearest) of each sample of a run with a perception vector, Euclidean in the run''s neighbour space (tl_run.neighbour_space); exact up to tensorlens.knn_exact_max samples, NN-descent above.';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.tl_neighbour', '');

CREATE FUNCTION @extschema@.tl_run_delete_neighbours()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM @extschema@.tl_neighbour n WHERE n.run = OLD.id;
    RETURN OLD;
END
$$;
CREATE TRIGGER tl_run_deleting
    BEFORE DELETE ON @extschema@.tl_run
    FOR EACH ROW EXECUTE FUNCTION @extschema@.tl_run_delete_neighbours();
ALTER TABLE @extschema@.tl_neighbour ENABLE ROW LEVEL SECURITY;
CREATE POLICY tl_neighbour_by_run ON @extschema@.tl_neighbour
    USING (EXISTS (SELECT FROM @extschema@.tl_run r WHERE r.id = tl_neighbour.run))
    WITH CHECK (EXISTS (SELECT FROM @extschema@.tl_run r WHERE r.id = tl_neighbour.run));
COMMENT ON POLICY tl_neighbour_by_run ON @extschema@.tl_neighbour IS
    'A role sees and changes the neighbours of the runs it sees.';

CREATE FUNCTION @extschema@.tl_neighbour_edges(run integer, k integer)
RETURNS TABLE (sample_id text, rank integer, neighbour_id text, distance real)
AS 'MODULE_PATHNAME', 'pg_tl_neighbour_edges'
LANGUAGE C STRICT STABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_neighbour_edges(integer, integer) IS
    'The k nearest neighbours of every sample of a run in its neighbour space, computed (what tl_neighbours stores).';

CREATE FUNCTION @extschema@.tl_neighbours(run integer, k integer DEFAULT 10)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    width integer;
    space @extschema@.tl_pca;
    stored integer;
BEGIN
    IF k IS NULL OR k < 1 OR k > 1000 THEN
        RAISE EXCEPTION 'k (neighbours) must be between 1 and 1000, not %', k USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM FROM @extschema@.tl_run t WHERE t.id = run FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'run % does not exist', run USING ERRCODE = 'undefined_object';
    END IF;
    DELETE FROM @extschema@.tl_neighbour n WHERE n.run = run;
    SELECT min(pg_catalog.cardinality(t.perception)) INTO width
      FROM @extschema@.tl_result t WHERE t.run = run AND t.perception IS NOT NULL;
    IF width IS NOT NULL THEN
        SELECT @extschema@.tl_pca_fit(t.perception, least(32, width)) INTO space
          FROM @extschema@.tl_result t WHERE t.run = run AND t.perception IS NOT NULL;
    END IF;
    UPDATE @extschema@.tl_run t SET neighbour_space = space WHERE t.id = run;
    IF space IS NULL THEN
        RETURN 0;
    END IF;
    INSERT INTO @extschema@.tl_neighbour (run, sample_id, rank, neighbour_id, distance)
    SELECT run, e.sample_id, e.rank, e.neighbour_id, e.distance FROM @extschema@.tl_neighbour_edges(run, k) e;
    GET DIAGNOSTICS stored = ROW_COUNT;
    RETURN stored;
END
$$;
COMMENT ON FUNCTION @extschema@.tl_neighbours(integer, integer) IS
    'Stores the run''s neighbour graph (tl_neighbour, replacing it) and neighbour space (tl_run.neighbour_space): the k nearest neighbours of each sample with a perception vector. tl_analyze calls it with k = 10. Returns the edges stored.';

-- ---------------------------------------------------------------------------
-- Label issues, duplicates, outliers, similar samples
-- ---------------------------------------------------------------------------
CREATE FUNCTION @extschema@.tl_label_issues(run integer, k integer DEFAULT 10, with_runs integer[] DEFAULT NULL)
RETURNS TABLE (rank integer, sample_id text, label integer, suggested_label integer, score real,
               self_confidence real, margin real, neighbour_disagreement real,
               confident_learning boolean, prediction integer, loss real, self_confidence_by_run real[])
AS 'MODULE_PATHNAME', 'pg_tl_label_issues'
LANGUAGE C CALLED ON NULL INPUT STABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_label_issues(integer, integer, integer[]) IS
    'Labelled samples of a run ranked most likely mislabelled first: score = 1 - p(label) for the product of the models'' class distribution (averaged with the runs of with_runs) and the labels of the k nearest neighbours, whose weight is fitted on the run; confident learning flags; self-confidence per run.';

-- VOLATILE, PARALLEL UNSAFE: the input space reads the runs' input queries
-- (run as their creators), as tl_run_rows does.
CREATE FUNCTION @extschema@.tl_near_duplicates(run integer, other_run integer DEFAULT NULL, threshold real DEFAULT NULL)
RETURNS TABLE (sample_id text, duplicate_run integer, duplicate_id text, distance real,
               input_distance real, method text)
AS 'MODULE_PATHNAME', 'pg_tl_near_duplicates'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.tl_near_duplicates(integer, integer, real) IS
    'Pairs of (nearly) identical samples: within a run, or samples of run that nearly duplicate samples of other_run (train/test leakage). Found in perception space (distance; threshold, by default calibrated on the nearest-neighbour distances of the run, or other_run) and in input space from the runs'' input queries (input_distance: 1 - Jaccard of token 3-grams or multi-hot ones, or the relative distance of dense inputs at the best one-pixel shift; default thresholds); method says which: perception, input or both. doc/data_issues.md.';

CREATE FUNCTION @extschema@.tl_outliers(run integer, reference_run integer DEFAULT NULL)
RETURNS TABLE (rank integer, sample_id text, score real, outlier boolean, nearest_id text,
               label integer, prediction integer)
AS 'MODULE_PATHNAME', 'pg_tl_outliers'
LANGUAGE C CALLED ON NULL INPUT STABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_outliers(integer, integer) IS
    'Samples of a run ranked most atypical first: the distance to the k-th nearest neighbour (k = 10) in the run''s neighbour space, or to the k-th nearest sample of reference_run in its space; outlier = above the threshold doc/data_issues.md describes.';

CREATE FUNCTION @extschema@.tl_similar_to(run integer, vector real[], k integer, exclude text)
RETURNS TABLE (rank integer, sample_id text, distance real)
AS 'MODULE_PATHNAME', 'pg_tl_similar_vector'
LANGUAGE C CALLED ON NULL INPUT STABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_similar_to(integer, real[], integer, text) IS
    'The k samples of a run nearest to a perception vector in the run''s neighbour space, exactly, leaving out the sample named exclude (or none). Used by tl_similar.';

-- In both forms the neighbours are the preserved side of a LEFT JOIN, so they
-- are always computed (a plain join may skip them when tl_result has no row
-- of the run) and an unknown run or sample is an error whatever the plan.
CREATE FUNCTION @extschema@.tl_similar(run integer, vector real[], k integer DEFAULT 10)
RETURNS TABLE (rank integer, sample_id text, distance real, label integer, prediction integer, loss real)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT s.rank, s.sample_id, s.distance, t.label, t.prediction, t.loss
      FROM @extschema@.tl_similar_to($1, $2, $3, NULL) s
      LEFT JOIN @extschema@.tl_result t ON t.run = $1 AND t.sample_id = s.sample_id
     ORDER BY s.rank
$$;
COMMENT ON FUNCTION @extschema@.tl_similar(integer, real[], integer) IS
    'The k samples of a run the model perceives as closest to a perception vector (e.g. tl_perception of a new sample), nearest first.';

CREATE FUNCTION @extschema@.tl_sample_perception(run integer, sample text)
RETURNS real[]
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v real[];
BEGIN
    IF run IS NULL OR sample IS NULL THEN
        RAISE EXCEPTION 'run and sample must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT t.perception INTO v FROM @extschema@.tl_result t WHERE t.run = run AND t.sample_id = sample;
    IF v IS NULL THEN
        PERFORM FROM @extschema@.tl_run t WHERE t.id = run;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'run % does not exist', run USING ERRCODE = 'undefined_object';
        END IF;
        RAISE EXCEPTION 'run % has no sample % with a perception vector', run, sample USING ERRCODE = 'undefined_object';
    END IF;
    RETURN v;
END
$$;
COMMENT ON FUNCTION @extschema@.tl_sample_perception(integer, text) IS
    'The perception vector of one sample of a run; an error when there is none.';

CREATE FUNCTION @extschema@.tl_similar(run integer, sample_id text, k integer DEFAULT 10)
RETURNS TABLE (rank integer, sample_id text, distance real, label integer, prediction integer, loss real)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT s.rank, s.sample_id, s.distance, t.label, t.prediction, t.loss
      FROM @extschema@.tl_similar_to($1, @extschema@.tl_sample_perception($1, $2), $3, $2) s
      LEFT JOIN @extschema@.tl_result t ON t.run = $1 AND t.sample_id = s.sample_id
     ORDER BY s.rank
$$;
COMMENT ON FUNCTION @extschema@.tl_similar(integer, text, integer) IS
    'The k other samples of a run the model perceives as closest to one of its samples, nearest first.';

-- ---------------------------------------------------------------------------
-- One row per sample for BI tools: every data-issue score of a run.
-- ---------------------------------------------------------------------------
CREATE FUNCTION @extschema@.tl_sample_issues(run integer)
RETURNS TABLE (sample_id text, label integer, prediction integer, loss real,
               label_issue_score real, label_issue boolean, suggested_label integer,
               outlier_score real, outlier boolean, duplicate_of text, hardness real)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    kind text;
    li_id text[]; li_score real[]; li_flag boolean[]; li_suggested integer[];
    o_id text[]; o_score real[]; o_flag boolean[];
    d_id text[]; d_of text[];
BEGIN
    SELECT r.output_kind INTO kind FROM @extschema@.tl_run r WHERE r.id = run;
    -- each analysis where it applies: a run without labels has no label
    -- issues, one without perception vectors no outliers or duplicates
    BEGIN
        SELECT array_agg(i.sample_id), array_agg(i.score), array_agg(i.confident_learning), array_agg(i.suggested_label)
          INTO li_id, li_score, li_flag, li_suggested FROM @extschema@.tl_label_issues(run) i;
    EXCEPTION WHEN invalid_parameter_value OR object_not_in_prerequisite_state OR array_subscript_error
                   OR numeric_value_out_of_range THEN
        NULL;
    END;
    BEGIN
        SELECT array_agg(o.sample_id), array_agg(o.score), array_agg(o.outlier)
          INTO o_id, o_score, o_flag FROM @extschema@.tl_outliers(run) o;
        SELECT array_agg(d.duplicate_id), array_agg(d.first)
          INTO d_id, d_of
          FROM (SELECT n.duplicate_id, min(n.sample_id) AS first FROM @extschema@.tl_near_duplicates(run) n GROUP BY 1) d;
    EXCEPTION WHEN invalid_parameter_value OR object_not_in_prerequisite_state THEN
        NULL;
    END;
    RETURN QUERY
    SELECT t.sample_id, t.label, t.prediction, t.loss, li.score, li.flag, li.suggested, o.score, o.flag, d.of,
           (SELECT -sum(p * ln(p)) FROM pg_catalog.unnest(@extschema@.tl_class_probs(t.output, kind)) p WHERE p > 0)::real
      FROM @extschema@.tl_result t
      LEFT JOIN ROWS FROM (pg_catalog.unnest(li_id), pg_catalog.unnest(li_score), pg_catalog.unnest(li_flag),
                          pg_catalog.unnest(li_suggested)) li(id, score, flag, suggested) ON li.id = t.sample_id
      LEFT JOIN ROWS FROM (pg_catalog.unnest(o_id), pg_catalog.unnest(o_score), pg_catalog.unnest(o_flag)) o(id, score, flag) ON o.id = t.sample_id
      LEFT JOIN ROWS FROM (pg_catalog.unnest(d_id), pg_catalog.unnest(d_of)) d(id, of) ON d.id = t.sample_id
     WHERE t.run = run;
END
$$;
COMMENT ON FUNCTION @extschema@.tl_sample_issues(integer) IS
    'Every data-issue score of a run''s samples: label issue (score, confident-learning flag, suggested label), outlier (score, flag), the sample it nearly duplicates, hardness (entropy of the predicted distribution, nats).';

CREATE VIEW @extschema@.tl_sample_issues WITH (security_invoker = true) AS
SELECT r.id AS run, r.model, r.dataset, r.subset, r.epoch, s.*
  FROM @extschema@.tl_run r CROSS JOIN LATERAL @extschema@.tl_sample_issues(r.id) s;
COMMENT ON VIEW @extschema@.tl_sample_issues IS
    'One row per sample and run for BI tools (filter run): label-issue score and flag, outlier score and flag, duplicate of, hardness (entropy of the predicted distribution).';
