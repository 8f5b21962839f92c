#!/usr/bin/env bash
# Data-parallel training under Open MPI on one machine: `mpirun -np 2 --oversubscribe instruct
# train` gives the losses of one process over the same global batches (within 1e-5 relative over
# 10 steps), rank 0 alone writes the run, and an interrupted mpirun run resumes under mpirun to the
# same losses.
# Usage: check_mpi.sh path/to/instruct repo_dir work_dir
set -euo pipefail
bin=$1 repo=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
command -v mpirun >/dev/null || { echo "FAIL: mpirun not found (bash scripts/setup.sh installs openmpi-bin)"; exit 1; }
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
# CI runs as root; Open MPI refuses that unless told.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpi=(mpirun -np 2 --oversubscribe --bind-to none)
common=(train --init random --config n_layer=2,n_head=2,n_embd=64 --max-steps 10 --batch-size 4 --eval-freq 5
        --eval-iter 2 --sample-tokens 0 --data "$repo/data/instruction-data.json")
"$bin" "${common[@]}" --out "$work/one" >"$work/one.log"
"$bin" "${common[@]}" --grad-accum 2 --out "$work/accum" >"$work/accum.log"
"${mpi[@]}" "$bin" "${common[@]}" --out "$work/two" >"$work/two.log" 2>&1 || { cat "$work/two.log"; exit 1; }
# Interrupted at step 5 on every rank (as mpirun forwards Ctrl-C), then resumed under mpirun.
set +e
INSTRUCT_TEST_SIGINT_AT_STEP=5 "${mpi[@]}" -x INSTRUCT_TEST_SIGINT_AT_STEP "$bin" "${common[@]}" --out "$work/cut" \
  >"$work/cut.log" 2>&1
rc=$?
set -e
[ "$rc" -eq 130 ] || { echo "FAIL: the interrupted mpirun run exited $rc, expected 130"; cat "$work/cut.log"; exit 1; }
"${mpi[@]}" "$bin" train --resume "$work/cut" >"$work/resume.log" 2>&1 || { cat "$work/resume.log"; exit 1; }
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
