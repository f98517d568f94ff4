#!/usr/bin/python3
"""load_fashion.py - the 10,000 Fashion-MNIST test images as a TSV for psql.

  /usr/bin/python3 contrib/fashion/load_fashion.py [--tsv FILE] [--limit N]
  psql ... -f contrib/fashion/load_fashion.sql < FILE

or in one go, without a file:

  /usr/bin/python3 contrib/fashion/load_fashion.py | psql ... -f contrib/fashion/load_fashion.sql

Each line is  id <TAB> label <TAB> {p0,p1,...,p783}  : id is the image's
index in t10k-images-idx3-ubyte (0..9999), label its class (0..9, names in
contrib/fashion/README.md) and pixels the 28x28 image row-major as
float32(pixel) / float32(255), written with the fewest digits that read back
to the same real (0 for black, 1 for white).  load_fashion.sql creates the
table fashion(id int primary key, label int, pixels real[]) and \\copy's the
lines into it from psql's standard input.
"""
import argparse
import os
import sys

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_fashion_cnn import load_fashion, DATA_DIR  # noqa: E402


def pixel_strings():
    """Text of float32(p)/255 for p = 0..255: shortest form that round-trips
    as a PostgreSQL real (float4in reads it back to the same float)."""
    v = np.arange(256, dtype=np.float32) / np.float32(255.0)
    return [np.format_float_positional(f, unique=True, trim="-") for f in v]


def write_tsv(out, images, labels):
    text = pixel_strings()
    for i, (img, lab) in enumerate(zip(images, labels)):
        out.write("%d\t%d\t{%s}\n" % (i, lab, ",".join(text[p] for p in img.ravel())))


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tsv", help="file to write (default: standard output)")
    ap.add_argument("--limit", type=int, help="only the first N images")
    ap.add_argument("--data-dir", default=DATA_DIR)
    a = ap.parse_args(argv)
    x, y = load_fashion("test", a.data_dir)
    if a.limit is not None:
        x, y = x[:a.limit], y[:a.limit]
    if a.tsv:
        with open(a.tsv, "w") as f:
            write_tsv(f, x, y)
        print("wrote %d images to %s" % (len(y), a.tsv), file=sys.stderr)
    else:
        write_tsv(sys.stdout, x, y)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
