#!/usr/bin/env bash
# `instruct serve` under load: generated tokens/s and time to first token at concurrency 1, 8 and
# 32 (bench/serve_client.py: each client sends ROUNDS streamed /api/generate requests of NEW
# tokens), random weights, --ignore-eos so every request runs NEW tokens, one server per size with
# --max-batch 32. The ratio column is tokens/s against concurrency 1 (the goal at 8: 5x or more).
# First, per size, `instruct generate`'s own decode rate for the same NEW tokens: one streaming
# client's tokens/s (wall time as the client sees it, prefill included) against it (goal: 90%).
# Each size runs once per precision in TYPES: fp32 (the default server), and q8_0 (Q8_0 weights and
# a bf16 KV cache, --kv-precision bf16); after the load, 32 prompts of ~900 tokens at once, then the
# server's peak RSS (a busy server's: every slot's cache nearly full).
# Usage: bench/bench_serve.sh [build_dir] [sizes...]
#   (default: small medium; NEW=64, ROUNDS=2, TYPES="fp32 q8_0")
set -eu
. "$(dirname "$0")/common.sh" "$@"
new=${NEW:-64}
rounds=${ROUNDS:-2}
types=${TYPES:-fp32 q8_0}
printf "%-7s %-5s %5s %9s %10s %8s %11s %10s %10s\n" size type conc requests "tokens/s" "vs c=1" "TTFT mean" "TTFT p50" \
  "TTFT max"
for size in $sizes; do
for ty in $types; do
  flags=(--precision "$ty")
  [ "$ty" = q8_0 ] && flags+=(--kv-precision bf16)
  gen=$("$build/instruct" generate --init random --config "$size" "${flags[@]}" --ignore-eos -n "$new" --stats \
    -i "$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["instruction"])' \
      "$repo/data/instruction-data.json")" 2>&1 >/dev/null | sed -n 's/^decode .*(\([0-9.]*\) tok\/s.*/\1/p')
  printf "%-7s %-5s %5s %9s %10.1f %8s   (instruct generate: decode alone, one prompt)\n" "$size" "$ty" gen 1 "$gen" ""
  "$build/instruct" serve --init random --config "$size" "${flags[@]}" --name "$size" --port 0 --max-batch 32 --ignore-eos \
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
    [ -z "$base" ] && base=$tps && c1_vs_gen=$(awk "BEGIN{printf \"%.0f%%\", 100*$tps/$gen}")
    printf "%-7s %-5s %5s %9s %10.1f %7.1fx %10.3fs %9.3fs %9.3fs\n" "$size" "$ty" "$c" "$n" "$tps" \
      "$(awk "BEGIN{print $tps/$base}")" "$mean" "$p50" "$max"
  done
  # Then 32 prompts of about 900 tokens at once: every slot's cache holds nearly a full context,
  # so the peak RSS counts the KV cache as a busy server's is (its pages fill as positions do).
  errs=$(/usr/bin/python3 - "$url" "$size" <<'PY'
import http.client, json, sys, threading, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
prompt = "the quick brown fox jumps over the lazy dog " * 90
errs = []
def go():
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=900)
    c.request("POST", "/api/generate", json.dumps({"model": sys.argv[2], "prompt": prompt, "stream": False,
                                                   "options": {"num_predict": 8}}), {"Content-Type": "application/json"})
    r = c.getresponse()
    body = r.read()
    if r.status != 200:
        errs.append(body[:200])
ts = [threading.Thread(target=go) for _ in range(32)]
[t.start() for t in ts]
[t.join() for t in ts]
print(len(errs))
PY
)
  [ "$errs" = 0 ] || echo "$size $ty: $errs of the 32 long prompts failed"
  peak=$(awk '/VmHWM/ {printf "%.2f", $2 / 1048576}' "/proc/$server/status")
  kill -INT "$server"
  wait "$server" || true
  echo "$size $ty: one streaming client at $c1_vs_gen of generate's decode rate; peak RSS $peak GiB with 32 slots" \
    "of ~900 tokens"
done
done
