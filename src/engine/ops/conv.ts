// Convolution and pooling primitives (1-D/2-D/3-D, the rank comes from the weight or the kernel).
// Geometry attributes use ONNX layouts: `pads` = [begin_0, ..., begin_n, end_0, ..., end_n].
// VJPs are written with the same primitives: Conv's input gradient is a ConvTranspose, its weight gradient a
// grouped Conv of the (batch<->channel transposed) input with the cotangent; ConvTranspose is the adjoint of
// Conv, so its rules mirror them; pooling gradients scatter (max) or spread (average) the cotangent back.
import { ShapeError, fmtShape } from '../errors.js';
import { apply, constant, scalar, shapeSize, type Tensor } from '../tensor.js';
import type { AttrValue } from '../onnx-proto.js';
import type { Emitter, OpTableFor, OutSpec } from './types.js';

export interface ConvAttr { strides: number[]; pads: number[]; dilations: number[]; group: number }
export interface ConvTransposeAttr extends ConvAttr { outputPadding: number[] }
export interface MaxPoolAttr { kernel: number[]; strides: number[]; pads: number[]; dilations: number[]; ceilMode: boolean }
export interface AveragePoolAttr { kernel: number[]; strides: number[]; pads: number[]; countIncludePad: boolean; ceilMode: boolean }

export interface ConvAttrs {
  /** Inputs x [N, Cin, ...], w [Cout, Cin/group, ...k]; output [N, Cout, ...]. */
  Conv: ConvAttr;
  /** Inputs x [N, Cin, ...], w [Cin, Cout/group, ...k] (the adjoint of Conv with the same weight). */
  ConvTranspose: ConvTransposeAttr;
  /** Outputs: values, and int64 flat indices into the whole input tensor (ONNX semantics). */
  MaxPool: MaxPoolAttr;
  AveragePool: AveragePoolAttr;
}

const range = (a: number, b: number): number[] => Array.from({ length: b - a }, (_, i) => a + i);

function checkFloat(op: string, ...ts: Tensor[]): void {
  for (const t of ts) if (t.dtype !== 'float32') throw new ShapeError(op, `expected float32 tensors, got ${t.dtype} ${fmtShape(t.shape)}`);
}

/** Validate the per-axis geometry attributes for `nd` spatial axes. */
function checkGeometry(op: string, nd: number, a: { strides: number[]; pads: number[]; dilations?: number[]; kernel?: number[] }): void {
  const lists: [string, number[] | undefined, number, number][] = [
    ['strides', a.strides, nd, 1], ['pads', a.pads, 2 * nd, 0], ['dilations', a.dilations, nd, 1], ['kernel', a.kernel, nd, 1],
  ];
  for (const [name, v, len, min] of lists) {
    if (v === undefined) continue;
    if (v.length !== len || v.some((x) => !Number.isInteger(x) || x < min)) {
      throw new ShapeError(op, `${name} must be ${len} integers >= ${min} for ${nd}-D, got ${fmtShape(v)}`);
    }
  }
}

/** Output length of a sliding window (floor mode, or PyTorch's ceil mode: the last window must start inside the input or the left padding). */
export function windowOutSize(size: number, k: number, s: number, padBegin: number, padEnd: number, d = 1, ceil = false): number {
  const span = size + padBegin + padEnd - d * (k - 1) - 1;
  if (span < 0) return 0;
  let out = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  if (ceil && (out - 1) * s >= size + padBegin) out--;
  return out;
}

function convOutShape(op: string, x: Tensor, kernel: readonly number[], a: ConvAttr, cout: number): number[] {
  const nd = kernel.length;
  const out = [x.shape[0]!, cout];
  for (let i = 0; i < nd; i++) {
    const o = windowOutSize(x.shape[2 + i]!, kernel[i]!, a.strides[i]!, a.pads[i]!, a.pads[nd + i]!, a.dilations[i]!);
    if (o < 1) throw new ShapeError(op, `input ${fmtShape(x.shape)} is smaller than the (dilated) kernel ${fmtShape(kernel)} along spatial axis ${i} (pads ${fmtShape(a.pads)}, dilations ${fmtShape(a.dilations)})`);
    out.push(o);
  }
  return out;
}

