#!/usr/bin/python3
"""Per-op references from PyTorch's autograd for the graph engine (tests/models/graph_torch_test.cpp,
GraphOpsTorch.*; issue #13 Deliver 6: every op's gradient and HVP against torch over random shapes).

Usage: /usr/bin/python3 tests/models/graph_op_reference.py OUT_DIR

Each case is a tiny torch.nn.Module around one op (or one op family), float64:
    x -> x * scale + shift -> body -> flatten -> Linear head -> logits
`scale` and `shift` are parameters broadcast over the batch, so the op's input depends on parameters
and gradients, Hessian-vector products and Gauss-Newton products all flow through the op; most bodies
carry parameters of their own (weights, broadcast operands, affine terms). Shapes and attributes are
drawn by a fixed seed (random.Random(1313)), values by torch generators with fixed seeds, so the same
cases come out on every run. Each case is exported with tools/export_torch.py's export_checkpoint (the
path a user takes) to OUT_DIR/<case>.h5, and graph_reference.record_case writes torch's value,
gradient, HV and GV for 8 directions into the group <case> of OUT_DIR/reference.h5, with attributes
`op` (the op the case is about, the key of docs/graph.md's coverage table), `detail` (its shapes and
attributes, human-readable) and `onnx_ops` (the op types of the exported graph); the root attribute
`cases` lists the group names, space-separated. The losses alternate between cross-entropy and mse so that both loss
Hessians reach the GGN products.
"""
import os
import random
import sys

import h5py
import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import graph_reference  # noqa: E402  (sets float64 as torch's default dtype; imports export_torch)

export_torch = graph_reference.export_torch
F = torch.nn.functional
COLUMNS = 8
CLASSES = 3


class Body(torch.nn.Module):
    """A function of the activation with optional parameters of its own (registered in the given order)."""

    def __init__(self, function, **parameters):
        super().__init__()
        self.function = function
        for name, value in parameters.items():
            self.register_parameter(name, torch.nn.Parameter(value))

    def forward(self, a):
        return self.function(self, a)


class Case(torch.nn.Module):
    """x -> x * scale + shift -> body -> flatten -> Linear(classes). `scale` has `scale_shape` (broadcast);
    with `positive`, scale and shift are positive so that a positive x keeps the body's input positive."""

    def __init__(self, sample_shape, body, scale_shape, g, positive=False, batch=4):
        super().__init__()
        if positive:
            self.scale = torch.nn.Parameter(1 + 0.2 * torch.rand(scale_shape, generator=g))
            self.shift = torch.nn.Parameter(0.2 * torch.rand(sample_shape, generator=g))
        else:
            self.scale = torch.nn.Parameter(1 + 0.3 * torch.randn(scale_shape, generator=g))
            self.shift = torch.nn.Parameter(0.3 * torch.randn(sample_shape, generator=g))
        self.body = body
        was_training = body.training
        body.eval()
        with torch.no_grad():
            width = body(torch.zeros(batch, *sample_shape)).reshape(batch, -1).shape[1]
        body.train(was_training)
        self.head = torch.nn.Linear(width, CLASSES)
        with torch.no_grad():
            self.head.weight.copy_(torch.randn(self.head.weight.shape, generator=g) / width ** 0.5)
            self.head.bias.copy_(0.1 * torch.randn(CLASSES, generator=g))

    def forward(self, x):
        return self.head(torch.flatten(self.body(x * self.scale + self.shift), 1))


