#!/usr/bin/env bash
# An example program other than lenet5 (lenet5_bn, resnet) end to end on the committed slice
# of Fashion-MNIST: it trains one epoch and saves, resumes to a second epoch, predicts the
# first test image from the checkpoint, and refuses bad flags with exit status 2 and one line on
# stderr naming the flag. (lenet5 itself has run_cli_tests.sh and its own end-to-end tests.)
#
# Usage: tests/cli/run_example_tests.sh PROGRAM [SLICE_DIR]
# Environment: HNN_SLICE_IMAGES=N uses only the slice's first N images (N < 1000), for a
# network whose two epochs on all 1000 would take minutes (googlenet).
set -euo pipefail

program="${1:?usage: run_example_tests.sh PROGRAM [SLICE_DIR]}"
slice="${2:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../../data/fashion-mnist}"
name="$(basename "$program")"
[[ -x "$program" ]] || { echo "$name: $program is not an executable; build it first" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/hnn-example.XXXXXX")"
trap 'rm -rf "$work"' EXIT
data="$work/data"
mkdir -p "$data"
# first_images KIND N: the slice's IDX file KIND (images-idx3 or labels-idx1) cut to its first N
# items, gzipped on stdout: the magic, the count N as 4 big-endian bytes, the rest of the
# header (images: rows and columns), then N items.
first_images() {
  local kind=$1 n=$2 header=8 item=1
  if [[ $kind == images-idx3 ]]; then header=16 item=784; fi
  gzip -dc "$slice/t10k-$kind-ubyte.gz" >"$work/$kind.raw"
  {
    head -c 4 "$work/$kind.raw"
    printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' $((n >> 24 & 255)) $((n >> 16 & 255)) $((n >> 8 & 255)) $((n & 255)))"
    head -c $((header + n * item)) "$work/$kind.raw" | tail -c +9
  } | gzip -c
}
for kind in images-idx3 labels-idx1; do  # the 1000-image slice (or its first N) as both splits
  if [[ -n "${HNN_SLICE_IMAGES:-}" ]]; then
    first_images "$kind" "$HNN_SLICE_IMAGES" >"$data/train-$kind-ubyte.gz"
  else
    cp "$slice/t10k-$kind-ubyte.gz" "$data/train-$kind-ubyte.gz"
  fi
  cp "$data/train-$kind-ubyte.gz" "$data/t10k-$kind-ubyte.gz"
done

failures=0
fail() { echo "FAIL $name: $*" >&2; failures=$((failures + 1)); }

# expect STATUS PATTERN ARGS...: the exit status, and PATTERN in stdout+stderr.
expect() {
  local want="$1" pattern="$2" status=0
  shift 2
  "$program" "$@" >"$work/out" 2>"$work/err" || status=$?
  if [[ $status -ne $want ]]; then
    fail "$* exited $status, expected $want: $(tail -n 3 "$work/err")"
  elif ! grep -q -- "$pattern" "$work/out" "$work/err"; then
    fail "$* did not print '$pattern': $(tail -n 3 "$work/out" "$work/err")"
  elif [[ $want -eq 2 && $(wc -l <"$work/err") -ne 1 ]]; then
    fail "$* wrote $(wc -l <"$work/err") lines on stderr, expected 1"
  else
    echo "ok   $name $*"
  fi
}

ckpt="$work/model.hnn"
expect 0 "usage: $name" --help
expect 0 "^epoch  1: " --epochs 1 --seed 3 --threads 2 --data "$data" --save "$ckpt" --history "$work/h.csv"
expect 0 "resuming from $ckpt after epoch 1" --epochs 2 --threads 2 --data "$data" --resume "$ckpt" --save "$ckpt"
expect 1 "missing.hnn" --epochs 2 --data "$data" --resume "$work/missing.hnn"
[[ $(wc -l <"$work/h.csv") -eq 2 ]] || fail "the history after one epoch has $(wc -l <"$work/h.csv") lines, expected 2"
# The slice's first image as a PGM file (header, then its 784 bytes after the IDX header).
gzip -dc "$slice/t10k-images-idx3-ubyte.gz" >"$work/images"
{ printf 'P5\n28 28\n255\n'; dd if="$work/images" bs=1 skip=16 count=784 2>/dev/null; } >"$work/first.pgm"
expect 0 "first.pgm (28x28" predict --model "$ckpt" "$work/first.pgm"
expect 1 "missing.pgm" predict --model "$ckpt" "$work/missing.pgm"
expect 2 "--optimizer" --optimizer bogus --data "$data"
expect 2 "--epochs" --epochs 0 --data "$data"
expect 2 "unknown flag --variant" --variant relu --data "$data"

if [[ $failures -ne 0 ]]; then
  echo "$name: $failures case(s) failed" >&2
  exit 1
fi
echo "$name: all cases passed"
