#!/usr/bin/env bash
# Training throughput, instruct vs the PyTorch reference, side by side on the same real batches.
# Random init, batch 8, fp32 and bf16; step 0 is a warm-up and not timed. Peak memory is each
# process's RSS.
# Usage: bench/bench_train.sh [build_dir] [sizes...]   (default: small medium; STEPS=4, TORCH_THREADS=nproc)
set -eu
. "$(dirname "$0")/common.sh" "$@"
steps=${STEPS:-4}
"$build/instruct" prepare --export-batches "$tmp/batches.jsonl" >/dev/null
# fp32 and bf16 side by side: PyTorch fp32 and bf16 autocast; instruct --precision fp32 and bf16
# (n/a where the CPU has no bf16 matmul: the --version line says so).
printf "%-7s %-9s %14s %14s %8s %14s %14s\n" size precision "torch tok/s" "instruct tok/s" ratio "torch peak" "instruct peak"
for size in $sizes; do
  for precision in $precisions; do
    read -r torch_tps torch_peak < <(PEER_BF16=$([ "$precision" = bf16 ] && echo 1 || echo 0) \
      /usr/bin/python3 "$repo/bench/train_torch_peer.py" "$size" "$tmp/batches.jsonl" "$steps" "$threads")
    rm -rf "$tmp/run"
    if "$build/instruct" train --init random --config "$size" --max-steps $((steps + 1)) --eval-freq 0 \
      --sample-tokens 0 --precision "$precision" --out "$tmp/run" >"$tmp/log" 2>&1; then
      ours_tps=$(/usr/bin/python3 -c "
import json,sys
rows=[r for r in map(json.loads, open('$tmp/run/metrics.jsonl')) if r['kind'] == 'step'][1:]
print(f\"{sum(r['tokens'] for r in rows)/sum(r['seconds'] for r in rows):.1f}\")")
      ours_peak=$(sed -n 's/.*peak memory \(.*\)$/\1/p' "$tmp/log")
      ratio=$(awk "BEGIN{printf \"%.2fx\", $ours_tps/$torch_tps}")
    else
      ours_tps=n/a ours_peak=n/a ratio=n/a  # e.g. --precision bf16 on a CPU without bf16 matmul
    fi
    printf "%-7s %-9s %14s %14s %8s %14s %14s\n" "$size" "$precision" "$torch_tps" "$ours_tps" "$ratio" \
      "$(awk "BEGIN{printf \"%.2f GiB\", $torch_peak/2^30}")" "$ours_peak"
  done
done
