#!/usr/bin/python3
"""bench/perf.py - the measurements of bench/run_all.sh (issue 8).

  OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/perf.py --dsn DSN --data DIR \
      --fashion DIR --work DIR [--rounds 3] [--quick]

Needs a database with the extension created (run_all.sh makes a throwaway
cluster).  Loads the data (COPY), then times, in interleaved rounds (best
round counts; wall time measured by the client around the statement, CPU
time of the backend from /proc/<pid>/stat or of this process for PyTorch):

  infer      batched inference, rows read from a table (tl_infer_batch) vs
             PyTorch eager (bench/torch_models.py) on the same inputs, same
             thread count (1), best batch size of each
  per-row    SELECT count(tl_infer(model, input)) FROM t against
             tl_infer_batch over the same rows (25,000 reviews, 5000 images)
             at its best batch size, alternating in the same session for
             --per-row-rounds rounds: medians and the spread of the
             per-round difference
  fusion     the same with tensorlens.fusion = off (plain GEMM paths) and
             the Conv1D model's GFLOP/s against the sgemm peak
  perception tl_perception_batch over 25,000 reviews
  evaluate   tl_evaluate over 1k/5k/25k/100k reviews (perception vectors,
             PCA, label issues), peak backend memory at 25k
  pca        tl_pca_fit vs scikit-learn PCA on 25,000 x 1,024
  saliency   tl_token_saliency grad_input vs PyTorch autograd per review
  parallel   SELECT count(tl_infer(...)) with 2 parallel workers (information)

Prints a table per section and a summary (also written to --work/summary.txt).
--only-per-row runs the per-row section alone (with its batched reference).
Backend CPU time is read in nanoseconds from /proc/<pid>/schedstat (the
kernel's runtime of the task; /proc/<pid>/stat's 10 ms ticks where absent).
"""
import argparse
import gzip
import os
import subprocess
import sys
import threading
import time

import numpy as np
import psycopg2
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.dont_write_bytecode = True
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "test", "reference"))
import imdb_tokenize  # noqa: E402
import torch_models  # noqa: E402
from prep_fixtures import IMDB, read_reviews  # noqa: E402

MODELS = {  # tensorlens name -> (file, torch kind, column)
    "imdb_gap": ("imdb_embed_gap_dense__kolerabi", "gap", "gap"),
    "imdb_cnn": ("imdb_conv1d__datadonk23", "conv1d", "cnn"),
    "imdb_lstm": ("imdb_embed_lstm__anushree1001", "lstm", "lstm"),
    "fashion_cnn": (None, "fashion", "px"),
    # a real Keras MNIST CNN (Conv2D 32 and 64 filters 3x3, Dense 128), run
    # on the Fashion-MNIST images (same shape; the speed does not depend on them)
    "mnist_cnn": ("mnist_cnn__gosolna", "fashion", "px"),
}
FILES = {"fashion_cnn": "fashion_cnn.h5", "mnist_cnn": "mnist_cnn__gosolna.keras"}
# the other recurrent kinds (the LSTM's recipe and input: the lstm column),
# in the per-row section only
RECURRENT = {"imdb_gru": "imdb_embed_gru__anushree1001", "imdb_simplernn": "imdb_embed_simplernn__anushree1001"}
OUT = []
# rows per timed run: the GAP model is fast, so it runs over 25,000 rows
# (the 5000 reviews five times) to keep the backend's CPU time (10 ms ticks)
# precise; the others over the 5000 reviews (Fashion-MNIST: 5000 images)
ROWS = {"imdb_gap": 25000, "imdb_cnn": 5000, "imdb_lstm": 5000, "fashion_cnn": 5000,
        "mnist_cnn": 5000, "imdb_lstm_fused": 5000}


def model_file(a, name):
    if name in RECURRENT:
        return os.path.join(a.models, "%s.h5" % RECURRENT[name])
    return os.path.join(a.models, FILES.get(name, "%s.h5" % MODELS[name][0]))


