#!/usr/bin/python3
"""maps_bench.py - tensorlens' UMAP and t-SNE against scikit-learn's TSNE on
the same perception vectors, in the same run (run by bench/maps_bench.sh,
which starts the cluster and sets one thread on each side).

  maps_bench.py --dsn DSN --data DIR [--sizes 5000,10000] [--imdb 5000] [--large 100000] [--large-maps umap]

Perception vectors are computed by tensorlens (tl_perception_batch) from
  * the Fashion-MNIST CNN of contrib/fashion on the first N test images
    (Debian's dataset-fashion-mnist),
  * the shared IMDB Conv1D model on the 5,000 shared reviews;
both sides then map exactly those vectors (fetched as float32 for
scikit-learn; read from the table by tl_embed_*).  For each:
  * wall time and CPU time (the Python process's; the backend's, from
    /proc): scikit-learn's TSNE(init='pca', learning_rate='auto',
    perplexity 30, Barnes-Hut, angle 0.5, 1000 iterations) fit_transform on
    an in-memory array; tl_embed_tsne / tl_embed_umap as one SQL statement
    each, reading the vectors from the table and writing x, y back;
  * trustworthiness@10 (sklearn.manifold.trustworthiness, the vectors
    against the map): the independent measure of how well the map keeps
    each sample's neighbours;
  * accuracy of a 10-nearest-neighbour classifier in the map (5-fold
    cross-validation, true labels), and in the vectors themselves.
--stability E: epoch stability on a real training run: the pipeline
example (contrib/pipeline/train_with_tensorlens.py) trains the Fashion CNN
for E epochs, logging each into tl_run/tl_result with map 'umap'; the
analysis at commit starts each epoch from the previous epoch's map.  Then
each epoch is mapped again independently (align => false), and the same
two ways with t-SNE.  Printed: the mean displacement of a sample between
consecutive epochs, relative to the map's spread (root mean square
distance from its centre), for the warm-started maps, the independent
ones, and the independent ones after the best rotation/reflection and
shift onto the previous epoch (orthogonal Procrustes).
--large N: N perception vectors of Fashion-MNIST images (the 10,000 test
and 60,000 training images, then the training images mirrored left-right
until N, each further round shifted by another 1-2 pixels) mapped by
tensorlens only: time and the server's peak memory
(VmHWM of the backend).  scikit-learn is not run at that size.
"""
import argparse
import io
import os
import subprocess
import sys
import time

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
from sklearn.manifold import TSNE, trustworthiness  # noqa: E402
from sklearn.model_selection import cross_val_score  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier  # noqa: E402
import psycopg2  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, ".."))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(REPO, "contrib", "fashion"))
from train_fashion_cnn import load_fashion  # noqa: E402


def load_images(cur, images, labels, first_id=0):
    """COPY images (uint8 N x 28 x 28) into fashion_img as pixels / 255."""
    text = [np.format_float_positional(f, unique=True, trim="-")
            for f in np.arange(256, dtype=np.float32) / np.float32(255.0)]
    buf = io.StringIO()
    for i, (img, lab) in enumerate(zip(images, labels)):
        buf.write("%d\t%d\t{%s}\n" % (first_id + i, lab, ",".join(text[p] for p in img.ravel())))
        if buf.tell() > 64 << 20:
            buf.seek(0)
            cur.copy_expert("COPY fashion_img FROM STDIN", buf)
            buf = io.StringIO()
    buf.seek(0)
    cur.copy_expert("COPY fashion_img FROM STDIN", buf)


def vectors(cur, table):
    cur.execute("SELECT label, perception FROM %s ORDER BY id" % table)
    rows = cur.fetchall()
    return (np.array([r[1] for r in rows], dtype=np.float32),
            np.array([r[0] for r in rows], dtype=np.int64))


def map_of(cur, table):
    cur.execute("SELECT x, y FROM %s ORDER BY id" % table)
    return np.array(cur.fetchall(), dtype=np.float64)


