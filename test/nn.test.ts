import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BatchNorm1d, BatchNorm2d, Conv1d, Conv2d, Conv3d, DropPath, Dropout, Embedding, GELU, GroupNorm, Identity, LayerNorm,
  Linear, Mlp, Module, ModuleList, MultiHeadAttention, ReLU, Sequential, ShapeError, Tensor, TransformerBlock,
  TransformerEncoder, Variable, applyBufferUpdates, grad, init, initWeightsTimm,
} from '../src/index.js';
import { Generator } from '../src/engine/functional/random.js';
import { assertClose, gradcheck } from './helpers/gradcheck.js';
import { Rng } from './helpers/rng.js';

const rng = new Rng(7);
const randT = (shape: number[], lo = -1, hi = 1): Tensor => new Tensor(shape, 'float32', rng.uniform(shape.reduce((a, b) => a * b, 1), lo, hi));
const randQ = randT([2, 3, 4]);
const boolT = (shape: number[], v: number[]): Tensor => new Tensor(shape, 'bool', Uint8Array.from(v));

function stats(a: ArrayLike<number>): { mean: number; variance: number; min: number; max: number } {
  let s = 0, ss = 0, min = Infinity, max = -Infinity;
  for (let i = 0; i < a.length; i++) { const v = a[i]!; s += v; ss += v * v; min = Math.min(min, v); max = Math.max(max, v); }
  const mean = s / a.length;
  return { mean, variance: ss / a.length - mean * mean, min, max };
}

/**
 * Make `f(x, ...params)` from a module forward, so gradcheck can perturb parameters: the named parameters
 * are temporarily replaced by the given tensors while the graph is traced (forward reads fields at trace time).
 */
function withParams(m: Module, names: string[], run: (x: Tensor) => Tensor): (x: Tensor, ...ps: Tensor[]) => Tensor {
  return (x, ...ps) => {
    const slots = names.map((n) => {
      const dot = n.lastIndexOf('.');
      const owner = m.getSubmodule(dot < 0 ? '' : n.slice(0, dot)) as unknown as Record<string, Tensor>;
      return [owner, n.slice(dot + 1)] as const;
    });
    const saved = slots.map(([o, k]) => o[k]!);
    slots.forEach(([o, k], i) => { o[k] = ps[i]!; });
    try { return run(x); } finally { slots.forEach(([o, k], i) => { o[k] = saved[i]!; }); }
  };
}
const paramSpecs = (m: Module, names: string[]): { shape: number[]; values: Float32Array }[] => {
  const sd = m.stateDict();
  return names.map((n) => ({ shape: [...sd.get(n)!.shape], values: Float32Array.from(sd.get(n)!.value as Float32Array) }));
};

