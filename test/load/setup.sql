-- test/load/setup.sql — the load test's database: the toy token model, 500
-- samples with their outputs, losses and perception vectors (what a pipeline
-- would insert each epoch), and an ordinary role with usage.
\set ON_ERROR_STOP on
\set QUIET on
\set emb_hex `od -An -v -tx1 :'fixtures'/layers/embedding_conv1d_gmp.h5 | tr -d ' \n'`
CREATE EXTENSION tensorlens;
SELECT tl_model_import('emb', decode(:'emb_hex', 'hex'));
CREATE TABLE load_samples AS
SELECT i AS id,
       ARRAY[i % 20, (i * 7) % 20, (i * 3) % 20, (i * 11) % 20, (i * 5) % 20, (i * 13) % 20, (i * 17) % 20, (i * 19) % 20] AS tokens,
       (i * 31 % 7 > 2)::int AS label, NULL::real[] AS output, NULL::real AS loss, NULL::real[] AS perception
  FROM generate_series(1, 500) i;
UPDATE load_samples SET output = tl_infer('emb', tokens), perception = tl_perception('emb', tokens);
UPDATE load_samples SET loss = tl_loss(output, label, 'binary_crossentropy');
ALTER TABLE load_samples ADD PRIMARY KEY (id);
DROP ROLE IF EXISTS tl_load_user;
CREATE ROLE tl_load_user LOGIN;
SELECT tl_grant_usage('tl_load_user');
GRANT SELECT ON load_samples TO tl_load_user;
