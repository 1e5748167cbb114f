#!/usr/bin/env bash
# Keeps the README's code honest: every README block marked <!-- snippet: NAME --> must be
# the snippet NAME of the test file (the lines between "// [readme:NAME]" and
# "// [/readme]", common indentation removed), and every snippet must appear in the README.
# The test file is compiled and run by hnn_tests, so the README shows code that builds.
#
# Usage: tests/check_readme_snippets.sh README.md tests/unit/test_readme_snippets.cpp
set -euo pipefail

readme="${1:?usage: check_readme_snippets.sh README.md SNIPPETS.cpp}"
code="${2:?usage: check_readme_snippets.sh README.md SNIPPETS.cpp}"
work="$(mktemp -d "${TMPDIR:-/tmp}/hnn-snippets.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir "$work/readme" "$work/code"

# The ```cpp block that follows each marker in the README.
awk -v dir="$work/readme" '
  /^<!-- snippet: [A-Za-z0-9_-]+ -->$/ { name = $3; want = 1; next }
  want && /^```cpp$/ { inside = 1; want = 0; out = dir "/" name; printf "" > out; next }
  inside && /^```$/ { inside = 0; close(out); next }
  inside { print > out }
' "$readme"

# The lines between the markers in the code, dedented.
awk -v dir="$work/code" '
  /\/\/ \[readme:[A-Za-z0-9_-]+\]$/ {
    match($0, /\[readme:[A-Za-z0-9_-]+\]/); name = substr($0, RSTART + 8, RLENGTH - 9); n = 0; inside = 1; next
  }
  inside && /\/\/ \[\/readme\]$/ {
    min = 1000
    for (i = 1; i <= n; i++) if (lines[i] ~ /[^ ]/) { match(lines[i], /^ */); if (RLENGTH < min) min = RLENGTH }
    out = dir "/" name; printf "" > out
    for (i = 1; i <= n; i++) print substr(lines[i], min + 1) > out
    close(out); inside = 0; next
  }
  inside { lines[++n] = $0 }
' "$code"

status=0
count=0
for f in "$work"/code/*; do
  [[ -e "$f" ]] || break
  name="$(basename "$f")"
  count=$((count + 1))
  if [[ ! -f "$work/readme/$name" ]]; then
    echo "readme-snippets: snippet '$name' of $code has no <!-- snippet: $name --> block in $readme" >&2
    status=1
  elif ! diff -u --label "$readme ($name)" --label "$code ($name)" "$work/readme/$name" "$f" >&2; then
    echo "readme-snippets: the README's '$name' block differs from the compiled snippet (diff above)" >&2
    status=1
  fi
done
for f in "$work"/readme/*; do
  [[ -e "$f" ]] || break
  name="$(basename "$f")"
  if [[ ! -f "$work/code/$name" ]]; then
    echo "readme-snippets: README block '$name' has no snippet '// [readme:$name]' in $code" >&2
    status=1
  fi
done
if [[ $count -eq 0 ]]; then
  echo "readme-snippets: no snippets found in $code" >&2
  status=1
fi
[[ $status -eq 0 ]] && echo "readme-snippets: $count snippets match"
exit $status
