#!/usr/bin/env bash
# The `instruct` binary as a user runs it: outputs, exit codes, one-line errors, no partial files.
# Usage: run_cli_tests.sh path/to/instruct repo_dir
set -u
bin=$(realpath "$1")
repo=$2
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
expect_ok prepare-bundled 'split +train 935 / val 55 / test 110' -- "$bin" prepare --data "$repo/data/instruction-data.json"
expect_ok prepare-default-data 'train 935 / val 55 / test 110' -- "$bin" prepare
expect_ok prepare-from-elsewhere 'train 935' -- bash -c "cd / && '$bin' prepare"
expect_ok prepare-batches 'train 116 \(shuffled, seed 123' -- "$bin" prepare
expect_ok prepare-show 'train example 1 of 1' -- "$bin" prepare --show 1 --mask-instruction
expect_ok prepare-phi3 'template +phi3' -- "$bin" prepare --template phi3 --split test --show 1
expect_ok prepare-fractions 'train 880 / val 110 / test 110' -- "$bin" prepare --train-frac 0.8
expect_ok prepare-export 'wrote +14 test batches' -- "$bin" prepare --split test --export-batches "$tmp/test.jsonl"
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
expect_fail bad-template 'choose one of: alpaca, phi3' -- "$bin" prepare --template chatml
expect_fail bad-fraction 'split fractions' -- "$bin" prepare --train-frac 0.95 --test-frac 0.1
expect_fail bad-utf8-text 'invalid UTF-8 at byte 3' -- "$bin" tokenize --text $'abc\xff'
expect_fail bad-decode-id 'out of range' -- "$bin" tokenize --decode --text "[99999]"
expect_fail bad-tokenizer-dir 'no tokenizer files' -- "$bin" tokenize --text x --tokenizer "$tmp"
expect_fail export-no-dir 'cannot create output file' -- "$bin" prepare --export-batches "$tmp/no/dir/x.jsonl"
ls "$tmp"/no 2>/dev/null && no "export-no-dir left files" || ok
# Training: a short real run from random init, and its error paths.
expect_ok train-random 'done +2 steps .* tokens/s, loss .* peak memory' -- "$bin" train --init random --config small \
  --max-steps 2 --max-length 48 --batch-size 2 --metrics "$tmp/m.jsonl" --out "$tmp/model"
[ "$(wc -l <"$tmp/m.jsonl")" -eq 2 ] && ok || no "train metrics: expected 2 lines"
[ -f "$tmp/model/model.safetensors" ] && [ -f "$tmp/model/config.json" ] && ok || no "train --out: no checkpoint"
expect_ok train-continue 'done +1 steps' -- "$bin" train --model "$tmp/model" --max-steps 1 --max-length 48 --batch-size 2
expect_fail train-unknown-model 'neither a checkpoint directory nor a model name' -- "$bin" train --model gpt5
expect_fail train-bad-size 'unknown model size' -- "$bin" train --init random --config huge
expect_fail train-offline 'download config.json and model.safetensors from https://huggingface.co/openai-community/gpt2' -- \
  env INSTRUCT_HF_ENDPOINT=http://127.0.0.1:1 "$bin" train --model gpt2 --cache-dir "$tmp/cache"
expect_fail train-context 'must be between 1 and the model context' -- "$bin" train --model "$tmp/model" --max-length 2048

# Usage errors come from the flag parser with its own exit code, not a crash.
"$bin" prepare --batch-size 0 >/dev/null 2>&1; rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] && ok || no "batch-size 0: exit $rc"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
