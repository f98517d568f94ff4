#!/usr/bin/python3
"""bench/cold_warm.py — first-call (cold) vs later (warm) cost of tl_infer.

Cold: the first tl_infer of a model in a new backend (resolve the name, read
the model row, parse the .h5, plan, run).  Warm: the same call again, one
statement each (each statement resolves the name once more, then finds the
parsed model in the backend cache).  Both are timed on the client around
single-statement round trips over the local socket, median of the runs.

  /usr/bin/python3 bench/cold_warm.py [--host H --port P --db D] [--runs N]

Needs a database where contrib/demo.sh imported the IMDB models (the
defaults point at the demo cluster).
"""
import argparse
import statistics
import time

import psycopg2

MODELS = {  # demo model name -> an input of the right length
    "imdb_cnn": "tl_tokenize('imdb', text, 500, 2000)",
    "imdb_gap_dense": "tl_tokenize('imdb', text, 5000, 18000)",
    "imdb_lstm": "tl_tokenize('imdb', text, 300, 5000)",
    "imdb_gru": "tl_tokenize('imdb', text, 300, 5000)",
    "imdb_multihot": "tl_multi_hot(tl_tokenize('imdb', text, NULL, 10000), 10000)",
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="/var/lib/tensorlens")
    ap.add_argument("--port", default="5488")
    ap.add_argument("--db", default="tensorlens_demo")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warm", type=int, default=200)
    a = ap.parse_args()
    print("%-16s %12s %12s %14s" % ("model", "cold ms", "warm ms", "cold - warm"))
    for model, expr in MODELS.items():
        colds, warms = [], []
        for _ in range(a.runs):
            conn = psycopg2.connect(host=a.host, port=a.port, dbname=a.db, user="postgres")
            conn.autocommit = True
            cur = conn.cursor()
            # the input is materialised first so only tl_infer is timed
            cur.execute("CREATE TEMP TABLE x AS SELECT %s AS input FROM reviews WHERE id = 0" % expr)
            q = "SELECT tl_infer(%s, input) FROM x"
            t = time.perf_counter()
            cur.execute(q, (model,))
            cur.fetchall()
            colds.append(time.perf_counter() - t)
            for _ in range(a.warm):
                t = time.perf_counter()
                cur.execute(q, (model,))
                cur.fetchall()
                warms.append(time.perf_counter() - t)
            conn.close()
        c, w = statistics.median(colds) * 1e3, statistics.median(warms) * 1e3
        print("%-16s %12.2f %12.3f %14.2f" % (model, c, w, c - w))


if __name__ == "__main__":
    main()
