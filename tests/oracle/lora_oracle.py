"""PyTorch oracle for LoRA (the book's exercise 7.4), on the tiny model of gpt2_oracle.py.

The book's LoRALayer / LinearWithLoRA / replace_linear_with_lora wrap every nn.Linear (separate
W_query, W_key, W_value, out_proj, both feed-forward linears, out_head) after freezing the base.
"split" is exactly that; "fused" puts one adapter on the fused q|k|v instead (what PEFT does with
target_modules=["c_attn"]) and wraps the rest the same way.

For each mode it writes OUT/adapter_MODE in PEFT's layout (adapter_config.json with lora_alpha =
alpha * r, rank_pattern/alpha_pattern for split c_attn; adapter_model.safetensors with lora_A
[r, in] and lora_B [out, r], split c_attn's B block-diagonal), after giving B nonzero values so its
path is tested, and dumps into OUT/lora_oracle.safetensors:
  MODE.init.<key>    every lora_A as the book initialises it after torch.manual_seed(123)
  MODE.loss          the loss on the fixed batch, MODE.grad.<key> every adapter gradient (PEFT layout)
  MODE.adamw_losses  5 AdamW steps (lr 1e-3, weight decay 0.1 over all parameters; only the
                     adapters have gradients)
Usage: lora_oracle.py OUT_DIR
"""
import json
import math
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpt2_oracle import CFG, adamw_losses, make_batch, make_model, write_model, write_safetensors  # noqa: E402

RANK, ALPHA = 4, 2.0
LR, WD, STEPS = 1e-3, 0.1, 5
PREFIX = "base_model.model."


class LoRALayer(nn.Module):  # the book's
    def __init__(self, in_dim, out_dim, rank, alpha):
        super().__init__()
        self.A = nn.Parameter(torch.empty(in_dim, rank))
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))
        self.B = nn.Parameter(torch.zeros(rank, out_dim))
        self.alpha = alpha

    def forward(self, x):
        return self.alpha * (x @ self.A @ self.B)


class LinearWithLoRA(nn.Module):  # the book's
    def __init__(self, linear, rank, alpha):
        super().__init__()
        self.linear = linear
        self.lora = LoRALayer(linear.in_features, linear.out_features, rank, alpha)

    def forward(self, x):
        return self.linear(x) + self.lora(x)


def replace_linear_with_lora(model, rank, alpha):  # the book's
    for name, module in model.named_children():
        if isinstance(module, nn.Linear):
            setattr(model, name, LinearWithLoRA(module, rank, alpha))
        else:
            replace_linear_with_lora(module, rank, alpha)


def wrap_fused(model, rank, alpha):
    """One adapter on q|k|v per block (drawn where the block's q would be), the rest as the book."""
    for blk in model.trf_blocks:
        a = blk.att
        a.qkv_lora = LoRALayer(a.d_out, 3 * a.d_out, rank, alpha)
        a.out_proj = LinearWithLoRA(a.out_proj, rank, alpha)
        blk.ff.layers[0] = LinearWithLoRA(blk.ff.layers[0], rank, alpha)
        blk.ff.layers[2] = LinearWithLoRA(blk.ff.layers[2], rank, alpha)
    model.out_head = LinearWithLoRA(model.out_head, rank, alpha)


def adapters(model, mode):
    """PEFT module name -> list of LoRALayers feeding it (three for split c_attn)."""
    out = {}
    for i, blk in enumerate(model.trf_blocks):
        h, a = f"transformer.h.{i}.", blk.att
        out[h + "attn.c_attn"] = [a.W_query.lora, a.W_key.lora, a.W_value.lora] if mode == "split" else [a.qkv_lora]
        out[h + "attn.c_proj"] = [a.out_proj.lora]
        out[h + "mlp.c_fc"] = [blk.ff.layers[0].lora]
        out[h + "mlp.c_proj"] = [blk.ff.layers[2].lora]
    out["lm_head"] = [model.out_head.lora]
    return out


def peft_tensors(model, mode, grad=False):
    """lora_A [R, in] = the A's transposed and stacked; lora_B [out, R] = the B's transposed, block-diagonal."""
    g = (lambda p: p.grad) if grad else (lambda p: p.data)
    t = {}
    for module, layers in adapters(model, mode).items():
        t[PREFIX + module + ".lora_A.weight"] = torch.cat([g(l.A).T for l in layers], 0)
        t[PREFIX + module + ".lora_B.weight"] = torch.block_diag(*[g(l.B).T for l in layers])
    return t


def main():
    out_dir = sys.argv[1]
    base = make_model()
    write_model(base, os.path.join(out_dir, "model"))
    inputs, targets = make_batch()
    dump = {}
    for mode in ("split", "fused"):
        model = make_model()
        for p in model.parameters():
            p.requires_grad = False
        torch.manual_seed(123)
        if mode == "split":
            replace_linear_with_lora(model, RANK, ALPHA)
        else:
            wrap_fused(model, RANK, ALPHA)
        for k, v in peft_tensors(model, mode).items():
            if k.endswith("lora_A.weight"):
                dump[f"{mode}.init.{k}"] = v.clone()
        gen = torch.Generator().manual_seed(7)
        with torch.no_grad():  # a nonzero B, so that B's path (and A's gradient) is tested
            for layers in adapters(model, mode).values():
                for l in layers:
                    l.B.copy_(0.1 * torch.randn(l.B.shape, generator=gen))
        adir = os.path.join(out_dir, f"adapter_{mode}")
        os.makedirs(adir, exist_ok=True)
        cfg = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": os.path.join(out_dir, "model"),
               "r": RANK, "lora_alpha": ALPHA * RANK, "fan_in_fan_out": True, "bias": "none",
               "target_modules": ["c_attn", "attn.c_proj", "c_fc", "mlp.c_proj", "lm_head"],
               "rank_pattern": {"c_attn": 3 * RANK} if mode == "split" else {},
               "alpha_pattern": {"c_attn": ALPHA * 3 * RANK} if mode == "split" else {}}
        with open(os.path.join(adir, "adapter_config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
        write_safetensors(os.path.join(adir, "adapter_model.safetensors"), peft_tensors(model, mode), {"format": "pt"})

        loss = nn.functional.cross_entropy(model(inputs).flatten(0, 1), targets.flatten())
        loss.backward()
        dump[f"{mode}.loss"] = loss.detach().reshape(1)
        for k, v in peft_tensors(model, mode, grad=True).items():
            dump[f"{mode}.grad.{k}"] = v.detach().clone()
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        dump[f"{mode}.trainable"] = torch.tensor([float(trainable)])

        losses = adamw_losses(model, inputs, targets, LR, WD, STEPS)  # as the book: over all parameters
        dump[f"{mode}.adamw_losses"] = torch.tensor(losses)
        print(f"lora oracle {mode}: loss {loss.item():.6f}, {trainable} trainable, "
              f"AdamW losses {[round(x, 6) for x in losses]}")
    dump["inputs"], dump["targets"] = inputs.float(), targets.float()
    write_safetensors(os.path.join(out_dir, "lora_oracle.safetensors"), dump,
                      {"lr": str(LR), "weight_decay": str(WD), "steps": str(STEPS), "seed": "123"})


if __name__ == "__main__":
    main()
