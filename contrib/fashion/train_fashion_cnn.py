#!/usr/bin/python3
"""train_fashion_cnn.py - the small Fashion-MNIST CNN tensorlens ships.

  /usr/bin/python3 contrib/fashion/train_fashion_cnn.py [--epochs 6] [--out FILE]

Trains with PyTorch (CPU, one thread, seeded, deterministic algorithms) on
Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist/*.gz) and
writes the weights as a Keras 2 legacy HDF5 file (default
contrib/fashion/fashion_cnn.h5) laid out exactly as Keras' model.save()
does.  The export is then checked: test/reference/keras_ref.py (an
independent numpy Keras implementation) must reproduce PyTorch's outputs
within 1e-5 on 1000 test images, and the test accuracy is printed.

The model (Keras view, channels_last, input (28, 28, 1) = pixels / 255):
  Conv2D(16, 3x3, relu) -> MaxPooling2D -> Conv2D(32, 3x3, relu)
  -> MaxPooling2D -> Flatten -> Dense(64, relu) -> Dropout(0.3)
  -> Dense(10, softmax)

Layout conversions done by export_keras_h5():
  * Conv2D kernels: PyTorch (out, in, kh, kw) -> Keras (kh, kw, in, out).
  * Dense kernels: PyTorch (out, in) -> Keras (in, out).
  * The first Dense follows a Flatten.  PyTorch flattens NCHW (index
    c*H*W + h*W + w), Keras flattens NHWC (index h*W*C + w*C + c): the
    Dense's input rows are permuted accordingly.

This file is also imported as a module (contrib/pipeline uses FashionCNN,
load_fashion, train_epoch, predict and export_keras_h5).
"""
import argparse
import gzip
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
DATA_DIR = "/usr/share/datasets/fashion-mnist"
CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
KERAS_VERSION = "2.13.1"
DROPOUT = 0.3

# torch is imported lazily so that load_fashion.py (numpy only) can reuse
# the IDX reader without paying for it.
torch = None
nn = None
F = None


def _torch():
    global torch, nn, F
    if torch is None:
        import torch as _t
        import torch.nn as _nn
        import torch.nn.functional as _f
        torch, nn, F = _t, _nn, _f
    return torch


