#!/usr/bin/env bash
# Data-parallel training under Open MPI on one machine: `mpirun -np 2 --oversubscribe instruct
# train` gives the losses and evaluations of one process over the same global batches (within 1e-5
# relative over 10 steps), rank 0 alone writes the run, and an interrupted mpirun run resumes under
# mpirun to the same losses. `instruct dpo` likewise, with the reference per step and precomputed.
# Ordering, not timing: with SLOW_RENAME (tests/mpi/slow_rename.cpp) every mpirun here makes rank 0
# sleep 1.5 s before each file it moves into a model path, so a rank that reads the model before
# rank 0 has written it fails every time.
# Ctrl-C comes from the fault shim (tests/faults/fault_rename.cpp): rank 0 raises SIGINT as its
# step-5 checkpoint moves into place; every rank stops after the same step.
# Usage: check_mpi.sh path/to/instruct repo_dir work_dir path/to/slow_rename.so path/to/fault_rename.so
set -euo pipefail
bin=$1 repo=$2 work=$3 slow=${4:-} fault=${5:?usage: check_mpi.sh INSTRUCT REPO WORK SLOW_SHIM.so FAULT_SHIM.so}
rm -rf "$work" && mkdir -p "$work"
command -v mpirun >/dev/null || { echo "FAIL: mpirun not found (bash scripts/setup.sh installs openmpi-bin)"; exit 1; }
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
# CI runs as root; Open MPI refuses that unless told.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpi=(mpirun -np 2 --oversubscribe --bind-to none)
[ -z "$slow" ] || mpi+=(-x "LD_PRELOAD=$(realpath "$slow")" -x INSTRUCT_SLOW_MS=1500)
common=(train --init random --config n_layer=2,n_head=2,n_embd=64 --max-steps 10 --batch-size 4 --eval-freq 5
        --eval-iter 2 --sample-tokens 0 --data "$repo/data/instruction-data.json")
"$bin" "${common[@]}" --out "$work/one" >"$work/one.log"
"$bin" "${common[@]}" --grad-accum 2 --out "$work/accum" >"$work/accum.log"
"${mpi[@]}" "$bin" "${common[@]}" --out "$work/two" >"$work/two.log" 2>&1 || { cat "$work/two.log"; exit 1; }
# The memory-lean options under mpirun: int8 moments and recomputation work; the fused update (no
# whole-model gradient to sum across ranks) is refused in one line.
lean=(--optimizer-state int8 --recompute-activations)
"$bin" "${common[@]}" "${lean[@]}" --out "$work/lean-one" >"$work/lean-one.log"
"${mpi[@]}" "$bin" "${common[@]}" "${lean[@]}" --out "$work/lean-two" >"$work/lean-two.log" 2>&1 ||
  { cat "$work/lean-two.log"; exit 1; }
if "${mpi[@]}" "$bin" "${common[@]}" --fused-update --out "$work/fused" >"$work/fused.log" 2>&1; then
  echo "FAIL: --fused-update ran under mpirun"; exit 1
fi
grep -q 'error: --fused-update cannot run here: .*mpirun' "$work/fused.log" ||
  { echo "FAIL: --fused-update under mpirun is not refused with its reason"; cat "$work/fused.log"; exit 1; }
# Ctrl-C on rank 0 while it saves step 5: every rank stops after step 6 and saves; then resumed under
# mpirun.
set +e
cut=(mpirun -np 2 --oversubscribe --bind-to none -x "LD_PRELOAD=$(realpath "$fault")${slow:+:$(realpath "$slow")}"
     -x INSTRUCT_FAULT_MATCH=checkpoints/step-00000005 -x INSTRUCT_FAULT_SIGNAL=INT)
[ -z "$slow" ] || cut+=(-x INSTRUCT_SLOW_MS=1500)
"${cut[@]}" "$bin" "${common[@]}" --save-every 5 --out "$work/cut" >"$work/cut.log" 2>&1
rc=$?
set -e
[ "$rc" -eq 130 ] || { echo "FAIL: the interrupted mpirun run exited $rc, expected 130"; cat "$work/cut.log"; exit 1; }
"${mpi[@]}" "$bin" train --resume "$work/cut" >"$work/resume.log" 2>&1 || { cat "$work/resume.log"; exit 1; }
# DPO on the SFT run's model: the batch's pairs split over the ranks, the reference computed per
# step or precomputed (each rank computes every other chunk and they exchange them).
/usr/bin/python3 -c 'import json, sys; json.dump(json.load(open(sys.argv[1]))[:64], open(sys.argv[2], "w"))' \
  "$repo/data/instruction-data-with-preference.json" "$work/prefs.json"
dpo=(dpo --model "$work/one/model" --data "$work/prefs.json" --max-steps 6 --batch-size 4 --eval-freq 2
     --eval-iter 3 --sample-tokens 0)