test('parameter names and shapes follow torch/timm (2-block encoder)', () => {
  const D = 16, H = 4;
  const enc = new TransformerEncoder(D, 2, H, { mlpRatio: 2 });
  const block = ['norm1.weight', 'norm1.bias', 'attn.qkv.weight', 'attn.qkv.bias', 'attn.proj.weight', 'attn.proj.bias',
    'norm2.weight', 'norm2.bias', 'mlp.fc1.weight', 'mlp.fc1.bias', 'mlp.fc2.weight', 'mlp.fc2.bias'];
  const names = enc.namedParameters().map(([n]) => n);
  assert.deepEqual(names, [...block.map((n) => `blocks.0.${n}`), ...block.map((n) => `blocks.1.${n}`), 'norm.weight', 'norm.bias']);
  const shapes = new Map(enc.namedParameters().map(([n, v]) => [n, [...v.shape]]));
  assert.deepEqual(shapes.get('blocks.0.attn.qkv.weight'), [3 * D, D]);
  assert.deepEqual(shapes.get('blocks.0.attn.qkv.bias'), [3 * D]);
  assert.deepEqual(shapes.get('blocks.1.attn.proj.weight'), [D, D]);
  assert.deepEqual(shapes.get('blocks.1.mlp.fc1.weight'), [2 * D, D]);
  assert.deepEqual(shapes.get('blocks.1.mlp.fc2.bias'), [D]);
  assert.equal(enc.getSubmodule('blocks.1.attn'), enc.blocks[1]!.attn);
  // LayerScale adds ls1.gamma / ls2.gamma; no qkv bias removes attn.qkv.bias.
  const ls = new TransformerBlock(D, H, { layerScale: 1e-5, qkvBias: false });
  const lsNames = ls.namedParameters().map(([n]) => n);
  assert.ok(lsNames.includes('ls1.gamma') && lsNames.includes('ls2.gamma') && !lsNames.includes('attn.qkv.bias'));
  assert.deepEqual(Array.from(ls.stateDict().get('ls1.gamma')!.value as Float32Array), new Array(D).fill(Math.fround(1e-5)));
  // Containers name children 0, 1, ... like torch.
  const seq = new Sequential(new Linear(3, 4), new ReLU(), new Linear(4, 2, { bias: false }));
  assert.deepEqual(seq.namedParameters().map(([n, v]) => `${n}:${v.shape.join('x')}`), ['0.weight:4x3', '0.bias:4', '2.weight:2x4']);
  const list = new ModuleList([new LayerNorm(5), new LayerNorm(5)]);
  assert.deepEqual(list.namedParameters().map(([n]) => n), ['0.weight', '0.bias', '1.weight', '1.bias']);
  assert.equal(list.length, 2);
  assert.equal(list.at(-1), list[1]);
  // Buffers: BatchNorm has torch's buffer names, conv weight is [out, in/groups, *k].
  const bn = new BatchNorm2d(6);
  assert.deepEqual(bn.namedBuffers().map(([n, v]) => `${n}:${v.dtype}[${v.shape.join(',')}]`), ['running_mean:float32[6]', 'running_var:float32[6]', 'num_batches_tracked:int64[]']);
  assert.deepEqual([...new Conv2d(6, 8, 3, { groups: 2 }).weight.shape], [8, 3, 3, 3]);
  assert.deepEqual([...new Conv1d(2, 4, 5).weight.shape], [4, 2, 5]);
  assert.deepEqual([...new Conv3d(2, 4, [1, 2, 3]).weight.shape], [4, 2, 1, 2, 3]);
  assert.deepEqual([...new Embedding(10, 6).weight.shape], [10, 6]);
  assert.deepEqual(new MultiHeadAttention(D, H, { cross: true, kdim: 12 }).namedParameters().map(([n, v]) => `${n}:${v.shape.join('x')}`),
    [`q.weight:${D}x${D}`, `q.bias:${D}`, `kv.weight:${2 * D}x12`, `kv.bias:${2 * D}`, `proj.weight:${D}x${D}`, `proj.bias:${D}`]);
});

test('parameter counts match the closed form', () => {
  const D = 24, H = 3, hid = 96;
  const perBlock = 2 * 2 * D + (3 * D * D + 3 * D) + (D * D + D) + (D * hid + hid) + (hid * D + D);
  assert.equal(new TransformerBlock(D, H).numParams(), perBlock);
  assert.equal(new TransformerBlock(D, H, { qkvBias: false, layerScale: 0.1 }).numParams(), perBlock - 3 * D + 2 * D);
  assert.equal(new TransformerEncoder(D, 3, H).numParams(), 3 * perBlock + 2 * D);
  assert.equal(new Linear(7, 5).numParams(), 40);
  assert.equal(new Conv2d(4, 6, 3, { groups: 2 }).numParams(), 6 * 2 * 9 + 6);
  assert.equal(new BatchNorm1d(8).numParams(), 16); // buffers are not parameters
  assert.equal(new LayerNorm([4, 5], { elementwiseAffine: false }).numParams(), 0);
});

test('freeze / unfreeze a subtree; train / eval propagate to every descendant', () => {
  const enc = new TransformerEncoder(8, 2, 2, { mlpRatio: 1 });
  const total = enc.numParams();
  enc.blocks[0]!.freeze();
  const frozen = enc.blocks[0]!.numParams();
  assert.equal(enc.numParams({ trainableOnly: true }), total - frozen);
  assert.ok(enc.namedTrainableParameters().every(([n]) => !n.startsWith('blocks.0.')));
  assert.ok(enc.blocks[1]!.parameters().every((p) => p.requiresGrad));
  // Frozen parameters get no gradient path: grad of a loss only flows to trainable ones.
  enc.blocks[0]!.attn.unfreeze();
  assert.equal(enc.numParams({ trainableOnly: true }), total - frozen + enc.blocks[0]!.attn.numParams());
  enc.unfreeze();
  assert.equal(enc.numParams({ trainableOnly: true }), total);

  const all = (m: Module): boolean[] => m.namedModules().map(([, c]) => c.training);
  assert.ok(all(enc).every((t) => t));
  enc.eval();
  assert.ok(all(enc).every((t) => !t));
  assert.equal(enc.blocks[1]!.attn.attn_drop.training, false);
  enc.blocks[1]!.train();
  assert.ok(all(enc.blocks[1]!).every((t) => t) && all(enc.blocks[0]!).every((t) => !t));
});

