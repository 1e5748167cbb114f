#!/usr/bin/env python3
"""hnn <-> ONNX <-> PyTorch and onnxruntime, on the real Fashion-MNIST. Run by hand, with the
peer's interpreter (scripts/install-peer.sh: torch, onnx, onnxscript, onnxruntime, numpy):

    cmake --build build --target lenet5 hnn_onnx_tool   # hnn_onnx_tool is not in the default build
    .venv-peer/bin/python tests/interop/pytorch_onnx.py --lenet5 build/lenet5 --tool build/hnn_onnx_tool
    (--data DIR, default /usr/share/datasets/fashion-mnist; --threads N)

(a) PyTorch -> ONNX -> hnn: trains d2l's LeNet-5 (sigmoid, tests/bench/peers/pytorch_lenet.py's
    nn.Sequential) and the ResNet example's network (tests/bench/peers/pytorch_resnet.py), exports
    each with torch.onnx.export three ways -- the TorchScript exporter at opset 13 (eval mode,
    batch norm folded into the convolutions), at opset 17 keeping BatchNormalization nodes
    (training=PRESERVE, no constant folding), and the dynamo exporter at opset 18 (its default:
    the weights in an external F.onnx.data file) -- all with a dynamic batch, runs `lenet5 predict --model F.onnx --test-set DATA --logits L` on the 10,000
    test images and requires hnn's predictions to agree with PyTorch's on >= 99.9% and every
    logit within 1e-4. onnxruntime's agreement on the same files is printed beside.
(b) PyTorch -> ONNX -> hnn -> ONNX -> onnxruntime: `hnn_onnx_tool roundtrip F.onnx G.onnx` writes
    what hnn read back out; onnx.checker (full check) must accept G and onnxruntime's logits on
    G must equal PyTorch's within 1e-4.
(c) hnn -> ONNX: `hnn_onnx_tool examples DIR` exports every example network (lenet5 sigmoid and
    relu, lenet5_bn, resnet; random weights and batch-norm statistics) with a test batch and
    hnn's outputs for it, and tests/fixtures/onnx/hnn_blocks.onnx is hnn's file of every layer
    kind; onnx.checker (full check) must accept each and onnxruntime's outputs must equal hnn's
    within 1e-5 relative (max |difference| / max |hnn output|).

--write-fixtures also writes tests/fixtures/onnx/ for tests/onnx/test_onnx_fixtures.cpp (which
needs neither PyTorch nor onnxruntime): d2l's LeNet (trained above) from the dynamo exporter,
and a tiny ResNet (4-8-8 channels, one epoch) from the TorchScript exporter keeping its
BatchNormalization nodes and from the dynamo exporter, each with PyTorch's logits for the first
16 test images (which data/fashion-mnist holds) as <name>.logits.pb (a serialized TensorProto).
Exit status 0 when every check holds.
"""

import argparse
import gzip
import os
import subprocess
import sys
import tempfile
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "bench", "peers"))
from pytorch_lenet import make_lenet  # noqa: E402  the peers' networks, exactly
from pytorch_resnet import Residual, basic_block, make_resnet  # noqa: E402,F401

FIXTURE_IMAGES = 16
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "onnx")


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


def make_tiny_resnet():
    """The ResNet example's shape with 4-8-8 channels: a fixture of a few KB."""
    nn = torch.nn
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
        basic_block(4, 4, 1), nn.ReLU(),
        basic_block(4, 8, 2), nn.ReLU(),
        basic_block(8, 8, 2), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
    return net


def train(net, x, y, lr, momentum, epochs, seed):
    torch.manual_seed(seed)
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum)
    loss_fn = torch.nn.CrossEntropyLoss()
    net.train()
    for _ in range(epochs):
        order = torch.randperm(len(x))
        for begin in range(0, len(x), 256):
            idx = order[begin:begin + 256]
            opt.zero_grad()
            loss_fn(net(x[idx]), y[idx]).backward()
            opt.step()
    net.eval()


