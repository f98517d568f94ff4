#!/usr/bin/python3
"""prep_fixtures.py - write TSV test vectors for the tensorlens SQL tests.

  /usr/bin/python3 test/reference/prep_fixtures.py --data /work/shared/data \
      --out OUTDIR [--reviews N] [--digits N]

Writes PostgreSQL COPY text-format files (tab separated, no header; arrays
as PostgreSQL array literals, floats printed with %.9g):

  conformance.tsv  case, model_path, sample, input, input_dims, layer, kind,
                   expected     -- real-Keras values from the DL4J test
                   vectors (kind 'prediction' from predictions/, 'activation'
                   from activations/; outputs/ holds training targets and is
                   never used).  keras_ref.py is checked against every row.
  imdb_<key>.tsv   id, label, input, expected -- one per model in
                   models/imdb/, input = token ids as that model expects
                   them, expected = keras_ref.py output on exactly that input.
  mnist.tsv        id, label, pixels, expected_neuroedge, expected_gosolna
  other.tsv        model, model_path, sample, input, input_dims, layer,
                   expected -- every model under models/other (no outputs
                   stored with them): seeded random inputs, keras_ref.py's
                   output of every layer (layer '__output__': the model's)
  tokens_500.tsv   id, ids -- the first 500 reviews tokenised by
                   imdb_tokenize.py (no num_words, no padding)
  activations.tsv  model, id, layer, expected -- every layer's output
                   (flattened) for the first reviews/digits of three models
  perception.tsv   model, id, expected -- perception vectors computed here:
                   each learned layer but the output layer, pooled over
                   time/space as the model pools (max for a model with global
                   max pooling only, else the mean), L2-normalised per layer,
                   concatenated

Summary lines (max errors, accuracies, timings) go to stderr.
"""
import argparse
import csv
import glob
import gzip
import os
import sys
import time

import h5py
import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import imdb_tokenize  # noqa: E402
import keras_ref      # noqa: E402


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def flit(a):
    """Flat float array literal, %.9g (round-trips float32)."""
    return "{" + ",".join(map("{:.9g}".format,
                              np.ravel(a).astype(np.float64).tolist())) + "}"


def ilit(a):
    return "{" + ",".join(map(str, np.ravel(a).astype(np.int64).tolist())) + "}"


def write_row(f, fields):
    line = "\t".join(str(v) for v in fields)
    assert "\n" not in line and "\\" not in line and line.count("\t") == len(fields) - 1
    f.write(line + "\n")


# --------------------------------------------------------------------------
# conformance: DL4J real-Keras test vectors
# --------------------------------------------------------------------------
def conformance_cases(root):
    """Yield (case, model_path, input, {(kind, layer): expected})."""
    for d in sorted(glob.glob(os.path.join(root, "*"))):
        sub = os.path.basename(d)
        for io_path in sorted(glob.glob(os.path.join(d, "*_inputs_and_outputs.h5"))):
            stem = os.path.basename(io_path)[:-len("_inputs_and_outputs.h5")]
            case = "%s/%s" % (sub, stem)
            model_path = os.path.join(d, stem + "_model.h5")
            with h5py.File(io_path, "r") as f:
                if "predictions" not in f:
                    log("skipped %s: no predictions/ group (outputs/ holds "
                        "training targets only)" % case)
                    continue
                if len(f["inputs"]) != 1:
                    log("skipped %s: %d inputs" % (case, len(f["inputs"])))
                    continue
                x = next(iter(f["inputs"].values()))[()].astype(np.float32)
                exp = {}
                for grp, kind in (("predictions", "prediction"),
                                  ("activations", "activation")):
                    for k in f.get(grp, {}):
                        exp[(kind, k)] = f[grp][k][()]
            yield case, model_path, x, exp
        # fullconfigs style: input.npy + predictions.npy + one model .h5
        inp = os.path.join(d, "input.npy")
        pred = os.path.join(d, "predictions.npy")
        models = glob.glob(os.path.join(d, "*.h5"))
        if os.path.exists(inp) and os.path.exists(pred) and len(models) == 1:
            m = keras_ref.load(models[0])
            x = np.load(inp).astype(np.float32)   # stored as float64
            case = "%s/%s" % (sub, os.path.basename(models[0])[:-3])
            yield case, models[0], x, {("prediction", m.output_names[0]):
                                       np.load(pred)}


