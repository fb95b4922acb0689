#!/usr/bin/python3
"""Benchmark saddlescope's network derivatives against PyTorch in the same run (issue #3, docs/models.md).

Usage: /usr/bin/python3 tools/bench/bench_models.py [--bin build/bin] [--out bench_models.json] [--budget 1.0]

Measures, for the models [10,32,32,3] batch 256, [64,128,128,10] batch 1024 and [784,256,256,10]
batch 512 (tanh, cross-entropy, float64), with 1 and 2 threads: median seconds of the gradient, one
HVP, a block HVP of 16 vectors and (small model) the dense Hessian — saddlescope through
build/bin/bench-models, PyTorch 1.13 in this process (double-backward HVPs, 16 of them for the block;
torch.autograd.functional.hessian for the dense Hessian). End to end (1 thread): the whole
`classify-critical --threads 1` process on the exported small model against torch's dense Hessian +
torch.linalg.eigvalsh, in wall and in CPU seconds (the process's user + system time; torch's
process_time), the CPU ratio being the one that survives a shared machine's load; and the dense
classification of a [10,64,64,3] network (n = 5059) timed alone (torch's dense Hessian at that size
takes minutes; --skip-5000 leaves it out). Writes one JSON object (context, raw figures, ratios,
targets) and prints a Markdown table.
"""
import argparse
import datetime
import json
import os
import platform
import resource
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


def median_cpu_seconds(fn, budget, min_repeats):
    """Median CPU seconds (user + system, this process and its waited-for children) of fn()."""
    def cpu():
        a = resource.getrusage(resource.RUSAGE_SELF)
        b = resource.getrusage(resource.RUSAGE_CHILDREN)
        return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime

    fn()
    times, start = [], time.perf_counter()
    while len(times) < min_repeats or time.perf_counter() - start < budget:
        t0 = cpu()
        fn()
        times.append(cpu() - t0)
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


