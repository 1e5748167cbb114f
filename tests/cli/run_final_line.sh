#!/usr/bin/env bash
# A full-size training run (label slow): runs PROGRAM with ARGS on the real Fashion-MNIST and
# checks that the last line of the form "loss L, train acc A, test acc T" is EXPECTED, the
# final line the README and the examples' notes quote for that command. The runs are
# deterministic for a seed and an instruction set (the order of the sums follows the SIMD
# width), so EXPECTED may be given per set: "avx512=<line>|avx2=<line>"; a set without a line
# of its own is checked against the first one.
#
# Usage: tests/cli/run_final_line.sh ISA EXPECTED PROGRAM [ARGS...]
# Exit 77 (skipped) when the full Fashion-MNIST is not installed (scripts/install-deps.sh).
set -euo pipefail

isa="${1:?usage: run_final_line.sh ISA EXPECTED PROGRAM [ARGS...]}"
expected_all="${2:?}"
program="${3:?}"
shift 3
data="${HNN_DATA:-/usr/share/datasets/fashion-mnist}"
if [[ ! -e "$data/train-images-idx3-ubyte.gz" && ! -e "$data/train-images-idx3-ubyte" ]]; then
  echo "final line: SKIP: no Fashion-MNIST in $data (scripts/install-deps.sh installs it)"
  exit 77
fi

expected=""
IFS='|' read -r -a choices <<<"$expected_all"
for choice in "${choices[@]}"; do
  if [[ "$choice" == "$isa="* ]]; then expected="${choice#*=}"; fi
done
[[ -n "$expected" ]] || expected="${choices[0]#*=}"

log="$(mktemp "${TMPDIR:-/tmp}/hnn-final-line.XXXXXX")"
trap 'rm -f "$log"' EXIT
echo "+ $program --data $data $*"
status=0
"$program" --data "$data" "$@" >"$log" 2>&1 || status=$?
grep -E '^epoch|examples/sec' "$log" || true
if [[ $status -ne 0 ]]; then
  tail -20 "$log"
  echo "final line: FAIL: $(basename "$program") exited with status $status"
  exit 1
fi
got="$(grep -E '^loss [0-9.]+, train acc [0-9.]+, test acc [0-9.]+$' "$log" | tail -1)"
if [[ "$got" == "$expected" ]]; then
  echo "final line: ok ($isa): $got"
  exit 0
fi
tolerance="${HNN_FINAL_LINE_TOLERANCE:-0.01}"
numbers() { sed -E 's/^loss ([0-9.]+), train acc ([0-9.]+), test acc ([0-9.]+)$/\1 \2 \3/' <<<"$1"; }
if [[ -n "$got" ]] && awk -v t="$tolerance" -v a="$(numbers "$got")" -v b="$(numbers "$expected")" 'BEGIN {
      n = split(a, x, " "); m = split(b, y, " "); if (n != 3 || m != 3) exit 1
      for (i = 1; i <= 3; ++i) { d = x[i] - y[i]; if (d < 0) d = -d; if (d > t + 1e-9) exit 1 }
      exit 0 }'; then
  echo "final line: ok ($isa, within $tolerance, not exact): got '$got', quoted '$expected'"
  exit 0
fi
echo "final line: FAIL ($isa): got      '$got'"
echo "final line:              expected '$expected' (each number within $tolerance)"
exit 1
