#!/usr/bin/env bash
# The GPU check, run on a machine with an NVIDIA GPU (see tests/gpu/README.md):
#   1. configure + build the CUDA tests and the lenet5 trainer (sm_90 + PTX),
#   2. run the CUDA tests (every kernel against its CPU twin, CPU-vs-GPU training),
#   3. time each layer on the GPU (tests/gpu/layer_times.cu),
#   4. train LeNet-5 for 10 epochs with `lenet5 --device cuda` (sigmoid and relu),
#   5. train the identical network with PyTorch eager on the same GPU, data on the device,
#   6. run the kernel tests again under compute-sanitizer memcheck,
#   7. print a short table: accuracy, examples/sec, ratio, GPU name.
# Usage: bash tests/gpu/check.sh [DATA_DIR]   (default: .cache/fashion-mnist, then $HNN_DATA)
# Writes logs under $OUT (or build-gpu/logs when $OUT is unset).
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
data=${1:-${HNN_DATA:-$root/.cache/fashion-mnist}}
out=${OUT:-$root/build-gpu/logs}
mkdir -p "$out"
jobs=$(nproc)
status=0
step() { echo; echo "=== $* ($(date +%T))"; }

step "GPU"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"
gpu=$(head -1 "$out/gpu.txt" | cut -d, -f1)

step "configure"
prefix_args=()
[ -d "$root/.deps/prefix" ] && prefix_args=(-DCMAKE_PREFIX_PATH="$root/.deps/prefix")
cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DHNN_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="90-real;75-virtual" -DHNN_CUDA_TEST_ARCHITECTURES=90-real \
  -DHNN_BUILD_BENCHMARKS=OFF "${prefix_args[@]}" >"$out/configure.log" 2>&1 || { tail -30 "$out/configure.log"; exit 1; }
grep "hnn:" "$out/configure.log"

step "build"
if ! cmake --build build-gpu -j"$jobs" --target hnn_cuda_tests lenet5 hnn_cuda_layer_times >"$out/build.log" 2>&1; then
  grep -E "error|Error" "$out/build.log" | head -40
  exit 1
fi
echo "built"

step "CUDA tests"
timeout 180 ./build-gpu/tests/hnn_cuda_tests 2>&1 | tee "$out/cuda_tests.log" | grep -E "^\[  (PASSED|FAILED|SKIPPED) |Failure|FAILED|error" | head -60
tests_rc=${PIPESTATUS[0]}
[ "$tests_rc" = 0 ] || status=1
tests_line=$(grep -E "^\[  PASSED  \]|tests? ran" "$out/cuda_tests.log" | tail -2 | tr '\n' ' ')

step "per-layer GPU times (batch 256)"
timeout 60 ./build-gpu/tests/hnn_cuda_layer_times 256 2>&1 | tee "$out/layer_times.txt"

step "hnn lenet5 --device cuda, 10 epochs"
timeout 120 ./build-gpu/lenet5 --device cuda --data "$data" >"$out/hnn_cuda.log" 2>&1
hnn_rc=$?
cat "$out/hnn_cuda.log"
[ "$hnn_rc" = 0 ] || status=1
hnn_acc=$(grep -oP 'test acc \K[0-9.]+' "$out/hnn_cuda.log" | tail -1)
hnn_eps=$(grep -oP '^[0-9.]+(?= examples/sec on cuda)' "$out/hnn_cuda.log" | tail -1)
hnn_total=$(grep -oP '^[0-9.]+(?= s for the whole run)' "$out/hnn_cuda.log")

