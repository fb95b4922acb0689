"""The torch models behind the graph-model tests and benchmark (docs/graph.md), as /work/shared/REFERENCES.md
("Real architectures") defines them:

- LeNet-5: Conv(1->6, 5, pad 2)-Tanh-AvgPool 2-Conv(6->16, 5)-Tanh-AvgPool 2-Linear 400->120-Tanh-84-Tanh-10
  (61 706 parameters on 1x28x28 inputs).
- CIFAR ResNet (He et al. 2016, section 4.2): Conv(3->16, 3, no bias)-BN-ReLU, three stages of n basic blocks
  (16, 32, 64 channels, stride 2 at the first block of stages 2 and 3; block = conv3x3-BN-ReLU-conv3x3-BN plus
  the input, or a 1x1-conv+BN projection where the shape changes, then ReLU), global average pool,
  Linear 64->10. ResNet-8: n = 1 (78 042 parameters), ResNet-20: n = 3 (272 474).
- A one-block transformer encoder (pre-norm): x + MHSA(LN(x)), then h + MLP(LN(h)) with an exact-GELU MLP
  of width 4d, multi-head self-attention written out (q, k, v projections, softmax(q k^T / sqrt(d_head)) v,
  output projection) so that the export is plain MatMul/Softmax; mean over the sequence, Linear d->classes.
- A small CNN for the dense-Hessian test: Conv(1->2, 3)-Tanh-AvgPool 2-Linear.
- DigitsCNN for the bundled digits (1x8x8; K-FAC tests and notebooks/11): Conv(1->4, 3, pad 1)-ReLU-MaxPool 2-
  Conv(4->8, 3)-ReLU-Linear 32->10 (666 parameters), optionally a BatchNorm2d after each convolution.

Importable by tests/models/graph_reference.py and tools/bench/bench_graph.py (no side effects).
"""
import math

import torch


class LeNet5(torch.nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = torch.nn.Conv2d(6, 16, 5)
        self.fc1 = torch.nn.Linear(400, 120)
        self.fc2 = torch.nn.Linear(120, 84)
        self.fc3 = torch.nn.Linear(84, classes)

    def forward(self, x):
        # torch 1.13 exports avg_pool2d (count_include_pad=True) as Pad(0) + AveragePool.
        h = torch.nn.functional.avg_pool2d(torch.tanh(self.conv1(x)), 2)
        h = torch.nn.functional.avg_pool2d(torch.tanh(self.conv2(h)), 2)
        h = torch.flatten(h, 1)
        return self.fc3(torch.tanh(self.fc2(torch.tanh(self.fc1(h)))))


class BasicBlock(torch.nn.Module):
    def __init__(self, inputs, outputs, stride):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(inputs, outputs, 3, stride=stride, padding=1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(outputs)
        self.conv2 = torch.nn.Conv2d(outputs, outputs, 3, padding=1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(outputs)
        self.shortcut = torch.nn.Sequential()
        if stride != 1 or inputs != outputs:
            self.shortcut = torch.nn.Sequential(torch.nn.Conv2d(inputs, outputs, 1, stride=stride, bias=False),
                                                torch.nn.BatchNorm2d(outputs))

    def forward(self, x):
        h = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(h)) + self.shortcut(x))


class CifarResNet(torch.nn.Module):
    def __init__(self, blocks_per_stage, classes=10):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn = torch.nn.BatchNorm2d(16)
        layers, inputs = [], 16
        for stage, width in enumerate((16, 32, 64)):
            for block in range(blocks_per_stage):
                layers.append(BasicBlock(inputs, width, 2 if stage > 0 and block == 0 else 1))
                inputs = width
        self.layers = torch.nn.Sequential(*layers)
        self.fc = torch.nn.Linear(64, classes)

    def forward(self, x):
        h = self.layers(torch.relu(self.bn(self.conv(x))))
        return self.fc(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(h, 1), 1))


def resnet8(classes=10):
    return CifarResNet(1, classes)


def resnet20(classes=10):
    return CifarResNet(3, classes)


class EncoderBlock(torch.nn.Module):
    """Input [batch, sequence, width]; output logits [batch, classes]."""

    def __init__(self, width=128, heads=4, classes=10):
        super().__init__()
        assert width % heads == 0
        self.heads = heads
        self.norm1 = torch.nn.LayerNorm(width)
        self.q = torch.nn.Linear(width, width)
        self.k = torch.nn.Linear(width, width)
        self.v = torch.nn.Linear(width, width)
        self.out = torch.nn.Linear(width, width)
        self.norm2 = torch.nn.LayerNorm(width)
        self.mlp1 = torch.nn.Linear(width, 4 * width)
        self.mlp2 = torch.nn.Linear(4 * width, width)
        self.head = torch.nn.Linear(width, classes)

    def split(self, t):
        b, s, w = t.shape
        return t.reshape(b, s, self.heads, w // self.heads).transpose(1, 2)  # [b, heads, s, d_head]

    def forward(self, x):
        b, s, w = x.shape
        h = self.norm1(x)
        q, k, v = self.split(self.q(h)), self.split(self.k(h)), self.split(self.v(h))
        attention = torch.softmax(torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(w // self.heads), dim=-1)
        mixed = torch.matmul(attention, v).transpose(1, 2).reshape(b, s, w)
        h = x + self.out(mixed)
        h = h + self.mlp2(torch.nn.functional.gelu(self.mlp1(self.norm2(h))))
        return self.head(h.mean(dim=1))


class SmallCNN(torch.nn.Module):
    """1x6x6 inputs: Conv(1->2, 3) -> 2x4x4, Tanh, AvgPool 2 -> 2x2x2, Linear 8->classes."""

    def __init__(self, classes=3):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 2, 3)
        self.fc = torch.nn.Linear(8, classes)

    def forward(self, x):
        return self.fc(torch.flatten(torch.nn.functional.avg_pool2d(torch.tanh(self.conv(x)), 2), 1))


class DigitsCNN(torch.nn.Module):
    """1x8x8 inputs: Conv(1->4, 3, pad 1) -> 4x8x8, ReLU, MaxPool 2 -> 4x4x4, Conv(4->8, 3) -> 8x2x2, ReLU,
    Linear 32->classes; with batch_norm, a BatchNorm2d after each convolution."""

    def __init__(self, classes=10, batch_norm=False):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.bn1 = torch.nn.BatchNorm2d(4) if batch_norm else torch.nn.Identity()
        self.conv2 = torch.nn.Conv2d(4, 8, 3)
        self.bn2 = torch.nn.BatchNorm2d(8) if batch_norm else torch.nn.Identity()
        self.fc = torch.nn.Linear(32, classes)

    def forward(self, x):
        h = torch.nn.functional.max_pool2d(torch.relu(self.bn1(self.conv1(x))), 2)
        return self.fc(torch.flatten(torch.relu(self.bn2(self.conv2(h))), 1))
