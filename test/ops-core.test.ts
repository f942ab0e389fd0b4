import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, ShapeError, where } from '../src/index.js';
import { gradcheck, assertClose } from './helpers/gradcheck.js';

test('elementwise binary ops with broadcasting: gradients match finite differences', async () => {
  await gradcheck('add', (a, b) => a.add(b), [{ shape: [2, 3, 4] }, { shape: [3, 1] }]);
  await gradcheck('sub', (a, b) => a.sub(b), [{ shape: [4] }, { shape: [2, 3, 4] }]);
  await gradcheck('mul', (a, b) => a.mul(b), [{ shape: [2, 3, 4] }, { shape: [3, 1] }]);
  await gradcheck('div', (a, b) => a.div(b), [{ shape: [2, 3] }, { shape: [1, 3], low: 1, high: 2 }]);
  await gradcheck('pow', (a, b) => a.pow(b), [{ shape: [2, 3], low: 0.5, high: 2 }, { shape: [3], low: 0.5, high: 2 }]);
  await gradcheck('max', (a, b) => a.maximum(b), [{ shape: [3, 4] }, { shape: [4] }]);
  await gradcheck('min', (a, b) => a.minimum(b), [{ shape: [3, 4] }, { shape: [3, 1] }]);
});

test('elementwise unary ops: gradients match finite differences', async () => {
  const cases: [string, (x: Tensor) => Tensor, number, number][] = [
    ['neg', (x) => x.neg(), -1, 1], ['exp', (x) => x.exp(), -1, 1], ['log', (x) => x.log(), 0.5, 2],
    ['sqrt', (x) => x.sqrt(), 0.5, 2], ['rsqrt', (x) => x.rsqrt(), 0.5, 2], ['abs', (x) => x.abs(), 0.2, 1],
    ['tanh', (x) => x.tanh(), -2, 2], ['sigmoid', (x) => x.sigmoid(), -3, 3], ['erf', (x) => x.erf(), -2, 2],
    ['relu', (x) => x.relu(), 0.1, 1], ['gelu', (x) => x.gelu(), -3, 3], ['gelu-tanh', (x) => x.gelu('tanh'), -3, 3],
    ['quick-gelu', (x) => x.quickGelu(), -3, 3], ['silu', (x) => x.silu(), -3, 3], ['sin', (x) => x.sin(), -3, 3],
    ['cos', (x) => x.cos(), -3, 3], ['reciprocal', (x) => x.reciprocal(), 0.5, 2],
  ];
  for (const [name, f, lo, hi] of cases) await gradcheck(name, f, [{ shape: [3, 5], low: lo, high: hi }]);
  await gradcheck('abs-negative', (x) => x.abs(), [{ shape: [7], low: -1, high: -0.2 }]);
  await gradcheck('relu-mixed', (x) => x.relu(), [{ shape: [4, 4], values: Float32Array.from({ length: 16 }, (_, i) => (i % 2 ? 1 : -1) * (0.1 + i / 20)) }]);
  await gradcheck('clamp', (x) => x.clamp(-0.5, 0.5), [{ shape: [4, 4], values: Float32Array.from({ length: 16 }, (_, i) => -1.4 + i * 0.2) }]);
  await gradcheck('where', (a, b) => where(a.gt(0), a, b), [{ shape: [3, 4], values: Float32Array.from({ length: 12 }, (_, i) => (i % 3 ? 0.5 : -0.5) + i / 100) }, { shape: [4] }]);
});

test('unary values match closed forms', async () => {
  const x = new Tensor([5], 'float32', Float32Array.from([-2, -0.5, 0, 0.5, 2]));
  const erf = (v: number): number => { // Abramowitz-Stegun 7.1.26 is too coarse; use series for |v|<=2
    let s = 0, term = v; for (let n = 0; n < 60; n++) { s += term / (2 * n + 1); term *= -v * v / (n + 1); } return (2 / Math.sqrt(Math.PI)) * s;
  };
  assertClose(await x.gelu().toArray(), [-2, -0.5, 0, 0.5, 2].map((v) => 0.5 * v * (1 + erf(v / Math.SQRT2))), 1e-6);
  assertClose(await x.gelu('tanh').toArray(), [-2, -0.5, 0, 0.5, 2].map((v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)))), 1e-6);
  assertClose(await x.quickGelu().toArray(), [-2, -0.5, 0, 0.5, 2].map((v) => v / (1 + Math.exp(-1.702 * v))), 1e-6);
  assert.deepEqual(await x.gt(0).toArray(), [0, 0, 0, 1, 1]);
  assert.deepEqual(await x.le(0).toArray(), [1, 1, 1, 0, 0]);
});

test('matmul (batched, broadcasting) gradients', async () => {
  await gradcheck('matmul-2d', (a, b) => a.matmul(b), [{ shape: [3, 4] }, { shape: [4, 5] }]);
  await gradcheck('matmul-batched-weight', (a, b) => a.matmul(b), [{ shape: [2, 3, 4] }, { shape: [4, 5] }]);
  await gradcheck('matmul-broadcast', (a, b) => a.matmul(b), [{ shape: [2, 1, 3, 4] }, { shape: [3, 4, 2] }]);
});

test('reductions and movement ops gradients', async () => {
  await gradcheck('sum', (x) => x.sum(1), [{ shape: [2, 3, 4] }]);
  await gradcheck('sum-keep', (x) => x.sum([0, 2], true), [{ shape: [2, 3, 4] }]);
  await gradcheck('mean', (x) => x.mean(-1), [{ shape: [2, 3, 4] }]);
  await gradcheck('max', (x) => x.max(1), [{ shape: [3, 5] }]);
  await gradcheck('min-keep', (x) => x.min(0, true), [{ shape: [3, 5] }]);
  await gradcheck('var', (x) => x.var(-1), [{ shape: [3, 6] }]);
  await gradcheck('var-keep-biased', (x) => x.var([0, 1], true, 0), [{ shape: [3, 6] }]);
  await gradcheck('reshape-permute', (x) => x.reshape([4, 6]).transpose(0, 1).reshape([2, 12]), [{ shape: [2, 3, 4] }]);
  await gradcheck('expand', (x) => x.expand([2, 3, 4]), [{ shape: [3, 1] }]);
  await gradcheck('softmax', (x) => x.softmax(-1), [{ shape: [3, 5] }]);
  await gradcheck('softmax-axis0', (x) => x.softmax(0), [{ shape: [3, 5] }]);
  await gradcheck('log-softmax', (x) => x.logSoftmax(1), [{ shape: [2, 4, 3] }]);
});

test('max ties split the gradient equally', async () => {
  const { Variable, grad } = await import('../src/index.js');
  const x = new Variable(Float32Array.from([1, 3, 3, 0]), [4]);
  const [g] = grad(x.max(), [x]);
  assert.deepEqual(await g!.toArray(), [0, 0.5, 0.5, 0]);
});

test('shape errors name the op and both shapes before ORT runs', () => {
  const a = new Tensor([2, 3], 'float32', new Float32Array(6));
  const b = new Tensor([4], 'float32', new Float32Array(4));
  assert.throws(() => a.add(b), (e: Error) => e instanceof ShapeError && /Add/.test(e.message) && /\[2, 3\]/.test(e.message) && /\[4\]/.test(e.message));
  assert.throws(() => a.matmul(a), /MatMul: inner dimensions differ: \[2, 3\] @ \[2, 3\]/);
  assert.throws(() => a.reshape([4, 2]), /reshape.*\[2, 3\].*\[4, 2\]/);
});
