// Task heads: pooling variants against hand computation (padding masks included) and gradient checks;
// classification / regression heads (openpoints ClsHead names and parameter counts, values in eval mode);
// multi-label loss; per-token head and loss; linear forecast heads; the TSLib decoder head against torch;
// the graph regression head; gradients reaching every head parameter; bad-input errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Tensor, grad } from '../src/index.js';
import { Generator } from '../src/engine/functional/random.js';
import type { Module } from '../src/nn/module.js';
import { applyStateDict } from '../src/io/state-dict.js';
import {
  ClassificationHead, DecoderForecastHead, GraphRegressionHead, LinearForecastHead, RegressionHead, TokenHead, forecastDecoderInput, multiLabelLoss,
  poolTokens, tokenCrossEntropy,
} from '../src/heads/index.js';
import { assertClose, gradcheck } from './helpers/gradcheck.js';

interface DecoderFixture {
  config: { dim: number; heads: number; d_ff: number; c_out: number; label_len: number; pred_len: number; memory: number; layers: number; batch: number };
  state_dict: Record<string, { shape: number[]; data: number[] }>;
  dec_in: number[]; memory: number[]; out: number[];
}
const fx = JSON.parse(readFileSync(new URL('../../test/fixtures/meta_encoder.json', import.meta.url), 'utf8')) as { decoder: DecoderFixture };

const g = new Generator(11);
const randT = (shape: number[], std = 1): Tensor => new Tensor(shape, 'float32', g.normalData(shape.reduce((a, b) => a * b, 1), 0, std));
const boolT = (shape: number[], v: number[]): Tensor => new Tensor(shape, 'bool', Uint8Array.from(v));
const val = (t: Tensor): Float32Array => t.value as Float32Array;

// ---- host references ----
function erf(x: number): number {
  const z = Math.abs(x), t = 1 / (1 + 0.5 * z);
  const r = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return x >= 0 ? 1 - r : r - 1;
}
const gelu = (x: number): number => 0.5 * x * (1 + erf(x / Math.SQRT2));
/** y = W x + b for W [out, in] (row-major). */
function lin(x: ArrayLike<number>, W: Float32Array, b: Float32Array | null, out: number): number[] {
  const n = x.length;
  return Array.from({ length: out }, (_, o) => { let s = b ? b[o]! : 0; for (let i = 0; i < n; i++) s += W[o * n + i]! * x[i]!; return s; });
}
function layerNorm(x: number[], w: Float32Array, b: Float32Array, eps = 1e-5): number[] {
  const m = x.reduce((s, v) => s + v, 0) / x.length;
  const v = x.reduce((s, u) => s + (u - m) ** 2, 0) / x.length;
  return x.map((u, i) => ((u - m) / Math.sqrt(v + eps)) * w[i]! + b[i]!);
}
/** Token (b, n) of a [B, N, D] array. */
const tok = (a: Float32Array, N: number, D: number, b: number, n: number): number[] => [...a.subarray((b * N + n) * D, (b * N + n + 1) * D)];

