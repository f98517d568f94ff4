-- contrib/fashion/demo_fashion.sql — the Fashion-MNIST CNN over the 10,000 test images.
--
--   psql -X -v ON_ERROR_STOP=1 -d tensorlens_demo -v h5=contrib/fashion/fashion_cnn.h5 \
--        -f contrib/fashion/demo_fashion.sql
--
-- Needs the table made by load_fashion.sql.  The model file is read on the
-- client side (psql runs od on it), so the server needs no file access.
\set ON_ERROR_STOP 1
\pset footer off
SET client_min_messages = warning;

\set h5hex `od -An -v -tx1 :h5 | tr -d ' \n'`
SELECT tl_model_import('fashion_cnn', decode(:'h5hex', 'hex')) AS fashion_cnn_revision;
\unset h5hex

SELECT idx, name, kind, output_shape, params FROM tl_layers('fashion_cnn');

DROP TABLE IF EXISTS fashion_eval;
CREATE TABLE fashion_eval AS
SELECT f.id, f.label, tl_predict_class(b.output) AS prediction,
       tl_loss('fashion_cnn', b.output, f.label) AS loss, b.output
  FROM tl_infer_batch('fashion_cnn', 'SELECT id::text, pixels FROM fashion') b
  JOIN fashion f ON f.id = b.id::int;

\echo 'Fashion-MNIST CNN on the test images (PyTorch gave 0.8932):'
SELECT count(*) AS images, round(avg((prediction = label)::int), 4) AS accuracy,
       round(avg(loss)::numeric, 4) AS mean_loss
  FROM fashion_eval;

WITH names(label, name) AS (
  SELECT i - 1, n FROM unnest('{T-shirt/top,Trouser,Pullover,Dress,Coat,Sandal,Shirt,Sneaker,Bag,"Ankle boot"}'::text[])
                       WITH ORDINALITY AS u(n, i))
SELECT n.name AS class, count(*) AS images,
       round(avg((e.prediction = e.label)::int), 3) AS accuracy,
       (SELECT m.name FROM fashion_eval w JOIN names m ON m.label = w.prediction
         WHERE w.label = e.label AND w.prediction <> w.label
         GROUP BY m.name ORDER BY count(*) DESC, m.name LIMIT 1) AS most_often_taken_for
  FROM fashion_eval e JOIN names n ON n.label = e.label
 GROUP BY e.label, n.name ORDER BY e.label;

\echo 'Wrong answers with the highest loss (candidates for mislabels):'
WITH names(label, name) AS (
  SELECT i - 1, n FROM unnest('{T-shirt/top,Trouser,Pullover,Dress,Coat,Sandal,Shirt,Sneaker,Bag,"Ankle boot"}'::text[])
                       WITH ORDINALITY AS u(n, i))
SELECT e.id, l.name AS labelled, p.name AS predicted,
       round(e.output[e.prediction + 1]::numeric, 4) AS confidence, round(e.loss::numeric, 2) AS loss
  FROM fashion_eval e JOIN names l ON l.label = e.label JOIN names p ON p.label = e.prediction
 WHERE e.prediction <> e.label
 ORDER BY e.loss DESC, e.id LIMIT 8;
