// Vision tokenizers (image / infrared / X-ray, video, hyperspectral) and the shared sinusoid table: token
// counts and parameter counts from the reference (X-ray 745,730 with its 2-class head; video 1568 tokens;
// hyperspectral 170,512), position-table interpolation against torch's F.interpolate, traced resampling and
// its gradient, channel handling, host-side `prepare` (layouts, normalisation, NaN / size / channel errors),
// and one small end-to-end training per tokenizer with the frozen tiny encoder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { AdamW, F, Tensor, TrainStep, grad } from '../src/index.js';
import { Generator } from '../src/engine/functional/random.js';
import { Module } from '../src/nn/module.js';
import { MetaTransformerEncoder } from '../src/encoders/meta-transformer.js';
import type { Data2Seq } from '../src/data2seq/types.js';
import {
  IMAGENET_MEAN, IMAGENET_STD, ImageTokenizer, infraredTokenizer, interpolatePosEmbed, interpolationMatrix, resampleGridTokens, xrayTokenizer,
} from '../src/data2seq/image.js';
import { VideoTokenizer } from '../src/data2seq/video.js';
import { HyperspectralTokenizer, bandMinMaxNormalize, pixelNeighbourhood } from '../src/data2seq/hyperspectral.js';
import { sinusoidTable, sinusoidTableData } from '../src/data2seq/sinusoid.js';
import { ClassificationHead, type PoolMode } from '../src/heads/index.js';
import { assertClose, gradcheck } from './helpers/gradcheck.js';

interface Fixture {
  interpolate: { dim: number; old: [number, number]; grid: number[]; cases: { mode: 'bicubic' | 'bilinear'; new: [number, number]; out: number[] }[] };
  sinusoid: { n: number; d: number; table: number[] }[];
}
const fx = JSON.parse(readFileSync(new URL('../../test/fixtures/meta_encoder.json', import.meta.url), 'utf8')) as Fixture;
const g = new Generator(21);
const randT = (shape: number[], std = 1): Tensor => new Tensor(shape, 'float32', g.normalData(shape.reduce((a, b) => a * b, 1), 0, std));

// ---------------------------------------------------------------------------------------------- image

test('position-table interpolation matches torch F.interpolate (bicubic and bilinear, up and down, align_corners=False)', async () => {
  const { dim, old, grid, cases } = fx.interpolate;
  const pos = Float32Array.from(grid);
  for (const c of cases) {
    const host = interpolatePosEmbed(pos, old, c.new, dim, { mode: c.mode });
    assertClose(host, c.out, 1e-5, 1e-5, `${c.mode} ${old} -> ${c.new} (host)`);
    const traced = await resampleGridTokens(new Tensor([1, old[0] * old[1], dim], 'float32', pos), old, c.new, { mode: c.mode }).float32();
    assertClose(traced, c.out, 1e-5, 1e-5, `${c.mode} ${old} -> ${c.new} (traced)`);
  }
  // Prefix (CLS) rows are copied unchanged; equal grids are the identity.
  const withCls = Float32Array.from([9, 8, 7, 6, 5, 4, ...grid]);
  const r = interpolatePosEmbed(withCls, old, [5, 7], dim, { prefixTokens: 1, mode: 'bicubic' });
  assert.deepEqual([...r.subarray(0, dim)], [9, 8, 7, 6, 5, 4]);
  assertClose(r.subarray(dim), cases.find((c) => c.mode === 'bicubic' && c.new[0] === 5)!.out, 1e-5, 1e-5, 'grid part after a prefix');
  assert.deepEqual(interpolatePosEmbed(pos, old, old, dim), pos);
  // Rows of an interpolation matrix sum to 1 (constants are preserved).
  for (const mode of ['bicubic', 'bilinear'] as const) {
    const m = interpolationMatrix(7, 3, mode);
    for (let o = 0; o < 3; o++) assertClose([m.subarray(o * 7, o * 7 + 7).reduce((a, b) => a + b, 0)], [1], 1e-12, 0, `${mode} row ${o}`);
  }
  assert.throws(() => interpolatePosEmbed(pos, old, [5, 7], dim + 1), /expected \(0 prefix \+ 3x4 grid\) tokens x 7 = 84/);
  assert.throws(() => interpolationMatrix(4, 3, 'nearest' as never), /unknown mode 'nearest'/);
});

