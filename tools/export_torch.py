#!/usr/bin/python3
"""Export a PyTorch model, its data and its loss as a saddlescope checkpoint.

Run with Debian's interpreter: /usr/bin/python3 (python3-torch, python3-h5py, python3-numpy, python3-onnx).

Two paths, chosen by the model:
- **MLP**: a torch.nn.Sequential of nn.Linear layers and one kind of hidden activation (nn.Identity,
  nn.Tanh, nn.Sigmoid, nn.ReLU, nn.LeakyReLU, nn.Softplus with beta=1, nn.GELU with approximate='none'),
  the last module a Linear producing logits, is written as an MLP spec (lib/models/spec.h): layer by layer,
  weight row-major [out, in] as torch stores it, then bias (docs/models.md).
- **Graph**: any other torch.nn.Module built from the supported ops (docs/graph.md) goes through
  torch.onnx.export (float64 copy, opset 14, the module's own train/eval mode, no constant folding);
  the checkpoint holds the ONNX bytes (/objective/onnx), the parameters in the order of
  model.parameters() (/params), the float buffers the graph reads (/buffers/<name>) and the spec
  {"kind": "graph", "loss", "mode", "weight_decay", "parameters", "parameter_names", "buffer_names",
  "input_shape"}. The module is left exactly as it was (the export runs on a deep copy, so a train-mode
  forward pass cannot move batch-norm running statistics).

Losses: "mse" (torch.nn.MSELoss, mean), "cross_entropy" (torch.nn.CrossEntropyLoss, mean; y class
indices), "logistic" (torch.nn.BCEWithLogitsLoss, mean; one output, y in [0, 1]). The data are checked
before anything is written: no empty data, no NaN/Inf, class indices integer and in range, targets in
[0, 1] for logistic, one y column per output for mse.

The file layout and provenance attributes are those of the C++ writer (lib/io/checkpoint.h): format
"saddlescope-checkpoint", format_version 1, created_by, git_commit, command_line, created_at, seeds;
UTF-8 variable-length strings; written to a temporary name and renamed.

Command line:
  /usr/bin/python3 tools/export_torch.py DATA.pt --module net.py:Net --loss cross_entropy --out model.h5
  /usr/bin/python3 tools/export_torch.py STATE.pt DATA.pt --module net.py:make_net --loss mse --out model.h5
  /usr/bin/python3 tools/export_torch.py MODEL.pt DATA.pt --trust-pickle --loss cross_entropy --out model.h5
DATA.pt holds a dict {"X": tensor [N, ...], "y": tensor} (torch.save). Files are read with
torch.load(weights_only=True): a pickled module (torch.save(model)) runs code from the file when loaded,
so it is read only with --trust-pickle. --module FILE.py:NAME executes your own file and calls NAME()
(after torch.manual_seed(--seed)); STATE.pt, if given, is loaded into it as a state_dict.
Exit codes: 0 written; 2 usage error or unsupported model; 3 unreadable or invalid input file or data.
"""
import argparse
import copy as copy_module
import importlib.util
import io
import json
import os
import shlex
import sys
import warnings

import h5py
import numpy as np
import torch

from h5_provenance import write_provenance, write_string

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
    if isinstance(module, torch.nn.Softplus) and module.threshold != 20:  # torch returns x above it
        raise UnsupportedModel(f"module {index} (Softplus) has threshold={module.threshold}; only threshold=20 "
                               "(torch's default) is supported")
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


class DataError(ValueError):
    """The data cannot be used with the model and loss (the tools would refuse the checkpoint)."""


