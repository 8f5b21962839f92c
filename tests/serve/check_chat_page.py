"""The chat page of `instruct serve` used as a person would, in headless Chromium (Debian's), driven
over the DevTools protocol on a pipe (--remote-debugging-pipe: no extra packages): load the page,
click the instruction box, type, press Enter, watch the answer stream in, type a second turn with an
input and click Send, then start a new chat. Saves screenshots to look at (SCREENSHOT and
*-turns.png, the two-turn conversation).

Usage: check_chat_page.py URL MODEL EXPECTED.json SCREENSHOT.png
  EXPECTED.json as for check_clients.mjs: entries[0] has no input, some entry has one.
Prints "N passed, M failed"; exits non-zero on any failure.
"""
import base64
import json
import os
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from browser import Browser  # noqa: E402

url, model, expected_file, shot = sys.argv[1:5]
entries = json.load(open(expected_file))["entries"]
passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL: " + what)


def api_chat(messages):
    req = urllib.request.Request(url + "/api/chat", data=json.dumps({"model": model, "messages": messages, "stream": False}).encode(),
                                 headers={"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req))["message"]["content"]


def wait_answer(b, n_bubbles, timeout=30):
    """Waits until the n-th bubble (an answer) is done; returns (text, updates seen while streaming)."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        state = b.js(f"(() => {{ const m = document.querySelectorAll('.msg')[{n_bubbles - 1}];"
                     " return m ? m.dataset.state || '' : ''; })()")
        if state in ("done", "error", "stopped"):
            text = b.js(f"document.querySelectorAll('.msg')[{n_bubbles - 1}].querySelector('.text').textContent")
            return state, text, b.js("window.__updates.length")
        time.sleep(0.02)
    return "timeout", "", 0


def type_and_send(b, e):
    """Clicks the instruction box, types, clicks the input box, types, clicks Send."""
    b.click("#instruction")
    b.type(e["instruction"])
    b.click("#input")
    b.type(e["input"])
    b.click("#send")


def screenshot(b, path):
    png = base64.b64decode(b.send("Page.captureScreenshot", {"format": "png"})["data"])
    open(path, "wb").write(png)
    return len(png)


# Records every change of the answer's text (to see it arrive token by token, however fast).
WATCH = """window.__updates = [];
new MutationObserver(() => {
  const all = document.querySelectorAll('.msg.assistant .text');
  if (all.length) window.__updates.push(all[all.length - 1].textContent);
}).observe(document.getElementById('log'), {subtree: true, childList: true, characterData: true});"""

b = Browser()
try:
    target = next(t for t in b.send("Target.getTargets")["targetInfos"] if t["type"] == "page")
    b.session = b.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}, session=False)["sessionId"]
    b.send("Page.enable")
    b.send("Runtime.enable")
    b.send("Page.navigate", {"url": url + "/"})
    for _ in range(200):
        if b.js("document.readyState") == "complete" and b.js("document.getElementById('model').textContent") != "…":
            break
        time.sleep(0.05)
    check(b.js("document.title") == "instruct chat", "the page loads")
    check(model in b.js("document.getElementById('model').textContent"), "the header names the model")
    # No external assets: every resource the page loaded came from the server itself.
    res = b.js("performance.getEntriesByType('resource').map(e => e.name)")
    check(all(r.startswith(url) for r in res), f"only the server's own resources: {res}")
    b.js(WATCH)

    # Turn 1: click the box, type, press Enter.
    e0 = entries[0]
    b.click("#instruction")
    b.type(e0["instruction"])
    b.enter()
    state, text, updates = wait_answer(b, 2)
    check(state == "done", f"turn 1 finished: {state}")
    check(text == e0["generate"], f"turn 1 answer: {text!r}, want {e0['generate']!r}")
    check(updates >= 3, f"the answer streamed in ({updates} updates)")
    check(b.js("document.querySelectorAll('.msg')[0].querySelector('.text').textContent") == e0["instruction"],
          "the instruction is shown")
    check("tokens/s" in b.js("document.querySelectorAll('.msg')[1].textContent"), "the answer shows its speed")

    # Turn 2, with an input, by clicking Send: the conversation is kept and sent.
    e1 = next(e for e in entries if e["input"])
    type_and_send(b, e1)
    state, text, _ = wait_answer(b, 4)
    want = api_chat([{"role": "user", "content": e0["instruction"]}, {"role": "assistant", "content": e0["generate"]},
                     {"role": "user", "content": e1["instruction"], "input": e1["input"]}])
    check(state == "done" and text == want, f"turn 2 answer (with the first turn folded in): {text!r}, want {want!r}")
    check(b.js("document.querySelectorAll('.msg').length") == 4, "the page keeps the conversation (4 messages)")
    check(b.js("document.querySelectorAll('.msg')[2].querySelector('.input').textContent") == e1["input"],
          "the input is shown under the instruction")
    screenshot(b, shot.replace(".png", "-turns.png"))

    # A new chat clears the page; the answer is the single-turn one again.
    b.click("#new")
    check(b.js("document.querySelectorAll('.msg').length") == 0, "New chat clears the conversation")
    type_and_send(b, e1)
    state, text, _ = wait_answer(b, 2)
    check(state == "done" and text == e1["generate"], f"after New chat: {text!r}, want {e1['generate']!r}")
    check(screenshot(b, shot) > 10000, "screenshot saved")
finally:
    b.close()
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
