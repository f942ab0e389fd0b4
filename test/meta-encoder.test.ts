// Meta-Transformer shared encoder: configs and parameter counts, checkpoint key names, torch parity (plain,
// per-block positions, padding mask), checkpoint loading (with and without the `blocks.` prefix, from files and
// maps, key-mismatch errors), padding-mask semantics, multimodal joining, and the frozen-encoder training
// contract (frozen weights bit-identical after TrainStep + AdamW while tokenizer and head train).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdamW, F, StateDictError, Tensor, TrainStep, Variable, grad, writeSafetensors } from '../src/index.js';
import { Generator } from '../src/engine/functional/random.js';
import { Module } from '../src/nn/module.js';
import { normal_ } from '../src/nn/init.js';
import {
  META_ENCODER_CONFIGS, MetaTransformerEncoder, ModalityEmbedding, joinSequences, loadEncoderWeights, loadEncoderWeightsSync, metaEncoderParamCount,
  type MetaEncoderConfig,
} from '../src/encoders/meta-transformer.js';
import type { TokenSequence } from '../src/data2seq/types.js';
import { ImageTokenizer } from '../src/data2seq/image.js';
import { ClassificationHead } from '../src/heads/classification.js';
import { assertClose } from './helpers/gradcheck.js';

interface Fixture {
  encoder: {
    config: { dim: number; depth: number; num_heads: number; mlp_ratio: number; eps: number; batch: number; tokens: number };
    state_dict: Record<string, { shape: number[]; data: number[] }>;
    input: number[]; pos: number[]; mask: number[];
    plain: number[]; with_pos: number[]; masked: number[];
  };
}
const fx = JSON.parse(readFileSync(new URL('../../test/fixtures/meta_encoder.json', import.meta.url), 'utf8')) as Fixture;
const fe = fx.encoder;
const fxConfig: MetaEncoderConfig = { dim: fe.config.dim, depth: fe.config.depth, numHeads: fe.config.num_heads, mlpRatio: fe.config.mlp_ratio, eps: fe.config.eps, qkvBias: true };

const BLOCK_KEYS = [
  'norm1.weight', 'norm1.bias', 'attn.qkv.weight', 'attn.qkv.bias', 'attn.proj.weight', 'attn.proj.bias',
  'norm2.weight', 'norm2.bias', 'mlp.fc1.weight', 'mlp.fc1.bias', 'mlp.fc2.weight', 'mlp.fc2.bias',
];

function fixtureMap(prefix = ''): Map<string, { shape: number[]; data: Float32Array }> {
  return new Map(Object.entries(fe.state_dict).map(([k, v]) => [prefix + k, { shape: v.shape, data: Float32Array.from(v.data) }]));
}
const f32 = (a: number[]): Float32Array => Float32Array.from(a);
const snapshot = (m: Module): Map<string, Float32Array> => new Map(m.namedParameters().map(([n, v]) => [n, Float32Array.from(v.value as Float32Array)]));

test('parameter counts: formula = built models (tiny, small, no-qkv-bias), base 85,054,464 and large 302,309,376', () => {
  assert.equal(metaEncoderParamCount('base'), 85_054_464);
  assert.equal(metaEncoderParamCount('large'), 302_309_376);
  assert.deepEqual(
    [META_ENCODER_CONFIGS.base.dim, META_ENCODER_CONFIGS.base.depth, META_ENCODER_CONFIGS.base.numHeads, Math.floor(768 * META_ENCODER_CONFIGS.base.mlpRatio)],
    [768, 12, 12, 3072]);
  assert.deepEqual(
    [META_ENCODER_CONFIGS.large.dim, META_ENCODER_CONFIGS.large.depth, META_ENCODER_CONFIGS.large.numHeads, Math.floor(1024 * META_ENCODER_CONFIGS.large.mlpRatio)],
    [1024, 24, 16, 4096]);
  for (const cfg of ['tiny', 'small'] as const) {
    const enc = new MetaTransformerEncoder(cfg);
    assert.equal(enc.numParams(), metaEncoderParamCount(cfg), cfg);
    assert.equal(enc.length, META_ENCODER_CONFIGS[cfg].depth);
  }
  const noBias: MetaEncoderConfig = { dim: 24, depth: 2, numHeads: 2, mlpRatio: 2.5, eps: 1e-5, qkvBias: false };
  assert.equal(new MetaTransformerEncoder(noBias).numParams(), metaEncoderParamCount(noBias));
  assert.throws(() => new MetaTransformerEncoder({ ...noBias, numHeads: 5 }), /dim \(24\) must be a multiple of numHeads \(5\)/);
  assert.throws(() => new MetaTransformerEncoder('huge' as never), /unknown size 'huge'/);
});

