import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, Variable, configure, runtimeConfig, runtimeStats, disposeSessions, cachedSessionCount, grad, realize } from '../src/index.js';
import { plan } from '../src/engine/runtime.js';
import { Linear } from '../src/nn/linear.js';

test('frozen parameters are baked as initializers, trainable ones and data are fed', () => {
  const frozen = new Linear(4, 3);
  frozen.freeze();
  const trainable = new Linear(3, 2);
  const x = new Tensor([5, 4], 'float32', new Float32Array(20));
  const p = plan([trainable.forward(frozen.forward(x))]);
  assert.ok(p.baked.includes(frozen.weight) && p.baked.includes(frozen.bias!));
  assert.ok(p.feeds.includes(trainable.weight) && p.feeds.includes(trainable.bias!) && p.feeds.includes(x));
  assert.ok(!p.feeds.includes(frozen.weight));
});

test('a baked weight is keyed by its version: reassigning it recompiles, re-tracing does not', async () => {
  const lin = new Linear(3, 2).freeze();
  const x = new Tensor([1, 3], 'float32', Float32Array.of(1, 2, 3));
  const before = runtimeStats.compiles;
  const y1 = await lin.forward(x).toArray();
  await lin.forward(x).toArray();
  assert.equal(runtimeStats.compiles - before, 1);
  lin.weight.assignSync(new Float32Array(6).fill(1));
  lin.bias!.assignSync(new Float32Array(2));
  const y2 = await lin.forward(x).toArray();
  assert.equal(runtimeStats.compiles - before, 2);
  assert.deepEqual(y2, [6, 6]);
  assert.notDeepEqual(y1, y2);
});

test('argmax / argmin / comparisons have values and no gradient path', async () => {
  const x = new Variable(Float32Array.of(0.1, 3, -2, 7, 7, 1), [2, 3]);
  assert.deepEqual(await x.argmax(1).toArray(), [1, 0]);
  assert.deepEqual(await x.argmin(-1).toArray(), [2, 2]);
  assert.deepEqual(await x.argmax(0, true).toArray(), [1, 1, 1]);
  const y = x.mul(x.gt(1).cast('float32')).sum();
  const [g] = grad(y, [x]);
  assert.deepEqual(await g!.toArray(), [0, 1, 0, 1, 1, 0]);
});

test('threads are configurable; configure() and disposeSessions() release compiled sessions', async () => {
  const threads = runtimeConfig.threads;
  const x = new Tensor([2], 'float32', Float32Array.of(1, 2));
  await x.exp().data();
  assert.ok(cachedSessionCount() > 0);
  configure({ threads: 1 });
  assert.equal(runtimeConfig.threads, 1);
  assert.equal(cachedSessionCount(), 0);
  const before = runtimeStats.compiles;
  assert.deepEqual((await x.exp().toArray()).map((v) => +v.toFixed(5)), [Math.E, Math.E ** 2].map((v) => +v.toFixed(5)));
  assert.equal(runtimeStats.compiles - before, 1);
  disposeSessions();
  assert.equal(cachedSessionCount(), 0);
  configure({ threads });
  assert.throws(() => configure({ threads: 0 }), /threads must be a positive integer/);
});

test('realize computes several outputs of one graph in one run', async () => {
  const w = new Variable(Float32Array.of(1, -1), [2]);
  const loss = w.mul(w).sum();
  const [g] = grad(loss, [w]);
  const runs = runtimeStats.runs;
  await realize([loss, g!]);
  assert.equal(runtimeStats.runs - runs, 1);
  assert.equal(await loss.item(), 2);
  assert.deepEqual(await g!.toArray(), [2, -2]);
});

test('disposed tensors give a clear error when used', async () => {
  const t = new Tensor([2], 'float32', Float32Array.of(1, 2));
  t.dispose();
  await assert.rejects(t.exp().data(), /neither data nor a producer/);
});

test('a frozen middle never gets weight gradients: the step graph has only the needed products', () => {
  const first = new Linear(6, 8), mid1 = new Linear(8, 8).freeze(), mid2 = new Linear(8, 8).freeze(), head = new Linear(8, 3);
  const x = new Tensor([4, 6], 'float32', new Float32Array(24).fill(0.5));
  const loss = head.forward(mid2.forward(mid1.forward(first.forward(x)).relu()).relu()).sum();
  const grads = grad(loss, [first.weight, first.bias!, head.weight, head.bias!]);
  const p = plan([loss, ...grads]);
  const matmuls = p.order.filter((n) => n.op === 'MatMul').length;
  // forward 4; backward: head dW + dX, mid2 dX, mid1 dX, first dW (first's input is data: no dX)
  assert.equal(matmuls, 4 + 5);
  assert.ok(p.baked.includes(mid1.weight) && p.baked.includes(mid2.weight));
});
