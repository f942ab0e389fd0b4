// Text tokenizer: the bundled CLIP BPE and BERT WordPiece vocabularies (integrity, known ids, ids from
// independent Python implementations in tools/fixtures/structures.py), truncation / padding / special-token
// placement, user-supplied tokenizer.json files, the trainable TextTokenizer (shapes, parameters, gradients,
// masks, errors) and a small end-to-end training with a frozen encoder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdamW, F, Linear, LayerNorm, Tensor, TrainStep, TransformerBlock, grad } from '../src/index.js';
import { Module } from '../src/nn/module.js';
import { Generator } from '../src/engine/functional/random.js';
import {
  SubwordTokenizer, TextTokenizer, buildBertTokenizerJson, readBertVocabText, readClipBpeText, type TextInput, type TokenizerJson,
} from '../src/data2seq/text.js';
import type { TokenSequence } from '../src/data2seq/types.js';
import { assertClose } from './helpers/gradcheck.js';
import { Rng } from './helpers/rng.js';

const fx = JSON.parse(readFileSync(new URL('../../test/fixtures/structures.json', import.meta.url), 'utf8')) as {
  clip: { text: string; ids: number[] }[];
  bert: { text: string; ids: number[] }[];
  bert_short: { text: string; context: number; ids: number[] }[];
};

const clip = SubwordTokenizer.clip();
const bert = SubwordTokenizer.bertBaseUncased();
const sha256 = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex');

test('bundled vocabularies are the published files (hashes) with the published sizes', () => {
  // OpenAI CLIP bpe_simple_vocab_16e6.txt (decompressed) and bert-base-uncased vocab.txt.
  assert.equal(sha256(Buffer.from(readClipBpeText(), 'utf8')), '67603cfda2e032ad77b5f8808af37789d590db664b26df8705d2bf8b3c553fc8');
  assert.equal(sha256(Buffer.from(readBertVocabText(), 'utf8')), '07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3');
  assert.equal(clip.vocabSize, 49408);
  assert.equal(clip.contextLength, 77);
  assert.equal(bert.vocabSize, 30522);
  assert.equal(clip.tokenToId('<|startoftext|>'), 49406);
  assert.equal(clip.tokenToId('<|endoftext|>'), 49407);
  for (const [t, id] of [['[PAD]', 0], ['[UNK]', 100], ['[CLS]', 101], ['[SEP]', 102], ['[MASK]', 103]] as const) assert.equal(bert.tokenToId(t), id);
});

test('known token ids: CLIP "a photo of a cat", BERT "hello world", and vocabulary lines read by hand', () => {
  // CLIP's published example ids; BERT's well-known [CLS] hello world [SEP].
  assert.deepEqual(clip.encode('a photo of a cat'), [49406, 320, 1125, 539, 320, 2368, 49407]);
  assert.deepEqual(bert.encode('Hello world'), [101, 7592, 2088, 102]);
  // BERT ids are vocab.txt line numbers (0-based).
  const lines = readBertVocabText().split('\n');
  for (const w of ['the', 'quick', 'dog', '.']) assert.deepEqual(bert.encode(w), [101, lines.indexOf(w), 102], w);
  // A CLIP word that is one BPE symbol has id 512 + (its merge's line number − 1) (256 bytes, 256 bytes + </w>).
  const merges = readClipBpeText().split('\n');
  assert.equal(clip.encode('photo')[1], 512 + merges.indexOf('pho to</w>') - 1);
  assert.equal(clip.encode('cat')[1], 512 + merges.indexOf('c at</w>') - 1);
});

test('CLIP BPE ids equal an independent Python implementation of CLIP\'s SimpleTokenizer', () => {
  for (const { text, ids } of fx.clip) assert.deepEqual(clip.encode(text), ids, JSON.stringify(text));
  assert.deepEqual(clip.tokenize('Hello, World!'), ['hello</w>', ',</w>', 'world</w>', '!</w>']);
  assert.equal(clip.decode(clip.encode('a photo of a cat')), 'a photo of a cat');
});

test('BERT WordPiece ids equal an independent Python BasicTokenizer + WordPiece', () => {
  for (const { text, ids } of fx.bert) assert.deepEqual(bert.encode(text), ids, JSON.stringify(text));
  for (const { text, context, ids } of fx.bert_short) assert.deepEqual(SubwordTokenizer.bertBaseUncased({ contextLength: context }).encode(text), ids, `${text} (context ${context})`);
  assert.deepEqual(bert.tokenize('i like strawberries'), ['i', 'like', 'straw', '##berries']);
  assert.equal(bert.decode(bert.encode('The quick brown fox.')), 'the quick brown fox.');
});

