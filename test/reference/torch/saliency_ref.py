#!/usr/bin/python3
"""saliency_ref.py - PyTorch autograd reference for token/pixel saliency.

  /usr/bin/python3 test/reference/torch/saliency_ref.py --data /work/shared/data \
      --out OUTDIR [--reviews 60] [--digits 20]
  /usr/bin/python3 test/reference/torch/saliency_ref.py --data DIR --bench N \
      [--bench-out DIR]
      (grad_input per review on one thread, the Conv1D IMDB model, for
       bench/saliency_bench.sh; prints "torch_ms_per_review X cpu Y"; --bench-out
       writes the reviews' token ids and the vocabulary it used; also the
      CPU time per review)

Written from the documented Keras semantics, apart from the extension's C
code: the weights are read from the .h5 files with h5py, the layers are
re-implemented with torch operations (Conv1D as F.conv1d, the recurrent
cells step by step) and the gradient comes from torch.autograd, in float64.

The class score follows tensorlens' documented convention: the logit before
the final activation; one sigmoid unit scores class 1 as z and class 0 as
-z.  grad_input of a token = sum over its embedding vector of
d score / d embedding * embedding.

Writes PostgreSQL COPY text files (tab separated, arrays as literals):
  saliency_imdb.tsv   model, id, target, input, grad_input   (every IMDB
                      model taking token ids; first N reviews, target = the
                      review's label, inputs as prep_fixtures.py builds them)
  saliency_mnist.tsv  id, target, pixels, grad_input        (the .h5 MNIST CNN)
"""
import argparse
import gzip
import json
import os
import sys
import time

import h5py
import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, ".."))
import imdb_tokenize  # noqa: E402
from prep_fixtures import IMDB, read_reviews  # noqa: E402  (per-model recipes)


# --------------------------------------------------------------------------
# a Keras Sequential model from its .h5 file
# --------------------------------------------------------------------------
def hard_sigmoid(x):
    return torch.clamp(0.2 * x + 0.5, 0.0, 1.0)      # Keras 2


ACT = {"linear": lambda x: x, "relu": torch.relu, "sigmoid": torch.sigmoid,
       "tanh": torch.tanh, "hard_sigmoid": hard_sigmoid,
       "softmax": lambda x: torch.softmax(x, -1)}


def load_layers(path, dtype=torch.float64):
    """[(class, config, [weights as tensors of dtype])] in model order."""
    with h5py.File(path, "r") as f:
        cfg = json.loads(f.attrs["model_config"])
        layers = cfg["config"]["layers"] if isinstance(cfg["config"], dict) \
            else cfg["config"]
        mw = f["model_weights"]
        out = []
        for entry in layers:
            name = entry["config"]["name"]
            ws = []
            if name in mw:
                g = mw[name]
                for wn in g.attrs["weight_names"]:
                    wn = wn.decode() if isinstance(wn, bytes) else wn
                    ws.append(torch.tensor(np.asarray(g[wn]), dtype=dtype))
            out.append((entry["class_name"], entry["config"], ws))
    return out


def tied_max(x, dim):
    """max over dim whose gradient goes to the first value within 2^-17
    (relative) of the maximum: TensorFlow's max pooling takes the first
    exact maximum, and tensorlens widens "exact" to float rounding (padding
    positions hold the same values up to rounding)."""
    m = x.max(dim=dim, keepdim=True).values.detach()
    tied = (x >= m - m.abs() * 2.0 ** -17).to(torch.uint8)
    first = tied.argmax(dim=dim, keepdim=True)    # argmax: the first 1
    y = x.gather(dim, first).squeeze(dim)
    return y + (m.squeeze(dim) - y).detach()      # the value is the max


def max_pool1d(x, k, s):
    """Keras MaxPooling1D, 'valid', on (batch, T, channels)."""
    return tied_max(x.unfold(1, k, s), -1)


