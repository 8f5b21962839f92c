# Sourced by sanitize.sh and fuzz.sh: configures build-sanitize/ (clang, ASan + UBSan, coverage for
# libFuzzer) and sets the sanitizers' options.
cmake -S . -B build-sanitize -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++ \
  -DINSTRUCT_SANITIZE=ON -DINSTRUCT_FUZZ=ON -DINSTRUCT_BUILD_BENCH=OFF >/dev/null
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=suppressions=$PWD/tests/sanitize/lsan.supp:print_suppressions=0
