// Normalisation layers with torch parameter/buffer names: LayerNorm (weight, bias), BatchNorm1d/2d/3d
// (weight, bias; buffers running_mean, running_var, num_batches_tracked), GroupNorm (weight, bias).
import { ShapeError, fmtShape } from '../engine/errors.js';
import { batchNorm, groupNorm, layerNorm } from '../engine/functional/norm.js';
import { Tensor, Variable } from '../engine/tensor.js';
import { ones_, zeros_ } from './init.js';
import { Module } from './module.js';

export class LayerNorm extends Module {
  readonly normalizedShape: readonly number[];
  readonly eps: number;
  weight: Variable | null;
  bias: Variable | null;

  constructor(normalizedShape: number | readonly number[], opts: { eps?: number; elementwiseAffine?: boolean; bias?: boolean } = {}) {
    super();
    const shape = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
    if (shape.length === 0 || shape.some((d) => !Number.isInteger(d) || d < 1)) throw new ShapeError('LayerNorm', `normalized_shape must be positive integers, got ${fmtShape(shape)}`);
    this.normalizedShape = shape;
    this.eps = opts.eps ?? 1e-5;
    const n = shape.reduce((a, b) => a * b, 1);
    const affine = opts.elementwiseAffine ?? true;
    this.weight = affine ? new Variable(new Float32Array(n).fill(1), shape) : null;
    this.bias = affine && (opts.bias ?? true) ? new Variable(new Float32Array(n), shape) : null;
  }

  initTimm(): void {
    if (this.weight) ones_(this.weight);
    if (this.bias) zeros_(this.bias);
  }

  forward(x: Tensor): Tensor {
    return layerNorm(x, this.normalizedShape, this.weight, this.bias, this.eps);
  }
}

export interface BatchNormOptions {
  eps?: number;
  /** Running-average factor; null = cumulative average over all batches seen (as torch momentum=None). */
  momentum?: number | null;
  affine?: boolean;
  trackRunningStats?: boolean;
}

abstract class BatchNormBase extends Module {
  readonly numFeatures: number;
  readonly eps: number;
  readonly momentum: number | null;
  readonly trackRunningStats: boolean;
  weight: Variable | null;
  bias: Variable | null;
  running_mean: Variable | null;
  running_var: Variable | null;
  num_batches_tracked: Variable | null;

  protected abstract readonly ranks: readonly number[];

  constructor(numFeatures: number, opts: BatchNormOptions = {}) {
    super();
    if (!Number.isInteger(numFeatures) || numFeatures < 1) throw new ShapeError(this.constructor.name, `num_features must be a positive integer, got ${numFeatures}`);
    this.numFeatures = numFeatures;
    this.eps = opts.eps ?? 1e-5;
    this.momentum = opts.momentum === undefined ? 0.1 : opts.momentum;
    if (this.momentum !== null && !(this.momentum >= 0 && this.momentum <= 1)) throw new ShapeError(this.constructor.name, `momentum must be in [0, 1] or null, got ${this.momentum}`);
    this.trackRunningStats = opts.trackRunningStats ?? true;
    const affine = opts.affine ?? true;
    this.weight = affine ? new Variable(new Float32Array(numFeatures).fill(1), [numFeatures]) : null;
    this.bias = affine ? new Variable(new Float32Array(numFeatures), [numFeatures]) : null;
    if (this.trackRunningStats) {
      this.running_mean = new Variable(new Float32Array(numFeatures), [numFeatures], 'buffer');
      this.running_var = new Variable(new Float32Array(numFeatures).fill(1), [numFeatures], 'buffer');
      this.num_batches_tracked = new Variable(new BigInt64Array(1), [], 'buffer');
    } else {
      this.running_mean = this.running_var = this.num_batches_tracked = null;
    }
  }

  initTimm(): void {
    if (this.weight) ones_(this.weight);
    if (this.bias) zeros_(this.bias);
  }

  /** Reset the running statistics (mean 0, var 1, count 0) and drop pending updates. */
  resetRunningStats(): void {
    if (!this.trackRunningStats) return;
    this.collectBufferUpdates();
    zeros_(this.running_mean!);
    ones_(this.running_var!);
    this.num_batches_tracked!.assignSync(new BigInt64Array(1));
  }