test('traced resampling is differentiable (finite differences), prefix tokens included', async () => {
  await gradcheck('resampleGridTokens bicubic', (p) => resampleGridTokens(p, [3, 2], [4, 5], { prefixTokens: 1 }), [{ shape: [1, 7, 2] }]);
  await gradcheck('resampleGridTokens bilinear down', (p) => resampleGridTokens(p, [4, 4], [3, 2], { mode: 'bilinear' }), [{ shape: [1, 16, 3] }]);
});

test('image tokenizer: 197 tokens at 224/16, parameter counts (X-ray tokenizer + 2-class head = 745,730), other grids', async () => {
  const tok = new ImageTokenizer({ dim: 8, generator: g });
  assert.equal(tok.numTokens(), 197);
  assert.equal(tok.numParams(), 3 * 16 * 16 * 8 + 8 + 8 + 197 * 8);
  const y = tok.forward(randT([1, 3, 224, 224]));
  assert.deepEqual([...y.tokens.shape], [1, 197, 8]);
  assert.equal(y.paddingMask, null);
  // The reference X-ray model trains timm's patch embed, cls, pos, final norm (eps 1e-6) and a 2-class head.
  const xray = xrayTokenizer({ dim: 768, generator: g });
  const xhead = new ClassificationHead(768, 2, { pool: 'cls', norm: { eps: 1e-6 } });
  assert.equal(xray.numParams() + xhead.numParams(), 745_730);
  assert.deepEqual([...xray.patch_embed.proj.weight.shape], [768, 3, 16, 16], 'grey X-rays feed an RGB kernel');
  // Large (patch 14): 336 -> 24x24 = 576 patches (+ CLS)
  const large = new ImageTokenizer({ dim: 4, patchSize: 14, imageSize: 336, classToken: false, generator: g });
  assert.equal(large.numTokens(), 576);
  assert.deepEqual(Object.keys(Object.fromEntries(tok.stateDict())), ['cls_token', 'pos_embed', 'patch_embed.proj.weight', 'patch_embed.proj.bias'], 'timm names');
});

test('image tokenizer: another image size resamples the position table (traced = stored resize; gradient reaches pos_embed)', async () => {
  const tok = new ImageTokenizer({ dim: 6, patchSize: 4, imageSize: 8, generator: g }).eval();
  const img = randT([2, 3, 12, 8]);
  const out = tok.forward(img);
  assert.deepEqual([...out.tokens.shape], [2, 1 + 3 * 2, 6]);
  const [gp] = grad(out.tokens.mul(randT([2, 7, 6])).sum(), [tok.pos_embed!]);
  const traced = await out.tokens.float32();
  assert.ok((await gp!.float32()).some((v) => v !== 0), 'gradient flows through the resampling into the stored table');
  const stored = Float32Array.from(tok.pos_embed!.value as Float32Array);
  tok.resizePositionEmbedding([12, 8]);
  assert.deepEqual([...tok.pos_embed!.shape], [1, 7, 6]);
  assert.deepEqual(tok.imageSize, [12, 8]);
  assertClose(tok.pos_embed!.value as Float32Array, interpolatePosEmbed(stored, [2, 2], [3, 2], 6, { prefixTokens: 1 }), 1e-7, 0, 'stored resize = host interpolation');
  assertClose(await tok.forward(img).tokens.float32(), traced, 1e-5, 1e-5, 'forward after resizing = traced resampling');
});

