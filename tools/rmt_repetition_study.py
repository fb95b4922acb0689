#!/usr/bin/python3
"""Where could the error of rmt-check --method integration hide? The study behind docs/rmt.md "Calibration".

An interval from R independent repetitions (mean ± t_{R-1}·s/√R) is exact when the repetition estimates
ln P̂_r are independent, normal and centred on ln P. It undercovers only if (a) an error common to all
repetitions shifts their centre (quadrature, burn-in — the spread cannot show it), or (c) their tails are
heavier than normal. (b), autocorrelation inside a chain, widens every ln P̂_r alike and is inside s.
For each cell (k, μ) this runs ONE rmt-check with many repetitions (--repetitions, default 160) and
reports, against the exact ln P the tool prints:
  * bias: mean of ln P̂_r − ln P with its standard error (a common error shows up here);
  * sd of ln P̂_r beside the one predicted from the chains' τ_int (the autocorrelation, measured);
  * skewness, excess kurtosis and the Shapiro–Wilk p-value (the tails);
  * the coverage of t intervals formed from consecutive blocks of --block repetitions.
The quadrature error is not measured here (it needs the exact integrand): the tests in
tests/rmt/integration_test.cpp measure it on the derivative of the exact Pfaffian.

Usage: /usr/bin/python3 tools/rmt_repetition_study.py [--bin build/bin] [--cells 20:0,30:-1,50:1]
       [--repetitions 160] [--block 8] [--seed 101] [--threads 2] [-- extra rmt-check flags]
Prints one JSON object per cell.
"""
import argparse, json, os, subprocess

import numpy as np
from scipy import stats


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default="build/bin")
    ap.add_argument("--cells", default="20:0,30:-1,50:1", help="k:mu pairs")
    ap.add_argument("--repetitions", type=int, default=160)
    ap.add_argument("--block", type=int, default=8, help="repetitions per interval in the block coverage")
    ap.add_argument("--seed", type=int, default=101)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("extra", nargs="*", help="more rmt-check flags (after --), e.g. --nodes 16 --sweeps 1000")
    a = ap.parse_args()
    for cell in a.cells.split(","):
        k, mu = cell.split(":")
        out = subprocess.run([os.path.join(a.bin, "rmt-check"), "--ensemble", "goe-shift", f"--shift={mu}", "--k", k,
                              "--method", "integration", "--repetitions", str(a.repetitions), "--seed", str(a.seed),
                              "--threads", str(a.threads), "--json", *a.extra],
                             check=True, capture_output=True, text=True).stdout
        r = json.loads(out)["results"][0]
        g = r["integration"]
        e = np.array(g["run_log_estimates"]) - r["exact"]["log_p"]
        n = len(e)
        blocks = e[: n // a.block * a.block].reshape(-1, a.block)
        centre = blocks.mean(axis=1)
        se = blocks.std(axis=1, ddof=1) / np.sqrt(a.block)
        t = stats.t.ppf(0.975, a.block - 1)
        print(json.dumps({
            "k": int(k), "shift": float(mu), "repetitions": n,
            "bias": e.mean(), "bias_se": e.std(ddof=1) / np.sqrt(n),
            "sd": e.std(ddof=1), "sd_predicted_from_tau": g["predicted_standard_error"] * np.sqrt(n),
            "skewness": float(stats.skew(e)), "excess_kurtosis": float(stats.kurtosis(e)),
            "shapiro_p": float(stats.shapiro(e).pvalue),
            "block_intervals": len(centre), "block_coverage_95": float(np.mean(np.abs(centre) <= t * se)),
        }))


if __name__ == "__main__":
    main()
