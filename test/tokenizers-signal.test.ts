// Audio, time-series / IMU and tabular tokenizers: shapes, parameter counts, hand-computed values, gradients,
// SpecAugment, bad inputs, the CSV parser, and for each tokenizer a short training run with a frozen 'tiny'
// Meta-Transformer encoder and a linear head.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AudioTokenizer, SPEECH_COMMANDS_STATS } from '../src/data2seq/audio.js';
import { TimeSeriesTokenizer, imuTokenizer, timeFeatures, TIME_FEATURE_DIMS, type TimeSeriesBatch, type TimeSeriesSample } from '../src/data2seq/time-series.js';
import { TabularTokenizer, fitTabularSchema, type TabularBatch, type TabularRow } from '../src/data2seq/tabular.js';
import { sinusoidTableData } from '../src/data2seq/sinusoid.js';
import type { Data2Seq } from '../src/data2seq/types.js';
import { CsvError, csvRecords, parseCsv } from '../src/data/csv.js';
import { MetaTransformerEncoder } from '../src/encoders/meta-transformer.js';
import { grad } from '../src/engine/autodiff.js';
import { crossEntropy } from '../src/engine/functional/losses.js';
import { Generator } from '../src/engine/functional/random.js';
import { Tensor } from '../src/engine/tensor.js';
import { Linear } from '../src/nn/linear.js';
import { Module } from '../src/nn/module.js';
import { AdamW } from '../src/optim/adamw.js';
import { TrainStep } from '../src/train/step.js';
import { gradcheck } from './helpers/gradcheck.js';

const SR = 16000;
function tone(freq: number, seconds: number, g: Generator, amp = 0.5): Float32Array {
  const phase = g.next() * 2 * Math.PI;
  const noise = g.normalData(Math.round(seconds * SR), 0, 0.01);
  return Float32Array.from(noise, (n, i) => amp * Math.sin((2 * Math.PI * freq * i) / SR + phase) + n);
}

/** Every trainable parameter of `tok` gets a finite, non-zero gradient from a random projection of its tokens. */
async function assertGradientsReachAll<I>(tok: Data2Seq<I, unknown>, input: I, seed = 1): Promise<void> {
  const { tokens } = tok.forward(input);
  const R = new Tensor(tokens.shape, 'float32', new Generator(seed).normalData(tokens.size));
  const params = tok.namedTrainableParameters();
  assert.ok(params.length > 0);
  const gs = grad(tokens.mul(R).sum(), params.map(([, p]) => p));
  for (const [i, g] of gs.entries()) {
    const v = await g.float32();
    const name = params[i]![0];
    assert.deepEqual(g.shape, params[i]![1].shape, `${name}: gradient shape`);
    assert.ok(v.every(Number.isFinite), `${name}: finite gradient`);
    assert.ok(v.some((x) => x !== 0), `${name}: non-zero gradient`);
  }
}

/** Tokenizer -> frozen encoder -> mean or max pool over tokens -> linear head. */
class Classifier<I> extends Module {
  tokenizer: Data2Seq<I, unknown>;
  encoder: MetaTransformerEncoder;
  head: Linear;
  readonly pool: 'mean' | 'max';
  constructor(tokenizer: Data2Seq<I, unknown>, classes: number, g: Generator, pool: 'mean' | 'max' = 'mean') {
    super();
    this.tokenizer = tokenizer;
    this.encoder = new MetaTransformerEncoder('tiny', { generator: g }); // frozen
    this.head = new Linear(this.encoder.dim, classes, { generator: g });
    this.pool = pool;
  }
  forward(input: I): Tensor {
    const h = this.encoder.forward(this.tokenizer.forward(input));
    return this.head.forward(this.pool === 'mean' ? h.mean(1) : h.max(1));
  }
}

/** Full-batch training; returns [first loss, last loss, held-out accuracy]. */
async function trainAndEvaluate<I>(model: Classifier<I>, train: { x: I; y: Tensor }, heldOut: { x: I; y: Tensor }, steps: number, lr: number): Promise<[number, number, number]> {
  assert.ok(model.encoder.frozen);
  const opt = new AdamW(model.trainableParameters(), { lr, weightDecay: 0 });
  const trainer = new TrainStep(model, (b: { x: I; y: Tensor }) => crossEntropy(model.forward(b.x), b.y), opt);
  model.train();
  let first = NaN, last = NaN;
  for (let s = 0; s < steps; s++) {
    const r = await trainer.step(train);
    if (s === 0) first = r.loss;
    last = r.loss;
  }
  model.eval();
  const logits = await model.forward(heldOut.x).float32();
  const y = await heldOut.y.toArray();
  const C = logits.length / y.length;
  let correct = 0;
  y.forEach((label, i) => {
    const row = logits.subarray(i * C, (i + 1) * C);
    if (row.indexOf(Math.max(...row)) === label) correct++;
  });
  return [first, last, correct / y.length];
}

const labels = (ys: number[]): Tensor => new Tensor([ys.length], 'int64', BigInt64Array.from(ys, (v) => BigInt(v)));

// ---------------------------------------------------------------------------------------------------
// Audio
// ---------------------------------------------------------------------------------------------------

