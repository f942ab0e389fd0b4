import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { F, ShapeError, Tensor, Variable, grad, realize } from '../src/index.js';
import { gradcheck, assertClose } from './helpers/gradcheck.js';

const first = (r: { output: Tensor }): Tensor => r.output;

test('layer norm gradients with and without affine match finite differences', async () => {
  await gradcheck('layerNorm affine', (x, w, b) => F.layerNorm(x, [3, 4], w, b), [{ shape: [2, 3, 4] }, { shape: [3, 4] }, { shape: [3, 4] }]);
  await gradcheck('layerNorm no affine', (x) => F.layerNorm(x, 5), [{ shape: [3, 5] }]);
  // only 4 normalised elements: the curvature is high, so a smaller finite-difference step
  await gradcheck('layerNorm weight only', (x, w) => F.layerNorm(x, [4], w, null, 1e-3), [{ shape: [2, 2, 4] }, { shape: [4] }], { eps: 3e-3 });
  await gradcheck('rmsNorm', (x, w) => F.rmsNorm(x, 6, w), [{ shape: [2, 3, 6] }, { shape: [6] }]);
});

test('batch norm gradients (train and eval) match finite differences', async () => {
  const rm = new Tensor([3], 'float32', Float32Array.from([0.1, -0.2, 0.3]));
  const rv = new Tensor([3], 'float32', Float32Array.from([0.5, 1.5, 1]));
  await gradcheck('batchNorm train 4-D', (x, w, b) => first(F.batchNorm(x, rm, rv, w, b, { training: true })), [{ shape: [4, 3, 2, 3] }, { shape: [3] }, { shape: [3] }]);
  await gradcheck('batchNorm train 2-D no affine', (x) => first(F.batchNorm(x, null, null, null, null, { training: true })), [{ shape: [6, 3] }]);
  // the new running statistics are differentiable too (mean and unbiased variance of the batch)
  await gradcheck('batchNorm running var', (x) => F.batchNorm(x, rm, rv, null, null, { training: true, momentum: 0.3 }).runningVar!, [{ shape: [4, 3, 2] }]);
  await gradcheck('batchNorm eval', (x, w, b, m, v) => first(F.batchNorm(x, m, v, w, b)), [{ shape: [2, 3, 4] }, { shape: [3] }, { shape: [3] }, { shape: [3] }, { shape: [3], low: 0.5, high: 2 }]);
});

test('group and instance norm gradients match finite differences', async () => {
  await gradcheck('groupNorm', (x, w, b) => F.groupNorm(x, 2, w, b), [{ shape: [2, 4, 3, 2] }, { shape: [4] }, { shape: [4] }]);
  await gradcheck('groupNorm no affine 1-D', (x) => F.groupNorm(x, 3, null, null, 1e-3), [{ shape: [2, 6, 5] }]);
  await gradcheck('instanceNorm', (x, w, b) => first(F.instanceNorm(x, null, null, w, b)), [{ shape: [2, 3, 4, 2] }, { shape: [3] }, { shape: [3] }]);
});

test('normalize gradients match finite differences (and stay finite at zero)', async () => {
  await gradcheck('normalize p2 dim1', (x) => F.normalize(x), [{ shape: [3, 4, 2] }]);
  await gradcheck('normalize p1 dim -1', (x) => F.normalize(x, 1, -1), [{ shape: [3, 4], low: 0.2, high: 1 }]);
  await gradcheck('normalize p3 dim 0', (x) => F.normalize(x, 3, 0), [{ shape: [3, 4] }]);
  const z = new Variable(new Float32Array(4), [2, 2]);
  const y = F.normalize(z, 2, 1);
  const [g] = grad(y.mul(new Tensor([2, 2], 'float32', Float32Array.from([1, 2, 3, 4]))).sum(), [z]);
  await realize([y, g!]);
  assert.deepEqual(Array.from(y.value as Float32Array), [0, 0, 0, 0]);
  // x / eps near zero: the gradient is 1/eps * R (as torch), finite
  assertClose(g!.value as Float32Array, [1e12, 2e12, 3e12, 4e12], 0, 1e-5, 'normalize(0) grad');
});

test('batch norm: eval output uses the running statistics (closed form)', async () => {
  const x = new Tensor([2, 2, 1], 'float32', Float32Array.from([1, 2, 3, 4]));
  const rm = new Tensor([2], 'float32', Float32Array.from([1, -1]));
  const rv = new Tensor([2], 'float32', Float32Array.from([4, 0.25]));
  const w = new Tensor([2], 'float32', Float32Array.from([2, 1]));
  const b = new Tensor([2], 'float32', Float32Array.from([0, 1]));
  const r = F.batchNorm(x, rm, rv, w, b, { eps: 0 });
  assert.equal(r.runningMean, undefined);
  assertClose(await r.output.toArray(), [0, (2 + 1) / 0.5 + 1, 2, (4 + 1) / 0.5 + 1], 1e-6);
});

