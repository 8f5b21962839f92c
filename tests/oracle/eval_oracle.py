"""Oracle for `instruct eval`: lm-evaluation-harness's multiple-choice scoring, written again in
Python from the harness's task files (lm_eval/tasks/{hellaswag,arc,mmlu}, api/task.py
fewshot_context, api/samplers.py, models/huggingface.py _encode_pair and _loglikelihood_tokens),
with PyTorch for the model and the plain-Python GPT-2 BPE.

  eval_oracle.py make WORK     fixtures in the publishers' formats (hellaswag .jsonl, the MMLU
                               tar with all 57 subjects, the ARC zip) and a tiny GPT-2 with the real
                               vocabulary and a 96-token window (long contexts are left-truncated)
  eval_oracle.py expect WORK K LIMIT OUT.json   the harness's numbers for K-shot, first LIMIT docs
  eval_oracle.py compare EXPECTED.json GOT.json  every item's log-likelihoods, preds and metrics
"""
import csv
import io
import json
import math
import os
import random
import re
import sys
import tarfile
import zipfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gpt2_oracle  # noqa: E402
from gpt2_bpe import Gpt2Bpe  # noqa: E402

REPO = os.path.join(HERE, "..", "..")
gpt2_oracle.CFG = {"vocab_size": 50257, "context_length": 96, "emb_dim": 32, "n_heads": 2,
                   "n_layers": 2, "drop_rate": 0.0, "qkv_bias": True}
SUBJECTS = ["abstract_algebra", "anatomy", "astronomy", "business_ethics", "clinical_knowledge",
            "college_biology", "college_chemistry", "college_computer_science", "college_mathematics",
            "college_medicine", "college_physics", "computer_security", "conceptual_physics",
            "econometrics", "electrical_engineering", "elementary_mathematics", "formal_logic",
            "global_facts", "high_school_biology", "high_school_chemistry",
            "high_school_computer_science", "high_school_european_history", "high_school_geography",
            "high_school_government_and_politics", "high_school_macroeconomics",
            "high_school_mathematics", "high_school_microeconomics", "high_school_physics",
            "high_school_psychology", "high_school_statistics", "high_school_us_history",
            "high_school_world_history", "human_aging", "human_sexuality", "international_law",
            "jurisprudence", "logical_fallacies", "machine_learning", "management", "marketing",
            "medical_genetics", "miscellaneous", "moral_disputes", "moral_scenarios", "nutrition",
            "philosophy", "prehistory", "professional_accounting", "professional_law",
            "professional_medicine", "professional_psychology", "public_relations",
            "security_studies", "sociology", "us_foreign_policy", "virology", "world_religions"]
GROUP = {s: "stem" for s in SUBJECTS}
GROUP.update({s: "humanities" for s in ("formal_logic", "high_school_european_history", "high_school_us_history",
                                        "high_school_world_history", "international_law", "jurisprudence",
                                        "logical_fallacies", "moral_disputes", "moral_scenarios", "philosophy",
                                        "prehistory", "professional_law", "world_religions")})
GROUP.update({s: "social_sciences" for s in ("econometrics", "high_school_geography",
                                             "high_school_government_and_politics", "high_school_macroeconomics",
                                             "high_school_microeconomics", "high_school_psychology", "human_sexuality",
                                             "professional_psychology", "public_relations", "security_studies",
                                             "sociology", "us_foreign_policy")})
GROUP.update({s: "other" for s in ("business_ethics", "clinical_knowledge", "college_medicine", "global_facts",
                                   "human_aging", "management", "marketing", "medical_genetics", "miscellaneous",
                                   "nutrition", "professional_accounting", "professional_medicine", "virology")})
WORDS = ("the a man woman dog is running cooking ball kitchen water river tree mountain small large "
         "quickly slowly then after before because garden ÉCOLE café naïve über Straße").split()


def phrase(rnd, n):
    return " ".join(rnd.choice(WORDS) for _ in range(n))