test('pooling: cls / mean / max / concat against hand computation, with and without a padding mask', async () => {
  const B = 2, N = 5, D = 3;
  const x = randT([B, N, D]);
  const xv = val(x);
  const mask = boolT([B, N], [0, 0, 0, 1, 1, 0, 0, 0, 0, 0]); // sample 0: tokens 3, 4 padded
  const expectMean = (b: number, from: number, valid: (n: number) => boolean): number[] => {
    const rows = Array.from({ length: N }, (_, n) => n).filter((n) => n >= from && valid(n));
    return Array.from({ length: D }, (_, d) => rows.reduce((s, n) => s + tok(xv, N, D, b, n)[d]!, 0) / rows.length);
  };
  const expectMax = (b: number, from: number, valid: (n: number) => boolean): number[] => {
    const rows = Array.from({ length: N }, (_, n) => n).filter((n) => n >= from && valid(n));
    return Array.from({ length: D }, (_, d) => Math.max(...rows.map((n) => tok(xv, N, D, b, n)[d]!)));
  };
  const mv = val(mask);
  const valid = (b: number) => (n: number): boolean => !mv[b * N + n];
  const all = () => (): boolean => true;
  const cases: [string, Tensor, (b: number) => number[]][] = [
    ['cls', poolTokens(x, 'cls', { paddingMask: mask }), (b) => tok(xv, N, D, b, 0)],
    ['mean', poolTokens(x, 'mean'), (b) => expectMean(b, 0, all())],
    ['mean+mask', poolTokens(x, 'mean', { paddingMask: mask }), (b) => expectMean(b, 0, valid(b))],
    ['mean+mask+prefix', poolTokens(x, 'mean', { paddingMask: mask, prefixTokens: 1 }), (b) => expectMean(b, 1, valid(b))],
    ['max', poolTokens(x, 'max'), (b) => expectMax(b, 0, all())],
    ['max+mask', poolTokens(x, 'max', { paddingMask: mask }), (b) => expectMax(b, 0, valid(b))],
    ['concat', poolTokens(x, 'concat'), (b) => [...tok(xv, N, D, b, 0), ...expectMax(b, 1, all()), ...expectMean(b, 1, all())]],
    ['concat+mask', poolTokens(x, 'concat', { paddingMask: mask }), (b) => [...tok(xv, N, D, b, 0), ...expectMax(b, 1, valid(b)), ...expectMean(b, 1, valid(b))]],
  ];
  for (const [name, t, expect] of cases) {
    const got = await t.float32();
    const w = got.length / B;
    for (let b = 0; b < B; b++) assertClose(got.subarray(b * w, (b + 1) * w), expect(b), 1e-6, 1e-6, `${name}, sample ${b}`);
  }
  assert.deepEqual([...poolTokens(x, 'concat').shape], [B, 3 * D]);
  // A sample with only padding pools to zeros (no NaN / -inf).
  const allPad = boolT([B, N], [1, 1, 1, 1, 1, 0, 0, 0, 0, 0]);
  for (const mode of ['mean', 'max'] as const) {
    const y = await poolTokens(x, mode, { paddingMask: allPad }).float32();
    assert.deepEqual([...y.subarray(0, D)], [0, 0, 0], `${mode}: all-padding sample`);
  }
  assert.throws(() => poolTokens(x, 'concat', { prefixTokens: 0 }), /prefixTokens must be >= 1/);
  assert.throws(() => poolTokens(x, 'mean', { paddingMask: boolT([B, 4], new Array(8).fill(0)) }), /paddingMask must be bool \[B, N\] = \[2, 5\]/);
  assert.throws(() => poolTokens(x, 'avg' as never), /unknown pool mode 'avg'/);
});

test('pooling gradients (finite differences): masked mean, masked max, concat', async () => {
  const mask = boolT([2, 4], [0, 0, 1, 0, 0, 0, 0, 1]);
  await gradcheck('masked mean', (x) => poolTokens(x, 'mean', { paddingMask: mask }), [{ shape: [2, 4, 3] }]);
  await gradcheck('masked max', (x) => poolTokens(x, 'max', { paddingMask: mask }), [{ shape: [2, 4, 3] }]);
  await gradcheck('concat', (x) => poolTokens(x, 'concat', { paddingMask: mask }), [{ shape: [2, 4, 3] }]);
  // Padded tokens get no gradient.
  const x = randT([2, 4, 3]);
  const [gx] = grad(poolTokens(x, 'mean', { paddingMask: mask }).sum().add(poolTokens(x, 'max', { paddingMask: mask }).sum()), [x]);
  const gv = await gx!.float32();
  for (const [b, n] of [[0, 2], [1, 3]] as const) assert.deepEqual([...gv.subarray((b * 4 + n) * 3, (b * 4 + n + 1) * 3)], [0, 0, 0]);
});

