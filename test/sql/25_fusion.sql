-- Fusion (doc/performance.md): layers that read an Embedding run from the
-- token ids (per-token tables, gathers) unless tensorlens.fusion is off.
-- The fused and the plain paths give the same outputs (to 1e-5, relative),
-- for one row and for batches, and bad ids are refused on either.
\getenv fixtures TL_FIXTURES
SELECT tl_model_load('fuse_conv', :'fixtures' || '/layers/embedding_conv1d_gmp.h5') AS revision;
CREATE TABLE fuse_in AS
SELECT i AS id, ARRAY(SELECT CASE WHEN j <= i % 5 THEN 0 ELSE ((i * 7 + j * j) % 20) END::int
                        FROM generate_series(1, 8) j) AS ids
  FROM generate_series(1, 500) i;
SHOW tensorlens.fusion;
SET tensorlens.fusion = off;
CREATE TABLE fuse_plain AS
SELECT id, tl_infer('fuse_conv', ids) AS y, tl_perception('fuse_conv', ids) AS p FROM fuse_in;
CREATE TABLE fuse_plain_batch AS
SELECT id::int, output FROM tl_infer_batch('fuse_conv', 'SELECT id, ids FROM fuse_in', 64);
RESET tensorlens.fusion;
SELECT count(*) AS rows,
       max(max_rel_err(tl_infer('fuse_conv', f.ids), p.y)) <= 1e-5 AS infer_same,
       max(max_rel_err(tl_perception('fuse_conv', f.ids), p.p)) <= 1e-5 AS perception_same
  FROM fuse_in f JOIN fuse_plain p USING (id);
SELECT count(*) AS rows, max(max_rel_err(b.output, p.output)) <= 1e-5 AS batch_same
  FROM tl_infer_batch('fuse_conv', 'SELECT id, ids FROM fuse_in', 64) b
  JOIN fuse_plain_batch p ON p.id = b.id::int;
-- an id outside the Embedding is refused on the fused path too
SELECT expect_error($$SELECT tl_infer('fuse_conv', '{1,2,3,4,5,6,7,25}'::int[])$$);
-- a model whose tables do not fit tensorlens.fusion_max_memory: no table is
-- built with it (the runner may still build its own once it pays)
SET tensorlens.fusion_max_memory = 0;
SELECT tl_model_load('fuse_conv_small', :'fixtures' || '/layers/embedding_conv1d_gmp.h5') AS revision;
SELECT max(max_rel_err(tl_infer('fuse_conv_small', f.ids), p.y)) <= 1e-5 AS without_tables_same
  FROM fuse_in f JOIN fuse_plain p USING (id);
RESET tensorlens.fusion_max_memory;

\getenv prep TL_PREP
\if :{?prep}
-- the shared IMDB models (loaded by 24_real_models) on the 5000 reviews
CREATE TABLE fuse_models AS
SELECT * FROM (VALUES ('imdb_conv1d__datadonk23'), ('imdb_embed_gap_dense__kolerabi'),
                      ('imdb_embed_lstm__anushree1001'), ('imdb_embed_bigru__anushree1001'),
                      ('imdb_embed_gru__anushree1001'), ('imdb_embed_simplernn__anushree1001')) v(model);
SET tensorlens.fusion = off;
CREATE TABLE fuse_real_plain AS
SELECT m.model, b.id::int AS id, b.output
  FROM fuse_models m,
       tl_infer_batch(m.model, format('SELECT id, input FROM imdb_ref WHERE model = %L', m.model)) b;
RESET tensorlens.fusion;
SELECT m.model, count(*) AS reviews, max(max_rel_err(b.output, p.output)) <= 1e-5 AS fused_equals_plain,
       max(max_rel_err(b.output, r.expected)) <= 1e-4 AS matches_reference
  FROM fuse_models m
 CROSS JOIN LATERAL tl_infer_batch(m.model, format('SELECT id, input FROM imdb_ref WHERE model = %L', m.model)) b
  JOIN fuse_real_plain p ON p.model = m.model AND p.id = b.id::int
  JOIN imdb_ref r ON r.model = m.model AND r.id = b.id::int
 GROUP BY m.model ORDER BY 1;
-- one row at a time (the Embedding skipped: only the output is read)
SELECT r.model, max(max_rel_err(tl_infer(r.model, r.input), p.output)) <= 1e-5 AS per_row_fused_equals_plain
  FROM imdb_ref r JOIN fuse_real_plain p USING (model, id)
 WHERE r.id < 300 GROUP BY r.model ORDER BY 1;
\else
\echo NOTICE: shared data absent: the fusion check on the IMDB models is skipped
\endif