test('image channels: grey replicated to an RGB kernel (infrared / X-ray), native n-channel kernels, clear channel errors', async () => {
  const ir = infraredTokenizer({ dim: 5, patchSize: 4, imageSize: 8, generator: g }).eval();
  assert.equal(ir.modality, 'infrared');
  const grey = randT([2, 1, 8, 8]);
  const gv = grey.value as Float32Array;
  const rgb = new Tensor([2, 3, 8, 8], 'float32', Float32Array.from({ length: 2 * 3 * 64 }, (_, i) => gv[Math.floor(i / 192) * 64 + (i % 64)]!));
  assertClose(await ir.forward(grey).tokens.float32(), await ir.forward(rgb).tokens.float32(), 1e-6, 1e-6, 'grey = replicated RGB');
  assert.throws(() => ir.forward(randT([1, 2, 8, 8])), /images have 2 channels; this infrared tokenizer expects 1 \(replicated to 3\) or 3/);
  const ms = new ImageTokenizer({ dim: 5, patchSize: 4, imageSize: 8, channels: 4, generator: g });
  assert.deepEqual([...ms.patch_embed.proj.weight.shape], [5, 4, 4, 4]);
  assert.deepEqual([...ms.forward(randT([1, 4, 8, 8])).tokens.shape], [1, 5, 5]);
  const rgbTok = new ImageTokenizer({ dim: 5, patchSize: 4, imageSize: 8, generator: g });
  assert.throws(() => rgbTok.forward(randT([1, 1, 8, 8])), /images have 1 channels; this image tokenizer expects 3/);
  assert.throws(() => rgbTok.forward(randT([1, 3, 10, 8])), /image size 10x8 \(HxW\) is not divisible by the patch size 4x4/);
  assert.throws(() => new ImageTokenizer({ dim: 5, patchSize: 16, imageSize: 100 }), /imageSize 100x100 \(HxW\) is not divisible by the patch size 16x16/);
  assert.throws(() => new ImageTokenizer({ dim: 5, channels: 2, kernelChannels: 3 }), /channels \(2\) must equal kernelChannels \(3\), or be 1/);
  assert.throws(() => rgbTok.forward(randT([3, 8, 8])), /expected float32 images \[B, C, H, W\], got float32 \[3, 8, 8\]/);
});

test('image prepare: CHW and HWC layouts, per-channel normalisation, sizes, NaN / size / channel errors', async () => {
  const chw = new ImageTokenizer({ dim: 4, patchSize: 2, imageSize: 2, scale: 1 / 255, mean: [...IMAGENET_MEAN], std: [...IMAGENET_STD] });
  const hwc = new ImageTokenizer({ dim: 4, patchSize: 2, imageSize: 2, layout: 'hwc', scale: 1 / 255, mean: [...IMAGENET_MEAN], std: [...IMAGENET_STD] });
  const planar = Float32Array.from({ length: 12 }, (_, i) => i * 20); // c = floor(i / 4), pixel = i % 4
  const interleaved = Float32Array.from({ length: 12 }, (_, k) => planar[(k % 3) * 4 + Math.floor(k / 3)]!);
  const a = chw.prepare([planar]), b = hwc.prepare([interleaved]);
  assert.deepEqual([...a.shape], [1, 3, 2, 2]);
  assert.deepEqual(a.value, b.value);
  const expected = Array.from(planar, (v, i) => (v / 255 - IMAGENET_MEAN[Math.floor(i / 4)]!) / IMAGENET_STD[Math.floor(i / 4)]!);
  assertClose(a.value as Float32Array, expected, 1e-6, 1e-6, 'normalised');
  // Any size given explicitly; one size per batch.
  const big = chw.prepare([{ data: new Float32Array(3 * 4 * 6), height: 4, width: 6 }]);
  assert.deepEqual([...big.shape], [1, 3, 4, 6]);
  assert.throws(() => chw.prepare([planar, { data: new Float32Array(3 * 16), height: 4, width: 4 }]), /image 1 is 3x4x4 \(CxHxW\) but image 0 is 3x2x2/);
  const bad = Float32Array.from(planar); bad[5] = NaN;
  assert.throws(() => chw.prepare([planar, bad]), /image 1 has a non-finite value \(NaN\) at index 5 \(channel 1, row 0, column 1\)/);
  assert.throws(() => chw.prepare([new Float32Array(11)]), /image 0 is a Float32Array of 11 values; a bare array must hold channels x height x width = 3x2x2 = 12/);
  assert.throws(() => chw.prepare([{ data: new Float32Array(3 * 3 * 3), height: 3, width: 3 }]), /image size 3x3 \(HxW\) is not divisible by the patch size 2x2/);
  assert.throws(() => chw.prepare([{ data: new Float32Array(4), height: 2, width: 2, channels: 1 }]), /images have 1 channels; this image tokenizer expects 3/);
  assert.throws(() => new ImageTokenizer({ dim: 4, mean: [0.5, 0.5] }), /mean has 2 values; expected 1 or one per channel \(3\)/);
  assert.throws(() => chw.prepare([]), /non-empty array/);
});