test('dropout: identity in eval; inverted scaling and whole-sample drop-path in training', async () => {
  const x = randT([4, 50], 1, 2);
  const xs = await x.float32();
  const d = new Dropout(0.3, { generator: new Generator(3) });
  d.eval();
  assert.equal(d.forward(x), x);
  const dp = new DropPath(0.5, { generator: new Generator(4) });
  dp.eval();
  assert.equal(dp.forward(x), x);
  d.train();
  const y = await d.forward(x).float32();
  let zeros = 0;
  for (let i = 0; i < y.length; i++) {
    if (y[i] === 0) zeros++;
    else assert.ok(Math.abs(y[i]! - xs[i]! / 0.7) < 1e-5, 'kept values are scaled by 1/(1-p)');
  }
  assert.ok(zeros > 30 && zeros < 90, `about 30% of 200 dropped, got ${zeros}`);
  dp.train();
  const big = randT([64, 3], 1, 2);
  const bs = await big.float32();
  const z = await dp.forward(big).float32();
  let dropped = 0;
  for (let s = 0; s < 64; s++) {
    const row = [0, 1, 2].map((j) => z[s * 3 + j]!);
    if (row.every((v) => v === 0)) dropped++;
    else row.forEach((v, j) => assert.ok(Math.abs(v - 2 * bs[s * 3 + j]!) < 1e-5, 'surviving samples are scaled by 1/(1-p)'));
  }
  assert.ok(dropped > 15 && dropped < 49, `about half of 64 samples dropped, got ${dropped}`);
  assert.throws(() => new Dropout(1), /Dropout: p must be in \[0, 1\)/);
});

test('initialisation statistics (torch defaults, timm trunc-normal, xavier, kaiming)', () => {
  const g = new Generator(11);
  const lin = new Linear(256, 300, { generator: g });
  const w = stats(lin.weight.value as Float32Array), b = stats(lin.bias!.value as Float32Array);
  const bound = 1 / 16;
  assert.ok(w.min >= -bound && w.max <= bound && w.max > 0.99 * bound, `kaiming(a=sqrt5) bound 1/sqrt(in): ${w.min}..${w.max}`);
  assert.ok(Math.abs(w.variance - bound * bound / 3) < 0.03 * bound * bound / 3, `U(-b,b) variance b^2/3, got ${w.variance}`);
  assert.ok(b.min >= -bound && b.max <= bound);

  initWeightsTimm(lin, { generator: g });
  const t = stats(lin.weight.value as Float32Array);
  assert.ok(Math.abs(t.mean) < 5e-4 && Math.abs(Math.sqrt(t.variance) - 0.02) < 5e-4, `trunc-normal std 0.02: mean ${t.mean}, std ${Math.sqrt(t.variance)}`);
  assert.ok((lin.bias!.value as Float32Array).every((v) => v === 0));

  const blk = new TransformerBlock(16, 2);
  for (const p of blk.parameters()) init.uniform_(p, -3, 3, g);
  initWeightsTimm(blk, { generator: g });
  for (const [n, p] of blk.namedParameters()) {
    const v = p.value as Float32Array;
    if (n.includes('norm') && n.endsWith('weight')) assert.ok(v.every((a) => a === 1), `${n} = 1`);
    else if (n.endsWith('bias')) assert.ok(v.every((a) => a === 0), `${n} = 0`);
    else assert.ok(Math.abs(Math.sqrt(stats(v).variance) - 0.02) < 0.004, `${n} std 0.02`);
  }

  // Absolute bounds +-2 as timm: with std 1 the draws are truncated, variance 1 - 4 phi(2) / (2 Phi(2) - 1).
  const p = new Variable(new Float32Array(65536), [256, 256]);
  const tn = stats(init.truncNormal_(p, 1, { generator: g }).value as Float32Array);
  assert.ok(tn.min >= -2 && tn.max <= 2 && tn.max > 1.95);
  assert.ok(Math.abs(tn.variance - 0.7737) < 0.02, `truncated variance ${tn.variance}`);
  const xb = Math.sqrt(6 / (256 + 256));
  const xu = stats(init.xavierUniform_(p, 1, g).value as Float32Array);
  assert.ok(xu.min >= -xb && xu.max <= xb && Math.abs(xu.variance - xb * xb / 3) < 0.03 * xb * xb / 3);
  const ku = stats(init.kaimingUniform_(p, { nonlinearity: 'relu', generator: g }).value as Float32Array);
  const kb = Math.sqrt(2) * Math.sqrt(3 / 256);
  assert.ok(ku.min >= -kb && ku.max <= kb && ku.max > 0.99 * kb);
  const conv = init.calculateFanInAndFanOut(new Conv2d(4, 6, [3, 5]).weight);
  assert.deepEqual(conv, { fanIn: 4 * 15, fanOut: 6 * 15 });
  assert.ok((init.zeros_(p).value as Float32Array).every((v) => v === 0));
  assert.ok((init.ones_(p).value as Float32Array).every((v) => v === 1));
  // Seeded: the same generator seed gives the same weights.
  assert.deepEqual(new Linear(4, 3, { generator: new Generator(5) }).weight.value, new Linear(4, 3, { generator: new Generator(5) }).weight.value);
  const emb = new Embedding(50, 8, { paddingIdx: 3, generator: g });
  const ev = emb.weight.value as Float32Array;
  assert.ok(ev.subarray(24, 32).every((v) => v === 0), 'padding row is zero');
  assert.ok(Math.abs(stats(ev).variance - 1) < 0.2, 'N(0, 1) default');
});

