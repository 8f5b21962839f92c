#!/usr/bin/env bash
# report.html as a person sees it: `instruct run` on a tiny model with a stub judge, then headless
# Chromium renders the page; the screenshot must show the loss plot (its orange validation curve),
# the score histogram (blue bars) and the table of the 10 lowest-scored responses.
# Usage: check_report.sh path/to/instruct repo_dir out_dir   (the screenshot stays in out_dir)
set -u
bin=$(realpath "$1")
repo=$2
out=$(realpath -m "$3")
here=$(dirname "$(realpath "$0")")
py=/usr/bin/python3  # Debian's, with python3-pil (a pyenv python on PATH would lack it)
rm -rf "$out"
mkdir -p "$out"
tmp=$(mktemp -d)
stub=""
trap '[ -n "$stub" ] && kill "$stub" 2>/dev/null; rm -rf "$tmp"' EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); }
no() { failed=$((failed + 1)); echo "FAIL: $*"; }
finish() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit; }

browser=$(command -v chromium || command -v chromium-browser || true)
[ -n "$browser" ] || { no "chromium is not installed (scripts/setup.sh installs it)"; finish; }

"$py" "$here/judge_stub.py" "$tmp/port" &
stub=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.05; done
url="http://127.0.0.1:$(cat "$tmp/port")"

# 40 entries: 34 train, 4 test... use 120 so the test split has 12 entries (10 of them shown).
"$py" -c "import json,sys; json.dump(json.load(open(sys.argv[1]))[:120], open(sys.argv[2],'w'))" \
  "$repo/data/instruction-data.json" "$tmp/d.json"
"$py" -c "import json,sys; json.dump(json.load(open(sys.argv[1]))[:120], open(sys.argv[2],'w'))" \
  "$repo/data/instruction-data-with-preference.json" "$tmp/p.json"
# Benchmark fixtures (tests/oracle/eval_oracle.py) and another model's answers to the same test split.
export INSTRUCT_CACHE="$tmp/cache"  # the archives' extracted copies stay in this test's folder
"$py" "$repo/tests/oracle/eval_oracle.py" make "$tmp/bench" >/dev/null
"$bin" respond --init random --config n_layer=1,n_head=1,n_embd=16 --data "$tmp/d.json" -n 4 \
  --out "$tmp/other.json" >/dev/null 2>&1 || { no "respond for --compare-with failed"; finish; }
# With a DPO stage: both models answer the test split and are judged; the report compares them.
# Benchmarks before and after (--eval-tasks) and the win rates against the other answers.
"$bin" run --init random --config n_layer=2,n_head=2,n_embd=32 --data "$tmp/d.json" --batch-size 4 --max-steps 6 \
  --eval-freq 2 --max-new-tokens 6 --url "$url" --dpo-data "$tmp/p.json" --out "$out/run" \
  --eval-tasks arc_easy,mmlu --eval-data arc="$tmp/bench/ARC-V1-Feb2018.zip" --eval-data mmlu="$tmp/bench/data.tar" \
  --eval-limit 2 --compare-with "$tmp/other.json" >"$out/run.log" 2>&1 ||
  { no "instruct run failed: $(tail -3 "$out/run.log")"; finish; }
page="$out/run/report.html"
[ -s "$page" ] && [ -s "$out/run/report.md" ] && ok || { no "report.html or report.md missing"; finish; }

grep -qE '^\| SFT \| .* \| [0-9.]+ \(12 scores\) \|$' "$out/run/report.md" &&
  grep -qE '^\| SFT \+ DPO \| \[dpo/instruction-data-with-response.json\].* \| [0-9.]+ \(12 scores\) \|$' "$out/run/report.md" &&
  grep -q 'Preference tuning (DPO)' "$page" && ok || no "the report does not compare the SFT and DPO models' scores"

# Before and after: a row per task and metric with base, SFT and SFT + DPO columns; the win rates.
grep -qE '^\| arc_easy \| acc_norm \| 2 \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [-+][0-9.]+ \|$' "$out/run/report.md" &&
  grep -qE '^\| mmlu_stem \| acc \| 38 \| ' "$out/run/report.md" &&
  grep -q '| task | metric | items | base | SFT | SFT + DPO | change |' "$out/run/report.md" &&
  grep -q '<h2>Benchmarks (before and after)</h2>' "$page" && [ -s "$out/run/eval-base.json" ] &&
  [ -s "$out/run/eval.json" ] && [ -s "$out/run/dpo/eval.json" ] && ok ||
  no "the report lacks the benchmarks before and after: $(grep -A8 'Benchmarks' "$out/run/report.md")"
