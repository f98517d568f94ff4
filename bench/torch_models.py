"""bench/torch_models.py - the benchmark's models in PyTorch eager mode.

Each model is rebuilt from its Keras .h5 file (weights read with h5py) out of
the fastest stock PyTorch operations for it, float32, no autograd:

  imdb_conv1d   nn.Embedding -> F.conv1d (oneDNN) -> relu -> F.max_pool1d ->
                F.conv1d -> relu -> amax over time -> F.linear
  imdb_gap      nn.EmbeddingBag(mode="mean") (the embedding gather and the
                global average pooling in one kernel) -> F.linear -> relu ->
                F.linear -> sigmoid
  imdb_lstm     the exact Keras LSTM (hard_sigmoid gates, Keras 2): x W for
                all steps in one matmul, then per step torch.addmm + gates;
                and, for information, nn.LSTM (torch's fused kernel, with
                sigmoid gates: a slightly different model, its speed bound)
  fashion_cnn   F.conv2d -> relu -> F.max_pool2d (x2) -> flatten in Keras'
                (h, w, c) order -> F.linear -> relu -> F.linear -> softmax;
                the same class runs the MNIST CNN (mnist_cnn__gosolna.keras:
                Conv2D 32 and 64 filters, Dense 128)

forward(x) takes a batch (token ids as int64, images as float32 (B,28,28)) and
returns the model's output as Keras computes it.
"""
import os
import sys
import zipfile

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "reference", "torch"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "reference"))
from saliency_ref import load_layers  # noqa: E402  (the h5 reader of the saliency reference)
import keras_ref  # noqa: E402  (the numpy reference, for .keras zips)


def _layers(path):
    """The model's layers with float32 weights, InputLayer and Dropout left out
    (a Keras 3 .keras zip through the numpy reference's reader)."""
    if zipfile.is_zipfile(path):
        m = keras_ref.load(path)
        layers = [(l.cls, l.cfg, [torch.tensor(w, dtype=torch.float32) for w in l.weights])
                  for l in m.layers.values()]
    else:
        layers = load_layers(path, torch.float32)
    return [l for l in layers if l[0] not in ("InputLayer", "Dropout")]


class Conv1DModel:
    def __init__(self, path):
        (_, _, (E,)), (_, c1, (k1, b1)), (_, p1, _), (_, c2, (k2, b2)), _, (_, _, (wd, bd)) = _layers(path)
        self.emb = torch.nn.Embedding.from_pretrained(E)
        self.k1, self.b1 = k1.permute(2, 1, 0).contiguous(), b1
        self.k2, self.b2 = k2.permute(2, 1, 0).contiguous(), b2
        self.pool = p1["pool_size"][0]
        self.wd, self.bd = wd.t().contiguous(), bd

    def forward(self, ids):
        x = self.emb(ids).transpose(1, 2)                       # (B, 128, 500)
        x = F.relu(F.conv1d(x, self.k1, self.b1))
        x = F.max_pool1d(x, self.pool)
        x = F.relu(F.conv1d(x, self.k2, self.b2))
        return F.linear(x.amax(dim=2), self.wd, self.bd)         # linear output


class GapDenseModel:
    def __init__(self, path):
        (_, _, (E,)), _, (_, _, (w1, b1)), (_, _, (w2, b2)) = _layers(path)
        self.bag = torch.nn.EmbeddingBag.from_pretrained(E, mode="mean")
        self.w1, self.b1 = w1.t().contiguous(), b1
        self.w2, self.b2 = w2.t().contiguous(), b2

    def forward(self, ids):
        x = F.relu(F.linear(self.bag(ids), self.w1, self.b1))
        return torch.sigmoid(F.linear(x, self.w2, self.b2))


class LSTMModel:
    def __init__(self, path, fused=False):
        (_, _, (E,)), (_, cfg, (k, rk, b)), (_, _, (wd, bd)) = _layers(path)
        assert cfg["recurrent_activation"] == "hard_sigmoid" and cfg["activation"] == "tanh"
        self.emb = torch.nn.Embedding.from_pretrained(E)
        self.k, self.rk, self.b = k, rk, b
        self.u = cfg["units"]
        self.wd, self.bd = wd.t().contiguous(), bd
        self.fused = fused
        if fused:
            self.lstm = torch.nn.LSTM(E.shape[1], self.u, batch_first=True)
            with torch.no_grad():                  # Keras and torch: gates i, f, c/g, o
                self.lstm.weight_ih_l0.copy_(k.t())
                self.lstm.weight_hh_l0.copy_(rk.t())
                self.lstm.bias_ih_l0.copy_(b)
                self.lstm.bias_hh_l0.zero_()

    def forward(self, ids):
        x = self.emb(ids)                                        # (B, T, 32)
        if self.fused:
            _, (h, _) = self.lstm(x)
            h = h[0]
        else:
            B, T, _ = x.shape
            u = self.u
            xw = torch.addmm(self.b, x.reshape(B * T, -1), self.k).reshape(B, T, 4 * u)
            h = x.new_zeros(B, u)
            c = x.new_zeros(B, u)
            for t in range(T):
                z = torch.addmm(xw[:, t], h, self.rk)
                g = torch.clamp(z[:, :2 * u] * 0.2 + 0.5, 0.0, 1.0)   # i, f: Keras 2 hard_sigmoid
                o = torch.clamp(z[:, 3 * u:] * 0.2 + 0.5, 0.0, 1.0)
                c = g[:, u:] * c + g[:, :u] * torch.tanh(z[:, 2 * u:3 * u])
                h = o * torch.tanh(c)
        return torch.sigmoid(F.linear(h, self.wd, self.bd))


class FashionCNN:
    def __init__(self, path):
        ls = _layers(path)
        convs = [(w[0].permute(3, 2, 0, 1).contiguous(), w[1]) for c, _, w in ls if c == "Conv2D"]
        dense = [(w[0].t().contiguous(), w[1]) for c, _, w in ls if c == "Dense"]
        self.convs, self.dense = convs, dense

    def forward(self, x):
        x = x.reshape(-1, 1, 28, 28)
        for k, b in self.convs:
            x = F.max_pool2d(F.relu(F.conv2d(x, k, b)), 2)
        x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)        # Keras flattens (h, w, c)
        x = F.relu(F.linear(x, *self.dense[0]))
        return torch.softmax(F.linear(x, *self.dense[1]), dim=1)


def load(kind, path, **kw):
    return {"conv1d": Conv1DModel, "gap": GapDenseModel, "lstm": LSTMModel,
            "fashion": FashionCNN}[kind](path, **kw)
