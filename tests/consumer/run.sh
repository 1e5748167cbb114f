#!/usr/bin/env bash
# Checks that hnn can be used the two ways a user would, from a scratch directory:
#   1. install hnn to a temporary prefix, then build tests/consumer with find_package(hnn),
#      with nlohmann_json hidden from CMake (hnn::hnn needs only Eigen and zlib);
#   2. the same with find_package(hnn COMPONENTS safetensors [onnx]), building and running a
#      program that uses them, and the safetensors component refused when nlohmann_json is
#      hidden;
#   3. build tests/consumer with add_subdirectory(<hnn source tree>)
# and runs the consumer each time. Exit status 0 = pass, 77 = skipped, anything else = fail.
#
# Usage: tests/consumer/run.sh            (from anywhere)
# Environment: HNN_ROOT (default: this script's ../..), CMAKE (default: cmake),
#              CXX (compiler for both builds), HNN_CONSUMER_KEEP=1 keeps the scratch directory,
#              HNN_CONSUMER_ONNX=1 also requires the onnx component (CTest sets it when hnn
#              was configured with ONNX).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="${HNN_ROOT:-$(cd "$here/../.." && pwd)}"
cmake="${CMAKE:-cmake}"

if [[ ! -f "$root/include/hnn/hnn.hpp" ]]; then
  echo "consumer_project: SKIP: $root/include/hnn/hnn.hpp does not exist yet"
  exit 77
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/hnn-consumer.XXXXXX")"
if [[ "${HNN_CONSUMER_KEEP:-0}" == 1 ]]; then
  echo "consumer_project: keeping $work"
else
  trap 'rm -rf "$work"' EXIT
fi

compiler_args=()
if [[ -n "${CXX:-}" ]]; then compiler_args+=("-DCMAKE_CXX_COMPILER=$CXX"); fi
# The consumers are built without optimisation: this test checks the package and the two ways
# in, not the code's speed, and at -O3 their three builds were most of `make test`'s ctest time.
quick_build=(-DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_FLAGS_RELEASE=-O0 -DNDEBUG")

step() { echo; echo "=== consumer_project: $*"; }
run() { echo "+ $*"; "$@"; }

# Small, quiet configure of hnn itself: nothing to build, only the install rules.
step "install hnn to $work/prefix"
run "$cmake" -S "$root" -B "$work/hnn-build" -DCMAKE_BUILD_TYPE=Release \
  -DHNN_BUILD_TESTS=OFF -DHNN_BUILD_EXAMPLES=OFF -DHNN_BUILD_BENCHMARKS=OFF -DHNN_CUDA=OFF \
  -DHNN_INSTALL=ON -DCMAKE_INSTALL_PREFIX="$work/prefix" "${compiler_args[@]}" >"$work/install-configure.log" \
  || { cat "$work/install-configure.log"; exit 1; }
run "$cmake" --install "$work/hnn-build" >"$work/install.log" || { cat "$work/install.log"; exit 1; }

for f in include/hnn/hnn.hpp lib/cmake/hnn/hnnConfig.cmake lib/cmake/hnn/hnnConfigVersion.cmake \
         lib/cmake/hnn/hnnTargets.cmake; do
  [[ -f "$work/prefix/$f" ]] || { echo "consumer_project: FAIL: $f was not installed"; exit 1; }
done
# The installed package must not point back into the source or build tree.
if grep -rlF -e "$root" -e "$work/hnn-build" "$work/prefix/lib/cmake/hnn"; then
  echo "consumer_project: FAIL: the installed CMake package refers to the source or build tree"
  exit 1
fi

# The optional components' dependencies are looked for only where asked for.
if grep -nE '^[[:space:]]*find_dependency\((nlohmann_json|ONNX|Protobuf)' "$work/prefix/lib/cmake/hnn/hnnConfig.cmake"; then
  echo "consumer_project: FAIL: hnnConfig.cmake requires an optional component's dependency unconditionally"
  exit 1
fi

build_and_run() {  # mode, extra cmake args...
  local mode="$1"; shift
  step "consumer with $mode"
  run "$cmake" -S "$here" -B "$work/consumer-$mode" "${quick_build[@]}" \
    -DHNN_CONSUMER_MODE="$mode" "${compiler_args[@]}" "$@"
  run "$cmake" --build "$work/consumer-$mode" --target consumer
  run "$work/consumer-$mode/consumer"
}

# hnn::hnn alone, with nlohmann_json out of reach.
build_and_run find_package -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_DISABLE_FIND_PACKAGE_nlohmann_json=ON

components="safetensors"
if [[ "${HNN_CONSUMER_ONNX:-0}" == 1 ]]; then
  components="safetensors;onnx"
else
  echo "consumer_project: SKIP (part): COMPONENTS onnx not checked: hnn was configured without ONNX (libonnx-dev)"
fi
step "consumer with find_package(hnn COMPONENTS $components)"
run "$cmake" -S "$here" -B "$work/consumer-components" "${quick_build[@]}" -DHNN_CONSUMER_MODE=find_package \
  -DCMAKE_PREFIX_PATH="$work/prefix" -DHNN_CONSUMER_COMPONENTS="$components" "${compiler_args[@]}"
run "$cmake" --build "$work/consumer-components" --target components
run "$work/consumer-components/components" "$work"

step "find_package(hnn COMPONENTS safetensors) without nlohmann_json must fail"
if "$cmake" -S "$here" -B "$work/consumer-refused" -DHNN_CONSUMER_MODE=find_package -DCMAKE_PREFIX_PATH="$work/prefix" \
     -DHNN_CONSUMER_COMPONENTS=safetensors -DCMAKE_DISABLE_FIND_PACKAGE_nlohmann_json=ON "${compiler_args[@]}" \
     >"$work/refused.log" 2>&1; then
  cat "$work/refused.log"
  echo "consumer_project: FAIL: COMPONENTS safetensors was accepted without nlohmann_json"
  exit 1
fi
grep -q "component safetensors needs nlohmann_json" "$work/refused.log" || {
  cat "$work/refused.log"; echo "consumer_project: FAIL: the refusal does not name the component's dependency"; exit 1; }
echo "refused, as it should be: $(grep -o 'component safetensors needs[^.]*' "$work/refused.log" | head -1)"

# HNN_CUDA=AUTO in a subproject only builds hnn::cuda when the parent enabled CUDA; say OFF
# anyway so this test never depends on the CUDA toolkit.
build_and_run add_subdirectory -DHNN_ROOT="$root" -DHNN_CUDA=OFF

echo
echo "consumer_project: PASS"
