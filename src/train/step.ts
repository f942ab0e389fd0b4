// One training step = one ORT session: loss (forward), gradients (backward), gradient clipping, the optimizer
// update and buffer updates (batch-norm statistics) are traced into one graph and realized together; only
// then, once the loss is known to be finite, are the new values assigned. Every per-step scalar (learning
// rate, bias corrections, accumulation switches) is fed as data, so a run compiles a fixed number of
// sessions: one without accumulation, two with it (micro-step, final micro-step + update).
import { grad } from '../engine/autodiff.js';
import { ShapeError, fmtShape } from '../engine/errors.js';
import { realize } from '../engine/runtime.js';
import { Tensor, Variable, scalar, where } from '../engine/tensor.js';
import type { Module } from '../nn/module.js';
import { clipGradNorm, globalGradNorm } from '../optim/clip.js';
import type { Optimizer } from '../optim/optimizer.js';
import type { LrSchedule } from '../optim/schedule.js';

export interface TrainStepOptions {
  /** Clip the global gradient 2-norm to this value (torch.nn.utils.clip_grad_norm_). */
  clipGradNorm?: number;
  /** Micro-batches per optimizer step (default 1). Gradients are averaged over them. */
  accumulationSteps?: number;
  /** Sets `optimizer.lr = lrSchedule(optimizer.stepCount)` before each update. */
  lrSchedule?: LrSchedule;
  /** Throw NonFiniteGradError when the gradient norm is NaN/Inf, before anything changes (default true). */
  errorIfNonfiniteGrad?: boolean;
}

export interface TrainStepResult {
  /** Loss of this call's (micro-)batch. */
  loss: number;
  /** Did this call apply an optimizer update (always, without accumulation)? */
  updated: boolean;
  /** Optimizer steps completed after this call. */
  step: number;
  /** When updated: mean loss over the accumulated micro-batches (= `loss` without accumulation). */
  meanLoss?: number;
  /** When updated: global 2-norm of the (averaged) gradients, before clipping. */
  gradNorm?: number;
  /** When updated: the base learning rate used. */
  lr?: number;
}

/** The loss came out NaN or infinite; nothing (parameters, optimizer state, buffers) was changed. */
export class NonFiniteLossError extends Error {
  override name = 'NonFiniteLossError';
  constructor(readonly step: number, readonly loss: number, readonly microStep?: { index: number; of: number }) {
    super(`non-finite loss (${loss}) at step ${step}${microStep ? ` (micro-batch ${microStep.index}/${microStep.of})` : ''}; no parameter was changed`);
  }
}

/** The gradient norm came out NaN or infinite; nothing was changed. */
export class NonFiniteGradError extends Error {
  override name = 'NonFiniteGradError';
  constructor(readonly step: number, readonly gradNorm: number) {
    super(`non-finite gradient norm (${gradNorm}) at step ${step}; no parameter was changed`);
  }
}

function boolScalar(v: boolean): Tensor { return new Tensor([], 'bool', Uint8Array.of(v ? 1 : 0)); }

/**
 * A compiled-once training step. `lossFn(batch)` traces the forward pass and returns a scalar loss; the
 * optimizer's parameters that require gradients are trained (frozen ones are baked into the graph and never
 * change). With `accumulationSteps = N`, call `step` once per micro-batch: the first N-1 calls add their
 * gradients into accumulators, the N-th applies the update with the mean gradient (for a mean loss this equals
 * one step on the concatenated batch).
 */
export class TrainStep<B> {
  readonly accumulationSteps: number;
  readonly clipGradNorm: number | undefined;
  readonly lrSchedule: LrSchedule | undefined;
  readonly errorIfNonfiniteGrad: boolean;
  private micro = 0;
  private windowLoss = 0;
  private readonly accumulators = new Map<Variable, Variable>();

  constructor(readonly model: Module, readonly lossFn: (batch: B) => Tensor, readonly optimizer: Optimizer, opts: TrainStepOptions = {}) {
    this.accumulationSteps = opts.accumulationSteps ?? 1;
    if (!(Number.isInteger(this.accumulationSteps) && this.accumulationSteps >= 1)) throw new RangeError(`TrainStep: accumulationSteps must be a positive integer, got ${opts.accumulationSteps}`);
    if (opts.clipGradNorm !== undefined && !(Number.isFinite(opts.clipGradNorm) && opts.clipGradNorm > 0)) throw new RangeError(`TrainStep: clipGradNorm must be a positive number, got ${opts.clipGradNorm}`);
    this.clipGradNorm = opts.clipGradNorm;
    this.lrSchedule = opts.lrSchedule;
    this.errorIfNonfiniteGrad = opts.errorIfNonfiniteGrad ?? true;
  }

