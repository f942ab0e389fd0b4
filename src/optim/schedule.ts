// Learning-rate schedules as pure functions of the (0-based) optimizer step: `lr = schedule(step)`.
// TrainStep sets `optimizer.lr = schedule(optimizer.stepCount)` before each update; the value is fed to
// the step graph, so a schedule never causes a recompile.

export type LrSchedule = (step: number) => number;

function need(name: string, v: number, ok: boolean): void {
  if (!(Number.isFinite(v) && ok)) throw new RangeError(`schedule: invalid ${name} ${v}`);
}

function checkStep(step: number): void {
  if (!(Number.isInteger(step) && step >= 0)) throw new RangeError(`schedule: step must be a non-negative integer, got ${step}`);
}

/** The same learning rate at every step. */
export function constantLr(lr: number): LrSchedule {
  need('lr', lr, lr >= 0);
  return (step) => { checkStep(step); return lr; };
}

export interface StepDecayOptions {
  baseLr: number;
  /** Steps between decays. */
  stepSize: number;
  /** Multiplier per decay (torch StepLR default 0.1). */
  gamma?: number;
}

/** baseLr * gamma^floor(step / stepSize), as torch.optim.lr_scheduler.StepLR. */
export function stepDecay({ baseLr, stepSize, gamma = 0.1 }: StepDecayOptions): LrSchedule {
  need('baseLr', baseLr, baseLr >= 0);
  need('stepSize', stepSize, Number.isInteger(stepSize) && stepSize > 0);
  need('gamma', gamma, gamma >= 0);
  return (step) => { checkStep(step); return baseLr * gamma ** Math.floor(step / stepSize); };
}

export interface CosineWithWarmupOptions {
  baseLr: number;
  /** Steps of linear warmup from `warmupStartLr` to `baseLr` (default 0). */
  warmupSteps?: number;
  /** Total steps; the cosine runs from `warmupSteps` to here and stays at `minLr` after. */
  totalSteps: number;
  minLr?: number;
  warmupStartLr?: number;
}

/**
 * Linear warmup then cosine decay (timm's CosineLRScheduler with warmup, HF's cosine schedule):
 *   step < W:  warmupStartLr + (baseLr - warmupStartLr) * step / W
 *   else:      minLr + (baseLr - minLr) * (1 + cos(pi * min(1, (step - W) / (T - W)))) / 2
 * After warmup it equals torch's CosineAnnealingLR(T_max = T - W, eta_min = minLr) shifted by W.
 */
export function cosineWithWarmup({ baseLr, warmupSteps = 0, totalSteps, minLr = 0, warmupStartLr = 0 }: CosineWithWarmupOptions): LrSchedule {
  need('baseLr', baseLr, baseLr >= 0);
  need('warmupSteps', warmupSteps, Number.isInteger(warmupSteps) && warmupSteps >= 0);
  need('totalSteps', totalSteps, Number.isInteger(totalSteps) && totalSteps > warmupSteps);
  need('minLr', minLr, minLr >= 0);
  need('warmupStartLr', warmupStartLr, warmupStartLr >= 0);
  const span = totalSteps - warmupSteps;
  return (step) => {
    checkStep(step);
    if (step < warmupSteps) return warmupStartLr + (baseLr - warmupStartLr) * (step / warmupSteps);
    const progress = Math.min(1, (step - warmupSteps) / span);
    return minLr + 0.5 * (baseLr - minLr) * (1 + Math.cos(Math.PI * progress));
  };
}
