#!/usr/bin/env bash
# The unit tests under AddressSanitizer and UndefinedBehaviorSanitizer: a second build of the test
# program in build-sanitize/ (-DINSTRUCT_SANITIZE=ON: optimized, line tables for the reports),
# then every GoogleTest case. Any
# report fails the run (UBSan does not recover; ASan stops at the first error; leaks count).
# Usage: bash scripts/sanitize.sh   (after scripts/setup.sh: the same packages)
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-sanitize -G Ninja -DCMAKE_BUILD_TYPE=Release -DINSTRUCT_SANITIZE=ON \
  -DINSTRUCT_BUILD_BENCH=OFF >/dev/null
cmake --build build-sanitize -j "$(nproc)" --target instruct_tests
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=suppressions=$PWD/tests/sanitize/lsan.supp:print_suppressions=0
# The GoogleTest cases (the CLI, serve, report and oracle suites drive the normal build; serve's
# also passes under this one: bash tests/serve/check_serve.sh build-sanitize/instruct . OUT).
ctest --test-dir build-sanitize --output-on-failure -j "$(nproc)" -E '^(cli|serve|report|oracle)\.'
