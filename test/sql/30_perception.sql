-- Layer activations and perception vectors.
\getenv fixtures TL_FIXTURES
-- every layer's output for one sample; names as tl_layers lists them
SELECT tl_activations('tiny', '{1,0,-1}'::real[], 'dense') AS hidden,
       tl_activations('tiny', '{1,0,-1}'::real[], 'dense_input') AS input;
SELECT expect_error($$SELECT tl_activations('tiny', '{1,0,-1}'::real[], 'nope')$$);

-- perception of the tiny model: its only hidden layer, averaged, unit norm:
-- hidden [-3.5, -4.5] / sqrt(3.5² + 4.5²)
SELECT * FROM tl_perception_layers('tiny');
SELECT array_agg(round(v::numeric, 6)) AS perception
  FROM unnest(tl_perception('tiny', '{1,0,-1}'::real[])) v;
SELECT round((-3.5 / sqrt(3.5^2 + 4.5^2))::numeric, 6) AS expected_first;
-- an all-zero block stays zero instead of becoming NaN
SELECT tl_activations('tiny', '{1.75,-0.75,0}'::real[], 'dense') AS zero_hidden,
       tl_perception('tiny', '{1.75,-0.75,0}'::real[]) AS zero_block;
SELECT expect_error($$SELECT tl_perception('tiny', '{1,0,-1}'::real[], '{nope}')$$);
SELECT expect_error($$SELECT tl_perception('tiny', '{1,0,-1}'::real[], '{}')$$);
SELECT expect_error($$SELECT tl_perception('tiny', '{1,0,-1}'::real[], NULL, 'median')$$);
SELECT expect_error($$SELECT tl_perception('tiny', '{1,0,-1}'::real[], '{dense,dense}')$$);

\getenv prep TL_PREP
\if :{?prep}
-- every layer of two IMDB models and an MNIST CNN against the numpy reference
CREATE TABLE activation_ref (model text, id int, layer text, expected real[]);
\set activations_file :prep/activations.tsv
COPY activation_ref FROM :'activations_file';
SELECT a.model, count(*) AS layer_outputs, count(DISTINCT a.layer) AS layers,
       max(max_rel_err(tl_activations(CASE a.model WHEN 'mnist_neuroedge' THEN 'mnist_neuroedge' ELSE a.model END,
                                      CASE WHEN a.model = 'mnist_neuroedge' THEN NULL ELSE r.input END,
                                      a.layer), a.expected)) FILTER (WHERE a.model <> 'mnist_neuroedge') <= 1e-4
       OR bool_and(a.model = 'mnist_neuroedge') AS imdb_matches,
       max(max_rel_err(tl_activations('mnist_neuroedge', m.pixels, a.layer), a.expected))
         FILTER (WHERE a.model = 'mnist_neuroedge') <= 1e-4
       OR bool_and(a.model <> 'mnist_neuroedge') AS mnist_matches
  FROM activation_ref a
  LEFT JOIN imdb_ref r ON r.model = a.model AND r.id = a.id
  LEFT JOIN mnist m ON a.model = 'mnist_neuroedge' AND m.id = a.id
 GROUP BY a.model ORDER BY a.model;

-- the default perception vector of the IMDB CNN: three blocks, 192 values
SELECT * FROM tl_perception_layers('imdb_conv1d__datadonk23');
CREATE TABLE perception_ref (model text, id int, expected real[]);
\set perception_file :prep/perception.tsv
COPY perception_ref FROM :'perception_file';
CREATE TABLE perception_got AS
SELECT p.model, p.id, p.expected, tl_perception(p.model, r.input) AS v
  FROM perception_ref p JOIN imdb_ref r USING (model, id);
SELECT model, count(*) AS samples, min(cardinality(v)) AS width,
       max(max_rel_err(v, expected)) <= 1e-4 AS matches_reference
  FROM perception_got GROUP BY model ORDER BY model;
