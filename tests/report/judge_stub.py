#!/usr/bin/env python3
"""A stand-in Ollama judge for the report test: /api/tags lists llama3, /api/chat streams NDJSON
whose score (or, for a pairwise prompt, verdict) is a deterministic function of the prompt (so the lowest ten are known in advance).
Usage: judge_stub.py PORT_FILE [DELAY]   (binds 127.0.0.1 on a free port, writes it to PORT_FILE;
answers each chat after DELAY seconds, default 0)"""
import hashlib
import http.server
import json
import sys
import time


def score_of(prompt: str) -> int:
    return int(hashlib.sha256(prompt.encode()).hexdigest(), 16) % 101


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, body: bytes, ctype: str):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/api/tags":
            self.reply(json.dumps({"models": [{"name": "llama3:latest", "model": "llama3:latest"}]}).encode(),
                       "application/json")
        else:
            self.send_error(404)

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path != "/api/chat":
            return self.send_error(404)
        time.sleep(DELAY)
        prompt = body["messages"][0]["content"]
        s = str(score_of(prompt))
        if "\n\n### Response 1:\n" in prompt:  # `instruct compare`: 1, 2 or tie, from the prompt
            s = ["1", "2", "tie"][score_of(prompt) % 3]
        lines = [{"model": "llama3", "message": {"role": "assistant", "content": s[:1]}, "done": False},
                 {"model": "llama3", "message": {"role": "assistant", "content": s[1:]}, "done": False},
                 {"model": "llama3", "message": {"role": "assistant", "content": ""}, "done": True}]
        self.reply("".join(json.dumps(l) + "\n" for l in lines).encode(), "application/x-ndjson")


DELAY = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(sys.argv[1], "w") as f:
    f.write(str(server.server_address[1]))
server.serve_forever()
