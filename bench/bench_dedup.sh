#!/usr/bin/env bash
# `instruct dedup` side by side with the book's method in scikit-learn (tests/oracle/dedup_oracle.py:
# TfidfVectorizer + cosine_similarity in row blocks) on synthetic Alpaca-style data; both find the
# same pairs (checked). The oracle's dense similarity rows make 52K entries take very long in
# Python, so it runs on N entries (default 10,000) and instruct on N and on 52,002.
# Usage: bench/bench_dedup.sh [build_dir] [N]
set -euo pipefail
. "$(dirname "$0")/common.sh" "${1:-}"
n=${2:-10000}
work=$tmp
/usr/bin/python3 "$repo/tests/scale/make_alpaca.py" "$work/a52k.json" 52002
/usr/bin/python3 -c "import json,sys; json.dump(json.load(open(sys.argv[1]))[:int(sys.argv[3])], open(sys.argv[2],'w'))" \
  "$work/a52k.json" "$work/small.json" "$n"
# timed OUT CMD...: runs CMD with stdout to OUT, prints its wall seconds.
timed() { local out=$1; shift; /usr/bin/time -f %e -o "$work/t" "$@" >"$out" 2>/dev/null; cat "$work/t"; }
ours=$(timed "$work/ours.json" "$build/instruct" dedup --data "$work/small.json" --json)
theirs=$(timed "$work/theirs.json" /usr/bin/python3 "$repo/tests/oracle/dedup_oracle.py" pairs "$work/small.json" 0.9)
/usr/bin/python3 - "$work/ours.json" "$work/theirs.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
same = all({(i, j) for i, j, _ in a[k]} == {(i, j) for i, j, _ in b[k]} for k in b)
print("pairs:", ", ".join(f"{k} {len(b[k])}" for k in b), "(identical)" if same else "DIFFERENT")
PY
echo "dedup ${n} entries: instruct ${ours} s, scikit-learn ${theirs} s, ratio $(awk "BEGIN{printf \"%.1f\", $theirs/$ours}")x"
big=$(timed /dev/null "$build/instruct" dedup --data "$work/a52k.json" --json)
echo "dedup 52,002 entries: instruct ${big} s"
