#!/usr/bin/python3
"""Benchmark (b): top-5 and bottom-5 Hessian eigenvalues, torch HVP + scipy.sparse.linalg.eigsh (ARPACK)
against saddlescope's hessian engine (bench-spectral --eigs) on the same point, in the same run.

The MLP of the issue needs the models module (not merged yet); this runs on rosenbrock:n=N, whose
formula is the same in both (objective/formulas.h). Usage:

    /usr/bin/python3 tools/bench/bench_spectral_torch.py --bin build/bin --n 100000 [--tol 1e-8]

Emits one JSON object on stdout. The point is numpy.random.default_rng(1).uniform(-1, 1, n), written to a
temporary float64 file that bench-spectral reads.
"""
import argparse
import json
import os
import platform
import subprocess
import tempfile
import time

import numpy as np
import scipy
import scipy.sparse.linalg as sla
import torch


def rosenbrock(x):
    return torch.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--n", type=int, default=100000)
    ap.add_argument("--tol", type=float, default=1e-8)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    n = a.n
    x0 = np.random.default_rng(1).uniform(-1.0, 1.0, n)
    with tempfile.NamedTemporaryFile(suffix=".bin", delete=False) as fh:
        x0.astype("<f8").tofile(fh)
        path = fh.name

    x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    g = torch.autograd.grad(rosenbrock(x), x, create_graph=True)[0]
    count = {"hvp": 0}

    def matvec(v):
        count["hvp"] += 1
        vt = torch.from_numpy(np.ascontiguousarray(v, dtype=np.float64).reshape(-1))
        return torch.autograd.grad(g, x, vt, retain_graph=True)[0].numpy().copy()

    op = sla.LinearOperator((n, n), matvec=matvec, dtype=np.float64)
    peer = {}
    for which in ("LA", "SA"):
        count["hvp"] = 0
        t0 = time.perf_counter()
        vals = sla.eigsh(op, k=5, which=which, tol=a.tol, return_eigenvectors=False)
        peer[which] = {"seconds": time.perf_counter() - t0, "hvps": count["hvp"], "eigenvalues": sorted(vals.tolist())}

    t0 = time.perf_counter()
    ours = json.loads(subprocess.run([os.path.join(a.bin, "bench-spectral"), "--eigs", path, str(a.tol)],
                                     check=True, capture_output=True, text=True).stdout)
    ours_wall = time.perf_counter() - t0
    os.unlink(path)
    peer_seconds = peer["LA"]["seconds"] + peer["SA"]["seconds"]
    out = {
        "context": {"machine": platform.node(), "python": platform.python_version(), "torch": torch.__version__,
                    "scipy": scipy.__version__, "threads": a.threads},
        "problem": f"rosenbrock:n={n} at numpy default_rng(1).uniform(-1, 1, n)",
        "tol": a.tol,
        "torch_eigsh": peer,
        "torch_eigsh_seconds": peer_seconds,
        "saddlescope": ours["eigs"],
        "saddlescope_process_seconds": ours_wall,
        "speedup": peer_seconds / ours["eigs"]["seconds"],
        "max_abs_difference_top": max(abs(p - q) for p, q in zip(peer["LA"]["eigenvalues"], ours["eigs"]["eigenvalues_top"])),
        "max_abs_difference_bottom": max(abs(p - q) for p, q in zip(peer["SA"]["eigenvalues"], ours["eigs"]["eigenvalues_bottom"])),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
