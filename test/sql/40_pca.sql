-- tl_pca_fit, the tl_pca type, projection, tl_embed_pca (doc/pca.md).
-- Numbers are printed to 4 decimals (or as tolerance checks) so that the
-- output is the same on every machine: the fits carry float32 rounding
-- (about 1e-7 relative), which 6 decimals of 8/3 would already show.
CREATE FUNCTION r4(a real[]) RETURNS numeric[] LANGUAGE sql IMMUTABLE AS
  $$ SELECT array_agg(round(x::float8::numeric, 4) ORDER BY i) FROM unnest(a) WITH ORDINALITY u(x, i) $$;

-- Hand-derived: u = (0.6, 0.8), v = (-0.8, 0.6), m = (1, 2); the points
-- m ± 2u, m ± v have covariance (n - 1 = 3) 8/3·uuᵀ + 2/3·vvᵀ: explained
-- variance 8/3 and 2/3, ratios 0.8 and 0.2, components u and -v (each
-- component's largest loading is positive).  The NULL vector is counted.
CREATE TABLE square (id int, v real[]);
INSERT INTO square VALUES (1, '{2.2,3.6}'), (2, '{-0.2,0.4}'), (3, '{0.2,2.6}'),
                          (4, '{1.8,1.4}'), (5, NULL);
CREATE TABLE square_fit AS
SELECT m AS method, tl_pca_fit(v, 2, m) AS p
  FROM square, unnest('{auto,exact,randomized}'::text[]) m GROUP BY m;
SELECT method, r4(tl_pca_explained_variance_ratio(p)) AS ratio,
       r4(tl_pca_explained_variance(p)) AS variance, r4(tl_pca_components(p)) AS components,
       array_dims(tl_pca_components(p)) AS dims, r4(tl_pca_mean(p)) AS mean,
       tl_pca_n(p) AS n, tl_pca_nulls(p) AS nulls,
       (p::text::jsonb)->>'method' AS fitted_with, (p::text::jsonb)->'sketch' AS sketch
  FROM square_fit ORDER BY method;
-- projection: m + 2u → (2, 0), m + v → (0, -1)
SELECT r4(tl_pca_project(p, '{2.2,3.6}')) AS m_plus_2u, r4(tl_pca_project(p, '{0.2,2.6}')) AS m_plus_v
  FROM square_fit WHERE method = 'exact';

-- the text form: a JSON summary first; it reads back to the same value
SELECT left(p::text, 95) AS text_form FROM square_fit WHERE method = 'exact';
SELECT bool_and(p::text::tl_pca::text = p::text) AS text_round_trip FROM square_fit;
-- binary send/receive, through COPY's binary format (a file in the data directory)
CREATE TABLE pca_store (name text, p tl_pca);
INSERT INTO pca_store SELECT method, p FROM square_fit;
DO $$
BEGIN
  EXECUTE format('COPY pca_store TO %L WITH (FORMAT binary)',
                 current_setting('data_directory') || '/tl_pca_test.copy');
  EXECUTE format('COPY pca_store FROM %L WITH (FORMAT binary)',
                 current_setting('data_directory') || '/tl_pca_test.copy');
END $$;
SELECT count(*) AS rows, count(DISTINCT (name, p::text)) AS distinct_values,
       octet_length(tl_pca_send(min(p::text)::tl_pca)) AS send_bytes
  FROM pca_store;
-- the varlena holds the data and nothing else: header 48 bytes + 8·(2k + width + k·width)
SELECT pg_column_size(tl_pca_fit(v, 2)) AS bytes, 48 + 8 * (2 * 2 + 2 + 2 * 2) AS expected
  FROM square;

-- as a window function (a running fit; the final function leaves the state
-- usable) and with one state shared by two identical calls
SELECT id, tl_pca_n(tl_pca_fit(v, 1) OVER w) AS n, r4(tl_pca_explained_variance(tl_pca_fit(v, 1) OVER w)) AS variance
  FROM square WINDOW w AS (ORDER BY id) ORDER BY id;
SELECT tl_pca_n(a) AS a, tl_pca_n(b) AS b FROM (SELECT tl_pca_fit(v, 2) a, tl_pca_fit(v, 2) b FROM square) s;

-- NULL vectors: skipped and counted; no non-NULL vector at all gives NULL
SELECT tl_pca_fit(v, 1) IS NULL AS all_null, tl_pca_fit(v, 1) FILTER (WHERE false) IS NULL AS no_rows
  FROM (VALUES (NULL::real[]), (NULL)) t(v);

-- Edge cases: defined, no NaN
CREATE FUNCTION has_nan(p tl_pca) RETURNS boolean LANGUAGE sql AS
  $$ SELECT p::text ~* 'nan|inf' $$;
-- one row: its own mean, no variance, the unit vectors as components
SELECT r4(tl_pca_mean(p)) AS mean, r4(tl_pca_explained_variance_ratio(p)) AS ratio,
       r4(tl_pca_components(p)) AS components, has_nan(p)
  FROM (SELECT tl_pca_fit('{1,-2,3}'::real[], 2) p) s;
-- fewer rows than dimensions: m ± e, e = (1, 0, -2, 0): one component with all
-- the variance (2·|e|²/1 = 10), e/√5 signed by its largest loading; the others
-- have zero variance and complete an orthonormal set
SELECT r4(tl_pca_explained_variance(p)) AS variance, r4(tl_pca_explained_variance_ratio(p)) AS ratio,
       r4((tl_pca_components(p))[1:1][:]) AS first, has_nan(p),
       (SELECT max(abs(s - (i = j)::int)) < 1e-6
          FROM generate_series(1, 3) i, generate_series(1, 3) j,
               LATERAL (SELECT sum(a * b) s FROM unnest((tl_pca_components(p))[i:i][:],
                                                        (tl_pca_components(p))[j:j][:]) u(a, b)) d) AS orthonormal
  FROM (SELECT tl_pca_fit(v, 3) p FROM (VALUES ('{1,5,-1,3}'::real[]), ('{-1,5,3,3}')) t(v)) s;
-- a constant column: zero variance along it, the last component is that axis
SELECT r4(tl_pca_explained_variance(p)) AS variance, r4((tl_pca_components(p))[3:3][:]) AS third, has_nan(p)
  FROM (SELECT tl_pca_fit(v || 7::real, 3) p FROM square WHERE v IS NOT NULL) s;
-- duplicate rows: the square twice, n - 1 = 7: variances 16/7 and 4/7
SELECT r4(tl_pca_explained_variance(p)) AS variance, tl_pca_n(p) AS n
  FROM (SELECT tl_pca_fit(v, 2) p FROM square, generate_series(1, 2)) s;
-- all rows equal: no variance at all, still defined
SELECT r4(tl_pca_explained_variance_ratio(p)) AS ratio, r4(tl_pca_components(p)) AS components, has_nan(p)
  FROM (SELECT tl_pca_fit('{4,4}'::real[], 2) p FROM generate_series(1, 300)) s;
-- multi-dimensional arrays are read flattened
SELECT r4(tl_pca_mean(tl_pca_fit('{{1,2},{3,4}}'::real[], 1))) AS mean;

-- Errors: SQLSTATE and what was wrong
SELECT expect_error($$SELECT tl_pca_fit(v, 3) FROM square$$);
SELECT expect_error($$SELECT tl_pca_fit(v, 0) FROM square$$);
SELECT expect_error($$SELECT tl_pca_fit(v, NULL) FROM square$$);
SELECT expect_error($$SELECT tl_pca_fit(v, 1) FROM (VALUES ('{1,2}'::real[]), ('{1,2,3}')) t(v)$$);
SELECT expect_error($$SELECT tl_pca_fit(v, 1) FROM (VALUES ('{1,2}'::real[]), ('{1,NaN}')) t(v)$$);
SELECT expect_error($$SELECT tl_pca_fit(v, 1) FROM (VALUES ('{1,2}'::real[]), ('{-Infinity,2}')) t(v)$$);
SELECT expect_error($$SELECT tl_pca_fit(v, 1) FROM (VALUES ('{1,NULL}'::real[])) t(v)$$);
SELECT expect_error($$SELECT tl_pca_fit(v, 1) FROM (VALUES ('{}'::real[])) t(v)$$);
SELECT expect_error($$SELECT tl_pca_fit(v, 1, 'fast') FROM square$$);
SELECT expect_error($$SELECT tl_pca_fit(v, id % 2 + 1) FROM square$$);
SELECT expect_error($$SELECT tl_pca_fit(v, 2, 'exact') FROM (SELECT array_fill(1::real, ARRAY[9000]) v) t$$);
SELECT expect_error($$SELECT tl_pca_project(p, '{1,2,3}') FROM square_fit$$);
SELECT expect_error($$SELECT tl_pca_project(p, '{1,NaN}') FROM square_fit$$);
SELECT expect_error($$SELECT 'not json'::tl_pca$$);
SELECT expect_error($$SELECT '{"width": 2}'::tl_pca$$);
SELECT expect_error($$SELECT replace(p::text, '"k": 2', '"k": 3')::tl_pca FROM square_fit WHERE method = 'exact'$$);
SELECT expect_error($$SELECT replace(p::text, '"n": 4', '"n": 0')::tl_pca FROM square_fit WHERE method = 'exact'$$);

-- The method switch: wider than 2048 → randomized with a sketch of k + 256 columns
SELECT (p::text::jsonb)->>'method' AS method, (p::text::jsonb)->'sketch' AS sketch, tl_pca_n(p) AS n
  FROM (SELECT tl_pca_fit(array_fill((i % 7)::real, ARRAY[2049]) || i::real, 2) p
          FROM generate_series(1, 300) i) s;

-- Parallel and serial plans give the same PCA.  The rows are split between
-- workers, whose partial states (with different shifts) are serialized and
-- combined.
CREATE TABLE pts AS
SELECT i, ARRAY(SELECT (sin(i * 0.37 * j + j) * (17 - j) + cos(i * 0.011 * j) + 100 * j)::real
                  FROM generate_series(1, 16) j) AS v
  FROM generate_series(1, 20000) i;
ANALYZE pts;
SET max_parallel_workers_per_gather = 0;
CREATE TABLE serial_fit AS
SELECT m AS method, tl_pca_fit(v, 4, m) AS p FROM pts, unnest('{exact,randomized}'::text[]) m GROUP BY m;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
ALTER TABLE pts SET (parallel_workers = 2);
EXPLAIN (COSTS OFF) SELECT tl_pca_fit(v, 4) FROM pts;
CREATE FUNCTION workers_launched(q text) RETURNS int LANGUAGE plpgsql AS $$
DECLARE plan json;
BEGIN
  EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF, FORMAT JSON) ' || q INTO plan;
  RETURN (SELECT max(m[1]::int) FROM regexp_matches(plan::text, '"Workers Launched": (\d+)', 'g') m);
