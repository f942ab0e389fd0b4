import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { F, ShapeError, Tensor, apply, grad, realize, runtimeStats, type Shape } from '../src/index.js';
import { assertClose, gradcheck } from './helpers/gradcheck.js';

// Torch oracle written by tools/fixtures/indexing.py.
type Case = Record<string, number[] | number | string>;
const fixture = JSON.parse(readFileSync(new URL('../../test/fixtures/indexing.json', import.meta.url), 'utf8')) as { cases: Record<string, Case> };
const C = fixture.cases;
const nums = (c: Case, k: string): number[] => c[k] as number[];

const f32 = (shape: Shape, values: ArrayLike<number>): Tensor => new Tensor(shape, 'float32', Float32Array.from(values));
const i64 = (shape: Shape, values: readonly number[]): Tensor => new Tensor(shape, 'int64', BigInt64Array.from(values, (v) => BigInt(v)));
const iota = (n: number, scale = 1): number[] => Array.from({ length: n }, (_, i) => i * scale);
const shapeOf = (t: Tensor): number[] => [...t.shape];
const isShapeError = (re: RegExp) => (e: unknown): boolean => e instanceof ShapeError && re.test(e.message);

test('cat / stack / split / chunk / unbind: values, gradients and shapes', async () => {
  const a = f32([2, 1, 3], iota(6)), b = f32([2, 2, 3], iota(12, 10)), c = f32([2, 3, 3], iota(18, 100));
  const y = F.cat([a, b, c], 1);
  assert.deepEqual(shapeOf(y), [2, 6, 3]);
  const v = await y.toArray();
  // row 0 of batch 1 comes from a, rows 1-2 from b, rows 3-5 from c
  assert.deepEqual(v.slice(18, 36), [3, 4, 5, 60, 70, 80, 90, 100, 110, 900, 1000, 1100, 1200, 1300, 1400, 1500, 1600, 1700]);
  await gradcheck('concat-3-middle', (p, q, r) => F.cat([p, q, r], -2), [{ shape: [2, 1, 3] }, { shape: [2, 2, 3] }, { shape: [2, 3, 3] }]);
  await gradcheck('stack', (p, q) => F.stack([p, q], 1).mul(F.stack([q, p], -1).permute(0, 2, 1)), [{ shape: [2, 3] }, { shape: [2, 3] }]);

  const parts = F.split(f32([7, 2], iota(14)), [2, 4, 1]);
  assert.deepEqual(parts.map(shapeOf), [[2, 2], [4, 2], [1, 2]]);
  assert.deepEqual(await parts[2]!.toArray(), [12, 13]);
  assert.deepEqual(F.split(f32([2, 7], iota(14)), 3, -1).map((t) => t.shape[1]), [3, 3, 1]);
  assert.deepEqual(F.chunk(f32([7], iota(7)), 3).map((t) => t.shape[0]), nums(C.chunk!, 'sizes'));
  assert.deepEqual(F.chunk(f32([7], iota(7)), 4).map((t) => t.shape[0]), nums(C.chunk!, 'sizes4'));
  assert.deepEqual(F.chunk(f32([6], iota(6)), 4).map((t) => t.shape[0]), nums(C.chunk!, 'sizes6'));
  const rows = F.unbind(f32([3, 2], iota(6)), 0);
  assert.deepEqual(rows.map(shapeOf), [[2], [2], [2]]);
  assert.deepEqual(await rows[1]!.toArray(), [2, 3]);
  // gradient through a subset of the parts: the missing cotangents are zeros
  await gradcheck('split-some-parts', (x) => { const [p, , r] = F.split(x, [1, 2, 2], 1); return p!.mul(r!.sum(1, true)); }, [{ shape: [3, 5] }]);
  await gradcheck('chunk-all', (x) => { const [p, q] = F.chunk(x, 2, 0); return q!.sub(p!.mul(2)); }, [{ shape: [4, 3] }]);

  assert.throws(() => F.cat([a, f32([3, 1, 3], iota(9))], 1), isShapeError(/Concat: input 1 has shape \[3, 1, 3\] but input 0 has \[2, 1, 3\]; shapes must match except on axis 1/));
  assert.throws(() => F.cat([a, i64([2, 1, 3], iota(6))], 1), isShapeError(/Concat: input 1 is int64 but input 0 is float32/));
  assert.throws(() => F.cat([]), isShapeError(/cat: expected a non-empty list/));
  assert.throws(() => F.stack([a, b]), isShapeError(/stack: expects tensors of equal shape, got \[2, 1, 3\] at entry 0 and \[2, 2, 3\] at entry 1/));
  assert.throws(() => F.split(b, [1, 2], 1), isShapeError(/split: split sizes \[1, 2\] must be positive and sum to 2/));
  assert.throws(() => apply('Split', [b], { axis: 1, sizes: [3] }), isShapeError(/Split: sizes \[3\] must be positive and sum to 2/));
});