test('normalisation argument errors name the function and the shapes', () => {
  const t = (shape: number[]): Tensor => new Tensor(shape, 'float32', new Float32Array(shape.reduce((a, b) => a * b, 1)));
  assert.throws(() => F.layerNorm(t([2, 3, 4]), [3, 5]), (e: Error) => e instanceof ShapeError && /layerNorm: normalizedShape \[3, 5\] does not match the trailing axes of input \[2, 3, 4\]/.test(e.message));
  assert.throws(() => F.layerNorm(t([2, 4]), 4, t([5])), /layerNorm: weight has shape \[5\], expected \[4\]/);
  assert.throws(() => F.batchNorm(t([2, 3, 4]), t([4]), t([3])), /batchNorm: runningMean has shape \[4\], expected \[3\]/);
  assert.throws(() => F.batchNorm(t([2, 3]), null, null), /batchNorm: running statistics are required in eval mode/);
  assert.throws(() => F.batchNorm(t([1, 3]), null, null, null, null, { training: true }), /batchNorm: expected more than 1 value per channel when training, got input \[1, 3\]/);
  assert.throws(() => F.groupNorm(t([2, 6, 4]), 4), /groupNorm: 6 channels of input \[2, 6, 4\] cannot be split into 4 groups/);
  assert.throws(() => F.groupNorm(t([2, 6, 4]), 3, t([3])), /groupNorm: weight has shape \[3\], expected \[6\]/);
  assert.throws(() => F.normalize(t([2, 3]), 2, 2), /normalize: dim 2 out of range for input \[2, 3\]/);
});

// ---- torch fixtures (tools/fixtures/conv_norm.py) ----

interface Enc { shape: number[]; data: number[] }
interface FixtureCase {
  name: string; kind: string; params: Record<string, unknown>; inputs: Record<string, Enc>; R: number[];
  output: Enc; grads: Record<string, Enc>; extra?: Record<string, Enc>;
}
const fixtures = (JSON.parse(readFileSync(new URL('../../test/fixtures/conv_norm.json', import.meta.url), 'utf8')) as { cases: FixtureCase[] }).cases;

type Result = { output: Tensor; runningMean?: Tensor | undefined; runningVar?: Tensor | undefined };
const n = (v: unknown): number => v as number;
const CALLS: Record<string, (i: Record<string, Tensor>, p: Record<string, unknown>) => Result> = {
  layerNorm: (i, p) => ({ output: F.layerNorm(i.x!, p.normalizedShape as number[], i.weight, i.bias, n(p.eps)) }),
  rmsNorm: (i, p) => ({ output: F.rmsNorm(i.x!, n(p.normalizedShape), i.weight, n(p.eps)) }),
  batchNorm: (i, p) => F.batchNorm(i.x!, i.runningMean, i.runningVar, i.weight, i.bias, p),
  groupNorm: (i, p) => ({ output: F.groupNorm(i.x!, n(p.numGroups), i.weight, i.bias, n(p.eps)) }),
  instanceNorm: (i, p) => F.instanceNorm(i.x!, i.runningMean, i.runningVar, i.weight, i.bias, p),
  normalize: (i, p) => ({ output: F.normalize(i.x!, n(p.p), n(p.dim)) }),
};

test('normalisation values, gradients and running statistics match torch', async () => {
  const cases = fixtures.filter((c) => c.kind in CALLS);
  assert.ok(cases.length >= 10, `expected the normalisation fixtures, found ${cases.length}`);
  for (const c of cases) {
    const inputs = Object.fromEntries(Object.entries(c.inputs).map(([k, v]) => [k, new Variable(Float32Array.from(v.data), v.shape)]));
    const r = CALLS[c.kind]!(inputs, c.params);
    assert.deepEqual(r.output.shape, c.output.shape, `${c.name}: output shape`);
    const names = Object.keys(c.grads);
    const grads = grad(r.output.mul(new Tensor(r.output.shape, 'float32', Float32Array.from(c.R))).sum(), names.map((k) => inputs[k]!));
    const extras = Object.entries(c.extra ?? {});
    for (const [k] of extras) assert.ok(r[k as 'runningMean'], `${c.name}: missing ${k}`);
    await realize([r.output, ...grads, ...extras.map(([k]) => r[k as 'runningMean']!)]);
    assertClose(r.output.value as Float32Array, c.output.data, 1e-4, 1e-4, `${c.name}: output`);
    names.forEach((k, i) => assertClose(grads[i]!.value as Float32Array, c.grads[k]!.data, 2e-4, 1e-3, `${c.name}: d${k}`));
    for (const [k, e] of extras) assertClose(r[k as 'runningMean']!.value as Float32Array, e.data, 1e-5, 1e-5, `${c.name}: ${k}`);
  }
});
