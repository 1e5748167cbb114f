#!/usr/bin/env python3
"""hnn vs onnxruntime: inference latency on LeNet-5 (sigmoid, relu) and the ResNet example.

For each of --rounds rounds: build/latency_bench --json, then
tests/bench/peers/onnxruntime_latency.py --json (the same networks exported from PyTorch), each
over every case (batch x threads: 1x1, 8x1, 64x1 and 1000x2 by default). Both get the same
OMP_NUM_THREADS / MKL_NUM_THREADS / OPENBLAS_NUM_THREADS (the largest thread count of the
cases; each case then sets its own: hnn::set_num_threads, onnxruntime's intra_op_num_threads).
Each figure is the median over the rounds of each round's median chunk (microseconds per
call). `make bench-peers` runs this after compare_peers.py, with the interpreter of
scripts/install-peer.sh.

  compare_latency.py --hnn build/latency_bench [--python .venv-peer/bin/python] [--rounds 3]
                     [--nets sigmoid,relu,resnet] [--cases 1x1,8x1,64x1,1000x2] [--reps 5]
                     [--chunk-ms 200] [--warmup-ms 100] [--data DIR] [--json OUT] [--markdown OUT]
                     [-- extra latency_bench flags, e.g. --fusion off]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PEER = os.path.join(HERE, "peers", "onnxruntime_latency.py")
DEFAULT_PYTHON = os.path.join(ROOT, ".venv-peer", "bin", "python")
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def last_json_line(text, what):
    for line in reversed(text.splitlines()):
        if line.strip().startswith("{"):
            return json.loads(line)
    sys.exit(f"compare_latency: {what} printed no JSON line; its output was:\n{text}")


def run(cmd, what, env):
    print("$ " + " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    if proc.returncode != 0:
        sys.exit(f"compare_latency: {what} failed (exit {proc.returncode}):\n{proc.stdout}")
    return proc.stdout


def cpu_info():
    model, flags = "unknown CPU", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and model == "unknown CPU":
                    model = value.strip()
                elif key.strip() == "flags" and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    simd = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "SSE/AVX" if flags else "unknown"
    return model, simd


def load_average():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "unknown"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hnn", required=True, help="path to the latency_bench binary")
    p.add_argument("--python", default=DEFAULT_PYTHON, help="interpreter with torch, onnx and onnxruntime")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--nets", default="sigmoid,relu,resnet")
    p.add_argument("--cases", default="1x1,8x1,64x1,1000x2")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--chunk-ms", type=int, default=200)
    p.add_argument("--warmup-ms", type=int, default=100)
    p.add_argument("--data", default=None)
    p.add_argument("--json", default=None, help="also write every figure to this file")
    p.add_argument("--markdown", default=None, help="also write the table to this markdown file")
    p.add_argument("extra", nargs="*", help="extra latency_bench flags (after --)")
    args = p.parse_args()
    if not os.path.exists(args.hnn):
        sys.exit(f"compare_latency: {args.hnn} does not exist (cmake --build BUILD --target latency_bench)")
    shared = ["--nets", args.nets, "--cases", args.cases, "--reps", str(args.reps), "--chunk-ms", str(args.chunk_ms),
              "--warmup-ms", str(args.warmup_ms), "--json"] + (["--data", args.data] if args.data else [])
    most_threads = max(int(c.partition("x")[2]) for c in args.cases.split(",") if c)
    env = dict(os.environ, **{k: str(most_threads) for k in THREAD_VARS})
    model, simd = cpu_info()
    start_load = load_average()
    hnn_runs, peer_runs = {}, {}
    peer_meta = {}
    for rnd in range(args.rounds):
        print(f"\n--- round {rnd + 1}/{args.rounds}", flush=True)
        h = last_json_line(run([args.hnn] + shared + args.extra, "latency_bench", env), "latency_bench")
        for r in h["results"]:
            hnn_runs.setdefault((r["net"], r["batch"], r["threads"]), []).append(r["median_us"])
        o = last_json_line(run([args.python, PEER] + shared, "the onnxruntime peer", env), "the onnxruntime peer")
        peer_meta = {k: o.get(k) for k in ("onnxruntime", "torch", "python")}
        for r in o["results"]:
            peer_runs.setdefault((r["net"], r["batch"], r["threads"]), []).append(r["median_us"])
        time.sleep(1)
    rows = []
    for key in sorted(hnn_runs, key=lambda k: (args.nets.split(",").index(k[0]), k[2], k[1])):
        h, o = statistics.median(hnn_runs[key]), statistics.median(peer_runs.get(key, [float("nan")]))
        rows.append({"net": key[0], "batch": key[1], "threads": key[2], "hnn_us": h, "onnxruntime_us": o,
                     "hnn_rounds": hnn_runs[key], "onnxruntime_rounds": peer_runs.get(key, []),
                     "ratio": o / h})
    header = [f"hnn vs onnxruntime {peer_meta.get('onnxruntime')} (networks exported by torch "
              f"{peer_meta.get('torch')}), inference latency, microseconds per call",
              f"CPU: {model}, {os.cpu_count()} logical CPUs, SIMD: {simd}",
              f"median of {args.rounds} alternating rounds, each the median of {args.reps} chunks of ~{args.chunk_ms} ms; "
              f"load average {start_load} before, {load_average()} after",
              "ratio = onnxruntime / hnn (above 1: hnn is faster)"]
    cols = ["network", "batch", "threads", "hnn us", "onnxruntime us", "ratio"]
    body = [[r["net"], str(r["batch"]), str(r["threads"]), f"{r['hnn_us']:.1f}", f"{r['onnxruntime_us']:.1f}",
             f"{r['ratio']:.2f}x"] for r in rows]
    widths = [max(len(c), *(len(b[i]) for b in body)) for i, c in enumerate(cols)]
    print()
    for line in header:
        print(line)
    print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cols, widths))))
    for b in body:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(b, widths))))
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("<!-- written by tests/bench/compare_latency.py --markdown -->\n\n")
            f.write("".join(line + "  \n" for line in header) + "\n")
            f.write("| " + " | ".join(cols) + " |\n|" + "|".join("---" for _ in cols) + "|\n")
            f.write("".join("| " + " | ".join(b) + " |\n" for b in body))
        print(f"markdown written to {args.markdown}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"header": header, "rows": rows, "peer": peer_meta}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
