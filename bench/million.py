#!/usr/bin/python3
"""bench/million.py - a million IMDB reviews end to end (bench/million.sh).

  /usr/bin/python3 bench/million.py --dsn DSN --data DIR --models DIR [--sizes 100000,1000000]

For each N, a database of its own (tl_million_N) holds a table of N
reviews: the 5000 real reviews of ../shared/data, tokenized once by
tl_tokenize, repeated and shuffled (a fixed order), each copy with its own
id.  Every stage runs in a fresh backend; the backend's CPU time
(/proc/<pid>/schedstat) is counted and its memory sampled
(/proc/<pid>/status: RssAnon, its private memory, every 20 ms; VmHWM at the
end, which also counts the shared buffers it touched).  tl_evaluate runs
once per size and, for the smaller sizes, once more after the largest (the
mean of the two counts); the stages after it run --rounds times (default 3), the
sizes alternating within a round, and count their least time, so that the
drift of a shared machine's speed over minutes falls on both sizes alike:

  evaluate       tl_evaluate on the GAP model: inference, losses, perception
                 vectors, tl_result rows, then tl_analyze (PCA, placing, the
                 neighbour graph: NN-descent above tensorlens.knn_exact_max)
  pca            tl_pca_fit over the run's perception vectors, no workers
  pca parallel   the same with 2 parallel workers (Partial Aggregate)
  infer          SELECT count(tl_infer(...)) over the table, no workers
  infer parallel the same on 2 parallel workers (Parallel Seq Scan)
  clusters       tl_failure_clusters (k-means on the coordinates)
  map            tl_svg_scatter of the whole run (bytes of SVG)
  label issues   tl_label_issues over the stored graph
  outliers       tl_outliers within the run, over the stored graph

Prints one table (also written to --out).  Growth from the smallest N to
the largest is given per stage as the ratio of the times beside n log n.
"""
import argparse
import math
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "test", "reference"))
from perf import Session  # noqa: E402  (bench/perf.py: a connection and its backend's pid)
from prep_fixtures import read_reviews  # noqa: E402

OUT = []


def say(s=""):
    print(s, flush=True)
    OUT.append(s)


class Backend(Session):
    """A session whose backend's memory is sampled while a statement runs."""

    def status(self, key):
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024.0
        return 0.0

    def cpu(self):
        """The backend's CPU seconds so far (/proc/<pid>/schedstat, ns; its parallel workers not counted)."""
        with open("/proc/%d/schedstat" % self.pid) as f:
            return int(f.read().split()[0]) / 1e9

    def run(self, sql, args=None):
        """(seconds, backend CPU seconds, first row, peak RssAnon MB, VmHWM MB)"""
        peak = [self.status("RssAnon")]
        cpu = self.cpu()
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                try:
                    peak[0] = max(peak[0], self.status("RssAnon"))
                except OSError:
                    pass
                time.sleep(0.02)
        th = threading.Thread(target=sample)
        th.start()
        t = time.perf_counter()
        try:
            self.cur.execute(sql, args)
            row = self.cur.fetchone() if self.cur.description else None
        finally:
            t = time.perf_counter() - t
            cpu = self.cpu() - cpu
            stop.set()
            th.join()
        return t, cpu, row, peak[0], self.status("VmHWM")



