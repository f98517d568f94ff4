#!/usr/bin/python3
"""data_issues_scale.py - time and memory of the data-issue analyses at 10^4..10^6 samples.

A pipeline's run of N samples is inserted in one transaction: outputs (10-class softmax) and
perception vectors made from the Fashion CNN's real perception vectors of the 10,000 test images
(each repeated with Gaussian jitter of 5 % of the per-feature spread, so that the run has the
real data's structure at any size); labels with 5 % flipped.  The commit runs tl_analyze: PCA
coordinates and the neighbour graph (exact up to tensorlens.knn_exact_max, NN-descent above).
Then tl_label_issues, tl_outliers and tl_near_duplicates are timed: wall time and the backend's
CPU time (/proc/PID/stat; on a shared machine the CPU time is the measure), and its peak memory
(VmHWM).  The server must run on this machine.

  bench/data_issues_scale.py --host H --port P --db D --sizes 10000,100000 [--exact-max 50000]
                             [--rounds R]
"""
import argparse
import io
import os
import time

import numpy as np
import psycopg2


def fashion_perception(conn):
    cur = conn.cursor()
    cur.execute("SELECT count(*) FROM tl_model WHERE name = 'fashion_cnn'")
    if cur.fetchone()[0] == 0:
        raise SystemExit("load the models first (bench/data_issues_load.py)")
    cur.execute("SELECT b.output, b.perception, f.label FROM tl_perception_batch('fashion_cnn', "
                "'SELECT id, pixels FROM fashion ORDER BY id') b JOIN fashion f ON f.id = b.id::int")
    rows = cur.fetchall()
    return (np.array([r[0] for r in rows], np.float32), np.array([r[1] for r in rows], np.float32),
            np.array([r[2] for r in rows]))