def write_conformance(data, out):
    root = os.path.join(data, "models", "expected_outputs", "dl4j")
    n_rows, worst = 0, 0.0
    with open(os.path.join(out, "conformance.tsv"), "w") as f:
        for case, model_path, x, exp in conformance_cases(root):
            acts = keras_ref.load(model_path).forward(x)
            errs = []
            for (kind, layer), want in exp.items():
                err = float(np.max(np.abs(acts[layer] - want)))
                worst = max(worst, err)
                errs.append("%s:%s=%.2e" % (kind[0], layer, err))
                for s in range(x.shape[0]):
                    write_row(f, [case, os.path.abspath(model_path), s,
                                  flit(x[s]), ilit(x.shape[1:]), layer, kind,
                                  flit(want[s])])
                    n_rows += 1
            log("  %-45s %s" % (case, " ".join(errs)))
    log("conformance.tsv: %d rows, max |keras_ref - keras| = %.3g"
        % (n_rows, worst))


# --------------------------------------------------------------------------
# models/other: real models without stored outputs, against keras_ref.py
# --------------------------------------------------------------------------
OTHER_SAMPLES = 4


def declared_input(model):
    """(per-sample input shape, Embedding input_dim or None) of a model."""
    first = model.layers[model.input_names[0]]
    shape = first.cfg.get("batch_input_shape") or first.cfg.get("batch_shape")
    consumer = model._consumer(model.input_names[0])
    vocab = (int(consumer.cfg["input_dim"])
             if consumer is not None and consumer.cls == "Embedding" else None)
    return tuple(int(d) for d in shape[1:]), vocab


def write_other(data, out):
    with open(os.path.join(out, "other.tsv"), "w") as f:
        for path in sorted(glob.glob(os.path.join(data, "models", "other", "*"))):
            key = os.path.splitext(os.path.basename(path))[0]
            model = keras_ref.load(path)
            shape, vocab = declared_input(model)
            rng = np.random.default_rng(len(key))
            if vocab:
                x = rng.integers(0, vocab, size=(OTHER_SAMPLES,) + shape)
            else:
                x = rng.standard_normal((OTHER_SAMPLES,) + shape).astype(np.float32)
            acts = model.forward(x)
            for layer, a in acts.items():
                if layer in model.layers and model.layers[layer].cls == "InputLayer":
                    continue
                for s in range(OTHER_SAMPLES):
                    write_row(f, [key, os.path.abspath(path), s, flit(x[s]),
                                  ilit(shape), layer, flit(a[s])])
            log("other %-40s %d layers, output [%.3g, %.3g]" % (
                key, len(acts) - 1, np.min(acts[keras_ref.OUTPUT_KEY]),
                np.max(acts[keras_ref.OUTPUT_KEY])))


# --------------------------------------------------------------------------
# IMDB
# --------------------------------------------------------------------------
# Per-model preprocessing, from PROVENANCE.md.  num_words for the sequence
# models is the Embedding input_dim read from the file.
IMDB = {
    "imdb_conv1d__datadonk23": dict(kind="seq", maxlen=500),
    "imdb_embed_gap_dense__kolerabi": dict(kind="seq", maxlen=5000,
                                           padding="post", truncating="post"),
    "imdb_embed_lstm__anushree1001": dict(kind="seq", maxlen=300),
    "imdb_embed_gru__anushree1001": dict(kind="seq", maxlen=300),
    "imdb_embed_bigru__anushree1001": dict(kind="seq", maxlen=300),
    "imdb_embed_simplernn__anushree1001": dict(kind="seq", maxlen=300),
    "imdb_multihot_dense__datadonk23": dict(kind="multihot", num_words=10000),
    "imdb_multihot_dense_keras3__chinmayadas2003":
        dict(kind="multihot", num_words=10000),
    # tokenizer unrecoverable: seeded random ids, label -1
    "imdb_embed_flatten_dense__lyhue1991": dict(kind="random", length=100,
                                                high=10000, seed=42),
}
CHUNK_ELEMS = 16_000_000          # float64 elements per forward chunk


def read_reviews(path, n):
    with open(path, encoding="utf-8", newline="") as f:
        r = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(r)
        assert header == ["id", "label", "text"], header
        rows = []
        for row in r:
            rows.append((int(row[0]), int(row[1]), row[2]))
            if n is not None and len(rows) >= n:
                break
    return rows


