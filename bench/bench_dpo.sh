#!/usr/bin/env bash
# DPO step time, instruct against the book's PyTorch DPO code, side by side on the same batches
# (the bundled preference data in file order, batch 8, random init, beta 0.1): seconds per step
# after a warm-up step, with the reference computed per step as the book does, and with
# --precompute-reference (the reference's log-probabilities cached before training); fp32, and
# bf16 where the CPU has bf16 matmuls.
# Usage: bench/bench_dpo.sh [build_dir] [sizes...]   (default: small medium; STEPS=4, TORCH_THREADS=nproc)
set -eu
. "$(dirname "$0")/common.sh" "$@"
steps=${STEPS:-4}
# Just enough entries that the train split (the first 85%) holds the timed batches: precomputing
# the reference then covers these, not all 1,100 pairs.
data=$tmp/prefs.json
/usr/bin/python3 -c "
import json, math, sys
n = math.ceil(8 * ($steps + 1) / 0.85) + 2
json.dump(json.load(open(sys.argv[1]))[:n], open(sys.argv[2], 'w'))" "$repo/data/instruction-data-with-preference.json" "$data"

# instruct's mean seconds per step after the first, and peak RSS
ours() {
  rm -rf "$tmp/run"
  if "$build/instruct" dpo --init random --config "$1" --data "$data" --no-shuffle --max-steps $((steps + 1)) \
    --eval-freq 0 --sample-tokens 0 --precision "$2" --out "$tmp/run" "${@:3}" >"$tmp/log" 2>&1; then
    /usr/bin/python3 -c "
import json
rows=[r for r in map(json.loads, open('$tmp/run/metrics.jsonl')) if r['kind'] == 'step'][1:]
print(f\"{sum(r['seconds'] for r in rows)/len(rows):.3f}\", end=' ')"
    sed -n 's/.*peak memory \(.*\)$/\1/p' "$tmp/log" | tr ' ' '_'
  else
    echo "n/a n/a"
  fi
}
r() { awk "BEGIN{ if ($1+0 > 0 && $2+0 > 0) printf \"%.2fx\", $1/$2; else print \"n/a\" }"; }
printf "%-7s %-5s %11s %11s %8s %14s %8s %12s %12s\n" size prec "torch s/step" "ours s/step" ratio \
  "ours precomp." ratio "torch peak" "ours peak"
for size in $sizes; do
  for precision in $precisions; do
    read -r ts tpeak < <(PEER_BF16=$([ "$precision" = bf16 ] && echo 1 || echo 0) \
      /usr/bin/python3 "$repo/bench/dpo_torch_peer.py" "$size" "$data" "$steps" "$threads")
    read -r os opeak < <(ours "$size" "$precision")
    read -r op _ < <(ours "$size" "$precision" --precompute-reference)
    printf "%-7s %-5s %11s %11s %8s %14s %8s %12s %12s\n" "$size" "$precision" "$ts" "$os" "$(r "$ts" "$os")" "$op" \
      "$(r "$ts" "$op")" "$(awk "BEGIN{printf \"%.2f GiB\", $tpeak/2^30}")" "${opeak//_/ }"
  done
done
