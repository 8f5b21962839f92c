"""An independent reader of our GGUF export (struct + numpy, no code shared with src/io/gguf.cpp):
checks it against what llama.cpp's gpt2 loader expects and against the HF export of the same model.

- header: GGUF v3; general.architecture gpt2 and the gpt2.* hyperparameters from config.json;
- tokenizer: model gpt2, pre gpt-2, tokens in id order equal to OpenAI's encoder.json, merges equal
  to vocab.bpe in rank order (all 50,000), token types (<|endoftext|> control), bos = eos = 50256,
  add_bos_token false;
- tensors: llama.cpp's names, every Conv1D weight transposed to [out, in] (ne = [in, out]),
  output.weight present, values equal to the HF export's model.safetensors.

Usage: check_gguf.py FILE.gguf HF_DIR REPO_DATA_DIR
"""
import json
import struct
import sys

import numpy as np


def read_gguf(path):
    f = open(path, "rb")
    def get(fmt):
        return struct.unpack("<" + fmt, f.read(struct.calcsize("<" + fmt)))[0]
    def string():
        return f.read(get("Q")).decode("utf-8")
    scalar = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
    def value(t):
        if t == 8:
            return string()
        if t == 9:
            et, n = get("I"), get("Q")
            return [value(et) for _ in range(n)]
        return get(scalar[t])
    assert f.read(4) == b"GGUF", "magic"
    version, n_tensors, n_kv = get("I"), get("Q"), get("Q")
    kv = {}
    for _ in range(n_kv):
        k = string()
        kv[k] = value(get("I"))
    infos = []
    for _ in range(n_tensors):
        name = string()
        nd = get("I")
        ne = [get("Q") for _ in range(nd)]
        infos.append((name, ne, get("I"), get("Q")))
    align = kv.get("general.alignment", 32)
    start = (f.tell() + align - 1) // align * align
    tensors = {}
    for name, ne, t, off in infos:
        assert off % align == 0, (name, off)
        dtype = {0: np.float32, 1: np.float16}[t] if t in (0, 1) else None
        n = int(np.prod(ne))
        f.seek(start + off)
        if t == 30:  # bf16: the high half of a float32
            raw = np.frombuffer(f.read(2 * n), dtype=np.uint16).astype(np.uint32) << 16
            data = raw.view(np.float32)
        elif t == 8:  # Q8_0: blocks of an fp16 scale and 32 int8 values, 34 bytes each
            blocks = np.frombuffer(f.read(34 * (n // 32)), dtype=np.dtype([("d", "<f2"), ("qs", "i1", 32)]))
            data = (blocks["d"].astype(np.float32)[:, None] * blocks["qs"].astype(np.float32)).reshape(-1)
        else:
            data = np.frombuffer(f.read(np.dtype(dtype).itemsize * n), dtype=dtype).astype(np.float32)
        tensors[name] = (ne, t, data.reshape(list(reversed(ne))))
    return version, kv, tensors


def read_safetensors(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    header = json.loads(b[8:8 + n])
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        s, e = v["data_offsets"]
        out[k] = np.frombuffer(b[8 + n + s:8 + n + e], dtype=np.float32).reshape(v["shape"])
    return out


def main():
    gguf, hf, data = sys.argv[1:4]
    version, kv, tensors = read_gguf(gguf)
    cfg = json.load(open(f"{hf}/config.json"))
    assert version == 3
    expect = {"general.architecture": "gpt2", "gpt2.block_count": cfg["n_layer"],
              "gpt2.context_length": cfg["n_positions"], "gpt2.embedding_length": cfg["n_embd"],
              "gpt2.feed_forward_length": 4 * cfg["n_embd"], "gpt2.attention.head_count": cfg["n_head"],
              "tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "gpt-2",
              "tokenizer.ggml.bos_token_id": 50256, "tokenizer.ggml.eos_token_id": 50256}
    for k, v in expect.items():
        assert kv.get(k) == v, (k, kv.get(k), v)
    assert abs(kv["gpt2.attention.layer_norm_epsilon"] - 1e-5) < 1e-12
    assert kv.get("tokenizer.ggml.add_bos_token", False) is False
    encoder = json.load(open(f"{data}/gpt2-encoder.json"))
    assert kv["tokenizer.ggml.tokens"] == sorted(encoder, key=encoder.get), "tokens differ from encoder.json"
    merges = [l for l in open(f"{data}/gpt2-vocab.bpe", encoding="utf-8").read().split("\n")[1:] if l]
    assert kv["tokenizer.ggml.merges"] == merges and len(merges) == 50000, "merges differ from vocab.bpe"
    types = kv["tokenizer.ggml.token_type"]
    assert types[50256] == 3 and set(types[:50256]) == {1}
    weights = read_safetensors(f"{hf}/model.safetensors")
    names = {"token_embd.weight": "transformer.wte.weight", "position_embd.weight": "transformer.wpe.weight",
             "output_norm.weight": "transformer.ln_f.weight", "output_norm.bias": "transformer.ln_f.bias",
             "output.weight": "lm_head.weight"}
    parts = {"attn_norm": "ln_1", "attn_qkv": "attn.c_attn", "attn_output": "attn.c_proj", "ffn_norm": "ln_2",
             "ffn_up": "mlp.c_fc", "ffn_down": "mlp.c_proj"}
    for i in range(cfg["n_layer"]):
        for ours, hf_part in parts.items():
            for w in ("weight", "bias"):
                names[f"blk.{i}.{ours}.{w}"] = f"transformer.h.{i}.{hf_part}.{w}"
    assert set(tensors) == set(names), set(tensors) ^ set(names)
    worst = 0.0
    for name, key in names.items():
        ne, t, arr = tensors[name]
        w = weights[key]
        conv = key.endswith(("c_attn.weight", "c_proj.weight", "c_fc.weight"))
        want = w.T if conv else w  # llama.cpp's converter transposes Conv1D weights
        assert list(arr.shape) == list(want.shape), (name, arr.shape, want.shape)
        if w.ndim == 1:
            assert t == 0, (name, "1-D tensors stay F32")
        elif kv["general.file_type"] == 7:
            assert t == 8, (name, "Q8_0 files hold their matrices in Q8_0")
        worst = max(worst, float(np.max(np.abs(arr - want)) / max(1e-12, float(np.max(np.abs(want))))))
    tol = 0.0 if kv["general.file_type"] == 0 else 1e-2
    assert worst <= tol, (worst, tol)
    print(f"gguf ok: {len(tensors)} tensors, {len(merges)} merges, worst relative difference {worst:.2e}")


if __name__ == "__main__":
    main()
