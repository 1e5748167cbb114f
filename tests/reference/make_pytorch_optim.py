#!/usr/bin/env python3
"""Writes PyTorch's answers for hnn's optimizers, gradient clipping and learning-rate
schedules into tests/fixtures/pytorch_optim.safetensors, for tests/unit/test_optim_pytorch.cpp.

Optimizers: two parameters, "weight" (3, 4) and "bias" (4,), take STEPS steps of
torch.optim.<X> (foreach=False: the single-tensor arithmetic hnn follows) with given gradients;
every parameter is stored after every step. Values are rounded to float32 first and the
arithmetic is float64 (stored as F64), so hnn is checked to 1e-5 relative in float32 and
1e-10 in float64.
  opt.<case>.start.<param>         the starting value
  opt.<case>.grad<k>.<param>       the gradient of step k (k = 0 .. STEPS-1)
  opt.<case>.after<k>.<param>      the parameter after step k
Metadata "opt.<case>": "optimizer=<name>;<option>=<value>;..." in hnn's option names
(betas as beta1/beta2, booleans 0/1); with parameter groups (weight in group 0, bias in group 1),
"group<g>=<option>:<value>,...". "opt.cases" lists the cases.

clip_grad_norm (torch.nn.utils.clip_grad_norm_, foreach=False) of the same two gradients:
  clip.<case>.grad.<param>, clip.<case>.clipped.<param>, clip.<case>.norm (1,)
Metadata "clip.<case>": "max_norm=<x>;norm_type=<p>" (p may be inf); "clip.cases".

Schedules: an SGD optimizer (lr 0.1, momentum 0.9) of two groups (the second at lr 0.02)
under each torch.optim.lr_scheduler, stepped SCHEDULE_STEPS[case] times:
  sched.<case>.lr         (steps + 1, 2) every group's rate after construction and each step
  sched.<case>.momentum   (steps + 1, 2) every group's momentum (beta1 for Adam) (OneCycleLR)
Metadata "sched.<case>": how to build it in hnn's terms; "sched.cases".

Run with the peer's interpreter:
  /work/main/.venv-peer/bin/python tests/reference/make_pytorch_optim.py
"""

import math
import os
import sys

try:
    import torch
    from safetensors.torch import save_file
except ImportError as e:  # pragma: no cover
    sys.exit(f"make_pytorch_optim.py: {e} (with {sys.executable}); run it with the venv that has torch and safetensors")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "pytorch_optim.safetensors")
STEPS = 4

torch.manual_seed(31)
tensors = {}
metadata = {}


def f32(t):
    return t.to(torch.float32).to(torch.float64)


start = {"weight": f32(torch.randn(3, 4, dtype=torch.float64)), "bias": f32(torch.randn(4, dtype=torch.float64))}
grads = [{n: f32(torch.randn(*v.shape, dtype=torch.float64) * 0.5) for n, v in start.items()} for _ in range(STEPS)]


def torch_options(options):
    """hnn's option names -> torch's."""
    out = dict(options)
    if "beta1" in out or "beta2" in out:
        out["betas"] = (out.pop("beta1", 0.9), out.pop("beta2", 0.999))
    for flag in ("nesterov", "centered"):
        if flag in out:
            out[flag] = bool(out[flag])
    return out


def text(options):
    return ",".join(f"{k}:{v:g}" if not isinstance(v, bool) else f"{k}:{int(v)}" for k, v in options.items())


opt_cases = []


