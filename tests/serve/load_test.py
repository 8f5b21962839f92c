#!/usr/bin/env python3
"""`instruct serve` under load: CLIENTS threads for SECONDS, each looping over a mix of requests:
valid ones on the four generation routes (streamed or not, greedy; each answer must equal the one
the idle server gave for the same prompt and route), random-weight answers sampled at temperatures
up to 2 (streamed: every frame strict UTF-8 and valid JSON, the stream ends with its last frame; a
random model emits broken UTF-8 all the time), bodies over the 8 MiB limit (413), malformed ones
(400), and streams the client hangs up on at a random moment. The server must not crash, must
answer every valid request correctly, and its RSS (sampled every second) must be flat after the
warm-up: the slope is printed. Usage: load_test.py INSTRUCT [SECONDS=60] [CLIENTS=64]"""
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time

BIN = sys.argv[1]
SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 60
CLIENTS = int(sys.argv[3]) if len(sys.argv) > 3 else 64
PROMPTS = ["Name a colour.", "What is the capital of France?", "Translate 'cat' to German.", "Give a synonym for fast.",
           "Sort 3, 1, 2.", "What is 2 + 2?", "Rewrite: the dog runs.", "Name a planet."]
ROUTES = ["/api/generate", "/api/chat", "/v1/chat/completions", "/v1/completions"]

