#!/usr/bin/env bash
# The bad-input manifest (tests/data/bad/manifest.tsv): broken datasets, model directories,
# safetensors and GGUF files, adapters, tokenizers, responses files and numeric flags. Each case
# must end with exit 1 (not a signal, not a crash), one stderr line "error: ..." naming what is
# wrong, and nothing written. Cases are built from a tiny model trained here (make_cases.py).
# Usage: run_bad_inputs.sh path/to/instruct repo_dir
set -u
BIN=$(realpath "$1")
REPO=$(realpath "$2")
py=/usr/bin/python3
[ -x "$py" ] || py=python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
F=$tmp/cases
mkdir -p "$F"
export BIN REPO F OMP_WAIT_POLICY=PASSIVE
passed=0
failed=0
ok() { passed=$((passed + 1)); }
no() { failed=$((failed + 1)); echo "FAIL: $*"; }
setup() { "$@" >>"$tmp/setup.log" 2>&1 || { echo "setup failed: $*"; tail -3 "$tmp/setup.log"; exit 1; }; }

"$py" -c "import json,sys; json.dump(json.load(open(sys.argv[1]))[:8], open(sys.argv[2],'w'))" \
  "$REPO/data/instruction-data.json" "$F/d8.json"
"$py" -c "import json,sys; json.dump(json.load(open(sys.argv[1]))[:8], open(sys.argv[2],'w'))" \
  "$REPO/data/instruction-data-with-preference.json" "$F/prefs8.json"
tiny=(--config n_layer=1,n_head=2,n_embd=8 --data "$F/d8.json" --batch-size 2 --max-steps 1 --eval-freq 0 --sample-tokens 0)
setup "$BIN" train --init random "${tiny[@]}" --out "$F/run"
mv "$F/run/model" "$F/model"
setup "$BIN" train --init random "${tiny[@]/n_embd=8/n_embd=16}" --out "$F/run-wide"
mv "$F/run-wide/model" "$F/model-wide"
setup "$BIN" train --model "$F/model" "${tiny[@]:2}" --lora-rank 2 --out "$F/lora"
setup "$BIN" export --model "$F/model" --format gguf --out "$F/model.gguf"
setup "$py" "$REPO/tests/data/bad/make_cases.py" "$F"

cases=0
while IFS=$'\t' read -r name expected command; do
  case "$name" in ''|'#'*) continue ;; esac
  cases=$((cases + 1))
  OUT=$tmp/out/$name
  mkdir -p "$OUT"
  export OUT
  timeout 120 bash -c "$command" </dev/null >"$tmp/stdout" 2>"$tmp/stderr"
  rc=$?
  left=$(ls -A "$OUT")
  if [ "${expected#ok:}" != "$expected" ]; then
    if [ "$rc" -ne 0 ]; then no "$name: exit $rc: $(head -c 300 "$tmp/stderr")"
    elif ! grep -qE -- "${expected#ok:}" "$tmp/stdout"; then no "$name: output does not match /${expected#ok:}/: $(head -c 300 "$tmp/stdout")"
    else ok; fi
    continue
  fi
  lines=$(wc -l <"$tmp/stderr")
  if [ "$rc" -ne 1 ]; then no "$name: exit $rc, expected 1 ($(head -c 300 "$tmp/stderr"))"
  elif [ "$lines" -ne 1 ] || ! grep -q '^error: ' "$tmp/stderr"; then no "$name: stderr is not one 'error:' line: $(head -c 400 "$tmp/stderr")"
  elif ! grep -qF -- "$expected" "$tmp/stderr"; then no "$name: '$expected' not in: $(head -c 400 "$tmp/stderr")"
  elif [ -n "$left" ]; then no "$name: left output behind: $left"
  else ok; fi
done <"$REPO/tests/data/bad/manifest.tsv"
# A full disk (a file size limit: writes fail with EFBIG) while writing a checkpoint and responses:
# one clear line, the previous files intact, no temp files left.
lim=$tmp/limit
mkdir -p "$lim"
"$BIN" train --init random --config n_layer=1,n_head=2,n_embd=8 --data "$F/d8.json" --batch-size 2 --max-steps 2 \
  --eval-freq 0 --sample-tokens 0 --out "$lim/run" >/dev/null 2>&1
(ulimit -f 1000; "$BIN" train --resume "$lim/run" --max-steps 4 >/dev/null 2>"$tmp/stderr"); rc=$?
if [ "$rc" -eq 1 ] && [ "$(wc -l <"$tmp/stderr")" -eq 1 ] && grep -q 'model.safetensors: write failed (File too large)' "$tmp/stderr"; then ok
else no "checkpoint on a full disk: exit $rc: $(head -c 300 "$tmp/stderr")"; fi
[ "$(ls -A "$lim/run/checkpoints")" = "step-00000002" ] && ok || no "checkpoint on a full disk: left $(ls -A "$lim/run/checkpoints")"
"$BIN" generate --model "$lim/run/checkpoints/step-00000002" -p hi -n 1 >/dev/null 2>&1 && ok ||
  no "checkpoint on a full disk: the previous checkpoint does not load"
"$BIN" respond --model "$F/model" --data "$REPO/data/instruction-data.json" --limit 40 -n 2 --out "$lim/r.json" >/dev/null 2>&1
# (as if an earlier run had stopped after 30 entries)
"$py" -c "import json,sys; d=json.load(open(sys.argv[1])); [e.pop('model_response') for e in d[30:]]; json.dump(d, open(sys.argv[1],'w'), indent=4)" "$lim/r.json"
cp "$lim/r.json" "$lim/r-before.json"
(ulimit -f 1; "$BIN" respond --model "$F/model" --data "$REPO/data/instruction-data.json" --limit 40 -n 2 --resume \
  --out "$lim/r.json" >/dev/null 2>"$tmp/stderr"); rc=$?
if [ "$rc" -eq 1 ] && [ "$(wc -l <"$tmp/stderr")" -eq 1 ] && grep -q 'r.json: write failed (File too large)' "$tmp/stderr"; then ok
else no "responses on a full disk: exit $rc: $(head -c 300 "$tmp/stderr")"; fi
cmp -s "$lim/r.json" "$lim/r-before.json" && [ "$(ls "$lim" | grep -c 'r\.json')" -eq 1 ] && ok ||
  no "responses on a full disk: the previous file changed or a temp file was left: $(ls "$lim")"
# The dataset cases of expected.tsv are the CLI suite's; counted here for the total.
dataset_cases=$(grep -vc '^#' "$REPO/tests/data/bad/expected.tsv")
echo "bad inputs: $cases cases here + $dataset_cases dataset files in the CLI suite, and 2 full-disk writes; $passed passed, $failed failed"
[ "$failed" -eq 0 ]
