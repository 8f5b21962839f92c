#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/) with clang, ASan and UBSan in build-sanitize/ (the
# objects scripts/sanitize.sh tests) and runs each for SECONDS (default 60) on a copy of its seed
# corpus. Any crash, sanitizer report, leak, uncaught exception, multi-line error or hang (10 s per
# input) fails; the input that did it is saved as build-sanitize/fuzz/TARGET/crash-* (replay:
# build-sanitize/tests/fuzz/fuzz_TARGET FILE).
# Usage: bash scripts/fuzz.sh [SECONDS] [TARGET...]   (after scripts/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(dataset bpe safetensors gguf checkpoint judge http text_stream eval)
source scripts/sanitize-env.sh
cmake --build build-sanitize -j "$(nproc)" --target "${targets[@]/#/fuzz_}"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
status=0
summary=()
for t in "${targets[@]}"; do
  work=build-sanitize/fuzz/$t
  rm -rf "$work" && mkdir -p "$work/corpus"
  cp tests/fuzz/corpus/$t/* "$work/corpus/"
  echo "fuzz: $t for ${seconds}s"
  # -rss_limit_mb: 2 GB as libFuzzer's default; a reader that allocates past it is a finding.
  # The server's threads free memory after an input returns, which libFuzzer's per-input leak
  # check takes for a leak and answers with a full LSan pass each time (6x slower): for http,
  # leaks are checked once at exit instead.
  extra=()
  [ "$t" != http ] || extra=(-detect_leaks=0)
  if build-sanitize/tests/fuzz/fuzz_$t -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
       -print_final_stats=1 -artifact_prefix="$work/" "${extra[@]}" "$work/corpus" >"$work/log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/log" | grep -o '[0-9]*$' || echo '?')
    cov=$(grep -o 'cov: [0-9]*' "$work/log" | tail -1 | grep -o '[0-9]*' || echo '?')
    summary+=("$t: ${seconds}s, $runs inputs, coverage $cov, no findings")
  else
    status=1
    summary+=("$t: FINDING, see $work/log and $work/crash-* / timeout-* / leak-* / oom-*")
    grep -E 'fuzz finding|ERROR|SUMMARY|runtime error' "$work/log" | head -5 || true
  fi
done
printf 'fuzz: %s\n' "${summary[@]}"
exit $status