def source(name):
    col = MODELS[name][2]
    if col == "px":
        return "SELECT id, px FROM fashion WHERE id < 5000"
    return "SELECT id, %s FROM %s" % (col, "imdb25k" if ROWS[name] == 25000 else "imdb")


def say(s=""):
    print(s, flush=True)
    OUT.append(s)


# ---------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------
def lit(a):
    return "{" + ",".join(map(str, a)) + "}"


def prepare(a, cur, pca=True):
    reviews = read_reviews(os.path.join(a.data, "datasets", "imdb", "imdb_reviews_5000.tsv"), None)
    wi = imdb_tokenize.load_word_index(os.path.join(a.data, "datasets", "imdb", "imdb_word_index.json"))
    # PyTorch gets each model's input as the Keras recipe builds it (padded);
    # the table stores what tl_tokenize(vocab, text, NULL, num_words) returns
    # for the fixed-length models (imdb_cnn: the server pads and truncates
    # as pad_sequences does; imdb_gap: it pads in front where the recipe pads
    # behind, which an average over all positions does not see) and the
    # padded sequence for the LSTM, whose length is free (None).
    inputs, stored = {}, {}
    for name, (key, _, col) in MODELS.items():
        if col == "px":
            continue
        spec = IMDB[key]
        nw = {"imdb_gap": 18000, "imdb_cnn": 2000, "imdb_lstm": 5000}[name]
        inputs[col] = np.array([imdb_tokenize.tokenize(r[2], wi, num_words=nw, maxlen=spec["maxlen"],
                                                       padding=spec.get("padding", "pre"),
                                                       truncating=spec.get("truncating", "pre"))
                                for r in reviews], dtype=np.int64)
        stored[col] = inputs[col] if name == "imdb_lstm" else \
            [imdb_tokenize.tokenize(r[2], wi, num_words=nw) for r in reviews]
    labels = np.array([r[1] for r in reviews])
    path = os.path.join(a.work, "imdb.tsv")
    with open(path, "w") as f:
        for i, r in enumerate(reviews):
            f.write("%d\t%d\t%s\t%s\t%s\n" % (i, r[1], lit(stored["gap"][i]), lit(stored["cnn"][i]),
                                             lit(stored["lstm"][i])))
    with gzip.open(os.path.join(a.fashion, "t10k-images-idx3-ubyte.gz"), "rb") as f:
        raw = f.read()
    imgs = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 784)
    with gzip.open(os.path.join(a.fashion, "t10k-labels-idx1-ubyte.gz"), "rb") as f:
        flabels = np.frombuffer(f.read(), np.uint8, offset=8)
    px = imgs.astype(np.float32) / np.float32(255.0)
    fpath = os.path.join(a.work, "fashion.tsv")
    with open(fpath, "w") as f:
        for i in range(len(px)):
            f.write("%d\t%d\t{%s}\n" % (i, flabels[i], ",".join("%.9g" % v for v in px[i])))
    paths, pca_x = [path, fpath], None
    if pca:
        paths.append(os.path.join(a.work, "pca.tsv"))
        pca_x = pca_vectors(paths[-1])
    for p in paths:
        os.chmod(p, 0o644)
    cur.execute("""
        CREATE TABLE imdb (id int PRIMARY KEY, label int, gap int[], cnn int[], lstm int[]);
        COPY imdb FROM %s;
        CREATE TABLE fashion (id int PRIMARY KEY, label int, px real[]);
        COPY fashion FROM %s;
        -- the 5000 reviews repeated: 25,000 and 100,000 rows
        CREATE TABLE imdb25k AS SELECT r * 5000 + id AS id, label, gap, cnn, lstm
          FROM imdb, generate_series(0, 4) r;
        CREATE TABLE imdb100k AS SELECT r * 5000 + id AS id, label, cnn
          FROM imdb, generate_series(0, 19) r;
    """, paths[:2])
    if pca:
        cur.execute("CREATE TABLE pca_vec (id int, vec real[]); COPY pca_vec FROM %s", paths[2:])
    cur.execute("VACUUM ANALYZE")
    return inputs, labels, px, pca_x


