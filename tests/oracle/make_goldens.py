"""Writes (or with --check, verifies) the tokenizer and loader goldens in tests/data/.

tokenizer_goldens.json: ids of every formatted entry of the bundled data (Alpaca and Phi-3 full
texts, Alpaca prompt lengths) and of a set of hard Unicode strings, from the Python oracle.
torch_shuffle.json: torch.utils.data.DataLoader orders (needs Debian's python3-torch).
torch_train_schedule.json: train batches of the reference loop with its evaluations interleaved.
"""
import argparse
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpt2_bpe import Gpt2Bpe  # noqa: E402


def format_input(e):
    s = ("Below is an instruction that describes a task. Write a response that appropriately "
         "completes the request.\n\n### Instruction:\n" + e["instruction"])
    if e["input"]:
        s += "\n\n### Input:\n" + e["input"]
    return s


def format_input_phi(e):
    s = "<|user|>\n" + e["instruction"]
    if e["input"]:
        s += "\n" + e["input"]
    return s


HARD = [
    "", " ", "  ", "\n", "\n\n\n", "\t\t x", "a  b   c    d", "trailing spaces   ", "   leading",
    "line\r\nbreaks\r\n", "x \n y", "tab\tand\vvertical\fform", " \u00a0 nbsp\u00a0x",
    "nel\u0085next", "x\u0085", "\u0085\u0085a", "para\u2029sep\u2028line", "zero\u200bwidth\u200d",
    "\ufeffbom", "I'm you're we've they'll she'd it's don't", "I'M YOU'RE THEY'LL 'S'T",
    "''''s", "'t'tt", "rock'n'roll", "12345678901234567890", "3.14159 -2e10 1,000,000",
    "\u0663\u0664\u0665 \u0967\u0968 \u00b2\u00b3 \u2155 \u2167", "x123y456", "hello世界123",
    "日本語のテキスト、カタカナ。", "中文字符测试：你好，世界！", "한국어 텍스트입니다",
    "e\u0301 a\u0300 n\u0303 o\u0308", "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334",
    "\u0915\u094d\u0937 \u0924\u094d\u0930 \u091c\u094d\u091e", "ภาษาไทย", "עברית ועוד", "العربية نص",
    "😀😃😄 👍🏽 👨\u200d👩\u200d👧\u200d👦 🇫🇷🇯🇵", "emoji😀inside words", "🎉🎉🎉!!!",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕞𝕒𝕥𝕙", "\U0001d11e music", "\ue000 private \U000f0000", "\u0378 unassigned",
    "\x00\x01\x1b[31mred\x1b[0m\x7f", "\x1c\x1d\x1e\x1f", "<|endoftext|>", "a<|endoftext|>b",
    "<|user|>", "<|assistant|>:", "### Response:\n", "    def f(x):\n        return x**2\n",
    "{\"json\": [1, 2, 3]}", "https://example.com/a?b=c&d=e#f", "e-mail@example.org",
    "a" * 300, " " * 1000, "\n" * 50 + "x", "ab" * 200, "9" * 100, "!!!???...,,,;;;",
    "Ñandú über straße ÆØÅ œuvre", "ﬁ ﬂ ﬀ ligatures", "ＦＵＬＬ　ｗｉｄｔｈ　１２３",
    "Ελληνικά κείμενο", "Кириллица текст", "Ǆ ǅ ǆ", "\u2028", "x\u3000y",
]

RANGES = [(0x20, 0x7E), (0xA0, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x6FF),
          (0x900, 0x97F), (0xE00, 0xE7F), (0x1100, 0x11FF), (0x2000, 0x206F), (0x3000, 0x30FF),
          (0x4E00, 0x4FFF), (0xAC00, 0xACFF), (0x1F300, 0x1F64F), (0x1D400, 0x1D4FF)]
SPACES = ["\u0020", "\t", "\n", "\r", "\u00a0", "\u0085", "\u3000", "\u2028"]


def random_strings(n, seed=1234):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        chars = []
        for _ in range(rng.randint(1, 40)):
            r = rng.random()
            if r < 0.15:
                chars.append(rng.choice(SPACES) * rng.randint(1, 3))
            elif r < 0.2:
                chars.append(rng.choice(["'s", "'ll", "'t", "'re", "'"]))
            else:
                lo, hi = rng.choice(RANGES)
                cp = rng.randint(lo, hi)
                if 0xD800 <= cp <= 0xDFFF:
                    cp = 0x41
                chars.append(chr(cp))
        out.append("".join(chars))
    return out


