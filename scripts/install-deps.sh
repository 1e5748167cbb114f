#!/usr/bin/env bash
# Installs what hnn needs to build, test and train, on Debian/Ubuntu, when it is missing.
# Does nothing (and needs no network) when everything is already installed.
#
#   scripts/install-deps.sh           install what is missing (as root, or via sudo -n)
#   scripts/install-deps.sh --check   only report; exit 1 when something is missing
#   HNN_SKIP_DEPS=1                   skip entirely (e.g. a non-Debian machine set up by hand)
#
# The CUDA toolkit is optional and not installed here; hnn builds its CUDA targets when
# nvcc is found (see HNN_CUDA in CMakeLists.txt).
set -euo pipefail

# libpng-dev: only for lenet5's PNG input and --gallery (hnn::hnn itself never needs it).
# nlohmann-json3-dev: only for the opt-in <hnn/safetensors.hpp> (target hnn::safetensors).
packages=(cmake g++ make ninja-build libeigen3-dev libgtest-dev zlib1g-dev libpng-dev nlohmann-json3-dev dataset-fashion-mnist)
# Optional: installed when the distribution has them, a note (not a failure) when it does not.
# libonnx-dev, libprotobuf-dev: only for the opt-in <hnn/onnx.hpp> (target hnn::onnx);
# libonnx-testdata: ONNX's backend tests, which onnx_backend_node_tests runs through hnn's reader.
# hnn builds and tests everything else without them.
optional=(libonnx-dev libprotobuf-dev libonnx-testdata)

if [[ "${HNN_SKIP_DEPS:-0}" == 1 ]]; then
  exit 0
fi

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: not a Debian/Ubuntu system; install by hand: CMake >= 3.18, a C++17 compiler," \
       "make, Eigen >= 3.4, GoogleTest, zlib, nlohmann/json 3, and Fashion-MNIST (gzip IDX files); optionally ONNX" \
       "(C++ headers and libraries, protobuf) for hnn::onnx. Skipping." >&2
  exit 0
fi

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"; }
missing=() missing_optional=()
for p in "${packages[@]}"; do
  installed "$p" || missing+=("$p")
done
for p in "${optional[@]}"; do
  installed "$p" || missing_optional+=("$p")
done

if [[ ${#missing[@]} -eq 0 && ${#missing_optional[@]} -eq 0 ]]; then
  exit 0
fi

[[ ${#missing[@]} -eq 0 ]] || echo "install-deps: missing: ${missing[*]}"
[[ ${#missing_optional[@]} -eq 0 ]] || echo "install-deps: missing (optional, for hnn::onnx): ${missing_optional[*]}"
if [[ "${1:-}" == "--check" ]]; then
  [[ ${#missing[@]} -eq 0 ]]
  exit
fi

if [[ $(id -u) -eq 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "install-deps: need root to install them. Run:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]} ${missing_optional[*]}" >&2
  [[ ${#missing[@]} -eq 0 ]]  # only the optional ones missing: go on without them
  exit
fi

export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
if [[ ${#missing[@]} -gt 0 ]]; then
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
  echo "install-deps: installed ${missing[*]}"
fi
if [[ ${#missing_optional[@]} -gt 0 ]]; then
  if "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
       apt-get install -y -qq --no-install-recommends "${missing_optional[@]}"; then
    echo "install-deps: installed ${missing_optional[*]}"
  else
    echo "install-deps: could not install ${missing_optional[*]}: hnn::onnx and its tests will be left out" >&2
  fi
fi