END $$;
SELECT workers_launched('SELECT tl_pca_fit(v, 4) FROM pts') > 0 AS ran_on_workers;
-- CREATE TABLE AS runs its query in parallel too
EXPLAIN (COSTS OFF) CREATE TABLE parallel_exact AS SELECT tl_pca_fit(v, 4, 'exact') AS p FROM pts;
CREATE TABLE parallel_exact AS SELECT tl_pca_fit(v, 4, 'exact') AS p FROM pts;
CREATE TABLE parallel_randomized AS SELECT tl_pca_fit(v, 4, 'randomized') AS p FROM pts;
CREATE VIEW parallel_fit AS
SELECT 'exact' AS method, p FROM parallel_exact UNION ALL SELECT 'randomized', p FROM parallel_randomized;
SELECT s.method, tl_pca_n(s.p) = tl_pca_n(q.p) AS same_n,
       max_rel_err(tl_pca_explained_variance(s.p), tl_pca_explained_variance(q.p)) < 1e-5 AS same_variance,
       (SELECT max(abs(a - b)) FROM unnest(tl_pca_components(s.p), tl_pca_components(q.p)) u(a, b)) < 1e-4 AS same_components,
       max_rel_err(tl_pca_mean(s.p), tl_pca_mean(q.p)) < 1e-6 AS same_mean
  FROM serial_fit s JOIN parallel_fit q USING (method) ORDER BY 1;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
