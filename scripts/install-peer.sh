#!/usr/bin/env bash
# Installs the PyTorch peer for `make bench-peers` and tests/reference/: a Python virtual
# environment with PyTorch 2.x from PyPI (the default wheel pip resolves), numpy, safetensors,
# and onnx, onnxscript (torch.onnx.export's dynamo exporter) and onnxruntime (the inference
# peer of tests/bench/compare_latency.py and tests/interop/pytorch_onnx.py). Idempotent: when
# the environment already imports all of them (torch >= 2) it installs nothing. Prints the environment's size either way.
#
# Usage: scripts/install-peer.sh [VENV_DIR]       (default: .venv-peer at the repository root)
# Environment: PEER_PYTHON  interpreter that creates the venv (default: python3 on PATH)
#              TORCH_SPEC   what pip installs for torch (default: "torch>=2"); e.g. a CPU-only
#                           wheel: TORCH_SPEC=torch PIP_EXTRA="--index-url https://download.pytorch.org/whl/cpu"
#              PIP_EXTRA    extra pip arguments
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${1:-$root/.venv-peer}"
base_python="${PEER_PYTHON:-python3}"
torch_spec="${TORCH_SPEC:-torch>=2}"

check='import sys, torch, numpy, safetensors, onnx, onnxscript, onnxruntime
sys.exit(0 if int(torch.__version__.split(".")[0]) >= 2 else 1)'

report() {
  echo "install-peer: $("$venv/bin/python" -c 'import torch; print("torch", torch.__version__)') in $venv," \
       "$(du -sh "$venv/" 2>/dev/null | cut -f1) on disk"
}

if [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c "$check" 2>/dev/null; then
  report
  exit 0
fi

if ! command -v "$base_python" >/dev/null 2>&1; then
  echo "install-peer: $base_python not found; install Python 3 (apt-get install python3 python3-venv)" >&2
  exit 1
fi
if [[ ! -x "$venv/bin/python" ]]; then
  echo "install-peer: creating $venv with $($base_python --version 2>&1)"
  if ! "$base_python" -m venv "$venv"; then
    echo "install-peer: '$base_python -m venv' failed; on Debian: apt-get install python3-venv" >&2
    exit 1
  fi
fi
echo "install-peer: pip install '$torch_spec' numpy safetensors onnx onnxscript onnxruntime (PyTorch's default wheel is a few GB)"
# shellcheck disable=SC2086  # PIP_EXTRA is a list of arguments
"$venv/bin/python" -m pip install --disable-pip-version-check ${PIP_EXTRA:-} "$torch_spec" numpy safetensors onnx onnxscript onnxruntime
"$venv/bin/python" -c "$check" || { echo "install-peer: torch >= 2 (or onnx, onnxruntime) still does not import from $venv" >&2; exit 1; }
report
