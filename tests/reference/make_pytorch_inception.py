#!/usr/bin/env python3
"""Writes a tiny Inception block's weights, input, output and every gradient, as PyTorch computes
them, into tests/fixtures/pytorch_inception.safetensors, for tests/unit/test_concat.cpp, which
builds the same block with hnn::Inception (an hnn::Concat of four branches) and compares (float64
to 1e-10, float32 to 1e-5, relative to max(1, |value|)).

The block is d2l's Inception ("Dive into Deep Learning", 8.4) written as a generic concatenating
module: its branches are nn.Sequential kept in an nn.ModuleList named `branches`, and the model
is nn.Sequential(block), so that PyTorch's state_dict names are the ones hnn gives a Concat that
is layer 0 of a model ("0.branches.1.2.weight"). Inception(in=3, c1=2, c2=(2, 3), c3=(1, 2),
c4=2) on an input of (2, 3, 5, 5); 9 output channels.

Every value is float64, drawn from a seeded generator (weights uniform in +-0.5, the input and
the probe uniform in +-1). The scalar is L = sum(output * probe), so dL/dOutput = probe and
every element of the output gradient matters. Stored, all F64:
  0.branches.<b>.<i>.weight, .bias   the parameters, under PyTorch's names
  input (2, 3, 5, 5), probe (2, 9, 5, 5), output (2, 9, 5, 5), grad_input (2, 3, 5, 5)
  grad.<parameter name>               dL/d(parameter), for every parameter

Run by hand, with the peer's interpreter:
  /work/main/.venv-peer/bin/python tests/reference/make_pytorch_inception.py
"""

import os
import sys

try:
    import torch
    from torch import nn
    from safetensors.torch import save_file
except ImportError as e:  # pragma: no cover
    sys.exit(f"make_pytorch_inception.py: {e} (with {sys.executable}); run it with the peer's .venv-peer/bin/python")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "pytorch_inception.safetensors")
SEED = 2026


class Concat(nn.Module):
    """Branches on the same input, outputs concatenated along channels."""

    def __init__(self, *branches):
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x):
        return torch.cat([branch(x) for branch in self.branches], dim=1)


def inception(in_channels, c1, c2, c3, c4):
    return Concat(
        nn.Sequential(nn.Conv2d(in_channels, c1, 1), nn.ReLU()),
        nn.Sequential(nn.Conv2d(in_channels, c2[0], 1), nn.ReLU(), nn.Conv2d(c2[0], c2[1], 3, padding=1), nn.ReLU()),
        nn.Sequential(nn.Conv2d(in_channels, c3[0], 1), nn.ReLU(), nn.Conv2d(c3[0], c3[1], 5, padding=2), nn.ReLU()),
        nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), nn.Conv2d(in_channels, c4, 1), nn.ReLU()),
    )


def uniform(generator, shape, bound):
    return (torch.rand(*shape, generator=generator, dtype=torch.float64) * 2 - 1) * bound


def main():
    g = torch.Generator().manual_seed(SEED)
    model = nn.Sequential(inception(3, 2, (2, 3), (1, 2), 2)).double()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(uniform(g, p.shape, 0.5))
    x = uniform(g, (2, 3, 5, 5), 1.0).requires_grad_(True)
    probe = uniform(g, (2, 9, 5, 5), 1.0)
    # Every ReLU's input kept away from 0, so that the float32 run cannot land on the other side
    # of a kink (which would make a gradient differ by far more than rounding).
    margins = []
    for module in model.modules():
        if isinstance(module, nn.ReLU):
            module.register_forward_hook(lambda m, inputs, output: margins.append(inputs[0].abs().min().item()))
    out = model(x)
    if min(margins) < 1e-4:
        sys.exit(f"make_pytorch_inception.py: a ReLU input is {min(margins):g} from 0; pick another SEED")
    (out * probe).sum().backward()

    tensors = {name: t.detach().clone() for name, t in model.state_dict().items()}
    tensors.update({"input": x.detach(), "probe": probe, "output": out.detach(), "grad_input": x.grad})
    for name, p in model.named_parameters():
        tensors["grad." + name] = p.grad
    save_file({k: v.contiguous() for k, v in tensors.items()}, OUT)
    print(f"wrote {OUT}: {len(tensors)} tensors, {sum(t.numel() for t in tensors.values())} values; "
          f"smallest |ReLU input| {min(margins):.3g}")
    for name in model.state_dict():
        print("  ", name, tuple(model.state_dict()[name].shape))


if __name__ == "__main__":
    main()
