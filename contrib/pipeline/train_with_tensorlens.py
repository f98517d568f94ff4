#!/usr/bin/python3
"""train_with_tensorlens.py - a training pipeline that logs every epoch into
tensorlens (issue 6, "Pipelines").

  /usr/bin/python3 contrib/pipeline/train_with_tensorlens.py            # 6000/1000/3
  /usr/bin/python3 contrib/pipeline/train_with_tensorlens.py --quick    # CI-sized
  /usr/bin/python3 contrib/pipeline/train_with_tensorlens.py --self-test  # no database

Trains the Fashion-MNIST CNN of contrib/fashion (PyTorch, CPU, one thread,
seeded) on the first --train training images.  After each epoch it evaluates
the first --test test images and, in ONE transaction per epoch:
  * stores the epoch's weights as the next revision of the model in tl_model
    (tl_model_import of the Keras .h5 export; --no-import skips it),
  * inserts a tl_run row (model, revision, dataset 'fashion-mnist', subset
    'test', epoch, class_names),
  * COPYs the epoch's results into tl_result (run, sample_id, label, output,
    loss, perception).
At COMMIT tensorlens' deferred trigger analyses the run (predictions, PCA
coordinates x/y/z, aligned to the previous epoch).  At the end the script
reads tl_population per epoch and prints accuracy, mean loss and how far the
dots moved since the previous epoch.

What the pipeline computes, the way tensorlens defines it:
  output      softmax probabilities (10 values)
  loss        sparse categorical cross-entropy as Keras computes it from the
              probabilities: -ln(clip(p[label], 1e-7, 1 - 1e-7))  (tl_loss)
  perception  for each learned layer except the output layer (conv2d,
              conv2d_1, dense) its post-activation output averaged over
              space to one value per channel, each block L2-normalised
              (an all-zero block stays zero), concatenated in layer order:
              16 + 32 + 64 = 112 values (tl_perception)
  sample_id   the image's index in t10k-images-idx3-ubyte (= fashion.id of
              contrib/fashion/load_fashion.sql)
--verify N checks the first N samples of every epoch against the database's
own tl_infer / tl_perception / tl_loss on the imported revision.
"""
import argparse
import io
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(REPO, "contrib", "fashion"))
import train_fashion_cnn as fc  # noqa: E402

DEFAULT_DSN = ("host=/var/lib/tensorlens port=5488 user=postgres "
               "dbname=tensorlens_demo")
EPS = 1e-7                      # Keras' backend epsilon (probability clip)


# --------------------------------------------------------------------------
# per-sample quantities
# --------------------------------------------------------------------------
def l2_blocks(blocks):
    """Normalise each (N, w) block to unit L2 norm per row (zero rows stay
    zero) and concatenate them."""
    out = []
    for b in blocks:
        b = np.asarray(b, dtype=np.float64)
        n = np.sqrt((b * b).sum(axis=1, keepdims=True))
        out.append(np.where(n > 0, b / np.where(n > 0, n, 1.0), 0.0))
    return np.concatenate(out, axis=1)


def perception_torch(model, x):
    """(softmax outputs, perception vectors) for images x (tensor (N,28,28)).
    The pooling happens in PyTorch: NCHW activations, mean over H and W."""
    torch = fc.torch
    model.eval()
    outs, percs = [], []
    with torch.no_grad():
        for i in range(0, x.shape[0], 500):
            logits, (a1, a2, a3) = model(x[i:i + 500], features=True)
            outs.append(torch.softmax(logits, dim=1))
            blocks = [a1.mean(dim=(2, 3)), a2.mean(dim=(2, 3)), a3]
            blocks = [b.double() for b in blocks]
            blocks = [b / b.norm(dim=1, keepdim=True).clamp_min(1e-300)
                      for b in blocks]
            percs.append(torch.cat(blocks, dim=1).float())
    return torch.cat(outs).numpy(), torch.cat(percs).numpy()


def keras_loss(out, labels):
    """-ln(clip(p[label], 1e-7, 1-1e-7)) in double, as tl_loss does."""
    p = np.asarray(out, dtype=np.float64)[np.arange(len(labels)), labels]
    return -np.log(np.clip(p, EPS, 1.0 - EPS))


def perception_numpy_ref(h5_path, images):
    """Independent reimplementation: run the exported Keras file through
    test/reference/keras_ref.py (NHWC, float64) and pool/normalise in numpy."""
    sys.path.insert(0, os.path.join(REPO, "test", "reference"))
    import keras_ref
    m = keras_ref.load(h5_path)
    acts = m.forward(np.asarray(images, dtype=np.float64).reshape(-1, 28, 28, 1))
    blocks = [acts["conv2d"].mean(axis=(1, 2)), acts["conv2d_1"].mean(axis=(1, 2)),
              acts["dense"]]
    return acts[keras_ref.OUTPUT_KEY], l2_blocks(blocks)


