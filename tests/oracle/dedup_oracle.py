#!/usr/bin/env python3
"""The reference's near-duplicate finder (find-near-duplicates.py) with scikit-learn, as the oracle
of `instruct dedup`: per field (instruction, input, output), the non-empty texts are lowercased,
stripped of [^\\w\\s], vectorized by TfidfVectorizer(analyzer="char", ngram_range=(1, 3)) and
compared by cosine_similarity; a pair (i < j) above the threshold is reported unless either raw
text is one character or shorter. Indices are file-order indices (not the reference script's
filtered positions, a known bug of it). The similarity matrix is computed in row blocks, so 52K
entries fit in memory; the scores are the same.

  dedup_oracle.py pairs DATA THRESHOLD           prints {"instruction": [[i, j, score], ...], ...}
  dedup_oracle.py remove DATA THRESHOLD OUT      also writes the reference's removal to OUT
  dedup_oracle.py compare DATA THRESHOLD OURS.json [OURS_REMOVED.json]
      runs the oracle and checks our --json output (same pairs, scores within 1e-6) and our
      --remove output (the same entries); exit 1 on a difference."""
import json
import re
import sys
import time

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics.pairwise import cosine_similarity

FIELDS = ["instruction", "input", "output"]


def preprocess(text):
    return re.sub(r"[^\w\s]", "", text.lower())


def field_pairs(data, keep, key, threshold):
    idx = [i for i in keep if data[i][key]]
    if not idx:
        return []
    texts = [preprocess(data[i][key]) for i in idx]
    try:
        x = TfidfVectorizer(analyzer="char", ngram_range=(1, 3)).fit_transform(texts)
    except ValueError:  # empty vocabulary: every text was punctuation only
        return []
    pairs = []
    block = 2000
    for a in range(0, len(idx), block):
        sim = cosine_similarity(x[a:a + block], x)
        for r in range(sim.shape[0]):
            i = a + r
            row = sim[r, i + 1:]
            for off in (row > threshold).nonzero()[0]:
                j = i + 1 + int(off)
                if len(data[idx[i]][key]) <= 1 or len(data[idx[j]][key]) <= 1:
                    continue
                pairs.append([idx[i], idx[j], float(sim[r, j])])
    return pairs


def all_pairs(data, threshold):
    everything = list(range(len(data)))
    return {k: field_pairs(data, everything, k, threshold) for k in FIELDS}


def removal(data, threshold, pairs):
    keep = list(range(len(data)))
    for k in ["input", "output"]:
        p = pairs[k] if len(keep) == len(data) else field_pairs(data, keep, k, threshold)
        later = {j for _, j, _ in p}
        keep = [i for i in keep if i not in later]
    return [data[i] for i in keep]


def compare(ours, theirs, threshold):
    bad = 0
    for k in FIELDS:
        a = {(i, j): s for i, j, s in ours[k]}
        b = {(i, j): s for i, j, s in theirs[k]}
        for key in sorted(set(a) | set(b)):
            if key in a and key in b:
                if abs(a[key] - b[key]) > 1e-6:
                    print(f"{k} {key}: score {a[key]} vs sklearn {b[key]}")
                    bad += 1
            else:
                s = a.get(key, b.get(key))
                if abs(s - threshold) < 1e-9:
                    continue  # on the threshold to rounding: either side may report it
                print(f"{k} {key}: {'only ours' if key in a else 'only sklearn'} (score {s})")
                bad += 1
        print(f"dedup oracle: {k}: {len(a)} pairs ours, {len(b)} sklearn")
    return bad


def main():
    mode, path, threshold = sys.argv[1], sys.argv[2], float(sys.argv[3])
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    t0 = time.time()
    pairs = all_pairs(data, threshold)
    if mode == "pairs":
        print(json.dumps(pairs))
    elif mode == "remove":
        kept = removal(data, threshold, pairs)
        with open(sys.argv[4], "w", encoding="utf-8") as f:
            json.dump(kept, f, indent=4, ensure_ascii=False)
        print(f"dedup oracle: {len(data) - len(kept)} removed, {time.time() - t0:.1f} s")
    elif mode == "compare":
        with open(sys.argv[4], encoding="utf-8") as f:
            ours = json.load(f)
        bad = compare(ours, pairs, threshold)
        if len(sys.argv) > 5:
            with open(sys.argv[5], encoding="utf-8") as f:
                ours_kept = json.load(f)
            theirs_kept = removal(data, threshold, pairs)
            if ours_kept != theirs_kept:
                print(f"--remove: {len(ours_kept)} entries kept, sklearn's removal keeps {len(theirs_kept)}")
                bad += 1
            else:
                print(f"dedup oracle: --remove keeps the same {len(ours_kept)} entries")
        if bad:
            print(f"dedup oracle: {bad} differences")
            sys.exit(1)
        print("dedup oracle: same pairs, scores within 1e-6")
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
