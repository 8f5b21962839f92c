"""PyTorch oracle for the GPT-2 engine (llm.c test_gpt2 style).

Builds the reference architecture (the book's GPTModel: separate W_query/W_key/W_value with bias,
custom LayerNorm, tanh GELU, untied out_head) with a tiny odd-sized config, writes its weights as
an HF GPT-2 checkpoint (config.json + model.safetensors, Conv1D [in, out] layout), and dumps, for a
fixed batch with -100 targets: logits, loss, every parameter gradient (HF names and layout), and
the losses of 5 AdamW steps. Needs Debian's python3-torch; writes safetensors by hand.

Usage: gpt2_oracle.py OUT_DIR
"""
import json
import os
import struct
import sys

import torch
import torch.nn as nn

CFG = {"vocab_size": 61, "context_length": 16, "emb_dim": 48, "n_heads": 4, "n_layers": 2,
       "drop_rate": 0.0, "qkv_bias": True}
B, T = 3, 11
LR, WD, STEPS = 1e-3, 0.1, 5


class MultiHeadAttention(nn.Module):
    def __init__(self, d_in, d_out, context_length, dropout, num_heads, qkv_bias=False):
        super().__init__()
        self.d_out, self.num_heads, self.head_dim = d_out, num_heads, d_out // num_heads
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.out_proj = nn.Linear(d_out, d_out)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("mask", torch.triu(torch.ones(context_length, context_length), diagonal=1))

    def forward(self, x):
        b, n, _ = x.shape
        k, q, v = self.W_key(x), self.W_query(x), self.W_value(x)
        if getattr(self, "qkv_lora", None) is not None:  # one adapter on the fused q|k|v (lora_oracle.py)
            d = self.qkv_lora(x)
            q, k, v = q + d[..., :self.d_out], k + d[..., self.d_out:2 * self.d_out], v + d[..., 2 * self.d_out:]
        keys = k.view(b, n, self.num_heads, self.head_dim).transpose(1, 2)
        queries = q.view(b, n, self.num_heads, self.head_dim).transpose(1, 2)
        values = v.view(b, n, self.num_heads, self.head_dim).transpose(1, 2)
        scores = queries @ keys.transpose(2, 3)
        scores.masked_fill_(self.mask.bool()[:n, :n], -torch.inf)
        weights = self.dropout(torch.softmax(scores / keys.shape[-1] ** 0.5, dim=-1))
        ctx = (weights @ values).transpose(1, 2).contiguous().view(b, n, self.d_out)
        return self.out_proj(ctx)


class LayerNorm(nn.Module):
    def __init__(self, emb_dim):
        super().__init__()
        self.eps = 1e-5
        self.scale = nn.Parameter(torch.ones(emb_dim))
        self.shift = nn.Parameter(torch.zeros(emb_dim))

    def forward(self, x):
        mean = x.mean(dim=-1, keepdim=True)
        var = x.var(dim=-1, keepdim=True, unbiased=False)
        return self.scale * (x - mean) / torch.sqrt(var + self.eps) + self.shift


class GELU(nn.Module):
    def forward(self, x):
        return 0.5 * x * (1 + torch.tanh(torch.sqrt(torch.tensor(2.0 / torch.pi)) * (x + 0.044715 * torch.pow(x, 3))))


class FeedForward(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(cfg["emb_dim"], 4 * cfg["emb_dim"]), GELU(),
                                    nn.Linear(4 * cfg["emb_dim"], cfg["emb_dim"]))

    def forward(self, x):
        return self.layers(x)