test('batches: SOT/EOT placement, truncation keeping EOT, padding with 0 and the attention mask', () => {
  const long = 'word '.repeat(100);
  const b = clip.encodeBatch(['a photo of a cat', long, '']);
  assert.equal(b.length, 77);
  assert.deepEqual(b.lengths, [7, 77, 2]);
  assert.deepEqual(b.truncated, [false, true, false]);
  const row = (i: number): number[] => Array.from(b.ids.subarray(i * 77, (i + 1) * 77), Number);
  const mask = (i: number): number[] => Array.from(b.attentionMask.subarray(i * 77, (i + 1) * 77));
  assert.deepEqual(row(0).slice(0, 8), [49406, 320, 1125, 539, 320, 2368, 49407, 0]);
  assert.ok(row(0).slice(7).every((v) => v === 0), 'padded with 0 as clip.tokenize');
  assert.deepEqual(mask(0), [...new Array(7).fill(1), ...new Array(70).fill(0)]);
  assert.equal(row(1)[0], 49406);
  assert.equal(row(1)[76], 49407, 'truncation keeps <|endoftext|> last');
  assert.ok(row(1).slice(1, 76).every((v) => v === 2653), 'word</w> x 75');
  assert.deepEqual(row(2).slice(0, 3), [49406, 49407, 0]);
  // Longest-first padding gives the batch's longest length.
  const l = clip.encodeBatch(['a photo of a cat', 'a cat'], { padTo: 'longest' });
  assert.equal(l.length, 7);
  assert.deepEqual(Array.from(l.ids.subarray(7), Number), [49406, 320, 2368, 49407, 0, 0, 0]);
  // BERT: [CLS] ... [SEP], truncation keeps [SEP], [PAD] = 0.
  const short = SubwordTokenizer.bertBaseUncased({ contextLength: 6 });
  const bb = short.encodeBatch(['Hello world', 'the quick brown fox jumps']);
  assert.deepEqual(Array.from(bb.ids, Number), [101, 7592, 2088, 102, 0, 0, 101, 1996, 4248, 2829, 4419, 102]);
  assert.throws(() => SubwordTokenizer.bertBaseUncased({ contextLength: 1 }).encode('hello there'), /contextLength 1 cannot hold the 2 special tokens/);
  assert.throws(() => clip.encodeBatch([]), /non-empty array of strings/);
  assert.throws(() => clip.encodeBatch(['ok', 3 as unknown as string]), /text 1 is number, expected a string/);
});