// ---------------------------------------------------------------------------------------------- video

test('sinusoid table = VideoMAE get_sinusoid_encoding_table (interleaved sin/cos, odd widths)', () => {
  for (const { n, d, table } of fx.sinusoid) assertClose(sinusoidTableData(n, d), table, 1e-6, 1e-6, `table ${n}x${d}`);
  assert.deepEqual([...sinusoidTable(5, 4).shape], [1, 5, 4]);
  assert.equal(sinusoidTable(5, 4), sinusoidTable(5, 4), 'cached constant');
  assert.throws(() => sinusoidTableData(0, 4), /numPositions must be a positive integer/);
});

test('video tokenizer: [1, 3, 16, 224, 224] -> 1568 tokens = Conv3d tubelets + fixed sinusoid table', async () => {
  const tok = new VideoTokenizer({ dim: 8, generator: g }).eval();
  assert.equal(tok.numTokens(), 1568);
  assert.deepEqual([...tok.patch_embed.proj.weight.shape], [8, 3, 2, 16, 16]);
  assert.equal(tok.numParams(), 8 * 3 * 2 * 16 * 16 + 8, 'the sinusoid table is not a parameter');
  const clip = randT([1, 3, 16, 224, 224]);
  const y = tok.forward(clip).tokens;
  assert.deepEqual([...y.shape], [1, 1568, 8]);
  const noPos = new VideoTokenizer({ dim: 8, positionEmbedding: 'none' });
  noPos.patch_embed.proj.weight.assignSync(tok.patch_embed.proj.weight.value);
  noPos.patch_embed.proj.bias!.assignSync(tok.patch_embed.proj.bias!.value);
  const diff = await y.sub(noPos.forward(clip).tokens).float32();
  assertClose(diff, sinusoidTableData(1568, 8), 2e-5, 1e-5, 'tokens - patch embedding = sinusoid table');
  // Other clip sizes get a table of their own length.
  assert.deepEqual([...tok.forward(randT([2, 3, 4, 32, 48])).tokens.shape], [2, 2 * 2 * 3, 8]);
  assert.throws(() => tok.forward(randT([1, 3, 3, 32, 32])), /3 frames is not a multiple of the tubelet size 2/);
  assert.throws(() => tok.forward(randT([1, 3, 4, 32, 40])), /frame size 32x40 \(HxW\) is not divisible by the patch size 16x16/);
  assert.throws(() => tok.forward(randT([1, 1, 4, 32, 32])), /have 1 channels \(axis 1\); this tokenizer expects 3/);
  assert.throws(() => tok.forward(randT([1, 3, 32, 32])), /expected float32 clips \[B, C, T, H, W\]/);
});

test('video prepare: CTHW and THWC layouts agree, normalisation, NaN and size errors', () => {
  const opts = { dim: 4, patchSize: 2, tubeletSize: 2, numFrames: 2, imageSize: 2, mean: [1, 2, 3], std: [2, 2, 2] };
  const cthw = new VideoTokenizer(opts), thwc = new VideoTokenizer({ ...opts, layout: 'thwc' });
  const planar = Float32Array.from({ length: 24 }, (_, i) => i); // c = floor(i / 8), t = floor(i / 4) % 2, pixel = i % 4
  const inter = Float32Array.from({ length: 24 }, (_, k) => planar[(k % 3) * 8 + Math.floor(k / 3)]!);
  const a = cthw.prepare([planar]), b = thwc.prepare([inter]);
  assert.deepEqual([...a.shape], [1, 3, 2, 2, 2]);
  assert.deepEqual(a.value, b.value);
  assertClose(a.value as Float32Array, Array.from(planar, (v, i) => (v - [1, 2, 3][Math.floor(i / 8)]!) / 2), 1e-7, 0, 'normalised');
  const bad = Float32Array.from(planar); bad[13] = Infinity;
  assert.throws(() => cthw.prepare([bad]), /clip 0 has a non-finite value \(Infinity\) at index 13 \(channel 1, frame 1, row 0, column 1\)/);
  assert.throws(() => cthw.prepare([{ data: new Float32Array(3 * 3 * 4), frames: 3, height: 2, width: 2 }]), /3 frames is not a multiple of the tubelet size 2/);
  assert.throws(() => cthw.prepare([new Float32Array(5)]), /clip 0 is a Float32Array of 5 values/);
});

