// AdamW (decoupled weight decay), exactly as torch.optim.AdamW (single-tensor path):
//   p *= 1 - lr wd;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  [vmax = max(vmax, v)]
//   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// The step-dependent scalars (1 - lr wd, lr / (1 - b1^t), sqrt(1 - b2^t)) are computed in double precision
// here, as torch does in Python, and fed to the graph.
import type { Tensor, Variable } from '../engine/tensor.js';
import { Optimizer, type Hyperparameters, type ParamGroup, type ParamGroupOptions } from './optimizer.js';

export interface AdamWOptions {
  /** Default 1e-3. */
  lr?: number;
  /** Default [0.9, 0.999]. */
  betas?: [number, number];
  /** Default 1e-8. */
  eps?: number;
  /** Default 0.01 (torch's AdamW default). */
  weightDecay?: number;
  amsgrad?: boolean;
}

export class AdamW extends Optimizer {
  readonly kind = 'AdamW';
  betas: [number, number];
  eps: number;
  amsgrad: boolean;

  constructor(params: Variable[] | ParamGroupOptions[], opts: AdamWOptions = {}) {
    super(params, opts.lr ?? 1e-3, opts.weightDecay ?? 1e-2);
    this.betas = [...(opts.betas ?? [0.9, 0.999])] as [number, number];
    this.eps = opts.eps ?? 1e-8;
    this.amsgrad = opts.amsgrad ?? false;
    this.validate();
  }

  private validate(): void {
    this.betas.forEach((b, i) => { if (!(b >= 0 && b < 1)) throw new RangeError(`AdamW: invalid beta parameter at index ${i}: ${b}`); });
    if (!(Number.isFinite(this.eps) && this.eps >= 0)) throw new RangeError(`AdamW: invalid epsilon value ${this.eps}`);
  }

  protected slotNames(): string[] { return this.amsgrad ? ['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq'] : ['exp_avg', 'exp_avg_sq']; }

  protected stepScalars(group: ParamGroup): Record<string, number> {
    const t = group.step + 1;
    const lr = this.groupLr(group);
    const [b1, b2] = this.betas;
    return { decay: 1 - lr * group.weightDecay, stepSize: lr / (1 - b1 ** t), bc2Sqrt: Math.sqrt(1 - b2 ** t) };
  }

  protected updateParam(p: Variable, g: Tensor, s: Record<string, Tensor>, f: Record<string, Tensor>, group: ParamGroup): { param: Tensor; state: Record<string, Tensor> } {
    const [b1, b2] = this.betas;
    const decayed = group.weightDecay !== 0 ? p.mul(f.decay!) : p;
    const m = s.exp_avg!.mul(b1).add(g.mul(1 - b1));
    const v = s.exp_avg_sq!.mul(b2).add(g.mul(1 - b2).mul(g));
    const state: Record<string, Tensor> = { exp_avg: m, exp_avg_sq: v };
    let second = v;
    if (this.amsgrad) second = state.max_exp_avg_sq = s.max_exp_avg_sq!.maximum(v);
    const denom = second.sqrt().div(f.bc2Sqrt!).add(this.eps);
    return { param: decayed.sub(m.mul(f.stepSize!).div(denom)), state };
  }

  hyperparameters(): Hyperparameters {
    return { betas: [...this.betas], eps: this.eps, amsgrad: this.amsgrad, weightDecay: this.weightDecay };
  }
  protected setHyperparameters(h: Hyperparameters): void {
    const betas = h.betas as number[];
    this.betas = [Number(betas[0]), Number(betas[1])];
    this.eps = Number(h.eps);
    this.amsgrad = Boolean(h.amsgrad);
    this.weightDecay = Number(h.weightDecay);
    this.validate();
  }
}