test("state-dict names are the released checkpoint's ('0.attn.qkv.weight' ... no prefix); frozen by default, unfreeze()", () => {
  const enc = new MetaTransformerEncoder('tiny');
  const keys = [...enc.stateDict().keys()];
  assert.deepEqual(keys, Array.from({ length: 4 }, (_, i) => BLOCK_KEYS.map((k) => `${i}.${k}`)).flat());
  const sd = enc.stateDict();
  assert.deepEqual([...sd.get('0.attn.qkv.weight')!.shape], [192, 64]);
  assert.deepEqual([...sd.get('3.mlp.fc1.weight')!.shape], [256, 64]);
  assert.equal(enc.numParams({ trainableOnly: true }), 0, 'frozen by default');
  assert.ok(enc.frozen);
  assert.ok(enc.parameters().every((p) => p.baked), 'frozen weights are baked into compiled graphs');
  enc.unfreeze();
  assert.equal(enc.numParams({ trainableOnly: true }), enc.numParams());
  assert.equal(new MetaTransformerEncoder('tiny', { frozen: false }).frozen, false);
  // LayerNorm eps 1e-5 and exact GELU in every block, no final norm
  for (const b of enc) {
    assert.equal(b.norm1.eps, 1e-5);
    assert.equal(b.norm2.eps, 1e-5);
    assert.equal((b.mlp.act as unknown as { approximate: string }).approximate, 'none');
  }
  assert.equal(enc.namedChildren().length, 4, 'only the blocks: no final norm, no ln_pre');
});

test('matches the torch reference (nn.Sequential of timm Blocks): plain, per-block positions, padding mask', async () => {
  const enc = new MetaTransformerEncoder(fxConfig).eval();
  const r = loadEncoderWeightsSync(enc, fixtureMap());
  assert.deepEqual([r.missing, r.unexpected, r.mismatched, r.strippedPrefix, r.loaded], [[], [], [], '', 24]);
  const { batch: B, tokens: N, dim: D } = fe.config;
  const x = new Tensor([B, N, D], 'float32', f32(fe.input));
  const pos = new Tensor([B, N, D], 'float32', f32(fe.pos));
  const mask = new Tensor([B, N], 'bool', Uint8Array.from(fe.mask));
  assertClose(await enc.forward(x).float32(), fe.plain, 1e-4, 1e-4, 'plain');
  assertClose(await enc.forward({ tokens: x, perBlockPos: pos }).float32(), fe.with_pos, 1e-4, 1e-4, 'per-block positions');
  const masked = enc.encode({ tokens: x, paddingMask: mask });
  assert.equal(masked.paddingMask, mask, 'encode keeps the padding mask');
  assertClose(await masked.tokens.float32(), fe.masked, 1e-4, 1e-4, 'key-padding mask');
});

