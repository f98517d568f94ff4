#!/usr/bin/python3
"""make_long_model.py OUT.h5 - a token model slow enough for the fault test.

Embedding(1000, 32) over 2000 tokens, two Conv1D(64, 5, relu), global max
pooling, Dense(1, sigmoid): one forward pass is about 0.1 GFLOP, so 1024
integrated-gradient steps or a 2000-token occlusion take tens of seconds.
Written with the fixture writers of test/fixtures/make_fixtures.py (the
legacy Keras 2 .h5 layout), deterministic weights.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, "..", "fixtures"))
from make_fixtures import L, W, conv, dense, plain, sequential, write_h5  # noqa: E402

LENGTH = 2000
w = W(20261129)
config, weights = sequential((LENGTH,), [
    (L("Embedding", "embedding", input_dim=1000, output_dim=32, mask_zero=False,
       input_length=LENGTH), [("embeddings", w(1000, 32))]),
    conv(w, "Conv1D", "conv1d", (5,), 32, 64, "relu"),
    conv(w, "Conv1D", "conv1d_1", (5,), 64, 64, "relu"),
    plain("GlobalMaxPooling1D", "global_max_pooling1d", data_format="channels_last"),
    dense(w, "dense", 64, 1, "sigmoid")])
write_h5(sys.argv[1], config, weights)
