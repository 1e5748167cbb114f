#!/usr/bin/env python3
"""PyTorch peer for hnn's LeNet-5 / Fashion-MNIST benchmarks.

Reproduces the d2l.ai LeNet chapter recipe exactly (network, Xavier-uniform
init, SGD lr 0.9, batch 256, 10 epochs, mean cross-entropy, reshuffle every
epoch, last partial batch kept, pixels x/255) and times it the way d2l does:
examples/sec counts only the training step (forward, loss, backward, optimizer
step), never the evaluation.

Data is read straight from the Fashion-MNIST gzip IDX files and held as
tensors on the target device for the whole run; batches are gathered by index
on the device, so no Python data loading is timed.

Execution (--exec, CPU): eager, channels-last (model and inputs in
torch.channels_last) and compile (torch.compile, inductor, static shapes); bench
mode takes a comma-separated list and measures each, from the same weights.

Modes:
  train  the full d2l run (default 10 epochs): per-epoch loss / train acc /
         test acc / examples/sec, then the d2l summary lines.
  bench  fixed number of training steps after warm-up (median over chunks) at
         batch 256, and inference images/sec at batch 1000 over random test
         batches; peak RSS (CPU) or peak allocated GPU memory (CUDA).

Works with torch 1.13 (Debian bookworm python3-torch) and torch 2.x.
Run `pytorch_lenet.py --help` for the options; see README.md next to it.
"""

import argparse
import gzip
import json
import os
import platform
import re
import resource
import statistics
import struct
import sys
import time

try:
    import torch
    from torch import nn
except ImportError as e:  # pragma: no cover
    sys.exit(f"pytorch_lenet.py: cannot import torch ({e}) with {sys.executable}.\n"
             "Install the peer with scripts/install-peer.sh (a venv in .venv-peer/ with "
             "PyTorch 2.x from PyPI) and run .venv-peer/bin/python, or pass an interpreter "
             "that has torch.")

EXECS = ("eager", "channels-last", "compile")
# The networks this script runs; a peer for another network (pytorch_resnet.py) imports this
# module and replaces VARIANTS, make_model, recipe and WEIGHT_DECAY before calling main().
VARIANTS = ("sigmoid", "relu")
WEIGHT_DECAY = 0.0

DEFAULT_DATA = "/usr/share/datasets/fashion-mnist"
FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


# --------------------------------------------------------------------------
# data


def read_idx_gz(path):
    """Read a gzip-compressed IDX file (ubyte payload) into a uint8 tensor."""
    with gzip.open(path, "rb") as f:
        raw = bytearray(f.read())
    if len(raw) < 4:
        raise ValueError(f"{path}: truncated IDX header")
    zero, dtype_code, ndim = struct.unpack(">HBB", bytes(raw[:4]))
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file "
                         f"(magic {bytes(raw[:4]).hex()})")
    dims = struct.unpack(">" + "I" * ndim, bytes(raw[4:4 + 4 * ndim]))
    offset = 4 + 4 * ndim
    count = 1
    for d in dims:
        count *= d
    if len(raw) - offset != count:
        raise ValueError(f"{path}: expected {count} bytes of data, "
                         f"got {len(raw) - offset}")
    # torch.frombuffer (torch >= 1.10) avoids needing numpy at all.
    return torch.frombuffer(raw, dtype=torch.uint8, count=count,
                            offset=offset).reshape(dims)


