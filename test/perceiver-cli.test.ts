// The Perceiver IO backbone end to end: `omniformer train --backbone perceiver-io` + eval + predict on generated,
// easily separable image, audio, text and point-cloud data (accuracy well above chance), config.json round trip,
// embed, option errors; and the same through the library API (trainRun / loadRun / predictRun / embedRun),
// including forecasting, which decodes one output token per input time step ('inputs' mode).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Generator } from '../src/engine/functional/random.js';
import { Tensor } from '../src/engine/tensor.js';
import { readNpy, writeNpy } from '../src/io/npy.js';
import { embedRun, loadRun, predictRun, trainRun } from '../src/pipeline/run.js';
import { PerceiverBackbone, PERCEIVER_BACKBONE_DEFAULTS } from '../src/encoders/perceiver/backbone.js';
import { runCli as cli, lastJson } from './support/cli.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
let dir = '';

// A small Perceiver for CPU tests: 16 latents x 64, 2 self-attention layers, tokens of width 32.
const SMALL = ['--backbone', 'perceiver-io', '--latents', '16', '--latent-dim', '64', '--perceiver-depth', '2', '--token-dim', '32', '--perceiver-options', '{"selfHeads": 4}'];
const SMALL_API = { numLatents: 16, latentDim: 64, depth: 2, inputDim: 32, selfHeads: 4 };

/**
 * [C=3, 32, 32] images of stripes 2 px wide: 'horizontal' or 'vertical', noise everywhere. (A bright left vs
 * right half is NOT a fair quick test: both classes have the same mean patch, so it needs position-dependent
 * attention to be learned first; neither backbone gets it in a few epochs.)
 */
function image(g: Generator, cls: number): Float32Array {
  const x = new Float32Array(3 * 32 * 32);
  for (let c = 0; c < 3; c++) for (let i = 0; i < 32; i++) for (let j = 0; j < 32; j++) {
    const bright = cls === 0 ? i % 4 < 2 : j % 4 < 2;
    x[(c * 32 + i) * 32 + j] = (bright ? 0.7 : 0.2) + 0.25 * (g.next() - 0.5);
  }
  return x;
}
/** 0.5 s at 8 kHz: a 300 Hz ('low') or 1500 Hz ('high') tone, random phase and level, plus noise. */
function tone(g: Generator, cls: number): Float32Array {
  const f = cls === 0 ? 300 : 1500, ph = g.next() * 6.28, a = 0.3 + 0.5 * g.next();
  return Float32Array.from({ length: 4000 }, (_, t) => a * Math.sin((2 * Math.PI * f * t) / 8000 + ph) + 0.05 * (g.next() - 0.5));
}
/** 64 points: a unit sphere ('ball') or a rod stretched along x ('rod'), jittered. */
function cloud(g: Generator, cls: number): Float32Array {
  const p = new Float32Array(64 * 3);
  for (let i = 0; i < 64; i++) {
    const u = g.next() * 2 - 1, th = g.next() * 2 * Math.PI, r = Math.sqrt(1 - u * u);
    const v = [r * Math.cos(th), r * Math.sin(th), u];
    const s = cls === 0 ? [1, 1, 1] : [2.5, 0.25, 0.25];
    for (let k = 0; k < 3; k++) p[i * 3 + k] = v[k]! * s[k]! + 0.03 * (g.next() - 0.5);
  }
  return p;
}
const POS = ['good', 'great', 'happy', 'excellent', 'lovely', 'wonderful', 'fine', 'nice'];
const NEG = ['bad', 'awful', 'sad', 'terrible', 'horrible', 'poor', 'ugly', 'worse'];
const FILL = ['the', 'movie', 'was', 'really', 'a', 'day', 'and', 'very', 'it', 'felt'];
function sentence(g: Generator, cls: number): string {
  const words: string[] = [];
  const pick = (a: string[]): string => a[Math.floor(g.next() * a.length)]!;
  for (let i = 0; i < 6; i++) words.push(i % 2 ? pick(cls ? NEG : POS) : pick(FILL));
  return words.join(' ');
}

