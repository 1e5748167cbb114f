#!/usr/bin/env python3
"""hnn vs PyTorch on LeNet-5 (or the ResNet example) / Fashion-MNIST, alternating, on this CPU.

For each of --rounds rounds and each thread count: build/lenet5_bench --json, then
tests/bench/peers/pytorch_lenet.py --mode bench --json (eager, channels-last and
torch.compile, one after the other in one process). Both processes get the same
OMP_NUM_THREADS / MKL_NUM_THREADS / OPENBLAS_NUM_THREADS; hnn gets --threads N, the peer
torch.set_num_threads(N) and torch.set_num_interop_threads(1). hnn's allocator asks for
transparent huge pages (Memory<cpu>); the peer runs twice per round, without and with
THP_MEM_ALLOC_ENABLE=1 (its modes marked +thp), which makes its CPU allocator do the same;
its best mode per row counts. On the ResNet that made the peer infer up to ~35% faster and
train from 20% slower to a few percent faster; on LeNet-5 it did not help the peer.
--peer-thp off|on runs one of the two. Every timing flag below goes to both. Each figure is the median over the rounds (each round's figure is itself the
median of --reps chunks); the peer's column is its fastest mode per row. `make bench-peers`
runs this with the interpreter of scripts/install-peer.sh (.venv-peer/).

  compare_peers.py --hnn build/lenet5_bench [--python .venv-peer/bin/python] [--threads 1,2] [--isa avx2]
                   [--variant both] [--exec eager,channels-last,compile] [--rounds 3]
                   [--steps 200] [--warmup 20] [--reps 5] [--infer-steps 50] [--infer-warmup 5]
                   [--pool 32] [--json OUT.json] [--markdown OUT.md] [-- extra lenet5_bench flags]

The recipes are hnn's on both sides: sigmoid lr 0.9, relu lr 0.05 with momentum 0.9.
--variant resnet measures the ResNet example's network instead (lenet5_bench --variant
resnet against tests/bench/peers/pytorch_resnet.py; SGD lr 0.1, momentum 0.9, weight decay
5e-4), e.g. compare_peers.py --hnn build/lenet5_bench --variant resnet --threads 2
--steps 30 --warmup 5 --infer-steps 10 --reps 3.
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
PEERS = {"lenet5": os.path.join(HERE, "peers", "pytorch_lenet.py"),
         "resnet": os.path.join(HERE, "peers", "pytorch_resnet.py")}
DEFAULT_PYTHON = os.path.join(ROOT, ".venv-peer", "bin", "python")
EXECS = ("eager", "channels-last", "compile")
TIMING = (("steps", 200, 1), ("warmup", 20, 0), ("reps", 5, 1), ("infer-steps", 50, 1),
          ("infer-warmup", 5, 0), ("pool", 32, 1))
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
# What keeps PyTorch's CPU code to AVX2 on an AVX-512 machine: oneDNN's convolutions, MKL's
# GEMMs, ATen's vectorised kernels and torch.compile's generated C++ (which follows ATen's).
PEER_AVX2 = {"ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}


def last_json_line(text, what):
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    sys.exit(f"compare_peers: {what} printed no JSON line; its output was:\n{text}")


def echo(out):
    """A program's output, without its (long) JSON line."""
    lines = [line for line in out.splitlines() if not line.lstrip().startswith("{")]
    print("\n".join(lines), flush=True)