def optimizer_case(name, optimizer, options, groups=None):
    params = {n: v.clone().requires_grad_(True) for n, v in start.items()}
    cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW,
           "rmsprop": torch.optim.RMSprop}[optimizer]
    if groups is None:
        opt = cls([params["weight"], params["bias"]], foreach=False, **torch_options(options))
    else:
        opt = cls([dict(params=[params["weight"]], **torch_options(groups[0])),
                   dict(params=[params["bias"]], **torch_options(groups[1]))], foreach=False, **torch_options(options))
    for n, v in start.items():
        tensors[f"opt.{name}.start.{n}"] = v.clone()
    for k in range(STEPS):
        for n, p in params.items():
            p.grad = grads[k][n].clone()
            tensors[f"opt.{name}.grad{k}.{n}"] = grads[k][n].clone()
        opt.step()
        for n, p in params.items():
            tensors[f"opt.{name}.after{k}.{n}"] = p.detach().clone()
    meta = [f"optimizer={optimizer}"] + [f"{k}={int(v) if isinstance(v, bool) else v!r}" for k, v in options.items()]
    if groups is not None:
        meta += [f"group{g}={text(o)}" for g, o in enumerate(groups)]
    metadata[f"opt.{name}"] = ";".join(meta)
    opt_cases.append(name)


optimizer_case("sgd_plain", "sgd", {"lr": 0.1})
optimizer_case("sgd_momentum", "sgd", {"lr": 0.1, "momentum": 0.9})
optimizer_case("sgd_dampening", "sgd", {"lr": 0.1, "momentum": 0.9, "dampening": 0.5})
optimizer_case("sgd_nesterov", "sgd", {"lr": 0.05, "momentum": 0.8, "nesterov": True})
optimizer_case("sgd_weight_decay", "sgd", {"lr": 0.1, "weight_decay": 0.1})
optimizer_case("sgd_all", "sgd", {"lr": 0.05, "momentum": 0.7, "weight_decay": 0.01, "nesterov": True})
optimizer_case("sgd_groups", "sgd", {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01},
               [{}, {"lr": 0.05, "weight_decay": 0.0, "momentum": 0.5}])
optimizer_case("adam", "adam", {"lr": 0.01})
optimizer_case("adam_weight_decay", "adam", {"lr": 0.01, "weight_decay": 0.1})
optimizer_case("adam_betas", "adam", {"lr": 0.02, "beta1": 0.8, "beta2": 0.99, "eps": 1e-6})
optimizer_case("adam_groups", "adam", {"lr": 0.01, "weight_decay": 0.05}, [{}, {"lr": 0.03, "weight_decay": 0.0}])
optimizer_case("adamw", "adamw", {"lr": 0.01})
optimizer_case("adamw_weight_decay", "adamw", {"lr": 0.01, "weight_decay": 0.2})
optimizer_case("adamw_low_beta1", "adamw", {"lr": 0.01, "beta1": 0.3, "beta2": 0.9})
optimizer_case("rmsprop", "rmsprop", {"lr": 0.01})
optimizer_case("rmsprop_momentum", "rmsprop", {"lr": 0.01, "momentum": 0.9})
optimizer_case("rmsprop_centered", "rmsprop", {"lr": 0.01, "centered": True})
optimizer_case("rmsprop_all", "rmsprop", {"lr": 0.005, "alpha": 0.9, "eps": 1e-4, "weight_decay": 0.05,
                                          "momentum": 0.5, "centered": True})
optimizer_case("rmsprop_groups", "rmsprop", {"lr": 0.01, "momentum": 0.9},
               [{"centered": True}, {"lr": 0.02, "momentum": 0.0}])
metadata["opt.cases"] = ",".join(opt_cases)

clip_cases = []
for name, max_norm, norm_type in (("l2", 1.0, 2.0), ("l2_unclipped", 100.0, 2.0), ("l1", 0.5, 1.0),
                                  ("inf", 0.3, math.inf), ("l3", 0.7, 3.0)):
    params = {n: v.clone().requires_grad_(True) for n, v in start.items()}
    for n, p in params.items():
        p.grad = grads[0][n].clone()
        tensors[f"clip.{name}.grad.{n}"] = grads[0][n].clone()
    norm = torch.nn.utils.clip_grad_norm_([params["weight"], params["bias"]], max_norm, norm_type=norm_type,
                                          foreach=False)
    for n, p in params.items():
        tensors[f"clip.{name}.clipped.{n}"] = p.grad.detach().clone()
    tensors[f"clip.{name}.norm"] = norm.detach().reshape(1).clone()
    metadata[f"clip.{name}"] = f"max_norm={max_norm!r};norm_type={norm_type!r}"
    clip_cases.append(name)
