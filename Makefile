# Thin convenience layer over CMake. Everything here can be done with cmake/ctest directly.
#
#   make train [ARGS="--epochs 10"]   install deps, build and run the LeNet-5 trainer
#   make test                         install deps, build everything, run all tests but the slow suite
#                                     and the benchmarks' smoke tests
#   make test-slow                    the slow suite: full-size training runs (ctest -L slow)
#   make test-bench                   build the benchmarks and run their smoke tests (ctest -L bench)
#   make bench                        build and run the LeNet-5 benchmark (tests/bench/), then
#                                     the same training built as a user builds it (find_package
#                                     + hnn::native, tests/consumer/bench.sh) and the ratio
#   make bench-peers                  install the PyTorch peer (.venv-peer/), then hnn and the
#                                     peer alternating over rounds, and the ratios; then the
#                                     inference latency against onnxruntime (compare_latency.py,
#                                     LATENCY_ARGS); the AVX2 table on an AVX-512 machine:
#                                     make bench-peers BUILD_DIR=build-avx2
#                                     CMAKE_ARGS=-DHNN_NATIVE_ISA=avx2 ARGS="--isa avx2"
#   make clean                        remove the build directory
#
# Overridable: BUILD_DIR (build), BUILD_TYPE (Release), HNN_CUDA (AUTO with a GPU, else OFF), GENERATOR (Ninja when
# installed, else Unix Makefiles), CMAKE_ARGS (extra
# configure arguments, e.g. CMAKE_ARGS="-DHNN_WERROR=ON"), ARGS (program arguments),
# JOBS (parallel build jobs, default nproc), CTEST_JOBS (2), CMAKE, CTEST, PYTHON (the
# interpreter with torch >= 2 for bench-peers; default: .venv-peer/bin/python, which
# scripts/install-peer.sh creates on first use), PEER_VENV (.venv-peer).

BUILD_DIR  ?= build
BUILD_TYPE ?= Release
# CUDA is built where a GPU is visible (nvidia-smi lists one): a machine that can only compile
# CUDA would spend half of `make test` compiling tests that then skip. HNN_CUDA=AUTO builds it
# wherever nvcc is found (CI's cuda stage compiles it so, .ci/run).
HNN_CUDA   ?= $(if $(shell nvidia-smi -L 2>/dev/null | grep '^GPU'),AUTO,OFF)
CMAKE_ARGS ?=
ARGS       ?=
LATENCY_ARGS ?=
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CTEST_JOBS ?= 2
CMAKE      ?= cmake
CTEST      ?= ctest
PYTHON     ?=
PEER_VENV  ?= .venv-peer
# Ninja when installed (it schedules a build better than make's recursive Makefiles); a build
# directory keeps the generator it was first configured with.
GENERATOR  ?= $(if $(shell command -v ninja 2>/dev/null),Ninja,Unix Makefiles)
GENERATOR_ARG = $(if $(wildcard $(BUILD_DIR)/CMakeCache.txt),,-G "$(GENERATOR)")

MAKEFLAGS += --no-print-directory

.PHONY: all deps configure build train test test-slow test-bench bench bench-peers clean

all: build

deps:
	@bash scripts/install-deps.sh

configure: deps
	$(CMAKE) -S . -B $(BUILD_DIR) $(GENERATOR_ARG) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DHNN_CUDA=$(HNN_CUDA) $(CMAKE_ARGS)

build: configure
	$(CMAKE) --build $(BUILD_DIR) -j$(JOBS)

train: configure
	$(CMAKE) --build $(BUILD_DIR) --target lenet5 -j$(JOBS)
	$(BUILD_DIR)/lenet5 $(ARGS)

test: build
	$(CTEST) --test-dir $(BUILD_DIR) --output-on-failure --no-tests=error -j$(CTEST_JOBS) -LE 'slow|bench'

# The full-size runs: the examples' 10-epoch final lines on the real Fashion-MNIST (minutes).
test-slow: build
	$(CTEST) --test-dir $(BUILD_DIR) --output-on-failure --no-tests=error -L slow

# The benchmarks are not part of `build` (their -O3 build was a tenth of `make test`); this
# builds them and runs a few steps of each, so that none rots unnoticed (CI's bench stage).
test-bench: configure
	$(CMAKE) --build $(BUILD_DIR) --target hnn_benchmarks -j$(JOBS)
	$(CTEST) --test-dir $(BUILD_DIR) --output-on-failure --no-tests=error -L bench

# Measure on an otherwise idle machine (see tests/bench/NOTES.md). ARGS go to lenet5_bench
# (bench) or to compare_peers.py (bench-peers, e.g. ARGS="--threads 2 --variant sigmoid").
bench: configure
	$(CMAKE) --build $(BUILD_DIR) --target lenet5_bench -j$(JOBS)
	$(BUILD_DIR)/lenet5_bench $(ARGS)
	bash tests/consumer/bench.sh $(BUILD_DIR)

bench-peers: configure
	$(CMAKE) --build $(BUILD_DIR) --target lenet5_bench latency_bench -j$(JOBS)
ifeq ($(strip $(PYTHON)),)
	bash scripts/install-peer.sh $(PEER_VENV)
	$(PEER_VENV)/bin/python tests/bench/compare_peers.py --hnn $(BUILD_DIR)/lenet5_bench --python $(PEER_VENV)/bin/python $(ARGS)
	$(PEER_VENV)/bin/python tests/bench/compare_latency.py --hnn $(BUILD_DIR)/latency_bench --python $(PEER_VENV)/bin/python $(LATENCY_ARGS)
else
	$(PYTHON) tests/bench/compare_peers.py --hnn $(BUILD_DIR)/lenet5_bench --python $(PYTHON) $(ARGS)
	$(PYTHON) tests/bench/compare_latency.py --hnn $(BUILD_DIR)/latency_bench --python $(PYTHON) $(LATENCY_ARGS)
endif

clean:
	rm -rf $(BUILD_DIR)
