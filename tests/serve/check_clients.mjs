// `instruct serve` against the official clients (npm's ollama and openai, test tools installed by
// scripts/setup.sh into build/test-tools) and plain HTTP.
// Usage: node check_clients.mjs TOOLS_DIR URL MODEL_NAME EXPECTED.json URL2
//   EXPECTED.json: {"entries": [{instruction, input, output, generate}], "raw": {prompt, generate},
//                   "context": n_ctx}; `generate` is `instruct generate`'s greedy text for it.
//   URL2: a second server (a bigger random model, --max-batch 1, --max-prompt-tokens 50) for
//   the disconnect and --max-prompt-tokens checks.
// Prints "N passed, M failed"; exits non-zero on any failure.
import {createRequire} from "node:module";
import fs from "node:fs";
import path from "node:path";

const [tools, url, name, expectedFile, url2] = process.argv.slice(2);
const require = createRequire(path.join(path.resolve(tools), "package.json"));
const {Ollama} = require("ollama");
const OpenAI = require("openai");
const expected = JSON.parse(fs.readFileSync(expectedFile, "utf8"));
const E = expected.entries;

let passed = 0, failed = 0;
function check(cond, what) {
  if (cond) passed++;
  else {
    failed++;
    console.log("FAIL: " + what);
  }
}
async function step(what, fn) {
  try {
    await fn();
  } catch (e) {
    failed++;
    console.log(`FAIL: ${what}: ${e && e.stack ? e.stack.split("\n").slice(0, 3).join(" | ") : e}`);
  }
}
const eq = (a, b, what) => check(a === b, `${what}: got ${JSON.stringify(a)}, want ${JSON.stringify(b)}`);
const ollama = new Ollama({host: url});
const openai = new OpenAI({baseURL: url + "/v1", apiKey: "unused", maxRetries: 0});
const alpaca = (e) => "Below is an instruction that describes a task. Write a response that appropriately completes the request." +
  "\n\n### Instruction:\n" + e.instruction + (e.input ? "\n\n### Input:\n" + e.input : "");
