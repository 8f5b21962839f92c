#!/usr/bin/env bash
# Crash loops: `instruct train`, `respond` and `judge` are killed with SIGKILL at KILLS moments
# each and restarted until they finish; the result must equal an uninterrupted run's.
# - train (a checkpoint every step): every other kill lands inside a checkpoint write (the
#   fault shim, tests/faults/fault_rename.cpp, as a random file of one of the process's first three
#   checkpoints moves into its temp dir), the others at a
#   random time. After each kill the newest checkpoint loads (generate answers from it), no partial
#   checkpoint is visible, and `train --resume RUN` continues (a run killed before its first
#   checkpoint starts again). The final metrics.jsonl equals the uninterrupted run's.
# - respond --resume and judge (which resumes by itself; against a stub judge that answers slowly):
#   killed at random times; the output is valid JSON after every kill, and the final file equals
#   the uninterrupted run's: no entry lost, duplicated or half-written.
# Usage: crash_loop.sh path/to/instruct repo_dir [KILLS=20] path/to/libfault_rename.so
set -u
bin=$(realpath "$1")
repo=$(realpath "$2")
kills=${3:-20}
fault=$(realpath "${4:?usage: crash_loop.sh INSTRUCT REPO KILLS FAULT_SHIM.so}")
py=/usr/bin/python3
[ -x "$py" ] || py=python3
tmp=$(mktemp -d)
stub=
trap '[ -n "$stub" ] && kill "$stub" 2>/dev/null; rm -rf "$tmp"' EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); }
no() { failed=$((failed + 1)); echo "FAIL: $*"; }
export OMP_WAIT_POLICY=PASSIVE
seed=${CRASH_SEED:-$$}
RANDOM=$seed
echo "crash loop: seed $seed (CRASH_SEED=$seed repeats it), $kills kills per command"

# Runs "$@" and kills it with SIGKILL after $1 seconds if it is still running; returns its exit
# status (137 when killed).
run_and_kill() {
  local after=$1
  shift
  # (a subshell, so bash's "Killed" job notice goes to /dev/null with its stderr)
  (timeout --signal=KILL "$after" "$@" >>"$tmp/log" 2>&1; exit $?) 2>/dev/null
}
# A random time in seconds between 0.05 and $1.
random_time() { awk -v r="$RANDOM" -v t="$1" 'BEGIN{printf "%.2f", 0.05 + (t - 0.05) * r / 32767}'; }
timed() { local s=$(date +%s.%N); "$@" >>"$tmp/log" 2>&1; local rc=$?; echo "$(awk -v s="$s" -v e="$(date +%s.%N)" 'BEGIN{print e - s}')"; return $rc; }

"$py" -c "import json,sys; json.dump(json.load(open(sys.argv[1]))[:40], open(sys.argv[2],'w'))" \
  "$repo/data/instruction-data.json" "$tmp/d40.json"
train=("$bin" train --init random --config n_layer=2,n_head=2,n_embd=32 --data "$tmp/d40.json" --batch-size 4
  --lr 1e-3 --sample-tokens 5 --save-every 1 --no-estimate)

# --- train
t_train=$(timed "${train[@]}" --out "$tmp/ref") || { no "uninterrupted train failed: $(tail -3 "$tmp/log")"; }
same_metrics() {
  "$py" - "$1" "$2" <<'PY'
import json, sys
a, b = ([{k: v for k, v in json.loads(l).items() if k != "seconds"} for l in open(p + "/metrics.jsonl")] for p in sys.argv[1:])
sys.exit(0 if a == b and len(a) == 22 else 1)
PY
}
# Until KILLS kills have landed: a run that finishes first is compared and started again.
killed=0 in_write=0 attempts=0 lives=0
run=$tmp/run
while [ "$killed" -lt "$kills" ] && [ "$attempts" -lt $((3 * kills)) ]; do
  attempts=$((attempts + 1))
  if ls "$run"/checkpoints/step-* >/dev/null 2>&1; then cmd=("$bin" train --resume "$run" --no-estimate)
  else cmd=("${train[@]}" --out "$run"); fi
  if [ $((attempts % 2)) -eq 0 ]; then
    # A checkpoint moves 5 files into its temp dir: renames 1-15 fall inside the first three.
    LD_PRELOAD="$fault" INSTRUCT_FAULT_MATCH=/.step- INSTRUCT_FAULT_AT=$((1 + RANDOM % 15)) run_and_kill 600 "${cmd[@]}"
    rc=$?
    [ "$rc" -eq 137 ] && in_write=$((in_write + 1))
  else
    run_and_kill "$(random_time "$t_train")" "${cmd[@]}"
    rc=$?
  fi
  if [ "$rc" -eq 0 ]; then  # finished before the kill
    same_metrics "$tmp/ref" "$run" && ok || no "train: a run resumed $killed times differs from the uninterrupted one"
    lives=$((lives + 1))
    rm -rf "$run"
    continue
  fi
  [ "$rc" -eq 137 ] || { no "train attempt $attempts: exit $rc: $(tail -2 "$tmp/log")"; continue; }
  killed=$((killed + 1))
  for d in "$run"/checkpoints/step-*; do
    [ -e "$d" ] || continue
    [ -f "$d/state.json" ] && [ -f "$d/model.safetensors" ] && [ -f "$d/optimizer.safetensors" ] ||
      no "train kill $killed: $d is visible but incomplete"
  done
  newest=$(ls -d "$run"/checkpoints/step-* 2>/dev/null | tail -1)
  if [ -n "$newest" ]; then
    "$bin" generate --model "$newest" -p "Hello" -n 2 >/dev/null 2>>"$tmp/log" && ok ||
      no "train kill $killed: the newest checkpoint $newest does not load: $(tail -1 "$tmp/log")"
  fi
