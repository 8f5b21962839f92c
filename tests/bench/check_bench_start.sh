#!/usr/bin/env bash
# Every benchmark script starts on this CPU: each bench/*.sh runs its preamble (the CPU line, the
# precisions this CPU runs, its arguments) with BENCH_CHECK=1 and must exit 0 having said so. A
# benchmark that dies before measuring (bench/common.sh once did on every CPU with bf16 matmuls)
# fails here instead of going unseen.
# Usage: check_bench_start.sh repo_dir build_dir
set -u
repo=$1 build=$2
failed=0 n=0
for script in "$repo"/bench/*.sh; do
  [ "$(basename "$script")" = common.sh ] && continue
  n=$((n + 1))
  out=$(BENCH_CHECK=1 bash "$script" "$build" 2>&1)
  rc=$?
  if [ "$rc" -ne 0 ] || ! grep -q "^bench: $(basename "$script") starts" <<<"$out"; then
    echo "FAIL: $(basename "$script") does not start (exit $rc): $(tail -3 <<<"$out")"
    failed=$((failed + 1))
  fi
done
echo "bench scripts: $n started, $failed failed"
[ "$failed" -eq 0 ]