test('linear and layer norm values match closed forms; shape errors name the layer and shapes', async () => {
  const lin = new Linear(3, 2);
  lin.weight.assignSync(Float32Array.from([1, 2, 3, -1, 0, 1]));
  lin.bias!.assignSync(Float32Array.from([0.5, -0.5]));
  const x = new Tensor([2, 3], 'float32', Float32Array.from([1, 1, 1, 2, 0, -1]));
  assertClose(await lin.forward(x).toArray(), [6.5, -0.5, -0.5, -3.5]);
  assert.throws(() => lin.forward(randT([2, 4])), (e: Error) => e instanceof ShapeError && /in_features = 3/.test(e.message) && /\[2, 4\]/.test(e.message));

  const ln = new LayerNorm(4, { elementwiseAffine: false, eps: 0 });
  const v = [1, 2, 3, 6];
  const m = 3, sd = Math.sqrt(((1 - m) ** 2 + 1 + 0 + 9) / 4);
  assertClose(await ln.forward(new Tensor([1, 4], 'float32', Float32Array.from(v))).toArray(), v.map((a) => (a - m) / sd), 1e-5);
  assert.throws(() => ln.forward(randT([2, 5])), /layerNorm.*\[4\].*\[2, 5\]/);
  const lnm = new LayerNorm([2, 3]);
  await gradcheck('LayerNorm module', withParams(lnm, ['weight', 'bias'], (t) => lnm.forward(t)), [{ shape: [4, 2, 3] }, { shape: [2, 3] }, { shape: [2, 3] }]);
});