step "hnn variants: relu 10 epochs; sigmoid 1 epoch without CUDA graphs"
timeout 120 ./build-gpu/lenet5 --device cuda --data "$data" --variant relu >"$out/hnn_cuda_relu.log" 2>&1 || status=1
tail -3 "$out/hnn_cuda_relu.log"
HNN_CUDA_GRAPHS=0 timeout 60 ./build-gpu/lenet5 --device cuda --data "$data" --epochs 1 >"$out/hnn_cuda_nograph.log" 2>&1 || status=1
tail -2 "$out/hnn_cuda_nograph.log"
relu_acc=$(grep -oP 'test acc \K[0-9.]+' "$out/hnn_cuda_relu.log" | tail -1)
relu_eps=$(grep -oP '^[0-9.]+(?= examples/sec on cuda)' "$out/hnn_cuda_relu.log" | tail -1)
nograph_eps=$(grep -oP '^[0-9.]+(?= examples/sec on cuda)' "$out/hnn_cuda_nograph.log" | tail -1)

if [ "${HNN_CHECK_SWEEP:-0}" = 1 ]; then
step "relu variant: final test accuracy by recipe and seed (10 epochs each)"
for recipe in "--lr 0.1" "--lr 0.2" "--lr 0.02 --momentum 0.9" "--lr 0.05 --momentum 0.9"; do
  accs=""
  for seed in 0 1 2; do
    a=$(timeout 60 ./build-gpu/lenet5 --device cuda --data "$data" --variant relu $recipe --seed $seed 2>&1 | grep -oP '^loss .*test acc \K[0-9.]+')
    accs="$accs $a"
  done
  echo "relu $recipe: test acc by seed 0 1 2:$accs" | tee -a "$out/relu_sweep.txt"
done
fi

step "PyTorch eager, same network and recipe, data on the GPU"
timeout 240 python3 tests/bench/peers/pytorch_lenet.py --device cuda --data "$data" --epochs 10 --json >"$out/torch_cuda.log" 2>&1
torch_rc=$?
tail -4 "$out/torch_cuda.log"
[ "$torch_rc" = 0 ] || status=1
torch_json=$(grep '^{' "$out/torch_cuda.log" | tail -1)
jget() { python3 -c "import json,sys; d=json.loads(sys.argv[1]); print(d.get('$1',''))" "$torch_json" 2>/dev/null; }
torch_acc=$(jget test_acc); torch_eps=$(jget examples_per_sec); torch_ver=$(jget torch)

step "compute-sanitizer memcheck (kernel tests + a short training run)"
san="not run"
if command -v compute-sanitizer >/dev/null 2>&1; then
  timeout 150 compute-sanitizer --tool memcheck --leak-check full --error-exitcode 9 \
    ./build-gpu/tests/hnn_cuda_tests --gtest_filter='*Cuda*:*LeNetOnBothDevices*' >"$out/memcheck.log" 2>&1
  san_rc=$?
  tail -5 "$out/memcheck.log"
  case $san_rc in
    0) san="clean ($(grep -c '^\[       OK' "$out/memcheck.log") tests)";;
    124) san="timed out"; status=1;;
    *) san="ERRORS (rc $san_rc, see memcheck.log)"; status=1;;
  esac
fi

step "summary"
ratio=$(python3 -c "print(f'{float(\"$hnn_eps\")/float(\"$torch_eps\"):.2f}')" 2>/dev/null || echo "?")
{
  echo "GPU: $gpu   date: $(date -u +%F)   torch: $torch_ver"
  echo "CUDA tests: rc $tests_rc $tests_line"
  echo "compute-sanitizer memcheck: $san"
  printf '%-28s %10s %16s %14s\n' "run (10 epochs, batch 256)" "test acc" "train ex/s" "whole run s"
  printf '%-28s %10s %16s %14s\n' "hnn lenet5 --device cuda" "$hnn_acc" "$hnn_eps" "$hnn_total"
  printf '%-28s %10s %16s %14s\n' "hnn --variant relu (defaults)" "$relu_acc" "$relu_eps" ""
  printf '%-28s %10s %16s %14s\n' "hnn, no CUDA graph, 1 epoch" "" "$nograph_eps" ""
  printf '%-28s %10s %16s %14s\n' "PyTorch eager (cudnn)" "$torch_acc" "$torch_eps" "$(jget wall_time_s)"
  echo "hnn / PyTorch training throughput: $ratio x"
} | tee "$out/summary.txt"
exit $status
