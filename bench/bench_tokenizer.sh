#!/usr/bin/env bash
# Tokenizer MB/s: instruct (C++) side by side with the Python oracle (regex-based encoder.py).
# Usage: bench/bench_tokenizer.sh [build_dir]
set -eu
. "$(dirname "$0")/common.sh" "${1:-}"
out=$("$build/bench/bench_tokenizer" "$repo/data")
echo "$out"
py=$(/usr/bin/python3 - "$repo" <<'PY'
import json, os, sys, time
repo = sys.argv[1]
sys.path.insert(0, os.path.join(repo, "tests", "oracle"))
from gpt2_bpe import Gpt2Bpe
from make_goldens import format_input
b = Gpt2Bpe(f"{repo}/data/gpt2-encoder.json", f"{repo}/data/gpt2-vocab.bpe")
data = json.load(open(f"{repo}/data/instruction-data.json"))
corpus = "".join(format_input(e) + "\n\n### Response:\n" + e["output"] + "\n" for e in data)
t0 = time.perf_counter(); b.encode(corpus); dt = time.perf_counter() - t0
print(f"{len(corpus.encode()) / 1e6 / dt:.2f}")
PY
)
cold=$(sed -n 's/.*cold cache: *\([0-9.]*\).*/\1/p' <<<"$out")
echo "python oracle (encoder.py, no cache): $py MB/s   ratio instruct-cold/python: $(awk "BEGIN{printf \"%.0f\", $cold/$py}")x"