def tokenizer_goldens(repo):
    data_dir = os.path.join(repo, "data")
    bpe = Gpt2Bpe(os.path.join(data_dir, "gpt2-encoder.json"), os.path.join(data_dir, "gpt2-vocab.bpe"))
    with open(os.path.join(data_dir, "instruction-data.json"), encoding="utf-8") as f:
        data = json.load(f)
    alpaca = [bpe.encode(format_input(e) + "\n\n### Response:\n" + e["output"]) for e in data]
    alpaca_prompt = [len(bpe.encode(format_input(e))) for e in data]
    phi3 = [bpe.encode(format_input_phi(e) + "\n<|assistant|>:\n" + e["output"]) for e in data]
    hard = [{"text": t, "ids": bpe.encode(t)} for t in HARD + random_strings(300)]
    special = [{"text": t, "ids": bpe.encode(t, allow_special=True)}
               for t in ["<|endoftext|>", "a<|endoftext|>b", "x <|endoftext|><|endoftext|> y"]]
    return {"alpaca_full": alpaca, "alpaca_prompt_len": alpaca_prompt, "phi3_full": phi3,
            "hard": hard, "special": special}


def torch_shuffle_goldens():
    import torch
    from torch.utils.data import DataLoader

    out = []
    for n, bs, drop_last, seed in [(935, 8, True, 123), (20, 4, True, 123), (55, 8, False, 7)]:
        torch.manual_seed(seed)
        loader = DataLoader(list(range(n)), batch_size=bs, shuffle=True, drop_last=drop_last)
        epochs = [[b.tolist() for b in loader] for _ in range(3)]
        out.append({"n": n, "batch_size": bs, "drop_last": drop_last, "seed": seed, "epochs": epochs})
    return out


def calc_loss_loader_draws(loader, num_batches):
    """The reference's calc_loss_loader, minus the model: the same iteration (and RNG draws)."""
    num_batches = min(num_batches, len(loader))
    for i, _ in enumerate(loader):
        if i >= num_batches:
            break


def torch_train_schedule_goldens():
    """Batches of train_model_simple with evaluate_model every eval_freq steps interleaved: each
    evaluation iterates fresh train and val loaders, which draws from the global generator."""
    import torch
    from torch.utils.data import DataLoader

    out = []
    for n_train, n_val, bs, steps, eval_freq, eval_iter, seed in [(34, 2, 4, 16, 5, 5, 123),
                                                                   (935, 55, 8, 130, 5, 5, 123)]:
        torch.manual_seed(seed)
        train_loader = DataLoader(list(range(n_train)), batch_size=bs, shuffle=True, drop_last=True)
        val_loader = DataLoader(list(range(n_val)), batch_size=bs, shuffle=False, drop_last=False)
        batches, global_step = [], -1
        while len(batches) < steps:
            for b in train_loader:
                batches.append(b.tolist())
                global_step += 1
                if global_step % eval_freq == 0:
                    calc_loss_loader_draws(train_loader, eval_iter)
                    calc_loss_loader_draws(val_loader, eval_iter)
                if len(batches) == steps:
                    break
        out.append({"n_train": n_train, "n_val": n_val, "batch_size": bs, "eval_freq": eval_freq,
                    "eval_iter": eval_iter, "seed": seed, "batches": batches})
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", default=os.path.join(os.path.dirname(__file__), "..", ".."))
    ap.add_argument("--check", action="store_true", help="compare with the checked-in goldens")
    args = ap.parse_args()
    goldens = {"tokenizer_goldens.json": tokenizer_goldens(args.repo),
               "torch_shuffle.json": torch_shuffle_goldens(),
               "torch_train_schedule.json": torch_train_schedule_goldens()}
    failed = False
    for name, obj in goldens.items():
        path = os.path.join(args.repo, "tests", "data", name)
        if args.check:
            with open(path, encoding="utf-8") as f:
                same = json.load(f) == obj
            print(f"{name}: {'same as the oracle' if same else 'DIFFERS from the oracle'}")
            failed |= not same
        else:
            tmp = path + ".tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(obj, f, ensure_ascii=True, separators=(",", ":"))
            os.replace(tmp, path)
            print(f"wrote {path}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
