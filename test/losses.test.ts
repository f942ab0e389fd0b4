import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { F, ShapeError, Tensor, Variable, constant, grad, realize, runtimeStats } from '../src/index.js';
import { assertClose, gradcheck } from './helpers/gradcheck.js';
import { Rng } from './helpers/rng.js';

// ---- torch fixtures (tools/fixtures/losses.py) ----

interface Enc { shape: number[]; dtype: 'float32' | 'int64'; data: number[] }
interface Vals { shape: number[]; data: (number | null)[] }
interface Case {
  name: string;
  fn: string;
  args: Record<string, Enc>;
  opts: Record<string, number | string | boolean>;
  out: Vals;
  cot: Enc | null;
  grads: Record<string, Vals>;
}

const fixture = JSON.parse(readFileSync(new URL('../../test/fixtures/losses.json', import.meta.url), 'utf8')) as { cases: Case[] };

function decode(e: Enc, differentiable: boolean): Tensor {
  if (e.dtype === 'int64') return new Tensor(e.shape, 'int64', BigInt64Array.from(e.data, (v) => BigInt(v)));
  const data = Float32Array.from(e.data);
  return differentiable ? new Variable(data, e.shape) : new Tensor(e.shape, 'float32', data);
}

type Args = Record<string, Tensor>;
type Opts = Case['opts'];
const red = (o: Opts): F.Reduction => (o.reduction as F.Reduction | undefined) ?? 'mean';

const CALLS: Record<string, (a: Args, o: Opts) => Tensor> = {
  crossEntropy: (a, o) => F.crossEntropy(a.input!, a.target!, {
    weight: a.weight, reduction: red(o), ignoreIndex: (o.ignoreIndex as number | undefined) ?? -100, labelSmoothing: (o.labelSmoothing as number | undefined) ?? 0,
  }),
  nllLoss: (a, o) => F.nllLoss(a.input!, a.target!, { weight: a.weight, reduction: red(o), ignoreIndex: (o.ignoreIndex as number | undefined) ?? -100 }),
  binaryCrossEntropyWithLogits: (a, o) => F.binaryCrossEntropyWithLogits(a.input!, a.target!, { weight: a.weight, posWeight: a.posWeight, reduction: red(o) }),
  binaryCrossEntropy: (a, o) => F.binaryCrossEntropy(a.input!, a.target!, { weight: a.weight, reduction: red(o) }),
  mseLoss: (a, o) => F.mseLoss(a.input!, a.target!, { reduction: red(o) }),
  l1Loss: (a, o) => F.l1Loss(a.input!, a.target!, { reduction: red(o) }),
  smoothL1Loss: (a, o) => F.smoothL1Loss(a.input!, a.target!, { reduction: red(o), beta: (o.beta as number | undefined) ?? 1 }),
  huberLoss: (a, o) => F.huberLoss(a.input!, a.target!, { reduction: red(o), delta: (o.delta as number | undefined) ?? 1 }),
  cosineSimilarity: (a, o) => F.cosineSimilarity(a.input!, a.target!, (o.dim as number | undefined) ?? 1, (o.eps as number | undefined) ?? 1e-8),
  klDiv: (a, o) => F.klDiv(a.input!, a.target!, { reduction: (o.reduction as F.Reduction | 'batchmean' | undefined) ?? 'mean', logTarget: (o.logTarget as boolean | undefined) ?? false }),
};

function expectVals(actual: ArrayLike<number | bigint>, shape: readonly number[], exp: Vals, what: string): void {
  assert.deepEqual([...shape], exp.shape, `${what}: shape`);
  const e = exp.data.map((v) => (v === null ? NaN : v));
  const a = Array.from(actual, Number);
  assert.equal(a.length, e.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(e[i]!)) { assert.ok(Number.isNaN(a[i]!), `${what}[${i}]: ${a[i]} vs expected NaN`); continue; }
  }
  assertClose(a.map((v, i) => (Number.isNaN(e[i]!) ? 0 : v)), e.map((v) => (Number.isNaN(v) ? 0 : v)), 2e-5, 2e-4, what);
}