// ---------------------------------------------------------------------------------------------- hyperspectral

test('hyperspectral tokenizer: Indian Pines 200 bands -> 201 tokens; 156,672 + LayerNorm/Linear(768, 16) head = 170,512 parameters', async () => {
  const tok = new HyperspectralTokenizer({ dim: 768, bands: 200, generator: g }).eval();
  assert.equal(tok.numTokens, 201);
  assert.equal(tok.numParams(), 156_672);
  assert.deepEqual(Object.keys(Object.fromEntries(tok.stateDict())), ['pos_embedding', 'cls_token', 'patch_to_embedding.weight', 'patch_to_embedding.bias']);
  const head = new ClassificationHead(768, 16, { pool: 'cls', norm: true });
  assert.equal(tok.numParams() + head.numParams(), 170_512);
  const x = tok.prepare([g.uniformData(200), g.uniformData(200)]);
  assert.deepEqual([...x.shape], [2, 200, 1]);
  const y = tok.forward(x).tokens;
  assert.deepEqual([...y.shape], [2, 201, 768]);
  // Token 0 is the CLS token + position 0; token b+1 = value·w + bias + position b+1.
  const yv = await y.float32(), xv = x.value as Float32Array;
  const w = tok.patch_to_embedding.weight.value as Float32Array, bias = tok.patch_to_embedding.bias!.value as Float32Array;
  const pos = tok.pos_embedding.value as Float32Array, cls = tok.cls_token!.value as Float32Array;
  assertClose(yv.subarray(0, 768), Array.from(cls, (c, d) => c + pos[d]!), 1e-6, 1e-6, 'cls token');
  const b = 7;
  assertClose(yv.subarray((b + 1) * 768, (b + 2) * 768), Array.from(w, (wd, d) => xv[b]! * wd + bias[d]! + pos[(b + 1) * 768 + d]!), 1e-5, 1e-5, 'band token');
  assert.throws(() => tok.forward(randT([1, 200, 2])), /expected float32 \[B, bands, 1\]/);
  assert.throws(() => tok.prepare([g.uniformData(199)]), /sample 0 has 199 values; expected a spectrum of 200 bands/);
  const nan = g.uniformData(200); nan[3] = NaN;
  assert.throws(() => tok.prepare([nan]), /sample 0 has a non-finite value \(NaN\) at index 3 \(band 3\)/);
});

test('hyperspectral spatial-spectral mode: p x p neighbourhood x band groups per token (circular band neighbours)', async () => {
  const L = 4, p = 3;
  const tok = new HyperspectralTokenizer({ dim: 6, bands: L, patch: p, bandPatch: 3, generator: g });
  assert.equal(tok.tokenInputDim, 27);
  const cube = Float32Array.from({ length: p * p * L }, (_, i) => 100 * Math.floor(i / L) + (i % L)); // pixel q, band b -> 100q + b
  const x = tok.prepare([cube]);
  assert.deepEqual([...x.shape], [1, L, 27]);
  const xv = x.value as Float32Array;
  for (let b = 0; b < L; b++) {
    const want = [-1, 0, 1].flatMap((o) => Array.from({ length: 9 }, (_, q) => 100 * q + (((b + o) % L) + L) % L));
    assert.deepEqual([...xv.subarray(b * 27, (b + 1) * 27)], want, `token of band ${b}`);
  }
  assert.deepEqual([...tok.forward(x).tokens.shape], [1, L + 1, 6]);
  assert.throws(() => new HyperspectralTokenizer({ dim: 6, bands: L, bandPatch: 2 }), /bandPatch must be odd/);
  // Host helpers: symmetric mirroring at the border, per-band min-max.
  const H = 3, W = 4, img = Float32Array.from({ length: H * W * 2 }, (_, i) => i);
  const nb = pixelNeighbourhood(img, { height: H, width: W, bands: 2 }, 0, 0, 3);
  const px = (r: number, c: number): number[] => [img[(r * W + c) * 2]!, img[(r * W + c) * 2 + 1]!];
  assert.deepEqual([...nb], [px(0, 0), px(0, 0), px(0, 1), px(0, 0), px(0, 0), px(0, 1), px(1, 0), px(1, 0), px(1, 1)].flat());
  assert.deepEqual([...bandMinMaxNormalize([1, 10, 3, 10, 5, 10], 2)], [0, 0, 0.5, 0, 1, 0]);
  assert.throws(() => pixelNeighbourhood(img, { height: H, width: W, bands: 2 }, 3, 0, 3), /pixel \(3, 0\) is outside the 3x4 image/);
});

