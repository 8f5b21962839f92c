#!/usr/bin/env bash
# `instruct dedup` against scikit-learn (dedup_oracle.py): the same pairs with scores within 1e-6,
# and the same entries kept by --remove, on the bundled data and on 3,000 synthetic Alpaca-style
# entries (near-duplicates, long outputs, non-ASCII text).
# Usage: check_dedup.sh path/to/instruct repo_dir work_dir
set -euo pipefail
bin=$1 repo=$2 work=$3
py=/usr/bin/python3
rm -rf "$work" && mkdir -p "$work"
"$py" "$repo/tests/scale/make_alpaca.py" "$work/synthetic.json" 3000 7
for data in "$repo/data/instruction-data.json" "$work/synthetic.json"; do
  for t in 0.9 0.6; do
    "$bin" dedup --data "$data" --threshold $t --json --remove "$work/kept.json" >"$work/pairs.json"
    "$py" "$repo/tests/oracle/dedup_oracle.py" compare "$data" $t "$work/pairs.json" "$work/kept.json"
  done
done