def pca_vectors(ppath):
    # 25,000 x 1,024 perception-like vectors for the PCA (as in the PCA docs)
    rng = np.random.default_rng(42)
    z = rng.standard_normal((25000, 64)) / np.arange(1, 65)
    x = np.maximum(z @ rng.standard_normal((64, 1024)) + 0.1 * rng.standard_normal((25000, 1024)), 0)
    x = x.reshape(25000, 4, 256)
    x /= np.maximum(np.linalg.norm(x, axis=2, keepdims=True), 1e-12)
    pca_x = x.reshape(25000, 1024).astype(np.float32)
    with open(ppath, "w") as f:
        for i in range(len(pca_x)):
            f.write("%d\t{%s}\n" % (i, ",".join("%.9g" % v for v in pca_x[i])))
    return pca_x


# ---------------------------------------------------------------------------
# timing helpers
# ---------------------------------------------------------------------------
def backend_cpu(pid):
    try:
        with open("/proc/%d/schedstat" % pid) as f:
            return int(f.read().split()[0]) / 1e9
    except OSError:
        pass
    with open("/proc/%d/stat" % pid) as f:
        st = f.read().rsplit(")", 1)[1].split()
    return (int(st[11]) + int(st[12])) / os.sysconf("SC_CLK_TCK")


class Session:
    def __init__(self, dsn, settings=()):
        self.conn = psycopg2.connect(dsn)
        self.conn.autocommit = True
        self.cur = self.conn.cursor()
        self.cur.execute("SELECT pg_backend_pid()")
        self.pid = self.cur.fetchone()[0]
        for s in settings:
            self.cur.execute(s)

    def time(self, sql, args=None):
        """(wall s, backend cpu s, first row)"""
        c0 = backend_cpu(self.pid)
        t0 = time.perf_counter()
        self.cur.execute(sql, args)
        row = self.cur.fetchone() if self.cur.description else None
        t = time.perf_counter() - t0
        return t, backend_cpu(self.pid) - c0, row

    def close(self):
        self.conn.close()


def torch_time(fn):
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def best(rs):
    return min(r[0] for r in rs), min(r[1] for r in rs)


def median(v):
    v = sorted(v)
    return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2


def per_row(a, sess, summary, bs_sizes):
    """One tl_infer call per row against tl_infer_batch on the same rows, at
    its best batch size (the batched section's, else the fastest in CPU of
    bs_sizes), the two alternating in the same session; medians of the rounds
    and the spread (min..max) of the per-round difference."""
    rounds = a.per_row_rounds
    say("\n== per-row tl_infer (one call per row) vs batched on the same rows, alternating, %d rounds;"
        "\n   µs per sample, medians (backend CPU; the overhead's min..max over the rounds)" % rounds)
    say("  %-12s %6s %5s %9s %9s %9s %9s %9s %19s" % (
        "model", "rows", "bs", "per row", "batched", "overhead", "cpu row", "cpu batch", "cpu overhead"))
    for name in ("imdb_gap", "imdb_cnn", "imdb_lstm", "imdb_gru", "imdb_simplernn", "fashion_cnn", "mnist_cnn"):
        col = MODELS[name][2] if name in MODELS else "lstm"
        frm = "fashion WHERE id < 5000" if col == "px" else "imdb25k"
        n = 5000 if col == "px" else 25000
        q_row = "SELECT count(tl_infer(%%s, %s)) FROM %s" % (col, frm)
        q_bat = "SELECT count(*) FROM tl_infer_batch(%%s, 'SELECT id, %s FROM %s', %%s)" % (
            col, frm.replace("'", "''"))
        sess.time(q_row, (name,))                       # model cached, buffers planned
        if name in summary and summary[name].get("tl"):
            bs = summary[name]["tl"][2]
        else:
            bs = min(bs_sizes, key=lambda b: sess.time(q_bat, (name, b))[1])
        rs = []
        for r in range(rounds):
            w1, c1, _ = sess.time(q_row, (name,))
            w2, c2, _ = sess.time(q_bat, (name, bs))
            rs.append([1e6 * v / n for v in (w1, w2, w1 - w2, c1, c2, c1 - c2)])
        med = [median([r[k] for r in rs]) for k in range(6)]
        lo, hi = min(r[5] for r in rs), max(r[5] for r in rs)
        say("  %-12s %6d %5d %9.1f %9.1f %9.1f %9.1f %9.1f %7.1f (%.1f..%.1f)" % (
            (name, n, bs) + tuple(med) + (lo, hi)))
        summary.setdefault(name, {})["per_row"] = (med, lo, hi)