def export(net, path, how):
    """torch.onnx.export three ways (see the top of this file), batch dimension dynamic."""
    x = torch.zeros(2, 1, 28, 28)
    names = dict(input_names=["input"], output_names=["logits"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if how == "torchscript13":
            torch.onnx.export(net, (x,), path, dynamo=False, opset_version=13,
                              dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}}, **names)
        elif how == "torchscript17_bn":
            torch.onnx.export(net, (x,), path, dynamo=False, opset_version=17, do_constant_folding=False,
                              training=torch.onnx.TrainingMode.PRESERVE,
                              dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}}, **names)
        elif how in ("dynamo18", "dynamo18_inline"):  # the exporter's default keeps the weights in F.onnx.data
            torch.onnx.export(net, (x,), path, dynamo=True, opset_version=18, verbose=False,
                              external_data=how == "dynamo18",
                              dynamic_shapes={"input": {0: torch.export.Dim("batch")}}, **names)
        else:
            raise ValueError(how)
    ops = sorted({n.op_type for n in onnx.load(path, load_external_data=False).graph.node})
    if os.path.exists(path + ".data"):
        ops.append(f"weights in {os.path.basename(path)}.data")
    return ops


def run(cmd):
    print("+", " ".join(cmd), flush=True)
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"FAIL: exit {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def session(path, threads):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def ort_logits(path, x, threads):
    s = session(path, threads)
    name = s.get_inputs()[0].name
    return np.concatenate([s.run(None, {name: x[b:b + 1000]})[0] for b in range(0, len(x), 1000)])


