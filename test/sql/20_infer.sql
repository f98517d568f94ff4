-- tl_infer on one sample, the input forms it accepts, and tl_infer_batch.
\getenv fixtures TL_FIXTURES
SELECT tl_model_load('tiny2', :'fixtures' || '/tiny_dense_v2.h5') AS revision;

-- flat, with a leading size-1 dimension, as float8: all the same sample
SELECT round((tl_infer('tiny', '{1,0,-1}'::real[]))[1]::numeric, 6) AS flat,
       round((tl_infer('tiny', '{{1,0,-1}}'::real[]))[1]::numeric, 6) AS two_d,
       round((tl_infer('tiny', '{1,0,-1}'::float8[]))[1]::numeric, 6) AS float8,
       round((tl_infer('tiny2', '{1,0,-1}'::real[]))[1]::numeric, 6) AS v2;

-- a NULL input gives NULL (the function is strict)
SELECT tl_infer('tiny', NULL::real[]) IS NULL AS null_in_null_out;

-- the batched form returns the same numbers as one call per row
CREATE TABLE samples AS
SELECT i AS id, ARRAY[sin(i), cos(i), sin(2 * i)]::real[] AS x
  FROM generate_series(1, 1000) i;
SELECT count(*) AS rows,
       max(abs(b.output[1] - (tl_infer('tiny', s.x))[1])) < 1e-6 AS batch_equals_single
  FROM tl_infer_batch('tiny', 'SELECT id, x FROM samples') b
  JOIN samples s ON s.id::text = b.id;
-- small batches and an explicit batch size give the same result too
SELECT count(*) AS rows,
       max(abs(b.output[1] - (tl_infer('tiny', s.x))[1])) < 1e-6 AS same
  FROM tl_infer_batch('tiny', 'SELECT id, x FROM samples', 7) b
  JOIN samples s ON s.id::text = b.id;
-- an empty query returns no rows
SELECT count(*) FROM tl_infer_batch('tiny', 'SELECT id, x FROM samples WHERE false');

-- tl_multi_hot builds Keras' multi-hot vectors
SELECT tl_multi_hot('{0,3,3,1}', 5);

-- parallel plans: tl_infer is PARALLEL SAFE, so workers can run it
SELECT proname, provolatile, proparallel FROM pg_proc
 WHERE proname IN ('tl_infer', 'tl_infer_batch', 'tl_layers', 'tl_model_import', 'tl_multi_hot')
 ORDER BY proname;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
ALTER TABLE samples SET (parallel_workers = 2);
EXPLAIN (COSTS OFF) SELECT sum((tl_infer('tiny', x))[1]) FROM samples;
SELECT round(sum((tl_infer('tiny', x))[1])::numeric, 2) = round((
         SELECT sum(output[1]) FROM tl_infer_batch('tiny', 'SELECT id, x FROM samples'))::numeric, 2)
       AS parallel_equals_batch
  FROM samples;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
