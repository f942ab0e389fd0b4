import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { F, ShapeError, Tensor, Variable, apply, grad, realize } from '../src/index.js';
import { gradcheck, assertClose } from './helpers/gradcheck.js';
import { Rng } from './helpers/rng.js';

/** Distinct, well-separated values in random order: no ties, and argmax is stable under finite-difference steps. */
function distinct(n: number, seed = 7): Float32Array {
  const rng = new Rng(seed);
  const v = Array.from({ length: n }, (_, i) => (i - n / 2) * 0.1);
  for (let i = n - 1; i > 0; i--) { const j = Math.floor(rng.next() * (i + 1)); [v[i], v[j]] = [v[j]!, v[i]!]; }
  return Float32Array.from(v);
}
const size = (s: number[]): number => s.reduce((a, b) => a * b, 1);

test('conv1d/2d/3d gradients (stride, padding, dilation, groups, bias) match finite differences', async () => {
  await gradcheck('conv1d s2 p1', (x, w, b) => F.conv1d(x, w, b, { stride: 2, padding: 1 }), [{ shape: [2, 3, 9] }, { shape: [4, 3, 3] }, { shape: [4] }]);
  await gradcheck('conv1d dilation 2 groups 2', (x, w) => F.conv1d(x, w, null, { dilation: 2, groups: 2, padding: 3 }), [{ shape: [1, 4, 10] }, { shape: [6, 2, 3] }]);
  // (H + 2p - k) % s != 0 on both axes: the tail of the input is never read, dW needs the crop
  await gradcheck('conv2d s(2,3) tail skipped', (x, w, b) => F.conv2d(x, w, b, { stride: [2, 3], padding: [1, 0] }), [{ shape: [2, 3, 8, 9] }, { shape: [4, 3, 3, 2] }, { shape: [4] }]);
  await gradcheck('conv2d stride 3 no pad tail skipped', (x, w) => F.conv2d(x, w, null, { stride: 3 }), [{ shape: [1, 2, 8, 7] }, { shape: [3, 2, 2, 2] }]);
  await gradcheck('conv2d dilation (2,1) pad 2', (x, w) => F.conv2d(x, w, null, { dilation: [2, 1], padding: 2, stride: 2 }), [{ shape: [2, 2, 7, 6] }, { shape: [3, 2, 3, 3] }]);
  await gradcheck('conv2d groups 3', (x, w, b) => F.conv2d(x, w, b, { groups: 3, padding: 1 }), [{ shape: [2, 6, 5, 5] }, { shape: [9, 2, 3, 3] }, { shape: [9] }]);
  await gradcheck('conv2d depthwise s2', (x, w) => F.conv2d(x, w, null, { groups: 4, stride: 2, padding: 1 }), [{ shape: [2, 4, 7, 6] }, { shape: [4, 1, 3, 3] }]);
  await gradcheck('conv2d depthwise multiplier 2', (x, w) => F.conv2d(x, w, null, { groups: 3, padding: 'same' }), [{ shape: [1, 3, 5, 6] }, { shape: [6, 1, 3, 3] }]);
  await gradcheck('conv2d same even kernel (asymmetric pads)', (x, w) => F.conv2d(x, w, null, { padding: 'same', dilation: [1, 2] }), [{ shape: [1, 2, 6, 7] }, { shape: [2, 2, 4, 2] }]);
  await gradcheck('conv2d unbatched', (x, w) => F.conv2d(x, w), [{ shape: [2, 5, 5] }, { shape: [3, 2, 2, 2] }]);
  await gradcheck('conv3d', (x, w, b) => F.conv3d(x, w, b, { stride: [1, 2, 2], padding: [1, 1, 0], dilation: [1, 1, 2] }), [{ shape: [1, 2, 4, 7, 6] }, { shape: [3, 2, 2, 3, 2] }, { shape: [3] }]);
  await gradcheck('conv3d groups 2 tail skipped', (x, w) => F.conv3d(x, w, null, { stride: 2, groups: 2 }), [{ shape: [2, 4, 5, 4, 6] }, { shape: [2, 2, 2, 1, 3] }]);
});

