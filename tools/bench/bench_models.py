#!/usr/bin/python3
"""Benchmark saddlescope's network derivatives against PyTorch in the same run (issue #3, docs/models.md).

Usage: /usr/bin/python3 tools/bench/bench_models.py [--bin build/bin] [--out bench_models.json] [--budget 1.0]

Measures, for the models [10,32,32,3] batch 256, [64,128,128,10] batch 1024 and [784,256,256,10]
batch 512 (tanh, cross-entropy, float64), with 1 and 2 threads: median seconds of the gradient, one
HVP, a block HVP of 16 vectors and (small model) the dense Hessian — saddlescope through
build/bin/bench-models, PyTorch 1.13 in this process (double-backward HVPs, 16 of them for the block;
torch.autograd.functional.hessian for the dense Hessian). End to end (1 thread): the whole
`classify-critical --threads 1` process on the exported small model against torch's dense Hessian +
torch.linalg.eigvalsh. Writes one JSON object (context, raw figures, ratios, targets) and prints a
Markdown table.
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
import export_torch  # noqa: E402

torch.set_default_dtype(torch.float64)
CONFIGS = [("small", [10, 32, 32, 3], 256, True), ("medium", [64, 128, 128, 10], 1024, False),
           ("large", [784, 256, 256, 10], 512, False)]


def median_seconds(fn, budget, min_repeats):
    fn()
    times, start = [], time.perf_counter()
    while len(times) < min_repeats or time.perf_counter() - start < budget:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if len(times) >= 1000:
            break
    return statistics.median(times)


def make_model(widths, batch, seed):
    g = torch.Generator().manual_seed(seed)
    layers = []
    for i in range(1, len(widths)):
        layers.append(torch.nn.Linear(widths[i - 1], widths[i]))
        if i + 1 < len(widths):
            layers.append(torch.nn.Tanh())
    model = torch.nn.Sequential(*layers).double()
    X = torch.randn(batch, widths[0], generator=g)
    y = torch.randint(0, widths[-1], (batch,), generator=g)
    return model, X, y


def flat_loss(model, X, y):
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    loss_fn = torch.nn.CrossEntropyLoss()

    def f(theta):
        values, offset = [], 0
        for s in shapes:
            size = s.numel()
            values.append(theta[offset:offset + size].reshape(s))
            offset += size
        return loss_fn(torch.nn.utils.stateless.functional_call(model, dict(zip(names, values)), (X,)), y)

    return f


def torch_figures(widths, batch, dense, budget):
    model, X, y = make_model(widths, batch, 1)
    params = list(model.parameters())
    loss_fn = torch.nn.CrossEntropyLoss()
    n = sum(p.numel() for p in params)
    g = torch.Generator().manual_seed(2)
    V = [torch.randn(n, generator=g) for _ in range(16)]

    def split(v):
        out, offset = [], 0
        for p in params:
            out.append(v[offset:offset + p.numel()].reshape(p.shape))
            offset += p.numel()
        return out

    Vs = [split(v) for v in V]

    def gradient():
        torch.autograd.grad(loss_fn(model(X), y), params)

    def hvp(count):
        def run():
            grads = torch.autograd.grad(loss_fn(model(X), y), params, create_graph=True)
            for j in range(count):
                dot = sum((gi * vi).sum() for gi, vi in zip(grads, Vs[j]))
                torch.autograd.grad(dot, params, retain_graph=j + 1 < count)
        return run

    r = {"parameters": n, "gradient_seconds": median_seconds(gradient, budget, 5),
         "hvp_seconds": median_seconds(hvp(1), budget, 5), "block16_seconds": median_seconds(hvp(16), budget, 3)}
    r["block16_per_vector_seconds"] = r["block16_seconds"] / 16
    if dense:
        f = flat_loss(model, X, y)
        theta = torch.cat([p.detach().reshape(-1) for p in params])
        r["dense_hessian_seconds"] = median_seconds(lambda: torch.autograd.functional.hessian(f, theta), budget, 3)
    return r


def end_to_end(bin_dir, budget):
    """Run in a child with one OpenBLAS/OpenMP thread (see main)."""
    torch.set_num_threads(1)
    model, X, y = make_model([10, 32, 32, 3], 256, 1)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "small.h5")
        export_torch.export_checkpoint(model, X, y, "cross_entropy", path)
        command = [os.path.join(bin_dir, "classify-critical"), path, "--json", "--threads", "1"]
        ours = median_seconds(lambda: subprocess.run(command, check=True, capture_output=True), budget, 3)
    f = flat_loss(model, X, y)
    theta = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    theirs = median_seconds(lambda: torch.linalg.eigvalsh(torch.autograd.functional.hessian(f, theta)), budget, 3)
    return {"classify_critical_process_seconds": ours, "torch_hessian_eigvalsh_seconds": theirs, "ratio": theirs / ours}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", default="build/bin", help="folder with bench-models and classify-critical")
    parser.add_argument("--out", default="bench_models.json", help="JSON file to write")
    parser.add_argument("--budget", type=float, default=1.0, help="seconds per measurement (at least 3 repeats)")
    parser.add_argument("--end-to-end", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--torch-only", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.end_to_end:
        print(json.dumps(end_to_end(args.bin, args.budget)))
        return 0
    if args.torch_only:
        torch.set_num_threads(args.torch_only)
        print(json.dumps({name: torch_figures(w, b, dense, args.budget) for name, w, b, dense in CONFIGS}))
        return 0
    blas = [line.strip() for line in torch.__config__.show().splitlines() if "BLAS" in line]
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    result = {"context": {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                          "host": platform.node(), "cpu": cpu, "cpus": os.cpu_count(), "torch": torch.__version__,
                          "torch_blas": blas, "command": " ".join(sys.argv)},
              "threads": {}}
    for threads in (1, 2):
        ours = json.loads(subprocess.run([os.path.join(args.bin, "bench-models"), "--threads", str(threads), "--budget",
                                          str(args.budget)], check=True, capture_output=True, text=True).stdout)
        # The torch side runs in a child process whose OpenBLAS and OpenMP pools have `threads` threads
        # (OpenBLAS reads OPENBLAS_NUM_THREADS when it loads; torch.set_num_threads alone may not reach it).
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
        theirs = json.loads(subprocess.run([sys.executable, os.path.abspath(__file__), "--torch-only", str(threads),
                                            "--budget", str(args.budget)], check=True, capture_output=True, text=True,
                                           env=env).stdout)
        rows = {}
        for name, _, _, dense in CONFIGS:
            o, t = ours["models"][name], theirs[name]
            row = {"saddlescope": o, "torch": t,
                   "speedup_gradient": t["gradient_seconds"] / o["gradient_seconds"],
                   "speedup_hvp": t["hvp_seconds"] / o["hvp_seconds"],
                   "speedup_block16": t["block16_seconds"] / o["block16_seconds"],
                   "block16_per_vector_gain": o["hvp_seconds"] / o["block16_per_vector_seconds"],
                   "hvp_fraction_of_dgemm": o["hvp_gflops"] / ours["dgemm"]["gflops"],
                   "block16_fraction_of_dgemm": o["block16_gflops"] / ours["dgemm"]["gflops"]}
            if dense:
                row["speedup_dense_hessian"] = t["dense_hessian_seconds"] / o["dense_hessian_seconds"]
            rows[name] = row
        result["threads"][str(threads)] = {"dgemm": ours["dgemm"], "models": rows}
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    result["end_to_end"] = json.loads(subprocess.run([sys.executable, os.path.abspath(__file__), "--end-to-end", "--bin",
                                                      args.bin, "--budget", str(args.budget)], check=True,
                                                     capture_output=True, text=True, env=env).stdout)
    one = result["threads"]["1"]["models"]
    result["targets"] = {
        "hvp_medium_1t_speedup>=1.5": [one["medium"]["speedup_hvp"], one["medium"]["speedup_hvp"] >= 1.5],
        "hvp_small_1t_speedup>=3": [one["small"]["speedup_hvp"], one["small"]["speedup_hvp"] >= 3],
        "block16_small_per_vector_gain>=3": [one["small"]["block16_per_vector_gain"],
                                             one["small"]["block16_per_vector_gain"] >= 3],
        "dense_hessian_small_1t_speedup>=10": [one["small"]["speedup_dense_hessian"],
                                               one["small"]["speedup_dense_hessian"] >= 10],
        "hvp_large_1t_fraction_of_dgemm>=0.6": [one["large"]["hvp_fraction_of_dgemm"],
                                                one["large"]["hvp_fraction_of_dgemm"] >= 0.6],
        "end_to_end_speedup>=3": [result["end_to_end"]["ratio"], result["end_to_end"]["ratio"] >= 3],
    }
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, indent=2)
    os.replace(tmp, args.out)

    print("| model | threads | gradient ms (torch) | HVP ms (torch) | ×HVP | block16 ms (torch) | per-vector gain | "
          "dense H s (torch) | HVP GFLOP/s (% DGEMM) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for threads, block in result["threads"].items():
        for name, row in block["models"].items():
            o, t = row["saddlescope"], row["torch"]
            dense = (f"{o['dense_hessian_seconds']:.3f} ({t['dense_hessian_seconds']:.3f})"
                     if "dense_hessian_seconds" in o else "–")
            print(f"| {name} {o['widths']} B={o['batch']} | {threads} | {1e3 * o['gradient_seconds']:.3f} "
                  f"({1e3 * t['gradient_seconds']:.3f}) | {1e3 * o['hvp_seconds']:.3f} ({1e3 * t['hvp_seconds']:.3f}) | "
                  f"{row['speedup_hvp']:.2f} | {1e3 * o['block16_seconds']:.2f} ({1e3 * t['block16_seconds']:.2f}) | "
                  f"{row['block16_per_vector_gain']:.2f} | {dense} | {o['hvp_gflops']:.1f} "
                  f"({100 * row['hvp_fraction_of_dgemm']:.0f}% of {block['dgemm']['gflops']:.1f}) |")
    e = result["end_to_end"]
    print(f"\nEnd to end (1 thread): classify-critical process {e['classify_critical_process_seconds']:.3f} s, "
          f"torch hessian + eigvalsh {e['torch_hessian_eigvalsh_seconds']:.3f} s, ratio {e['ratio']:.2f}")
    print("\nTargets:")
    for key, (value, met) in result["targets"].items():
        print(f"  {key}: {value:.2f} {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
