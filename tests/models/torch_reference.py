#!/usr/bin/python3
"""Reference values from PyTorch's autograd for the torch round-trip tests (tests/models/torch_test.cpp).

Usage: /usr/bin/python3 tests/models/torch_reference.py OUT_DIR

For every activation and loss it builds a small float64 torch.nn.Sequential, exports it with
tools/export_torch.py to OUT_DIR/<case>.h5 and writes OUT_DIR/reference.h5 with one group per case:
  attributes checkpoint (path), loss_value; datasets gradient [n], V [m, n] (one direction per row),
  HV [m, n] (double-backward HVPs), hessian [n, n] (torch.autograd.functional.hessian), eigenvalues [n]
  (torch.linalg.eigvalsh of it, ascending).
"""
import os
import sys

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import export_torch  # noqa: E402

torch.set_default_dtype(torch.float64)

ACTIVATIONS = {
    "identity": torch.nn.Identity, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid, "relu": torch.nn.ReLU,
    "leaky_relu": lambda: torch.nn.LeakyReLU(0.05), "softplus": torch.nn.Softplus, "gelu": torch.nn.GELU,
}
LOSSES = {
    "mse": torch.nn.MSELoss(), "cross_entropy": torch.nn.CrossEntropyLoss(), "logistic": torch.nn.BCEWithLogitsLoss(),
}


def make_case(activation, loss, seed, widths=(4, 6, 5, 3), samples=9, bias=True):
    g = torch.Generator().manual_seed(seed)
    out = 1 if loss == "logistic" else widths[-1]
    widths = list(widths[:-1]) + [out]
    layers = []
    for i in range(1, len(widths)):
        layers.append(torch.nn.Linear(widths[i - 1], widths[i], bias=bias))
        if i + 1 < len(widths) and activation is not None:
            layers.append(ACTIVATIONS[activation]())
    model = torch.nn.Sequential(*layers).double()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(0.6 * torch.randn(p.shape, generator=g))
    X = torch.randn(samples, widths[0], generator=g)
    if loss == "mse":
        y = torch.randn(samples, out, generator=g)
    elif loss == "cross_entropy":
        y = torch.randint(0, out, (samples,), generator=g)
    else:
        y = torch.rand(samples, 1, generator=g)
    return model, X, y


def loss_of(model, X, y, loss):
    z = model(X)
    if loss == "cross_entropy":
        return LOSSES[loss](z, y)
    return LOSSES[loss](z, y.to(z.dtype))


def functional_loss(model, X, y, loss):
    """The loss as a function of one flat parameter vector in the checkpoint layout, through the model."""
    shapes = [p.shape for p in model.parameters()]

    def f(theta):
        offset, values = 0, []
        for s in shapes:
            size = int(np.prod(s))
            values.append(theta[offset:offset + size].reshape(s))
            offset += size
        names = [n for n, _ in model.named_parameters()]
        z = torch.nn.utils.stateless.functional_call(model, dict(zip(names, values)), (X,))
        return LOSSES[loss](z, y) if loss == "cross_entropy" else LOSSES[loss](z, y.to(z.dtype))

    return f


def main():
    out_dir = sys.argv[1]
    cases = []
    seed = 100
    for activation in ACTIVATIONS:
        for loss in LOSSES:
            cases.append((f"{activation}_{loss}", activation, loss, seed, (4, 6, 5, 3), True))
            seed += 1
    cases.append(("deep_linear_mse", None, "mse", 500, (3, 4, 4, 2), False))
    cases.append(("e2e_tanh_cross_entropy", "tanh", "cross_entropy", 600, (4, 6, 3), True))
    with h5py.File(os.path.join(out_dir, "reference.h5"), "w") as ref:
        for name, activation, loss, seed, widths, bias in cases:
            model, X, y = make_case(activation, loss, seed, widths=widths, bias=bias)
            path = os.path.join(out_dir, name + ".h5")
            export_torch.export_checkpoint(model, X, y, loss, path, seeds={"torch_manual_seed": seed})
            params = list(model.parameters())
            value = loss_of(model, X, y, loss)
            grads = torch.autograd.grad(value, params, create_graph=True)
            flat_grad = torch.cat([g.reshape(-1) for g in grads])
            n = flat_grad.numel()
            gen = torch.Generator().manual_seed(seed + 7)
            V = torch.randn(4, n, generator=gen)
            HV = []
            for v in V:
                hv = torch.autograd.grad(flat_grad @ v, params, retain_graph=True)
                HV.append(torch.cat([h.reshape(-1) for h in hv]))
            theta = torch.cat([p.detach().reshape(-1) for p in params])
            f = functional_loss(model, X, y, loss)
            assert abs(float(f(theta)) - float(value)) <= 1e-14 * max(1.0, abs(float(value)))
            H = torch.autograd.functional.hessian(f, theta)
            group = ref.create_group(name)
            group.attrs["checkpoint"] = path
            group.attrs["loss_value"] = float(value)
            group.create_dataset("gradient", data=flat_grad.detach().numpy())
            group.create_dataset("V", data=V.numpy())
            group.create_dataset("HV", data=torch.stack(HV).detach().numpy())
            group.create_dataset("hessian", data=H.numpy())
            group.create_dataset("eigenvalues", data=torch.linalg.eigvalsh(0.5 * (H + H.T)).numpy())
        # An unsupported module is refused with its name (checked by the C++ test through stderr-free
        # attributes here): record the message.
        try:
            export_torch.export_checkpoint(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(0.1),
                                                               torch.nn.Linear(2, 1)),
                                           torch.zeros(3, 2), torch.zeros(3, 1), "mse", os.path.join(out_dir, "bad.h5"))
            ref.attrs["unsupported_message"] = "accepted"
        except export_torch.UnsupportedModel as e:
            ref.attrs["unsupported_message"] = str(e)
        ref.attrs["bad_file_exists"] = int(os.path.exists(os.path.join(out_dir, "bad.h5")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
