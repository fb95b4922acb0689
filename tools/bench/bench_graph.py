#!/usr/bin/python3
"""Graph-model benchmark (issue #13 item 7): gradient and Hessian-vector product of saddlescope's graph
engine against torch's backward and double backward, and end to end the top-5 and bottom-5 Hessian
eigenvalues of ResNet-8 by `hessian-spectrum` against torch HVP + scipy eigsh, in one run, 1 thread,
float64, with the machine's DGEMM rate measured in the same run.

Models (tools/bench/graph_models.py, REFERENCES.md "Real architectures"), inputs N(0, 1), random labels,
cross-entropy, torch's default initialisation from torch.manual_seed(--seed), batch norm in train mode:
  lenet5       1x28x28, batch 256
  resnet8      3x32x32, batch 128
  resnet20     3x32x32, batch 128
  transformer  sequence 64, width 128, 4 heads, batch 32
Each is exported once with tools/export_torch.py (the supported path), so both sides use the same bits.

Timing: CPU seconds (user + sys) of the measuring process, median of --repeats calls. torch: gradient =
forward + backward; HVP = forward + backward with create_graph + backward of g.v (double backward).
saddlescope: `bench-graph CKPT REPEATS` (tools/bench/bench_graph.cpp; every call at a new point, so
each includes its forward pass). HVP GEMM rate: the HVP's convolution and linear-layer multiply-adds
counted as 9 forward passes' worth (forward 1, backward 2 — input and weight gradients —, R-forward 2,
R-backward 4), over the HVP's CPU time, against the DGEMM rate of numpy/OpenBLAS on 1024x1024.

    OMP_NUM_THREADS=1 /usr/bin/python3 tools/bench/bench_graph.py --bin build/bin [--models lenet5,resnet8]

Emits one JSON object on stdout (the README/docs table is made from it).
"""
import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # before numpy/torch load BLAS
    os.environ[_var] = "1"

import numpy as np  # noqa: E402
import torch  # noqa: E402

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.path.insert(0, os.path.join(here, ".."))
import export_torch  # noqa: E402
import graph_models  # noqa: E402

MODELS = {
    "lenet5": (lambda: graph_models.LeNet5(), (1, 28, 28), 256),
    "resnet8": (lambda: graph_models.resnet8(), (3, 32, 32), 128),
    "resnet20": (lambda: graph_models.resnet20(), (3, 32, 32), 128),
    "transformer": (lambda: graph_models.EncoderBlock(width=128, heads=4, classes=10), (64, 128), 32),
}


def dgemm_gflops(size=1024, repeats=5):
    a = np.random.default_rng(0).standard_normal((size, size))
    b = a.T.copy()
    best = 1e300
    for _ in range(repeats):
        c0 = time.process_time()
        a @ b
        best = min(best, time.process_time() - c0)
    return 2.0 * size ** 3 / best / 1e9


def forward_macs(model, example):
    """Multiply-adds of one forward pass's convolutions and linear layers (module hooks; the attention's
    own matmuls, q k^T and A v, are not modules and are not counted, so the transformer's rate is a
    lower bound)."""
    total = [0]

    def conv_hook(module, inputs, output):
        kernel = module.weight[0].numel()  # in/groups * kh * kw
        total[0] += output.numel() * kernel

    def linear_hook(module, inputs, output):
        total[0] += output.numel() * module.in_features

    handles = []
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, torch.nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    with torch.no_grad():
        model(example)
    for h in handles:
        h.remove()
    return total[0]