done
[ "$killed" -eq "$kills" ] || no "train: only $killed kills landed in $attempts attempts"
if ls "$run"/checkpoints/step-* >/dev/null 2>&1; then "$bin" train --resume "$run" >>"$tmp/log" 2>&1
else "${train[@]}" --out "$run" >>"$tmp/log" 2>&1; fi || no "train: the last resume failed: $(tail -2 "$tmp/log")"
same_metrics "$tmp/ref" "$run" && ok || no "train: metrics after the kills differ from the uninterrupted run's"
ls "$run"/checkpoints/.step-* >/dev/null 2>&1 && no "train: temp checkpoint directories left behind" || ok
echo "train:   $killed kills ($in_write inside a checkpoint write) in $attempts attempts; $((lives + 1)) runs finished," \
  "each equal to the uninterrupted one (${t_train}s)"

# kill_loop NAME OUT REF TIME CMD...: runs CMD (which writes OUT) with kills at random times until
# KILLS have landed; OUT is valid JSON after every kill, and each finished run's OUT equals REF.
kill_loop() {
  local name=$1 out=$2 ref=$3 t=$4
  shift 4
  local killed=0 attempts=0 lives=0 rc
  local window=$t start elapsed
  while [ "$killed" -lt "$kills" ] && [ "$attempts" -lt $((3 * kills)) ]; do
    attempts=$((attempts + 1))
    start=$(date +%s.%N)
    run_and_kill "$(random_time "$window")" "$@"
    rc=$?
    if [ "$rc" -eq 0 ]; then
      cmp -s "$ref" "$out" && ok || no "$name: a run killed $killed times wrote a different file than the uninterrupted one"
      lives=$((lives + 1))
      rm -f "$out"
      # The reference run may have been timed on a busier machine: kill within what a run takes now.
      elapsed=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN{print e - s}')
      window=$(awk -v w="$window" -v e="$elapsed" 'BEGIN{print (e < w ? e : w)}')
      continue
    fi
    [ "$rc" -eq 137 ] || { no "$name attempt $attempts: exit $rc: $(tail -2 "$tmp/log")"; continue; }
    killed=$((killed + 1))
    [ ! -e "$out" ] || "$py" -c "import json,sys; json.load(open(sys.argv[1]))" "$out" && ok ||
      no "$name kill $killed: $out is not valid JSON"
  done
  [ "$killed" -eq "$kills" ] || no "$name: only $killed kills landed in $attempts attempts"
  "$@" >>"$tmp/log" 2>&1 || no "$name: the last run failed: $(tail -2 "$tmp/log")"
  cmp -s "$ref" "$out" && ok || no "$name: the file after the kills differs from the uninterrupted run's"
  echo "$name: $killed kills in $attempts attempts; $((lives + 1)) runs finished, each equal to the uninterrupted one (${t}s)"
}

# --- respond
# (random weights: the trained tiny model answers mostly nothing, random ones give text to compare)
model=(--init random --config n_layer=2,n_head=2,n_embd=32)
# (the train split, 935 entries, 24 tokens each, one at a time: seconds, and several writes)
respond=("$bin" respond "${model[@]}" --data "$repo/data/instruction-data.json" --split train --max-new-tokens 24
  --ignore-eos --batch-size 1)
t_resp=$(timed "${respond[@]}" --out "$tmp/resp-ref.json") || no "uninterrupted respond failed: $(tail -3 "$tmp/log")"
kill_loop respond "$tmp/resp.json" "$tmp/resp-ref.json" "$t_resp" "${respond[@]}" --out "$tmp/resp.json" --resume

# --- judge: the test split's 110 responses, against a stub Ollama that takes 0.1 s per answer
"$bin" respond "${model[@]}" --data "$repo/data/instruction-data.json" --max-new-tokens 8 --ignore-eos \
  --out "$tmp/test-resp.json" >>"$tmp/log" 2>&1 || no "respond on the test split failed: $(tail -2 "$tmp/log")"
"$py" "$repo/tests/report/judge_stub.py" "$tmp/port" 0.1 2>"$tmp/stub.log" &
stub=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.05; done
judge=("$bin" judge --responses "$tmp/test-resp.json" --url "http://127.0.0.1:$(cat "$tmp/port")" -j 2)
t_judge=$(timed "${judge[@]}" --out "$tmp/scores-ref.json") || no "uninterrupted judge failed: $(tail -3 "$tmp/log")"
kill_loop judge "$tmp/scores.json" "$tmp/scores-ref.json" "$t_judge" "${judge[@]}" --out "$tmp/scores.json"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