test('slice / narrow / select: python bounds, strides, gradients', async () => {
  const s = C.slice!;
  const x = f32(nums(s, 'xShape'), nums(s, 'x'));
  // x[:, -2:, 1::2] and x[:, :, ::3] as in torch
  const y = F.slice(F.slice(x, 1, -2), -1, 1, null, 2);
  assert.deepEqual(shapeOf(y), nums(s, 'yShape'));
  assertClose(await y.toArray(), nums(s, 'y'));
  const y3 = F.slice(x, 2, 0, null, 3);
  assert.deepEqual(shapeOf(y3), nums(s, 'yStep3Shape'));
  assertClose(await y3.toArray(), nums(s, 'yStep3'));

  const v = f32([10], iota(10));
  assert.deepEqual(await F.slice(v, 0, 2, 7, 2).toArray(), [2, 4, 6]);
  assert.deepEqual(await F.slice(v, 0, -3).toArray(), [7, 8, 9]);
  assert.deepEqual(await F.slice(v, 0, -100, 3).toArray(), [0, 1, 2]); // clamped like python
  assert.deepEqual(await F.slice(v, 0, 8, 100).toArray(), [8, 9]);
  assert.deepEqual(shapeOf(F.slice(v, 0, 6, 2)), [0]); // empty range
  assert.equal(F.slice(v, 0, 0), v); // full slice is the identity
  assert.deepEqual(await F.narrow(v, 0, -4, 2).toArray(), [6, 7]);
  assert.deepEqual(await F.select(f32([3, 2], iota(6)), 0, -1).toArray(), [4, 5]);

  await gradcheck('slice-step1-two-axes', (t) => apply('Slice', [t], { starts: [1, 0], ends: [3, 2], axes: [2, 0], steps: [1, 1] })[0]!, [{ shape: [3, 2, 4] }]);
  await gradcheck('slice-strided', (t) => F.slice(t, 1, 1, null, 2), [{ shape: [2, 6] }]);
  await gradcheck('slice-strided-two-axes', (t) => apply('Slice', [t], { starts: [1, 0], ends: [7, 5], axes: [0, 2], steps: [3, 2] })[0]!, [{ shape: [8, 2, 5] }]);
  await gradcheck('slice-stride-past-end', (t) => F.slice(t, 0, 2, null, 4), [{ shape: [7, 3] }]); // picks rows 2 and 6
  await gradcheck('narrow-select', (t) => F.narrow(t, -1, 1, 2).mul(F.select(t, 0, 1).reshape([1, 4]).sum()), [{ shape: [3, 4] }]);

  assert.throws(() => F.slice(v, 0, 1, 5, 0), isShapeError(/slice: step must be an integer >= 1, got 0/));
  assert.throws(() => F.slice(v, 1, 0), isShapeError(/slice: axis 1 out of range for rank 1/));
  assert.throws(() => apply('Slice', [v], { starts: [3], ends: [11], axes: [0], steps: [1] }), isShapeError(/Slice: bad range 3:11:1 on axis 0 of \[10\] \(need 0 <= start <= end <= 10, step >= 1\)/));
  assert.throws(() => F.narrow(v, 0, 8, 3), isShapeError(/narrow: start 8 \+ length 3 exceeds dim 0 of size 10/));
  assert.throws(() => F.select(v, 0, 10), isShapeError(/select: index 10 out of range for dim 0 of size 10/));
});

