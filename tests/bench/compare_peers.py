#!/usr/bin/env python3
"""hnn vs PyTorch on LeNet-5 / Fashion-MNIST, one after the other, on this CPU.

Runs build/lenet5_bench --json, then tests/bench/peers/pytorch_lenet.py --mode bench --json
for each variant and thread count, and prints every figure side by side with the ratio
hnn / PyTorch. `make bench-peers` runs it; it needs only the Python standard library (and
torch for the peer, in the interpreter given by --python, Debian's /usr/bin/python3 by
default).

  compare_peers.py --hnn build/lenet5_bench [--threads 1,2] [--variant both]
                   [--python /usr/bin/python3] [--json OUT.json] [-- extra lenet5_bench flags]

Both programs time the same thing: after warm-up steps, training steps (forward, loss,
backward, SGD update) on pre-gathered random batches of 256, median of 5 chunks; then
inference at batch 1000. The peer's relu recipe is lr 0.1 without momentum, hnn's is lr
0.05 with momentum 0.9 (one more pass over the 61,706 parameters per step); the sigmoid
recipes are identical.
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.path.join(HERE, "peers", "pytorch_lenet.py")


def last_json_line(text, what):
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    sys.exit(f"compare_peers: {what} printed no JSON line; its output was:\n{text}")


def run(cmd, what):
    print("$ " + " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        sys.exit(f"compare_peers: {what} failed (exit {proc.returncode}):\n{proc.stdout}")
    return proc.stdout


def load_average():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "unknown"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hnn", required=True, help="path to the lenet5_bench binary")
    p.add_argument("--python", default="/usr/bin/python3", help="interpreter with torch (default %(default)s)")
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts (default %(default)s)")
    p.add_argument("--variant", default="both", choices=("sigmoid", "relu", "both"))
    p.add_argument("--data", default=None, help="Fashion-MNIST folder (default: $HNN_DATA, then the Debian path)")
    p.add_argument("--json", default=None, help="also write every figure to this file")
    p.add_argument("extra", nargs="*", help="extra lenet5_bench flags (after --)")
    args = p.parse_args()

    probe = subprocess.run([args.python, "-c", "import torch"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if probe.returncode != 0:
        sys.exit(f"compare_peers: {args.python} cannot import torch; on Debian: "
                 "apt-get install python3-torch libopenblas0-pthread (or pass PYTHON=/path/to/python with torch)")
    threads = [int(t) for t in args.threads.split(",") if t]
    variants = ["sigmoid", "relu"] if args.variant == "both" else [args.variant]
    start_load = load_average()

    hnn_cmd = [args.hnn, "--json", "--threads", args.threads, "--variant", args.variant] + args.extra
    if args.data:
        hnn_cmd += ["--data", args.data]
    hnn_out = run(hnn_cmd, "lenet5_bench")
    print(hnn_out, end="" if hnn_out.endswith("\n") else "\n", flush=True)
    hnn = last_json_line(hnn_out, "lenet5_bench")

    torch_results = {}
    for v in variants:
        for t in threads:
            cmd = [args.python, PEER, "--mode", "bench", "--device", "cpu", "--threads", str(t), "--variant", v,
                   "--json", "--quiet"]
            if args.data:
                cmd += ["--data", args.data]
            out = run(cmd, f"the PyTorch peer ({v}, {t} threads)")
            torch_results[(v, t)] = last_json_line(out, "the PyTorch peer")
            time.sleep(1)
    end_load = load_average()

    some_torch = next(iter(torch_results.values()))
    print()
    print(f"hnn vs PyTorch {some_torch.get('torch', '?')} (python {some_torch.get('python', '?')}), "
          f"LeNet-5 on Fashion-MNIST, {hnn.get('cpu', '?')}")
    print(f"load average: {start_load} before, {end_load} after")
    header = (f"{'variant':8} {'threads':>7} | {'train ex/s hnn':>14} {'PyTorch':>9} {'ratio':>6} | "
              f"{'infer img/s hnn':>15} {'PyTorch':>9} {'ratio':>6} | {'peak RSS MiB hnn':>16} {'PyTorch':>8}")
    print(header)
    print("-" * len(header))
    rows = []
    for r in hnn["results"]:
        key = (r["variant"], r["threads"])
        if key not in torch_results:
            continue
        pt = torch_results[key]
        row = {
            "variant": r["variant"], "threads": r["threads"],
            "hnn_train": r["train_examples_per_sec"], "torch_train": pt["train_examples_per_sec"],
            "hnn_infer": r["infer_images_per_sec"], "torch_infer": pt["infer_images_per_sec"],
            "hnn_train_chunks": r["train_chunk_rates"], "torch_train_chunks": pt["train_chunk_rates"],
            "hnn_peak_rss_mb": hnn["peak_rss_mb"], "torch_peak_rss_mb": pt["peak_rss_mb"],
        }
        row["train_ratio"] = row["hnn_train"] / row["torch_train"]
        row["infer_ratio"] = row["hnn_infer"] / row["torch_infer"]
        rows.append(row)
        print(f"{row['variant']:8} {row['threads']:>7} | {row['hnn_train']:>14.0f} {row['torch_train']:>9.0f} "
              f"{row['train_ratio']:>5.2f}x | {row['hnn_infer']:>15.0f} {row['torch_infer']:>9.0f} "
              f"{row['infer_ratio']:>5.2f}x | {row['hnn_peak_rss_mb']:>16.0f} {row['torch_peak_rss_mb']:>8.0f}")
    for v in variants:
        by_t = {row["threads"]: row for row in rows if row["variant"] == v}
        if 1 in by_t and 2 in by_t:
            print(f"{v}: 2 threads / 1 thread, training: hnn {by_t[2]['hnn_train'] / by_t[1]['hnn_train']:.2f}x, "
                  f"PyTorch {by_t[2]['torch_train'] / by_t[1]['torch_train']:.2f}x")
    print("hnn peak RSS is for the whole benchmark process (both variants, all thread counts, the data as float32);"
          " PyTorch's is per run.")
    blas = some_torch.get("blas_libs_loaded") or some_torch.get("blas") or ""
    if blas:
        print(f"PyTorch BLAS: {blas}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"hnn": hnn, "pytorch": {f"{v}/{t}": r for (v, t), r in torch_results.items()}, "rows": rows,
                       "load_average_start": start_load, "load_average_end": end_load}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