test('audio: token counts and parameter counts (AST default and the released 400-token geometry)', async () => {
  const ast = new AudioTokenizer({ dim: 768 });
  assert.deepEqual([ast.numMelBins, ast.targetLength, ast.grid], [128, 224, [12, 21]]);
  assert.equal(ast.numTokens, 252);
  assert.equal(ast.numParams(), 768 * 16 * 16 + 768 + 252 * 768);
  const rel = AudioTokenizer.released(768);
  assert.equal(rel.numTokens, 400); // spec §6.5: audio 400 tokens
  assert.equal(rel.numParams(), 768 * 32 * 32 + 768 + 400 * 768); // 1,094,400
  assert.deepEqual(rel.patch_embed.proj.weight.shape, [768, 1, 32, 32]);
  assert.deepEqual(ast.namedParameters().map(([n]) => n), ['pos_embed', 'patch_embed.proj.weight', 'patch_embed.proj.bias']);
  // positions: trunc-normal(0.02)
  const pos = ast.pos_embed.value as Float32Array;
  const std = Math.sqrt(pos.reduce((s, v) => s + v * v, 0) / pos.length);
  assert.ok(Math.abs(std - 0.02) < 0.001, `pos_embed std ${std}`);
  assert.deepEqual([SPEECH_COMMANDS_STATS.mean, SPEECH_COMMANDS_STATS.std], [-6.845978, 5.5654526]);

  const small = new AudioTokenizer({ dim: 8, numMelBins: 64, targetLength: 40, generator: new Generator(1) });
  const x = small.prepare([tone(440, 0.3, new Generator(2)), { samples: tone(880, 0.5, new Generator(3)), sampleRate: SR }]);
  assert.deepEqual(x.shape, [2, 40, 64]);
  const { tokens, paddingMask } = small.eval().forward(x);
  assert.deepEqual(tokens.shape, [2, small.numTokens, 8]);
  assert.equal(small.numTokens, 5 * 3);
  assert.equal(paddingMask, null);
});

test('audio: patch tokens are Conv2d over [B, 1, F, T] in frequency-major order plus positions', async () => {
  const tok = new AudioTokenizer({ dim: 3, numMelBins: 8, targetLength: 6, patchSize: [4, 3], stride: [2, 3], freqMask: 0, timeMask: 0, generator: new Generator(7) });
  assert.deepEqual(tok.grid, [3, 2]);
  const g = new Generator(9);
  const xv = g.normalData(2 * 6 * 8);
  const out = await tok.forward(new Tensor([2, 6, 8], 'float32', xv)).tokens.float32();
  const W = tok.patch_embed.proj.weight.value as Float32Array, bias = tok.patch_embed.proj.bias!.value as Float32Array, pos = tok.pos_embed.value as Float32Array;
  for (let b = 0; b < 2; b++) {
    for (let fi = 0; fi < 3; fi++) {
      for (let ti = 0; ti < 2; ti++) {
        const n = fi * 2 + ti;
        for (let d = 0; d < 3; d++) {
          let s = bias[d]!;
          for (let kf = 0; kf < 4; kf++) for (let kt = 0; kt < 3; kt++) s += W[(d * 4 + kf) * 3 + kt]! * xv[(b * 6 + ti * 3 + kt) * 8 + fi * 2 + kf]!;
          s += pos[n * 3 + d]!;
          assert.ok(Math.abs(out[(b * 6 + n) * 3 + d]! - s) < 1e-4, `b${b} n${n} d${d}`);
        }
      }
    }
  }
});

test('audio: SpecAugment masks apply in training only, are reproducible by seed and match torchaudio draws', async () => {
  const mk = (seed: number): [AudioTokenizer, Generator] => {
    const g = new Generator(seed);
    return [new AudioTokenizer({ dim: 4, numMelBins: 32, targetLength: 24, patchSize: 8, stride: 8, freqMask: 10, timeMask: 8, generator: g }), g];
  };
  const xv = new Generator(4).normalData(3 * 24 * 32);
  const x = new Tensor([3, 24, 32], 'float32', xv);
  const [a, ga] = mk(5), [b] = mk(5);
  // eval: no masking, deterministic
  const e1 = await a.eval().forward(x).tokens.float32(), e2 = await a.forward(x).tokens.float32();
  assert.deepEqual(e1, e2);
  // training: same seed -> same masks; the training output equals the eval output on the masked input
  a.train(); b.train();
  const state = ga.getState();
  const ta = await a.forward(x).tokens.float32();
  const tb = await b.forward(x).tokens.float32();
  assert.deepEqual(ta, tb, 'same seed, same masks');
  const replay = new Generator(0);
  replay.setState(state);
  const keep = a.drawSpecAugmentMask(3, replay);
  const masked = Float32Array.from(xv, (v, i) => (keep[i] ? v : a.maskValue));
  const ref = await a.eval().forward(new Tensor([3, 24, 32], 'float32', masked)).tokens.float32();
  for (let i = 0; i < ta.length; i++) assert.ok(Math.abs(ta[i]! - ref[i]!) < 1e-5);
  assert.ok(ta.some((v, i) => Math.abs(v - e1[i]!) > 1e-4), 'training output differs from eval');
  // a second training forward draws new masks
  a.train();
  const ta2 = await a.forward(x).tokens.float32();
  assert.ok(ta2.some((v, i) => v !== ta[i]));
  // mask structure: one contiguous frequency band (width < 10) and one time band (width < 8) per clip
  const g = new Generator(11);
  let nonEmpty = 0;
  for (let trial = 0; trial < 20; trial++) {
    const k = a.drawSpecAugmentMask(1, g);
    const fMasked = [...Array(32).keys()].filter((f) => [...Array(24).keys()].every((t) => k[t * 32 + f] === 0));
    const tMasked = [...Array(24).keys()].filter((t) => [...Array(32).keys()].every((f) => k[t * 32 + f] === 0));
    assert.ok(fMasked.length < 10 && tMasked.length < 8);
    for (const band of [fMasked, tMasked]) if (band.length) assert.equal(band[band.length - 1]! - band[0]!, band.length - 1, 'contiguous');
    for (let i = 0; i < k.length; i++) if (k[i] === 0) assert.ok(fMasked.includes(i % 32) || tMasked.includes(Math.floor(i / 32)));
    if (fMasked.length && tMasked.length) nonEmpty++;
  }
  assert.ok(nonEmpty > 10);
  assert.ok(Math.abs(a.maskValue - 6.845978 / (2 * 5.5654526)) < 1e-9, 'masked entries = normalised zero fbank');
});