def make(work):
    rnd = random.Random(7)
    os.makedirs(work, exist_ok=True)
    # HellaSwag: the rowanz/hellaswag .jsonl fields, with WikiHow's [title]/[step] artifacts,
    # unclosed brackets, double spaces, upper-case ctx_b (capitalize), labels as ints.
    for split, n in (("val", 7), ("train", 12)):
        with open(os.path.join(work, f"hellaswag_{split}.jsonl"), "w", encoding="utf-8") as f:
            for i in range(n):
                ctx_a = phrase(rnd, rnd.randint(3, 12)) + (" [title] How to " + phrase(rnd, 2) if i % 3 == 0 else "")
                ctx_b = ("THE " + phrase(rnd, 3).upper() + "  [step] " if i % 2 else phrase(rnd, 2))
                endings = [phrase(rnd, rnd.randint(1, 9)) + (" [header] x" if j == 1 else "") +
                           ("  [unclosed" if j == 2 and i % 2 else "") for j in range(4)]
                row = {"ind": i, "activity_label": " " + phrase(rnd, 2).capitalize(), "ctx_a": ctx_a,
                       "ctx_b": ctx_b, "ctx": ctx_a + " " + ctx_b, "endings": endings,
                       "source_id": f"x~{i}", "split": split, "split_type": "indomain",
                       "label": rnd.randint(0, 3)}
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    # MMLU: data.tar with data/{dev,val,test}/SUBJECT_SPLIT.csv, no header; quotes, commas,
    # newlines inside fields, a question with leading/trailing spaces.
    with tarfile.open(os.path.join(work, "data.tar"), "w") as tar:
        for subject in SUBJECTS:
            for split, n in (("dev", 5), ("val", 1), ("test", 2 + len(subject) % 3)):
                buf = io.StringIO()
                w = csv.writer(buf, lineterminator="\n")
                for i in range(n):
                    q = phrase(rnd, rnd.randint(3, 10))
                    if i == 0:
                        q = '  "Quoted", with a comma,\nand a newline ' + q + "?  "
                    w.writerow([q] + [phrase(rnd, rnd.randint(1, 3)) for _ in range(4)] +
                               [rnd.choice("ABCD")])
                data = buf.getvalue().encode("utf-8")
                info = tarfile.TarInfo(f"data/{split}/{subject}_{split}.csv")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    # ARC: the zip's folder, question.stem, question.choices[{text,label}], answerKey; labels A-E
    # or 1-4.
    with zipfile.ZipFile(os.path.join(work, "ARC-V1-Feb2018.zip"), "w") as z:
        for part in ("ARC-Easy", "ARC-Challenge"):
            for split, n in (("Train", 9), ("Dev", 2), ("Test", 6)):
                lines = []
                for i in range(n):
                    k = rnd.choice([3, 4, 5])
                    labels = list("12345"[:k]) if i % 3 == 1 else list("ABCDE"[:k])
                    choices = [{"text": phrase(rnd, rnd.randint(1, 4)), "label": l} for l in labels]
                    lines.append(json.dumps({"id": f"{part}-{split}-{i}",
                                             "question": {"stem": phrase(rnd, rnd.randint(4, 14)) + "?",
                                                          "choices": choices},
                                             "answerKey": rnd.choice(labels)}))
                z.writestr(f"ARC-V1-Feb2018-2/{part}/{part}-{split}.jsonl", "\n".join(lines) + "\n")
    model = gpt2_oracle.make_model()
    gpt2_oracle.write_model(model, os.path.join(work, "model"))
    print(f"eval oracle: fixtures and model in {work}")


# --- the harness's tasks, from its YAML and utils.py ---
def hs_preprocess(text):
    text = text.strip()
    text = text.replace(" [title]", ". ")
    text = re.sub("\\[.*?\\]", "", text)
    text = text.replace("  ", " ")
    return text


def hellaswag(path):
    docs = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            ctx = d["ctx_a"] + " " + d["ctx_b"].capitalize()
            docs.append({"text": hs_preprocess(d["activity_label"] + ": " + ctx),
                         "choices": [hs_preprocess(e) for e in d["endings"]], "gold": int(d["label"]),
                         "raw": d})
    return docs


