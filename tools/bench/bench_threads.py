#!/usr/bin/python3
"""Thread scaling of the tools on this machine, side by side in one run (issue #14 item 4, #17 item 11).

For each workload, the tool runs at --threads 1 and --threads 2 alternately, `--repeats` times; the
figures are medians of wall seconds (scaling is about wall time) with the CPU seconds (user + system of
the child) beside them, and the load average before and after. Workloads:

  hvp      hessian-spectrum top-5 + bottom-5 of a checkpoint (default: the [784,256,256,10] MLP written
           by bench_spectral_mlp.py --keep-checkpoint), density and trace off: HVP-bound.
  mc       rmt-check plain Monte Carlo, GOE k = 20, dense LDL^T sampler: work items over OpenMP.
  over     the HVP workload at --threads = cores + 1: the cap (#17 item 11) must make it no slower than at
           --threads = cores. With --baseline-bin, the same run of an older build beside it.

    /usr/bin/python3 tools/bench/bench_threads.py --bin build/bin --checkpoint /tmp/large.h5 [--repeats 3]

Prints one JSON object.
"""
import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import timed  # noqa: E402


def scaling(name, commands, repeats):
    """commands: {label: argv}; runs them round-robin `repeats` times."""
    runs = {label: [] for label in commands}
    extra = {}
    for _ in range(repeats):
        for label, command in commands.items():
            wall, cpu, done = timed(command)
            if done.returncode not in (0, 1):
                raise RuntimeError(f"{' '.join(command)} exited {done.returncode}: {done.stderr.strip()}")
            runs[label].append((wall, cpu))
            if label not in extra:
                extra[label] = {"stderr": done.stderr.strip()[:300]}
                try:
                    j = json.loads(done.stdout)
                    extra[label]["hvp_count"] = j.get("hvp_count")
                except (json.JSONDecodeError, AttributeError):
                    pass
    out = {"workload": name, "load_after": os.getloadavg()}
    for label, values in runs.items():
        out[label] = {"wall_median": statistics.median(v[0] for v in values),
                      "cpu_median": statistics.median(v[1] for v in values),
                      "walls": [round(v[0], 3) for v in values], **extra[label]}
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="build/bin")
    ap.add_argument("--baseline-bin", default="", help="an older build's bin folder, for the 'over' workload")
    ap.add_argument("--checkpoint", required=True, help="the HVP-bound model (bench_spectral_mlp.py --keep-checkpoint)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workloads", default="hvp,mc,over")
    a = ap.parse_args()
    cores = len(os.sched_getaffinity(0))
    result = {"context": {"cores": cores, "load_before": os.getloadavg(), "command": " ".join(sys.argv),
                          "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}}
    env_note = "OMP_NUM_THREADS unset; --threads decides"
    result["context"]["env"] = env_note
    spectrum = lambda b, t: [os.path.join(b, "hessian-spectrum"), a.checkpoint, "--top", "5", "--bottom", "5",  # noqa: E731
                             "--tol", "1e-6", "--tol-relative-to-value", "--density-probes", "0",
                             "--trace-samples", "0", "--json", "--threads", str(t)]
    wanted = a.workloads.split(",")
    if "hvp" in wanted:
        r = scaling("hvp", {"threads_1": spectrum(a.bin, 1), "threads_2": spectrum(a.bin, 2)}, a.repeats)
        r["speedup_wall"] = r["threads_1"]["wall_median"] / r["threads_2"]["wall_median"]
        result["hvp"] = r
    if "mc" in wanted:
        mc = lambda t: [os.path.join(a.bin, "rmt-check"), "--ensemble", "goe", "--k", "20", "--samples", "400000",  # noqa: E731
                        "--method", "mc", "--sampler", "dense", "--no-exact", "--json", "--threads", str(t)]
        r = scaling("mc", {"threads_1": mc(1), "threads_2": mc(2)}, a.repeats)
        r["speedup_wall"] = r["threads_1"]["wall_median"] / r["threads_2"]["wall_median"]
        result["mc"] = r
    if "over" in wanted:
        commands = {"threads_cores": spectrum(a.bin, cores), "threads_cores_plus_1": spectrum(a.bin, cores + 1)}
        if a.baseline_bin:
            commands["baseline_threads_cores_plus_1"] = spectrum(a.baseline_bin, cores + 1)
        r = scaling("over", commands, a.repeats)
        r["slowdown_above_cores"] = r["threads_cores_plus_1"]["wall_median"] / r["threads_cores"]["wall_median"]
        result["over"] = r
    result["context"]["load_after"] = os.getloadavg()
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
