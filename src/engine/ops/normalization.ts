import { ShapeError, fmtShape } from '../errors.js';
import type { OpTableFor } from './types.js';

export interface NormalizationAttrs {
  Softmax: { axis: number };
  LogSoftmax: { axis: number };
  /** Normalizes over axes [axis, rank); inputs x, scale, bias; outputs y, mean, inverse std (kept for the VJP). */
  LayerNormalization: { axis: number; epsilon: number };
}

export const normalizationOps: OpTableFor<NormalizationAttrs> = {
  Softmax: {
    infer: ([x], a) => {
      if (x!.dtype !== 'float32') throw new ShapeError('Softmax', `expected float32, got ${x!.dtype}`);
      return [{ shape: x!.shape, dtype: 'float32' }];
    },
    emit: (e, ins, outs, a) => { e.node('Softmax', ins, outs, { axis: a.axis }); },
    vjp: ({ outputs: [y], attrs }, [g]) => [y!.mul(g!.sub(g!.mul(y!).sum(attrs.axis, true)))],
  },
  LogSoftmax: {
    infer: ([x]) => {
      if (x!.dtype !== 'float32') throw new ShapeError('LogSoftmax', `expected float32, got ${x!.dtype}`);
      return [{ shape: x!.shape, dtype: 'float32' }];
    },
    emit: (e, ins, outs, a) => { e.node('LogSoftmax', ins, outs, { axis: a.axis }); },
    vjp: ({ outputs: [y], attrs }, [g]) => [g!.sub(y!.exp().mul(g!.sum(attrs.axis, true)))],
  },
  LayerNormalization: {
    infer: ([x, w, b], a) => {
      const norm = x!.shape.slice(a.axis);
      for (const [name, p] of [['weight', w], ['bias', b]] as const) {
        if (p!.rank !== norm.length || p!.shape.some((d, i) => d !== norm[i])) {
          throw new ShapeError('LayerNormalization', `${name} has shape ${fmtShape(p!.shape)}, expected ${fmtShape(norm)} for input ${fmtShape(x!.shape)}`);
        }
      }
      const stat = x!.shape.map((d, i) => (i < a.axis ? d : 1));
      return [{ shape: x!.shape, dtype: 'float32' }, { shape: stat, dtype: 'float32' }, { shape: stat, dtype: 'float32' }];
    },
    emit: (e, ins, outs, a) => { e.node('LayerNormalization', ins, outs, { axis: a.axis, epsilon: { float: a.epsilon } }); },
    vjp: ({ inputs: [x, w], outputs: [, mean, rstd], attrs, needs }, [g]) => {
      const normAxes = [...Array(x!.rank - attrs.axis).keys()].map((i) => i + attrs.axis);
      const leadAxes = [...Array(attrs.axis).keys()];
      const xhat = x!.sub(mean!).mul(rstd!);
      const gh = g!.mul(w!);
      const dx = needs[0] ? rstd!.mul(gh.sub(gh.mean(normAxes, true)).sub(xhat.mul(gh.mul(xhat).mean(normAxes, true)))) : null;
      const dw = needs[1] ? g!.mul(xhat).sum(leadAxes) : null;
      const db = needs[2] ? g!.sum(leadAxes) : null;
      return [dx, dw, db];
    },
  },
};
