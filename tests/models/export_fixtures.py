#!/usr/bin/python3
"""Input files for the export_torch.py command-line tests (tests/models/export_torch_test.cpp).

Usage: /usr/bin/python3 tests/models/export_fixtures.py DIR [--check-unchanged]

Writes into DIR: net.py (a module file for --module: class Net, a conv + batch-norm model in train mode),
refused.py (CircularConv, SoftplusThreshold, softplus_mlp: modules whose export is not the module),
state.pt (Net's state_dict), data.pt (X [6, 1, 4, 4], y classes 0..2), and damaged or hostile inputs:
labels_out_of_range.pt (class 3 for a 3-output model), labels_negative.pt, labels_fractional.pt,
empty.pt (0 samples), nan_state.pt (a NaN weight), evil.pt (a pickle whose loading creates
DIR/pwned), not_a_model.pt (text), truncated.pt (half of state.pt), mlp.pt (a pickled Sequential).
"""
import os
import pickle
import sys

import torch

NET = '''import torch


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 2, 3, padding=1, bias=False)
        self.bn = torch.nn.BatchNorm2d(2)
        self.fc = torch.nn.Linear(32, 3)

    def forward(self, x):
        return self.fc(torch.flatten(torch.relu(self.bn(self.conv(x))), 1))
'''

# Modules whose torch.onnx export is not the module itself (tests/models/graph_op_reference.py found them):
# the exporter must refuse them rather than write a checkpoint of a different function.
REFUSED = '''import torch


class CircularConv(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 2, 3, padding=1, padding_mode="circular")
        self.fc = torch.nn.Linear(32, 3)

    def forward(self, x):
        return self.fc(torch.flatten(self.conv(x), 1))


class SoftplusThreshold(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(16, 4)
        self.act = torch.nn.Softplus(threshold=1.0)
        self.fc2 = torch.nn.Linear(4, 3)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(torch.flatten(x, 1))))


def softplus_mlp():  # the MLP path (a Sequential of Linear layers and one activation)
    return torch.nn.Sequential(torch.nn.Linear(16, 4), torch.nn.Softplus(threshold=1.0), torch.nn.Linear(4, 3))
'''


class Evil:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def main():
    out = sys.argv[1]
    with open(os.path.join(out, "net.py"), "w") as f:
        f.write(NET)
    with open(os.path.join(out, "refused.py"), "w") as f:
        f.write(REFUSED)
    sys.path.insert(0, out)
    import net
    torch.manual_seed(5)
    model = net.Net()
    torch.save(model.state_dict(), os.path.join(out, "state.pt"))
    X = torch.randn(6, 1, 4, 4)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    torch.save({"X": X, "y": y}, os.path.join(out, "data.pt"))
    torch.save({"X": X, "y": torch.tensor([0, 1, 3, 0, 1, 2])}, os.path.join(out, "labels_out_of_range.pt"))
    torch.save({"X": X, "y": torch.tensor([0, 1, -1, 0, 1, 2])}, os.path.join(out, "labels_negative.pt"))
    torch.save({"X": X, "y": torch.tensor([0, 1, 1.5, 0, 1, 2])}, os.path.join(out, "labels_fractional.pt"))
    torch.save({"X": X[:0], "y": y[:0]}, os.path.join(out, "empty.pt"))
    state = model.state_dict()
    state["fc.weight"][0, 0] = float("nan")
    torch.save(state, os.path.join(out, "nan_state.pt"))
    with open(os.path.join(out, "evil.pt"), "wb") as f:
        pickle.dump(Evil(os.path.join(out, "pwned")), f)
    with open(os.path.join(out, "not_a_model.pt"), "w") as f:
        f.write("this is text, not a torch file\n")
    with open(os.path.join(out, "state.pt"), "rb") as f:
        whole = f.read()
    with open(os.path.join(out, "truncated.pt"), "wb") as f:
        f.write(whole[: len(whole) // 2])
    torch.save(torch.nn.Sequential(torch.nn.Linear(16, 3)), os.path.join(out, "mlp.pt"))
    torch.save({"X": X.reshape(6, 16), "y": y}, os.path.join(out, "data_flat.pt"))
    return 0




def check_export_leaves_module_unchanged(out):
    """A train-mode export runs a forward pass, which would move batch-norm running statistics: the module's
    state must be bit-identical afterwards and the checkpoint must hold the state from before. Prints
    'unchanged' on success (tests/models/export_torch_test.cpp)."""
    import h5py
    sys.path.insert(0, out)
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
    import export_torch
    import net
    torch.manual_seed(5)
    model = net.Net()
    with torch.no_grad():
        model.bn.running_mean.fill_(0.25)
        model.bn.running_var.fill_(2.0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    data = torch.load(os.path.join(out, "data.pt"), weights_only=True)
    path = os.path.join(out, "unchanged.h5")
    export_torch.export_checkpoint(model, data["X"], data["y"], "cross_entropy", path)
    after = model.state_dict()
    assert model.training, "the module's mode changed"
    for key, value in before.items():
        assert torch.equal(value, after[key]) and value.dtype == after[key].dtype, f"{key} changed"
    with h5py.File(path, "r") as f:
        assert (f["buffers/bn.running_mean"][()] == 0.25).all(), "checkpoint holds moved running_mean"
        assert (f["buffers/bn.running_var"][()] == 2.0).all(), "checkpoint holds moved running_var"
    print("unchanged")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[2] == "--check-unchanged":
        check_export_leaves_module_unchanged(sys.argv[1])
        sys.exit(0)
    sys.exit(main())
