// Global gradient-norm clipping traced into the step graph (torch.nn.utils.clip_grad_norm_ with norm_type 2):
// total = sqrt(sum over all gradients of sum(g^2)); every gradient is multiplied by
// min(1, maxNorm / (total + 1e-6)).
import { ShapeError } from '../engine/errors.js';
import { scalar, type Tensor } from '../engine/tensor.js';

/** The 2-norm of all gradients together, as a traced 0-d tensor. */
export function globalGradNorm(grads: Tensor[]): Tensor {
  if (grads.length === 0) throw new ShapeError('clipGradNorm', 'no gradients given');
  let total: Tensor | null = null;
  for (const g of grads) {
    const sq = g.mul(g).sum();
    total = total ? total.add(sq) : sq;
  }
  return total!.sqrt();
}

/** Clip `grads` to a global norm of at most `maxNorm`. Returns the scaled gradients and the (unclipped) total norm. */
export function clipGradNorm(grads: Tensor[], maxNorm: number): { grads: Tensor[]; totalNorm: Tensor } {
  if (!(Number.isFinite(maxNorm) && maxNorm > 0)) throw new RangeError(`clipGradNorm: maxNorm must be a positive finite number, got ${maxNorm}`);
  const totalNorm = globalGradNorm(grads);
  const coef = scalar(maxNorm).div(totalNorm.add(1e-6)).clamp(undefined, 1);
  return { grads: grads.map((g) => g.mul(coef)), totalNorm };
}
