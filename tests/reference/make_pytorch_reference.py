#!/usr/bin/env python3
"""Writes PyTorch's answers for hnn's LeNet-5 into tests/fixtures/, for
tests/unit/test_pytorch_reference.cpp.

For each variant (sigmoid: Sigmoid + AvgPool2d, lr 0.9; relu: ReLU + MaxPool2d, lr 0.05,
momentum 0.9 -- examples/lenet5/model.hpp and tests/bench/lenet5_bench.cpp), from fixed
weights (torch.manual_seed(SEED), Xavier-uniform weights, PyTorch's default biases) and the
first N test images of the committed slice data/fashion-mnist/ (pixel / 255 in float32, as
include/hnn/data/mnist.hpp scales them) with their labels, for N = 256 and N = 7:
the logits, the mean softmax cross-entropy, every parameter's gradient, and every parameter
after one torch.optim.SGD step (the variant's lr and momentum; the first step).

The arithmetic is done in float64 and stored as float32, so the fixture is the exact answer
rounded once; hnn (float32) is compared against it to 1e-4 relative.

One file per variant, tests/fixtures/pytorch_lenet5_<variant>.safetensors:
  weights.<i>.<weight|bias>               the starting parameters (shared by both N)
  n<N>.logits                             (N, 10)
  n<N>.loss                               (1,)
  n<N>.grad.<i>.<weight|bias>             d(mean loss)/d(parameter)
  n<N>.step.<i>.<weight|bias>             the parameter after one SGD step
Parameter names are nn.Sequential's state_dict names, which hnn's
Sequential::parameter_names() uses too. The images and labels are not stored.

A second file, tests/fixtures/pytorch_blocks.safetensors, covers the layers past LeNet
(blocks_net() below: batch norm 2d and 1d, residual blocks with identity and 1x1-conv
shortcuts, bias-less Conv2d and Linear, Tanh, padded max and average pooling, global
average pooling) on the first 8 slice images, in training mode, and one Adam step:
  weights.<name>                 every parameter and buffer (nn.Module state_dict names,
                                 num_batches_tracked left out: hnn has no such buffer)
  train.logits, train.loss       the training-mode forward (batch statistics)
  grad.<name>                    d(mean loss)/d(parameter)
  after.<name>                   every parameter and buffer after the forward and one
                                 torch.optim.Adam step (PyTorch's defaults, lr 1e-3)
  eval.logits                    the evaluation-mode forward after that step

Run by hand, with the peer's interpreter (scripts/install-peer.sh):
  .venv-peer/bin/python tests/reference/make_pytorch_reference.py
"""

import argparse
import gzip
import os
import struct
import sys

try:
    import numpy as np
    import torch
    from torch import nn
    from safetensors.torch import save_file
except ImportError as e:  # pragma: no cover
    sys.exit(f"make_pytorch_reference.py: {e} (with {sys.executable}).\n"
             "Install torch, numpy and safetensors with scripts/install-peer.sh and run "
             ".venv-peer/bin/python tests/reference/make_pytorch_reference.py")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SLICE = os.path.join(ROOT, "data", "fashion-mnist")
OUT = os.path.join(ROOT, "tests", "fixtures")
BATCHES = (256, 7)
SEED = 20261129
RECIPES = {"sigmoid": (0.9, 0.0), "relu": (0.05, 0.9)}  # (lr, momentum), hnn's


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != 0x08:
        sys.exit(f"{path}: not an unsigned-byte IDX file")
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def lenet5(variant):
    act, pool = (nn.Sigmoid, nn.AvgPool2d) if variant == "sigmoid" else (nn.ReLU, nn.MaxPool2d)
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), act(), pool(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), act(), pool(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), act(),
        nn.Linear(120, 84), act(),
        nn.Linear(84, 10))


class Residual(nn.Module):
    """hnn::Residual: body(x) + shortcut(x), an empty shortcut being the identity."""

    def __init__(self, body, shortcut=()):
        super().__init__()
        self.body = nn.Sequential(*body)
        self.shortcut = nn.Sequential(*shortcut)

    def forward(self, x):
        return self.body(x) + self.shortcut(x)


def blocks_net():
    """The network of test_pytorch_reference.cpp's BlocksAgainstPyTorch, layer for layer."""
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
        Residual([nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.Tanh(),
                  nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4)]),
        nn.ReLU(),
        nn.MaxPool2d(3, stride=2, padding=1),                      # 28 -> 14
        Residual([nn.Conv2d(4, 8, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                  nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8)],
                 [nn.Conv2d(4, 8, 1, stride=2, bias=False), nn.BatchNorm2d(8)]),  # 14 -> 7
        nn.ReLU(),
        nn.AvgPool2d(2, stride=2, padding=1),                      # 7 -> 4, padded zeros counted
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(8, 16, bias=False), nn.BatchNorm1d(16), nn.Sigmoid(),
        nn.Linear(16, 10))