test('conv transpose 1d/2d/3d gradients match finite differences', async () => {
  await gradcheck('convT1d s2 p1 op1', (x, w, b) => F.convTranspose1d(x, w, b, { stride: 2, padding: 1, outputPadding: 1 }), [{ shape: [2, 3, 5] }, { shape: [3, 2, 3] }, { shape: [2] }]);
  await gradcheck('convT1d dilation 3 op 1', (x, w) => F.convTranspose1d(x, w, null, { stride: 2, dilation: 3, outputPadding: 1, padding: 1 }), [{ shape: [1, 2, 4] }, { shape: [2, 2, 3] }]);
  // outputPadding > end padding: the weight gradient correlates past the kernel and is cropped
  await gradcheck('convT2d s(2,3) p(1,0) op(1,2)', (x, w) => F.convTranspose2d(x, w, null, { stride: [2, 3], padding: [1, 0], outputPadding: [1, 2] }), [{ shape: [2, 2, 4, 3] }, { shape: [2, 3, 3, 2] }]);
  await gradcheck('convT2d groups 2 dilation 2', (x, w, b) => F.convTranspose2d(x, w, b, { groups: 2, dilation: 2, stride: 2, padding: 2 }), [{ shape: [1, 4, 4, 4] }, { shape: [4, 3, 3, 3] }, { shape: [6] }]);
  await gradcheck('convT2d depthwise', (x, w) => F.convTranspose2d(x, w, null, { groups: 3, stride: 2 }), [{ shape: [2, 3, 3, 4] }, { shape: [3, 1, 2, 2] }]);
  await gradcheck('convT3d', (x, w) => F.convTranspose3d(x, w, null, { stride: [2, 1, 2], padding: [0, 1, 1], outputPadding: [1, 0, 0] }), [{ shape: [1, 2, 3, 3, 2] }, { shape: [2, 2, 2, 3, 3] }]);
});

test('conv second-order: the VJPs are themselves differentiable', async () => {
  const R = new Tensor([2, 3, 4, 3], 'float32', new Rng(3).normal(72));
  // d/dw of <conv(x, w), R> is the correlate-Conv of x with R; differentiate it again w.r.t. x
  await gradcheck('conv2d dW w.r.t. x', (x, w) => grad(F.conv2d(x, w, null, { stride: 2, padding: 1 }).mul(R).sum(), [w])[0]!,
    [{ shape: [2, 2, 7, 6] }, { shape: [3, 2, 3, 3] }], { check: [0] });
  // d/dx of <conv(x, w), R> is a ConvTranspose of R with w; differentiate it w.r.t. w
  await gradcheck('conv2d dX w.r.t. w', (x, w) => grad(F.conv2d(x, w, null, { stride: 2, padding: 1 }).mul(R).sum(), [x])[0]!,
    [{ shape: [2, 2, 7, 6] }, { shape: [3, 2, 3, 3] }], { check: [1] });
});

test('max pool gradients (padding, overlap, dilation, ceil mode) match finite differences', async () => {
  const v = (shape: number[], seed?: number) => ({ shape, values: distinct(size(shape), seed) });
  await gradcheck('maxPool1d k3 s1 p1', (x) => F.maxPool1d(x, 3, { stride: 1, padding: 1 }), [v([2, 2, 9])]);
  await gradcheck('maxPool2d k3 s2 p1 overlap', (x) => F.maxPool2d(x, 3, { stride: 2, padding: 1 }), [v([2, 3, 7, 8], 3)]);
  await gradcheck('maxPool2d dilation ceil', (x) => F.maxPool2d(x, [3, 2], { stride: 2, padding: [1, 0], dilation: 2, ceilMode: true }), [v([1, 2, 9, 8], 4)]);
  await gradcheck('maxPool3d', (x) => F.maxPool3d(x, 2, { stride: [1, 2, 2], padding: 1 }), [v([1, 2, 3, 4, 5], 5)]);
});

