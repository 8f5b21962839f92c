#!/usr/bin/env bash
# `instruct eval` as a user meets it, against the Python re-implementation of lm-evaluation-harness
# (eval_oracle.py, PyTorch): fixtures in the publishers' formats, a tiny GPT-2 with the real vocab
# and a 96-token window. Checks every item's log-likelihoods, preds and the metrics (0-shot on every
# document; 5-shot, --limit 4, where contexts outgrow the window); bf16 runs; the datasets
# downloaded from a local server into the cache (and used offline after); the offline error; bad
# input.
# Usage: check_eval.sh path/to/instruct repo_dir work_dir
set -euo pipefail
bin=$1 repo=$2 work=$3
py=/usr/bin/python3
oracle="$repo/tests/oracle/eval_oracle.py"
rm -rf "$work" && mkdir -p "$work"
cd "$work"
export INSTRUCT_CACHE="$work/cache"
"$py" "$oracle" make "$work"
local_data=(--data hellaswag=hellaswag_val.jsonl --data mmlu=data.tar --data arc=ARC-V1-Feb2018.zip)
all=hellaswag,arc_easy,arc_challenge,mmlu

"$py" "$oracle" expect "$work" 0 0 exp0.json
"$bin" eval --model model --tasks $all "${local_data[@]}" -o got0.json >table0.txt 2>log0.txt
"$py" "$oracle" compare exp0.json got0.json
grep -q '^|hellaswag  *|     0|     7|acc     |' table0.txt
grep -q '^| - mmlu_humanities' table0.txt
"$py" "$oracle" expect "$work" 5 4 exp5.json
"$bin" eval --model model --tasks $all "${local_data[@]}" --num-fewshot 5 --limit 4 -b 3 \
  --per-subject -o got5.json >table5.txt 2>log5.txt
"$py" "$oracle" compare exp5.json got5.json
grep -q '^|    - virology' table5.txt
# An extracted folder works as the archive does.
"$bin" eval --model model --tasks mmlu_virology,arc_easy --data mmlu="$(ls -d cache/datasets/extracted/data.tar-*)" \
  --data arc="$(ls -d cache/datasets/extracted/ARC-V1-Feb2018.zip-*)" -o folder.json >/dev/null 2>&1
"$py" - <<'PY'
import json
a, b = json.load(open("got0.json")), json.load(open("folder.json"))
key = lambda r: (r["task"], r["index"])
want = sorted((r for r in a["items"] if r["task"] in ("mmlu_virology", "arc_easy")), key=key)
got = sorted(b["items"], key=key)
assert [r["loglikelihoods"] for r in want] == [r["loglikelihoods"] for r in got], "folder != archive"
PY

# bf16: the same items, every number finite.
if "$bin" --version | grep -q 'bf16 brg\|emulated'; then
  "$bin" eval --model model --tasks arc_easy,mmlu_anatomy "${local_data[@]}" --precision bf16 -o bf16.json >/dev/null 2>&1
  "$py" -c "
import json, math
r = json.load(open('bf16.json'))
assert len(r['items']) == 6 + 3 and all(math.isfinite(x) for i in r['items'] for x in i['loglikelihoods'])"
fi

# Downloads: the publishers' paths on a local server, into the cache once; then offline.
mkdir -p srv/rowanz/hellaswag/master/data srv/~hendrycks srv/arc
cp hellaswag_val.jsonl hellaswag_train.jsonl srv/rowanz/hellaswag/master/data/
cp data.tar srv/~hendrycks/ && cp ARC-V1-Feb2018.zip srv/arc/
port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$py" -m http.server "$port" --bind 127.0.0.1 --directory srv >server.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
export INSTRUCT_CACHE="$work/dl-cache"
INSTRUCT_DATA_ENDPOINT="http://127.0.0.1:$port" "$bin" eval --model model \
  --tasks hellaswag,arc_challenge,mmlu_anatomy --num-fewshot 1 -o dl.json >/dev/null 2>dl.log
