#!/usr/bin/python3
"""data_issues.py - how well tensorlens finds planted data issues, next to the baselines.

Independent truth, planted by this script with its own seeds (never by the code measured):
  * label issues: a share of the labels flipped AFTER training (the models were trained on the
    true labels) - AUROC and precision at n (n = flipped count) of tl_label_issues' score next to
    self-confidence and margin computed here from the stored outputs; ensembles of two models
    (with_runs) next to each model's best baseline;
  * near-duplicates: copies of samples with noise, a one-pixel shift or one sentence changed -
    recall and precision of tl_near_duplicates at its default thresholds, in perception space,
    in input space and merged (the multi-hot and the token-id IMDB models);
  * out-of-distribution samples: Fashion-MNIST images among MNIST digits, amazon/yelp sentences
    among IMDB reviews - AUROC of tl_outliers (within the run, and against a reference run of
    in-distribution samples) next to max-softmax.

  bench/data_issues.sh [--seeds 1,2,3]      (builds, installs, starts a throwaway cluster)
"""
import argparse
import json
import os
import sys
import time

import numpy as np
from sklearn.metrics import roc_auc_score

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data_issues_load as dl  # noqa: E402

TABLES = {"imdb": "reviews", "digits": "digits", "fashion": "fashion"}
LABEL_CASES = [("imdb_cnn", None), ("imdb_multihot3", None), ("imdb_multihot", None),
               ("imdb_gap_dense", None), ("mnist_small", None), ("mnist_cnn", None), ("fashion_cnn", None)]
ENSEMBLES = [("imdb_cnn", "imdb_multihot3", 1500), ("imdb_gap_dense", "imdb_multihot", 1500)]


def precision_at_n(truth, score):
    n = int(truth.sum())
    order = np.argsort(-score, kind="stable")
    return float(truth[order[:n]].mean())


def metrics(truth, score):
    return {"auroc": round(float(roc_auc_score(truth, score)), 4), "p_at_n": round(precision_at_n(truth, score), 3)}


def class_probs(cur, outputs, kind):
    cur.execute("SELECT tl_class_probs(o::real[], %s) FROM unnest(%s::text[]) o", (kind, [
        "{" + ",".join(repr(float(v)) for v in o) + "}" for o in outputs]))
    return np.array([r[0] for r in cur.fetchall()], np.float64)


def noisy_table(cur, name, dataset, seed, rate, size, classes):
    """A copy of the dataset's table (a seeded subset of `size` rows) with `rate` of its labels flipped."""
    table = TABLES[dataset]
    cur.execute("SELECT id, label FROM %s ORDER BY id" % table)
    rows = cur.fetchall()
    rng = np.random.default_rng(seed)
    ids = np.array([r[0] for r in rows])
    labels = np.array([r[1] for r in rows])
    if size:
        keep = np.sort(rng.choice(len(ids), size, replace=False))
        ids, labels = ids[keep], labels[keep]
    flip = np.zeros(len(ids), bool)
    flip[rng.choice(len(ids), int(round(rate * len(ids))), replace=False)] = True
    noisy = labels.copy()
    for i in np.where(flip)[0]:
        noisy[i] = rng.choice([c for c in range(classes) if c != labels[i]])
    cur.execute("DROP TABLE IF EXISTS %s; CREATE TABLE %s (id int PRIMARY KEY, true_label int, label int)" % (name, name))
    cur.execute("INSERT INTO %s SELECT * FROM unnest(%%s::int[], %%s::int[], %%s::int[])" % name,
                (ids.tolist(), labels.tolist(), noisy.tolist()))
    return name


def evaluate(cur, model, dataset, noisy, tag):
    _, inp, _ = dl.MODELS[model]
    src = TABLES[dataset]
    t0 = time.time()
    cur.execute("SELECT tl_evaluate(%s, %s, %s, %s)",
                (model, "SELECT s.id, %s, n.label FROM %s s JOIN %s n USING (id)" % (inp, src, noisy), tag, noisy))
    return cur.fetchone()[0], time.time() - t0


