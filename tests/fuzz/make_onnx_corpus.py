#!/usr/bin/env python3
"""Regenerates tests/fuzz/onnx_corpus/: small ONNX models (each under the fuzz stage's
-max_len of 4096 bytes) that seed tests/fuzz/onnx_fuzzer.cpp -- every operator form hnn's
reader turns into a layer, as PyTorch's two exporters write them, and a few edge-* files that
it refuses (a cycle, a missing initializer, a 2 GB claim). The output is the same every time.

Run with any Python that has the onnx package (the peer's: scripts/install-peer.sh):
  .venv-peer/bin/python tests/fuzz/make_onnx_corpus.py
"""

import os
import shutil

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "onnx_corpus")


def weights(name, *shape, seed=0):
    values = np.sin(np.arange(int(np.prod(shape)), dtype=np.float32) * 0.7 + seed).reshape(shape)
    return numpy_helper.from_array(values.astype(np.float32), name)


def ints(name, values):
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


def model(name, nodes, inits, in_shape, out_shape=None, opset=13):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)
    graph = helper.make_graph(nodes, name, [x], [y], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="hnn-corpus")
    m.ir_version = 8 if opset >= 15 else 7
    data = m.SerializeToString()
    assert len(data) < 4096, (name, len(data))
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    N = "N"
    n = helper.make_node
    # LeNet's shape in miniature: conv, sigmoid, average pool, flatten, gemm (TorchScript style).
    model("lenet-torchscript", [
        n("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1], dilations=[1, 1], group=1),
        n("Sigmoid", ["c"], ["s"]),
        n("AveragePool", ["s"], ["p"], kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 0, 0], ceil_mode=0,
          count_include_pad=1),
        n("Flatten", ["p"], ["f"], axis=1),
        n("Gemm", ["f", "fc.w", "fc.b"], ["y"], alpha=1.0, beta=1.0, transB=1)],
        [weights("w", 2, 1, 3, 3), weights("b", 2), weights("fc.w", 3, 8), weights("fc.b", 3)], [N, 1, 4, 4], [N, 3])
    # The same, as the dynamo exporter writes it: a Reshape to (-1, features), allowzero.
    model("lenet-dynamo", [
        n("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], auto_pad="NOTSET"),
        n("Relu", ["c"], ["s"]),
        n("MaxPool", ["s"], ["p"], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=0),
        n("Reshape", ["p", "shape"], ["f"], allowzero=1),
        n("Gemm", ["f", "fc.w", "fc.b"], ["y"], transA=0, transB=1)],
        [weights("w", 2, 1, 3, 3), weights("b", 2), ints("shape", [-1, 8]), weights("fc.w", 3, 8), weights("fc.b", 3)],
        [N, 1, 4, 4], [N, 3], opset=18)
    # A residual block with batch norm, identity shortcut, then global average pooling.
    model("residual-identity", [
        n("Conv", ["x", "w1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        n("BatchNormalization", ["c1", "g", "beta", "mean", "var"], ["b1"], epsilon=1e-5, momentum=0.9),
        n("Relu", ["b1"], ["r1"]),
        n("Add", ["r1", "x"], ["a"]),
        n("Relu", ["a"], ["r"]),
        n("GlobalAveragePool", ["r"], ["g1"]),
        n("Flatten", ["g1"], ["y"])],
        [weights("w1", 2, 2, 3, 3), weights("g", 2, seed=1), weights("beta", 2, seed=2), weights("mean", 2, seed=3),
         numpy_helper.from_array(np.array([0.5, 2.0], dtype=np.float32), "var")], [N, 2, 3, 3], [N, 2])
    # A projection shortcut, and the mean over H and W as the dynamo exporter writes it.
    model("residual-projection", [
        n("Conv", ["x", "w1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2]),
        n("Conv", ["x", "ws"], ["cs"], kernel_shape=[1, 1], strides=[2, 2]),
        n("Add", ["c1", "cs"], ["a"]),
        n("ReduceMean", ["a", "axes"], ["m"], keepdims=1),
        n("Reshape", ["m", "shape"], ["y"], allowzero=1)],
        [weights("w1", 3, 2, 3, 3), weights("ws", 3, 2, 1, 1), ints("axes", [-1, -2]), ints("shape", [-1, 3])],
        [N, 2, 4, 4], [N, 3], opset=18)
    # Linear as MatMul + Add, weights through Identity and Constant, Tanh, Dropout (opset 12+).
    model("matmul-constants", [
        n("Identity", ["w"], ["w2"]),
        n("Constant", [], ["bias"], value=weights("bias", 3)),
        n("Constant", [], ["ratio"], value_float=0.25),
        n("MatMul", ["x", "w2"], ["m"]),
        n("Add", ["m", "bias"], ["a"]),
        n("Tanh", ["a"], ["t"]),
        n("Dropout", ["t", "ratio"], ["y"])],
        [weights("w", 4, 3)], [N, 4], [N, 3])
    # Padded pooling and a batch norm over (N, C): BatchNorm1d.
    model("pool-padded-bn1d", [
        n("AveragePool", ["x"], ["p"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1),
        n("MaxPool", ["p"], ["q"], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1]),
        n("Flatten", ["q"], ["f"]),
        n("BatchNormalization", ["f", "g", "beta", "mean", "var"], ["y"], epsilon=1e-3)],
        [weights("g", 8), weights("beta", 8), weights("mean", 8),
         numpy_helper.from_array(np.full(8, 0.75, dtype=np.float32), "var")], [N, 2, 3, 3], [N, 8])
    # Nested residual blocks.
    model("residual-nested", [
        n("Relu", ["x"], ["r"]),
        n("Conv", ["r", "w"], ["c"], kernel_shape=[1, 1]),
        n("Add", ["c", "r"], ["inner"]),
        n("Add", ["inner", "x"], ["y"])],
        [weights("w", 2, 2, 1, 1)], [N, 2, 2, 2], [N, 2, 2, 2])
    # Refused ones: a cycle, a missing initializer, a claim of 2 GB of floats.
    model("edge-cycle", [n("Relu", ["y"], ["a"]), n("Sigmoid", ["a"], ["y"])], [], [N, 4], [N, 4])
    model("edge-missing-initializer", [n("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3])], [], [N, 1, 4, 4])
    big = weights("w", 2, 1, 3, 3)
    big.dims[0] = 1 << 27
    model("edge-claim-2gb", [n("Conv", ["x", "w"], ["y"])], [big], [N, 1, 4, 4])
    for f in sorted(os.listdir(OUT)):
        print(f"{os.path.getsize(os.path.join(OUT, f)):5d}  {f}")


if __name__ == "__main__":
    main()
