import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import {
  AdamW, SGD, Optimizer, Tensor, Variable, ShapeError, clipGradNorm, constantLr, cosineWithWarmup, stepDecay, paramGroupsNoDecay,
  realize, runtimeStats, type ParamGroupOptions,
} from '../src/index.js';
import { Module } from '../src/nn/module.js';
import { assertClose } from './helpers/gradcheck.js';

interface Case {
  name: string;
  kind: 'SGD' | 'AdamW';
  options: { lr: number; momentum?: number; dampening?: number; nesterov?: boolean; weightDecay?: number; betas?: [number, number]; eps?: number; amsgrad?: boolean };
  groups?: { params: number[]; lrMult: number; weightDecay?: number }[];
  lrs?: number[];
  trajectory: number[][][];
}
interface Fixture {
  shapes: number[][];
  p0: number[][];
  grads: number[][][];
  cases: Case[];
  clip: { shapes: number[][]; grads: number[][]; cases: { maxNorm: number; totalNorm: number; clipped: number[][] }[] };
  schedules: { stepLR: { baseLr: number; stepSize: number; gamma: number; lrs: number[] }; cosine: { baseLr: number; tMax: number; etaMin: number; lrs: number[] } };
}
const fx = JSON.parse(readFileSync(new URL('../../test/fixtures/optim.json', import.meta.url), 'utf8')) as Fixture;

const params0 = (): Variable[] => fx.shapes.map((s, i) => new Variable(Float32Array.from(fx.p0[i]!), s));
const gradsAt = (t: number): Tensor[] => fx.shapes.map((s, i) => new Tensor(s, 'float32', Float32Array.from(fx.grads[t]![i]!)));

function makeOptimizer(c: Case, ps: Variable[]): Optimizer {
  const spec: Variable[] | ParamGroupOptions[] = c.groups
    ? c.groups.map((g) => ({ params: g.params.map((i) => ps[i]!), lrMult: g.lrMult, ...(g.weightDecay !== undefined ? { weightDecay: g.weightDecay } : {}) }))
    : ps;
  return c.kind === 'SGD' ? new SGD(spec, c.options) : new AdamW(spec, c.options);
}

test('SGD and AdamW trajectories match torch 1.13 (momentum, dampening, nesterov, weight decay, amsgrad, groups, changing lr)', async () => {
  assert.ok(fx.cases.length >= 10);
  for (const c of fx.cases) {
    const ps = params0();
    const opt = makeOptimizer(c, ps);
    let compilesAfterFirst = 0;
    for (let t = 0; t < c.trajectory.length; t++) {
      if (c.lrs) opt.lr = c.lrs[t]!;
      await opt.step(gradsAt(t));
      if (t === 0) compilesAfterFirst = runtimeStats.compiles;
      ps.forEach((p, i) => assertClose(p.value as Float32Array, c.trajectory[t]![i]!, 1e-6, 1e-5, `${c.name} step ${t + 1} param ${i}`));
    }
    assert.equal(runtimeStats.compiles, compilesAfterFirst, `${c.name}: later steps must reuse the first step's session`);
    assert.equal(opt.stepCount, c.trajectory.length);
  }
});