# --------------------------------------------------------------------------
# COPY text format
# --------------------------------------------------------------------------
def _arr(v):
    return "{" + ",".join(repr(float(f)) for f in np.asarray(v, dtype=np.float32)) + "}"


def copy_rows(run, ids, labels, out, loss, perc):
    buf = io.StringIO()
    for i in range(len(ids)):
        buf.write("%d\t%s\t%d\t%s\t%r\t%s\n" % (
            run, ids[i], labels[i], _arr(out[i]), float(np.float32(loss[i])),
            _arr(perc[i])))
    buf.seek(0)
    return buf


# --------------------------------------------------------------------------
# database side
# --------------------------------------------------------------------------
def log_epoch(conn, args, epoch, h5_bytes, ids, labels, out, loss, perc):
    """One transaction: model revision, tl_run row, COPY of the results.
    Returns (run id, revision, seconds until COMMIT returned)."""
    import psycopg2
    t0 = time.time()
    with conn:                                    # COMMIT on success
        with conn.cursor() as cur:
            revision = None
            if h5_bytes is not None:
                cur.execute("SELECT tl_model_import(%s, %s)",
                            (args.model, psycopg2.Binary(h5_bytes)))
                revision = cur.fetchone()[0]
            cur.execute(
                "INSERT INTO tl_run (model, revision, dataset, subset, epoch, class_names, map)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (args.model, revision, args.dataset, args.subset, epoch,
                 list(fc.CLASS_NAMES), args.map))
            run = cur.fetchone()[0]
            # progress another session sees in tl_progress (this one gets
            # NOTICE lines, tensorlens.progress_interval): the COPY, then the
            # analysis tl_analyze runs at COMMIT
            cur.execute("SELECT tl_progress_begin('training pipeline', %s)", (run,))
            cur.execute("SELECT tl_progress_step('COPY of the epoch''s results', 0, %s)", (len(ids),))
            cur.copy_expert(
                "COPY tl_result (run, sample_id, label, output, loss, perception)"
                " FROM STDIN", copy_rows(run, ids, labels, out, loss, perc))
            cur.execute("SELECT tl_progress_step('analysis at COMMIT', %s, %s)", (len(ids), len(ids)))
    for line in conn.notices:
        print("  " + line.strip().replace("\n", " "))
    del conn.notices[:]
    return run, revision, time.time() - t0


def verify_epoch(conn, args, revision, images, labels, out, perc, n):
    """Compare the first n samples with tensorlens' own computations on the
    imported revision; returns the max |diff| of output, perception, loss."""
    name = "%s@%d" % (args.model, revision)
    d_out = d_perc = d_loss = 0.0
    with conn, conn.cursor() as cur:
        for i in range(min(n, len(labels))):
            px = [float(v) for v in images[i].ravel()]
            cur.execute("SELECT tl_infer(%s, %s::real[]), tl_perception(%s, %s::real[]),"
                        " tl_loss(%s, tl_infer(%s, %s::real[]), %s)",
                        (name, px, name, px, name, name, px, int(labels[i])))
            o, p, l = cur.fetchone()
            d_out = max(d_out, float(np.max(np.abs(np.array(o) - out[i]))))
            d_perc = max(d_perc, float(np.max(np.abs(np.array(p) - perc[i]))))
            d_loss = max(d_loss, abs(l - float(keras_loss(out[i:i + 1], labels[i:i + 1])[0])))
    return d_out, d_perc, d_loss


SUMMARY_SQL = """
WITH r AS (
  SELECT id, epoch, lag(id) OVER (ORDER BY epoch) AS prev
    FROM tl_run WHERE id = ANY(%(runs)s)
)
SELECT r.epoch, r.id, count(*) AS samples,
       avg(p.correct::int)::float8 AS accuracy,
       avg(p.loss)::float8 AS mean_loss,
       sqrt(avg(p.x^2 + p.y^2 + coalesce(p.z, 0)^2))::float8 AS spread,
       avg(sqrt((p.x - q.x)^2 + (p.y - q.y)^2
                + (coalesce(p.z, 0) - coalesce(q.z, 0))^2))::float8 AS moved,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY
           sqrt((p.x - q.x)^2 + (p.y - q.y)^2
                + (coalesce(p.z, 0) - coalesce(q.z, 0))^2))::float8 AS moved_p90
  FROM r
  JOIN tl_population p ON p.run = r.id
  LEFT JOIN tl_population q ON q.run = r.prev AND q.sample_id = p.sample_id
 GROUP BY r.epoch, r.id
 ORDER BY r.epoch
"""