function convTransposeOutShape(x: Tensor, w: Tensor, a: ConvTransposeAttr): number[] {
  const nd = w.rank - 2;
  const out = [x.shape[0]!, w.shape[1]! * a.group];
  for (let i = 0; i < nd; i++) {
    const o = (x.shape[2 + i]! - 1) * a.strides[i]! - a.pads[i]! - a.pads[nd + i]! + a.dilations[i]! * (w.shape[2 + i]! - 1) + a.outputPadding[i]! + 1;
    if (o < 1) throw new ShapeError('ConvTranspose', `output would be empty along spatial axis ${i} for input ${fmtShape(x.shape)}, weight ${fmtShape(w.shape)} and pads ${fmtShape(a.pads)}`);
    out.push(o);
  }
  return out;
}

function checkConvOperands(op: 'Conv' | 'ConvTranspose', x: Tensor, w: Tensor, group: number): void {
  checkFloat(op, x, w);
  if (w.rank < 3 || w.rank > 5) throw new ShapeError(op, `weight must have rank 3, 4 or 5 (1-D, 2-D or 3-D), got ${fmtShape(w.shape)}`);
  if (x.rank !== w.rank) throw new ShapeError(op, `input ${fmtShape(x.shape)} must have rank ${w.rank} ([N, C, ...${w.rank - 2} spatial]) to match weight ${fmtShape(w.shape)}`);
  if (!Number.isInteger(group) || group < 1) throw new ShapeError(op, `group must be a positive integer, got ${group}`);
}

/** Keep the first `sizes[i]` entries of each spatial axis of `t` [N, C, ...spatial]. */
function cropSpatial(t: Tensor, sizes: readonly number[]): Tensor {
  const sp = t.shape.slice(2);
  const axes = range(0, sp.length).filter((i) => sp[i] !== sizes[i]);
  if (axes.length === 0) return t;
  return apply('Slice', [t], { axes: axes.map((i) => i + 2), starts: axes.map(() => 0), ends: axes.map((i) => sizes[i]!), steps: axes.map(() => 1) })[0]!;
}

/**
 * The gradient of a convolution weight: correlates `a` [N, G*A, ...L] with `b` [N, G*B, ...Lb] as a grouped
 * Conv with batch and channels swapped (strides and dilations trade places) and returns [G*B, A, ...kernel].
 * For y = Conv(x, W): a = x, b = dY. For y = ConvTranspose(x, W): a = dY, b = x.
 */
function correlate(a: Tensor, b: Tensor, attrs: ConvAttr, kernel: readonly number[]): Tensor {
  const G = attrs.group, nd = kernel.length;
  const n = a.shape[0]!, A = a.shape[1]! / G, B = b.shape[1]! / G;
  const L = a.shape.slice(2), Lb = b.shape.slice(2);
  const sp = range(3, 3 + nd);
  const at = a.reshape([n, G, A, ...L]).permute(2, 1, 0, ...sp).reshape([A, G * n, ...L]);
  const bt = b.permute(1, 0, ...range(2, 2 + nd)); // [G*B, N, ...Lb]
  // Pad the end only as far as the last kernel tap reads; where the forward never read the input's tail
  // (the stride skipped it) the correlation runs past the kernel and is cropped.
  const padEnd = kernel.map((k, i) => Math.max(0, attrs.dilations[i]! * (k - 1) + attrs.strides[i]! * (Lb[i]! - 1) + 1 - L[i]! - attrs.pads[i]!));
  const corr = apply('Conv', [at, bt], {
    strides: attrs.dilations, dilations: attrs.strides, group: G, pads: [...attrs.pads.slice(0, nd), ...padEnd],
  })[0]!; // [A, G*B, ...>= kernel]
  return cropSpatial(corr, kernel).transpose(0, 1);
}

/** dX of y = Conv(x, w): the transposed convolution of g, output-padded back to x's exact extent. */
function convInputGrad(g: Tensor, w: Tensor, xShape: readonly number[], a: ConvAttr): Tensor {
  const nd = w.rank - 2;
  const outputPadding = range(0, nd).map((i) => xShape[2 + i]! + a.pads[i]! + a.pads[nd + i]!
    - ((g.shape[2 + i]! - 1) * a.strides[i]! + a.dilations[i]! * (w.shape[2 + i]! - 1) + 1));
  return apply('ConvTranspose', [g, w], { ...a, outputPadding })[0]!;
}

/**
 * dX of y = ConvTranspose(x, w): the convolution of g with the same weight. Its output has x's extent
 * exactly: floor(((H - 1) * s + outputPadding) / s) + 1 = H because outputPadding < stride.
 */
function convTransposeInputGrad(g: Tensor, w: Tensor, a: ConvTransposeAttr): Tensor {
  const { strides, pads, dilations, group } = a;
  return apply('Conv', [g, w], { strides, pads, dilations, group })[0]!;
}

