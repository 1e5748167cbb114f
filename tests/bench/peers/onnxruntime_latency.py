#!/usr/bin/env python3
"""onnxruntime peer for hnn's latency benchmark (tests/bench/latency_bench.cpp).

The networks are the PyTorch peers' (pytorch_lenet.make_lenet: d2l's LeNet-5, sigmoid and relu;
pytorch_resnet.make_resnet: the ResNet example), exported by torch.onnx.export (the TorchScript
exporter, opset 17, eval mode, batch dimension dynamic: what a deployment would ship; batch
norm is folded into the convolutions) and run by onnxruntime's CPU provider with every graph
optimization (ORT_ENABLE_ALL), intra_op_num_threads = the case's threads, inter_op 1,
sequential execution. Each call is run_with_iobinding on an input and an output bound once, so
that Python allocates nothing per call.

Timing is latency_bench's: per case BxT (batch B, T threads), warm-up calls for --warmup-ms,
then --reps chunks of the number of calls that fills about --chunk-ms; microseconds per call of
each chunk, the median reported. Inputs: Fashion-MNIST test images (a pool of batches cycled),
or a fixed pattern when the data is not found.

  onnxruntime_latency.py [--data DIR] [--nets sigmoid,relu,resnet] [--cases 1x1,8x1,64x1,1000x2]
                         [--reps 5] [--chunk-ms 200] [--warmup-ms 100] [--model-dir DIR] [--json]
"""

import argparse
import gzip
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

try:
    import numpy as np
    import onnxruntime as ort
    import torch
except ImportError as e:  # pragma: no cover
    sys.exit(f"onnxruntime_latency.py: cannot import {e.name} with {sys.executable}; run scripts/install-peer.sh "
             "(torch, numpy, onnx, onnxscript, onnxruntime in .venv-peer/) and use .venv-peer/bin/python")

import pytorch_lenet  # noqa: E402
import pytorch_resnet  # noqa: E402

DEFAULT_DATA = "/usr/share/datasets/fashion-mnist"


def make_net(name):
    torch.manual_seed(0)
    net = pytorch_resnet.make_resnet() if name == "resnet" else pytorch_lenet.make_lenet(name)
    return net.eval()


def export(name, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(make_net(name), (torch.zeros(1, 1, 28, 28),), path, dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})


def test_images(data):
    path = os.path.join(data, "t10k-images-idx3-ubyte.gz")
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
        return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(-1, 1, 28, 28).astype(np.float32) / 255, path
    except OSError:
        x = 0.5 + 0.5 * np.sin(0.37 * np.arange(64 * 28 * 28, dtype=np.float32))
        return x.reshape(64, 1, 28, 28), "a fixed pattern (Fashion-MNIST not found)"


def measure(session, batches, reps, chunk_ms, warmup_ms):
    """Median microseconds per call, and every chunk's."""
    out_shape = (batches[0].shape[0], session.get_outputs()[0].shape[1])
    bindings = []
    for x in batches:
        b = session.io_binding()
        b.bind_ortvalue_input("input", ort.OrtValue.ortvalue_from_numpy(x))
        b.bind_ortvalue_output("logits", ort.OrtValue.ortvalue_from_shape_and_type(out_shape, np.float32))
        bindings.append(b)
    k = 0
    calls, start = 0, time.perf_counter()
    while calls < 2 or (time.perf_counter() - start) * 1000 < warmup_ms:
        session.run_with_iobinding(bindings[k % len(bindings)])
        k += 1
        calls += 1
    per_call_ms = (time.perf_counter() - start) * 1000 / calls
    chunk = max(1, int(chunk_ms / per_call_ms))
    chunks = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(chunk):
            session.run_with_iobinding(bindings[k % len(bindings)])
            k += 1
        chunks.append((time.perf_counter() - t0) * 1e6 / chunk)
    return statistics.median(chunks), chunks, chunk


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=os.environ.get("HNN_DATA") or DEFAULT_DATA)
    p.add_argument("--nets", default="sigmoid,relu,resnet")
    p.add_argument("--cases", default="1x1,8x1,64x1,1000x2")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--chunk-ms", type=float, default=200)
    p.add_argument("--warmup-ms", type=float, default=100)
    p.add_argument("--model-dir", default=None, help="keep the exported .onnx files here (default: a temporary folder)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    nets = [n for n in args.nets.split(",") if n]
    for n in nets:
        if n not in ("sigmoid", "relu", "resnet"):
            p.error(f"--nets: unknown network {n}")
    cases = []
    for c in args.cases.split(","):
        b, _, t = c.partition("x")
        cases.append((int(b), int(t)))
    images, source = test_images(args.data)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.model_dir or tmp
        os.makedirs(folder, exist_ok=True)
        if not args.json:
            print(f"onnxruntime {ort.__version__} (torch {torch.__version__} exports), python {platform.python_version()}; "
                  f"inputs: {source}", flush=True)
        for net in nets:
            path = os.path.join(folder, f"{net}.onnx")
            export(net, path)
            for batch, threads in cases:
                options = ort.SessionOptions()
                options.intra_op_num_threads = threads
                options.inter_op_num_threads = 1
                options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
                options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
                count = 4 if batch >= 1000 else 16
                batches = [np.ascontiguousarray(np.take(images, np.arange(k * batch, (k + 1) * batch), axis=0, mode="wrap"))
                           for k in range(count)]
                med, chunks, per_chunk = measure(session, batches, args.reps, args.chunk_ms, args.warmup_ms)
                results.append({"net": net, "batch": batch, "threads": threads, "median_us": med,
                                "calls_per_chunk": per_chunk, "chunks_us": chunks})
                if not args.json:
                    print(f"{net:8s} batch {batch:5d}, {threads} thread{'s' if threads != 1 else ' '}: {med:10.1f} us per "
                          f"call (median of {args.reps} chunks of {per_chunk} calls; {1e6 * batch / med:.0f} images/sec)",
                          flush=True)
    if args.json:
        print(json.dumps({"program": "onnxruntime_latency", "onnxruntime": ort.__version__, "torch": torch.__version__,
                          "python": platform.python_version(), "inputs": source, "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
