#!/usr/bin/env bash
# The unit tests under AddressSanitizer and UndefinedBehaviorSanitizer: a second build in
# build-sanitize/ with clang (-DINSTRUCT_SANITIZE=ON: optimized, line tables for the reports; and
# -DINSTRUCT_FUZZ=ON, so scripts/fuzz.sh links its targets against the same objects), then every
# GoogleTest case. Any report fails the run (UBSan does not recover; ASan stops at the first
# error; leaks count).
# Usage: bash scripts/sanitize.sh   (after scripts/setup.sh: the same packages)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/sanitize-env.sh
cmake --build build-sanitize -j "$(nproc)" --target instruct_tests
# The GoogleTest cases (the CLI, crash, serve, report, oracle, scale, mpi, bench, style and eval suites drive the normal build;
# serve's also passes under this one: bash tests/serve/check_serve.sh build-sanitize/instruct . OUT).
ctest --test-dir build-sanitize --output-on-failure -j "$(nproc)" -E '^(cli|serve|report|oracle|crash|scale|mpi|bench|style|eval)\.'
