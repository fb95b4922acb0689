#!/usr/bin/python3
"""Benchmark (b) of issue #4: top-5 and bottom-5 Hessian eigenvalues of the [784, 256, 256, 10] tanh MLP
(cross-entropy, 269,322 parameters) on 512 samples, torch HVP + scipy.sparse.linalg.eigsh against
saddlescope's `hessian-spectrum`, same weights, same data, same tolerance, in one run.

Data: synthetic and MNIST-shaped, from --seed (no download): 10 class templates with pixels
U(0, 1) > 0.7, each sample its class's template plus N(0, 0.3^2) noise, clipped to [0, 1]; labels
i mod 10. Model: torch.nn.Sequential(Linear, Tanh, Linear, Tanh, Linear) in float64 with torch's
default initialisation from torch.manual_seed(seed). Both are saved with torch.save and turned into a
saddlescope checkpoint by tools/export_torch.py (the supported path), so the two sides read the same
bits.

Peer: the Hessian-vector product by double backward (torch.autograd.grad of the gradient with
create_graph=True, float64), wrapped in a scipy LinearOperator; eigsh(k=5, which='LA') and
eigsh(k=5, which='SA') with tol, scipy's defaults otherwise (ncv = 20). ARPACK stops a pair when
||r|| <= tol*max(eps^(2/3), |theta|); saddlescope is run with --tol-relative-to-value, the same test.
Ours: the real tool, `hessian-spectrum CKPT --top 5 --bottom 5 --tol TOL --tol-relative-to-value
--density-probes 0 --trace-samples 0 --json --threads T` (both ends from one Krylov space), timed as a
process (load included) and by its own in-process clock ("seconds").

Threads: --threads T for both sides (torch.set_num_threads(T) and OPENBLAS_NUM_THREADS=T/OMP for
scipy and the tool; saddlescope's Eigen GEMMs use --threads T).

    /usr/bin/python3 tools/bench/bench_spectral_mlp.py --bin build/bin [--tol 1e-6] [--threads 1]

Emits one JSON object on stdout.
"""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import timed  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--tol", type=float, default=1e-6)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--samples", type=int, default=512)
    ap.add_argument("--widths", default="784,256,256,10")
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--skip-peer", action="store_true", help="only run saddlescope (for profiling)")
    ap.add_argument("--keep-checkpoint", default="", help="copy the exported checkpoint here")
    ap.add_argument("--extra", default="", help="extra hessian-spectrum flags, space separated (e.g. '--ncv 60')")
    a = ap.parse_args()
    # Thread settings must precede numpy/scipy/torch imports (OpenBLAS reads them at load time).
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(a.threads)
    import numpy as np
    import scipy
    import scipy.sparse.linalg as sla
    import torch

    torch.set_num_threads(a.threads)
    widths = [int(w) for w in a.widths.split(",")]
    rng = np.random.default_rng(a.seed)
    classes = widths[-1]
    templates = (rng.uniform(0.0, 1.0, (classes, widths[0])) > 0.7).astype(np.float64)
    labels = np.arange(a.samples) % classes
    X = np.clip(templates[labels] + rng.normal(0.0, 0.3, (a.samples, widths[0])), 0.0, 1.0)
    torch.manual_seed(a.seed)
    layers = []
    for i in range(len(widths) - 1):
        layers.append(torch.nn.Linear(widths[i], widths[i + 1]))
        if i + 2 < len(widths):
            layers.append(torch.nn.Tanh())
    model = torch.nn.Sequential(*layers).double()
    Xt = torch.from_numpy(X)
    yt = torch.from_numpy(labels.astype(np.int64))

    work = tempfile.mkdtemp(prefix="bench_spectral_mlp_")
    model_path, data_path, ckpt = (os.path.join(work, f) for f in ("model.pt", "data.pt", "mlp.h5"))
    torch.save(model, model_path)
    torch.save({"X": Xt, "y": yt}, data_path)
    here = os.path.dirname(os.path.abspath(__file__))
    subprocess.run([sys.executable, os.path.join(here, "..", "export_torch.py"), model_path, data_path,
                    "--loss", "cross_entropy", "--out", ckpt, "--trust-pickle"], check=True, capture_output=True)

    # Ours first (its process starts cold either way).
    cmd = [os.path.join(a.bin, "hessian-spectrum"), ckpt, "--top", str(a.k), "--bottom", str(a.k), "--tol", str(a.tol),
           "--tol-relative-to-value", "--density-probes", "0", "--trace-samples", "0", "--json",
           "--threads", str(a.threads)] + a.extra.split()
    if a.keep_checkpoint:
        shutil.copyfile(ckpt, a.keep_checkpoint)
    ours_wall, ours_cpu, proc = timed(cmd)
    if proc.returncode not in (0, 1):
        sys.exit("hessian-spectrum failed: " + proc.stderr)
    ours = json.loads(proc.stdout)

    out = {
        "context": {"machine": platform.node(), "cpu": platform.processor(), "python": platform.python_version(),
                    "torch": torch.__version__, "scipy": scipy.__version__, "threads": a.threads,
                    "load_before": os.getloadavg()},
        "problem": f"mlp {widths} tanh cross_entropy, {a.samples} synthetic MNIST-shaped samples, seed {a.seed}",
        "n": ours["n"],
        "tol": a.tol,
        "command": " ".join(cmd),
        "saddlescope": {"process_seconds": ours_wall, "process_cpu_seconds": ours_cpu,
                        "in_process_seconds": ours["seconds"], "hvps": ours["hvp_count"],
                        "converged": ours["converged"], "message": ours["message"],
                        "eigenvalues_top": ours["eigenvalues_top"], "eigenvalues_bottom": ours["eigenvalues_bottom"],
                        "residuals_top": ours["residuals_top"], "residuals_bottom": ours["residuals_bottom"]},
    }
    if not a.skip_peer:
        params = [p for p in model.parameters()]

        def loss_fn():
            return torch.nn.functional.cross_entropy(model(Xt), yt)

        cpu_start = time.process_time()
        t_setup = time.perf_counter()
        grads = torch.autograd.grad(loss_fn(), params, create_graph=True)
        g = torch.cat([q.reshape(-1) for q in grads])
        setup = time.perf_counter() - t_setup
        setup_cpu = time.process_time() - cpu_start
        n = g.numel()
        count = {"hvp": 0}

        def matvec(v):
            count["hvp"] += 1
            vt = torch.from_numpy(np.ascontiguousarray(v, dtype=np.float64).reshape(-1))
            hv = torch.autograd.grad(g, params, vt, retain_graph=True)
            return torch.cat([q.reshape(-1) for q in hv]).numpy()

        op = sla.LinearOperator((n, n), matvec=matvec, dtype=np.float64)
        peer = {"setup_seconds": setup}
        for which in ("LA", "SA"):
            count["hvp"] = 0
            t0, c0 = time.perf_counter(), time.process_time()
            vals, vecs = sla.eigsh(op, k=a.k, which=which, tol=a.tol)
            seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
            order = np.argsort(vals)
            vals, vecs = vals[order], vecs[:, order]
            res = [float(np.linalg.norm(matvec(vecs[:, j]) - vals[j] * vecs[:, j])) for j in range(a.k)]
            peer[which] = {"seconds": seconds, "cpu_seconds": cpu, "hvps": count["hvp"] - a.k, "eigenvalues": vals.tolist(),
                           "residuals": res}
        peer_seconds = setup + peer["LA"]["seconds"] + peer["SA"]["seconds"]
        peer_cpu = setup_cpu + peer["LA"]["cpu_seconds"] + peer["SA"]["cpu_seconds"]
        out["torch_eigsh_cpu_seconds"] = peer_cpu
        out["speedup_cpu"] = peer_cpu / ours_cpu
        out["torch_eigsh"] = peer
        out["torch_eigsh_seconds"] = peer_seconds
        out["torch_eigsh_hvps"] = peer["LA"]["hvps"] + peer["SA"]["hvps"]
        out["speedup_process"] = peer_seconds / ours_wall
        out["speedup_in_process"] = peer_seconds / ours["seconds"]
        top = np.array(ours["eigenvalues_top"])
        bottom = np.array(ours["eigenvalues_bottom"])
        scale = max(abs(top).max(), abs(bottom).max())
        out["max_abs_difference_top"] = float(np.abs(top - np.array(peer["LA"]["eigenvalues"])).max())
        out["max_abs_difference_bottom"] = float(np.abs(bottom - np.array(peer["SA"]["eigenvalues"])).max())
        out["max_difference_relative_to_norm"] = max(out["max_abs_difference_top"], out["max_abs_difference_bottom"]) / scale
    out["context"]["load_after"] = os.getloadavg()
    for f in (model_path, data_path, ckpt):
        os.unlink(f)
    os.rmdir(work)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
