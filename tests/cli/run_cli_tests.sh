#!/usr/bin/env bash
# The `instruct` binary as a user runs it: outputs, exit codes, one-line errors, no partial files.
# Usage: run_cli_tests.sh path/to/instruct repo_dir
set -u
bin=$(realpath "$1")
repo=$2
# The fault shim (tests/faults/fault_rename.cpp): a kill -9 at an exact point of a real run.
fault=$(realpath "${3:?usage: run_cli_tests.sh INSTRUCT REPO FAULT_SHIM.so}")
bad=$repo/tests/data/bad
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0

ok() { passed=$((passed + 1)); }
no() { failed=$((failed + 1)); echo "FAIL: $*"; }

# expect_ok NAME REGEX -- CMD...: exit 0 and stdout matches REGEX
expect_ok() {
  local name=$1 re=$2; shift 3
  local out
  if ! out=$("$@" 2>"$tmp/err"); then no "$name: exit $? ($(cat "$tmp/err"))"; return; fi
  if grep -qE -- "$re" <<<"$out"; then ok; else no "$name: output does not match /$re/: ${out:0:300}"; fi
}

# expect_fail NAME TEXT -- CMD...: exit 1, one stderr line starting "error:" containing TEXT
expect_fail() {
  local name=$1 text=$2; shift 3
  "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  local lines
  lines=$(wc -l <"$tmp/err")
  if [ "$rc" -ne 1 ]; then no "$name: exit $rc, expected 1"; return; fi
  if [ "$lines" -ne 1 ]; then no "$name: $lines stderr lines: $(cat "$tmp/err")"; return; fi
  if ! grep -q '^error: ' "$tmp/err"; then no "$name: stderr is not 'error: ...': $(cat "$tmp/err")"; return; fi
  if grep -qF -- "$text" "$tmp/err"; then ok; else no "$name: '$text' not in: $(cat "$tmp/err")"; fi
}

# The main job and the README's promises.
expect_ok prepare-bundled 'split +train 935 / val 55 / test 110' -- "$bin" prepare --no-estimate --data "$repo/data/instruction-data.json"
expect_ok prepare-default-data 'train 935 / val 55 / test 110' -- "$bin" prepare --no-estimate
expect_ok prepare-from-elsewhere 'train 935' -- bash -c "cd / && '$bin' prepare --no-estimate"
expect_ok prepare-batches 'train 116 \(shuffled, seed 123' -- "$bin" prepare --no-estimate
expect_ok prepare-show 'train example 1 of 1' -- "$bin" prepare --no-estimate --show 1 --mask-instruction
expect_ok prepare-phi3 'template +phi3' -- "$bin" prepare --no-estimate --template phi3 --split test --show 1
expect_ok prepare-fractions 'train 880 / val 110 / test 110' -- "$bin" prepare --no-estimate --train-frac 0.8
expect_ok prepare-export 'wrote +14 test batches' -- "$bin" prepare --no-estimate --split test --export-batches "$tmp/test.jsonl"
[ "$(wc -l <"$tmp/test.jsonl")" -eq 14 ] && ok || no "export: expected 14 lines"
expect_ok tokenize-text '^\[15496,11,995,0\]$' -- "$bin" tokenize --text "Hello, world!"
expect_ok tokenize-stdin '^\[15496,11,995,0\]$' -- bash -c "printf 'Hello, world!' | '$bin' tokenize"
expect_ok tokenize-special-as-text '^\[27,91,437,1659,5239,91,29\]$' -- "$bin" tokenize --text "<|endoftext|>"
expect_ok tokenize-allow-special '^\[50256\]$' -- "$bin" tokenize --text "<|endoftext|>" --allow-special
expect_ok tokenize-decode '^Hello, world!$' -- "$bin" tokenize --decode --text "[15496, 11, 995, 0]"
printf '["Hello, world!", "<|user|>"]' >"$tmp/strings.json"
expect_ok tokenize-json '^\[\[15496,11,995,0\],\[27,91,7220,91,29\]\]$' -- "$bin" tokenize --json "$tmp/strings.json"
printf '[[15496,11,995,0],[27,91,7220,91,29]]' >"$tmp/ids.json"
expect_ok tokenize-json-decode '^\["Hello, world!","<\|user\|>"\]$' -- "$bin" tokenize --decode --json "$tmp/ids.json"

# Every malformed dataset: exit 1 and the one-line message from the manifest.
while IFS=$'\t' read -r file text; do
  case "$file" in ''|'#'*) continue ;; esac
  expect_fail "bad-$file" "$text" -- "$bin" prepare --data "$bad/$file"
done <"$bad/expected.tsv"

expect_fail missing-file 'cannot open dataset' -- "$bin" prepare --data "$tmp/nope.json"
expect_ok version-backend '^backend +cpu \(built: cpu' -- "$bin" --version
expect_ok backend-chosen '^backend +cpu' -- env INSTRUCT_BACKEND=cpu "$bin" --version
expect_fail backend-unknown 'INSTRUCT_BACKEND=cuda is not a backend of this build; it has: cpu' -- \
  env INSTRUCT_BACKEND=cuda "$bin" tokenize --text hi
