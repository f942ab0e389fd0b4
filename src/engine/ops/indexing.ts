// Indexing and movement ops: concatenation, slicing, padding, gathers/scatters, top-k and cumulative sums.
// Attributes are concrete and normalised (non-negative axes, clamped slice bounds); the functional wrappers
// in functional/indexing.ts turn torch-style arguments into them. Every VJP is written with ops of this
// table or of the other tables, so gradients (and gradients of gradients) stay standard ONNX.
import { asBytes, type DType } from '../dtype.js';
import { ShapeError, fmtShape } from '../errors.js';
import { apply, constant, scalar, type Tensor } from '../tensor.js';
import type { Emitter, OpTableFor, OutSpec } from './types.js';

export type PadMode = 'constant' | 'reflect' | 'replicate' | 'circular';

export interface IndexingAttrs {
  /** Concatenate any number of inputs along `axis`. */
  Concat: { axis: number };
  /** Split along `axis` into consecutive parts of the given sizes (one output each). */
  Split: { axis: number; sizes: number[] };
  /** Normalised slice: 0 <= starts[i] <= ends[i] <= dim, steps >= 1, distinct axes. */
  Slice: { starts: number[]; ends: number[]; axes: number[]; steps: number[] };
  /** ONNX pad layout (all begins, then all ends), non-negative. */
  Pad: { pads: number[]; mode: PadMode; value: number };
  /** out[pre, i..., post] = x[pre, indices[i...], post]; indices in [0, dim). */
  Gather: { axis: number };
  /** torch.gather: out[i][j][k] = x[i][index[i][j][k]][k] (for axis 1); indices smaller than x off-axis. */
  GatherElements: { axis: number };
  /** torch.scatter_add (data, indices, updates): updates has the indices' shape. */
  ScatterElements: { axis: number; reduction: 'add' };
  /** out[i...] = x[indices[i..., 0], ..., indices[i..., k-1], ...] (batch_dims 0). */
  GatherND: Record<string, never>;
  /** Adds updates[i...] into data at the index tuples of indices[i..., :] (duplicates accumulate). */
  ScatterND: { reduction: 'add' };
  /** The k largest (or smallest) entries along `axis`: values and int64 indices. */
  TopK: { k: number; axis: number; largest: boolean; sorted: boolean };
  /** Inclusive cumulative sum along `axis`, from the end when `reverse`. */
  CumSum: { axis: number; reverse: boolean };
}

// ---- helpers (also used by the VJPs) ----

function checkAxis(op: string, x: Tensor, axis: number): void {
  if (!Number.isInteger(axis) || axis < 0 || axis >= x.rank) throw new ShapeError(op, `axis ${axis} out of range for input ${fmtShape(x.shape)}`);
}

function checkDtype(op: string, what: string, t: Tensor, allowed: DType[]): void {
  if (!allowed.includes(t.dtype)) throw new ShapeError(op, `${what} must be ${allowed.join(' or ')}, got ${t.dtype} ${fmtShape(t.shape)}`);
}

/**
 * When an index tensor's values are known (fed data or a constant), check them against the axis sizes now,
 * so a bad index fails at trace time with a message naming the argument rather than inside onnxruntime.
 * `bound(k)` is the exclusive upper bound for flat element k.
 */
export function checkIndexValues(op: string, what: string, idx: Tensor, bound: (k: number) => number, ofWhat: (k: number) => string): void {
  if (!idx.isRealized || idx.dtype !== 'int64') return;
  const v = idx.value as BigInt64Array;
  for (let k = 0; k < v.length; k++) {
    const i = Number(v[k]!), n = bound(k);
    if (i < 0 || i >= n) throw new ShapeError(op, `${what} value ${i} (element ${k}) out of range [0, ${n}) for ${ofWhat(k)}`);
  }
}

const zeros = (shape: readonly number[], dtype: DType = 'float32'): Tensor => scalar(0, dtype).expand(shape);