test('audio: gradients reach every tokenizer parameter (with SpecAugment on)', async () => {
  const tok = new AudioTokenizer({ dim: 6, numMelBins: 32, targetLength: 30, freqMask: 4, timeMask: 4, generator: new Generator(2) });
  await assertGradientsReachAll(tok.train(), tok.prepare([tone(500, 0.35, new Generator(1)), tone(2000, 0.35, new Generator(2))]));
});

test('audio: clear errors for empty, silent, NaN, wrong-rate, too-short and mis-shaped input', () => {
  const tok = new AudioTokenizer({ dim: 4, numMelBins: 32, targetLength: 20 });
  const ok = tone(300, 0.2, new Generator(1));
  assert.throws(() => tok.prepare([]), /non-empty array/);
  assert.throws(() => tok.prepare([ok, new Float32Array(0)]), /clip 1 is empty \(0 samples\)/);
  assert.throws(() => tok.prepare([new Float32Array(4000)]), /clip 0 is silent: all 4000 samples are zero/);
  const nan = Float32Array.from(ok); nan[17] = NaN;
  assert.throws(() => tok.prepare([nan]), /clip 0 has a NaN sample \(NaN\) at index 17/);
  assert.throws(() => tok.prepare([{ samples: ok, sampleRate: 44100 }]), /clip 0 has sample rate 44100 Hz but this tokenizer is configured for 16000 Hz; resample/);
  assert.throws(() => tok.prepare([ok.subarray(0, 300)]), /300 samples, shorter than one 25 ms frame \(400 samples/);
  assert.throws(() => tok.prepare(['x' as never]), /clip 0 must be/);
  assert.throws(() => tok.forward(new Tensor([1, 20, 31], 'float32', new Float32Array(620))), /must be \[B, 20, 32\]/);
  assert.throws(() => new AudioTokenizer({ dim: 4, numMelBins: 8 }), /patchSize \[16, 16\] does not fit/);
  assert.throws(() => new AudioTokenizer({ dim: 4, freqMask: -1 }), /freqMask must be a non-negative integer/);
});

test('audio end to end: tones of 3 frequencies -> 3 classes through a frozen tiny encoder', async () => {
  const g = new Generator(21);
  const tok = new AudioTokenizer({ dim: 64, numMelBins: 64, targetLength: 32, freqMask: 6, timeMask: 6, generator: g });
  const freqs = [400, 1200, 3600];
  const make = (n: number, gen: Generator): { x: Tensor; y: Tensor } => {
    const ys = Array.from({ length: n }, (_, i) => i % 3);
    const clips = ys.map((c) => tone(freqs[c]! * (0.95 + 0.1 * gen.next()), 0.25 + 0.05 * gen.next(), gen, 0.2 + 0.6 * gen.next()));
    return { x: tok.prepare(clips), y: labels(ys) };
  };
  const model = new Classifier(tok, 3, g);
  const [first, last, acc] = await trainAndEvaluate(model, make(30, new Generator(1)), make(30, new Generator(2)), 30, 3e-3);
  assert.ok(last < 0.5 * first, `loss ${first} -> ${last}`);
  assert.ok(acc >= 0.8, `held-out accuracy ${acc} (chance 0.33)`);
});

// ---------------------------------------------------------------------------------------------------
// Time series / IMU
// ---------------------------------------------------------------------------------------------------

test('time series: parameter counts (ETTh1: 7 channels, D 768, freq h = 19,200) and init', () => {
  const ett = new TimeSeriesTokenizer({ dim: 768, channels: 7, generator: new Generator(1) });
  assert.equal(ett.numParams(), 19200); // 7·768·3 conv + 4·768 timeF
  assert.deepEqual(ett.namedParameters().map(([n, p]) => [n, p.shape]), [['value_embedding.tokenConv.weight', [768, 7, 3]], ['temporal_embedding.embed.weight', [768, 4]]]);
  assert.equal(new TimeSeriesTokenizer({ dim: 768, channels: 8 }).numParams(), 21504); // Exchange
  assert.equal(new TimeSeriesTokenizer({ dim: 768, channels: 21, freq: 't' }).numParams(), 21 * 768 * 3 + 5 * 768);
  const imu = imuTokenizer({ dim: 768 });
  assert.deepEqual([imu.modality, imu.channels, imu.numParams()], ['imu', 6, 6 * 768 * 3]);
  for (const [f, d] of Object.entries({ h: 4, t: 5, s: 6, m: 1, a: 1, w: 2, d: 3, b: 3 })) assert.equal(TIME_FEATURE_DIMS[f as keyof typeof TIME_FEATURE_DIMS], d);
  // kaiming-normal(fan_in = 7·3, leaky_relu a=0): std sqrt(2 / 21)
  const w = ett.value_embedding.namedParameters()[0]![1].value as Float32Array;
  const std = Math.sqrt(w.reduce((s, v) => s + v * v, 0) / w.length);
  assert.ok(Math.abs(std / Math.sqrt(2 / 21) - 1) < 0.03, `conv std ${std}`);
  const patch = new TimeSeriesTokenizer({ dim: 768, channels: 7, mode: 'patch', patchLen: 16, patchStride: 8 });
  assert.equal(patch.numParams(), 16 * 768);
  assert.equal(patch.numPatches(96), 12); // (96 + 8 - 16) / 8 + 1
  assert.equal(patch.numVars, 7);
});

test('time series: step tokens = circular conv (hand computed) + sinusoid + timeF linear', async () => {
  const B = 2, L = 5, C = 3, D = 4;
  const tok = new TimeSeriesTokenizer({ dim: D, channels: C, freq: 'h', generator: new Generator(3) }).eval();
  const g = new Generator(8);
  const xv = g.normalData(B * L * C), mv = g.uniformData(B * L * 4, -0.5, 0.5);
  const out = await tok.forward({ x: new Tensor([B, L, C], 'float32', xv), marks: new Tensor([B, L, 4], 'float32', mv) }).tokens.float32();
  const W = tok.value_embedding.namedParameters()[0]![1].value as Float32Array; // [D, C, 3]
  const T = tok.temporal_embedding!.embed.weight.value as Float32Array; // [D, 4]
  const pe = sinusoidTableData(L, D);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < L; t++) {
      for (let d = 0; d < D; d++) {
        let s = 0;
        for (let c = 0; c < C; c++) for (let k = 0; k < 3; k++) s += W[(d * C + c) * 3 + k]! * xv[(b * L + ((t + k - 1 + L) % L)) * C + c]!;
        for (let j = 0; j < 4; j++) s += T[d * 4 + j]! * mv[(b * L + t) * 4 + j]!;
        s += pe[t * D + d]!;
        assert.ok(Math.abs(out[(b * L + t) * D + d]! - s) < 1e-5, `b${b} t${t} d${d}: ${out[(b * L + t) * D + d]} vs ${s}`);
      }
    }
  }
  // without marks the temporal term is absent (as TSLib)
  const noMarks = await tok.forward({ x: new Tensor([B, L, C], 'float32', xv) }).tokens.float32();
  let s0 = pe[0]!;
  for (let c = 0; c < C; c++) for (let k = 0; k < 3; k++) s0 += W[c * 3 + k]! * xv[((k - 1 + L) % L) * C + c]!;
  assert.ok(Math.abs(noMarks[0]! - s0) < 1e-5);
  // dropout 0.1 in training mode only
  tok.train();
  const dropped = await tok.forward({ x: new Tensor([B, L, C], 'float32', xv) }).tokens.float32();
  const zeros = dropped.filter((v) => v === 0).length;
  assert.ok(zeros > 0 && zeros < dropped.length / 3);
});

