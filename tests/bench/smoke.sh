#!/usr/bin/env bash
# lenet5_bench for a few steps, so that the benchmark keeps building and running (no timing
# claim: the figures are only checked to be finite and positive). The data folder is the
# committed slice of Fashion-MNIST as both the train and the test split, in a temp dir.
#
# Usage: tests/bench/smoke.sh LENET5_BENCH [SLICE_DIR]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bench="${1:?usage: smoke.sh LENET5_BENCH [SLICE_DIR]}"
slice="${2:-$here/../../data/fashion-mnist}"

work="$(mktemp -d "${TMPDIR:-/tmp}/hnn-bench-smoke.XXXXXX")"
trap 'rm -rf "$work"' EXIT
for kind in images-idx3 labels-idx1; do
  cp "$slice/t10k-$kind-ubyte.gz" "$work/train-$kind-ubyte.gz"
  cp "$slice/t10k-$kind-ubyte.gz" "$work/t10k-$kind-ubyte.gz"
done

status=0
"$bench" --data "$work" --variant both --threads 1 --warmup 1 --steps 3 --reps 1 --infer-warmup 0 \
  --infer-steps 1 --pool 2 --no-ceiling --json >"$work/out.txt" 2>"$work/err.txt" || status=$?
cat "$work/out.txt" "$work/err.txt"
[[ $status -eq 0 ]] || { echo "bench-smoke: lenet5_bench exited with status $status" >&2; exit 1; }
json=$(grep '^{"peer": "hnn"' "$work/out.txt") || { echo "bench-smoke: no JSON line" >&2; exit 1; }

# Every rate and loss of both variants: a finite number above zero (the loss below 10).
fail=0
for variant in sigmoid relu; do
  result=$(grep -o "{\"variant\": \"$variant\"[^}]*}" <<<"$json") || { echo "bench-smoke: no $variant result" >&2; fail=1; continue; }
  for key in train_examples_per_sec infer_images_per_sec last_loss; do
    value=$(grep -o "\"$key\": [^,}]*" <<<"$result" | cut -d' ' -f2)
    if ! awk -v v="$value" -v key="$key" 'BEGIN { ok = (v ~ /^[0-9]+(\.[0-9]+)?$/) && v + 0 > 0 && (key != "last_loss" || v + 0 < 10); exit !ok }'; then
      echo "bench-smoke: $variant $key is '$value', expected a finite number above 0" >&2
      fail=1
    fi
  done
done
[[ $fail -eq 0 ]] && echo "bench-smoke: ok"