class Cases:
    """Collects (name, op, detail, model, X, y, loss, opset) with reproducible shapes and values."""

    def __init__(self):
        self.rng = random.Random(1313)
        self.g = torch.Generator().manual_seed(1313)
        self.items = []

    def randn(self, *shape, scale=1.0):
        return scale * torch.randn(*shape, generator=self.g)

    def add(self, op, detail, sample_shape, body, scale_shape=(1,), positive=False, batch=None, mode="train",
            opset=None):
        batch = batch or self.rng.randint(3, 5)
        torch.manual_seed(len(self.items))  # torch.nn layers' default initialisation
        body = body() if callable(body) and not isinstance(body, torch.nn.Module) else body
        model = Case(sample_shape, body, scale_shape, self.g, positive=positive, batch=batch)
        model.train(mode == "train")
        X = torch.randn(batch, *sample_shape, generator=self.g)
        if positive:
            X = X.abs() + 0.5
        loss = ("cross_entropy", "mse")[len(self.items) % 2]
        y = torch.randint(0, CLASSES, (batch,), generator=self.g) if loss == "cross_entropy" \
            else torch.randn(batch, CLASSES, generator=self.g)
        name = f"{len(self.items):02d}_" + "".join(ch for ch in op.lower() if ch.isalnum())
        self.items.append((name, op, f"{detail}; input {list(sample_shape)}, batch {batch}, {mode}", model, X, y, loss,
                           opset))

    def pick(self, *options):
        return self.rng.choice(options)

    def extent(self, low=2, high=5):
        return self.rng.randint(low, high)