def predict_chunked(model, x, per_sample):
    step = max(1, CHUNK_ELEMS // max(1, per_sample))
    outs = [np.asarray(model.predict(x[i:i + step]))
            for i in range(0, len(x), step)]
    return np.concatenate(outs, axis=0)


def write_imdb(data, out, n_reviews):
    reviews = read_reviews(os.path.join(data, "datasets", "imdb",
                                        "imdb_reviews_5000.tsv"), n_reviews)
    wi = imdb_tokenize.load_word_index(
        os.path.join(data, "datasets", "imdb", "imdb_word_index.json"))
    ids = [r[0] for r in reviews]
    labels = np.array([r[1] for r in reviews])
    for path in sorted(glob.glob(os.path.join(data, "models", "imdb", "*"))):
        t0 = time.time()
        key = os.path.splitext(os.path.basename(path))[0]
        spec = IMDB.get(key)
        if spec is None:
            log("skipped %s: no preprocessing recipe" % key)
            continue
        model = keras_ref.load(path)
        row_labels = labels
        if spec["kind"] == "seq":
            emb = next(l for l in model.layers.values() if l.cls == "Embedding")
            nw = int(emb.cfg["input_dim"])
            seqs = [imdb_tokenize.tokenize(r[2], wi, num_words=nw,
                                           maxlen=spec["maxlen"],
                                           padding=spec.get("padding", "pre"),
                                           truncating=spec.get("truncating", "pre"))
                    for r in reviews]
            x = np.array(seqs, dtype=np.int64)
            y = predict_chunked(model, x, x.shape[1] * int(emb.cfg["output_dim"]))
            inputs = seqs
            desc = "num_words=%d maxlen=%d %s/%s" % (
                nw, spec["maxlen"], spec.get("padding", "pre"),
                spec.get("truncating", "pre"))
        elif spec["kind"] == "multihot":
            nw = spec["num_words"]
            inputs = [imdb_tokenize.encode(r[2], wi, num_words=nw)
                      for r in reviews]
            y = []
            step = CHUNK_ELEMS // nw
            for i in range(0, len(inputs), step):
                part = inputs[i:i + step]
                mh = np.zeros((len(part), nw))
                for j, seq in enumerate(part):
                    mh[j, seq] = 1.0
                y.append(np.asarray(model.predict(mh)))
            y = np.concatenate(y, axis=0)
            desc = "multi-hot num_words=%d" % nw
        else:
            rng = np.random.default_rng(spec["seed"])
            x = rng.integers(0, spec["high"], size=(len(reviews), spec["length"]))
            y = np.asarray(model.predict(x))
            inputs = x
            row_labels = np.full(len(reviews), -1)
            desc = "random ids [0,%d) len %d seed %d" % (
                spec["high"] - 1, spec["length"], spec["seed"])
        # every stem already starts with "imdb_": file = <stem>.tsv
        fname = key if key.startswith("imdb_") else "imdb_" + key
        with open(os.path.join(out, fname + ".tsv"), "w") as f:
            for i in range(len(reviews)):
                write_row(f, [ids[i], row_labels[i], ilit(inputs[i]), flit(y[i])])
        if spec["kind"] == "random":
            acc = "n/a (label -1)"
        else:
            acc = "%.2f%%" % (100.0 * np.mean((y[:, 0] > 0.5) == (labels == 1)))
        log("%-45s acc %-14s out [%.3g, %.3g]  (%s)  %.1fs" % (
            key, acc, y.min(), y.max(), desc, time.time() - t0))


# --------------------------------------------------------------------------
# MNIST
# --------------------------------------------------------------------------
def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def write_mnist(data, out, n):
    t0 = time.time()
    d = os.path.join(data, "datasets", "mnist")
    imgs = read_idx(os.path.join(d, "t10k-images-idx3-ubyte.gz"))[:n]
    labels = read_idx(os.path.join(d, "t10k-labels-idx1-ubyte.gz"))[:n]
    x = (imgs.astype(np.float32) / np.float32(255.0)).reshape(-1, 28, 28, 1)
    mdir = os.path.join(data, "models", "mnist")
    outs = {}
    for key, fn in (("neuroedge", "mnist_cnn_small__neuroedge.h5"),
                    ("gosolna", "mnist_cnn__gosolna.keras")):
        model = keras_ref.load(os.path.join(mdir, fn))
        outs[key] = predict_chunked(model, x, 28 * 28 * 64)
        log("mnist %-10s acc %.2f%% on %d digits" % (
            key, 100.0 * np.mean(outs[key].argmax(1) == labels), len(labels)))
    with open(os.path.join(out, "mnist.tsv"), "w") as f:
        for i in range(len(labels)):
            write_row(f, [i, int(labels[i]), flit(x[i]),
                          flit(outs["neuroedge"][i]), flit(outs["gosolna"][i])])
    log("mnist.tsv: %d rows  %.1fs" % (len(labels), time.time() - t0))


# --------------------------------------------------------------------------
# perception: tokenisation, per-layer activations, perception vectors
# --------------------------------------------------------------------------
PERCEPTION_MODELS = {
    # model key -> (layers of the default perception vector, inputs file)
    "imdb_conv1d__datadonk23": ["embed", "conv1d_1", "conv1d_2"],
    "imdb_embed_lstm__anushree1001": ["embedding_4", "lstm"],
}


def read_imdb_inputs(out, key, n):
    rows = []
    with open(os.path.join(out, key + ".tsv")) as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            rows.append((int(fields[0]), [int(v) for v in fields[2].strip("{}").split(",")]))
            if len(rows) >= n:
                break
    return rows


def write_perception(data, out, n_samples=10):
    t0 = time.time()
    reviews = read_reviews(os.path.join(data, "datasets", "imdb",
                                        "imdb_reviews_5000.tsv"), 500)
    wi = imdb_tokenize.load_word_index(
        os.path.join(data, "datasets", "imdb", "imdb_word_index.json"))
    with open(os.path.join(out, "tokens_500.tsv"), "w") as f:
        for rid, _, text in reviews:
            write_row(f, [rid, ilit(imdb_tokenize.encode(text, wi))])
    with open(os.path.join(out, "activations.tsv"), "w") as fa, \
            open(os.path.join(out, "perception.tsv"), "w") as fp:
        for key, layers in PERCEPTION_MODELS.items():
            model = keras_ref.load(os.path.join(data, "models", "imdb", key + ".h5"))
            rows = read_imdb_inputs(out, key, n_samples)
            acts = model.forward(np.array([r[1] for r in rows], dtype=np.int64))
            for i, (rid, _) in enumerate(rows):
                for name, a in acts.items():
                    if name != keras_ref.OUTPUT_KEY:
                        write_row(fa, [key, rid, name, flit(a[i])])
                blocks = []
                for name in layers:
                    a = np.asarray(acts[name][i], dtype=np.float64).reshape(-1, acts[name].shape[-1])
                    v = a.max(axis=0) if model.pools_by_max() else a.mean(axis=0)
                    blocks.append(v / np.linalg.norm(v))
                write_row(fp, [key, rid, flit(np.concatenate(blocks))])
        d = os.path.join(data, "datasets", "mnist")
        imgs = read_idx(os.path.join(d, "t10k-images-idx3-ubyte.gz"))[:n_samples]
        x = (imgs.astype(np.float32) / np.float32(255.0)).reshape(-1, 28, 28, 1)
        model = keras_ref.load(os.path.join(data, "models", "mnist",
                                            "mnist_cnn_small__neuroedge.h5"))
        acts = model.forward(x)
        for i in range(len(x)):
            for name, a in acts.items():
                if name != keras_ref.OUTPUT_KEY:
                    write_row(fa, ["mnist_neuroedge", i, name, flit(a[i])])
    log("tokens_500.tsv, activations.tsv, perception.tsv  %.1fs" % (time.time() - t0))


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="shared data root")
    ap.add_argument("--out", required=True)
    ap.add_argument("--reviews", type=int, default=None,
                    help="first N IMDB reviews (default: all)")
    ap.add_argument("--digits", type=int, default=1000)
    ap.add_argument("--only", choices=["conformance", "other", "imdb", "mnist",
                                       "perception"],
                    action="append", help="write only these parts")
    a = ap.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    parts = a.only or ["conformance", "other", "imdb", "mnist", "perception"]
    t0 = time.time()
    if "conformance" in parts:
        write_conformance(a.data, a.out)
    if "other" in parts:
        write_other(a.data, a.out)
    if "imdb" in parts:
        write_imdb(a.data, a.out, a.reviews)
    if "mnist" in parts:
        write_mnist(a.data, a.out, a.digits)
    if "perception" in parts:
        write_perception(a.data, a.out)
    log("total %.1fs" % (time.time() - t0))


if __name__ == "__main__":
    main(sys.argv[1:])
