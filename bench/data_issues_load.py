#!/usr/bin/python3
"""data_issues_load.py - the real data and models of bench/data_issues.py, loaded into a database.

Tables (replaced when they exist):
  reviews(id, label, text)          the 5000 shared IMDB reviews
  sentences(id, source, label, text) the UCI amazon/yelp sentences (out of distribution for IMDB)
  digits(id, label, pixels real[])   the 10,000 MNIST test digits, pixel / 255
  fashion(id, label, pixels real[])  the 10,000 Fashion-MNIST test images, pixel / 255
Models: the shared IMDB and MNIST models and contrib/fashion/fashion_cnn.h5, under the names of
MODELS, loaded with tl_model_import from the bytes (the server needs no access to the files).
"""
import gzip
import json
import os

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FASHION_DIR = "/usr/share/datasets/fashion-mnist"

# name -> (file under the data directory, input SQL over a table with text/pixels, dataset)
MODELS = {
    "imdb_cnn": ("models/imdb/imdb_conv1d__datadonk23.h5", "tl_tokenize('imdb', text, 500, 2000)", "imdb"),
    "imdb_multihot3": ("models/imdb/imdb_multihot_dense_keras3__chinmayadas2003.h5",
                       "tl_multi_hot(tl_tokenize('imdb', text, NULL, 10000), 10000)", "imdb"),
    "imdb_multihot": ("models/imdb/imdb_multihot_dense__datadonk23.h5",
                      "tl_multi_hot(tl_tokenize('imdb', text, NULL, 10000), 10000)", "imdb"),
    "imdb_gap_dense": ("models/imdb/imdb_embed_gap_dense__kolerabi.h5", "tl_tokenize('imdb', text, 5000, 18000)", "imdb"),
    "mnist_small": ("models/mnist/mnist_cnn_small__neuroedge.h5", "pixels", "digits"),
    "mnist_cnn": ("models/mnist/mnist_cnn__gosolna.keras", "pixels", "digits"),
    "fashion_cnn": (None, "pixels", "fashion"),
}


def idx_images(path):
    with gzip.open(path, "rb") as f:
        b = f.read()
    n, h, w = np.frombuffer(b, ">i4", 3, 4)
    return np.frombuffer(b, np.uint8, n * h * w, 16).reshape(n, h * w)


def idx_labels(path):
    with gzip.open(path, "rb") as f:
        b = f.read()
    return np.frombuffer(b, np.uint8, -1, 8).astype(int)


def copy_rows(cur, table, columns, rows):
    import io
    buf = io.StringIO()
    for r in rows:
        buf.write("\t".join(str(v).replace("\\", "\\\\").replace("\t", " ").replace("\n", " ") for v in r) + "\n")
    buf.seek(0)
    cur.copy_expert("COPY %s (%s) FROM STDIN" % (table, ", ".join(columns)), buf)


def pixel_text(images):
    text = [np.format_float_positional(f, unique=True, trim="-")
            for f in np.arange(256, dtype=np.float32) / np.float32(255.0)]
    return ["{" + ",".join(text[p] for p in img) + "}" for img in images]


def load_images(cur, table, images, labels):
    cur.execute("DROP TABLE IF EXISTS %s; CREATE TABLE %s (id int PRIMARY KEY, label int, pixels real[])" % (table, table))
    copy_rows(cur, table, ["id", "label", "pixels"], zip(range(len(labels)), labels, pixel_text(images)))