def make_cases():
    c = Cases()
    r = c.extent

    # Gemm (nn.Linear on [N, d]): with and without bias.
    for bias in (True, False):
        d, e = r(3, 6), r(2, 5)
        c.add("Gemm", f"Linear({d}, {e}, bias={bias})", (d,), torch.nn.Linear(d, e, bias=bias), scale_shape=(d,))
    # MatMul: batched with a broadcast weight ([N, h, T, d] x [d, e]), both operands active (attention's
    # q k^T), a parameter broadcast over the batch on the left ([h, T, T] x [N, h, T, d]), rank 3 x rank 2.
    h, t, d, e = r(1, 3), r(2, 4), r(2, 4), r(2, 4)
    c.add("MatMul", f"[N,{h},{t},{d}] x param [{d},{e}]", (h, t, d),
          Body(lambda m, a: a @ m.w, w=c.randn(d, e)), scale_shape=(h, 1, 1))
    h, t, d = r(1, 3), r(2, 4), r(2, 4)
    c.add("MatMul", f"[N,{h},{t},{d}] x its transpose (q k^T)", (h, t, d),
          Body(lambda m, a: (a @ m.wq) @ (a @ m.wk).transpose(-1, -2), wq=c.randn(d, d), wk=c.randn(d, d)))
    h, t, d = r(1, 3), r(2, 4), r(2, 4)
    c.add("MatMul", f"param [{h},{t},{t}] x [N,{h},{t},{d}]", (h, t, d),
          Body(lambda m, a: m.w @ a, w=c.randn(h, t, t)))
    t, d, e = r(2, 4), r(2, 5), r(2, 4)
    c.add("MatMul", f"[N,{t},{d}] x param [{d},{e}] (nn.Linear on rank 3)", (t, d), torch.nn.Linear(d, e))
    t, d = r(2, 4), r(2, 5)
    c.add("MatMul", f"[N,{t},{d}] x param vector [{d}]", (t, d), Body(lambda m, a: torch.tanh(a @ m.v), v=c.randn(d)))
    h, t, d = r(1, 3), r(2, 4), r(2, 4)
    c.add("MatMul", f"param vector [{t}] x [N,{h},{t},{d}]", (h, t, d), Body(lambda m, a: torch.tanh(m.v @ a), v=c.randn(t)))

    # Add, Sub, Mul, Div with numpy broadcasting, the parameter on either side.
    shapes = lambda C, H, W: [(C, 1, 1), (W,), (1,), (C, H, W), (H, 1)]  # noqa: E731
    for op, fn in (("Add", torch.add), ("Sub", torch.sub), ("Mul", torch.mul), ("Div", torch.div)):
        for k in range(2):
            C, H, W = r(1, 3), r(2, 4), r(2, 4)
            shape = c.pick(*shapes(C, H, W))
            p = 1 + 0.5 * torch.rand(shape, generator=c.g) if op == "Div" else c.randn(*shape)
            if k == 0:
                c.add(op, f"[N,{C},{H},{W}] {op} param {list(shape)}", (C, H, W), Body(lambda m, a, fn=fn: fn(a, m.p), p=p))
            elif op == "Div":  # an active denominator, kept away from zero
                c.add(op, f"param {list(shape)} / (a*a + 1), a [N,{C},{H},{W}]", (C, H, W),
                      Body(lambda m, a: m.p / (a * a + 1), p=p))
            else:
                c.add(op, f"param {list(shape)} {op} [N,{C},{H},{W}], then a {op} a", (C, H, W),
                      Body(lambda m, a, fn=fn: fn(fn(m.p, a), a), p=p))

    # Conv2d: stride, padding, dilation, groups (depthwise included), with and without bias.
    convs = [dict(stride=1, padding=0, dilation=1, groups=1, bias=True),
             dict(stride=2, padding=1, dilation=1, groups=1, bias=False),
             dict(stride=1, padding=2, dilation=2, groups=1, bias=True),
             dict(stride=1, padding=1, dilation=1, groups=2, bias=True),
             dict(stride=2, padding=1, dilation=1, groups="depthwise", bias=False),
             dict(stride=(2, 1), padding=(1, 0), dilation=1, groups=1, bias=True)]
    for conv in convs:
        cin = c.pick(2, 4) if conv["groups"] == 2 else r(1, 3)
        groups = cin if conv["groups"] == "depthwise" else conv["groups"]
        cout = groups * r(1, 2)
        k = 1 if conv is convs[0] else c.pick(2, 3)
        H, W = r(5, 7), r(5, 7)
        detail = f"Conv2d({cin}, {cout}, {k}, stride={conv['stride']}, padding={conv['padding']}, " \
                 f"dilation={conv['dilation']}, groups={groups}, bias={conv['bias']})"
        c.add("Conv", detail, (cin, H, W),
              torch.nn.Conv2d(cin, cout, k, stride=conv["stride"], padding=conv["padding"], dilation=conv["dilation"],
                              groups=groups, bias=conv["bias"]), scale_shape=(cin, 1, 1))

    # BatchNorm2d / BatchNorm1d in eval (running statistics) and train (batch statistics) mode, followed by
    # tanh so that the normalised value reaches the loss non-linearly.
    for mode in ("eval", "train", "eval", "train"):
        C, H, W = r(1, 3), r(2, 3), r(2, 3)

        def bn(C=C):
            module = torch.nn.BatchNorm2d(C)
            with torch.no_grad():
                module.running_mean.copy_(c.randn(C, scale=0.3))
                module.running_var.copy_(0.5 + torch.rand(C, generator=c.g))
                module.weight.copy_(1 + c.randn(C, scale=0.2))
                module.bias.copy_(c.randn(C, scale=0.2))
            return torch.nn.Sequential(module, torch.nn.Tanh())
        c.add("BatchNormalization", f"BatchNorm2d({C}) + tanh", (C, H, W), bn, scale_shape=(C, 1, 1), mode=mode,
              batch=r(3, 5))
    for mode in ("eval", "train"):
        C = r(1, 3)
        c.add("BatchNormalization", f"BatchNorm2d({C}, affine=False) + tanh", (C, r(2, 3), r(2, 3)),
              lambda C=C: torch.nn.Sequential(torch.nn.BatchNorm2d(C, affine=False), torch.nn.Tanh()),
              scale_shape=(C, 1, 1), mode=mode)
    for mode in ("eval", "train"):
        C = r(2, 4)

        def bn1(C=C):
            module = torch.nn.BatchNorm1d(C)
            with torch.no_grad():
                module.running_mean.copy_(c.randn(C, scale=0.3))
                module.running_var.copy_(0.5 + torch.rand(C, generator=c.g))
            return torch.nn.Sequential(module, torch.nn.Tanh())
        c.add("BatchNormalization", f"BatchNorm1d({C}) on [N, {C}] + tanh", (C,), bn1, scale_shape=(C,), mode=mode)

    # LayerNorm: torch 1.13 at the exporter's opset 14 writes the decomposed form (ReduceMean, Sub, Pow, Sqrt,
    # Div, Mul, Add); at opset 17 one LayerNormalization node.
    for opset, affine in ((None, False), (None, True), (17, True)):
        T, D = r(2, 4), r(2, 5)
        shape = c.pick((D,), (T, D))
        c.add("LayerNormalization" if opset else "LayerNorm (decomposed)",
              f"LayerNorm({list(shape)}, elementwise_affine={affine}) + tanh" + (", opset 17" if opset else ""),
              (T, D), torch.nn.Sequential(torch.nn.LayerNorm(shape, elementwise_affine=affine), torch.nn.Tanh()),
              scale_shape=(D,), opset=opset)

    # Elementwise functions (one case per op, random shapes).
    unary = [("Relu", "ReLU", torch.nn.ReLU), ("Tanh", "Tanh", torch.nn.Tanh), ("Sigmoid", "Sigmoid", torch.nn.Sigmoid),
             ("Softplus", "Softplus", torch.nn.Softplus), ("Erf", "GELU(approximate='none')", torch.nn.GELU),
             ("Exp", "exp", lambda: Body(lambda m, a: torch.exp(a))),
             ("Neg", "-a", lambda: Body(lambda m, a: -a))]
    for op, detail, module in unary:
        shape = c.pick((r(2, 6),), (r(1, 3), r(2, 4)), (r(1, 2), r(2, 3), r(2, 3)))
        c.add(op, detail, shape, module)
    c.add("Softplus", "Softplus(beta=2) (exported as Softplus(2a)/2)", (r(2, 5),), torch.nn.Softplus(beta=2.0))
    # Inputs above torch's threshold 20, where torch returns a itself and ONNX's Softplus log(1 + e^a): they
    # differ by log(1 + e^-a) < e^-20 = 2.1e-9 per element, in the value's last digits only.
    c.add("Softplus", "softplus(a + 21) (past torch's threshold 20)", (r(2, 5),),
          Body(lambda m, a: F.softplus(a + 21.0) - 21.0))
    c.add("Tanh", "GELU(approximate='tanh') (exported as Tanh, Mul, Add)", (r(2, 3), r(2, 3)),
          torch.nn.GELU(approximate="tanh"))
    # torch's derivative conventions at kinks: relu'(0) = 0, max-pool ties to the first maximum.
    c.add("Relu", "relu(0·a + z) * a with z holding exact zeros (relu'(0) = 0)", (4,),
          Body(lambda m, a: torch.relu(0.0 * a + m.z) * a, z=torch.tensor([0.0, 1.0, -1.0, 0.0])))
    c.add("MaxPool", "MaxPool2d(2) of 0·a + z with tied maxima, times a", (1, 4, 4),
          Body(lambda m, a: F.max_pool2d(0.0 * a + m.z, 2) * a[:, :, :2, :2],
               z=torch.tensor([[[1.0, 1.0, 0.0, 2.0], [1.0, 0.5, 2.0, 2.0], [0.0, 0.0, 3.0, 1.0], [0.0, 0.0, 1.0, 3.0]]])))
    slope = round(c.rng.uniform(0.01, 0.3), 3)
    c.add("LeakyRelu", f"LeakyReLU({slope})", (r(2, 3), r(2, 4)), torch.nn.LeakyReLU(slope))
    positive = [("Log", "log(a)", lambda m, a: torch.log(a)), ("Sqrt", "sqrt(a)", lambda m, a: torch.sqrt(a)),
                ("Reciprocal", "reciprocal(a)", lambda m, a: torch.reciprocal(a)),
                ("Pow", "a.pow(2)", lambda m, a: a.pow(2)), ("Pow", "a.pow(3)", lambda m, a: a.pow(3)),
                ("Pow", "a.pow(1.5)", lambda m, a: a.pow(1.5))]
    for op, detail, fn in positive:
        c.add(op, detail + " on positive input", (r(2, 3), r(2, 4)), Body(fn), positive=True)

    # Softmax and LogSoftmax over the first, a middle and the last axis.
    for op, fn in (("Softmax", torch.softmax), ("LogSoftmax", torch.log_softmax)):
        for dim in (1, 2, -1):
            shape = (r(2, 3), r(2, 4), r(2, 4))
            c.add(op, f"dim={dim}", shape, Body(lambda m, a, fn=fn, dim=dim: fn(a, dim)), scale_shape=shape[-1:])

    # Pooling. MaxPool: kernel, stride, padding, dilation, ceil_mode; AvgPool: count_include_pad, ceil_mode.
    pools = [("MaxPool", dict(kernel_size=2)), ("MaxPool", dict(kernel_size=3, stride=2, padding=1)),
             ("MaxPool", dict(kernel_size=2, stride=1, dilation=2)), ("MaxPool", dict(kernel_size=2, ceil_mode=True)),
             ("AveragePool", dict(kernel_size=2)), ("AveragePool", dict(kernel_size=3, stride=2, padding=1)),
             ("AveragePool", dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)),
             ("AveragePool", dict(kernel_size=2, stride=2, ceil_mode=True))]
    for op, kw in pools:
        C, H, W = r(1, 3), r(5, 7), r(5, 7)
        module = torch.nn.MaxPool2d(**kw) if op == "MaxPool" else torch.nn.AvgPool2d(**kw)
        c.add(op, f"{type(module).__name__}({', '.join(f'{k}={v}' for k, v in kw.items())})", (C, H, W), module,
              scale_shape=(C, 1, 1))
    C, H, W = r(1, 3), r(2, 5), r(2, 5)
    c.add("GlobalAveragePool", "AdaptiveAvgPool2d(1)", (C, H, W), torch.nn.AdaptiveAvgPool2d(1), scale_shape=(C, 1, 1))
    C = r(1, 3)
    c.add("AveragePool", "AdaptiveAvgPool2d(2) on 4x6 (exported as AveragePool)", (C, 4, 6),
          torch.nn.AdaptiveAvgPool2d(2), scale_shape=(C, 1, 1))
    for dims, keep in (((2, 3), True), ((-1,), False), ((1,), False)):
        shape = (r(1, 3), r(2, 4), r(2, 4))
        c.add("ReduceMean", f"mean(dim={dims}, keepdim={keep})", shape,
              Body(lambda m, a, dims=dims, keep=keep: torch.tanh(a).mean(dim=dims, keepdim=keep)))

    # Shape ops. Each is followed by an op that makes the layout matter (a parameter of the new shape,
    # a matrix product), so a wrong index map cannot hide behind the head's flatten.
    C, H, W = r(1, 3), r(2, 4), r(2, 4)
    c.add("Flatten", f"flatten(a, 2) * param [{H * W}]", (C, H, W),
          Body(lambda m, a: torch.flatten(a, 2) * m.p, p=c.randn(H * W)))
    C, H, W = 2, r(2, 3), 2 * r(1, 2)
    c.add("Reshape", f"reshape(N, {H * W // 2}, {2 * C}) @ param", (C, H, W),
          Body(lambda m, a, s=(H * W // 2, 2 * C): torch.tanh(a.reshape(a.shape[0], *s)) @ m.w, w=c.randn(2 * C, 2)))
    C, H, W = r(1, 3), r(2, 4), r(2, 4)
    c.add("Transpose", f"permute(0, 3, 1, 2) @ param [{H}, 2]", (C, H, W),
          Body(lambda m, a: torch.tanh(a.permute(0, 3, 1, 2)) @ m.w, w=c.randn(H, 2)))
    C, H, W = r(1, 3), r(2, 4), r(2, 4)
    c.add("Transpose", "transpose(-1, -2) @ a (a^T a)", (C, H, W), Body(lambda m, a: a.transpose(-1, -2) @ a))
    for dim in (1, -1):
        C, H, W = r(1, 3), r(2, 4), r(2, 4)
        pshape = [C, H, W]
        pshape[dim - 1 if dim > 0 else dim] = r(1, 2)  # dim counts the batch axis
        c.add("Concat", f"cat([a, param {pshape}, tanh(a)], dim={dim}) * itself", (C, H, W),
              Body(lambda m, a, dim=dim: (lambda z: z * z)(torch.cat([a, m.p.expand(a.shape[0], *m.p.shape),
                                                                      torch.tanh(a)], dim)), p=c.randn(*pshape)))
    C, H, W = r(2, 3), 2 * r(2, 3), r(4, 6)  # H even: ::2 and 1::2 then have equal lengths
    c.add("Slice", "a[:, 1:, ::2, -3:] * a[:, :-1, 1::2, :3]", (C, H, W),
          Body(lambda m, a: a[:, 1:, ::2, -3:] * a[:, :-1, 1::2, :3]))
    C, H = r(3, 4), r(2, 4)
    c.add("Gather", "a[:, 2] * a[:, [0, 2, 1]] and param[[1, 0, 1]]", (C, H),
          Body(lambda m, a: (a[:, 2].unsqueeze(1) * a[:, [0, 2, 1]]) + m.p[[1, 0, 1]], p=c.randn(2, H)))
    C, H = 2 * r(1, 2), r(2, 4)
    c.add("Split", "chunk(2, dim=1): tanh(first) * second", (C, H),
          Body(lambda m, a: (lambda u, v: torch.tanh(u) * v)(*torch.chunk(a, 2, dim=1))))
    C, H = 3, r(2, 4)
    c.add("Split", "split(a, [1, 2], dim=1): second * tanh(first)", (C, H),
          Body(lambda m, a: (lambda u, v: v * torch.tanh(u))(*torch.split(a, [1, 2], dim=1))))
    C, H = r(2, 3), r(2, 4)
    c.add("Unsqueeze", "unsqueeze(1) * param [2, 1, 1], squeeze(-1) of [N, C, H, 1]", (C, H),
          Body(lambda m, a: (a.unsqueeze(1) * m.p).unsqueeze(-1).squeeze(-1), p=c.randn(2, 1, 1)))
    C, H = r(1, 3), r(2, 4)
    c.add("Expand", f"a [N, {C}, 1, {H}].expand(N, {C}, 3, {H}) * param [3, 1]", (C, 1, H),
          Body(lambda m, a: a.expand(a.shape[0], -1, 3, -1) * m.p, p=c.randn(3, 1)))
    C, H, W = r(1, 3), r(2, 4), r(2, 4)
    c.add("Pad", "F.pad(a, (1, 2, 0, 1)) * param", (C, H, W),
          Body(lambda m, a: F.pad(a, (1, 2, 0, 1)) * m.p, p=c.randn(H + 1, W + 3)))
    c.add("Dropout", "Dropout(0.3) in eval mode (the identity) + tanh", (r(2, 5),),
          torch.nn.Sequential(torch.nn.Dropout(0.3), torch.nn.Tanh()), mode="eval")
    c.add("Dropout", "Dropout(0) in train mode (training_mode exported as a bool Constant) + tanh", (r(2, 5),),
          torch.nn.Sequential(torch.nn.Dropout(0.0), torch.nn.Tanh()))
    c.add("Identity", "nn.Identity + tanh", (r(2, 5),), torch.nn.Sequential(torch.nn.Identity(), torch.nn.Tanh()))

    # A whole torch module built from the ops above: nn.MultiheadAttention (batch_first; its export is
    # Gemm/MatMul/Transpose/Reshape/Softmax with shape arithmetic).
    class Attention(torch.nn.Module):
        def __init__(self, width, heads):
            super().__init__()
            self.attention = torch.nn.MultiheadAttention(width, heads, batch_first=True)

        def forward(self, a):
            return self.attention(a, a, a, need_weights=False)[0]
    t, heads = r(2, 4), c.pick(1, 2)
    c.add("MultiheadAttention", f"nn.MultiheadAttention({2 * heads}, {heads}, batch_first=True), sequence {t}",
          (t, 2 * heads), Attention(2 * heads, heads), scale_shape=(2 * heads,))
    return c.items


def main():
    out_dir = sys.argv[1]
    default_opset = export_torch.ONNX_OPSET
    cases = make_cases()
    with h5py.File(os.path.join(out_dir, "reference.h5"), "w") as ref:
        ref.attrs["cases"] = " ".join(case[0] for case in cases)
        for name, op, detail, model, X, y, loss, opset in cases:
            export_torch.ONNX_OPSET = opset or default_opset
            try:
                group, _, _ = graph_reference.record_case(ref, name, model, X, y, loss, 0.0,
                                                          os.path.join(out_dir, name + ".h5"), columns=COLUMNS)
            finally:
                export_torch.ONNX_OPSET = default_opset
            group.attrs["op"] = op
            group.attrs["detail"] = detail
            with h5py.File(group.attrs["checkpoint"], "r") as checkpoint:
                _, nodes = export_torch._onnx_contents(checkpoint["objective/onnx"][()].tobytes())
            group.attrs["onnx_ops"] = " ".join(sorted({op_type for _, op_type in nodes}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