-- the one-pass sketch (259 columns for 300-wide vectors) against the exact
-- fit, on data whose spectrum decays: three strong directions plus noise
CREATE TABLE wide AS
SELECT i, array_agg((10 * sin(i * 0.13) * sin(j * 0.05) + 5 * cos(i * 0.29 + 1) * sin(j * 0.11 + 2)
                     + 2 * sin(i * 0.71 + 2) * cos(j * 0.23) + 0.01 * sin(i * 12.9898 + j * 78.233))::real
                    ORDER BY j) AS v
  FROM generate_series(1, 600) i, generate_series(1, 300) j GROUP BY i;
CREATE TABLE wide_fit AS
SELECT m AS method, tl_pca_fit(v, 3, m) AS p FROM wide, unnest('{exact,randomized}'::text[]) m GROUP BY m;
SELECT (r.p::text::jsonb)->'sketch' AS sketch,
       max_rel_err(tl_pca_explained_variance_ratio(r.p), tl_pca_explained_variance_ratio(e.p)) < 1e-4 AS ratios_close,
       (SELECT min(abs(s)) FROM generate_series(1, 3) i,
               LATERAL (SELECT sum(a * b) s FROM unnest((tl_pca_components(r.p))[i:i][:],
                                                        (tl_pca_components(e.p))[i:i][:]) u(a, b)) d) > 0.9999 AS components_close
  FROM wide_fit r, wide_fit e WHERE r.method = 'randomized' AND e.method = 'exact';