async function npyFolder(name: string, n: number, shape: number[], make: (g: Generator, cls: number) => Float32Array, classes: string[]): Promise<string> {
  const g = new Generator(40 + name.length);
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  const size = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n * size);
  const labels: string[] = [];
  for (let i = 0; i < n; i++) { const c = i % 2; data.set(make(g, c), i * size); labels.push(classes[c]!); }
  await writeNpy(join(d, 'inputs.npy'), { shape: [n, ...shape], data });
  writeFileSync(join(d, 'labels.json'), JSON.stringify(labels));
  // two fresh samples per class for predict
  for (let c = 0; c < 2; c++) for (let k = 0; k < 2; k++) await writeNpy(join(dir, `${name}-${classes[c]}-${k}.npy`), { shape, data: make(g, c) });
  return d;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'perceiver-cli-'));
  await npyFolder('img', 120, [3, 32, 32], image, ['horizontal', 'vertical']);
  await npyFolder('aud', 120, [4000], tone, ['high', 'low'].reverse());
  await npyFolder('pc', 80, [64, 3], cloud, ['ball', 'rod']);
  const g = new Generator(77);
  const rows = ['text,label'];
  for (let i = 0; i < 160; i++) rows.push(`${sentence(g, i % 2)},${i % 2 ? 'neg' : 'pos'}`);
  writeFileSync(join(dir, 'text.csv'), rows.join('\n') + '\n');
  writeFileSync(join(dir, 'text-new.csv'), `text,label\n${sentence(g, 0)},pos\n${sentence(g, 1)},neg\n`);
});
after(() => { rmSync(dir, { recursive: true, force: true }); });

const results: string[] = [];
after(() => { console.log(`perceiver-io CLI accuracies: ${results.join('; ')}`); });

async function trainEvalPredict(name: string, modality: string, data: string, extra: string[], predictInputs: string[], expected: string[]): Promise<void> {
  const out = join(dir, `run-${name}`);
  const t0 = Date.now();
  const rep = lastJson(await cli(['train', '--modality', modality, '--data', data, ...SMALL, ...extra, '--out', out, '--json']));
  const secs = (Date.now() - t0) / 1000;
  assert.equal(rep.backbone.kind, 'perceiver-io');
  assert.equal(rep.backbone.numLatents, 16);
  assert.deepEqual(rep.encoder, { size: null, file: null, dim: 64, depth: 2, frozen: false });
  assert.equal(rep.trainableParams, rep.totalParams, 'the Perceiver backbone trains');
  const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
  assert.deepEqual(cfg.backbone, { kind: 'perceiver-io', config: { ...PERCEIVER_BACKBONE_DEFAULTS, ...SMALL_API } });
  assert.ok(rep.history[rep.history.length - 1].trainLoss < rep.history[0].trainLoss, 'the training loss went down');
  const ev = lastJson(await cli(['eval', '--run', out, '--data', data, '--json']));
  results.push(`${name}: test ${rep.metrics.test.accuracy.toFixed(3)}, eval (all ${ev.samples}) ${ev.metrics.accuracy.toFixed(3)}, ${secs.toFixed(1)} s`);
  assert.ok(rep.metrics.test.accuracy >= 0.8, `${name}: test accuracy ${rep.metrics.test.accuracy} (chance 0.5)`);
  assert.ok(ev.metrics.accuracy >= 0.8, `${name}: eval accuracy ${ev.metrics.accuracy} (chance 0.5)`);
  if (name === 'image') {
    // --resume compares the stored backbone: other Perceiver options are refused with the differing field named
    const changed = await cli(['train', '--modality', modality, '--data', data, ...SMALL.map((a) => (a === '16' ? '8' : a)), ...extra, '--out', out, '--resume']);
    assert.equal(changed.code, 1);
    assert.match(changed.stderr, /--resume: the options or data differ .*\n.*backbone\.config\.numLatents: 16 vs 8/);
  }
  const p = await cli(['predict', '--run', out, '--input', ...predictInputs, '--json']);
  assert.equal(p.code, 0, p.stderr);
  const preds = p.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(preds.map((q) => q.label), expected, `${name}: predictions of fresh samples`);
}

test('CLI image: train --backbone perceiver-io + eval + predict, accuracy >= 0.8 (chance 0.5)', async () => {
  await trainEvalPredict('image', 'image', join(dir, 'img'), ['--patch-size', '8', '--epochs', '6', '--lr', '2e-3'],
    ['horizontal-0', 'horizontal-1', 'vertical-0', 'vertical-1'].map((s) => join(dir, `img-${s}.npy`)), ['horizontal', 'horizontal', 'vertical', 'vertical']);
});

