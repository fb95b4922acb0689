#!/usr/bin/python3
"""Strong and weak scaling under MPI (docs/distributed.md); prints one JSON object.

1. hessian-spectrum, data-parallel, on the [784,256,256,10] tanh MLP (cross-entropy) over a synthetic
   10-class mixture: a fixed number of products (one SLQ probe of --steps Lanczos steps, nothing else),
   strong scaling over 8192 samples and weak scaling over 2048 samples per rank, on 1, 2 and 4 ranks.
   Each runs twice, with --steps and with 4x as many products; the CPU difference over the extra
   products is the CPU cost of one product summed over all ranks (compute + allreduce), free of the
   fixed costs (process start, MPI start, reading the checkpoint).
2. rmt-check, work-parallel (Monte Carlo blocks): GOE k = 1..8, strong scaling over a fixed sample
   count and weak scaling with the samples per rank fixed.
3. rmt-check --method integration, work-parallel ((repetition, node) chains and endpoint samples of
   every k dealt out together): GOE k = 10, 20, 30, strong scaling. With --peer-bin (e.g. a build of an
   older commit) the same runs of the peer's rmt-check are interleaved with ours, so the two builds are
   compared side by side under the same load (the ratio is what carries over to another machine).
4. rmt-check over many k with one Monte Carlo block per k (GOE k = 1..40, 2048 samples, dense LDLᵀ
   sampler): the items of all k dealt out together; with --peer-bin, against a build that deals each k's
   blocks separately (rank 0 draws every block, the others wait in the per-k allgather).
Every configuration runs --repeats times, interleaved with its peers (so all see the same machine
load); the minimum is kept. Reported per run: wall seconds of the whole job, the tool's own compute
seconds (JSON "seconds" where the tool reports it), and CPU seconds (user + sys of mpirun and all its
ranks). The load (os.getloadavg) is recorded before and after, since the machine may be shared.

Usage: /usr/bin/python3 tools/bench/bench_mpi.py [--bin build/bin] [--ranks 1,2,4] [--steps 4] [--quick]
           [--parts spectrum,rmt,integration,kvalues] [--integration-sweeps 4000] [--peer-bin OTHER/build/bin]
"""
import argparse, json, os, platform, resource, subprocess, sys, tempfile, time

MPIRUN = ["mpirun", "--oversubscribe", "--bind-to", "none"]
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMP_NUM_THREADS="1",
           OPENBLAS_NUM_THREADS="1")


