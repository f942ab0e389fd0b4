import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import v8 from 'node:v8';
import vm from 'node:vm';
import {
  AdamW, SGD, Tensor, Variable, TrainStep, createTrainStep, NonFiniteLossError, NonFiniteGradError, paramGroupsNoDecay, cosineWithWarmup,
  runtimeStats, F, Linear, BatchNorm1d, type Optimizer,
} from '../src/index.js';
import { Module } from '../src/nn/module.js';
import { Generator } from '../src/engine/functional/random.js';
import { assertClose } from './helpers/gradcheck.js';

const fx = JSON.parse(readFileSync(new URL('../../test/fixtures/optim.json', import.meta.url), 'utf8')) as {
  mlp: { init: Record<string, number[]>; lr: number; weightDecay: number; maxNorm: number; losses: number[]; gradNorms: number[]; params: Record<string, number[]>[] };
};

const f32 = (a: number[]): Float32Array => Float32Array.from(a);
const mse = (out: Tensor, y: Tensor): Tensor => { const d = out.sub(y); return d.mul(d).mean(); };

/** A tiny two-layer perceptron written from Variables (no nn layers): relu(x W1^T + b1) W2^T + b2. */
class MLP extends Module {
  W1: Variable; b1: Variable; W2: Variable; b2: Variable;
  constructor(init: Record<string, number[]>, dims: [number, number, number] = [3, 5, 2]) {
    super();
    const [i, h, o] = dims;
    this.W1 = new Variable(f32(init.W1!), [h, i]);
    this.b1 = new Variable(f32(init.b1!), [h]);
    this.W2 = new Variable(f32(init.W2!), [o, h]);
    this.b2 = new Variable(f32(init.b2!), [o]);
  }
  forward(x: Tensor): Tensor { return x.matmul(this.W1.mT).add(this.b1).relu().matmul(this.W2.mT).add(this.b2); }
}

function randomInit(g: Generator, dims: [number, number, number]): Record<string, number[]> {
  const [i, h, o] = dims;
  return { W1: [...g.normalData(h * i, 0, 0.5)], b1: [...g.normalData(h, 0, 0.1)], W2: [...g.normalData(o * h, 0, 0.5)], b2: [...g.normalData(o, 0, 0.1)] };
}

const snapshot = (m: Module): Map<string, Float32Array> => new Map(m.namedParameters().map(([n, v]) => [n, Float32Array.from(v.value as Float32Array)]));

test('end to end: MLP + AdamW (no-decay groups) + grad clipping matches torch 1.13 step by step', async () => {
  const { init, lr, weightDecay, maxNorm } = fx.mlp;
  const model = new MLP(init);
  const opt = new AdamW(paramGroupsNoDecay(model, weightDecay), { lr });
  assert.deepEqual(opt.groups.map((g) => g.paramNames), [['b1', 'b2'], ['W1', 'W2']]);
  const x = new Tensor([8, 3], 'float32', f32(init.X!)), y = new Tensor([8, 2], 'float32', f32(init.Y!));
  const trainer = new TrainStep(model, (b: { x: Tensor; y: Tensor }) => mse(model.forward(b.x), b.y), opt, { clipGradNorm: maxNorm });
  for (let s = 0; s < fx.mlp.losses.length; s++) {
    const r = await trainer.step({ x, y });
    assert.equal(r.updated, true);
    assert.equal(r.step, s + 1);
    assertClose([r.loss], [fx.mlp.losses[s]!], 0, 1e-5, `loss at step ${s + 1}`);
    assertClose([r.gradNorm!], [fx.mlp.gradNorms[s]!], 0, 1e-5, `grad norm at step ${s + 1}`);
    for (const [name, p] of model.namedParameters()) assertClose(p.value as Float32Array, fx.mlp.params[s]![name]!, 1e-6, 1e-5, `${name} after step ${s + 1}`);
  }
  assert.ok(fx.mlp.gradNorms.some((n) => n > maxNorm), 'the fixture exercises clipping');
});