def load_fashion_mnist(data_dir, device):
    """Return (Xtr, ytr, Xte, yte) as tensors on `device`.

    Images are float32 (N, 1, 28, 28) scaled to [0, 1] (x/255, no
    normalisation); labels are int64.
    """
    arrays = {}
    for key, name in FILES.items():
        path = os.path.join(data_dir, name)
        if not os.path.exists(path):
            sys.exit(f"error: {path} not found (set --data or $HNN_DATA to the "
                     f"directory holding the Fashion-MNIST .gz IDX files)")
        arrays[key] = read_idx_gz(path)

    def images(a):
        # uint8 -> float32 once on the device, scaled in place (x/255).
        t = a.to(device).to(torch.float32)
        t.div_(255.0)
        return t.unsqueeze(1)  # (N, 1, 28, 28), contiguous

    def labels(a):
        return a.to(device).to(torch.int64)

    Xtr = images(arrays.pop("train_images"))
    ytr = labels(arrays["train_labels"])
    Xte = images(arrays.pop("test_images"))
    yte = labels(arrays["test_labels"])
    assert Xtr.shape == (60000, 1, 28, 28) and Xte.shape == (10000, 1, 28, 28)
    assert ytr.shape == (60000,) and yte.shape == (10000,)
    return Xtr, ytr, Xte, yte


# --------------------------------------------------------------------------
# model


def make_lenet(variant):
    if variant == "sigmoid":
        act, pool = nn.Sigmoid, nn.AvgPool2d
    elif variant == "relu":
        act, pool = nn.ReLU, nn.MaxPool2d
    else:
        raise ValueError(variant)
    net = nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), act(),
        pool(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), act(),
        pool(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), act(),
        nn.Linear(120, 84), act(),
        nn.Linear(84, 10))

    def init_weights(m):  # d2l: xavier_uniform_ on weights, default biases
        if type(m) in (nn.Linear, nn.Conv2d):
            nn.init.xavier_uniform_(m.weight)

    net.apply(init_weights)
    return net


make_model = make_lenet


# --------------------------------------------------------------------------
# helpers


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def cpu_model_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device):
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_model_name()


def rss_now_mb():
    """Current resident set size (VmRSS) in MiB, or None."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def peak_rss_mb():
    # ru_maxrss is in KiB on Linux (bytes on macOS).
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / (1024.0 * 1024.0) if sys.platform == "darwin" else r / 1024.0


def blas_info():
    """BLAS/LAPACK backend lines from torch.__config__.show()."""
    try:
        cfg = torch.__config__.show()
    except Exception:  # pragma: no cover
        return {}
    info = {}
    for key in ("BLAS_INFO", "LAPACK_INFO"):
        m = re.search(r"\b" + key + r"=([^,\s]+)", cfg)
        if m:
            info[key.lower()] = m.group(1)
    info["mkldnn"] = bool(getattr(torch.backends, "mkldnn", None)
                          and torch.backends.mkldnn.is_available())
    info["mkl"] = bool(torch.backends.mkl.is_available())
    info["openmp"] = bool(torch.backends.openmp.is_available())
    return info


def loaded_blas_libs():
    """Shared BLAS-ish libraries actually mapped into this process."""
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1] if len(line.split()) >= 6 else ""
                base = os.path.basename(path)
                if any(k in base for k in ("blas", "lapack", "mkl", "dnnl",
                                           "gomp", "iomp", "openblas")):
                    libs.add(os.path.realpath(path))
    except OSError:
        pass
    return sorted(libs)


def versions(device):
    v = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device_name": device_name(device),
        "num_threads": torch.get_num_threads(),
        "num_interop_threads": torch.get_num_interop_threads(),
    }
    if device.type == "cuda":
        v["cuda"] = torch.version.cuda
        v["cudnn"] = torch.backends.cudnn.version()
        v["cudnn_benchmark"] = bool(torch.backends.cudnn.benchmark)
    else:
        v["cpu_count"] = os.cpu_count()
        v["blas"] = blas_info()
        v["blas_libs_loaded"] = loaded_blas_libs()
    return v


def recipe(variant):
    """(lr, momentum): hnn's recipes exactly (examples/lenet5, tests/bench/lenet5_bench.cpp)."""
    return (0.9, 0.0) if variant == "sigmoid" else (0.05, 0.9)


def make_optimizer(net, args):
    return torch.optim.SGD(net.parameters(), lr=args.lr, momentum=args.momentum, weight_decay=WEIGHT_DECAY)