def rnn_cell(cls, cfg, w, x, reverse=False):
    """Runs a Keras SimpleRNN/LSTM/GRU over x (batch, T, features); returns
    the last h (return_sequences is False in every shared model)."""
    kernel, rec, bias = w
    u = cfg["units"]
    act = ACT[cfg.get("activation", "tanh")]
    ract = ACT[cfg.get("recurrent_activation", "hard_sigmoid")]
    T = x.shape[1]
    h = x.new_zeros(x.shape[0], u)
    c = x.new_zeros(x.shape[0], u)
    for s in range(T):
        xt = x[:, T - 1 - s if reverse else s]
        if cls == "SimpleRNN":
            h = act(xt @ kernel + bias + h @ rec)
        elif cls == "LSTM":                       # gates i, f, c, o
            z = xt @ kernel + bias + h @ rec
            i, f_, g, o = (ract(z[:, :u]), ract(z[:, u:2 * u]),
                           act(z[:, 2 * u:3 * u]), ract(z[:, 3 * u:]))
            c = f_ * c + i * g
            h = o * act(c)
        else:                                     # GRU, reset_after=False
            assert not cfg.get("reset_after", False)
            xz = xt @ kernel + bias
            z = ract(xz[:, :u] + h @ rec[:, :u])
            r = ract(xz[:, u:2 * u] + h @ rec[:, u:2 * u])
            hh = act(xz[:, 2 * u:] + (r * h) @ rec[:, 2 * u:])
            h = z * h + (1 - z) * hh
    return h


def run(layers, x):
    """Forward from the first layer's input; returns the last layer's
    pre-activation (the logits)."""
    for k, (cls, cfg, w) in enumerate(layers):
        last = k == len(layers) - 1
        if cls in ("InputLayer", "Dropout", "Embedding"):
            continue                              # Embedding: done by the caller
        if cls == "Conv1D":
            assert cfg["padding"] == "valid"
            y = F.conv1d(x.transpose(1, 2), w[0].permute(2, 1, 0), w[1],
                         stride=cfg["strides"][0],
                         dilation=cfg["dilation_rate"][0]).transpose(1, 2)
            x = ACT[cfg["activation"]](y)
        elif cls == "Conv2D":
            assert cfg["padding"] == "valid"
            y = F.conv2d(x.permute(0, 3, 1, 2), w[0].permute(3, 2, 0, 1), w[1],
                         stride=tuple(cfg["strides"])).permute(0, 2, 3, 1)
            x = ACT[cfg["activation"]](y)
        elif cls == "MaxPooling1D":
            x = max_pool1d(x, cfg["pool_size"][0], cfg["strides"][0])
        elif cls == "MaxPooling2D":
            (kh, kw), (sh, sw) = cfg["pool_size"], cfg["strides"]
            win = x.unfold(1, kh, sh).unfold(2, kw, sw)   # b, h', w', c, kh, kw
            x = tied_max(win.reshape(win.shape[:4] + (kh * kw,)), -1)
        elif cls == "GlobalMaxPooling1D":
            x = tied_max(x, 1)
        elif cls == "GlobalAveragePooling1D":
            x = x.mean(dim=1)
        elif cls == "Flatten":
            x = x.reshape(x.shape[0], -1)
        elif cls == "Dense":
            y = x @ w[0] + w[1]
            if last:
                return y
            x = ACT[cfg["activation"]](y)
        elif cls in ("SimpleRNN", "LSTM", "GRU"):
            x = rnn_cell(cls, cfg, w, x)
        elif cls == "Bidirectional":
            assert cfg["merge_mode"] == "concat"
            icls, icfg = cfg["layer"]["class_name"], cfg["layer"]["config"]
            n = len(w) // 2
            x = torch.cat([rnn_cell(icls, icfg, w[:n], x),
                           rnn_cell(icls, icfg, w[n:], x, reverse=True)], dim=1)
        else:
            raise ValueError("no reference for %s" % cls)
    raise ValueError("the model does not end in a Dense layer")


def class_score(logits, target):
    if logits.shape[1] == 1:                      # one sigmoid unit: +-z
        return logits[:, 0] * (1.0 if target == 1 else -1.0)
    return logits[:, target]


def token_grad_input(layers, ids, targets):
    """grad_input per token for a batch of id sequences (one backward: the
    samples are independent, so the gradient of the sum is per sample)."""
    table = next(w[0] for cls, _, w in layers if cls == "Embedding")
    e = table[torch.as_tensor(ids, dtype=torch.long)].clone().requires_grad_(True)
    logits = run(layers, e)
    score = sum(class_score(logits[i:i + 1], t).sum()
                for i, t in enumerate(targets))
    score.backward()
    return (e.grad * e).sum(-1).detach().numpy()


# --------------------------------------------------------------------------
def lit(a, fmt="{:.9g}"):
    return "{" + ",".join(fmt.format(v) for v in np.ravel(a).tolist()) + "}"


def imdb_inputs(key, spec, reviews, word_index, layers):
    if spec["kind"] == "random":
        rng = np.random.default_rng(spec["seed"])
        return rng.integers(0, spec["high"], size=(len(reviews), spec["length"]))
    nw = next(cfg["input_dim"] for cls, cfg, _ in layers if cls == "Embedding")
    return np.array([imdb_tokenize.tokenize(
        r[2], word_index, num_words=nw, maxlen=spec["maxlen"],
        padding=spec.get("padding", "pre"),
        truncating=spec.get("truncating", "pre")) for r in reviews])


