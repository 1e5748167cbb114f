#!/usr/bin/env bash
# Is hnn as fast for a user as for itself? Installs hnn into BUILD_DIR/consumer-bench/prefix,
# builds tests/consumer's consumer_bench the README's way (find_package(hnn) +
# target_link_libraries(... hnn::hnn hnn::native)), then runs it and BUILD_DIR/lenet5_bench
# (sigmoid training, batch 256, the same steps) alternately for ROUNDS rounds and prints the
# median of each and their ratio. Fails when the ratio is below FLOOR (0.90). `make bench`
# runs it after lenet5_bench.
#
# Usage: tests/consumer/bench.sh [BUILD_DIR]      (default: build; lenet5_bench must be built)
# Environment: THREADS (default: nproc), ROUNDS (3), STEPS (200), WARMUP (20), FLOOR (0.90),
#              CMAKE (cmake), CXX (the compiler for both builds).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
cmake="${CMAKE:-cmake}"
threads="${THREADS:-$(nproc 2>/dev/null || echo 2)}"
rounds="${ROUNDS:-3}"
steps="${STEPS:-200}"
warmup="${WARMUP:-20}"
floor="${FLOOR:-0.90}"
work="$build/consumer-bench"

[[ -x "$build/lenet5_bench" ]] || { echo "consumer bench: $build/lenet5_bench is not built" >&2; exit 1; }
compiler_args=()
if [[ -n "${CXX:-}" ]]; then compiler_args+=("-DCMAKE_CXX_COMPILER=$CXX"); fi

echo "=== consumer bench: install hnn to $work/prefix, build consumer_bench with find_package + hnn::native"
"$cmake" -S "$root" -B "$work/hnn-build" -DCMAKE_BUILD_TYPE=Release -DHNN_BUILD_TESTS=OFF \
  -DHNN_BUILD_EXAMPLES=OFF -DHNN_BUILD_BENCHMARKS=OFF -DHNN_CUDA=OFF -DHNN_INSTALL=ON \
  -DCMAKE_INSTALL_PREFIX="$work/prefix" "${compiler_args[@]}" >"$work.configure.log" 2>&1 \
  || { cat "$work.configure.log"; exit 1; }
"$cmake" --install "$work/hnn-build" >"$work.install.log" 2>&1 || { cat "$work.install.log"; exit 1; }
"$cmake" -S "$here" -B "$work/consumer" -DCMAKE_BUILD_TYPE=Release -DHNN_CONSUMER_MODE=find_package \
  -DCMAKE_PREFIX_PATH="$work/prefix" "${compiler_args[@]}" >"$work.consumer.log" 2>&1 \
  || { cat "$work.consumer.log"; exit 1; }
"$cmake" --build "$work/consumer" --target consumer_bench -j"$(nproc 2>/dev/null || echo 2)"

export OMP_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads" OPENBLAS_NUM_THREADS="$threads"
rate() { sed -n 's/.*"train_examples_per_sec": \([0-9.]*\).*/\1/p' | tail -n 1; }
own=() user=()
for ((r = 1; r <= rounds; r++)); do
  a=$("$build/lenet5_bench" --variant sigmoid --threads "$threads" --steps "$steps" --warmup "$warmup" \
      --infer-steps 5 --no-ceiling --json | rate)
  b=$("$work/consumer/consumer_bench" --threads "$threads" --steps "$steps" --warmup "$warmup" | rate)
  echo "round $r/$rounds, $threads threads, sigmoid training examples/sec: lenet5_bench $a, consumer_bench $b"
  own+=("$a") user+=("$b")
done
python3 - "$floor" "${#own[@]}" "${own[@]}" "${user[@]}" <<'EOF'
import statistics, sys
floor, n = float(sys.argv[1]), int(sys.argv[2])
own, user = [float(x) for x in sys.argv[3:3 + n]], [float(x) for x in sys.argv[3 + n:]]
a, b = statistics.median(own), statistics.median(user)
verdict = "ok" if b / a >= floor else f"BELOW the floor of {floor:.2f}"
print(f"consumer bench: medians lenet5_bench {a:.0f}, consumer_bench (find_package + hnn::native) {b:.0f} "
      f"examples/sec: {b / a:.2f} of hnn's own rate ({verdict})")
sys.exit(0 if b / a >= floor else 1)
EOF