expect_fail bad-template 'choose one of: alpaca, phi3' -- "$bin" prepare --template chatml
expect_fail bad-fraction 'split fractions' -- "$bin" prepare --train-frac 0.95 --test-frac 0.1
expect_fail bad-utf8-text 'invalid UTF-8 at byte 3' -- "$bin" tokenize --text $'abc\xff'
expect_fail bad-decode-id 'out of range' -- "$bin" tokenize --decode --text "[99999]"
expect_fail bad-tokenizer-dir 'no tokenizer files' -- "$bin" tokenize --text x --tokenizer "$tmp"
expect_fail export-no-dir 'cannot create output file' -- "$bin" prepare --export-batches "$tmp/no/dir/x.jsonl"
ls "$tmp"/no 2>/dev/null && no "export-no-dir left files" || ok
# The estimate: the run's schedule on this CPU from a short probe, skipped with --no-estimate or
# (prepare still reports) when the model cannot be read.
expect_ok prepare-estimate 'estimate +about .*train .*\(232 steps, .*evaluations .*\(48\), samples .*\(2\), respond .*\(110 test entries' \
  -- "$bin" prepare --init random --config n_layer=2,n_head=2,n_embd=32
expect_ok prepare-estimate-lora 'estimate +about .*\(58 steps' -- "$bin" prepare --init random \
  --config n_layer=2,n_head=2,n_embd=32 --lora-rank 4 --batch-size 32 --respond-batch-size 0
grep -q '^estimate' <<<"$("$bin" prepare --no-estimate)" && no "prepare --no-estimate printed an estimate" || ok
expect_ok prepare-estimate-bad-model 'estimate +skipped: .*nowhere' -- "$bin" prepare --model "$tmp/nowhere/model.gguf"
# Training: a tiny custom-size model on the first 40 entries (34 train: 8 batches of 4 per epoch).
tiny='n_layer=2,n_head=2,n_embd=32'
python3 -c "import json,sys; json.dump(json.load(open(sys.argv[1]))[:40], open(sys.argv[2],'w'))" \
  "$repo/data/instruction-data.json" "$tmp/d40.json"
