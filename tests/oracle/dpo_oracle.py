"""PyTorch oracle for DPO (the book's bonus chapter), on the tiny model of gpt2_oracle.py.

The book's custom_collate_fn (pad chosen and rejected to one common length with 50256 -> here the
tiny vocab's last id, masks false on padding and on the first len(prompt) + 2 positions),
compute_logprobs (labels shifted by one, log_softmax, gather, masked mean), compute_dpo_loss and
compute_dpo_loss_batch; the policy and a frozen reference both start from the same model. Ten
made-up token sequences (prompt, prompt + chosen, prompt + rejected), batches of 2 in order, 5
AdamW steps (lr 1e-3, weight decay 0.01, beta 0.1). Dumps each step's loss, chosen and rejected
rewards (before its update), and the examples, into OUT/dpo_oracle.safetensors; the model into OUT/model.
Usage: dpo_oracle.py OUT_DIR
"""
import copy
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpt2_oracle import CFG, make_model, write_model, write_safetensors  # noqa: E402

LR, WD, BETA, STEPS, BATCH, N = 1e-3, 0.01, 0.1, 5, 2, 10
PAD = CFG["vocab_size"] - 1


def custom_collate_fn(batch, pad_token_id=PAD, allowed_max_length=None, mask_prompt_tokens=True):  # the book's
    batch_data = {"prompt": [], "chosen": [], "rejected": [], "rejected_mask": [], "chosen_mask": []}
    max_length_common = 0
    if batch:
        for key in ["chosen", "rejected"]:
            current_max = max(len(item[key]) + 1 for item in batch)
            max_length_common = max(max_length_common, current_max)
    for item in batch:
        prompt = torch.tensor(item["prompt"])
        batch_data["prompt"].append(prompt)
        for key in ["chosen", "rejected"]:
            sequence = item[key]
            padded = sequence + [pad_token_id] * (max_length_common - len(sequence))
            mask = torch.ones(len(padded)).bool()
            mask[len(sequence):] = False
            if mask_prompt_tokens:
                mask[:prompt.shape[0] + 2] = False
            batch_data[key].append(torch.tensor(padded))
            batch_data[f"{key}_mask"].append(mask)
    for key in ["chosen", "rejected", "chosen_mask", "rejected_mask"]:
        tensor_stack = torch.stack(batch_data[key])
        if allowed_max_length is not None:
            tensor_stack = tensor_stack[:, :allowed_max_length]
        batch_data[key] = tensor_stack
    return batch_data


def compute_logprobs(logits, labels, selection_mask=None):  # the book's
    labels = labels[:, 1:].clone()
    logits = logits[:, :-1, :]
    log_probs = F.log_softmax(logits, dim=-1)
    selected_log_probs = torch.gather(input=log_probs, dim=-1, index=labels.unsqueeze(-1)).squeeze(-1)
    if selection_mask is not None:
        mask = selection_mask[:, 1:].clone()
        selected_log_probs = selected_log_probs * mask
        return selected_log_probs.sum(-1) / mask.sum(-1)
    return selected_log_probs.mean(-1)


def compute_dpo_loss(model_chosen_logprobs, model_rejected_logprobs, reference_chosen_logprobs,
                     reference_rejected_logprobs, beta=0.1):  # the book's
    model_logratios = model_chosen_logprobs - model_rejected_logprobs
    reference_logratios = reference_chosen_logprobs - reference_rejected_logprobs
    logits = model_logratios - reference_logratios
    losses = -F.logsigmoid(beta * logits)
    chosen_rewards = (model_chosen_logprobs - reference_chosen_logprobs).detach()
    rejected_rewards = (model_rejected_logprobs - reference_rejected_logprobs).detach()
    return losses.mean(), chosen_rewards.mean(), rejected_rewards.mean()


def compute_dpo_loss_batch(batch, policy_model, reference_model, beta):  # the book's
    policy_chosen = compute_logprobs(policy_model(batch["chosen"]), batch["chosen"], batch["chosen_mask"])
    policy_rejected = compute_logprobs(policy_model(batch["rejected"]), batch["rejected"], batch["rejected_mask"])
    with torch.no_grad():
        ref_chosen = compute_logprobs(reference_model(batch["chosen"]), batch["chosen"], batch["chosen_mask"])
        ref_rejected = compute_logprobs(reference_model(batch["rejected"]), batch["rejected"], batch["rejected_mask"])
    return compute_dpo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta)


def main():
    out_dir = sys.argv[1]
    policy = make_model()
    write_model(policy, os.path.join(out_dir, "model"))
    reference = copy.deepcopy(policy)
    reference.eval()
    g = torch.Generator().manual_seed(3)
    rnd = lambda lo, hi: int(torch.randint(lo, hi, (1,), generator=g))  # noqa: E731
    toks = lambda n: torch.randint(0, CFG["vocab_size"] - 1, (n,), generator=g).tolist()  # noqa: E731
    data = []
    for _ in range(N):
        prompt = toks(rnd(2, 6))
        head = prompt + toks(2)  # the "\n\n### Response:\n" part: the first len(prompt) + 2 stay masked
        data.append({"prompt": prompt, "chosen": head + toks(rnd(1, 6)), "rejected": head + toks(rnd(1, 6))})
    opt = torch.optim.AdamW(policy.parameters(), lr=LR, weight_decay=WD)
    losses, chosen, rejected = [], [], []
    for step in range(STEPS):
        batch = custom_collate_fn(data[step * BATCH:(step + 1) * BATCH])
        opt.zero_grad()
        loss, cr, rr = compute_dpo_loss_batch(batch, policy, reference, BETA)
        loss.backward()
        opt.step()
        losses.append(loss.item()), chosen.append(cr.item()), rejected.append(rr.item())
    dump = {"losses": torch.tensor(losses), "chosen_rewards": torch.tensor(chosen),
            "rejected_rewards": torch.tensor(rejected)}
    for i, e in enumerate(data):
        for k in ("prompt", "chosen", "rejected"):
            dump[f"ex.{i}.{k}"] = torch.tensor(e[k], dtype=torch.float32)
    write_safetensors(os.path.join(out_dir, "dpo_oracle.safetensors"), dump,
                      {"lr": str(LR), "weight_decay": str(WD), "beta": str(BETA), "steps": str(STEPS),
                       "batch": str(BATCH), "examples": str(N)})
    print(f"dpo oracle: losses {[round(x, 6) for x in losses]}, chosen {[round(x, 6) for x in chosen]}, "
          f"rejected {[round(x, 6) for x in rejected]}")


if __name__ == "__main__":
    main()