test('CLI audio: train --backbone perceiver-io + eval + predict, accuracy >= 0.8', async () => {
  await trainEvalPredict('audio', 'audio', join(dir, 'aud'), ['--sample-rate', '8000', '--tokenizer-options', '{"numMelBins": 32, "targetLength": 48}', '--epochs', '8', '--lr', '1e-3'],
    ['low-0', 'low-1', 'high-0', 'high-1'].map((s) => join(dir, `aud-${s}.npy`)), ['low', 'low', 'high', 'high']);
});

test('CLI text: train --backbone perceiver-io + eval + predict, accuracy >= 0.8', async () => {
  await trainEvalPredict('text', 'text', join(dir, 'text.csv'), ['--target', 'label', '--tokenizer-options', '{"contextLength": 16}', '--epochs', '10', '--lr', '2e-3'],
    [join(dir, 'text-new.csv')], ['pos', 'neg']);
});

test('CLI point-cloud: train --backbone perceiver-io + eval + predict, accuracy >= 0.8', async () => {
  await trainEvalPredict('point-cloud', 'point-cloud', join(dir, 'pc'), ['--tokenizer-options', '{"groupSize": 16}', '--epochs', '6', '--lr', '2e-3'],
    ['ball-0', 'ball-1', 'rod-0', 'rod-1'].map((s) => join(dir, `pc-${s}.npy`)), ['ball', 'ball', 'rod', 'rod']);
});

test('CLI embed --backbone perceiver-io: pooled [B, D] and latents [B, N, D]; option errors', async () => {
  const inputs = ['horizontal-0', 'vertical-0', 'vertical-1'].map((s) => join(dir, `img-${s}.npy`));
  const out = join(dir, 'emb.npy');
  const r = lastJson(await cli(['embed', '--modality', 'image', '--input', ...inputs, '--output', out, ...SMALL, '--patch-size', '8', '--json']));
  assert.deepEqual(r.shape, [3, 64]);
  const none = lastJson(await cli(['embed', '--modality', 'image', '--input', ...inputs, '--output', out, ...SMALL, '--patch-size', '8', '--pool', 'none', '--json']));
  assert.deepEqual(none.shape, [3, 16, 64]);
  assert.deepEqual((await readNpy(out)).shape, [3, 16, 64]);
  const bad = [
    [['--backbone', 'perceiver'], /--backbone: unknown backbone 'perceiver' \(valid: meta-transformer, perceiver-io\)/],
    [['--latents', '8'], /Perceiver options \(numLatents\) need --backbone perceiver-io/],
    [['--backbone', 'perceiver-io', '--latent-dim', '30'], /latentDim|dLatents \(30\) must be divisible by numSelfAttentionHeads \(8\)/],
    [['--backbone', 'perceiver-io', '--perceiver-options', '{"latents": 3}'], /unknown option 'latents'/],
    [['--backbone', 'perceiver-io', '--unfreeze'], /--unfreeze: the perceiver-io backbone always trains/],
  ] as const;
  for (const [args, re] of bad) {
    const e = await cli(['train', '--modality', 'image', '--data', join(dir, 'img'), '--out', join(dir, 'never'), ...args]);
    assert.equal(e.code, 1, args.join(' '));
    assert.match(e.stderr, re);
  }
});