function slice(x: Tensor, axes: number[], starts: number[], ends: number[], steps = axes.map(() => 1)): Tensor {
  return apply('Slice', [x], { starts, ends, axes, steps })[0]!;
}
const sliceAxis = (x: Tensor, axis: number, start: number, end: number): Tensor => slice(x, [axis], [start], [end]);

/** Zero padding of one axis. */
function padAxis(x: Tensor, axis: number, begin: number, end: number): Tensor {
  if (begin === 0 && end === 0) return x;
  const pads = new Array<number>(2 * x.rank).fill(0);
  pads[axis] = begin;
  pads[x.rank + axis] = end;
  return apply('Pad', [x], { pads, mode: 'constant', value: 0 })[0]!;
}

const sharedConstants = new Map<string, Tensor>();
const SHARED_CONSTANTS_MAX = 256;

/**
 * A baked constant reused across traces. The session cache keys large constants by identity, so making a
 * fresh index table on every trace of a training step would recompile the step each time.
 */
export function sharedConstant(key: string, make: () => Tensor): Tensor {
  let t = sharedConstants.get(key);
  if (!t || !t.isRealized) {
    t = make();
    if (sharedConstants.size >= SHARED_CONSTANTS_MAX) sharedConstants.delete(sharedConstants.keys().next().value as string);
    sharedConstants.set(key, t);
  }
  return t;
}

/** Reverse one axis (a Gather with a reversed index table: our Slice takes no negative steps). */
export function flipAxis(x: Tensor, axis: number): Tensor {
  const n = x.shape[axis]!;
  if (n <= 1) return x;
  const idx = sharedConstant(`flip:${n}`, () => constant(BigInt64Array.from({ length: n }, (_, i) => BigInt(n - 1 - i)), [n]));
  return apply('Gather', [x, idx], { axis })[0]!;
}

function int64Scalar(e: Emitter, v: number): string {
  return e.node('Constant', [], 1, { value: { tensor: { dims: [], dtype: 'int64', raw: asBytes(BigInt64Array.of(BigInt(v))) } } })[0]!;
}

/** Fold the gradient of a padded axis (length p + n + q) back onto the n input positions. */
function unpadAxis(g: Tensor, axis: number, n: number, p: number, q: number, mode: PadMode): Tensor {
  let out = sliceAxis(g, axis, p, p + n);
  const left = p > 0 ? sliceAxis(g, axis, 0, p) : null;
  const right = q > 0 ? sliceAxis(g, axis, p + n, p + n + q) : null;
  switch (mode) {
    case 'constant': break;
    case 'reflect': // x[1..p] reflected to the left, x[n-1-q..n-2] to the right
      if (left) out = out.add(padAxis(flipAxis(left, axis), axis, 1, n - 1 - p));
      if (right) out = out.add(padAxis(flipAxis(right, axis), axis, n - 1 - q, 1));
      break;
    case 'replicate': // every border entry copies the edge element
      if (left) out = out.add(padAxis(left.sum(axis, true), axis, 0, n - 1));
      if (right) out = out.add(padAxis(right.sum(axis, true), axis, n - 1, 0));
      break;
    case 'circular': // the left border holds x[n-p..n-1], the right one x[0..q-1]
      if (left) out = out.add(padAxis(left, axis, n - p, 0));
      if (right) out = out.add(padAxis(right, axis, 0, n - q));
      break;
  }
  return out;
}

const ONNX_PAD_MODE: Record<PadMode, string> = { constant: 'constant', reflect: 'reflect', replicate: 'edge', circular: 'wrap' };

function gatherNdShape(op: string, data: Tensor, idx: Tensor): number[] {
  checkDtype(op, 'indices', idx, ['int64']);
  const k = idx.shape[idx.rank - 1];
  if (idx.rank < 1 || k === undefined || k < 1 || k > data.rank) {
    throw new ShapeError(op, `indices ${fmtShape(idx.shape)} must end in a tuple length between 1 and the data rank ${data.rank} (data ${fmtShape(data.shape)})`);
  }
  checkIndexValues(op, 'indices', idx, (e) => data.shape[e % k]!, (e) => `data ${fmtShape(data.shape)} dim ${e % k}`);
  return [...idx.shape.slice(0, -1), ...data.shape.slice(k)];
}