def arc(lines):
    docs = []
    for line in lines:
        if not line.strip():
            continue
        d = json.loads(line)
        labels = [c["label"] for c in d["question"]["choices"]]
        docs.append({"text": "Question: " + d["question"]["stem"] + "\nAnswer:",
                     "choices": [c["text"] for c in d["question"]["choices"]],
                     "gold": labels.index(d["answerKey"])})
    return docs


def mmlu(text):
    docs = []
    for row in csv.reader(io.StringIO(text)):
        q, a, b, c, d, ans = row
        docs.append({"text": f"{q.strip()}\nA. {a}\nB. {b}\nC. {c}\nD. {d}\nAnswer:",
                     "choices": ["A", "B", "C", "D"], "gold": "ABCD".index(ans)})
    return docs


def tasks(work):
    out = {}
    out["hellaswag"] = (hellaswag(os.path.join(work, "hellaswag_val.jsonl")),
                        hellaswag(os.path.join(work, "hellaswag_train.jsonl")), "", "skip_self")
    with zipfile.ZipFile(os.path.join(work, "ARC-V1-Feb2018.zip")) as z:
        for part, name in (("ARC-Easy", "arc_easy"), ("ARC-Challenge", "arc_challenge")):
            read = lambda s: z.read(f"ARC-V1-Feb2018-2/{part}/{part}-{s}.jsonl").decode().split("\n")
            out[name] = (arc(read("Test")), arc(read("Train")), "", "random")
    with tarfile.open(os.path.join(work, "data.tar")) as tar:
        for s in SUBJECTS:
            read = lambda sp: tar.extractfile(f"data/{sp}/{s}_{sp}.csv").read().decode("utf-8")
            desc = "The following are multiple choice questions (with answers) about " + \
                s.replace("_", " ") + ".\n\n"
            out["mmlu_" + s] = (mmlu(read("test")), mmlu(read("dev")), desc, "first_n")
    return out


def contexts(task, k, limit):
    docs, pool, desc, sampler = task
    rnd = random.Random(1234)  # set_fewshot_seed(1234), one generator per task
    out = []
    for doc in docs[:limit] if limit else docs:
        shots = []
        if k > 0:
            if sampler == "first_n":
                shots = pool[:k]
            elif sampler == "random":
                shots = rnd.sample(pool, k)
            else:  # no test split: the doc may be in the pool, so K+1 drawn, itself removed
                shots = [x for x in rnd.sample(pool, k + 1) if x != doc][:k]
        ctx = desc + "".join(s["text"] + " " + s["choices"][s["gold"]] + "\n\n" for s in shots)
        out.append((ctx + doc["text"], doc["choices"], doc["gold"]))
    return out


def encode_pair(bpe, context, continuation):
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces > 0:
        continuation = context[-n_spaces:] + continuation
        context = context[:-n_spaces]
    whole = bpe.encode(context + continuation, allow_special=True)
    ctx = bpe.encode(context, allow_special=True)
    return ctx, whole[len(ctx):]