def wait_ready(conn, runs, timeout=60.0):
    """The analysis runs at COMMIT; wait (briefly) in case it is deferred
    further, and fail clearly on 'failed' or missing coordinates."""
    deadline = time.time() + timeout
    while True:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT r.id, r.epoch, r.status, r.analysis_error, r.aligned_to,"
                        " (SELECT count(*) FROM tl_result t WHERE t.run = r.id AND t.x IS NULL)"
                        " FROM tl_run r WHERE r.id = ANY(%s) ORDER BY r.epoch", (runs,))
            rows = cur.fetchall()
        bad = [r for r in rows if r[2] == "failed"]
        if bad:
            sys.exit("tensorlens: analysis failed for run(s): " + "; ".join(
                "run %d epoch %d: %s" % (r[0], r[1], r[3]) for r in bad))
        if all(r[2] == "ready" and r[5] == 0 for r in rows):
            return rows
        if time.time() > deadline:
            sys.exit("tensorlens: runs not analysed after %.0f s: %s" % (timeout, rows))
        time.sleep(0.5)


# --------------------------------------------------------------------------
def self_test(args):
    """Offline: a quickly trained model's perception vectors and losses from
    PyTorch against the numpy reference on its Keras export."""
    import tempfile
    torch = fc._torch()
    fc.set_determinism(args.seed)
    xtr, ytr = fc.load_fashion("train")
    xte, yte = fc.load_fashion("test")
    x = torch.from_numpy(fc.scale(xtr[:1000]))
    model = fc.make_model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    fc.train_epoch(model, opt, x, torch.from_numpy(ytr[:1000]),
                   torch.Generator().manual_seed(args.seed))
    imgs = fc.scale(xte[:200])
    out, perc = perception_torch(model, torch.from_numpy(imgs))
    with tempfile.NamedTemporaryFile(suffix=".h5") as tmp:
        fc.export_keras_h5(model, tmp.name)
        ref_out, ref_perc = perception_numpy_ref(tmp.name, imgs)
    d_out = float(np.abs(ref_out - out).max())
    d_perc = float(np.abs(ref_perc - perc).max())
    norms = [np.linalg.norm(perc[:, a:b], axis=1) for a, b in ((0, 16), (16, 48), (48, 112))]
    loss = keras_loss(out, yte[:200])
    ref_loss = -np.log(np.clip(ref_out[np.arange(200), yte[:200]], EPS, 1 - EPS))
    d_loss = float(np.abs(loss - ref_loss).max())
    # the zero-block rule and the clip at both ends
    z = l2_blocks([np.zeros((1, 3)), np.array([[3.0, 4.0]])])
    clip = keras_loss(np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([0, 0]))
    print("self-test: perception width %d; vs numpy/keras_ref on 200 images: "
          "output max|diff| %.3g, perception max|diff| %.3g, loss max|diff| %.3g; "
          "block norms %.6f..%.6f" % (perc.shape[1], d_out, d_perc, d_loss,
                                      min(n.min() for n in norms), max(n.max() for n in norms)))
    assert perc.shape == (200, 112)
    assert d_out < 1e-5 and d_perc < 1e-5 and d_loss < 1e-4
    assert all(np.all((np.abs(n - 1) < 1e-5) | (n == 0)) for n in norms)
    assert np.array_equal(z, [[0, 0, 0, 0.6, 0.8]])
    assert abs(clip[0] - 16.11809565) < 1e-6 and abs(clip[1] + np.log(1 - EPS)) < 1e-12
    line = copy_rows(7, ["3"], [2], out[:1], loss[:1], perc[:1]).getvalue()
    cols = line.rstrip("\n").split("\t")
    assert len(cols) == 6 and cols[0] == "7" and cols[1] == "3" and cols[2] == "2"
    back = np.array(cols[5][1:-1].split(","), dtype=np.float32)
    assert np.array_equal(back, perc[0])          # repr round-trips float32
    print("self-test passed")
    return 0


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dsn", default=DEFAULT_DSN,
                    help="libpq connection string (default: the demo cluster: %s)" % DEFAULT_DSN)
    ap.add_argument("--train", type=int, help="training images (default 6000)")
    ap.add_argument("--test", type=int, help="held-out test images (default 1000)")
    ap.add_argument("--epochs", type=int, help="epochs (default 3)")
    ap.add_argument("--quick", action="store_true",
                    help="CI-sized run: 1000 training and 200 test images, 2 epochs")
    ap.add_argument("--seed", type=int, default=20240)
    ap.add_argument("--model", default="fashion_pipeline")
    ap.add_argument("--dataset", default="fashion-mnist")
    ap.add_argument("--subset", default="test")
    ap.add_argument("--map", default="pca", choices=["pca", "umap", "tsne"],
                    help="the map the analysis at commit draws (tl_run.map; umap and tsne start "
                         "from the previous epoch's map)")
    ap.add_argument("--no-import", action="store_true",
                    help="do not store each epoch's weights in tl_model (tl_run.revision stays NULL)")
    ap.add_argument("--verify", type=int, default=None,
                    help="compare the first N samples of each epoch with tl_infer/tl_perception/"
                         "tl_loss in the database (default 20; 0 = off; needs the import)")
    ap.add_argument("--keep-old", action="store_true",
                    help="keep earlier runs of --model (by default they are deleted first)")
    ap.add_argument("--self-test", action="store_true",
                    help="offline checks of the perception/loss/COPY code, no database")
    a = ap.parse_args(argv)
    if a.self_test:
        return self_test(a)
    q = a.quick
    a.train = a.train or (1000 if q else 6000)
    a.test = a.test or (200 if q else 1000)
    a.epochs = a.epochs or (2 if q else 3)
    if a.verify is None:
        a.verify = 0 if a.no_import else (5 if q else 20)
    if a.verify and a.no_import:
        ap.error("--verify needs the model import (drop --no-import)")

    import psycopg2
    torch = fc._torch()
    fc.set_determinism(a.seed)
    xtr, ytr = fc.load_fashion("train")
    xte, yte = fc.load_fashion("test")
    x_train = torch.from_numpy(fc.scale(xtr[:a.train]))
    y_train = torch.from_numpy(ytr[:a.train])
    test_imgs = fc.scale(xte[:a.test])
    x_test = torch.from_numpy(test_imgs)
    labels = yte[:a.test]
    ids = [str(i) for i in range(a.test)]

    conn = psycopg2.connect(a.dsn)
    conn.set_session(autocommit=False)
    with conn, conn.cursor() as cur:       # progress lines every second (printed after each epoch)
        cur.execute("SET tensorlens.progress_interval = '1s'")
    if not a.keep_old:
        with conn, conn.cursor() as cur:
            cur.execute("DELETE FROM tl_run WHERE model = %s AND dataset = %s AND subset = %s",
                        (a.model, a.dataset, a.subset))
            if cur.rowcount:
                print("removed %d earlier run(s) of %s" % (cur.rowcount, a.model))

    print("training %s on %d images, evaluating %d, %d epochs (seed %d)"
          % (a.model, a.train, a.test, a.epochs, a.seed), flush=True)
    model = fc.make_model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(a.seed)
    runs = []
    for epoch in range(1, a.epochs + 1):
        t0 = time.time()
        train_loss = fc.train_epoch(model, opt, x_train, y_train, gen)
        t_train = time.time() - t0
        out, perc = perception_torch(model, x_test)
        loss = keras_loss(out, labels)
        h5 = None
        if not a.no_import:
            buf = io.BytesIO()
            fc.export_keras_h5(model, buf)
            h5 = buf.getvalue()
        run, rev, t_db = log_epoch(conn, a, epoch, h5, ids, labels, out, loss, perc)
        runs.append(run)
        print("epoch %d: train loss %.4f (%.1f s); logged run %d%s: %d results, "
              "transaction %.2f s" % (epoch, train_loss, t_train, run,
                                      "" if rev is None else " (revision %d)" % rev,
                                      len(ids), t_db), flush=True)
        if a.verify:
            d = verify_epoch(conn, a, rev, test_imgs, labels, out, perc, a.verify)
            print("  verify vs tensorlens on %d samples: output %.2g, perception %.2g, "
                  "loss %.2g (max |diff|)" % ((min(a.verify, len(ids)),) + d))
            if not (d[0] < 1e-4 and d[1] < 1e-4 and d[2] < 1e-3):
                sys.exit("pipeline and tensorlens disagree (see above)")

    status = wait_ready(conn, runs)
    with conn, conn.cursor() as cur:
        cur.execute(SUMMARY_SQL, {"runs": runs})
        rows = cur.fetchall()
    print("\nfrom tl_population (status ready; aligned_to: %s):"
          % ", ".join("%s" % r[4] for r in status))
    print("epoch  run  samples  accuracy  mean loss  spread  moved (mean / p90)")
    for ep, run, n, acc, ml, spread, moved, p90 in rows:
        mv = "-" if moved is None else "%.4f / %.4f" % (moved, p90)
        print("%5d %4d %8d %9.4f %10.4f %7.4f  %s" % (ep, run, n, acc, ml, spread, mv))
    conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