/** Shared rule of GatherElements / ScatterElements: same rank, off-axis index extents within the data's. */
function checkElementsIndex(op: string, data: Tensor, idx: Tensor, axis: number): void {
  checkAxis(op, data, axis);
  checkDtype(op, 'indices', idx, ['int64']);
  if (idx.rank !== data.rank || idx.shape.some((d, i) => i !== axis && d > data.shape[i]!)) {
    throw new ShapeError(op, `indices ${fmtShape(idx.shape)} must have the rank of data ${fmtShape(data.shape)} and no larger extent off axis ${axis}`);
  }
  checkIndexValues(op, 'indices', idx, () => data.shape[axis]!, () => `axis ${axis} of data ${fmtShape(data.shape)}`);
}

// ---- the table ----

export const indexingOps: OpTableFor<IndexingAttrs> = {
  Concat: {
    infer: (inputs, a) => {
      if (inputs.length === 0) throw new ShapeError('Concat', 'needs at least one input');
      const first = inputs[0]!;
      checkAxis('Concat', first, a.axis);
      let total = 0;
      inputs.forEach((t, i) => {
        if (t.dtype !== first.dtype) throw new ShapeError('Concat', `input ${i} is ${t.dtype} but input 0 is ${first.dtype}`);
        if (t.rank !== first.rank || t.shape.some((d, k) => k !== a.axis && d !== first.shape[k])) {
          throw new ShapeError('Concat', `input ${i} has shape ${fmtShape(t.shape)} but input 0 has ${fmtShape(first.shape)}; shapes must match except on axis ${a.axis}`);
        }
        total += t.shape[a.axis]!;
      });
      return [{ shape: first.shape.map((d, k) => (k === a.axis ? total : d)), dtype: first.dtype }];
    },
    emit: (e, ins, outs, a) => { e.node('Concat', ins, outs, { axis: a.axis }); },
    vjp: ({ inputs, attrs, needs }, [g]) => {
      let off = 0;
      return inputs.map((t, i) => {
        const n = t.shape[attrs.axis]!;
        const gi = needs[i] ? sliceAxis(g!, attrs.axis, off, off + n) : null;
        off += n;
        return gi;
      });
    },
  },

  Split: {
    infer: ([x], a) => {
      checkAxis('Split', x!, a.axis);
      const total = a.sizes.reduce((s, v) => s + v, 0);
      if (a.sizes.length === 0 || a.sizes.some((s) => !Number.isInteger(s) || s < 1) || total !== x!.shape[a.axis]) {
        throw new ShapeError('Split', `sizes [${a.sizes.join(', ')}] must be positive and sum to ${x!.shape[a.axis]} (axis ${a.axis} of ${fmtShape(x!.shape)})`);
      }
      return a.sizes.map((s): OutSpec => ({ shape: x!.shape.map((d, k) => (k === a.axis ? s : d)), dtype: x!.dtype }));
    },
    emit: (e, ins, outs, a) => { e.node('Split', [ins[0]!, e.i64(a.sizes)], outs, { axis: a.axis }); },
    vjp: ({ outputs, attrs }, grads) => {
      const parts = grads.map((g, i) => g ?? zeros(outputs[i]!.shape));
      return [parts.length === 1 ? parts[0]! : apply('Concat', parts, { axis: attrs.axis })[0]!];
    },
  },

  Slice: {
    infer: ([x], a) => {
      const n = a.axes.length;
      if (a.starts.length !== n || a.ends.length !== n || a.steps.length !== n) {
        throw new ShapeError('Slice', `starts/ends/axes/steps lengths differ: ${a.starts.length}/${a.ends.length}/${n}/${a.steps.length}`);
      }
      if (new Set(a.axes).size !== n) throw new ShapeError('Slice', `repeated axis in [${a.axes.join(', ')}]`);
      const shape = [...x!.shape];
      a.axes.forEach((axis, i) => {
        checkAxis('Slice', x!, axis);
        const d = x!.shape[axis]!, s = a.starts[i]!, e = a.ends[i]!, st = a.steps[i]!;
        if (![s, e, st].every(Number.isInteger) || st < 1 || s < 0 || s > e || e > d) {
          throw new ShapeError('Slice', `bad range ${s}:${e}:${st} on axis ${axis} of ${fmtShape(x!.shape)} (need 0 <= start <= end <= ${d}, step >= 1)`);
        }
        shape[axis] = Math.ceil((e - s) / st);
      });
      return [{ shape, dtype: x!.dtype }];
    },
    emit: (e, ins, outs, a) => { e.node('Slice', [ins[0]!, e.i64(a.starts), e.i64(a.ends), e.i64(a.axes), e.i64(a.steps)], outs); },
    vjp: ({ inputs: [x], outputs: [y], attrs }, [g]) => {
      if (y!.size === 0) return [zeros(x!.shape)];
      // Strided axes: interleave step-1 zeros after every element (reshape [n] -> [n, 1], pad to [n, step],
      // reshape to [n * step]) and drop the trailing zeros, so each strided axis becomes a contiguous block.
      let t = g!;
      const stepOf = new Map(attrs.axes.map((ax, i) => [ax, attrs.steps[i]!] as const));
      const strided = attrs.axes.filter((ax) => stepOf.get(ax)! > 1);
      if (strided.length) {
        const unit: number[] = [], padEnd: number[] = [], merged: number[] = [];
        t.shape.forEach((d, k) => {
          const s = stepOf.get(k) ?? 1;
          unit.push(d); padEnd.push(0); merged.push(d * s);
          if (s > 1) { unit.push(1); padEnd.push(s - 1); }
        });
        t = apply('Pad', [t.reshape(unit)], { pads: [...unit.map(() => 0), ...padEnd], mode: 'constant', value: 0 })[0]!.reshape(merged);
        t = slice(t, strided, strided.map(() => 0), strided.map((ax) => (g!.shape[ax]! - 1) * stepOf.get(ax)! + 1));
      }
      const pads = new Array<number>(2 * x!.rank).fill(0);
      attrs.axes.forEach((ax, i) => {
        pads[ax] = attrs.starts[i]!;
        pads[x!.rank + ax] = x!.shape[ax]! - attrs.starts[i]! - t.shape[ax]!;
      });
      return [pads.some((p) => p !== 0) ? apply('Pad', [t], { pads, mode: 'constant', value: 0 })[0]! : t];
    },
  },

  Pad: {
    infer: ([x], a) => {
      checkDtype('Pad', 'input', x!, ['float32', 'int64']);
      const r = x!.rank;
      if (a.pads.length !== 2 * r) throw new ShapeError('Pad', `expected ${2 * r} pads for input ${fmtShape(x!.shape)}, got ${a.pads.length}`);
      if (a.pads.some((p) => !Number.isInteger(p) || p < 0)) throw new ShapeError('Pad', `pads [${a.pads.join(', ')}] must be non-negative integers (cropping is a slice)`);
      if (!(a.mode in ONNX_PAD_MODE)) throw new ShapeError('Pad', `unknown mode '${a.mode}'`);
      for (let k = 0; k < r; k++) {
        const n = x!.shape[k]!, p = a.pads[k]!, q = a.pads[r + k]!;
        if (p === 0 && q === 0) continue;
        const limit = a.mode === 'reflect' ? n - 1 : a.mode === 'circular' ? n : a.mode === 'replicate' ? (n > 0 ? Infinity : -1) : Infinity;
        if (p > limit || q > limit) {
          const rule = a.mode === 'reflect' ? `less than the dimension size ${n}` : a.mode === 'circular' ? `at most the dimension size ${n}` : 'applied to a non-empty dimension';
          throw new ShapeError('Pad', `${a.mode} padding (${p}, ${q}) of axis ${k} of ${fmtShape(x!.shape)} must be ${rule}`);
        }
      }
      return [{ shape: x!.shape.map((d, k) => d + a.pads[k]! + a.pads[r + k]!), dtype: x!.dtype }];
    },
    emit: (e, ins, outs, a, [x]) => {
      let value = '';
      if (a.mode === 'constant' && a.value !== 0) {
        value = x!.dtype === 'float32' ? e.f32(a.value) : int64Scalar(e, Math.trunc(a.value));
      }
      e.node('Pad', value ? [ins[0]!, e.i64(a.pads), value] : [ins[0]!, e.i64(a.pads)], outs, { mode: ONNX_PAD_MODE[a.mode] });
    },
    vjp: ({ inputs: [x], attrs }, [g]) => {
      const r = x!.rank;
      if (attrs.mode === 'constant') {
        const axes = [...Array(r).keys()].filter((k) => attrs.pads[k]! > 0 || attrs.pads[r + k]! > 0);
        return [axes.length ? slice(g!, axes, axes.map((k) => attrs.pads[k]!), axes.map((k) => attrs.pads[k]! + x!.shape[k]!)) : g!];
      }
      // reflect / replicate / circular padding of several axes is the composition of one-axis paddings
      // (corners are padded along both), so the VJP folds one axis at a time.
      let t = g!;
      for (let k = 0; k < r; k++) {
        const p = attrs.pads[k]!, q = attrs.pads[r + k]!;
        if (p > 0 || q > 0) t = unpadAxis(t, k, x!.shape[k]!, p, q, attrs.mode);
      }
      return [t];
    },
  },

  Gather: {
    infer: ([x, idx], a) => {
      checkAxis('Gather', x!, a.axis);
      checkDtype('Gather', 'indices', idx!, ['int64']);
      const n = x!.shape[a.axis]!;
      checkIndexValues('Gather', 'indices', idx!, () => n, () => `axis ${a.axis} of ${fmtShape(x!.shape)}`);
      return [{ shape: [...x!.shape.slice(0, a.axis), ...idx!.shape, ...x!.shape.slice(a.axis + 1)], dtype: x!.dtype }];
    },
    emit: (e, ins, outs, a) => { e.node('Gather', ins, outs, { axis: a.axis }); },
    vjp: ({ inputs: [x, idx], attrs }, [g]) => {
      // Scatter-add rows of g into zeros; with the gathered axis moved to the front, each index addresses
      // a whole [pre..., post...] block, which is what ScatterND adds in one step (repeats accumulate).
      const ax = attrs.axis, shape = x!.shape;
      const pre = shape.slice(0, ax), post = shape.slice(ax + 1), m = idx!.size;
      let gr = g!.reshape([...pre, m, ...post]);
      const perm = [ax, ...[...Array(shape.length).keys()].filter((k) => k !== ax)];
      gr = gr.permute(...perm);
      const front = [shape[ax]!, ...pre, ...post];
      const dx = apply('ScatterND', [zeros(front), idx!.reshape([m, 1]), gr], { reduction: 'add' })[0]!;
      const inv: number[] = [];
      perm.forEach((p, i) => { inv[p] = i; });
      return [dx.permute(...inv), null];
    },
  },

  GatherElements: {
    infer: ([x, idx], a) => {
      checkElementsIndex('GatherElements', x!, idx!, a.axis);
      return [{ shape: idx!.shape, dtype: x!.dtype }];
    },
    emit: (e, ins, outs, a) => { e.node('GatherElements', ins, outs, { axis: a.axis }); },
    vjp: ({ inputs: [x, idx], attrs }, [g]) => [apply('ScatterElements', [zeros(x!.shape), idx!, g!], { axis: attrs.axis, reduction: 'add' })[0]!, null],
  },

  ScatterElements: {
    infer: ([x, idx, upd], a) => {
      checkDtype('ScatterElements', 'data', x!, ['float32']);
      checkElementsIndex('ScatterElements', x!, idx!, a.axis);
      if (upd!.dtype !== x!.dtype || upd!.shape.join() !== idx!.shape.join() || upd!.rank !== idx!.rank) {
        throw new ShapeError('ScatterElements', `updates ${upd!.dtype} ${fmtShape(upd!.shape)} must be ${x!.dtype} with the indices' shape ${fmtShape(idx!.shape)}`);
      }
      if (a.reduction !== 'add') throw new ShapeError('ScatterElements', `only reduction 'add' is supported, got '${String(a.reduction)}'`);
      return [{ shape: x!.shape, dtype: x!.dtype }];
    },
    emit: (e, ins, outs, a) => { e.node('ScatterElements', ins, outs, { axis: a.axis, reduction: a.reduction }); },
    vjp: ({ inputs: [, idx], attrs, needs }, [g]) => [
      needs[0] ? g! : null,
      null,
      needs[2] ? apply('GatherElements', [g!, idx!], { axis: attrs.axis })[0]! : null,
    ],
  },

  GatherND: {
    infer: ([x, idx]) => [{ shape: gatherNdShape('GatherND', x!, idx!), dtype: x!.dtype }],
    emit: (e, ins, outs) => { e.node('GatherND', ins, outs); },
    vjp: ({ inputs: [x, idx] }, [g]) => [apply('ScatterND', [zeros(x!.shape), idx!, g!], { reduction: 'add' })[0]!, null],
  },

  ScatterND: {
    infer: ([x, idx, upd], a) => {
      checkDtype('ScatterND', 'data', x!, ['float32']);
      const expect = gatherNdShape('ScatterND', x!, idx!);
      if (upd!.dtype !== x!.dtype || upd!.rank !== expect.length || upd!.shape.some((d, i) => d !== expect[i])) {
        throw new ShapeError('ScatterND', `updates ${upd!.dtype} ${fmtShape(upd!.shape)} must be ${x!.dtype} ${fmtShape(expect)} for data ${fmtShape(x!.shape)} and indices ${fmtShape(idx!.shape)}`);
      }
      if (a.reduction !== 'add') throw new ShapeError('ScatterND', `only reduction 'add' is supported, got '${String(a.reduction)}'`);
      return [{ shape: x!.shape, dtype: x!.dtype }];
    },
    emit: (e, ins, outs, a) => { e.node('ScatterND', ins, outs, { reduction: a.reduction }); },
    vjp: ({ inputs: [, idx], needs }, [g]) => [
      needs[0] ? g! : null,
      null,
      needs[2] ? apply('GatherND', [g!, idx!], {})[0]! : null,
    ],
  },

  TopK: {
    infer: ([x], a) => {
      checkDtype('TopK', 'input', x!, ['float32', 'int64']);
      checkAxis('TopK', x!, a.axis);
      const n = x!.shape[a.axis]!;
      if (!Number.isInteger(a.k) || a.k < 1 || a.k > n) throw new ShapeError('TopK', `k = ${a.k} must be in [1, ${n}] for axis ${a.axis} of ${fmtShape(x!.shape)}`);
      const shape = x!.shape.map((d, i) => (i === a.axis ? a.k : d));
      return [{ shape, dtype: x!.dtype }, { shape, dtype: 'int64' }];
    },
    emit: (e, ins, outs, a) => { e.node('TopK', [ins[0]!, e.i64([a.k])], outs, { axis: a.axis, largest: a.largest ? 1 : 0, sorted: a.sorted ? 1 : 0 }); },
    vjp: ({ inputs: [x], outputs: [, idx], attrs }, [g]) => {
      if (!g) return [null];
      // The selected positions are distinct, so scatter-add places each cotangent once.
      return [apply('ScatterElements', [zeros(x!.shape), idx!, g], { axis: attrs.axis, reduction: 'add' })[0]!];
    },
  },

  CumSum: {
    infer: ([x], a) => {
      checkDtype('CumSum', 'input', x!, ['float32', 'int64']);
      checkAxis('CumSum', x!, a.axis);
      return [{ shape: x!.shape, dtype: x!.dtype }];
    },
    emit: (e, ins, outs, a) => { e.node('CumSum', [ins[0]!, int64Scalar(e, a.axis)], outs, { reverse: a.reverse ? 1 : 0 }); },
    vjp: ({ attrs }, [g]) => [apply('CumSum', [g!], { axis: attrs.axis, reverse: !attrs.reverse })[0]!],
  },
};