metadata["clip.cases"] = ",".join(clip_cases)

sched_cases = []


def schedule_case(name, steps, make, description, optimizer="sgd"):
    p1 = torch.zeros(2, requires_grad=True, dtype=torch.float64)
    p2 = torch.zeros(2, requires_grad=True, dtype=torch.float64)
    if optimizer == "sgd":
        opt = torch.optim.SGD([dict(params=[p1]), dict(params=[p2], lr=0.02)], lr=0.1, momentum=0.9)
        momentum_of = lambda g: g["momentum"]
    else:
        opt = torch.optim.Adam([dict(params=[p1]), dict(params=[p2], lr=0.02)], lr=0.1)
        momentum_of = lambda g: g["betas"][0]
    sched = make(opt)
    lrs, momenta = [], []
    for k in range(steps + 1):
        if k > 0:
            opt.step()
            sched.step()
        lrs.append([g["lr"] for g in opt.param_groups])
        momenta.append([momentum_of(g) for g in opt.param_groups])
    tensors[f"sched.{name}.lr"] = torch.tensor(lrs, dtype=torch.float64)
    tensors[f"sched.{name}.momentum"] = torch.tensor(momenta, dtype=torch.float64)
    metadata[f"sched.{name}"] = f"optimizer={optimizer};" + description
    sched_cases.append(name)


S = torch.optim.lr_scheduler
schedule_case("step", 12, lambda o: S.StepLR(o, step_size=3, gamma=0.5), "StepLR;step_size=3;gamma=0.5")
schedule_case("multistep", 12, lambda o: S.MultiStepLR(o, milestones=[2, 5, 9], gamma=0.3),
              "MultiStepLR;milestones=2,5,9;gamma=0.3")
schedule_case("cosine", 15, lambda o: S.CosineAnnealingLR(o, T_max=6, eta_min=0.001),
              "CosineAnnealingLR;t_max=6;eta_min=0.001")
schedule_case("linear", 8, lambda o: S.LinearLR(o, start_factor=0.25, end_factor=1.0, total_iters=4),
              "LinearLR;start_factor=0.25;end_factor=1;total_iters=4")
schedule_case("linear_down", 7, lambda o: S.LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=5),
              "LinearLR;start_factor=1;end_factor=0.1;total_iters=5")
schedule_case("warmup_cosine", 12,
              lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.1, end_factor=1.0, total_iters=3),
                                           S.CosineAnnealingLR(o, T_max=7)], milestones=[3]),
              "warmup_cosine;warmup=3;total=10;start_factor=0.1;eta_min=0")
schedule_case("onecycle", 20, lambda o: S.OneCycleLR(o, max_lr=0.5, total_steps=20),
              "OneCycleLR;max_lr=0.5;total_steps=20")
schedule_case("onecycle_groups_linear_three_phase", 16,
              lambda o: S.OneCycleLR(o, max_lr=[0.4, 0.2], total_steps=16, pct_start=0.25, anneal_strategy="linear",
                                     three_phase=True, base_momentum=0.8, max_momentum=0.9, div_factor=10,
                                     final_div_factor=100),
              "OneCycleLR;max_lr=0.4,0.2;total_steps=16;pct_start=0.25;cosine=0;three_phase=1;base_momentum=0.8;"
              "max_momentum=0.9;div_factor=10;final_div_factor=100")
schedule_case("onecycle_adam", 10, lambda o: S.OneCycleLR(o, max_lr=0.01, total_steps=10),
              "OneCycleLR;max_lr=0.01;total_steps=10", optimizer="adam")
metadata["sched.cases"] = ",".join(sched_cases)

metadata["torch"] = torch.__version__
save_file(tensors, OUT, metadata=metadata)
print(f"wrote {OUT}: {len(opt_cases)} optimizer, {len(clip_cases)} clipping, {len(sched_cases)} schedule cases, "
      f"{os.path.getsize(OUT)} bytes")
