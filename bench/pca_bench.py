#!/usr/bin/python3
"""pca_bench.py - tl_pca_fit against scikit-learn's PCA on the same data.

  OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/pca_bench.py --dsn DSN \
      [--repeat 3] [--k 2 10]

Run by bench/pca_bench.sh, which starts a throwaway cluster with the
extension installed.  Two inputs:

  fashion   the 60,000 x 784 Fashion-MNIST training images (raw pixels)
  synth     25,000 x 1,024 perception-like vectors: a ReLU of 64 latent
            factors with a decaying spectrum plus noise, in four blocks of
            256 each L2-normalised (seed 42)

Both go into a table (vec real[], lz4 compression: TOAST decompression is a
fifth of the fit's time with the default pglz) with COPY.  Timed, best of
--repeat, one thread each (OPENBLAS_NUM_THREADS=1 here; the backend runs one
OpenBLAS thread and no parallel workers):

  tl_pca_fit     SELECT tl_pca_fit(vec, k) FROM t   (method auto = exact)
  scan           SELECT count(vec[1]) FROM t        (reading and detoasting
                 the rows alone, part of the time above)
  sklearn        PCA(n_components=k).fit(X), X the same float32 matrix in
                 memory; svd_solver 'auto' picks 'randomized' for these shapes
  sklearn full   PCA(n_components=k, svd_solver='full'): exact, as
                 tl_pca_fit's default method is

Ratios are scikit-learn's time / tl_pca_fit's (above 1: tl_pca_fit faster).
For information, the first k is also timed with 2 parallel workers.
"""
import argparse
import gzip
import io
import os
import struct
import time

import numpy as np
import psycopg2
from sklearn.decomposition import PCA

FASHION = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"


def fashion():
    with gzip.open(FASHION, "rb") as f:
        raw = f.read()
    n = int.from_bytes(raw[4:8], "big")
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, 784).astype(np.float32)


def synth(n=25000, d=1024, latent=64, seed=42):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, latent)) / np.arange(1, latent + 1)
    x = np.maximum(z @ rng.standard_normal((latent, d)) + 0.1 * rng.standard_normal((n, d)), 0)
    x = x.reshape(n, 4, d // 4)
    x /= np.maximum(np.linalg.norm(x, axis=2, keepdims=True), 1e-12)
    return x.reshape(n, d).astype(np.float32)


def copy_binary(x):
    """COPY's binary format for rows (id int4, vec float4[])."""
    out = io.BytesIO()
    out.write(b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0))
    elems = np.empty(x.shape[1], dtype=[("len", ">i4"), ("val", ">f4")])
    elems["len"] = 4
    head = struct.pack(">iiiii", 1, 0, 700, x.shape[1], 1)
    size = len(head) + elems.nbytes
    for i in range(len(x)):
        elems["val"] = x[i]
        out.write(struct.pack(">hiii", 2, 4, i, size) + head + elems.tobytes())
    out.write(struct.pack(">h", -1))
    out.seek(0)
    return out


def best(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dsn", required=True)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--k", type=int, nargs="+", default=[2, 10])
    a = ap.parse_args()
    print("OPENBLAS_NUM_THREADS=%s, OPENBLAS_CORETYPE=%s, numpy %s" % (
        os.environ.get("OPENBLAS_NUM_THREADS"), os.environ.get("OPENBLAS_CORETYPE", "(detected)"),
        np.__version__))

    conn = psycopg2.connect(a.dsn)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SET max_parallel_workers_per_gather = 0")
    cur.execute("LOAD 'tensorlens'")
    cur.execute("SHOW tensorlens.blas_threads")
    print("tensorlens.blas_threads=%s, no parallel workers" % cur.fetchone()[0])
    rows = []
    parallel = []
    for name, make in (("fashion", fashion), ("synth", synth)):
        x = make()
        cur.execute("DROP TABLE IF EXISTS bench_%s" % name)
        cur.execute("CREATE TABLE bench_%s (id int, vec real[] COMPRESSION lz4)" % name)
        cur.copy_expert("COPY bench_%s FROM STDIN WITH (FORMAT binary)" % name, copy_binary(x))
        cur.execute("VACUUM ANALYZE bench_%s" % name)
        # warm the cache before timing
        cur.execute("SELECT count(vec[1]) FROM bench_%s" % name)
        cur.fetchall()

        def sql(q):
            cur.execute(q)
            cur.fetchall()

        scan = best(lambda: sql("SELECT count(vec[1]) FROM bench_%s" % name), a.repeat)
        for k in a.k:
            t_sql = best(lambda: sql("SELECT tl_pca_fit(vec, %d) FROM bench_%s" % (k, name)), a.repeat)
            t_auto = best(lambda: PCA(n_components=k).fit(x), a.repeat)
            t_full = best(lambda: PCA(n_components=k, svd_solver="full").fit(x), a.repeat)
            rows.append((name, x.shape, k, t_sql, scan, t_auto, t_full))
        # for information: the same aggregate as Partial/Finalize on workers
        cur.execute("SET max_parallel_workers_per_gather = 2")
        cur.execute("ALTER TABLE bench_%s SET (parallel_workers = 2)" % name)
        k = a.k[0]
        parallel.append((name, k, best(lambda: sql("SELECT tl_pca_fit(vec, %d) FROM bench_%s" % (k, name)),
                                       a.repeat)))
        cur.execute("SET max_parallel_workers_per_gather = 0")
    conn.close()

    print()
    print("%-8s %-12s %3s %12s %8s %10s %7s %13s %7s" % (
        "input", "rows x dim", "k", "tl_pca_fit", "(scan)", "sklearn", "ratio",
        "sklearn full", "ratio"))
    for name, shape, k, t_sql, scan, t_auto, t_full in rows:
        print("%-8s %-12s %3d %10.3f s %6.3f s %8.3f s %6.2fx %11.3f s %6.2fx" % (
            name, "%d x %d" % shape, k, t_sql, scan, t_auto, t_auto / t_sql,
            t_full, t_full / t_sql))
    print()
    for name, k, t in parallel:
        print("%-8s k=%d: tl_pca_fit with 2 parallel workers (one OpenBLAS thread each) %.3f s" % (name, k, t))


if __name__ == "__main__":
    main()
