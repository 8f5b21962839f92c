#!/usr/bin/env bash
# `instruct serve` under load: generated tokens/s and time to first token at concurrency 1, 8 and
# 32 (bench/serve_client.py: each client sends ROUNDS streamed /api/generate requests of NEW
# tokens), random weights, --ignore-eos so every request runs NEW tokens, one server per size with
# --max-batch 32. The ratio column is tokens/s against concurrency 1 (the goal at 8: 5x or more).
# Usage: bench/bench_serve.sh [build_dir] [sizes...]   (default: small medium; NEW=64, ROUNDS=2)
set -eu
. "$(dirname "$0")/common.sh" "$@"
new=${NEW:-64}
rounds=${ROUNDS:-2}
printf "%-7s %5s %9s %10s %8s %11s %10s %10s\n" size conc requests "tokens/s" "vs c=1" "TTFT mean" "TTFT p50" "TTFT max"
for size in $sizes; do
  "$build/instruct" serve --init random --config "$size" --name "$size" --port 0 --max-batch 32 --ignore-eos \
    >"$tmp/serve.log" 2>&1 &
  server=$!
  url=""
  for _ in $(seq 600); do
    url=$(grep -o 'http://[0-9.]*:[0-9]*' "$tmp/serve.log" | head -1 || true)
    [ -n "$url" ] && break
    sleep 0.1
  done
  [ -n "$url" ] || { echo "serve did not start: $(tail -2 "$tmp/serve.log")"; kill "$server"; exit 1; }
  base=""
  for c in 1 8 32; do
    j=$(/usr/bin/python3 "$repo/bench/serve_client.py" "$url" "$size" "$c" "$rounds" "$new" "$repo/data/instruction-data.json")
    read -r n tps mean p50 max < <(/usr/bin/python3 -c "
import json, sys; j = json.loads(sys.argv[1]); assert not j['errors'], j
print(j['requests'], j['tok_s'], j['ttft_mean'], j['ttft_p50'], j['ttft_max'])" "$j")
    [ -z "$base" ] && base=$tps
    printf "%-7s %5s %9s %10.1f %7.1fx %10.3fs %9.3fs %9.3fs\n" "$size" "$c" "$n" "$tps" "$(awk "BEGIN{print $tps/$base}")" \
      "$mean" "$p50" "$max"
  done
  kill -INT "$server"
  wait "$server" || true
done