// What the server shows of a raw continuation of a templated prompt: the marker and space skipped.
const shown = (raw) => raw.replace(/^\s*### Response:\s*/, "");
async function post(path, body, base = url) {
  const r = await fetch(base + path, {method: "POST", headers: {"Content-Type": "application/json"},
    body: typeof body === "string" ? body : JSON.stringify(body)});
  const text = await r.text();
  return {status: r.status, type: r.headers.get("content-type") || "", text};
}
const health = async (base) => (await fetch(base + "/health")).json();

await step("list and show", async () => {
  const list = await ollama.list();
  eq(list.models.length, 1, "list: one model");
  eq(list.models[0].name, name + ":latest", "list: name");
  eq(list.models[0].details.family, "gpt2", "list: family");
  eq(list.models[0].details.format, "safetensors", "list: format");
  eq(list.models[0].details.quantization_level, "F32", "list: quantization_level");
  check(/^[0-9.]+[MB]$/.test(list.models[0].details.parameter_size), "list: parameter_size " + list.models[0].details.parameter_size);
  for (const m of [name, name + ":latest"]) {
    const show = await ollama.show({model: m});
    eq(show.model_info["general.architecture"], "gpt2", "show: general.architecture");
    check(show.capabilities.includes("completion"), "show: capabilities has completion");
    check(show.template.includes("{{ .Prompt }}") && show.template.includes("{{ .System }}"), "show: template");
  }
  const v = await (await fetch(url + "/api/version")).json();
  check(typeof v.version === "string" && v.version.length > 0, "version");
  const models = await openai.models.list();
  eq(models.data.map((m) => m.id).join(), name, "openai models.list");
});

await step("ollama generate and chat, streamed and not", async () => {
  for (const [i, e] of E.entries()) {
    if (e.input) continue;
    const g = await ollama.generate({model: name, prompt: e.instruction, stream: false, options: {temperature: 0, num_predict: 60}});
    eq(g.response, e.generate, `generate ${i} equals instruct generate`);
    eq(g.response, e.output, `generate ${i} is the memorized answer`);
    check(g.done === true && g.done_reason === "stop", `generate ${i}: done, stop at <|endoftext|>`);
    // eval_count: the response header the model writes, the answer, and <|endoftext|>
    check(g.prompt_eval_count > 10 && g.eval_count > (await tokens(e.generate)) + 1,
      `generate ${i}: counts ${g.prompt_eval_count}/${g.eval_count}`);
    check(["total_duration", "load_duration", "prompt_eval_duration", "eval_duration"].every((k) => Number.isInteger(g[k]) && g[k] >= 0) &&
      g.total_duration >= g.eval_duration && g.total_duration > 0, `generate ${i}: durations in ns`);
    let text = "", chunks = 0, last = null;
    for await (const part of await ollama.generate({model: name + ":latest", prompt: e.instruction, stream: true})) {
      text += part.response;
      chunks++;
      if (part.done) last = part;
    }
    eq(text, e.generate, `generate ${i} streamed`);
    check(chunks > 3 && last && last.done_reason === "stop" && last.eval_count > 0, `generate ${i}: ${chunks} chunks, a final one`);
    const c = await ollama.chat({model: name, messages: [{role: "user", content: e.instruction}], stream: false});
    eq(c.message.role, "assistant", `chat ${i} role`);
    eq(c.message.content, e.generate, `chat ${i}`);
    let ct = "";
    for await (const part of await ollama.chat({model: name, messages: [{role: "user", content: e.instruction}], stream: true}))
      ct += part.message.content;
    eq(ct, e.generate, `chat ${i} streamed`);
  }
  // The chat page's optional input (our "input" field on the user message).
  const withInput = E.find((e) => e.input);
  const c = await ollama.chat({model: name, messages: [{role: "user", content: withInput.instruction, input: withInput.input}], stream: false});
  eq(c.message.content, withInput.generate, "chat with an input");
});

// tokens of a text, through the raw route's prompt_eval_count
async function tokens(text) {
  const r = await ollama.generate({model: name, prompt: text, raw: true, stream: false, options: {num_predict: 0}});
  return r.prompt_eval_count;
}

await step("raw prompts, system prompts and earlier turns", async () => {
  const raw = await ollama.generate({model: name, prompt: expected.raw.prompt, raw: true, stream: false, options: {num_predict: 24}});
  eq(raw.response, expected.raw.generate, "raw generate equals instruct generate --prompt");
  eq(raw.done_reason, "length", "raw: stops at num_predict");
  const comp = await openai.completions.create({model: name, prompt: expected.raw.prompt, max_tokens: 24, temperature: 0});
  eq(comp.choices[0].text, expected.raw.generate, "openai completions equal instruct generate --prompt");
  eq(comp.choices[0].finish_reason, "length", "openai completions: finish_reason length");
  eq(comp.usage.total_tokens, comp.usage.prompt_tokens + comp.usage.completion_tokens, "completions usage");
  eq(comp.usage.completion_tokens, 24, "completions: 24 tokens");
  // A system message replaces the preamble sentence (never added to it).
  const e = E[0], sys = "You answer in one sentence.";
  const viaRaw = async (prompt) => shown((await ollama.generate({model: name, prompt, raw: true, stream: false, options: {num_predict: 40}})).response);
  const want = await viaRaw(alpaca(e).replace(/^Below is[^\n]*/, sys));
  const c = await ollama.chat({model: name, stream: false, options: {num_predict: 40},
    messages: [{role: "system", content: sys}, {role: "user", content: e.instruction}]});
  eq(c.message.content, want, "system message in place of the preamble");
  const g = await ollama.generate({model: name, system: sys, prompt: e.instruction, stream: false, options: {num_predict: 40}});
  eq(g.response, want, "generate's system in place of the preamble");
  // Earlier turns: each exchange rendered as a training example, then the last instruction.
  const turns = [{role: "user", content: E[1].instruction}, {role: "assistant", content: E[1].output},
    {role: "user", content: E[2].instruction}];
  const folded = alpaca(E[1]) + "\n\n### Response:\n" + E[1].output + "\n\n" + alpaca(E[2]).replace(/^Below is[^\n]*\n\n/, "");
  const c2 = await ollama.chat({model: name, messages: turns, stream: false, options: {num_predict: 40}});
  eq(c2.message.content, await viaRaw(folded), "earlier turns fold in as rendered exchanges");
  const o2 = await openai.chat.completions.create({model: name, messages: turns, max_tokens: 40, temperature: 0});
  eq(o2.choices[0].message.content, c2.message.content, "openai folds turns the same way");
});

await step("openai chat completions, streamed and not", async () => {
  for (const [i, e] of E.entries()) {
    if (e.input) continue;
    const r = await openai.chat.completions.create({model: name, messages: [{role: "user", content: e.instruction}], temperature: 0});
    eq(r.choices[0].message.content, e.generate, `openai chat ${i}`);
    eq(r.choices[0].finish_reason, "stop", `openai chat ${i} finish_reason`);
    eq(r.object, "chat.completion", "object");
    eq(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens, `openai chat ${i} usage`);
    const stream = await openai.chat.completions.create({model: name, messages: [{role: "user", content: e.instruction}],
      stream: true, stream_options: {include_usage: true}});
    let text = "", finishes = 0, usage = null, deltas = 0;
    for await (const chunk of stream) {
      for (const ch of chunk.choices) {
        if (ch.delta && ch.delta.content) text += ch.delta.content, deltas++;
        if (ch.finish_reason) finishes++;
      }
      if (chunk.usage) usage = chunk.usage;
    }
    eq(text, e.generate, `openai chat ${i} streamed`);
    eq(finishes, 1, `openai chat ${i}: exactly one chunk carries finish_reason`);
    check(deltas > 3, `openai chat ${i}: text arrives token by token (${deltas} deltas)`);
    check(usage && usage.total_tokens === usage.prompt_tokens + usage.completion_tokens && usage.completion_tokens > 0,
      `openai chat ${i}: usage chunk`);
  }
  // The wire format itself: SSE frames, one finish_reason, then [DONE].
  const r = await post("/v1/chat/completions", {model: name, stream: true, messages: [{role: "user", content: E[0].instruction}]});
  check(r.type.startsWith("text/event-stream"), "SSE content type: " + r.type);
  const frames = r.text.split("\n\n").filter((f) => f);
  check(frames.every((f) => f.startsWith("data: ")), "every SSE frame is data:");
  eq(frames[frames.length - 1], "data: [DONE]", "SSE ends with [DONE]");
  const objs = frames.slice(0, -1).map((f) => JSON.parse(f.slice(6)));
  eq(objs.filter((o) => o.choices[0].finish_reason).length, 1, "raw SSE: one finish_reason");
  const cs = await post("/v1/completions", {model: name, stream: true, prompt: expected.raw.prompt, max_tokens: 24});
  const cobjs = cs.text.split("\n\n").filter((f) => f && f !== "data: [DONE]").map((f) => JSON.parse(f.slice(6)));
  eq(cobjs.map((o) => o.choices[0].text).join(""), expected.raw.generate, "completions streamed");
  eq(cobjs.filter((o) => o.choices[0].finish_reason).length, 1, "completions stream: one finish_reason");
  check(cs.text.endsWith("data: [DONE]\n\n"), "completions stream ends with [DONE]");
});

await step("sampling options and stop strings", async () => {
  const e = E[2];
  const cut = e.generate.indexOf(" measures");
  const s1 = await ollama.generate({model: name, prompt: e.instruction, stream: false, options: {stop: [" measures"]}});
  eq(s1.response, e.generate.slice(0, cut), "ollama stop string ends the text before it");
  eq(s1.done_reason, "stop", "stop string: done_reason stop");
  let st = "";
  for await (const p of await ollama.generate({model: name, prompt: e.instruction, stream: true, options: {stop: ["measures atm"]}})) st += p.response;
  eq(st, e.generate.slice(0, cut + 1), "streamed stop string (held back, never shown)");
  const s2 = await openai.chat.completions.create({model: name, messages: [{role: "user", content: e.instruction}], stop: "atmospheric"});
  eq(s2.choices[0].message.content, e.generate.slice(0, e.generate.indexOf("atmospheric")), "openai stop");
  const opts = {temperature: 1.5, seed: 7, num_predict: 20};
  const a = await ollama.generate({model: name, prompt: "The", raw: true, stream: false, options: opts});
  const b = await ollama.generate({model: name, prompt: "The", raw: true, stream: false, options: opts});
  eq(a.response, b.response, "same seed, same sample");
  const c = await ollama.generate({model: name, prompt: "The", raw: true, stream: false, options: {...opts, seed: 8}});
  check(c.response !== a.response, "another seed, another sample");
  const k1 = await ollama.generate({model: name, prompt: e.instruction, stream: false, options: {temperature: 1, top_k: 1, seed: 3}});
  eq(k1.response, e.generate, "top_k 1 is greedy");
  const o1 = await openai.completions.create({model: name, prompt: "The", max_tokens: 20, temperature: 1.5, seed: 7});
  eq(o1.choices[0].text, a.response, "openai seed samples as ollama's");
});

await step("16 concurrent clients each get their own answer", async () => {
  const before = await health(url);
  const jobs = [];
  for (let i = 0; i < 16; i++) {
    const e = E[i % E.length];
    const msg = {role: "user", content: e.instruction, ...(e.input ? {input: e.input} : {})};
    if (i % 4 === 0) jobs.push(ollama.chat({model: name, messages: [msg], stream: false}).then((r) => r.message.content));
    else if (i % 4 === 1) jobs.push((async () => {
      let t = "";
      for await (const p of await ollama.chat({model: name, messages: [msg], stream: true})) t += p.message.content;
      return t;
    })());
    else if (i % 4 === 2 && !e.input) jobs.push(openai.chat.completions.create({model: name, messages: [msg]}).then((r) => r.choices[0].message.content));
    else jobs.push((async () => {
      if (e.input) {
        const r = await post("/api/chat", {model: name, stream: false, messages: [msg]});
        return JSON.parse(r.text).message.content;
      }
      let t = "";
      for await (const ch of await openai.chat.completions.create({model: name, messages: [msg], stream: true}))
        t += ch.choices[0]?.delta?.content || "";
      return t;
    })());
  }
  const got = await Promise.all(jobs);
  for (let i = 0; i < 16; i++) eq(got[i], E[i % E.length].generate, `concurrent client ${i}`);
  const after = await health(url);
  eq(after.served - before.served, 16, "16 requests served");
  eq(after.busy, 0, "every slot free afterwards");
});

await step("bad requests are 4xx with a JSON error, and the server keeps serving", async () => {
  const bad = async (path, body, status, text, base = url) => {
    const r = await post(path, body, base);
    let msg = "";
    try {
      const j = JSON.parse(r.text);
      msg = typeof j.error === "string" ? j.error : j.error.message;
    } catch (e) {
      msg = "(not JSON) " + r.text.slice(0, 80);
    }
    check(r.status === status && msg.includes(text), `${path} ${JSON.stringify(body).slice(0, 60)}: ${r.status} "${msg}", want ${status} with "${text}"`);
  };
  await bad("/api/generate", "{\"model\": ", 400, "not valid JSON");
  await bad("/v1/chat/completions", "[1,2", 400, "not valid JSON");
  await bad("/api/generate", {model: "nope", prompt: "x"}, 404, "not found");
  await bad("/v1/chat/completions", {model: "nope", messages: [{role: "user", content: "x"}]}, 404, "not found");
  await bad("/api/chat", {model: name, messages: [{role: "tool", content: "x"}]}, 400, "role \"tool\" is not supported");
  await bad("/api/chat", {model: name, messages: [{role: "user", content: "x"}, {role: "assistant", content: "y"}]}, 400, "last message must be the user's");
  await bad("/api/generate", {model: name, prompt: "x", options: {temperature: "hot"}}, 400, "options.temperature must be a number");
  await bad("/v1/completions", {model: name, prompt: "x", n: 2}, 400, "n must be 1");
  const long = "word ".repeat(expected.context + 10);
  await bad("/api/generate", {model: name, prompt: long, raw: true}, 400, "the model's context is " + expected.context);
  await bad("/v1/completions", {model: name, prompt: long}, 400, "tokens; this server takes at most");
  await bad("/api/generate", {model: "big", prompt: "word ".repeat(60), raw: true}, 400, "--max-prompt-tokens", url2);
  // An oversized body is read (and dropped) before the answer, so the 413 reaches the client.
  await bad("/api/generate", JSON.stringify({model: name, prompt: "x".repeat(9 << 20)}), 413, "the request body is");
  await bad("/api/pull", {model: name}, 404, "no route POST /api/pull");
  // The official clients surface the error.
  try {
    await ollama.chat({model: "nope", messages: [{role: "user", content: "x"}]});
    check(false, "ollama client: unknown model should throw");
  } catch (e) {
    check(e.status_code === 404 && /not found/.test(e.error || e.message), "ollama client sees the 404: " + e.message);
  }
  try {
    await openai.chat.completions.create({model: name, messages: [{role: "user", content: "word ".repeat(expected.context + 10)}]});
    check(false, "openai client: a too long prompt should throw");
  } catch (e) {
    check(e.status === 400 && /context/.test(e.message), "openai client sees the 400: " + e.message);
  }
  const g = await ollama.generate({model: name, prompt: E[0].instruction, stream: false});
  eq(g.response, E[0].generate, "still serving after the bad requests");
});

await step("a client that disconnects mid-stream frees its slot at once", async () => {
  const before = await health(url2);
  const ac = new AbortController();
  const r = await fetch(url2 + "/api/generate", {method: "POST", signal: ac.signal,
    body: JSON.stringify({model: "big", prompt: "Once upon a time", raw: true, options: {num_predict: 100000}})});
  const reader = r.body.getReader();
  let lines = 0;
  while (lines < 3) {
    const {value} = await reader.read();
    lines += new TextDecoder().decode(value).split("\n").filter((l) => l).length;
  }
  const mid = await health(url2);
  eq(mid.busy, 1, "the streaming request holds the slot");
  ac.abort();
  let h = mid;
  for (let i = 0; i < 100 && !(h.busy === 0 && h.cancelled > before.cancelled); i++) {
    await new Promise((res) => setTimeout(res, 20));
    h = await health(url2);
  }
  check(h.busy === 0 && h.cancelled === before.cancelled + 1 && h.served === before.served,
    `slot freed as cancelled within 2 s: ${JSON.stringify(h)}`);
  check(h.tokens - mid.tokens < 200, `it stopped generating: ${h.tokens - mid.tokens} tokens after the abort`);
  // --max-batch 1: the next request gets the slot (it would wait ~a thousand tokens otherwise).
  const g2 = await new Ollama({host: url2}).generate({model: "big", prompt: "Hi", raw: true, stream: false, options: {num_predict: 2}});
  check(g2.eval_count === 2 && g2.load_duration < 2e9, "the next request gets the slot at once");
});

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
