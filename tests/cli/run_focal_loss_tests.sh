#!/usr/bin/env bash
# focal_loss (examples/focal_loss) on the committed slice of Fashion-MNIST: three epochs through
# hnn::train with the focal loss must print an epoch line each and the final line, with the
# loss falling from the first epoch to the third by more than a third; gamma 0 (the
# cross-entropy) must train too; a bad --gamma is exit status 2 and one line on stderr.
#
# Usage: tests/cli/run_focal_loss_tests.sh PROGRAM [SLICE_DIR]
set -euo pipefail

program="${1:?usage: run_focal_loss_tests.sh PROGRAM [SLICE_DIR]}"
slice="${2:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../../data/fashion-mnist}"
[[ -x "$program" ]] || { echo "focal_loss: $program is not an executable; build it first" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/hnn-focal.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/data"
for kind in images-idx3 labels-idx1; do  # the 1000-image slice as both splits
  cp "$slice/t10k-$kind-ubyte.gz" "$work/data/train-$kind-ubyte.gz"
  cp "$slice/t10k-$kind-ubyte.gz" "$work/data/t10k-$kind-ubyte.gz"
done

failures=0
fail() { echo "FAIL focal_loss: $*" >&2; failures=$((failures + 1)); }

# trains GAMMA: three epochs; the loss of epoch 3 below 2/3 of epoch 1's, and the final line.
trains() {
  local gamma="$1"
  if ! "$program" --gamma "$gamma" --epochs 3 --seed 1 --threads 2 --data "$work/data" >"$work/out" 2>"$work/err"; then
    fail "--gamma $gamma exited with an error: $(tail -n 3 "$work/err")"
    return
  fi
  local first last
  first="$(sed -nE 's/^epoch  1: loss ([0-9.]+),.*/\1/p' "$work/out")"
  last="$(sed -nE 's/^epoch  3: loss ([0-9.]+),.*/\1/p' "$work/out")"
  if [[ -z "$first" || -z "$last" ]]; then
    fail "--gamma $gamma: no epoch lines: $(cat "$work/out")"
  elif ! awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a * 2 / 3) }'; then
    fail "--gamma $gamma: the loss went from $first to $last, not below two thirds of it"
  elif ! grep -qE '^loss [0-9.]+, train acc [0-9.]+, test acc [0-9.]+$' "$work/out"; then
    fail "--gamma $gamma: no final line 'loss L, train acc A, test acc T'"
  else
    echo "ok   focal_loss --gamma $gamma: loss $first -> $last"
  fi
}
trains 2
trains 0

status=0
"$program" --gamma -1 --data "$work/data" >"$work/out" 2>"$work/err" || status=$?
if [[ $status -ne 2 || $(wc -l <"$work/err") -ne 1 ]] || ! grep -q -- "--gamma" "$work/err"; then
  fail "--gamma -1 exited $status with '$(cat "$work/err")', expected 2 and one line naming --gamma"
else
  echo "ok   focal_loss --gamma -1 refused"
fi

if [[ $failures -ne 0 ]]; then
  echo "focal_loss: $failures case(s) failed" >&2
  exit 1
fi
echo "focal_loss: all cases passed"
