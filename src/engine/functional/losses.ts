// Loss functions with torch.nn.functional semantics (PyTorch 1.13), written once as composites of the core
// primitives (LogSoftmax, elementwise ops, reductions). Class-index targets are turned into a one-hot mask by
// comparing them with a cached constant class range, so no gather op (and no gather VJP) is needed.
import { ShapeError, fmtShape } from '../errors.js';
import { broadcastShapes } from '../ops/broadcast.js';
import { constant, normAxis, where, type Tensor } from '../tensor.js';

export type Reduction = 'mean' | 'sum' | 'none';

const REDUCTIONS: readonly string[] = ['mean', 'sum', 'none'];

function checkReduction(op: string, r: string, allowed: readonly string[] = REDUCTIONS): void {
  if (!allowed.includes(r)) throw new ShapeError(op, `reduction must be ${allowed.map((a) => `'${a}'`).join(', ')}; got '${r}'`);
}

function reduceLoss(loss: Tensor, reduction: Reduction): Tensor {
  if (reduction === 'none') return loss;
  return reduction === 'sum' ? loss.sum() : loss.mean();
}

function checkFloat(op: string, name: string, t: Tensor): void {
  if (t.dtype !== 'float32') throw new ShapeError(op, `${name} must be float32, got ${t.dtype} ${fmtShape(t.shape)}`);
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** `what` must broadcast to `shape` without enlarging it (it scales a loss of that shape). */
function checkBroadcastsTo(op: string, name: string, t: Tensor, shape: readonly number[], argName: string): void {
  checkFloat(op, name, t);
  let out: number[] | null = null;
  try { out = broadcastShapes(op, t.shape, shape); } catch { out = null; }
  if (!out || !sameShape(out, shape)) {
    throw new ShapeError(op, `${name} has shape ${fmtShape(t.shape)}, which does not broadcast to the ${argName} shape ${fmtShape(shape)}`);
  }
}

const warned = new Set<string>();
/** torch warns (UserWarning) when a regression target broadcasts against a different input shape. */
function broadcastTarget(op: string, input: Tensor, target: Tensor): void {
  checkFloat(op, 'input', input);
  checkFloat(op, 'target', target);
  if (sameShape(input.shape, target.shape)) return;
  try { broadcastShapes(op, input.shape, target.shape); } catch {
    throw new ShapeError(op, `target has shape ${fmtShape(target.shape)}, expected the input shape ${fmtShape(input.shape)} (or one that broadcasts with it)`);
  }
  if (!warned.has(op)) {
    warned.add(op);
    process.emitWarning(`${op}: target shape ${fmtShape(target.shape)} differs from input shape ${fmtShape(input.shape)}; they are broadcast, which is likely not intended`);
  }
}

// ---- classification ----

/**
 * Constant int64 tensor [1, C, 1, ...] holding 0..C-1 along axis 1. Cached per (C, rank): a large constant is
 * keyed by tensor identity in the session cache, so a fresh one per call would recompile every step.
 */
const classRanges = new Map<string, Tensor>();
function classRange(c: number, rank: number): Tensor {
  const key = `${c}/${rank}`;
  let t = classRanges.get(key);
  if (!t) {
    const shape = Array.from({ length: rank }, (_, i) => (i === 1 ? c : 1));
    t = constant(BigInt64Array.from({ length: c }, (_, i) => BigInt(i)), shape);
    classRanges.set(key, t);
  }
  return t;
}

export interface NllLossOptions {
  /** Per-class rescaling weight, float32 [C]. */
  weight?: Tensor | undefined;
  /** Target value that contributes neither loss nor gradient nor to the mean's denominator. */
  ignoreIndex?: number;
  reduction?: Reduction;
}

export interface CrossEntropyOptions extends NllLossOptions {
  /** Amount of smoothing in [0, 1]: the target becomes (1 - s) * one_hot + s / C. */
  labelSmoothing?: number;
}

interface ClassInputs { x: Tensor; target: Tensor; unbatched: boolean; soft: boolean }

/** Validate logits/log-probs [N, C, d...] (or unbatched [C]) against class-index targets [N, d...] ([]). */
function checkClassInputs(op: string, xName: string, x: Tensor, target: Tensor, allowSoft: boolean): ClassInputs {
  checkFloat(op, xName, x);
  if (x.rank < 1) throw new ShapeError(op, `${xName} must have shape [N, C, d1, ...] or [C], got a scalar`);
  const indexShape = x.rank === 1 ? [] : [x.shape[0]!, ...x.shape.slice(2)];
  const expect = `expected int64 class indices of shape ${fmtShape(indexShape)}${allowSoft ? ` or float32 class probabilities of shape ${fmtShape(x.shape)}` : ''} for ${xName} ${fmtShape(x.shape)}`;
  let soft = false;
  if (target.dtype === 'int64' && sameShape(target.shape, indexShape)) soft = false;
  else if (allowSoft && target.dtype === 'float32' && sameShape(target.shape, x.shape)) soft = true;
  else throw new ShapeError(op, `target is ${target.dtype} ${fmtShape(target.shape)}; ${expect}`);
  const unbatched = x.rank === 1;
  return {
    x: unbatched ? x.unsqueeze(0) : x,
    target: unbatched ? target.unsqueeze(0) : target,
    unbatched,
    soft,
  };
}

function checkWeight(op: string, weight: Tensor | undefined, c: number): void {
  if (!weight) return;
  checkFloat(op, 'weight', weight);
  if (weight.rank !== 1 || weight.shape[0] !== c) throw new ShapeError(op, `weight has shape ${fmtShape(weight.shape)}, expected [${c}] (one entry per class)`);
}

/** Known class indices (fed data or constants) are checked now: torch raises on out-of-range targets. */
function checkTargetValues(op: string, target: Tensor, c: number, ignoreIndex: number): void {
  if (!target.isRealized) return;
  const v = target.value as BigInt64Array;
  for (let k = 0; k < v.length; k++) {
    const t = Number(v[k]!);
    if (t !== ignoreIndex && (t < 0 || t >= c)) {
      throw new ShapeError(op, `target value ${t} (element ${k}) is out of range [0, ${c}) and is not ignoreIndex (${ignoreIndex})`);
    }
  }
}

/**
 * Loss of log-probabilities `logp` [N, C, d...] at class indices `target` [N, d...]: the weighted negative
 * log-likelihood, blended with the label-smoothing term as torch 1.13 does:
 *   loss_i = (1 - s) * w[y_i] * -logp[i, y_i] + (s / C) * sum_c w[c] * -logp[i, c]   (0 where y_i is ignored)
 * 'mean' divides the sum by sum_i w[y_i] over non-ignored samples (their count when unweighted).
 */
function classIndexLoss(logp: Tensor, target: Tensor, weight: Tensor | undefined, ignoreIndex: number, smoothing: number, reduction: Reduction): Tensor {
  const c = logp.shape[1]!;
  const t = target.unsqueeze(1);
  let hit = t.eq(classRange(c, logp.rank)); // one-hot [N, C, d...]; ignored targets outside [0, C) never match
  if (ignoreIndex >= 0 && ignoreIndex < c) hit = hit.logicalAnd(t.ne(ignoreIndex));
  const onehot = hit.cast('float32');
  const w = weight?.reshape(logp.shape.map((d, i) => (i === 1 ? c : 1)));
  const picked = w ? onehot.mul(w) : onehot; // w[y_i] at the target class, 0 elsewhere and on ignored samples
  let coef = picked;
  if (smoothing > 0) {
    const valid = onehot.sum(1, true);
    const uniform = (w ? valid.mul(w) : valid).mul(smoothing / c);
    coef = picked.mul(1 - smoothing).add(uniform);
  }
  const loss = logp.mul(coef).sum(1).neg(); // [N, d...]
  if (reduction === 'none') return loss;
  if (reduction === 'sum') return loss.sum();
  return loss.sum().div(picked.sum());
}

function softTargetLoss(logp: Tensor, target: Tensor, weight: Tensor | undefined, smoothing: number, reduction: Reduction): Tensor {
  const c = logp.shape[1]!;
  const t = smoothing > 0 ? target.mul(1 - smoothing).add(smoothing / c) : target;
  let prod = logp.mul(t);
  if (weight) prod = prod.mul(weight.reshape(logp.shape.map((d, i) => (i === 1 ? c : 1))));
  if (reduction === 'none') return prod.sum(1).neg();
  const total = prod.sum().neg();
  return reduction === 'sum' ? total : total.div(logp.size / c);
}

/**
 * torch.nn.functional.cross_entropy. `logits` [N, C, d1, ...] (or unbatched [C]); `target` either int64 class
 * indices [N, d1, ...] or float32 class probabilities with the logits' shape. With class indices, 'mean' is
 * the (weighted) mean over non-ignored entries; with probabilities it divides by N * d1 * ... and
 * `ignoreIndex` is not supported (as in torch).
 */
export function crossEntropy(logits: Tensor, target: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  const op = 'crossEntropy';
  const { weight, ignoreIndex = -100, reduction = 'mean', labelSmoothing = 0 } = opts;
  checkReduction(op, reduction);
  if (!Number.isInteger(ignoreIndex)) throw new ShapeError(op, `ignoreIndex must be an integer, got ${ignoreIndex}`);
  if (!(labelSmoothing >= 0 && labelSmoothing <= 1)) throw new ShapeError(op, `labelSmoothing must be in [0, 1], got ${labelSmoothing}`);
  const { x, target: tgt, unbatched, soft } = checkClassInputs(op, 'logits', logits, target, true);
  const c = x.shape[1]!;
  checkWeight(op, weight, c);
  const logp = x.logSoftmax(1);
  let loss: Tensor;
  if (soft) {
    if (ignoreIndex >= 0) throw new ShapeError(op, `ignoreIndex (${ignoreIndex}) is not supported with class-probability targets`);
    loss = softTargetLoss(logp, tgt, weight, labelSmoothing, reduction);
  } else {
    checkTargetValues(op, target, c, ignoreIndex);
    loss = classIndexLoss(logp, tgt, weight, ignoreIndex, labelSmoothing, reduction);
  }
  return unbatched && reduction === 'none' ? loss.reshape([]) : loss;
}

/**
 * torch.nn.functional.nll_loss: `logProbs` [N, C, d1, ...] (or [C]) of log-probabilities, `target` int64
 * class indices [N, d1, ...] (or []). 'mean' divides by the summed weights of the non-ignored targets.
 */
export function nllLoss(logProbs: Tensor, target: Tensor, opts: NllLossOptions = {}): Tensor {
  const op = 'nllLoss';
  const { weight, ignoreIndex = -100, reduction = 'mean' } = opts;
  checkReduction(op, reduction);
  if (!Number.isInteger(ignoreIndex)) throw new ShapeError(op, `ignoreIndex must be an integer, got ${ignoreIndex}`);
  const { x, target: tgt, unbatched } = checkClassInputs(op, 'logProbs', logProbs, target, false);
  const c = x.shape[1]!;
  checkWeight(op, weight, c);
  checkTargetValues(op, target, c, ignoreIndex);
  const loss = classIndexLoss(x, tgt, weight, ignoreIndex, 0, reduction);
  return unbatched && reduction === 'none' ? loss.reshape([]) : loss;
}

export interface BceWithLogitsOptions {
  /** Rescaling weight broadcast to the input shape. */
  weight?: Tensor | undefined;
  /** Weight of positive examples, broadcast against the input (typically [C] over the last axis). */
  posWeight?: Tensor | undefined;
  reduction?: Reduction;
}

/**
 * torch.nn.functional.binary_cross_entropy_with_logits in its overflow-free form:
 *   loss = (1 - y) * x + (1 + (posWeight - 1) * y) * log(1 + exp(-x)),  log(1 + exp(-x)) = log(exp(-m) + exp(-x - m)) + m,
 * with m = max(-x, 0); then times `weight`.
 */
export function binaryCrossEntropyWithLogits(logits: Tensor, target: Tensor, opts: BceWithLogitsOptions = {}): Tensor {
  const op = 'binaryCrossEntropyWithLogits';
  const { weight, posWeight, reduction = 'mean' } = opts;
  checkReduction(op, reduction);
  checkFloat(op, 'logits', logits);
  checkFloat(op, 'target', target);
  if (!sameShape(logits.shape, target.shape)) throw new ShapeError(op, `target has shape ${fmtShape(target.shape)}, expected the logits shape ${fmtShape(logits.shape)}`);
  if (weight) checkBroadcastsTo(op, 'weight', weight, logits.shape, 'logits');
  if (posWeight) checkBroadcastsTo(op, 'posWeight', posWeight, logits.shape, 'logits');
  const m = logits.neg().relu();
  const softplusNeg = m.neg().exp().add(logits.neg().sub(m).exp()).log().add(m); // log(1 + exp(-x))
  const logWeight = posWeight ? posWeight.sub(1).mul(target).add(1) : null;
  let loss = target.neg().add(1).mul(logits).add(logWeight ? logWeight.mul(softplusNeg) : softplusNeg);
  if (weight) loss = loss.mul(weight);
  return reduceLoss(loss, reduction);
}

export interface WeightedLossOptions {
  weight?: Tensor | undefined;
  reduction?: Reduction;
}

/**
 * torch.nn.functional.binary_cross_entropy on probabilities: -w * (y * log p + (1 - y) * log(1 - p)), each
 * log clamped to >= -100 as torch does. Prefer binaryCrossEntropyWithLogits for numerical stability.
 */
export function binaryCrossEntropy(probs: Tensor, target: Tensor, opts: WeightedLossOptions = {}): Tensor {
  const op = 'binaryCrossEntropy';
  const { weight, reduction = 'mean' } = opts;
  checkReduction(op, reduction);
  checkFloat(op, 'probs', probs);
  checkFloat(op, 'target', target);
  if (!sameShape(probs.shape, target.shape)) throw new ShapeError(op, `target has shape ${fmtShape(target.shape)}, expected the probs shape ${fmtShape(probs.shape)}`);
  if (weight) checkBroadcastsTo(op, 'weight', weight, probs.shape, 'probs');
  if (probs.isRealized) {
    const v = probs.value as Float32Array;
    for (let k = 0; k < v.length; k++) {
      if (!(v[k]! >= 0 && v[k]! <= 1)) throw new ShapeError(op, `probs must lie in [0, 1]; element ${k} is ${v[k]}`);
    }
  }
  const logP = probs.log().clamp(-100);
  const log1mP = probs.neg().add(1).log().clamp(-100);
  let loss = target.mul(logP).add(target.neg().add(1).mul(log1mP)).neg();
  if (weight) loss = loss.mul(weight);
  return reduceLoss(loss, reduction);
}

// ---- regression ----

export interface RegressionOptions { reduction?: Reduction }

/** torch.nn.functional.mse_loss: (input - target)^2. Shapes broadcast (with a warning when they differ), as in torch. */
export function mseLoss(input: Tensor, target: Tensor, opts: RegressionOptions = {}): Tensor {
  const { reduction = 'mean' } = opts;
  checkReduction('mseLoss', reduction);
  broadcastTarget('mseLoss', input, target);
  const d = input.sub(target);
  return reduceLoss(d.mul(d), reduction);
}

/** torch.nn.functional.l1_loss: |input - target|. */
export function l1Loss(input: Tensor, target: Tensor, opts: RegressionOptions = {}): Tensor {
  const { reduction = 'mean' } = opts;
  checkReduction('l1Loss', reduction);
  broadcastTarget('l1Loss', input, target);
  return reduceLoss(input.sub(target).abs(), reduction);
}

/** torch.nn.functional.smooth_l1_loss: 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (L1 when beta = 0). */
export function smoothL1Loss(input: Tensor, target: Tensor, opts: RegressionOptions & { beta?: number } = {}): Tensor {
  const op = 'smoothL1Loss';
  const { reduction = 'mean', beta = 1 } = opts;
  checkReduction(op, reduction);
  if (!(beta >= 0)) throw new ShapeError(op, `beta must be >= 0, got ${beta}`);
  broadcastTarget(op, input, target);
  const d = input.sub(target);
  const z = d.abs();
  if (beta === 0) return reduceLoss(z, reduction);
  return reduceLoss(where(z.lt(beta), d.mul(d).mul(0.5 / beta), z.sub(0.5 * beta)), reduction);
}

/** torch.nn.functional.huber_loss: 0.5 d^2 where |d| < delta, else delta * (|d| - 0.5 delta). */
export function huberLoss(input: Tensor, target: Tensor, opts: RegressionOptions & { delta?: number } = {}): Tensor {
  const op = 'huberLoss';
  const { reduction = 'mean', delta = 1 } = opts;
  checkReduction(op, reduction);
  if (!(delta > 0)) throw new ShapeError(op, `delta must be > 0, got ${delta}`);
  broadcastTarget(op, input, target);
  const d = input.sub(target);
  const z = d.abs();
  return reduceLoss(where(z.lt(delta), d.mul(d).mul(0.5), z.sub(0.5 * delta).mul(delta)), reduction);
}

// ---- similarity / divergence ----

/**
 * torch.nn.functional.cosine_similarity: sum over `dim` of (x1 / max(|x1|, eps)) * (x2 / max(|x2|, eps)),
 * after broadcasting x1 and x2 to a common shape (each norm is clamped separately, as torch does). The
 * clamp is applied to the squared norm (eps^2), which keeps the gradient finite for all-zero vectors.
 */
export function cosineSimilarity(x1: Tensor, x2: Tensor, dim = 1, eps = 1e-8): Tensor {
  const op = 'cosineSimilarity';
  checkFloat(op, 'x1', x1);
  checkFloat(op, 'x2', x2);
  let shape: number[];
  try { shape = broadcastShapes(op, x1.shape, x2.shape); } catch {
    throw new ShapeError(op, `x1 ${fmtShape(x1.shape)} and x2 ${fmtShape(x2.shape)} must broadcast to a common shape`);
  }
  if (shape.length === 0) throw new ShapeError(op, 'inputs must have at least one dimension');
  if (!(eps >= 0)) throw new ShapeError(op, `eps must be >= 0, got ${eps}`);
  const axis = normAxis(dim, shape.length, op);
  const a = x1.expand(shape), b = x2.expand(shape);
  const unit = (x: Tensor): Tensor => x.div(x.mul(x).sum(axis, true).clamp(eps * eps).sqrt());
  return unit(a).mul(unit(b)).sum(axis);
}

export interface KlDivOptions {
  /** 'batchmean' (sum / batch size) is the mathematically correct KL; 'mean' (torch's default) averages elements. */
  reduction?: Reduction | 'batchmean';
  /** `target` holds log-probabilities. */
  logTarget?: boolean;
}

/**
 * torch.nn.functional.kl_div: `input` holds log-probabilities; pointwise target * (log target - input), taken
 * as 0 where target = 0, or exp(target) * (target - input) with `logTarget`.
 */
export function klDiv(input: Tensor, target: Tensor, opts: KlDivOptions = {}): Tensor {
  const op = 'klDiv';
  const { reduction = 'mean', logTarget = false } = opts;
  checkReduction(op, reduction, [...REDUCTIONS, 'batchmean']);
  broadcastTarget(op, input, target);
  let loss: Tensor;
  if (logTarget) loss = target.exp().mul(target.sub(input));
  else {
    const positive = target.gt(0);
    // log of 1 where target <= 0 keeps both the value (0 * 0) and its gradients finite there
    const safeLog = where(positive, target, 1).log();
    loss = target.mul(safeLog.sub(input));
  }
  if (reduction === 'batchmean') {
    const total = loss.sum();
    return input.rank === 0 ? total : total.div(input.shape[0]!);
  }
  return reduceLoss(loss, reduction);
}