test('max pool: overlapping windows and ties accumulate on the selected element', async () => {
  const x = new Variable(Float32Array.from([1, 5, 2, 2, 3, 0, 1, 2, 3, 4]), [2, 1, 5]);
  const y = F.maxPool1d(x, 3, { stride: 1, padding: 1 });
  const [g] = grad(y.sum(), [x]);
  await realize([y, g!]);
  assert.deepEqual(Array.from(y.value as Float32Array), [5, 5, 5, 3, 3, 1, 2, 3, 4, 4]);
  // the 5 wins three windows; the tied 2s go to the first occurrence (as torch and ONNX pick it)
  assert.deepEqual(Array.from(g!.value as Float32Array), [0, 3, 0, 0, 2, 0, 1, 1, 1, 2]);
  const t = new Variable(Float32Array.from([2, 2, 1, 2, 2]), [1, 1, 5]);
  const [gt] = grad(F.maxPool1d(t, 3, { stride: 1 }).sum(), [t]);
  assert.deepEqual(await gt!.toArray(), [1, 1, 0, 1, 0]);
});

test('average pool gradients (padding, countIncludePad, ceil mode overhang) match finite differences', async () => {
  await gradcheck('avgPool1d k4 s2 p2', (x) => F.avgPool1d(x, 4, { stride: 2, padding: 2 }), [{ shape: [2, 2, 9] }]);
  await gradcheck('avgPool2d exclude pad', (x) => F.avgPool2d(x, 3, { stride: 2, padding: 1, countIncludePad: false }), [{ shape: [2, 2, 7, 6] }]);
  await gradcheck('avgPool2d ceil overhang, include pad', (x) => F.avgPool2d(x, [3, 2], { stride: 2, padding: 1, ceilMode: true }), [{ shape: [1, 2, 8, 7] }]);
  await gradcheck('avgPool2d ceil overhang, exclude pad', (x) => F.avgPool2d(x, 3, { stride: 2, ceilMode: true, countIncludePad: false }), [{ shape: [1, 3, 8, 6] }]);
  await gradcheck('avgPool2d stride > kernel', (x) => F.avgPool2d(x, 2, { stride: 3 }), [{ shape: [1, 2, 8, 7] }]);
  await gradcheck('avgPool3d', (x) => F.avgPool3d(x, [2, 3, 2], { stride: 2, padding: [1, 1, 0], countIncludePad: false }), [{ shape: [1, 2, 4, 5, 6] }]);
  await gradcheck('adaptiveAvgPool2d general', (x) => F.adaptiveAvgPool2d(x, [3, 4]), [{ shape: [2, 2, 7, 9] }]);
  await gradcheck('adaptiveAvgPool1d divisible', (x) => F.adaptiveAvgPool1d(x, 3), [{ shape: [2, 2, 9] }]);
});

test('output shapes follow torch (floor / ceil mode, same/valid padding, transposed sizes)', () => {
  const t = (shape: number[]): Tensor => new Tensor(shape, 'float32', new Float32Array(size(shape)));
  assert.deepEqual(F.conv2d(t([1, 3, 10, 8]), t([4, 3, 3, 2]), null, { stride: [2, 3], padding: [1, 0] }).shape, [1, 4, 5, 3]);
  assert.deepEqual(F.conv2d(t([1, 3, 10, 8]), t([4, 3, 4, 4]), null, { padding: 'same', dilation: 2 }).shape, [1, 4, 10, 8]);
  assert.deepEqual(F.conv1d(t([1, 3, 10]), t([4, 3, 4]), null, { padding: 'valid' }).shape, [1, 4, 7]);
  assert.deepEqual(F.convTranspose2d(t([1, 4, 5, 4]), t([4, 3, 3, 3]), null, { stride: 2, padding: 1, outputPadding: 1, groups: 2 }).shape, [1, 6, 10, 8]);
  assert.deepEqual(F.maxPool2d(t([1, 1, 5, 5]), 2, { ceilMode: true }).shape, [1, 1, 3, 3]);
  // ceil mode never starts a window in the right padding (torch rule)
  assert.deepEqual(F.maxPool1d(t([1, 1, 5]), 2, { stride: 2, padding: 1, ceilMode: true }).shape, [1, 1, 3]);
  assert.deepEqual(F.avgPool2d(t([1, 1, 6, 6]), 3, { stride: 2, padding: 1 }).shape, [1, 1, 3, 3]);
  assert.deepEqual(F.adaptiveAvgPool2d(t([1, 1, 6, 6]), [null, 4]).shape, [1, 1, 6, 4]);
});