def median(values):
    return sorted(values)[len(values) // 2]


def torch_times(model, X, y, repeats):
    params = list(model.parameters())
    v = [torch.randn_like(p) for p in params]

    def gradient():
        loss = torch.nn.functional.cross_entropy(model(X), y)
        return torch.autograd.grad(loss, params)

    def hvp():
        loss = torch.nn.functional.cross_entropy(model(X), y)
        g = torch.autograd.grad(loss, params, create_graph=True)
        return torch.autograd.grad(g, params, v)

    out = {}
    for name, work in (("gradient", gradient), ("hvp", hvp)):
        work()  # warm-up
        seconds = []
        for _ in range(repeats):
            c0 = time.process_time()
            work()
            seconds.append(time.process_time() - c0)
        out[name + "_cpu_seconds"] = median(seconds)
    return out


def ours_times(binary, checkpoint, repeats):
    try:
        proc = subprocess.run([binary, checkpoint, str(repeats)], capture_output=True, text=True)
    except OSError as e:
        return {"error": str(e)}
    if proc.returncode != 0:
        return {"error": " ".join(proc.stderr.split())[:300]}
    return json.loads(proc.stdout)


def spectrum_end_to_end(binary_dir, checkpoint, model, X, y, k, tol):
    import scipy.sparse.linalg as sla
    cmd = [os.path.join(binary_dir, "hessian-spectrum"), checkpoint, "--top", str(k), "--bottom", str(k), "--tol", str(tol),
           "--tol-relative-to-value", "--density-probes", "0", "--trace-samples", "0", "--json", "--threads", "1"]
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 1):
        return {"command": " ".join(cmd), "error": " ".join(proc.stderr.split())[:300]}
    ours = json.loads(proc.stdout)
    ours_cpu = (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime)
    params = list(model.parameters())
    cpu0 = time.process_time()
    g = torch.cat([q.reshape(-1) for q in torch.autograd.grad(torch.nn.functional.cross_entropy(model(X), y), params,
                                                              create_graph=True)])
    count = [0]

    def matvec(v):
        count[0] += 1
        hv = torch.autograd.grad(g, params, torch.from_numpy(np.ascontiguousarray(v).reshape(-1)), retain_graph=True)
        return torch.cat([q.reshape(-1) for q in hv]).numpy()

    op = sla.LinearOperator((g.numel(), g.numel()), matvec=matvec, dtype=np.float64)
    top = sla.eigsh(op, k=k, which="LA", tol=tol)[0]
    bottom = sla.eigsh(op, k=k, which="SA", tol=tol)[0]
    peer_cpu = time.process_time() - cpu0
    return {"command": " ".join(cmd), "ours_cpu_seconds": ours_cpu, "ours_hvps": ours.get("hvp_count"),
            "ours_top": ours.get("eigenvalues_top"), "ours_bottom": ours.get("eigenvalues_bottom"),
            "torch_eigsh_cpu_seconds": peer_cpu, "torch_eigsh_hvps": count[0],
            "torch_top": sorted(top.tolist()), "torch_bottom": sorted(bottom.tolist()),
            "speedup_cpu": peer_cpu / ours_cpu}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True, help="folder with bench-graph and hessian-spectrum")
    ap.add_argument("--models", default="lenet5,resnet8,resnet20,transformer")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--spectrum", action="store_true", help="also the end-to-end ResNet-8 top/bottom-5 run")
    ap.add_argument("--tol", type=float, default=1e-3)
    ap.add_argument("--spectrum-only", action="store_true", help="skip the gradient/HVP timings (with --spectrum)")
    a = ap.parse_args()
    torch.set_num_threads(1)
    out = {"context": {"machine": platform.node(), "python": platform.python_version(), "torch": torch.__version__,
                       "threads": 1, "load_before": os.getloadavg(),
                       "torch_blas_info": re.search(r"BLAS_INFO=(\w+)", torch.__config__.show()).group(1),
                       "libblas": os.path.realpath("/usr/lib/x86_64-linux-gnu/libblas.so.3")},
           "dgemm_gflops": dgemm_gflops(), "models": {}}
    work = tempfile.mkdtemp(prefix="bench_graph_")
    for name in a.models.split(","):
        factory, shape, batch = MODELS[name]
        torch.manual_seed(a.seed)
        model = factory().double().train()
        g = torch.Generator().manual_seed(a.seed)
        X = torch.randn(batch, *shape, generator=g, dtype=torch.float64)
        y = torch.randint(0, 10, (batch,), generator=g)
        checkpoint = os.path.join(work, name + ".h5")
        spec = export_torch.export_checkpoint(model, X, y, "cross_entropy", checkpoint)
        entry = {"n": spec["parameters"], "batch": batch, "input_shape": list(shape)}
        if not a.spectrum_only:
            entry["torch"] = torch_times(model, X, y, a.repeats)
            entry["saddlescope"] = ours_times(os.path.join(a.bin, "bench-graph"), checkpoint, a.repeats)
        if not a.spectrum_only and "error" not in entry["saddlescope"]:
            for what in ("gradient", "hvp"):
                entry[what + "_speedup_cpu"] = entry["torch"][what + "_cpu_seconds"] / entry["saddlescope"][what + "_cpu_seconds"]
            macs = forward_macs(model, X)
            entry["forward_gemm_macs"] = macs
            entry["hvp_gemm_gflops"] = 9 * 2 * macs / entry["saddlescope"]["hvp_cpu_seconds"] / 1e9
            entry["hvp_fraction_of_dgemm"] = entry["hvp_gemm_gflops"] / out["dgemm_gflops"]
        if a.spectrum and name == "resnet8":
            entry["spectrum"] = spectrum_end_to_end(a.bin, checkpoint, model, X, y, 5, a.tol)
        out["models"][name] = entry
        os.unlink(checkpoint)
    os.rmdir(work)
    out["context"]["load_after"] = os.getloadavg()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
