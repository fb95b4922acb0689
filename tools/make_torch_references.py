#!/usr/bin/python3
"""Reference trajectories from torch.optim for saddlescope's parity tests (tests/optim/torch_parity_test.cpp).

Run with Debian's interpreter (it has python3-torch):
    /usr/bin/python3 tools/make_torch_references.py data/torch_references

Writes one JSON file per case. Optimizer cases run torch.optim.<Optimizer> in float64 on the
Rosenbrock function (n = 4, start (-1.2, 1, -1.2, 1), saddlescope's `rosenbrock:n=4`), gradients by
autograd, and record per step: the learning rate used, the loss and the gradient torch computed at the
current parameters, and the parameters after the step. Recording torch's own gradients lets a test
feed them to saddlescope's optimizer and so compare the optimizer arithmetic alone, separate from the
last-bit differences of a differently ordered gradient formula. Schedule cases record
param_groups[0]['lr'] before each optimizer step. Floats are written with repr(), which round-trips.
"""
import json
import os
import sys
import warnings

import torch

warnings.filterwarnings("ignore")
torch.set_default_dtype(torch.float64)

START = [-1.2, 1.0, -1.2, 1.0]
SPEC = "rosenbrock:n=4"


def rosenbrock(x):
    return (100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2).sum()


# (case name, torch class, kwargs, saddlescope config JSON, steps, optional schedule)
OPTIMIZER_CASES = [
    ("sgd", torch.optim.SGD, dict(lr=1e-4), {"optimizer": "sgd", "lr": 1e-4}, 40),
    ("sgd_momentum_dampening_wd", torch.optim.SGD, dict(lr=1e-4, momentum=0.9, dampening=0.1, weight_decay=0.01),
     {"optimizer": "sgd", "lr": 1e-4, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01}, 40),
    ("sgd_nesterov", torch.optim.SGD, dict(lr=1e-4, momentum=0.9, nesterov=True),
     {"optimizer": "sgd", "lr": 1e-4, "momentum": 0.9, "nesterov": True}, 40),
    ("sgd_maximize", torch.optim.SGD, dict(lr=1e-5, momentum=0.5, maximize=True),
     {"optimizer": "sgd", "lr": 1e-5, "momentum": 0.5, "maximize": True}, 10),
    ("adagrad", torch.optim.Adagrad, dict(), {"optimizer": "adagrad"}, 40),
    ("adagrad_decay_init_wd", torch.optim.Adagrad,
     dict(lr=0.05, lr_decay=0.01, initial_accumulator_value=0.1, weight_decay=0.01, eps=1e-9),
     {"optimizer": "adagrad", "lr": 0.05, "lr_decay": 0.01, "initial_accumulator_value": 0.1, "weight_decay": 0.01,
      "eps": 1e-9}, 40),
    ("rmsprop", torch.optim.RMSprop, dict(lr=1e-3), {"optimizer": "rmsprop", "lr": 1e-3}, 40),
    ("rmsprop_centered_momentum_wd", torch.optim.RMSprop,
     dict(lr=1e-3, alpha=0.9, eps=1e-7, momentum=0.5, centered=True, weight_decay=0.01),
     {"optimizer": "rmsprop", "lr": 1e-3, "alpha": 0.9, "eps": 1e-7, "momentum": 0.5, "centered": True,
      "weight_decay": 0.01}, 40),
    ("adadelta", torch.optim.Adadelta, dict(), {"optimizer": "adadelta"}, 40),
    ("adadelta_rho_wd", torch.optim.Adadelta, dict(lr=0.5, rho=0.8, eps=1e-5, weight_decay=0.01),
     {"optimizer": "adadelta", "lr": 0.5, "rho": 0.8, "eps": 1e-5, "weight_decay": 0.01}, 40),
    ("adam", torch.optim.Adam, dict(lr=1e-2), {"optimizer": "adam", "lr": 1e-2}, 40),
    ("adam_amsgrad_wd", torch.optim.Adam, dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.01, amsgrad=True),
     {"optimizer": "adam", "lr": 1e-2, "betas": [0.8, 0.99], "eps": 1e-6, "weight_decay": 0.01, "amsgrad": True}, 40),
    ("adamw", torch.optim.AdamW, dict(lr=1e-2), {"optimizer": "adamw", "lr": 1e-2}, 40),
    ("adamw_amsgrad", torch.optim.AdamW, dict(lr=1e-2, weight_decay=0.1, amsgrad=True),
     {"optimizer": "adamw", "lr": 1e-2, "weight_decay": 0.1, "amsgrad": True}, 40),
]

# Optimizer + schedule: SGD with momentum under a linear warm-up then cosine annealing.
COMBINED_CASES = [
    ("sgd_momentum_warmup_cosine", torch.optim.SGD, dict(lr=2e-4, momentum=0.9),
     {"optimizer": "sgd", "lr": 2e-4, "momentum": 0.9}, 40,
     {"warmup": {"schedule": "linear", "start_factor": 0.1, "total_iters": 5},
      "main": {"schedule": "cosine", "T_max": 20}}),
]

LBFGS_CASES = [
    ("lbfgs_strong_wolfe", dict(lr=1, max_iter=20, history_size=10, line_search_fn="strong_wolfe"),
     {"optimizer": "lbfgs", "lr": 1, "max_iter": 20, "history_size": 10, "line_search_fn": "strong_wolfe"}, 4),
    ("lbfgs_no_line_search", dict(lr=0.05, max_iter=10, history_size=5),
     {"optimizer": "lbfgs", "lr": 0.05, "max_iter": 10, "history_size": 5, "line_search_fn": None}, 3),
]

