-- ---------------------------------------------------------------------------
-- Insights (doc/insights.md): the findings an analyst would otherwise hunt
-- for, as ranked rows with their samples and metadata.
--
-- Each kind of finding comes from one small function returning candidate
-- tl_finding rows, with a p-value where the finding is a statistical claim;
-- tl_insights adjusts all p-values of a call together (Holm),
-- keeps those significant at alpha, explains regions by their metadata and
-- ranks everything by severity.  Severity is the share of the run's samples
-- the finding accounts for beyond what is expected (for failures: excess
-- failures / labelled samples), so kinds rank on one scale.
-- ---------------------------------------------------------------------------

-- the clustering, the tests and the correction (src/pg/pg_insights.c,
-- src/core/analysis/tl_cluster_auto.c, tl_insights_stats.c)
CREATE FUNCTION @extschema@.tl_perception_clusters(run integer, other_run integer DEFAULT NULL)
RETURNS TABLE (run integer, sample_id text, cluster integer)
AS 'MODULE_PATHNAME', 'pg_tl_perception_clusters'
LANGUAGE C CALLED ON NULL INPUT STABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_perception_clusters(integer, integer) IS
    'Regions of perception space: k-means (k-means++, fixed seed) on the 16 leading principal components of the run''s perception vectors (or of two runs'' together), k from 2 to 20 chosen by the silhouette of a 2000-sample subset; numbered from 1 by decreasing size. tl_analyze stores them in tl_result.cluster.';

CREATE FUNCTION @extschema@.tl_excess_test(total bigint[], events bigint[], drawn bigint[], observed bigint,
                                           OUT p double precision, OUT expected double precision)
AS 'MODULE_PATHNAME', 'pg_tl_excess_test'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_excess_test(bigint[], bigint[], bigint[], bigint) IS
    'Per stratum j (e.g. class) total[j] samples, events[j] of them failed, drawn[j] in a group: p = P(failures in the group >= observed) if failures fell on samples independently of the group within each stratum (hypergeometric per stratum; exact up to 5000 drawn, normal beyond), expected = their mean. One stratum = Fisher''s exact test, one-sided.';

CREATE FUNCTION @extschema@.tl_p_adjust(p double precision[], method text DEFAULT 'holm')
RETURNS double precision[]
AS 'MODULE_PATHNAME', 'pg_tl_p_adjust'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_p_adjust(double precision[], text) IS
    'Adjusted p-values, in the same order; NULLs stay NULL and are not counted. holm: q <= alpha bounds the chance of any false finding by alpha (Holm 1979); bh: the expected share of false findings among those kept (Benjamini-Hochberg 1995).';

CREATE FUNCTION @extschema@.tl_rank_sum_test(rank_sum double precision, n1 bigint, n2 bigint,
                                             tie_sum double precision DEFAULT 0)
RETURNS double precision
AS 'MODULE_PATHNAME', 'pg_tl_rank_sum_test'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_rank_sum_test(double precision, bigint, bigint, double precision) IS
    'One-sided Wilcoxon–Mann–Whitney test that a group of n1 values ranks above the n2 others: rank_sum = the group''s (mid-)rank sum, tie_sum = sum of t^3 - t over tied groups; normal approximation with continuity correction.';

CREATE FUNCTION @extschema@.tl_binomial_test(k bigint, n bigint, p double precision)
RETURNS double precision
AS 'MODULE_PATHNAME', 'pg_tl_binomial_test'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_binomial_test(bigint, bigint, double precision) IS
    'P(X >= k) for X binomial(n, p), exact.';

-- a candidate finding; p NULL when the finding is not a statistical claim
CREATE TYPE @extschema@.tl_finding AS (
    kind        text,
    severity    real,
    samples     integer,
    description text,
    sample_ids  text[],
    details     jsonb,
    p           double precision,   -- NULL: not a statistical claim
    notable     boolean             -- large enough to report when significant
);

-- ---------------------------------------------------------------------------
-- The samples as insights see them: failed is NULL for unlabelled samples
-- (not failures); the cluster is the stored one, or computed now for a run
-- analysed before clusters were stored.
-- ---------------------------------------------------------------------------
CREATE FUNCTION @extschema@.tl_insight_samples(run integer)
RETURNS TABLE (sample_id text, label integer, failed boolean, loss real, cluster integer, metadata jsonb)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT r.sample_id, r.label,
           CASE WHEN r.label IS NULL OR r.prediction IS NULL THEN NULL ELSE r.label <> r.prediction END,
           r.loss, coalesce(r.cluster, c.cluster), r.metadata
      FROM @extschema@.tl_result r
      LEFT JOIN (SELECT pc.sample_id, pc.cluster FROM @extschema@.tl_perception_clusters($1) pc
                  WHERE NOT EXISTS (SELECT FROM @extschema@.tl_result t WHERE t.run = $1 AND t.cluster IS NOT NULL)) c
        ON c.sample_id = r.sample_id
     WHERE r.run = $1
$$;

