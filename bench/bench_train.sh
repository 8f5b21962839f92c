#!/usr/bin/env bash
# Training throughput, instruct vs the PyTorch reference, side by side on the same real batches.
# Random init, batch 8, fp32; step 0 is a warm-up and not timed. Peak memory is each process's RSS.
# Usage: bench/bench_train.sh [build_dir] [sizes...]   (default: small medium; STEPS=4, TORCH_THREADS=1)
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$repo/build}
"$build/instruct" --version | sed -n 2p   # the CPU and the kernels oneDNN picks: name them beside every number
shift || true
sizes=${*:-small medium}
steps=${STEPS:-4}
threads=${TORCH_THREADS:-1}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$build/instruct" prepare --export-batches "$tmp/batches.jsonl" >/dev/null
printf "%-7s %14s %14s %8s %14s %14s\n" size "torch tok/s" "instruct tok/s" ratio "torch peak" "instruct peak"
for size in $sizes; do
  read -r torch_tps torch_peak < <(/usr/bin/python3 "$repo/bench/train_torch_peer.py" "$size" "$tmp/batches.jsonl" "$steps" "$threads")
  "$build/instruct" train --init random --config "$size" --max-steps $((steps + 1)) --eval-freq 0 --sample-tokens 0 \
    --out "$tmp/run" >"$tmp/log" 2>&1
  ours_tps=$(/usr/bin/python3 -c "
import json,sys
rows=[r for r in map(json.loads, open('$tmp/run/metrics.jsonl')) if r['kind'] == 'step'][1:]
print(f\"{sum(r['tokens'] for r in rows)/sum(r['seconds'] for r in rows):.1f}\")")
  ours_peak=$(sed -n 's/.*peak memory \(.*\)$/\1/p' "$tmp/log")
  printf "%-7s %14s %14s %7.2fx %14s %14s\n" "$size" "$torch_tps" "$ours_tps" \
    "$(awk "BEGIN{print $ours_tps/$torch_tps}")" "$(awk "BEGIN{printf \"%.2f GiB\", $torch_peak/2^30}")" "$ours_peak"
done
