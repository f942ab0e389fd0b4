import { ShapeError, fmtShape } from '../errors.js';
import { where, type Tensor } from '../tensor.js';
import type { OpDef, OpTableFor } from './types.js';

export interface ReduceAttr { axes: number[]; keepdims: boolean }
export interface ReduceAttrs {
  ReduceSum: ReduceAttr; ReduceMean: ReduceAttr; ReduceMax: ReduceAttr; ReduceMin: ReduceAttr;
  ArgMax: { axis: number; keepdims: boolean }; ArgMin: { axis: number; keepdims: boolean };
}

function reducedShape(op: string, x: Tensor, axes: number[], keep: boolean): number[] {
  for (const a of axes) if (a < 0 || a >= x.rank) throw new ShapeError(op, `axis ${a} out of range for ${fmtShape(x.shape)}`);
  return keep ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !axes.includes(i));
}

/** Cotangent of a reduction brought back to the input shape (keepdims shape, then broadcast). */
function unreduce(g: Tensor, x: Tensor, axes: number[]): Tensor {
  return g.reshape(x.shape.map((d, i) => (axes.includes(i) ? 1 : d)));
}

function reduceDef(onnx: string, vjp: OpDef<ReduceAttr>['vjp']): OpDef<ReduceAttr> {
  return {
    infer: ([x], a) => {
      if (x!.dtype === 'bool') throw new ShapeError(onnx, 'cannot reduce a bool tensor; cast it first');
      return [{ shape: reducedShape(onnx, x!, a.axes, a.keepdims), dtype: x!.dtype }];
    },
    emit: (e, ins, outs, a) => { e.node(onnx, [ins[0]!, e.i64(a.axes)], outs, { keepdims: a.keepdims ? 1 : 0 }); },
    vjp,
  };
}

const extremumVjp: OpDef<ReduceAttr>['vjp'] = ({ inputs: [x], outputs: [y], attrs }, [g]) => {
  const yk = unreduce(y!, x!, attrs.axes);
  const hit = where(x!.eq(yk), 1, 0);
  const count = hit.sum(attrs.axes, true);
  return [hit.div(count).mul(unreduce(g!, x!, attrs.axes))];
};

const argDef = (onnx: string): OpDef<{ axis: number; keepdims: boolean }> => ({
  infer: ([x], a) => [{ shape: reducedShape(onnx, x!, [a.axis], a.keepdims), dtype: 'int64' }],
  emit: (e, ins, outs, a) => { e.node(onnx, ins, outs, { axis: a.axis, keepdims: a.keepdims ? 1 : 0 }); },
  vjp: 'none',
});

export const reduceOps: OpTableFor<ReduceAttrs> = {
  ReduceSum: reduceDef('ReduceSum', ({ inputs: [x], attrs }, [g]) => [unreduce(g!, x!, attrs.axes).expand(x!.shape)]),
  ReduceMean: reduceDef('ReduceMean', ({ inputs: [x], attrs }, [g]) => {
    const n = attrs.axes.reduce((s, a) => s * x!.shape[a]!, 1);
    return [unreduce(g!, x!, attrs.axes).mul(1 / n).expand(x!.shape)];
  }),
  ReduceMax: reduceDef('ReduceMax', extremumVjp),
  ReduceMin: reduceDef('ReduceMin', extremumVjp),
  ArgMax: argDef('ArgMax'),
  ArgMin: argDef('ArgMin'),
};