test("ClassificationHead: openpoints ClsHead names and counts (ModelNet 2304-256-256-40: 666,664), values in eval mode", async () => {
  const modelnet = new ClassificationHead(768, 40, { pool: 'concat', hidden: [256, 256], dropout: 0.5 });
  assert.deepEqual([...modelnet.stateDict().keys()], [
    'head.0.0.weight', 'head.0.1.weight', 'head.0.1.bias', 'head.2.0.weight', 'head.2.1.weight', 'head.2.1.bias', 'head.4.0.weight', 'head.4.0.bias',
    'head.0.1.running_mean', 'head.0.1.running_var', 'head.0.1.num_batches_tracked', 'head.2.1.running_mean', 'head.2.1.running_var', 'head.2.1.num_batches_tracked',
  ]);
  assert.equal(modelnet.numParams(), 2304 * 256 + 2 * 256 + 256 * 256 + 2 * 256 + 256 * 40 + 40);
  assert.equal(modelnet.numParams(), 666_664);
  // Hyperspectral / audio style: LayerNorm + Linear on the CLS token; hand computation.
  const D = 6, C = 4;
  const head = new ClassificationHead(D, C, { pool: 'cls', norm: true, generator: g }).eval();
  head.norm!.weight!.assignSync(g.normalData(D, 1, 0.2));
  head.norm!.bias!.assignSync(g.normalData(D, 0, 0.2));
  const x = randT([2, 3, D]);
  const y = await head.forward(x).float32();
  const lin0 = head.head.at(0) as unknown as { at(i: number): { weight: { value: Float32Array }; bias: { value: Float32Array } } };
  const L = lin0.at(0);
  for (let b = 0; b < 2; b++) {
    const f = layerNorm(tok(val(x), 3, D, b, 0), val(head.norm!.weight!), val(head.norm!.bias!));
    assertClose(y.subarray(b * C, (b + 1) * C), lin(f, L.weight.value, L.bias.value, C), 1e-5, 1e-5, `logits ${b}`);
  }
  // MLP with BatchNorm in eval mode: running stats (0, 1) -> x / sqrt(1 + eps) * w + b, ReLU, then the linear.
  const mlp = new ClassificationHead(D, C, { pool: 'mean', hidden: [5], generator: g }).eval();
  const sd = mlp.stateDict();
  sd.get('head.0.1.weight')!.assignSync(g.normalData(5, 1, 0.3));
  sd.get('head.0.1.bias')!.assignSync(g.normalData(5, 0, 0.3));
  assert.equal(sd.get('head.0.0.bias'), undefined, 'Linear before BatchNorm has no bias (openpoints)');
  const ym = await mlp.forward(x).float32();
  for (let b = 0; b < 2; b++) {
    const pooled = Array.from({ length: D }, (_, d) => (tok(val(x), 3, D, b, 0)[d]! + tok(val(x), 3, D, b, 1)[d]! + tok(val(x), 3, D, b, 2)[d]!) / 3);
    const h = lin(pooled, val(sd.get('head.0.0.weight')!), null, 5).map((v, i) => Math.max(0, (v / Math.sqrt(1 + 1e-5)) * val(sd.get('head.0.1.weight')!)[i]! + val(sd.get('head.0.1.bias')!)[i]!));
    assertClose(ym.subarray(b * C, (b + 1) * C), lin(h, val(sd.get('head.2.0.weight')!), val(sd.get('head.2.0.bias')!), C), 1e-5, 1e-5, `mlp logits ${b}`);
  }
  // The padding mask of an encoded TokenSequence is used.
  const mask = boolT([2, 3], [0, 0, 1, 0, 0, 0]);
  const viaSeq = await mlp.forward({ tokens: x, paddingMask: mask }).float32();
  const viaArg = await mlp.forward(x, mask).float32();
  assert.deepEqual(viaSeq, viaArg);
  assert.notDeepEqual(viaSeq.subarray(0, C), ym.subarray(0, C), 'masking changes the pooled mean');
  assert.throws(() => head.forward(randT([2, 3, D + 1])), /ClassificationHead: expected float32 tokens \[B, N, 6\], got float32 \[2, 3, 7\]/);
  assert.throws(() => new ClassificationHead(D, C, { hidden: [0] }), /hidden widths must be positive integers/);
});