def knn_accuracy(e, y):
    return cross_val_score(KNeighborsClassifier(n_neighbors=10), e, y, cv=5).mean()


def backend_pid(cur):
    cur.execute("SELECT pg_backend_pid()")
    return cur.fetchone()[0]


def backend_peak_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None


def backend_cpu_s(pid):
    """user + system CPU time of a backend so far: on a machine shared with
    other work the wall time counts their share too, this does not"""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench(conn, name, table, args, rows):
    cur = conn.cursor()
    pid = backend_pid(cur)
    x, y = vectors(cur, table)
    n, width = x.shape
    print("\n%s: %d perception vectors of %d values" % (name, n, width), flush=True)
    results = {}
    for side in ("scikit-learn TSNE", "tensorlens t-SNE", "tensorlens UMAP"):
        best = None
        for _ in range(args.repeat):
            if side.startswith("scikit"):
                t0, c0 = time.perf_counter(), time.process_time()
                e = TSNE(n_components=2, perplexity=30.0, init="pca", learning_rate="auto",
                         method="barnes_hut", angle=0.5, random_state=0).fit_transform(x)
                dt, cpu = time.perf_counter() - t0, time.process_time() - c0
            else:
                fn = "tl_embed_tsne" if "t-SNE" in side else "tl_embed_umap"
                t0, c0 = time.perf_counter(), backend_cpu_s(pid)
                cur.execute("SELECT %s('%s', 'perception')" % (fn, table))
                conn.commit()
                dt, cpu = time.perf_counter() - t0, backend_cpu_s(pid) - c0
                e = map_of(cur, table)
            best = (dt, cpu) if best is None or dt < best[0] else best
        results[side] = (best[0], trustworthiness(x, e, n_neighbors=10), knn_accuracy(e, y), best[1])
        print("  %-18s %8.2f s (CPU %.2f s)  trustworthiness@10 %.4f  10-NN accuracy %.4f"
              % (side, results[side][0], results[side][3], results[side][1], results[side][2]), flush=True)
    sk, sk_cpu = results["scikit-learn TSNE"][0], results["scikit-learn TSNE"][3]
    for side in ("tensorlens t-SNE", "tensorlens UMAP"):
        t, tr, acc, cpu = results[side]
        rows.append("| %s | %d | %s | %.2f s (CPU %.2f s) | %.1f× (CPU %.1f×) | %.4f (%+.4f) | %.4f (%+.4f) |"
                    % (name, n, side.split()[1], t, cpu, sk / t, sk_cpu / cpu, tr, tr - results["scikit-learn TSNE"][1],
                       acc, acc - results["scikit-learn TSNE"][2]))
    rows.append("| %s | %d | scikit-learn t-SNE | %.2f s (CPU %.2f s) | 1× | %.4f | %.4f |"
                % (name, n, sk, sk_cpu, results["scikit-learn TSNE"][1], results["scikit-learn TSNE"][2]))
    rows.append("| %s | %d | (the vectors themselves) | | | 1 | %.4f |" % (name, n, knn_accuracy(x, y)))


def coords(cur, run):
    cur.execute("SELECT sample_id, x, y, coalesce(z, 0) FROM tl_result WHERE run = %s ORDER BY sample_id", (run,))
    return {r[0]: np.array(r[1:], dtype=np.float64) for r in cur.fetchall()}


def displacement(a, b, procrustes=False):
    """mean |a_i - b_i| over the shared samples / spread of b (optionally after
    moving a onto b by the best rotation/reflection and shift)"""
    ids = sorted(set(a) & set(b))
    pa = np.array([a[i] for i in ids])
    pb = np.array([b[i] for i in ids])
    if procrustes:
        ca, cb = pa - pa.mean(0), pb - pb.mean(0)
        u, _, vt = np.linalg.svd(ca.T @ cb)
        pa = ca @ (u @ vt) + pb.mean(0)
    spread = np.sqrt(((pb - pb.mean(0)) ** 2).sum(1).mean())
    return np.linalg.norm(pa - pb, axis=1).mean() / spread