test("loads safetensors checkpoints saved with and without the 'blocks.' prefix (and an explicit prefix)", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'omni-meta-'));
  try {
    const { batch: B, tokens: N, dim: D } = fe.config;
    const x = new Tensor([B, N, D], 'float32', f32(fe.input));
    for (const [file, prefix, opt] of [['plain.safetensors', '', undefined], ['timm.safetensors', 'blocks.', undefined], ['wrapped.safetensors', 'model.encoder.', 'model.encoder.']] as const) {
      const path = join(dir, file);
      await writeSafetensors(path, fixtureMap(prefix));
      const enc = new MetaTransformerEncoder(fxConfig);
      const r = await loadEncoderWeights(enc, path, opt === undefined ? {} : { prefix: opt });
      assert.equal(r.strippedPrefix, prefix, file);
      assert.equal(r.loaded, 24);
      assert.ok(enc.frozen, 'loading keeps the encoder frozen');
      assertClose(await enc.forward(x).float32(), fe.plain, 1e-4, 1e-4, `${file}: output`);
    }
    // A timm VisionTransformer state dict: blocks load, the rest is reported as unexpected with strict: false.
    const timm = fixtureMap('blocks.');
    timm.set('cls_token', { shape: [1, 1, D], data: new Float32Array(D) });
    timm.set('norm.weight', { shape: [D], data: new Float32Array(D) });
    const enc = new MetaTransformerEncoder(fxConfig);
    await assert.rejects(loadEncoderWeights(enc, timm), (e: unknown) => e instanceof StateDictError && /unexpected keys: cls_token, norm\.weight/.test(e.message));
    const r = await loadEncoderWeights(enc, timm, { strict: false });
    assert.deepEqual(r.unexpected, ['cls_token', 'norm.weight']);
    assert.equal(r.loaded, 24);
    assertClose(await enc.forward(x).float32(), fe.plain, 1e-4, 1e-4, 'timm trunk, strict: false');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('key mismatches: missing, unexpected and mis-shaped keys are all listed, and a strict failure loads nothing', () => {
  const enc = new MetaTransformerEncoder(fxConfig);
  const before = snapshot(enc);
  const sd = fixtureMap();
  sd.delete('1.mlp.fc2.bias');
  sd.set('2.norm1.weight', { shape: [32], data: new Float32Array(32) });
  sd.set('0.attn.qkv.weight', { shape: [96, 16], data: new Float32Array(96 * 16) });
  let err: unknown;
  try { loadEncoderWeightsSync(enc, sd, {}, 'ckpt.safetensors'); } catch (e) { err = e; }
  assert.ok(err instanceof StateDictError, 'a StateDictError');
  const msg = (err as Error).message;
  assert.match(msg, /from 'ckpt\.safetensors'/);
  assert.match(msg, /2-block, D=32 Meta-Transformer encoder keys '0\.norm1\.weight' \.\.\. '1\.mlp\.fc2\.bias'/);
  assert.match(msg, /missing keys: 1\.mlp\.fc2\.bias/);
  assert.match(msg, /unexpected keys: 2\.norm1\.weight/);
  assert.match(msg, /mismatched '0\.attn\.qkv\.weight': checkpoint float32 \[96, 16\] vs model float32 \[96, 32\]/);
  for (const [n, v] of enc.namedParameters()) assert.deepEqual(v.value, before.get(n), `${n} unchanged after a failed strict load`);
  // Non-strict: the matching keys load, the problems are reported.
  const r = loadEncoderWeightsSync(enc, sd, { strict: false });
  assert.deepEqual(r.missing, ['1.mlp.fc2.bias']);
  assert.deepEqual(r.unexpected, ['2.norm1.weight']);
  assert.deepEqual(r.mismatched.map((m) => m.key), ['0.attn.qkv.weight']);
  assert.equal(r.loaded, 22);
  assert.deepEqual(enc.stateDict().get('1.mlp.fc1.bias')!.value, f32(fe.state_dict['1.mlp.fc1.bias']!.data));
  // A base-size checkpoint into a tiny encoder: every key is mis-shaped or unexpected.
  const tiny = new MetaTransformerEncoder('tiny');
  assert.throws(() => loadEncoderWeightsSync(tiny, fixtureMap()), /24 missing, 0 unexpected, 24 mismatched/);
});

test('padding mask: real tokens ignore padded ones; without the mask they do not', async () => {
  const g = new Generator(3);
  const enc = new MetaTransformerEncoder('tiny', { generator: g }).eval();
  for (const p of enc.parameters()) if (p.rank === 2) normal_(p, 0, 0.1, g); // strong mixing, so unmasked effects are large
  const B = 2, N = 6, D = 64;
  const a = g.normalData(B * N * D);
  const b = Float32Array.from(a);
  b.set(g.normalData(2 * D, 0, 3), (N + 4) * D); // sample 1, tokens 4 and 5 replaced
  const mask = new Tensor([B, N], 'bool', Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1]));
  const run = async (x: Float32Array, m: Tensor | null): Promise<Float32Array> => enc.forward({ tokens: new Tensor([B, N, D], 'float32', x), paddingMask: m }).float32();
  const [ma, mb, pa, pb] = [await run(a, mask), await run(b, mask), await run(a, null), await run(b, null)];
  const realRows = (y: Float32Array): number[] => [...y.subarray(0, (N + 4) * D)];
  assertClose(realRows(mb), realRows(ma), 1e-6, 1e-6, 'masked: outputs of real tokens unchanged');
  const diff = realRows(pb).reduce((s, v, i) => s + Math.abs(v - realRows(pa)[i]!), 0);
  assert.ok(diff > 1, `unmasked: real tokens see the changed tokens (diff ${diff})`);
  // The padded sample's real tokens equal those of the same sample truncated to 4 tokens.
  const short = await enc.forward(new Tensor([1, 4, D], 'float32', a.slice(N * D, (N + 4) * D))).float32();
  assertClose(ma.subarray(N * D, (N + 4) * D), short, 2e-5, 2e-5, 'masked = truncated');
  assert.throws(() => enc.forward({ tokens: new Tensor([B, N, D], 'float32', a), paddingMask: new Tensor([B, N - 1], 'bool', new Uint8Array(B * (N - 1))) }), /paddingMask must be bool \[B, N\] = \[2, 6\]/);
  assert.throws(() => enc.forward(new Tensor([B, N, 32], 'float32', new Float32Array(B * N * 32))), /width 32, the encoder expects D = 64/);
});

