#!/usr/bin/env bash
# Decoding speed and quality per precision, side by side in one run.
# Speed: one sequence, the first test entry's prompt, NEW new tokens, greedy, EOS ignored, best of
# REPEAT runs. A row per size and precision (fp32, bf16 where the CPU has bf16 matmuls, q8_0):
#   - instruct generate's ms/token, against the reference's generate_text_simple in PyTorch (no
#     cache, random weights of the same shapes) and against our own fp32;
#   - llama.cpp (node-llama-cpp's prebuilt binaries from build/test-tools, the same thread count)
#     decoding the same ids from the same model exported to GGUF in the same type (F32, BF16,
#     Q8_0): "vs llama" > 1 means instruct is faster;
#   - the weights one token reads, the rate that makes, and its share of the machine's memory
#     bandwidth (bench_bandwidth's copy loop, read + write, measured in the same run);
#   - `instruct respond --batch-size 8` per token over LIMIT test entries (every one runs the full
#     256 tokens on random weights).
# Quality, per precision against fp32: perplexity of LIMIT validation entries, and the share of
# LIMIT test answers (greedy, 256 tokens) equal to fp32's. Random weights unless MODEL=DIR|FILE.gguf
# names a trained model (then the sizes are ignored and the model's is used).
# Usage: bench/bench_generate.sh [build_dir] [sizes...]
#   (default: small medium; NEW=256, LIMIT=16, REPEAT=3, TORCH_THREADS=nproc, THREADS=nproc)
set -eu
. "$(dirname "$0")/common.sh" "$@"
new=${NEW:-256}
limit=${LIMIT:-16}
repeat=${REPEAT:-3}
nthreads=${THREADS:-$(nproc)}
export OMP_NUM_THREADS=$nthreads
prompt=$(/usr/bin/python3 -c "
import json
d = json.load(open('$repo/data/instruction-data.json'))
n = len(d); e = d[int(n * 0.85)]
print('Below is an instruction that describes a task. Write a response that appropriately completes the request.'
      + '\n\n### Instruction:\n' + e['instruction'] + ('\n\n### Input:\n' + e['input'] if e['input'] else ''))")
ids=$("$build/instruct" tokenize --text "$prompt")
copy_gbs=$("$build/bench/bench_bandwidth" 512 | sed -n 's/^copy *\([0-9.]*\) GB.*/\1/p')
read_gbs=$("$build/bench/bench_bandwidth" 512 | sed -n 's/^read *\([0-9.]*\) GB.*/\1/p')
printf "prompt %s tokens, %s new tokens, best of %s, %s threads; memory: copy %s GB/s, read %s GB/s\n" \
  "$(/usr/bin/python3 -c "import json,sys; print(len(json.loads(sys.argv[1])))" "$ids")" "$new" "$repeat" \
  "$nthreads" "$copy_gbs" "$read_gbs"
tools=$build/test-tools
types="$precisions q8_0"
ggml_type() { case $1 in fp32) echo f32 ;; *) echo "$1" ;; esac; }
# The model flags for SIZE: MODEL when given, else random weights of that size.
model_of() { if [ -n "${MODEL:-}" ]; then echo "--model $MODEL"; else echo "--init random --config $1"; fi; }
# llama.cpp's s/token on FILE.gguf (nan without node or the test tools).
llama_s_per_token() {
  [ -d "$tools/node_modules/node-llama-cpp" ] && command -v node >/dev/null || { echo nan; return; }
  node "$repo/bench/llama_peer.mjs" "$tools" "$1" "$ids" "$new" "$nthreads" "$repeat" 2>/dev/null |
    /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['ms_per_token'] / 1000)" || echo nan
}
ratio() { { [ "$1" = nan ] || [ "$2" = nan ]; } && echo nan || awk "BEGIN{print $1/$2}"; }
# instruct generate's best s/token and MB of weights per token (two words) at precision $2.
instruct_decode() {
  local best=nan mb=nan s
  for _ in $(seq "$repeat"); do
    # shellcheck disable=SC2046
    "$build/instruct" generate $(model_of "$1") --prompt "$prompt" -n "$new" --ignore-eos --stats \
      --precision "$2" >/dev/null 2>"$tmp/stats"
    s=$(sed -n 's/.*(\([0-9.]*\) tok\/s, \([0-9.]*\) ms\/token)/\2/p' "$tmp/stats")
    s=$(awk "BEGIN{print $s/1000}")
    mb=$(sed -n 's/^weights *\([0-9.]*\) MB.*/\1/p' "$tmp/stats")
    best=$(awk -v b="$best" -v s="$s" 'BEGIN{print (b == "nan" || s < b) ? s : b}')
  done
  echo "$best $mb"
}
printf "%-7s %-5s %12s %12s %8s %8s %12s %8s %9s %7s %7s %14s\n" size type "torch s/tok" "instruct" "vs torch" \
  "vs fp32" "llama.cpp" "vs llama" "MB/token" "GB/s" "% copy" "respond b=8"