test('attention: key-padding mask really masks; no NaN for partially padded rows', async () => {
  const B = 2, N = 5, D = 8;
  const attn = new MultiHeadAttention(D, 2, { generator: new Generator(1) });
  const blk = new TransformerBlock(D, 2, { mlpRatio: 2, generator: new Generator(2) });
  const pad = [0, 0, 0, 1, 1, 0, 0, 0, 0, 1]; // sample 0: tokens 3,4 padded; sample 1: token 4
  const mask = boolT([B, N], pad);
  const x1 = rng.uniform(B * N * D, -1, 1);
  const x2 = Float32Array.from(x1);
  for (let i = 0; i < B * N; i++) if (pad[i]) for (let j = 0; j < D; j++) x2[i * D + j] = 5 * Math.sin(i + j); // change padded tokens
  for (const [name, f] of [['attention', (x: Tensor, o: object) => attn.forward(x, o)], ['block', (x: Tensor, o: object) => blk.forward(x, o)]] as const) {
    const run = (x: Float32Array, o: object): Promise<Float32Array> => f(new Tensor([B, N, D], 'float32', x), o).float32();
    const [a, b] = [await run(x1, { keyPaddingMask: mask }), await run(x2, { keyPaddingMask: mask })];
    assert.ok(a.every(Number.isFinite) && b.every(Number.isFinite), `${name}: finite`);
    let diffKept = 0;
    for (let i = 0; i < B * N; i++) if (!pad[i]) for (let j = 0; j < D; j++) diffKept = Math.max(diffKept, Math.abs(a[i * D + j]! - b[i * D + j]!));
    assert.ok(diffKept < 1e-5, `${name}: non-padded outputs unchanged by padded tokens (max diff ${diffKept})`);
    // Without the mask the same change does leak into the other tokens (the check above is not vacuous).
    const [c, d] = [await run(x1, {}), await run(x2, {})];
    let leak = 0;
    for (let i = 0; i < B * N; i++) if (!pad[i]) for (let j = 0; j < D; j++) leak = Math.max(leak, Math.abs(c[i * D + j]! - d[i * D + j]!));
    assert.ok(leak > 1e-3, `${name}: unmasked outputs depend on the padded tokens (${leak})`);
  }
  // A bool attention mask of the same pattern is equivalent to the key-padding mask; a float mask is additive.
  const xt = new Tensor([B, N, D], 'float32', x1);
  const ref = await attn.forward(xt, { keyPaddingMask: mask }).float32();
  assertClose(await attn.forward(xt, { attnMask: boolT([B, N, N], Array.from({ length: B * N * N }, (_, k) => pad[Math.floor(k / (N * N)) * N + (k % N)]!)) }).float32(), ref, 1e-6);
  const fmask = new Tensor([N, N], 'float32', Float32Array.from({ length: N * N }, (_, k) => (k % N === 4 ? -1e9 : 0)));
  const bothPadLast = await attn.forward(xt, { attnMask: fmask }).float32();
  const lastPad = await attn.forward(xt, { keyPaddingMask: boolT([B, N], [0, 0, 0, 0, 1, 0, 0, 0, 0, 1]) }).float32();
  assertClose(bothPadLast, lastPad, 1e-6);
  // Causal mask: the first token's output depends only on itself.
  const causal = boolT([N, N], Array.from({ length: N * N }, (_, k) => Number(k % N > Math.floor(k / N))));
  const ca = await attn.forward(xt, { attnMask: causal }).float32();
  const cb = await attn.forward(new Tensor([B, N, D], 'float32', Float32Array.from(x1, (v, k) => (k % (N * D) >= D ? v + 1 : v))), { attnMask: causal }).float32();
  assertClose(cb.subarray(0, D), ca.subarray(0, D), 1e-6);
  assert.throws(() => attn.forward(xt, { keyPaddingMask: boolT([B, N + 1], new Array(B * (N + 1)).fill(0)) }), /keyPaddingMask must be bool \[B, Nk\] = \[2, 5\]/);
  assert.throws(() => attn.forward(randT([B, N, D + 1])), /query must be \[B, N, 8\]/);
});

test('cross-attention: shapes, equivalence with self-attention when context = input, separate k/v', async () => {
  const B = 2, Nq = 3, Nk = 4, D = 8, Dk = 6;
  const cross = new MultiHeadAttention(D, 2, { cross: true, kdim: Dk });
  const ctx = randT([B, Nk, Dk]);
  const q = randT([B, Nq, D]);
  const y = cross.forward(q, { context: ctx });
  assert.deepEqual([...y.shape], [B, Nq, D]);
  assert.ok((await y.float32()).every(Number.isFinite));
  assert.throws(() => cross.forward(q), /cross-attention needs a context \[B, Nk, 6\]/);
  assert.throws(() => cross.forward(q, { context: randT([B, Nk, D]) }), /context must be \[2, Nk, 6\]/);

  // Self-attention == cross-attention on itself with q = rows [0, D) of qkv and kv = rows [D, 3D).
  const self = new MultiHeadAttention(D, 2);
  const c2 = new MultiHeadAttention(D, 2, { cross: true });
  const W = self.qkv!.weight.value as Float32Array, bq = self.qkv!.bias!.value as Float32Array;
  c2.q!.weight.assignSync(W.slice(0, D * D)); c2.q!.bias!.assignSync(bq.slice(0, D));
  c2.kv!.weight.assignSync(W.slice(D * D)); c2.kv!.bias!.assignSync(bq.slice(D));
  c2.proj.weight.assignSync(Float32Array.from(self.proj.weight.value as Float32Array));
  c2.proj.bias!.assignSync(Float32Array.from(self.proj.bias!.value as Float32Array));
  const x = randT([B, Nk, D]);
  assertClose(await c2.forward(x, { context: x }).float32(), await self.forward(x).float32(), 1e-5);

  const kv = new MultiHeadAttention(D, 4, { cross: true, kdim: 5, vdim: 3 });
  assert.deepEqual(kv.namedParameters().map(([n]) => n), ['q.weight', 'q.bias', 'k.weight', 'k.bias', 'v.weight', 'v.bias', 'proj.weight', 'proj.bias']);
  assert.deepEqual([...kv.forward(q, { context: randT([B, Nk, 5]), value: randT([B, Nk, 3]) }).shape], [B, Nq, D]);
  assert.throws(() => new MultiHeadAttention(10, 3), /dim \(10\) must be a positive multiple of num_heads \(3\)/);
  assert.throws(() => new MultiHeadAttention(8, 2, { kdim: 4 }), /self-attention needs kdim = vdim = dim/);
});