test('20 steps (AdamW, clipping, cosine schedule, dropout, batch-norm statistics) compile exactly one session', async () => {
  const gen = new Generator(11);
  class Net extends Module {
    bn = new BatchNorm1d(7);
    fc1 = new Linear(7, 13, { generator: gen });
    fc2 = new Linear(13, 2, { generator: gen });
    forward(x: Tensor): Tensor { return this.fc2.forward(F.dropout(this.fc1.forward(this.bn.forward(x)).relu(), 0.2, this.training, gen)); }
  }
  const model = new Net();
  const opt = new AdamW(paramGroupsNoDecay(model, 0.05), { lr: 0.01 });
  const schedule = cosineWithWarmup({ baseLr: 0.01, warmupSteps: 5, totalSteps: 20, minLr: 1e-4 });
  const trainer = createTrainStep(model, (b: { x: Tensor; y: Tensor }) => mse(model.forward(b.x), b.y), opt, { clipGradNorm: 1, lrSchedule: schedule });
  const batches = Array.from({ length: 20 }, () => ({ x: new Tensor([9, 7], 'float32', gen.normalData(63, 1, 2)), y: new Tensor([9, 2], 'float32', gen.normalData(18)) }));
  const before = runtimeStats.compiles;
  const lrs: number[] = [];
  for (const [s, b] of batches.entries()) {
    const r = await trainer.step(b);
    lrs.push(r.lr!);
    if (s === 0) {
      // Running statistics were updated in the same session: momentum 0.1 from (0, 1).
      const x = b.x.value as Float32Array;
      const mean = Array.from({ length: 7 }, (_, c) => Array.from({ length: 9 }, (_, n) => x[n * 7 + c]!).reduce((p, q) => p + q) / 9);
      assertClose(model.bn.running_mean!.value as Float32Array, mean.map((m) => 0.1 * m), 1e-6, 1e-5, 'running_mean after step 1');
    }
  }
  assert.equal(runtimeStats.compiles - before, 1, 'one compiled session for all 20 steps');
  assert.equal(model.bn.num_batches_tracked!.value[0], 20n);
  assert.deepEqual(lrs, Array.from({ length: 20 }, (_, s) => schedule(s)), 'the schedule drives the fed learning rate');
  assert.equal(opt.stepCount, 20);
});

test('gradient accumulation over 4 micro-batches equals one step on the concatenated batch (two sessions)', async () => {
  const gen = new Generator(5);
  const X = gen.normalData(16 * 6), Y = gen.normalData(16 * 3);
  const W = gen.normalData(18, 0, 0.4), bias = gen.normalData(3, 0, 0.1);
  class Lin extends Module {
    weight = new Variable(Float32Array.from(W), [3, 6]);
    bias = new Variable(Float32Array.from(bias), [3]);
    forward(x: Tensor): Tensor { return x.matmul(this.weight.mT).add(this.bias); }
  }
  const makers: [string, (m: Module) => Optimizer][] = [
    ['sgd', (m) => new SGD(m.parameters(), { lr: 0.1, momentum: 0.9, weightDecay: 0.01 })],
    ['adamw', (m) => new AdamW(m.parameters(), { lr: 0.05 })],
  ];
  for (const [name, make] of makers) {
    const a = new Lin(), b = new Lin();
    const ta = new TrainStep(a, (t: { x: Tensor; y: Tensor }) => mse(a.forward(t.x), t.y), make(a), { accumulationSteps: 4, clipGradNorm: 0.8 });
    const tb = new TrainStep(b, (t: { x: Tensor; y: Tensor }) => mse(b.forward(t.x), t.y), make(b), { clipGradNorm: 0.8 });
    const compiles0 = runtimeStats.compiles;
    let compilesAfterFirst = 0;
    for (let s = 0; s < 3; s++) {
      // The same data each step but a different split order, so the accumulators are really re-initialised.
      const rows = s % 2 ? [3, 2, 1, 0] : [0, 1, 2, 3];
      const micro = rows.map((k) => ({ x: new Tensor([4, 6], 'float32', X.slice(k * 24, k * 24 + 24)), y: new Tensor([4, 3], 'float32', Y.slice(k * 12, k * 12 + 12)) }));
      const results = [];
      for (const m of micro) results.push(await ta.step(m));
      assert.deepEqual(results.map((r) => r.updated), [false, false, false, true]);
      assert.equal(ta.pendingMicroSteps, 0);
      const rb = await tb.step({ x: new Tensor([16, 6], 'float32', X), y: new Tensor([16, 3], 'float32', Y) });
      assertClose([results[3]!.meanLoss!], [rb.loss], 0, 1e-5, `${name}: mean micro loss vs full-batch loss, step ${s + 1}`);
      assertClose([results[3]!.gradNorm!], [rb.gradNorm!], 0, 1e-5, `${name}: grad norm, step ${s + 1}`);
      assertClose(a.weight.value as Float32Array, b.weight.value as Float32Array, 1e-6, 1e-5, `${name}: weight after step ${s + 1}`);
      assertClose(a.bias.value as Float32Array, b.bias.value as Float32Array, 1e-6, 1e-5, `${name}: bias after step ${s + 1}`);
      if (s === 0) {
        // SGD runs first: micro-step session + final micro-step/update session + the full-batch session. The
        // micro-step graph holds no optimizer op, so AdamW (same model shapes) reuses it.
        assert.equal(runtimeStats.compiles - compiles0, name === 'sgd' ? 3 : 2, `${name}: sessions compiled in the first step`);
        compilesAfterFirst = runtimeStats.compiles;
      }
    }
    assert.equal(runtimeStats.compiles, compilesAfterFirst, `${name}: later steps compile nothing`);
  }
});

