#!/usr/bin/env bash
# The estimate printed before a run against the run itself, on this CPU: `instruct run` with a
# random-init model of each size (the real weights cannot be downloaded here; the time does not
# depend on them), 50 steps of the reference schedule (batch 8, evaluations every 5 steps) on the
# bundled data, then the responses for the test split. Each line compares what the estimate said
# for training (initial evaluation, steps, evaluations) and for responding with the time between
# the log's lines. No judge. How soon a briefly trained model says <|endoftext|> is anyone's guess,
# so the respond estimate is checked by its bound for answers that all run to --max-new-tokens,
# against `instruct respond --ignore-eos` with the run's model.
# Usage: bench/bench_estimate.sh [build_dir] [sizes: small,medium] [steps: 50]
set -euo pipefail
. "$(dirname "$0")/common.sh" "${1:-}"
sizes=${2:-small,medium}
steps=${3:-50}
work=$tmp
for size in ${sizes//,/ }; do
  # Each log line with the seconds since the start, as it is printed.
  "$build/instruct" run --init random --config "$size" --max-steps "$steps" --no-judge --out "$work/$size" 2>&1 |
    /usr/bin/python3 -u -c '
import sys, time
t0 = time.monotonic()
for line in sys.stdin:
    print(f"{time.monotonic() - t0:.3f} {line}", end="")' >"$work/$size.log"
  /usr/bin/time -f %e -o "$work/$size.respond" "$build/instruct" respond --model "$work/$size/model" -b 8 -n 256 \
    --ignore-eos --out "$work/$size.json" >/dev/null 2>&1
  /usr/bin/python3 - "$work/$size.log" "$size" "$steps" "$(cat "$work/$size.respond")" <<'PY'
import re, sys
lines = [l.rstrip("\n").split(" ", 1) for l in open(sys.argv[1])]
at = lambda pat: next(float(t) for t, l in lines if re.search(pat, l))
est = next(l for _, l in lines if l.startswith("estimate  about"))
parse = lambda s: sum(float(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in re.findall(r"([\d.]+)([hms])", s))
part = lambda name: parse(re.search(name + r" (\S+) \(", est).group(1))
train_est = part("train") + part("evaluations") + (part("samples") if "samples" in est else 0)
# The initial evaluation (from the estimate's print to its loss line) and the loop ("done N steps
# in T", the checkpoint writing after it excluded).
initial = at(r"^Validation loss: ") - at(r"^          from a .* probe")
loop = parse(re.search(r"^done +\d+ steps? in (\S+):", next(l for _, l in lines if l.startswith("done "))).group(1))
took = initial + loop
respond_est = parse(re.search(r"; (\S+) if none stops before", est).group(1))
respond = float(sys.argv[4])
err = lambda e, a: 100 * (e - a) / a
print(f"gpt2-{sys.argv[2]} (random init), {sys.argv[3]} steps: training estimated {train_est:.1f} s, took {took:.1f} s "
      f"({err(train_est, took):+.1f}%); respond (all 256 tokens) estimated {respond_est:.1f} s, "
      f"took {respond:.1f} s ({err(respond_est, respond):+.1f}%)")
PY
done