test('losses match torch 1.13 fixtures: values and gradients', async (t) => {
  assert.ok(fixture.cases.length > 80);
  const seen = new Set<string>();
  for (const c of fixture.cases) {
    await t.test(c.name, async () => {
      const call = CALLS[c.fn];
      assert.ok(call, `no binding for ${c.fn}`);
      seen.add(c.fn);
      const gradNames = Object.keys(c.grads);
      const args: Args = {};
      for (const [k, e] of Object.entries(c.args)) args[k] = decode(e, gradNames.includes(k));
      const loss = call(args, c.opts);
      const total = c.cot ? loss.mul(decode(c.cot, false)).sum() : loss;
      const grads = gradNames.length ? grad(total, gradNames.map((k) => args[k]!)) : [];
      await realize([loss, ...grads]);
      expectVals(loss.value, loss.shape, c.out, `${c.name} value`);
      gradNames.forEach((k, i) => expectVals(grads[i]!.value, grads[i]!.shape, c.grads[k]!, `${c.name} d/d${k}`));
    });
  }
  assert.deepEqual([...seen].sort(), Object.keys(CALLS).sort(), 'every loss has fixture cases');
});

// ---- finite-difference gradient checks on fresh random inputs ----

const rng = new Rng(77);
const ints = (shape: number[], hi: number, overrides: [number, number][] = []): Tensor => {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = BigInt64Array.from({ length: n }, () => BigInt(Math.floor(rng.next() * hi)));
  for (const [i, val] of overrides) v[i] = BigInt(val);
  return new Tensor(shape, 'int64', v);
};
const floats = (shape: number[], lo: number, hi: number): Tensor => new Tensor(shape, 'float32', rng.uniform(shape.reduce((a, b) => a * b, 1), lo, hi));
const softmaxRows = (n: number, c: number): Float32Array => {
  const v = rng.uniform(n * c, -2, 2);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < c; j++) s += Math.exp(v[i * c + j]!);
    for (let j = 0; j < c; j++) v[i * c + j] = Math.exp(v[i * c + j]!) / s;
  }
  return v;
};

test('crossEntropy / nllLoss gradients match finite differences', async () => {
  const target = ints([6], 4, [[2, -100]]);
  const w = floats([4], 0.3, 2);
  for (const reduction of ['mean', 'sum', 'none'] as const) {
    await gradcheck(`ce-${reduction}`, (x, y) => F.crossEntropy(x, y, { reduction }), [{ shape: [6, 4], low: -3, high: 3 }, target]);
    await gradcheck(`ce-weight-smooth-ignore-${reduction}`, (x, y, ww) => F.crossEntropy(x, y, { weight: ww, reduction, labelSmoothing: 0.2 }),
      [{ shape: [6, 4], low: -3, high: 3 }, target, w]);
  }
  await gradcheck('ce-ignore-in-range', (x, y, ww) => F.crossEntropy(x, y, { weight: ww, ignoreIndex: 1, labelSmoothing: 0.1 }),
    [{ shape: [6, 4] }, ints([6], 4, [[0, 1], [5, 1]]), w]);
  await gradcheck('ce-segmentation', (x, y) => F.crossEntropy(x, y, { labelSmoothing: 0.1 }), [{ shape: [2, 3, 3, 2], low: -2, high: 2 }, ints([2, 3, 2], 3, [[4, -100]])]);
  await gradcheck('ce-soft', (x, p) => F.crossEntropy(x, p, { labelSmoothing: 0.1 }),
    [{ shape: [3, 5] }, { shape: [3, 5], values: softmaxRows(3, 5) }]);
  await gradcheck('ce-soft-weight-none', (x, p, ww) => F.crossEntropy(x, p, { weight: ww, reduction: 'none' }),
    [{ shape: [3, 4] }, { shape: [3, 4], values: softmaxRows(3, 4) }, floats([4], 0.5, 1.5)]);
  await gradcheck('nll', (x, y, ww) => F.nllLoss(x, y, { weight: ww }), [{ shape: [6, 4], low: -3, high: -0.1 }, target, w]);
});

test('binary cross-entropy gradients match finite differences', async () => {
  await gradcheck('bce-logits', (x, y) => F.binaryCrossEntropyWithLogits(x, y), [{ shape: [4, 3], low: -4, high: 4 }, { shape: [4, 3], low: 0, high: 1 }]);
  await gradcheck('bce-logits-weights', (x, y, ww, pw) => F.binaryCrossEntropyWithLogits(x, y, { weight: ww, posWeight: pw, reduction: 'none' }),
    [{ shape: [4, 3], low: -4, high: 4 }, { shape: [4, 3], low: 0, high: 1 }, floats([3], 0.5, 2), floats([3], 0.5, 3)]);
  await gradcheck('bce-probs', (p, y) => F.binaryCrossEntropy(p, y, { reduction: 'sum' }), [{ shape: [5], low: 0.1, high: 0.9 }, { shape: [5], low: 0, high: 1 }], { eps: 1e-3 });
});

