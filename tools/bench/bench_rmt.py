#!/usr/bin/python3
"""Benchmark of rmt-check against numpy (OpenBLAS) in the same run; prints one JSON object.

1. Samples per second for the GOE question "index and all-positive?" at k = 5, 10, 20, 50:
   rmt-check's dense LDL^T sampler and its tridiagonal-model sampler (both single-threaded, draw +
   inertia) against numpy drawing the same GOE matrices and calling batched eigvalsh (draw + eigvalsh,
   OPENBLAS_NUM_THREADS=1 so both sides use one core).
2. For k = 10...30: the cost of reaching 10% relative error with subset simulation, measured as
   seconds x (measured relative error / 0.1)^2 (the error of the repetition mean falls like
   1/sqrt(cost)), beside what plain sampling would need at its measured rate: (1-p)/(p*0.01) samples,
   with p the exact value.
3. The rare-event estimators side by side at k = 10, 20 (same run, same measure): thermodynamic integration
   in the shift (--method integration) against subset simulation; the ratio of their costs to 10%. Then
   integration alone at k = 30, 40, 50 (subset simulation needs hours there): its cost to 10% and the
   actual error against the exact value.

Usage: /usr/bin/python3 tools/bench/bench_rmt.py [--bin build/bin] [--quick]
"""
import argparse, json, os, platform, subprocess, sys, time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np  # noqa: E402  (after the thread setting)


def rmt(bin_dir, *args):
    out = subprocess.run([os.path.join(bin_dir, "rmt-check"), *args, "--json", "--threads", "1"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def numpy_rate(k, batch, seconds_min=1.0):
    rng = np.random.default_rng(1)
    done, t0, hits = 0, time.perf_counter(), 0
    while True:
        a = rng.standard_normal((batch, k, k))
        h = 0.5 * (a + a.transpose(0, 2, 1))  # GOE: diag var 1, off-diag 1/2
        lam = np.linalg.eigvalsh(h)
        _index = (lam < 0).sum(axis=1)
        hits += int((lam[:, 0] > 0).sum())
        done += batch
        if time.perf_counter() - t0 >= seconds_min:
            break
    return done / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="build/bin")
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    report = {"context": {"host": platform.node(), "machine": platform.machine(), "cpus": os.cpu_count(),
                          "numpy": np.__version__, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
              "throughput": [], "cost_to_10_percent": [], "integration_vs_splitting": []}
    for k in (5, 10, 20, 50):
        n_dense = {5: 400000, 10: 200000, 20: 50000, 50: 10000}[k]
        dense = rmt(a.bin, "--k", str(k), "--samples", str(n_dense), "--method", "mc", "--sampler", "dense", "--no-exact")
        tri = rmt(a.bin, "--k", str(k), "--samples", str(n_dense * 10), "--method", "mc", "--sampler", "tridiagonal",
                  "--no-exact")
        np_rate = numpy_rate(k, batch=max(1000, 200000 // (k * k)))
        d = dense["results"][0]["monte_carlo"]["samples_per_second"]
        t = tri["results"][0]["monte_carlo"]["samples_per_second"]
        report["throughput"].append({"k": k, "numpy_eigvalsh_per_s": np_rate, "dense_ldlt_per_s": d,
                                     "tridiagonal_per_s": t, "dense_ratio": d / np_rate, "tridiagonal_ratio": t / np_rate})
        print(json.dumps(report["throughput"][-1]), file=sys.stderr)
    ks = (10, 20) if a.quick else (10, 15, 20, 25, 30)
    for k in ks:
        r = rmt(a.bin, "--k", str(k), "--method", "splitting", "--seed", "1")["results"][0]
        s = r["splitting"]
        cost = s["seconds"] * (s["relative_error"] / 0.1) ** 2
        p = r["exact"]["p"]
        need = (1 - p) / (p * 0.01)
        report["cost_to_10_percent"].append({
            "k": k, "exact_p": p, "splitting_p": s["p"], "relative_error": s["relative_error"],
            "seconds": s["seconds"], "matrix_evaluations": s["matrix_evaluations"],
            "seconds_to_10_percent": cost, "plain_mc_samples_needed": need,
            "plain_mc_years_at_1e7_per_s": need / 1e7 / 3.15e7})
        print(json.dumps(report["cost_to_10_percent"][-1]), file=sys.stderr)
    for k in ((10, 20) if a.quick else (10, 20, 30, 40, 50)):
        i = rmt(a.bin, "--k", str(k), "--method", "integration", "--seed", "1")["results"][0]
        g = i["integration"]
        row = {"k": k, "exact_log_p": i["exact"]["log_p"], "integration_log_p": g["log_p"],
               "integration_relative_error": g["relative_error"], "integration_seconds": g["seconds"],
               "integration_seconds_to_10_percent": g["seconds"] * (g["relative_error"] / 0.1) ** 2,
               "integration_actual_log_error": g["log_p"] - i["exact"]["log_p"]}
        if k <= 20:
            s = rmt(a.bin, "--k", str(k), "--method", "splitting", "--seed", "1")["results"][0]["splitting"]
            row["splitting_seconds_to_10_percent"] = s["seconds"] * (s["relative_error"] / 0.1) ** 2
            row["ratio_splitting_over_integration"] = (row["splitting_seconds_to_10_percent"] /
                                                       row["integration_seconds_to_10_percent"])
        report["integration_vs_splitting"].append(row)
        print(json.dumps(row), file=sys.stderr)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