test('pad: every mode matches torch values and gradients; finite differences agree', async () => {
  for (const mode of ['constant', 'reflect', 'replicate', 'circular'] as const) {
    const c = C[`pad_${mode}`]!;
    const x = f32(nums(c, 'xShape'), nums(c, 'x'));
    const y = F.pad(x, nums(c, 'pads'), mode, c.value as number);
    assert.deepEqual(shapeOf(y), nums(c, 'yShape'), `${mode} shape`);
    const [dx] = grad(y.mul(f32(y.shape, nums(c, 'r'))).sum(), [x]);
    await realize([y, dx!]); // one run: realizing y alone would cut the graph the gradient needs
    assertClose(y.value as Float32Array, nums(c, 'y'), 1e-6, 1e-6, `pad ${mode}`);
    assertClose(dx!.value as Float32Array, nums(c, 'dx'), 1e-5, 1e-5, `pad ${mode} gradient`);
    await gradcheck(`pad-${mode}`, (t) => F.pad(t, nums(c, 'pads'), mode, c.value as number), [{ shape: nums(c, 'xShape') }]);
  }
  // all three dims, including the leading one, and 1-D
  await gradcheck('pad-reflect-3d', (t) => F.pad(t, [1, 1, 2, 0, 0, 1], 'reflect'), [{ shape: [2, 3, 2] }]);
  await gradcheck('pad-circular-1d', (t) => F.pad(t, [3, 1], 'circular'), [{ shape: [3] }]);
  assert.deepEqual(await F.pad(i64([3], [1, 2, 3]), [1, 2], 'constant', 7).toArray(), [7, 1, 2, 3, 7, 7]);
  assert.deepEqual(await F.pad(f32([4], [1, 2, 3, 4]), [2, 3], 'reflect').toArray(), [3, 2, 1, 2, 3, 4, 3, 2, 1]);
  assert.deepEqual(await F.pad(f32([3], [1, 2, 3]), [2, 3], 'circular').toArray(), [2, 3, 1, 2, 3, 1, 2, 3]);

  const x = f32([2, 3], iota(6));
  assert.throws(() => F.pad(x, [3, 0], 'reflect'), isShapeError(/Pad: reflect padding \(3, 0\) of axis 1 of \[2, 3\] must be less than the dimension size 3/));
  assert.throws(() => F.pad(x, [0, 0, 0, 3], 'circular'), isShapeError(/Pad: circular padding \(0, 3\) of axis 0 of \[2, 3\] must be at most the dimension size 2/));
  assert.throws(() => F.pad(x, [1, -1]), isShapeError(/pad: pads \[1, -1\] must be non-negative integers/));
  assert.throws(() => F.pad(x, [1, 1, 1]), isShapeError(/pad: pads must hold \(begin, end\) pairs for at most 2 dims of \[2, 3\]/));
});

