#!/usr/bin/env python3
"""Builds the broken inputs of manifest.tsv in DIR from a valid tiny model (DIR/model, trained by
the runner) and adapter (DIR/lora/model): copies with one thing wrong each. Binary and large cases
are made here instead of committed. Usage: make_cases.py DIR"""
import json, os, shutil, struct, sys

D = sys.argv[1]


def path(*p):
    return os.path.join(D, *p)


def write(name, data):
    p = path(name)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def read_st(p):
    raw = open(p, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def pack_st(header, blob):
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + blob


def model_copy(name, config=None, st=None, drop=None):
    """A copy of the tiny model; config: dict of changes (or a string for the whole file); st: bytes."""
    d = path(name)
    shutil.copytree(path("model"), d)
    if isinstance(config, str):
        write(os.path.join(name, "config.json"), config)
    elif config:
        c = json.load(open(os.path.join(d, "config.json")))
        c.update(config)
        write(os.path.join(name, "config.json"), json.dumps(c))
    if st is not None:
        write(os.path.join(name, "model.safetensors"), st)
    if drop:
        os.remove(os.path.join(d, drop))


entry = {"instruction": "Name a colour.", "input": "", "output": "Red."}
# --- datasets
deep = "[" * 100000 + "]" * 100000
write("data/deep-nesting.json", '[{"instruction": %s, "input": "", "output": "x"}]' % deep)
write("data/lone-surrogate.json", '[{"instruction": "a\\ud800b", "input": "", "output": "x"}]')
write("data/nul-byte.json", b'[{"instruction": "a\x00b", "input": "", "output": "x"}]')
write("data/bom-truncated.json", "\ufeff" + json.dumps([entry])[:-3])
write("data/huge-number.json", '[{"instruction": "a", "input": "", "output": "x", "n": 1e999}]')
write("data/input-object.json", json.dumps([{**entry, "input": {"a": 1}}]))
write("data/jsonl-not-object.jsonl", json.dumps(entry) + "\n[1, 2]\n")
write("data/utf16.json", json.dumps([entry]).encode("utf-16"))
os.makedirs(path("data/a-directory.json"), exist_ok=True)
if not os.path.exists(path("data/fifo.json")):
    os.mkfifo(path("data/fifo.json"))
write("data/entry-5mb.json", json.dumps([{**entry, "instruction": "word " * 1_000_000}] + [entry] * 20))
# --- model directories
cfg = json.load(open(path("model", "config.json")))
header, blob = read_st(path("model", "model.safetensors"))
model_copy("model-no-config", drop="config.json")
model_copy("model-config-not-json", config='{"n_layer": 1,')
model_copy("model-heads-not-dividing", config={"n_head": 3})
model_copy("model-vocab-1e12", config={"vocab_size": 10 ** 12})
model_copy("model-zero-layers", config={"n_layer": 0})
model_copy("model-negative-layers", config={"n_layer": -1})
model_copy("model-context-1e9", config={"n_positions": 10 ** 9, "n_ctx": 10 ** 9})
model_copy("model-layers-string", config={"n_layer": "two"})
model_copy("model-no-weights", drop="model.safetensors")
model_copy("model-truncated", st=pack_st(header, blob)[:1000])
model_copy("model-header-past-end", st=struct.pack("<Q", 10 ** 9) + b"{}")
model_copy("model-header-not-json", st=struct.pack("<Q", 5) + b"{oops" + blob)
h = json.loads(json.dumps(header)); k = next(n for n in h if n != "__metadata__")
h[k]["data_offsets"] = [0, len(blob) + 4]
model_copy("model-offsets-outside", st=pack_st(h, blob))
h = json.loads(json.dumps(header)); h[k]["dtype"] = "Q4"
model_copy("model-dtype-unknown", st=pack_st(h, blob))
h = json.loads(json.dumps(header)); h[k]["shape"] = [h[k]["shape"][0] * 2] + h[k]["shape"][1:]
model_copy("model-shape-lies", st=pack_st(h, blob))
# a wrong shape for the config (header and data agree): wpe with one row fewer
h = json.loads(json.dumps(header))
wpe = next(n for n in h if n.endswith("wpe.weight"))
b0, b1 = h[wpe]["data_offsets"]
row = h[wpe]["shape"][1] * 4
h[wpe]["shape"][0] -= 1
newblob = blob[:b1 - row] + blob[b1:]
for n, v in h.items():
    if n != "__metadata__" and v["data_offsets"][0] >= b1:
        v["data_offsets"] = [v["data_offsets"][0] - row, v["data_offsets"][1] - row]
h[wpe]["data_offsets"] = [b0, b1 - row]
model_copy("model-wrong-shape", st=pack_st(h, newblob))
h = json.loads(json.dumps(header)); lnf = next(n for n in h if n.endswith("ln_f.weight"))
nan = bytearray(blob); o = h[lnf]["data_offsets"][0] + 4; nan[o:o + 4] = struct.pack("<f", float("nan"))
model_copy("model-nan-weight", st=pack_st(header, bytes(nan)))
h = json.loads(json.dumps(header)); del h[lnf]
model_copy("model-tensor-missing", st=pack_st(h, blob))
# --- GGUF files (the runner exports DIR/model.gguf from the tiny model)
g = open(path("model.gguf"), "rb").read()
write("gguf/not-gguf.gguf", b"GGML" + g[4:])
write("gguf/version-7.gguf", g[:4] + struct.pack("<I", 7) + g[8:])
write("gguf/truncated-header.gguf", g[:200])
write("gguf/truncated-data.gguf", g[:len(g) - 4096])
def set_u32(data, key, value):
    kb = key.encode(); at = data.index(struct.pack("<Q", len(kb)) + kb) + 8 + len(kb)
    assert struct.unpack("<I", data[at:at + 4])[0] == 4, key  # u32
    return data[:at + 4] + struct.pack("<I", value) + data[at + 8:]
write("gguf/alignment-zero.gguf", set_u32(g, "general.alignment", 0))
write("gguf/layers-huge.gguf", set_u32(g, "gpt2.block_count", 4_000_000_000))
arch = g.index(b"gpt2", g.index(b"general.architecture") + 20)
write("gguf/llama.gguf", g[:arch - 8] + struct.pack("<Q", 5) + b"llama" + g[arch + 4:])
tok = g.index(b"token_embd.weight", g.index(b"tokenizer.ggml.merges"))  # the tensor info, after the KVs
at = tok + len(b"token_embd.weight") + 4 + 2 * 8  # past n_dims and two dims: the type
write("gguf/quantized.gguf", g[:at] + struct.pack("<I", 2) + g[at + 4:])
# --- adapters
def adapter_copy(name, config=None, st=None):
    d = path(name)
    shutil.copytree(path("lora", "model"), d)
    if config is not None:
        c = json.load(open(os.path.join(d, "adapter_config.json")))
        c.update(config)
        write(os.path.join(name, "adapter_config.json"), json.dumps(c))
    if st is not None:
        write(os.path.join(name, "adapter_model.safetensors"), st)
adapter_copy("adapter-rank-mismatch", config={"r": 4})
adapter_copy("adapter-dora", config={"use_dora": True})
adapter_copy("adapter-alpha-string", config={"lora_alpha": "sixteen"})
ah, ab = read_st(path("lora", "model", "adapter_model.safetensors"))
h = {("base_model.model.transformer.h.7" + n.split("h.0", 1)[1] if ".h.0." in n else n): v for n, v in ah.items()}
adapter_copy("adapter-layer-out-of-range", st=pack_st(h, ab))
h = json.loads(json.dumps(ah)); a = next(n for n in h if n.endswith("lora_A.weight") and "c_attn" in n)
b0, b1 = h[a]["data_offsets"]; r, cols = h[a]["shape"]
h[a]["shape"] = [r, cols // 2]
for n, v in h.items():
    if n != "__metadata__" and v["data_offsets"][0] >= b1:
        v["data_offsets"] = [v["data_offsets"][0] - (b1 - b0) // 2, v["data_offsets"][1] - (b1 - b0) // 2]
h[a]["data_offsets"] = [b0, b0 + (b1 - b0) // 2]
adapter_copy("adapter-wrong-shape", st=pack_st(h, ab[:b0 + (b1 - b0) // 2] + ab[b1:]))
# --- tokenizers
for name, enc, bpe in [("tok-encoder-not-json", "{", None), ("tok-missing-bytes", None, None)]:
    os.makedirs(path(name), exist_ok=True)
    write(os.path.join(name, "encoder.json"), enc if enc is not None else json.dumps({"a": 0, "b": 1, "<|endoftext|>": 2}))
    write(os.path.join(name, "vocab.bpe"), bpe if bpe is not None else "#version: 0.2\na b\n")
# --- responses files
write("resp/not-json.json", "[{")
write("resp/not-array.json", json.dumps({"instruction": "x"}))
write("resp/no-response.json", json.dumps([entry]))
write("resp/instruction-number.json", json.dumps([{**entry, "instruction": 5, "model_response": "x"}]))
write("resp/ok.json", json.dumps([{**entry, "model_response": "Red."}]))
write("resp/scores-damaged.json", "[{\"score\": ")