-- Cancellation: statement_timeout stops a fit that would run for minutes
-- (10 million rows of 2048 values, nearly all the time in BLAS) within a
-- second or so.  generate_series in the target list streams its rows.
CREATE FUNCTION timed(q text, OUT error text, OUT within_5s boolean) LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
  BEGIN
    EXECUTE q;
    error := 'no error';
  EXCEPTION WHEN query_canceled THEN
    error := SQLSTATE || ': ' || SQLERRM;
  END;
  within_5s := clock_timestamp() - t0 < interval '5 seconds';
END $$;
SET statement_timeout = '300ms';
SELECT * FROM timed($$SELECT tl_pca_fit(array_fill(i::real, ARRAY[2048]), 2)
                        FROM (SELECT generate_series(1, 10000000) AS i) s$$);
RESET statement_timeout;

-- tl_embed_pca: fit over a column and write the coordinates into the table
CREATE TABLE "Emb Table" (id int, "my vec" real[], x real, y real, "Z coord" double precision);
INSERT INTO "Emb Table" SELECT i, v, NULL, NULL, NULL FROM pts WHERE i <= 1000;
INSERT INTO "Emb Table" VALUES (0, NULL, NULL, NULL, NULL);
SELECT tl_pca_n(p) AS n, tl_pca_nulls(p) AS nulls
  FROM tl_embed_pca('"Emb Table"', 'my vec') p;
SELECT count(x) AS with_x, count(y) AS with_y,
       max(abs(x - (tl_pca_project(p, "my vec"))[1])) < 1e-6 AS x_is_projection,
       max(abs(y - (tl_pca_project(p, "my vec"))[2])) < 1e-6 AS y_is_projection
  FROM "Emb Table", (SELECT tl_pca_fit("my vec", 2) p FROM "Emb Table") f;
