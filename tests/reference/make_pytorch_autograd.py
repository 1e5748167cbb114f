#!/usr/bin/env python3
"""Writes PyTorch's values and gradients of three expressions written with tensor ops into
tests/fixtures/pytorch_autograd.safetensors, for tests/unit/test_autograd_pytorch.cpp, which
writes the same expressions with hnn's ops on hnn::Var and compares (float64 to 1e-10,
float32 to 1e-5).

Every input is drawn from a seeded generator in float64, every computation is float64, and
everything is stored as F64. Each expression's scalar is L = sum(out * probe) (probe stored,
so that every element of the output's gradient matters), except the focal loss, which is
already a scalar:

  attention.q (2, 4, 3), .k (2, 5, 3), .v (2, 5, 6), .probe (2, 4, 6)
      out = softmax(q k^T / sqrt(3), dim=-1) v
      attention.out, attention.grad_q, .grad_k, .grad_v
  focal.logits (6, 4), focal.labels (6) (class numbers stored as F64)
      p = softmax(logits, 1); pt = p[n, label[n]];
      loss = mean(-(1 - pt)^2 * log(pt))                   (gamma 2, no class weights)
      focal.loss (1,), focal.grad_logits
  layernorm.x (3, 5), .gamma (5), .beta (5), .probe (3, 5)
      mu = mean(x, -1), var = mean((x - mu)^2, -1) (biased),
      out = (x - mu) / sqrt(var + 1e-5) * gamma + beta     (checked against F.layer_norm)
      layernorm.out, layernorm.grad_x, .grad_gamma, .grad_beta

Run by hand, with the peer's interpreter:
  /work/main/.venv-peer/bin/python tests/reference/make_pytorch_autograd.py
"""

import math
import os
import sys

try:
    import torch
    import torch.nn.functional as F
    from safetensors.torch import save_file
except ImportError as e:  # pragma: no cover
    sys.exit(f"make_pytorch_autograd.py: {e} (with {sys.executable}); run it with the peer's .venv-peer/bin/python")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "pytorch_autograd.safetensors")
SEED = 2025


def leaf(generator, *shape, low=-1.0, high=1.0):
    t = torch.rand(*shape, generator=generator, dtype=torch.float64) * (high - low) + low
    return t.requires_grad_(True)


def main():
    g = torch.Generator().manual_seed(SEED)
    tensors = {}

    # Softmax attention.
    q, k, v = leaf(g, 2, 4, 3), leaf(g, 2, 5, 3), leaf(g, 2, 5, 6)
    probe = leaf(g, 2, 4, 6).detach()
    out = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(3.0), dim=-1) @ v
    (out * probe).sum().backward()
    tensors.update({"attention.q": q, "attention.k": k, "attention.v": v, "attention.probe": probe,
                    "attention.out": out, "attention.grad_q": q.grad, "attention.grad_k": k.grad,
                    "attention.grad_v": v.grad})

    # Focal loss (gamma 2) over softmax probabilities.
    logits = leaf(g, 6, 4, low=-3.0, high=3.0)
    labels = torch.randint(0, 4, (6,), generator=g)
    p = torch.softmax(logits, dim=1)
    pt = p.gather(1, labels.unsqueeze(1)).squeeze(1)
    loss = (-(1 - pt) ** 2 * torch.log(pt)).mean()
    loss.backward()
    tensors.update({"focal.logits": logits, "focal.labels": labels.to(torch.float64), "focal.loss": loss.reshape(1),
                    "focal.grad_logits": logits.grad})

    # Layer normalisation written with ops.
    x, gamma, beta = leaf(g, 3, 5, low=-2.0, high=2.0), leaf(g, 5), leaf(g, 5)
    probe = leaf(g, 3, 5).detach()
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    out = (x - mu) / torch.sqrt(var + 1e-5) * gamma + beta
    reference = F.layer_norm(x, (5,), gamma, beta, eps=1e-5)
    assert torch.allclose(out, reference, rtol=0, atol=1e-12), "layer norm written with ops differs from F.layer_norm"
    (out * probe).sum().backward()
    tensors.update({"layernorm.x": x, "layernorm.gamma": gamma, "layernorm.beta": beta, "layernorm.probe": probe,
                    "layernorm.out": out, "layernorm.grad_x": x.grad, "layernorm.grad_gamma": gamma.grad,
                    "layernorm.grad_beta": beta.grad})

    save_file({name: t.detach().contiguous() for name, t in tensors.items()}, OUT,
              metadata={"generator": "tests/reference/make_pytorch_autograd.py", "torch": torch.__version__,
                        "seed": str(SEED)})
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes, {len(tensors)} tensors)")


if __name__ == "__main__":
    main()