-- every block has unit norm
SELECT g.model, bool_and(abs(sqrt((SELECT sum(x * x) FROM unnest(g.v[l.first_index:l.first_index + l.width - 1]) x)) - 1) < 1e-5) AS unit_blocks
  FROM perception_got g, tl_perception_layers(g.model) l GROUP BY g.model ORDER BY 1;
-- the batched form gives the same vectors and outputs
SELECT count(*) AS rows,
       max(max_rel_err(b.perception, g.v)) <= 1e-6 AS same_perception,
       max(max_rel_err(b.output, tl_infer(g.model, r.input))) <= 1e-6 AS same_output
  FROM tl_perception_batch('imdb_conv1d__datadonk23',
                           'SELECT id, input FROM imdb_ref WHERE model = ''imdb_conv1d__datadonk23'' AND id < 10') b
  JOIN perception_got g ON g.model = 'imdb_conv1d__datadonk23' AND g.id = b.id::int
  JOIN imdb_ref r ON r.model = g.model AND r.id = g.id;
-- pooling 'auto' (the default) pools as the model does: by max for the Conv1D
-- model (global max pooling), by the mean for the LSTM model (no global pooling);
-- the other pooling is another vector of the same width
SELECT model, tl_perception(model, input) = tl_perception(model, input, NULL, 'max') AS auto_is_max,
       tl_perception(model, input) = tl_perception(model, input, NULL, 'avg') AS auto_is_avg,
       cardinality(tl_perception(model, input, NULL, 'avg')) = cardinality(tl_perception(model, input)) AS same_width
  FROM imdb_ref WHERE model IN ('imdb_conv1d__datadonk23', 'imdb_embed_lstm__anushree1001') AND id = 0
  ORDER BY model;

-- determinism: another backend computes the very same vector (dblink opens a
-- second connection to this server); a restart check follows the suite
CREATE EXTENSION IF NOT EXISTS dblink;
SELECT format('dbname=%s host=%s port=%s user=%s', current_database(),
              current_setting('unix_socket_directories'), current_setting('port'), current_user) AS conn \gset
SELECT count(*) AS compared,
       bool_and(g.v = o.v) AS identical_in_another_backend
  FROM perception_got g
  JOIN dblink(:'conn', 'SELECT p.model, p.id, tensorlens_v FROM (SELECT p.model, p.id, tl_perception(p.model, r.input) AS tensorlens_v FROM perception_ref p JOIN imdb_ref r USING (model, id)) p')
       AS o(model text, id int, v real[]) USING (model, id);
CREATE TABLE perception_saved AS SELECT model, id, v FROM perception_got;

-- the width limit: a fixed, seeded random projection per layer
SET tensorlens.perception_max_width = 64;
SELECT * FROM tl_perception_layers('imdb_conv1d__datadonk23');
CREATE TABLE perception_small AS
SELECT p.model, p.id, tl_perception(p.model, r.input) AS v
  FROM perception_ref p JOIN imdb_ref r USING (model, id) WHERE p.model = 'imdb_conv1d__datadonk23';
SELECT min(cardinality(v)) AS width,
       bool_and(abs(sqrt((SELECT sum(x * x) FROM unnest(v[1:42]) x)) - 1) < 1e-5) AS unit_first_block
  FROM perception_small;
SELECT bool_and(s.v = o.v) AS projection_identical_in_another_backend
  FROM perception_small s
  JOIN dblink(:'conn', 'SET tensorlens.perception_max_width = 64; SELECT p.id, tl_perception(p.model, r.input) FROM perception_ref p JOIN imdb_ref r USING (model, id) WHERE p.model = ''imdb_conv1d__datadonk23''')
       AS o(id int, v real[]) USING (id);
RESET tensorlens.perception_max_width;
\else
\echo NOTICE: shared data absent (set TL_DATA_DIR or put ../shared/data beside the repo): real-model perception tests skipped
\endif