test('any standard tokenizer.json works: a hand-written BPE file and a WordPiece file from a tiny vocab', () => {
  const dir = mkdtempSync(join(tmpdir(), 'omniformer-tok-'));
  try {
    const vocab = { '<unk>': 0, '<s>': 1, '</s>': 2, '<pad>': 3, l: 4, o: 5, w: 6, e: 7, r: 8, lo: 9, low: 10, er: 11, n: 12, s: 13, t: 14, lower: 15 };
    const json: TokenizerJson = {
      version: '1.0', truncation: null, padding: null,
      added_tokens: ['<unk>', '<s>', '</s>', '<pad>'].map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
      normalizer: null,
      pre_tokenizer: { type: 'Whitespace' },
      post_processor: {
        type: 'TemplateProcessing',
        single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
        pair: [{ Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
        special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] }, '</s>': { id: '</s>', ids: [2], tokens: ['</s>'] } },
      },
      decoder: null,
      model: { type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, vocab, merges: ['l o', 'lo w', 'e r', 'low er'] },
    };
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(json));
    const tiny = SubwordTokenizer.fromFile(join(dir, 'tokenizer.json'), { contextLength: 8, padId: 3 });
    assert.equal(tiny.vocabSize, 16);
    // lower -> l o w e r -> lo w e r -> low e r -> low er -> lower; newest has no applicable merge.
    assert.deepEqual(tiny.tokenizer.encode('lower low newest').ids, [1, 15, 10, 12, 7, 6, 7, 13, 14, 2]);
    assert.deepEqual(tiny.encode('lower low newest'), [1, 15, 10, 12, 7, 6, 7, 2], 'truncated to 8 keeping </s>');
    const b = tiny.encodeBatch(['low', 'lower low newest']);
    assert.deepEqual(Array.from(b.ids, Number), [1, 10, 2, 3, 3, 3, 3, 3, 1, 15, 10, 12, 7, 6, 7, 2]);
    assert.deepEqual(b.truncated, [false, true]);

    const wp = SubwordTokenizer.fromTokenizerJson(JSON.stringify(buildBertTokenizerJson(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'play', '##ing', '##ed', 'ball', '!'].join('\n'))), { contextLength: 10 });
    assert.deepEqual(wp.encode('Playing BALL, played!'), [2, 5, 6, 8, 1, 5, 7, 9, 3]);
    const model = new TextTokenizer({ dim: 4, tokenizer: wp });
    assert.equal(model.vocabSize, 10);
    assert.equal(model.contextLength, 10);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('TextTokenizer: shapes, parameter count, token = embedding[id] + position, zero padded tokens, gradients', async () => {
  const D = 8;
  const tok = new TextTokenizer({ dim: D, tokenizer: SubwordTokenizer.clip({ contextLength: 12 }), generator: new Generator(5) });
  assert.equal(tok.numParams(), 49408 * D + 12 * D);
  assert.deepEqual(tok.namedParameters().map(([n, p]) => [n, [...p.shape]]), [['positional_embedding', [12, D]], ['token_embedding.weight', [49408, D]]]);
  const inp = tok.prepare(['a photo of a cat', 'a dog']);
  assert.deepEqual([...inp.ids.shape], [2, 12]);
  assert.equal(inp.ids.dtype, 'int64');
  assert.deepEqual(await inp.paddingMask!.toArray(), [0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, /**/ 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1]);
  const seq = tok.forward(inp);
  assert.equal(seq.paddingMask, inp.paddingMask);
  assert.deepEqual([...seq.tokens.shape], [2, 12, D]);
  const out = await seq.tokens.float32();
  const E = tok.token_embedding.weight.value as Float32Array, P = tok.positional_embedding.value as Float32Array;
  const ids = inp.ids.value as BigInt64Array, pad = inp.paddingMask!.value as Uint8Array;
  for (let b = 0; b < 2; b++) for (let i = 0; i < 12; i++) {
    const want = pad[b * 12 + i] ? new Array(D).fill(0) : Array.from({ length: D }, (_, d) => E[Number(ids[b * 12 + i]) * D + d] + P[i * D + d]);
    assertClose(out.subarray((b * 12 + i) * D, (b * 12 + i + 1) * D), want, 1e-7, 1e-6, `token [${b}, ${i}]`);
  }
  const rng = new Rng(3);
  const again = tok.forward(inp).tokens; // a fresh trace (the realized one above is cut from the graph)
  const R = new Tensor(again.shape, 'float32', rng.normal(again.size));
  const [gE, gP] = await Promise.all(grad(again.mul(R).sum(), [tok.token_embedding.weight, tok.positional_embedding]).map((g) => g.float32()));
  const rowSum = (g: Float32Array, r: number): number => g.subarray(r * D, (r + 1) * D).reduce((s, v) => s + Math.abs(v), 0);
  for (const id of [49406, 320, 1125, 2368, 49407, 1929]) assert.ok(rowSum(gE, id) > 0, `token row ${id} gets a gradient`);
  assert.equal(rowSum(gE, 0), 0, 'the padding id 0 (masked) gets no gradient');
  assert.equal(rowSum(gE, 5000), 0, 'an unused token gets no gradient');
  for (let i = 0; i < 7; i++) assert.ok(rowSum(gP, i) > 0, `position ${i} gets a gradient`);
  for (let i = 7; i < 12; i++) assert.equal(rowSum(gP, i), 0, `position ${i} holds only padding: no gradient`);
  // padTo 'longest': shorter sequences use the first L positions.
  const lt = new TextTokenizer({ dim: D, tokenizer: SubwordTokenizer.clip({ contextLength: 12 }), padTo: 'longest', generator: new Generator(5) });
  const li = lt.prepare(['a dog', 'a cat']);
  assert.deepEqual([...li.ids.shape], [2, 4]);
  assert.deepEqual([...lt.forward(li).tokens.shape], [2, 4, D]);
});