// ---------------------------------------------------------------------------------------------- end to end

class Pipeline<I> extends Module {
  constructor(public tokenizer: Data2Seq<I, unknown>, public encoder: MetaTransformerEncoder, public head: ClassificationHead) { super(); }
  forward(x: I): Tensor { return this.head.forward(this.encoder.encode(this.tokenizer.forward(x))); }
}

interface Task<R> { make(n: number): { raw: R[]; labels: number[] }; classes: number }

/**
 * Train tokenizer + head on top of the frozen tiny encoder: checks that every trainable parameter gets a
 * nonzero gradient, that the encoder is untouched, that the loss goes down and held-out accuracy ends well
 * above chance.
 */
async function endToEnd<R>(name: string, tok: Data2Seq<Tensor, R>, task: Task<R>, opts: { pool: PoolMode; steps: number; lr: number; minAccuracy: number }): Promise<void> {
  const model = new Pipeline(tok, new MetaTransformerEncoder('tiny', { generator: g }), new ClassificationHead(64, task.classes, { pool: opts.pool, norm: true, generator: g }));
  const labelsT = (ys: number[]): Tensor => new Tensor([ys.length], 'int64', BigInt64Array.from(ys.map(BigInt)));
  const first = task.make(16);
  const params = model.namedTrainableParameters();
  assert.ok(params.every(([n]) => !n.startsWith('encoder.')), 'the encoder is frozen');
  const grads = grad(F.crossEntropy(model.forward(tok.prepare(first.raw)), labelsT(first.labels)), params.map(([, p]) => p));
  await Promise.all(grads.map((t) => t.data()));
  params.forEach(([n], i) => assert.ok((grads[i]!.value as Float32Array).some((v) => v !== 0), `${name}: gradient reaches ${n}`));
  model.collectBufferUpdates();
  const enc0 = model.encoder.stateDict().get('0.attn.qkv.weight')!.value;
  const opt = new AdamW(model.trainableParameters(), { lr: opts.lr, weightDecay: 0 });
  const step = new TrainStep(model, (b: { x: Tensor; y: Tensor }) => F.crossEntropy(model.forward(b.x), b.y), opt);
  const losses: number[] = [];
  for (let s = 0; s < opts.steps; s++) {
    const { raw, labels } = task.make(32);
    losses.push((await step.step({ x: tok.prepare(raw), y: labelsT(labels) })).loss);
  }
  assert.equal(model.encoder.stateDict().get('0.attn.qkv.weight')!.value, enc0, `${name}: frozen encoder weights untouched`);
  const head5 = losses.slice(0, 5).reduce((a, b) => a + b) / 5, tail5 = losses.slice(-5).reduce((a, b) => a + b) / 5;
  assert.ok(tail5 < 0.75 * head5, `${name}: loss went down (${head5.toFixed(3)} -> ${tail5.toFixed(3)})`);
  model.eval();
  const test = task.make(96);
  const logits = await model.forward(tok.prepare(test.raw)).float32();
  const K = task.classes;
  let correct = 0;
  test.labels.forEach((y, i) => {
    const row = [...logits.subarray(i * K, (i + 1) * K)];
    if (row.indexOf(Math.max(...row)) === y) correct++;
  });
  const acc = correct / test.labels.length;
  assert.ok(acc >= opts.minAccuracy, `${name}: held-out accuracy ${acc.toFixed(3)} (chance ${(1 / K).toFixed(3)})`);
}

