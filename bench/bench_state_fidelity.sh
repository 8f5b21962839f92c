#!/usr/bin/env bash
# Fidelity of the AdamW state precisions: gpt2-small-shaped random init on the bundled data, the
# same STEPS steps (default 200) with --optimizer-state fp32, bf16 and int8; each run's mean loss
# over its last 10 steps against fp32's (the goal: within 1%). The tiny test model has too few
# parameters per block to show the difference, so this runs at gpt2-small's shapes.
#   bench/bench_state_fidelity.sh [build_dir] [size]   (default: small; STEPS=200)
set -eu
. "$(dirname "$0")/common.sh" "$@"
steps=${STEPS:-200}
size=${2:-small}
printf "%-6s %-5s %14s %10s %10s %12s\n" size state "last-10 loss" "vs fp32" "tok/s" peak
ref=
for state in fp32 bf16 int8; do
  rm -rf "$tmp/run"
  "$build/instruct" train --init random --config "$size" --max-steps "$steps" --eval-freq 0 --sample-tokens 0 \
    --no-estimate --optimizer-state "$state" --out "$tmp/run" >"$tmp/log" 2>&1 || { tail -3 "$tmp/log"; exit 1; }
  read -r last tps < <(/usr/bin/python3 -c "
import json
rows=[r for r in map(json.loads, open('$tmp/run/metrics.jsonl')) if r['kind'] == 'step']
last=rows[-10:]
print(f\"{sum(r['loss'] for r in last)/len(last):.5f} {sum(r['tokens'] for r in rows[1:])/sum(r['seconds'] for r in rows[1:]):.1f}\")")
  [ -n "$ref" ] || ref=$last
  printf "%-6s %-5s %14s %9s%% %10s %12s\n" "$size" "$state" "$last" \
    "$(awk "BEGIN{printf \"%+.2f\", 100*($last-$ref)/$ref}")" "$tps" "$(sed -n 's/.*peak memory \(.*\)$/\1/p' "$tmp/log")"
done
