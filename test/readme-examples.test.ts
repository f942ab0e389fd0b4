// The README's code, run as written (so the documentation cannot drift from the API).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, Variable, grad, F, Linear, AdamW, TrainStep, cosineWithWarmup } from '../src/index.js';

test('README: a first model', async () => {
  const x = new Tensor([4, 3], 'float32', Float32Array.from({ length: 12 }, (_, i) => i / 12));
  const w = new Variable(new Float32Array(3 * 2).fill(0.1), [3, 2]);
  const loss = x.matmul(w).gelu().mean();
  const [gw] = grad(loss, [w]);
  const value = await loss.item();
  const g = await gw!.toArray();
  assert.ok(value > 0 && value < 1);
  assert.equal(g.length, 6);
  assert.ok(g.every((v) => v > 0));
});

test('README: training with TrainStep', async () => {
  F.manualSeed(0);
  const x = F.randn([32, 16]);
  const y = new Tensor([32], 'int64', BigInt64Array.from({ length: 32 }, (_, i) => BigInt(i % 3)));
  const model = new Linear(16, 3);
  const opt = new AdamW(model.parameters(), { lr: 1e-3, weightDecay: 0.05 });
  const step = new TrainStep(model, (b: { x: Tensor; y: Tensor }) => F.crossEntropy(model.forward(b.x), b.y), opt,
    { clipGradNorm: 1, lrSchedule: cosineWithWarmup({ baseLr: 1e-3, warmupSteps: 10, totalSteps: 1000 }) });
  const first = (await step.step({ x, y })).loss;
  let last = first;
  for (let i = 0; i < 30; i++) last = (await step.step({ x, y })).loss;
  assert.ok(last < first, `loss ${first} -> ${last}`);
});

test('README: Meta-Transformer in a few lines (tiny encoder, same code)', async () => {
  const { MetaTransformerEncoder, ImageTokenizer, TextTokenizer, ClassificationHead, joinSequences } = await import('../src/index.js');
  const encoder = new MetaTransformerEncoder('tiny');
  const D = encoder.config.dim;
  const image = new ImageTokenizer({ dim: D });
  const text = new TextTokenizer({ dim: D });
  const pixels = new Float32Array(3 * 224 * 224).fill(0.5);
  const seq = joinSequences([image.forward(image.prepare([pixels])), text.forward(text.prepare(['a photo of a cat']))]);
  const features = encoder.forward(seq);
  assert.deepEqual(features.shape, [1, 197 + 77, D]);
  const logits = new ClassificationHead(D, 10, { pool: 'cls' }).forward(features);
  assert.deepEqual(logits.shape, [1, 10]);
  assert.ok((await logits.float32()).every(Number.isFinite));
});
