#!/usr/bin/env bash
# Keeps the documentation's code honest: every block marked <!-- snippet: NAME --> in the
# markdown files must be the snippet NAME of the test file (the lines between
# "// [readme:NAME]" and "// [/readme]", common indentation removed), and every snippet must
# appear in exactly one of the markdown files. The test file is compiled and run by hnn_tests,
# so the documentation shows code that builds.
#
# Usage: tests/check_readme_snippets.sh SNIPPETS.cpp FILE.md [FILE.md ...]
#   e.g. tests/check_readme_snippets.sh tests/unit/test_readme_snippets.cpp README.md docs/api-tour.md
# The arguments may come in any order: the one ending in .cpp is the test file, every other one
# a markdown file (so the older form "README.md SNIPPETS.cpp" still works).
set -euo pipefail

usage="usage: check_readme_snippets.sh SNIPPETS.cpp FILE.md [FILE.md ...]"
code=""
markdown=()
for arg in "$@"; do
  if [[ "$arg" == *.cpp ]]; then
    [[ -z "$code" ]] || { echo "readme-snippets: two test files given ($code, $arg); $usage" >&2; exit 2; }
    code="$arg"
  else
    markdown+=("$arg")
  fi
done
[[ -n "$code" && ${#markdown[@]} -gt 0 ]] || { echo "readme-snippets: $usage" >&2; exit 2; }
for f in "$code" "${markdown[@]}"; do
  [[ -f "$f" ]] || { echo "readme-snippets: $f: no such file" >&2; exit 2; }
done

work="$(mktemp -d "${TMPDIR:-/tmp}/hnn-snippets.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir "$work/docs" "$work/code"

status=0

# The ```cpp block that follows each marker in each markdown file (blank lines between the two
# are allowed; anything else is an error, as is a block that never ends). $work/docs/NAME holds
# the block, $work/docs/NAME.from the file it came from; a name marked twice is an error.
for md in "${markdown[@]}"; do
  one="$work/one"
  rm -rf "$one" && mkdir "$one"
  if ! awk -v dir="$one" -v file="$md" '
    /^<!-- snippet: [A-Za-z0-9_-]+ -->$/ {
      if (want) { printf "readme-snippets: %s:%d: marker %s is not followed by a ```cpp block\n", file, want_line, name > "/dev/stderr"; bad = 1 }
      name = $3; want = 1; want_line = NR; next
    }
    want && /^```cpp$/ { inside = 1; want = 0; start = NR; out = dir "/" name; printf "" > out; next }
    want && /^[ \t]*$/ { next }
    want { printf "readme-snippets: %s:%d: marker %s is not followed by a ```cpp block\n", file, want_line, name > "/dev/stderr"; bad = 1; want = 0; next }
    inside && /^```$/ { inside = 0; close(out); next }
    inside { print > out }
    END {
      if (want) { printf "readme-snippets: %s:%d: marker %s is not followed by a ```cpp block\n", file, want_line, name > "/dev/stderr"; bad = 1 }
      if (inside) { printf "readme-snippets: %s:%d: block %s never ends (no closing ```)\n", file, start, name > "/dev/stderr"; bad = 1 }
      exit bad
    }
  ' "$md"; then
    status=1
  fi
  for f in "$one"/*; do
    [[ -e "$f" ]] || break
    name="$(basename "$f")"
    if [[ -f "$work/docs/$name" ]]; then
      echo "readme-snippets: block '$name' is marked in both $(cat "$work/docs/$name.from") and $md" >&2
      status=1
      continue
    fi
    mv "$f" "$work/docs/$name"
    printf '%s' "$md" > "$work/docs/$name.from"
  done
done

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

count=0
for f in "$work"/code/*; do
  [[ -e "$f" ]] || break
  name="$(basename "$f")"
  count=$((count + 1))
  if [[ ! -f "$work/docs/$name" ]]; then
    echo "readme-snippets: snippet '$name' of $code has no <!-- snippet: $name --> block in ${markdown[*]}" >&2
    status=1
  else
    from="$(cat "$work/docs/$name.from")"
    if ! diff -u --label "$from ($name)" --label "$code ($name)" "$work/docs/$name" "$f" >&2; then
      echo "readme-snippets: the '$name' block of $from differs from the compiled snippet (diff above)" >&2
      status=1
    fi
  fi
done
for f in "$work"/docs/*; do
  [[ -e "$f" ]] || break
  name="$(basename "$f")"
  [[ "$name" == *.from ]] && continue
  if [[ ! -f "$work/code/$name" ]]; then
    echo "readme-snippets: block '$name' of $(cat "$work/docs/$name.from") has no snippet '// [readme:$name]' in $code" >&2
    status=1
  fi
done
if [[ $count -eq 0 ]]; then
  echo "readme-snippets: no snippets found in $code" >&2
  status=1
fi
[[ $status -eq 0 ]] && echo "readme-snippets: $count snippets match (${markdown[*]})"
exit $status