def vmhwm_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def cpu_s(pid):
    """User + system CPU seconds of the backend so far (the machine is shared: wall time is not)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def insert_run(cur, base, n):
    """The run of n samples, inserted (not committed); returns (run, rng)."""
    out, perc, lab = base
    rng = np.random.default_rng(n)
    pick = rng.integers(0, len(lab), n)
    spread = perc.std(0, keepdims=True)
    cur.execute("INSERT INTO tl_run (model, dataset, subset, output_kind) VALUES ('scale', 'scale', %s, 'softmax') RETURNING id",
                (str(n),))
    run = cur.fetchone()[0]
    buf = io.StringIO()
    for j, i in enumerate(pick):
        v = perc[i] + rng.normal(0, 0.05, perc.shape[1]).astype(np.float32) * spread[0]
        label = lab[i] if rng.random() >= 0.05 else (lab[i] + 1 + rng.integers(9)) % 10
        buf.write("%d\ts%d\t%d\t{%s}\t{%s}\n" % (run, j, label, ",".join("%.6g" % x for x in out[i]),
                                                   ",".join("%.6g" % x for x in v)))
    buf.seek(0)
    cur.copy_expert("COPY tl_result (run, sample_id, label, output, perception) FROM STDIN", buf)
    return run, rng


FUNCTIONS = (("tl_label_issues", "SELECT count(*) FROM tl_label_issues(%s)"),
             ("tl_outliers", "SELECT count(*) FROM tl_outliers(%s)"),
             ("tl_near_duplicates", "SELECT count(*) FROM tl_near_duplicates(%s)"))


def alternating(args, base, sizes):
    """Each size's run in a database of its own (DB_N), kept; then the three
    functions timed --rounds times with the sizes alternating, each in a
    fresh backend, backend CPU from /proc/PID/schedstat (ns), the least of
    the rounds counted: the drift of a shared machine falls on both sizes."""
    dsn = dict(host=args.host, port=args.port, user="postgres")
    runs, best = {}, {}
    for n in sizes:
        admin = psycopg2.connect(dbname=args.db, **dsn)
        admin.autocommit = True
        admin.cursor().execute("DROP DATABASE IF EXISTS %s_%d" % (args.db, n))
        admin.cursor().execute("CREATE DATABASE %s_%d" % (args.db, n))
        admin.close()
        conn = psycopg2.connect(dbname="%s_%d" % (args.db, n), **dsn)
        cur = conn.cursor()
        cur.execute("CREATE EXTENSION tensorlens")
        cur.execute("SET tensorlens.knn_exact_max = %s", (args.exact_max,))
        runs[n], _ = insert_run(cur, base, n)
        conn.commit()                  # tl_analyze runs at commit
        conn.autocommit = True
        cur.execute("VACUUM ANALYZE")
        conn.close()
        print("run of %d samples analysed in database %s_%d" % (n, args.db, n), flush=True)
    for _ in range(args.rounds):
        for n in sizes:
            for name, sql in FUNCTIONS:
                conn = psycopg2.connect(dbname="%s_%d" % (args.db, n), **dsn)
                cur = conn.cursor()
                cur.execute("SELECT pg_backend_pid()")
                pid = cur.fetchone()[0]
                c0 = schedstat_s(pid)
                cur.execute(sql, (runs[n],))
                cur.fetchone()
                c = schedstat_s(pid) - c0
                conn.close()
                best[(name, n)] = min(best.get((name, n), c), c)
    lo, hi = sizes[0], sizes[-1]
    nlogn = hi * np.log(hi) / (lo * np.log(lo))
    for name, _ in FUNCTIONS:
        print({"function": name, **{"cpu_s_%d" % n: round(best[(name, n)], 3) for n in sizes},
               "growth": round(best[(name, hi)] / best[(name, lo)], 1), "n_log_n": round(nlogn, 1),
               "rounds": args.rounds}, flush=True)


def schedstat_s(pid):
    with open("/proc/%d/schedstat" % pid) as f:
        return int(f.read().split()[0]) / 1e9


def one_size(args, base, n):
    conn = psycopg2.connect(host=args.host, port=args.port, dbname=args.db, user="postgres")
    cur = conn.cursor()
    cur.execute("SET tensorlens.knn_exact_max = %s", (args.exact_max,))
    cur.execute("SELECT pg_backend_pid()")
    pid = cur.fetchone()[0]
    run, rng = insert_run(cur, base, n)
    t0, c0 = time.time(), cpu_s(pid)
    conn.commit()                      # tl_analyze runs at commit
    t_analyze, c_analyze = time.time() - t0, cpu_s(pid) - c0
    cur.execute("SELECT status, analysis_error FROM tl_run WHERE id = %s", (run,))
    status = cur.fetchone()
    times, cpu = {}, {"tl_analyze": round(c_analyze, 2)}
    for name, sql in FUNCTIONS:
        t0, c0 = time.time(), cpu_s(pid)
        cur.execute(sql, (run,))
        cur.fetchone()
        times[name] = round(time.time() - t0, 2)
        cpu[name] = round(cpu_s(pid) - c0, 2)
    peak = vmhwm_mb(pid)
    recall = None
    if n > args.exact_max:
        # the stored (approximate) graph against exact search (tl_similar) for a few samples
        hits = total = 0
        for j in rng.choice(n, args.recall_samples, replace=False):
            cur.execute("SELECT array_agg(neighbour_id) FROM tl_neighbour WHERE run = %s AND sample_id = %s", (run, "s%d" % j))
            stored = set(cur.fetchone()[0])
            cur.execute("SELECT array_agg(sample_id) FROM tl_similar(%s, %s, 10)", (run, "s%d" % j))
            hits += len(stored & set(cur.fetchone()[0]))
            total += 10
        recall = round(hits / total, 4)
    cur.execute("DELETE FROM tl_run WHERE id = %s", (run,))
    conn.commit()
    conn.close()
    print({"samples": n, "width": perc.shape[1], "graph": "exact" if n <= args.exact_max else "NN-descent",
           "status": status[0], "error": status[1], "tl_analyze_at_commit_s": round(t_analyze, 2), **times,
           "total_wall_s": round(t_analyze + sum(times.values()), 2), "backend_cpu_s": cpu,
           "total_cpu_s": round(sum(cpu.values()), 2), "backend_peak_MB": round(peak),
           "recall_at_10": recall}, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="/tmp/data-dev")
    ap.add_argument("--port", default=55613, type=int)
    ap.add_argument("--db", default="di")
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--exact-max", default=50000, type=int)
    ap.add_argument("--recall-samples", default=30, type=int)
    ap.add_argument("--rounds", default=0, type=int,
                    help="keep each size's run in a database of its own and time the functions"
                         " this many rounds, sizes alternating (growth on a shared machine)")
    a = ap.parse_args()
    conn = psycopg2.connect(host=a.host, port=a.port, dbname=a.db, user="postgres")
    base = fashion_perception(conn)
    conn.close()
    if a.rounds:
        alternating(a, base, [int(s) for s in a.sizes.split(",")])
        return
    for n in [int(s) for s in a.sizes.split(",")]:
        one_size(a, base, n)


if __name__ == "__main__":
    main()
