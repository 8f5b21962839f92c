// llama.cpp itself (the prebuilt binaries of npm's node-llama-cpp, a test tool installed by
// scripts/setup.sh into build/test-tools) loads a GGUF we exported, tokenizes each prompt and
// decodes greedily. Prints one JSON line per prompt: {"prompt", "tokens", "greedy", "text"}.
// Usage: node check_llama.mjs TOOLS_DIR FILE.gguf N_TOKENS PROMPT...
import {pathToFileURL} from "node:url";
import path from "node:path";

const [tools, gguf, n, ...prompts] = process.argv.slice(2);
const {getLlama} = await import(pathToFileURL(path.join(tools, "node_modules", "node-llama-cpp", "dist", "index.js")).href);
const llama = await getLlama({gpu: false, build: "never"});
const model = await llama.loadModel({modelPath: gguf});
const context = await model.createContext({contextSize: 256});
for (const prompt of prompts) {
  const tokens = model.tokenize(prompt);
  const sequence = context.getSequence();
  const greedy = [];
  for await (const t of sequence.evaluate(tokens, {temperature: 0})) {
    greedy.push(t);
    if (greedy.length >= Number(n)) break;
  }
  sequence.dispose();
  console.log(JSON.stringify({prompt, tokens: Array.from(tokens), greedy, text: model.detokenize(greedy)}));
}
await context.dispose();
await model.dispose();
