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

if [[ "${HNN_SKIP_DEPS:-0}" == 1 ]]; then
  exit 0
fi

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: not a Debian/Ubuntu system; install by hand: CMake >= 3.18, a C++17 compiler," \
       "make, Eigen >= 3.4, GoogleTest, zlib, nlohmann/json 3, and Fashion-MNIST (gzip IDX files). Skipping." >&2
  exit 0
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$p")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

echo "install-deps: missing: ${missing[*]}"
if [[ "${1:-}" == "--check" ]]; then
  exit 1
fi

if [[ $(id -u) -eq 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "install-deps: need root to install them. Run:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: installed ${missing[*]}"
