#!/usr/bin/python3
"""Reference values from PyTorch's autograd for the graph-model tests (tests/models/graph_torch_test.cpp).

Usage: /usr/bin/python3 tests/models/graph_reference.py OUT_DIR

Each case is a torch model of tools/bench/graph_models.py (LeNet-5, ResNet-8 with batch norm in train and
in eval mode, a one-block transformer encoder, a small CNN), float64, exported with
tools/export_torch.py to OUT_DIR/<case>.h5. OUT_DIR/reference.h5 holds one group per case:
  attributes checkpoint (path), loss_value; datasets gradient [n], V [16, n] (one direction per row),
  HV [16, n] (double-backward Hessian-vector products), GV [16, n] (Gauss-Newton products
  J^T H_L J v: jvp, then the loss's Hessian in the logits, then vjp, all by torch.autograd.functional);
  the small CNN also hessian [n, n] (torch.autograd.functional.hessian) and eigenvalues [n] (ascending).
The objective is the mean loss plus (weight_decay/2)|theta|^2, the checkpoint's definition.
"""
import os
import sys

import h5py
import numpy as np
import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "..", "tools"))
sys.path.insert(0, os.path.join(here, "..", "..", "tools", "bench"))
import export_torch  # noqa: E402
import graph_models  # noqa: E402

torch.set_default_dtype(torch.float64)
COLUMNS = 16


def loss_of_logits(z, y, loss):
    if loss == "cross_entropy":
        return torch.nn.functional.cross_entropy(z, y)
    return torch.nn.functional.mse_loss(z, y.to(z.dtype))


class Functional:
    """The model's logits and loss as functions of one flat parameter vector (checkpoint layout)."""

    def __init__(self, model, X, y, loss, weight_decay):
        self.model, self.X, self.y, self.loss, self.weight_decay = model, X, y, loss, weight_decay
        self.names = [n for n, _ in model.named_parameters()]
        self.shapes = [p.shape for _, p in model.named_parameters()]
        self.buffers = {n: b.clone() for n, b in model.named_buffers()}

    def unflatten(self, theta):
        values, offset = {}, 0
        for name, shape in zip(self.names, self.shapes):
            size = int(np.prod(shape))
            values[name] = theta[offset:offset + size].reshape(shape)
            offset += size
        return values

    def logits(self, theta):
        state = self.unflatten(theta)
        state.update({n: b.clone() for n, b in self.buffers.items()})  # train-mode BN writes running stats
        return torch.nn.utils.stateless.functional_call(self.model, state, (self.X,))

    def objective(self, theta):
        return loss_of_logits(self.logits(theta), self.y, self.loss) + 0.5 * self.weight_decay * theta.dot(theta)


def make_cases():
    g = torch.Generator().manual_seed(1300)
    cases = []

    def data(shape, samples, classes):
        return torch.randn(samples, *shape, generator=g), torch.randint(0, classes, (samples,), generator=g)

    torch.manual_seed(1301)
    X, y = data((1, 28, 28), 4, 10)
    cases.append(("lenet5", graph_models.LeNet5(), X, y, 0.01))
    for mode in ("train", "eval"):
        torch.manual_seed(1302)
        model = graph_models.resnet8()
        with torch.no_grad():  # non-trivial running statistics and affine parameters
            for module in model.modules():
                if isinstance(module, torch.nn.BatchNorm2d):
                    module.running_mean.copy_(0.1 * torch.randn(module.running_mean.shape, generator=g))
                    module.running_var.copy_(0.5 + torch.rand(module.running_var.shape, generator=g))
                    module.weight.copy_(1 + 0.1 * torch.randn(module.weight.shape, generator=g))
                    module.bias.copy_(0.1 * torch.randn(module.bias.shape, generator=g))
        model.train(mode == "train")
        X, y = data((3, 32, 32), 4, 10)
        cases.append((f"resnet8_{mode}", model, X, y, 0.0))
    torch.manual_seed(1303)
    X, y = data((8, 16), 3, 5)
    cases.append(("transformer", graph_models.EncoderBlock(width=16, heads=2, classes=5), X, y, 0.0))
    torch.manual_seed(1304)
    X, y = data((1, 6, 6), 7, 3)
    cases.append(("small_cnn", graph_models.SmallCNN(classes=3), X, y, 0.0))
    return cases


def record_case(ref, name, model, X, y, loss, weight_decay, path, columns=COLUMNS):
    """Export `model` (float64) with `export_checkpoint` to `path` and write torch's references into a new
    group `name` of the open h5py file `ref` (attributes checkpoint, loss_value; datasets gradient, V, HV,
    GV as the module docstring describes). Returns (group, Functional, point) for case-specific extras."""
    model = model.double()
    spec = export_torch.export_checkpoint(model, X, y, loss, path, weight_decay=weight_decay, seeds={"case": name})
    assert spec["kind"] == "graph", spec
    f = Functional(model, X, y, loss, weight_decay)
    theta = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).requires_grad_(True)
    value = f.objective(theta)
    (gradient,) = torch.autograd.grad(value, theta, create_graph=True)
    n = theta.numel()
    V = torch.randn(columns, n, generator=torch.Generator().manual_seed(n))
    HV = torch.stack([torch.autograd.grad(gradient @ v, theta, retain_graph=True)[0] for v in V])
    point = theta.detach()
    z = f.logits(point).detach()
    GV = []
    for v in V:
        _, Jv = torch.autograd.functional.jvp(f.logits, point, v)
        _, HJv = torch.autograd.functional.hvp(lambda logits: loss_of_logits(logits, y, loss), z, Jv)
        _, JtHJv = torch.autograd.functional.vjp(f.logits, point, HJv)
        GV.append(JtHJv + weight_decay * v)
    group = ref.create_group(name)
    group.attrs["checkpoint"] = path
    group.attrs["loss_value"] = float(value)
    group.create_dataset("gradient", data=gradient.detach().numpy())
    group.create_dataset("V", data=V.numpy())
    group.create_dataset("HV", data=HV.detach().numpy())
    group.create_dataset("GV", data=torch.stack(GV).detach().numpy())
    return group, f, point


def main():
    out_dir = sys.argv[1]
    with h5py.File(os.path.join(out_dir, "reference.h5"), "w") as ref:
        for name, model, X, y, weight_decay in make_cases():
            path = os.path.join(out_dir, name + ".h5")
            group, f, point = record_case(ref, name, model, X, y, "cross_entropy", weight_decay, path)
            if name == "small_cnn":
                H = torch.autograd.functional.hessian(f.objective, point)
                group.create_dataset("hessian", data=H.numpy())
                group.create_dataset("eigenvalues", data=torch.linalg.eigvalsh(0.5 * (H + H.T)).numpy())
    return 0


if __name__ == "__main__":
    sys.exit(main())
