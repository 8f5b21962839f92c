#!/usr/bin/env bash
# Wall time of the reference's whole 2-epoch run (the default eval schedule), instruct vs PyTorch,
# extrapolated from a few timed steps: 2 x len(train_loader) steps, an evaluation (5 train + 5 val
# batches) at step 0 and every 5 steps, the initial evaluation, and a 50-token sample per epoch.
# Random init, batch 8, fp32, the same real batches. Usage: bench/bench_train_schedule.sh [build] [sizes]
# (default: small medium; STEPS=6 timed steps, TORCH_THREADS=nproc)
set -eu
. "$(dirname "$0")/common.sh" "$@"
steps=${STEPS:-6}
"$build/instruct" prepare --export-batches "$tmp/train.jsonl" >"$tmp/prep"
"$build/instruct" prepare --split val --export-batches "$tmp/val.jsonl" >/dev/null
batches=$(sed -n 's/.*train \([0-9]*\) (shuffled.*/\1/p' "$tmp/prep" | head -1)
batches=${batches:-116}
total_steps=$((2 * batches))
evals=$(((total_steps - 1) / 5 + 1 + 1))  # steps 0, 5, ... plus the initial one
prompt=$(/usr/bin/python3 -c "
import json
d = json.load(open('$repo/data/instruction-data.json'))
n = len(d); e = d[int(n * 0.85) + int(n * 0.1)]
print('Below is an instruction that describes a task. Write a response that appropriately completes the request.'
      + '\n\n### Instruction:\n' + e['instruction'] + ('\n\n### Input:\n' + e['input'] if e['input'] else ''))")
prompt_len=$("$build/instruct" tokenize --text "$prompt" | /usr/bin/python3 -c "import json, sys; print(len(json.load(sys.stdin)))")
prompt_len=${prompt_len:-60}
printf "%d steps, %d evaluations, 2 samples of 50 tokens (val[0] prompt: %s tokens)\n" "$total_steps" "$evals" "$prompt_len"
printf "%-7s %-9s %9s %9s %9s %12s\n" size who "s/step" "s/eval" "s/sample" "2 epochs"
for size in $sizes; do
  read -r _ _ t_step t_eval t_sample < <(/usr/bin/python3 "$repo/bench/train_torch_peer.py" "$size" "$tmp/train.jsonl" \
    "$steps" "$threads" "$tmp/val.jsonl" "$prompt_len")
  "$build/instruct" train --init random --config "$size" --max-steps $((steps + 1)) --eval-freq "$steps" \
    --out "$tmp/run" >"$tmp/log" 2>&1
  read -r o_step o_eval < <(/usr/bin/python3 -c "
import json
rows = list(map(json.loads, open('$tmp/run/metrics.jsonl')))
s = [r['seconds'] for r in rows if r['kind'] == 'step'][1:]
e = [r['seconds'] for r in rows if r['kind'] == 'eval'][-1]
print(sum(s) / len(s), e)")
  o_sample=$("$build/instruct" generate --model "$tmp/run/model" --prompt "$prompt" --max-new-tokens 50 \
    --ignore-eos --stats 2>&1 >/dev/null | sed -n 's/^total \([0-9.]*\) s.*/\1/p' || true)
  o_sample=${o_sample:-0}
  for who in torch instruct; do
    if [ $who = torch ]; then a=$t_step b=$t_eval c=$t_sample; else a=$o_step b=$o_eval c=$o_sample; fi
    tot=$(awk "BEGIN{print $total_steps*$a + $evals*$b + 2*$c}")
    printf "%-7s %-9s %9.2f %9.2f %9.2f %10.1f min\n" "$size" "$who" "$a" "$b" "$c" "$(awk "BEGIN{print $tot/60}")"
    [ $who = torch ] && t_tot=$tot || o_tot=$tot
  done
  printf "%-7s %-9s %42.2fx\n" "$size" "speedup" "$(awk "BEGIN{print $t_tot/$o_tot}")"
done