test('time series: PatchTST patches (replication pad, unfold, linear, positions), independent and mixed', async () => {
  const B = 2, L = 10, C = 2, D = 3, P = 4, S = 3;
  const g = new Generator(5);
  const xv = g.normalData(B * L * C);
  const x = new Tensor([B, L, C], 'float32', xv);
  const N = Math.floor((L + S - P) / S) + 1; // 4
  const xpad = (b: number, c: number, t: number): number => xv[(b * L + Math.min(t, L - 1)) * C + c]!;
  const pe = sinusoidTableData(N, D);
  const ind = new TimeSeriesTokenizer({ dim: D, channels: C, mode: 'patch', patchLen: P, patchStride: S, dropout: 0, generator: new Generator(1) });
  assert.equal(ind.numPatches(L), N);
  const tokI = ind.forward(x).tokens;
  assert.deepEqual(tokI.shape, [B * C, N, D]);
  const oi = await tokI.float32();
  const Wi = (ind.value_embedding as Linear).weight.value as Float32Array; // [D, P]
  for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) for (let n = 0; n < N; n++) for (let d = 0; d < D; d++) {
    let s = pe[n * D + d]!;
    for (let p = 0; p < P; p++) s += Wi[d * P + p]! * xpad(b, c, n * S + p);
    assert.ok(Math.abs(oi[((b * C + c) * N + n) * D + d]! - s) < 1e-5);
  }
  const mix = new TimeSeriesTokenizer({ dim: D, channels: C, mode: 'patch', patchLen: P, patchStride: S, channelMode: 'mixed', dropout: 0, generator: new Generator(1) });
  const tokM = mix.forward(x).tokens;
  assert.deepEqual(tokM.shape, [B, N, D]);
  const om = await tokM.float32();
  const Wm = (mix.value_embedding as Linear).weight.value as Float32Array; // [D, P·C]
  for (let b = 0; b < B; b++) for (let n = 0; n < N; n++) for (let d = 0; d < D; d++) {
    let s = pe[n * D + d]!;
    for (let p = 0; p < P; p++) for (let c = 0; c < C; c++) s += Wm[d * P * C + p * C + c]! * xpad(b, c, n * S + p);
    assert.ok(Math.abs(om[(b * N + n) * D + d]! - s) < 1e-5);
  }
  assert.throws(() => ind.numPatches(0), /shorter than one patch/);
});

