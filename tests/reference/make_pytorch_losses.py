#!/usr/bin/env python3
"""Writes PyTorch's answers for hnn's losses into tests/fixtures/pytorch_losses.safetensors,
for tests/unit/test_losses_pytorch.cpp.

Each case is one torch.nn loss with one set of options on a small random batch: the loss
value and its gradient with respect to the prediction, computed by autograd in float64. The
inputs are rounded to float32 first (so that hnn's float32 run sees exactly the same numbers)
and everything is stored as float64 (F64), so that hnn is checked to 1e-5 relative in
float32 and 1e-10 in float64.

Tensors, per case <name>:
  <name>.prediction     the logits / predictions
  <name>.target         class labels (as float64 integers) or float targets
  <name>.weight         CrossEntropyLoss's class weights or BCEWithLogitsLoss's pos_weight (when used)
  <name>.loss           (1,) the reduced loss
  <name>.grad           d(loss)/d(prediction)
Metadata: "cases" lists the names, comma-separated; "<name>" holds the options as
"loss=<kind>;reduction=<mean|sum>[;label_smoothing=x][;delta=x][;beta=x]".

Run with the peer's interpreter:
  /work/main/.venv-peer/bin/python tests/reference/make_pytorch_losses.py
"""

import os
import sys

try:
    import torch
    from safetensors.torch import save_file
except ImportError as e:  # pragma: no cover
    sys.exit(f"make_pytorch_losses.py: {e} (with {sys.executable}); run it with the venv that has torch and safetensors")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "pytorch_losses.safetensors")

torch.manual_seed(23)


def f32(t):
    """The float32 rounding of t, held in float64."""
    return t.to(torch.float32).to(torch.float64)


tensors = {}
cases = []
metadata = {}


def add(name, module, prediction, target, options, weight=None):
    x = prediction.clone().requires_grad_(True)
    loss = module(x, target)
    loss.backward()
    tensors[f"{name}.prediction"] = prediction.clone()
    tensors[f"{name}.target"] = target.to(torch.float64).clone()
    if weight is not None:
        tensors[f"{name}.weight"] = weight.clone()
    tensors[f"{name}.loss"] = loss.detach().reshape(1)
    tensors[f"{name}.grad"] = x.grad.detach().contiguous()
    cases.append(name)
    metadata[name] = ";".join(f"{k}={v}" for k, v in options.items())


# CrossEntropyLoss: 7 samples of 5 classes, every class used, with and without class weights
# and label smoothing, both reductions; and large logits.
N, C = 7, 5
logits = f32(torch.randn(N, C, dtype=torch.float64) * 2)
labels = torch.tensor([0, 4, 2, 2, 1, 3, 4])
class_weight = f32(torch.tensor([0.5, 1.0, 2.0, 0.25, 1.5], dtype=torch.float64))
for reduction in ("mean", "sum"):
    for smoothing in (0.0, 0.1, 0.3):
        for weighted in (False, True):
            name = f"ce.{reduction}.s{smoothing}.{'w' if weighted else 'nw'}"
            module = torch.nn.CrossEntropyLoss(weight=class_weight if weighted else None, reduction=reduction,
                                               label_smoothing=smoothing)
            add(name, module, logits, labels, {"loss": "cross_entropy", "reduction": reduction,
                                               "label_smoothing": smoothing}, class_weight if weighted else None)
big = f32(torch.randn(N, C, dtype=torch.float64) * 40)
add("ce.mean.large_logits", torch.nn.CrossEntropyLoss(), big, labels, {"loss": "cross_entropy", "reduction": "mean"})

# The elementwise losses on (4, 3) predictions; some targets equal their prediction exactly
# (L1's derivative there is 0) and differences span both sides of Huber's delta and SmoothL1's beta.
prediction = f32(torch.randn(4, 3, dtype=torch.float64) * 1.5)
target = f32(torch.randn(4, 3, dtype=torch.float64) * 1.5)
target[0, 1] = prediction[0, 1]
target[2, 2] = prediction[2, 2]
for reduction in ("mean", "sum"):
    add(f"mse.{reduction}", torch.nn.MSELoss(reduction=reduction), prediction, target,
        {"loss": "mse", "reduction": reduction})
    add(f"l1.{reduction}", torch.nn.L1Loss(reduction=reduction), prediction, target,
        {"loss": "l1", "reduction": reduction})
    for delta in (1.0, 0.5, 2.5):
        add(f"huber.{reduction}.d{delta}", torch.nn.HuberLoss(reduction=reduction, delta=delta), prediction, target,
            {"loss": "huber", "reduction": reduction, "delta": delta})
    for beta in (1.0, 0.3, 0.0):
        add(f"smooth_l1.{reduction}.b{beta}", torch.nn.SmoothL1Loss(reduction=reduction, beta=beta), prediction,
            target, {"loss": "smooth_l1", "reduction": reduction, "beta": beta})

# BCEWithLogitsLoss: logits of both signs (some large), targets 0, 1 and in between, with and
# without pos_weight (one per class, the last dimension).
logit = f32(torch.randn(4, 3, dtype=torch.float64) * 3)
logit[1, 0] = 30.0
logit[3, 2] = -25.0
probability = torch.tensor([[0, 1, 0.25], [1, 0, 0.5], [0.9, 1, 0], [0, 0.1, 1]], dtype=torch.float64)
pos_weight = f32(torch.tensor([0.5, 2.0, 3.0], dtype=torch.float64))
for reduction in ("mean", "sum"):
    add(f"bce.{reduction}", torch.nn.BCEWithLogitsLoss(reduction=reduction), logit, probability,
        {"loss": "bce_with_logits", "reduction": reduction})
    add(f"bce.{reduction}.pos_weight", torch.nn.BCEWithLogitsLoss(reduction=reduction, pos_weight=pos_weight), logit,
        probability, {"loss": "bce_with_logits", "reduction": reduction}, pos_weight)

metadata["cases"] = ",".join(cases)
metadata["torch"] = torch.__version__
save_file(tensors, OUT, metadata=metadata)
print(f"wrote {OUT}: {len(cases)} cases, {os.path.getsize(OUT)} bytes")
