#!/usr/bin/env bash
# Generation speed, instruct (KV cache) vs the reference's generate_text_simple in PyTorch (no
# cache), same prompt (the first test entry's prompt), same number of new tokens, random weights,
# greedy, EOS ignored; instruct in fp32 (the reference's numbers) and with --dtype bf16. Then `instruct respond` batched (8) on the first LIMIT test entries: random
# weights never emit EOS, so every entry runs the full 256 tokens (the worst case). Beside them
# llama.cpp (node-llama-cpp's prebuilt binaries from build/test-tools, all cores) decoding the same
# prompt's ids from the same random model exported to GGUF in F32 and BF16: the decoding peer.
# Usage: bench/bench_generate.sh [build_dir] [sizes...]
#   (default: small medium; NEW=256 as respond's max_new_tokens, LIMIT=16, TORCH_THREADS=1)
set -eu
. "$(dirname "$0")/common.sh" "$@"
new=${NEW:-256}
limit=${LIMIT:-16}
prompt=$(/usr/bin/python3 -c "
import json
d = json.load(open('$repo/data/instruction-data.json'))
n = len(d); e = d[int(n * 0.85)]
print('Below is an instruction that describes a task. Write a response that appropriately completes the request.'
      + '\n\n### Instruction:\n' + e['instruction'] + ('\n\n### Input:\n' + e['input'] if e['input'] else ''))")
ids=$("$build/instruct" tokenize --text "$prompt")
printf "prompt %s tokens, %s new tokens\n" "$(/usr/bin/python3 -c "import json,sys; print(len(json.loads(sys.argv[1])))" "$ids")" "$new"
printf "%-7s %14s %16s %8s %14s %8s %22s %8s %15s %8s %15s %8s\n" size "torch s/token" "instruct s/token" ratio \
  "bf16 s/token" ratio "respond b=8 s/token" ratio "llama.cpp f32" "vs fp32" "llama.cpp bf16" "vs bf16"
tools=$build/test-tools
# llama.cpp's ms/token on SIZE's random model in GGUF TYPE (nan without node or the test tools).
llama_s_per_token() {
  [ -d "$tools/node_modules/node-llama-cpp" ] && command -v node >/dev/null || { echo nan; return; }
  "$build/instruct" export --init random --config "$1" --type "$2" --out "$tmp/m-$2.gguf" >/dev/null
  node "$repo/bench/llama_peer.mjs" "$tools" "$tmp/m-$2.gguf" "$ids" "$new" "$(nproc)" 2>/dev/null |
    /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['ms_per_token'] / 1000)" || echo nan
}
ratio() { { [ "$1" = nan ] || [ "$2" = nan ]; } && echo nan || awk "BEGIN{print $1/$2}"; }
for size in $sizes; do
  t=$(/usr/bin/python3 "$repo/bench/generate_torch_peer.py" "$size" "$ids" "$new" "$threads")
  "$build/instruct" generate --init random --config "$size" --prompt "$prompt" -n "$new" --ignore-eos --stats \
    >/dev/null 2>"$tmp/stats"
  o=$(sed -n 's/.*(\([0-9.]*\) tok\/s, \([0-9.]*\) ms\/token)/\2/p' "$tmp/stats")
  o=$(awk "BEGIN{print $o/1000}")
  if "$build/instruct" generate --init random --config "$size" --prompt "$prompt" -n "$new" --ignore-eos --stats \
    --dtype bf16 >/dev/null 2>"$tmp/stats16"; then
    o16=$(sed -n 's/.*(\([0-9.]*\) tok\/s, \([0-9.]*\) ms\/token)/\2/p' "$tmp/stats16")
    o16=$(awk "BEGIN{print $o16/1000}")
  else
    o16=nan  # no bf16 matmul on this CPU (the --version line says so)
  fi
  "$build/instruct" respond --init random --config "$size" --batch-size 8 --limit "$limit" --stats \
    --out "$tmp/r.json" >"$tmp/respond" 2>&1
  r=$(sed -n 's/.*(\([0-9.]*\) tok\/s, \([0-9.]*\) ms\/token)/\2/p' "$tmp/respond")
  r=$(awk "BEGIN{print $r/1000}")
  l32=$(llama_s_per_token "$size" f32)
  l16=$(llama_s_per_token "$size" bf16)
  printf "%-7s %14.4f %16.4f %7.1fx %14.4f %7.1fx %22.4f %7.1fx %15.4f %7.2fx %15.4f %7.2fx\n" "$size" "$t" "$o" \
    "$(ratio "$t" "$o")" "$o16" "$(ratio "$t" "$o16")" "$r" "$(ratio "$t" "$r")" "$l32" "$(ratio "$l32" "$o")" \
    "$l16" "$(ratio "$l16" "$o16")"
done
