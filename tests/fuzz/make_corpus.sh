#!/usr/bin/env bash
# Regenerates tests/fuzz/corpus/: small valid IDX files, raw and gzip (and two edge-* files
# that are not quite valid), that seed the fuzzer (tests/fuzz/idx_fuzzer.cpp). The output is
# the same every time (gzip -n: no name, no timestamp); real-3x28x28* holds the first three
# images of the committed slice data/fashion-mnist.
# Usage: tests/fuzz/make_corpus.sh   (from anywhere; overwrites the folder's files)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$here/corpus"
slice="$here/../../data/fashion-mnist"
rm -rf "$out"
mkdir -p "$out"

be32() { printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) $(($1 & 255)))"; }
idx_header() { printf '\x00\x00\x08'; printf "$(printf '\\x%02x' $#)"; local d; for d in "$@"; do be32 "$d"; done; }
# n bytes counting 0, 1, 2, ... modulo m
bytes() { local n=$1 m=$2 i s=""; for ((i = 0; i < n; i++)); do s+="\\x$(printf %02x $((i % m)))"; done; printf "$s"; }

{ idx_header 10; bytes 10 10; } >"$out/labels-10"
{ idx_header 0; } >"$out/empty-1d"
{ idx_header 3 5; bytes 15 256; } >"$out/matrix-3x5"
{ idx_header 4 6 6; bytes 144 251; } >"$out/images-4x6x6"
{ idx_header 2 2 3 3; bytes 36 7; } >"$out/tensor-2x2x3x3"
gzip -dc "$slice/t10k-images-idx3-ubyte.gz" >"$out/.slice"
{ idx_header 3 28 28; head -c $((16 + 3 * 784)) "$out/.slice" | tail -c +17; } >"$out/real-3x28x28"
rm "$out/.slice"

for f in labels-10 empty-1d images-4x6x6 tensor-2x2x3x3 real-3x28x28; do gzip -n -c "$out/$f" >"$out/$f.gz"; done
# A gzip header with a file name (FNAME flag) and an mtime, as plain `gzip` writes it.
cp "$out/matrix-3x5" "$out/named"
touch -d '2020-01-01 00:00:00 UTC' "$out/named"
gzip -c "$out/named" >"$out/matrix-3x5-named.gz"
rm "$out/named"
# Two gzip members (the header, then the data) read as one stream.
{ idx_header 4 6 6 | gzip -n -c; bytes 144 251 | gzip -n -c; } >"$out/images-4x6x6-two-members.gz"
# Best compression and stored (level 1 vs 9 use different deflate block types).
gzip -n -9 -c "$out/real-3x28x28" >"$out/real-3x28x28-best.gz"
gzip -n -1 -c "$out/images-4x6x6" >"$out/images-4x6x6-fast.gz"
# Two invalid ones whose gzip CRC is right, so that the fuzzer reaches the checks after
# a complete stream (mutations almost never produce a valid CRC themselves).
printf '\x00\x00\x08' | gzip -n -c >"$out/edge-short-magic.gz"
{ printf '\x00\x00\x08\x03'; be32 3; printf '\x00\x1c'; } | gzip -n -c >"$out/edge-short-dims.gz"  # 10 of 16 header bytes
ls -l "$out"
du -cb "$out"/* | tail -1