-- 3-D on the rows a filter picks
SELECT tl_pca_n(p) AS n FROM tl_embed_pca('"Emb Table"', 'my vec', '{x,y,Z coord}', 'id <= 500') p;
SELECT count("Z coord") AS with_z FROM "Emb Table";
-- incremental: a PCA fitted once projects new rows without refitting
INSERT INTO "Emb Table" SELECT i, v, NULL, NULL, NULL FROM pts WHERE i BETWEEN 1001 AND 1100;
CREATE TABLE saved AS SELECT tl_pca_fit("my vec", 2) AS p FROM "Emb Table" WHERE id <= 1000;
SELECT tl_pca_n(tl_embed_pca('"Emb Table"', 'my vec', '{x,y}', 'x IS NULL AND "my vec" IS NOT NULL', p)) AS n_of_passed_pca
  FROM saved;
SELECT count(*) FILTER (WHERE x IS NOT NULL) AS with_x,
       max(abs(x - (tl_pca_project(p, "my vec"))[1])) FILTER (WHERE id > 1000) < 1e-6 AS new_rows_projected
  FROM "Emb Table", saved;
-- errors; the caller's privileges apply (the function is not SECURITY DEFINER)
SELECT expect_error($$SELECT tl_embed_pca('"Emb Table"', 'my vec', '{}')$$);
SELECT expect_error($$SELECT tl_embed_pca('"Emb Table"', 'my vec', '{x,NULL}')$$);
SELECT expect_error($$SELECT tl_embed_pca('"Emb Table"', 'my vec', '{x,y}', 'id < 0')$$);
SELECT expect_error($$SELECT tl_embed_pca('"Emb Table"', 'my vec', '{x,y,Z coord}', NULL, p) FROM saved$$);
SELECT expect_error($$SELECT tl_embed_pca('"Emb Table"', 'no such column')$$);
SELECT expect_error($$SELECT tl_embed_pca('no_such_table', 'v')$$);
SELECT prosecdef, provolatile, proparallel FROM pg_proc WHERE proname = 'tl_embed_pca';
CREATE ROLE tl_pca_reader;
GRANT SELECT ON "Emb Table" TO tl_pca_reader;
SET ROLE tl_pca_reader;
SELECT expect_error($$SELECT tl_embed_pca('"Emb Table"', 'my vec')$$);
RESET ROLE;
DROP OWNED BY tl_pca_reader;
DROP ROLE tl_pca_reader;

-- Against scikit-learn's PCA (svd_solver='full', float64), on the 60,000
-- Fashion-MNIST training images and on the perception vectors of the 5,000
-- IMDB reviews through the Conv1D model (test/reference/pca_vs_sklearn.py):
-- ratios within 1e-4, components equal up to sign within 1e-3 (cosine >=
-- 0.9999), projections within 1e-3 of each coordinate's standard deviation.
-- imdb: the numpy vectors; imdb_sql: the same reviews through tl_perception
-- here (24_real_models loaded them) against the same reference.
\getenv pcaref TL_PCA_REF
\if :{?pcaref}
SELECT set_config('tl.pcaref', :'pcaref', false) IS NOT NULL AS ok;
-- lz4 (when the server has it) makes loading the vectors faster
DO $$ BEGIN SET default_toast_compression = 'lz4'; EXCEPTION WHEN OTHERS THEN NULL; END $$;
CREATE UNLOGGED TABLE ref_rows (pop text, id int, vec real[], coords real[]);
CREATE TABLE ref_components (pop text, i int, variance float8, ratio float8, component real[]);
CREATE TABLE ref_fit (pop text, n bigint, k int, mean real[]);
CREATE TEMP TABLE stage_rows (id int, vec real[], coords real[]);
CREATE TEMP TABLE stage_components (i int, variance float8, ratio float8, component real[]);
CREATE TEMP TABLE stage_fit (n bigint, k int, mean real[]);
DO $$
DECLARE pop text;
BEGIN
  FOREACH pop IN ARRAY ARRAY['fashion', 'imdb'] LOOP
    EXECUTE format('COPY stage_rows FROM %L WITH (FORMAT binary)',
                   current_setting('tl.pcaref') || '/' || pop || '_rows.copy');
    EXECUTE format('COPY stage_components FROM %L', current_setting('tl.pcaref') || '/' || pop || '_components.tsv');
    EXECUTE format('COPY stage_fit FROM %L', current_setting('tl.pcaref') || '/' || pop || '_fit.tsv');
    INSERT INTO ref_rows SELECT pop, * FROM stage_rows;
    INSERT INTO ref_components SELECT pop, * FROM stage_components;
    INSERT INTO ref_fit SELECT pop, * FROM stage_fit;
    TRUNCATE stage_rows, stage_components, stage_fit;
  END LOOP;