def _data_arrays(X, y, loss, outputs):
    """X as [N, d] float64 (samples flattened row-major) with its per-sample shape, y as [N, k] float64,
    both checked against the loss and the model's `outputs` before anything is written (#17 item 14)."""
    X = torch.as_tensor(X).detach()
    y = torch.as_tensor(y).detach()
    if X.ndim < 2:
        raise DataError(f"X must be [N, ...] with one row per sample, got shape {list(X.shape)}")
    if X.shape[0] == 0:
        raise DataError("the data set is empty (X has 0 samples)")
    sample_shape = [int(s) for s in X.shape[1:]]
    X = X.to(torch.float64).reshape(X.shape[0], -1).cpu().numpy()
    y = y.to(torch.float64).cpu().numpy()
    if y.ndim == 1:
        y = y.reshape(-1, 1)
    if y.ndim != 2 or y.shape[0] != X.shape[0]:
        raise DataError(f"y must have {X.shape[0]} rows (one per sample of X), got shape {list(y.shape)}")
    if not np.isfinite(X).all():
        raise DataError("X contains NaN or Inf")
    if not np.isfinite(y).all():
        raise DataError("y contains NaN or Inf")
    if loss == "cross_entropy":
        if y.shape[1] != 1:
            raise DataError(f"loss 'cross_entropy' takes one column of class indices, y has {y.shape[1]}")
        bad = (y != np.round(y)) | (y < 0)
        if bad.any():
            raise DataError(f"loss 'cross_entropy' needs non-negative integer class indices; y[{int(np.argmax(bad))}] = "
                            f"{float(y[np.argmax(bad), 0])!r}")
        if outputs is not None and (y >= outputs).any():
            i = int(np.argmax(y >= outputs))
            raise DataError(f"class index y[{i}] = {int(y[i, 0])} is out of range: the model has {outputs} outputs "
                            f"(classes 0..{outputs - 1})")
    elif loss == "logistic":
        if y.shape[1] != 1 or ((y < 0) | (y > 1)).any():
            raise DataError("loss 'logistic' needs one column of targets in [0, 1]")
    elif outputs is not None and y.shape[1] != outputs:
        raise DataError(f"loss 'mse' needs y with {outputs} columns (the model's outputs), got {y.shape[1]}")
    return np.ascontiguousarray(X), np.ascontiguousarray(y), sample_shape


class WeightsError(ValueError):
    """The model's parameters or buffers hold NaN or Inf (an invalid input, exit 3)."""


def _check_finite_weights(named):
    for name, tensor in named:
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise WeightsError(f"'{name}' contains NaN or Inf")


# ONNX export of any module (docs/graph.md). The opset is fixed so that two machines write the same graph.
ONNX_OPSET = 14
# The op types the C++ importer accepts (lib/models/graph/onnx_import.cpp, supported_op_types(); the test
# GraphExport.PythonOpListIsTheImporters keeps the two lists equal). Checked here so that an unsupported
# module is refused at export, naming the op and the node, rather than when a tool reads the checkpoint.
SUPPORTED_OPS = (
    "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Neg", "Reciprocal", "Conv",
    "BatchNormalization", "LayerNormalization", "Relu", "LeakyRelu", "Tanh", "Sigmoid", "Softplus", "Erf", "Exp",
    "Log", "Softmax", "LogSoftmax", "MaxPool", "AveragePool", "GlobalAveragePool", "ReduceMean", "Flatten",
    "Reshape", "Transpose", "Concat", "Slice", "Gather", "Split", "Identity", "Dropout", "Constant", "Shape",
    "Unsqueeze", "Squeeze", "Cast", "Expand", "Pad", "ConstantOfShape", "Equal", "Where", "Range")


