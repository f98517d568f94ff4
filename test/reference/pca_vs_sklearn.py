#!/usr/bin/python3
"""pca_vs_sklearn.py - scikit-learn PCA references for the tl_pca tests.

  /usr/bin/python3 test/reference/pca_vs_sklearn.py --out OUTDIR \
      [--fashion /usr/share/datasets/fashion-mnist] [--data /work/shared/data]

Fits scikit-learn's PCA (svd_solver='full': LAPACK SVD in float64, the exact
answer) on two populations and writes what test/sql/40_pca.sql compares
tl_pca_fit against, as PostgreSQL COPY text files (tab separated, arrays as
array literals, floats with %.9g):

  fashion  the 60,000 x 784 Fashion-MNIST training images (raw pixel values
           0..255, from the IDX files of Debian's dataset-fashion-mnist).
  imdb     perception vectors of the 5,000 shared IMDB reviews through the
           Conv1D model (imdb_conv1d__datadonk23.h5), defined as
           tl_perception's default: the layers with learned features but the
           output layer (embed, conv1d_1, conv1d_2, as prep_fixtures.py lists
           them), each pooled over time by max as the model pools (its
           global max pooling: pooling 'auto') and L2-normalised, concatenated
           (192 wide); computed with keras_ref.py.  Row ids are the review ids.

For each population NAME:
  NAME_rows.copy       id, vector, sklearn's transform() of it (k values):
                       COPY's binary format (int4, float4[], float4[]),
                       which the server reads ~5x faster than text arrays
  NAME_components.tsv  i (1-based), explained_variance,
                       explained_variance_ratio, component (width values)
  NAME_fit.tsv         n, k, mean

sklearn's sign convention differs from tl_pca's (svd_flip makes the largest
|value| of each column of U positive); the test aligns signs per component.
Either population is skipped (with a note on stderr) when its input is
missing; the imdb part needs --data.
"""
import argparse
import os
import struct
import sys
import time

import numpy as np
from sklearn.decomposition import PCA

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import imdb_tokenize                                   # noqa: E402
import keras_ref                                       # noqa: E402
from prep_fixtures import (PERCEPTION_MODELS, flit, read_idx,  # noqa: E402
                           read_reviews, write_row)

K = 10                     # components compared
CHUNK = 250                # reviews per forward pass (memory)


def log(*a):
    print(*a, file=sys.stderr, flush=True)


FLOAT4OID = 700


def copy_real_array(v):
    """A float4[] field of COPY's binary format: length, then array_send."""
    v = np.asarray(v, dtype=">f4")
    elems = np.empty(len(v), dtype=[("len", ">i4"), ("val", ">f4")])
    elems["len"] = 4
    elems["val"] = v
    body = struct.pack(">iiiii", 1, 0, FLOAT4OID, len(v), 1) + elems.tobytes()
    return struct.pack(">i", len(body)) + body


def write_rows(path, ids, x, coords):
    with open(path, "wb") as f:
        f.write(b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0))
        for i in range(len(x)):
            f.write(struct.pack(">hii", 3, 4, ids[i]) + copy_real_array(x[i]) +
                    copy_real_array(coords[i]))
        f.write(struct.pack(">h", -1))


def fit_and_write(name, ids, x, out):
    t0 = time.time()
    pca = PCA(n_components=K, svd_solver="full").fit(x)
    write_rows(os.path.join(out, name + "_rows.copy"), ids, x, pca.transform(x))
    with open(os.path.join(out, name + "_components.tsv"), "w") as f:
        for i in range(K):
            write_row(f, [i + 1, "%.17g" % pca.explained_variance_[i],
                          "%.17g" % pca.explained_variance_ratio_[i],
                          flit(pca.components_[i])])
    with open(os.path.join(out, name + "_fit.tsv"), "w") as f:
        write_row(f, [len(x), K, flit(pca.mean_)])
    ev = pca.explained_variance_
    gaps = (ev[:-1] - ev[1:]) / ev[0]
    log("%s: %d x %d, ratios %s, smallest relative eigengap %.2g  %.1fs"
        % (name, x.shape[0], x.shape[1],
           np.array2string(pca.explained_variance_ratio_, precision=4),
           gaps.min(), time.time() - t0))


def fashion(path, out):
    imgs = read_idx(os.path.join(path, "train-images-idx3-ubyte.gz"))
    x = imgs.reshape(len(imgs), -1).astype(np.float64)
    fit_and_write("fashion", range(len(x)), x, out)


def perception(model, layers, x):
    """Each layer's output pooled over time as the model pools (max for a model
    with global max pooling only, else the mean), L2-normalised, concatenated."""
    acts = model.forward(x)
    blocks = []
    for name in layers:
        a = acts[name].reshape(acts[name].shape[0], -1, acts[name].shape[-1])
        a = a.max(axis=1) if model.pools_by_max() else a.mean(axis=1)
        norm = np.linalg.norm(a, axis=1, keepdims=True)
        blocks.append(np.divide(a, norm, out=np.zeros_like(a), where=norm > 0))
    return np.concatenate(blocks, axis=1)


def imdb(data, out):
    reviews = read_reviews(os.path.join(data, "datasets", "imdb",
                                        "imdb_reviews_5000.tsv"), None)
    wi = imdb_tokenize.load_word_index(
        os.path.join(data, "datasets", "imdb", "imdb_word_index.json"))
    key = "imdb_conv1d__datadonk23"
    model = keras_ref.load(os.path.join(data, "models", "imdb", key + ".h5"))
    emb = next(l for l in model.layers.values() if l.cls == "Embedding")
    nw = int(emb.cfg["input_dim"])
    # the preprocessing of prep_fixtures.py's IMDB table for this model
    x = np.array([imdb_tokenize.tokenize(r[2], wi, num_words=nw, maxlen=500)
                  for r in reviews], dtype=np.int64)
    v = np.concatenate([perception(model, PERCEPTION_MODELS[key], x[i:i + CHUNK])
                        for i in range(0, len(x), CHUNK)])
    # the vectors as stored (real[]), so both sides see the same numbers
    v = v.astype(np.float32).astype(np.float64)
    fit_and_write("imdb", [r[0] for r in reviews], v, out)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--fashion", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--data", help="shared data root (for the IMDB part)")
    a = ap.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    if os.path.exists(os.path.join(a.fashion, "train-images-idx3-ubyte.gz")):
        fashion(a.fashion, a.out)
    else:
        log("fashion: skipped, no IDX files in %s" % a.fashion)
    if a.data and os.path.isdir(os.path.join(a.data, "models", "imdb")):
        imdb(a.data, a.out)
    else:
        log("imdb: skipped, no shared data")


if __name__ == "__main__":
    main(sys.argv[1:])
