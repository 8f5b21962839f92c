"""PyTorch peer for bench_generate.sh: the reference's generate_text_simple (no KV cache: the whole
cropped context is recomputed for each token) on the book's GPTModel, random init, greedy.
Prints seconds per new token.

Usage: generate_torch_peer.py SIZE PROMPT_IDS_JSON NEW_TOKENS [THREADS]
"""
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "oracle"))
from gpt2_oracle import GPTModel  # noqa: E402

SIZES = {"small": (768, 12, 12), "medium": (1024, 24, 16), "large": (1280, 36, 20), "xl": (1600, 48, 25)}


def main():
    size, ids, new = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(int(sys.argv[4]) if len(sys.argv) > 4 else 1)
    emb, layers, heads = SIZES[size]
    cfg = {"vocab_size": 50257, "context_length": 1024, "emb_dim": emb, "n_heads": heads,
           "n_layers": layers, "drop_rate": 0.0, "qkv_bias": True}
    torch.manual_seed(123)
    model = GPTModel(cfg).eval()
    idx = torch.tensor(ids).unsqueeze(0)
    with torch.no_grad():
        model(idx)  # warm-up
        t0 = time.perf_counter()
        for _ in range(new):
            logits = model(idx[:, -1024:])[:, -1, :]
            idx = torch.cat((idx, torch.argmax(logits, dim=-1, keepdim=True)), dim=1)
        dt = time.perf_counter() - t0
    print(f"{dt / new:.4f}")


if __name__ == "__main__":
    main()