# ---------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dsn", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--fashion", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--models", required=True, help="directory holding the .h5 files (server-readable)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--peak", type=float, help="sgemm GFLOP/s (2048^2), one thread, wall time (required but"
                    " with --only-per-row)")
    ap.add_argument("--peak-cpu", type=float, help="the same per CPU second (default: --peak)")
    ap.add_argument("--quick", action="store_true", help="fewer batch sizes and rounds")
    ap.add_argument("--per-row-rounds", type=int, default=7, help="rounds of the per-row section")
    ap.add_argument("--only-per-row", action="store_true",
                    help="the per-row section alone (no PyTorch, no PCA data)")
    a = ap.parse_args()
    if a.peak is None and not a.only_per_row:
        ap.error("--peak is required")
    a.peak_cpu = a.peak_cpu or a.peak
    torch.set_num_threads(1)
    setup = Session(a.dsn)
    say("loading data ...")
    inputs, labels, px, pca_x = prepare(a, setup.cur, pca=not a.only_per_row)
    for name in list(MODELS) + list(RECURRENT):
        f = model_file(a, name)
        setup.cur.execute("SELECT tl_model_load(%s, %s)", (name, f))
    bs_sql = [64, 256] if a.quick else [32, 128, 512]
    if a.only_per_row:
        sess = Session(a.dsn, ["SET tensorlens.max_batch_memory = '1GB'"])
        per_row(a, sess, {}, bs_sql)
        sess.close()
        with open(os.path.join(a.work, "summary.txt"), "w") as f:
            f.write("\n".join(OUT) + "\n")
        return
    bs_torch = [64, 256] if a.quick else [32, 128, 512]
    rounds = 2 if a.quick else a.rounds
    summary = {}

    # ---- batched inference: tensorlens vs PyTorch ---------------------------------
    say("\n== batched inference, rows read from a table (imdb_gap: 25,000, the others 5000), 1 thread each"
        "\n   (samples/s, wall and per CPU second; best of %d rounds)" % rounds)
    tmods = {}
    tin = {}
    for name, (key, kind, col) in MODELS.items():
        f = model_file(a, name)
        tmods[name] = torch_models.load(kind, f)
        tin[name] = torch.from_numpy(px[:5000].copy()) if col == "px" else \
            torch.from_numpy(np.tile(inputs[col], (ROWS[name] // 5000, 1)))
    tmods["imdb_lstm_fused"] = torch_models.load("lstm", model_file(a, "imdb_lstm"),
                                                 fused=True)
    tin["imdb_lstm_fused"] = tin["imdb_lstm"]
    # outputs agree?
    sess = Session(a.dsn, ["SET tensorlens.max_batch_memory = '1GB'"])
    for name in MODELS:
        col = MODELS[name][2]
        tbl = "fashion" if col == "px" else "imdb"
        sess.cur.execute("SELECT output FROM tl_infer_batch(%%s, 'SELECT id, %s FROM %s WHERE id < 200 ORDER BY id') "
                         "ORDER BY id::int" % (col, tbl), (name,))
        ours = np.array([r[0] for r in sess.cur.fetchall()], dtype=np.float64)
        with torch.inference_mode():
            theirs = tmods[name].forward(tin[name][:200]).double().numpy()
        say("  %-12s tensorlens vs PyTorch outputs, 200 samples: max |diff| %.2g" % (name, np.abs(ours - theirs).max()))

    sess.cur.execute("SELECT count(*) FROM pg_settings WHERE name = 'tensorlens.fusion'")
    has_fusion = sess.cur.fetchone()[0] == 1

    def sql_infer(name, bs, fusion="on"):
        if has_fusion:
            sess.cur.execute("SET tensorlens.fusion = %s" % fusion)
        return sess.time("SELECT count(*) FROM tl_infer_batch(%%s, '%s', %%s)" % source(name), (name, bs))[:2]

    def torch_infer(name, bs):
        m, x = tmods[name], tin[name]

        def go():
            with torch.inference_mode():
                for i in range(0, len(x), bs):
                    m.forward(x[i:i + bs])
        return torch_time(go)

    res = {}
    for name in list(MODELS) + ["imdb_lstm_fused"]:
        n = 5000
        for r in range(rounds):
            for bs in bs_sql:
                if name in MODELS:
                    res.setdefault((name, "tl", bs), []).append(sql_infer(name, bs))
                    if has_fusion and name in ("imdb_cnn", "imdb_gap", "imdb_lstm"):
                        res.setdefault((name, "tl_plain", bs), []).append(sql_infer(name, bs, "off"))
            for bs in bs_torch:
                res.setdefault((name, "torch", bs), []).append(torch_infer(name, bs))
    if has_fusion:
        sess.cur.execute("SET tensorlens.fusion = on")
    say("  %-12s %-33s %-33s %-33s %7s %9s" % ("model", "tensorlens (fused)", "tensorlens fusion off",
                                              "PyTorch eager", "ratio", "cpu ratio"))
    for name in list(MODELS) + ["imdb_lstm_fused"]:
        def pick(side, sizes):
            cand = [(best(res[(name, side, bs)]), bs) for bs in sizes if (name, side, bs) in res]
            if not cand:
                return None
            (w, c), bs = min(cand, key=lambda t: t[0][0])
            return ROWS[name] / w, ROWS[name] / max(c, 1e-9), bs
        tl = pick("tl", bs_sql)
        pl = pick("tl_plain", bs_sql)
        th = pick("torch", bs_torch)
        if name == "imdb_lstm_fused":     # the same tensorlens figure, another PyTorch kernel
            tl = summary["imdb_lstm"]["tl"]
        fmt = lambda v: "%7.0f/s %7.0f/s cpu (bs %4d)" % (v[0], v[1], v[2]) if v else "%33s" % "-"
        ratio = tl[0] / th[0] if tl else float("nan")
        cratio = tl[1] / th[1] if tl else float("nan")
        label = name if name != "imdb_lstm_fused" else "imdb_lstm*"
        say("  %-12s %-33s %-33s %-33s %6.2fx %8.2fx" % (label, fmt(tl), fmt(pl), fmt(th), ratio, cratio))
        summary[name] = {"tl": tl, "plain": pl, "torch": th}
    say("  (* imdb_lstm*: against torch.nn.LSTM, whose gates are sigmoid rather than the model's hard_sigmoid:")
    say("     not the same model, shown as the bound of torch's fused LSTM kernel)")

    # GFLOP/s of the Conv1D model on the plain path
    flop = 2 * (494 * 7 * 128 * 32 + 92 * 7 * 32 * 32 + 32)
    pl = summary["imdb_cnn"]["plain"]
    if pl:
        g = pl[1] * flop / 1e9   # samples per CPU second
        gw = pl[0] * flop / 1e9
        say("\n  imdb_cnn plain GEMM path: %.1f MFLOP/sample, %.1f GFLOP/s wall (%.1f per CPU second) = %.0f%% "
            "(%.0f%%) of the sgemm peak %.1f GFLOP/s (%.1f per CPU second)"
            % (flop / 1e6, gw, g, 100 * gw / a.peak, 100 * g / a.peak_cpu, a.peak, a.peak_cpu))
        summary["gflops"] = (gw, g)

    # GFLOP/s of the image CNNs (direct Conv2D kernel + Dense), multiply-adds x 2
    for name, convs, dense in (("fashion_cnn", [(26, 26, 16, 9 * 1), (11, 11, 32, 9 * 16)], [(800, 64), (64, 10)]),
                               ("mnist_cnn", [(26, 26, 32, 9 * 1), (11, 11, 64, 9 * 32)], [(1600, 128), (128, 10)])):
        cflop = 2 * sum(h * w * f * k for h, w, f, k in convs) + 2 * sum(i * o for i, o in dense)
        tl = summary[name]["tl"]
        say("  %s: %.2f MFLOP/sample, %.1f GFLOP/s wall (%.1f per CPU second) = %.0f%% (%.0f%%) of the sgemm peak"
            % (name, cflop / 1e6, tl[0] * cflop / 1e9, tl[1] * cflop / 1e9, 100 * tl[0] * cflop / 1e9 / a.peak,
               100 * tl[1] * cflop / 1e9 / a.peak_cpu))
        summary[name]["gflops"] = (tl[0] * cflop / 1e9, tl[1] * cflop / 1e9)

    # ---- per-row tl_infer ------------------------------------------------------------
    per_row(a, sess, summary, bs_sql)

    # ---- parallel ------------------------------------------------------------------
    say("\n== per-row tl_infer over 25,000 reviews, parallel sequential scan (information: 2 cores, shared)")
    psess = Session(a.dsn, ["SET parallel_setup_cost = 0", "SET parallel_tuple_cost = 0",
                            "SET min_parallel_table_scan_size = 0"])
    for workers in (0, 2):
        psess.cur.execute("SET max_parallel_workers_per_gather = %d" % workers)
        psess.cur.execute("EXPLAIN SELECT count(tl_infer('imdb_cnn', cnn)) FROM imdb25k")
        plan = " ".join(r[0].strip() for r in psess.cur.fetchall())
        w = min(psess.time("SELECT count(tl_infer('imdb_cnn', cnn)) FROM imdb25k")[0] for _ in range(2))
        say("  workers %d: %6.2f s  (%s)" % (workers, w, "Parallel Seq Scan" if "Parallel" in plan else "Seq Scan"))
    psess.close()

    # ---- perception -------------------------------------------------------------------
    say("\n== perception vectors, 25,000 reviews (the 5000 repeated 5 times), tl_perception_batch")
    for name in ("imdb_cnn", "imdb_gap", "imdb_lstm"):
        col = MODELS[name][2]
        rs = [sess.time("SELECT count(*) FROM tl_perception_batch(%%s, 'SELECT id, %s FROM imdb25k')" % col,
                        (name,))[:2] for _ in range(max(1, rounds - 1))]
        w, c = best(rs)
        say("  %-12s %6.2f s  (cpu %6.2f s)  %8.0f reviews/s" % (name, w, c, 25000 / w))
        summary[name]["perception"] = w

    # ---- tl_evaluate scaling and memory ---------------------------------------------------
    say("\n== tl_evaluate (inference + loss + perception + tl_result rows + PCA and analysis), imdb_cnn")
    say("  %8s %9s %9s %12s %14s %14s" % ("samples", "wall s", "cpu s", "µs/sample", "VmHWM MB", "peak anon MB"))
    for n in (1000, 5000, 25000, 100000):
        tbl = "imdb100k" if n > 25000 else "imdb25k"
        s = Session(a.dsn)
        s.cur.execute("SELECT count(*) FROM tl_infer('imdb_cnn', '{1}'::int[]) x")   # model parsed, cache warm
        peak = [0]
        stop = threading.Event()

        def sample(pid=s.pid):
            while not stop.is_set():
                try:
                    with open("/proc/%d/status" % pid) as f:
                        for line in f:
                            if line.startswith("RssAnon:"):
                                peak[0] = max(peak[0], int(line.split()[1]))
                except OSError:
                    pass
                time.sleep(0.02)
        th = threading.Thread(target=sample)
        th.start()
        w, c, _ = s.time("SELECT tl_evaluate('imdb_cnn', 'SELECT id, cnn, label FROM %s WHERE id < %d', 'bench %d')"
                         % (tbl, n, n))
        stop.set()
        th.join()
        with open("/proc/%d/status" % s.pid) as f:
            hwm = next(int(l.split()[1]) for l in f if l.startswith("VmHWM:"))
        s.close()
        say("  %8d %9.2f %9.2f %12.1f %14.1f %14.1f" % (n, w, c, 1e6 * w / n, hwm / 1024, peak[0] / 1024))
        summary.setdefault("evaluate", []).append((n, w, c, hwm / 1024, peak[0] / 1024))

    # ---- PCA ----------------------------------------------------------------------
    from sklearn.decomposition import PCA
    say("\n== PCA, 25,000 x 1,024 (k = 2), one thread each")
    rs_tl, rs_sk, rs_full = [], [], []
    for r in range(rounds):
        rs_tl.append(sess.time("SELECT tl_pca_fit(vec, 2) IS NOT NULL FROM pca_vec")[:2])
        rs_sk.append(torch_time(lambda: PCA(n_components=2).fit(pca_x)))
        rs_full.append(torch_time(lambda: PCA(n_components=2, svd_solver="full").fit(pca_x)))
    tl, sk, full = best(rs_tl), best(rs_sk), best(rs_full)
    say("  tl_pca_fit (exact, rows read from the table)  %6.3f s (cpu %6.3f)" % tl)
    say("  scikit-learn PCA (auto: randomized)           %6.3f s (cpu %6.3f)   tl %.2fx faster" % (sk + (sk[0] / tl[0],)))
    say("  scikit-learn PCA (full SVD, exact)            %6.3f s (cpu %6.3f)   tl %.2fx faster" % (full + (full[0] / tl[0],)))
    summary["pca"] = (tl, sk, full)

    # ---- saliency -------------------------------------------------------------------
    say("\n== token saliency grad_input per review, imdb_cnn (500 tokens), 1 thread")
    n = 300 if a.quick else 1000
    rs_tl, rs_th = [], []
    ss = Session(a.dsn)
    ss.cur.execute("SELECT count(*) FROM tl_token_saliency('imdb_cnn', '{1}', 0)")
    for r in range(rounds):
        w, c, _ = ss.time("SELECT count(*), sum(s.score) FROM imdb r CROSS JOIN LATERAL "
                          "tl_token_saliency('imdb_cnn', r.cnn, 0) s WHERE r.id < %d" % n)
        rs_tl.append((1e3 * w / n, 1e3 * c / n))
        out = subprocess.run(["/usr/bin/python3", os.path.join(REPO, "test/reference/torch/saliency_ref.py"),
                              "--data", a.data, "--bench", str(n)], capture_output=True, text=True, check=True)
        f = out.stdout.split()
        rs_th.append((float(f[1]), float(f[3])))
    ss.close()
    tl, th = best(rs_tl), best(rs_th)
    say("  tensorlens %.3f ms/review (cpu %.3f), PyTorch autograd %.3f (cpu %.3f): %.2fx faster (cpu %.2fx)"
        % (tl[0], tl[1], th[0], th[1], th[0] / tl[0], th[1] / tl[1]))
    summary["saliency"] = (tl, th)
    sess.close()
    with open(os.path.join(a.work, "summary.txt"), "w") as f:
        f.write("\n".join(OUT) + "\n")


if __name__ == "__main__":
    main()