test('shape errors name the op and the shapes', () => {
  const t = (shape: number[]): Tensor => new Tensor(shape, 'float32', new Float32Array(size(shape)));
  assert.throws(() => F.conv2d(t([2, 4, 8, 8]), t([5, 3, 3, 3])), (e: Error) => e instanceof ShapeError && /^Conv: input has 4 channels but weight expects 3 \(groups 1\)/.test(e.message) && /\[2, 4, 8, 8\]/.test(e.message));
  assert.throws(() => F.conv2d(t([2, 4, 8, 8]), t([6, 1, 3, 3]), null, { groups: 2 }), /Conv: input has 4 channels but weight expects 2 \(groups 2\)/);
  assert.throws(() => F.conv2d(t([2, 4, 8, 8]), t([5, 2, 3, 3]), null, { groups: 2 }), /Conv: .*5 output channels, not divisible by groups 2/);
  assert.throws(() => F.conv2d(t([1, 3, 2, 8]), t([4, 3, 3, 3])), /Conv: input \[1, 3, 2, 8\] is smaller than the \(dilated\) kernel \[3, 3\]/);
  assert.throws(() => F.conv2d(t([3, 8]), t([4, 3, 3, 3])), /conv2d: input \[3, 8\] must be \[N, C, H, W\] or unbatched \[C, H, W\]/);
  assert.throws(() => F.conv2d(t([1, 3, 8, 8]), t([4, 3, 3])), /conv2d: weight \[4, 3, 3\] must be \[Cout, Cin\/groups, H, W\]/);
  assert.throws(() => F.conv2d(t([1, 3, 8, 8]), t([4, 3, 3, 3]), t([3])), /conv2d: bias has shape \[3\], expected \[4\]/);
  assert.throws(() => F.conv2d(t([1, 3, 8, 8]), t([4, 3, 3, 3]), null, { padding: 'same', stride: 2 }), /conv2d: padding='same' is not supported for strided/);
  assert.throws(() => F.conv2d(t([1, 3, 8, 8]), t([4, 3, 3, 3]), null, { stride: [1, 2, 3] }), /conv2d: stride must be an integer >= 1 or 2 of them/);
  assert.throws(() => F.convTranspose2d(t([1, 3, 4, 4]), t([4, 2, 3, 3])), /ConvTranspose: input has 3 channels but weight expects 4/);
  assert.throws(() => F.convTranspose2d(t([1, 4, 4, 4]), t([4, 2, 3, 3]), null, { stride: 2, outputPadding: 2 }), /ConvTranspose: outputPadding \[2, 2\] must be 2 non-negative integers smaller than the stride \[2, 2\]/);
  assert.throws(() => F.maxPool2d(t([1, 1, 6, 6]), 3, { padding: 2 }), /maxPool2d: padding \[2, 2\] should be at most half/);
  assert.throws(() => F.avgPool2d(t([1, 1, 2, 6]), 3), /AveragePool: input \[1, 1, 2, 6\] is smaller than the kernel \[3, 3\]/);
  assert.throws(() => apply('MaxPool', [t([1, 6, 6])], { kernel: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0], dilations: [1, 1], ceilMode: false }), /MaxPool: input \[1, 6, 6\] must have rank 4/);
});

// ---- torch fixtures (tools/fixtures/conv_norm.py) ----

interface Enc { shape: number[]; data: number[] }
interface FixtureCase { name: string; kind: string; params: Record<string, unknown>; inputs: Record<string, Enc>; R: number[]; output: Enc; grads: Record<string, Enc> }