def apply_exec(net, exec_mode):
    """The model as `exec_mode` runs it, and the function that prepares an input."""
    if exec_mode == "eager":
        return net, lambda x: x
    if exec_mode == "channels-last":
        net = net.to(memory_format=torch.channels_last)
        return net, lambda x: x.contiguous(memory_format=torch.channels_last)
    if exec_mode == "compile":
        if not hasattr(torch, "compile"):
            raise RuntimeError(f"torch {torch.__version__} has no torch.compile")
        return torch.compile(net, dynamic=False), lambda x: x
    raise ValueError(exec_mode)


def train_step(net, loss_fn, opt, X, y):
    """One d2l training step; returns (summed loss, #correct) as tensors."""
    opt.zero_grad(set_to_none=True)
    y_hat = net(X)
    l = loss_fn(y_hat, y)
    l.backward()
    opt.step()
    with torch.no_grad():
        return (l.detach() * X.shape[0],
                (y_hat.argmax(dim=1) == y).sum())


def evaluate_accuracy(net, X, y, batch_size):
    net.eval()
    correct = torch.zeros((), dtype=torch.int64, device=X.device)
    with torch.inference_mode():
        for i in range(0, X.shape[0], batch_size):
            yh = net(X[i:i + batch_size])
            correct += (yh.argmax(dim=1) == y[i:i + batch_size]).sum()
    return correct.item() / X.shape[0]


# --------------------------------------------------------------------------
# modes


def run_train(args, device, net, data):
    Xtr, ytr, Xte, yte = data
    n = Xtr.shape[0]
    loss_fn = nn.CrossEntropyLoss()  # reduction='mean'
    opt = make_optimizer(net, args)
    gen = torch.Generator(device=device)
    gen.manual_seed(args.seed)
    eval_bs = args.eval_batch_size or args.batch_size

    epochs = []
    train_time_sum = 0.0
    examples_sum = 0
    sync(device)
    t_run0 = time.perf_counter()
    for epoch in range(args.epochs):
        t_ep0 = time.perf_counter()
        net.train()
        # Shuffle: draw a permutation on the device and gather the whole
        # epoch's batches with it up front (outside the timer), so that each
        # batch is a contiguous view. Last partial batch is kept.
        perm = torch.randperm(n, generator=gen, device=device)
        Xs, ys = Xtr.index_select(0, perm), ytr.index_select(0, perm)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), dtype=torch.int64, device=device)
        sync(device)
        t0 = time.perf_counter()
        for i in range(0, n, args.batch_size):
            l, c = train_step(net, loss_fn, opt,
                              Xs[i:i + args.batch_size],
                              ys[i:i + args.batch_size])
            loss_sum += l
            correct += c
        sync(device)
        t_train = time.perf_counter() - t0
        train_l = loss_sum.item() / n
        train_acc = correct.item() / n
        del Xs, ys
        test_acc = evaluate_accuracy(net, Xte, yte, eval_bs)
        sync(device)
        t_epoch = time.perf_counter() - t_ep0
        train_time_sum += t_train
        examples_sum += n
        rec = {
            "epoch": epoch + 1,
            "loss": train_l,
            "train_acc": train_acc,
            "test_acc": test_acc,
            "train_time_s": t_train,
            "epoch_time_s": t_epoch,
            "examples_per_sec": n / t_train,
        }
        epochs.append(rec)
        if not args.quiet:
            print(f"epoch {epoch + 1:2d}/{args.epochs}: loss {train_l:.3f}, "
                  f"train acc {train_acc:.3f}, test acc {test_acc:.3f}, "
                  f"{n / t_train:.1f} examples/sec "
                  f"(train {t_train:.2f} s, epoch {t_epoch:.2f} s)",
                  flush=True)
    wall = time.perf_counter() - t_run0

    last = epochs[-1]
    ex_per_sec = examples_sum / train_time_sum
    # d2l's two summary lines.
    print(f"loss {last['loss']:.3f}, train acc {last['train_acc']:.3f}, "
          f"test acc {last['test_acc']:.3f}")
    print(f"{ex_per_sec:.1f} examples/sec on {device}")
    print(f"total wall time {wall:.2f} s for {args.epochs} epochs "
          f"(training {train_time_sum:.2f} s, incl. evaluation; excl. "
          f"process start and data load)")
    return {
        "epoch_log": epochs,
        "loss": last["loss"],
        "train_acc": last["train_acc"],
        "test_acc": last["test_acc"],
        "examples_per_sec": ex_per_sec,
        "train_time_s": train_time_sum,
        "wall_time_s": wall,
        "eval_batch_size": eval_bs,
    }