def end_to_end(bin_dir, budget, with_5000):
    """Run in a child with one OpenBLAS/OpenMP thread (see main)."""
    torch.set_num_threads(1)
    model, X, y = make_model([10, 32, 32, 3], 256, 1)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "small.h5")
        export_torch.export_checkpoint(model, X, y, "cross_entropy", path)
        command = [os.path.join(bin_dir, "classify-critical"), path, "--json", "--threads", "1"]
        run = lambda: subprocess.run(command, check=True, capture_output=True)  # noqa: E731
        out["classify_critical_process_seconds"] = median_seconds(run, budget, 3)
        out["classify_critical_process_cpu_seconds"] = median_cpu_seconds(run, budget, 3)
        if with_5000:
            big, Xb, yb = make_model([10, 64, 64, 3], 256, 1)
            path5 = os.path.join(tmp, "n5059.h5")
            export_torch.export_checkpoint(big, Xb, yb, "cross_entropy", path5)
            command5 = [os.path.join(bin_dir, "classify-critical"), path5, "--method", "dense", "--json", "--threads", "1"]
            run5 = lambda: subprocess.run(command5, check=True, capture_output=True)  # noqa: E731
            out["n5059_parameters"] = sum(p.numel() for p in big.parameters())
            out["n5059_classify_critical_process_seconds"] = median_seconds(run5, 0.0, 1)
            out["n5059_classify_critical_process_cpu_seconds"] = median_cpu_seconds(run5, 0.0, 1)
            out["n5059_verdict"] = json.loads(run5().stdout)["verdict"]
    f = flat_loss(model, X, y)
    theta = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    peer = lambda: torch.linalg.eigvalsh(torch.autograd.functional.hessian(f, theta))  # noqa: E731
    out["torch_hessian_eigvalsh_seconds"] = median_seconds(peer, budget, 3)
    out["torch_hessian_eigvalsh_cpu_seconds"] = median_cpu_seconds(peer, budget, 3)
    out["ratio"] = out["torch_hessian_eigvalsh_seconds"] / out["classify_critical_process_seconds"]
    out["ratio_cpu"] = out["torch_hessian_eigvalsh_cpu_seconds"] / out["classify_critical_process_cpu_seconds"]
    out["load_after"] = os.getloadavg()
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", default="build/bin", help="folder with bench-models and classify-critical")
    parser.add_argument("--out", default="bench_models.json", help="JSON file to write")
    parser.add_argument("--budget", type=float, default=1.0, help="seconds per measurement (at least 3 repeats)")
    parser.add_argument("--end-to-end", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--skip-5000", action="store_true", help="leave out the n = 5059 dense classification")
    parser.add_argument("--only-end-to-end", action="store_true", help="skip the per-model tables (bench-models)")
    parser.add_argument("--torch-only", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.end_to_end:
        print(json.dumps(end_to_end(args.bin, args.budget, not args.skip_5000)))
        return 0
    if args.torch_only:
        torch.set_num_threads(args.torch_only)
        print(json.dumps({name: torch_figures(w, b, dense, args.budget) for name, w, b, dense in CONFIGS}))
        return 0
    blas = [line.strip() for line in torch.__config__.show().splitlines() if "BLAS" in line]
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    result = {"context": {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                          "host": platform.node(), "cpu": cpu, "cpus": os.cpu_count(), "torch": torch.__version__,
                          "torch_blas": blas, "command": " ".join(sys.argv), "load_before": os.getloadavg()},
              "threads": {}}
    for threads in (() if args.only_end_to_end else (1, 2)):
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
                                                      args.bin, "--budget", str(args.budget)] +
                                                     (["--skip-5000"] if args.skip_5000 else []), check=True,
                                                     capture_output=True, text=True, env=env).stdout)
    e = result["end_to_end"]
    result["targets"] = {"end_to_end_cpu_speedup>=3": [e["ratio_cpu"], e["ratio_cpu"] >= 3]}
    one = result["threads"].get("1", {}).get("models")
    if one:
        result["targets"].update({
            "hvp_medium_1t_speedup>=1.5": [one["medium"]["speedup_hvp"], one["medium"]["speedup_hvp"] >= 1.5],
            "hvp_small_1t_speedup>=3": [one["small"]["speedup_hvp"], one["small"]["speedup_hvp"] >= 3],
            "block16_small_per_vector_gain>=3": [one["small"]["block16_per_vector_gain"],
                                                 one["small"]["block16_per_vector_gain"] >= 3],
            "dense_hessian_small_1t_speedup>=6": [one["small"]["speedup_dense_hessian"],
                                                  one["small"]["speedup_dense_hessian"] >= 6],
            "hvp_large_1t_fraction_of_dgemm>=0.6": [one["large"]["hvp_fraction_of_dgemm"],
                                                    one["large"]["hvp_fraction_of_dgemm"] >= 0.6],
            "end_to_end_wall_speedup>=3": [e["ratio"], e["ratio"] >= 3],
        })
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
    print(f"\nEnd to end (1 thread): classify-critical process {e['classify_critical_process_seconds']:.3f} s wall, "
          f"{e['classify_critical_process_cpu_seconds']:.3f} s CPU; torch hessian + eigvalsh "
          f"{e['torch_hessian_eigvalsh_seconds']:.3f} s wall, {e['torch_hessian_eigvalsh_cpu_seconds']:.3f} s CPU; "
          f"ratio {e['ratio']:.2f} wall, {e['ratio_cpu']:.2f} CPU")
    if "n5059_parameters" in e:
        print(f"Dense classification, n = {e['n5059_parameters']}: {e['n5059_classify_critical_process_seconds']:.2f} s wall, "
              f"{e['n5059_classify_critical_process_cpu_seconds']:.2f} s CPU, verdict {e['n5059_verdict']}")
    print(f"Load before {result['context']['load_before']}, after {e['load_after']}")
    print("\nTargets:")
    for key, (value, met) in result["targets"].items():
        print(f"  {key}: {value:.2f} {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
