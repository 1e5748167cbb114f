#!/usr/bin/env python3
"""hnn <-> PyTorch through safetensors, on the real Fashion-MNIST. Run by hand:

    /work/torch-venv/bin/python tests/interop/pytorch_safetensors.py --lenet5 build/lenet5
    (any Python with torch, safetensors and numpy; --data DIR, default /usr/share/datasets/fashion-mnist)

(a) PyTorch -> hnn: trains d2l's LeNet-5 (tests/bench/peers/pytorch_lenet.py's nn.Sequential:
    sigmoid + AvgPool2d, and relu + MaxPool2d, which is what `lenet5 --variant relu` builds)
    for one epoch in PyTorch, saves it with safetensors.torch.save_file, runs
    `lenet5 predict --model F.safetensors --variant V --test-set DATA --logits L` on the 10,000
    test images, and requires hnn's predictions to agree on >= 99.9% and every logit within 1e-4.
(b) hnn -> PyTorch: `lenet5 --epochs 1 --save m.hnn`, `lenet5 export`, then
    safetensors.torch.load_file into nn.Sequential.load_state_dict(strict=True): PyTorch's test
    accuracy must equal the one hnn printed, to the printed digit.

--write-fixture also writes tests/fixtures/lenet5_sigmoid_pytorch.safetensors (the sigmoid
model of (a)) and tests/fixtures/lenet5_sigmoid_pytorch_logits.safetensors (PyTorch's logits
for the first 16 test images, which data/fashion-mnist holds), which the unit test
Safetensors.FileWrittenByPyTorchGivesPyTorchsLogits checks without PyTorch.
Exit status 0 when every check holds.
"""

import argparse
import gzip
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import torch
from safetensors.torch import load_file, save_file

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "bench", "peers"))
from pytorch_lenet import make_lenet  # noqa: E402  the peer's network, exactly

FIXTURE_IMAGES = 16


def read_idx_gz(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(data, split):
    images = read_idx_gz(os.path.join(data, f"{split}-images-idx3-ubyte.gz"))
    labels = read_idx_gz(os.path.join(data, f"{split}-labels-idx1-ubyte.gz"))
    x = torch.from_numpy(images.astype(np.float32) / np.float32(255)).reshape(-1, 1, 28, 28)
    return x, torch.from_numpy(labels.astype(np.int64))


def train_one_epoch(net, x, y, lr, momentum, seed):
    torch.manual_seed(seed)
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum)
    loss_fn = torch.nn.CrossEntropyLoss()
    order = torch.randperm(len(x))
    net.train()
    for begin in range(0, len(x), 256):
        idx = order[begin:begin + 256]
        opt.zero_grad()
        loss_fn(net(x[idx]), y[idx]).backward()
        opt.step()
    net.eval()


def run(cmd):
    print("+", " ".join(cmd), flush=True)
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"FAIL: exit {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lenet5", default=os.path.join(ROOT, "build", "lenet5"))
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--threads", default="2")
    p.add_argument("--write-fixture", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(int(args.threads))
    print(f"torch {torch.__version__}, data {args.data}")
    xtr, ytr = load(args.data, "train")
    xte, yte = load(args.data, "t10k")
    ok = True
    with tempfile.TemporaryDirectory() as work:
        # (a) PyTorch -> hnn
        for variant, lr, momentum in (("sigmoid", 0.9, 0.0), ("relu", 0.05, 0.9)):
            torch.manual_seed(0)
            net = make_lenet(variant)
            train_one_epoch(net, xtr, ytr, lr, momentum, seed=0)
            with torch.no_grad():
                ours = net(xte)
            path = os.path.join(work, f"{variant}.safetensors")
            save_file(net.state_dict(), path, metadata={"source": "PyTorch " + torch.__version__})
            logits_path = os.path.join(work, f"{variant}.f32")
            out = run([args.lenet5, "predict", "--model", path, "--variant", variant, "--test-set", args.data,
                       "--logits", logits_path, "--threads", args.threads])
            theirs = torch.from_numpy(np.fromfile(logits_path, dtype="<f4").reshape(-1, 10))
            agree = (theirs.argmax(1) == ours.argmax(1)).double().mean().item()
            diff = (theirs - ours).abs().max().item()
            acc = (ours.argmax(1) == yte).double().mean().item()
            good = agree >= 0.999 and diff <= 1e-4
            ok &= good
            print(f"(a) {variant}: PyTorch test acc {acc:.4f}; hnn: {out.strip()}; predictions agree on "
                  f"{100 * agree:.2f}% of {len(xte)}, max |logit difference| {diff:.3g} -> {'ok' if good else 'FAIL'}")
            if args.write_fixture and variant == "sigmoid":
                fixtures = os.path.join(ROOT, "tests", "fixtures")
                os.makedirs(fixtures, exist_ok=True)
                save_file(net.state_dict(), os.path.join(fixtures, "lenet5_sigmoid_pytorch.safetensors"),
                          metadata={"source": "tests/interop/pytorch_safetensors.py --write-fixture, PyTorch "
                                              + torch.__version__, "variant": "sigmoid"})
                save_file({"logits": ours[:FIXTURE_IMAGES].contiguous()},
                          os.path.join(fixtures, "lenet5_sigmoid_pytorch_logits.safetensors"),
                          metadata={"images": f"the first {FIXTURE_IMAGES} of t10k-images-idx3-ubyte"})
                print(f"    wrote the fixture files in {fixtures}")

        # (b) hnn -> PyTorch
        hnn_model = os.path.join(work, "m.hnn")
        exported = os.path.join(work, "m.safetensors")
        out = run([args.lenet5, "--epochs", "1", "--save", hnn_model, "--data", args.data, "--threads", args.threads,
                   "--progress", "off"])
        printed = re.findall(r"test acc ([0-9.]+)", out)[-1]
        print("    hnn:", [line for line in out.splitlines() if "test acc" in line][-1].strip())
        print("   ", run([args.lenet5, "export", "--model", hnn_model, "--out", exported]).strip())
        state = load_file(exported)
        net = make_lenet("sigmoid")
        net.load_state_dict(state, strict=True)
        net.eval()
        with torch.no_grad():
            acc = (net(xte).argmax(1) == yte).double().mean().item()
        good = f"{acc:.{len(printed.split('.')[1])}f}" == printed
        ok &= good
        print(f"(b) hnn printed test acc {printed}; PyTorch with the exported weights: {acc:.4f} -> "
              f"{'ok' if good else 'FAIL'}")
    print("all checks passed" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