test('gradcheck: attention (with and without mask, cross), Mlp, TransformerBlock', async () => {
  const B = 2, N = 3, D = 4;
  const attn = new MultiHeadAttention(D, 2, { generator: new Generator(5) });
  const an = ['qkv.weight', 'qkv.bias', 'proj.weight'];
  await gradcheck('attention', withParams(attn, an, (x) => attn.forward(x)), [{ shape: [B, N, D] }, ...paramSpecs(attn, an)]);
  const mask = boolT([B, N], [0, 0, 1, 0, 1, 1]);
  await gradcheck('attention-masked', withParams(attn, an, (x) => attn.forward(x, { keyPaddingMask: mask })), [{ shape: [B, N, D] }, ...paramSpecs(attn, an)]);

  const cross = new MultiHeadAttention(D, 2, { cross: true, kdim: 3, generator: new Generator(6) });
  const ctx = new Variable(rng.uniform(B * 2 * 3, -1, 1), [B, 2, 3]);
  await gradcheck('cross-attention', withParams(cross, ['kv.weight', 'q.bias'], (x) => cross.forward(x, { context: ctx })), [{ shape: [B, N, D] }, ...paramSpecs(cross, ['kv.weight', 'q.bias'])]);
  await gradcheck('cross-attention context', (c) => cross.forward(randQ, { context: c }), [{ shape: [B, 2, 3] }]);

  const mlp = new Mlp(D, 6, 5, { generator: new Generator(7) });
  const mn = ['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias'];
  await gradcheck('mlp', withParams(mlp, mn, (x) => mlp.forward(x)), [{ shape: [B, N, D] }, ...paramSpecs(mlp, mn)]);
  const mlpTanh = new Mlp(D, 6, D, { act: 'gelu_tanh' });
  await gradcheck('mlp-gelu-tanh', (x) => mlpTanh.forward(x), [{ shape: [B, N, D] }]);

  const blk = new TransformerBlock(D, 2, { mlpRatio: 2, layerScale: 0.5, generator: new Generator(8) });
  const bn = blk.namedParameters().map(([n]) => n);
  await gradcheck('transformer-block', withParams(blk, bn, (x) => blk.forward(x, { keyPaddingMask: mask })), [{ shape: [B, N, D] }, ...paramSpecs(blk, bn)]);
});

