#!/usr/bin/python3
"""torch.optim side of bench-optim: median seconds of one opt.step() (foreach=True) on n float64
parameters with a fixed gradient. Usage: bench_optim_torch.py N REPEATS THREADS. Prints JSON."""
import json
import statistics
import sys
import time

import torch

n, repeats, threads = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
torch.manual_seed(1)
out = {"torch_version": torch.__version__}
for name, make in [("sgd_momentum", lambda p: torch.optim.SGD([p], lr=1e-3, momentum=0.9, foreach=True)),
                   ("adam", lambda p: torch.optim.Adam([p], lr=1e-3, foreach=True))]:
    p = torch.randn(n, dtype=torch.float64, requires_grad=True)
    p.grad = torch.randn(n, dtype=torch.float64)
    opt = make(p)
    times = []
    for r in range(repeats + 5):
        t0 = time.perf_counter()
        opt.step()
        dt = time.perf_counter() - t0
        if r >= 5:
            times.append(dt)
    out[name] = statistics.median(times)
print(json.dumps(out))