def label_case(cur, model, seed, rate, size=None, with_model=None):
    dataset = dl.MODELS[model][2]
    classes = 2 if dataset == "imdb" else 10
    noisy = noisy_table(cur, "noisy_%d" % seed, dataset, seed, rate, size, classes)
    runs = [evaluate(cur, m, dataset, noisy, "label-issues") for m in [model] + ([with_model] if with_model else [])]
    t0 = time.time()
    cur.execute("SELECT li.sample_id, li.score, li.self_confidence_by_run, n.label <> n.true_label "
                "FROM tl_label_issues(%s, 10, %s) li JOIN " + noisy + " n ON n.id::text = li.sample_id",
                (runs[0][0], [r[0] for r in runs[1:]] or None))
    rows = cur.fetchall()
    t_issues = time.time() - t0
    truth = np.array([r[3] for r in rows])
    out = {"model": model + ("+" + with_model if with_model else ""), "seed": seed, "n": len(rows),
           "flipped": int(truth.sum()), "evaluate_s": round(sum(r[1] for r in runs), 2), "label_issues_s": round(t_issues, 2),
           "tl_label_issues": metrics(truth, np.array([r[1] for r in rows]))}
    # baselines from the stored outputs, through the same output semantics
    for k, (run, _) in enumerate(runs):
        cur.execute("SELECT r.sample_id, tl_class_probs(r.output, t.output_kind), r.label FROM tl_result r "
                    "JOIN tl_run t ON t.id = r.run WHERE r.run = %s", (run,))
        by_id = {sid: (np.array(p), lab) for sid, p, lab in cur.fetchall()}
        p = np.array([by_id[r[0]][0] for r in rows])
        lab = np.array([by_id[r[0]][1] for r in rows])
        own = p[np.arange(len(rows)), lab]
        other = p.copy()
        other[np.arange(len(rows)), lab] = -1
        name = [model, with_model][k]
        out["self_confidence " + name] = metrics(truth, -own)
        out["margin " + name] = metrics(truth, -(own - other.max(1)))
    return out


def duplicate_case(cur, dataset, model, seed, n_copies=100):
    """Planted copies: noise and a one-pixel shift (images), one sentence changed (reviews)."""
    rng = np.random.default_rng(seed)
    table = TABLES[dataset]
    cur.execute("SELECT id FROM %s ORDER BY id" % table)
    ids = [r[0] for r in cur.fetchall()]
    base = rng.choice(len(ids), min(3000, len(ids)), replace=False)
    src = [ids[i] for i in base[:n_copies]]
    cur.execute("DROP TABLE IF EXISTS dup_src; CREATE TABLE dup_src AS SELECT * FROM %s WHERE id = ANY(%%s)" % table,
                ([ids[i] for i in base],))
    planted = []
    if dataset == "imdb":
        cur.execute("SELECT id, label, text FROM %s WHERE id = ANY(%%s) ORDER BY id" % table, (src,))
        for k, (i, lab, text) in enumerate(cur.fetchall()):
            sentences = text.split(". ")
            j = int(rng.integers(len(sentences)))
            sentences[j] = "I watched it again with my family last weekend"
            cur.execute("INSERT INTO dup_src VALUES (%s, %s, %s)", (1000000 + k, lab, ". ".join(sentences)))
            planted.append((str(i), str(1000000 + k), "sentence changed"))
    else:
        cur.execute("SELECT id, label, pixels FROM %s WHERE id = ANY(%%s) ORDER BY id" % table, (src,))
        for k, (i, lab, px) in enumerate(cur.fetchall()):
            img = np.array(px, np.float32).reshape(28, 28)
            if k % 2 == 0:
                copy, how = np.clip(img + rng.normal(0, 0.03, img.shape), 0, 1), "noise"
            else:
                copy, how = np.roll(img, 1, axis=1), "1-pixel shift"
            cur.execute("INSERT INTO dup_src VALUES (%s, %s, %s)", (1000000 + k, lab, copy.astype(np.float32).ravel().tolist()))
            planted.append((str(i), str(1000000 + k), how))
    _, inp, _ = dl.MODELS[model]
    cur.execute("SELECT tl_evaluate(%s, %s, 'duplicates', %s)", (model, "SELECT id, %s, label FROM dup_src" % inp, dataset))
    run = cur.fetchone()[0]
    cur.execute("SELECT sample_id, duplicate_id, distance IS NOT NULL, input_distance IS NOT NULL "
                "FROM tl_near_duplicates(%s)", (run,))
    rows = cur.fetchall()
    truth = {tuple(sorted((a, b))) for a, b, _ in planted}
    out = {"dataset": dataset, "model": model, "seed": seed, "planted": len(truth)}
    # each space alone and merged (the rows tl_near_duplicates returns)
    for space, keep in (("perception", lambda p, i: p), ("input", lambda p, i: i), ("merged", lambda p, i: True)):
        found = {tuple(sorted((a, b))) for a, b, p, i in rows if keep(p, i)}
        out["found " + space] = len(found)
        out["recall " + space] = round(len(found & truth) / len(truth), 3)
        out["precision " + space] = round(len(found & truth) / max(1, len(found)), 3)
        for how in sorted({h for _, _, h in planted}):
            t = {tuple(sorted((a, b))) for a, b, h in planted if h == how}
            out["recall %s %s" % (space, how)] = round(len(found & t) / len(t), 3)
    return out


