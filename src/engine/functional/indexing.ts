// Indexing and movement functions with PyTorch semantics (negative dims, python-style slice bounds,
// torch.nn.functional.pad's pad order). Each normalises its arguments and records primitives from
// ops/indexing.ts (or composes them), so every function here is differentiable where torch's is.
import type { DType } from '../dtype.js';
import { ShapeError, fmtShape } from '../errors.js';
import { checkIndexValues, flipAxis, sharedConstant, type PadMode } from '../ops/indexing.js';
import { Tensor, apply, constant, fromNumbers, normAxis } from '../tensor.js';

function requireInt64(op: string, what: string, t: Tensor): void {
  if (t.dtype !== 'int64') throw new ShapeError(op, `${what} must be an int64 tensor, got ${t.dtype} ${fmtShape(t.shape)}`);
}

function requireInt(op: string, what: string, v: number, min = -Infinity): void {
  if (!Number.isInteger(v) || v < min) throw new ShapeError(op, `${what} must be an integer${min > -Infinity ? ` >= ${min}` : ''}, got ${v}`);
}

/** torch.cat: concatenate tensors of equal shape except along `dim`. */
export function cat(tensors: readonly Tensor[], dim = 0): Tensor {
  if (tensors.length === 0) throw new ShapeError('cat', 'expected a non-empty list of tensors');
  const axis = normAxis(dim, tensors[0]!.rank, 'cat');
  if (tensors.length === 1) return tensors[0]!;
  return apply('Concat', [...tensors], { axis })[0]!;
}

/** torch.stack: join equally shaped tensors along a new axis `dim`. */
export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  if (tensors.length === 0) throw new ShapeError('stack', 'expected a non-empty list of tensors');
  const first = tensors[0]!;
  const axis = normAxis(dim, first.rank + 1, 'stack');
  tensors.forEach((t, i) => {
    if (t.rank !== first.rank || t.shape.some((d, k) => d !== first.shape[k])) {
      throw new ShapeError('stack', `expects tensors of equal shape, got ${fmtShape(first.shape)} at entry 0 and ${fmtShape(t.shape)} at entry ${i}`);
    }
  });
  return cat(tensors.map((t) => t.unsqueeze(axis)), axis);
}

/**
 * torch.split: an integer gives chunks of that size (the last may be smaller); a list gives the size of
 * each part and must sum to the size of `dim`.
 */
export function split(x: Tensor, sizeOrSizes: number | readonly number[], dim = 0): Tensor[] {
  const axis = normAxis(dim, x.rank, 'split');
  const n = x.shape[axis]!;
  let sizes: number[];
  if (typeof sizeOrSizes === 'number') {
    requireInt('split', 'split_size', sizeOrSizes, 1);
    sizes = [];
    for (let s = 0; s < n; s += sizeOrSizes) sizes.push(Math.min(sizeOrSizes, n - s));
  } else {
    sizes = [...sizeOrSizes];
    if (sizes.some((s) => !Number.isInteger(s) || s < 1) || sizes.reduce((a, b) => a + b, 0) !== n) {
      throw new ShapeError('split', `split sizes [${sizes.join(', ')}] must be positive and sum to ${n} (dim ${axis} of ${fmtShape(x.shape)})`);
    }
  }
  if (sizes.length === 0) throw new ShapeError('split', `cannot split an empty dim ${axis} of ${fmtShape(x.shape)}`);
  if (sizes.length === 1) return [x];
  return apply('Split', [x], { axis, sizes });
}

/** torch.chunk: `chunks` parts of size ceil(n / chunks) (fewer parts when that covers the dim sooner). */
export function chunk(x: Tensor, chunks: number, dim = 0): Tensor[] {
  requireInt('chunk', 'chunks', chunks, 1);
  const axis = normAxis(dim, x.rank, 'chunk');
  return split(x, Math.max(1, Math.ceil(x.shape[axis]! / chunks)), axis);
}

/** torch.unbind: the slices along `dim`, with that dim removed. */
export function unbind(x: Tensor, dim = 0): Tensor[] {
  const axis = normAxis(dim, x.rank, 'unbind');
  return split(x, 1, axis).map((t) => t.squeeze(axis));
}

/**
 * x[..., start:end:step, ...] on `dim` with python semantics: negative bounds count from the end, bounds
 * are clamped to the dim, an empty range gives a zero-size axis. `step` must be positive (as in torch).
 */
