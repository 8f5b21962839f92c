#!/usr/bin/env bash
# Exercise 7.3's scale on a synthetic Alpaca-52K (make_alpaca.py; no network here): prepare gives
# the book's split (44,201 / 2,601 / 5,200) with --max-length 512 --batch-size 4, its memory grows
# linearly with the data (peak RSS at 13K, 26K and 52K entries), and dedup runs through all three
# fields. Times are printed, never checked (bench/ compares them).
# Usage: check_scale.sh path/to/instruct repo_dir work_dir
set -euo pipefail
bin=$1 repo=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
/usr/bin/python3 "$repo/tests/scale/make_alpaca.py" "$work/alpaca52k.json" 52002
/usr/bin/python3 - "$work" <<'PY'
import json, sys
d = json.load(open(f"{sys.argv[1]}/alpaca52k.json"))
for n in (13000, 26000):
    json.dump(d[:n], open(f"{sys.argv[1]}/alpaca{n // 1000}k.json", "w"))
PY
declare -A rss
for n in 13 26 52; do
  /usr/bin/time -f "%e %M" -o "$work/time$n" "$bin" prepare --data "$work/alpaca${n}k.json" --max-length 512 \
    --batch-size 4 >"$work/prepare$n.txt"
  read -r secs kb <"$work/time$n"
  rss[$n]=$kb
  echo "prepare ${n}K entries: ${secs} s, peak RSS $((kb / 1024)) MiB"
done
grep -q 'split     train 44201 / val 2601 / test 5200' "$work/prepare52.txt" || {
  echo "FAIL: 52K split is not 44201 / 2601 / 5200:"; cat "$work/prepare52.txt"; exit 1; }
# Linear: the growth from 26K to 52K is about that from 13K to 26K (same added entries), within 50%.
/usr/bin/python3 - "${rss[13]}" "${rss[26]}" "${rss[52]}" <<'PY'
import sys
a, b, c = map(int, sys.argv[1:])
g1, g2 = b - a, (c - b) / 2
print(f"prepare memory: +{g1 / 1024:.0f} MiB per 13K entries (13K->26K), +{g2 / 1024:.0f} MiB (26K->52K)")
if not (0.5 * g1 <= g2 <= 1.5 * g1):
    sys.exit("FAIL: prepare's memory does not grow linearly with the data")
PY
/usr/bin/time -f "%e %M" -o "$work/dedup.time" "$bin" dedup --data "$work/alpaca52k.json" --json >"$work/pairs.json" 2>/dev/null
read -r secs kb <"$work/dedup.time"
/usr/bin/python3 - "$work/pairs.json" "$secs" "$kb" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
print(f"dedup 52K entries: {sys.argv[2]} s, peak RSS {int(sys.argv[3]) // 1024} MiB, pairs:",
      ", ".join(f"{k} {len(v)}" for k, v in p.items()))
if not all(k in p for k in ("instruction", "input", "output")) or not p["instruction"]:
    sys.exit("FAIL: dedup found no instruction pairs in data made with near-duplicates")
PY
echo "scale check passed"