for size in $sizes; do
  [ -n "${MODEL:-}" ] && size=model
  t=nan
  [ -z "${MODEL:-}" ] && t=$(/usr/bin/python3 "$repo/bench/generate_torch_peer.py" "$size" "$ids" "$new" "$threads")
  o32=nan
  for ty in $types; do
    read -r o mb <<<"$(instruct_decode "$size" "$ty")"
    [ "$ty" = fp32 ] && o32=$o
    # shellcheck disable=SC2046
    "$build/instruct" export $(model_of "$size") --type "$(ggml_type "$ty")" --out "$tmp/m-$ty.gguf" >/dev/null
    l=$(llama_s_per_token "$tmp/m-$ty.gguf")
    rm -f "$tmp/m-$ty.gguf"
    # shellcheck disable=SC2046
    "$build/instruct" respond $(model_of "$size") --batch-size 8 --limit "$limit" --stats --precision "$ty" \
      --out "$tmp/r-$size-$ty.json" >"$tmp/respond" 2>&1
    r=$(sed -n 's/.*(\([0-9.]*\) tok\/s, \([0-9.]*\) ms\/token)/\2/p' "$tmp/respond")
    r=$(awk "BEGIN{print $r/1000}")
    gbs=$(awk "BEGIN{print $mb/1000/$o}")
    printf "%-7s %-5s %12.4f %12.4f %7.1fx %7.2fx %12.4f %7.2fx %9.1f %7.1f %6.0f%% %14.4f\n" "$size" "$ty" "$t" "$o" \
      "$(ratio "$t" "$o")" "$(ratio "$o32" "$o")" "$l" "$(ratio "$l" "$o")" "$mb" "$gbs" \
      "$(awk "BEGIN{print 100*$gbs/$copy_gbs}")" "$r"
  done
  # Quality against fp32: perplexity of the validation split, and equal greedy answers.
  for ty in $types; do
    # shellcheck disable=SC2046
    p=$("$build/instruct" perplexity $(model_of "$size") --precision "$ty" --limit "$limit" 2>/dev/null |
      sed -n 's/^perplexity \([0-9.]*\) .*/\1/p')
    [ "$ty" = fp32 ] && p32=$p
    same=$(/usr/bin/python3 -c "
import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
print(sum(x['model_response'] == y['model_response'] for x, y in zip(a, b)), len(a))" \
      "$tmp/r-$size-fp32.json" "$tmp/r-$size-$ty.json")
    printf "%-7s %-5s perplexity %.4f (%+.3f%% vs fp32), greedy answers equal to fp32's: %s of %s\n" "$size" "$ty" \
      "$p" "$(awk "BEGIN{print 100*($p/$p32-1)}")" ${same}
  done
  if [ -n "${MODEL:-}" ]; then break; fi  # not an `and` list: last in the script, it made a full run exit 1
done