def run(cmd, what, env):
    pinned = " ".join(f"{k}={env[k]}" for k in THREAD_VARS + ("THP_MEM_ALLOC_ENABLE",) if k in env)
    print(f"$ {pinned} " + " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    if proc.returncode != 0:
        sys.exit(f"compare_peers: {what} failed (exit {proc.returncode}):\n{proc.stdout}")
    return proc.stdout


def load_average():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "unknown"


def cpu_info():
    """(model name, SIMD width) from /proc/cpuinfo."""
    model, flags = "unknown CPU", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and model == "unknown CPU":
                    model = value.strip()
                elif key == "flags" and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    if "avx512f" in flags:
        simd = "AVX-512"
    elif "avx2" in flags:
        simd = "AVX2" + (" + FMA" if "fma" in flags else "")
    elif "avx" in flags:
        simd = "AVX"
    elif flags:
        simd = "SSE"
    else:
        simd = "unknown"
    return model, simd


def median(values):
    return statistics.median(values) if values else float("nan")


def positive_int(minimum):
    def parse(text):
        v = int(text)
        if v < minimum:
            raise argparse.ArgumentTypeError(f"expects an integer >= {minimum}, got {text}")
        return v
    return parse


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hnn", required=True, help="path to the lenet5_bench binary")
    p.add_argument("--python", default=DEFAULT_PYTHON,
                   help="interpreter with torch >= 2 (default %(default)s, made by scripts/install-peer.sh)")
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts (default %(default)s)")
    p.add_argument("--variant", default="both", choices=("sigmoid", "relu", "both", "resnet"),
                   help="LeNet-5's sigmoid, relu or both, or the ResNet example (default %(default)s)")
    p.add_argument("--exec", default=",".join(EXECS), help="the peer's modes (default %(default)s)")
    p.add_argument("--peer-thp", default="both", choices=("both", "off", "on"),
                   help="run the peer without and/or with THP_MEM_ALLOC_ENABLE=1 (default %(default)s)")
    p.add_argument("--rounds", type=positive_int(1), default=3,
                   help="hnn, peer, hnn, peer, ... rounds; medians are reported (default %(default)s)")
    for name, default, minimum in TIMING:
        p.add_argument("--" + name, type=positive_int(minimum), default=default,
                       help=f"passed to both programs (default {default})")
    p.add_argument("--isa", default="native", choices=("native", "avx2"),
                   help="native: each side runs its widest SIMD; avx2: the AVX2 comparison on an AVX-512 machine, "
                        "for an --hnn built with HNN_NATIVE_ISA=avx2 (8 floats a packet, which is checked); the "
                        "peer gets " + " ".join(f"{k}={v}" for k, v in PEER_AVX2.items()) + " (default %(default)s)")
    p.add_argument("--data", default=None, help="Fashion-MNIST folder (default: $HNN_DATA, then the Debian path)")
    p.add_argument("--json", default=None, help="also write every figure to this file")
    p.add_argument("--markdown", default=None, help="also write the header and tables to this markdown file")
    p.add_argument("extra", nargs="*", help="extra lenet5_bench flags (after --), not timing flags")
    args = p.parse_args()

    timing_names = {"--" + name for name, _, _ in TIMING}
    for flag in args.extra:
        if flag in timing_names or flag == "--threads":
            sys.exit(f"compare_peers: pass {flag} to compare_peers itself (before --): it applies to both sides")
    if not os.path.exists(args.python) and os.sep in args.python:
        sys.exit(f"compare_peers: {args.python} does not exist; run scripts/install-peer.sh "
                 "(or `make bench-peers`, which runs it) or pass --python / PYTHON=... with torch >= 2")
    probe = subprocess.run([args.python, "-c", "import torch; print(torch.__version__)"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if probe.returncode != 0:
        sys.exit(f"compare_peers: {args.python} cannot import torch; run scripts/install-peer.sh (a venv with "
                 "PyTorch 2.x from PyPI in .venv-peer/) or pass --python / PYTHON=... with torch >= 2:\n"
                 + probe.stdout)
    torch_version = probe.stdout.strip().splitlines()[-1]
    threads = [int(t) for t in args.threads.split(",") if t]
    variants = ["sigmoid", "relu"] if args.variant == "both" else [args.variant]
    network = "resnet" if args.variant == "resnet" else "lenet5"
    peer_script = PEERS[network]
    execs = [e for e in args.exec.split(",") if e]
    for e in execs:
        if e not in EXECS:
            sys.exit(f"compare_peers: --exec: unknown mode {e} (choose from {', '.join(EXECS)})")
    thp_suffixes = {"both": ["", "+thp"], "off": [""], "on": ["+thp"]}[args.peer_thp]
    modes = [e + suffix for suffix in thp_suffixes for e in execs]  # the peer's columns
    timing = []
    for name, _, _ in TIMING:
        timing += ["--" + name, str(getattr(args, name.replace("-", "_")))]
    data = ["--data", args.data] if args.data else []

    model, simd = cpu_info()
    start_load = load_average()
    hnn_runs = {}    # (variant, threads) -> [result per round]
    peer_runs = {}   # (variant, threads, exec) -> [result per round]
    hnn_meta, peer_meta = {}, {}
    for rnd in range(args.rounds):
        for t in threads:
            env = dict(os.environ)
            for k in THREAD_VARS:
                env[k] = str(t)
            if args.isa == "avx2":
                env.update(PEER_AVX2)
            print(f"\n--- round {rnd + 1}/{args.rounds}, {t} thread{'s' if t != 1 else ''}", flush=True)
            cmd = [args.hnn, "--json", "--threads", str(t), "--variant", args.variant] + timing + data + args.extra
            if rnd > 0:
                cmd.append("--no-ceiling")
            out = run(cmd, "lenet5_bench", env)
            echo(out)
            h = last_json_line(out, "lenet5_bench")
            if args.isa == "avx2" and h.get("simd_floats") != 8:
                sys.exit(f"compare_peers: --isa avx2 needs an hnn built with HNN_NATIVE_ISA=avx2 (8 floats a "
                         f"packet); {args.hnn} runs {h.get('simd_floats')}")
            if rnd == 0:
                hnn_meta.setdefault("ceiling_gflops", {}).update(h.get("ceiling_gflops", {}))
                hnn_meta["cpu"] = h.get("cpu")
                hnn_meta.setdefault("peak_rss_mb", {})[t] = h.get("peak_rss_mb")
            for r in h["results"]:
                hnn_runs.setdefault((r["variant"], r["threads"]), []).append(r)

            cmd = [args.python, peer_script, "--mode", "bench", "--device", "cpu", "--threads", str(t),
                   "--interop-threads", "1", "--variant", args.variant, "--exec", ",".join(execs),
                   "--json", "--quiet"] + timing + data
            for suffix in thp_suffixes:
                peer_env = dict(env, THP_MEM_ALLOC_ENABLE="1") if suffix else env  # huge pages, as hnn's allocator
                out = run(cmd, f"the PyTorch peer ({t} threads)", peer_env)
                echo(out)
                pt = last_json_line(out, "the PyTorch peer")
                if pt.get("num_threads") != t or pt.get("num_interop_threads") != 1:
                    sys.exit(f"compare_peers: the peer runs {pt.get('num_threads')} intra-op / "
                             f"{pt.get('num_interop_threads')} inter-op threads, asked for {t} / 1")
                peer_meta = {k: pt.get(k) for k in ("torch", "python", "blas", "blas_libs_loaded")}
                for r in pt["results"]:
                    peer_runs.setdefault((r["variant"], t, r["exec"] + suffix), []).append(r)
            time.sleep(1)
    end_load = load_average()

    def peer_median(v, t, e, key):
        vals = [r[key] for r in peer_runs.get((v, t, e), []) if "error" not in r]
        return median(vals)

    rows = []
    for v in variants:
        for t in threads:
            hr = hnn_runs.get((v, t), [])
            row = {"variant": v, "threads": t,
                   "hnn_train": median([r["train_examples_per_sec"] for r in hr]),
                   "hnn_infer": median([r["infer_images_per_sec"] for r in hr]),
                   "hnn_train_rounds": [r["train_examples_per_sec"] for r in hr],
                   "hnn_infer_rounds": [r["infer_images_per_sec"] for r in hr],
                   "peer": {}}
            for e in modes:
                runs = peer_runs.get((v, t, e), [])
                row["peer"][e] = {
                    "train": peer_median(v, t, e, "train_examples_per_sec"),
                    "infer": peer_median(v, t, e, "infer_images_per_sec"),
                    "train_rounds": [r.get("train_examples_per_sec") for r in runs],
                    "infer_rounds": [r.get("infer_images_per_sec") for r in runs],
                    "errors": [r["error"] for r in runs if "error" in r],
                }
            ok = [e for e in modes if row["peer"][e]["train"] == row["peer"][e]["train"]]  # not NaN
            if not ok:
                sys.exit(f"compare_peers: every peer mode failed for {v}, {t} threads")
            row["peer_train_mode"] = max(ok, key=lambda e: row["peer"][e]["train"])
            row["peer_infer_mode"] = max(ok, key=lambda e: row["peer"][e]["infer"])
            row["peer_train"] = row["peer"][row["peer_train_mode"]]["train"]
            row["peer_infer"] = row["peer"][row["peer_infer_mode"]]["infer"]
            row["train_ratio"] = row["hnn_train"] / row["peer_train"]
            row["infer_ratio"] = row["hnn_infer"] / row["peer_infer"]
            rows.append(row)

    ceiling = hnn_meta.get("ceiling_gflops", {})
    header = [
        f"hnn vs PyTorch {torch_version} (python {peer_meta.get('python', '?')}), "
        f"{'the ResNet example' if network == 'resnet' else 'LeNet-5'} on Fashion-MNIST, CPU",
        f"CPU: {model}, {os.cpu_count()} logical CPUs, SIMD: {simd}"
        + ("; both sides kept to AVX2 (hnn built with HNN_NATIVE_ISA=avx2; the peer with "
           + ", ".join(f"{k}={v}" for k, v in PEER_AVX2.items()) + ")" if args.isa == "avx2" else ""),
        "hnn FP32 GEMM ceiling: " + (", ".join(f"{k} thread(s) {g:.0f} GFLOP/s" for k, g in ceiling.items())
                                     if ceiling else "not measured"),
        ("recipe: SGD lr 0.1, momentum 0.9, weight decay 5e-4" if network == "resnet"
         else "recipes: sigmoid lr 0.9; relu lr 0.05, momentum 0.9") + "; training batch 256, inference batch 1000",
        f"timing (both sides): {args.warmup} warm-up + {args.steps} steps in {args.reps} chunks, "
        f"{args.infer_warmup} + {args.infer_steps} inference batches; median of {args.rounds} alternating rounds "
        f"(hnn, peer, hnn, peer, ...)",
        f"threads pinned: {', '.join(THREAD_VARS)} = N for both, hnn --threads N, "
        f"torch.set_num_threads(N), torch.set_num_interop_threads(1)",
        "huge pages: hnn's allocator (2 MB and larger buffers); the peer "
        + {"both": "without and with THP_MEM_ALLOC_ENABLE=1 (modes +thp), its best per row",
           "off": "without THP_MEM_ALLOC_ENABLE", "on": "with THP_MEM_ALLOC_ENABLE=1"}[args.peer_thp],
        f"load average: {start_load} before, {end_load} after",
    ]
    cols = ["variant", "threads", "train ex/s hnn", "best peer (mode)", "ratio",
            "infer img/s hnn", "best peer (mode)", "ratio"]
    table = []
    for row in rows:
        table.append([row["variant"], str(row["threads"]), f"{row['hnn_train']:.0f}",
                      f"{row['peer_train']:.0f} ({row['peer_train_mode']})", f"{row['train_ratio']:.2f}x",
                      f"{row['hnn_infer']:.0f}", f"{row['peer_infer']:.0f} ({row['peer_infer_mode']})",
                      f"{row['infer_ratio']:.2f}x"])
    mode_cols = ["variant", "threads"] + [f"train {e}" for e in modes] + [f"infer {e}" for e in modes]
    mode_table = []
    for row in rows:
        mode_table.append([row["variant"], str(row["threads"])]
                          + [f"{row['peer'][e]['train']:.0f}" for e in modes]
                          + [f"{row['peer'][e]['infer']:.0f}" for e in modes])
    scaling = []
    for v in variants:
        by_t = {row["threads"]: row for row in rows if row["variant"] == v}
        if 1 in by_t and 2 in by_t:
            scaling.append(f"{v}: training, 2 threads / 1 thread: hnn {by_t[2]['hnn_train'] / by_t[1]['hnn_train']:.2f}x, "
                           f"PyTorch (best mode) {by_t[2]['peer_train'] / by_t[1]['peer_train']:.2f}x")
    errors = sorted({f"{row['variant']} {row['threads']}t {e}: {msg}" for row in rows for e in modes
                     for msg in row["peer"][e]["errors"]})

    def text_table(columns, body):
        widths = [max(len(c), *(len(r[i]) for r in body)) for i, c in enumerate(columns)]
        fmt = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w)  # noqa: E731
                                      for i, (c, w) in enumerate(zip(cells, widths)))
        return [fmt(columns), "-" * len(fmt(columns))] + [fmt(r) for r in body]

    def md_table(columns, body):
        return (["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
                + ["| " + " | ".join(r) + " |" for r in body])

    print()
    for line in header:
        print(line)
    print()
    print("\n".join(text_table(cols, table)))
    for line in scaling:
        print(line)
    print("\nPyTorch, every mode (medians over the rounds):")
    print("\n".join(text_table(mode_cols, mode_table)))
    for e in errors:
        print(f"peer mode failed: {e}")
    print("\nhnn per round, training:", ", ".join(
        f"{row['variant']}/{row['threads']}: " + " ".join(f"{x:.0f}" for x in row["hnn_train_rounds"]) for row in rows))

    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("\n".join(["<!-- written by tests/bench/compare_peers.py --markdown -->", ""]
                              + [line + "  " for line in header] + [""] + md_table(cols, table) + [""]
                              + [line + "  " for line in scaling] + ["", "PyTorch, every mode:", ""]
                              + md_table(mode_cols, mode_table) + [""]
                              + [f"peer mode failed: {e}  " for e in errors]) + "\n")
        print(f"markdown written to {args.markdown}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"header": header, "rows": rows, "hnn_meta": hnn_meta, "peer_meta": peer_meta,
                       "hnn_runs": {f"{v}/{t}": r for (v, t), r in hnn_runs.items()},
                       "peer_runs": {f"{v}/{t}/{e}": r for (v, t, e), r in peer_runs.items()},
                       "load_average_start": start_load, "load_average_end": end_load}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
