#!/usr/bin/env bash
# The C++ sources follow the repo's .clang-format (column limit 100). With file arguments, those
# files; without, every tracked C++ file (git ls-files), or the files a change touches with
# --changed [BASE] (default BASE: HEAD~1). Prints each file that differs and the command that fixes
# it; exits 1 when any does.
#   bash scripts/format-check.sh [--changed [BASE] | FILE...]
#   bash scripts/format-check.sh --fix      (formats every tracked C++ file in place)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "format-check: no clang-format; bash scripts/setup.sh installs it"; exit 1; }
list() {  # tracked files; a copy without .git: the source folders
  git ls-files -- '*.cpp' '*.hpp' '*.h' '*.cc' 2>/dev/null ||
    find src tests bench \( -name '*.cpp' -o -name '*.hpp' -o -name '*.h' \) -not -path '*/node_modules/*' | sort
}
if [ "${1:-}" = --fix ]; then
  list | xargs clang-format -i
  exit 0
elif [ "${1:-}" = --changed ]; then
  mapfile -t files < <(git diff --name-only --diff-filter=d "${2:-HEAD~1}" -- '*.cpp' '*.hpp' '*.h' '*.cc')
elif [ $# -gt 0 ]; then
  files=("$@")
else
  mapfile -t files < <(list)
fi
bad=0
for f in "${files[@]}"; do
  if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
    echo "format: $f differs from .clang-format; run: clang-format -i $f"
    bad=$((bad + 1))
  fi
done
echo "format: ${#files[@]} files checked, $bad to reformat"
[ "$bad" -eq 0 ]
