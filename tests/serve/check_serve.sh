#!/usr/bin/env bash
# `instruct serve` as its users meet it: the official ollama and openai clients, plain HTTP, and
# the chat page in headless Chromium. A tiny model memorizes 8 entries first, so every answer has
# a right value: the memorized output, and `instruct generate`'s greedy text for the same prompt.
# Usage: check_serve.sh path/to/instruct repo_dir out_dir   (the chat page screenshot stays in out_dir)
set -u
bin=$(realpath "$1")
repo=$(realpath "$2")
out=$(realpath -m "$3")
here=$(dirname "$(realpath "$0")")
tools=$(dirname "$bin")/test-tools
py=/usr/bin/python3
rm -rf "$out"
mkdir -p "$out"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done' EXIT
failed=0
no() { failed=$((failed + 1)); echo "FAIL: $*"; }

[ -d "$tools/node_modules/ollama" ] && [ -d "$tools/node_modules/openai" ] ||
  { echo "FAIL: the npm clients are missing from $tools (run scripts/setup.sh)"; exit 1; }

# 8 entries with one-sentence answers (2 with an input), memorized by a 2-layer model (~25 s).
"$py" - "$repo/data/instruction-data.json" "$out/d8.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
plain = [e for e in d if not e["input"] and 40 <= len(e["output"]) <= 80 and len(e["instruction"]) < 60][:6]
inp = [e for e in d if e["input"] and 20 <= len(e["output"]) <= 60 and len(e["instruction"]) + len(e["input"]) < 90][:2]
json.dump(plain + inp, open(sys.argv[2], "w"), indent=1)
PY
"$bin" train --init random --config n_layer=2,n_head=2,n_embd=64,n_ctx=128 --data "$out/d8.json" --train-frac 1 \
  --test-frac 0 --epochs 150 --lr 3e-3 --eval-freq 0 --sample-tokens 0 --batch-size 4 --max-length 128 \
  --out "$out/run" >"$out/train.log" 2>&1 || { no "training failed: $(tail -2 "$out/train.log")"; exit 1; }

# What `instruct generate` answers (greedy), the reference for every API answer.
raw_prompt="Every morning the"
"$py" - "$bin" "$out/run/model" "$out/d8.json" "$raw_prompt" "$out/expected.json" <<'PY' || { no "instruct generate failed"; exit 1; }
import json, subprocess, sys
bin, model, data, raw, dst = sys.argv[1:]
def gen(*args):
    r = subprocess.run([bin, "generate", "--model", model, *args], capture_output=True, text=True, check=True)
    assert r.stdout.endswith("\n")
    return r.stdout[:-1]
entries = json.load(open(data))
for e in entries:
    e["generate"] = gen("-i", e["instruction"], "--input", e["input"], "-n", "200")
json.dump({"entries": entries, "raw": {"prompt": raw, "generate": gen("-p", raw, "-n", "24", "--ignore-eos")},
           "context": 128}, open(dst, "w"), indent=1)
PY

# start_server LOG ARGS...: runs `instruct serve --port 0 ARGS`; sets $served_url once listening.
start_server() {
  local log=$1
  shift
  "$bin" serve --port 0 "$@" >"$log" 2>&1 &
  pids+=($!)
  for _ in $(seq 600); do
    served_url=$(grep -o 'http://[0-9.]*:[0-9]*' "$log" | head -1)
    [ -n "$served_url" ] && return
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.05
  done
  no "instruct serve did not start: $(tail -2 "$log")"
  exit 1
}
start_server "$out/serve.log" --model "$out/run/model" --name tiny --max-batch 4
url=$served_url
tiny_pid=${pids[-1]}
# A gpt2-small-sized random model, one slot, short prompts: a long generation to walk away from.
start_server "$out/serve2.log" --init random --config small --name big --max-batch 1 --max-prompt-tokens 50 --ignore-eos
url2=$served_url

"${NODE:-node}" "$here/check_clients.mjs" "$tools" "$url" tiny "$out/expected.json" "$url2" || no "the API clients' checks"
"$py" "$here/check_chat_page.py" "$url" tiny "$out/expected.json" "$out/chat.png" || no "the chat page in Chromium"

# Ctrl-C stops the server cleanly.
kill -INT "$tiny_pid"
wait "$tiny_pid"
rc=$?
[ "$rc" -eq 0 ] && grep -q 'serve     stopped; [0-9]* requests served' "$out/serve.log" ||
  no "SIGINT: exit $rc, $(tail -1 "$out/serve.log")"
grep -q 'client left after' "$out/serve2.log" || no "the disconnect is not in the server's log"
echo "serve checks: $failed failed"
[ "$failed" -eq 0 ]
