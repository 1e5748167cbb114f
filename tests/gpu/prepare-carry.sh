#!/usr/bin/env bash
# Run HERE (the development machine) before a GPU run: fills the git-ignored folders that
# travel to the GPU machine, which has nvcc, CMake and PyTorch but no internet, no Eigen,
# no GoogleTest and no Fashion-MNIST.
#   .deps/prefix   Eigen 3.4 headers + CMake package, GoogleTest static libs + package, zlib
#   .cache/fashion-mnist   the four gzip IDX files of the full dataset
# Then: device run with carry [".deps", ".cache"] and command "bash tests/gpu/check.sh".
set -euo pipefail
cd "$(dirname "$0")/../.."
arch=x86_64-linux-gnu
p=.deps/prefix
rm -rf .deps && mkdir -p "$p/include" "$p/share" "$p/lib/$arch/cmake"
cp -r /usr/include/eigen3 "$p/include/"
cp -r /usr/share/eigen3 "$p/share/"
cp -r /usr/include/gtest /usr/include/gmock "$p/include/"
cp /usr/lib/$arch/libgtest.a /usr/lib/$arch/libgtest_main.a /usr/lib/$arch/libgmock.a /usr/lib/$arch/libgmock_main.a "$p/lib/$arch/"
cp -r /usr/lib/$arch/cmake/GTest "$p/lib/$arch/cmake/"
cp /usr/include/zlib.h /usr/include/zconf.h "$p/include/"
cp /usr/lib/$arch/libz.a "$p/lib/"
mkdir -p .cache/fashion-mnist
cp /usr/share/datasets/fashion-mnist/*.gz .cache/fashion-mnist/
du -sh .deps .cache