// The few non-scalar trace-time constants are memoised by their defining parameters: re-tracing a step reuses
// the same tensor instead of rebuilding (and re-hashing) it.
const constCache = new Map<string, Tensor>();
function memoConstant(key: string, make: () => Float32Array, shape: number[]): Tensor {
  let t = constCache.get(key);
  if (!t) { t = constant(make(), shape); constCache.set(key, t); }
  return t;
}

/**
 * PyTorch's average-pool divisor along one axis, per output position: the window clipped to the padded input
 * (countIncludePad; a ceil-mode window running past the end padding counts only up to it), or clipped to the
 * input itself.
 */
function poolCounts(size: number, k: number, s: number, pb: number, pe: number, outSize: number, includePad: boolean): number[] {
  return range(0, outSize).map((o) => {
    const start = o * s - pb;
    const end = Math.min(start + k, size + pe);
    return includePad ? end - start : Math.min(end, size) - Math.max(start, 0);
  });
}

/** 1 / divisor of every output position of an AveragePool, as a broadcastable [...outSpatial] tensor (a scalar when uniform). */
function averagePoolScale(x: Tensor, outSpatial: readonly number[], a: AveragePoolAttr): Tensor {
  const nd = a.kernel.length;
  const counts = range(0, nd).map((i) => poolCounts(x.shape[2 + i]!, a.kernel[i]!, a.strides[i]!, a.pads[i]!, a.pads[nd + i]!, outSpatial[i]!, a.countIncludePad));
  if (counts.every((c) => c.every((v) => v === c[0]))) return scalar(1 / counts.reduce((p, c) => p * c[0]!, 1));
  const key = `avgpool-scale:${JSON.stringify(counts)}`;
  return memoConstant(key, () => {
    const out = new Float32Array(shapeSize(outSpatial));
    for (let flat = 0; flat < out.length; flat++) {
      let rem = flat, div = 1;
      for (let i = nd - 1; i >= 0; i--) { div *= counts[i]![rem % outSpatial[i]!]!; rem = Math.floor(rem / outSpatial[i]!); }
      out[flat] = 1 / div;
    }
    return out;
  }, [...outSpatial]);
}

function poolInfer(op: 'MaxPool' | 'AveragePool', x: Tensor, a: MaxPoolAttr | AveragePoolAttr): number[] {
  checkFloat(op, x);
  const nd = a.kernel.length;
  if (nd < 1 || nd > 3) throw new ShapeError(op, `kernel must have 1, 2 or 3 axes, got ${fmtShape(a.kernel)}`);
  if (x.rank !== nd + 2) throw new ShapeError(op, `input ${fmtShape(x.shape)} must have rank ${nd + 2} ([N, C, ...${nd} spatial]) for kernel ${fmtShape(a.kernel)}`);
  const dil = 'dilations' in a ? a.dilations : a.kernel.map(() => 1);
  checkGeometry(op, nd, { ...a, dilations: dil });
  const out = x.shape.slice(0, 2);
  for (let i = 0; i < nd; i++) {
    if (a.pads[i]! >= a.kernel[i]! || a.pads[nd + i]! >= a.kernel[i]!) {
      throw new ShapeError(op, `pads ${fmtShape(a.pads)} must be smaller than the kernel ${fmtShape(a.kernel)}`);
    }
    const o = windowOutSize(x.shape[2 + i]!, a.kernel[i]!, a.strides[i]!, a.pads[i]!, a.pads[nd + i]!, dil[i]!, a.ceilMode);
    if (o < 1) throw new ShapeError(op, `input ${fmtShape(x.shape)} is smaller than the kernel ${fmtShape(a.kernel)} along spatial axis ${i} (pads ${fmtShape(a.pads)})`);
    out.push(o);
  }
  return out;
}

/**
 * Emit a pooling node. onnxruntime's kernels follow PyTorch's ceil-mode rule (no window may start in the end
 * padding) but ONNX shape inference does not, so it would disagree with the declared shapes downstream:
 * ceil mode that changes nothing is emitted as floor mode, and where the rule drops a window the outputs
 * pass through a Slice to the true extent (a no-op at run time that fixes the inferred shape).
 */
