import { test } from 'node:test';
import assert from 'node:assert/strict';
import { F, ShapeError, Tensor, Variable, grad, realize, runtimeStats } from '../src/index.js';

const { Generator } = F;

function moments(v: ArrayLike<number>): { mean: number; std: number; min: number; max: number } {
  let s = 0, min = Infinity, max = -Infinity;
  for (let i = 0; i < v.length; i++) { s += v[i]!; min = Math.min(min, v[i]!); max = Math.max(max, v[i]!); }
  const mean = s / v.length;
  let ss = 0;
  for (let i = 0; i < v.length; i++) ss += (v[i]! - mean) ** 2;
  return { mean, std: Math.sqrt(ss / (v.length - 1)), min, max };
}
const near = (actual: number, expected: number, tol: number, what: string): void => {
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual} vs expected ${expected} (tolerance ${tol})`);
};
const N = 100_000;

test('xoshiro128** matches the reference implementation output', () => {
  // state and outputs from the C reference (prng.di.unimi.it/xoshiro128starstar.c)
  const g = new Generator();
  g.setState([0x964d4a0c, 0xd40ab895, 0xad7fdecb, 0x3006f0f0]);
  assert.deepEqual([g.nextU32(), g.nextU32(), g.nextU32(), g.nextU32()], [0xf1391922, 0x6fe53806, 0xa5be2840, 0xf510ee70]);
  assert.deepEqual(g.getState(), [0xfc65379c, 0x52006d70, 0x87487639, 0xf1908343]);
});

test('same seed gives the same draws; different seeds differ', () => {
  const a = new Generator(42), b = new Generator(42), c = new Generator(43);
  const ua = a.uniformData(64), ub = b.uniformData(64), uc = c.uniformData(64);
  assert.deepEqual(ua, ub);
  assert.notDeepEqual(ua, uc);
  assert.deepEqual(a.normalData(33), b.normalData(33));
  assert.deepEqual(a.intData(20, -3, 9), b.intData(20, -3, 9));
  assert.deepEqual(a.permutation(50), b.permutation(50));
  assert.notDeepEqual(a.normalData(16), c.normalData(16));
  // reseeding restarts the stream; the default generator follows manualSeed
  a.manualSeed(42);
  assert.deepEqual(a.uniformData(64), ua);
  F.manualSeed(7);
  const r1 = F.randn([3, 4]).value, i1 = F.randint(0, 10, [5]).value;
  F.manualSeed(7);
  assert.deepEqual(F.randn([3, 4]).value, r1);
  assert.deepEqual(F.randint(0, 10, [5]).value, i1);
});

test('generator state save/restore reproduces the draws', () => {
  const g = new Generator(5);
  g.normalData(11);
  const saved = g.getState();
  const first = [g.uniformData(10), g.normalData(7), g.truncNormalData(9, 0.5), g.permutation(12)];
  g.uniformData(100); // move on, then restore
  g.setState(saved);
  assert.deepEqual([g.uniformData(10), g.normalData(7), g.truncNormalData(9, 0.5), g.permutation(12)], first);
  const h = new Generator(999);
  h.setState(saved);
  assert.deepEqual(h.uniformData(10), first[0]);
  assert.throws(() => g.setState([1, 2, 3]), /4 words/);
  assert.throws(() => g.setState([0, 0, 0, 0]), /all zeros/);
  assert.throws(() => g.setState([1, -2, 3, 4]), /uint32/);
});

test('uniform draws: range [low, high) and moments on 1e5 draws', () => {
  const g = new Generator(1);
  const u = g.uniformData(N);
  const m = moments(u);
  assert.ok(m.min >= 0 && m.max < 1, `range [${m.min}, ${m.max}]`);
  near(m.mean, 0.5, 0.005, 'uniform mean');
  near(m.std, Math.sqrt(1 / 12), 0.003, 'uniform std');
  // deciles are equally filled (chi-square with 9 dof; 99.9% quantile is 27.9)
  const counts = new Array<number>(10).fill(0);
  for (const v of u) counts[Math.floor(v * 10)]!++;
  const chi2 = counts.reduce((s, c) => s + (c - N / 10) ** 2 / (N / 10), 0);
  assert.ok(chi2 < 27.9, `chi2 ${chi2} for decile counts ${counts}`);
  const s = moments(g.uniformData(N, -3, 5));
  assert.ok(s.min >= -3 && s.max < 5);
  near(s.mean, 1, 0.04, 'shifted uniform mean');
  near(s.std, 8 / Math.sqrt(12), 0.025, 'shifted uniform std');
});

test('uniform float32 draws stay below 1 even for the largest 32-bit draw', () => {
  class Saturated extends Generator { override nextU32(): number { return 0xffffffff; } }
  const u = new Saturated().uniformData(4);
  for (const v of u) assert.ok(v < 1, `got ${v}`);
  assert.ok(F.rand([2], new Saturated()).value[0]! < 1);
});

test('normal draws: moments and tail mass on 1e5 draws', () => {
  const g = new Generator(2);
  const z = g.normalData(N);
  const m = moments(z);
  near(m.mean, 0, 0.016, 'normal mean');
  near(m.std, 1, 0.012, 'normal std');
  let within1 = 0, beyond2 = 0;
  for (const v of z) { if (Math.abs(v) < 1) within1++; if (Math.abs(v) > 2) beyond2++; }
  near(within1 / N, 0.682689, 0.008, 'P(|z| < 1)');
  near(beyond2 / N, 0.0455, 0.0035, 'P(|z| > 2)');
  const s = moments(g.normalData(N, 3, 0.5));
  near(s.mean, 3, 0.008, 'N(3, 0.5) mean');
  near(s.std, 0.5, 0.006, 'N(3, 0.5) std');
  const t = F.randn([200, 500], new Generator(3));
  assert.deepEqual(t.shape, [200, 500]);
  near(moments(t.value as Float32Array).std, 1, 0.012, 'randn std');
});

test('truncNormal: absolute bounds and the truncated std (timm trunc_normal_ semantics)', () => {
  const g = new Generator(4);
  const std = (a: number, b: number): { mean: number; sd: number } => {
    // moments of N(0, 1) truncated to [a, b], by numerical integration
    let z = 0, m1 = 0, m2 = 0;
    const steps = 20000, h = (b - a) / steps;
    for (let i = 0; i <= steps; i++) {
      const x = a + i * h, w = (i === 0 || i === steps ? 0.5 : 1) * Math.exp(-x * x / 2);
      z += w; m1 += w * x; m2 += w * x * x;
    }
    const mean = m1 / z;
    return { mean, sd: Math.sqrt(m2 / z - mean * mean) };
  };
  const d = g.truncNormalData(N); // std 1 in [-2, 2]
  const m = moments(d);
  assert.ok(m.min >= -2 && m.max <= 2);
  near(m.std, std(-2, 2).sd, 0.008, 'truncated std'); // ~0.8796
  near(m.mean, 0, 0.012, 'truncated mean');
  // bounds are absolute, not in units of std: mean 5, std 1, [4, 7] -> standardized [-1, 2]
  const e = g.truncNormalData(N, 1, 4, 7, 5);
  const me = moments(e), ref = std(-1, 2);
  assert.ok(me.min >= 4 && me.max <= 7);
  near(me.mean, 5 + ref.mean, 0.01, 'asymmetric truncated mean');
  near(me.std, ref.sd, 0.008, 'asymmetric truncated std');
  // the ViT init: std 0.02 with the default absolute bounds [-2, 2] is effectively untruncated
  near(moments(g.truncNormalData(N, 0.02)).std, 0.02, 0.0003, 'std 0.02');
  assert.throws(() => g.truncNormalData(4, 1, 1, 1), /lower bound a \(1\) must be below upper bound b \(1\)/);
  assert.deepEqual(Array.from(g.truncNormalData(3, 0, -1, 1, 5)), [1, 1, 1]);
});

test('randint and permutation', () => {
  const g = new Generator(6);
  const v = Array.from(g.intData(N, -2, 5), Number);
  const counts = new Map<number, number>();
  for (const x of v) counts.set(x, (counts.get(x) ?? 0) + 1);
  assert.deepEqual([...counts.keys()].sort((a, b) => a - b), [-2, -1, 0, 1, 2, 3, 4]);
  for (const c of counts.values()) near(c / N, 1 / 7, 0.006, 'randint frequency');
  assert.throws(() => g.intData(3, 4, 4), /high \(4\) must exceed low \(4\)/);
  const t = F.randint(0, 3, [2, 5], g);
  assert.equal(t.dtype, 'int64');
  assert.deepEqual(t.shape, [2, 5]);

  for (const n of [0, 1, 2, 17, 1000]) {
    const p = g.permutation(n);
    assert.deepEqual([...p].sort((a, b) => a - b), Array.from({ length: n }, (_, i) => i), `permutation(${n})`);
  }
  assert.notDeepEqual(g.permutation(20), g.permutation(20));
  // every element lands in the first slot about equally often
  const first = new Array<number>(5).fill(0);
  for (let i = 0; i < 20000; i++) first[g.permutation(5)[0]!]!++;
  for (const c of first) near(c / 20000, 0.2, 0.015, 'permutation first slot');
});

test('dropout keeps ~(1-p), scales kept values by 1/(1-p), and is the identity in eval', async () => {
  const p = 0.3;
  const x = new Tensor([N], 'float32', new Float32Array(N).fill(2));
  const y = await F.dropout(x, p, true, new Generator(8)).float32();
  let kept = 0;
  for (const v of y) {
    if (v !== 0) { kept++; assert.equal(v, Math.fround(Math.fround(2) * Math.fround(1 / (1 - p)))); }
  }
  near(kept / N, 1 - p, 0.0075, 'kept fraction');
  // the expectation is preserved
  near(moments(y).mean, 2, 0.03, 'dropout mean');
  assert.equal(F.dropout(x, p, false), x, 'eval mode returns the input');
  assert.equal(F.dropout(x, 0, true), x, 'p = 0 returns the input');
  assert.throws(() => F.dropout(x, 1, true), (e: Error) => e instanceof ShapeError && /dropout: p must be in \[0, 1\), got 1/.test(e.message));
  assert.throws(() => F.dropout(x, -0.1, true), /p must be in \[0, 1\)/);
});

test('dropout mask changes every step while the training-step graph compiles once', async () => {
  const g = new Generator(9);
  const n = 256;
  const w = new Variable(Float32Array.from({ length: n }, (_, i) => 0.5 + i / n), [n]);
  const x = new Tensor([n], 'float32', Float32Array.from({ length: n }, (_, i) => 1 + (i % 7)));
  const step = async (): Promise<{ y: Float32Array; g: Float32Array }> => {
    const y = F.dropout(x.mul(w), 0.5, true, g);
    const [dw] = grad(y.mul(y).sum(), [w]);
    await realize([y, dw!]);
    return { y: y.value as Float32Array, g: dw!.value as Float32Array };
  };
  const masks: string[] = [];
  const first = await step();
  masks.push(first.y.map((v) => (v === 0 ? 0 : 1)).join(''));
  const compiles = runtimeStats.compiles;
  for (let i = 0; i < 4; i++) {
    const { y, g: dw } = await step();
    masks.push(y.map((v) => (v === 0 ? 0 : 1)).join(''));
    // d/dw sum((x w m)^2) = 2 (x w m) x m, with m in {0, 2}: zero exactly where the sample was dropped
    for (let k = 0; k < n; k++) {
      const xv = x.value[k] as number, wv = w.value[k] as number, m = y[k] === 0 ? 0 : 2;
      assert.ok(Math.abs(dw[k]! - 2 * xv * wv * m * xv * m) <= 1e-4 * Math.abs(dw[k]!) + 1e-5, `grad[${k}]`);
    }
  }
  assert.equal(runtimeStats.compiles, compiles, 'new dropout masks reuse the compiled session');
  assert.equal(new Set(masks).size, masks.length, 'every step draws a fresh mask');
});

test('dropPath drops whole samples and scales the kept ones', async () => {
  const p = 0.25, b = 4000;
  const x = new Tensor([b, 3, 2], 'float32', new Float32Array(b * 6).fill(1));
  const y = await F.dropPath(x, p, true, new Generator(10)).float32();
  let kept = 0;
  const scale = Math.fround(1 / (1 - p));
  for (let i = 0; i < b; i++) {
    const row = y.subarray(i * 6, i * 6 + 6);
    const v = row[0]!;
    assert.ok(v === 0 || v === scale, `sample ${i}: ${v}`);
    assert.ok(row.every((r) => r === v), `sample ${i} is dropped or kept as a whole`);
    if (v !== 0) kept++;
  }
  near(kept / b, 1 - p, 0.035, 'kept sample fraction');
  assert.equal(F.dropPath(x, p, false), x);
  assert.throws(() => F.dropPath(new Tensor([], 'float32', new Float32Array(1)), 0.5, true), /dropPath: input must have a batch axis/);
});
