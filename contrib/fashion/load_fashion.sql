-- contrib/fashion/load_fashion.sql — the Fashion-MNIST test images as a table.
--
--   /usr/bin/python3 contrib/fashion/load_fashion.py --tsv /tmp/fashion_test.tsv
--   psql -X -v ON_ERROR_STOP=1 -d DB -f contrib/fashion/load_fashion.sql < /tmp/fashion_test.tsv
--
-- (or pipe the script straight into psql).  \copy reads psql's own standard
-- input (pstdin), so the server needs no access to the file.  Replaces the
-- table if it exists.  pixels: 784 reals, row-major 28x28, pixel / 255 —
-- what contrib/fashion/fashion_cnn.h5 takes (tl_infer('fashion_cnn', pixels)).
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
BEGIN;
DROP TABLE IF EXISTS fashion;
CREATE TABLE fashion (
  id     integer PRIMARY KEY,   -- index in t10k-images-idx3-ubyte
  label  integer NOT NULL CHECK (label BETWEEN 0 AND 9),
  pixels real[]  NOT NULL CHECK (cardinality(pixels) = 784)
);
COMMENT ON TABLE fashion IS
  'Fashion-MNIST test images (Debian dataset-fashion-mnist): pixels = 28x28 row-major, pixel/255; '
  'labels 0..9 = T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot';
\copy fashion (id, label, pixels) FROM pstdin
COMMIT;
ANALYZE fashion;
SELECT count(*) AS fashion_images FROM fashion;