def write_imdb(data, out, n):
    reviews = read_reviews(os.path.join(data, "datasets", "imdb",
                                        "imdb_reviews_5000.tsv"), n)
    wi = imdb_tokenize.load_word_index(
        os.path.join(data, "datasets", "imdb", "imdb_word_index.json"))
    with open(os.path.join(out, "saliency_imdb.tsv"), "w") as f:
        for key, spec in sorted(IMDB.items()):
            if spec["kind"] == "multihot":
                continue
            t0 = time.time()
            layers = load_layers(os.path.join(data, "models", "imdb", key + ".h5"))
            ids = imdb_inputs(key, spec, reviews, wi, layers)
            targets = [r[1] for r in reviews]
            attr = token_grad_input(layers, ids, targets)
            for i, r in enumerate(reviews):
                f.write("\t".join([key, str(r[0]), str(targets[i]),
                                   lit(ids[i], "{}"), lit(attr[i])]) + "\n")
            print("%-45s %d reviews  %.1fs" % (key, len(reviews), time.time() - t0),
                  file=sys.stderr)


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(raw[3])]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * raw[3]).reshape(dims)


def write_mnist(data, out, n):
    d = os.path.join(data, "datasets", "mnist")
    imgs = read_idx(os.path.join(d, "t10k-images-idx3-ubyte.gz"))[:n]
    labels = read_idx(os.path.join(d, "t10k-labels-idx1-ubyte.gz"))[:n]
    x = (imgs.astype(np.float32) / np.float32(255.0)).reshape(-1, 28, 28, 1)
    layers = load_layers(os.path.join(data, "models", "mnist",
                                      "mnist_cnn_small__neuroedge.h5"))
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    logits = run(layers, xt)
    sum(logits[i, int(t)] for i, t in enumerate(labels)).backward()
    attr = (xt.grad * xt).detach().numpy()
    with open(os.path.join(out, "saliency_mnist.tsv"), "w") as f:
        for i in range(n):
            f.write("\t".join([str(i), str(int(labels[i])), lit(x[i]),
                               lit(attr[i])]) + "\n")


def bench(data, n, out):
    """grad_input per review, one review at a time, float32, one thread."""
    torch.set_num_threads(1)
    key = "imdb_conv1d__datadonk23"
    reviews = read_reviews(os.path.join(data, "datasets", "imdb",
                                        "imdb_reviews_5000.tsv"), n)
    wi = imdb_tokenize.load_word_index(
        os.path.join(data, "datasets", "imdb", "imdb_word_index.json"))
    layers = load_layers(os.path.join(data, "models", "imdb", key + ".h5"))
    layers = [(c, cfg, [w.float() for w in ws]) for c, cfg, ws in layers]
    ids = imdb_inputs(key, IMDB[key], reviews, wi, layers)
    if out:
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "reviews.tsv"), "w") as f:
            for r, seq in zip(reviews, ids):
                f.write("%d\t%d\t%s\n" % (r[0], r[1], lit(seq, "{}")))
        with open(os.path.join(out, "words.tsv"), "w") as f:
            for w, rank in wi.items():
                if rank + 3 < len(layers[0][2][0]) and "\t" not in w and "\\" not in w:
                    f.write("%d\t%s\n" % (rank + 3, w))
    table = next(w[0] for cls, _, w in layers if cls == "Embedding")
    for rep in range(2):                          # the first round warms up
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(n):
            e = table[torch.as_tensor(ids[i:i + 1])].clone().requires_grad_(True)
            score = class_score(run(layers, e), 0).sum()
            score.backward()
            (e.grad * e).sum(-1)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print("torch_ms_per_review %.3f cpu %.3f" % (1000.0 * wall / n, 1000.0 * cpu / n))


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--out")
    ap.add_argument("--reviews", type=int, default=60)
    ap.add_argument("--digits", type=int, default=20)
    ap.add_argument("--bench", type=int, help="time N reviews instead")
    ap.add_argument("--bench-out", help="with --bench: write the inputs here")
    a = ap.parse_args(argv)
    if a.bench:
        bench(a.data, a.bench, a.bench_out)
        return
    os.makedirs(a.out, exist_ok=True)
    torch.set_num_threads(2)
    write_imdb(a.data, a.out, a.reviews)
    write_mnist(a.data, a.out, a.digits)


if __name__ == "__main__":
    main(sys.argv[1:])
