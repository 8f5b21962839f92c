# Sourced by the benchmark scripts (`. "$(dirname "$0")/common.sh" "$@"`): the repo, the build
# directory (first argument), the CPU line printed first (the machines change between AMD Zen 3/4
# and Intel Xeon with AMX: name the CPU beside every number), the sizes (the other arguments,
# default small medium), TORCH_THREADS, a temp dir removed on exit, and the precisions this CPU
# runs (bf16 only where oneDNN has bf16 matmuls; PyTorch's autocast emulates it elsewhere, far
# too slowly to compare: over 9 minutes for 4 gpt2-small steps on an AMD EPYC Zen 3).
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$repo/build}
"$build/instruct" --version | sed -n 2p
shift || true
sizes=${*:-small medium}
threads=${TORCH_THREADS:-1}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
precisions="fp32 bf16"
"$build/instruct" --version | grep -q 'bf16 not available' && precisions=fp32