test('time series: gradients reach every parameter; finite-difference checks through circular conv and patch unfold', async () => {
  const step = new TimeSeriesTokenizer({ dim: 8, channels: 3, freq: 't', generator: new Generator(2) });
  const ts = Array.from({ length: 12 }, (_, i) => `2021-03-0${1 + (i % 3)} 10:${String(i * 4).padStart(2, '0')}:00`);
  const batch = step.prepare([{ values: Array.from({ length: 12 }, (_, t) => [t, -t, 0.5 * t]), timestamps: ts }, { values: Array.from({ length: 12 }, () => [1, 2, 3]), timestamps: ts }]);
  assert.deepEqual(batch.marks!.shape, [2, 12, 5]);
  await assertGradientsReachAll(step.train(), batch);
  const patch = new TimeSeriesTokenizer({ dim: 8, channels: 3, mode: 'patch', patchLen: 4, patchStride: 2 });
  await assertGradientsReachAll(patch.train(), batch.x);
  const mixed = imuTokenizer({ dim: 8, mode: 'patch', patchLen: 5, patchStride: 5, channelMode: 'mixed' });
  await assertGradientsReachAll(mixed.train(), mixed.prepare([Array.from({ length: 20 }, (_, t) => [t, 1, 2, 3, 4, Math.sin(t)])]));
  // input gradients (eval: no dropout)
  step.eval(); patch.eval();
  await gradcheck('circular conv tokens', (x) => step.forward({ x }).tokens, [{ shape: [2, 6, 3] }]);
  await gradcheck('patch tokens', (x) => patch.forward(x).tokens, [{ shape: [2, 9, 3] }]);
});

