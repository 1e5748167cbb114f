#!/usr/bin/env bash
# The tiers are real: no header under include/hnn includes one from a tier above its own.
# The tiers, lowest first, are the rows of the README's "How the code is laid out" table,
# written here as path prefixes; a header may include headers of its own tier and of the tiers
# before it. Every header must belong to a tier, so a new folder has to be placed here.
#
# Usage: tests/check_tiers.sh [INCLUDE_DIR]     (default: include/ beside this script's folder)
set -euo pipefail

root="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../include" && pwd)}"

# tier name: the path prefixes (relative to include/) that make it up
tiers=(
  "device: hnn/device.hpp hnn/parallel.hpp hnn/cuda/memory.cuh"
  "tensor: hnn/tensor.hpp hnn/init.hpp"
  "kernels: hnn/kernels/"
  "data: hnn/data/"
  "layers: hnn/layers/"
  "model: hnn/model/"
  "autograd: hnn/autograd/ hnn/ops/ hnn/autograd.hpp hnn/ops.hpp"
  "training: hnn/losses/ hnn/optim/ hnn/training/ hnn/loss.hpp hnn/optim.hpp"
  "io: hnn/io/ hnn/onnx/ hnn/safetensors.hpp hnn/onnx.hpp"
  "extras: hnn/extras/"
  "umbrella: hnn/hnn.hpp"
)

# The tier number of a header path (relative to include/), or -1.
tier_of() {
  local path=$1 i prefix
  for i in "${!tiers[@]}"; do
    for prefix in ${tiers[$i]#*:}; do
      if [[ "$path" == "$prefix" || ( "$prefix" == */ && "$path" == "$prefix"* ) ]]; then
        echo "$i"
        return
      fi
    done
  done
  echo -1
}
name_of() { echo "${tiers[$1]%%:*}"; }

failures=0
cd "$root"
while IFS= read -r header; do
  header=${header#./}
  own=$(tier_of "$header")
  if [[ $own -lt 0 ]]; then
    echo "tiers: $header belongs to no tier: add its folder to tests/check_tiers.sh (and the README's table)"
    failures=$((failures + 1))
    continue
  fi
  while IFS= read -r included; do
    [[ -n "$included" ]] || continue
    theirs=$(tier_of "$included")
    if [[ $theirs -lt 0 ]]; then
      echo "tiers: $header includes $included, which belongs to no tier"
      failures=$((failures + 1))
    elif [[ $theirs -gt $own ]]; then
      echo "tiers: $header ($(name_of "$own")) includes $included ($(name_of "$theirs")), a tier above it"
      failures=$((failures + 1))
    fi
  done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]\(hnn\/[^>"]*\)[>"].*/\1/p' "$header")
done < <(find hnn -name '*.hpp' -o -name '*.cuh' | sort)

if [[ $failures -ne 0 ]]; then
  echo "tiers: $failures upward or unplaced include(s)"
  exit 1
fi
echo "tiers: every include points to the same tier or one below"
