# Sourced by the benchmark scripts (`. "$(dirname "$0")/common.sh" "$@"`): the repo, the build
# directory (first argument), the CPU line printed first (the machines change between AMD Zen 3/4
# and Intel Xeon with AMX: name the CPU beside every number), the sizes (the other arguments,
# default small medium), TORCH_THREADS, a temp dir removed on exit, and the precisions this CPU
# runs (bf16 only where oneDNN has bf16 matmuls; PyTorch's autocast emulates it elsewhere, far
# too slowly to compare: over 9 minutes for 4 gpt2-small steps on an AMD EPYC Zen 3). Scripts with
# other arguments pass only the build directory.
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$repo/build}
[ -x "$build/instruct" ] || { echo "bench: no $build/instruct; build it first (bash scripts/setup.sh)"; exit 1; }
"$build/instruct" --version | sed -n 2p
shift || true
sizes=${*:-small medium}
threads=${TORCH_THREADS:-$(nproc)}  # PyTorch on as many threads as instruct uses (OpenMP: all cores)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
precisions="fp32 bf16"
# An if, not `grep && precisions=fp32`: on a CPU with bf16 matmuls that line returned 1, and
# sourcing it under `set -e` ended every benchmark there before it measured anything.
if "$build/instruct" --version | grep -q 'bf16 not available'; then precisions=fp32; fi
# BENCH_CHECK=1: stop after the preamble (CI starts every bench script so: one that cannot start
# fails the build, on every CPU).
if [ "${BENCH_CHECK:-0}" = 1 ]; then
  echo "bench: $(basename "$0") starts: sizes $sizes, precisions $precisions"
  exit 0
fi
