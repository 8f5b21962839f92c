#!/usr/bin/env python3
"""Writes a synthetic Alpaca-style dataset (JSON array of {instruction, input, output}) with the
shape of Stanford Alpaca's alpaca_data.json: 52,002 entries by default, about 40% with an input,
instruction/input/output lengths drawn from log-normal distributions fitted by eye to Alpaca's
(medians about 12 / 0 / 35 words, outputs up to a few hundred words), common task openings, a few
percent near-duplicate instructions, inputs and outputs (a word changed, punctuation or case
changed), and some non-ASCII text (accents, Greek, CJK, emoji, dotted capital I).

Usage: make_alpaca.py OUT.json [N] [SEED]"""
import json
import math
import random
import sys

OPENINGS = [
    "Generate a list of", "Rewrite the following sentence", "Explain why", "Describe", "Give three tips for",
    "Classify the following", "Summarize the", "What is the", "Create a", "Find the", "Identify the",
    "Write a short story about", "Translate the following sentence into", "Compare and contrast",
    "Suggest a", "Edit the following text", "Convert the", "Name", "Calculate the", "Come up with",
]
EXTRA = ["café", "naïve", "Übermäßig", "ΣΟΦΙΑ ΟΔΟΣ", "東京タワー", "İstanbul", "emoji 🙂 here", "Ångström", "½ cup", "x² + y²"]


def make_vocab(rng, n):
    common = ("the of and to a in is that for it as with be on are by this an which or from at not can "
              "has have more one their they its also used such other these new most time how some what "
              "people when them into first than many only way between may each data well can system").split()
    words = list(dict.fromkeys(common))
    while len(words) < n:
        k = max(1, min(14, int(rng.lognormvariate(1.7, 0.4))))
        words.append("".join(rng.choice("etaoinshrdlcumwfgypbvkjxqz"[: 10 + rng.randrange(16)]) for _ in range(k)))
    return words


def main():
    out = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 52002
    rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 20261122)
    vocab = make_vocab(rng, 6000)
    weights = [1.0 / (i + 1) ** 1.05 for i in range(len(vocab))]  # Zipf-like word frequencies
    cum = []
    s = 0.0
    for w in weights:
        s += w
        cum.append(s)

    def words(k):
        picked = rng.choices(vocab, cum_weights=cum, k=k)
        if rng.random() < 0.03:
            picked.insert(rng.randrange(len(picked) + 1), rng.choice(EXTRA))
        return picked

    def sentence_text(k):
        ws = words(k)
        text, line = [], []
        for i, w in enumerate(ws):
            line.append(w)
            if rng.random() < 0.08 or i == len(ws) - 1:
                text.append(" ".join(line).capitalize() + rng.choice([".", ".", ".", "!", "?", ","]))
                line = []
                if rng.random() < 0.1:
                    text.append("\n" if rng.random() < 0.7 else "\n\n")
        return " ".join(text).replace(" \n ", "\n").replace(" \n\n ", "\n\n").strip()

    def length(mu, sigma, hi):
        return max(1, min(hi, int(rng.lognormvariate(mu, sigma))))

    def near_copy(text):
        ws = text.split(" ")
        r = rng.random()
        if r < 0.4 and len(ws) > 3:
            ws[rng.randrange(len(ws))] = rng.choice(vocab)
        elif r < 0.7:
            return text.rstrip(".!?,") + rng.choice(["", ".", "!"])
        else:
            return text.lower() if rng.random() < 0.5 else text.upper()
        return " ".join(ws)

    data = []
    for i in range(n):
        instr = rng.choice(OPENINGS) + " " + sentence_text(length(2.2, 0.55, 80)).lower()
        inp = sentence_text(length(2.6, 0.9, 300)) if rng.random() < 0.4 else ""
        outp = sentence_text(length(3.6, 0.85, 900))
        if data and rng.random() < 0.02:
            instr = near_copy(data[rng.randrange(len(data))]["instruction"])
        if data and rng.random() < 0.01:
            src = data[rng.randrange(len(data))]
            inp = near_copy(src["input"]) if src["input"] else inp
        if data and rng.random() < 0.01:
            outp = near_copy(data[rng.randrange(len(data))]["output"])
        if rng.random() < 0.002:
            outp = rng.choice(["Yes", "No", "5", "A", "?"])  # one-character and tiny outputs
        data.append({"instruction": instr, "input": inp, "output": outp})
    with open(out, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=4, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