test('joinSequences: concatenation, combined padding mask and positions, learned modality embedding (trainable)', async () => {
  const g = new Generator(5);
  const D = 8, B = 2;
  const ta = new Tensor([B, 3, D], 'float32', g.normalData(B * 3 * D));
  const tb = new Tensor([B, 2, D], 'float32', g.normalData(B * 2 * D));
  const mb = new Tensor([B, 2], 'bool', Uint8Array.from([0, 1, 0, 0]));
  const pa = new Tensor([B, 3, D], 'float32', g.normalData(B * 3 * D));
  const plain = joinSequences([{ tokens: ta }, { tokens: tb }]);
  assert.deepEqual([...plain.tokens.shape], [B, 5, D]);
  assert.equal(plain.paddingMask, null);
  assert.equal(plain.perBlockPos, null);
  const joined = joinSequences([{ tokens: ta, perBlockPos: pa }, { tokens: tb, paddingMask: mb }]);
  assert.deepEqual(Array.from(await joined.paddingMask!.data() as Uint8Array), [0, 0, 0, 0, 1, 0, 0, 0, 0, 0]);
  const pos = await joined.perBlockPos!.float32();
  const paV = pa.value as Float32Array;
  for (let b = 0; b < B; b++) {
    assert.deepEqual([...pos.subarray(b * 5 * D, b * 5 * D + 3 * D)], [...paV.subarray(b * 3 * D, (b + 1) * 3 * D)]);
    assert.ok(pos.subarray(b * 5 * D + 3 * D, (b + 1) * 5 * D).every((v) => v === 0), 'zeros for sequences without positions');
  }
  const emb = new ModalityEmbedding(3, D, { generator: g });
  const withEmb = joinSequences([{ tokens: ta }, { tokens: tb }], { modalityEmbedding: emb, modalityIds: [2, 0] });
  const [gw] = grad(withEmb.tokens.sum(), [emb.weight]); // traced before the tokens are realized
  const y = await withEmb.tokens.float32();
  const w = emb.weight.value as Float32Array, av = ta.value as Float32Array, bv = tb.value as Float32Array;
  for (let b = 0; b < B; b++) {
    for (let n = 0; n < 5; n++) {
      for (let d = 0; d < D; d++) {
        const raw = n < 3 ? av[(b * 3 + n) * D + d]! : bv[(b * 2 + n - 3) * D + d]!;
        const row = n < 3 ? 2 : 0;
        assertClose([y[(b * 5 + n) * D + d]!], [raw + w[row * D + d]!], 1e-6, 1e-6, `token ${b},${n},${d}`);
      }
    }
  }
  const gv = await gw!.float32();
  // d(sum)/d(row 2) = B·3 per entry, row 0: B·2, row 1 unused: 0
  assert.deepEqual([gv[2 * D], gv[0], gv[D]], [B * 3, B * 2, 0]);
  assert.throws(() => joinSequences([{ tokens: ta }, { tokens: new Tensor([B, 2, 4], 'float32', new Float32Array(B * 8)) }]), /sequence 1 has tokens \[2, 2, 4\]; every sequence must be \[2, N_i, 8\]/);
  assert.throws(() => joinSequences([{ tokens: ta }, { tokens: new Tensor([3, 2, D], 'float32', new Float32Array(3 * 2 * D)) }]), /sequence 1 has tokens \[3, 2, 8\]/);
  assert.throws(() => joinSequences([]), /at least one/);
  assert.throws(() => emb.row(3), /modality index 3 out of range \[0, 3\)/);
});