class TransformerBlock(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.att = MultiHeadAttention(cfg["emb_dim"], cfg["emb_dim"], cfg["context_length"],
                                      cfg["drop_rate"], cfg["n_heads"], cfg["qkv_bias"])
        self.ff = FeedForward(cfg)
        self.norm1, self.norm2 = LayerNorm(cfg["emb_dim"]), LayerNorm(cfg["emb_dim"])
        self.drop_shortcut = nn.Dropout(cfg["drop_rate"])

    def forward(self, x):
        x = x + self.drop_shortcut(self.att(self.norm1(x)))
        return x + self.drop_shortcut(self.ff(self.norm2(x)))


class GPTModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.tok_emb = nn.Embedding(cfg["vocab_size"], cfg["emb_dim"])
        self.pos_emb = nn.Embedding(cfg["context_length"], cfg["emb_dim"])
        self.drop_emb = nn.Dropout(cfg["drop_rate"])
        self.trf_blocks = nn.Sequential(*[TransformerBlock(cfg) for _ in range(cfg["n_layers"])])
        self.final_norm = LayerNorm(cfg["emb_dim"])
        self.out_head = nn.Linear(cfg["emb_dim"], cfg["vocab_size"], bias=False)

    def forward(self, idx):
        n = idx.shape[1]
        x = self.tok_emb(idx) + self.pos_emb(torch.arange(n, device=idx.device))
        x = self.trf_blocks(self.drop_emb(x))
        return self.out_head(self.final_norm(x))


def hf_tensors(model, grad=False):
    """The model's parameters (or gradients) under HF GPT-2 names, Conv1D [in, out] layout."""
    g = (lambda p: p.grad) if grad else (lambda p: p.data)
    out = {"wte.weight": g(model.tok_emb.weight), "wpe.weight": g(model.pos_emb.weight)}
    for i, blk in enumerate(model.trf_blocks):
        h, a = f"h.{i}.", blk.att
        out[h + "ln_1.weight"], out[h + "ln_1.bias"] = g(blk.norm1.scale), g(blk.norm1.shift)
        out[h + "attn.c_attn.weight"] = torch.cat([g(a.W_query.weight).T, g(a.W_key.weight).T, g(a.W_value.weight).T], 1)
        out[h + "attn.c_attn.bias"] = torch.cat([g(a.W_query.bias), g(a.W_key.bias), g(a.W_value.bias)])
        out[h + "attn.c_proj.weight"], out[h + "attn.c_proj.bias"] = g(a.out_proj.weight).T, g(a.out_proj.bias)
        out[h + "ln_2.weight"], out[h + "ln_2.bias"] = g(blk.norm2.scale), g(blk.norm2.shift)
        fc, proj = blk.ff.layers[0], blk.ff.layers[2]
        out[h + "mlp.c_fc.weight"], out[h + "mlp.c_fc.bias"] = g(fc.weight).T, g(fc.bias)
        out[h + "mlp.c_proj.weight"], out[h + "mlp.c_proj.bias"] = g(proj.weight).T, g(proj.bias)
    out["ln_f.weight"], out["ln_f.bias"] = g(model.final_norm.scale), g(model.final_norm.shift)
    out["lm_head.weight"] = g(model.out_head.weight)
    return out


def write_safetensors(path, tensors, metadata=None):
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, t in tensors.items():
        data = t.detach().contiguous().to(torch.float32).numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    os.replace(tmp, path)


def make_model():
    """The tiny model with GPT-2-like scales (seed 0)."""
    torch.manual_seed(0)
    model = GPTModel(CFG)
    with torch.no_grad():  # GPT-2-like scale, and non-trivial biases and norms so every path is tested
        for name, p in model.named_parameters():
            if name.endswith("scale"):
                p.copy_(1 + 0.1 * torch.randn_like(p))
            elif name.endswith("shift") or name.endswith("bias"):
                p.copy_(0.05 * torch.randn_like(p))
            else:
                p.copy_(0.1 * torch.randn_like(p))
    return model


def write_model(model, model_dir):
    """An HF GPT-2 checkpoint of the model (untied head)."""
    os.makedirs(model_dir, exist_ok=True)
    config = {"model_type": "gpt2", "n_layer": CFG["n_layers"], "n_head": CFG["n_heads"],
              "n_embd": CFG["emb_dim"], "n_positions": CFG["context_length"],
              "vocab_size": CFG["vocab_size"], "tie_word_embeddings": False}
    with open(os.path.join(model_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    write_safetensors(os.path.join(model_dir, "model.safetensors"), hf_tensors(model))


def make_batch():
    """A fixed batch with padding, a masked prompt and a single ignored target."""
    g = torch.Generator().manual_seed(1)
    inputs = torch.randint(0, CFG["vocab_size"], (B, T), generator=g)
    targets = torch.randint(0, CFG["vocab_size"], (B, T), generator=g)
    targets[1, 8:] = -100   # padding
    targets[2, :4] = -100   # a masked prompt
    targets[0, 5] = -100
    return inputs, targets


def adamw_losses(model, inputs, targets, lr, wd, steps):
    """The losses of `steps` AdamW steps over all parameters (frozen ones have no gradient)."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=wd)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        l = nn.functional.cross_entropy(model(inputs).flatten(0, 1), targets.flatten())
        losses.append(l.item())
        l.backward()
        opt.step()
    return losses


def main():
    out_dir = sys.argv[1]
    model = make_model()
    write_model(model, os.path.join(out_dir, "model"))
    inputs, targets = make_batch()

    logits = model(inputs)
    loss = nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())
    loss.backward()
    dump = {"inputs": inputs.float(), "targets": targets.float(), "logits": logits, "loss": loss.reshape(1)}
    for name, t in hf_tensors(model, grad=True).items():
        dump["grad." + name] = t.detach().clone()  # zero_grad() later overwrites .grad in place

    losses = adamw_losses(model, inputs, targets, LR, WD, STEPS)
    dump["adamw_losses"] = torch.tensor(losses)
    write_safetensors(os.path.join(out_dir, "oracle.safetensors"), dump,
                      {"lr": str(LR), "weight_decay": str(WD), "steps": str(STEPS)})
    print(f"oracle: loss {loss.item():.6f}, AdamW losses {[round(x, 6) for x in losses]} -> {out_dir}")


if __name__ == "__main__":
    main()
