#!/usr/bin/python3
"""bench/maps_epochs.py — how far a map moves between the epochs of a real
training run (issue 14): the maps tensorlens draws at each epoch's commit,
started from the previous epoch's map, against maps drawn independently for
each epoch from the same perception vectors (tl_embed_umap / tl_embed_tsne
without a warm start), the latter aligned to their predecessor by the best
similarity transform (orthogonal Procrustes with scale), so that only real
movement counts against them.

Each epoch's run is drawn again here, in epoch order, with
tl_analyze(run, 2, map => ...): each draw starts from the previous epoch's,
as the analysis at commit does for a pipeline that sets tl_run.map.

Displacement = mean distance a shared sample moves between consecutive
epochs, in units of the map's spread (RMS distance of the points from their
centroid).  Run by bench/maps_epochs.sh, which trains with
contrib/pipeline/train_with_tensorlens.py first.
"""
import argparse
import numpy as np
import psycopg2


def spread(p):
    return float(np.sqrt(((p - p.mean(0)) ** 2).sum(1).mean()))


def procrustes(a, b):
    """b moved onto a by rotation/reflection, scale and translation."""
    ac, bc = a - a.mean(0), b - b.mean(0)
    u, s, vt = np.linalg.svd(bc.T @ ac)
    r = u @ vt
    scale = s.sum() / (bc ** 2).sum()
    return bc @ r * scale + a.mean(0)


def displacement(a, b):
    return float(np.sqrt(((a - b) ** 2).sum(1)).mean()) / spread(a)


def coords(cur, sql, args=()):
    cur.execute(sql, args)
    rows = sorted(cur.fetchall())
    return [r[0] for r in rows], np.array([r[1:] for r in rows], dtype=float)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dsn", required=True)
    ap.add_argument("--model", default="fashion_pipeline")
    ap.add_argument("--maps", default="umap,tsne")
    args = ap.parse_args()
    con = psycopg2.connect(args.dsn)
    con.autocommit = True
    cur = con.cursor()
    cur.execute("SELECT id, epoch FROM tl_run WHERE model = %s AND status = 'ready' ORDER BY epoch", (args.model,))
    runs = cur.fetchall()
    if len(runs) < 2:
        raise SystemExit("need at least two ready epochs of %s" % args.model)
    for kind in args.maps.split(","):
        warm, indep = [], []
        for run, epoch in runs:
            cur.execute("SELECT tl_analyze(%s, 2, map => %s)", (run, kind))
            warm.append(coords(cur, "SELECT sample_id, x, y FROM tl_result WHERE run = %s", (run,)))
            cur.execute("DROP TABLE IF EXISTS pg_temp.epoch_vectors")
            cur.execute("CREATE TEMP TABLE epoch_vectors AS SELECT sample_id, perception, NULL::real AS x, NULL::real AS y "
                        "FROM tl_result WHERE run = %s AND perception IS NOT NULL", (run,))
            cur.execute("SELECT tl_embed_%s('pg_temp.epoch_vectors', 'perception')" % kind)
            indep.append(coords(cur, "SELECT sample_id, x, y FROM pg_temp.epoch_vectors"))
        print("\nmap %s, %d epochs, %d samples: mean displacement between epochs / spread" % (kind, len(runs), len(warm[0][0])))
        print("| epochs | started from the previous epoch | drawn independently, Procrustes-aligned |")
        print("|---|---|---|")
        w_all, i_all = [], []
        for e in range(1, len(runs)):
            assert warm[e][0] == warm[e - 1][0] == indep[e][0] == indep[e - 1][0]
            w = displacement(warm[e - 1][1], warm[e][1])
            i = displacement(indep[e - 1][1], procrustes(indep[e - 1][1], indep[e][1]))
            w_all.append(w)
            i_all.append(i)
            print("| %d → %d | %.3f | %.3f |" % (runs[e - 1][1], runs[e][1], w, i))
        print("| mean | **%.3f** | %.3f |" % (np.mean(w_all), np.mean(i_all)))


if __name__ == "__main__":
    main()