def ood_case(cur, model, seed, n_ood=250):
    """Samples of another data set among a model's own: tl_outliers within the run and against a reference run."""
    dataset = dl.MODELS[model][2]
    _, inp, _ = dl.MODELS[model]
    rng = np.random.default_rng(seed)
    ind, other = (TABLES[dataset], "sentences" if dataset == "imdb" else "fashion")
    cur.execute("SELECT id FROM %s ORDER BY id" % ind)
    ids = np.array([r[0] for r in cur.fetchall()])
    perm = rng.permutation(len(ids))
    ref, test = ids[perm[: len(ids) // 2]], ids[perm[len(ids) // 2:]]
    cur.execute("SELECT id FROM %s ORDER BY id" % other)
    oids = np.array([r[0] for r in cur.fetchall()])
    ood = rng.choice(oids, n_ood, replace=False)
    cols = "id, label, text" if dataset == "imdb" else "id, label, pixels"
    cur.execute("DROP TABLE IF EXISTS ood_ref, ood_test; "
                "CREATE TABLE ood_ref AS SELECT %s FROM %s WHERE id = ANY(%%s); "
                "CREATE TABLE ood_test AS SELECT %s FROM %s WHERE id = ANY(%%s) "
                "UNION ALL SELECT %s FROM %s WHERE id = ANY(%%s)" % (cols, ind, cols, ind, cols.replace("id", "id + 2000000"), other),
                (ref.tolist(), test.tolist(), ood.tolist()))
    runs = {}
    for t in ("ood_ref", "ood_test"):
        cur.execute("SELECT tl_evaluate(%s, %s, 'ood', %s)", (model, "SELECT id, %s, label FROM %s" % (inp, t), t))
        runs[t] = cur.fetchone()[0]
    out = {"model": model, "seed": seed, "in_distribution": len(test), "foreign": n_ood}
    cur.execute("SELECT r.sample_id, (SELECT max(p) FROM unnest(tl_class_probs(r.output, t.output_kind)) p) "
                "FROM tl_result r JOIN tl_run t ON t.id = r.run WHERE r.run = %s", (runs["ood_test"],))
    msp = dict(cur.fetchall())
    for name, sql in (("within", "SELECT sample_id, score FROM tl_outliers(%s)" % runs["ood_test"]),
                      ("reference", "SELECT sample_id, score FROM tl_outliers(%s, %s)" % (runs["ood_test"], runs["ood_ref"]))):
        cur.execute(sql)
        rows = cur.fetchall()
        truth = np.array([int(s) >= 2000000 for s, _ in rows])
        out["tl_outliers " + name] = round(float(roc_auc_score(truth, [v for _, v in rows])), 4)
        if name == "within":
            out["max_softmax"] = round(float(roc_auc_score(truth, [-msp[s] for s, _ in rows])), 4)
    cur.execute("SELECT count(*) FILTER (WHERE outlier AND sample_id::int >= 2000000), count(*) FILTER (WHERE outlier) "
                "FROM tl_outliers(%s, %s)", (runs["ood_test"], runs["ood_ref"]))
    hit, flagged = cur.fetchone()
    out["reference flagged"] = flagged
    out["reference flagged foreign"] = hit
    return out


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="/tmp/data-dev")
    ap.add_argument("--port", default=55613, type=int)
    ap.add_argument("--db", default="postgres")
    ap.add_argument("--data", default=os.path.join(dl.REPO, "../shared/data"))
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--rate", default=0.05, type=float)
    ap.add_argument("--only", default="labels,ensembles,duplicates,ood")
    ap.add_argument("--out", help="write the results as JSON lines here too")
    a = ap.parse_args(argv)
    conn = dl.connect(a)
    conn.autocommit = True
    dl.load_all(conn, a.data)
    cur = conn.cursor()
    seeds = [int(s) for s in a.seeds.split(",")]
    only = a.only.split(",")
    sink = open(a.out, "w") if a.out else None

    def emit(r):
        print(json.dumps(r), flush=True)
        if sink:
            sink.write(json.dumps(r) + "\n")
    for s in seeds:
        if "labels" in only:
            for m, _ in LABEL_CASES:
                emit(label_case(cur, m, s, a.rate))
        if "ensembles" in only:
            for m1, m2, size in ENSEMBLES:
                emit(label_case(cur, m1, s, a.rate, size, m2))
        if "duplicates" in only:
            emit(duplicate_case(cur, "digits", "mnist_small", s))
            emit(duplicate_case(cur, "fashion", "fashion_cnn", s))
            emit(duplicate_case(cur, "imdb", "imdb_multihot3", s))
            emit(duplicate_case(cur, "imdb", "imdb_cnn", s))
        if "ood" in only:
            for m in ("mnist_small", "mnist_cnn", "imdb_multihot3", "imdb_cnn"):
                emit(ood_case(cur, m, s))


if __name__ == "__main__":
    main(sys.argv[1:])