test('optimizer state round trip (memory and safetensors file) continues bit-identically', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'omni-optim-'));
  try {
    const configs: [string, (ps: Variable[]) => Optimizer, (ps: Variable[]) => Optimizer][] = [
      ['adamw-amsgrad', (ps) => new AdamW(ps, { lr: 0.01, betas: [0.85, 0.99], eps: 1e-7, weightDecay: 0.03, amsgrad: true }), (ps) => new AdamW(ps, { lr: 0.5 })],
      ['adamw-groups', (ps) => new AdamW([{ params: [ps[0]!], lrMult: 2 }, { params: [ps[1]!], weightDecay: 0 }], { lr: 0.004 }),
        (ps) => new AdamW([{ params: [ps[0]!] }, { params: [ps[1]!] }], { lr: 1 })],
      ['sgd-nesterov', (ps) => new SGD(ps, { lr: 0.03, momentum: 0.7, nesterov: true, weightDecay: 0.01 }), (ps) => new SGD(ps, { lr: 9, momentum: 0.1 })],
    ];
    for (const [name, make, makeOther] of configs) {
      const ps = params0();
      const a = make(ps);
      for (let t = 0; t < 3; t++) await a.step(gradsAt(t));
      const path = join(dir, `${name}.safetensors`);
      await a.save(path);
      const memory = a.stateDict();
      const saved = ps.map((p) => Float32Array.from(p.value as Float32Array));
      for (let t = 3; t < 6; t++) await a.step(gradsAt(t));
      const expected = ps.map((p) => p.value as Float32Array);

      for (const via of ['file', 'memory'] as const) {
        const qs = fx.shapes.map((s, i) => new Variable(Float32Array.from(saved[i]!), s));
        const b = makeOther(qs); // different hyperparameters: loading must restore them
        if (via === 'file') await b.load(path); else b.loadStateDict(memory);
        assert.equal(b.stepCount, 3, `${name} (${via}): step count restored`);
        assert.deepEqual(b.hyperparameters(), a.hyperparameters(), `${name} (${via}): hyperparameters restored`);
        assert.equal(b.lr, a.lr);
        assert.deepEqual(b.groups.map((g) => [g.lrMult, g.weightDecay, g.step]), a.groups.map((g) => [g.lrMult, g.weightDecay, g.step - 3]));
        for (let t = 3; t < 6; t++) await b.step(gradsAt(t));
        qs.forEach((q, i) => assert.deepEqual(q.value, expected[i], `${name} (${via}): param ${i} after resuming`));
      }
    }
    // Mismatches are refused with a reason.
    const ps = params0();
    const adam = new AdamW(ps);
    await adam.step(gradsAt(0));
    await adam.save(join(dir, 'adam.safetensors'));
    await assert.rejects(new SGD(params0(), { lr: 0.1 }).load(join(dir, 'adam.safetensors')), /state dict is for AdamW/);
    const wrongShape = [new Variable(new Float32Array(12), [4, 3]), new Variable(new Float32Array(4), [4])];
    await assert.rejects(new AdamW(wrongShape).load(join(dir, 'adam.safetensors')), /state '0.exp_avg' has shape \[3, 4\], parameter 0 is \[4, 3\]/);
    assert.throws(() => new AdamW([ps[0]!]).loadStateDict(adam.stateDict()), /group 0 has 2 parameters in the state dict, 1 here/);
    assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), [], 'atomic writes leave no temp files');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('clipGradNorm matches torch.nn.utils.clip_grad_norm_ (clipping and not clipping)', async () => {
  for (const c of fx.clip.cases) {
    const gs = fx.clip.shapes.map((s, i) => new Tensor(s, 'float32', Float32Array.from(fx.clip.grads[i]!)));
    const { grads, totalNorm } = clipGradNorm(gs, c.maxNorm);
    await realize([totalNorm, ...grads]);
    assertClose([Number(totalNorm.value[0])], [c.totalNorm], 0, 1e-6, `total norm (max ${c.maxNorm})`);
    grads.forEach((g, i) => assertClose(g.value as Float32Array, c.clipped[i]!, 1e-7, 1e-5, `clipped grad ${i} (max ${c.maxNorm})`));
  }
  assert.ok(fx.clip.cases.some((c) => c.totalNorm > c.maxNorm) && fx.clip.cases.some((c) => c.totalNorm < c.maxNorm));
  assert.throws(() => clipGradNorm([], 1), /no gradients/);
  assert.throws(() => clipGradNorm([new Tensor([1], 'float32', Float32Array.of(1))], 0), /maxNorm must be a positive/);
});

test('schedules: step decay and cosine match torch schedulers; warmup is linear', () => {
  const s = fx.schedules.stepLR;
  const sd = stepDecay({ baseLr: s.baseLr, stepSize: s.stepSize, gamma: s.gamma });
  assertClose(s.lrs.map((_, t) => sd(t)), s.lrs, 0, 1e-12, 'stepDecay');
  const c = fx.schedules.cosine;
  const cos = cosineWithWarmup({ baseLr: c.baseLr, totalSteps: c.tMax, minLr: c.etaMin });
  assertClose(c.lrs.map((_, t) => cos(t)), c.lrs, 0, 1e-12, 'cosine (no warmup)');
  // With warmup the cosine part is torch's CosineAnnealingLR shifted by the warmup.
  const warm = cosineWithWarmup({ baseLr: c.baseLr, warmupSteps: 3, totalSteps: 3 + c.tMax, minLr: c.etaMin, warmupStartLr: 0.01 });
  assertClose(c.lrs.map((_, t) => warm(t + 3)), c.lrs, 0, 1e-12, 'cosine after warmup');
  assertClose([0, 1, 2].map(warm), [0.01, 0.01 + 0.09 / 3, 0.01 + 0.18 / 3], 0, 1e-12, 'warmup');
  assert.equal(warm(100), c.etaMin, 'stays at minLr after totalSteps');
  const w = cosineWithWarmup({ baseLr: 1, warmupSteps: 4, totalSteps: 12 });
  assertClose([0, 2, 4, 8, 12].map(w), [0, 0.5, 1, 0.5, 0], 1e-15, 0, 'closed form');
  assert.equal(constantLr(0.3)(17), 0.3);
  assert.throws(() => cosineWithWarmup({ baseLr: 1, warmupSteps: 5, totalSteps: 5 }), /invalid totalSteps/);
  assert.throws(() => stepDecay({ baseLr: 1, stepSize: 0 }), /invalid stepSize/);
  assert.throws(() => sd(-1), /non-negative integer/);
});