def timed(cmd):
    """Runs cmd; returns (stdout, wall seconds, CPU seconds of the children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=ENV).stdout
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return out, wall, cpu


def launch(ranks, tool, args):
    cmd = [tool, *args, "--json"]
    return (MPIRUN + ["-n", str(ranks)] + cmd) if ranks > 1 else cmd


def make_checkpoint(bin_dir, path, samples):
    model = '{"kind":"mlp","widths":[784,256,256,10],"activation":"tanh","loss":"cross_entropy"}'
    subprocess.run([os.path.join(bin_dir, "make-checkpoint"), "--model", model, "--data",
                    f"mixture:n={samples},classes=10,dim=784,seed=1", "--init", "xavier", "--seed", "1",
                    "--out", path], check=True, capture_output=True, env=ENV)


def measure(configs, repeats):
    """configs: list of (key, command). Interleaved repeats; min of each."""
    best = {}
    for _ in range(repeats):
        for key, cmd in configs:
            out, wall, cpu = timed(cmd)
            j = json.loads(out)
            row = {"wall_seconds": wall, "cpu_seconds": cpu, "tool_seconds": j.get("seconds")}
            if key not in best or wall < best[key]["wall_seconds"]:
                best[key] = row
    return best


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", default="build/bin")
    p.add_argument("--ranks", default="1,2,4")
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="smaller data set and sample counts (smoke test)")
    p.add_argument("--parts", default="spectrum,rmt,integration,kvalues", help="which of the benchmarks to run")
    p.add_argument("--integration-sweeps", type=int, default=4000, help="integration: recorded sweeps per chain")
    p.add_argument("--peer-bin", default="", help="integration: also run this build's rmt-check, interleaved")
    a = p.parse_args()
    parts = set(a.parts.split(","))
    ranks = [int(r) for r in a.ranks.split(",")]
    samples = 1024 if a.quick else 8192
    per_rank = samples // 4
    mc_samples = 40000 if a.quick else 400000
    spectrum = os.path.join(a.bin, "hessian-spectrum")
    rmt = os.path.join(a.bin, "rmt-check")
    result = {"context": {"host": platform.node(), "cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                          "load_before": os.getloadavg(), "steps": a.steps, "samples": samples,
                          "samples_per_rank_weak": per_rank, "rmt_samples": mc_samples}}
    def spectrum_args(steps):
        return ["--method", "lanczos", "--top", "0", "--bottom", "0", "--density-probes", "1",
                "--density-steps", str(steps), "--trace-samples", "0", "--seed", "1"]
    long_steps = 4 * a.steps
    if "spectrum" in parts:
        result["hessian_spectrum"] = spectrum_scaling(a, ranks, samples, per_rank, spectrum, spectrum_args, long_steps)
    if "rmt" in parts:
        rmt_args = ["--ensemble", "goe", "--k", "1:8", "--method", "mc", "--no-exact", "--seed", "1"]
        configs = [(f"strong/{r}", launch(r, rmt, [*rmt_args, "--samples", str(mc_samples)])) for r in ranks]
        configs += [(f"weak/{r}", launch(r, rmt, [*rmt_args, "--samples", str(mc_samples // 4 * r)])) for r in ranks]
        result["rmt_check"] = measure(configs, a.repeats)
    if "integration" in parts:
        args = ["--ensemble", "goe", "--k", "10,20,30", "--method", "integration", "--no-exact", "--nodes", "12",
                "--sweeps", "500" if a.quick else str(a.integration_sweeps), "--burn-in", "500",
                "--endpoint-samples", "10000", "--repetitions", "4", "--seed", "1"]
        result["rmt_integration"] = side_by_side(a, ranks, rmt, args)
    if "kvalues" in parts:
        args = ["--ensemble", "goe", "--k", "1:20" if a.quick else "1:40", "--method", "mc", "--sampler", "dense",
                "--samples", "2048", "--no-exact", "--seed", "1"]
        result["rmt_k_values"] = side_by_side(a, ranks, rmt, args)
    result["context"]["load_after"] = os.getloadavg()
    json.dump(result, sys.stdout, indent=2)
    print()


def side_by_side(a, ranks, rmt, args):
    """rmt-check ARGS on each rank count (and the peer build's, interleaved); CPU and wall ratios."""
    builds = {"this": rmt}
    if a.peer_bin:
        builds["peer"] = os.path.join(a.peer_bin, "rmt-check")
    configs = [(f"{name}/{r}", launch(r, tool, args)) for r in ranks for name, tool in builds.items()]
    runs = measure(configs, a.repeats)
    out = {"command": " ".join(["rmt-check", *args]), "runs": runs}
    for name in builds:
        one = runs[f"{name}/{ranks[0]}"]
        out[f"{name}_cpu_ratio_to_{ranks[0]}_rank"] = {str(r): runs[f"{name}/{r}"]["cpu_seconds"] / one["cpu_seconds"] for r in ranks}
        out[f"{name}_wall_ratio_to_{ranks[0]}_rank"] = {str(r): runs[f"{name}/{r}"]["wall_seconds"] / one["wall_seconds"] for r in ranks}
    if a.peer_bin:
        out["cpu_ratio_this_to_peer"] = {str(r): runs[f"this/{r}"]["cpu_seconds"] / runs[f"peer/{r}"]["cpu_seconds"] for r in ranks}
    return out


def spectrum_scaling(a, ranks, samples, per_rank, spectrum, spectrum_args, long_steps):
    """hessian-spectrum, data-parallel: CPU and wall per product (strong and weak)."""
    with tempfile.TemporaryDirectory() as tmp:
        strong_ckpt = os.path.join(tmp, f"mlp_{samples}.h5")
        make_checkpoint(a.bin, strong_ckpt, samples)
        weak = {}
        for r in ranks:
            weak[r] = os.path.join(tmp, f"mlp_{per_rank * r}.h5")
            if not os.path.exists(weak[r]):
                make_checkpoint(a.bin, weak[r], per_rank * r)
        configs = []
        for steps in (a.steps, long_steps):
            configs += [(f"strong/{r}/{steps}", launch(r, spectrum, [strong_ckpt, *spectrum_args(steps)])) for r in ranks]
            configs += [(f"weak/{r}/{steps}", launch(r, spectrum, [weak[r], *spectrum_args(steps)])) for r in ranks]
        runs = measure(configs, a.repeats)
        per_product = {}
        for kind in ("strong", "weak"):
            for r in ranks:
                short, long = runs[f"{kind}/{r}/{a.steps}"], runs[f"{kind}/{r}/{long_steps}"]
                per_product[f"{kind}/{r}"] = {
                    "cpu_seconds_per_product_all_ranks": (long["cpu_seconds"] - short["cpu_seconds"]) / (long_steps - a.steps),
                    "wall_seconds_per_product": (long["tool_seconds"] - short["tool_seconds"]) / (long_steps - a.steps)}
        return {"runs": runs, "per_product": per_product}


if __name__ == "__main__":
    main()
