#!/usr/bin/python3
"""Convert the iris and digits data sets shipped by Debian's python3-sklearn into saddlescope data files.

Usage: /usr/bin/python3 tools/convert_sklearn_data.py [--source DIR] [--out-dir data/datasets]

Reads the CSV files directly (no scikit-learn import needed) and writes data/datasets/iris.h5 and
data/datasets/digits.h5 in the "saddlescope-data" format (lib/io/checkpoint.h):
  root: format, format_version 1, created_by, git_commit, command_line, created_at, seeds
  /<name>/X float64 [N, d], /<name>/y float64 [N, 1] (class index),
  attributes source, license, sha256 (of the source CSV as shipped), description, classes.
Each file is written to a temporary name and renamed. The output is deterministic apart from the
provenance attributes (created_at, git_commit, command_line).
"""
import argparse
import gzip
import hashlib
import io
import os
import shlex
import sys

import h5py
import numpy as np

from h5_provenance import write_provenance, write_string

VERSION = "0.1.0"
DEFAULT_SOURCE = "/usr/lib/python3/dist-packages/sklearn/datasets/data"

DATASETS = {
    "iris": {
        "file": "iris.csv",
        "description": "Fisher's Iris data: 150 flowers, 4 measurements in cm (sepal length, sepal width, "
                       "petal length, petal width), 3 species (0 setosa, 1 versicolor, 2 virginica)",
        "source": "R. A. Fisher (1936), The use of multiple measurements in taxonomic problems, Annals of "
                  "Eugenics 7(2); UCI Machine Learning Repository, https://archive.ics.uci.edu/dataset/53/iris; "
                  "as shipped by Debian python3-sklearn 1.2.1 in sklearn/datasets/data/iris.csv",
    },
    "digits": {
        "file": "digits.csv.gz",
        "description": "Optical recognition of handwritten digits (test set of the UCI data): 1797 images, "
                       "8x8 pixel counts in 0..16 row by row, 10 classes (the digit)",
        "source": "E. Alpaydin, C. Kaynak (1998), Optical Recognition of Handwritten Digits, UCI Machine "
                  "Learning Repository, https://archive.ics.uci.edu/dataset/80; as shipped by Debian "
                  "python3-sklearn 1.2.1 in sklearn/datasets/data/digits.csv.gz",
        "sample_shape": [1, 8, 8],  # one channel, 8 rows of 8 pixels: what a CNN takes (docs/graph.md)
    },
}
LICENSE = ("CC BY 4.0 (UCI Machine Learning Repository); redistributed within scikit-learn under "
           "BSD-3-Clause (Debian python3-sklearn copyright file)")


def read_csv(path, name):
    raw = open(path, "rb").read()
    text = gzip.decompress(raw).decode() if path.endswith(".gz") else raw.decode()
    if name == "iris":
        lines = text.strip().splitlines()
        header = lines[0].split(",")
        count, features = int(header[0]), int(header[1])
        table = np.loadtxt(io.StringIO("\n".join(lines[1:])), delimiter=",")
        if table.shape != (count, features + 1):
            raise ValueError(f"{path}: expected {count}x{features + 1} values, got {table.shape}")
    else:
        table = np.loadtxt(io.StringIO(text), delimiter=",")
        if table.shape != (1797, 65):
            raise ValueError(f"{path}: expected 1797x65 values, got {table.shape}")
    X = np.ascontiguousarray(table[:, :-1], dtype=np.float64)
    y = np.ascontiguousarray(table[:, -1:], dtype=np.float64)
    return X, y, hashlib.sha256(raw).hexdigest()


def write_data_file(path, name, X, y, sha256, meta):
    temporary = f"{path}.tmp-{os.getpid()}"
    try:
        with h5py.File(temporary, "w") as f:
            write_provenance(f, "saddlescope-data", f"convert_sklearn_data.py {VERSION}", shlex.join(sys.argv))
            g = f.create_group(name)
            g.create_dataset("X", data=X, compression="gzip", compression_opts=9, shuffle=True)
            g.create_dataset("y", data=y, compression="gzip", compression_opts=9, shuffle=True)
            if "sample_shape" in meta:
                g.create_dataset("sample_shape", data=np.asarray(meta["sample_shape"], dtype=np.int64))
            write_string(g, "source", meta["source"])
            write_string(g, "license", LICENSE)
            write_string(g, "sha256", sha256)
            write_string(g, "description", meta["description"])
            g.attrs.create("classes", int(y.max()) + 1, dtype=np.int64)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default=DEFAULT_SOURCE, help="folder holding iris.csv and digits.csv.gz")
    parser.add_argument("--out-dir", default="data/datasets", help="where to write <name>.h5")
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    for name, meta in DATASETS.items():
        source = os.path.join(args.source, meta["file"])
        try:
            X, y, sha = read_csv(source, name)
        except (OSError, ValueError) as e:
            print(f"convert_sklearn_data.py: error: {e}", file=sys.stderr)
            return 3
        out = os.path.join(args.out_dir, name + ".h5")
        write_data_file(out, name, X, y, sha, meta)
        print(f"convert_sklearn_data.py: wrote {out} ({X.shape[0]} samples, {X.shape[1]} features, sha256 {sha[:12]}...)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