test('regression, similarity and divergence gradients match finite differences', async () => {
  // input and target ranges are disjoint so the residual stays away from |x| kinks
  await gradcheck('mse', (x, y) => F.mseLoss(x, y), [{ shape: [3, 4] }, { shape: [3, 4] }]);
  await gradcheck('mse-broadcast', (x, y) => F.mseLoss(x, y, { reduction: 'sum' }), [{ shape: [3, 4] }, { shape: [4] }]);
  await gradcheck('l1', (x, y) => F.l1Loss(x, y, { reduction: 'none' }), [{ shape: [3, 4], low: 0.5, high: 1.5 }, { shape: [3, 4], low: -1.5, high: -0.2 }]);
  const mixed = Float32Array.from({ length: 12 }, (_, i) => (i % 2 ? 1 : -1) * (0.1 + 0.25 * i));
  await gradcheck('smoothL1', (x, y) => F.smoothL1Loss(x, y, { beta: 0.7 }), [{ shape: [12], values: mixed }, { shape: [12], low: -0.05, high: 0.05 }], { eps: 1e-3 });
  await gradcheck('huber', (x, y) => F.huberLoss(x, y, { delta: 0.8, reduction: 'sum' }), [{ shape: [12], values: mixed }, { shape: [12], low: -0.05, high: 0.05 }], { eps: 1e-3 });
  await gradcheck('cosine', (a, b) => F.cosineSimilarity(a, b), [{ shape: [4, 6] }, { shape: [4, 6] }]);
  await gradcheck('cosine-broadcast-last', (a, b) => F.cosineSimilarity(a, b, -1), [{ shape: [2, 3, 5] }, { shape: [3, 5] }]);
  await gradcheck('kl', (x, y) => F.klDiv(x, y, { reduction: 'batchmean' }), [{ shape: [3, 4], low: -3, high: -0.5 }, { shape: [3, 4], low: 0.05, high: 1 }]);
  await gradcheck('kl-log-target', (x, y) => F.klDiv(x, y, { reduction: 'none', logTarget: true }), [{ shape: [3, 4], low: -3, high: -0.5 }, { shape: [3, 4], low: -3, high: -0.1 }]);
});

// ---- behaviour beyond the fixtures ----

test('crossEntropy: all targets ignored gives NaN for mean (as torch) and 0 for sum', async () => {
  const x = new Tensor([2, 3], 'float32', Float32Array.from([1, 2, 3, 4, 5, 6]));
  const y = new Tensor([2], 'int64', BigInt64Array.from([-100n, -100n]));
  assert.ok(Number.isNaN(await F.crossEntropy(x, y).item()));
  assert.equal(await F.crossEntropy(x, y, { reduction: 'sum', labelSmoothing: 0.3 }).item(), 0);
  assert.deepEqual(await F.crossEntropy(x, y, { reduction: 'none' }).toArray(), [0, 0]);
});

test('crossEntropy with many classes keeps one compiled session across steps', async () => {
  const C = 40, N = 8;
  const w = new Variable(rng.uniform(16 * C, -0.1, 0.1), [16, C]);
  const step = async (): Promise<void> => {
    const x = floats([N, 16], -1, 1);
    const loss = F.crossEntropy(x.matmul(w), ints([N], C), { labelSmoothing: 0.1 });
    const [g] = grad(loss, [w]);
    await realize([loss, g!]);
  };
  await step();
  const before = runtimeStats.compiles;
  for (let i = 0; i < 3; i++) await step();
  assert.equal(runtimeStats.compiles, before, 'no recompilation for new data of the same shapes');
});

test('crossEntropy equals logSoftmax + nllLoss and closed-form smoothing', async () => {
  const x = new Tensor([2, 3], 'float32', Float32Array.from([0.5, -1, 2, 0, 0, 0]));
  const y = new Tensor([2], 'int64', BigInt64Array.from([2n, 0n]));
  const lse0 = Math.log(Math.exp(0.5) + Math.exp(-1) + Math.exp(2));
  const l0 = lse0 - 2, l1 = Math.log(3);
  assertClose([await F.crossEntropy(x, y).item()], [(l0 + l1) / 2], 1e-6);
  assertClose([await F.nllLoss(x.logSoftmax(1), y, { reduction: 'sum' }).item()], [l0 + l1], 1e-5);
  // smoothing s: (1-s) * nll + s/C * sum_c -logp_c
  const s = 0.3;
  const smooth0 = (3 * lse0 - (0.5 - 1 + 2)) / 3, smooth1 = Math.log(3);
  assertClose(await F.crossEntropy(x, y, { labelSmoothing: s, reduction: 'none' }).toArray(),
    [(1 - s) * l0 + s * smooth0, (1 - s) * l1 + s * smooth1], 1e-6);
});