test('gather family: index_select, embedding, gather, scatter_add with repeated indices', async () => {
  const g = C.gather!, sa = C.scatter_add!, is = C.index_select!, em = C.embedding!;
  const x = f32(nums(g, 'xShape'), nums(g, 'x'));
  assertClose(await F.gather(x, 1, i64(nums(g, 'indexShape'), nums(g, 'index'))).toArray(), nums(g, 'y'));
  assertClose(await F.indexSelect(x, 1, i64([4], nums(is, 'index'))).toArray(), nums(is, 'y'));
  const base = f32(nums(sa, 'xShape'), nums(sa, 'x'));
  const src = f32(nums(sa, 'srcShape'), nums(sa, 'src'));
  assertClose(await F.scatterAdd(base, 0, i64(nums(sa, 'indexShape'), nums(sa, 'index')), src).toArray(), nums(sa, 'y'), 1e-6);
  const w = f32(nums(em, 'wShape'), nums(em, 'w'));
  const e = F.embedding(i64(nums(em, 'idsShape'), nums(em, 'ids')), w);
  assert.deepEqual(shapeOf(e), [2, 3, 3]);
  const [dw] = grad(e.mul(f32(e.shape, nums(em, 'r'))).sum(), [w]);
  await realize([e, dw!]);
  assertClose(e.value as Float32Array, nums(em, 'y'));
  assertClose(dw!.value as Float32Array, nums(em, 'dw'), 1e-5, 1e-5, 'embedding gradient (repeated ids accumulate)');

  const rep = i64([5], [2, 0, 2, 2, 3]);
  await gradcheck('index-select-dim0', (t) => F.indexSelect(t, 0, rep), [{ shape: [4, 3] }]);
  await gradcheck('index-select-middle', (t) => F.indexSelect(t, 1, rep), [{ shape: [2, 4, 3] }]);
  await gradcheck('index-select-scalar', (t) => F.indexSelect(t, -1, i64([], [1])), [{ shape: [2, 3] }]);
  await gradcheck('gather-2d-indices-axis1', (t) => apply('Gather', [t, i64([2, 3], [0, 3, 3, 1, 0, 0])], { axis: 1 })[0]!, [{ shape: [2, 4, 3] }]);
  await gradcheck('embedding-repeated', (t) => F.embedding(i64([2, 4], [1, 1, 4, 0, 4, 4, 4, 2]), t), [{ shape: [5, 3] }]);
  await gradcheck('gather-elements', (t) => F.gather(t, 1, i64([3, 2], [0, 0, 3, 1, 2, 2])), [{ shape: [3, 4] }]);
  await gradcheck('gather-elements-dim0-small-index', (t) => F.gather(t, 0, i64([2, 2], [2, 2, 0, 2])), [{ shape: [3, 4] }]);
  await gradcheck('scatter-add', (t, s) => F.scatterAdd(t, 1, i64([2, 3], [0, 2, 0, 1, 1, 1]), s), [{ shape: [2, 4] }, { shape: [3, 3] }]);
  await gradcheck('gather-nd', (t) => apply('GatherND', [t, i64([4, 2], [0, 1, 2, 0, 0, 1, 1, 1])], {})[0]!, [{ shape: [3, 2, 2] }]);
  await gradcheck('scatter-nd', (t, u) => apply('ScatterND', [t, i64([3, 1], [1, 0, 1]), u], { reduction: 'add' })[0]!, [{ shape: [2, 3] }, { shape: [3, 3] }]);

  const oh = C.one_hot!;
  const hot = F.oneHot(i64(nums(oh, 'idsShape'), nums(oh, 'ids')), oh.classes as number);
  assert.equal(hot.dtype, 'float32');
  assert.deepEqual(shapeOf(hot), [2, 3, 7]);
  assert.deepEqual(await hot.toArray(), nums(oh, 'y'));
  assert.deepEqual(shapeOf(F.oneHot(i64([3], [0, 4, 1]))), [3, 5]);

  assert.throws(() => F.embedding(i64([3], [0, 6, 1]), w), isShapeError(/embedding: indices value 6 \(element 1\) out of range \[0, 6\) for weight \[6, 3\]/));
  assert.throws(() => F.indexSelect(x, 1, i64([2], [0, -1])), isShapeError(/indexSelect: index value -1 \(element 1\) out of range \[0, 5\) for dim 1 of input \[3, 5\]/));
  assert.throws(() => F.indexSelect(x, 1, f32([2], [0, 1])), isShapeError(/indexSelect: index must be an int64 tensor, got float32/));
  assert.throws(() => F.gather(x, 0, i64([3], [0, 1, 2])), isShapeError(/gather: index \[3\] must have the rank of input \[3, 5\]/));
  assert.throws(() => F.gather(x, 0, i64([1, 1], [3])), isShapeError(/gather: index value 3 \(element 0\) out of range \[0, 3\)/));
  assert.throws(() => F.scatterAdd(base, 0, i64([2, 5], iota(10).map(() => 0)), f32([2, 5], iota(10))), isShapeError(/scatterAdd: index \[2, 5\] must be no larger than src \[2, 5\] and, off dim 0, than input \[3, 4\]/));
  assert.throws(() => F.oneHot(i64([2], [1, 3]), 3), isShapeError(/oneHot: indices value 3 \(element 1\) out of range \[0, 3\) for 3 classes/));
  assert.throws(() => apply('Gather', [x, i64([1], [9])], { axis: 0 }), isShapeError(/Gather: indices value 9 \(element 0\) out of range \[0, 3\) for axis 0 of \[3, 5\]/));
  assert.throws(() => apply('GatherND', [x, i64([1, 3], [0, 0, 0])], {}), isShapeError(/GatherND: indices \[1, 3\] must end in a tuple length between 1 and the data rank 2/));
  assert.throws(() => apply('ScatterND', [x, i64([2, 1], [0, 1]), f32([2, 4], iota(8))], { reduction: 'add' }), isShapeError(/ScatterND: updates float32 \[2, 4\] must be float32 \[2, 5\]/));
});