export function slice(x: Tensor, dim: number, start = 0, end: number | null = null, step = 1): Tensor {
  const axis = normAxis(dim, x.rank, 'slice');
  requireInt('slice', 'start', start);
  if (end !== null) requireInt('slice', 'end', end);
  requireInt('slice', 'step', step, 1);
  const n = x.shape[axis]!;
  const norm = (v: number): number => Math.min(Math.max(v < 0 ? v + n : v, 0), n);
  const s = norm(start), e = Math.max(s, end === null ? n : norm(end));
  if (s === 0 && e === n && step === 1) return x;
  return apply('Slice', [x], { starts: [s], ends: [e], axes: [axis], steps: [step] })[0]!;
}

/** torch.narrow: `length` entries of `dim` from `start` (negative start counts from the end). */
export function narrow(x: Tensor, dim: number, start: number, length: number): Tensor {
  const axis = normAxis(dim, x.rank, 'narrow');
  const n = x.shape[axis]!;
  requireInt('narrow', 'start', start);
  requireInt('narrow', 'length', length, 0);
  const s = start < 0 ? start + n : start;
  if (s < 0 || s > n || s + length > n) {
    throw new ShapeError('narrow', `start ${start} + length ${length} exceeds dim ${axis} of size ${n} in ${fmtShape(x.shape)}`);
  }
  if (s === 0 && length === n) return x;
  return apply('Slice', [x], { starts: [s], ends: [s + length], axes: [axis], steps: [1] })[0]!;
}

/** torch.select: entry `index` of `dim`, with the dim removed. */
export function select(x: Tensor, dim: number, index: number): Tensor {
  const axis = normAxis(dim, x.rank, 'select');
  const n = x.shape[axis]!;
  requireInt('select', 'index', index);
  if (index < -n || index >= n) throw new ShapeError('select', `index ${index} out of range for dim ${axis} of size ${n} in ${fmtShape(x.shape)}`);
  return narrow(x, axis, index < 0 ? index + n : index, 1).squeeze(axis);
}

/**
 * torch.nn.functional.pad: `pads` lists (begin, end) pairs starting from the LAST dim, e.g. [left, right,
 * top, bottom] for the two last dims. Modes: 'constant' (filled with `value`), 'reflect' (mirror without
 * the edge; pads < dim), 'replicate' (repeat the edge) and 'circular' (wrap around; pads <= dim).
 */
export function pad(x: Tensor, pads: readonly number[], mode: PadMode = 'constant', value = 0): Tensor {
  const r = x.rank;
  if (pads.length % 2 !== 0 || pads.length > 2 * r) {
    throw new ShapeError('pad', `pads must hold (begin, end) pairs for at most ${r} dims of ${fmtShape(x.shape)}, got [${pads.join(', ')}]`);
  }
  if (pads.some((p) => !Number.isInteger(p) || p < 0)) {
    throw new ShapeError('pad', `pads [${pads.join(', ')}] must be non-negative integers (crop with slice/narrow instead)`);
  }
  if (mode !== 'constant' && value !== 0) throw new ShapeError('pad', `value ${value} is only used by mode 'constant', not '${mode}'`);
  const onnx = new Array<number>(2 * r).fill(0);
  for (let i = 0; i < pads.length / 2; i++) {
    onnx[r - 1 - i] = pads[2 * i]!;
    onnx[2 * r - 1 - i] = pads[2 * i + 1]!;
  }
  if (onnx.every((p) => p === 0)) return x;
  return apply('Pad', [x], { pads: onnx, mode, value })[0]!;
}

/** torch.index_select: entries `index` (int64, 0-D or 1-D, repeats allowed) of `dim`. */
export function indexSelect(x: Tensor, dim: number, index: Tensor): Tensor {
  const axis = normAxis(dim, x.rank, 'indexSelect');
  requireInt64('indexSelect', 'index', index);
  if (index.rank > 1) throw new ShapeError('indexSelect', `index must be 0-D or 1-D, got ${fmtShape(index.shape)}`);
  const n = x.shape[axis]!;
  checkIndexValues('indexSelect', 'index', index, () => n, () => `dim ${axis} of input ${fmtShape(x.shape)}`);
  return apply('Gather', [x, index.rank === 0 ? index.reshape([1]) : index], { axis })[0]!;
}