test('end to end (image): which quadrant is bright, 8x8 images, patch 4, frozen tiny encoder', async () => {
  const tok = new ImageTokenizer({ dim: 64, patchSize: 4, imageSize: 8, generator: g });
  const task: Task<Float32Array> = {
    classes: 4,
    make(n) {
      const raw: Float32Array[] = [], labels: number[] = [];
      for (let i = 0; i < n; i++) {
        const c = Math.floor(g.next() * 4);
        const img = g.normalData(3 * 64, 0, 0.3);
        const r0 = c < 2 ? 0 : 4, c0 = c % 2 ? 4 : 0;
        for (let ch = 0; ch < 3; ch++) for (let r = r0; r < r0 + 4; r++) for (let q = c0; q < c0 + 4; q++) img[ch * 64 + r * 8 + q] += 1.5;
        raw.push(img); labels.push(c);
      }
      return { raw, labels };
    },
  };
  await endToEnd('image', tok, task, { pool: 'concat', steps: 60, lr: 3e-3, minAccuracy: 0.6 });
});

test('end to end (video): direction of a moving bar (4 classes), 4x8x8 clips, 2x4x4 tubelets', async () => {
  const tok = new VideoTokenizer({ dim: 64, patchSize: 4, tubeletSize: 2, numFrames: 4, imageSize: 8, generator: g });
  const task: Task<Float32Array> = {
    classes: 4, // 0 right, 1 left, 2 down, 3 up
    make(n) {
      const raw: Float32Array[] = [], labels: number[] = [];
      for (let i = 0; i < n; i++) {
        const c = Math.floor(g.next() * 4);
        const v = g.normalData(3 * 4 * 64, 0, 0.3);
        const start = Math.floor(g.next() * 5);
        for (let t = 0; t < 4; t++) {
          const p = c % 2 === 0 ? start + t : start + 3 - t;
          for (let ch = 0; ch < 3; ch++) for (let r = 0; r < 8; r++) for (let q = 0; q < 8; q++) {
            if (c < 2 ? q === p || q === p + 1 : r === p || r === p + 1) v[((ch * 4 + t) * 8 + r) * 8 + q] += 1.5;
          }
        }
        raw.push(v); labels.push(c);
      }
      return { raw, labels };
    },
  };
  await endToEnd('video', tok, task, { pool: 'max', steps: 30, lr: 3e-3, minAccuracy: 0.7 });
});

test('end to end (hyperspectral): spectral signature (absorption-peak position, 3 classes), 16 bands', async () => {
  const tok = new HyperspectralTokenizer({ dim: 64, bands: 16, generator: g });
  const centers = [3, 8, 13];
  const task: Task<Float32Array> = {
    classes: 3,
    make(n) {
      const raw: Float32Array[] = [], labels: number[] = [];
      for (let i = 0; i < n; i++) {
        const c = Math.floor(g.next() * 3);
        const s = g.normalData(16, 0.5, 0.15);
        for (let b = 0; b < 16; b++) s[b]! += Math.exp(-((b - centers[c]!) ** 2) / (2 * 1.5 ** 2));
        raw.push(s); labels.push(c);
      }
      return { raw, labels };
    },
  };
  await endToEnd('hyperspectral', tok, task, { pool: 'concat', steps: 60, lr: 3e-3, minAccuracy: 0.6 });
});

for (const [name, make] of [['infrared', infraredTokenizer], ['xray', xrayTokenizer]] as const) {
  test(`end to end (${name}): grey 1-channel images on the replicated 3-channel kernel, bright-quadrant task`, async () => {
    const tok = make({ dim: 64, patchSize: 4, imageSize: 8, generator: g });
    const task: Task<Float32Array> = {
      classes: 4,
      make(n) {
        const raw: Float32Array[] = [], labels: number[] = [];
        for (let i = 0; i < n; i++) {
          const c = Math.floor(g.next() * 4);
          const img = g.normalData(64, 0, 0.3);
          const r0 = c < 2 ? 0 : 4, c0 = c % 2 ? 4 : 0;
          for (let r = r0; r < r0 + 4; r++) for (let q = c0; q < c0 + 4; q++) img[r * 8 + q] += 1.5;
          raw.push(img); labels.push(c);
        }
        return { raw, labels };
      },
    };
    await endToEnd(name, tok, task, { pool: 'concat', steps: 60, lr: 3e-3, minAccuracy: 0.6 });
  });
}
