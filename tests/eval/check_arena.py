"""`instruct arena` as a person uses it, in headless Chromium: open the page, vote with clicks and
with keys, undo, reload, restart the server (votes resumed, a torn last line from a crash dropped),
and watch the leaderboard change. Every vote is checked against the file: the models the person
saw (anonymised on the page, named after the vote) are the ones recorded.

Usage: check_arena.py path/to/instruct WORK_DIR
Prints "N passed, M failed"; exits non-zero on any failure.
"""
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from browser import Browser  # noqa: E402

bin_, work = sys.argv[1:3]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL: " + what)


MODELS = ["alpha", "beta", "gamma"]
for m in MODELS:
    entries = [{"instruction": f"Task {i}: name a colour.", "input": "in French" if i % 2 else "",
                "output": "red", "model_response": f"{m} answers task {i}"} for i in range(5)]
    json.dump(entries, open(os.path.join(work, m + ".json"), "w"), indent=4)
votes_file = os.path.join(work, "votes.jsonl")


def start():
    p = subprocess.Popen([bin_, "arena"] + [os.path.join(work, m + ".json") for m in MODELS] +
                         ["--votes", votes_file, "--port", "0", "--seed", "7", "--bootstrap", "50"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    while True:
        line = p.stdout.readline()
        if not line:
            raise SystemExit("FAIL: arena exited: " + "".join(lines))
        lines.append(line)
        m = re.search(r"open (http://127\.0\.0\.1:\d+)/", line)
        if m:
            return p, m.group(1), "".join(lines)


def stop(p):
    p.send_signal(signal.SIGINT)
    out = p.communicate(timeout=20)[0]
    check(p.returncode == 0, f"arena stops on Ctrl-C with status 0 ({p.returncode})")
    return out


def file_votes():
    return [json.loads(l) for l in open(votes_file).read().splitlines() if l.strip()]


def shown(b):
    """What the page shows: (battle id, entry text, left answer, right answer)."""
    return (b.js("document.body.dataset.battle"), b.js("document.getElementById('instruction').textContent"),
            b.js("document.getElementById('left').textContent"), b.js("document.getElementById('right').textContent"))


def wait(b, cond, what, timeout=15):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if b.js(f"(() => {{ try {{ return {cond}; }} catch (e) {{ return false; }} }})()"):
            return True
        time.sleep(0.03)
    check(False, "timed out waiting for " + what)
    return False


def board(b):
    return b.js("Array.from(document.querySelectorAll('#board tbody tr')).map(r => [r.dataset.model, "
                "r.querySelector('.score').textContent, Number(r.querySelector('.votes').textContent)])")


server, url, banner = start()
b = Browser()
try:
    b.open(url + "/")
    wait(b, "document.body.dataset.ready === '1'", "the page to load")
    check(b.js("document.title") == "instruct arena", "the page loads")
    check(b.js("document.getElementById('count').textContent") == "0 votes", "no votes yet")
    res = b.js("performance.getEntriesByType('resource').map(e => e.name)")
    check(all(r.startswith(url) for r in res), f"only the server's own resources: {res}")
    check([r[0] for r in board(b)] != [] and all(r[2] == 0 for r in board(b)), "a leaderboard with every model")

    # Vote 5 times: a click, then the keys 2, 3, 4 and the left arrow. Each time the answers shown
    # decide which models the file must name.
    actions = [("click", "#vote-left", "left"), ("key", ("2", "Digit2", 50, "2"), "right"),
               ("key", ("3", "Digit3", 51, "3"), "tie"), ("key", ("4", "Digit4", 52, "4"), "both_bad"),
               ("key", ("ArrowLeft", "ArrowLeft", 37, ""), "left")]
    before_scores = None
    for n, (kind, what, vote) in enumerate(actions, 1):
        bid, instruction, left, right = shown(b)
        lm, rm = left.split(" ")[0], right.split(" ")[0]
        entry = int(instruction.split(":")[0].split(" ")[1])
        check(lm in MODELS and rm in MODELS and lm != rm, f"two different models' answers: {left!r} / {right!r}")
        check(left.endswith(f"task {entry}") and right.endswith(f"task {entry}"), "both answer the instruction shown")
        check(b.js("document.getElementById('input-box').hidden") == (entry % 2 == 0), "the input is shown when there is one")
        scores = board(b)
        if kind == "click":
            b.click(what)
        else:
            b.key(*what)
        wait(b, f"document.body.dataset.votes === '{n}' && document.body.dataset.battle !== '{bid}'", f"vote {n}")
        v = file_votes()
        check(len(v) == n, f"{n} votes in the file ({len(v)})")
        check(v[-1]["left"] == lm and v[-1]["right"] == rm and v[-1]["vote"] == vote and v[-1]["entry"] == entry,
              f"vote {n} recorded as seen: {v[-1]} (shown {lm} vs {rm}, {vote}, entry {entry})")
        status = b.js("document.getElementById('status').textContent")
        check(f"A was {lm}, B was {rm}" in status, f"the models are named after the vote: {status!r}")
        if vote == "left":
            after = dict((m, float(s)) for m, s, _ in board(b))
            was = dict((m, float(s)) for m, s, _ in scores)
            check(after[lm] - after[rm] > was[lm] - was[rm], f"the leaderboard moves toward {lm}: {was} -> {after}")
    votes_by_model = {m: c for m, _, c in board(b)}
    check(sum(votes_by_model.values()) == 10, f"each vote counts for two models: {votes_by_model}")

    # Undo with the key: the last vote leaves the file and the count.
    b.key("u", "KeyU", 85, "u")
    wait(b, "document.body.dataset.votes === '4'", "the undo")
    check(len(file_votes()) == 4, "undo removes the last vote from the file")
    check("Undid the vote" in b.js("document.getElementById('status').textContent"), "the undo is said")
    # Skip draws another battle without voting.
    bid = shown(b)[0]
    b.click("#skip")
    wait(b, f"document.body.dataset.battle !== '{bid}'", "the skip")
    check(len(file_votes()) == 4, "a skip is not a vote")

    # Reload: the server keeps the votes.
    b.send("Page.reload")
    wait(b, "document.body.dataset.ready === '1'", "the reload")
    check(b.js("document.getElementById('count').textContent") == "4 votes", "4 votes after a reload")
    png = base64.b64decode(b.send("Page.captureScreenshot", {"format": "png"})["data"])
    open(os.path.join(work, "arena.png"), "wb").write(png)
    check(len(png) > 10000, "screenshot saved")

    # Restart after a crash mid-write: the torn line is dropped, the 4 votes are resumed.
    stop(server)
    with open(votes_file, "a") as f:
        f.write('{"time": "2026-01-01T00:00:00Z", "entry": 1, "left": "al')
    server, url, banner = start()
    check("its last line was cut off" in banner, f"the torn line is reported: {banner!r}")
    check("4 votes so far" in banner, f"4 votes resumed: {banner!r}")
    check(open(votes_file).read().endswith("}\n") and len(file_votes()) == 4, "the file is whole again")
    b.send("Page.navigate", {"url": url + "/"})
    wait(b, "document.body.dataset.ready === '1'", "the page after the restart")
    check(b.js("document.getElementById('count').textContent") == "4 votes", "the page shows the resumed votes")
    # Undo past the first vote: the fifth undo says there is none.
    for _ in range(4):
        b.click("#undo")
        time.sleep(0.2)
    wait(b, "document.body.dataset.votes === '0'", "four undos")
    b.click("#undo")
    wait(b, "document.getElementById('status').className === 'error'", "the refused undo")
    check("no vote to undo" in b.js("document.getElementById('status').textContent"), "an undo with no vote is refused")
    check(file_votes() == [], "the file is empty after undoing everything")
finally:
    b.close()
    if server.poll() is None:
        stop(server)

# A damaged line (not a torn last one) is skipped with a warning naming the file and line; the
# other votes are kept. A single file is refused.
open(votes_file, "w").write('{"entry": 0, "left": "alpha", "right": "beta", "vote": "left"}\nnot json\n'
                            '{"entry": 1, "left": "beta", "right": "alpha", "vote": "tie"}\n')
server, url, banner = start()
check(f"{votes_file}:2: not a vote" in banner and "skipped, the other votes are kept" in banner,
      f"a damaged line is named and skipped: {banner!r}")
check("2 votes so far" in banner, f"the other votes are kept: {banner!r}")
board_now = json.load(urllib.request.urlopen(url + "/api/leaderboard"))
check(board_now["votes"] == 2, f"the leaderboard counts the 2 good votes: {board_now['votes']}")
stop(server)
r = subprocess.run([bin_, "arena", os.path.join(work, "alpha.json")], capture_output=True, text=True, timeout=30)
check(r.returncode != 0 and "two or more models" in r.stderr, f"one file is refused: {r.stderr!r}")
# --model: a model answering on the fly joins the files (a random tiny one: garbage text, often
# broken UTF-8, must still arrive as JSON); its answers are cached, its votes named after it.
tiny = os.path.join(work, "tiny")
subprocess.run([bin_, "export", "--init", "random", "--config", "n_layer=1,n_head=1,n_embd=16", "--format", "hf",
                "--out", tiny], check=True, capture_output=True)
os.remove(votes_file)
p = subprocess.Popen([bin_, "arena", os.path.join(work, "alpha.json"), "--model", tiny, "--max-new-tokens", "12",
                      "--votes", votes_file, "--port", "0", "--seed", "3"],
                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
live_url = None
while live_url is None:
    line = p.stdout.readline()
    if not line:
        break
    m = re.search(r"open (http://127\.0\.0\.1:\d+)/", line)
    live_url = m.group(1) if m else None
check(live_url is not None, "arena starts with a --model")
seen = {}
for _ in range(12 if live_url else 0):
    bt = json.load(urllib.request.urlopen(live_url + "/api/battle"))
    tiny_side = "left" if not bt["left"].startswith("alpha") else "right"
    other = bt["right" if tiny_side == "left" else "left"]
    check(other == f"alpha answers task {bt['entry']}", f"the file's answer is shown: {other!r}")
    if bt["entry"] in seen:
        check(seen[bt["entry"]] == bt[tiny_side], "the model's answer to an entry is the same each time")
    seen[bt["entry"]] = bt[tiny_side]
if live_url:
    req = urllib.request.Request(live_url + "/api/vote", data=json.dumps({"id": bt["id"], "vote": tiny_side}).encode(),
                                 headers={"Content-Type": "application/json"})
    r = json.load(urllib.request.urlopen(req))
    check(r[tiny_side] == "tiny" and file_votes()[-1][tiny_side] == "tiny", f"a vote for the model names it: {r}")
    stop(p)
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
