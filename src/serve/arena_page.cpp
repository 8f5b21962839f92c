// The arena page: an instruction and two anonymised answers; vote with the buttons or the keys
// (1 or Left: left, 2 or Right: right, 3 or T: tie, 4 or B: both bad, U or Backspace: undo, S:
// skip). The models are named after each vote; the leaderboard under it refreshes after every vote.
#include "serve/arena_page.hpp"

namespace instruct {

const char* const kArenaPage = R"HTML(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>instruct arena</title>
<style>
  :root { --fg: #1d2330; --muted: #6b7280; --line: #e3e6ec; --accent: #2f6feb; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); }
  header { display: flex; align-items: center; gap: 12px; padding: 10px 18px; border-bottom: 1px solid var(--line); }
  header h1 { font-size: 16px; margin: 0; }
  header .spacer { flex: 1; }
  #count { color: var(--muted); font-size: 13px; }
  main { max-width: 1200px; margin: 0 auto; padding: 16px 18px; }
  .prompt { background: #f7f7f8; border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
  #instruction, #input { white-space: pre-wrap; overflow-wrap: anywhere; }
  .prompt .label, .answer .label { font-size: 12px; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
  #input-box { margin-top: 8px; }
  .answers { display: grid; grid-template-columns: 1fr 1fr; gap: 14px; margin-top: 14px; }
  .answer { border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; min-height: 120px; }
  .answer .text { white-space: pre-wrap; overflow-wrap: anywhere; }
  .answer .text:empty::before { content: "(empty answer)"; color: var(--muted); }
  .buttons { display: flex; gap: 10px; justify-content: center; flex-wrap: wrap; margin: 16px 0 6px; }
  button { font: inherit; border: 1px solid var(--line); background: #fff; border-radius: 6px; padding: 7px 14px; cursor: pointer; }
  button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
  button:disabled { opacity: .5; cursor: default; }
  kbd { font-size: 11px; border: 1px solid #ccd; border-radius: 3px; padding: 0 4px; margin-left: 4px; background: #f4f5f7; color: var(--fg); }
  #status { text-align: center; color: var(--muted); min-height: 1.5em; }
  #status.error { color: #b42318; }
  h2 { font-size: 15px; margin: 26px 0 6px; }
  table { border-collapse: collapse; }
  td, th { border: 1px solid var(--line); padding: 4px 10px; text-align: left; }
  td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
  th { background: #f3f3f3; font-weight: 600; }
</style>
</head>
<body>
<header><h1>instruct arena</h1><span class="spacer"></span><span id="count">…</span></header>
<main>
  <div class="prompt"><div class="label">Instruction</div><div id="instruction"></div>
    <div id="input-box" hidden><div class="label">Input</div><div id="input"></div></div></div>
  <div class="answers">
    <div class="answer"><div class="label">Answer A</div><div class="text" id="left"></div></div>
    <div class="answer"><div class="label">Answer B</div><div class="text" id="right"></div></div>
  </div>
  <div class="buttons">
    <button class="primary" id="vote-left">A is better<kbd>1</kbd></button>
    <button id="vote-tie">Tie<kbd>3</kbd></button>
    <button id="vote-bad">Both bad<kbd>4</kbd></button>
    <button class="primary" id="vote-right">B is better<kbd>2</kbd></button>
    <button id="skip">Skip<kbd>S</kbd></button>
    <button id="undo">Undo last vote<kbd>U</kbd></button>
  </div>
  <div id="status"></div>
  <h2>Leaderboard <span id="board-note" style="font-weight:400;color:var(--muted)"></span></h2>
  <table id="board"><thead><tr><th>#</th><th>model</th><th class="num">score</th><th class="num">95% interval</th>
    <th class="num">votes</th><th class="num">won</th><th class="num">lost</th><th class="num">tied</th></tr></thead><tbody></tbody></table>
  <h2>Votes per pair</h2>
  <table id="pairs"><thead><tr><th>model</th><th>model</th><th class="num">votes</th></tr></thead><tbody></tbody></table>
</main>
<script>
"use strict";
let battle = null, busy = false;
const $ = (id) => document.getElementById(id);
function status(text, isError) { $("status").textContent = text; $("status").className = isError ? "error" : ""; }
function cell(row, text, cls) { const td = row.insertCell(); td.textContent = text; if (cls) td.className = cls; return td; }
async function api(path, body) {
  const r = await fetch(path, body === undefined ? {} : {method: "POST", headers: {"Content-Type": "application/json"},
                                                         body: JSON.stringify(body)});
  const j = await r.json();
  if (!r.ok) throw new Error(j.error || ("HTTP " + r.status));
  return j;
}
function setBusy(b) { busy = b; for (const id of ["vote-left", "vote-right", "vote-tie", "vote-bad", "skip", "undo"]) $(id).disabled = b; }
async function next() {
  battle = await api("/api/battle");
  $("instruction").textContent = battle.instruction;
  $("input").textContent = battle.input;
  $("input-box").hidden = !battle.input;
  $("left").textContent = battle.left;
  $("right").textContent = battle.right;
  document.body.dataset.battle = battle.id;
}
async function board() {
  const j = await api("/api/leaderboard");
  $("count").textContent = j.votes + (j.votes === 1 ? " vote" : " votes");
  document.body.dataset.votes = j.votes;
  $("board-note").textContent = "Bradley–Terry on the Elo scale, from " + j.counted + " votes";
  const tb = $("board").tBodies[0];
  tb.innerHTML = "";
  j.models.forEach((m, i) => {
    const row = tb.insertRow();
    row.dataset.model = m.model;
    cell(row, String(i + 1), "num"); cell(row, m.model);
    cell(row, m.score.toFixed(0), "num score"); cell(row, m.lo.toFixed(0) + " – " + m.hi.toFixed(0), "num");
    cell(row, String(m.votes), "num votes"); cell(row, String(m.wins), "num wins"); cell(row, String(m.losses), "num losses");
    cell(row, String(m.ties), "num ties");
  });
  const pb = $("pairs").tBodies[0];
  pb.innerHTML = "";
  for (const p of j.pairs) { const row = pb.insertRow(); cell(row, p.a); cell(row, p.b); cell(row, String(p.votes), "num"); }
}
async function vote(v) {
  if (!battle || busy) return;
  setBusy(true);
  try {
    const j = await api("/api/vote", {id: battle.id, vote: v});
    const said = {left: "A is better", right: "B is better", tie: "a tie", both_bad: "both bad"}[v];
    status("Voted " + said + ". A was " + j.left + ", B was " + j.right + ".");
    await board();
    await next();
  } catch (e) { status(e.message, true); }
  setBusy(false);
}
async function undo() {
  if (busy) return;
  setBusy(true);
  try {
    const j = await api("/api/undo", {});
    status("Undid the vote on entry " + j.undone.entry + " (" + j.undone.left + " vs " + j.undone.right + ": " + j.undone.vote + ").");
    await board();
  } catch (e) { status(e.message, true); }
  setBusy(false);
}
async function skip() { if (busy) return; setBusy(true); try { await next(); status("Skipped."); } catch (e) { status(e.message, true); } setBusy(false); }
$("vote-left").onclick = () => vote("left");
$("vote-right").onclick = () => vote("right");
$("vote-tie").onclick = () => vote("tie");
$("vote-bad").onclick = () => vote("both_bad");
$("undo").onclick = undo;
$("skip").onclick = skip;
document.addEventListener("keydown", (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  const k = e.key.toLowerCase();
  const action = {"1": () => vote("left"), "arrowleft": () => vote("left"), "2": () => vote("right"),
                  "arrowright": () => vote("right"), "3": () => vote("tie"), "t": () => vote("tie"),
                  "4": () => vote("both_bad"), "b": () => vote("both_bad"), "u": undo, "backspace": undo,
                  "s": skip, "n": skip}[k];
  if (action) { e.preventDefault(); action(); }
});
(async () => { try { await board(); await next(); document.body.dataset.ready = "1"; } catch (e) { status(e.message, true); } })();
</script>
</body>
</html>
)HTML";

}  // namespace instruct
