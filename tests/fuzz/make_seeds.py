#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into tests/fuzz/corpus/TARGET/ (committed; rerun
after changing a format). Small valid files of each format, plus a few broken ones."""
import json, os, shutil, struct, sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(HERE, "corpus")


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def safetensors(tensors, metadata=None):
    header, blob = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(blob), len(blob) + len(raw)]}
        blob += raw
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + blob


def gguf(n_layer=1, n_embd=4, n_head=1, n_ctx=4, vocab=8, tied=False, f16=False):
    def s(x):
        b = x.encode()
        return struct.pack("<Q", len(b)) + b
    kvs = [("general.architecture", 8, s("gpt2")), ("general.alignment", 4, struct.pack("<I", 32)),
           ("gpt2.block_count", 4, struct.pack("<I", n_layer)), ("gpt2.context_length", 4, struct.pack("<I", n_ctx)),
           ("gpt2.embedding_length", 4, struct.pack("<I", n_embd)),
           ("gpt2.attention.head_count", 4, struct.pack("<I", n_head)),
           ("instruct.template", 8, s("alpaca")),
           ("tokenizer.ggml.token_type", 9, struct.pack("<IQ", 5, 2) + struct.pack("<ii", 1, 1))]
    C = n_embd
    tensors = [("token_embd.weight", [C, vocab]), ("position_embd.weight", [C, n_ctx])]
    for l in range(n_layer):
        b = f"blk.{l}."
        tensors += [(b + "attn_norm.weight", [C]), (b + "attn_norm.bias", [C]), (b + "attn_qkv.weight", [C, 3 * C]),
                    (b + "attn_qkv.bias", [3 * C]), (b + "attn_output.weight", [C, C]), (b + "attn_output.bias", [C]),
                    (b + "ffn_norm.weight", [C]), (b + "ffn_norm.bias", [C]), (b + "ffn_up.weight", [C, 4 * C]),
                    (b + "ffn_up.bias", [4 * C]), (b + "ffn_down.weight", [4 * C, C]), (b + "ffn_down.bias", [C])]
    tensors += [("output_norm.weight", [C]), ("output_norm.bias", [C])]
    if not tied:
        tensors.append(("output.weight", [C, vocab]))
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs))
    for k, t, v in kvs:
        out += s(k) + struct.pack("<I", t) + v
    data, infos = b"", b""
    for name, ne in tensors:
        n = 1
        for d in ne:
            n *= d
        typ = 1 if f16 and len(ne) == 2 else 0
        raw = struct.pack(f"<{n}e", *[0.01 * (i % 7) for i in range(n)]) if typ else struct.pack(f"<{n}f", *[0.01 * (i % 7) for i in range(n)])
        infos += s(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", d) for d in ne) + struct.pack("<IQ", typ, len(data))
        data += raw + b"\0" * ((32 - len(raw) % 32) % 32)
    out += infos
    out += b"\0" * ((32 - len(out) % 32) % 32)
    return out + data


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    # dataset: entries from the bundled data as a JSON array and as JSONL, and the bad-data cases.
    entries = json.load(open(os.path.join(ROOT, "data", "instruction-data.json")))[:3]
    put("dataset", "array.json", json.dumps(entries, indent=1))
    put("dataset", "lines.jsonl", "\n".join(json.dumps(e) for e in entries) + "\n")
    put("dataset", "bom.json", "\ufeff" + json.dumps(entries[:1]))
    bad = os.path.join(ROOT, "tests", "data", "bad")
    for f in sorted(os.listdir(bad)):
        if f != "expected.tsv":
            put("dataset", "bad-" + f, open(os.path.join(bad, f), "rb").read())
    # bpe: prose, code, whitespace runs, non-Latin scripts, the special token, long words.
    for i, t in enumerate(["Hello world! It's 2024, isn't it?", "def f(x):\n    return x**2  # square\n",
                           "  \t\n\n   spaces   ", "日本語のテキスト 😀 ελληνικά русский",
                           "a<|endoftext|>b <|endoftext|>", "x" * 300, "don't've 'll 'S 123456789 $%^&"]):
        put("bpe", f"text{i}", t)
    # safetensors: F32, F16, BF16, metadata, an empty tensor.
    put("safetensors", "f32.safetensors", safetensors({"a": ("F32", [2, 2], struct.pack("<4f", 1, 2, 3, 4)),
                                                       "b": ("F32", [3], struct.pack("<3f", 0.5, -1, 2))},
                                                      {"format": "pt"}))
    put("safetensors", "half.safetensors", safetensors({"h": ("F16", [2], struct.pack("<2e", 1.5, -2)),
                                                        "bf": ("BF16", [2], b"\x80\x3f\x00\x40"),
                                                        "e": ("F32", [0, 3], b"")}))
    # gguf: a 1-layer model with an 8-token vocabulary, F32 and F16, untied and tied.
    put("gguf", "tiny-f32.gguf", gguf())
    put("gguf", "tiny-f16-tied.gguf", gguf(f16=True, tied=True))
    # checkpoint: instruct.json, state.json and config.json of the v1 checkpoint fixture.
    ck = os.path.join(ROOT, "tests", "data", "checkpoint-v1", "step-00000003")
    parts = [open(os.path.join(ck, f)).read() for f in ("instruct.json", "state.json", "config.json")]
    put("checkpoint", "v1", "\n--\n".join(parts))
    # judge: Ollama NDJSON streams, OpenAI replies, score texts.
    put("judge", "ollama", '{"message":{"role":"assistant","content":"8"},"done":false}\n'
                           '{"message":{"role":"assistant","content":"5"},"done":false}\n{"done":true}\n')
    put("judge", "ollama-error", '{"error":"model not found"}\n')
    put("judge", "openai", '{"choices":[{"index":0,"message":{"role":"assistant","content":"85"}}]}')
    put("judge", "score-text", "I'd rate it 85 out of 100, not 3.5 or 1,000.")
    put("judge", "score-int", "  -7\n")
    # http: the routes with valid bodies and a few broken ones.
    chat = {"model": "instruct", "messages": [{"role": "system", "content": "Be brief."},
                                              {"role": "user", "content": "Name a color."}], "stream": False,
            "options": {"num_predict": 4, "temperature": 0.5, "top_k": 3, "top_p": 0.9, "seed": 1, "stop": ["x"]}}
    put("http", "chat", "POST /api/chat\n" + json.dumps(chat))
    put("http", "chat-stream", "POST /api/chat\n" + json.dumps({**chat, "stream": True}))
    put("http", "generate", "POST /api/generate\n" + json.dumps({"model": "instruct", "prompt": "Hi", "raw": True,
                                                                 "options": {"num_predict": 3}}))
    put("http", "show", "POST /api/show\n" + json.dumps({"model": "instruct"}))
    put("http", "openai-chat", "POST /v1/chat/completions\n" + json.dumps(
        {"model": "instruct", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 3, "stream": True,
         "stream_options": {"include_usage": True}, "temperature": 0.7, "stop": "."}))
    put("http", "openai-completion", "POST /v1/completions\n" + json.dumps(
        {"model": "instruct", "prompt": "Once", "max_tokens": 2, "n": 1}))
    put("http", "tags", "GET /api/tags\n")
    put("http", "models", "GET /v1/models/instruct\n")
    put("http", "bad-json", "POST /api/chat\n{\"model\": ")
    put("http", "bad-field", "POST /api/chat\n" + json.dumps({"model": "instruct", "messages": [{"role": 5}]}))
    # text_stream: a mode byte (1: marker, 2: stop strings), then 16-bit token ids. Byte tokens
    # 0xe5 0xbd and a space (a CJK character cut short), ids from the top of the vocabulary.
    enc = json.load(open(os.path.join(ROOT, "data", "gpt2-encoder.json"), encoding="utf-8"))
    def ids(*toks):
        return b"".join(struct.pack("<H", enc[t]) for t in toks)
    put("text_stream", "cut-cjk", b"\x00" + ids("\u00e5", "\u00bd", "\u0120songs"))
    put("text_stream", "marker-stop", b"\x03" + ids("###", "\u0120Response", ":", "\u010a", "Hi", "\u010a", "\u010a"))
    put("text_stream", "high-ids", b"\x00" + bytes(range(200, 256)) * 2)
    # eval: four parts split at "\n--\n": a HellaSwag line, an ARC line, an MMLU CSV, a vote file.
    hs = json.dumps({"activity_label": "Cooking", "ctx_a": "A man [title] boils water.", "ctx_b": "HE  ADDS salt",
                     "endings": ["and stirs.", "[step] then eats.", "and  waits", "x"], "label": "2"})
    arc = json.dumps({"id": "q1", "question": {"stem": "Which is a gas?", "choices": [
        {"text": "ice", "label": "A"}, {"text": "steam", "label": "B"}, {"text": "rock", "label": "1"}]},
        "answerKey": "B"})
    mmlu = '"Quoted, with\na newline?",1,2,3,4,B\nPlain question,a,b,c,d,D\n'
    votes = (json.dumps({"time": "2026-01-01T00:00:00Z", "entry": 0, "left": "a", "right": "b", "vote": "left"}) +
             "\nnot json\n" + '{"entry": 1, "left": "b", "right": "a", "vote": "tie"}')
    put("eval", "all-valid", "\n--\n".join([hs, arc, mmlu, votes + "\n"]))
    put("eval", "torn-vote", "\n--\n".join([hs, arc, mmlu, votes]))
    put("eval", "verdicts", "Response 2 is better, not a tie.")


if __name__ == "__main__":
    sys.exit(main())