test('time series: TSLib time features (values in [-0.5, 0.5]) and input checks', () => {
  const dates = ['2016-07-01 00:00:00', '2016-12-31 23:59:59', '2021-01-03 12:30:00', '2018-12-31 06:00:00', '2020-02-29 18:45:30'];
  // hour, minute, second, weekday (Mon 0), day, day of year, ISO week, month (from Python's datetime)
  const cal = [[0, 0, 0, 4, 1, 183, 26, 7], [23, 59, 59, 5, 31, 366, 52, 12], [12, 30, 0, 6, 3, 3, 53, 1], [6, 0, 0, 0, 31, 365, 1, 12], [18, 45, 30, 5, 29, 60, 9, 2]];
  const expect = (f: string, r: number[]): number[] => {
    const [h, mi, s, wd, d, doy, wk, mo] = r as [number, number, number, number, number, number, number, number];
    const all: Record<string, number> = { s: s / 59 - 0.5, t: mi / 59 - 0.5, h: h / 23 - 0.5, dow: wd / 6 - 0.5, dom: (d - 1) / 30 - 0.5, doy: (doy - 1) / 365 - 0.5, woy: (wk - 1) / 52 - 0.5, m: (mo - 1) / 11 - 0.5 };
    const cols: Record<string, string[]> = { s: ['s', 't', 'h', 'dow', 'dom', 'doy'], t: ['t', 'h', 'dow', 'dom', 'doy'], h: ['h', 'dow', 'dom', 'doy'], d: ['dow', 'dom', 'doy'], b: ['dow', 'dom', 'doy'], w: ['dom', 'woy'], m: ['m'] };
    return cols[f]!.map((c) => all[c]!);
  };
  for (const f of ['s', 't', 'h', 'd', 'b', 'w', 'm'] as const) {
    const r = timeFeatures(dates, f);
    assert.deepEqual([r.length, r.dim], [5, TIME_FEATURE_DIMS[f]]);
    dates.forEach((_, i) => {
      const row = [...r.data.subarray(i * r.dim, (i + 1) * r.dim)];
      const exp = expect(f, cal[i]!);
      row.forEach((v, j) => {
        assert.ok(Math.abs(v - exp[j]!) < 1e-6, `${f} ${dates[i]} col ${j}: ${v} vs ${exp[j]}`);
        assert.ok(v >= -0.5 && v <= 0.5);
      });
    });
  }
  // Date objects and epoch milliseconds are read in UTC
  const utc = timeFeatures([new Date(Date.UTC(2016, 6, 1, 0)), Date.UTC(2016, 6, 1, 0)], 'h');
  assert.deepEqual([...utc.data.subarray(0, 4)], [...utc.data.subarray(4, 8)]);
  assert.deepEqual([...utc.data.subarray(0, 4)], [...timeFeatures([dates[0]!], 'h').data]);
  assert.throws(() => timeFeatures(dates, 'a'), /no time features for yearly data/);
  assert.throws(() => timeFeatures(['2021-02-30'], 'd'), /'2021-02-30' is not a valid date/);
  assert.throws(() => timeFeatures(['yesterday'], 'd'), /is not 'YYYY-MM-DD/);
  assert.throws(() => timeFeatures(dates, 'q' as never), /freq must be one of/);

  const tok = new TimeSeriesTokenizer({ dim: 4, channels: 2 });
  assert.throws(() => tok.prepare([[[1, 2], [3, 4]], [[1, 2]]]), /series 1 has length 1 but series 0 has 2/);
  assert.throws(() => tok.prepare([[[1, 2], [3]]]), /series 0, step 1 has 1 values; expected 2 channels/);
  assert.throws(() => tok.prepare([[[1, NaN]]]), /series 0 has a non-finite value \(NaN\) at step 0, channel 1/);
  assert.throws(() => tok.prepare([{ values: Float32Array.of(1, 2, 3) }]), /not a multiple of 2 channels/);
  assert.throws(() => tok.prepare([{ values: [[1, 2]], timestamps: ['2020-01-01'] }, { values: [[1, 2]] }]), /every series or none/);
  assert.throws(() => tok.prepare([{ values: [[1, 2], [3, 4]], timestamps: ['2020-01-01'] }]), /1 timestamps for 2 steps/);
  assert.throws(() => imuTokenizer({ dim: 4 }).prepare([{ values: [[1, 2, 3, 4, 5, 6]], timestamps: ['2020-01-01'] }]), /no time-feature embedding/);
  assert.throws(() => tok.forward({ x: new Tensor([1, 3, 5], 'float32', new Float32Array(15)) }), /x must be float32 \[B, L, 2\]/);
  assert.throws(() => tok.forward({ x: new Tensor([1, 3, 2], 'float32', new Float32Array(6)), marks: new Tensor([1, 3, 5], 'float32', new Float32Array(15)) }), /marks must be float32 \[1, 3, 4\]/);
  assert.throws(() => new TimeSeriesTokenizer({ dim: 4, channels: 2, mode: 'patch', embed: 'timeF' }), /patch mode has no time-feature embedding/);
  const prepared = tok.prepare([{ values: Float32Array.of(1, 2, 3, 4), marks: [[0, 0, 0, 0], [0.1, 0.2, 0.3, 0.4]] }]);
  assert.deepEqual(prepared.x.shape, [1, 2, 2]);
  assert.deepEqual([...(prepared.marks!.value as Float32Array)].map((v) => +v.toFixed(6)), [0, 0, 0, 0, 0.1, 0.2, 0.3, 0.4]);
});

test('time series end to end: sine vs square vs sawtooth through a frozen tiny encoder', async () => {
  const g = new Generator(31);
  const L = 32;
  const tok = new TimeSeriesTokenizer({ dim: 64, channels: 2, freq: 'h', generator: g });
  const wave = (kind: number, ph: number): number => {
    const u = ph - Math.floor(ph);
    if (kind === 0) return Math.sin(2 * Math.PI * u);
    if (kind === 1) return u < 0.5 ? 1 : -1;
    return 2 * u - 1;
  };
  const start = Date.UTC(2020, 0, 1);
  const make = (n: number, gen: Generator): { x: TimeSeriesBatch; y: Tensor } => {
    const ys = Array.from({ length: n }, (_, i) => i % 3);
    const samples: TimeSeriesSample[] = ys.map((k) => {
      const cycles = 2 + 2 * gen.next(), phase = gen.next(), amp = 0.5 + gen.next(), offset = gen.next() - 0.5;
      const noise = gen.normalData(2 * L, 0, 0.05);
      return {
        values: Array.from({ length: L }, (_, t) => [offset + amp * wave(k, phase + (cycles * t) / L) + noise[2 * t]!, noise[2 * t + 1]!]),
        timestamps: Array.from({ length: L }, (_, t) => start + (t + Math.floor(gen.next() * 1000)) * 3600000),
      };
    });
    return { x: tok.prepare(samples), y: labels(ys) };
  };
  // max pooling: the classes differ in local shape (jumps, ramps), which a near-linear frozen encoder
  // followed by a mean over time would average away
  const model = new Classifier(tok, 3, g, 'max');
  const [first, last, acc] = await trainAndEvaluate(model, make(30, new Generator(1)), make(30, new Generator(2)), 40, 3e-3);
  assert.ok(last < 0.5 * first, `loss ${first} -> ${last}`);
  assert.ok(acc >= 0.75, `held-out accuracy ${acc} (chance 0.33)`);
});

// ---------------------------------------------------------------------------------------------------
// Tabular
// ---------------------------------------------------------------------------------------------------

function tabularRows(n: number, g: Generator): { color: string; size: number | null; city: string; count: number; label: string }[] {
  const colors = ['red', 'green', 'blue', 'yellow'];
  return Array.from({ length: n }, () => {
    const color = colors[Math.floor(g.next() * 4)]!;
    const size = g.normalData(1)[0]!;
    const label = size + (color === 'red' || color === 'blue' ? 1 : -1) > 0 ? 'yes' : 'no';
    return { color, size, city: `c${Math.floor(g.next() * 5)}`, count: Math.floor(g.next() * 7), label };
  });
}

test('tabular: schema inference (object dtype or few distinct values -> categorical), vocabularies, statistics', () => {
  const rows = tabularRows(300, new Generator(1));
  const s = fitTabularSchema(rows, { target: 'label' });
  assert.deepEqual(s.categorical.map((c) => c.name), ['color', 'city', 'count']); // count: integers with 7 distinct values
  assert.deepEqual(s.numeric.map((c) => c.name), ['size']);
  assert.deepEqual(s.categorical[0]!.vocab, ['blue', 'green', 'red', 'yellow']);
  assert.deepEqual(s.categorical[2]!.vocab, ['0', '1', '2', '3', '4', '5', '6']);
  const sizes = rows.map((r) => r.size!);
  const mean = sizes.reduce((a, b) => a + b, 0) / sizes.length;
  assert.ok(Math.abs(s.numeric[0]!.mean - mean) < 1e-12);
  assert.ok(Math.abs(s.numeric[0]!.std - Math.sqrt(sizes.reduce((a, b) => a + (b - mean) ** 2, 0) / sizes.length)) < 1e-12);
  assert.deepEqual(s.target, { name: 'label', kind: 'classification', classes: ['no', 'yes'] });
  // forced types and thresholds
  const forced = fitTabularSchema(rows, { target: 'label', numeric: ['count'], categorical: ['size'], drop: ['city'] });
  assert.deepEqual([forced.categorical.map((c) => c.name), forced.numeric.map((c) => c.name)], [['color', 'size'], ['count']]);
  assert.deepEqual(fitTabularSchema(rows, { target: 'label', maxCategoricalUnique: 5 }).numeric.map((c) => c.name), ['size', 'count']);
  // regression target inferred from non-integer numbers
  assert.equal(fitTabularSchema(rows, { target: 'size' }).target!.kind, 'regression');
  assert.throws(() => fitTabularSchema(rows, { target: 'nope' }), /target column 'nope' is not in the data/);
  assert.throws(() => fitTabularSchema(rows, { numeric: ['color'] }), new RegExp(`numeric column 'color' has a non-numeric value "${rows[0]!.color}" in row 0`));
  assert.throws(() => fitTabularSchema(rows, { categorical: ['size'], numeric: ['size'] }), /both categorical and numeric/);
  assert.throws(() => fitTabularSchema([['a', 1]]), /no header was given/);
  assert.throws(() => fitTabularSchema(rows.map((r) => ({ ...r, label: r.size && r.size > 2 ? null : r.label })), { target: 'label' }), /target 'label' is missing in row/);
});

test('tabular: unknown and missing values map to index 0; numeric tokens = z·w + b + missing·m; CLS first', async () => {
  const train = tabularRows(300, new Generator(2));
  const tok = TabularTokenizer.fit(train, { dim: 5, target: 'label', drop: ['city', 'count'], generator: new Generator(3) });
  assert.deepEqual([tok.numCategorical, tok.numNumeric, tok.numTokens], [1, 1, 3]);
  assert.deepEqual(tok.tokenColumns, ['color', 'size']);
  assert.equal(tok.numParams(), 5 + 5 * 5 + 3 * 5); // CLS + (4 colours + unknown) rows + w, b, missing
  const rows: TabularRow[] = [
    { color: 'green', size: 1.5 },
    { color: 'purple', size: null }, // unseen colour, missing size
    { color: '', size: 'NaN' }, // missing both
    { color: ' red ', size: '-0.25' }, // strings are trimmed and parsed
    { size: 3 }, // absent key = missing
  ];
  const batch = tok.prepare(rows as TabularRow[]);
  assert.deepEqual(await batch.categorical!.toArray(), [2, 0, 0, 3, 0]);
  const { mean, std } = tok.schema.numeric[0]!;
  const z = await batch.numeric!.float32(), miss = await batch.numericMissing!.toArray();
  assert.deepEqual(miss, [0, 1, 1, 0, 0]);
  [1.5, 0, 0, -0.25, 3].forEach((v, i) => assert.ok(Math.abs(z[i]! - (miss[i] ? 0 : (v - mean) / std)) < 1e-6));
  const out = await tok.forward(batch).tokens.float32();
  const E = tok.cat_embed!.weight.value as Float32Array, w = tok.num_weight!.value as Float32Array, b = tok.num_bias!.value as Float32Array, m = tok.num_missing!.value as Float32Array, cls = tok.cls_token!.value as Float32Array;
  const idx = [2, 0, 0, 3, 0];
  for (let r = 0; r < 5; r++) for (let d = 0; d < 5; d++) {
    assert.ok(Math.abs(out[(r * 3) * 5 + d]! - cls[d]!) < 1e-7);
    assert.ok(Math.abs(out[(r * 3 + 1) * 5 + d]! - E[idx[r]! * 5 + d]!) < 1e-7);
    assert.ok(Math.abs(out[(r * 3 + 2) * 5 + d]! - (z[r]! * w[d]! + b[d]! + miss[r]! * m[d]!)) < 1e-6);
  }
  // targets
  assert.deepEqual(await tok.encodeTargets([{ label: 'no' }, { label: 'yes' }]).toArray(), [0, 1]);
  assert.throws(() => tok.encodeTargets([{ label: 'maybe' }]), /"maybe" is not a known class/);
  assert.throws(() => tok.prepare([{ color: 'red', size: 'big' }]), /row 0, numeric column 'size': "big" is not a number/);
  assert.throws(() => tok.prepare([['red', 1]]), /no header was given/);
  assert.throws(() => tok.forward({ categorical: null, numeric: batch.numeric, numericMissing: batch.numericMissing }), /categorical must be int64 \[B, 1\]/);
});

test('tabular: per-column tables are disjoint (two columns with the same value get different embeddings)', async () => {
  const rows = Array.from({ length: 20 }, (_, i) => ({ a: `v${i % 3}`, b: `v${i % 2}` }));
  const tok = TabularTokenizer.fit(rows, { dim: 4, classToken: false, generator: new Generator(1) });
  assert.deepEqual(tok.offsets, [0, 4]);
  const out = await tok.forward(tok.prepare([{ a: 'v1', b: 'v1' }])).tokens.float32();
  const E = tok.cat_embed!.weight.value as Float32Array;
  assert.deepEqual([...out.subarray(0, 4)], [...E.subarray(2 * 4, 3 * 4)]); // a: row 0 + index 2
  assert.deepEqual([...out.subarray(4, 8)], [...E.subarray((4 + 2) * 4, (4 + 3) * 4)]); // b: row 4 + index 2
});

test('tabular: CSV rows through the header; gradients reach every parameter', async () => {
  const csv = 'color,size,label\nred,1.0,yes\n"green",,no\nblue,"-2.5",no\n' + Array.from({ length: 250 }, (_, i) => `${['red', 'green'][i % 2]},${(i * 0.37) % 5},${i % 3 ? 'yes' : 'no'}`).join('\n');
  const table = parseCsv(csv);
  const tok = TabularTokenizer.fit(table.rows, { dim: 6, target: 'label', header: table.header, generator: new Generator(4) });
  assert.deepEqual([tok.schema.categorical.map((c) => c.name), tok.schema.numeric.map((c) => c.name)], [['color'], ['size']]);
  const batch = tok.prepare(table.rows.slice(0, 4));
  assert.deepEqual(await batch.categorical!.toArray(), [3, 2, 1, 3]);
  assert.deepEqual(await batch.numericMissing!.toArray(), [0, 1, 0, 0]);
  assert.deepEqual(await tok.encodeTargets(table.rows.slice(0, 3)).toArray(), [1, 0, 0]);
  // object rows from the same CSV give the same batch
  const viaObjects = tok.prepare(csvRecords(table).slice(0, 4));
  assert.deepEqual(await viaObjects.numeric!.toArray(), await batch.numeric!.toArray());
  await assertGradientsReachAll(tok, batch);
});

test('csv: quotes, escaped quotes, embedded newlines, CRLF, and errors with line numbers', () => {
  const t = parseCsv('\ufeffname,note,n\r\n"Smith, J","said ""hi""\nthen left",3\r\n\r\nx,,4\n');
  assert.deepEqual(t.header, ['name', 'note', 'n']);
  assert.deepEqual(t.rows, [['Smith, J', 'said "hi"\nthen left', '3'], ['x', '', '4']]);
  assert.deepEqual(t.lines, [2, 5]);
  assert.deepEqual(csvRecords(t)[1], { name: 'x', note: '', n: '4' });
  assert.deepEqual(parseCsv('a;b\n1;2', { delimiter: ';', header: false }), { header: ['column0', 'column1'], rows: [['a', 'b'], ['1', '2']], lines: [1, 2] });
  assert.deepEqual(parseCsv('a,b\n 1 , 2 ', { trim: true }).rows, [['1', '2']]);
  const err = (text: string, re: RegExp): void => assert.throws(() => parseCsv(text, { source: 'data.csv' }), (e: unknown) => e instanceof CsvError && re.test(e.message), String(re));
  err('a,b\n1,2\n3\n', /^data\.csv:3: row has 1 fields, expected 2/);
  err('a,b\n1,"2\n3,4\n', /^data\.csv:2: unterminated quoted field/);
  err('a,b\n1,"2"x\n', /^data\.csv:2: unexpected character "x" after a closing quote/);
  err('a,b\n1,2"3\n', /^data\.csv:2: stray quote/);
  err('a,a\n1,2\n', /^data\.csv:1: duplicate header 'a'/);
  err('a,\n1,2\n', /^data\.csv:1: header column 2 is empty/);
  err('', /empty file/);
});

test('tabular end to end: a rule on two columns (colour and size) through a frozen tiny encoder', async () => {
  const g = new Generator(41);
  const train = tabularRows(240, new Generator(5));
  const test_ = tabularRows(100, new Generator(6));
  // a few missing sizes and an unseen colour in the held-out set
  test_[0]!.size = null; test_[1]!.color = 'violet';
  const tok = TabularTokenizer.fit(train, { dim: 64, target: 'label', generator: g });
  const model = new Classifier<TabularBatch>(tok, 2, g);
  const data = (rows: typeof train): { x: TabularBatch; y: Tensor } => ({ x: tok.prepare(rows), y: tok.encodeTargets(rows) });
  const [first, last, acc] = await trainAndEvaluate(model, data(train), data(test_), 30, 5e-3);
  assert.ok(last < 0.6 * first, `loss ${first} -> ${last}`);
  assert.ok(acc >= 0.8, `held-out accuracy ${acc} (chance 0.5)`);
});


test('IMU end to end: still vs walking vs jumping (6-axis accelerometer + gyroscope) through a frozen tiny encoder', async () => {
  const g = new Generator(41);
  const L = 32;
  const tok = imuTokenizer({ dim: 64, generator: g });
  const make = (n: number, gen: Generator): { x: TimeSeriesBatch; y: Tensor } => {
    const ys = Array.from({ length: n }, (_, i) => i % 3);
    const samples: TimeSeriesSample[] = ys.map((k) => {
      const noise = gen.normalData(6 * L, 0, 0.1), phase = gen.next(), rate = 3 + gen.next() * 2;
      return {
        values: Array.from({ length: L }, (_, t) => Array.from({ length: 6 }, (_, c) => {
          const u = phase + (rate * t) / L;
          const walk = k === 1 ? Math.sin(2 * Math.PI * (u + c / 6)) : 0;
          const jump = k === 2 && (Math.floor(u * 2) % 4 === 0) ? (c === 2 ? 3 : 1) : 0;
          return walk + jump + noise[6 * t + c]!;
        })),
      };
    });
    return { x: tok.prepare(samples), y: labels(ys) };
  };
  const model = new Classifier(tok, 3, g, 'max');
  const [first, last, acc] = await trainAndEvaluate(model, make(30, new Generator(1)), make(30, new Generator(2)), 40, 3e-3);
  assert.ok(last < 0.5 * first, `loss ${first} -> ${last}`);
  assert.ok(acc >= 0.75, `held-out accuracy ${acc} (chance 0.33)`);
});
