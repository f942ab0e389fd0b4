import { ShapeError, fmtShape } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { broadcastShapes } from './broadcast.js';
import type { OpTableFor } from './types.js';

export interface LinalgAttrs { MatMul: Record<string, never> }

/** Gradient of a weight shared across the batch: fold batch axes into rows, one GEMM instead of a batched product + sum. */
function weightGrad(a: Tensor, g: Tensor): Tensor {
  const k = a.shape[a.rank - 1]!, n = g.shape[g.rank - 1]!;
  return a.reshape([-1, k]).mT.matmul(g.reshape([-1, n]));
}

export const linalgOps: OpTableFor<LinalgAttrs> = {
  MatMul: {
    infer: ([a, b]) => {
      if (a!.dtype !== 'float32' || b!.dtype !== 'float32') throw new ShapeError('MatMul', `expected float32 operands, got ${a!.dtype} and ${b!.dtype}`);
      if (a!.rank < 2 || b!.rank < 2) throw new ShapeError('MatMul', `operands must have rank >= 2 (use Tensor.matmul for vectors), got ${fmtShape(a!.shape)} and ${fmtShape(b!.shape)}`);
      const [m, k] = a!.shape.slice(-2) as [number, number];
      const [k2, n] = b!.shape.slice(-2) as [number, number];
      if (k !== k2) throw new ShapeError('MatMul', `inner dimensions differ: ${fmtShape(a!.shape)} @ ${fmtShape(b!.shape)}`);
      const batch = broadcastShapes('MatMul', a!.shape.slice(0, -2), b!.shape.slice(0, -2));
      return [{ shape: [...batch, m, n], dtype: 'float32' }];
    },
    emit: (e, ins, outs) => { e.node('MatMul', ins, outs); },
    vjp: ({ inputs: [a, b], needs }, [g]) => [
      needs[0] ? g!.matmul(b!.mT) : null,
      needs[1] ? (b!.rank === 2 && a!.rank > 2 ? weightGrad(a!, g!) : a!.mT.matmul(g!)) : null,
    ],
  },
};
