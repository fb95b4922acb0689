#!/usr/bin/python3
"""The same torch MLP exported twice, for tests/tools/graph_kfac_tool_test.cpp: as an MLP spec (an
nn.Sequential of Linear and Tanh, read by models::Network) and, wrapped in a module of its own, through ONNX
as a graph model (read by the graph engine). Same weights, same data (the first 40 iris rows).

Usage: /usr/bin/python3 tests/tools/kfac_mlp_pair.py DIR   (writes DIR/mlp.h5 and DIR/graph.h5)
"""
import os
import sys

import h5py
import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(ROOT, "tools"))
import export_torch  # noqa: E402


class Wrapped(torch.nn.Module):
    """Any module that is not a Sequential goes through torch.onnx.export (Linear -> Gemm transB=1)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x)


def main():
    out = sys.argv[1]
    torch.manual_seed(5)
    net = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3)).double()
    with h5py.File(os.path.join(ROOT, "data", "datasets", "iris.h5"), "r") as f:
        X = torch.tensor(f["iris/X"][:40], dtype=torch.float64)
        y = torch.tensor(f["iris/y"][:40, 0], dtype=torch.int64)
    export_torch.export_checkpoint(net, X, y, "cross_entropy", os.path.join(out, "mlp.h5"))
    export_torch.export_checkpoint(Wrapped(net).eval(), X, y, "cross_entropy", os.path.join(out, "graph.h5"))


if __name__ == "__main__":
    main()