def prepare(a, cur, n_max):
    reviews = read_reviews(os.path.join(a.data, "datasets", "imdb", "imdb_reviews_5000.tsv"), None)
    path = os.path.join(a.work, "reviews.tsv")
    with open(path, "w") as f:
        for i, r in enumerate(reviews):
            text = r[2].replace("\\", "\\\\").replace("\t", " ").replace("\n", " ")
            f.write("%d\t%d\t%s\n" % (i, r[1], text))
    os.chmod(path, 0o644)
    wi = os.path.join(a.data, "datasets", "imdb", "imdb_word_index.json")
    cur.execute("SELECT tl_vocab_import('imdb', pg_read_file(%s)::jsonb)", (wi,))
    cur.execute("SELECT tl_model_load('imdb_gap', %s)",
                (os.path.join(a.models, "imdb_embed_gap_dense__kolerabi.h5"),))
    t = time.perf_counter()
    cur.execute("""
        CREATE TABLE reviews (id int PRIMARY KEY, label int, text text);
        COPY reviews FROM %s;
        CREATE TABLE review_tokens AS
          SELECT id, label, tl_tokenize('imdb', text, NULL, 18000) AS tokens FROM reviews;
        -- the reviews repeated and shuffled (fixed order: a hash of the copy's id)
        CREATE TABLE imdb1m (id int PRIMARY KEY, review int, label int, tokens int[]);
        INSERT INTO imdb1m
          SELECT row_number() OVER (ORDER BY hashint8(c * 5000 + r.id)), r.id, r.label, r.tokens
            FROM review_tokens r, generate_series(0, %s - 1) c;
    """, (path, (n_max + 4999) // 5000))
    cur.execute("VACUUM ANALYZE imdb1m")
    cur.execute("SELECT count(*), pg_size_pretty(pg_total_relation_size('imdb1m')) FROM imdb1m")
    rows, size = cur.fetchone()
    say("table imdb1m: %d rows (the 5000 reviews repeated and shuffled), %s, built in %.0f s"
        % (rows, size, time.perf_counter() - t))


def stage_line(name, best, rounds, row, plan):
    t, cpu, rss, hwm = best
    say("  %-16s %9.2f s  CPU %9.2f s  private peak %7.1f MB  VmHWM %7.1f MB  %s%s%s"
        % (name, t, cpu, rss, hwm, "" if row is None else "-> %s " % (row[0],),
           "(least of %d rounds) " % rounds if rounds > 1 else "", plan and "[%s]" % plan))


def measure(dsn, sql, settings=(), args=None, explain=None):
    """One run of sql in a fresh backend: ((wall, CPU, peak RssAnon, VmHWM), first row, plan)."""
    b = Backend(dsn, ["SET max_parallel_workers_per_gather = 0"] + list(settings))
    plan = ""
    if explain:
        b.cur.execute("EXPLAIN " + explain)
        lines = [r[0] for r in b.cur.fetchall()]
        plan = "; ".join(l.strip() for l in lines if "Workers" in l or "Parallel" in l or "Partial" in l)
    t, cpu, row, rss, hwm = b.run(sql, args)
    b.close()
    return (t, cpu, rss, hwm), row, plan


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dsn", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--models", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--out")
    # a stage's CPU time on a shared VM drifts by 10-40 % within minutes
    # (other tenants, caches): the stages after tl_evaluate run this many
    # rounds, the sizes alternating within each, and count their least time
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    sizes = [int(s) for s in a.sizes.split(",")]
    par = ["SET max_parallel_workers_per_gather = 2", "SET parallel_setup_cost = 0",
           "SET parallel_tuple_cost = 0", "SET min_parallel_table_scan_size = 0"]
    res, dsn, runs = {}, {}, {}
    # each size in a database of its own: its tables hold its rows alone
    def evaluate(n):
        best, row, _ = measure(dsn[n], "SELECT tl_evaluate('imdb_gap', %s, %s)",
                               args=("SELECT id, tokens, label FROM imdb1m", "million %d" % n))
        stage_line("evaluate", best, 1, row, "")
        # statistics of the new rows (autovacuum would gather them soon): without them the
        # planner expects a handful of rows and plans no workers
        analyze, _, _ = measure(dsn[n], "ANALYZE tl_result")
        stage_line("ANALYZE tl_result", analyze, 1, None, "")
        return best, row[0]

    for n in sizes:
        say("\n== %d reviews: database tl_million_%d" % (n, n))
        setup = Backend(a.dsn)
        setup.cur.execute("DROP DATABASE IF EXISTS tl_million_%d" % n)
        setup.cur.execute("CREATE DATABASE tl_million_%d" % n)
        setup.close()
        dsn[n] = a.dsn + " dbname=tl_million_%d" % n
        setup = Backend(dsn[n])
        setup.cur.execute("CREATE EXTENSION tensorlens")
        prepare(a, setup.cur, n)
        setup.close()
        res[("evaluate", n)], runs[n] = evaluate(n)
    # tl_evaluate is too long to alternate: the smaller sizes run it again
    # after the largest, and their growth is taken against the mean of the
    # two (a drift of the machine's speed that is linear in time cancels)
    for n in sizes[:-1]:
        say("\n== %d reviews again, after the largest (its first run deleted)" % n)
        setup = Backend(dsn[n])
        setup.cur.execute("DELETE FROM tl_run WHERE id = %s", (runs[n],))
        setup.cur.execute("VACUUM tl_result")
        setup.cur.execute("VACUUM tl_neighbour")
        setup.close()
        first = res[("evaluate", n)]
        again, runs[n] = evaluate(n)
        res[("evaluate", n)] = tuple((f + g) / 2 for f, g in zip(first[:2], again[:2])) + \
            (max(first[2], again[2]), max(first[3], again[3]))
        say("  evaluate, mean of both: %.2f s, CPU %.2f s" % res[("evaluate", n)][:2])

    def stages(run):
        pca = "SELECT tl_pca_fit(perception, 3) IS NOT NULL FROM tl_result WHERE run = %d" % run
        infer = "SELECT count(tl_infer('imdb_gap', tokens)) FROM imdb1m"
        return [("pca", pca, (), None), ("pca parallel", pca, par, pca),
                ("infer", infer, (), None), ("infer parallel", infer, par, infer),
                ("clusters", "SELECT count(*) FROM tl_failure_clusters(%d, 8)" % run, (), None),
                ("map", "SELECT octet_length(tl_svg_scatter(x, y, loss, label_name, sample_id ORDER BY sample_id)) "
                        "FROM tl_population WHERE run = %d" % run, (), None),
                ("label issues", "SELECT count(*) FROM tl_label_issues(%d)" % run, (), None),
                ("outliers", "SELECT count(*) FROM tl_outliers(%d)" % run, (), None)]
    rows, plans = {}, {}
    for r in range(a.rounds):
        for n in sizes:
            for name, sql, settings, explain in stages(runs[n]):
                best, row, plan = measure(dsn[n], sql, settings, explain=explain if r == 0 else None)
                old = res.get((name, n))
                # the least time of the rounds, the most memory
                res[(name, n)] = best if old is None else \
                    (min(old[0], best[0]), min(old[1], best[1]), max(old[2], best[2]), max(old[3], best[3]))
                rows[(name, n)] = row
                plans.setdefault((name, n), plan)
    for n in sizes:
        say("\n== %d reviews, %d rounds alternating with the other sizes" % (n, a.rounds))
        for name, _, _, _ in stages(runs[n]):
            stage_line(name, res[(name, n)], a.rounds, rows[(name, n)], plans[(name, n)])
    if len(sizes) > 1:
        lo, hi = sizes[0], sizes[-1]
        nlogn = hi * math.log(hi) / (lo * math.log(lo))
        # judged by the backend's CPU time (the wall time of a shared machine is not
        # the work's); the parallel stages by wall time (their workers' CPU is elsewhere)
        say("\n== growth from %d to %d (n log n: %.1fx): wall, backend CPU" % (lo, hi, nlogn))
        for name in ("evaluate", "pca", "pca parallel", "infer", "infer parallel", "clusters", "map", "label issues", "outliers"):
            if (name, lo) in res and (name, hi) in res:
                g = res[(name, hi)][0] / max(res[(name, lo)][0], 1e-9)
                gc = res[(name, hi)][1] / max(res[(name, lo)][1], 1e-9)
                judged = g if "parallel" in name else gc
                say("  %-16s %6.1fx %6.1fx  %s" % (name, g, gc, "within n log n" if judged <= nlogn * 1.1 else "ABOVE n log n"))
    if a.out:
        with open(a.out, "w") as f:
            f.write("\n".join(OUT) + "\n")


if __name__ == "__main__":
    main()