def stability(a, conn):
    cur = conn.cursor()
    model = "maps_stability"
    subprocess.run([sys.executable, os.path.join(REPO, "contrib", "pipeline", "train_with_tensorlens.py"),
                    "--dsn", a.dsn, "--map", "umap", "--epochs", str(a.stability), "--test", str(a.stability_test),
                    "--no-import", "--model", model], check=True)
    cur.execute("SELECT id FROM tl_run WHERE model = %s ORDER BY epoch", (model,))
    runs = [r[0] for r in cur.fetchall()]
    maps = {}
    for m in ("umap", "tsne"):
        if m == "tsne":     # warm t-SNE: epoch by epoch, each from the previous one's t-SNE
            for run in runs:
                cur.execute("SELECT tl_analyze(%s, map => 'tsne')", (run,))
                conn.commit()
        maps[m, "warm"] = [coords(cur, run) for run in runs]
        for run in runs:
            cur.execute("SELECT tl_analyze(%s, map => %s, align => false)", (run, m))
            conn.commit()
        maps[m, "independent"] = [coords(cur, run) for run in runs]
    print("\nEpoch stability, %d epochs of the pipeline example, %d test images, 3-D maps:" % (len(runs), a.stability_test))
    print("| map | epochs | warm start (tensorlens) | independent maps | independent, Procrustes-aligned |")
    print("|---|---|---|---|---|")
    for m in ("umap", "tsne"):
        for e in range(1, len(runs)):
            w = displacement(maps[m, "warm"][e], maps[m, "warm"][e - 1])
            i = displacement(maps[m, "independent"][e], maps[m, "independent"][e - 1])
            ip = displacement(maps[m, "independent"][e], maps[m, "independent"][e - 1], True)
            print("| %s | %d → %d | %.3f | %.3f | %.3f |" % ("UMAP" if m == "umap" else "t-SNE", e, e + 1, w, i, ip))


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dsn", required=True)
    ap.add_argument("--data", required=True, help="the shared data directory (IMDB)")
    ap.add_argument("--sizes", default="5000,10000", help="Fashion-MNIST test images, comma-separated")
    ap.add_argument("--imdb", type=int, default=5000, help="IMDB reviews (0: none)")
    ap.add_argument("--large", type=int, default=0, help="also map this many Fashion vectors (tensorlens only)")
    ap.add_argument("--large-maps", default="umap,tsne", help="the maps drawn at --large (e.g. umap)")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--stability", type=int, default=0, help="epochs of the stability run (0: none)")
    ap.add_argument("--stability-test", type=int, default=2000, help="test images of the stability run")
    a = ap.parse_args(argv)
    conn = psycopg2.connect(a.dsn)
    cur = conn.cursor()
    cur.execute("SET client_min_messages = warning")
    rows = ["| data | n | map | wall time | speed-up over scikit-learn | trustworthiness@10 (vs scikit-learn) | 10-NN accuracy in the map (vs scikit-learn) |",
            "|---|---|---|---|---|---|---|"]

    # Fashion-MNIST
    with open(os.path.join(REPO, "contrib", "fashion", "fashion_cnn.h5"), "rb") as f:
        cur.execute("SELECT tl_model_import('fashion', %s)", (psycopg2.Binary(f.read()),))
    cur.execute("CREATE TABLE fashion_img (id int PRIMARY KEY, label int, pixels real[])")
    xt, yt = load_fashion("test")
    load_images(cur, xt, yt)
    conn.commit()
    for n in [int(s) for s in a.sizes.split(",") if s]:
        table = "fashion_%d" % n
        cur.execute("""CREATE TABLE %s AS SELECT p.id::int AS id, i.label, p.perception, NULL::real AS x, NULL::real AS y
                         FROM tl_perception_batch('fashion', 'SELECT id, pixels FROM fashion_img WHERE id < %d') p
                         JOIN fashion_img i ON i.id = p.id::int""" % (table, n))
        conn.commit()
        bench(conn, "Fashion-MNIST CNN", table, a, rows)

    # IMDB
    if a.imdb:
        with open(os.path.join(a.data, "models", "imdb", "imdb_conv1d__datadonk23.h5"), "rb") as f:
            cur.execute("SELECT tl_model_import('imdb_cnn', %s)", (psycopg2.Binary(f.read()),))
        with open(os.path.join(a.data, "datasets", "imdb", "imdb_word_index.json")) as f:
            cur.execute("SELECT tl_vocab_import('imdb', %s::jsonb)", (f.read(),))
        cur.execute("CREATE TABLE reviews (id int PRIMARY KEY, label int, text text)")
        with open(os.path.join(a.data, "datasets", "imdb", "imdb_reviews_5000.tsv")) as f:
            cur.copy_expert("COPY reviews FROM STDIN WITH (FORMAT csv, DELIMITER E'\\t', QUOTE E'\\x01', HEADER true)", f)
        cur.execute("""CREATE TABLE imdb AS SELECT p.id::int AS id, r.label, p.perception, NULL::real AS x, NULL::real AS y
                         FROM tl_perception_batch('imdb_cnn', $$SELECT id, tl_tokenize('imdb', text, NULL, 2000) FROM reviews WHERE id < %d$$) p
                         JOIN reviews r ON r.id = p.id::int""" % a.imdb)
        conn.commit()
        bench(conn, "IMDB Conv1D", "imdb", a, rows)

    print("\n" + "\n".join(rows))

    if a.stability:
        stability(a, conn)

    if a.large:
        xr, yr = load_fashion("train")
        load_images(cur, xr, yr, first_id=10000)
        # past 130,000 the mirrored training images again, each round moved by
        # another 1-2 pixel shift: copies the CNN sees as close but not identical
        # (identical copies would make each sample's neighbours its own copies)
        shifts = [(0, 0), (0, 1), (1, 0), (0, -1), (-1, 0), (1, 1), (-1, -1), (1, -1), (-1, 1),
                  (0, 2), (2, 0), (0, -2), (-2, 0), (2, 2), (-2, -2), (2, -2), (-2, 2)]
        k, rnd = 70000, 0
        while k < a.large:
            m = min(a.large - k, len(xr))
            dy, dx = shifts[rnd % len(shifts)]
            load_images(cur, np.roll(xr[:m, :, ::-1], (dy, dx), axis=(1, 2)), yr[:m], first_id=k)
            k += m
            rnd += 1
        conn.commit()
        cur.execute("""CREATE TABLE fashion_large AS SELECT p.id::int AS id, p.perception, NULL::real AS x, NULL::real AS y
                         FROM tl_perception_batch('fashion', 'SELECT id, pixels FROM fashion_img WHERE id < %d') p""" % a.large)
        conn.commit()
        cur.execute("SELECT count(*) FROM fashion_large")
        n = cur.fetchone()[0]
        print("\nFashion-MNIST CNN, %d perception vectors (test, train, mirrored train), tensorlens only:" % n)
        for fn in ["tl_embed_" + m for m in a.large_maps.split(",")]:
            conn.close()
            conn = psycopg2.connect(a.dsn)     # a fresh backend: its peak memory is this call's
            cur = conn.cursor()
            pid = backend_pid(cur)
            t0, c0 = time.perf_counter(), backend_cpu_s(pid)
            cur.execute("SELECT %s('fashion_large', 'perception')" % fn)
            conn.commit()
            dt, cpu = time.perf_counter() - t0, backend_cpu_s(pid) - c0
            print("  %-14s %8.1f s (CPU %.1f s)  backend peak memory %d MB"
                  % (fn, dt, cpu, backend_peak_kb(pid) // 1024), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
