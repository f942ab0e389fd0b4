// Normalisation layers as composites over the primitives (torch.nn.functional semantics). Layer and group
// norm use the fused LayerNormalization primitive; batch/instance norm are written out so autodiff follows.
// Running statistics are returned, never written: the caller (e.g. nn.BatchNorm) assigns them.
import { ShapeError, fmtShape } from '../errors.js';
import { apply, scalar, type Tensor } from '../tensor.js';

function checkParam(fn: string, name: string, p: Tensor | null | undefined, shape: readonly number[]): void {
  if (p && (p.rank !== shape.length || p.shape.some((d, i) => d !== shape[i]))) {
    throw new ShapeError(fn, `${name} has shape ${fmtShape(p.shape)}, expected ${fmtShape(shape)}`);
  }
}

/** Shape [1, C, 1, ...] to broadcast a per-channel vector over [N, C, ...spatial]. */
const channelShape = (x: Tensor): number[] => x.shape.map((d, i) => (i === 1 ? d : 1));

/**
 * torch.nn.functional.layer_norm: normalise over the trailing `normalizedShape` axes, then scale and shift.
 * Without weight/bias the affine step is the identity.
 */
export function layerNorm(x: Tensor, normalizedShape: number | readonly number[], weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  const ns = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
  const axis = x.rank - ns.length;
  if (ns.length === 0 || axis < 0 || ns.some((d, i) => d !== x.shape[axis + i])) {
    throw new ShapeError('layerNorm', `normalizedShape ${fmtShape(ns)} does not match the trailing axes of input ${fmtShape(x.shape)}`);
  }
  checkParam('layerNorm', 'weight', weight, ns);
  checkParam('layerNorm', 'bias', bias, ns);
  const w = weight ?? scalar(1).expand(ns);
  const b = bias ?? scalar(0).expand(ns);
  return apply('LayerNormalization', [x, w, b], { axis, epsilon: eps })[0]!;
}

/** torch.nn.functional.rms_norm: x / sqrt(mean(x^2 over the trailing axes) + eps) * weight (eps defaults to float32 machine epsilon). */
export function rmsNorm(x: Tensor, normalizedShape: number | readonly number[], weight?: Tensor | null, eps = 1.1920928955078125e-7): Tensor {
  const ns = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
  const axis = x.rank - ns.length;
  if (ns.length === 0 || axis < 0 || ns.some((d, i) => d !== x.shape[axis + i])) {
    throw new ShapeError('rmsNorm', `normalizedShape ${fmtShape(ns)} does not match the trailing axes of input ${fmtShape(x.shape)}`);
  }
  checkParam('rmsNorm', 'weight', weight, ns);
  const axes = ns.map((_, i) => axis + i);
  const y = x.mul(x.mul(x).mean(axes, true).add(eps).rsqrt());
  return weight ? y.mul(weight) : y;
}

export interface BatchNormOptions {
  /** Normalise with batch statistics (and return updated running statistics); else use the running ones. */
  training?: boolean;
  /** Weight of the new batch statistic in the running average. */
  momentum?: number;
  eps?: number;
}
export interface BatchNormResult {
  output: Tensor;
  /** Training with running statistics given: their new values (assign them to the buffers). */
  runningMean?: Tensor;
  runningVar?: Tensor;
}

function checkStats(fn: string, c: number, rm: Tensor | null | undefined, rv: Tensor | null | undefined, w: Tensor | null | undefined, b: Tensor | null | undefined): void {
  checkParam(fn, 'runningMean', rm, [c]);
  checkParam(fn, 'runningVar', rv, [c]);
  checkParam(fn, 'weight', w, [c]);
  checkParam(fn, 'bias', b, [c]);
  if (!rm !== !rv) throw new ShapeError(fn, 'runningMean and runningVar must be given together');
}

/** y * weight + bias with per-channel vectors broadcast over [N, C, ...]. */
function affine(y: Tensor, weight: Tensor | null | undefined, bias: Tensor | null | undefined): Tensor {
  const shape = channelShape(y);
  if (weight) y = y.mul(weight.reshape(shape));
  if (bias) y = y.add(bias.reshape(shape));
  return y;
}

/**
 * torch.nn.functional.batch_norm on [N, C, ...]. Training: normalise with the batch mean and biased variance
 * over every axis but C; the running statistics move towards the batch mean and the UNBIASED batch variance
 * (running = (1 - momentum) * running + momentum * batch), as in torch. Eval: normalise with the running
 * statistics.
 */
