import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { Tensor, Variable, exportOnnx, grad, runtimeStats } from '../src/index.js';
import { assertClose } from './helpers/gradcheck.js';

test('exportOnnx writes a standalone model that ORT runs with the same result', async () => {
  const w = new Variable(Float32Array.from([0.5, -1, 2, 0.25, 1, -0.5]), [3, 2]);
  const x = new Tensor([2, 3], 'float32', Float32Array.from([1, 2, 3, -1, 0, 1]));
  const y = x.matmul(w).tanh();
  const bytes = exportOnnx({ inputs: { pixels: x }, outputs: { logits: y } });
  const expected = await y.toArray();
  const session = await ort.InferenceSession.create(bytes);
  assert.deepEqual(session.inputNames, ['pixels']);
  assert.deepEqual(session.outputNames, ['logits']);
  const out = await session.run({ pixels: new ort.Tensor('float32', x.value as Float32Array, [2, 3]) });
  assertClose(out.logits!.data as Float32Array, expected, 1e-6);
  await session.release();
});

test('exportOnnx rejects realized outputs and unused inputs', async () => {
  const x = new Tensor([2], 'float32', Float32Array.of(1, 2));
  const z = new Tensor([2], 'float32', Float32Array.of(1, 2));
  const y = x.exp();
  assert.throws(() => exportOnnx({ inputs: { x, z }, outputs: { y } }), /input 'z' does not reach any output/);
  await y.data();
  assert.throws(() => exportOnnx({ inputs: { x }, outputs: { y } }), /already realized/);
});

test('detach stops gradients; grad on a realized output is a clear error', async () => {
  const w = new Variable(Float32Array.of(1, 2, 3), [3]);
  const y = w.mul(w.detach()).sum();
  const [g] = grad(y, [w]);
  assert.deepEqual(await g!.toArray(), [1, 2, 3]);
  const z = w.mul(2).sum();
  await z.data();
  assert.throws(() => grad(z, [w]), /already realized/);
});

test('a repeated step compiles once and reuses the session', async () => {
  const w = new Variable(Float32Array.of(1, 2, 3), [3]);
  const before = runtimeStats.compiles;
  for (let i = 0; i < 20; i++) {
    const x = new Tensor([3], 'float32', Float32Array.of(i, i + 1, i + 2));
    const loss = x.mul(w).sum();
    const [g] = grad(loss, [w]);
    const { realize } = await import('../src/engine/runtime.js');
    await realize([loss, g!]);
    w.assignSync(Float32Array.from(w.value as Float32Array, (v, k) => v - 0.01 * (g!.value as Float32Array)[k]!));
  }
  assert.equal(runtimeStats.compiles - before, 1);
});

test('grad through an intermediate that was already realized is a clear error; detach() makes it intentional', async () => {
  const w = new Variable(Float32Array.of(1, 2), [2]);
  const h = w.mul(3);
  await h.data();
  assert.throws(() => grad(h.mul(h).sum(), [w]), /already realized.*detach/);
  const [g] = grad(h.detach().mul(w).sum(), [w]);
  assert.deepEqual(await g!.toArray(), [3, 6]);
});
