// Evaluation metrics on host arrays (realized model outputs), the definitions of scikit-learn / torchmetrics /
// mmseg:
//   accuracy      fraction of samples whose top-scoring class (first one on ties, as argmax) is the target;
//   top-k         fraction whose target is among the k best scores (ties broken by the lower class index);
//   macro-F1      unweighted mean over classes of F1 = 2TP / (2TP + FP + FN), over the classes that occur in
//                 the targets or the predictions (sklearn's f1_score(average='macro') with labels=None);
//   MSE, MAE      mean squared / absolute error over every element;
//   mIoU          mean over classes of TP / (TP + FP + FN), over the classes that occur in the targets or the
//                 predictions (mmseg's nanmean), with an ignore index excluded from everything.
// Scores are row-major [n, C] (logits or probabilities: only their order matters); targets are class indices.
import { ShapeError } from '../engine/errors.js';

type Num = ArrayLike<number>;

function checkRows(op: string, scores: Num, numClasses: number, n: number): void {
  if (!Number.isInteger(numClasses) || numClasses < 1) throw new ShapeError(op, `numClasses must be a positive integer, got ${numClasses}`);
  if (scores.length !== n * numClasses) throw new ShapeError(op, `scores have ${scores.length} values; expected n·C = ${n}·${numClasses} = ${n * numClasses}`);
}

function checkTargets(op: string, targets: Num, numClasses: number, ignoreIndex?: number): void {
  for (let i = 0; i < targets.length; i++) {
    const t = targets[i]!;
    if (t === ignoreIndex) continue;
    if (!Number.isInteger(t) || t < 0 || t >= numClasses) throw new ShapeError(op, `target ${i} is ${t}; expected a class index in [0, ${numClasses})`);
  }
}

/** Index of the largest score of each row of [n, C] (the first one on ties). */
export function argmaxRows(scores: Num, numClasses: number): Int32Array {
  if (!Number.isInteger(numClasses) || numClasses < 1) throw new ShapeError('argmaxRows', `numClasses must be a positive integer, got ${numClasses}`);
  if (scores.length % numClasses) throw new ShapeError('argmaxRows', `${scores.length} scores is not a multiple of ${numClasses} classes`);
  const n = scores.length / numClasses;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0, bv = scores[i * numClasses]!;
    for (let c = 1; c < numClasses; c++) {
      const v = scores[i * numClasses + c]!;
      if (v > bv || (Number.isNaN(bv) && !Number.isNaN(v))) { bv = v; best = c; }
    }
    out[i] = best;
  }
  return out;
}

/** Top-1 accuracy of scores [n, C] against class indices [n]. */
export function accuracy(scores: Num, targets: Num, numClasses: number): number {
  return topKAccuracy(scores, targets, numClasses, 1);
}

/** Fraction of samples whose target class is among the k highest scores (ties: lower class index first). */
export function topKAccuracy(scores: Num, targets: Num, numClasses: number, k: number): number {
  const op = 'topKAccuracy';
  const n = targets.length;
  checkRows(op, scores, numClasses, n);
  checkTargets(op, targets, numClasses);
  if (!Number.isInteger(k) || k < 1) throw new ShapeError(op, `k must be a positive integer, got ${k}`);
  if (n === 0) return NaN;
  let hits = 0;
  for (let i = 0; i < n; i++) {
    const t = targets[i]!, base = i * numClasses, st = scores[base + t]!;
    let rank = 0;
    for (let c = 0; c < numClasses && rank < k; c++) {
      const v = scores[base + c]!;
      if (v > st || (v === st && c < t) || Number.isNaN(st)) rank++;
    }
    if (rank < k) hits++;
  }
  return hits / n;
}

/** Confusion matrix [C, C] (row = target, column = prediction) of class-index arrays; `ignoreIndex` targets skipped. */
export function confusionMatrix(predictions: Num, targets: Num, numClasses: number, ignoreIndex?: number): Int32Array {
  const op = 'confusionMatrix';
  if (predictions.length !== targets.length) throw new ShapeError(op, `${predictions.length} predictions for ${targets.length} targets`);
  checkTargets(op, targets, numClasses, ignoreIndex);
  checkTargets(`${op} (predictions)`, predictions, numClasses);
  const m = new Int32Array(numClasses * numClasses);
  for (let i = 0; i < targets.length; i++) {
    const t = targets[i]!;
    if (t === ignoreIndex) continue;
    m[t * numClasses + predictions[i]!]!++;
  }
  return m;
}

