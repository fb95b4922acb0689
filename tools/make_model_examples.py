#!/usr/bin/python3
"""Make the bundled example model checkpoint data/examples/iris_mlp_minimum.h5.

Usage: /usr/bin/python3 tools/make_model_examples.py [--out data/examples/iris_mlp_minimum.h5]

An MLP [4, 8, 3] with tanh on the iris data (data/datasets/iris.h5), softmax cross-entropy plus
(λ/2)‖θ‖² with λ = 1e-2, trained in float64 by torch.optim.LBFGS (strong Wolfe line search) from
torch.manual_seed(0) until the gradient norm stops decreasing; exported with tools/export_torch.py
(data embedded). classify-critical should call it a minimum.
"""
import argparse
import os
import sys

import h5py
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import export_torch  # noqa: E402

WEIGHT_DECAY = 1e-2


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(HERE, "..", "data", "examples", "iris_mlp_minimum.h5"))
    args = parser.parse_args()
    torch.set_default_dtype(torch.float64)
    torch.manual_seed(0)
    with h5py.File(os.path.join(HERE, "..", "data", "datasets", "iris.h5"), "r") as f:
        X = torch.tensor(f["iris/X"][...])
        y = torch.tensor(f["iris/y"][...][:, 0]).long()
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)).double()
    params = list(model.parameters())
    loss_fn = torch.nn.CrossEntropyLoss()

    def objective():
        return loss_fn(model(X), y) + 0.5 * WEIGHT_DECAY * sum((p * p).sum() for p in params)

    optimizer = torch.optim.LBFGS(params, lr=1, max_iter=500, tolerance_grad=1e-14, tolerance_change=0,
                                  history_size=50, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        value = objective()
        value.backward()
        return value

    for _ in range(40):
        optimizer.step(closure)
    value = objective()
    grad = torch.autograd.grad(value, params)
    norm = float(torch.sqrt(sum((g * g).sum() for g in grad)))
    export_torch.export_checkpoint(model, X, y, "cross_entropy", args.out, seeds={"torch_manual_seed": 0},
                                   weight_decay=WEIGHT_DECAY)
    print(f"make_model_examples.py: wrote {args.out} (objective {float(value):.12g}, |grad| {norm:.3e})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
