#!/usr/bin/env bash
# `instruct eval` (a context's KV cache shared by its 4 choices, padding-free batches) against
# lm-evaluation-harness's HFLM loop in PyTorch (every choice its own sequence, right-padded
# batches, the one-token-continuation cache), on HellaSwag-shaped questions built from the bundled
# data (contexts of 40-120 tokens, 4 endings of 10-40 tokens), random weights, 0-shot; the
# scoring time of both, as questions per second. fp32 and, where oneDNN has bf16 matmuls, bf16.
# Usage: bench/bench_eval.sh [build_dir] [sizes...]   (default: small medium; LIMIT=96, BATCH=8,
#   TORCH_THREADS=nproc)
set -eu
. "$(dirname "$0")/common.sh" "$@"
limit=${LIMIT:-96}
batch=${BATCH:-8}
/usr/bin/python3 - "$repo/data/instruction-data.json" "$tmp/hellaswag_val.jsonl" <<'PY'
import json, random, sys
data = json.load(open(sys.argv[1]))
rnd = random.Random(3)
with open(sys.argv[2], "w") as f:
    for i in range(400):
        e = rnd.choice(data)
        words = (e["instruction"] + " " + e["output"]).split()
        while len(words) < 90:
            words += rnd.choice(data)["output"].split()
        ctx = words[:rnd.randint(30, 90)]
        ends = []
        for _ in range(4):
            w = rnd.choice(data)["output"].split() + rnd.choice(data)["instruction"].split()
            ends.append(" ".join(w[:rnd.randint(8, 30)]))
        f.write(json.dumps({"activity_label": "Task", "ctx_a": " ".join(ctx[:-5]), "ctx_b": " ".join(ctx[-5:]),
                            "endings": ends, "label": rnd.randint(0, 3)}) + "\n")
PY
printf "%-7s %-9s %9s %14s %16s %8s\n" size precision questions "torch q/s" "instruct q/s" ratio
for size in $sizes; do
  t=$(/usr/bin/python3 "$repo/bench/eval_torch_peer.py" "$size" "$tmp/hellaswag_val.jsonl" "$limit" "$batch" "$threads")
  tq=$(echo "$t" | awk '{print $2 / $1}')
  for p in $precisions; do
    # instruct's scoring time: model load and tokenization excluded, as the peer's.
    "$build/instruct" eval --init random --config "$size" --tasks hellaswag --data "$tmp/hellaswag_val.jsonl" \
      --limit "$limit" --batch-size "$batch" --precision "$p" >/dev/null 2>"$tmp/log"
    s=$(sed -n 's/.*questions scored in \([0-9.]*\) s.*/\1/p' "$tmp/log")
    iq=$(awk "BEGIN{print $limit / $s}")
    printf "%-7s %-9s %9d %14.2f %16.2f %7.2fx\n" "$size" "$p" "$limit" "$tq" "$iq" "$(awk "BEGIN{print $iq / $tq}")"
  done
done