/** image tokenizer + frozen encoder + head, as one Module for TrainStep. */
class Pipeline extends Module {
  constructor(public tokenizer: ImageTokenizer, public encoder: MetaTransformerEncoder, public head: ClassificationHead) { super(); }
  forward(images: Tensor): Tensor { return this.head.forward(this.encoder.encode(this.tokenizer.forward(images))); }
}

test('frozen encoder: bit-identical after TrainStep + AdamW steps while tokenizer and head change; gradients reach every trainable parameter', async () => {
  const g = new Generator(7);
  const tok = new ImageTokenizer({ dim: 64, patchSize: 4, imageSize: 8, generator: g });
  const model = new Pipeline(tok, new MetaTransformerEncoder('tiny', { generator: g }), new ClassificationHead(64, 3, { pool: 'mean', norm: true, generator: g }));
  const trainable = model.namedTrainableParameters();
  assert.deepEqual(trainable.map(([n]) => n), [
    'tokenizer.cls_token', 'tokenizer.pos_embed', 'tokenizer.patch_embed.proj.weight', 'tokenizer.patch_embed.proj.bias',
    'head.norm.weight', 'head.norm.bias', 'head.head.0.0.weight', 'head.head.0.0.bias',
  ]);
  const images = new Tensor([4, 3, 8, 8], 'float32', g.normalData(4 * 3 * 64));
  const labels = new Tensor([4], 'int64', BigInt64Array.from([0n, 1n, 2n, 1n]));
  // Gradients: nonzero for every trainable parameter.
  const loss = F.crossEntropy(model.forward(images), labels);
  const grads = grad(loss, trainable.map(([, p]) => p));
  await Promise.all(grads.map((t) => t.data()));
  trainable.forEach(([n], i) => {
    const v = grads[i]!.value as Float32Array;
    assert.ok(v.some((x) => x !== 0) && v.every(Number.isFinite), `gradient of ${n} is nonzero and finite`);
  });
  const encBefore = snapshot(model.encoder), restBefore = new Map(trainable.map(([n, p]) => [n, Float32Array.from(p.value as Float32Array)]));
  const opt = new AdamW(model.trainableParameters(), { lr: 1e-2 });
  const step = new TrainStep(model, (b: { x: Tensor; y: Tensor }) => F.crossEntropy(model.forward(b.x), b.y), opt);
  for (let s = 0; s < 3; s++) await step.step({ x: images, y: labels });
  for (const [n, p] of model.encoder.namedParameters()) assert.deepEqual(p.value, encBefore.get(n), `encoder ${n} bit-identical`);
  for (const [n, p] of trainable) assert.notDeepEqual(p.value, restBefore.get(n), `${n} was trained`);
  // Unfrozen ("T" setting): the encoder trains too.
  model.encoder.unfreeze();
  const opt2 = new AdamW(model.trainableParameters(), { lr: 1e-3 });
  const step2 = new TrainStep(model, (b: { x: Tensor; y: Tensor }) => F.crossEntropy(model.forward(b.x), b.y), opt2);
  await step2.step({ x: images, y: labels });
  assert.notDeepEqual(model.encoder.stateDict().get('0.attn.qkv.weight')!.value, encBefore.get('0.attn.qkv.weight'), 'unfrozen encoder weights change');
  assert.ok(model.encoder.parameters().every((p: Variable) => p.requiresGrad));
});