END $$;
RESET default_toast_compression;
CREATE TABLE imdb_sql AS
SELECT b.id::int AS id, b.perception AS vec
  FROM tl_perception_batch('imdb_conv1d__datadonk23',
                           $$SELECT id, input FROM imdb_ref WHERE model = 'imdb_conv1d__datadonk23'$$) b;
SELECT count(*) AS reviews, max(max_rel_err(s.vec, r.vec)) <= 1e-4 AS same_vectors_as_numpy
  FROM imdb_sql s JOIN ref_rows r ON r.pop = 'imdb' AND r.id = s.id;
INSERT INTO ref_rows SELECT 'imdb_sql', s.id, s.vec, r.coords
  FROM imdb_sql s JOIN ref_rows r ON r.pop = 'imdb' AND r.id = s.id;
INSERT INTO ref_components SELECT 'imdb_sql', i, variance, ratio, component
  FROM ref_components WHERE pop = 'imdb';
INSERT INTO ref_fit SELECT 'imdb_sql', n, k, mean FROM ref_fit WHERE pop = 'imdb';
SELECT pop, count(*) AS rows, min(cardinality(vec)) AS width FROM ref_rows GROUP BY pop ORDER BY pop;
CREATE TABLE my_fit AS SELECT pop, tl_pca_fit(vec, 10) AS p FROM ref_rows GROUP BY pop;
CREATE TABLE cmp AS
SELECT c.pop, c.i, c.variance, abs((tl_pca_explained_variance_ratio(m.p))[c.i] - c.ratio) AS ratio_err,
       d.dot / sqrt(d.nn * d.rr) AS cosine,
       (SELECT max(abs(sign(d.dot) * a - b))
          FROM unnest((tl_pca_components(m.p))[c.i:c.i][:], c.component) u(a, b)) AS component_err,
       sign(d.dot) AS sign
  FROM ref_components c JOIN my_fit m USING (pop),
       LATERAL (SELECT sum(a::float8 * b) AS dot, sum(a::float8 * a) AS nn, sum(b::float8 * b) AS rr
                  FROM unnest((tl_pca_components(m.p))[c.i:c.i][:], c.component) u(a, b)) d;
SELECT pop, count(*) AS components,
       max(ratio_err) <= 1e-4 AS ratios_within_1e4,
       min(abs(cosine)) >= 0.9999 AS cosines_at_least_0_9999,
       max(component_err) <= 1e-3 AS components_within_1e3
  FROM cmp GROUP BY pop ORDER BY pop;
SELECT f.pop, f.n = tl_pca_n(m.p) AS same_n,
       (SELECT max(abs(a - b)) FROM unnest(tl_pca_mean(m.p), f.mean) u(a, b)) <= 1e-4 AS same_mean
  FROM ref_fit f JOIN my_fit m USING (pop) ORDER BY 1;
WITH s AS (SELECT pop, array_agg(sign ORDER BY i) AS sign, array_agg(sqrt(variance) ORDER BY i) AS sd
             FROM cmp GROUP BY pop)
SELECT r.pop, count(*) AS rows_projected,
       max((SELECT max(abs(s.sign[i] * p.y[i] - r.coords[i]) / s.sd[i])
              FROM generate_series(1, cardinality(s.sign)) i))
         <= 1e-3 AS projections_within_1e3
  FROM ref_rows r JOIN my_fit m USING (pop) JOIN s USING (pop),
       LATERAL (SELECT tl_pca_project(m.p, r.vec) AS y OFFSET 0) p   -- once per row
 GROUP BY r.pop ORDER BY 1;
\else
\echo NOTICE: scikit-learn references absent (needs the shared data and dataset-fashion-mnist): comparison skipped
\endif