  forward(x: Tensor): Tensor {
    const name = this.constructor.name;
    if (!this.ranks.includes(x.rank)) throw new ShapeError(name, `expected a ${this.ranks.map((r) => `${r}-D`).join(' or ')} input [N, C, ...], got ${fmtShape(x.shape)}`);
    if (x.shape[1] !== this.numFeatures) throw new ShapeError(name, `input ${fmtShape(x.shape)} has ${x.shape[1]} channels (axis 1), expected num_features = ${this.numFeatures}`);
    const update = this.training && this.trackRunningStats;
    if (!update) {
      const useBatch = this.training || !this.trackRunningStats;
      return batchNorm(x, useBatch ? null : this.running_mean, useBatch ? null : this.running_var, this.weight, this.bias, { training: useBatch, momentum: this.momentum ?? 0.1, eps: this.eps }).output;
    }
    if (x.size / this.numFeatures <= 1) throw new ShapeError(name, `expected more than 1 value per channel when training, got input ${fmtShape(x.shape)}`);
    // The batch count is known in TypeScript: the pending (or stored) value of num_batches_tracked plus one.
    const count = Number(this.currentBufferValue(this.num_batches_tracked!).value[0]) + 1;
    const rm = this.currentBufferValue(this.running_mean!);
    const rv = this.currentBufferValue(this.running_var!);
    // momentum=null: cumulative average with factor 1/count. The factor changes every step, so it is fed as
    // data (a baked scalar would change the graph key and recompile each step).
    const cumulative = this.momentum === null;
    const r = batchNorm(x, rm, rv, this.weight, this.bias, { training: true, momentum: cumulative ? 1 : this.momentum!, eps: this.eps });
    let newMean = r.runningMean!, newVar = r.runningVar!;
    if (cumulative) {
      const f = new Tensor([], 'float32', Float32Array.of(1 / count));
      newMean = rm.add(newMean.sub(rm).mul(f));
      newVar = rv.add(newVar.sub(rv).mul(f));
    }
    this.recordBufferUpdate(this.running_mean!, newMean);
    this.recordBufferUpdate(this.running_var!, newVar);
    this.recordBufferUpdate(this.num_batches_tracked!, new Tensor([], 'int64', BigInt64Array.of(BigInt(count))));
    return r.output;
  }
}

/** Batch norm over [N, C] or [N, C, L] inputs (torch.nn.BatchNorm1d). */
export class BatchNorm1d extends BatchNormBase { protected readonly ranks = [2, 3] as const; }
/** Batch norm over [N, C, H, W] inputs (torch.nn.BatchNorm2d). */
export class BatchNorm2d extends BatchNormBase { protected readonly ranks = [4] as const; }
/** Batch norm over [N, C, D, H, W] inputs (torch.nn.BatchNorm3d). */
export class BatchNorm3d extends BatchNormBase { protected readonly ranks = [5] as const; }

/** Group normalisation (torch.nn.GroupNorm): input [N, C, *], C divisible by num_groups. */
export class GroupNorm extends Module {
  readonly numGroups: number;
  readonly numChannels: number;
  readonly eps: number;
  weight: Variable | null;
  bias: Variable | null;

  constructor(numGroups: number, numChannels: number, opts: { eps?: number; affine?: boolean } = {}) {
    super();
    if (!Number.isInteger(numGroups) || numGroups < 1 || !Number.isInteger(numChannels) || numChannels % numGroups !== 0) {
      throw new ShapeError('GroupNorm', `num_channels (${numChannels}) must be divisible by num_groups (${numGroups})`);
    }
    this.numGroups = numGroups;
    this.numChannels = numChannels;
    this.eps = opts.eps ?? 1e-5;
    const affine = opts.affine ?? true;
    this.weight = affine ? new Variable(new Float32Array(numChannels).fill(1), [numChannels]) : null;
    this.bias = affine ? new Variable(new Float32Array(numChannels), [numChannels]) : null;
  }

  initTimm(): void {
    if (this.weight) ones_(this.weight);
    if (this.bias) zeros_(this.bias);
  }

  forward(x: Tensor): Tensor {
    if (x.rank < 2 || x.shape[1] !== this.numChannels) throw new ShapeError('GroupNorm', `expected input [N, ${this.numChannels}, ...], got ${fmtShape(x.shape)}`);
    return groupNorm(x, this.numGroups, this.weight, this.bias, this.eps);
  }
}
