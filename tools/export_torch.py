#!/usr/bin/python3
"""Export a PyTorch model, its data and its loss as a saddlescope checkpoint.

Run with Debian's interpreter: /usr/bin/python3 (python3-torch, python3-h5py, python3-numpy).

Supported: a torch.nn.Sequential of nn.Linear layers and one kind of hidden activation (nn.Identity,
nn.Tanh, nn.Sigmoid, nn.ReLU, nn.LeakyReLU, nn.Softplus with beta=1, nn.GELU with approximate='none'),
the last module a Linear producing logits. Linear layers may follow each other without an activation
only if the whole model has no activation (a deep linear network; then all layers must share `bias`).
Anything else is refused with a message naming the module.

Losses: "mse" (torch.nn.MSELoss, mean), "cross_entropy" (torch.nn.CrossEntropyLoss, mean; y class
indices), "logistic" (torch.nn.BCEWithLogitsLoss, mean; one output, y in [0, 1]).

Parameter layout (docs/models.md, lib/models/network.h): layer by layer, weight row-major [out, in]
as torch stores it, then bias. The file layout and provenance attributes are those of the C++
writer (lib/io/checkpoint.h): format "saddlescope-checkpoint", format_version 1, created_by,
git_commit, command_line, created_at, seeds; UTF-8 variable-length strings; written to a temporary
name and renamed.

Command line:
  /usr/bin/python3 tools/export_torch.py MODEL.pt DATA.pt --loss cross_entropy --out model.h5
where MODEL.pt holds a pickled nn.Sequential (torch.save(model)) or a state_dict together with
--widths/--activation, and DATA.pt holds a dict {"X": tensor, "y": tensor} (torch.save).
"""
import argparse
import datetime
import json
import os
import shlex
import subprocess
import sys

import h5py
import numpy as np
import torch

VERSION = "0.1.0"
LOSSES = ("mse", "cross_entropy", "logistic")

_ACTIVATIONS = {
    torch.nn.Identity: "identity",
    torch.nn.Tanh: "tanh",
    torch.nn.Sigmoid: "sigmoid",
    torch.nn.ReLU: "relu",
    torch.nn.LeakyReLU: "leaky_relu",
    torch.nn.Softplus: "softplus",
    torch.nn.GELU: "gelu",
}


class UnsupportedModel(ValueError):
    """The model has a module or setting the checkpoint format cannot represent."""


def _activation_name(module, index):
    name = _ACTIVATIONS.get(type(module))
    if name is None:
        raise UnsupportedModel(f"module {index} ({type(module).__name__}) is not supported; supported: Linear, "
                               + ", ".join(t.__name__ for t in _ACTIVATIONS))
    if isinstance(module, torch.nn.Softplus) and (module.beta != 1):
        raise UnsupportedModel(f"module {index} (Softplus) has beta={module.beta}; only beta=1 is supported")
    if isinstance(module, torch.nn.GELU) and getattr(module, "approximate", "none") != "none":
        raise UnsupportedModel(f"module {index} (GELU) uses approximate='{module.approximate}'; only 'none' is supported")
    return name


def model_spec(model, loss, weight_decay=0.0):
    """The saddlescope spec (dict) and the flat parameter vector (float64 numpy) of `model`.

    `weight_decay` λ adds (λ/2)‖θ‖² over every parameter to the objective (an explicit regulariser,
    not an optimizer setting)."""
    if loss not in LOSSES:
        raise ValueError(f"loss '{loss}' is not supported (supported: {', '.join(LOSSES)})")
    if not isinstance(model, torch.nn.Sequential):
        raise UnsupportedModel(f"the model is a {type(model).__name__}; only torch.nn.Sequential is supported")
    modules = list(model)
    if not modules or not isinstance(modules[-1], torch.nn.Linear):
        raise UnsupportedModel("the last module must be a Linear layer producing the logits")
    linears, activations, slope = [], [], None
    previous_linear = False
    for i, module in enumerate(modules):
        if isinstance(module, torch.nn.Linear):
            linears.append(module)
            if previous_linear:
                activations.append("identity")
            previous_linear = True
        else:
            name = _activation_name(module, i)
            if not previous_linear:
                raise UnsupportedModel(f"module {i} ({type(module).__name__}) must follow a Linear layer")
            if isinstance(module, torch.nn.LeakyReLU):
                slope = float(module.negative_slope)
            activations.append(name)
            previous_linear = False
    kinds = set(activations)
    if len(kinds) > 1:
        raise UnsupportedModel("all hidden activations must be the same kind, found " + ", ".join(sorted(kinds)))
    activation = kinds.pop() if kinds else "identity"
    biases = {lin.bias is not None for lin in linears}
    if len(biases) > 1:
        raise UnsupportedModel("either every Linear layer has a bias or none has")
    bias = biases.pop()
    widths = [linears[0].in_features] + [lin.out_features for lin in linears]
    for a, b in zip(linears, linears[1:]):
        if a.out_features != b.in_features:
            raise UnsupportedModel(f"Linear layers do not chain: {a.out_features} outputs feed {b.in_features} inputs")
    if loss == "logistic" and widths[-1] != 1:
        raise ValueError("loss 'logistic' needs one output")
    params = []
    for lin in linears:
        params.append(lin.weight.detach().to(torch.float64).reshape(-1).cpu().numpy())  # row-major [out, in]
        if bias:
            params.append(lin.bias.detach().to(torch.float64).reshape(-1).cpu().numpy())
    theta = np.concatenate(params)
    spec = {"kind": "mlp", "widths": widths, "activation": activation, "loss": loss, "bias": bool(bias),
            "residual": False, "weight_decay": float(weight_decay)}
    if not (weight_decay >= 0.0 and np.isfinite(weight_decay)):
        raise ValueError(f"weight_decay must be finite and >= 0, got {weight_decay}")
    if activation == "leaky_relu":
        spec["leaky_relu_slope"] = slope
    spec["parameters"] = int(theta.size)
    return spec, theta