test('RegressionHead and multi-label loss (BCE with logits) against hand computation', async () => {
  const D = 4;
  const head = new RegressionHead(D, 2, { pool: 'max', generator: g }).eval();
  const x = randT([3, 5, D]);
  const y = await head.forward(x).float32();
  const L = head.head.at(0) as unknown as { at(i: number): { weight: { value: Float32Array }; bias: { value: Float32Array } } };
  for (let b = 0; b < 3; b++) {
    const mx = Array.from({ length: D }, (_, d) => Math.max(...Array.from({ length: 5 }, (_, n) => tok(val(x), 5, D, b, n)[d]!)));
    assertClose(y.subarray(b * 2, b * 2 + 2), lin(mx, L.at(0).weight.value, L.at(0).bias.value, 2), 1e-5, 1e-5, `regression ${b}`);
  }
  const logits = randT([2, 3]), targets = new Tensor([2, 3], 'float32', Float32Array.from([1, 0, 1, 0, 0, 1]));
  const loss = await multiLabelLoss(logits, targets).item();
  const lv = val(logits), tv = val(targets);
  let ref = 0;
  for (let i = 0; i < 6; i++) { const p = 1 / (1 + Math.exp(-lv[i]!)); ref -= tv[i]! * Math.log(p) + (1 - tv[i]!) * Math.log(1 - p); }
  assertClose([loss], [ref / 6], 1e-6, 1e-5, 'multi-label BCE');
});

test('TokenHead: per-token logits (prefix tokens dropped) and tokenCrossEntropy over non-padding tokens', async () => {
  const D = 5, C = 3, B = 2, N = 4;
  const head = new TokenHead(D, C, { prefixTokens: 1, generator: g }).eval();
  const x = randT([B, N, D]);
  const logits = head.forward(x);
  assert.deepEqual([...logits.shape], [B, N - 1, C]);
  const L = (head.head.at(0) as unknown as { at(i: number): { weight: { value: Float32Array }; bias: { value: Float32Array } } }).at(0);
  const lv = await logits.float32();
  for (let b = 0; b < B; b++) for (let n = 1; n < N; n++) {
    assertClose(lv.subarray((b * (N - 1) + n - 1) * C, (b * (N - 1) + n) * C), lin(tok(val(x), N, D, b, n), L.weight.value, L.bias.value, C), 1e-5, 1e-5, `token ${b},${n}`);
  }
  const target = new Tensor([B, N - 1], 'int64', BigInt64Array.from([0n, 2n, 1n, 1n, 0n, 2n]));
  const pad = boolT([B, N - 1], [0, 0, 1, 0, 0, 0]);
  const loss = await tokenCrossEntropy(head.forward(x), target, { paddingMask: pad }).item();
  let ref = 0, count = 0;
  for (let i = 0; i < B * (N - 1); i++) {
    if (val(pad)[i]) continue;
    const row = [...lv.subarray(i * C, (i + 1) * C)];
    const m = Math.max(...row), lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
    ref += lse - row[Number((target.value as BigInt64Array)[i])]!;
    count++;
  }
  assertClose([loss], [ref / count], 1e-5, 1e-5, 'token cross-entropy');
  assert.throws(() => tokenCrossEntropy(logits, new Tensor([B, N], 'int64', new BigInt64Array(B * N))), /target must be int64 \[B, N\] = \[2, 3\]/);
});