def write_blocks_fixture(x_all, y_all, out):
    n = 8
    torch.manual_seed(SEED + 1)
    net = blocks_net()
    with torch.no_grad():  # batch norm's affine parameters and running statistics away from 1/0
        for m in net.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    net = net.double()

    def state(prefix):
        return {f"{prefix}.{k}": v.detach().float().clone().contiguous()
                for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}

    tensors = state("weights")
    net.train()
    x, y = x_all[:n].double(), y_all[:n]
    logits = net(x)
    loss = nn.functional.cross_entropy(logits, y)
    loss.backward()
    tensors["train.logits"] = logits.detach().float().contiguous()
    tensors["train.loss"] = loss.detach().float().reshape(1)
    for name, param in net.named_parameters():
        tensors[f"grad.{name}"] = param.grad.detach().float().contiguous()
    torch.optim.Adam(net.parameters()).step()
    tensors.update(state("after"))
    net.eval()
    with torch.no_grad():
        tensors["eval.logits"] = net(x).float().contiguous()
    meta = {"network": "blocks_net() in tests/reference/make_pytorch_reference.py", "n": str(n),
            "seed": str(SEED + 1), "optimizer": "torch.optim.Adam defaults (lr 1e-3)",
            "arithmetic": "float64, stored as float32", "torch": torch.__version__,
            "generator": "tests/reference/make_pytorch_reference.py"}
    path = os.path.join(out, "pytorch_blocks.safetensors")
    save_file(tensors, path, metadata=meta)
    print(f"blocks, N = {n}: loss {loss.item():.6f}; wrote {path} ({os.path.getsize(path) / 1024:.0f} KiB)")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=OUT, help="folder for the .safetensors files (default %(default)s)")
    args = p.parse_args()

    images = read_idx(os.path.join(SLICE, "t10k-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(SLICE, "t10k-labels-idx1-ubyte.gz"))
    n_max = max(BATCHES)
    # hnn: static_cast<float>(v) / 255.0f, a float32 division; the same here, then widened.
    x_all = torch.from_numpy(images[:n_max].astype(np.float32) / np.float32(255)).reshape(n_max, 1, 28, 28)
    y_all = torch.from_numpy(labels[:n_max].astype(np.int64))
    os.makedirs(args.out, exist_ok=True)

    for variant, (lr, momentum) in RECIPES.items():
        torch.manual_seed(SEED)
        net = lenet5(variant)
        for m in net:
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
        net = net.double()
        start = {k: v.detach().clone() for k, v in net.state_dict().items()}
        tensors = {f"weights.{k}": v.float().contiguous() for k, v in start.items()}
        for n in BATCHES:
            net.load_state_dict(start)
            opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum)
            opt.zero_grad(set_to_none=True)
            x, y = x_all[:n].double(), y_all[:n]
            logits = net(x)
            loss = nn.functional.cross_entropy(logits, y)  # mean over the batch
            loss.backward()
            tensors[f"n{n}.logits"] = logits.detach().float().contiguous()
            tensors[f"n{n}.loss"] = loss.detach().float().reshape(1)
            for name, param in net.named_parameters():
                tensors[f"n{n}.grad.{name}"] = param.grad.detach().float().contiguous()
            opt.step()
            for name, param in net.named_parameters():
                tensors[f"n{n}.step.{name}"] = param.detach().float().contiguous()
            print(f"{variant}, N = {n}: loss {loss.item():.6f}")
        meta = {
            "variant": variant, "lr": repr(lr), "momentum": repr(momentum), "seed": str(SEED),
            "batches": ",".join(str(n) for n in BATCHES),
            "images": "data/fashion-mnist/t10k-images-idx3-ubyte.gz, the first N, pixel / 255 (float32)",
            "labels": "data/fashion-mnist/t10k-labels-idx1-ubyte.gz, the first N",
            "arithmetic": "float64, stored as float32",
            "torch": torch.__version__,
            "generator": "tests/reference/make_pytorch_reference.py",
        }
        path = os.path.join(args.out, f"pytorch_lenet5_{variant}.safetensors")
        save_file(tensors, path, metadata=meta)
        print(f"wrote {path} ({os.path.getsize(path) / 1024:.0f} KiB, {len(tensors)} tensors)")
    write_blocks_fixture(x_all, y_all, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
