#!/usr/bin/env python3
"""Test accuracy of d2l's LeNet with batch norm in PyTorch, over several seeds.

The accuracy counterpart of examples/lenet5_bn: the same network (BatchNorm after each
convolution and each hidden Linear, before its sigmoid; the first convolution unpadded),
Xavier-uniform weights and PyTorch's default biases, plain SGD at lr 1.0, batch 256,
10 epochs, a reshuffle every epoch, the last partial batch kept, pixels x / 255. It prints
each seed's final test accuracy (evaluation mode) and the mean, to compare with

    for s in 0 1 2 ...; do build/lenet5_bn --seed $s; done

The two programs shuffle differently, so a seed is not the same run on both sides; what
compares is the spread. Run by hand: it needs PyTorch (scripts/install-peer.sh) and takes
about 45 s a seed on 2 threads.

    .venv-peer/bin/python tests/reference/pytorch_lenet5_bn_seeds.py --seeds 0-9
"""

import argparse
import os
import statistics
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench", "peers"))
import pytorch_lenet  # noqa: E402  (the peer's IDX reader)


def lenet5_bn():
    net = nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.BatchNorm2d(6), nn.Sigmoid(), nn.AvgPool2d(2, 2),
        nn.Conv2d(6, 16, 5), nn.BatchNorm2d(16), nn.Sigmoid(), nn.AvgPool2d(2, 2), nn.Flatten(),
        nn.Linear(16 * 4 * 4, 120), nn.BatchNorm1d(120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.BatchNorm1d(84), nn.Sigmoid(),
        nn.Linear(84, 10))
    for m in net.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(m.weight)
    return net


def final_test_accuracy(seed, data, epochs, batch, lr):
    x_train, y_train, x_test, y_test = data
    torch.manual_seed(seed)
    net = lenet5_bn()
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(epochs):
        net.train()
        order = torch.randperm(x_train.shape[0])
        for start in range(0, x_train.shape[0], batch):
            idx = order[start:start + batch]
            optimizer.zero_grad()
            loss_fn(net(x_train[idx]), y_train[idx]).backward()
            optimizer.step()
    net.eval()
    with torch.no_grad():
        return (net(x_test).argmax(1) == y_test).float().mean().item()


def parse_seeds(text):
    if "-" in text:
        first, last = (int(v) for v in text.split("-"))
        return list(range(first, last + 1))
    return [int(v) for v in text.split(",")]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("HNN_DATA", "/usr/share/datasets/fashion-mnist"))
    parser.add_argument("--seeds", default="0-9", help="a range (0-9) or a list (0,3,5)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = pytorch_lenet.load_fashion_mnist(args.data, torch.device("cpu"))
    results = []
    for seed in parse_seeds(args.seeds):
        acc = final_test_accuracy(seed, data, args.epochs, batch=256, lr=1.0)
        results.append(acc)
        print(f"seed {seed}: test acc {acc:.4f}", flush=True)
    if len(results) > 1:
        print(f"mean {statistics.mean(results):.4f}, sd {statistics.stdev(results):.4f}, "
              f"min {min(results):.4f}, max {max(results):.4f} over {len(results)} seeds (torch {torch.__version__})")


if __name__ == "__main__":
    main()