def _data_arrays(X, y, loss):
    X = torch.as_tensor(X).detach().to(torch.float64).cpu().numpy()
    y = torch.as_tensor(y).detach()
    if X.ndim != 2:
        raise ValueError(f"X must be [N, d], got shape {list(X.shape)}")
    y = y.to(torch.float64).cpu().numpy()
    if y.ndim == 1:
        y = y.reshape(-1, 1)
    if y.ndim != 2 or y.shape[0] != X.shape[0]:
        raise ValueError(f"y must have {X.shape[0]} rows, got shape {list(y.shape)}")
    if not (np.isfinite(X).all() and np.isfinite(y).all()):
        raise ValueError("X or y contains NaN or Inf")
    return np.ascontiguousarray(X), np.ascontiguousarray(y)


def _git_commit():
    try:
        here = os.path.dirname(os.path.abspath(__file__))
        out = subprocess.run(["git", "-C", here, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        return out.stdout.strip() if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _write_string(obj, name, value):
    obj.attrs.create(name, value, dtype=h5py.string_dtype(encoding="utf-8"))


def export_checkpoint(model, X, y, loss, path, seeds=None, command_line=None, weight_decay=0.0):
    """Write `model` at its current parameters, with data (X, y) and `loss`, as a checkpoint at `path`.

    Raises UnsupportedModel (naming the module) or ValueError; nothing is written then.
    Returns the spec (dict) that was stored.
    """
    spec, theta = model_spec(model, loss, weight_decay)
    X_np, y_np = _data_arrays(X, y, loss)
    if X_np.shape[1] != spec["widths"][0]:
        raise ValueError(f"X has {X_np.shape[1]} columns but the model takes {spec['widths'][0]} inputs")
    temporary = f"{path}.tmp-{os.getpid()}"
    try:
        with h5py.File(temporary, "w") as f:
            _write_string(f, "format", "saddlescope-checkpoint")
            f.attrs.create("format_version", 1, dtype=np.int64)
            _write_string(f, "created_by", f"export_torch.py {VERSION} (torch {torch.__version__})")
            _write_string(f, "git_commit", _git_commit())
            _write_string(f, "command_line", command_line if command_line is not None else shlex.join(sys.argv))
            _write_string(f, "created_at", datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
            _write_string(f, "seeds", json.dumps(seeds or {}))
            f.create_dataset("params", data=theta.astype(np.float64))
            objective = f.create_group("objective")
            _write_string(objective, "spec", json.dumps(spec))
            data = f.create_group("data")
            data.create_dataset("X", data=X_np)
            data.create_dataset("y", data=y_np)
            f.flush()
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    return spec


def main(argv=None):
    parser = argparse.ArgumentParser(description="Export a torch.nn.Sequential with its data and loss as a saddlescope checkpoint.")
    parser.add_argument("model", help="torch.save'd nn.Sequential (loaded with torch.load)")
    parser.add_argument("data", help="torch.save'd dict with tensors 'X' [N, d] and 'y'")
    parser.add_argument("--loss", required=True, choices=LOSSES)
    parser.add_argument("--weight-decay", type=float, default=0.0, help="lambda of the (lambda/2)|theta|^2 term")
    parser.add_argument("--out", required=True, help="checkpoint file to write (HDF5)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--version", action="version", version=f"export_torch.py {VERSION}")
    args = parser.parse_args(argv)
    try:
        model = torch.load(args.model)
        data = torch.load(args.data)
        if not isinstance(data, dict) or "X" not in data or "y" not in data:
            raise ValueError(f"{args.data}: expected a dict with tensors 'X' and 'y'")
    except (OSError, RuntimeError, EOFError, ValueError) as e:
        print(f"export_torch.py: error: {e}", file=sys.stderr)
        return 3
    try:
        spec = export_checkpoint(model, data["X"], data["y"], args.loss, args.out, weight_decay=args.weight_decay)
    except (UnsupportedModel, ValueError) as e:
        print(f"export_torch.py: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"export_torch.py: error: {e}", file=sys.stderr)
        return 3
    if args.json:
        print(json.dumps({"checkpoint": args.out, "spec": spec}, indent=2))
    else:
        print(f"export_torch.py: wrote {args.out} (mlp{spec['widths']} {spec['activation']} {spec['loss']}, "
              f"n = {spec['parameters']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
