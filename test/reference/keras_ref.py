#!/usr/bin/python3
"""keras_ref.py - independent numpy reference forward pass for Keras models.

Written from the documented Keras layer semantics (not from the extension's
C code) to produce expected values for the tensorlens tests.  numpy + h5py
only (zipfile/json from the standard library).

Supported files
  * legacy Keras HDF5 (.h5): root attr ``model_config`` (JSON), weights in
    ``model_weights/<layer>/`` in the order of the group's ``weight_names``
    attr.  Keras 2 names look like ``dense_1/kernel:0``; Keras 3 legacy .h5
    names look like ``sequential/dense/kernel`` - both are simply looked up
    relative to the layer group.
  * Keras 3 ``.keras`` zips: ``config.json`` + ``model.weights.h5`` with
    weights at ``layers/<key>/vars/<i>`` (recurrent layers: ``.../cell/vars``,
    Bidirectional: ``.../forward_layer/...`` then ``.../backward_layer/...``).
    Keras 3 names the per-layer key after the layer *class* in snake case
    (``conv2d``, ``conv2d_1``, ...), uniquified in order; the layer's own
    name is used as a fallback.
  * Sequential (config ``layers`` list, or Keras <=2.1 where ``config`` is the
    list itself) and Functional models (Keras 2 ``inbound_nodes`` lists and
    Keras 3 ``args``/``keras_history`` dicts).

Use
  m = load(path); acts = m.forward(x)      # OrderedDict layer -> ndarray
  acts["__output__"]                      # model output (list if several)
  /usr/bin/python3 keras_ref.py MODEL INPUT.npy [--layers]

Everything is computed in float64; activations are returned as float64.
Only channels_last data formats are supported (the Keras default).
"""
import io
import json
import math
import re
import sys
import zipfile
from collections import OrderedDict

import h5py
import numpy as np

OUTPUT_KEY = "__output__"


# --------------------------------------------------------------------------
# activations
# --------------------------------------------------------------------------
def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))          # overflow-free logistic


def _softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _log_softmax(x, axis=-1):
    m = np.max(x, axis=axis, keepdims=True)
    return x - m - np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))


_erf = np.vectorize(math.erf, otypes=[np.float64])
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def activation_fn(name, keras_major=2):
    """Return the numpy function for a Keras activation identifier."""
    if isinstance(name, dict):                        # Keras 3 serialised fn
        cfg = name.get("config")
        name = cfg if isinstance(cfg, str) else name.get("class_name")
    if name is None:
        name = "linear"
    name = name.lower()
    if name == "hard_sigmoid":
        if keras_major >= 3:                          # relu6(x + 3) / 6
            return lambda x: np.clip(x / 6.0 + 0.5, 0.0, 1.0)
        return lambda x: np.clip(0.2 * x + 0.5, 0.0, 1.0)
    table = {
        "linear": lambda x: x,
        "relu": lambda x: np.maximum(x, 0.0),
        "relu6": lambda x: np.clip(x, 0.0, 6.0),
        "sigmoid": _sigmoid,
        "tanh": np.tanh,
        "softmax": _softmax,
        "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))),
        "selu": lambda x: SELU_SCALE * np.where(
            x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0.0))),
        "softplus": lambda x: np.logaddexp(0.0, x),
        "softsign": lambda x: x / (1.0 + np.abs(x)),
        "swish": lambda x: x * _sigmoid(x),
        "silu": lambda x: x * _sigmoid(x),
        "gelu": lambda x: 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0))),
        "exponential": np.exp,
        "leaky_relu": lambda x: np.where(x >= 0, x, 0.2 * x),   # Keras 3 default
        "mish": lambda x: x * np.tanh(np.logaddexp(0.0, x)),
        "hard_silu": lambda x: x * np.clip(x / 6.0 + 0.5, 0.0, 1.0),
        "hard_swish": lambda x: x * np.clip(x / 6.0 + 0.5, 0.0, 1.0),
        "log_softmax": _log_softmax,
    }
    if name not in table:
        raise NotImplementedError("activation %r" % name)
    return table[name]


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------
def _tuple(v, n):
    if v is None:
        return None
    if isinstance(v, (list, tuple)):
        return tuple(int(a) for a in v)
    return (int(v),) * n


