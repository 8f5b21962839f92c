// The chat page at GET /: one file, no external assets (works offline). It keeps the conversation
// in the page and sends all of it to /api/chat (streamed NDJSON), so earlier turns fold into the
// prompt as the server documents; the optional input goes in the last user message's "input".
#include "serve/api.hpp"

namespace instruct {

const char* const kChatPage = R"HTML(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>instruct chat</title>
<style>
  :root { --fg: #1d2330; --muted: #6b7280; --line: #e3e6ec; --accent: #2f6feb; --user: #eef3ff; --bot: #f7f7f8; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
         display: flex; flex-direction: column; height: 100vh; background: #fff; }
  header { display: flex; align-items: center; gap: 12px; padding: 10px 18px; border-bottom: 1px solid var(--line); }
  header h1 { font-size: 16px; margin: 0; }
  header .model { color: var(--muted); font-size: 13px; }
  header .spacer { flex: 1; }
  header label { font-size: 13px; color: var(--muted); }
  header input { width: 70px; font: inherit; font-size: 13px; padding: 2px 4px; }
  button { font: inherit; border: 1px solid var(--line); background: #fff; border-radius: 6px; padding: 6px 12px;
           cursor: pointer; }
  button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
  button:disabled { opacity: .5; cursor: default; }
  #log { flex: 1; overflow-y: auto; padding: 18px; display: flex; flex-direction: column; gap: 12px; }
  .msg { max-width: 820px; width: 100%; margin: 0 auto; padding: 10px 14px; border-radius: 8px; white-space: pre-wrap;
         word-wrap: break-word; }
  .msg.user { background: var(--user); }
  .msg.assistant { background: var(--bot); border: 1px solid var(--line); }
  .msg .who { font-size: 12px; font-weight: 600; color: var(--muted); margin-bottom: 2px; }
  .msg .input { margin-top: 6px; padding-top: 6px; border-top: 1px dashed #c9d3ea; color: #374151; }
  .msg .stats { font-size: 12px; color: var(--muted); margin-top: 6px; }
  .msg.error { background: #fff1f0; border: 1px solid #f3b8b3; }
  .empty { color: var(--muted); text-align: center; margin-top: 18vh; }
  form { border-top: 1px solid var(--line); padding: 12px 18px; }
  form .row { max-width: 820px; margin: 0 auto; display: flex; gap: 8px; align-items: flex-end; }
  textarea { flex: 1; font: inherit; padding: 8px 10px; border: 1px solid var(--line); border-radius: 6px;
             resize: vertical; min-height: 42px; }
  #input { min-height: 34px; }
  form .hint { max-width: 820px; margin: 4px auto 0; font-size: 12px; color: var(--muted); }
</style>
</head>
<body>
<header>
  <h1>instruct chat</h1><span class="model" id="model">…</span>
  <span class="spacer"></span>
  <label>temperature <input id="temperature" type="number" min="0" max="2" step="0.1" value="0"></label>
  <label>max tokens <input id="max-tokens" type="number" min="1" max="1024" step="1" value="256"></label>
  <button id="new" type="button">New chat</button>
</header>
<main id="log"><div class="empty" id="empty">Type an instruction below. An input is optional.</div></main>
<form id="form">
  <div class="row">
    <textarea id="instruction" rows="2" placeholder="Instruction" aria-label="Instruction" autofocus></textarea>
    <button id="send" class="primary" type="submit">Send</button>
  </div>
  <div class="row" style="margin-top:6px">
    <textarea id="input" rows="1" placeholder="Input (optional)" aria-label="Input"></textarea>
    <button id="stop" type="button" disabled>Stop</button>
  </div>
  <div class="hint">Enter sends, Shift+Enter starts a new line. Temperature 0 is greedy, as the model was evaluated.</div>
</form>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
let model = "", history = [], controller = null;

fetch("/api/tags").then((r) => r.json()).then((j) => {
  model = j.models[0].name.replace(/:latest$/, "");
  $("model").textContent = model + " · " + j.models[0].details.parameter_size + " · " + j.models[0].details.quantization_level;
});

function bubble(role, text, input) {
  $("empty").style.display = "none";
  const div = document.createElement("div");
  div.className = "msg " + role;
  const who = document.createElement("div");
  who.className = "who";
  who.textContent = role === "user" ? "You" : role === "assistant" ? "Model" : "Error";
  const body = document.createElement("div");
  body.className = "text";
  body.textContent = text;
  div.append(who, body);
  if (input) {
    const inp = document.createElement("div");
    inp.className = "input";
    inp.textContent = input;
    div.append(inp);
  }
  $("log").append(div);
  $("log").scrollTop = $("log").scrollHeight;
  return div;
}

function busy(on) {
  $("send").disabled = on;
  $("stop").disabled = !on;
}

async function send() {
  const instruction = $("instruction").value.trim();
  const input = $("input").value.trim();
  if (!instruction || controller) return;
  $("instruction").value = "";
  $("input").value = "";
  bubble("user", instruction, input);
  const user = { role: "user", content: instruction };
  if (input) user.input = input;
  const messages = history.concat([user]);
  const out = bubble("assistant", "");
  const text = out.querySelector(".text");
  out.dataset.state = "streaming";
  busy(true);
  controller = new AbortController();
  let answer = "", last = null;
  try {
    const r = await fetch("/api/chat", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ model, messages, stream: true,
        options: { temperature: Number($("temperature").value), num_predict: Number($("max-tokens").value) } }),
      signal: controller.signal,
    });
    if (!r.ok) throw new Error((await r.json()).error || r.statusText);
    const reader = r.body.getReader(), dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (!line.trim()) continue;
        const j = JSON.parse(line);
        if (j.error) throw new Error(j.error);
        answer += j.message ? j.message.content : "";
        text.textContent = answer;
        $("log").scrollTop = $("log").scrollHeight;
        if (j.done) last = j;
      }
    }
    history = messages.concat([{ role: "assistant", content: answer }]);
    if (last) {
      const s = document.createElement("div");
      s.className = "stats";
      const secs = last.eval_duration / 1e9;
      s.textContent = last.eval_count + " tokens · " + (secs > 0 ? (last.eval_count / secs).toFixed(1) : "–") +
        " tokens/s" + (last.done_reason === "length" ? " · stopped at the token limit" : "");
      out.append(s);
    }
    out.dataset.state = "done";
  } catch (e) {
    if (e.name === "AbortError") {
      history = messages.concat([{ role: "assistant", content: answer }]);
      out.dataset.state = "stopped";
    } else {
      out.className = "msg error";
      text.textContent = String(e.message || e);
      out.dataset.state = "error";
    }
  } finally {
    controller = null;
    busy(false);
    $("instruction").focus();
  }
}

$("form").addEventListener("submit", (e) => { e.preventDefault(); send(); });
$("instruction").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); send(); }
});
$("stop").addEventListener("click", () => controller && controller.abort());
$("new").addEventListener("click", () => {
  if (controller) controller.abort();
  history = [];
  for (const m of [...document.querySelectorAll(".msg")]) m.remove();
  $("empty").style.display = "";
  $("instruction").focus();
});
</script>
</body>
</html>
)HTML";

}  // namespace instruct
