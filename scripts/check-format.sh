#!/usr/bin/env bash
# Fails, naming the files, when tracked C/C++ sources differ from what
# clang-format makes of them with the repository's .clang-format.
set -euo pipefail
clang_format=${1:-clang-format}
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files -co --exclude-standard -- '*.hpp' '*.cpp' '*.h' '*.c' | grep -v '^build/' || true)
bad=()
for f in "${files[@]}"; do
  [ -f "$f" ] || continue
  if ! "$clang_format" --style=file --dry-run --Werror "$f" >/dev/null 2>&1; then
    bad+=("$f")
  fi
done
if [ ${#bad[@]} -gt 0 ]; then
  echo "not clang-formatted (run 'make format'): ${bad[*]}"
  exit 1
fi
echo "clang-format: ${#files[@]} files clean"
