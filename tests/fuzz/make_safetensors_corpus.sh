#!/usr/bin/env bash
# Regenerates tests/fuzz/safetensors_corpus/: small valid safetensors files (and two edge-*
# files that are not quite valid) that seed tests/fuzz/safetensors_fuzzer.cpp. Bash and
# printf only; the output is the same every time.
# Usage: tests/fuzz/make_safetensors_corpus.sh   (from anywhere; overwrites the folder's files)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$here/safetensors_corpus"
rm -rf "$out"
mkdir -p "$out"

# le64 N: N as 8 little-endian bytes.
le64() { local i s=""; for ((i = 0; i < 8; i++)); do s+="\\x$(printf %02x $(($1 >> (8 * i) & 255)))"; done; printf "$s"; }
# n bytes counting 0, 1, 2, ... modulo m
bytes() { local n=$1 m=$2 i s=""; for ((i = 0; i < n; i++)); do s+="\\x$(printf %02x $((i % m)))"; done; printf "$s"; }
# file NAME HEADER DATA_BYTES [MODULUS]: the header length, the header, then DATA_BYTES counting bytes.
file() { { le64 ${#2}; printf '%s' "$2"; bytes "$3" "${4:-256}"; } >"$out/$1"; }

w='"0.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}'
b='"0.bias":{"dtype":"F32","shape":[2],"data_offsets":[24,32]}'
file linear-f32 "{$w,$b}" 32 61
file linear-f32-reversed '{"0.bias":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"0.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[8,32]}}' 32 61
file metadata '{"__metadata__":{"format":"pt","note":"hello"},'"$w,$b}" 32 61
arch='[{\"kind\":\"Linear\",\"sizes\":[3,2],\"description\":\"Linear(3, 2)\"},{\"kind\":\"ReLU\",\"sizes\":[],\"description\":\"ReLU()\"}]'
file hnn-written '{"__metadata__":{"hnn.format_version":"1","hnn.architecture":"'"$arch"'"},'"$w,$b}" 32 61
conv='[{\"kind\":\"Conv2d\",\"sizes\":[1,2,3,1,1],\"description\":\"Conv2d(1, 2, kernel=3, padding=1, stride=1)\"},{\"kind\":\"AvgPool2d\",\"sizes\":[2,2],\"description\":\"AvgPool2d(kernel=2, stride=2)\"},{\"kind\":\"Flatten\",\"sizes\":[],\"description\":\"Flatten()\"}]'
file hnn-conv '{"__metadata__":{"hnn.architecture":"'"$conv"'"},"0.weight":{"dtype":"F32","shape":[2,1,3,3],"data_offsets":[0,72]},"0.bias":{"dtype":"F32","shape":[2],"data_offsets":[72,80]}}' 80 7
file half-bf16 '{"h":{"dtype":"F16","shape":[3,2],"data_offsets":[0,12]},"b":{"dtype":"BF16","shape":[4],"data_offsets":[12,20]}}' 20 256
file f64 '{"d":{"dtype":"F64","shape":[3],"data_offsets":[0,24]}}' 24 256
file scalar-and-empty '{"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"e":{"dtype":"F32","shape":[0,5],"data_offsets":[4,4]}}' 4 256
file batchnorm-counter '{"0.running_mean":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"0.num_batches_tracked":{"dtype":"I64","shape":[],"data_offsets":[8,16]}}' 16 3
file empty '{}' 0
# Padded with spaces to 8 bytes, as the reference writer does.
file padded '{"0.bias":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}   ' 8 9
# Two invalid ones: a hole, and an I32 tensor.
file edge-hole '{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}' 8
file edge-i32 '{"a":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}}' 8
ls -l "$out"
du -cb "$out"/* | tail -1