SCHEDULE_CASES = [
    ("step_lr", lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=7, gamma=0.5),
     {"main": {"schedule": "step", "step_size": 7, "gamma": 0.5}}),
    ("exponential_lr", lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.9),
     {"main": {"schedule": "exponential", "gamma": 0.9}}),
    ("cosine_annealing_lr", lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=1e-3),
     {"main": {"schedule": "cosine", "T_max": 10, "eta_min": 1e-3}}),
    ("cosine_warm_restarts", lambda o: torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2,
                                                                                            eta_min=0.01),
     {"main": {"schedule": "cosine_warm_restarts", "T_0": 3, "T_mult": 2, "eta_min": 0.01}}),
    ("cosine_warm_restarts_tmult1", lambda o: torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=5),
     {"main": {"schedule": "cosine_warm_restarts", "T_0": 5}}),
    ("linear_lr", lambda o: torch.optim.lr_scheduler.LinearLR(o),
     {"main": {"schedule": "linear"}}),
    ("linear_warmup_cosine", lambda o: torch.optim.lr_scheduler.SequentialLR(
        o, [torch.optim.lr_scheduler.LinearLR(o, start_factor=0.1, total_iters=5),
            torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=20)], milestones=[5]),
     {"warmup": {"schedule": "linear", "start_factor": 0.1, "total_iters": 5},
      "main": {"schedule": "cosine", "T_max": 20}}),
    ("linear_warmup_step", lambda o: torch.optim.lr_scheduler.SequentialLR(
        o, [torch.optim.lr_scheduler.LinearLR(o, start_factor=0.25, end_factor=0.75, total_iters=4),
            torch.optim.lr_scheduler.StepLR(o, step_size=6, gamma=0.3)], milestones=[4]),
     {"warmup": {"schedule": "linear", "start_factor": 0.25, "end_factor": 0.75, "total_iters": 4},
      "main": {"schedule": "step", "step_size": 6, "gamma": 0.3}}),
]


def header(kind):
    return {"kind": kind, "torch_version": torch.__version__, "generator": "tools/make_torch_references.py",
            "dtype": "float64"}


def run_optimizer(cls, kwargs, steps, schedule_factory=None):
    x = torch.tensor(START, requires_grad=True)
    opt = cls([x], **kwargs)
    sched = schedule_factory(opt) if schedule_factory else None
    rec = {"lr": [], "loss": [], "grad": [], "params": []}
    for _ in range(steps):
        opt.zero_grad()
        loss = rosenbrock(x)
        loss.backward()
        rec["lr"].append(opt.param_groups[0]["lr"])
        rec["loss"].append(loss.item())
        rec["grad"].append(x.grad.tolist())
        opt.step()
        rec["params"].append(x.detach().tolist())
        if sched:
            sched.step()
    return rec


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    written = []

    def write(name, obj):
        path = os.path.join(out_dir, name + ".json")
        with open(path, "w") as f:
            json.dump(obj, f, indent=1)
        written.append(path)

    for name, cls, kwargs, config, steps in OPTIMIZER_CASES:
        rec = run_optimizer(cls, kwargs, steps)
        write(name, {**header("optimizer"), "problem": SPEC, "start": START, "torch_class": cls.__name__,
                     "torch_kwargs": {k: (list(v) if isinstance(v, tuple) else v) for k, v in kwargs.items()},
                     "config": config, "steps": steps, **rec})

    for name, cls, kwargs, config, steps, plan in COMBINED_CASES:
        def factory(o):
            w = plan["warmup"]
            m = plan["main"]
            return torch.optim.lr_scheduler.SequentialLR(
                o, [torch.optim.lr_scheduler.LinearLR(o, start_factor=w["start_factor"], total_iters=w["total_iters"]),
                    torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=m["T_max"])],
                milestones=[w["total_iters"]])
        rec = run_optimizer(cls, kwargs, steps, factory)
        write(name, {**header("optimizer"), "problem": SPEC, "start": START, "torch_class": cls.__name__,
                     "torch_kwargs": kwargs, "config": config, "schedule": plan, "steps": steps, **rec})

    for name, kwargs, config, steps in LBFGS_CASES:
        x = torch.tensor(START, requires_grad=True)
        opt = torch.optim.LBFGS([x], **kwargs)

        def closure():
            opt.zero_grad()
            loss = rosenbrock(x)
            loss.backward()
            return loss
        rec = {"loss": [], "params": []}
        for _ in range(steps):
            loss = opt.step(closure)
            rec["loss"].append(float(loss))
            rec["params"].append(x.detach().tolist())
        write(name, {**header("lbfgs"), "problem": SPEC, "start": START, "torch_class": "LBFGS",
                     "torch_kwargs": kwargs, "config": config, "steps": steps, **rec})

    for name, factory, plan in SCHEDULE_CASES:
        x = torch.tensor([0.0], requires_grad=True)
        opt = torch.optim.SGD([x], lr=0.1)
        sched = factory(opt)
        lrs = []
        for _ in range(60):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        write(name, {**header("schedule"), "base_lr": 0.1, "plan": plan, "lr": lrs})

    with open(os.path.join(out_dir, "README.md"), "w") as f:
        f.write("Reference trajectories from torch.optim %s (float64), made by\n"
                "`/usr/bin/python3 tools/make_torch_references.py data/torch_references`.\n"
                "Read by tests/optim/torch_parity_test.cpp. Do not edit by hand.\n" % torch.__version__)
    print("\n".join(written))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "data/torch_references")