test -f dl-cache/datasets/hellaswag/hellaswag_val.jsonl
test -f dl-cache/datasets/hellaswag/hellaswag_train.jsonl
test -d dl-cache/datasets/mmlu/extracted && test -d dl-cache/datasets/arc/extracted
kill $server
# Offline now: the cache serves.
INSTRUCT_DATA_ENDPOINT="http://127.0.0.1:$port" "$bin" eval --model model \
  --tasks hellaswag,arc_challenge,mmlu_anatomy --num-fewshot 1 -o dl2.json >/dev/null 2>&1
cmp <("$py" -c "import json; print(json.load(open('dl.json'))['items'])") \
    <("$py" -c "import json; print(json.load(open('dl2.json'))['items'])")

# Offline with an empty cache: one line naming the URL and where to put the file.
expect_error() {  # expect_error PATTERN ARGS...
  local pattern=$1
  shift
  if "$bin" "$@" >out.txt 2>err.txt; then
    echo "FAIL: instruct $* succeeded"
    exit 1
  fi
  if ! grep -q -- "$pattern" err.txt; then
    echo "FAIL: instruct $*: expected /$pattern/, got:"
    cat err.txt
    exit 1
  fi
}
export INSTRUCT_CACHE="$work/empty-cache"
INSTRUCT_DATA_ENDPOINT="http://127.0.0.1:$port" expect_error \
  "download http://127.0.0.1:$port/~hendrycks/data.tar to $work/empty-cache/datasets/mmlu/data.tar" \
  eval --model model --tasks mmlu
test ! -e "$work/empty-cache/datasets/mmlu/data.tar"
expect_error "unknown task hellaswagg" eval --model model --tasks hellaswagg
expect_error "say which this is" eval --model model --tasks hellaswag,mmlu --data x.jsonl
expect_error "no such file" eval --model model --tasks hellaswag --data missing.jsonl
printf 'not json\n' >bad.jsonl
expect_error "bad.jsonl:1: not a JSON line" eval --model model --tasks hellaswag --data bad.jsonl
printf '{"ctx_a": "x"}\n' >bad2.jsonl
expect_error 'bad2.jsonl:1: missing or mistyped "ctx_b"' eval --model model --tasks hellaswag --data bad2.jsonl
printf '{"activity_label": "A", "ctx_a": "x", "ctx_b": "y", "endings": ["a"], "label": "one"}\n' >bad5.jsonl
expect_error 'bad5.jsonl:1: missing or mistyped "label"' eval --model model --tasks hellaswag --data bad5.jsonl
printf '{"activity_label": "A", "ctx_a": "x", "ctx_b": "y", "endings": ["a", "b"], "label": 2}\n' >bad3.jsonl
expect_error "bad3.jsonl:1: label 2 is not one of the 2 endings" eval --model model --tasks hellaswag --data bad3.jsonl
printf '{"activity_label": "A", "ctx_a": "x", "ctx_b": "y", "endings": ["a"], "label": 0}\n{"ctx_a": "\xff"}\n' >bad4.jsonl
expect_error "bad4.jsonl:2: not UTF-8 (byte 12 of the line)" eval --model model --tasks hellaswag --data bad4.jsonl
mkdir -p badmmlu/test && printf 'q,a,b,c,d,A\nq2,\xfe,b,c,d,B\n' >badmmlu/test/virology_test.csv
expect_error "virology_test.csv:2: not UTF-8" eval --model model --tasks mmlu_virology --data badmmlu
printf 'q,a,b,c,d,E\n' >badmmlu/test/virology_test.csv
expect_error "virology_test.csv: record 1 is not question,A,B,C,D,answer-letter" eval --model model \
  --tasks mmlu_virology --data badmmlu
test ! -e out.json
expect_error "few-shot split has 12 examples" eval --model model --tasks hellaswag \
  --data "$work/hellaswag_val.jsonl" --num-fewshot 20
printf 'not an archive' >junk.tar
expect_error "junk.tar: not a readable tar or zip archive" eval --model model --tasks mmlu --data junk.tar
test -z "$(find "$work/empty-cache" -name '*.tmp' 2>/dev/null)"
echo "eval check: ok"