def run_bench(args, device, net, data, exec_mode="eager"):
    Xtr, ytr, Xte, yte = data
    loss_fn = nn.CrossEntropyLoss()
    opt = make_optimizer(net, args)  # on the parameters, before compile wraps the module
    t_prep = time.perf_counter()
    net, prep = apply_exec(net, exec_mode)
    gen = torch.Generator(device=device)
    gen.manual_seed(args.seed)
    bs, ibs = args.batch_size, args.infer_batch_size
    reps = max(1, min(args.reps, args.steps))
    chunk = args.steps // reps

    # A pool of distinct random training batches, gathered before timing and
    # cycled through; avoids an extra full shuffled copy of the training set.
    pool_n = max(1, min(args.pool, Xtr.shape[0] // bs))
    idx = torch.randperm(Xtr.shape[0], generator=gen,
                         device=device)[:pool_n * bs]
    Xp, yp = Xtr.index_select(0, idx), ytr.index_select(0, idx)
    batches = [(prep(Xp[k * bs:(k + 1) * bs]), yp[k * bs:(k + 1) * bs])
               for k in range(pool_n)]

    net.train()
    step = 0
    warmup = max(args.warmup, 1) if exec_mode == "compile" else args.warmup
    for _ in range(warmup):
        X, y = batches[step % pool_n]
        train_step(net, loss_fn, opt, X, y)
        step += 1
    sync(device)
    warmup_s = time.perf_counter() - t_prep
    chunk_rates = []
    t_all = 0.0
    last_loss = None
    for r in range(reps):
        sync(device)
        t0 = time.perf_counter()
        for _ in range(chunk):
            X, y = batches[step % pool_n]
            l, _ = train_step(net, loss_fn, opt, X, y)
            step += 1
        sync(device)
        dt = time.perf_counter() - t0
        t_all += dt
        chunk_rates.append(chunk * bs / dt)
        last_loss = l.item() / bs
    train_med = statistics.median(chunk_rates)
    train_mean = reps * chunk * bs / t_all

    # Inference: random batches of the test set, batch 1000.
    net.eval()
    ipool = max(1, min(args.pool, Xte.shape[0] // ibs))
    iidx = torch.randperm(Xte.shape[0], generator=gen,
                          device=device)[:ipool * ibs]
    Xi = Xte.index_select(0, iidx)
    ibatches = [prep(Xi[k * ibs:(k + 1) * ibs]) for k in range(ipool)]
    ireps = max(1, min(args.reps, args.infer_steps))
    ichunk = args.infer_steps // ireps
    k = 0
    iwarmup = (max(args.infer_warmup, 1) if exec_mode == "compile"
               else args.infer_warmup)
    with torch.inference_mode():
        for _ in range(iwarmup):
            net(ibatches[k % ipool])
            k += 1
        sync(device)
        infer_rates = []
        ti_all = 0.0
        for r in range(ireps):
            sync(device)
            t0 = time.perf_counter()
            for _ in range(ichunk):
                out = net(ibatches[k % ipool])
                k += 1
            sync(device)
            dt = time.perf_counter() - t0
            ti_all += dt
            infer_rates.append(ichunk * ibs / dt)
        del out
    infer_med = statistics.median(infer_rates)
    infer_mean = ireps * ichunk * ibs / ti_all

    print(f"{args.variant} {exec_mode}, {torch.get_num_threads()} threads:")
    print(f"train: {train_med:.1f} examples/sec (median of {reps} chunks of "
          f"{chunk} steps, batch {bs}, after {args.warmup} warm-up steps; "
          f"mean {train_mean:.1f}) on {device}")
    print(f"infer: {infer_med:.1f} images/sec (median of {ireps} chunks of "
          f"{ichunk} batches, batch {ibs}, after {args.infer_warmup} warm-up; "
          f"mean {infer_mean:.1f}) on {device}")
    res = {
        "variant": args.variant,
        "exec": exec_mode,
        "lr": args.lr,
        "momentum": args.momentum,
        "threads": torch.get_num_threads(),
        "warmup_s": warmup_s,
        "train_examples_per_sec": train_med,
        "train_examples_per_sec_mean": train_mean,
        "train_chunk_rates": chunk_rates,
        "train_step_ms": 1000.0 * bs / train_med,
        "train_last_loss": last_loss,
        "infer_images_per_sec": infer_med,
        "infer_images_per_sec_mean": infer_mean,
        "infer_chunk_rates": infer_rates,
        "infer_batch_ms": 1000.0 * ibs / infer_med,
        "warmup": args.warmup,
        "steps": reps * chunk,
        "reps": reps,
        "infer_batch_size": ibs,
        "infer_warmup": args.infer_warmup,
        "infer_steps": ireps * ichunk,
        "pool_batches": pool_n,
    }
    if device.type == "cuda":
        res["cuda_max_memory_allocated_mb"] = (
            torch.cuda.max_memory_allocated(device) / 2**20)
    return res


# --------------------------------------------------------------------------


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="PyTorch LeNet-5 / Fashion-MNIST peer for hnn "
                    "(d2l.ai recipe; eager, channels-last or torch.compile).")
    p.add_argument("--data", default=os.environ.get("HNN_DATA") or DEFAULT_DATA,
                   help="directory with the Fashion-MNIST *-ubyte.gz files "
                        "(default: $HNN_DATA or %(default)s)")
    p.add_argument("--device", default="cpu",
                   help="cpu | cuda | cuda:N (default %(default)s)")
    p.add_argument("--threads", type=int, default=0,
                   help="torch.set_num_threads for CPU (default: torch's own)")
    p.add_argument("--interop-threads", type=int, default=1,
                   help="torch.set_num_interop_threads (default %(default)s)")
    p.add_argument("--variant", choices=VARIANTS + ("both",),
                   default=VARIANTS[0],
                   help="sigmoid+avgpool (d2l, lr 0.9) or relu+maxpool "
                        "(lr 0.05, momentum 0.9, as hnn's); both: bench only")
    p.add_argument("--exec", default=None,
                   help="eager, channels-last, compile, or a comma-separated "
                        "list (bench only); default: eager for train, all "
                        "three for bench")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=None,
                   help="SGD learning rate (default 0.9 sigmoid, 0.05 relu)")
    p.add_argument("--momentum", type=float, default=None,
                   help="SGD momentum (default 0 sigmoid, 0.9 relu)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mode", choices=("train", "bench"), default="train")
    p.add_argument("--eval-batch-size", type=int, default=0,
                   help="test-set batch in train mode (default: --batch-size, "
                        "as d2l)")
    p.add_argument("--warmup", type=int, default=20,
                   help="bench: untimed training steps first (compile: at "
                        "least 1)")
    p.add_argument("--steps", type=int, default=200,
                   help="bench: timed training steps (split into --reps "
                        "chunks)")
    p.add_argument("--reps", type=int, default=5,
                   help="bench: chunks; the median chunk rate is reported")
    p.add_argument("--infer-batch-size", type=int, default=1000)
    p.add_argument("--infer-warmup", type=int, default=5)
    p.add_argument("--infer-steps", type=int, default=50,
                   help="bench: timed inference batches (split into --reps "
                        "chunks)")
    p.add_argument("--pool", type=int, default=32,
                   help="bench: number of distinct pre-gathered random "
                        "batches cycled through")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object line with all figures at the "
                        "end")
    p.add_argument("--quiet", action="store_true",
                   help="no per-epoch lines")
    args = p.parse_args(argv)
    execs = args.exec or ("eager" if args.mode == "train" else ",".join(EXECS))
    args.execs = [e for e in execs.split(",") if e]
    for e in args.execs:
        if e not in EXECS:
            p.error(f"--exec: unknown mode '{e}' (choose from {', '.join(EXECS)})")
    if args.mode == "train" and (args.execs != ["eager"] or args.variant == "both"):
        p.error("train mode runs one --variant, eager only")
    args.variants = list(VARIANTS) if args.variant == "both" else [args.variant]
    args.lr_given, args.momentum_given = args.lr, args.momentum
    set_recipe(args, args.variants[0])
    return args


def set_recipe(args, variant):
    lr, momentum = recipe(variant)
    args.variant = variant
    args.lr = lr if args.lr_given is None else args.lr_given
    args.momentum = momentum if args.momentum_given is None else args.momentum_given


def main(argv=None):
    args = parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            sys.exit("error: --device cuda but torch.cuda.is_available() is "
                     "False")
        if device.index is not None:
            torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = True
    elif device.type != "cpu":
        sys.exit(f"error: unsupported device {args.device}")
    # Before any parallel work: the inter-op pool cannot be resized once used.
    if args.interop_threads > 0:
        torch.set_num_interop_threads(args.interop_threads)
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    rss_import = rss_now_mb()
    t0 = time.perf_counter()
    data = load_fashion_mnist(args.data, device)
    sync(device)
    t_load = time.perf_counter() - t0
    rss_data = rss_now_mb()

    ver = versions(device)
    if not args.quiet:
        print(f"torch {ver['torch']} python {ver['python']} | {args.mode} "
              f"{'+'.join(args.variants)} batch {args.batch_size} | device "
              f"{device} ({ver['device_name']}), threads "
              f"{ver['num_threads']} (inter-op {ver['num_interop_threads']}) "
              f"| data loaded in {t_load:.2f} s", flush=True)

    if args.mode == "train":
        torch.manual_seed(args.seed)
        net = make_model(args.variant).to(device)  # init on CPU RNG, then move
        res = run_train(args, device, net, data)
    else:
        runs = []
        for v in args.variants:
            for e in args.execs:
                set_recipe(args, v)
                torch.manual_seed(args.seed)
                net = make_model(v).to(device)
                try:
                    runs.append(run_bench(args, device, net, data, e))
                except Exception as err:  # e.g. torch.compile without a C++ compiler
                    print(f"{v} {e}: failed: {type(err).__name__}: {err}", flush=True)
                    runs.append({"variant": v, "exec": e, "error": f"{type(err).__name__}: {err}"})
                del net
        res = dict(runs[0]) if len(runs) == 1 else {}
        res["results"] = runs

    peak = peak_rss_mb()
    if device.type == "cpu":
        print(f"peak RSS {peak:.1f} MiB (after import {rss_import:.1f}, "
              f"after data load {rss_data:.1f})")

    out = {
        "peer": "pytorch",
        "mode": args.mode,
        "variant": args.variant,
        "device": str(device),
        "lr": args.lr,
        "momentum": args.momentum,
        "batch_size": args.batch_size,
        "epochs": args.epochs if args.mode == "train" else None,
        "seed": args.seed,
        "threads_requested": args.threads or None,
        "env_threads": {k: os.environ.get(k) for k in
                        ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                         "OPENBLAS_NUM_THREADS")},
        "data_dir": args.data,
        "data_load_s": t_load,
        "rss_after_import_mb": rss_import,
        "rss_after_data_mb": rss_data,
        "peak_rss_mb": peak,
        "host": platform.node(),
    }
    out.update(ver)
    out.update(res)
    if args.json:
        print(json.dumps(out, sort_keys=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