test('LinearForecastHead: flatten and temporal (per-channel over time) modes against hand computation', async () => {
  const D = 3, N = 4, P = 2, C = 2, B = 2;
  const x = randT([B, N, D]);
  const flat = new LinearForecastHead(D, N, P, C, { generator: g });
  const yf = await flat.forward(x).float32();
  assert.deepEqual([...flat.forward(x).shape], [B, P, C]);
  for (let b = 0; b < B; b++) {
    const v = [...val(x).subarray(b * N * D, (b + 1) * N * D)];
    assertClose(yf.subarray(b * P * C, (b + 1) * P * C), lin(v, val(flat.proj!.weight), val(flat.proj!.bias!), P * C), 1e-5, 1e-5, `flatten ${b}`);
  }
  const temp = new LinearForecastHead(D, N, P, C, { mode: 'temporal', generator: g });
  const yt = await temp.forward(x).float32();
  for (let b = 0; b < B; b++) {
    const perTok = Array.from({ length: N }, (_, n) => lin(tok(val(x), N, D, b, n), val(temp.channel_proj!.weight), val(temp.channel_proj!.bias!), C));
    for (let c = 0; c < C; c++) {
      const series = perTok.map((r) => r[c]!);
      const out = lin(series, val(temp.time_proj!.weight), val(temp.time_proj!.bias!), P);
      for (let p = 0; p < P; p++) assertClose([yt[(b * P + p) * C + c]!], [out[p]!], 1e-5, 1e-5, `temporal ${b},${p},${c}`);
    }
  }
  assert.throws(() => flat.forward(randT([B, N + 1, D])), /must have 0 prefix \+ 4 content tokens/);
});

test('DecoderForecastHead matches the TSLib decoder in torch (names, 2 layers, causal self-attn, cross-attn, conv FFN)', async () => {
  const d = fx.decoder, c = d.config;
  const head = new DecoderForecastHead(c.dim, c.c_out, c.pred_len, { numHeads: c.heads, dFF: c.d_ff, layers: c.layers });
  assert.deepEqual([...head.stateDict().keys()], Object.keys(d.state_dict), "TSLib's parameter names, in torch's order");
  applyStateDict(head, new Map(Object.entries(d.state_dict).map(([k, v]) => [k, { shape: v.shape, data: Float32Array.from(v.data) }])));
  head.eval();
  const dec = new Tensor([c.batch, c.label_len + c.pred_len, c.dim], 'float32', Float32Array.from(d.dec_in));
  const mem = new Tensor([c.batch, c.memory, c.dim], 'float32', Float32Array.from(d.memory));
  const y = head.forward(dec, mem);
  assert.deepEqual([...y.shape], [c.batch, c.pred_len, c.c_out]);
  assertClose(await y.float32(), d.out, 1e-4, 1e-4, 'decoder output');
  // Causal self-attention: changing the last decoder token changes only the last output step.
  const dec2v = Float32Array.from(d.dec_in);
  for (let b = 0; b < c.batch; b++) for (let k = 0; k < c.dim; k++) dec2v[(b * (c.label_len + c.pred_len) + c.label_len + c.pred_len - 1) * c.dim + k] += 1;
  const y2 = await head.forward(new Tensor(dec.shape, 'float32', dec2v), mem).float32();
  const y1 = await head.forward(dec, mem).float32();
  for (let b = 0; b < c.batch; b++) {
    assertClose(y2.subarray(b * c.pred_len * c.c_out, (b * c.pred_len + c.pred_len - 1) * c.c_out), y1.subarray(b * c.pred_len * c.c_out, (b * c.pred_len + c.pred_len - 1) * c.c_out), 1e-6, 1e-6, 'earlier steps unchanged');
  }
  // Memory padding (our extension): masked memory tokens do not matter.
  const mask = boolT([c.batch, c.memory], Array.from({ length: c.batch * c.memory }, (_, i) => Number(i % c.memory === c.memory - 1)));
  const memV = Float32Array.from(d.memory);
  for (let b = 0; b < c.batch; b++) for (let k = 0; k < c.dim; k++) memV[(b * c.memory + c.memory - 1) * c.dim + k] = 5;
  const ya = await head.forward(dec, { tokens: mem, paddingMask: mask }).float32();
  const yb = await head.forward(dec, { tokens: new Tensor(mem.shape, 'float32', memV), paddingMask: mask }).float32();
  assertClose(yb, ya, 1e-6, 1e-6, 'masked memory token ignored');
  assert.throws(() => head.forward(randT([c.batch, 1, c.dim]), mem), /shorter than predLen 2/);
});