def _same_pads(size, k_eff, stride):
    """TF 'same': out = ceil(size/stride); extra padding goes to the end."""
    out = -(-size // stride)
    total = max((out - 1) * stride + k_eff - size, 0)
    return total // 2, total - total // 2


def _pad_spatial(x, cfg_pad, ks, strides, dil, fill=0.0):
    """Pad the spatial axes (1..n) of a channels_last tensor for conv/pool."""
    pads = [(0, 0)]
    for ax, (k, s, d) in enumerate(zip(ks, strides, dil), start=1):
        k_eff = d * (k - 1) + 1
        if cfg_pad == "valid":
            pads.append((0, 0))
        elif cfg_pad == "same":
            pads.append(_same_pads(x.shape[ax], k_eff, s))
        elif cfg_pad == "causal":
            pads.append((k_eff - 1, 0))
        else:
            raise NotImplementedError("padding %r" % cfg_pad)
    pads.append((0, 0))
    return np.pad(x, pads, constant_values=fill), pads


def _windows(xp, ks, strides, dil):
    """Yield (tap_index, strided view) for every kernel tap position."""
    n = len(ks)
    outs = [(xp.shape[1 + a] - (dil[a] * (ks[a] - 1) + 1)) // strides[a] + 1
            for a in range(n)]
    if min(outs) <= 0:
        raise ValueError("input too small for kernel")
    for tap in np.ndindex(*ks):
        sl = [slice(None)]
        for a in range(n):
            start = tap[a] * dil[a]
            sl.append(slice(start, start + strides[a] * (outs[a] - 1) + 1,
                            strides[a]))
        yield tap, xp[tuple(sl)]


def _check_channels_last(cfg):
    df = cfg.get("data_format")
    if df not in (None, "channels_last"):
        raise NotImplementedError("data_format %r" % df)


# --------------------------------------------------------------------------
# recurrent cells (all batched over the first axis)
# --------------------------------------------------------------------------
def _run_rnn(cls, cfg, w, x, keras_major, mask=None, zero_masked=False):
    """x: (B, T, F).  Returns (B, units) or (B, T, units).  mask (B, T):
    a masked step keeps the state and outputs the previous output (zeros
    when zero_masked, which Keras forces inside Bidirectional)."""
    units = int(cfg["units"])
    act = activation_fn(cfg.get("activation", "tanh"), keras_major)
    ract = activation_fn(cfg.get("recurrent_activation", "sigmoid"),
                         keras_major)
    kernel, rkernel = w[0], w[1]
    bias = w[2] if len(w) > 2 else None
    B, T, _ = x.shape
    if cfg.get("go_backwards"):
        x = x[:, ::-1, :]
        if mask is not None:
            mask = mask[:, ::-1]
    h = np.zeros((B, units))
    c = np.zeros((B, units))
    seq = []
    if cls == "GRU":
        reset_after = cfg.get("reset_after", keras_major >= 3)
        if bias is None:
            b_in, b_rec = np.zeros(3 * units), np.zeros(3 * units)
        elif bias.ndim == 2:                            # (2, 3u): input, recurrent
            b_in, b_rec = bias[0], bias[1]
        else:
            b_in, b_rec = bias, np.zeros(3 * units)
        xw = x @ kernel + b_in                          # (B, T, 3u)
        for t in range(T):
            xz, xr, xh = np.split(xw[:, t], 3, axis=-1)
            if reset_after:
                hz, hr, hh = np.split(h @ rkernel + b_rec, 3, axis=-1)
                z = ract(xz + hz)
                r = ract(xr + hr)
                cand = act(xh + r * hh)
            else:
                u = units
                z = ract(xz + h @ rkernel[:, :u])
                r = ract(xr + h @ rkernel[:, u:2 * u])
                cand = act(xh + (r * h) @ rkernel[:, 2 * u:])
            h, c = _masked_step(mask, t, h, c, z * h + (1.0 - z) * cand, c)
            seq.append(_masked_out(mask, t, h, zero_masked))
    elif cls == "LSTM":
        xw = x @ kernel + (bias if bias is not None else 0.0)
        for t in range(T):
            zi, zf, zc, zo = np.split(xw[:, t] + h @ rkernel, 4, axis=-1)
            i, f, o = ract(zi), ract(zf), ract(zo)
            c_new = f * c + i * act(zc)
            h, c = _masked_step(mask, t, h, c, o * act(c_new), c_new)
            seq.append(_masked_out(mask, t, h, zero_masked))
    elif cls == "SimpleRNN":
        xw = x @ kernel + (bias if bias is not None else 0.0)
        for t in range(T):
            h, c = _masked_step(mask, t, h, c, act(xw[:, t] + h @ rkernel), c)
            seq.append(_masked_out(mask, t, h, zero_masked))
    else:
        raise NotImplementedError(cls)
    if cfg.get("return_sequences"):
        return np.stack(seq, axis=1)                   # processing order
    return h


RNN_CLASSES = ("SimpleRNN", "LSTM", "GRU")


def _masked_step(mask, t, h, c, h_new, c_new):
    """Keras: a masked step leaves the states as they were."""
    if mask is None:
        return h_new, c_new
    m = mask[:, t:t + 1].astype(bool)
    return np.where(m, h_new, h), np.where(m, c_new, c)


def _masked_out(mask, t, h, zero_masked):
    if mask is not None and zero_masked:
        return np.where(mask[:, t:t + 1].astype(bool), h, 0.0)
    return h


# --------------------------------------------------------------------------
# layers
# --------------------------------------------------------------------------
IDENTITY = {"InputLayer", "Dropout", "SpatialDropout1D", "SpatialDropout2D",
            "SpatialDropout3D", "GaussianNoise", "GaussianDropout",
            "AlphaDropout", "ActivityRegularization"}
MERGE = {"Concatenate", "Add", "Subtract", "Multiply", "Average",
         "Maximum", "Minimum"}
# layers added in 0.3.0: class -> method
EXTRA = {"Cropping1D": "_crop", "Cropping2D": "_crop",
         "UpSampling1D": "_upsample", "UpSampling2D": "_upsample",
         "RepeatVector": "_repeat", "Rescaling": "_rescale",
         "Normalization": "_normalize", "PReLU": "_prelu",
         "UnitNormalization": "_unit_norm", "GroupNormalization": "_group_norm",
         "DepthwiseConv2D": "_depthwise_conv", "SeparableConv1D": "_separable_conv",
         "SeparableConv2D": "_separable_conv", "Conv1DTranspose": "_conv_transpose",
         "Conv2DTranspose": "_conv_transpose", "TimeDistributed": "_time_distributed"}
# layers with Keras' supports_masking that pass their input's mask on
MASK_KEEP = IDENTITY | MERGE | {
    "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "ThresholdedReLU",
    "Dense", "BatchNormalization", "LayerNormalization", "TimeDistributed"}


class Layer:
    def __init__(self, cls, cfg, keras_major):
        self.cls, self.cfg, self.keras_major = cls, cfg, keras_major
        self.name = cfg.get("name")
        self.weights = []
        self.inbound = []         # names of input layers (Functional)
        self.nodes = []           # per call: [(input layer, its node)]

    def n_weights(self):
        return len(self.weights)

    def __call__(self, inputs, masks=None):
        c, cfg, w, km = self.cls, self.cfg, self.weights, self.keras_major
        mask = masks[0] if masks else None
        if c in MERGE:
            return self._merge(inputs)
        if c == "Dot":
            return self._dot(inputs)
        if c == "Attention":
            return self._attention(inputs, masks or [])
        if c == "MultiHeadAttention":
            return self._mha(inputs, masks or [])
        if len(inputs) != 1:
            raise ValueError("%s expects one input" % self.name)
        x = inputs[0]
        if c in IDENTITY:
            return x
        if c == "Embedding":
            ids = np.asarray(x).astype(np.int64)
            if ids.min() < 0 or ids.max() >= w[0].shape[0]:
                raise ValueError("embedding index out of range")
            return w[0][ids]
        x = np.asarray(x, dtype=np.float64)
        if c == "Dense":
            y = x @ w[0]
            if cfg.get("use_bias", True):
                y = y + w[1]
            return activation_fn(cfg.get("activation"), km)(y)
        if c == "Activation":
            return activation_fn(cfg["activation"], km)(x)
        if c == "Flatten":
            _check_channels_last(cfg)
            return x.reshape(x.shape[0], -1)
        if c == "Reshape":
            return x.reshape((x.shape[0],) + tuple(cfg["target_shape"]))
        if c == "Permute":
            return np.transpose(x, (0,) + tuple(int(d) for d in cfg["dims"]))
        if c in ("Conv1D", "Conv2D"):
            return self._conv(x)
        if c in ("MaxPooling1D", "MaxPooling2D",
                 "AveragePooling1D", "AveragePooling2D"):
            return self._pool(x)
        if c == "GlobalAveragePooling1D" and mask is not None:
            # Keras: the mean of the real steps (all masked: 0 here, 0/0 there)
            m = mask.astype(np.float64)[:, :, None]
            y = (x * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1.0)
            return y[:, None, :] if cfg.get("keepdims") else y
        if c.startswith("Global") and c[-2:] in ("1D", "2D"):
            _check_channels_last(cfg)
            axes = (1,) if c.endswith("1D") else (1, 2)
            f = np.mean if "Average" in c else np.max
            return f(x, axis=axes, keepdims=bool(cfg.get("keepdims", False)))
        if c == "Masking":
            return x * self.out_mask([x], masks)[:, :, None]
        if c == "BatchNormalization":
            return self._batchnorm(x)
        if c == "LayerNormalization":
            return self._layernorm(x)
        if c == "ReLU":
            mv = cfg.get("max_value")
            ns = float(cfg.get("negative_slope") or 0.0)
            th = float(cfg.get("threshold") or 0.0)
            y = np.where(x >= th, x, ns * (x - th))
            return y if mv is None else np.where(x >= mv, float(mv), y)
        if c == "LeakyReLU":
            a = cfg.get("negative_slope", cfg.get("alpha", 0.3))
            return np.where(x >= 0, x, float(a) * x)
        if c == "ELU":
            a = float(cfg.get("alpha", 1.0))
            return np.where(x > 0, x, a * np.expm1(np.minimum(x, 0.0)))
        if c == "ThresholdedReLU":
            return np.where(x > float(cfg.get("theta", 1.0)), x, 0.0)
        if c == "Softmax":
            ax = cfg.get("axis", -1)
            return _softmax(x, tuple(ax) if isinstance(ax, list) else ax)
        if c in EXTRA:
            return getattr(self, EXTRA[c])(x)
        if c in RNN_CLASSES:
            return _run_rnn(c, cfg, w, x, km, mask)
        if c == "Bidirectional":
            return self._bidirectional(x, mask)
        raise NotImplementedError("layer class %r" % c)

    # -- layers added in 0.3.0 (Keras documentation semantics) -------------
    def _rank(self):
        return 1 if "1D" in self.cls else 2

    def _crop(self, x):
        n = self._rank()
        cr = self.cfg.get("cropping", 1 if n == 1 else 0)
        if isinstance(cr, int):
            pairs = [(cr, cr)] * n
        elif n == 1:
            pairs = [tuple(cr)]
        else:
            pairs = [tuple(p) if isinstance(p, (list, tuple)) else (p, p) for p in cr]
        sl = [slice(None)] + [slice(a, x.shape[1 + i] - b)
                              for i, (a, b) in enumerate(pairs)] + [slice(None)]
        return x[tuple(sl)]

    def _upsample(self, x):
        n = self._rank()
        size = _tuple(self.cfg.get("size", 2), n)
        if self.cfg.get("interpolation", "nearest") != "nearest":
            raise NotImplementedError("interpolation %r" % self.cfg["interpolation"])
        for a in range(n):
            x = np.repeat(x, size[a], axis=1 + a)
        return x

    def _repeat(self, x):
        return np.repeat(x[:, None, :], int(self.cfg["n"]), axis=1)

    def _rescale(self, x):
        return x * np.asarray(self.cfg.get("scale", 1.0)) + np.asarray(
            self.cfg.get("offset", 0.0))

    def _normalize(self, x):
        cfg, w = self.cfg, self.weights
        axis = cfg.get("axis", -1)
        axes = [] if axis is None else sorted(
            a % x.ndim for a in (axis if isinstance(axis, (list, tuple)) else [axis]))
        if cfg.get("mean") is not None:
            mean, var = np.asarray(cfg["mean"]), np.asarray(cfg["variance"])
        else:
            mean, var = w[0], w[1]
        shape = [1] * x.ndim
        for a in axes:
            shape[a] = x.shape[a]
        mean = np.broadcast_to(mean, [x.shape[a] for a in axes]).reshape(shape)
        var = np.broadcast_to(var, [x.shape[a] for a in axes]).reshape(shape)
        sd = np.maximum(np.sqrt(var), 1e-7)
        return x * sd + mean if cfg.get("invert") else (x - mean) / sd

    def _prelu(self, x):
        return np.maximum(x, 0.0) - self.weights[0] * np.maximum(-x, 0.0)

    def _unit_norm(self, x):
        axes = tuple(self._norm_axes(x, self.cfg.get("axis", -1)))
        return x / np.sqrt(np.maximum(np.sum(x * x, axis=axes, keepdims=True), 1e-12))

    def _group_norm(self, x):
        cfg, w = self.cfg, list(self.weights)
        g = int(cfg.get("groups", 32))
        if self._norm_axes(x, cfg.get("axis", -1)) != [x.ndim - 1]:
            raise NotImplementedError("GroupNormalization on another axis than the last")
        C = x.shape[-1]
        xg = x.reshape(x.shape[:-1] + (g, C // g))
        red = tuple(range(1, xg.ndim - 2)) + (xg.ndim - 1,)
        mean = xg.mean(axis=red, keepdims=True)
        var = ((xg - mean) ** 2).mean(axis=red, keepdims=True)
        y = ((xg - mean) / np.sqrt(var + float(cfg.get("epsilon", 1e-3)))).reshape(x.shape)
        if cfg.get("scale", True):
            y = y * w.pop(0)
        if cfg.get("center", True):
            y = y + w.pop(0)
        return y

    def _depthwise(self, x, kernel, strides, dil, padding):
        """kernel (*ks, C, M): channel c*M+m = sum_tap x[..., c] k[tap, c, m]"""
        n = kernel.ndim - 2
        ks = kernel.shape[:n]
        xp, _ = _pad_spatial(x, padding, ks, strides, dil)
        y = 0.0
        for tap, view in _windows(xp, ks, strides, dil):
            y = y + view[..., :, None] * kernel[tap]
        return y.reshape(y.shape[:-2] + (-1,))

    def _depthwise_conv(self, x):
        cfg, w = self.cfg, self.weights
        _check_channels_last(cfg)
        strides = _tuple(cfg.get("strides", 1), 2)
        dil = _tuple(cfg.get("dilation_rate", 1), 2)
        y = self._depthwise(x, w[0], strides, dil, cfg.get("padding", "valid"))
        if cfg.get("use_bias", True):
            y = y + w[1]
        return activation_fn(cfg.get("activation"), self.keras_major)(y)

    def _separable_conv(self, x):
        cfg, w = self.cfg, self.weights
        _check_channels_last(cfg)
        n = self._rank()
        strides = _tuple(cfg.get("strides", 1), n)
        dil = _tuple(cfg.get("dilation_rate", 1), n)
        y = self._depthwise(x, w[0], strides, dil, cfg.get("padding", "valid"))
        y = y @ w[1].reshape(-1, w[1].shape[-1])
        if cfg.get("use_bias", True):
            y = y + w[2]
        return activation_fn(cfg.get("activation"), self.keras_major)(y)

    def _conv_transpose(self, x):
        """The gradient of a convolution with respect to its input: each
        input position adds kernel[tap] x to output position i*s + tap*d -
        pad (TF conv_transpose); Keras' deconv_output_length sizes it."""
        cfg, w = self.cfg, self.weights
        _check_channels_last(cfg)
        n = self._rank()
        kernel = w[0]                                   # (*ks, filters, C)
        ks = kernel.shape[:n]
        s = _tuple(cfg.get("strides", 1), n)
        d = _tuple(cfg.get("dilation_rate", 1), n)
        if cfg.get("output_padding") is not None:
            raise NotImplementedError("output_padding")
        pad = cfg.get("padding", "valid")
        sizes, before = [], []
        for a in range(n):
            keff = (ks[a] - 1) * d[a] + 1
            L = x.shape[1 + a]
            sizes.append(L * s[a] + max(keff - s[a], 0) if pad == "valid" else L * s[a])
            before.append(0 if pad == "valid" else max(keff - s[a], 0) // 2)
        full = [max((x.shape[1 + a] - 1) * s[a] + (ks[a] - 1) * d[a] + 1,
                    before[a] + sizes[a]) for a in range(n)]
        y = np.zeros((x.shape[0],) + tuple(full) + (kernel.shape[-2],))
        for pos in np.ndindex(*x.shape[1:1 + n]):
            xv = x[(slice(None),) + pos]                # (B, C)
            for tap in np.ndindex(*ks):
                o = tuple(pos[a] * s[a] + tap[a] * d[a] for a in range(n))
                y[(slice(None),) + o] += xv @ kernel[tap].T
        y = y[(slice(None),) + tuple(slice(before[a], before[a] + sizes[a])
                                     for a in range(n))]
        if cfg.get("use_bias", True):
            y = y + w[1]
        return activation_fn(cfg.get("activation"), self.keras_major)(y)

    def _time_distributed(self, x):
        inner = self.cfg["layer"]
        layer = Layer(inner["class_name"], inner["config"], self.keras_major)
        layer.weights = self.weights
        B, T = x.shape[:2]
        y = layer([x.reshape((B * T,) + x.shape[2:])])
        return y.reshape((B, T) + y.shape[1:])

    def _attention(self, xs, masks):
        """Keras Attention, dot scores: softmax(scale q k^T) v, masked value
        steps pushed to -1e9, masked query steps' outputs zeroed."""
        cfg = self.cfg
        if cfg.get("score_mode", "dot") != "dot":
            raise NotImplementedError("score_mode %r" % cfg["score_mode"])
        q, v = [np.asarray(a, dtype=np.float64) for a in xs[:2]]
        k = np.asarray(xs[2], dtype=np.float64) if len(xs) > 2 else v
        s = np.einsum("bqd,bvd->bqv", q, k)
        if cfg.get("use_scale"):
            s = s * float(np.ravel(self.weights[0])[0])
        vm = masks[1] if len(masks) > 1 else None
        if vm is not None:
            s = s - 1e9 * (1.0 - vm[:, None, :].astype(np.float64))
        out = _softmax(s, -1) @ v
        qm = masks[0] if masks else None
        return out if qm is None else out * qm[..., None]

    def _mha(self, xs, masks):
        """Keras MultiHeadAttention over the last axis: per head
        softmax(q k^T / sqrt(key_dim)) v, pairs with a masked query or value
        step pushed to -1e9, heads joined by the output kernel."""
        cfg, ws = self.cfg, list(self.weights)
        if cfg.get("attention_axes") is not None or cfg.get("output_shape") is not None:
            raise NotImplementedError("attention_axes / output_shape")
        q_in, v_in = [np.asarray(a, dtype=np.float64) for a in xs[:2]]
        k_in = np.asarray(xs[2], dtype=np.float64) if len(xs) > 2 else v_in
        bias = cfg.get("use_bias", True)
        p = {}
        for part in ("q", "k", "v", "o"):
            p[part] = (ws.pop(0), ws.pop(0) if bias else 0.0)
        Q = np.einsum("btd,dhk->bthk", q_in, p["q"][0]) + p["q"][1]
        K = np.einsum("btd,dhk->bthk", k_in, p["k"][0]) + p["k"][1]
        V = np.einsum("btd,dhk->bthk", v_in, p["v"][0]) + p["v"][1]
        S = np.einsum("bqhk,bvhk->bhqv", Q / np.sqrt(Q.shape[-1]), K)
        m = np.ones((S.shape[0], S.shape[2], S.shape[3]), dtype=bool)
        if masks and masks[0] is not None:
            m &= masks[0][:, :, None].astype(bool)
        if len(masks) > 1 and masks[1] is not None:
            m &= masks[1][:, None, :].astype(bool)
        S = S - 1e9 * (1.0 - m[:, None].astype(np.float64))
        O = np.einsum("bhqv,bvhk->bqhk", _softmax(S, -1), V)
        return np.einsum("bqhk,hkd->bqd", O, p["o"][0]) + p["o"][1]

    def _dot(self, xs):
        a, b = [np.asarray(v, dtype=np.float64) for v in xs]
        axes = self.cfg.get("axes", -1)
        axes = list(axes) if isinstance(axes, (list, tuple)) else [axes, axes]
        axes = [ax % v.ndim for ax, v in zip(axes, (a, b))]
        if self.cfg.get("normalize"):
            a = a / np.sqrt(np.maximum(np.sum(a * a, axis=axes[0], keepdims=True), 1e-12))
            b = b / np.sqrt(np.maximum(np.sum(b * b, axis=axes[1], keepdims=True), 1e-12))
        out = np.stack([np.tensordot(a[i], b[i], axes=(axes[0] - 1, axes[1] - 1))
                        for i in range(a.shape[0])])
        return out.reshape(a.shape[0], 1) if out.ndim == 1 else out

    # -- masks --------------------------------------------------------------
    def out_mask(self, inputs, masks):
        """The Keras mask this layer's output carries (bool (B, steps)), or
        None: Embedding(mask_zero) and Masking make one, the layers with
        supports_masking pass theirs on, the others drop it."""
        c, cfg = self.cls, self.cfg
        if c == "Embedding":
            return np.asarray(inputs[0]) != 0 if cfg.get("mask_zero") else None
        if c == "Masking":
            v = float(cfg.get("mask_value", 0.0))
            return np.any(np.asarray(inputs[0]) != v, axis=-1)
        given = [m for m in (masks or []) if m is not None]
        if not given:
            return None
        if c in RNN_CLASSES or c == "Bidirectional":
            inner = cfg["layer"]["config"] if c == "Bidirectional" else cfg
            return given[0] if inner.get("return_sequences") else None
        if c == "Concatenate" and int(cfg.get("axis", -1)) != -1:
            return None
        if c in ("Attention", "MultiHeadAttention"):
            return masks[0] if masks else None
        if c in MASK_KEEP:
            return np.logical_and.reduce(given)
        return None

    # -- pieces -----------------------------------------------------------
    def _conv(self, x):
        cfg, w = self.cfg, self.weights
        _check_channels_last(cfg)
        n = 1 if self.cls == "Conv1D" else 2
        if int(cfg.get("groups", 1)) != 1:
            raise NotImplementedError("grouped convolution")
        kernel = w[0]                                    # (*ks, Cin, Cout)
        ks = kernel.shape[:n]
        strides = _tuple(cfg.get("strides", 1), n)
        dil = _tuple(cfg.get("dilation_rate", 1), n)
        xp, _ = _pad_spatial(x, cfg.get("padding", "valid"), ks, strides, dil)
        y = 0.0
        for tap, view in _windows(xp, ks, strides, dil):
            y = y + view @ kernel[tap]
        if cfg.get("use_bias", True):
            y = y + w[1]
        return activation_fn(cfg.get("activation"), self.keras_major)(y)

    def _pool(self, x):
        cfg = self.cfg
        _check_channels_last(cfg)
        n = 1 if self.cls.endswith("1D") else 2
        ks = _tuple(cfg.get("pool_size", 2), n)
        strides = _tuple(cfg.get("strides"), n) or ks
        one = (1,) * n
        pad = cfg.get("padding", "valid")
        is_max = self.cls.startswith("Max")
        xp, _ = _pad_spatial(x, pad, ks, strides, one,
                             fill=-np.inf if is_max else 0.0)
        if is_max:
            return np.max([v for _, v in _windows(xp, ks, strides, one)],
                          axis=0)
        # average: TF 'same' pooling divides by the count of real elements
        mask, _ = _pad_spatial(np.ones((1,) + x.shape[1:]), pad, ks, strides,
                               one)
        tot = sum(v for _, v in _windows(xp, ks, strides, one))
        cnt = sum(v for _, v in _windows(mask, ks, strides, one))
        return tot / cnt

    def _norm_axes(self, x, axis):
        axes = axis if isinstance(axis, (list, tuple)) else [axis]
        return sorted(a % x.ndim for a in axes)

    def _batchnorm(self, x):
        cfg, w = self.cfg, list(self.weights)
        axes = self._norm_axes(x, cfg.get("axis", -1))
        gamma = w.pop(0) if cfg.get("scale", True) else 1.0
        beta = w.pop(0) if cfg.get("center", True) else 0.0
        mean, var = w[0], w[1]
        shape = [1] * x.ndim
        for a in axes:
            shape[a] = x.shape[a]
        r = lambda v: np.reshape(v, shape) if np.ndim(v) else v
        eps = float(cfg.get("epsilon", 1e-3))
        return (x - r(mean)) / np.sqrt(r(var) + eps) * r(gamma) + r(beta)

    def _layernorm(self, x):
        cfg, w = self.cfg, list(self.weights)
        if cfg.get("rms_scaling"):
            raise NotImplementedError("rms_scaling")
        axes = tuple(self._norm_axes(x, cfg.get("axis", -1)))
        gamma = w.pop(0) if cfg.get("scale", True) else 1.0
        beta = w.pop(0) if cfg.get("center", True) else 0.0
        mean = x.mean(axis=axes, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
        shape = [1] * x.ndim
        for a in axes:
            shape[a] = x.shape[a]
        r = lambda v: np.reshape(v, shape) if np.ndim(v) else v
        eps = float(cfg.get("epsilon", 1e-3))
        return (x - mean) / np.sqrt(var + eps) * r(gamma) + r(beta)

    def _bidirectional(self, x, mask=None):
        cfg, km = self.cfg, self.keras_major
        inner = cfg["layer"]
        cls, fcfg = inner["class_name"], dict(inner["config"])
        if cls not in RNN_CLASSES:
            raise NotImplementedError("Bidirectional(%s)" % cls)
        if "backward_layer" in cfg and cfg["backward_layer"]:
            bcfg = dict(cfg["backward_layer"]["config"])
        else:
            bcfg = dict(fcfg, go_backwards=not fcfg.get("go_backwards"))
        half = len(self.weights) // 2
        zero = bool(fcfg.get("return_sequences"))
        yf = _run_rnn(cls, fcfg, self.weights[:half], x, km, mask, zero)
        yb = _run_rnn(cls, bcfg, self.weights[half:], x, km, mask, zero)
        if fcfg.get("return_sequences"):
            yb = yb[:, ::-1]                     # back to input time order
        mode = cfg.get("merge_mode", "concat")
        if mode == "concat":
            return np.concatenate([yf, yb], axis=-1)
        if mode == "sum":
            return yf + yb
        if mode == "mul":
            return yf * yb
        if mode == "ave":
            return (yf + yb) / 2.0
        raise NotImplementedError("merge_mode %r" % mode)

    def _merge(self, xs):
        xs = [np.asarray(v, dtype=np.float64) for v in xs]
        c = self.cls
        if c == "Concatenate":
            return np.concatenate(xs, axis=int(self.cfg.get("axis", -1)))
        if c == "Subtract":
            return xs[0] - xs[1]
        out = xs[0]
        for v in xs[1:]:
            if c in ("Add", "Average"):
                out = out + v
            elif c == "Multiply":
                out = out * v
            elif c == "Maximum":
                out = np.maximum(out, v)
            elif c == "Minimum":
                out = np.minimum(out, v)
        return out / len(xs) if c == "Average" else out


# --------------------------------------------------------------------------
# model
# --------------------------------------------------------------------------
class Model:
    def __init__(self, layers, inputs, outputs, keras_version):
        self.layers = layers                 # OrderedDict name -> Layer
        self.input_names = inputs            # names of input layers
        self.output_nodes = [o if isinstance(o, tuple) else (o, 0) for o in outputs]
        self.output_names = [n for n, _ in self.output_nodes]
        self.keras_version = keras_version

    def pools_by_max(self):
        """Whether the model reduces its positions by global max pooling only
        (no global average pooling): its perception vector pools by max."""
        kinds = [l.cls for l in self.layers.values()]
        return (any(k.startswith("GlobalMaxPooling") for k in kinds)
                and not any(k.startswith("GlobalAveragePooling") for k in kinds))

    def forward(self, x):
        """x: array (one input) or list/dict of arrays.  Returns an
        OrderedDict {layer name: activation} in execution order plus
        OUTPUT_KEY -> final output (a list when the model has several)."""
        if isinstance(x, dict):
            feeds = [x[n] for n in self.input_names]
        elif isinstance(x, (list, tuple)):
            feeds = list(x)
        else:
            feeds = [x]
        if len(feeds) != len(self.input_names):
            raise ValueError("model takes %d inputs" % len(self.input_names))
        acts = OrderedDict()
        masks = {}
        for name, v in zip(self.input_names, feeds):
            v = np.asarray(v)
            first = self._consumer(name)
            if not (first is not None and first.cls == "Embedding"):
                v = v.astype(np.float64)
            acts[name] = v
        # every call (node) of every layer, once its inputs are known: a
        # shared layer is called at several nodes, a nested model is a layer
        nacts = {(n, 0): v for n, v in acts.items()}
        pending = []
        for name, layer in self.layers.items():
            if name in acts:
                if layer.cls == "InputLayer":
                    continue
                # Sequential without InputLayer: the first layer's input
                src = [acts.pop(name)]
                acts[name] = nacts[(name, 0)] = layer(src)
                masks[(name, 0)] = layer.out_mask(src, [])
                continue
            pending += [(name, k) for k in range(len(layer.nodes))]
        while pending:
            ready = [(n, k) for n, k in pending
                     if all(s in nacts for s in self.layers[n].nodes[k])]
            if not ready:
                raise ValueError("unreachable layers %r" % pending)
            for n, k in ready:
                layer, srcs = self.layers[n], self.layers[n].nodes[k]
                src = [nacts[s] for s in srcs]
                in_masks = [masks.get(s) for s in srcs]
                nacts[(n, k)] = layer(src, in_masks)
                masks[(n, k)] = layer.out_mask(src, in_masks)
                acts[n if k == 0 else "%s:%d" % (n, k)] = nacts[(n, k)]
                pending.remove((n, k))
        outs = [nacts[(n, k)] for n, k in self.output_nodes]
        acts[OUTPUT_KEY] = outs[0] if len(outs) == 1 else outs
        return acts

    def predict(self, x):
        return self.forward(x)[OUTPUT_KEY]

    def _consumer(self, name):
        layer = self.layers.get(name)
        if layer is not None and layer.cls != "InputLayer":
            return layer
        for l in self.layers.values():
            if name in l.inbound:
                return l
        return None


def _keras_major(version):
    if isinstance(version, bytes):
        version = version.decode()
    m = re.match(r"\s*(\d+)", str(version or ""))
    return int(m.group(1)) if m else 2


def _inbound_nodes(entry):
    """Per call of the layer, its inputs as (layer name, node index)."""
    out = []
    for node in entry.get("inbound_nodes") or []:
        if isinstance(node, dict):                           # Keras 3
            out.append([(h[0], int(h[1])) for h in _histories(node.get("args", []))])
        else:                                                # Keras 2
            call = [(t[0], int(t[1])) for t in node]
            if entry.get("class_name") == "MultiHeadAttention" and node and len(node[0]) > 3:
                # value and key passed by keyword: in the first input's kwargs
                call += [(node[0][3][k][0], int(node[0][3][k][1]))
                         for k in ("value", "key") if k in node[0][3]]
            out.append(call)
    return out


def _histories(obj):
    out = []
    if isinstance(obj, dict):
        if "keras_history" in obj.get("config", {}):
            out.append(obj["config"]["keras_history"])
        else:
            for v in obj.values():
                out.extend(_histories(v))
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            out.extend(_histories(v))
    return out


def _io_names(spec):
    if spec and isinstance(spec[0], str):                    # single ["n",0,0]
        spec = [spec]
    return [s[0] for s in spec]


def _io_nodes(spec):
    if spec and isinstance(spec[0], str):
        spec = [spec]
    return [(s[0], int(s[1])) for s in spec]


class NestedModel(Layer):
    """A Sequential or Functional model called as a layer of another."""

    def __init__(self, model, name):
        super().__init__("Model", {"name": name}, 2)
        self.model = model

    def __call__(self, inputs, masks=None):
        return self.model.forward(list(inputs))[OUTPUT_KEY]

    def out_mask(self, inputs, masks):
        return None

    def set_weights(self, names, arrays):
        """Legacy .h5: the nested model's group lists every inner weight;
        an inner layer's are those whose path names it."""
        for lname, layer in self.model.layers.items():
            layer.weights = [a for n, a in zip(names, arrays)
                             if lname in n.split("/")[:-1]]


def build_model(config, keras_version):
    """Create a Model (without weights) from a parsed model_config."""
    km = _keras_major(keras_version)
    cls, cfg = config["class_name"], config["config"]
    layers = OrderedDict()
    if cls == "Sequential":
        entries = cfg if isinstance(cfg, list) else cfg["layers"]
        prev = None
        inputs = []
        for i, e in enumerate(entries):
            l = Layer(e["class_name"], e["config"], km)
            if l.name is None:
                l.name = "layer_%d" % i
            if prev is None:
                inputs = [l.name]
            else:
                l.inbound = [prev]
                l.nodes = [[(prev, 0)]]
            layers[l.name] = l
            prev = l.name
        return Model(layers, inputs, [prev], keras_version)
    if cls in ("Model", "Functional"):
        for e in cfg["layers"]:
            name = e.get("name", e["config"].get("name"))
            if e["class_name"] in ("Sequential", "Model", "Functional"):
                l = NestedModel(build_model(e, keras_version), name)
            else:
                l = Layer(e["class_name"], e["config"], km)
            l.name = name
            l.nodes = _inbound_nodes(e)
            l.inbound = [s for s, _ in l.nodes[0]] if l.nodes else []
            layers[l.name] = l
        return Model(layers, _io_names(cfg["input_layers"]),
                     _io_nodes(cfg["output_layers"]), keras_version)
    raise NotImplementedError("model class %r" % cls)


def _as_str(v):
    if isinstance(v, bytes):
        return v.decode("utf-8")
    if isinstance(v, np.ndarray) and v.shape == ():
        return _as_str(v[()])
    return str(v)


def _weight(ds):
    """Keras only ever stores floating-point weights; reject anything else."""
    if ds.dtype.kind != "f":
        raise TypeError("weight %s has non-float dtype %s" % (ds.name, ds.dtype))
    return np.asarray(ds[()], dtype=np.float64)


def _load_h5(path):
    with h5py.File(path, "r") as f:
        if "model_config" not in f.attrs:
            raise ValueError("%s: no model_config attribute" % path)
        config = json.loads(_as_str(f.attrs["model_config"]))
        version = _as_str(f.attrs.get("keras_version", "2"))
        model = build_model(config, version)
        mw = f["model_weights"] if "model_weights" in f else f
        for name, layer in model.layers.items():
            if name not in mw:
                continue
            g = mw[name]
            wn = [_as_str(n) for n in g.attrs.get("weight_names", [])]
            if isinstance(layer, NestedModel):
                layer.set_weights(wn, [_weight(g[n]) for n in wn])
            else:
                layer.weights = [_weight(g[n]) for n in wn]
    return model


def _snake(name):
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _collect_vars(g):
    """Variables of one .keras layer group, then its sub-layers'."""
    out = []
    if "vars" in g:
        v = g["vars"]
        out += [_weight(v[k]) for k in sorted(v.keys(), key=int)]
    for sub in ("forward_layer", "backward_layer", "cell"):
        if sub in g:
            out += _collect_vars(g[sub])
    return out


def _load_keras_zip(path):
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        if "config.json" not in names:
            raise ValueError("%s: no config.json in archive" % path)
        config = json.loads(z.read("config.json"))
        version = "3"
        if "metadata.json" in names:
            version = json.loads(z.read("metadata.json")).get(
                "keras_version", "3")
        wbytes = z.read("model.weights.h5")
    model = build_model(config, version)
    with h5py.File(io.BytesIO(wbytes), "r") as f:
        root = f["layers"] if "layers" in f else f
        used = {}
        for name, layer in model.layers.items():
            key = _snake(layer.cls)
            if key in used:
                used[key] += 1
                key = "%s_%d" % (key, used[key])
            else:
                used[key] = 0
            g = root[key] if key in root else root.get(name)
            if g is not None:
                layer.weights = _collect_vars(g)
    return model


def load(path):
    """Load a Keras model file (.h5 legacy or .keras zip)."""
    if zipfile.is_zipfile(path):
        return _load_keras_zip(path)
    return _load_h5(path)


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("input", help=".npy file (batch first)")
    ap.add_argument("--layers", action="store_true",
                    help="print every layer's activation, not just output")
    a = ap.parse_args(argv)
    model = load(a.model)
    acts = model.forward(np.load(a.input))
    np.set_printoptions(precision=9, suppress=False, linewidth=120)
    items = acts.items() if a.layers else [(OUTPUT_KEY, acts[OUTPUT_KEY])]
    for k, v in items:
        print("%s %s\n%s" % (k, np.shape(v), np.asarray(v)))


if __name__ == "__main__":
    main(sys.argv[1:])
