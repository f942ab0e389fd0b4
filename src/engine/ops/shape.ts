// Movement ops. All shapes are static at trace time, so every Reshape/Slice/Pad bound is an initializer.
import { ShapeError, fmtShape } from '../errors.js';
import { shapeSize, type Tensor } from '../tensor.js';
import { broadcastShapes } from './broadcast.js';
import type { OpTableFor } from './types.js';

export interface ShapeAttrs {
  Reshape: { shape: number[] };
  Transpose: { perm: number[] };
  Expand: { shape: number[] };
  /** Identity whose VJP is zero: `Tensor.detach()`. */
  StopGradient: Record<string, never>;
}

export const shapeOps: OpTableFor<ShapeAttrs> = {
  Reshape: {
    infer: ([x], a) => {
      if (shapeSize(a.shape) !== x!.size) throw new ShapeError('Reshape', `cannot reshape ${fmtShape(x!.shape)} to ${fmtShape(a.shape)}`);
      return [{ shape: a.shape, dtype: x!.dtype }];
    },
    emit: (e, ins, outs, a) => { e.node('Reshape', [ins[0]!, e.i64(a.shape)], outs); },
    vjp: ({ inputs: [x] }, [g]) => [g!.reshape(x!.shape)],
  },
  Transpose: {
    infer: ([x], a) => {
      const sorted = [...a.perm].sort((p, q) => p - q);
      if (a.perm.length !== x!.rank || sorted.some((p, i) => p !== i)) throw new ShapeError('Transpose', `perm ${fmtShape(a.perm)} is not a permutation of the axes of ${fmtShape(x!.shape)}`);
      return [{ shape: a.perm.map((p) => x!.shape[p]!), dtype: x!.dtype }];
    },
    emit: (e, ins, outs, a) => { e.node('Transpose', ins, outs, { perm: a.perm }); },
    vjp: ({ attrs }, [g]) => {
      const inv: number[] = [];
      attrs.perm.forEach((p, i) => { inv[p] = i; });
      return [g!.permute(...inv)];
    },
  },
  Expand: {
    infer: ([x], a) => {
      const out = broadcastShapes('Expand', x!.shape, a.shape);
      if (out.length !== a.shape.length || out.some((d, i) => d !== a.shape[i])) throw new ShapeError('Expand', `cannot expand ${fmtShape(x!.shape)} to ${fmtShape(a.shape)}`);
      return [{ shape: out, dtype: x!.dtype }];
    },
    emit: (e, ins, outs, a) => { e.node('Expand', [ins[0]!, e.i64(a.shape)], outs); },
    vjp: (_c, [g]) => [g!],
  },
  StopGradient: {
    infer: ([x]) => [{ shape: x!.shape, dtype: x!.dtype }],
    emit: (e, ins, outs) => { e.node('Identity', ins, outs); },
    vjp: 'none',
  },
};

/** Sum `g` over the axes that broadcasting added to reach `shape` (the reverse of numpy broadcasting). */
export function sumTo(g: Tensor, shape: readonly number[]): Tensor {
  if (g.rank === shape.length && g.shape.every((d, i) => d === shape[i])) return g;
  const lead = g.rank - shape.length;
  if (lead < 0) throw new ShapeError('sumTo', `cannot reduce ${fmtShape(g.shape)} to ${fmtShape(shape)}`);
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    if (i < lead) axes.push(i);
    else if (shape[i - lead] === 1 && g.shape[i] !== 1) axes.push(i);
    else if (shape[i - lead] !== g.shape[i]) throw new ShapeError('sumTo', `cannot reduce ${fmtShape(g.shape)} to ${fmtShape(shape)}`);
  }
  const summed = axes.length ? g.sum(axes, true) : g;
  return summed.reshape(shape);
}
