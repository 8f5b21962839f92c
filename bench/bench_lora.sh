#!/usr/bin/env bash
# LoRA (rank 16, alpha 16: exercise 7.4) against full fine-tuning, instruct and the PyTorch peer
# (the book's LinearWithLoRA on every nn.Linear), side by side on the same real batches: tokens/s,
# LoRA's speedup over the full step, and peak RSS. Random init, batch 8; step 0 is a warm-up.
# Usage: bench/bench_lora.sh [build_dir] [sizes...]   (default: small medium; STEPS=4, TORCH_THREADS=nproc)
# SCHEDULE=1 instead runs the book's comparison for each size: the whole 2-epoch run (default eval
# schedule) full and LoRA, wall time and initial/final losses beside the book's. MODEL=DIR|NAME
# trains that checkpoint (gpt2-medium is the book's); without it, random init of the size.
set -eu
. "$(dirname "$0")/common.sh" "$@"
steps=${STEPS:-4}
"$build/instruct" prepare --export-batches "$tmp/batches.jsonl" >/dev/null
if [ "${SCHEDULE:-0}" = 1 ]; then
  printf "%-7s %-5s %10s %14s %14s\n" size mode minutes "initial tr/val" "final tr/val"
  for size in $sizes; do
    src=(--init random --config "$size")
    [ -n "${MODEL:-}" ] && src=(--model "$MODEL")
    for mode in full lora; do
      extra=()
      [ "$mode" = lora ] && extra=(--lora-rank 16 --lora-alpha 16)
      rm -rf "$tmp/run"
      start=$(date +%s.%N)
      "$build/instruct" train "${src[@]}" "${extra[@]}" --out "$tmp/run" >"$tmp/log" 2>&1
      end=$(date +%s.%N)
      /usr/bin/python3 -c "
import json, re
log = open('$tmp/log').read()
first = re.search(r'Training loss: (\S+)\nValidation loss: (\S+)', log)
evals = [r for r in map(json.loads, open('$tmp/run/metrics.jsonl')) if r['kind'] == 'eval']
print(f\"%-7s %-5s %10.2f %14s %14s\" % ('$size', '$mode', ($end - $start) / 60,
      f'{float(first[1]):.3f}/{float(first[2]):.3f}', f\"{evals[-1]['train_loss']:.3f}/{evals[-1]['val_loss']:.3f}\"))"
    done
  done
  echo "book (gpt2-medium, L4 GPU): full 1.80 min; LoRA 1.30 min, initial 3.768/3.762, final (step 230) 0.308/0.652"
  exit 0
fi

# instruct tokens/s (after the warm-up step) and peak RSS of one run
ours() {
  rm -rf "$tmp/run"
  if "$build/instruct" train --init random --config "$1" --max-steps $((steps + 1)) --eval-freq 0 \
    --sample-tokens 0 --precision "$2" --out "$tmp/run" "${@:3}" >"$tmp/log" 2>&1; then
    /usr/bin/python3 -c "
import json
rows=[r for r in map(json.loads, open('$tmp/run/metrics.jsonl')) if r['kind'] == 'step'][1:]
print(f\"{sum(r['tokens'] for r in rows)/sum(r['seconds'] for r in rows):.1f}\", end=' ')"
    sed -n 's/.*peak memory \(.*\)$/\1/p' "$tmp/log" | tr ' ' '_'
  else
    echo "n/a n/a"
  fi
}
printf "%-7s %-5s %11s %11s %11s %11s %9s %9s %9s %12s\n" size prec "torch full" "torch lora" "ours full" \
  "ours lora" "lora/full" "vs torch" "torch l/f" "ours lora RSS"
for size in $sizes; do
  for precision in $precisions; do
    bf=$([ "$precision" = bf16 ] && echo 1 || echo 0)
    read -r tf _ < <(PEER_BF16=$bf /usr/bin/python3 "$repo/bench/train_torch_peer.py" "$size" "$tmp/batches.jsonl" "$steps" "$threads")
    read -r tl _ < <(PEER_BF16=$bf PEER_LORA=16 /usr/bin/python3 "$repo/bench/train_torch_peer.py" "$size" "$tmp/batches.jsonl" "$steps" "$threads")
    read -r of _ < <(ours "$size" "$precision")
    read -r ol opeak < <(ours "$size" "$precision" --lora-rank 16 --lora-alpha 16)
    r() { awk "BEGIN{ if ($2+0 > 0 && $1+0 > 0) printf \"%.2fx\", $1/$2; else print \"n/a\" }"; }
    printf "%-7s %-5s %11s %11s %11s %11s %9s %9s %9s %12s\n" "$size" "$precision" "$tf" "$tl" "$of" "$ol" \
      "$(r "$ol" "$of")" "$(r "$ol" "$tl")" "$(r "$tl" "$tf")" "${opeak//_/ }"
  done
done