  /** Micro-batches already accumulated toward the next update. */
  get pendingMicroSteps(): number { return this.micro; }

  /** The parameters that get gradients: the optimizer's, minus frozen ones. */
  trainableParams(): Variable[] {
    const ps = this.optimizer.params.filter((p) => p.requiresGrad);
    if (!ps.length) throw new Error('TrainStep: none of the optimizer\'s parameters requires a gradient');
    return ps;
  }

  private traceLoss(batch: B): Tensor {
    const loss = this.lossFn(batch);
    if (!(loss instanceof Tensor)) throw new TypeError('TrainStep: the loss function must return a Tensor');
    if (loss.size !== 1 || loss.dtype !== 'float32') throw new ShapeError('TrainStep', `the loss must be a float32 scalar, got ${loss.dtype} ${fmtShape(loss.shape)}`);
    return loss.rank ? loss.reshape([]) : loss;
  }

  private accumulator(p: Variable): Variable {
    let a = this.accumulators.get(p);
    if (!a) this.accumulators.set(p, (a = new Variable(new Float32Array(p.size), p.shape, 'buffer')));
    return a;
  }

  /** Run one (micro-)step on `batch`; see the class comment. */
  async step(batch: B): Promise<TrainStepResult> {
    const n = this.accumulationSteps;
    const stepNo = this.optimizer.stepCount + 1;
    const params = this.trainableParams();
    const lossT = this.traceLoss(batch);
    const grads = grad(lossT, params);
    const last = this.micro === n - 1;
    const microInfo = n > 1 ? { index: this.micro + 1, of: n } : undefined;

    if (!last) {
      // Accumulate: acc = g on the window's first micro-step, acc + g afterwards (a fed switch, not a new graph).
      const first = boolScalar(this.micro === 0);
      const accs = params.map((p) => this.accumulator(p));
      const next = grads.map((g, i) => where(first, g, accs[i]!.add(g)));
      const buffers = this.model.collectBufferUpdates();
      await realize([lossT, ...next, ...buffers.map(([, v]) => v)]);
      const loss = Number(lossT.value[0]);
      if (!Number.isFinite(loss)) throw new NonFiniteLossError(stepNo, loss, microInfo);
      next.forEach((t, i) => accs[i]!.assignSync(t.value));
      for (const [b, v] of buffers) b.assignSync(v.value);
      this.windowLoss = this.micro === 0 ? loss : this.windowLoss + loss;
      this.micro++;
      return { loss, updated: false, step: this.optimizer.stepCount };
    }

    let total = grads;
    if (n > 1) {
      const inv = scalar(1 / n);
      total = grads.map((g, i) => this.accumulator(params[i]!).add(g).mul(inv));
    }
    const clipped = this.clipGradNorm !== undefined ? clipGradNorm(total, this.clipGradNorm) : { grads: total, totalNorm: globalGradNorm(total) };
    if (this.lrSchedule) this.optimizer.lr = this.lrSchedule(this.optimizer.stepCount);
    const update = this.optimizer.traceUpdate(new Map(params.map((p, i) => [p, clipped.grads[i]!])));
    const buffers = this.model.collectBufferUpdates();
    await realize([lossT, clipped.totalNorm, ...update.outputs(), ...buffers.map(([, v]) => v)]);
    const loss = Number(lossT.value[0]);
    if (!Number.isFinite(loss)) throw new NonFiniteLossError(stepNo, loss, microInfo);
    const gradNorm = Number(clipped.totalNorm.value[0]);
    if (this.errorIfNonfiniteGrad && !Number.isFinite(gradNorm)) throw new NonFiniteGradError(stepNo, gradNorm);
    update.commit();
    for (const [b, v] of buffers) b.assignSync(v.value);
    const meanLoss = n > 1 ? (this.windowLoss + loss) / n : loss;
    this.micro = 0;
    this.windowLoss = 0;
    return { loss, updated: true, step: this.optimizer.stepCount, meanLoss, gradNorm, lr: this.optimizer.lr };
  }
}

/** Functional spelling of `new TrainStep(...)`. */
export function createTrainStep<B>(model: Module, lossFn: (batch: B) => Tensor, optimizer: Optimizer, opts: TrainStepOptions = {}): TrainStep<B> {
  return new TrainStep(model, lossFn, optimizer, opts);
}