test('forecastDecoderInput = [last labelLen observed steps; zeros]', async () => {
  const x = new Tensor([1, 5, 2], 'float32', Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]));
  assert.deepEqual(Array.from(await forecastDecoderInput(x, 3, 2).float32()), [5, 6, 7, 8, 9, 10, 0, 0, 0, 0]);
  assert.deepEqual([...forecastDecoderInput(x, 0, 1).shape], [1, 1, 2]);
  assert.throws(() => forecastDecoderInput(x, 6, 2), /labelLen must be an integer in \[0, 5\]/);
});

test('GraphRegressionHead: token 0 -> Linear + GELU + LayerNorm -> Linear (no bias) + learned bias; reference names', async () => {
  const D = 4;
  const head = new GraphRegressionHead(D, 1, { generator: g });
  assert.deepEqual([...head.stateDict().keys()], [
    'lm_output_learned_bias', 'lm_head_transform_weight.weight', 'lm_head_transform_weight.bias', 'layer_norm.weight', 'layer_norm.bias', 'embed_out.weight',
  ]);
  assert.equal(head.numParams(), D * D + D + 2 * D + D + 1);
  head.lm_output_learned_bias.assignSync(Float32Array.of(0.25));
  const x = randT([2, 3, D]);
  const y = await head.forward(x).float32();
  for (let b = 0; b < 2; b++) {
    const h = lin(tok(val(x), 3, D, b, 0), val(head.lm_head_transform_weight.weight), val(head.lm_head_transform_weight.bias!), D).map(gelu);
    const n = layerNorm(h, val(head.layer_norm.weight!), val(head.layer_norm.bias!));
    assertClose([y[b]!], [lin(n, val(head.embed_out.weight), null, 1)[0]! + 0.25], 1e-5, 1e-5, `graph ${b}`);
  }
});

test('gradients reach every parameter of every head (train mode, nonzero and finite)', async () => {
  const D = 8, B = 4, N = 5;
  const x = randT([B, N, D]);
  const mem = randT([B, N, D]);
  const heads: [string, Module, () => Tensor][] = [];
  const cls = new ClassificationHead(D, 3, { pool: 'concat', hidden: [6], dropout: 0.1, norm: true, generator: g });
  heads.push(['classification', cls, () => cls.forward(x).mul(randT([B, 3])).sum()]);
  const reg = new RegressionHead(D, 2, { pool: 'mean', dropout: 0.2, generator: g });
  heads.push(['regression', reg, () => reg.forward(x).mul(randT([B, 2])).sum()]);
  const tokh = new TokenHead(D, 3, { hidden: [4], hiddenNorm: 'layer', activation: 'gelu', norm: true, generator: g });
  heads.push(['token', tokh, () => tokh.forward(x).mul(randT([B, N, 3])).sum()]);
  const lf = new LinearForecastHead(D, N, 2, 3, { mode: 'temporal', generator: g });
  heads.push(['linear forecast', lf, () => lf.forward(x).mul(randT([B, 2, 3])).sum()]);
  const df = new DecoderForecastHead(D, 3, 2, { numHeads: 2, dFF: 12, dropout: 0.1, generator: g });
  heads.push(['decoder forecast', df, () => df.forward(randT([B, 4, D]), mem).mul(randT([B, 2, 3])).sum()]);
  const gr = new GraphRegressionHead(D, 1, { generator: g });
  heads.push(['graph', gr, () => gr.forward(x).mul(randT([B, 1])).sum()]);
  for (const [name, m, lossFn] of heads) {
    m.train();
    const named = m.namedTrainableParameters();
    const grads = grad(lossFn(), named.map(([, p]) => p));
    await Promise.all(grads.map((t) => t.data()));
    named.forEach(([n], i) => {
      const v = grads[i]!.value as Float32Array;
      assert.ok(v.some((e) => e !== 0) && v.every(Number.isFinite), `${name}: gradient of ${n} is nonzero and finite`);
    });
    m.collectBufferUpdates();
  }
});