"$bin" "${dpo[@]}" --out "$work/dpo-one" >"$work/dpo-one.log"
"${mpi[@]}" "$bin" "${dpo[@]}" --out "$work/dpo-two" >"$work/dpo-two.log" 2>&1 || { cat "$work/dpo-two.log"; exit 1; }
"${mpi[@]}" "$bin" "${dpo[@]}" --precompute-reference --out "$work/dpo-pre" >"$work/dpo-pre.log" 2>&1 ||
  { cat "$work/dpo-pre.log"; exit 1; }
# The whole loop under mpirun: both trainings data-parallel, then rank 0 alone responds and reports.
"${mpi[@]}" "$bin" run --init random --config n_layer=2,n_head=2,n_embd=64 --max-steps 4 --batch-size 4 \
  --eval-freq 2 --eval-iter 2 --sample-tokens 0 --data "$repo/data/instruction-data.json" --dpo-data "$work/prefs.json" \
  --no-judge --max-new-tokens 3 --out "$work/run" >"$work/run.log" 2>&1 || { cat "$work/run.log"; exit 1; }
for f in run/model/model.safetensors run/dpo/model/model.safetensors run/instruction-data-with-response.json \
         run/dpo/instruction-data-with-response.json run/report.md; do
  [ -f "$work/$f" ] || { echo "FAIL: mpirun run wrote no $f"; cat "$work/run.log"; exit 1; }
done
for stage in "== prepare" "== train" "== dpo" "== respond (test split)" "== respond (test split, SFT + DPO)"; do
  [ "$(grep -c -x -F -e "$stage" "$work/run.log")" = 1 ] ||
    { echo "FAIL: mpirun run: '$stage' is not logged once (rank 0 alone logs)"; cat "$work/run.log"; exit 1; }
done
/usr/bin/python3 - "$work" <<'PY'
import json, os, sys
w = sys.argv[1]
def losses(run):
    return [r["loss"] for r in map(json.loads, open(f"{w}/{run}/metrics.jsonl")) if r["kind"] == "step"]
one, accum, two, cut = (losses(r) for r in ("one", "accum", "two", "cut"))
assert len(one) == len(two) == len(accum) == len(cut) == 10, (len(one), len(two), len(accum), len(cut))
def worst(a, b):
    return max(abs(x - y) / abs(y) for x, y in zip(a, b))
print(f"mpi: 2 ranks vs one process, 10 steps: worst relative loss difference {worst(two, one):.2e} "
      f"(vs --grad-accum 2: {worst(two, accum):.2e})")
print(f"mpi: interrupted at step 5 and resumed under mpirun: {worst(cut, two):.2e}")
bad = worst(two, one) > 1e-5 or worst(two, accum) > 1e-5 or worst(cut, two) > 1e-5
# Every logged number of the steps and evaluations (each rank evaluates its share of the batches),
# within 1e-5 relative (absolute below 1: reward margins start at 0).
def records(run):
    return [r for r in map(json.loads, open(f"{w}/{run}/metrics.jsonl")) if r["kind"] in ("step", "eval")]
def compare(name, a, b, keys, tol=1e-5):
    global bad
    ra, rb = records(a), records(b)
    if [r["kind"] for r in ra] != [r["kind"] for r in rb]:
        print(f"FAIL: {name}: {a} and {b} logged different records")
        bad = True
        return
    diff = max(abs(x[k] - y[k]) / max(abs(y[k]), 1.0) for x, y in zip(ra, rb) for k in keys if k in y)
    print(f"mpi: {name}: {len(ra)} step and eval records, worst difference {diff:.2e}")
    if diff > tol or any(x.get("tokens") != y.get("tokens") for x, y in zip(ra, rb)):
        print(f"FAIL: {name}")
        bad = True
sft_keys = ("loss", "train_loss", "val_loss", "tokens_seen")
# (Not the reward accuracy: at step 0 the policy is the reference, every reward is 0 up to rounding,
# and the count of chosen > rejected is a tie broken by that rounding.)
dpo_keys = sft_keys + ("reward_chosen", "reward_rejected", "reward_margin", "train_reward_margin", "val_reward_margin")
compare("sft, 2 ranks vs one process", "two", "one", sft_keys)
compare("dpo, 2 ranks vs one process", "dpo-two", "dpo-one", dpo_keys)
# int8 moments: a gradient summed in another order can move a value across a code boundary.
compare("sft --optimizer-state int8 --recompute-activations, 2 ranks vs one process", "lean-two",
        "lean-one", sft_keys, tol=1e-4)
compare("dpo, 2 ranks precomputed vs one process", "dpo-pre", "dpo-one", dpo_keys)
# Rank 0 alone wrote: one log of the run, one model, files as a single process writes them.
for run in ("two", "cut"):
    files = sorted(os.listdir(f"{w}/{run}"))
    if files != sorted(os.listdir(f"{w}/one")):
        print(f"FAIL: {run} holds {files}, one process writes {sorted(os.listdir(f'{w}/one'))}")
        bad = True
log = open(f"{w}/two.log").read()
if log.count("done      10 steps") != 1:
    print("FAIL: the run's summary is not printed once (rank 0 alone logs)")
    bad = True
sys.exit(1 if bad else 0)
PY
echo "mpi check passed"