test('BatchNorm: running statistics update in the step session, chain over forwards, eval uses them', async () => {
  const C = 3, N = 4;
  const xs = rng.uniform(N * C, -2, 3);
  const x = new Tensor([N, C], 'float32', xs);
  const mean = [0, 1, 2].map((c) => [0, 1, 2, 3].reduce((s, n) => s + xs[n * C + c]!, 0) / N);
  const varB = [0, 1, 2].map((c) => [0, 1, 2, 3].reduce((s, n) => s + (xs[n * C + c]! - mean[c]!) ** 2, 0) / N);
  const varU = varB.map((v) => (v * N) / (N - 1));

  const bn = new BatchNorm1d(C);
  bn.weight!.assignSync(Float32Array.from([1, 2, 0.5]));
  bn.bias!.assignSync(Float32Array.from([0, 1, -1]));
  const y = bn.forward(x);
  assert.ok(bn.hasPendingBufferUpdates());
  const ups = bn.collectBufferUpdates();
  assert.deepEqual(ups.map(([b]) => b), [bn.running_mean, bn.running_var, bn.num_batches_tracked]);
  assert.ok(!bn.hasPendingBufferUpdates());
  await applyBufferUpdates(ups, [y]); // one session: output and new statistics together
  assert.ok(y.isRealized);
  const yv = await y.float32();
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) {
    const want = ((xs[n * C + c]! - mean[c]!) / Math.sqrt(varB[c]! + 1e-5)) * [1, 2, 0.5][c]! + [0, 1, -1][c]!;
    assert.ok(Math.abs(yv[n * C + c]! - want) < 1e-4, 'batch statistics (biased variance) normalise in training');
  }
  assertClose(bn.running_mean!.value as Float32Array, mean.map((m) => 0.1 * m), 1e-6);
  assertClose(bn.running_var!.value as Float32Array, varU.map((v) => 0.9 + 0.1 * v), 1e-5);
  assert.equal(bn.num_batches_tracked!.value[0], 1n);

  // Two forwards before collecting chain like torch's sequential in-place updates.
  const bn2 = new BatchNorm1d(C);
  bn2.forward(x); bn2.forward(x);
  await applyBufferUpdates(bn2.collectBufferUpdates());
  assertClose(bn2.running_mean!.value as Float32Array, mean.map((m) => 0.9 * 0.1 * m + 0.1 * m), 1e-6);
  assert.equal(bn2.num_batches_tracked!.value[0], 2n);

  // Eval: running statistics, no updates recorded.
  bn.eval();
  const ye = await bn.forward(x).float32();
  assert.ok(!bn.hasPendingBufferUpdates());
  const rm = bn.running_mean!.value as Float32Array, rv = bn.running_var!.value as Float32Array;
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) {
    const want = ((xs[n * C + c]! - rm[c]!) / Math.sqrt(rv[c]! + 1e-5)) * [1, 2, 0.5][c]! + [0, 1, -1][c]!;
    assert.ok(Math.abs(ye[n * C + c]! - want) < 1e-4);
  }

  // momentum null: cumulative average (equal weights): after batches x and 2x the mean is 1.5 * mean.
  const cum = new BatchNorm1d(C, { momentum: null });
  cum.forward(x);
  await applyBufferUpdates(cum.collectBufferUpdates());
  cum.forward(x.mul(2));
  await applyBufferUpdates(cum.collectBufferUpdates());
  assertClose(cum.running_mean!.value as Float32Array, mean.map((m) => 1.5 * m), 1e-5);
  assertClose(cum.running_var!.value as Float32Array, varU.map((v) => (v + 4 * v) / 2), 1e-4);

  // BatchNorm2d over [N, C, H, W]; no running stats -> batch statistics even in eval.
  const b2 = new BatchNorm2d(2, { trackRunningStats: false });
  b2.eval();
  const img = randT([2, 2, 3, 3]);
  const yi = await b2.forward(img).float32();
  for (let c = 0; c < 2; c++) {
    const vals: number[] = [];
    for (let n = 0; n < 2; n++) for (let k = 0; k < 9; k++) vals.push(yi[n * 18 + c * 9 + k]!);
    const s = stats(vals);
    assert.ok(Math.abs(s.mean) < 1e-5 && Math.abs(s.variance - 1) < 1e-3);
  }
  assert.equal(b2.namedBuffers().length, 0);
  assert.throws(() => new BatchNorm2d(3).forward(randT([2, 4, 2, 2])), /BatchNorm2d: input \[2, 4, 2, 2\] has 4 channels/);
  assert.throws(() => new BatchNorm1d(3).forward(randT([1, 3])), /more than 1 value per channel/);
  const bg = new BatchNorm1d(3);
  await gradcheck('BatchNorm1d train', withParams(bg, ['weight', 'bias'], (t) => bg.forward(t)), [{ shape: [4, 3, 2] }, { shape: [3] }, { shape: [3] }]);
  bg.collectBufferUpdates();
});