train=("$bin" train --init random --config "$tiny" --data "$tmp/d40.json" --batch-size 4 --lr 1e-3 --sample-tokens 5)
same_metrics() {  # the two runs' metrics.jsonl agree, apart from the step times
  python3 - "$1" "$2" <<'PY'
import json, sys
a, b = ([{k: v for k, v in json.loads(l).items() if k != "seconds"} for l in open(p + "/metrics.jsonl")] for p in sys.argv[1:])
sys.exit(0 if a == b and len(a) == 22 else 1)
PY
}
# Chat records (OpenAI messages, ShareGPT conversations, multi-turn) train as Alpaca records do.
python3 - "$tmp/d40.json" "$tmp/chat.jsonl" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))
with open(sys.argv[2], "w") as f:
    for i, r in enumerate(rows):
        user = r["instruction"] + ("\n" + r["input"] if r["input"] else "")
        if i % 3 == 0:
            rec = {"conversations": [{"from": "human", "value": user}, {"from": "gpt", "value": r["output"]}]}
        else:
            msgs = [{"role": "system", "content": "You are helpful."}] if i % 3 == 1 else []
            if i % 2: msgs += [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi! How can I help?"}]
            rec = {"messages": msgs + [{"role": "user", "content": user}, {"role": "assistant", "content": r["output"]}]}
        f.write(json.dumps(rec) + "\n")
PY
expect_ok chat-prepare 'split +train 34 / val 2 / test 4' -- "$bin" prepare --no-estimate --data "$tmp/chat.jsonl" --show 1 \
  --mask-instruction
expect_ok chat-train 'done +2 steps' -- "$bin" train --init random --config "$tiny" --data "$tmp/chat.jsonl" --batch-size 4 \
  --max-steps 2 --mask-instruction --no-estimate --out "$tmp/chat-run"
expect_ok train-reference-log 'Ep 2 \(Step 000015\): Train loss [0-9.]+, Val loss [0-9.]+' -- "${train[@]}" --out "$tmp/run"
grep -q '^Training loss: ' <<<"$("${train[@]}" --out "$tmp/run2" --max-steps 1)" && ok || no "train: no initial loss line"
[ "$(wc -l <"$tmp/run/metrics.jsonl")" -eq 22 ] && ok || no "train metrics: expected 16 steps, 4 evals, 2 samples"
[ -s "$tmp/run/loss-plot.png" ] && [ -f "$tmp/run/model/model.safetensors" ] && [ -f "$tmp/run/model/instruct.json" ] &&
  [ -f "$tmp/run/checkpoints/step-00000016/optimizer.safetensors" ] && ok || no "train: plot, model or checkpoint missing"
expect_ok train-continue 'done +1 step in' -- "$bin" train --model "$tmp/run/model" --data "$tmp/d40.json" --max-steps 1 \
  --batch-size 4 --out "$tmp/cont"
# kill -9 in the middle of the second checkpoint write (as its first file moves into the temp
# dir): the first stays loadable, and resuming from the run directory ends exactly where the
# uninterrupted run did.
{ LD_PRELOAD="$fault" INSTRUCT_FAULT_MATCH=/.step-00000006.tmp/ "${train[@]}" --save-every 3 --out "$tmp/k" \
    >/dev/null 2>&1; } 2>/dev/null; rc=$?
[ "$rc" -eq 137 ] && ok || no "kill hook: exit $rc, expected 137"
[ -f "$tmp/k/checkpoints/step-00000003/state.json" ] && [ ! -e "$tmp/k/checkpoints/step-00000006" ] && ok ||
  no "kill -9 mid-write: previous checkpoint missing or a partial one visible"
expect_ok train-resume-after-kill 'resume .*step-00000003 \(step 3' -- "$bin" train --resume "$tmp/k"
same_metrics "$tmp/run" "$tmp/k" && ok || no "resume after kill -9: metrics differ from the uninterrupted run"
[ ! -e "$tmp/k/checkpoints/.step-00000006.tmp" ] && ok || no "resume left the partial checkpoint behind"
expect_fail train-resume-changed 'cannot change when resuming' -- "$bin" train --resume "$tmp/k" --lr 1
expect_fail train-resume-nothing 'no checkpoint there' -- "$bin" train --resume "$tmp/cont/nothing"
# Ctrl-C: a real SIGINT saves a checkpoint and exits 130; the run resumes from it.
"$bin" train --init random --config "$tiny" --batch-size 2 --max-length 64 --eval-freq 0 --out "$tmp/int" \
  >"$tmp/int.out" 2>"$tmp/int.err" &
pid=$!
for _ in $(seq 600); do [ "$(cat "$tmp/int/metrics.jsonl" 2>/dev/null | wc -l)" -ge 2 ] && break; sleep 0.1; done
kill -INT "$pid"; wait "$pid"; rc=$?
[ "$rc" -eq 130 ] && grep -q 'interrupted; resume with --resume .*step-' "$tmp/int.err" && ok ||
  no "SIGINT: exit $rc, $(cat "$tmp/int.err")"
ls -d "$tmp"/int/checkpoints/step-* >/dev/null 2>&1 && ok || no "SIGINT: no checkpoint"
expect_ok train-resume-after-int 'done +[0-9]+ steps' -- "$bin" train --resume "$tmp/int" --max-steps "$(($(grep -c '"kind":"step"' "$tmp/int/metrics.jsonl") + 1))"
# Error paths.
expect_fail train-unknown-model 'neither a checkpoint directory nor a model name' -- "$bin" train --model gpt5
expect_fail train-bad-size 'unknown model size' -- "$bin" train --init random --config huge
expect_fail train-bad-custom-size 'is not one of n_layer=' -- "$bin" train --init random --config n_layer=x
expect_fail train-offline 'download config.json and model.safetensors from https://huggingface.co/openai-community/gpt2' -- \
  env INSTRUCT_HF_ENDPOINT=http://127.0.0.1:1 "$bin" train --model gpt2 --cache-dir "$tmp/cache"
expect_fail train-context 'must be between 1 and the model context' -- "$bin" train --model "$tmp/run/model" --max-length 2048
expect_fail train-memory 'training this model needs about' -- "$bin" train --init random --config xl --batch-size 512
# A run that fails before its first checkpoint leaves no directory behind.
expect_fail train-nan-nothing-left 'the loss is' -- "$bin" train --init random --config "$tiny" --data "$tmp/d40.json" \
  --batch-size 4 --lr 1e30 --eval-freq 0 --sample-tokens 0 --out "$tmp/nanrun"
[ ! -e "$tmp/nanrun" ] && ok || no "a failed run left $(ls "$tmp/nanrun" | tr '\n' ' ')"
# Damaged inputs of every kind: one line naming the file, tensor, field or flag (issue 17's classes).
mkdir -p "$tmp/dmg" && mkfifo "$tmp/dmg/fifo"
expect_fail data-is-dir 'is a directory; give the dataset file itself' -- "$bin" prepare --data "$tmp/dmg"
expect_fail data-is-fifo 'not a regular file' -- "$bin" prepare --data "$tmp/dmg/fifo"
expect_fail decode-id-wraps 'is not a token id' -- "$bin" tokenize --decode --text '[4294967301]'
expect_fail flag-not-a-number 'see instruct generate --help' -- "$bin" generate -p x -n nan
expect_fail flag-temperature '--temperature -1 is invalid' -- "$bin" generate --init random --config "$tiny" -p x --temperature -1
expect_fail flag-top-p '--top-p 2 is invalid' -- "$bin" respond --init random --config "$tiny" --top-p 2
expect_fail flag-judge-timeout '--timeout 0 is invalid' -- "$bin" judge --timeout 0
expect_fail tokenizer-missing '--tokenizer /nonexistent: no such directory' -- "$bin" generate --init random \
  --config "$tiny" -p x --tokenizer /nonexistent
for case in 'vocab_size=1000000000000|"vocab_size" is 1000000000000' 'n_layer=100000|past what this engine takes' \
  'n_embd=4294967360|"n_embd" is 4294967360'; do
  kv=${case%%|*} want=${case#*|}
  rm -rf "$tmp/dmg/m" && cp -r "$tmp/run/model" "$tmp/dmg/m"
  python3 -c "import json,sys; p=sys.argv[1]; c=json.load(open(p)); k,v=sys.argv[2].split('='); c[k]=int(v); json.dump(c,open(p,'w'))" \
    "$tmp/dmg/m/config.json" "$kv"
  expect_fail "config-$kv" "$want" -- "$bin" generate --model "$tmp/dmg/m" -p x
done
rm -rf "$tmp/dmg/m" && cp -r "$tmp/run/model" "$tmp/dmg/m"
python3 - "$tmp/dmg/m/model.safetensors" <<'PY'
import json, struct, sys
f = open(sys.argv[1], "r+b")
n = struct.unpack("<Q", f.read(8))[0]
h = json.loads(f.read(n))
name, t = sorted((k, v) for k, v in h.items() if k != "__metadata__")[0]
f.seek(8 + n + t["data_offsets"][0] + 4 * 3)
f.write(struct.pack("<f", float("nan")))
PY
expect_fail weights-nan 'holds nan at element 3' -- "$bin" generate --model "$tmp/dmg/m" -p x
rm -rf "$tmp/dmg/k" && cp -r "$tmp/k" "$tmp/dmg/k"
python3 -c "
import glob, json, sys
for p in glob.glob(sys.argv[1] + '/checkpoints/*/state.json'):
    s = json.load(open(p)); s['batch'] = 10**12; json.dump(s, open(p, 'w'))" "$tmp/dmg/k"
expect_fail state-batch '"batch" is 1000000000000, which no run writes' -- "$bin" train --resume "$tmp/dmg/k"
expect_fail train-accum 'must divide --batch-size' -- "${train[@]}" --grad-accum 3 --out "$tmp/x"
# Numeric flags are checked against the range the option list declares, before anything is written.
expect_fail train-lr-inf '--lr inf is invalid; use a value > 0' -- "$bin" train --init random --config "$tiny" --lr inf --out "$tmp/bad-lr"
expect_fail train-wd-nan '--weight-decay nan is invalid' -- "${train[@]}" --weight-decay nan --out "$tmp/bad-lr"
expect_fail run-max-steps '--max-steps -5 is invalid; use 0 or more' -- "$bin" run --init random --config "$tiny" \
  --max-steps -5 --out "$tmp/bad-lr"
expect_fail prepare-max-length '--max-length -3 is invalid' -- "$bin" prepare --max-length -3
[ ! -e "$tmp/bad-lr" ] && ok || no "a refused option left a run directory"
# --precision bf16: refused in one line on a CPU without bf16 matmuls, trains where there are.
if "$bin" --version | grep -q 'bf16 not available'; then
  expect_fail precision-bf16-refused '--precision bf16: this CPU' -- "$bin" train --init random --config "$tiny" \
    --precision bf16 --out "$tmp/bf16"
else
  expect_ok precision-bf16 'done +2 steps' -- "$bin" train --init random --config "$tiny" --precision bf16 --max-steps 2 \
    --out "$tmp/bf16"
fi
expect_fail precision-unknown '--precision fp8 is unknown' -- "$bin" train --init random --config "$tiny" --precision fp8

# Inference on the trained tiny model, and the whole loop with no judge reachable.
expect_ok respond-limit 'done +3 responses' -- "$bin" respond --model "$tmp/run/model" --data "$tmp/d40.json" --limit 3 \
  --batch-size 2 --out "$tmp/resp.json"
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if len(d)==3 and all('model_response' in e for e in d) else 1)" \
  "$tmp/resp.json" && ok || no "respond: output lacks model_response"
expect_ok respond-resume 'resume +3 of 3 entries already answered' -- "$bin" respond --model "$tmp/run/model" \
  --data "$tmp/d40.json" --limit 3 --out "$tmp/resp.json" --resume
expect_ok generate-stream '' -- "$bin" generate --model "$tmp/run/model" -i "Name a colour." -n 8
expect_fail generate-two-prompts 'give either --prompt' -- "$bin" generate --model "$tmp/run/model" -p x -i y
expect_ok chat-script '' -- bash -c "printf 'Name a colour.\n\n/exit\n' | '$bin' chat --model '$tmp/run/model' -n 8"
expect_fail judge-no-file 'cannot open responses' -- "$bin" judge --responses "$tmp/none.json"
expect_fail judge-no-server 'start it with `ollama serve`' -- "$bin" judge --responses "$tmp/resp.json" --url http://127.0.0.1:1
expect_fail judge-bad-api '--api grpc is unknown' -- "$bin" judge --responses "$tmp/resp.json" --api grpc
expect_ok run-estimate 'estimate +about .*\(3 steps.*respond .*\(4 test entries' -- "$bin" run --init random \
  --config "$tiny" --data "$tmp/d40.json" --batch-size 4 --max-steps 3 --max-new-tokens 8 --no-judge --out "$tmp/est"
expect_ok train-estimate-skipped 'estimate +skipped: .*too short' -- "$bin" train --init random \
  --config n_layer=1,n_head=1,n_embd=16,n_ctx=48 --data "$tmp/d40.json" --max-length 48 --max-steps 1 --out "$tmp/ctx48"
expect_ok run-no-judge 'skipped +judging: no judge server at http://127.0.0.1:1' -- "$bin" run --init random \
  --config "$tiny" --data "$tmp/d40.json" --batch-size 4 --max-steps 3 --max-new-tokens 8 --url http://127.0.0.1:1 \
  --out "$tmp/all"
expect_ok run-resume-judge-flags 'report ' -- "$bin" run --resume "$tmp/all" --max-new-tokens 4 --url http://127.0.0.1:1
[ -f "$tmp/all/report.md" ] && [ -f "$tmp/all/report.html" ] && [ -f "$tmp/all/instruction-data-with-response.json" ] && [ -f "$tmp/all/loss-plot.png" ] &&
  grep -q 'Skipped: no judge server' "$tmp/all/report.md" && ok || no "run: report, responses or plot missing"

# LoRA (exercise 7.4) as a user runs it: the whole loop offline with the book's rank and alpha,
# the adapter in model/ (no copy of the base), used unmerged, merged at load and merged to disk.
expect_ok run-lora 'Total trainable LoRA parameters: ' -- "$bin" run --init random --config "$tiny" \
  --data "$tmp/d40.json" --batch-size 4 --max-steps 3 --max-new-tokens 8 --url http://127.0.0.1:1 \
  --lora-rank 16 --lora-alpha 16 --merge --out "$tmp/lora"
[ -f "$tmp/lora/model/adapter_model.safetensors" ] && [ ! -e "$tmp/lora/model/model.safetensors" ] &&
  [ -f "$tmp/lora/report.html" ] && [ -f "$tmp/lora/instruction-data-with-response.json" ] && ok ||
  no "run --lora-rank: adapter, report or responses missing"
lora_gen=$("$bin" generate --model "$tmp/lora/model" -i "Name a colour." -n 6 --ignore-eos 2>/dev/null)
merged_gen=$("$bin" generate --model "$tmp/lora/model" --merge -i "Name a colour." -n 6 --ignore-eos 2>/dev/null)
expect_ok merge-command 'merged ' -- "$bin" merge --model "$tmp/lora/model" --out "$tmp/lora-merged"
disk_gen=$("$bin" generate --model "$tmp/lora-merged" -i "Name a colour." -n 6 --ignore-eos 2>/dev/null)
[ -n "$lora_gen" ] && [ "$lora_gen" = "$merged_gen" ] && [ "$lora_gen" = "$disk_gen" ] && ok ||
  no "adapter, --merge and instruct merge generate differently: '$lora_gen' / '$merged_gen' / '$disk_gen'"
expect_ok export-hf 'export ' -- "$bin" export --model "$tmp/lora/model" --out "$tmp/lora-hf"
hf_gen=$("$bin" generate --model "$tmp/lora-hf" -i "Name a colour." -n 6 --ignore-eos 2>/dev/null)
[ -f "$tmp/lora-hf/vocab.json" ] && [ -f "$tmp/lora-hf/merges.txt" ] && [ "$hf_gen" = "$lora_gen" ] && ok ||
  no "export --format hf: tokenizer files missing or it generates differently: '$hf_gen' / '$lora_gen'"
# GGUF + Modelfile: an independent reader (tests/export/check_gguf.py) checks llama.cpp's layout and
# tokenizer against the HF export; the GGUF loads back as --model and generates the same tokens.
expect_ok export-gguf 'GGUF v3' -- "$bin" export --model "$tmp/lora/model" --format gguf --out "$tmp/lora.gguf"
expect_ok export-gguf-bf16 'bf16' -- "$bin" export --model "$tmp/lora/model" --format gguf --type bf16 --out "$tmp/lora16.gguf"
python3_=/usr/bin/python3
"$python3_" "$repo/tests/export/check_gguf.py" "$tmp/lora.gguf" "$tmp/lora-hf" "$repo/data" >/dev/null &&
  "$python3_" "$repo/tests/export/check_gguf.py" "$tmp/lora16.gguf" "$tmp/lora-hf" "$repo/data" >/dev/null && ok ||
  no "check_gguf.py rejected the GGUF export"
grep -q '^FROM ./lora.gguf$' "$tmp/lora.Modelfile" && grep -q 'PARAMETER stop "<|endoftext|>"' "$tmp/lora.Modelfile" && ok ||
  no "the Modelfile lacks FROM or the stop parameter"
gguf_gen=$("$bin" generate --model "$tmp/lora.gguf" -i "Name a colour." -n 6 --ignore-eos 2>/dev/null)
[ "$gguf_gen" = "$lora_gen" ] && ok || no "the GGUF generates differently: '$gguf_gen' / '$lora_gen'"
# serve takes the GGUF too, named after the file, and answers as generate does.
"$bin" serve --model "$tmp/lora.gguf" --port 0 --ignore-eos >"$tmp/serve-gguf.log" 2>&1 &
sg=$!
for _ in $(seq 200); do grep -q 'on http://' "$tmp/serve-gguf.log" && break; sleep 0.05; done
/usr/bin/python3 - "$(grep -o 'http://[0-9.:]*' "$tmp/serve-gguf.log" | head -1)" "$gguf_gen" <<'PY' && ok || no "serve on the GGUF"
import json, sys, urllib.request
url, want = sys.argv[1:]
tags = json.load(urllib.request.urlopen(url + "/api/tags"))["models"][0]
assert tags["name"] == "lora:latest" and tags["details"]["format"] == "gguf", tags
req = urllib.request.Request(url + "/api/generate", json.dumps({"model": "lora", "prompt": "Name a colour.", "stream": False,
                             "options": {"num_predict": 6}}).encode())
got = json.load(urllib.request.urlopen(req))["response"]
assert got == want, (got, want)
PY
kill -INT "$sg"
wait "$sg"
# llama.cpp itself loads the GGUF: its tokenization of the prompts equals ours, and its greedy
# 32 tokens equal `instruct generate`'s on this trained tiny model.
tools=$(dirname "$bin")/test-tools
if node "$repo/tests/export/check_llama.mjs" "$tools" "$tmp/lora.gguf" 32 "Name a colour." \
  "Below is an instruction that describes a task.

### Instruction:
Héllo wörld, it's 2026!" >"$tmp/llama.jsonl" 2>"$tmp/llama.err"; then
  ours_gen=$("$bin" generate --model "$tmp/lora.gguf" -p "Name a colour." -n 32 --ignore-eos 2>/dev/null)
  /usr/bin/python3 - "$tmp/llama.jsonl" "$bin" "$ours_gen" <<'PY' && ok || no "llama.cpp and instruct disagree on the GGUF"
import json, subprocess, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
for r in rows:
    ours = json.loads(subprocess.run([sys.argv[2], "tokenize", "--text", r["prompt"]], capture_output=True, text=True, check=True).stdout)
    assert ours == r["tokens"], (r["prompt"], ours, r["tokens"])
assert len(rows[0]["greedy"]) == 32 and rows[0]["text"] == sys.argv[3], (rows[0]["text"], sys.argv[3])
PY
else
  no "llama.cpp (node-llama-cpp in $tools) could not load the GGUF: $(tail -3 "$tmp/llama.err")"
fi
# Q8_0: the independent reader dequantizes the blocks within 1% of the weights, llama.cpp loads the
# file and its greedy tokens equal ours on it (both from the same 8-bit weights).
expect_ok export-gguf-q8 'q8_0' -- "$bin" export --model "$tmp/lora/model" --format gguf --type q8_0 --out "$tmp/lora-q8.gguf"
"$python3_" "$repo/tests/export/check_gguf.py" "$tmp/lora-q8.gguf" "$tmp/lora-hf" "$repo/data" >/dev/null && ok ||
  no "check_gguf.py rejected the Q8_0 export"
if node "$repo/tests/export/check_llama.mjs" "$tools" "$tmp/lora-q8.gguf" 32 "Name a colour." >"$tmp/llama-q8.jsonl" 2>"$tmp/llama-q8.err"; then
  ours_q8=$("$bin" generate --model "$tmp/lora-q8.gguf" -p "Name a colour." -n 32 --ignore-eos 2>/dev/null)
  /usr/bin/python3 -c "import json,sys; r=json.loads(open(sys.argv[1]).readline()); assert r['text'] == sys.argv[2], (r['text'], sys.argv[2])" \
    "$tmp/llama-q8.jsonl" "$ours_q8" && ok || no "llama.cpp and instruct disagree on the Q8_0 GGUF"
  # --precision q8_0 multiplies int8 activations by the int8 weights, as llama.cpp does on them.
  ours_q8i=$("$bin" generate --model "$tmp/lora-q8.gguf" --precision q8_0 -p "Name a colour." -n 32 --ignore-eos 2>/dev/null)
  /usr/bin/python3 -c "import json,sys; r=json.loads(open(sys.argv[1]).readline()); assert r['text'] == sys.argv[2], (r['text'], sys.argv[2])" \
    "$tmp/llama-q8.jsonl" "$ours_q8i" && ok || no "llama.cpp and instruct --precision q8_0 disagree on the Q8_0 GGUF"
else
  no "llama.cpp could not load the Q8_0 GGUF: $(tail -3 "$tmp/llama-q8.err")"
fi
# Q8_0 and a bf16 KV cache as typed, on random weights (broken UTF-8 and all); perplexity per
# precision, and an empty split as a one-line error.
expect_ok generate-q8-random '.' -- "$bin" generate --init random --config "$tiny" --precision q8_0 --kv-precision bf16 \
  -p "Héllo" -n 40 --ignore-eos
expect_ok generate-q8-stats 'weights +[0-9.]+ MB read per decoded token' -- bash -c \
  "'$bin' generate --init random --config '$tiny' --precision q8_0 --head-precision fp32 -p Hi -n 8 --stats 2>&1 >/dev/null"
expect_ok perplexity-q8 '^perplexity [0-9.]+ \(loss [0-9.]+ over [0-9]+ tokens of 5 entries, val split, q8_0\)' -- \
  "$bin" perplexity --model "$tmp/lora-q8.gguf" --precision q8_0 --limit 5
expect_fail perplexity-empty 'split of' -- "$bin" perplexity --init random --config "$tiny" --split test --test-frac 0
expect_fail generate-bad-precision 'q8_0' -- "$bin" generate --init random --config "$tiny" --precision int4 -p Hi
# serve: bad options and a port in use (by another instruct serve) are one-line errors.
expect_fail serve-bad-batch '--max-batch 0 is invalid' -- "$bin" serve --init random --config "$tiny" --max-batch 0
"$bin" serve --init random --config "$tiny" --port 0 >"$tmp/serve1.log" 2>&1 &
serve1=$!
for _ in $(seq 200); do grep -q 'on http://' "$tmp/serve1.log" && break; sleep 0.05; done
busy=$(grep -o 'http://127.0.0.1:[0-9]*' "$tmp/serve1.log" | sed 's/.*://')
expect_fail serve-port-busy "cannot listen on 127.0.0.1:$busy" -- "$bin" serve --init random --config "$tiny" --port "$busy"
kill -INT "$serve1"
wait "$serve1" && grep -q 'serve     stopped' "$tmp/serve1.log" && ok || no "serve did not stop cleanly on SIGINT"
expect_fail export-gguf-name 'a GGUF file is named *.gguf' -- "$bin" export --model "$tmp/lora/model" --format gguf \
  --out "$tmp/lora.bin"
expect_fail export-gguf-type '--type q4_0 is unknown' -- "$bin" export --model "$tmp/lora/model" --format gguf \
  --type q4_0 --out "$tmp/q.gguf"
expect_fail adapter-other-base 'this adapter was trained on another base model' -- "$bin" generate --init random \
  --config "$tiny" --init-seed 9 --adapter "$tmp/lora/model" -i x -n 2
expect_fail adapter-missing 'no adapter_config.json there' -- "$bin" generate --model "$tmp/lora-merged" \
  --adapter "$tmp/lora-merged" -i x -n 2
expect_fail merge-no-adapter '--merge needs an adapter' -- "$bin" generate --model "$tmp/lora-merged" --merge -i x -n 2
expect_fail lora-qkv-bad '--lora-qkv both is unknown' -- "$bin" train --init random --config "$tiny" --lora-rank 4 \
  --lora-qkv both --out "$tmp/bad-lora"
expect_fail lora-targets-bad '"attn" is not a module' -- "$bin" train --init random --config "$tiny" --lora-rank 4 \
  --lora-targets qkv,attn --out "$tmp/bad-lora"
expect_fail lora-init-clash '--lora-rank 8 disagrees with the adapter' -- "$bin" train --init random --config "$tiny" \
  --data "$tmp/d40.json" --lora-init "$tmp/lora/model" --lora-rank 8 --out "$tmp/bad-lora"
[ ! -e "$tmp/bad-lora" ] && ok || no "a refused LoRA option left a run directory"

# DPO (the book's bonus) on the smoke run's SFT model, offline: the book's log lines, the reward
# metrics, a model; LoRA DPO writes an adapter on that model; bad options and files in one line.
python3 -c "import json,sys; json.dump(json.load(open(sys.argv[1]))[:40], open(sys.argv[2], 'w'))" \
  "$repo/data/instruction-data-with-preference.json" "$tmp/p40.json"
expect_ok dpo-smoke 'Ep 1 \(Step 000002\): Train loss [0-9.]+, Val loss [0-9.]+, Train reward margins -?[0-9.]+, Val reward margins' \
  -- "$bin" dpo --model "$tmp/run/model" --data "$tmp/p40.json" --batch-size 4 --max-steps 3 --eval-freq 2 --out "$tmp/dpo"
[ -f "$tmp/dpo/model/model.safetensors" ] && [ -f "$tmp/dpo/reward-margins.png" ] &&
  grep -q '"reward_margin"' "$tmp/dpo/metrics.jsonl" && ok || no "dpo: model, reward plot or reward metrics missing"
expect_ok dpo-lora 'reference: the frozen base \(LoRA\)' -- "$bin" dpo --model "$tmp/run/model" --data "$tmp/p40.json" \
  --batch-size 4 --max-steps 2 --eval-freq 0 --lora-rank 4 --precompute-reference --out "$tmp/dpo-lora"
expect_ok dpo-generate '' -- "$bin" generate --model "$tmp/dpo-lora/model" -i "Name a colour." -n 4
expect_fail dpo-loss '--loss kto is unknown' -- "$bin" dpo --model "$tmp/run/model" --loss kto --out "$tmp/bad-dpo"
expect_fail dpo-logprob '--logprob median is unknown' -- "$bin" dpo --model "$tmp/run/model" --logprob median \
  --out "$tmp/bad-dpo"
expect_fail dpo-no-pairs 'field "chosen" is missing' -- "$bin" dpo --model "$tmp/run/model" --data "$tmp/d40.json" \
  --out "$tmp/bad-dpo"
# --beta and the other preference options belong to dpo only.
! "$bin" train --beta 0.2 >/dev/null 2>"$tmp/err" && grep -q -- '--beta' "$tmp/err" && ok || no "train accepted --beta"
[ ! -e "$tmp/bad-dpo" ] && ok || no "a refused dpo left a run directory"

# The commands as users type them stop at <|endoftext|>: a model trained to end each answer with
# it (4 entries memorized) answers exactly the trained outputs, never printing the token, and never
# runs to the token limit (a wrong stop token would make each answer 256 tokens long).
cat >"$tmp/eos.json" <<'JSON'
[{"instruction": "Name the capital of France.", "input": "", "output": "The capital of France is Paris."},
 {"instruction": "Translate to German.", "input": "Good morning", "output": "Guten Morgen!"},
 {"instruction": "Add the numbers.", "input": "2 and 3", "output": "2 plus 3 is 5."},
 {"instruction": "What is the opposite of hot?", "input": "", "output": "The opposite of hot is cold."}]
JSON
"$bin" train --init random --config n_layer=2,n_head=2,n_embd=64,n_ctx=128 --data "$tmp/eos.json" --train-frac 1 \
  --test-frac 0 --batch-size 4 --max-length 128 --epochs 150 --lr 3e-3 --eval-freq 0 --sample-tokens 0 \
  --out "$tmp/eos" >"$tmp/eos.log" 2>&1 && ok || no "eos: training failed: $(tail -3 "$tmp/eos.log")"
eos_model=("--model" "$tmp/eos/model")
got=$("$bin" generate "${eos_model[@]}" -i "Name the capital of France." --stats 2>"$tmp/eos.err")
[ "$got" = "The capital of France is Paris." ] && ok || no "generate: '$got' (expected the trained answer, stopped at EOS)"
grep -qE '^decode +[0-9]{1,2} tokens' "$tmp/eos.err" && ok || no "generate did not stop early: $(grep decode "$tmp/eos.err")"
got=$("$bin" generate "${eos_model[@]}" -i "Translate to German." --input "Good morning")
[ "$got" = "Guten Morgen!" ] && ok || no "generate with input: '$got'"
"$bin" respond "${eos_model[@]}" --data "$tmp/eos.json" --train-frac 1 --test-frac 0 --split train \
  --out "$tmp/eos-resp.json" >/dev/null 2>&1 || no "respond failed"
python3 - "$tmp/eos.json" "$tmp/eos-resp.json" <<'PY' && ok || no "respond: answers differ from the trained outputs"
import json, sys
want, got = (json.load(open(p)) for p in sys.argv[1:])
bad = [(w["output"], g.get("model_response")) for w, g in zip(want, got) if g.get("model_response") != w["output"]]
print(*bad, sep="\n", file=sys.stderr)
sys.exit(1 if bad or len(got) != 4 else 0)
PY
got=$(printf 'What is the opposite of hot?\n\n/exit\n' | "$bin" chat "${eos_model[@]}" 2>/dev/null)
grep -qxF "The opposite of hot is cold." <<<"$got" && ! grep -q 'endoftext' <<<"$got" && ok ||
  no "chat: '$got' (expected the trained answer on its own line)"
got=$("$bin" generate "${eos_model[@]}" -i "Name the capital of France." --ignore-eos -n 12 --stats 2>"$tmp/eos.err")
grep -qE '^decode +12 tokens' "$tmp/eos.err" && ok || no "--ignore-eos: $(grep decode "$tmp/eos.err")"

# A newcomer's first hour (issue 25): typos, defaults, run folders, export names.
expect_fail typo-command 'did you mean `instruct train`?' -- "$bin" trian
expect_fail typo-flag 'did you mean --max-steps?' -- "$bin" train --max-step 5
expect_fail config-without-init 'add --init random' -- "$bin" train --config small --max-steps 1
tiny=(--init random --config n_layer=2,n_head=2,n_embd=64 --batch-size 4 --eval-freq 0 --sample-tokens 0
      --no-estimate --data "$repo/data/instruction-data.json")
mkdir -p "$tmp/newcomer"
( cd "$tmp/newcomer" && "$bin" generate -i hi >"$tmp/nc.out" 2>"$tmp/nc.err" )
[ $? -eq 1 ] && grep -q 'no trained model in out/.*instruct run' "$tmp/nc.err" && ok ||
  no "generate without a model: $(cat "$tmp/nc.err")"
( cd "$tmp/newcomer" && "$bin" train "${tiny[@]}" --max-steps 2 --out out/run >/dev/null 2>&1 ) || no "newcomer: train failed"
got=$(cd "$tmp/newcomer" && "$bin" generate -i hi -n 2 2>"$tmp/nc.err")
[ $? -eq 0 ] && grep -q 'model     out/run/model (the newest' "$tmp/nc.err" && ok || no "generate finds out/run/model: $(cat "$tmp/nc.err")"
expect_fail model-missing-dir 'no such directory; the newest trained model is out/run/model' -- \
  bash -c "cd '$tmp/newcomer' && '$bin' generate --model out/train/model -i hi"
# Another run's checkpoints in --out are refused; --overwrite starts over; --resume checks the run.
expect_fail out-mixed 'already holds checkpoints of another run' -- \
  bash -c "cd '$tmp/newcomer' && '$bin' train ${tiny[*]} --max-steps 2 --out out/run"
(cd "$tmp/newcomer" && "$bin" train "${tiny[@]}" --max-steps 1 --out out/run --overwrite >"$tmp/ow.log" 2>&1) &&
  [ "$(ls "$tmp/newcomer/out/run/checkpoints")" = step-00000001 ] && grep -q '^done      1 step in' "$tmp/ow.log" && ok ||
  no "--overwrite: $(ls "$tmp/newcomer/out/run/checkpoints") $(tail -2 "$tmp/ow.log")"
"$bin" train "${tiny[@]}" --max-steps 2 --out "$tmp/other" >/dev/null 2>&1 || no "other run failed"
cp -r "$tmp/other/checkpoints/step-00000002" "$tmp/newcomer/out/run/checkpoints/"
expect_fail resume-other-run 'belongs to another run' -- bash -c "cd '$tmp/newcomer' && '$bin' train --resume out/run"
# export: the format from the name, a mismatch refused, the folder made before the model loads.
expect_ok export-gguf-by-name 'GGUF v3' -- "$bin" export --init random --config n_layer=2,n_head=2,n_embd=64 \
  --out "$tmp/new/dir/m.gguf"
[ -f "$tmp/new/dir/m.gguf" ] && [ "$(tail -c 1 "$tmp/new/dir/m.Modelfile" | od -An -c | tr -d ' ')" = '\n' ] && ok ||
  no "export: no m.gguf, or its Modelfile lacks a final newline"
expect_fail export-format-mismatch 'names a GGUF file but --format is hf' -- "$bin" export --init random \
  --config n_layer=2,n_head=2,n_embd=64 --format hf --out "$tmp/x.gguf"
expect_fail export-unwritable 'cannot' -- "$bin" export --init random --config n_layer=2,n_head=2,n_embd=64 \
  --out /proc/nope/m.gguf
# run --limit answers only the first N test entries.
"$bin" run "${tiny[@]}" --max-steps 2 --no-judge --limit 3 --max-new-tokens 2 --out "$tmp/lim" >"$tmp/lim.log" 2>&1 &&
  python3 -c 'import json,sys; sys.exit(len(json.load(open(sys.argv[1]))) != 3)' "$tmp/lim/instruction-data-with-response.json" &&
  ok || no "run --limit 3: $(tail -2 "$tmp/lim.log")"
# respond --resume FILE continues that file (it is the --out).
"$bin" respond --model "$tmp/other/model" --limit 2 -n 2 --resume "$tmp/resp-resume.json" >/dev/null 2>&1 &&
  [ -f "$tmp/resp-resume.json" ] && ok || no "respond --resume FILE wrote no file"

# Usage errors come from the flag parser with its own exit code, not a crash.
"$bin" prepare --batch-size 0 >/dev/null 2>&1; rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] && ok || no "batch-size 0: exit $rc"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
