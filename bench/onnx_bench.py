#!/usr/bin/python3
"""bench/onnx_bench.py - exported PyTorch models: tensorlens vs PyTorch eager.

  OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/onnx_bench.py --dsn DSN --work DIR \
      [--rows 5000] [--rounds 3]

Two models with seeded random weights, exported with torch.onnx.export
(opset 13, dynamic batch axis) and imported with tl_model_import:
  text_cnn   IMDB-sized: Embedding(10000, 64), Conv1d(64, 128, 5) + ReLU,
             max over time, Linear(128, 2); 200 token ids per sample
  image_cnn  Fashion-MNIST-sized: (1, 28, 28), Conv2d 32 3x3 pad 1 + ReLU,
             MaxPool 2, Conv2d 64 3x3 pad 1 + ReLU, MaxPool 2, Linear 3136 ->
             128 + ReLU, Linear 128 -> 10
The same random inputs (--rows per model) are stored in a table and run
through tl_infer_batch (wall time measured by the client around the
statement), and through the torch module in eval() under no_grad, one
thread (torch.set_num_threads(1)), in batches of the same size; the best of
the batch sizes and of --rounds interleaved rounds counts on both sides.
Outputs are compared (max abs difference) before timing.  Prints one line
per model: rows/s of each and the ratio tensorlens / torch.
"""
import argparse
import io
import os
import time

import numpy as np
import psycopg2
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)


class TextCNN(nn.Module):
    def __init__(s):
        super().__init__()
        s.emb = nn.Embedding(10000, 64)
        s.conv = nn.Conv1d(64, 128, 5)
        s.fc = nn.Linear(128, 2)

    def forward(s, x):
        h = torch.relu(s.conv(s.emb(x).permute(0, 2, 1)))
        return s.fc(h.max(dim=2)[0])


class ImageCNN(nn.Module):
    def __init__(s):
        super().__init__()
        s.c1 = nn.Conv2d(1, 32, 3, padding=1)
        s.c2 = nn.Conv2d(32, 64, 3, padding=1)
        s.f1 = nn.Linear(64 * 7 * 7, 128)
        s.f2 = nn.Linear(128, 10)

    def forward(s, x):
        h = F.max_pool2d(torch.relu(s.c1(x)), 2)
        h = F.max_pool2d(torch.relu(s.c2(h)), 2)
        return s.f2(torch.relu(s.f1(torch.flatten(h, 1))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dsn", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--rows", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    models = {
        "text_cnn": (TextCNN(), torch.randint(1, 10000, (a.rows, 200), generator=g)),
        "image_cnn": (ImageCNN(), torch.rand((a.rows, 1, 28, 28), generator=g)),
    }
    con = psycopg2.connect(a.dsn)
    con.autocommit = True
    cur = con.cursor()
    cur.execute("SET tensorlens.max_batch_memory = '256MB'")
    results = []
    for name, (m, x) in models.items():
        m.eval()
        buf = io.BytesIO()
        torch.onnx.export(m, x[:2], buf, opset_version=13, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
        cur.execute("SELECT tl_model_import(%s, %s)", (name, psycopg2.Binary(buf.getvalue())))
        tokens = x.dtype == torch.int64
        cur.execute("DROP TABLE IF EXISTS bench_%s" % name)
        cur.execute("CREATE TABLE bench_%s (id int, x %s)" % (name, "int[]" if tokens else "real[]"))
        rows = io.StringIO()
        for i in range(a.rows):
            v = x[i].flatten().tolist()
            rows.write("%d\t{%s}\n" % (i, ",".join(str(int(t)) if tokens else "%.7g" % t for t in v)))
        rows.seek(0)
        cur.copy_expert("COPY bench_%s FROM STDIN" % name, rows)
        cur.execute("ANALYZE bench_%s" % name)
        with torch.no_grad():
            want = m(x).numpy()
        cur.execute("SELECT id::int, output FROM tl_infer_batch(%s, %s)",
                    (name, "SELECT id, x FROM bench_%s" % name))
        got = np.zeros_like(want)
        for i, out in cur.fetchall():
            got[i] = out
        err = float(np.abs(got - want).max())
        best_tl, best_torch = float("inf"), float("inf")
        for _ in range(a.rounds):
            for bs in (64, 256, 1024):
                t0 = time.perf_counter()
                cur.execute("SELECT count(*) FROM tl_infer_batch(%s, %s, %s)",
                            (name, "SELECT id, x FROM bench_%s" % name, bs))
                cur.fetchall()
                best_tl = min(best_tl, time.perf_counter() - t0)
                t0 = time.perf_counter()
                with torch.no_grad():
                    for i in range(0, a.rows, bs):
                        m(x[i:i + bs])
                best_torch = min(best_torch, time.perf_counter() - t0)
        results.append((name, a.rows / best_tl, a.rows / best_torch, best_torch / best_tl, err))
    lines = ["%-10s tensorlens %8.0f rows/s  torch eager %8.0f rows/s  ratio %.2f  (max |diff| %.2g)" % r
             for r in results]
    print("\n".join(lines))
    with open(os.path.join(a.work, "onnx_summary.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
