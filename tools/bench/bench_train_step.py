#!/usr/bin/python3
"""Training-step benchmark (issue #16 item 6): one training step — forward, backward, optimizer update,
batch norm in train mode with its running statistics updated — of ResNet-8 (tools/bench/graph_models.py)
on a mini-batch of 128 CIFAR-shaped inputs, saddlescope's run-optimizer against torch, in one run, 1
thread, float64; and the per-layer curvature table of ResNet-20 (hessian-spectrum --per-layer: λ_max,
λ_min and trace of every layer's diagonal block) with its time.

Timing: CPU seconds (user + sys). torch: median over --repeats of (forward + loss + backward +
SGD-with-momentum step) in this process. saddlescope: run-optimizer on the exported checkpoint (the
data set is the 128-sample batch, so full batch = one mini-batch of 128), per step =
(CPU(--steps 1 + K) − CPU(--steps 1)) / K of two child processes, which removes start-up, loading and
the final evaluation; each of our steps also evaluates the loss for the run record (torch's loop does
not), so the comparison is conservative for us.

    OMP_NUM_THREADS=1 /usr/bin/python3 tools/bench/bench_train_step.py --bin build/bin [--steps 10]
    OMP_NUM_THREADS=1 /usr/bin/python3 tools/bench/bench_train_step.py --bin build/bin --table-only \
        --table-batch 16 --table-tol 1e-3      # the ResNet-20 table alone (docs/architectures.md)

The table's batch defaults to 128 (docs/graph.md's ResNet-20 batch); every layer's Lanczos and trace
probes are full forward/backward passes, so its cost grows linearly with the batch (--table-batch).

Emits one JSON object on stdout.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import torch  # noqa: E402

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.path.insert(0, os.path.join(here, ".."))
import export_torch  # noqa: E402
import graph_models  # noqa: E402


def child_cpu(command):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def torch_step_cpu(model, X, y, repeats):
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    times = []
    for _ in range(repeats + 1):
        start = time.process_time()
        optimizer.zero_grad()
        loss = loss_fn(model(X), y)
        loss.backward()
        optimizer.step()
        times.append(time.process_time() - start)
    times = sorted(times[1:])  # the first call warms up
    return times[len(times) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-table", action="store_true")
    ap.add_argument("--table-only", action="store_true", help="only the ResNet-20 per-layer table")
    ap.add_argument("--table-batch", type=int, default=128, help="samples of the ResNet-20 table's loss")
    ap.add_argument("--table-tol", default="1e-4", help="hessian-spectrum --tol of the table")
    a = ap.parse_args()
    torch.set_num_threads(1)
    out = {"context": {"load_before": os.getloadavg(), "torch": torch.__version__}}
    work = tempfile.mkdtemp(prefix="bench_train_step_")

    if not a.table_only:
        out["resnet8_train_step"] = train_step(a, work)
    if not a.skip_table:
        out["resnet20_per_layer_table"] = per_layer_table(a, work)
    out["context"]["load_after"] = os.getloadavg()
    print(json.dumps(out, indent=2))


def train_step(a, work):
    torch.manual_seed(a.seed)
    model = graph_models.resnet8().double().train()
    g = torch.Generator().manual_seed(a.seed)
    X = torch.randn(128, 3, 32, 32, generator=g, dtype=torch.float64)
    y = torch.randint(0, 10, (128,), generator=g)
    ckpt = os.path.join(work, "resnet8.h5")
    spec = export_torch.export_checkpoint(model, X, y, "cross_entropy", ckpt)
    tool = os.path.join(a.bin, "run-optimizer")
    common = [tool, ckpt, "--optimizer", "sgd", "--lr", "1e-3", "--momentum", "0.9", "--threads", "1"]
    base = child_cpu(common + ["--steps", "1"])
    longer = child_cpu(common + ["--steps", str(1 + a.steps)])
    ours = (longer - base) / a.steps
    theirs = torch_step_cpu(model, X, y, a.repeats)
    return {"n": spec["parameters"], "batch": 128, "saddlescope_cpu_seconds": ours,
            "torch_cpu_seconds": theirs, "speedup_cpu": theirs / ours,
            "command": " ".join(common[1:]) + " --steps 1 / 1+K"}


def per_layer_table(a, work):
    torch.manual_seed(a.seed)
    model = graph_models.resnet20().double().train()
    g = torch.Generator().manual_seed(a.seed + 1)
    X = torch.randn(a.table_batch, 3, 32, 32, generator=g, dtype=torch.float64)
    y = torch.randint(0, 10, (a.table_batch,), generator=g)
    ckpt20 = os.path.join(work, "resnet20.h5")
    spec = export_torch.export_checkpoint(model, X, y, "cross_entropy", ckpt20)
    command = [os.path.join(a.bin, "hessian-spectrum"), ckpt20, "--top", "1", "--bottom", "0", "--trace-samples", "0",
               "--density-probes", "0", "--per-layer", "--tol", a.table_tol, "--threads", "1", "--json"]
    start = time.time()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run(command, check=False, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    entry = {"n": spec["parameters"], "batch": a.table_batch, "wall_seconds": time.time() - start,
             "cpu_seconds": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
             "exit_code": result.returncode, "command": " ".join(command[1:])}
    if result.returncode in (0, 1):
        entry["layers"] = json.loads(result.stdout).get("layers", [])
    else:
        entry["stderr"] = result.stderr.strip()
    print(table_text(entry), file=sys.stderr)
    return entry


def table_text(entry):
    """The layer table as Markdown (stderr; stdout is the JSON), then its time."""
    rows = ["| layer | size | λ_min | λ_max | trace | trace s.e. | exact | HVPs |", "| --- " * 8 + "|"]
    for r in entry.get("layers", []):
        rows.append("| {} | {} | {:.4g} | {:.4g} | {:.4g} | {:.2g} | {} | {} |".format(
            r["name"], r["size"], r["lambda_min"], r["lambda_max"], r["trace"], r["trace_stderr"],
            "yes" if r["exact"] else "no", r["hvp_count"]))
    rows.append("ResNet-20, n = {}, batch {}: {:.1f} s wall, {:.1f} s CPU, exit code {}".format(
        entry["n"], entry["batch"], entry["wall_seconds"], entry["cpu_seconds"], entry["exit_code"]))
    return "\n".join(rows)


if __name__ == "__main__":
    main()