test('a frozen sub-tree stays bit-identical while trainable weights change', async () => {
  const gen = new Generator(3);
  class Net extends Module {
    backbone = new Linear(4, 6, { generator: gen });
    head = new Linear(6, 2, { generator: gen });
    forward(x: Tensor): Tensor { return this.head.forward(this.backbone.forward(x).tanh()); }
  }
  const model = new Net();
  model.backbone.freeze();
  const frozenBefore = model.backbone.parameters().map((p) => [p.value, Float32Array.from(p.value as Float32Array), p.version] as const);
  const headBefore = snapshot(model.head);
  // The optimizer is handed every parameter (frozen ones included, with weight decay): they must still not move.
  const opt = new AdamW(model.parameters(), { lr: 0.05, weightDecay: 0.1 });
  const trainer = new TrainStep(model, (x: Tensor) => model.forward(x).sum(), opt);
  for (let s = 0; s < 3; s++) await trainer.step(new Tensor([5, 4], 'float32', gen.normalData(20)));
  model.backbone.parameters().forEach((p, i) => {
    const [arr, copy, version] = frozenBefore[i]!;
    assert.equal(p.value, arr, 'frozen value never reassigned');
    assert.deepEqual(p.value, copy);
    assert.equal(p.version, version);
  });
  for (const [name, p] of model.head.namedParameters()) {
    assert.ok((p.value as Float32Array).some((v, k) => v !== headBefore.get(name)![k]), `head.${name} changed`);
  }
  assert.deepEqual(trainer.trainableParams(), model.head.parameters());
});

test('a NaN loss stops with the step number before anything is overwritten', async () => {
  const gen = new Generator(9);
  const dims: [number, number, number] = [3, 4, 2];
  const model = new MLP(randomInit(gen, dims), dims);
  const opt = new AdamW(model.parameters(), { lr: 0.01 });
  const trainer = new TrainStep(model, (x: Tensor) => model.forward(x).mean(), opt);
  const good = (): Tensor => new Tensor([2, 3], 'float32', gen.normalData(6));
  await trainer.step(good());
  await trainer.step(good());
  const params = snapshot(model);
  const state = model.parameters().map((p) => [...opt.stateOf(p).values()].map((v) => v.value));
  const bad = gen.normalData(6);
  bad[4] = NaN;
  await assert.rejects(trainer.step(new Tensor([2, 3], 'float32', bad)), (e: Error) => {
    assert.ok(e instanceof NonFiniteLossError);
    assert.match(e.message, /non-finite loss \(NaN\) at step 3/);
    assert.equal(e.step, 3);
    return true;
  });
  for (const [name, p] of model.namedParameters()) assert.deepEqual(p.value, params.get(name), `${name} unchanged`);
  model.parameters().forEach((p, i) => [...opt.stateOf(p).values()].forEach((v, k) => assert.equal(v.value, state[i]![k], 'optimizer state unchanged')));
  assert.equal(opt.stepCount, 2);
  const r = await trainer.step(good());
  assert.equal(r.step, 3, 'training continues after the bad batch');

  // Inside an accumulation window the error names the micro-batch; the accumulators are left alone.
  const acc = new TrainStep(model, (x: Tensor) => model.forward(x).mean(), opt, { accumulationSteps: 4 });
  await acc.step(good());
  const inf = gen.normalData(6);
  inf[0] = Infinity;
  await assert.rejects(acc.step(new Tensor([2, 3], 'float32', inf)), /non-finite loss \((?:-?Infinity|NaN)\) at step 4 \(micro-batch 2\/4\)/);
  assert.equal(acc.pendingMicroSteps, 1);

  // A finite loss with non-finite gradients (sqrt at 0) is refused too.
  const w = new Variable(Float32Array.of(0, 1), [2]);
  class Root extends Module { w = w; }
  const t = new TrainStep(new Root(), () => w.sqrt().sum(), new SGD([w], { lr: 0.1 }));
  await assert.rejects(t.step(null), (e: Error) => e instanceof NonFiniteGradError && /gradient norm \(Infinity\) at step 1/.test(e.message));
  assert.deepEqual(w.value, Float32Array.of(0, 1));
});