export function batchNorm(x: Tensor, runningMean: Tensor | null | undefined, runningVar: Tensor | null | undefined,
  weight?: Tensor | null, bias?: Tensor | null, opts: BatchNormOptions = {}): BatchNormResult {
  const { training = false, momentum = 0.1, eps = 1e-5 } = opts;
  if (x.rank < 2) throw new ShapeError('batchNorm', `input ${fmtShape(x.shape)} must be [N, C, ...]`);
  const c = x.shape[1]!;
  checkStats('batchNorm', c, runningMean, runningVar, weight, bias);
  const shape = channelShape(x);
  if (!training) {
    if (!runningMean || !runningVar) throw new ShapeError('batchNorm', 'running statistics are required in eval mode (training: false)');
    const scale = runningVar.add(eps).rsqrt();
    return { output: affine(x.sub(runningMean.reshape(shape)).mul(scale.reshape(shape)), weight, bias) };
  }
  const axes = [...Array(x.rank).keys()].filter((i) => i !== 1);
  const n = x.size / c;
  if (n <= 1) throw new ShapeError('batchNorm', `expected more than 1 value per channel when training, got input ${fmtShape(x.shape)}`);
  const mean = x.mean(axes, true);
  const centered = x.sub(mean);
  const variance = centered.mul(centered).mean(axes, true);
  const output = affine(centered.mul(variance.add(eps).rsqrt()), weight, bias);
  if (!runningMean || !runningVar) return { output };
  return {
    output,
    runningMean: runningMean.mul(1 - momentum).add(mean.reshape([c]).mul(momentum)),
    runningVar: runningVar.mul(1 - momentum).add(variance.reshape([c]).mul((momentum * n) / (n - 1))),
  };
}

/**
 * torch.nn.functional.group_norm: split the C channels of [N, C, ...] into `numGroups` groups, normalise
 * each (sample, group) over its channels and positions, then apply the per-channel affine.
 */
export function groupNorm(x: Tensor, numGroups: number, weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  if (x.rank < 2) throw new ShapeError('groupNorm', `input ${fmtShape(x.shape)} must be [N, C, ...]`);
  const [n, c] = x.shape as [number, number];
  if (!Number.isInteger(numGroups) || numGroups < 1 || c % numGroups !== 0) {
    throw new ShapeError('groupNorm', `${c} channels of input ${fmtShape(x.shape)} cannot be split into ${numGroups} groups`);
  }
  checkParam('groupNorm', 'weight', weight, [c]);
  checkParam('groupNorm', 'bias', bias, [c]);
  const m = x.size / (n * numGroups);
  const grouped = x.reshape([n, numGroups, m]);
  const y = apply('LayerNormalization', [grouped, scalar(1).expand([m]), scalar(0).expand([m])], { axis: 2, epsilon: eps })[0]!;
  return affine(y.reshape(x.shape), weight, bias);
}

export interface InstanceNormOptions {
  /** Normalise each instance with its own statistics (default); false uses the running statistics. */
  useInputStats?: boolean;
  momentum?: number;
  eps?: number;
}

/**
 * torch.nn.functional.instance_norm on [N, C, ...]: each (sample, channel) plane is normalised over its
 * positions. With running statistics and useInputStats, their updated values (batch average of the
 * per-instance mean and unbiased variance, blended by momentum) are returned as for batchNorm.
 */
export function instanceNorm(x: Tensor, runningMean?: Tensor | null, runningVar?: Tensor | null, weight?: Tensor | null, bias?: Tensor | null,
  opts: InstanceNormOptions = {}): BatchNormResult {
  const { useInputStats = true, momentum = 0.1, eps = 1e-5 } = opts;
  if (x.rank < 3) throw new ShapeError('instanceNorm', `input ${fmtShape(x.shape)} must be [N, C, ...spatial]`);
  const c = x.shape[1]!;
  checkStats('instanceNorm', c, runningMean, runningVar, weight, bias);
  if (!useInputStats) return batchNorm(x, runningMean, runningVar, weight, bias, { training: false, eps });
  const axes = [...Array(x.rank).keys()].slice(2);
  const n = x.size / (x.shape[0]! * c);
  if (n <= 1) throw new ShapeError('instanceNorm', `expected more than 1 spatial element per channel, got input ${fmtShape(x.shape)}`);
  const mean = x.mean(axes, true);
  const centered = x.sub(mean);
  const variance = centered.mul(centered).mean(axes, true);
  const output = affine(centered.mul(variance.add(eps).rsqrt()), weight, bias);
  if (!runningMean || !runningVar) return { output };
  return {
    output,
    runningMean: runningMean.mul(1 - momentum).add(mean.mean(0).reshape([c]).mul(momentum)),
    runningVar: runningVar.mul(1 - momentum).add(variance.mean(0).reshape([c]).mul((momentum * n) / (n - 1))),
  };
}

const F32_MIN_NORMAL = 1.1754944e-38;

/** torch.nn.functional.normalize: x / max(||x||_p along `dim`, eps). */
export function normalize(x: Tensor, p = 2, dim = 1, eps = 1e-12): Tensor {
  if (!(p > 0)) throw new ShapeError('normalize', `p must be positive, got ${p}`);
  const d = dim < 0 ? dim + x.rank : dim;
  if (!Number.isInteger(d) || d < 0 || d >= x.rank) throw new ShapeError('normalize', `dim ${dim} out of range for input ${fmtShape(x.shape)}`);
  // Clamp before the root: same values as max(norm, eps), and a finite gradient for an all-zero slice.
  const norm = p === 2
    ? x.mul(x).sum(d, true).maximum(eps * eps).sqrt()
    : p === 1 ? x.abs().sum(d, true).maximum(eps)
      : x.abs().pow(p).sum(d, true).maximum(Math.max(eps ** p, F32_MIN_NORMAL)).pow(1 / p);
  return x.div(norm);
}