test('TextTokenizer: bad input errors', () => {
  const tok = new TextTokenizer({ dim: 4, tokenizer: SubwordTokenizer.clip({ contextLength: 8 }) });
  const ids = (shape: number[], v: number[]): Tensor => new Tensor(shape, 'int64', BigInt64Array.from(v.map(BigInt)));
  assert.throws(() => tok.forward({ ids: new Tensor([1, 2], 'float32', new Float32Array(2)) }), /ids must be int64 \[B, L\], got float32 \[1, 2\]/);
  assert.throws(() => tok.forward({ ids: ids([1, 9], new Array(9).fill(1)) }), /have length 9; expected 1\.\.8 \(the context length\)/);
  assert.throws(() => tok.forward({ ids: ids([1, 2], [49406, 49408]) }), /token id 49408 at \[0, 1\] is outside the vocabulary \[0, 49408\)/);
  assert.throws(() => tok.forward({ ids: ids([1, 2], [1, 2]), paddingMask: new Tensor([1, 3], 'bool', new Uint8Array(3)) }), /paddingMask must be bool \[B, L\] = \[1, 2\]/);
  assert.throws(() => new TextTokenizer({ dim: 4, tokenizer: clip, vocabSize: 100 }), /vocabSize 100 is smaller than the tokenizer's 49408 ids/);
  assert.throws(() => new TextTokenizer({ dim: 0, tokenizer: clip }), /dim must be a positive integer, got 0/);
  // Without a sub-word tokenizer it still embeds ids.
  const bare = new TextTokenizer({ dim: 4, vocabSize: 10, contextLength: 5 });
  assert.deepEqual([...bare.forward({ ids: ids([1, 3], [1, 2, 3]) }).tokens.shape], [1, 3, 4]);
  assert.throws(() => bare.prepare(['x']), /constructed without a sub-word tokenizer/);
});

// ---------------------------------------------------------------------------------------------------------
// End to end: text tokenizer (trained) -> frozen encoder -> masked mean pooling -> linear head
// ---------------------------------------------------------------------------------------------------------

class TextClassifier extends Module {
  blocks: TransformerBlock[];
  norm: LayerNorm;
  constructor(public tokenizer: TextTokenizer, dim: number, public head: Linear, g: Generator) {
    super();
    this.blocks = Array.from({ length: 2 }, () => new TransformerBlock(dim, 4, { generator: g, eps: 1e-5 }));
    this.norm = new LayerNorm(dim);
    for (const b of this.blocks) b.freeze();
    this.norm.freeze();
  }
  logits(input: TextInput): Tensor {
    const seq: TokenSequence = this.tokenizer.forward(input);
    let x = seq.tokens;
    for (const b of this.blocks) x = b.forward(x, { keyPaddingMask: seq.paddingMask ?? null });
    x = this.norm.forward(x);
    const keep = seq.paddingMask!.logicalNot().cast('float32').unsqueeze(-1); // [B, L, 1]
    return this.head.forward(x.mul(keep).sum(1).div(keep.sum(1)));
  }
}

const SPORTS = ['the striker scored a late goal', 'our team won the final match', 'the coach praised the defenders', 'fans cheered as the ball hit the net', 'the goalkeeper saved a penalty', 'the players trained on the field', 'a referee showed the red card', 'the league table changed after the game'];
const COOKING = ['simmer the sauce with garlic', 'bake the bread in a hot oven', 'chop the onions and fry them', 'season the soup with salt and pepper', 'whisk the eggs with sugar', 'roast the vegetables with olive oil', 'the chef tasted the stew', 'knead the dough and let it rise'];

test('end to end: CLIP-BPE text tokenizer + frozen encoder + linear head separates sports from cooking', async (t) => {
  const g = new Generator(300);
  const rng = new Rng(300);
  const D = 32;
  const tok = new TextTokenizer({ dim: D, tokenizer: SubwordTokenizer.clip({ contextLength: 16 }), generator: g });
  const model = new TextClassifier(tok, D, new Linear(D, 2, { generator: g }), g);
  assert.deepEqual(model.trainableParameters().length, 4, 'only the tokenizer (2) and the head (2) train');
  // Training sentences: two topic phrases joined; held-out: new pairings and orders of the phrases.
  const pick = <T>(a: T[]): T => a[Math.floor(rng.uniform(1, 0, 1)[0] * a.length)];
  const sentence = (topic: number): string => { const src = topic ? COOKING : SPORTS; return `${pick(src)} and ${pick(src)}`; };
  const make = (n: number): { input: TextInput; y: number[] } => {
    const y = Array.from({ length: n }, (_, i) => i % 2);
    return { input: tok.prepare(y.map(sentence)), y };
  };
  const batches = Array.from({ length: 4 }, () => make(12));
  const held = make(30);
  const opt = new AdamW(model.trainableParameters(), { lr: 1e-2, weightDecay: 0 });
  const step = new TrainStep(model, (b: { input: TextInput; y: number[] }) => F.crossEntropy(model.logits(b.input), new Tensor([b.y.length], 'int64', BigInt64Array.from(b.y.map(BigInt)))), opt);
  const losses: number[] = [];
  for (let s = 0; s < 30; s++) losses.push((await step.step(batches[s % batches.length])).loss);
  model.eval();
  const logits = await model.logits(held.input).float32();
  const acc = held.y.filter((y, i) => (logits[2 * i + 1] > logits[2 * i] ? 1 : 0) === y).length / held.y.length;
  const first = (losses[0] + losses[1] + losses[2]) / 3, last = (losses[27] + losses[28] + losses[29]) / 3;
  t.diagnostic(`text: loss ${first.toFixed(3)} -> ${last.toFixed(3)}, held-out accuracy ${(100 * acc).toFixed(0)}% (chance 50%)`);
  assert.ok(last < 0.5 * first, `loss fell: ${first} -> ${last}`);
  assert.ok(acc >= 0.9, `held-out accuracy ${acc}`);
});
