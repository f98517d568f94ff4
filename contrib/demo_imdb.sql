-- contrib/demo_imdb.sql — the IMDB part of the demo (run by contrib/demo.sh
-- with psql variables :data, the shared data directory, and :import, where
-- the server may read the model files).
\set QUIET on
\pset footer off

-- the Keras IMDB word index and 5000 real reviews
\set word_index :data/datasets/imdb/imdb_word_index.json
\set reviews :data/datasets/imdb/imdb_reviews_5000.tsv
CREATE TABLE word_index_file (doc jsonb);
\set copy_word_index '\\copy word_index_file FROM ' :'word_index' ' WITH (FORMAT csv, QUOTE E''\\x01'', DELIMITER E''\\x02'')'
:copy_word_index
SELECT tl_vocab_import('imdb', doc) AS words FROM word_index_file \gset
CREATE TABLE reviews (id int PRIMARY KEY, label int, text text);
\set copy_reviews '\\copy reviews FROM ' :'reviews' ' WITH (FORMAT csv, DELIMITER E''\\t'', QUOTE E''\\x01'', HEADER true)'
:copy_reviews

-- the shared IMDB models and how each was fed during training
CREATE TABLE demo_models (model text PRIMARY KEY, file text, num_words int, maxlen int, multi_hot boolean, about text);
INSERT INTO demo_models VALUES
 ('imdb_cnn',       'imdb_conv1d__datadonk23.h5',                    2000, 500,  false, 'Embedding→Conv1D×2→Dense (linear output)'),
 ('imdb_gap_dense', 'imdb_embed_gap_dense__kolerabi.h5',             18000, 5000, false, 'Embedding→GlobalAveragePooling→Dense'),
 ('imdb_lstm',      'imdb_embed_lstm__anushree1001.h5',              5000, 300,  false, 'Embedding→LSTM'),
 ('imdb_gru',       'imdb_embed_gru__anushree1001.h5',               5000, 300,  false, 'Embedding→GRU'),
 ('imdb_bigru',     'imdb_embed_bigru__anushree1001.h5',             5000, 300,  false, 'Embedding→Bidirectional(GRU)'),
 ('imdb_simplernn', 'imdb_embed_simplernn__anushree1001.h5',         5000, 300,  false, 'Embedding→SimpleRNN'),
 ('imdb_multihot',  'imdb_multihot_dense__datadonk23.h5',            10000, NULL, true,  'multi-hot→Dense×3 (Keras 2)'),
 ('imdb_multihot3', 'imdb_multihot_dense_keras3__chinmayadas2003.h5', 10000, NULL, true,  'multi-hot→Dense×3 (Keras 3 file)');
SELECT count(tl_model_load(model, :'import' || '/' || file)) AS imported FROM demo_models \gset
\echo
\echo Imported :imported Keras models; :words words in the IMDB vocabulary; 5000 reviews.
SELECT m.model, l.params AS parameters, m.about
  FROM demo_models m, LATERAL (SELECT sum(params) AS params FROM tl_layers(m.model)) l ORDER BY 1;

-- every model over every review, batched inside the database
\timing on
CREATE TABLE predictions AS
SELECT m.model, b.id::int AS id, b.output[1] AS score
  FROM demo_models m,
       tl_infer_batch(m.model,
         format('SELECT id, %s FROM reviews',
                CASE WHEN m.multi_hot
                     THEN format('tl_multi_hot(tl_tokenize(''imdb'', text, NULL, %s), %s)', m.num_words, m.num_words)
                     ELSE format('tl_tokenize(''imdb'', text, %s, %s)', m.maxlen, m.num_words) END)) b;
\timing off
\echo
\echo Accuracy on the 5000 reviews (output > 0.5 means positive). Some reviews may
\echo have been in the training sets, so this is not held-out accuracy.
SELECT p.model, round(100.0 * avg(((p.score > 0.5)::int = r.label)::int), 1) AS accuracy_pct,
       round(avg(tl_loss(p.model, ARRAY[p.score], r.label))::numeric, 3) AS mean_loss
  FROM predictions p JOIN reviews r USING (id) GROUP BY p.model ORDER BY accuracy_pct DESC;

\echo A few reviews with the verdict of each model (+ positive, - negative):
SELECT r.id, CASE r.label WHEN 1 THEN 'positive' ELSE 'negative' END AS label,
       string_agg(CASE WHEN p.score > 0.5 THEN '+' ELSE '-' END, '' ORDER BY p.model) AS votes,
       left(regexp_replace(r.text, '<br />', ' ', 'g'), 70) || '…' AS review
  FROM reviews r JOIN predictions p USING (id)
 WHERE r.id IN (0, 1, 2, 3, 7, 11)
 GROUP BY r.id, r.label, r.text ORDER BY r.id;
SELECT string_agg(model, ', ' ORDER BY model) AS "votes are, in order" FROM demo_models;

\echo The reviews the CNN gets most confidently wrong (candidates for mislabels).
\echo Its last layer is linear, so its output is read as a logit here:
SELECT r.id, r.label, round(p.score::numeric, 2) AS cnn_output,
       round(tl_loss(ARRAY[p.score], r.label, 'binary_crossentropy_from_logits')::numeric, 2) AS loss,
       left(regexp_replace(r.text, '<br />', ' ', 'g'), 90) || '…' AS review
  FROM predictions p JOIN reviews r USING (id)
 WHERE p.model = 'imdb_cnn' AND (p.score > 0.5)::int <> r.label
 ORDER BY tl_loss(ARRAY[p.score], r.label, 'binary_crossentropy_from_logits') DESC LIMIT 5;