const fixtures = (JSON.parse(readFileSync(new URL('../../test/fixtures/conv_norm.json', import.meta.url), 'utf8')) as { cases: FixtureCase[] }).cases;

type Fn = (inp: Record<string, Tensor>, p: Record<string, unknown>) => Tensor;
const CALLS: Record<string, Fn> = {};
for (const k of ['conv1d', 'conv2d', 'conv3d', 'convTranspose1d', 'convTranspose2d', 'convTranspose3d'] as const) {
  CALLS[k] = (i, p) => (F[k] as (x: Tensor, w: Tensor, b: Tensor | null, o: object) => Tensor)(i.x!, i.weight!, i.bias ?? null, p);
}
for (const k of ['maxPool1d', 'maxPool2d', 'maxPool3d', 'avgPool1d', 'avgPool2d', 'avgPool3d'] as const) {
  CALLS[k] = (i, { kernelSize, ...p }) => (F[k] as (x: Tensor, k: unknown, o: object) => Tensor)(i.x!, kernelSize, p);
}
CALLS.adaptiveAvgPool1d = (i, p) => F.adaptiveAvgPool1d(i.x!, p.outputSize as number);
CALLS.adaptiveAvgPool2d = (i, p) => F.adaptiveAvgPool2d(i.x!, p.outputSize as number | (number | null)[]);

test('forward values and gradients match torch', async () => {
  const cases = fixtures.filter((c) => c.kind in CALLS);
  assert.ok(cases.length >= 20, `expected the conv/pool fixtures, found ${cases.length}`);
  for (const c of cases) {
    const inputs = Object.fromEntries(Object.entries(c.inputs).map(([k, v]) => [k, new Variable(Float32Array.from(v.data), v.shape)]));
    const out = CALLS[c.kind]!(inputs, c.params);
    assert.deepEqual(out.shape, c.output.shape, `${c.name}: output shape`);
    const names = Object.keys(c.grads);
    const grads = grad(out.mul(new Tensor(out.shape, 'float32', Float32Array.from(c.R))).sum(), names.map((k) => inputs[k]!));
    await realize([out, ...grads]);
    assertClose(out.value as Float32Array, c.output.data, 1e-4, 1e-4, `${c.name}: output`);
    names.forEach((k, i) => assertClose(grads[i]!.value as Float32Array, c.grads[k]!.data, 2e-4, 1e-4, `${c.name}: d${k}`));
  }
});

test('patchify convs (kernel = stride) take the GEMM weight-gradient path and agree with the general one', async () => {
  await gradcheck('conv2d-patchify', (x, w) => F.conv2d(x, w, null, { stride: 4 }), [{ shape: [2, 3, 8, 12] }, { shape: [5, 3, 4, 4] }]);
  await gradcheck('conv3d-tubelet', (x, w) => F.conv3d(x, w, null, { stride: [2, 2, 2] }), [{ shape: [1, 2, 4, 4, 4] }, { shape: [3, 2, 2, 2, 2] }]);
  await gradcheck('conv1d-patchify', (x, w) => F.conv1d(x, w, null, { stride: 3 }), [{ shape: [2, 2, 9] }, { shape: [4, 2, 3] }]);
  // same weight gradient as a grouped correlation: compare with a conv whose input is not a multiple of the
  // kernel (falls back to the general route) after cropping, which must give identical values.
  const rng = new Rng(9);
  const x = new Tensor([2, 3, 9, 13], 'float32', rng.normal(2 * 3 * 9 * 13));
  const w = new Variable(rng.normal(5 * 3 * 4 * 4), [5, 3, 4, 4]);
  const [gGeneral] = grad(F.conv2d(x, w, null, { stride: 4 }).sum(), [w]);
  const cropped = F.slice(F.slice(x, 2, 0, 8), 3, 0, 12);
  const [gPatch] = grad(F.conv2d(cropped, w, null, { stride: 4 }).sum(), [w]);
  await realize([gGeneral!, gPatch!]);
  assertClose(gPatch!.value as Float32Array, gGeneral!.value as Float32Array, 1e-4, 1e-4, 'patchify dW');
});