/** Per-class score from the confusion matrix's true positives, false positives and false negatives (NaN when all are 0). */
function perClass(m: Int32Array, numClasses: number, score: (tp: number, fp: number, fn: number) => number): Float64Array {
  const out = new Float64Array(numClasses);
  for (let c = 0; c < numClasses; c++) {
    const tp = m[c * numClasses + c]!;
    let fp = 0, fn = 0;
    for (let o = 0; o < numClasses; o++) {
      if (o === c) continue;
      fp += m[o * numClasses + c]!;
      fn += m[c * numClasses + o]!;
    }
    out[c] = tp + fp + fn === 0 ? NaN : score(tp, fp, fn);
  }
  return out;
}

/** Per-class F1 (NaN for classes absent from both targets and predictions). */
export function perClassF1(predictions: Num, targets: Num, numClasses: number): Float64Array {
  return perClass(confusionMatrix(predictions, targets, numClasses), numClasses, (tp, fp, fn) => (2 * tp) / (2 * tp + fp + fn));
}

function nanMean(v: ArrayLike<number>): number {
  let s = 0, k = 0;
  for (let i = 0; i < v.length; i++) if (!Number.isNaN(v[i]!)) { s += v[i]!; k++; }
  return k ? s / k : NaN;
}

/** Macro-averaged F1 over the classes that occur in the targets or the predictions. */
export function macroF1(predictions: Num, targets: Num, numClasses: number): number {
  return nanMean(perClassF1(predictions, targets, numClasses));
}

function checkPair(op: string, a: Num, b: Num): void {
  if (a.length !== b.length) throw new ShapeError(op, `${a.length} predictions for ${b.length} targets`);
}

/** Mean squared error over all elements. */
export function meanSquaredError(predictions: Num, targets: Num): number {
  checkPair('meanSquaredError', predictions, targets);
  if (!targets.length) return NaN;
  let s = 0;
  for (let i = 0; i < targets.length; i++) { const d = predictions[i]! - targets[i]!; s += d * d; }
  return s / targets.length;
}

/** Mean absolute error over all elements. */
export function meanAbsoluteError(predictions: Num, targets: Num): number {
  checkPair('meanAbsoluteError', predictions, targets);
  if (!targets.length) return NaN;
  let s = 0;
  for (let i = 0; i < targets.length; i++) s += Math.abs(predictions[i]! - targets[i]!);
  return s / targets.length;
}

/** Per-class intersection over union (NaN for classes absent from both), `ignoreIndex` targets excluded. */
export function perClassIoU(predictions: Num, targets: Num, numClasses: number, ignoreIndex?: number): Float64Array {
  return perClass(confusionMatrix(predictions, targets, numClasses, ignoreIndex), numClasses, (tp, fp, fn) => tp / (tp + fp + fn));
}

/** Mean IoU over the classes that occur in the (non-ignored) targets or the predictions. */
export function meanIoU(predictions: Num, targets: Num, numClasses: number, ignoreIndex?: number): number {
  return nanMean(perClassIoU(predictions, targets, numClasses, ignoreIndex));
}

export interface ClassificationMetrics { accuracy: number; top5?: number; macroF1: number }
export interface RegressionMetrics { mse: number; mae: number }
export interface SegmentationMetrics { accuracy: number; mIoU: number }

/** accuracy, top-5 (only when there are more than 5 classes) and macro-F1 of scores [n, C]. */
export function classificationMetrics(scores: Num, targets: Num, numClasses: number): ClassificationMetrics {
  const preds = argmaxRows(scores, numClasses);
  const out: ClassificationMetrics = { accuracy: accuracy(scores, targets, numClasses), macroF1: macroF1(preds, targets, numClasses) };
  if (numClasses > 5) out.top5 = topKAccuracy(scores, targets, numClasses, 5);
  return out;
}

export function regressionMetrics(predictions: Num, targets: Num): RegressionMetrics {
  return { mse: meanSquaredError(predictions, targets), mae: meanAbsoluteError(predictions, targets) };
}

/** Per-element accuracy and mIoU of scores [n, C] against targets [n] (`ignoreIndex` excluded). */
export function segmentationMetrics(scores: Num, targets: Num, numClasses: number, ignoreIndex = -100): SegmentationMetrics {
  checkRows('segmentationMetrics', scores, numClasses, targets.length);
  const preds = argmaxRows(scores, numClasses);
  let hit = 0, n = 0;
  for (let i = 0; i < targets.length; i++) {
    if (targets[i] === ignoreIndex) continue;
    n++;
    if (preds[i] === targets[i]) hit++;
  }
  return { accuracy: n ? hit / n : NaN, mIoU: meanIoU(preds, targets, numClasses, ignoreIndex) };
}

/** Is a larger value of this metric better? (loss, mse, mae: no; accuracy, F1, IoU: yes) */
export function higherIsBetter(metric: string): boolean {
  return !/^(loss|mse|mae|rmse)$/i.test(metric);
}