test('paramGroupsNoDecay: biases, norm weights, 1-D params and embeddings skip decay; frozen params are left out', () => {
  const v = (...shape: number[]): Variable => new Variable(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape);
  const frozen = v(3, 3);
  frozen.requiresGrad = false;
  const named: [string, Variable][] = [
    ['patch_embed.proj.weight', v(4, 3, 2, 2)], ['patch_embed.proj.bias', v(4)], ['pos_embed', v(1, 5, 4)], ['cls_token', v(1, 1, 4)],
    ['blocks.0.norm1.weight', v(4)], ['blocks.0.attn.qkv.weight', v(12, 4)], ['blocks.0.attn.rel.relative_position_bias_table', v(9, 2)],
    ['blocks.0.ls.gamma', v(4)], ['head.weight', v(2, 4)], ['head.bias', v(2)], ['frozen.weight', frozen], ['special', v(2, 2)],
  ];
  const [noDecay, decay] = paramGroupsNoDecay(named, 0.05, { noDecayNames: ['special'] });
  assert.equal(noDecay!.weightDecay, 0);
  assert.equal(decay!.weightDecay, 0.05);
  assert.deepEqual(noDecay!.paramNames, ['patch_embed.proj.bias', 'pos_embed', 'cls_token', 'blocks.0.norm1.weight', 'blocks.0.attn.rel.relative_position_bias_table', 'blocks.0.ls.gamma', 'head.bias', 'special']);
  assert.deepEqual(decay!.paramNames, ['patch_embed.proj.weight', 'blocks.0.attn.qkv.weight', 'head.weight']);
  assert.deepEqual(noDecay!.params, noDecay!.paramNames!.map((n) => named.find(([m]) => m === n)![1]));

  class Tiny extends Module {
    weight = v(3, 2);
    bias = v(3);
  }
  const groups = paramGroupsNoDecay(new Tiny(), 0.1, { lrMult: 0.5 });
  assert.deepEqual(groups.map((g) => [g.name, g.paramNames, g.weightDecay, g.lrMult]), [['no_decay', ['bias'], 0, 0.5], ['decay', ['weight'], 0.1, 0.5]]);
  const opt = new AdamW(groups, { lr: 1e-3 });
  assert.deepEqual(opt.groups.map((g) => g.weightDecay), [0, 0.1]);
});

test('optimizers validate their arguments like torch', async () => {
  const ps = params0();
  assert.throws(() => new SGD(ps, { lr: 0.1, nesterov: true }), /Nesterov momentum requires a momentum > 0 and zero dampening/);
  assert.throws(() => new SGD(ps, { lr: -1 }), /invalid learning rate/);
  assert.throws(() => new AdamW(ps, { betas: [0.9, 1] }), /invalid beta parameter at index 1/);
  assert.throws(() => new AdamW([{ params: [ps[0]!] }, { params: [ps[0]!] }]), /appears in more than one parameter group/);
  assert.throws(() => new AdamW([new Variable(new Float32Array(2), [2], 'buffer')]), /is not a parameter Variable/);
  assert.throws(() => new SGD([], { lr: 1 }), /empty parameter list/);
  const opt = new SGD(ps, { lr: 0.1 });
  await assert.rejects(opt.step([gradsAt(0)[0]!]), /got 1 gradients for 2 parameters/);
  assert.throws(() => opt.traceUpdate(new Map([[ps[0]!, new Tensor([4, 3], 'float32', new Float32Array(12))]])), (e: Error) => e instanceof ShapeError && /\[4, 3\].*\[3, 4\]/.test(e.message));
});
