#!/usr/bin/env python3
"""PyTorch peer for hnn's ResNet example (examples/resnet) on Fashion-MNIST.

The same network as examples/resnet/model.hpp, layer for layer: a 3x3 stem (16 channels,
no bias) + BatchNorm + ReLU, three residual stages of one basic block each (16, 32, 64
channels; the second and third halve the resolution with a strided 3x3 conv and a strided
1x1 projection shortcut, each followed by BatchNorm), ReLU after each block, global average
pooling and Linear(64, 10). Xavier-uniform conv and linear weights, as hnn initialises them.
Recipe: SGD lr 0.1, momentum 0.9, weight decay 5e-4, batch 256 (the example's defaults).

Everything else (data loading, eager / channels-last / torch.compile, bench timing, JSON)
is pytorch_lenet.py's, which this script reuses:

  pytorch_resnet.py --mode bench --threads 2 --exec eager,channels-last,compile --json

Bench mode only; the example's training curve is in the README.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pytorch_lenet as peer  # noqa: E402
from pytorch_lenet import nn  # noqa: E402


class Residual(nn.Module):
    """body(x) + shortcut(x); an empty shortcut is the identity (hnn::Residual)."""

    def __init__(self, body, shortcut):
        super().__init__()
        self.body = nn.Sequential(*body)
        self.shortcut = nn.Sequential(*shortcut)

    def forward(self, x):
        return self.body(x) + self.shortcut(x)


def basic_block(cin, cout, stride):
    body = [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout)]
    shortcut = [] if cin == cout and stride == 1 else [nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                                                      nn.BatchNorm2d(cout)]
    return Residual(body, shortcut)


def make_resnet(variant="resnet"):
    if variant != "resnet":
        raise ValueError(variant)
    net = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
        basic_block(16, 16, 1), nn.ReLU(),
        basic_block(16, 32, 2), nn.ReLU(),
        basic_block(32, 64, 2), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
    return net


peer.VARIANTS = ("resnet",)
peer.make_model = make_resnet
peer.recipe = lambda variant: (0.1, 0.9)
peer.WEIGHT_DECAY = 5e-4

if __name__ == "__main__":
    sys.exit(peer.main())