def compare(theirs, ours):
    """(share of equal arg-max predictions, max |difference|)."""
    return float((theirs.argmax(1) == ours.argmax(1)).mean()), float(np.abs(theirs - ours).max())


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lenet5", default=os.path.join(ROOT, "build", "lenet5"))
    p.add_argument("--tool", default=os.path.join(ROOT, "build", "hnn_onnx_tool"))
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--lenet-epochs", type=int, default=2, help="d2l's sigmoid LeNet sits near 10%% for an epoch")
    p.add_argument("--resnet-images", type=int, default=12000, help="training images for the ResNet's one epoch")
    p.add_argument("--write-fixtures", action="store_true")
    p.add_argument("--fixtures-only", action="store_true", help="write the fixtures, check nothing (no hnn needed)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, onnx {onnx.__version__}, onnxruntime {ort.__version__}, data {args.data}")
    xtr, ytr = load(args.data, "train")
    xte, yte = load(args.data, "t10k")
    xte_np = xte.numpy()
    ok = True

    def check(what, good):
        nonlocal ok
        ok &= good
        return "ok" if good else "FAIL"

    with tempfile.TemporaryDirectory() as work:
        torch.manual_seed(0)
        lenet = make_lenet("sigmoid")
        train(lenet, xtr, ytr, 0.9, 0.0, args.lenet_epochs, seed=0)
        torch.manual_seed(0)
        resnet = make_resnet()
        if not args.fixtures_only:
            train(resnet, xtr[:args.resnet_images], ytr[:args.resnet_images], 0.1, 0.9, 1, seed=0)
        for name, net in (() if args.fixtures_only else (("lenet5_sigmoid", lenet), ("resnet", resnet))):
            with torch.no_grad():
                ours = net(xte).numpy()
            print(f"{name}: PyTorch test acc {(ours.argmax(1) == yte.numpy()).mean():.4f}")
            for how in ("torchscript13", "torchscript17_bn", "dynamo18"):
                path = os.path.join(work, f"{name}_{how}.onnx")
                ops = export(net, path, how)
                # (a) hnn reads what PyTorch wrote
                logits_path = os.path.join(work, f"{name}_{how}.f32")
                out = run([args.lenet5, "predict", "--model", path, "--test-set", args.data, "--logits", logits_path,
                           "--threads", str(args.threads)])
                hnn = np.fromfile(logits_path, dtype="<f4").reshape(-1, 10)
                agree, diff = compare(hnn, ours)
                ort_agree, ort_diff = compare(ort_logits(path, xte_np, args.threads), ours)
                print(f"(a) {name} {how} ({', '.join(ops)}): hnn {out.strip()}; agrees with PyTorch on "
                      f"{100 * agree:.2f}%, max |logit difference| {diff:.3g} -> "
                      f"{check('a', agree >= 0.999 and diff <= 1e-4)} (onnxruntime: {100 * ort_agree:.2f}%, "
                      f"{ort_diff:.3g})")
                # (b) ... -> hnn -> ONNX -> onnxruntime
                again = os.path.join(work, f"{name}_{how}_hnn.onnx")
                run([args.tool, "roundtrip", path, again])
                onnx.checker.check_model(onnx.load(again), full_check=True)
                agree, diff = compare(ort_logits(again, xte_np, args.threads), ours)
                print(f"(b) {name} {how} -> hnn -> ONNX: onnx.checker ok; onnxruntime agrees with PyTorch on "
                      f"{100 * agree:.2f}%, max |logit difference| {diff:.3g} -> "
                      f"{check('b', agree >= 0.999 and diff <= 1e-4)}")

        # (c) every example network, hnn -> ONNX -> onnxruntime
        examples = os.path.join(work, "examples")
        os.makedirs(examples)
        if not args.fixtures_only:
            run([args.tool, "examples", examples])
        committed = [os.path.join(FIXTURES, "hnn_blocks.onnx")]  # every layer kind, committed
        for path in sorted(os.path.join(examples, f) for f in os.listdir(examples)) + committed:
            if not path.endswith(".onnx") or args.fixtures_only:
                continue
            f = os.path.relpath(path, ROOT) if path in committed else os.path.basename(path)
            stem = path[:-len(".onnx")]
            onnx.checker.check_model(onnx.load(path), full_check=True)
            x = numpy_helper.to_array(onnx.load_tensor(stem + ".input.pb"))
            want = numpy_helper.to_array(onnx.load_tensor(stem + ".output.pb"))
            s = session(path, args.threads)
            got = s.run(None, {s.get_inputs()[0].name: x})[0]
            rel = float(np.abs(got - want).max() / np.abs(want).max())
            print(f"(c) {f}: onnx.checker ok; onnxruntime vs hnn on a batch of {len(x)}: max |difference| / "
                  f"max |output| = {rel:.3g} -> {check('c', rel <= 1e-5)}")

        if args.write_fixtures or args.fixtures_only:
            os.makedirs(FIXTURES, exist_ok=True)
            torch.manual_seed(1)
            tiny = make_tiny_resnet()
            train(tiny, xtr[:args.resnet_images], ytr[:args.resnet_images], 0.1, 0.9, 1, seed=1)
            slice_x, _ = load(os.path.join(ROOT, "data", "fashion-mnist"), "t10k")
            first = slice_x[:FIXTURE_IMAGES]
            for name, net, how in (("lenet5_sigmoid_dynamo18", lenet, "dynamo18_inline"),
                                   ("resnet_tiny_torchscript17_bn", tiny, "torchscript17_bn"),
                                   ("resnet_tiny_dynamo18", tiny, "dynamo18_inline")):
                path = os.path.join(FIXTURES, name + ".onnx")
                ops = export(net, path, how)
                with torch.no_grad():
                    logits = net(first).numpy()
                tensor = numpy_helper.from_array(logits, "logits")
                tensor.doc_string = (f"PyTorch {torch.__version__}'s logits for the first {FIXTURE_IMAGES} images of "
                                     "data/fashion-mnist/t10k-images-idx3-ubyte.gz (pixel / 255)")
                with open(os.path.join(FIXTURES, name + ".logits.pb"), "wb") as f:
                    f.write(tensor.SerializeToString())
                print(f"wrote {path} ({os.path.getsize(path)} bytes; {', '.join(ops)}) and its logits")
    print("all checks passed" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
