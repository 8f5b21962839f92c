"""PyTorch peer for bench_train.sh: the reference GPTModel (tests/oracle/gpt2_oracle.py), random
init, AdamW(lr=5e-5, wd=0.1), on the batches `instruct prepare --export-batches` wrote (the same
shuffled train batches `instruct train` sees). Prints tokens/s after warm-up and peak RSS.
With VAL.jsonl it also times the reference's other recurring work: one evaluate_model (first 5
train + first 5 val batches, no_grad) and generate_and_print_sample (50 greedy tokens, no cache,
from val[0]'s prompt of PROMPT_LEN tokens); it then prints: tok/s peak step_s eval_s sample_s.

Usage: train_torch_peer.py SIZE BATCHES.jsonl STEPS [THREADS [VAL.jsonl PROMPT_LEN]]
With PEER_BF16=1 the training forward and loss run under torch.autocast("cpu", torch.bfloat16).
With PEER_LORA=R the base is frozen and every nn.Linear wrapped with the book's LinearWithLoRA
(rank R, alpha 16; tests/oracle/lora_oracle.py), as exercise 7.4 does.
"""
import json
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "oracle"))
from gpt2_oracle import GPTModel  # noqa: E402
from lora_oracle import replace_linear_with_lora  # noqa: E402

SIZES = {"small": (768, 12, 12), "medium": (1024, 24, 16), "large": (1280, 36, 20), "xl": (1600, 48, 25)}


def main():
    size, path, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    torch.set_num_threads(int(sys.argv[4]) if len(sys.argv) > 4 else 1)
    emb, layers, heads = SIZES[size]
    cfg = {"vocab_size": 50257, "context_length": 1024, "emb_dim": emb, "n_heads": heads,
           "n_layers": layers, "drop_rate": 0.0, "qkv_bias": True}
    torch.manual_seed(123)
    model = GPTModel(cfg)
    if int(os.environ.get("PEER_LORA", "0")) > 0:  # exercise 7.4: freeze, then wrap every nn.Linear
        for p in model.parameters():
            p.requires_grad = False
        replace_linear_with_lora(model, rank=int(os.environ["PEER_LORA"]), alpha=16)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.1)
    with open(path) as f:
        batches = [json.loads(l) for l in f][: steps + 1]
    autocast = os.environ.get("PEER_BF16") == "1"
    tokens, t0 = 0, None
    for i, b in enumerate(batches):
        if i == 1:  # step 0 is the warm-up
            t0 = time.perf_counter()
        x, y = torch.tensor(b["inputs"]), torch.tensor(b["targets"])
        opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        loss.backward()
        opt.step()
        if i >= 1:
            tokens += x.numel()
    dt = time.perf_counter() - t0
    if len(sys.argv) <= 5:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print(f"{tokens / dt:.1f} {peak}")
        return
    with open(sys.argv[5]) as f:
        val = [json.loads(l) for l in f][:5]
    model.eval()
    t1 = time.perf_counter()
    with torch.no_grad():
        for b in batches[:5] + val:  # calc_loss_loader(train, 5), calc_loss_loader(val, 5)
            x, y = torch.tensor(b["inputs"]), torch.tensor(b["targets"])
            F.cross_entropy(model(x).flatten(0, 1), y.flatten()).item()
    eval_s = time.perf_counter() - t1
    idx = torch.tensor(val[0]["inputs"][0][: int(sys.argv[6])]).unsqueeze(0)
    t2 = time.perf_counter()
    with torch.no_grad():
        for _ in range(50):  # generate_text_simple
            logits = model(idx[:, -1024:])[:, -1, :]
            idx = torch.cat((idx, torch.argmax(logits, dim=-1, keepdim=True)), dim=1)
    sample_s = time.perf_counter() - t2
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"{tokens / dt:.1f} {peak} {dt / (len(batches) - 1):.3f} {eval_s:.3f} {sample_s:.3f}")


if __name__ == "__main__":
    main()