/** torch.nn.functional.embedding: rows of `weight` [V, D] at int64 `indices` of any shape -> [..., D]. */
export function embedding(indices: Tensor, weight: Tensor): Tensor {
  requireInt64('embedding', 'indices', indices);
  if (weight.rank !== 2) throw new ShapeError('embedding', `weight must be [num_embeddings, dim], got ${fmtShape(weight.shape)}`);
  const v = weight.shape[0]!;
  checkIndexValues('embedding', 'indices', indices, () => v, () => `weight ${fmtShape(weight.shape)} with ${v} rows`);
  return apply('Gather', [weight, indices], { axis: 0 })[0]!;
}

/** torch.gather: out[i][j][k] = x[i][index[i][j][k]][k] for dim 1; index has x's rank, no larger off `dim`. */
export function gather(x: Tensor, dim: number, index: Tensor): Tensor {
  const axis = normAxis(dim, x.rank, 'gather');
  requireInt64('gather', 'index', index);
  if (index.rank !== x.rank || index.shape.some((d, i) => i !== axis && d > x.shape[i]!)) {
    throw new ShapeError('gather', `index ${fmtShape(index.shape)} must have the rank of input ${fmtShape(x.shape)} and be no larger off dim ${axis}`);
  }
  const n = x.shape[axis]!;
  checkIndexValues('gather', 'index', index, () => n, () => `dim ${axis} of input ${fmtShape(x.shape)}`);
  return apply('GatherElements', [x, index], { axis })[0]!;
}

/**
 * torch.scatter_add: a copy of x with src[i][j][k] added at x[i][index[i][j][k]][k] (dim 1); repeated indices
 * accumulate. Only the index-shaped leading block of src is used, as in torch.
 */
export function scatterAdd(x: Tensor, dim: number, index: Tensor, src: Tensor): Tensor {
  const axis = normAxis(dim, x.rank, 'scatterAdd');
  requireInt64('scatterAdd', 'index', index);
  if (src.dtype !== x.dtype) throw new ShapeError('scatterAdd', `src is ${src.dtype} but input is ${x.dtype}`);
  if (index.rank !== x.rank || src.rank !== x.rank) {
    throw new ShapeError('scatterAdd', `input ${fmtShape(x.shape)}, index ${fmtShape(index.shape)} and src ${fmtShape(src.shape)} must have the same rank`);
  }
  index.shape.forEach((d, i) => {
    if (d > src.shape[i]! || (i !== axis && d > x.shape[i]!)) {
      throw new ShapeError('scatterAdd', `index ${fmtShape(index.shape)} must be no larger than src ${fmtShape(src.shape)} and, off dim ${axis}, than input ${fmtShape(x.shape)}`);
    }
  });
  const n = x.shape[axis]!;
  checkIndexValues('scatterAdd', 'index', index, () => n, () => `dim ${axis} of input ${fmtShape(x.shape)}`);
  let upd = src;
  const cut = index.shape.flatMap((d, i) => (d < src.shape[i]! ? [i] : []));
  if (cut.length) upd = apply('Slice', [src], { starts: cut.map(() => 0), ends: cut.map((i) => index.shape[i]!), axes: cut, steps: cut.map(() => 1) })[0]!;
  return apply('ScatterElements', [x, index, upd], { axis, reduction: 'add' })[0]!;
}

/**
 * torch.nn.functional.one_hot, as float32 [..., numClasses] (Equal against an arange). With numClasses -1
 * the count is max(indices) + 1, which needs known (realized) indices.
 */
export function oneHot(indices: Tensor, numClasses = -1): Tensor {
  requireInt64('oneHot', 'indices', indices);
  let c = numClasses;
  if (c === -1) {
    if (!indices.isRealized) throw new ShapeError('oneHot', 'numClasses = -1 needs realized indices; pass numClasses for traced indices');
    c = (indices.value as BigInt64Array).reduce((m, v) => Math.max(m, Number(v)), -1) + 1;
  }
  requireInt('oneHot', 'numClasses', c, 1);
  checkIndexValues('oneHot', 'indices', indices, () => c, () => `${c} classes`);
  const classes = arange(c, undefined, 1, 'int64');
  return indices.unsqueeze(-1).eq(classes).cast('float32');
}

