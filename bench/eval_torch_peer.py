"""PyTorch peer for bench_eval.sh: lm-evaluation-harness's HFLM log-likelihood loop on the book's
GPTModel (random init, SIZE's shapes): every (context, choice) pair tokenized by _encode_pair,
inputs (ctx + cont)[-1025:][:-1] deduplicated (the harness's one-token-continuation cache),
sorted longest first, batched with right padding, log_softmax, the continuation's tokens gathered.
Prints the scoring seconds (tokenization excluded) and the questions.

Usage: eval_torch_peer.py SIZE HELLASWAG.jsonl LIMIT BATCH THREADS
"""
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "oracle"))
import eval_oracle  # noqa: E402
from gpt2_oracle import GPTModel  # noqa: E402
from gpt2_bpe import Gpt2Bpe  # noqa: E402

SIZES = {"small": (768, 12, 12), "medium": (1024, 24, 16), "large": (1280, 36, 20), "xl": (1600, 48, 25)}


def main():
    size, path, limit, batch, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    torch.set_num_threads(threads)
    emb, layers, heads = SIZES[size]
    cfg = {"vocab_size": 50257, "context_length": 1024, "emb_dim": emb, "n_heads": heads,
           "n_layers": layers, "drop_rate": 0.0, "qkv_bias": True}
    torch.manual_seed(123)
    model = GPTModel(cfg).eval()
    repo = os.path.join(HERE, "..")
    bpe = Gpt2Bpe(os.path.join(repo, "data", "gpt2-encoder.json"), os.path.join(repo, "data", "gpt2-vocab.bpe"))
    docs = eval_oracle.hellaswag(path)[:limit]
    reqs = []
    for d in docs:
        for c in d["choices"]:
            ctx, cont = eval_oracle.encode_pair(bpe, d["text"], " " + c)
            reqs.append((tuple((ctx + cont)[-1025:][:-1]), tuple(cont)))
    inputs = sorted(set(reqs), key=lambda r: (-len(r[0]), r))
    t0 = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(inputs), batch):
            part = inputs[i:i + batch]
            n = max(len(p[0]) for p in part)
            x = torch.zeros(len(part), n, dtype=torch.long)
            for j, (inp, _) in enumerate(part):
                x[j, :len(inp)] = torch.tensor(inp)
            logp = torch.log_softmax(model(x), dim=-1)
            for j, (inp, cont) in enumerate(part):
                rows = logp[j, len(inp) - len(cont):len(inp)]
                float(rows.gather(1, torch.tensor(cont).unsqueeze(1)).sum())
    print(f"{time.perf_counter() - t0:.3f} {len(docs)}")


if __name__ == "__main__":
    main()