test('same seed, same losses: training runs are reproducible', async () => {
  const run = async (seed: number): Promise<number[]> => {
    const gen = new Generator(seed);
    const model = new (class extends Module {
      fc1 = new Linear(5, 8, { generator: gen });
      fc2 = new Linear(8, 1, { generator: gen });
    })();
    const opt = new AdamW(paramGroupsNoDecay(model, 0.01), { lr: 0.02 });
    const trainer = new TrainStep(model, (b: { x: Tensor; y: Tensor }) => mse(model.fc2.forward(F.dropout(model.fc1.forward(b.x).gelu(), 0.3, true, gen)), b.y), opt);
    const losses: number[] = [];
    for (let s = 0; s < 6; s++) losses.push((await trainer.step({ x: new Tensor([6, 5], 'float32', gen.normalData(30)), y: new Tensor([6, 1], 'float32', gen.normalData(6)) })).loss);
    return losses;
  };
  const a = await run(123), b = await run(123), c = await run(124);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.ok(a.every(Number.isFinite));
});

test('200 training steps keep memory flat (no per-step leak)', async () => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const gen = new Generator(21);
  const dims: [number, number, number] = [256, 256, 16];
  const model = new MLP(randomInit(gen, dims), dims);
  const opt = new AdamW(paramGroupsNoDecay(model, 0.01), { lr: 1e-3 });
  const trainer = new TrainStep(model, (b: { x: Tensor; y: Tensor }) => mse(model.forward(b.x), b.y), opt, { clipGradNorm: 1 });
  const x = gen.normalData(32 * 256), y = gen.normalData(32 * 16);
  const measure = (): { heap: number; buffers: number; rss: number } => {
    gc(); gc();
    const m = process.memoryUsage();
    return { heap: m.heapUsed, buffers: m.arrayBuffers, rss: m.rss };
  };
  let at20 = measure();
  for (let s = 1; s <= 200; s++) {
    await trainer.step({ x: new Tensor([32, 256], 'float32', x), y: new Tensor([32, 16], 'float32', y) });
    if (s === 20) at20 = measure();
  }
  const at200 = measure();
  const MB = 1 << 20;
  // One leaked copy of the parameters per step would be 180 x ~280 kB = 50 MB (and 3x that with the Adam moments).
  const grew = { heap: (at200.heap - at20.heap) / MB, buffers: (at200.buffers - at20.buffers) / MB, rss: (at200.rss - at20.rss) / MB };
  assert.ok(grew.heap < 8, `JS heap grew ${grew.heap.toFixed(1)} MB between steps 20 and 200`);
  assert.ok(grew.buffers < 8, `array buffers grew ${grew.buffers.toFixed(1)} MB between steps 20 and 200`);
  assert.ok(grew.rss < 48, `RSS grew ${grew.rss.toFixed(1)} MB between steps 20 and 200`);
  assert.equal(opt.stepCount, 200);
});