test('GroupNorm, Conv and Embedding modules', async () => {
  const gn = new GroupNorm(2, 4, { eps: 0 });
  const x = randT([2, 4, 3]);
  const xv = await x.float32();
  const y = await gn.forward(x).float32();
  for (let n = 0; n < 2; n++) for (let g = 0; g < 2; g++) {
    const idx = Array.from({ length: 6 }, (_, k) => n * 12 + g * 6 + k);
    const s = stats(idx.map((i) => xv[i]!));
    idx.forEach((i) => assert.ok(Math.abs(y[i]! - (xv[i]! - s.mean) / Math.sqrt(s.variance)) < 1e-4));
  }
  assert.throws(() => new GroupNorm(3, 4), /GroupNorm: num_channels \(4\) must be divisible by num_groups \(3\)/);

  // A 1x1 Conv2d is a Linear over channels.
  const conv = new Conv2d(3, 2, 1);
  const lin = new Linear(3, 2);
  lin.weight.assignSync(Float32Array.from(conv.weight.value as Float32Array));
  lin.bias!.assignSync(Float32Array.from(conv.bias!.value as Float32Array));
  const img = randT([2, 3, 4, 5]);
  const viaConv = await conv.forward(img).float32();
  const viaLin = await lin.forward(img.permute(0, 2, 3, 1)).permute(0, 3, 1, 2).float32();
  assertClose(viaConv, viaLin, 1e-5);
  assert.deepEqual([...new Conv2d(3, 8, 4, { stride: 4 }).forward(randT([1, 3, 16, 16])).shape], [1, 8, 4, 4]);
  assert.deepEqual([...new Conv1d(2, 5, 3, { padding: 'same' }).forward(randT([2, 2, 7])).shape], [2, 5, 7]);
  assert.deepEqual([...new Conv3d(1, 2, [2, 4, 4], { stride: [2, 4, 4] }).forward(randT([1, 1, 4, 8, 8])).shape], [1, 2, 2, 2, 2]);
  const c1 = new Conv1d(2, 3, 2, { bias: false });
  assert.equal(c1.bias, null);
  const fanIn = 4;
  assert.ok((conv.weight.value as Float32Array).every((v) => Math.abs(v) <= 1 / Math.sqrt(3)) && (c1.weight.value as Float32Array).every((v) => Math.abs(v) <= 1 / Math.sqrt(fanIn)));
  assert.throws(() => new Conv2d(3, 4, 3, { groups: 2 }), /in_channels \(3\) must be a positive multiple of groups \(2\)/);
  await gradcheck('Conv1d module', withParams(c1, ['weight'], (t) => c1.forward(t)), [{ shape: [2, 2, 5] }, { shape: [3, 2, 2] }]);

  // Embedding: rows by index; the padding row gets no gradient, even when it is not zero.
  const emb = new Embedding(5, 3, { paddingIdx: 1 });
  const wv = Float32Array.from({ length: 15 }, (_, i) => i / 10);
  emb.weight.assignSync(wv);
  const idx = new Tensor([2, 2], 'int64', BigInt64Array.from([0n, 1n, 4n, 1n]));
  const out = emb.forward(idx);
  const [gw] = grad(out.sum(), [emb.weight]); // (trace the gradient before realizing: realizing cuts the graph)
  assertClose(await out.toArray(), [0, 0.1, 0.2, 0.3, 0.4, 0.5, 1.2, 1.3, 1.4, 0.3, 0.4, 0.5], 1e-6);
  assert.deepEqual(await gw!.toArray(), [1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1]);
  assert.throws(() => emb.forward(randT([2])), /Embedding: indices must be int64/);
  const plain = new Embedding(5, 3);
  plain.weight.assignSync(wv);
  const [gp] = grad(plain.forward(idx).sum(), [plain.weight]);
  assert.deepEqual(await gp!.toArray(), [1, 1, 1, 2, 2, 2, 0, 0, 0, 0, 0, 0, 1, 1, 1]);
});

test('activation and container modules', async () => {
  const x = new Tensor([4], 'float32', Float32Array.from([-1, 0, 0.5, 2]));
  assertClose(await new GELU().forward(x).toArray(), await x.gelu().toArray());
  assertClose(await new GELU({ approximate: 'tanh' }).forward(x).toArray(), await x.gelu('tanh').toArray());
  assert.equal(new Identity().forward(x), x);
  const seq = new Sequential(new Linear(4, 3), new ReLU(), new Linear(3, 2));
  const y = await seq.forward(x.reshape([1, 4])).float32();
  const manual = await (seq[2] as Linear).forward((seq[0] as Linear).forward(x.reshape([1, 4])).relu()).float32();
  assertClose(y, manual);
});

test('re-tracing a training step (dropout, drop-path, masks, batch norm) reuses one compiled session', async () => {
  const { runtimeStats } = await import('../src/index.js');
  const blk = new TransformerBlock(8, 2, { mlpRatio: 2, drop: 0.1, attnDrop: 0.1, dropPath: 0.2, layerScale: 0.1 });
  const bn = new BatchNorm1d(8, { momentum: null });
  const mask = boolT([2, 3], [0, 0, 1, 0, 0, 0]);
  const step = async (): Promise<void> => {
    const x = randT([2, 3, 8]);
    const y = bn.forward(blk.forward(x, { keyPaddingMask: mask }).permute(0, 2, 1));
    const loss = y.mul(y).mean();
    const grads = grad(loss, blk.trainableParameters());
    await applyBufferUpdates(bn.collectBufferUpdates(), [loss, ...grads]);
    assert.ok(Number.isFinite(await loss.item()));
  };
  await step();
  const compiles = runtimeStats.compiles;
  await step();
  await step();
  assert.equal(runtimeStats.compiles, compiles, 'no recompilation across steps');
  assert.equal(bn.num_batches_tracked!.value[0], 3n);
});
