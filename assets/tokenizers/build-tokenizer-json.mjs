#!/usr/bin/env node
// Writes standard Hugging Face `tokenizer.json` files for the bundled vocabularies:
//   node assets/tokenizers/build-tokenizer-json.mjs [outDir]      (after `npm run build`; default outDir: .)
// giving <outDir>/clip-bpe/tokenizer.json and <outDir>/bert-base-uncased/tokenizer.json. omniformer itself
// builds the same JSON in memory (SubwordTokenizer.clip() / .bertBaseUncased()), so this is only for use with
// other tools or for inspection.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildBertTokenizerJson, buildClipTokenizerJson, readBertVocabText, readClipBpeText } from '../../dist/src/data2seq/text.js';

const out = process.argv[2] ?? '.';
for (const [name, json] of [
  ['clip-bpe', buildClipTokenizerJson(readClipBpeText())],
  ['bert-base-uncased', buildBertTokenizerJson(readBertVocabText())],
]) {
  mkdirSync(join(out, name), { recursive: true });
  const path = join(out, name, 'tokenizer.json');
  writeFileSync(path, JSON.stringify(json));
  console.log(`wrote ${path}`);
}