function emitPool(e: Emitter, onnx: 'MaxPool' | 'AveragePool', ins: string[], outs: string[], a: MaxPoolAttr | AveragePoolAttr, x: Tensor, attrs: Record<string, AttrValue>): void {
  const nd = a.kernel.length;
  const dil = 'dilations' in a ? a.dilations : a.kernel.map(() => 1);
  const geom = range(0, nd).map((i) => [x.shape[2 + i]!, a.kernel[i]!, a.strides[i]!, a.pads[i]!, a.pads[nd + i]!, dil[i]!] as const);
  const out = geom.map((g) => windowOutSize(...g, a.ceilMode));
  const floorOut = geom.map((g) => windowOutSize(...g, false));
  const ceilMode = a.ceilMode && out.some((o, i) => o !== floorOut[i]);
  const base = { kernel_shape: a.kernel, strides: a.strides, pads: a.pads, ceil_mode: ceilMode ? 1 : 0, ...attrs };
  // ONNX's inferred ceil-mode size: ceil((in + pads - dilated kernel) / stride) + 1, without the rule
  const inferred = geom.map(([size, k, s, pb, pe, d]) => Math.ceil((size + pb + pe - d * (k - 1) - 1) / s) + 1);
  const sliced = ceilMode ? range(0, nd).filter((i) => inferred[i] !== out[i]) : [];
  if (sliced.length === 0) { e.node(onnx, ins, outs, base); return; }
  const raw = e.node(onnx, ins, outs.length, base);
  const bounds = [e.i64(sliced.map(() => 0)), e.i64(sliced.map((i) => out[i]!)), e.i64(sliced.map((i) => i + 2))];
  raw.forEach((r, k) => { e.node('Slice', [r, ...bounds], [outs[k]!]); });
}

/**
 * Weight gradient of a patchify conv (kernel = stride, no padding or dilation, one group, input an exact
 * multiple of the kernel): the patches are a reshape of x, so dW is one GEMM g^T · patches instead of a
 * strided correlation. This is the trainable tokenizer of every image/video/audio model, so it matters.
 */
function patchifyWeightGrad(x: Tensor, g: Tensor, wShape: readonly number[], a: ConvAttr): Tensor | null {
  const k = wShape.slice(2), nd = k.length;
  if (a.group !== 1 || a.dilations.some((d) => d !== 1) || a.pads.some((p) => p !== 0) || a.strides.some((s, i) => s !== k[i])) return null;
  const spatial = x.shape.slice(2);
  if (spatial.some((d, i) => d % k[i]! !== 0)) return null;
  const [n, c] = x.shape as [number, number];
  const out = spatial.map((d, i) => d / k[i]!);
  // [N, C, o1, k1, o2, k2, ...] -> [N, o1, o2, ..., C, k1, k2, ...]
  const split = x.reshape([n, c, ...out.flatMap((o, i) => [o, k[i]!])]);
  const perm = [0, ...out.map((_, i) => 2 + 2 * i), 1, ...out.map((_, i) => 3 + 2 * i)];
  const patches = split.permute(...perm).reshape([-1, c * shapeSize(k)]);
  const gRows = g.permute(0, ...out.map((_, i) => 2 + i), 1).reshape([-1, wShape[0]!]);
  return gRows.mT.matmul(patches).reshape(wShape);
}