server = subprocess.Popen([BIN, "serve", "--init", "random", "--config", "n_layer=2,n_head=2,n_embd=64,n_ctx=128",
                           "--port", "0", "--max-batch", "8", "--max-new-tokens", "16", "--name", "m"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
port = None
log = []
for line in server.stdout:
    log.append(line)
    if "http://" in line:
        port = int(line.split("http://")[1].split()[0].split(":")[1])
        break
if port is None:
    sys.exit("FAIL: the server did not start: " + "".join(log))
threading.Thread(target=lambda: [None for _ in server.stdout], daemon=True).start()  # drain the log


def body_for(route, prompt, stream):
    if route == "/api/generate":
        return {"model": "m", "prompt": prompt, "stream": stream, "options": {"temperature": 0}}
    if route == "/api/chat":
        return {"model": "m", "messages": [{"role": "user", "content": prompt}], "stream": stream,
                "options": {"temperature": 0}}
    if route == "/v1/chat/completions":
        return {"model": "m", "messages": [{"role": "user", "content": prompt}], "stream": stream, "temperature": 0}
    return {"model": "m", "prompt": prompt, "stream": stream, "temperature": 0, "max_tokens": 16}


def text_of(route, status, data, stream):
    """The answer text of a reply (NDJSON / SSE pieces joined)."""
    if status != 200:
        raise AssertionError(f"{route}: HTTP {status}: {data[:200]!r}")
    if not stream:
        j = json.loads(data)
        return (j["response"] if route == "/api/generate" else j["message"]["content"] if route == "/api/chat"
                else j["choices"][0]["message"]["content"] if route == "/v1/chat/completions" else j["choices"][0]["text"])
    out = ""
    for line in data.decode().splitlines():
        if route.startswith("/api/"):
            if line.strip():
                j = json.loads(line)
                out += j.get("response", "") if route == "/api/generate" else j.get("message", {}).get("content", "")
        elif line.startswith("data: ") and line != "data: [DONE]":
            c = json.loads(line[6:])["choices"]
            if c:
                out += c[0].get("delta", {}).get("content", "") if route == "/v1/chat/completions" else c[0].get("text", "")
    return out


def stream_problem(route, status, data):
    """None if a streamed reply is whole: strict UTF-8, every frame JSON, no error, the end frame last."""
    if status != 200:
        return f"{route}: HTTP {status}: {data[:200]!r}"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        return f"{route}: invalid UTF-8 in the stream: {e}"
    try:
        if route.startswith("/api/"):
            frames = [json.loads(l) for l in text.splitlines() if l.strip()]
            if any("error" in f for f in frames):
                return f"{route}: error frame: {frames[-1]}"
            return None if frames and frames[-1].get("done") is True else f"{route}: no done frame: {text[-200:]!r}"
        events = [l[6:] for l in text.splitlines() if l.startswith("data: ")]
        if not events or events[-1] != "[DONE]":
            return f"{route}: no [DONE]: {text[-200:]!r}"
        frames = [json.loads(e) for e in events[:-1]]
        return next((f"{route}: error frame: {f}" for f in frames if "error" in f), None)
    except ValueError as e:
        return f"{route}: a frame is not JSON: {e}"


def sampled_body(route, prompt, rng):
    b = body_for(route, prompt, True)
    t, n = round(rng.uniform(0.5, 2.0), 2), rng.randrange(16, 96)
    if route.startswith("/api/"):
        b["options"] = {"temperature": t, "num_predict": n, "top_k": 0}
    else:
        b["temperature"], b["max_tokens"] = t, n
    return b


def request(method, path, body=None, raw=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    c.request(method, path, body=data, headers={"Content-Type": "application/json"})
    r = c.getresponse()
    out = r.read()
    c.close()
    return r.status, out


# What the idle server answers, one request at a time.
expected = {}
for route in ROUTES:
    for p in PROMPTS:
        s, d = request("POST", route, body_for(route, p, False))
        expected[(route, p)] = text_of(route, s, d, False)

counts = {"valid": 0, "sampled": 0, "oversized": 0, "malformed": 0, "dropped": 0}
errors = []
lock = threading.Lock()
stop_at = time.time() + SECONDS


def note(kind, err=None):
    with lock:
        counts[kind] += 1
        if err and len(errors) < 20:
            errors.append(err)


def client(seed):
    rng = random.Random(seed)
    while time.time() < stop_at:
        r = rng.random()
        try:
            if r < 0.3:
                route = rng.choice(ROUTES)
                s, d = request("POST", route, sampled_body(route, rng.choice(PROMPTS), rng))
                note("sampled", stream_problem(route, s, d))
            elif r < 0.55:
                route, p, stream = rng.choice(ROUTES), rng.choice(PROMPTS), rng.random() < 0.5
                s, d = request("POST", route, body_for(route, p, stream))
                got = text_of(route, s, d, stream)
                note("valid", None if got == expected[(route, p)] else f"{route} {p!r} stream={stream}: {got!r} != {expected[(route, p)]!r}")
            elif r < 0.65:
                s, d = request("POST", rng.choice(ROUTES), raw=b'{"prompt": "' + b"x" * (9 << 20) + b'"}')
                note("oversized", None if s == 413 and json.loads(d).get("error") else f"oversized: HTTP {s} {d[:100]!r}")
            elif r < 0.8:
                route, junk = rng.choice([
                    (rng.choice(ROUTES), b"{"), (rng.choice(ROUTES), b"[]"),
                    (rng.choice(ROUTES), bytes(rng.randrange(256) for _ in range(64))),
                    (rng.choice(["/api/chat", "/v1/chat/completions"]), b'{"model": "m", "messages": 5}'),
                    ("/api/generate", b'{"model": "m", "prompt": "x", "options": {"num_predict": "many"}}'),
                    ("/v1/completions", b'{"model": "m", "prompt": "x", "max_tokens": -3}')])
                s, d = request("POST", route, raw=junk)
                note("malformed", None if s in (400, 404) and json.loads(d).get("error") else f"malformed {junk[:40]!r}: HTTP {s} {d[:100]!r}")
            else:
                route = rng.choice(ROUTES)
                sock = socket.create_connection(("127.0.0.1", port), timeout=120)
                b = json.dumps(sampled_body(route, rng.choice(PROMPTS), rng)).encode()
                sock.sendall(f"POST {route} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                             f"Content-Length: {len(b)}\r\n\r\n".encode() + b)
                for _ in range(rng.randrange(1, 6)):  # the headers and a few frames, then gone
                    if not sock.recv(rng.choice([16, 256, 4096])):
                        break
                sock.close()
                note("dropped")
        except Exception as e:  # a reset or refused connection is a failure too
            note("valid", f"{type(e).__name__}: {e}")


def rss_kb():
    with open(f"/proc/{server.pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))


threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
t0 = time.time()
for t in threads:
    t.start()
samples = []
while any(t.is_alive() for t in threads):
    if server.poll() is not None:
        break
    samples.append((time.time() - t0, rss_kb()))
    time.sleep(1)
for t in threads:
    t.join()
alive = server.poll() is None
health = json.loads(request("GET", "/health")[1]) if alive else {}
server.terminate()
server.wait(timeout=30)

# RSS slope after the warm-up (the first quarter), least squares, in MiB per minute.
warm = [s for s in samples if s[0] >= SECONDS / 4]
n = len(warm)
slope = 0.0
if n >= 2:
    mx, my = sum(x for x, _ in warm) / n, sum(y for _, y in warm) / n
    slope = sum((x - mx) * (y - my) for x, y in warm) / max(sum((x - mx) ** 2 for x, _ in warm), 1e-9) * 60 / 1024
lo, hi = min(y for _, y in warm) / 1024, max(y for _, y in warm) / 1024
total = sum(counts.values())
print("RSS MiB every 5 s: " + " ".join(f"{y / 1024:.0f}" for _, y in samples[::5]))
print(f"load: {CLIENTS} clients for {SECONDS:.0f}s: {total} requests ({counts['valid']} valid, {counts['sampled']} "
      f"sampled at temperatures to 2, {counts['oversized']} "
      f"oversized, {counts['malformed']} malformed, {counts['dropped']} dropped mid-stream); server "
      f"{'alive' if alive else 'DEAD'}, {health.get('served', '?')} generations served, {health.get('cancelled', '?')} cancelled; "
      f"RSS after warm-up {lo:.0f}-{hi:.0f} MiB, slope {slope:+.2f} MiB/min")
failed = False
if not alive:
    print("FAIL: the server died: " + "".join(log[-5:]))
    failed = True
for e in errors:
    print("FAIL: " + e)
    failed = True
if hi - lo > 64:
    print(f"FAIL: RSS grew {hi - lo:.0f} MiB after the warm-up")
    failed = True
sys.exit(1 if failed else 0)
