"""Load for `instruct serve`: C clients at once, each sending R streamed /api/generate requests in a
row (an instruction from the bundled data, num_predict NEW; start the server with --ignore-eos so
every request generates NEW tokens). Prints one JSON line: generated tokens/s over the wall time,
and time to first token (first non-empty chunk) mean / median / max in seconds.
Usage: serve_client.py URL MODEL C R NEW DATA.json
"""
import http.client
import json
import statistics
import sys
import threading
import time
import urllib.parse

url, model, conc, rounds, new, data = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
host = urllib.parse.urlparse(url)
entries = json.load(open(data))
ttft, tokens, errors = [], [0], []
lock = threading.Lock()


def client(i):
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=600)
    for r in range(rounds):
        e = entries[(i * rounds + r) % len(entries)]
        body = json.dumps({"model": model, "prompt": e["instruction"], "stream": True, "options": {"num_predict": new}})
        t0 = time.perf_counter()
        conn.request("POST", "/api/generate", body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        first = None
        for line in resp:
            j = json.loads(line)
            if first is None and j.get("response"):
                first = time.perf_counter() - t0
            if j.get("done"):
                with lock:
                    tokens[0] += j["eval_count"]
                    ttft.append(first if first is not None else time.perf_counter() - t0)
        if resp.status != 200:
            errors.append(resp.status)


t0 = time.perf_counter()
threads = [threading.Thread(target=client, args=(i,)) for i in range(conc)]
for t in threads:
    t.start()
for t in threads:
    t.join()
wall = time.perf_counter() - t0
print(json.dumps({"concurrency": conc, "requests": len(ttft), "tokens": tokens[0], "seconds": wall,
                  "tok_s": tokens[0] / wall, "ttft_mean": statistics.mean(ttft), "ttft_p50": statistics.median(ttft),
                  "ttft_max": max(ttft), "errors": errors}))