export const convOps: OpTableFor<ConvAttrs> = {
  Conv: {
    infer: ([x, w], a): OutSpec[] => {
      checkConvOperands('Conv', x!, w!, a.group);
      const nd = w!.rank - 2;
      checkGeometry('Conv', nd, a);
      const cin = x!.shape[1]!, cout = w!.shape[0]!;
      if (cin !== w!.shape[1]! * a.group) {
        throw new ShapeError('Conv', `input has ${cin} channels but weight expects ${w!.shape[1]! * a.group} (groups ${a.group}); input ${fmtShape(x!.shape)}, weight ${fmtShape(w!.shape)}`);
      }
      if (cout % a.group !== 0) throw new ShapeError('Conv', `weight ${fmtShape(w!.shape)} has ${cout} output channels, not divisible by groups ${a.group}`);
      return [{ shape: convOutShape('Conv', x!, w!.shape.slice(2), a, cout), dtype: 'float32' }];
    },
    emit: (e, ins, outs, a, inputs) => {
      e.node('Conv', ins, outs, { kernel_shape: inputs[1]!.shape.slice(2), strides: a.strides, pads: a.pads, dilations: a.dilations, group: a.group });
    },
    vjp: ({ inputs: [x, w], attrs, needs }, [g]) => [
      needs[0] ? convInputGrad(g!, w!, x!.shape, attrs) : null,
      needs[1] ? (patchifyWeightGrad(x!, g!, w!.shape, attrs) ?? correlate(x!, g!, attrs, w!.shape.slice(2))) : null,
    ],
  },
  ConvTranspose: {
    infer: ([x, w], a): OutSpec[] => {
      checkConvOperands('ConvTranspose', x!, w!, a.group);
      const nd = w!.rank - 2;
      checkGeometry('ConvTranspose', nd, a);
      // torch also allows outputPadding < dilation; onnxruntime's kernel requires < stride
      if (a.outputPadding.length !== nd || a.outputPadding.some((p, i) => !Number.isInteger(p) || p < 0 || p >= a.strides[i]!)) {
        throw new ShapeError('ConvTranspose', `outputPadding ${fmtShape(a.outputPadding)} must be ${nd} non-negative integers smaller than the stride ${fmtShape(a.strides)}`);
      }
      if (x!.shape[1] !== w!.shape[0]) {
        throw new ShapeError('ConvTranspose', `input has ${x!.shape[1]} channels but weight expects ${w!.shape[0]} (weight [Cin, Cout/groups, ...k]); input ${fmtShape(x!.shape)}, weight ${fmtShape(w!.shape)}`);
      }
      if (w!.shape[0]! % a.group !== 0) throw new ShapeError('ConvTranspose', `weight ${fmtShape(w!.shape)} has ${w!.shape[0]} input channels, not divisible by groups ${a.group}`);
      return [{ shape: convTransposeOutShape(x!, w!, a), dtype: 'float32' }];
    },
    emit: (e, ins, outs, a, inputs) => {
      e.node('ConvTranspose', ins, outs, {
        kernel_shape: inputs[1]!.shape.slice(2), strides: a.strides, pads: a.pads, dilations: a.dilations, group: a.group, output_padding: a.outputPadding,
      });
    },
    vjp: ({ inputs: [x, w], attrs, needs }, [g]) => [
      needs[0] ? convTransposeInputGrad(g!, w!, attrs) : null,
      needs[1] ? correlate(g!, x!, attrs, w!.shape.slice(2)) : null,
    ],
  },
  MaxPool: {
    infer: ([x], a) => {
      const shape = poolInfer('MaxPool', x!, a);
      return [{ shape, dtype: 'float32' }, { shape, dtype: 'int64' }];
    },
    emit: (e, ins, outs, a, [x]) => { emitPool(e, 'MaxPool', ins, outs, a, x!, { dilations: a.dilations }); },
    // Each output's cotangent goes to the input element its window selected; overlapping windows accumulate.
    vjp: ({ inputs: [x], outputs: [, indices] }, [g]) => [
      apply('ScatterElements', [scalar(0).expand([x!.size]), indices!.reshape([-1]), g!.reshape([-1])], { axis: 0, reduction: 'add' })[0]!.reshape(x!.shape),
    ],
  },
  AveragePool: {
    infer: ([x], a) => [{ shape: poolInfer('AveragePool', x!, a), dtype: 'float32' }],
    emit: (e, ins, outs, a, [x]) => { emitPool(e, 'AveragePool', ins, outs, a, x!, { count_include_pad: a.countIncludePad ? 1 : 0 }); },
    // Spread g / divisor uniformly over each window: a transposed convolution with a unit kernel per plane.
    vjp: ({ inputs: [x], outputs: [y], attrs }, [g]) => {
      const nd = attrs.kernel.length;
      const [n, c] = x!.shape as [number, number];
      const outSp = y!.shape.slice(2), inSp = x!.shape.slice(2);
      const scaled = g!.mul(averagePoolScale(x!, outSp, attrs)).reshape([n * c, 1, ...outSp]);
      // Windows that ceil mode lets run past the end padding are cropped by a larger end pad.
      const spread = range(0, nd).map((i) => (outSp[i]! - 1) * attrs.strides[i]! + attrs.kernel[i]!);
      const pads = [...attrs.pads.slice(0, nd), ...range(0, nd).map((i) => Math.max(attrs.pads[nd + i]!, spread[i]! - inSp[i]! - attrs.pads[i]!))];
      const outputPadding = range(0, nd).map((i) => inSp[i]! - (spread[i]! - pads[i]! - pads[nd + i]!));
      const dx = apply('ConvTranspose', [scaled, scalar(1).expand([1, 1, ...attrs.kernel])], {
        strides: attrs.strides, pads, dilations: attrs.kernel.map(() => 1), group: 1, outputPadding,
      })[0]!;
      return [dx.reshape(x!.shape)];
    },
  },
};