def expect(work, k, limit, out_path):
    bpe = Gpt2Bpe(os.path.join(REPO, "data", "gpt2-encoder.json"), os.path.join(REPO, "data", "gpt2-vocab.bpe"))
    model = gpt2_oracle.make_model().eval()
    max_length = gpt2_oracle.CFG["context_length"]
    result = {"items": [], "results": {}}
    with torch.no_grad():
        for name, task in tasks(work).items():
            acc, acc_norm = [], []
            for i, (ctx, choices, gold) in enumerate(contexts(task, k, limit)):
                lls = []
                for c in choices:
                    if ctx == "":
                        ce, co = [50256], bpe.encode(" " + c, allow_special=True)
                    else:
                        ce, co = encode_pair(bpe, ctx, " " + c)
                    inp = torch.tensor((ce + co)[-(max_length + 1):][:-1]).unsqueeze(0)
                    logits = torch.log_softmax(model(inp), dim=-1)[0, -len(co):]
                    lls.append(float(logits.gather(1, torch.tensor(co).unsqueeze(1)).sum()))
                lengths = [float(len(c)) for c in choices]
                pred = max(range(len(lls)), key=lambda j: (lls[j], -j))
                normed = [l / n for l, n in zip(lls, lengths)]
                pred_norm = max(range(len(lls)), key=lambda j: (normed[j], -j))
                acc.append(1.0 if pred == gold else 0.0)
                acc_norm.append(1.0 if pred_norm == gold else 0.0)
                result["items"].append({"task": name, "index": i, "loglikelihoods": lls, "lengths": lengths,
                                        "pred": pred, "pred_norm": pred_norm, "gold": gold})

            def stderr(v):
                mu = sum(v) / len(v)
                return math.sqrt(sum((x - mu) ** 2 for x in v) / (len(v) - 1)) / math.sqrt(len(v)) if len(v) > 1 else None
            r = {"n": len(acc), "acc": sum(acc) / len(acc), "acc_stderr": stderr(acc)}
            if not name.startswith("mmlu"):
                r["acc_norm"], r["acc_norm_stderr"] = sum(acc_norm) / len(acc_norm), stderr(acc_norm)
            result["results"][name] = r
    # MMLU's categories and the whole: the size-weighted mean and pooled_sample_stderr
    # (lm_eval/api/metrics.py), the whole pooled over the categories.
    groups = {}
    for s in SUBJECTS:
        groups.setdefault(GROUP[s], []).append(result["results"]["mmlu_" + s])

    def pool(parts):
        n = sum(p["n"] for p in parts)
        var = sum((p["n"] - 1) * p["acc_stderr"] ** 2 * p["n"] for p in parts) / (n - len(parts))
        return {"n": n, "acc": sum(p["acc"] * p["n"] for p in parts) / n, "acc_stderr": math.sqrt(var / n)}
    cats = {g: pool(groups[g]) for g in ("stem", "humanities", "social_sciences", "other")}
    for g, r in cats.items():
        result["results"]["mmlu_" + g] = r
    result["results"]["mmlu"] = pool(list(cats.values()))
    with open(out_path, "w") as f:
        json.dump(result, f)
    print(f"eval oracle: {len(result['items'])} items, {k}-shot -> {out_path}")


def compare(expected_path, got_path):
    exp, got = json.load(open(expected_path)), json.load(open(got_path))
    gi = {(r["task"], r["index"]): r for r in got["items"]}
    worst, bad = 0.0, []
    for e in exp["items"]:
        key = (e["task"], e["index"])
        if key not in gi:
            bad.append(f"{key}: missing")
            continue
        g = gi[key]
        for a, b in zip(e["loglikelihoods"], g["loglikelihoods"]):
            worst = max(worst, abs(a - b) / max(1.0, abs(a)))
        if len(e["loglikelihoods"]) != len(g["loglikelihoods"]) or e["lengths"] != g["lengths"] or e["gold"] != g["gold"]:
            bad.append(f"{key}: choices, lengths or gold differ: {e} vs {g}")
        # a pred may differ only where two choices tie within the tolerance
        for p in ("pred", "pred_norm"):
            if e[p] != g[p]:
                ll = e["loglikelihoods"] if p == "pred" else [l / n for l, n in zip(e["loglikelihoods"], e["lengths"])]
                if abs(ll[e[p]] - ll[g[p]]) > 1e-4:
                    bad.append(f"{key}: {p} {g[p]}, expected {e[p]}")
    if len(gi) != len(exp["items"]):
        bad.append(f"{len(gi)} items, expected {len(exp['items'])}")
    for name, r in exp["results"].items():
        g = got["results"].get(name)
        if g is None:
            bad.append(f"{name}: no result")
            continue
        for m, v in r.items():
            if v is None or g.get(m) is None:
                if (v is None) != (g.get(m) is None):
                    bad.append(f"{name} {m}: {g.get(m)}, expected {v}")
            elif abs(v - g[m]) > 1e-9:
                bad.append(f"{name} {m}: {g[m]}, expected {v}")
    print(f"eval oracle: {len(exp['items'])} items, worst relative log-likelihood difference {worst:.2e}")
    if worst > 1e-4 or bad:
        print("\n".join(bad[:20]))
        sys.exit(1)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "make":
        make(sys.argv[2])
    elif cmd == "expect":
        expect(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    elif cmd == "compare":
        compare(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