/** torch.topk: the k largest (or smallest) entries along `dim` and their int64 indices. */
export function topk(x: Tensor, k: number, dim = -1, largest = true, sorted = true): { values: Tensor; indices: Tensor } {
  const axis = normAxis(dim, x.rank, 'topk');
  const [values, indices] = apply('TopK', [x], { k, axis, largest, sorted });
  return { values: values!, indices: indices! };
}

/**
 * torch.arange as a baked constant: [start, end) in steps of `step`; arange(n) = [0, n). The same arguments
 * give the same (shared, read-only) tensor, so traces that use it keep hitting the session cache.
 */
export function arange(start: number, end?: number, step = 1, dtype: DType = 'float32'): Tensor {
  const [s, e] = end === undefined ? [0, start] : [start, end];
  if (![s, e, step].every(Number.isFinite) || step === 0) throw new ShapeError('arange', `needs finite bounds and a non-zero step, got (${s}, ${e}, ${step})`);
  if (dtype === 'bool') throw new ShapeError('arange', 'dtype must be float32 or int64');
  const n = Math.max(0, Math.ceil((e - s) / step));
  return sharedConstant(`arange:${s}:${e}:${step}:${dtype}`, () => constant(fromNumbers(Array.from({ length: n }, (_, i) => s + i * step), dtype), [n]));
}

/** torch.cumsum: inclusive running sum along `dim`. */
export function cumsum(x: Tensor, dim: number): Tensor {
  return apply('CumSum', [x], { axis: normAxis(dim, x.rank, 'cumsum'), reverse: false })[0]!;
}

/**
 * torch.Tensor.repeat: tile x `reps[i]` times along each dim; extra leading reps add dims. Written as a
 * reshape-expand-reshape, so the gradient is a sum over the copies.
 */
export function repeat(x: Tensor, ...reps: (number | readonly number[])[]): Tensor {
  const r = reps.flat();
  if (r.length < x.rank) throw new ShapeError('repeat', `needs at least ${x.rank} repeat counts for ${fmtShape(x.shape)}, got [${r.join(', ')}]`);
  r.forEach((v) => requireInt('repeat', 'repeat count', v, 1));
  const full = [...new Array<number>(r.length - x.rank).fill(1), ...x.shape];
  const inter: number[] = [], expanded: number[] = [];
  full.forEach((d, i) => {
    if (r[i]! > 1) { inter.push(1); expanded.push(r[i]!); }
    inter.push(d); expanded.push(d);
  });
  return x.reshape(inter).expand(expanded).reshape(full.map((d, i) => d * r[i]!));
}

/** torch.tile: as repeat, but fewer reps than dims are padded with leading ones. */
export function tile(x: Tensor, reps: readonly number[]): Tensor {
  return repeat(x, [...new Array<number>(Math.max(0, x.rank - reps.length)).fill(1), ...reps]);
}

/** torch.flip: reverse the order along each of `dims`. */
export function flip(x: Tensor, dims: number | readonly number[]): Tensor {
  const list = (typeof dims === 'number' ? [dims] : [...dims]).map((d) => normAxis(d, x.rank, 'flip'));
  if (new Set(list).size !== list.length) throw new ShapeError('flip', `dims [${list.join(', ')}] repeat a dim`);
  return list.reduce((t, axis) => flipAxis(t, axis), x);
}

/** torch.roll: shift entries along `dims` by `shifts`, wrapping around (no dims: roll the flattened tensor). */
export function roll(x: Tensor, shifts: number | readonly number[], dims?: number | readonly number[]): Tensor {
  const sh = typeof shifts === 'number' ? [shifts] : [...shifts];
  if (dims === undefined) {
    if (sh.length !== 1) throw new ShapeError('roll', `without dims, shifts must be one number, got [${sh.join(', ')}]`);
    return roll(x.reshape([-1]), sh, [0]).reshape(x.shape);
  }
  const ds = typeof dims === 'number' ? [dims] : [...dims];
  if (ds.length !== sh.length) throw new ShapeError('roll', `shifts [${sh.join(', ')}] and dims [${ds.join(', ')}] differ in length`);
  return ds.reduce((t, d, i) => {
    const axis = normAxis(d, t.rank, 'roll');
    requireInt('roll', 'shift', sh[i]!);
    const n = t.shape[axis]!;
    const s = n === 0 ? 0 : ((sh[i]! % n) + n) % n;
    return s === 0 ? t : cat([slice(t, axis, n - s), slice(t, axis, 0, n - s)], axis);
  }, x);
}
