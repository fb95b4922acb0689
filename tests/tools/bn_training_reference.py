#!/usr/bin/python3
"""Torch side of the batch-norm training parity test (tests/tools/bn_training_test.cpp, issue #16 item 3).

Usage: /usr/bin/python3 tests/tools/bn_training_reference.py DIR

Writes into DIR: net.py (a small CNN: conv 3x3 -> BatchNorm2d -> ReLU -> conv 3x3 -> BatchNorm2d -> ReLU ->
linear, batch norm in train mode), state.pt, data.pt (X [12, 1, 6, 6], y classes 0..2), start.h5 (the
module exported by tools/export_torch.py, in train mode), and reference.json: the parameters (in the
order of model.parameters(), flattened row-major) and the float buffers after `steps` steps of
torch.optim.SGD(lr=0.02, momentum=0.9) on the full batch (every step one training forward pass, which
updates the running statistics with momentum 0.1 and the unbiased batch variance), in float64.
"""
import json
import os
import subprocess
import sys

import torch

NET = '''import torch


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 3, 3, padding=1)
        self.bn1 = torch.nn.BatchNorm2d(3)
        self.conv2 = torch.nn.Conv2d(3, 2, 3, padding=1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(2)
        self.fc = torch.nn.Linear(2 * 6 * 6, 3)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(x)))
        return self.fc(torch.flatten(x, 1))
'''

STEPS = 20
LR = 0.02
MOMENTUM = 0.9


def main():
    out = sys.argv[1]
    torch.set_num_threads(1)
    with open(os.path.join(out, "net.py"), "w") as f:
        f.write(NET)
    sys.path.insert(0, out)
    import net
    torch.manual_seed(7)
    model = net.Net()
    torch.save(model.state_dict(), os.path.join(out, "state.pt"))
    g = torch.Generator().manual_seed(11)
    X = torch.randn(12, 1, 6, 6, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 1, 2] * 4)
    torch.save({"X": X, "y": y}, os.path.join(out, "data.pt"))
    exporter = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "export_torch.py")
    subprocess.run([sys.executable, exporter, os.path.join(out, "state.pt"), os.path.join(out, "data.pt"),
                    "--module", os.path.join(out, "net.py") + ":Net", "--mode", "train", "--loss", "cross_entropy",
                    "--out", os.path.join(out, "start.h5")], check=True)

    model = model.double()
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    loss_fn = torch.nn.CrossEntropyLoss()
    losses = []
    for _ in range(STEPS):
        optimizer.zero_grad()
        loss = loss_fn(model(X), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    params = [v for p in model.parameters() for v in p.detach().reshape(-1).tolist()]
    buffers = {name: b.detach().reshape(-1).tolist() for name, b in model.named_buffers() if b.is_floating_point()}
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump({"steps": STEPS, "lr": LR, "momentum": MOMENTUM, "losses": losses, "params": params,
                   "buffers": buffers}, f)


if __name__ == "__main__":
    main()