# --------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------
def read_idx(path):
    """An IDX file (gzip'd or not) as a numpy array (big-endian header)."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError("%s: not an unsigned-byte IDX file" % path)
    nd = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * nd)
    if arr.size != int(np.prod(dims)):
        raise ValueError("%s: %d values for dims %s" % (path, arr.size, dims))
    return arr.reshape(dims)


def load_fashion(split, data_dir=DATA_DIR):
    """(images uint8 (N, 28, 28), labels int64 (N,)); split 'train'/'test'."""
    prefix = {"train": "train", "test": "t10k"}[split]
    img = os.path.join(data_dir, "%s-images-idx3-ubyte.gz" % prefix)
    lab = os.path.join(data_dir, "%s-labels-idx1-ubyte.gz" % prefix)
    if not os.path.exists(img):
        sys.exit("no Fashion-MNIST at %s: apt-get install dataset-fashion-mnist"
                 % data_dir)
    x, y = read_idx(img), read_idx(lab).astype(np.int64)
    if x.shape[0] != y.shape[0] or x.shape[1:] != (28, 28):
        raise ValueError("unexpected Fashion-MNIST shapes %s %s" % (x.shape, y.shape))
    return x, y


def scale(images):
    """uint8 (N, 28, 28) -> float32 pixels / 255 in float32 arithmetic (what
    the loader writes into the fashion table, too)."""
    return images.astype(np.float32) / np.float32(255.0)


# --------------------------------------------------------------------------
# model
# --------------------------------------------------------------------------
def make_model():
    _torch()

    class FashionCNN(nn.Module):
        """PyTorch twin of the Keras model; NCHW inside."""

        # names of the learned layers in Keras order, and their modules
        KERAS_NAMES = ["conv2d", "conv2d_1", "dense", "dense_1"]

        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 16, 3)
            self.conv2 = nn.Conv2d(16, 32, 3)
            self.fc1 = nn.Linear(32 * 5 * 5, 64)
            self.drop = nn.Dropout(DROPOUT)
            self.fc2 = nn.Linear(64, 10)

        def forward(self, x, features=False):
            """x: (N, 28, 28) or (N, 1, 28, 28) float pixels/255.  Returns
            logits; with features=True also the post-activation outputs of
            the learned hidden layers [conv2d, conv2d_1, dense]."""
            if x.dim() == 3:
                x = x.unsqueeze(1)
            a1 = F.relu(self.conv1(x))                    # (N, 16, 26, 26)
            a2 = F.relu(self.conv2(F.max_pool2d(a1, 2)))  # (N, 32, 11, 11)
            h = F.max_pool2d(a2, 2).flatten(1)            # NCHW flatten, 800
            a3 = F.relu(self.fc1(h))                      # (N, 64)
            logits = self.fc2(self.drop(a3))
            return (logits, [a1, a2, a3]) if features else logits

    return FashionCNN()


def set_determinism(seed):
    _torch()
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)


def train_epoch(model, opt, x, y, gen, batch_size=64):
    """One epoch over tensors x (N, 28, 28) float32, y (N,) int64 in an order
    drawn from the torch.Generator gen.  Returns the mean training loss."""
    model.train()
    order = torch.randperm(x.shape[0], generator=gen)
    total, n = 0.0, 0
    for i in range(0, x.shape[0], batch_size):
        idx = order[i:i + batch_size]
        opt.zero_grad()
        loss = F.cross_entropy(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
        total += loss.item() * idx.numel()
        n += idx.numel()
    return total / n


def predict(model, x, batch_size=1000, features=False):
    """Softmax outputs (float32 numpy, (N, 10)) in eval mode; with
    features=True also the hidden activations (numpy, NCHW for convs)."""
    model.eval()
    outs, feats = [], [[], [], []]
    with torch.no_grad():
        for i in range(0, x.shape[0], batch_size):
            r = model(x[i:i + batch_size], features=features)
            logits = r[0] if features else r
            outs.append(F.softmax(logits, dim=1).numpy())
            if features:
                for k, a in enumerate(r[1]):
                    feats[k].append(a.numpy())
    out = np.concatenate(outs)
    if features:
        return out, [np.concatenate(f) for f in feats]
    return out


# --------------------------------------------------------------------------
# Keras 2 legacy HDF5 export
# --------------------------------------------------------------------------
def _keras_layer(cls, name, **cfg):
    return {"class_name": cls,
            "config": dict({"name": name, "trainable": True,
                            "dtype": "float32"}, **cfg)}


def _init(cls):
    return {"module": "keras.initializers", "class_name": cls,
            "config": {"seed": None} if cls == "GlorotUniform" else {},
            "registered_name": None}


def _conv_cfg(name, filters, **extra):
    return _keras_layer(
        "Conv2D", name, **extra, filters=filters, kernel_size=[3, 3],
        strides=[1, 1], padding="valid", data_format="channels_last",
        dilation_rate=[1, 1], groups=1, activation="relu", use_bias=True,
        kernel_initializer=_init("GlorotUniform"),
        bias_initializer=_init("Zeros"), kernel_regularizer=None,
        bias_regularizer=None, activity_regularizer=None,
        kernel_constraint=None, bias_constraint=None)


def _dense_cfg(name, units, activation):
    return _keras_layer(
        "Dense", name, units=units, activation=activation, use_bias=True,
        kernel_initializer=_init("GlorotUniform"),
        bias_initializer=_init("Zeros"), kernel_regularizer=None,
        bias_regularizer=None, activity_regularizer=None,
        kernel_constraint=None, bias_constraint=None)


def _pool_cfg(name):
    return _keras_layer("MaxPooling2D", name, pool_size=[2, 2],
                        padding="valid", strides=[2, 2],
                        data_format="channels_last")


def keras_config(model_name="sequential"):
    """The Sequential model_config as Keras 2.13 writes it."""
    layers = [
        {"class_name": "InputLayer",
         "config": {"batch_input_shape": [None, 28, 28, 1], "dtype": "float32",
                    "sparse": False, "ragged": False, "name": "conv2d_input"}},
        _conv_cfg("conv2d", 16, batch_input_shape=[None, 28, 28, 1]),
        _pool_cfg("max_pooling2d"),
        _conv_cfg("conv2d_1", 32),
        _pool_cfg("max_pooling2d_1"),
        _keras_layer("Flatten", "flatten", data_format="channels_last"),
        _dense_cfg("dense", 64, "relu"),
        _keras_layer("Dropout", "dropout", rate=DROPOUT, noise_shape=None,
                     seed=None),
        _dense_cfg("dense_1", 10, "softmax"),
    ]
    return {"class_name": "Sequential",
            "config": {"name": model_name, "layers": layers}}


def training_config(lr=1e-3):
    return {"loss": "sparse_categorical_crossentropy",
            "metrics": [[{"class_name": "MeanMetricWrapper",
                          "config": {"name": "accuracy", "dtype": "float32",
                                     "fn": "sparse_categorical_accuracy"}}]],
            "weighted_metrics": None, "loss_weights": None,
            "optimizer_config": {"class_name": "Adam", "config": {
                "name": "Adam", "learning_rate": lr, "beta_1": 0.9,
                "beta_2": 0.999, "epsilon": 1e-07, "amsgrad": False}}}


def keras_weights(model):
    """[(Keras layer name, [(weight name, float32 array)])] in Keras layout."""
    sd = {k: v.detach().cpu().numpy().astype(np.float32)
          for k, v in model.state_dict().items()}
    conv = lambda w: np.ascontiguousarray(w.transpose(2, 3, 1, 0))  # kh,kw,in,out
    # fc1.weight is (64, 800) with inputs in NCHW-flatten order (c, h, w);
    # Keras' Flatten gives (h, w, c): reorder the rows of the (in, out) kernel.
    fc1 = sd["fc1.weight"].reshape(64, 32, 5, 5).transpose(2, 3, 1, 0)
    fc1 = np.ascontiguousarray(fc1.reshape(5 * 5 * 32, 64))
    fc2 = np.ascontiguousarray(sd["fc2.weight"].T)
    return [
        ("conv2d", [("kernel", conv(sd["conv1.weight"])), ("bias", sd["conv1.bias"])]),
        ("max_pooling2d", []),
        ("conv2d_1", [("kernel", conv(sd["conv2.weight"])), ("bias", sd["conv2.bias"])]),
        ("max_pooling2d_1", []),
        ("flatten", []),
        ("dense", [("kernel", fc1), ("bias", sd["fc1.bias"])]),
        ("dropout", []),
        ("dense_1", [("kernel", fc2), ("bias", sd["fc2.bias"])]),
    ]


def _group(h5py, parent, name):
    """A group without object timestamps (byte-identical files on reruns)."""
    gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
    gcpl.set_obj_track_times(False)
    return h5py.Group(h5py.h5g.create(parent.id, name.encode(), gcpl=gcpl))


def _names(names):
    if not names:
        return np.zeros((0,), dtype=np.float64)     # what Keras 2 writes
    return np.array([n.encode("utf-8") for n in names])  # fixed-length bytes


def export_keras_h5(model, path_or_buf, lr=1e-3):
    """Write the model as a Keras 2 legacy .h5: root attrs backend,
    keras_version, model_config, training_config; group model_weights with
    layer_names; per layer weight_names and datasets <layer>/<layer>/<w>:0."""
    import h5py
    weights = keras_weights(model)
    with h5py.File(path_or_buf, "w", track_order=False) as f:
        f.attrs["backend"] = "tensorflow"
        f.attrs["keras_version"] = KERAS_VERSION
        f.attrs["model_config"] = json.dumps(keras_config())
        f.attrs["training_config"] = json.dumps(training_config(lr))
        mw = _group(h5py, f, "model_weights")
        mw.attrs["backend"] = "tensorflow"
        mw.attrs["keras_version"] = KERAS_VERSION
        mw.attrs["layer_names"] = _names([n for n, _ in weights])
        for lname, ws in weights:
            g = _group(h5py, mw, lname)
            full = ["%s/%s:0" % (lname, wn) for wn, _ in ws]
            g.attrs["weight_names"] = _names(full)
            if ws:
                sub = _group(h5py, g, lname)
                for (wn, arr) in ws:
                    sub.create_dataset(wn + ":0", data=arr, track_times=False)


def keras_ref_outputs(path, x):
    """Outputs of test/reference/keras_ref.py for images x (N, 28, 28)."""
    sys.path.insert(0, os.path.join(REPO, "test", "reference"))
    sys.dont_write_bytecode = True
    import keras_ref
    m = keras_ref.load(path)
    return m.predict(x.reshape(-1, 28, 28, 1).astype(np.float64))


# --------------------------------------------------------------------------
def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--seed", type=int, default=20240)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--out", default=os.path.join(HERE, "fashion_cnn.h5"))
    ap.add_argument("--check", type=int, default=1000,
                    help="test images the export check runs (default 1000)")
    a = ap.parse_args(argv)

    t0 = time.time()
    set_determinism(a.seed)
    xtr, ytr = load_fashion("train")
    xte, yte = load_fashion("test")
    xtr_t, ytr_t = torch.from_numpy(scale(xtr)), torch.from_numpy(ytr)
    xte_t = torch.from_numpy(scale(xte))

    model = make_model()
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    gen = torch.Generator().manual_seed(a.seed)
    for ep in range(1, a.epochs + 1):
        te = time.time()
        loss = train_epoch(model, opt, xtr_t, ytr_t, gen, a.batch_size)
        acc = float((predict(model, xte_t).argmax(1) == yte).mean())
        print("epoch %d: train loss %.4f, test accuracy %.4f (%.1f s)"
              % (ep, loss, acc, time.time() - te), flush=True)
    train_time = time.time() - t0

    out = predict(model, xte_t)
    acc = float((out.argmax(1) == yte).mean())
    export_keras_h5(model, a.out, a.lr)
    size = os.path.getsize(a.out)
    print("wrote %s (%d bytes)" % (a.out, size))

    n = a.check
    ref = keras_ref_outputs(a.out, scale(xte[:n]))
    diff = float(np.max(np.abs(ref - out[:n].astype(np.float64))))
    ref_acc = float((ref.argmax(1) == yte[:n]).mean())
    agree = int((ref.argmax(1) == out[:n].argmax(1)).sum())
    print("export check: keras_ref vs PyTorch on %d test images: max |diff| "
          "%.3g, same class %d/%d, keras_ref accuracy %.4f" % (n, diff, agree, n, ref_acc))
    assert diff <= 1e-5, "export check failed: max |diff| %g > 1e-5" % diff
    assert agree == n
    assert size < 500 * 1024, "model file too large: %d bytes" % size
    print("test accuracy (10000 images, PyTorch): %.4f" % acc)
    print("training time %.1f s, total %.1f s" % (train_time, time.time() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