test('topk values, indices and value gradients; cumsum forward and reverse', async () => {
  for (const name of ['topk_largest', 'topk_smallest', 'topk_dim0']) {
    const c = C[name]!;
    const x = f32(nums(c, 'xShape'), nums(c, 'x'));
    const { values, indices } = F.topk(x, c.k as number, name === 'topk_dim0' ? 0 : 1, name !== 'topk_smallest');
    assert.equal(indices.dtype, 'int64');
    assertClose(await values.toArray(), nums(c, 'values'), 0, 0, name);
    assert.deepEqual(await indices.toArray(), nums(c, 'indices'), name);
  }
  // well separated entries so the finite-difference steps never reorder them
  const spread = [0.3, -1.5, 2.1, 0.9, -0.6, 1.5, -2.4, 0.0, 2.7, -0.9, 1.2, -1.8];
  await gradcheck('topk-values', (t) => F.topk(t, 3, -1).values, [{ shape: [2, 6], values: Float32Array.from(spread) }]);
  await gradcheck('topk-smallest-dim0', (t) => F.topk(t, 2, 0, false).values, [{ shape: [3, 4], values: Float32Array.from(spread) }]);
  await gradcheck('topk-values-and-indices', (t) => { const r = F.topk(t, 2); return r.values.mul(r.indices.cast('float32')); }, [{ shape: [2, 6], values: Float32Array.from(spread) }]);
  assert.throws(() => F.topk(f32([2, 3], iota(6)), 4), isShapeError(/TopK: k = 4 must be in \[1, 3\] for axis 1 of \[2, 3\]/));

  const c = C.cumsum!;
  const x = f32(nums(c, 'xShape'), nums(c, 'x'));
  assertClose(await F.cumsum(x, 1).toArray(), nums(c, 'dim1'), 1e-6);
  assertClose(await F.cumsum(x, -1).toArray(), nums(c, 'dimNeg1'), 1e-6);
  assert.deepEqual(await apply('CumSum', [i64([4], [1, 2, 3, 4])], { axis: 0, reverse: true })[0]!.toArray(), [10, 9, 7, 4]);
  await gradcheck('cumsum', (t) => F.cumsum(t, 1), [{ shape: [2, 4, 3] }]);
  await gradcheck('cumsum-reverse', (t) => apply('CumSum', [t], { axis: 0, reverse: true })[0]!, [{ shape: [5, 2] }]);
});

