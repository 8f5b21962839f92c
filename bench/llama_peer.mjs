// The decoding peer: llama.cpp itself (node-llama-cpp's prebuilt binaries, a test tool that
// scripts/setup.sh installs into build/test-tools) on a GGUF that `instruct export` wrote. Feeds the
// prompt's token ids, decodes N tokens greedily, and prints {"ms_per_token"} for the decoded tokens
// after the first (the prompt's prefill excluded), the best of REPEAT runs.
// Usage: node llama_peer.mjs TOOLS_DIR FILE.gguf IDS_JSON N THREADS [REPEAT]
import {pathToFileURL} from "node:url";
import path from "node:path";

const [tools, gguf, idsJson, n, threads, repeat = "3"] = process.argv.slice(2);
const {getLlama} = await import(pathToFileURL(path.join(tools, "node_modules", "node-llama-cpp", "dist", "index.js")).href);
const llama = await getLlama({gpu: false, build: "never", maxThreads: Number(threads)});
const model = await llama.loadModel({modelPath: gguf});
const ids = JSON.parse(idsJson);
const context = await model.createContext({contextSize: ids.length + Number(n) + 8, threads: Number(threads)});
let best = Infinity;
for (let r = 0; r < Number(repeat); r++) {
  const sequence = context.getSequence();
  let count = 0, first = 0;
  for await (const t of sequence.evaluate(ids, {temperature: 0})) {
    if (++count === 1) first = performance.now();
    if (count >= Number(n)) break;
  }
  best = Math.min(best, (performance.now() - first) / (count - 1));
  sequence.dispose();
}
console.log(JSON.stringify({ms_per_token: best}));
await context.dispose();
await model.dispose();