def load_all(conn, data, models=MODELS):
    cur = conn.cursor()
    cur.execute("CREATE EXTENSION IF NOT EXISTS tensorlens")
    cur.execute("SELECT count(*) FROM tl_vocab WHERE vocab = 'imdb'")
    if cur.fetchone()[0] == 0:
        with open(os.path.join(data, "datasets/imdb/imdb_word_index.json")) as f:
            cur.execute("SELECT tl_vocab_import('imdb', %s::jsonb)", (f.read(),))
    cur.execute("SELECT to_regclass('fashion') IS NOT NULL AND to_regclass('reviews') IS NOT NULL")
    if cur.fetchone()[0]:
        load_models(cur, data, models)
        conn.commit()
        return
    cur.execute("DROP TABLE IF EXISTS reviews; CREATE TABLE reviews (id int PRIMARY KEY, label int, text text)")
    with open(os.path.join(data, "datasets/imdb/imdb_reviews_5000.tsv"), encoding="utf-8", newline="\n") as f:
        lines = f.read().split("\n")[1:]
    copy_rows(cur, "reviews", ["id", "label", "text"], [l.split("\t", 2) for l in lines if l])
    cur.execute("DROP TABLE IF EXISTS sentences; "
                "CREATE TABLE sentences (id int PRIMARY KEY, source text, label int, text text)")
    rows = []
    for src in ("amazon_cells", "yelp"):
        with open(os.path.join(data, "datasets/sentiment_labelled_sentences/%s_labelled.txt" % src),
                  encoding="utf-8", newline="\n") as f:
            for line in f.read().split("\n"):
                if "\t" in line:
                    text, lab = line.rsplit("\t", 1)
                    rows.append((100000 + len(rows), src, int(lab), text))
    copy_rows(cur, "sentences", ["id", "source", "label", "text"], rows)
    mnist = os.path.join(data, "datasets/mnist")
    load_images(cur, "digits", idx_images(mnist + "/t10k-images-idx3-ubyte.gz"),
                idx_labels(mnist + "/t10k-labels-idx1-ubyte.gz"))
    load_images(cur, "fashion", idx_images(FASHION_DIR + "/t10k-images-idx3-ubyte.gz"),
                idx_labels(FASHION_DIR + "/t10k-labels-idx1-ubyte.gz"))
    load_models(cur, data, models)
    conn.commit()


def load_models(cur, data, models):
    for name, (path, _, _) in models.items():
        cur.execute("SELECT count(*) FROM tl_model WHERE name = %s", (name,))
        if cur.fetchone()[0]:
            continue
        full = os.path.join(REPO, "contrib/fashion/fashion_cnn.h5") if path is None else os.path.join(data, path)
        with open(full, "rb") as f:
            cur.execute("SELECT tl_model_import(%s, %s)", (name, f.read()))


def connect(args):
    import psycopg2
    return psycopg2.connect(host=args.host, port=args.port, dbname=args.db, user="postgres")


def dump(conn, model, table, out, ids_sql="", limit=None):
    """Outputs and perception vectors of a model over a table (true labels), as numpy arrays."""
    cur = conn.cursor()
    inp = MODELS[model][1]
    cur.execute("SELECT b.id, b.output, b.perception FROM tl_perception_batch(%s, %s) b",
                (model, "SELECT id, %s FROM %s %s ORDER BY id" % (inp, table, ids_sql)))
    rows = cur.fetchall()
    ids = np.array([int(r[0]) for r in rows])
    np.savez(out, ids=ids, output=np.array([r[1] for r in rows], np.float32),
             perception=np.array([r[2] for r in rows], np.float32))


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="/tmp/data-dev")
    ap.add_argument("--port", default=55613, type=int)
    ap.add_argument("--db", default="postgres")
    ap.add_argument("--data", default=os.path.join(REPO, "../shared/data"))
    ap.add_argument("--dump", help="directory: write model outputs and perception vectors (npz)")
    a = ap.parse_args()
    c = connect(a)
    load_all(c, a.data)
    if a.dump:
        os.makedirs(a.dump, exist_ok=True)
        cur = c.cursor()
        for m, (_, _, ds) in MODELS.items():
            table = {"imdb": "reviews", "digits": "digits", "fashion": "fashion"}[ds]
            dump(c, m, table, os.path.join(a.dump, m + ".npz"))
            if ds == "imdb":
                dump(c, m, "sentences", os.path.join(a.dump, m + "_ood.npz"))
            if ds == "digits":
                dump(c, m, "fashion", os.path.join(a.dump, m + "_ood.npz"))
            print("dumped", m, flush=True)
