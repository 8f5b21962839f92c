#!/usr/bin/env bash
# Memory-lean full fine-tuning, side by side in one run: peak RSS and tokens/s of each memory option
# against plain fp32 AdamW and against PyTorch (fp32 AdamW) on the same real batches. Random init,
# batch 8, the bundled data; step 0 is a warm-up and not timed.
#   bench/bench_memory.sh [build_dir] [sizes...]   (default: medium; STEPS=4, TORCH_THREADS=nproc)
# BIG=1: gpt2-large and gpt2-xl with all three options, the reference's settings and --max-steps 3
# (evaluation at step 0 included); PyTorch and plain AdamW cannot hold them on a 24 GiB machine.
set -eu
. "$(dirname "$0")/common.sh" "$@"
steps=${STEPS:-4}
[ $# -ge 2 ] || sizes=medium
lean="--optimizer-state int8 --fused-update --recompute-activations"
# tok/s of a finished run's steps after the first, and its peak memory line.
measure() {
  /usr/bin/python3 -c "
import json
rows=[r for r in map(json.loads, open('$1/metrics.jsonl')) if r['kind'] == 'step'][1:]
print(f\"{sum(r['tokens'] for r in rows)/max(sum(r['seconds'] for r in rows), 1e-9):.1f}\" if rows else 'n/a')"
}
peak_of() { sed -n 's/.*peak memory \(.*\)$/\1/p' "$1"; }
if [ "${BIG:-0}" = 1 ]; then
  printf "%-7s %-56s %10s %12s %10s\n" size options "tok/s" "peak" "wall"
  for size in large xl; do
    rm -rf "$tmp/run"
    start=$(date +%s)
    # shellcheck disable=SC2086
    "$build/instruct" train --init random --config "$size" --max-steps 3 --sample-tokens 0 --no-estimate $lean \
      --out "$tmp/run" >"$tmp/log" 2>&1 || { tail -3 "$tmp/log"; exit 1; }
    printf "%-7s %-56s %10s %12s %9ss\n" "$size" "$lean" "$(measure "$tmp/run")" "$(peak_of "$tmp/log")" \
      "$(($(date +%s) - start))"
  done
  exit 0
fi
"$build/instruct" prepare --export-batches "$tmp/batches.jsonl" >/dev/null
printf "%-7s %-56s %10s %8s %12s %8s\n" size options "tok/s" "speed" "peak" "memory"
for size in $sizes; do
  read -r torch_tps torch_peak < <(PEER_BF16=0 /usr/bin/python3 "$repo/bench/train_torch_peer.py" "$size" \
    "$tmp/batches.jsonl" "$steps" "$threads")
  torch_gib=$(awk "BEGIN{printf \"%.2f\", $torch_peak/2^30}")
  printf "%-7s %-56s %10s %8s %12s %8s\n" "$size" "PyTorch fp32 AdamW ($threads threads)" "$torch_tps" "" \
    "$torch_gib GiB" ""
  base_tps= base_gib=
  for opts in "" "--optimizer-state bf16" "--optimizer-state int8" "--fused-update" "--recompute-activations" "$lean"; do
    rm -rf "$tmp/run"
    # shellcheck disable=SC2086
    "$build/instruct" train --init random --config "$size" --max-steps $((steps + 1)) --eval-freq 0 \
      --sample-tokens 0 --no-estimate $opts --out "$tmp/run" >"$tmp/log" 2>&1 || { tail -3 "$tmp/log"; exit 1; }
    tps=$(measure "$tmp/run")
    peak=$(peak_of "$tmp/log")
    gib=$(awk -v p="$peak" 'BEGIN{split(p, a, " "); v = a[1]; if (a[2] == "MiB") v /= 1024; printf "%.2f", v}')
    [ -n "$base_tps" ] || base_tps=$tps base_gib=$gib
    printf "%-7s %-56s %10s %8s %12s %8s\n" "$size" "${opts:-fp32 AdamW}" "$tps" \
      "$(awk "BEGIN{printf \"%.2fx\", $tps/$base_tps}")" "$gib GiB" "$(awk "BEGIN{printf \"%.0f%%\", 100*$gib/$torch_gib}")"
  done
done
echo "speed: against instruct's fp32 AdamW; memory: peak RSS against PyTorch's"