test('repeat / tile / flip / roll / arange match torch; gradients sum over copies', async () => {
  for (const name of ['repeat', 'tile']) {
    const c = C[name]!;
    const x = f32(nums(c, 'xShape'), nums(c, 'x'));
    const y = name === 'repeat' ? F.repeat(x, ...nums(c, 'reps')) : F.tile(x, nums(c, 'reps'));
    assert.deepEqual(shapeOf(y), nums(c, 'yShape'), name);
    assertClose(await y.toArray(), nums(c, 'y'), 0, 0, name);
  }
  const fl = C.flip!, ro = C.roll!;
  const x = f32(nums(fl, 'xShape'), nums(fl, 'x'));
  assertClose(await F.flip(x, nums(fl, 'dims')).toArray(), nums(fl, 'y'), 0, 0, 'flip');
  assertClose(await F.roll(x, nums(ro, 'shifts'), nums(ro, 'dims')).toArray(), nums(ro, 'y'), 0, 0, 'roll');
  assertClose(await F.roll(x, ro.flatShift as number).toArray(), nums(ro, 'yFlat'), 0, 0, 'roll flat');
  const ar = C.arange!;
  assertClose(await F.arange(5).toArray(), nums(ar, 'a'));
  assertClose(await F.arange(1, 2, 0.3).toArray(), nums(ar, 'b'), 1e-6);
  const ai = F.arange(10, 2, -3, 'int64');
  assert.equal(ai.dtype, 'int64');
  assert.deepEqual(await ai.toArray(), nums(ar, 'c'));

  await gradcheck('repeat', (t) => F.repeat(t, 2, 1, 3), [{ shape: [3, 2] }]);
  await gradcheck('tile', (t) => F.tile(t, [2]), [{ shape: [2, 3] }]);
  await gradcheck('flip', (t) => F.flip(t, [0, -1]), [{ shape: [3, 2, 4] }]);
  await gradcheck('roll', (t) => F.roll(t, [1, -2], [0, 1]), [{ shape: [3, 4] }]);
  assert.throws(() => F.repeat(x, 2, 2), isShapeError(/repeat: needs at least 3 repeat counts for \[2, 3, 4\], got \[2, 2\]/));
  assert.throws(() => F.flip(x, [0, -3]), isShapeError(/flip: dims \[0, 0\] repeat a dim/));
});

test('VJPs are themselves differentiable (second order through scatters, gathers, pads and slices)', async () => {
  const idx = i64([4], [1, 1, 0, 2]);
  await gradcheck('d2-index-select', (t) => grad(F.indexSelect(t, 1, idx).pow(3).sum(), [t])[0]!, [{ shape: [2, 3] }]);
  await gradcheck('d2-gather-elements', (t) => grad(F.gather(t, 0, i64([2, 3], [2, 2, 0, 1, 0, 1])).pow(3).sum(), [t])[0]!, [{ shape: [3, 3] }]);
  await gradcheck('d2-strided-slice', (t) => grad(F.slice(t, 1, 0, null, 2).pow(3).sum(), [t])[0]!, [{ shape: [2, 5] }]);
  await gradcheck('d2-pad-reflect', (t) => grad(F.pad(t, [2, 1], 'reflect').pow(3).sum(), [t])[0]!, [{ shape: [2, 4] }]);
});

test('index tables (flip, arange, oneHot, reflect-pad gradients) are shared, so re-traced steps reuse one session', async () => {
  const step = async (seed: number): Promise<number[]> => {
    const x = f32([40, 3], iota(120).map((v) => Math.sin(v + seed)));
    const y = F.flip(x, 0).add(F.arange(40).reshape([40, 1])).mul(F.oneHot(i64([40], iota(40).map((i) => i % 20)), 20).sum(-1, true));
    const [dx] = grad(F.pad(y, [0, 0, 30, 5], 'reflect').sum(), [x]);
    return dx!.toArray();
  };
  const first = await step(0);
  const compiles = runtimeStats.compiles;
  const second = await step(1);
  assert.equal(runtimeStats.compiles, compiles, 'the second trace of the same step must not recompile');
  assert.deepEqual(second, first); // the gradient does not depend on x here
});
