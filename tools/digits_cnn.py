#!/usr/bin/python3
"""Export tools/bench/graph_models.py's DigitsCNN on the bundled digits (data/datasets/digits.h5, 1x8x8 images,
pixel counts scaled to [0, 1]) as a saddlescope checkpoint, through tools/export_torch.py.

Usage: /usr/bin/python3 tools/digits_cnn.py --out FILE.h5 [--samples N] [--first K] [--seed S] [--batch-norm]

The first N images (or N images from index K), torch.manual_seed(S) before the module is built (torch's default
initialisation), cross-entropy loss. With --batch-norm the module has a BatchNorm2d after each convolution and is
exported in train mode. Used by tests/tools/graph_kfac_tool_test.cpp and notebooks/11_kfac_vs_exact.ipynb.
"""
import argparse
import os
import sys

import h5py
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "bench"))
import export_torch  # noqa: E402
import graph_models  # noqa: E402


def digits(samples, first=0):
    """X [N, 1, 8, 8] (pixel counts / 16) and y [N] (class indices) from the bundled digits."""
    with h5py.File(os.path.join(HERE, "..", "data", "datasets", "digits.h5"), "r") as f:
        X = torch.tensor(f["digits/X"][first:first + samples], dtype=torch.float64) / 16.0
        y = torch.tensor(f["digits/y"][first:first + samples, 0], dtype=torch.int64)
    return X.reshape(-1, 1, 8, 8), y


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-norm", action="store_true")
    a = parser.parse_args()
    if not 1 <= a.samples <= 1797 or a.first < 0 or a.first + a.samples > 1797:
        parser.error("--first + --samples must lie in 1..1797 (the bundled digits)")
    torch.manual_seed(a.seed)
    model = graph_models.DigitsCNN(batch_norm=a.batch_norm).double()
    model.train(a.batch_norm)
    X, y = digits(a.samples, a.first)
    export_torch.export_checkpoint(model, X, y, "cross_entropy", a.out, command_line=" ".join(sys.argv))


if __name__ == "__main__":
    main()
