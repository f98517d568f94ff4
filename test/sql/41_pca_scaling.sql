-- Scaling out (doc/performance.md): what Citus relies on.  A distributed
-- table is a set of shards; Citus pushes tl_pca_fit down to every shard as
-- a partial aggregate and combines the partial states on the coordinator.
-- Here the shards are the partitions of a hash-partitioned table and the
-- planner does the same with partitionwise aggregation: one Partial
-- Aggregate per partition, then Finalize Aggregate (tl_pca_fit_combine);
-- with parallel workers the partial states also go through
-- tl_pca_fit_serialize / tl_pca_fit_deserialize.  Each must give the PCA
-- of the whole table, the one fit over a plain copy of it.
CREATE TABLE shard_pts (i int, g int, v real[]) PARTITION BY HASH (i);
CREATE TABLE shard_pts_0 PARTITION OF shard_pts FOR VALUES WITH (MODULUS 4, REMAINDER 0);
CREATE TABLE shard_pts_1 PARTITION OF shard_pts FOR VALUES WITH (MODULUS 4, REMAINDER 1);
CREATE TABLE shard_pts_2 PARTITION OF shard_pts FOR VALUES WITH (MODULUS 4, REMAINDER 2);
CREATE TABLE shard_pts_3 PARTITION OF shard_pts FOR VALUES WITH (MODULUS 4, REMAINDER 3);
-- shards of different sizes and means (the combine must shift each state)
INSERT INTO shard_pts
SELECT i, i % 3, ARRAY(SELECT (sin(i * 0.37 * j + j) * (13 - j) + cos(i * 0.011 * j)
                               + 50 * j + CASE WHEN i % 4 = 0 THEN 7 ELSE 0 END)::real
                        FROM generate_series(1, 12) j)
  FROM generate_series(1, 12000) i;
CREATE TABLE whole_pts AS SELECT * FROM shard_pts;
ANALYZE shard_pts, whole_pts;
SELECT tableoid::regclass AS shard, count(*) > 2000 AS populated
  FROM shard_pts GROUP BY 1 ORDER BY 1;

CREATE FUNCTION same_pca(a tl_pca, b tl_pca) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
  SELECT tl_pca_n(a) = tl_pca_n(b)
     AND max_rel_err(tl_pca_explained_variance(a), tl_pca_explained_variance(b)) < 1e-5
     AND (SELECT max(abs(x - y)) FROM unnest(tl_pca_components(a), tl_pca_components(b)) u(x, y)) < 1e-4
     AND max_rel_err(tl_pca_mean(a), tl_pca_mean(b)) < 1e-6 $$;

CREATE TABLE single_fit AS
SELECT m AS method, tl_pca_fit(v, 3, m) AS p FROM whole_pts, unnest('{exact,randomized}'::text[]) m GROUP BY m;
CREATE TABLE single_fit_g AS
SELECT g, tl_pca_fit(v, 3) AS p FROM whole_pts GROUP BY g;

-- partial per shard, combined
SET enable_partitionwise_aggregate = on;
SET max_parallel_workers_per_gather = 0;
EXPLAIN (COSTS OFF) SELECT tl_pca_fit(v, 3) FROM shard_pts;
CREATE TABLE sharded_fit AS
SELECT 'exact' AS method, tl_pca_fit(v, 3, 'exact') AS p FROM shard_pts;
INSERT INTO sharded_fit SELECT 'randomized', tl_pca_fit(v, 3, 'randomized') FROM shard_pts;
SELECT s.method, same_pca(s.p, d.p) AS shards_equal_single
  FROM single_fit s JOIN sharded_fit d USING (method) ORDER BY 1;
-- grouped by a column that is not the distribution key: partial per shard and group
EXPLAIN (COSTS OFF) SELECT g, tl_pca_fit(v, 3) FROM shard_pts GROUP BY g;
SELECT d.g, same_pca(s.p, d.p) AS shards_equal_single
  FROM single_fit_g s JOIN (SELECT g, tl_pca_fit(v, 3) AS p FROM shard_pts GROUP BY g) d USING (g)
 ORDER BY 1;

-- the partial states serialized by parallel workers and combined by the leader
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT tl_pca_fit(v, 3) FROM shard_pts;
-- (workers_launched: 40_pca)
SELECT workers_launched('SELECT tl_pca_fit(v, 3) FROM shard_pts') > 0 AS ran_on_workers;
-- (CREATE TABLE AS runs its query in parallel; INSERT ... SELECT would not)
CREATE TABLE par_exact AS SELECT tl_pca_fit(v, 3, 'exact') AS p FROM shard_pts;
CREATE TABLE par_randomized AS SELECT tl_pca_fit(v, 3, 'randomized') AS p FROM shard_pts;
SELECT s.method, same_pca(s.p, d.p) AS serialized_shards_equal_single
  FROM single_fit s
  JOIN (SELECT 'exact' AS method, p FROM par_exact UNION ALL SELECT 'randomized', p FROM par_randomized) d
 USING (method) ORDER BY 1;

-- the per-row functions Citus pushes to the shards run in parallel workers
-- too (PARALLEL SAFE): a parallel scan of the shards calling tl_infer
\getenv fixtures TL_FIXTURES
SELECT tl_model_load('emb_conv', :'fixtures' || '/layers/embedding_conv1d_gmp.h5') AS revision;
CREATE TABLE shard_tokens (i int, ids int[]) PARTITION BY HASH (i);
CREATE TABLE shard_tokens_0 PARTITION OF shard_tokens FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE shard_tokens_1 PARTITION OF shard_tokens FOR VALUES WITH (MODULUS 2, REMAINDER 1);
INSERT INTO shard_tokens
SELECT i, ARRAY(SELECT ((i * 7 + j * j) % 20)::int FROM generate_series(1, 8) j)
  FROM generate_series(1, 3000) i;
ANALYZE shard_tokens;
SELECT p.proname, p.proparallel FROM pg_proc p
 WHERE p.proname IN ('tl_infer', 'tl_perception', 'tl_activations', 'tl_pca_fit', 'tl_pca_project',
                     'tl_loss', 'tl_tokenize', 'tl_token_saliency', 'tl_infer_batch', 'tl_evaluate')
 ORDER BY 1, 2;
EXPLAIN (COSTS OFF) SELECT sum((tl_infer('emb_conv', ids))[1]) FROM shard_tokens;
SELECT workers_launched($$SELECT sum((tl_infer('emb_conv', ids))[1]) FROM shard_tokens$$) > 0 AS ran_on_workers;
CREATE TABLE infer_parallel AS SELECT i, tl_infer('emb_conv', ids) AS y FROM shard_tokens;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
RESET enable_partitionwise_aggregate;
SELECT count(*) AS rows, max(max_rel_err(p.y, tl_infer('emb_conv', t.ids))) < 1e-6 AS parallel_equals_serial
  FROM infer_parallel p JOIN shard_tokens t USING (i);