-- The metadata conditions of a run's samples: "key = value" for keys with at
-- most 100 distinct values, "key in [lo, hi]" quartiles for numeric keys with
-- more than 10; keys with many distinct non-numeric values (ids, free text)
-- say nothing about a group and are left out.
CREATE FUNCTION @extschema@.tl_metadata_conditions(run integer)
RETURNS TABLE (sample_id text, key text, value text, condition text)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH md AS (
        SELECT r.sample_id, e.key, e.value
          FROM @extschema@.tl_result r, jsonb_each(r.metadata) e
         WHERE r.run = $1 AND jsonb_typeof(e.value) <> 'null'),
    keys AS (
        SELECT md.key, bool_and(jsonb_typeof(md.value) = 'number') AS numeric,
               count(DISTINCT md.value) AS distinct_values
          FROM md GROUP BY md.key),
    binned AS (
        SELECT md.sample_id, md.key, (md.value #>> '{}')::numeric AS v,
               ntile(4) OVER (PARTITION BY md.key ORDER BY (md.value #>> '{}')::numeric, md.sample_id) AS tile
          FROM md JOIN keys k ON k.key = md.key
         WHERE k.numeric AND k.distinct_values > 10),
    bins AS (
        SELECT b.key, b.tile, min(b.v) AS lo, max(b.v) AS hi FROM binned b GROUP BY b.key, b.tile)
    SELECT b.sample_id, b.key, format('[%s, %s]', n.lo, n.hi), format('%s in [%s, %s]', b.key, n.lo, n.hi)
      FROM binned b JOIN bins n ON n.key = b.key AND n.tile = b.tile
    UNION ALL
    SELECT md.sample_id, md.key, md.value #>> '{}', format('%s = %s', md.key, md.value #>> '{}')
      FROM md JOIN keys k ON k.key = md.key
     WHERE NOT (k.numeric AND k.distinct_values > 10) AND k.distinct_values <= 100
$$;
COMMENT ON FUNCTION @extschema@.tl_metadata_conditions(integer) IS
    'The metadata of a run''s samples as conditions: key = value (keys with at most 100 distinct values), key in [lo, hi] (quartiles of numeric keys with more than 10 distinct values).';

-- What the samples of a group have in common: metadata conditions
-- over-represented among them (Fisher's exact test against the run, Holm over
-- the conditions tested), significant at alpha, most significant first.
CREATE FUNCTION @extschema@.tl_metadata_enrichment(run integer, sample_ids text[], alpha double precision DEFAULT 0.01)
RETURNS TABLE (key text, value text, condition text, support integer, share real, overall_share real,
               lift real, p double precision, q double precision)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
BEGIN
    IF run IS NULL OR sample_ids IS NULL THEN
        RAISE EXCEPTION 'tl_metadata_enrichment: run and sample_ids must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF alpha IS NULL OR NOT (alpha > 0 AND alpha < 1) THEN
        RAISE EXCEPTION 'alpha (the significance level) must be between 0 and 1, not %', alpha
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT EXISTS (SELECT FROM @extschema@.tl_run t WHERE t.id = run) THEN
        RAISE EXCEPTION 'run % does not exist', run USING ERRCODE = 'undefined_object';
    END IF;
    RETURN QUERY
    WITH cond AS (SELECT * FROM @extschema@.tl_metadata_conditions($1)),
    chosen AS (SELECT DISTINCT u.id FROM unnest($2) u(id)),
    n AS (SELECT count(*) AS total, count(ch.id) AS drawn
            FROM @extschema@.tl_result r LEFT JOIN chosen ch ON ch.id = r.sample_id WHERE r.run = $1),
    counts AS (
        SELECT c.key, c.value, c.condition, count(*) AS events, count(ch.id) AS support
          FROM cond c LEFT JOIN chosen ch ON ch.id = c.sample_id
         GROUP BY c.key, c.value, c.condition),
    tested AS (
        SELECT c.*, n.total, n.drawn,
               (@extschema@.tl_excess_test(ARRAY[n.total], ARRAY[c.events], ARRAY[n.drawn], c.support)).p AS p
          FROM counts c, n
         WHERE n.drawn > 0),
    adjusted AS (
        SELECT t.*, u.q
          FROM (SELECT array_agg(t.p ORDER BY t.key, t.value) AS ps FROM tested t) a,
               unnest(@extschema@.tl_p_adjust(a.ps)) WITH ORDINALITY u(q, i)
          JOIN (SELECT t.*, row_number() OVER (ORDER BY t.key, t.value) AS i FROM tested t) t ON t.i = u.i)
    SELECT a.key, a.value, a.condition, a.support::integer, (a.support::float8 / a.drawn)::real,
           (a.events::float8 / a.total)::real, ((a.support::float8 / a.drawn) / (a.events::float8 / a.total))::real,
           a.p, a.q
      FROM adjusted a
     -- every condition of the run is tested (and counted by Holm); those
     -- frequent enough among the samples to describe them are kept
     WHERE a.q <= $3 AND a.support >= 3 AND a.support::float8 / a.drawn > a.events::float8 / a.total
     ORDER BY a.q, a.support DESC, a.key, a.value;
END
$fn$;
COMMENT ON FUNCTION @extschema@.tl_metadata_enrichment(integer, text[], double precision) IS
    'Metadata conditions over-represented among the given samples of a run: support (samples with it among them), share among them, share in the run, lift, Fisher''s exact p and its Holm-adjusted q over the conditions tested; only q <= alpha.';

-- A p-value for a details object: JSON numbers are numerics, printed without
-- an exponent, so p-values below 1e-16 are given as 1e-16.
CREATE FUNCTION @extschema@.tl_p_json(p double precision)
RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT trim_scale(round(greatest($1, 1e-16)::numeric, 18))
$$;

-- A finding that could not be computed, and why (ranked last).
CREATE FUNCTION @extschema@.tl_finding_not_computed(kind text, reason text)
RETURNS @extschema@.tl_finding
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ROW('not_computed', 0, 0, format('%s: not computed: %s', $1, $2), '{}'::text[],
               jsonb_build_object('kind', $1, 'reason', $2), NULL, true)::@extschema@.tl_finding
$$;

-- ---------------------------------------------------------------------------
-- low_performance and metadata: groups of labelled samples that fail more
-- than their classes explain.  A group is a cluster of perception space
-- (low_performance) or the samples meeting a metadata condition (metadata:
-- the condition is over-represented among the failures).  Every group is
-- tested (tl_excess_test, stratified by label); notable = at least 50 % more
-- failures than expected and an error rate above the run's.
-- ---------------------------------------------------------------------------
CREATE FUNCTION @extschema@.tl_insights_failure_groups(run integer)
RETURNS SETOF @extschema@.tl_finding
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH s AS (SELECT * FROM @extschema@.tl_insight_samples($1) x WHERE x.failed IS NOT NULL),
    members AS (
        SELECT 'low_performance'::text AS kind, s.cluster::text AS name, NULL::text AS key, NULL::text AS value,
               s.sample_id, s.label, s.failed
          FROM s WHERE s.cluster IS NOT NULL
        UNION ALL
        SELECT 'metadata', c.condition, c.key, c.value, s.sample_id, s.label, s.failed
          FROM @extschema@.tl_metadata_conditions($1) c JOIN s ON s.sample_id = c.sample_id),
    classes AS (SELECT s.label, count(*) AS total, count(*) FILTER (WHERE s.failed) AS events FROM s GROUP BY s.label),
    overall AS (SELECT count(*) AS n, count(*) FILTER (WHERE s.failed) AS failures FROM s),
    cells AS MATERIALIZED (SELECT m.kind, m.name, m.label, count(*) AS drawn FROM members m GROUP BY 1, 2, 3),
    groups AS (
        SELECT m.kind, m.name, min(m.key) AS key, min(m.value) AS value, count(*) AS n,
               count(*) FILTER (WHERE m.failed) AS failures, array_agg(m.sample_id ORDER BY m.sample_id) AS ids
          FROM members m GROUP BY m.kind, m.name),
    tested AS (
        SELECT g.*, t.p, t.expected
          FROM groups g,
               LATERAL (SELECT array_agg(c.total ORDER BY c.label) AS total, array_agg(c.events ORDER BY c.label) AS events,
                               array_agg(coalesce(x.drawn, 0) ORDER BY c.label) AS drawn
                          FROM classes c
                          LEFT JOIN cells x ON x.kind = g.kind AND x.name = g.name AND x.label IS NOT DISTINCT FROM c.label) a,
               LATERAL @extschema@.tl_excess_test(a.total, a.events, a.drawn, g.failures) t)
    SELECT ROW(t.kind,
           greatest(0, (t.failures - t.expected) / o.n)::real,
           t.n::integer,
           CASE t.kind
           WHEN 'low_performance' THEN
               format('%s samples in region %s of perception space, error rate %s vs %s overall (%s expected from their classes)',
                      t.n, t.name, round(t.failures::numeric / t.n, 2), round(o.failures::numeric / o.n, 2),
                      round((t.expected / t.n)::numeric, 2))
           ELSE
               format('%s: %s samples, error rate %s vs %s overall (%s expected from their classes); %s %% of the failures vs %s %% of the samples',
                      t.name, t.n, round(t.failures::numeric / t.n, 2), round(o.failures::numeric / o.n, 2),
                      round((t.expected / t.n)::numeric, 2),
                      round(100.0 * t.failures / greatest(o.failures, 1)), round(100.0 * t.n / o.n)) END,
           t.ids,
           jsonb_strip_nulls(jsonb_build_object(
               'cluster', CASE WHEN t.kind = 'low_performance' THEN t.name::integer END,
               'key', t.key, 'value', t.value, 'condition', CASE WHEN t.kind = 'metadata' THEN t.name END,
               'failures', t.failures, 'expected_failures', round(t.expected::numeric, 2),
               'error_rate', round(t.failures::numeric / t.n, 4), 'overall_error_rate', round(o.failures::numeric / o.n, 4),
               'support', CASE WHEN t.kind = 'metadata' THEN t.failures END,
               'lift', CASE WHEN t.kind = 'metadata' AND o.failures > 0
                            THEN round((t.failures::numeric / o.failures) / (t.n::numeric / o.n), 2) END,
               'p', @extschema@.tl_p_json(t.p))),
           t.p,
           t.failures >= 1.5 * t.expected AND t.failures * o.n > o.failures * t.n AND t.failures >= 3
           )::@extschema@.tl_finding
      FROM tested t, overall o
$$;
COMMENT ON FUNCTION @extschema@.tl_insights_failure_groups(integer) IS
    'Candidate low_performance (clusters) and metadata (conditions) findings of a run: every group tested for more failures than its classes explain; tl_insights keeps the significant, notable ones.';

-- ---------------------------------------------------------------------------
-- under_represented: a small cluster (under half the average cluster size)
-- whose losses rank above the rest of the run (one-sided rank-sum test).
-- ---------------------------------------------------------------------------
CREATE FUNCTION @extschema@.tl_insights_under_represented(run integer)
RETURNS SETOF @extschema@.tl_finding
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH s AS (SELECT x.sample_id, x.loss, x.cluster FROM @extschema@.tl_insight_samples($1) x
                WHERE x.loss IS NOT NULL AND x.cluster IS NOT NULL AND x.loss = x.loss),
    ranked AS (SELECT s.*, rank() OVER (ORDER BY s.loss) + (count(*) OVER (PARTITION BY s.loss) - 1) / 2.0 AS r FROM s),
    ties AS (SELECT coalesce(sum(t.c ^ 3 - t.c), 0) AS tie_sum FROM (SELECT count(*)::float8 AS c FROM s GROUP BY s.loss) t),
    o AS (SELECT count(*) AS n, count(DISTINCT s.cluster) AS k, sum(s.loss::float8) AS total_loss FROM s),
    c AS (SELECT r.cluster, count(*) AS n, sum(r.r) AS rank_sum, sum(r.loss::float8) AS sum_loss,
                 array_agg(r.sample_id ORDER BY r.sample_id) AS ids
            FROM ranked r GROUP BY r.cluster)
    SELECT ROW('under_represented',
           greatest(0, (c.sum_loss - c.n * (o.total_loss - c.sum_loss) / (o.n - c.n)) / nullif(o.total_loss, 0))::real,
           c.n::integer,
           format('%s samples in region %s of perception space, a sparse region (%s %% of the run; %s per region on average), mean loss %s vs %s elsewhere',
                  c.n, c.cluster, round(100.0 * c.n / o.n, 1), round(o.n::numeric / o.k),
                  round((c.sum_loss / c.n)::numeric, 3), round(((o.total_loss - c.sum_loss) / (o.n - c.n))::numeric, 3)),
           c.ids,
           jsonb_build_object('cluster', c.cluster, 'share', round(c.n::numeric / o.n, 4),
                              'mean_loss', round((c.sum_loss / c.n)::numeric, 4),
                              'mean_loss_elsewhere', round(((o.total_loss - c.sum_loss) / (o.n - c.n))::numeric, 4),
                              'p', @extschema@.tl_p_json(@extschema@.tl_rank_sum_test(c.rank_sum, c.n, o.n - c.n, t.tie_sum))),
           @extschema@.tl_rank_sum_test(c.rank_sum, c.n, o.n - c.n, t.tie_sum),
           c.n < o.n / (2.0 * o.k) AND c.sum_loss / c.n > (o.total_loss - c.sum_loss) / (o.n - c.n) AND c.n >= 3
           )::@extschema@.tl_finding
      FROM c, o, ties t
     WHERE o.k > 1
$$;
COMMENT ON FUNCTION @extschema@.tl_insights_under_represented(integer) IS
    'Candidate under_represented findings: clusters under half the average cluster size, tested for losses above the rest of the run (one-sided Wilcoxon–Mann–Whitney).';

-- ---------------------------------------------------------------------------
-- mislabeled: label issues flagged by confident learning, grouped by
-- (given label, suggested label); notable from 5 samples and 0.2 % of the run.
-- ---------------------------------------------------------------------------
CREATE FUNCTION @extschema@.tl_insights_mislabeled(run integer)
RETURNS SETOF @extschema@.tl_finding
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    names text[] := (SELECT t.class_names FROM @extschema@.tl_run t WHERE t.id = run);
    n     bigint := (SELECT count(*) FROM @extschema@.tl_result t WHERE t.run = run);
BEGIN
    RETURN QUERY SELECT (g.f).* FROM (
    SELECT ROW('mislabeled', (count(*)::float8 / n)::real, count(*)::integer,
               format('%s samples labelled %s look like %s to the model and their neighbours (label issues; mean score %s)',
                      count(*), coalesce(names[i.label + 1], i.label::text),
                      coalesce(names[i.suggested_label + 1], i.suggested_label::text), round(avg(i.score)::numeric, 2)),
               array_agg(i.sample_id ORDER BY i.rank),
               jsonb_build_object('label', i.label, 'suggested_label', i.suggested_label,
                                  'mean_score', round(avg(i.score)::numeric, 4)),
               NULL::float8, count(*) >= greatest(5, n / 500))::@extschema@.tl_finding AS f
      FROM @extschema@.tl_label_issues(run) i
     WHERE i.confident_learning
     GROUP BY i.label, i.suggested_label) g;
EXCEPTION WHEN invalid_parameter_value OR undefined_object OR array_subscript_error OR object_not_in_prerequisite_state THEN
    -- e.g. no labels, one class: tl_label_issues says why
    RETURN NEXT @extschema@.tl_finding_not_computed('mislabeled', SQLERRM);
END
$$;
COMMENT ON FUNCTION @extschema@.tl_insights_mislabeled(integer) IS
    'Candidate mislabeled findings: the samples tl_label_issues flags by confident learning, grouped by (label, suggested label).';

-- duplicates, leakage and outliers: the data-issue functions
-- (62_data_issues.sql) summarised as one finding each; a run without a
-- neighbour graph (no perception vectors) says it could not be computed.
CREATE FUNCTION @extschema@.tl_insights_duplicates(run integer)
RETURNS SETOF @extschema@.tl_finding
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    n bigint := (SELECT count(*) FROM @extschema@.tl_result t WHERE t.run = run);
BEGIN
    RETURN QUERY
    SELECT 'duplicates', (count(DISTINCT d.sample_id)::float8 / greatest(n, 1))::real, count(DISTINCT d.sample_id)::integer,
           format('%s samples nearly duplicate another sample of the run (%s pairs, closest at distance %s)',
                  count(DISTINCT d.sample_id), count(*), round(min(d.distance)::numeric, 4)),
           array_agg(DISTINCT d.sample_id),
           jsonb_build_object('pairs', count(*), 'closest', min(d.distance)),
           NULL::float8, true
      FROM @extschema@.tl_near_duplicates(run) d
    HAVING count(*) > 0;
EXCEPTION WHEN object_not_in_prerequisite_state OR invalid_parameter_value THEN
    RETURN NEXT @extschema@.tl_finding_not_computed('duplicates', SQLERRM);
END
$$;

CREATE FUNCTION @extschema@.tl_insights_leakage(run integer, reference_run integer)
RETURNS SETOF @extschema@.tl_finding
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    n bigint := (SELECT count(*) FROM @extschema@.tl_result t WHERE t.run = run);
BEGIN
    IF reference_run IS NULL THEN
        RETURN NEXT @extschema@.tl_finding_not_computed('leakage', 'needs reference_run (e.g. the training run)');
        RETURN;
    END IF;
    RETURN QUERY
    SELECT 'leakage', (count(DISTINCT d.sample_id)::float8 / greatest(n, 1))::real, count(DISTINCT d.sample_id)::integer,
           format('%s samples of run %s nearly duplicate samples of run %s (train/test leakage)',
                  count(DISTINCT d.sample_id), run, reference_run),
           array_agg(DISTINCT d.sample_id),
           jsonb_build_object('reference_run', reference_run, 'pairs', count(*), 'closest', min(d.distance)),
           NULL::float8, true
      FROM @extschema@.tl_near_duplicates(run, reference_run) d
    HAVING count(*) > 0;
EXCEPTION WHEN object_not_in_prerequisite_state OR invalid_parameter_value THEN
    RETURN NEXT @extschema@.tl_finding_not_computed('leakage', SQLERRM);
END
$$;

CREATE FUNCTION @extschema@.tl_insights_outliers(run integer, reference_run integer)
RETURNS SETOF @extschema@.tl_finding
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    n bigint := (SELECT count(*) FROM @extschema@.tl_result t WHERE t.run = run);
BEGIN
    RETURN QUERY
    SELECT 'outliers', (count(*)::float8 / greatest(n, 1))::real, count(*)::integer,
           format('%s samples are unlike anything %s (outliers in perception space)', count(*),
                  CASE WHEN reference_run IS NULL THEN 'else in the run' ELSE format('in run %s', reference_run) END),
           array_agg(o.sample_id ORDER BY o.rank),
           jsonb_build_object('reference_run', reference_run, 'top_score', max(o.score)),
           NULL::float8, true
      FROM @extschema@.tl_outliers(run, reference_run) o
     WHERE o.outlier
    HAVING count(*) > 0;
EXCEPTION WHEN object_not_in_prerequisite_state OR invalid_parameter_value THEN
    RETURN NEXT @extschema@.tl_finding_not_computed('outliers', SQLERRM);
END
$$;

-- ---------------------------------------------------------------------------
-- domain_gap: regions of the two runs' joint perception space whose share
-- differs between them (Fisher's exact test, two-sided).
-- ---------------------------------------------------------------------------
CREATE FUNCTION @extschema@.tl_insights_domain_gap(run integer, reference_run integer)
RETURNS SETOF @extschema@.tl_finding
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH j AS (SELECT * FROM @extschema@.tl_perception_clusters($1, $2)),
    tot AS (SELECT count(*) FILTER (WHERE j.run = $1) AS a, count(*) FILTER (WHERE j.run = $2) AS b FROM j),
    -- per region and run, the mean and variance of each perception value
    dims AS (
        SELECT j.cluster, j.run = $1 AS in_run, u.o, avg(u.v::float8) AS mean, var_pop(u.v::float8) AS var, count(*) AS n
          FROM j JOIN @extschema@.tl_result r ON r.run = j.run AND r.sample_id = j.sample_id,
               unnest(r.perception) WITH ORDINALITY u(v, o)
         GROUP BY 1, 2, 3),
    -- how far the region's centroid moved between the runs, relative to its spread
    shift AS (
        SELECT x.cluster, sqrt(sum((x.mean - y.mean) ^ 2))
                          / nullif(sqrt(sum((x.var * x.n + y.var * y.n) / (x.n + y.n))), 0) AS shift
          FROM dims x JOIN dims y ON y.cluster = x.cluster AND y.o = x.o AND NOT y.in_run
         WHERE x.in_run
         GROUP BY x.cluster),
    c AS (SELECT j.cluster, count(*) FILTER (WHERE j.run = $1) AS a, count(*) FILTER (WHERE j.run = $2) AS b,
                 coalesce(array_agg(j.sample_id ORDER BY j.sample_id) FILTER (WHERE j.run = $1), '{}') AS ids
            FROM j GROUP BY j.cluster),
    tested AS (
        SELECT c.*, tot.a AS total_a, tot.b AS total_b, (SELECT sh.shift FROM shift sh WHERE sh.cluster = c.cluster) AS shift,
               least(1, 2 * least(
                   (@extschema@.tl_excess_test(ARRAY[tot.a + tot.b], ARRAY[tot.a], ARRAY[c.a + c.b], c.a)).p,
                   1 - (@extschema@.tl_excess_test(ARRAY[tot.a + tot.b], ARRAY[tot.a], ARRAY[c.a + c.b], c.a + 1)).p)) AS p
          FROM c, tot WHERE tot.a > 0 AND tot.b > 0)
    SELECT ROW('domain_gap', abs(t.a::float8 / t.total_a - t.b::float8 / t.total_b)::real, t.a::integer,
               format('%s samples in region %s of the joint perception space: %s %% of run %s vs %s %% of reference run %s (%s samples)',
                      t.a, t.cluster, round(100.0 * t.a / t.total_a, 1), $1, round(100.0 * t.b / t.total_b, 1), $2, t.b),
               t.ids,
               jsonb_build_object('cluster', t.cluster, 'share', round(t.a::numeric / t.total_a, 4),
                                  'reference_share', round(t.b::numeric / t.total_b, 4), 'reference_samples', t.b,
                                  'centroid_shift', round(t.shift::numeric, 4), 'p', @extschema@.tl_p_json(t.p)),
               t.p,
               abs(t.a::float8 / t.total_a - t.b::float8 / t.total_b) >= 0.02
               AND greatest(t.a::float8 / t.total_a, t.b::float8 / t.total_b)
                   >= 1.5 * least(t.a::float8 / t.total_a, t.b::float8 / t.total_b))::@extschema@.tl_finding
      FROM tested t
    UNION ALL
    SELECT @extschema@.tl_finding_not_computed('domain_gap', format('run %s or reference run %s has no perception vectors', $1, $2))
      FROM tot WHERE tot.a = 0 OR tot.b = 0
$$;
COMMENT ON FUNCTION @extschema@.tl_insights_domain_gap(integer, integer) IS
    'Candidate domain_gap findings: regions of the joint perception space of two runs of one model whose share of each run differs (two-sided Fisher''s exact test); notable from 2 points and a 1.5x ratio. details: the shares, and centroid_shift = the distance between the two runs'' mean perception vectors in the region / the region''s RMS spread (NULL when one run has no sample there).';

-- ---------------------------------------------------------------------------
-- drift: samples in both runs that the reference run got right and this run
-- gets wrong, against those fixed (exact McNemar test, one-sided).
-- ---------------------------------------------------------------------------
CREATE FUNCTION @extschema@.tl_insights_drift(run integer, reference_run integer)
RETURNS SETOF @extschema@.tl_finding
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH pair AS (
        SELECT a.sample_id, a.label <> a.prediction AS failed, b.label <> b.prediction AS failed_before,
               a.loss, b.loss AS loss_before
          FROM @extschema@.tl_result a
          JOIN @extschema@.tl_result b ON b.run = $2 AND b.sample_id = a.sample_id
         WHERE a.run = $1 AND a.label IS NOT NULL AND a.prediction IS NOT NULL
           AND b.label IS NOT NULL AND b.prediction IS NOT NULL),
    d AS (SELECT count(*) AS n, count(*) FILTER (WHERE p.failed AND NOT p.failed_before) AS worse,
                 count(*) FILTER (WHERE p.failed_before AND NOT p.failed) AS better,
                 avg((NOT p.failed)::int) AS accuracy, avg((NOT p.failed_before)::int) AS accuracy_before,
                 avg(p.loss) AS loss, avg(p.loss_before) AS loss_before,
                 coalesce(array_agg(p.sample_id ORDER BY p.sample_id) FILTER (WHERE p.failed AND NOT p.failed_before), '{}') AS ids
            FROM pair p)
    SELECT ROW('drift', greatest(0, (d.worse - d.better)::float8 / d.n)::real, d.worse::integer,
               format('%s samples reference run %s got right are wrong in run %s (%s the other way) of %s in both; accuracy %s vs %s, mean loss %s vs %s',
                      d.worse, $2, $1, d.better, d.n, round(d.accuracy, 3), round(d.accuracy_before, 3),
                      round(d.loss::numeric, 3), round(d.loss_before::numeric, 3)),
               d.ids,
               jsonb_build_object('regressions', d.worse, 'fixes', d.better, 'shared_samples', d.n,
                                  'accuracy', round(d.accuracy, 4), 'reference_accuracy', round(d.accuracy_before, 4),
                                  'p', @extschema@.tl_p_json(@extschema@.tl_binomial_test(d.worse, d.worse + d.better, 0.5))),
               @extschema@.tl_binomial_test(d.worse, d.worse + d.better, 0.5),
               d.worse > d.better)::@extschema@.tl_finding
      FROM d WHERE d.n > 0
    UNION ALL
    SELECT @extschema@.tl_finding_not_computed('drift', format('runs %s and %s share no labelled sample with a prediction', $1, $2))
      FROM d WHERE d.n = 0
$$;
COMMENT ON FUNCTION @extschema@.tl_insights_drift(integer, integer) IS
    'Candidate drift finding between a run and a reference run (e.g. the previous epoch): regressions against fixes on the samples of both (exact one-sided McNemar test).';

-- ---------------------------------------------------------------------------
-- tl_insights: every kind's candidates, one Holm correction
-- over all their p-values, the significant notable ones explained by their
-- metadata, ranked by severity.
-- ---------------------------------------------------------------------------
CREATE FUNCTION @extschema@.tl_insights(run integer, reference_run integer DEFAULT NULL,
                                        alpha double precision DEFAULT 0.01)
RETURNS TABLE (rank integer, kind text, severity real, samples integer, description text,
               sample_ids text[], details jsonb)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r     @extschema@.tl_run;
    ref   @extschema@.tl_run;
    candidates @extschema@.tl_finding[];
BEGIN
    IF run IS NULL THEN
        RAISE EXCEPTION 'tl_insights: run must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF alpha IS NULL OR NOT (alpha > 0 AND alpha < 1) THEN
        RAISE EXCEPTION 'alpha (the significance level) must be between 0 and 1, not %', alpha
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO r FROM @extschema@.tl_run t WHERE t.id = run;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'run % does not exist', run USING ERRCODE = 'undefined_object';
    END IF;
    IF NOT EXISTS (SELECT FROM @extschema@.tl_result t WHERE t.run = run) THEN
        RAISE EXCEPTION 'run % has no results', run USING ERRCODE = 'invalid_parameter_value',
            HINT = 'tl_evaluate a model into the run, or INSERT its rows into tl_result.';
    END IF;
    IF reference_run IS NOT NULL THEN
        SELECT * INTO ref FROM @extschema@.tl_run t WHERE t.id = reference_run;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'reference run % does not exist', reference_run USING ERRCODE = 'undefined_object';
        END IF;
        IF reference_run = run THEN
            RAISE EXCEPTION 'the reference run must be another run than %', run USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF ref.model <> r.model THEN
            RAISE EXCEPTION 'run % is of model "%", reference run % of model "%": their perception spaces cannot be compared',
                            run, r.model, reference_run, ref.model
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Compare runs of one model: its training and test runs, or two epochs.';
        END IF;
    END IF;

    -- the candidates of every kind
    candidates := ARRAY(SELECT f FROM @extschema@.tl_insights_failure_groups(run) f)
          || ARRAY(SELECT f FROM @extschema@.tl_insights_under_represented(run) f)
          || ARRAY(SELECT f FROM @extschema@.tl_insights_mislabeled(run) f)
          || ARRAY(SELECT f FROM @extschema@.tl_insights_duplicates(run) f)
          || ARRAY(SELECT f FROM @extschema@.tl_insights_leakage(run, reference_run) f)
          || ARRAY(SELECT f FROM @extschema@.tl_insights_outliers(run, reference_run) f);
    IF reference_run IS NOT NULL THEN
        candidates := candidates || ARRAY(SELECT f FROM @extschema@.tl_insights_domain_gap(run, reference_run) f)
                       || ARRAY(SELECT f FROM @extschema@.tl_insights_drift(run, reference_run) f);
    END IF;
    -- what could not be computed at all
    IF NOT EXISTS (SELECT FROM @extschema@.tl_result t WHERE t.run = run AND t.label IS NOT NULL) THEN
        candidates := candidates || @extschema@.tl_finding_not_computed('low_performance', format('run %s has no labelled samples', run));
    ELSIF NOT EXISTS (SELECT FROM @extschema@.tl_result t WHERE t.run = run AND t.perception IS NOT NULL) THEN
        candidates := candidates || @extschema@.tl_finding_not_computed('low_performance',
                              format('run %s has no perception vectors, so no regions', run));
    END IF;
    IF NOT EXISTS (SELECT FROM @extschema@.tl_result t WHERE t.run = run AND t.metadata <> '{}') THEN
        candidates := candidates || @extschema@.tl_finding_not_computed('metadata',
                              format('run %s has no metadata (the columns of tl_evaluate''s query after the label, or tl_result.metadata)', run));
    END IF;

    RETURN QUERY
    WITH c AS (SELECT f.* FROM unnest(candidates) WITH ORDINALITY f(kind, severity, samples, description, sample_ids, details, p, notable, i)),
    tested AS (SELECT array_agg(c.p ORDER BY c.i) AS ps, array_agg(c.i ORDER BY c.i) AS ids FROM c WHERE c.p IS NOT NULL),
    q AS (SELECT u.q, u.i FROM tested t, unnest(@extschema@.tl_p_adjust(t.ps), t.ids) u(q, i)),
    kept AS (
        SELECT c.*, q.q FROM c LEFT JOIN q ON q.i = c.i
         WHERE c.notable AND (c.p IS NULL OR q.q <= alpha)),
    explained AS (
        SELECT k.*, e.why, e.top
          FROM kept k
          LEFT JOIN LATERAL (
              SELECT jsonb_agg(jsonb_build_object('condition', m.condition, 'key', m.key, 'value', m.value,
                                                  'support', m.support, 'share', round(m.share::numeric, 4),
                                                  'overall_share', round(m.overall_share::numeric, 4),
                                                  'lift', round(m.lift::numeric, 2), 'q', @extschema@.tl_p_json(m.q))
                                       ORDER BY m.q, m.support DESC) AS why,
                     (array_agg(format('%s %% with %s (%s %% overall)', round(100 * m.share), m.condition, round(100 * m.overall_share))
                                ORDER BY m.lift * m.support DESC, m.q) FILTER (WHERE m.lift >= 1.5))[1] AS top
                FROM @extschema@.tl_metadata_enrichment(run, k.sample_ids, alpha) m
               WHERE k.kind IN ('low_performance', 'under_represented', 'mislabeled', 'domain_gap', 'drift')) e ON true)
    SELECT (row_number() OVER (ORDER BY x.severity DESC, x.kind = 'not_computed', x.kind, x.description))::integer,
           x.kind, x.severity, x.samples,
           -- regions: "N samples, 83 % with source = b (10 % overall) in region ..."; groups: appended
           CASE WHEN x.top IS NULL THEN x.description
                WHEN x.kind IN ('mislabeled', 'drift') THEN x.description || '; ' || x.top
                ELSE regexp_replace(x.description, '^([0-9]+ samples)', '\1, ' || replace(x.top, '\', '\\')) END,
           x.sample_ids,
           x.details || jsonb_strip_nulls(jsonb_build_object('q', @extschema@.tl_p_json(x.q), 'metadata', x.why))
      FROM explained x
     ORDER BY 1;
END
$$;
COMMENT ON FUNCTION @extschema@.tl_insights(integer, integer, double precision) IS
    'The findings of a run ranked by severity: low_performance regions, metadata conditions over-represented among the failures, under_represented regions, mislabeled groups, duplicates, leakage (with a reference run) and outliers (tl_near_duplicates, tl_outliers), and with a reference run of the same model domain_gap and drift. Statistical findings are kept when significant at alpha (default 0.01) after Holm''s correction over all tests of the call (the chance that any is false stays below alpha); regions are explained by their over-represented metadata. Rows of kind not_computed say what could not be computed.';

-- ---------------------------------------------------------------------------
-- tl_run_health: one row per run, for dashboards and alerts.
-- ---------------------------------------------------------------------------
-- The share of a run's labelled samples flagged by confident learning; NULL
-- when label issues cannot be computed (no labels, one class).
CREATE FUNCTION @extschema@.tl_run_label_issue_rate(run integer)
RETURNS real
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN (SELECT avg(i.confident_learning::integer) FROM @extschema@.tl_label_issues(run) i);
EXCEPTION WHEN invalid_parameter_value OR undefined_object OR array_subscript_error OR object_not_in_prerequisite_state THEN
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION @extschema@.tl_run_label_issue_rate(integer) IS
    'The share of a run''s labelled samples that tl_label_issues flags by confident learning; NULL when it cannot be computed.';

-- Near-duplicate samples, samples leaking from the latest run of the same
-- model and dataset with another subset (test against train), and the share
-- of outliers; NULL where a run has no neighbour graph (no perception
-- vectors) or nothing to compare with.
CREATE FUNCTION @extschema@.tl_run_data_issue_counts(run integer,
                                                     OUT duplicates integer, OUT leakage integer, OUT outlier_rate real)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    other integer;
BEGIN
    SELECT o.id INTO other
      FROM @extschema@.tl_run r JOIN @extschema@.tl_run o
        ON o.model = r.model AND o.dataset = r.dataset AND o.subset IS DISTINCT FROM r.subset AND o.status = 'ready'
     WHERE r.id = run ORDER BY o.id DESC LIMIT 1;
    BEGIN
        duplicates := (SELECT count(DISTINCT d.sample_id) FROM @extschema@.tl_near_duplicates(run) d);
        outlier_rate := (SELECT avg(o.outlier::integer) FROM @extschema@.tl_outliers(run) o);
        IF other IS NOT NULL THEN
            leakage := (SELECT count(DISTINCT d.sample_id) FROM @extschema@.tl_near_duplicates(run, other) d);
        END IF;
    EXCEPTION WHEN object_not_in_prerequisite_state OR invalid_parameter_value THEN
        NULL;   -- no neighbour graph: the counts stay NULL
    END;
END
$$;
COMMENT ON FUNCTION @extschema@.tl_run_data_issue_counts(integer) IS
    'For tl_run_health: the run''s near-duplicate samples, its samples nearly duplicating the latest run of the same model and dataset with another subset (leakage), and its share of outliers; NULL where they cannot be computed.';

CREATE VIEW @extschema@.tl_run_health WITH (security_invoker = true) AS
SELECT ru.id AS run, ru.model, ru.revision, ru.dataset, ru.subset, ru.epoch, ru.status, ru.created_at,
       s.samples, s.labelled, s.accuracy, s.mean_loss,
       @extschema@.tl_run_label_issue_rate(ru.id) AS label_issue_rate,
       c.duplicates, c.leakage, c.outlier_rate,
       prev.id AS previous_run,
       s.accuracy - d.accuracy_before AS accuracy_change,
       s.mean_loss - d.loss_before AS mean_loss_change,
       d.churn AS prediction_churn
  FROM @extschema@.tl_run ru
  LEFT JOIN LATERAL (
      SELECT count(*) AS samples, count(r.label) AS labelled,
             avg((r.prediction = r.label)::integer) AS accuracy, avg(r.loss) AS mean_loss
        FROM @extschema@.tl_result r WHERE r.run = ru.id) s ON true
  LEFT JOIN LATERAL @extschema@.tl_run_data_issue_counts(ru.id) c ON true
  -- the previous epoch: as tl_analyze aligns to
  LEFT JOIN LATERAL (
      SELECT p.id FROM @extschema@.tl_run p
       WHERE p.model = ru.model AND p.dataset = ru.dataset AND p.subset IS NOT DISTINCT FROM ru.subset
         AND p.epoch < ru.epoch
       ORDER BY p.epoch DESC, p.id DESC LIMIT 1) prev ON true
  LEFT JOIN LATERAL (
      SELECT avg((b.prediction = b.label)::integer) AS accuracy_before, avg(b.loss) AS loss_before,
             avg((a.prediction IS DISTINCT FROM b.prediction)::integer) AS churn
        FROM @extschema@.tl_result a
        JOIN @extschema@.tl_result b ON b.run = prev.id AND b.sample_id = a.sample_id
       WHERE a.run = ru.id) d ON true;
COMMENT ON VIEW @extschema@.tl_run_health IS
    'One row per run, for alerts: samples, labelled, accuracy, mean loss, label-issue rate, near-duplicate and leakage counts (against the latest run of the same model and dataset with another subset) and outlier rate (NULL without a neighbour graph), and against the previous epoch of the same model, dataset and subset: accuracy and mean-loss change, share of shared samples whose prediction changed.';