grep -qE '^\| SFT \| compare-with-other.json \| 12 \| [0-9.]+% \| [0-9.]+ \| [0-9.]+% \|$' "$out/run/report.md" &&
  grep -qE '^\| SFT \+ DPO \| dpo/compare-with-other.json \| 12 \| ' "$out/run/report.md" &&
  grep -q '<h2>Pairwise comparison (llama3)</h2>' "$page" && ok ||
  no "the report lacks the pairwise comparison: $(grep -A6 'Pairwise' "$out/run/report.md")"

# Self-contained: nothing fetched from elsewhere, no scripts; the plot is inlined.
grep -qiE '(src|href)="(https?:)?//|<script|<link|@import|url\(' "$page" && no "page refers to external assets" || ok
grep -q 'src="data:image/png;base64,' "$page" && grep -q '<svg class="hist"' "$page" && ok || no "plot or histogram not inlined"
"$py" - "$page" "$out/run/instruction-data-with-scores.json" <<'PY' && ok || no "the 10 lowest-scored rows are not the right ones"
import html, json, re, sys
page = open(sys.argv[1]).read()
scored = json.load(open(sys.argv[2]))
table = page.split('<table class="entries">')[1].split("</table>")[0]
rows = re.findall(r'<tr><td class="num">(\d+)</td><td class="num">(\d+)</td><td>(.*?)</td>', table, re.S)
want = sorted(range(len(scored)), key=lambda i: (scored[i]["score"], i))[:10]
assert [int(r[0]) for r in rows] == want, (rows, want)
assert all(int(r[1]) == scored[int(r[0])]["score"] for r in rows)
assert all(html.unescape(r[2]) == scored[int(r[0])]["instruction"] for r in rows)
assert "Average score:" in page and "Number of scores: 12 of 12" in page
for link in re.findall(r'<a href="([^"]+)"', page):  # every artifact link resolves in the run dir
    import os
    assert os.path.exists(os.path.join(os.path.dirname(sys.argv[1]), link)), link
PY

# Rendered by Chromium, as a person would open it (file://, offline).
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking
  --disable-component-update --disable-sync --hide-scrollbars --user-data-dir="$tmp/profile")
timeout 120 "$browser" "${flags[@]}" --window-size=1280,2600 --screenshot="$out/report.png" "file://$page" \
  >"$tmp/chromium.log" 2>&1
[ -s "$out/report.png" ] && ok || { no "no screenshot: $(tail -3 "$tmp/chromium.log")"; finish; }
timeout 120 "$browser" "${flags[@]}" --dump-dom "file://$page" >"$tmp/dom.html" 2>/dev/null
grep -q 'The 10 lowest-scored responses' "$tmp/dom.html" && ok || no "the rendered DOM lacks the table"
# No sideways scroll on a narrow window: a copy of the page with one script that writes the
# document's width beside the window's into the DOM (the page itself has no scripts).
sed 's|</body>|<script>document.body.dataset.fit = document.documentElement.scrollWidth + "/" + window.innerWidth</script></body>|' \
  "$page" >"$out/run/fit-check.html"
timeout 120 "$browser" "${flags[@]}" --window-size=800,900 --dump-dom "file://$out/run/fit-check.html" >"$tmp/fit.html" 2>/dev/null
fit=$(grep -o 'data-fit="[0-9]*/[0-9]*"' "$tmp/fit.html" | grep -o '[0-9]*/[0-9]*')
[ -n "$fit" ] && [ "${fit%/*}" -le "${fit#*/}" ] && ok || no "the page scrolls sideways in an 800 px window: $fit (page/window)"
rm -f "$out/run/fit-check.html"
"$py" - "$out/report.png" <<'PY' && ok || no "screenshot does not show the plot and the histogram"
import sys
from PIL import Image
im = Image.open(sys.argv[1]).convert("RGB")
w, h = im.size
px = im.load()
def count(rgb, tol=40):
    return sum(1 for y in range(0, h, 2) for x in range(0, w, 2)
               if all(abs(a - b) <= tol for a, b in zip(px[x, y], rgb)))
orange, blue = count((0xff, 0x7f, 0x0e)), count((0x1f, 0x77, 0xb4))
print(f"screenshot {w}x{h}: orange (val curve) {orange} px, blue (train curve + bars) {blue} px")
# the val curve is a thin dash-dot line; the histogram bars are solid blue blocks
sys.exit(0 if orange > 30 and blue > 1500 else 1)
PY
finish