test('loss argument errors name the function, the argument and the expected shape', () => {
  const logits = new Tensor([4, 5], 'float32', new Float32Array(20));
  const idx = (shape: number[], v = 0n): Tensor => new Tensor(shape, 'int64', new BigInt64Array(shape.reduce((a, b) => a * b, 1)).fill(v));
  const err = (re: RegExp) => (e: unknown): boolean => e instanceof ShapeError && re.test(e.message);
  assert.throws(() => F.crossEntropy(logits, idx([5])), err(/^crossEntropy: target is int64 \[5\]; expected int64 class indices of shape \[4\] or float32 class probabilities of shape \[4, 5\] for logits \[4, 5\]/));
  assert.throws(() => F.crossEntropy(logits, new Tensor([4], 'float32', new Float32Array(4))), err(/crossEntropy: target is float32 \[4\].*int64 class indices of shape \[4\]/));
  assert.throws(() => F.crossEntropy(new Tensor([2, 3, 4, 4], 'float32', new Float32Array(96)), idx([2, 3, 4])), err(/target is int64 \[2, 3, 4\].*shape \[2, 4, 4\]/));
  assert.throws(() => F.crossEntropy(logits, idx([4]), { weight: new Tensor([4], 'float32', new Float32Array(4)) }), err(/crossEntropy: weight has shape \[4\], expected \[5\]/));
  assert.throws(() => F.crossEntropy(logits, idx([4], 5n)), err(/crossEntropy: target value 5 \(element 0\) is out of range \[0, 5\)/));
  assert.throws(() => F.crossEntropy(logits, idx([4], -1n)), err(/target value -1/));
  assert.throws(() => F.crossEntropy(logits, new Tensor([4, 5], 'float32', new Float32Array(20)), { ignoreIndex: 0 }), err(/ignoreIndex \(0\) is not supported with class-probability targets/));
  assert.throws(() => F.crossEntropy(logits, idx([4]), { labelSmoothing: 1.5 }), err(/labelSmoothing must be in \[0, 1\]/));
  assert.throws(() => F.crossEntropy(logits, idx([4]), { reduction: 'avg' as F.Reduction }), err(/reduction must be 'mean', 'sum', 'none'; got 'avg'/));
  assert.throws(() => F.crossEntropy(idx([4, 5]), idx([4])), err(/crossEntropy: logits must be float32, got int64/));
  assert.throws(() => F.nllLoss(logits, new Tensor([4, 5], 'float32', new Float32Array(20))), err(/nllLoss: target is float32 \[4, 5\]; expected int64 class indices of shape \[4\] for logProbs \[4, 5\]$/));
  const f = (shape: number[]): Tensor => new Tensor(shape, 'float32', new Float32Array(shape.reduce((a, b) => a * b, 1)));
  assert.throws(() => F.binaryCrossEntropyWithLogits(f([4, 3]), f([3])), err(/binaryCrossEntropyWithLogits: target has shape \[3\], expected the logits shape \[4, 3\]/));
  assert.throws(() => F.binaryCrossEntropyWithLogits(f([4, 3]), f([4, 3]), { posWeight: f([4]) }), err(/posWeight has shape \[4\], which does not broadcast to the logits shape \[4, 3\]/));
  assert.throws(() => F.binaryCrossEntropyWithLogits(f([4, 3]), f([4, 3]), { weight: f([2, 4, 3]) }), err(/weight has shape \[2, 4, 3\]/));
  assert.throws(() => F.binaryCrossEntropy(new Tensor([2], 'float32', Float32Array.from([0.5, 1.5])), f([2])), err(/binaryCrossEntropy: probs must lie in \[0, 1\]; element 1 is 1.5/));
  assert.throws(() => F.mseLoss(f([4, 3]), f([4])), err(/mseLoss: target has shape \[4\], expected the input shape \[4, 3\]/));
  assert.throws(() => F.smoothL1Loss(f([2]), f([2]), { beta: -1 }), err(/smoothL1Loss: beta must be >= 0/));
  assert.throws(() => F.huberLoss(f([2]), f([2]), { delta: 0 }), err(/huberLoss: delta must be > 0/));
  assert.throws(() => F.cosineSimilarity(f([4, 3]), f([4, 3]), 2), err(/cosineSimilarity: axis 2 out of range for rank 2/));
  assert.throws(() => F.cosineSimilarity(f([4, 3]), f([2, 3])), err(/cosineSimilarity: x1 \[4, 3\] and x2 \[2, 3\] must broadcast/));
  assert.throws(() => F.klDiv(f([2]), f([2]), { reduction: 'batchsum' as 'batchmean' }), err(/klDiv: reduction must be .*'batchmean'/));
});