def graph_spec(model, X, loss, weight_decay=0.0):
    """Export `model` through torch.onnx in its own mode. Returns (spec, theta, buffers, onnx_bytes, outputs).

    The export runs on a float64 deep copy, so nothing in `model` changes (a train-mode export runs a
    forward pass that would update batch-norm running statistics; the copy absorbs it). Parameters and
    buffers are taken from `model` itself, as they were before the export."""
    if loss not in LOSSES:
        raise ValueError(f"loss '{loss}' is not supported (supported: {', '.join(LOSSES)})")
    if not (np.isfinite(weight_decay) and weight_decay >= 0.0):
        raise ValueError(f"weight_decay must be finite and >= 0, got {weight_decay}")
    X = torch.as_tensor(X).detach()
    if X.ndim < 2:
        raise DataError(f"X must be [N, ...] with one row per sample, got shape {list(X.shape)}")
    if X.shape[0] == 0:
        raise DataError("the data set is empty (X has 0 samples)")
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.modules.dropout._DropoutNd) and module.training and module.p > 0:
            raise UnsupportedModel(f"module '{name}' (Dropout, p={module.p}) is in training mode: its forward pass is "
                                   "random, so there is no deterministic landscape; call .eval() on it or set p=0")
        # Modules whose ONNX export is not the module (found by tests/models/graph_op_reference.py): refused
        # here, because the graph alone cannot tell.
        if isinstance(module, torch.nn.modules.conv._ConvNd) and module.padding_mode != "zeros":
            reason = ("torch 1.13 exports circular padding with the wrong slices (x[-2] where the module uses x[-1])"
                      if module.padding_mode == "circular" else
                      f"it exports as a Pad of mode '{module.padding_mode}', which the graph engine does not implement")
            raise UnsupportedModel(f"module '{name}' ({type(module).__name__}, padding_mode='{module.padding_mode}'): "
                                   f"{reason}; only padding_mode='zeros' is supported")
        if isinstance(module, torch.nn.Softplus) and module.threshold != 20:
            raise UnsupportedModel(f"module '{name}' (Softplus, threshold={module.threshold}): ONNX's Softplus has no "
                                   "threshold, and the graph engine applies torch's default, 20; only threshold=20 "
                                   "is supported")
    named_parameters = list(model.named_parameters())
    named_buffers = [(n, b) for n, b in model.named_buffers() if b.is_floating_point()]
    _check_finite_weights(named_parameters + named_buffers)
    copy = copy_module.deepcopy(model).to(torch.float64)
    training = model.training
    example = X[: min(int(X.shape[0]), 2)].to(torch.float64)
    onnx_stream = io.BytesIO()
    with torch.no_grad():
        outputs = copy(example)
    if outputs.ndim != 2:
        raise UnsupportedModel(f"the model's output must be [batch, k] (logits), got shape {list(outputs.shape)}")
    # EVAL would run torch's eval peephole, which folds batch norm into the preceding convolution and
    # renames the parameters; PRESERVE exports the module's eval mode as it is (docs/architecture.md).
    mode = torch.onnx.TrainingMode.TRAINING if training else torch.onnx.TrainingMode.PRESERVE
    with warnings.catch_warnings():  # torch.onnx's tracer warnings are about its internals, not the user's model
        warnings.simplefilter("ignore")
        torch.onnx.export(copy, example, onnx_stream, training=mode, do_constant_folding=False, export_params=True,
                          opset_version=ONNX_OPSET, input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    onnx_bytes = onnx_stream.getvalue()
    initializers, nodes = _onnx_contents(onnx_bytes)
    for node_name, op_type in nodes:
        if op_type not in SUPPORTED_OPS:
            raise UnsupportedModel(f"op '{op_type}' (node '{node_name}') of the exported graph is not supported; "
                                   "docs/graph.md lists the supported ops")
    for name, _ in named_parameters:
        if name not in initializers:
            raise UnsupportedModel(f"parameter '{name}' does not appear in the exported graph (unused by forward, "
                                   "or folded into a constant by torch.onnx)")
    buffers = [(n, b) for n, b in named_buffers if n in initializers]
    theta = np.concatenate([p.detach().to(torch.float64).reshape(-1).cpu().numpy() for _, p in named_parameters]) \
        if named_parameters else np.zeros(0)
    if theta.size == 0:
        raise UnsupportedModel("the model has no parameters")
    spec = {"kind": "graph", "loss": loss, "mode": "train" if training else "eval", "weight_decay": float(weight_decay),
            "parameters": int(theta.size), "parameter_names": [n for n, _ in named_parameters],
            "buffer_names": [n for n, _ in buffers], "input_shape": [int(s) for s in X.shape[1:]]}
    buffer_values = {n: b.detach().to(torch.float64).reshape(-1).cpu().numpy() for n, b in buffers}
    return spec, theta, buffer_values, onnx_bytes, int(outputs.shape[1])


def _onnx_contents(onnx_bytes):
    """Initializer names and (node name, op type) pairs of a serialized ModelProto (python3-onnx)."""
    try:
        import onnx
    except ImportError:  # pragma: no cover - python3-onnx is a test package
        raise UnsupportedModel("python3-onnx is needed to export graph models (apt-get install python3-onnx)")
    graph = onnx.load_from_string(onnx_bytes).graph
    return {t.name for t in graph.initializer}, [(n.name, n.op_type) for n in graph.node]


def export_checkpoint(model, X, y, loss, path, seeds=None, command_line=None, weight_decay=0.0):
    """Write `model` at its current parameters, with data (X, y) and `loss`, as a checkpoint at `path`.

    A Sequential of Linear layers and one activation is written as an MLP spec (lib/models/spec.h);
    any other module goes through torch.onnx.export as a graph model (docs/graph.md), in the module's
    own train/eval mode. X is [N, ...]: a 2-D X feeds the model as is, a higher-rank X gives the
    per-sample shape (e.g. [N, 1, 28, 28]). `model` is left exactly as it was.

    Raises UnsupportedModel (naming the module), DataError or ValueError; nothing is written then.
    Returns the spec (dict) that was stored.
    """
    _check_finite_weights(list(model.named_parameters()) + list(model.named_buffers()))
    graph = None
    try:
        spec, theta = model_spec(model, loss, weight_decay)
        outputs = spec["widths"][-1]
    except UnsupportedModel:
        spec, theta, buffers, graph, outputs = graph_spec(model, X, loss, weight_decay)
    X_np, y_np, sample_shape = _data_arrays(X, y, loss, outputs)
    if graph is None and X_np.shape[1] != spec["widths"][0]:
        raise DataError(f"X has {X_np.shape[1]} columns but the model takes {spec['widths'][0]} inputs")
    if graph is None and len(sample_shape) != 1:
        raise DataError(f"an MLP takes X as [N, d], got per-sample shape {sample_shape}")
    temporary = f"{path}.tmp-{os.getpid()}"
    try:
        with h5py.File(temporary, "w") as f:
            write_provenance(f, "saddlescope-checkpoint", f"export_torch.py {VERSION} (torch {torch.__version__})",
                             command_line if command_line is not None else shlex.join(sys.argv), seeds)
            f.create_dataset("params", data=theta.astype(np.float64))
            objective = f.create_group("objective")
            write_string(objective, "spec", json.dumps(spec))
            if graph is not None:
                objective.create_dataset("onnx", data=np.frombuffer(graph, dtype=np.uint8))
                if buffers:
                    group = f.create_group("buffers")
                    for name, values in buffers.items():
                        group.create_dataset(name, data=values)
            data = f.create_group("data")
            data.create_dataset("X", data=X_np)
            data.create_dataset("y", data=y_np)
            if len(sample_shape) > 1:
                data.create_dataset("sample_shape", data=np.asarray(sample_shape, dtype=np.int64))
            f.flush()
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    return spec


def _load_module(reference, seed):
    """`path/to/file.py:name` -> the module built by calling `name` (a class or a factory) in that file.
    The file is the user's own code and is executed, as `python file.py` would."""
    if ":" not in reference:
        raise UsageError(f"--module '{reference}' must be FILE.py:NAME")
    file, name = reference.rsplit(":", 1)
    if not os.path.isfile(file):
        raise InputError(f"--module: '{file}' is not a file")
    spec = importlib.util.spec_from_file_location("export_torch_user_module", file)
    if spec is None:
        raise InputError(f"--module: '{file}' is not a Python file")
    user = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(user)
    factory = getattr(user, name, None)
    if factory is None or not callable(factory):
        raise UsageError(f"--module: '{file}' defines no class or function '{name}'")
    torch.manual_seed(seed)
    model = factory()
    if not isinstance(model, torch.nn.Module):
        raise UsageError(f"--module: {name}() returned a {type(model).__name__}, not a torch.nn.Module")
    return model


class UsageError(ValueError):
    """Bad command line (exit 2)."""


class InputError(ValueError):
    """An input file cannot be read or holds the wrong thing (exit 3)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (#17 item 14), instead of argparse's usage block
        print(f"export_torch.py: error: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def _same_file(a, b):
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def _torch_load(path, trust_pickle, what):
    """torch.load, weights only unless trusted. A damaged or hostile file can make the unpickler raise
    anything, so every failure is one InputError line."""
    try:
        return torch.load(path, map_location="cpu", weights_only=not trust_pickle)
    except Exception as e:  # noqa: BLE001 - see above
        reason = " ".join(str(e).split()) or type(e).__name__
        if not trust_pickle and "weights only load failed" in reason.lower():
            reason = ("it holds Python objects beyond tensors (a pickled module?), which would run code from the file; "
                      "save a state_dict and use --module, or pass --trust-pickle if you trust the file")
        raise InputError(f"cannot read {what} '{path}': {reason[:300]}")


def _fail(message, code):
    """One line on stderr (whitespace collapsed, so a multi-line exception stays one line); returns `code`."""
    print(f"export_torch.py: error: {' '.join(str(message).split())[:600]}", file=sys.stderr)
    return code


def main(argv=None):
    parser = _Parser(description="Export a torch.nn.Module with its data and loss as a saddlescope checkpoint.")
    parser.add_argument("model", nargs="?", help="torch.save'd state_dict for --module, or (with --trust-pickle) a "
                        "torch.save'd module")
    parser.add_argument("data", help="torch.save'd dict with tensors 'X' [N, ...] and 'y'")
    parser.add_argument("--module", help="FILE.py:NAME, a class or factory in your file that builds the module "
                        "(then MODEL, if given, is its state_dict)")
    parser.add_argument("--mode", choices=("train", "eval"), help="put the module in this mode before export "
                        "(default: the mode it is in)")
    parser.add_argument("--loss", required=True, choices=LOSSES)
    parser.add_argument("--weight-decay", type=float, default=0.0, help="lambda of the (lambda/2)|theta|^2 term")
    parser.add_argument("--out", required=True, help="checkpoint file to write (HDF5)")
    parser.add_argument("--trust-pickle", action="store_true", help="allow MODEL to be a full pickle (runs code "
                        "stored in the file: only for files you trust). Without it files are read with "
                        "torch.load(weights_only=True)")
    parser.add_argument("--seed", type=int, default=0, help="torch.manual_seed before --module builds the module")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (>= 1)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--version", action="version", version=f"export_torch.py {VERSION}")
    args = parser.parse_args(argv)
    if args.out == "":
        parser.error("--out must not be empty")
    if args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    if not 0 <= args.seed < 2**63:
        parser.error(f"--seed must be in [0, 2^63), got {args.seed}")
    if args.model is None and args.module is None:
        parser.error("give MODEL (a pickled module, with --trust-pickle) or --module FILE.py:NAME")
    for given in [f for f in (args.model, args.data) if f is not None] + \
            ([args.module.rsplit(":", 1)[0]] if args.module and ":" in args.module else []):
        if os.path.exists(args.out) and _same_file(given, args.out):
            parser.error(f"--out '{args.out}' is the same file as the input '{given}'; it would destroy the input")
    torch.set_num_threads(args.threads)
    try:
        if args.module:
            model = _load_module(args.module, args.seed)
            if args.model is not None:
                state = _torch_load(args.model, args.trust_pickle, "model state_dict")
                if not isinstance(state, dict):
                    raise InputError(f"'{args.model}' is not a state_dict (with --module, MODEL is the module's state_dict)")
                try:
                    model.load_state_dict(state)
                except RuntimeError as e:
                    raise InputError(f"'{args.model}' does not fit the module: {' '.join(str(e).split())[:300]}")
        else:
            model = _torch_load(args.model, args.trust_pickle, "model")
            if not isinstance(model, torch.nn.Module):
                raise InputError(f"'{args.model}' holds a {type(model).__name__}, not a torch.nn.Module "
                                 "(a state_dict needs --module FILE.py:NAME)")
        if args.mode is not None:
            model.train(args.mode == "train")
        data = _torch_load(args.data, False, "data")
        if not isinstance(data, dict) or "X" not in data or "y" not in data:
            raise InputError(f"'{args.data}': expected a dict with tensors 'X' and 'y'")
    except (UsageError, InputError) as e:
        return _fail(e, 2 if isinstance(e, UsageError) else 3)
    except Exception as e:  # noqa: BLE001 - the user's module file raised while being built or loaded
        return _fail(f"--module {args.module}: {type(e).__name__}: {e}", 2)
    try:
        spec = export_checkpoint(model, data["X"], data["y"], args.loss, args.out, weight_decay=args.weight_decay,
                                 seeds={"seed": args.seed})
    except DataError as e:
        return _fail(f"{args.data}: {e}", 3)
    except (WeightsError, OSError) as e:
        return _fail(f"{args.model or args.module}: {e}" if isinstance(e, WeightsError) else e, 3)
    except (UnsupportedModel, ValueError) as e:
        return _fail(e, 2)
    except Exception as e:  # noqa: BLE001 - torch.onnx.export or the module's forward failed
        return _fail(f"exporting the model failed: {type(e).__name__}: {e}", 2)
    if args.json:
        print(json.dumps({"checkpoint": args.out, "spec": spec}, indent=2))
    elif spec["kind"] == "graph":
        print(f"export_torch.py: wrote {args.out} (graph, {spec['mode']} mode, {spec['loss']}, "
              f"n = {spec['parameters']}, input {spec['input_shape']})")
    else:
        print(f"export_torch.py: wrote {args.out} (mlp{spec['widths']} {spec['activation']} {spec['loss']}, "
              f"n = {spec['parameters']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
