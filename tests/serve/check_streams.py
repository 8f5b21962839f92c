#!/usr/bin/env python3
"""`instruct serve` with a random-weight model, as a client meets it. Random weights emit byte
tokens that no neighbour completes and characters cut in half all the time:
- every streaming route (/api/generate, /api/chat, /v1/chat/completions, /v1/completions), sampled
  at temperature 1.5, in fp32 and in Q8_0 with a bf16 KV cache: the reply is strict UTF-8, every frame is JSON, the last frame ends it, and
  U+FFFD stands where bytes could not be completed (the run must have met some);
- a stream ends when its answer ends: its wall time, as the client sees it, is within 20% + 50 ms
  of the server's own total_duration (Ollama routes) or of its log line for the request (OpenAI's
  replies carry no timing);
- the same requests without streaming: 200 and JSON;
- one SIGINT stops the server within 2 s with streams, a kept-alive client and a half-sent request
  open, and it exits 0.
Usage: check_streams.py INSTRUCT"""
import http.client
import json
import re
import socket
import subprocess
import sys
import threading
import time

BIN = sys.argv[1]
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg)


def start(*args):
    srv = subprocess.Popen([BIN, "serve", "--port", "0", "--name", "m", *args], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, errors="replace")
    log = []
    for line in srv.stdout:
        log.append(line)
        if "http://" in line:
            port = int(line.split("http://")[1].split()[0].split(":")[1])
            threading.Thread(target=lambda: [log.append(l) for l in srv.stdout], daemon=True).start()
            return srv, port, log
    sys.exit("FAIL: the server did not start: " + "".join(log))


def body(route, stream, seed, n=300):
    msgs = [{"role": "user", "content": "Tell me a story."}]
    if route == "/api/generate":
        return {"model": "m", "prompt": "Tell me a story.", "stream": stream,
                "options": {"temperature": 1.5, "num_predict": n, "seed": seed}}
    if route == "/api/chat":
        return {"model": "m", "messages": msgs, "stream": stream, "options": {"temperature": 1.5, "num_predict": n, "seed": seed}}
    if route == "/v1/chat/completions":
        return {"model": "m", "messages": msgs, "stream": stream, "temperature": 1.5, "max_tokens": n, "seed": seed}
    return {"model": "m", "prompt": "Once upon a time", "stream": stream, "temperature": 1.5, "max_tokens": n, "seed": seed}


def post(port, route, b):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    t0 = time.perf_counter()
    c.request("POST", route, json.dumps(b), {"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()  # to the end of the body: close-delimited streams end when the server closes
    wall = time.perf_counter() - t0
    c.close()
    return r.status, data, wall


def text_and_end(route, data):
    """The streamed text and the last frame; raises on invalid UTF-8 or JSON."""
    s = data.decode("utf-8")  # strict
    if route.startswith("/api/"):
        frames = [json.loads(l) for l in s.splitlines() if l.strip()]
        key = (lambda f: f.get("response", "")) if route == "/api/generate" else (lambda f: f["message"]["content"])
        return "".join(key(f) for f in frames if "error" not in f), frames[-1]
    events = [l[6:] for l in s.splitlines() if l.startswith("data: ")]
    assert events[-1] == "[DONE]", "no [DONE]"
    frames = [json.loads(e) for e in events[:-1]]
    out = ""
    for f in frames:
        for c in f.get("choices", []):
            out += c.get("delta", {}).get("content", "") if route == "/v1/chat/completions" else c.get("text", "")
    return out, frames[-1]


# fp32, and Q8_0 weights with a bf16 KV cache: the same guarantees.
for precision in (["--precision", "fp32"], ["--precision", "q8_0", "--kv-precision", "bf16"]):
    srv, port, log = start("--init", "random", "--config", "n_layer=2,n_head=2,n_embd=64", "--max-batch", "4", *precision)
    replacements = 0
    served = 0  # generations requested so far: the server logs one line each, in order
    for route in ["/api/generate", "/api/chat", "/v1/chat/completions", "/v1/completions"]:
        for seed in range(3):
            # The same request without streaming: 200 and JSON.
            status, data, _ = post(port, route, body(route, False, seed))
            try:
                assert status == 200, f"HTTP {status}"
                json.loads(data.decode("utf-8"))
            except Exception as e:
                fail(f"{route} without streaming: {e}: {data[:200]!r}")
            status, data, wall = post(port, route, body(route, True, seed))
            if status != 200:
                fail(f"{route} stream: HTTP {status} {data[:200]!r}")
                continue
            try:
                text, end = text_and_end(route, data)
            except Exception as e:
                fail(f"{route} stream seed {seed}: {type(e).__name__}: {e}")
                continue
            replacements += text.count("\ufffd")
            if "error" in end:
                fail(f"{route} stream ended with an error frame: {end}")
            # Ollama's replies carry the server's own time; OpenAI's do not: there, the server's log line
            # for this request ("... 300 new in 0.24 s"), the last of one per generation so far.
            served += 2
            if route.startswith("/api/"):
                server_s, what = end["total_duration"] / 1e9, "server's total_duration"
            else:
                lines = []
                for _ in range(500):
                    lines = [l for l in list(log) if " new in " in l]
                    if len(lines) >= served:
                        break
                    time.sleep(0.01)
                server_s, what = float(re.search(r" new in ([0-9.]+) s", lines[served - 1]).group(1)), "server's log"
            if wall > 1.2 * server_s + 0.05:
                fail(f"{precision[1]}: {route} stream took {wall:.3f} s for the client against {server_s:.3f} s ({what})")
            if seed == 0:
                print(f"streams {precision[1]}: {route}: {wall:.3f} s for the client, {server_s:.3f} s ({what})")
    print(f"streams: {replacements} U+FFFD in the answers (bytes no token completed)")
    if replacements == 0:
        fail(f"{precision[1]}: the random model emitted no incomplete UTF-8: this check did not test what it claims")
    if srv.poll() is not None:
        fail("the server died: " + "".join(log[-5:]))
    srv.terminate()
    srv.wait(timeout=30)

# One Ctrl-C with everything open: long streams on a gpt2-small-sized model, a kept-alive client,
# a request whose headers never end.
srv, port, log = start("--init", "random", "--config", "small", "--max-batch", "2", "--ignore-eos")
ka = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
ka.request("GET", "/health")
ka.getresponse().read()
half = socket.create_connection(("127.0.0.1", port))
half.sendall(b"POST /api/generate HTTP/1.1\r\nHost: x\r\n")


def long_stream(route):
    try:
        post(port, route, body(route, True, 1, 1000))
    except Exception:
        pass


streams = [threading.Thread(target=long_stream, args=(r,), daemon=True)
           for r in ["/api/generate", "/api/chat", "/v1/chat/completions"]]
for t in streams:
    t.start()
time.sleep(2)
t0 = time.time()
srv.send_signal(2)
try:
    rc = srv.wait(timeout=10)
    took = time.time() - t0
    print(f"streams: one SIGINT stopped the server in {took:.2f} s (exit {rc})")
    if took > 2 or rc != 0:
        fail(f"SIGINT: stopped in {took:.2f} s with exit {rc}; expected within 2 s, exit 0")
except subprocess.TimeoutExpired:
    fail("SIGINT: the server still runs 10 s later")
    srv.kill()
print(f"streams: {len(failures)} failed")
sys.exit(1 if failures else 0)
