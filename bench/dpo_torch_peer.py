"""PyTorch peer for bench_dpo.sh: the book's DPO code (tests/oracle/dpo_oracle.py: custom_collate_fn,
compute_logprobs, compute_dpo_loss_batch) on the reference GPTModel, random init, policy and a frozen
deep-copied reference, AdamW(lr=5e-6, weight_decay=0.01), batch 8 of the bundled preference data in
file order (instruct dpo --no-shuffle sees the same batches). Prints seconds per step after a
warm-up step, and peak RSS.
Usage: dpo_torch_peer.py SIZE PREFERENCE.json STEPS [THREADS]   (PEER_BF16=1: autocast bf16)
"""
import copy
import json
import os
import resource
import sys
import time

import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "tests", "oracle"))
from dpo_oracle import compute_dpo_loss_batch, custom_collate_fn  # noqa: E402
from gpt2_bpe import Gpt2Bpe  # noqa: E402
from gpt2_oracle import GPTModel  # noqa: E402

SIZES = {"small": (768, 12, 12), "medium": (1024, 24, 16), "large": (1280, 36, 20), "xl": (1600, 48, 25)}


def format_input(e):  # the book's
    text = ("Below is an instruction that describes a task. Write a response that appropriately completes the request."
            f"\n\n### Instruction:\n{e['instruction']}")
    return text + (f"\n\n### Input:\n{e['input']}" if e["input"] else "")


def main():
    size, path, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    torch.set_num_threads(int(sys.argv[4]) if len(sys.argv) > 4 else 1)
    data_dir = os.path.join(here, "..", "data")
    bpe = Gpt2Bpe(os.path.join(data_dir, "gpt2-encoder.json"), os.path.join(data_dir, "gpt2-vocab.bpe"))
    with open(path) as f:
        entries = json.load(f)[: 8 * (steps + 1)]  # the train split starts the file
    encoded = []
    for e in entries:  # the book's PreferenceDataset
        prompt = format_input(e)
        encoded.append({"prompt": bpe.encode(prompt),
                        "chosen": bpe.encode(f"{prompt}\n\n### Response:\n{e['chosen']}"),
                        "rejected": bpe.encode(f"{prompt}\n\n### Response:\n{e['rejected']}")})
    emb, layers, heads = SIZES[size]
    cfg = {"vocab_size": 50257, "context_length": 1024, "emb_dim": emb, "n_heads": heads, "n_layers": layers,
           "drop_rate": 0.0, "qkv_bias": True}
    torch.manual_seed(123)
    policy = GPTModel(cfg)
    reference = copy.deepcopy(policy)
    reference.eval()
    opt = torch.optim.AdamW(policy.parameters(), lr=5e-6, weight_decay=0.01)
    autocast = os.environ.get("PEER_BF16") == "1"
    t0 = None
    for i in range(steps + 1):
        if i == 1:
            t0 = time.perf_counter()
        batch = custom_collate_fn(encoded[i * 8:(i + 1) * 8], pad_token_id=50256, allowed_max_length=1024)
        opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss, _, _ = compute_dpo_loss_batch(batch, policy, reference, beta=0.1)
        loss.backward()
        opt.step()
    dt = (time.perf_counter() - t0) / steps
    print(f"{dt:.3f} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}")


if __name__ == "__main__":
    main()
