// Stochastic gradient descent with momentum, dampening, Nesterov and (coupled, L2) weight decay, exactly as
// torch.optim.SGD:  d = g + wd p;  buf = d (first step) | momentum buf + (1 - dampening) d;
// d = d + momentum buf (Nesterov) | buf;  p = p - lr d.
import type { Tensor, Variable } from '../engine/tensor.js';
import { Optimizer, type Hyperparameters, type ParamGroup, type ParamGroupOptions } from './optimizer.js';

export interface SGDOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  weightDecay?: number;
}

export class SGD extends Optimizer {
  readonly kind = 'SGD';
  momentum: number;
  dampening: number;
  nesterov: boolean;

  constructor(params: Variable[] | ParamGroupOptions[], opts: SGDOptions) {
    super(params, opts.lr, opts.weightDecay ?? 0);
    this.momentum = opts.momentum ?? 0;
    this.dampening = opts.dampening ?? 0;
    this.nesterov = opts.nesterov ?? false;
    this.validate();
  }

  private validate(): void {
    if (!(Number.isFinite(this.momentum) && this.momentum >= 0)) throw new RangeError(`SGD: invalid momentum ${this.momentum}`);
    if (!Number.isFinite(this.dampening)) throw new RangeError(`SGD: invalid dampening ${this.dampening}`);
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) throw new RangeError('SGD: Nesterov momentum requires a momentum > 0 and zero dampening');
  }

  protected slotNames(): string[] { return this.momentum !== 0 ? ['momentum_buffer'] : []; }

  protected stepScalars(group: ParamGroup): Record<string, number> {
    const lr = this.groupLr(group);
    if (this.momentum === 0) return { lr };
    // torch initialises the buffer with the first step's d (no dampening); afterwards it decays.
    const first = group.step === 0;
    return { lr, bufDecay: first ? 0 : this.momentum, gradCoef: first ? 1 : 1 - this.dampening };
  }

  protected updateParam(p: Variable, grad: Tensor, state: Record<string, Tensor>, f: Record<string, Tensor>, group: ParamGroup): { param: Tensor; state: Record<string, Tensor> } {
    let d = grad;
    if (group.weightDecay !== 0) d = d.add(p.mul(group.weightDecay));
    const next: Record<string, Tensor> = {};
    if (this.momentum !== 0) {
      const buf = state.momentum_buffer!.mul(f.bufDecay!).add(d.mul(f.gradCoef!));
      next.momentum_buffer = buf;
      d = this.nesterov ? d.add(buf.mul(this.momentum)) : buf;
    }
    return { param: p.sub(d.mul(f.lr!)), state: next };
  }

  hyperparameters(): Hyperparameters {
    return { momentum: this.momentum, dampening: this.dampening, nesterov: this.nesterov, weightDecay: this.weightDecay };
  }
  protected setHyperparameters(h: Hyperparameters): void {
    this.momentum = Number(h.momentum);
    this.dampening = Number(h.dampening);
    this.nesterov = Boolean(h.nesterov);
    this.weightDecay = Number(h.weightDecay);
    this.validate();
  }
}