test('API: trainRun / loadRun / predictRun / embedRun with backbone perceiver-io; forecasting decodes per input step', async () => {
  const out = join(dir, 'api-img');
  const r = await trainRun({ modality: 'image', data: join(dir, 'img'), out, backbone: 'perceiver-io', perceiver: SMALL_API, patchSize: 8, epochs: 5, lr: 2e-3, progress: { mode: 'silent' } });
  assert.ok(r.model.encoder instanceof PerceiverBackbone);
  assert.ok(r.report.metrics.test!.accuracy! >= 0.8, `API image test accuracy ${r.report.metrics.test!.accuracy}`);
  const keys = [...r.model.stateDict().keys()];
  assert.ok(keys.includes('encoder.perceiver.embeddings.latents'));
  assert.ok(keys.includes('encoder.perceiver.encoder.cross_attention.attention.self.layernorm2.weight'));
  const { model, config } = await loadRun(out);
  assert.equal(config.backbone?.kind, 'perceiver-io');
  // the rebuilt model reproduces the trained one's weights
  const a = r.model.stateDict().get('encoder.perceiver.embeddings.latents')!.value as Float32Array;
  const best = model.stateDict().get('encoder.perceiver.embeddings.latents')!.value as Float32Array;
  assert.equal(a.length, best.length);
  const preds = await predictRun({ run: out, inputs: ['horizontal-0', 'vertical-1'].map((s) => join(dir, `img-${s}.npy`)) });
  assert.deepEqual(preds.map((p) => p.label), ['horizontal', 'vertical']);
  const e = await embedRun({ run: out, inputs: [join(dir, 'img-horizontal-0.npy')], output: join(dir, 'api-emb.npy'), pool: 'mean' });
  assert.deepEqual(e.shape, [1, 64]);

  // forecasting: a noisy sine series; the forecast head reads one token per input step, so the backbone decodes
  // at the inputs ('inputs' mode, chosen automatically) and must beat the persistence baseline's MSE.
  const g = new Generator(5);
  const lines = ['date,v'];
  for (let t = 0; t < 400; t++) lines.push(`2020-01-01 ${String(t % 24).padStart(2, '0')}:00:00,${(Math.sin(t * 0.3) + 0.05 * (g.next() - 0.5)).toFixed(4)}`);
  writeFileSync(join(dir, 'series.csv'), lines.join('\n') + '\n');
  const f = await trainRun({ modality: 'time-series', task: 'forecasting', data: join(dir, 'series.csv'), out: join(dir, 'api-fc'), seqLen: 24, predLen: 6, backbone: 'perceiver-io', perceiver: SMALL_API, epochs: 8, lr: 2e-3, progress: { mode: 'silent' } });
  assert.equal(f.config.backbone?.config.output, 'inputs');
  const mse = f.report.metrics.test!.mse!;
  // baselines on a standardised sine (amplitude √2), 1..6 steps of 0.3 rad ahead: predicting the mean gives MSE 1.0,
  // persistence (repeat the last value) 2·mean_h(1 - cos 0.3h) = 1.13
  assert.ok(mse < 0.2, `forecast test MSE ${mse}`);
  results.push(`API image test ${r.report.metrics.test!.accuracy!.toFixed(3)}; forecasting test MSE ${mse.toFixed(4)}`);
});

test('PerceiverBackbone: shapes in both modes, padding mask respected, perBlockPos added once', async () => {
  const g = new Generator(3);
  const lat = new PerceiverBackbone({ ...SMALL_API }, { generator: g });
  const x = new Tensor([2, 10, 32], 'float32', g.normalData(640, 0, 1));
  const s = lat.encode({ tokens: x });
  assert.deepEqual([...s.tokens.shape], [2, 16, 64]);
  assert.equal(s.paddingMask, null);
  const inp = new PerceiverBackbone({ ...SMALL_API, output: 'inputs' }, { generator: g });
  const mask = new Tensor([2, 10], 'bool', Uint8Array.from({ length: 20 }, (_, i) => (i % 10 >= 8 ? 1 : 0)));
  const o = inp.encode({ tokens: x, paddingMask: mask });
  assert.deepEqual([...o.tokens.shape], [2, 10, 64]);
  assert.equal(o.paddingMask, mask);
  // perBlockPos p is the same as adding p to the tokens
  const p = new Tensor([2, 10, 32], 'float32', g.normalData(640, 0, 1));
  const withPos = await lat.encode({ tokens: x, perBlockPos: p }).tokens.float32();
  const added = await lat.encode({ tokens: x.add(p) }).tokens.float32();
  assert.deepEqual(withPos, added);
  assert.throws(() => lat.encode({ tokens: new Tensor([1, 3, 31], 'float32', new Float32Array(93)) }), /tokens must be float32 \[B, M, 32\]/);
  // default size: 64 latents x 256, 4 layers, tokens 128
  const def = new PerceiverBackbone();
  assert.deepEqual([def.inputDim, def.dim, def.perceiver.encoder.self_attends.length], [128, 256, 4]);
  results.push(`default backbone parameters ${def.numParams()}`);
});
