import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  accuracy, argmaxRows, classificationMetrics, confusionMatrix, macroF1, meanAbsoluteError, meanIoU, meanSquaredError, perClassF1,
  perClassIoU, regressionMetrics, segmentationMetrics, topKAccuracy, higherIsBetter,
} from '../src/train/metrics.js';

const close = (a: number, b: number, tol = 1e-12): void => assert.ok(Math.abs(a - b) <= tol, `${a} != ${b}`);

// 4 samples, 3 classes (worked out by hand in the comments)
const scores = [
  0.1, 0.7, 0.2, //   target 1: argmax 1 (hit)
  0.5, 0.5, 0.0, //   target 1: tie 0/1 -> argmax 0 (miss); in the top 2 (class 0 ranks before it)
  0.3, 0.3, 0.4, //   target 0: argmax 2 (miss); top 2 = {2, 0} (0 beats 1 on the tie)
  0.9, 0.05, 0.05, // target 2: argmax 0 (miss); top 2 = {0, 1} (1 beats 2 on the tie)
];
const targets = [1, 1, 0, 2];

test('argmax takes the first maximum; accuracy and top-k break ties by the lower class index', () => {
  assert.deepEqual(Array.from(argmaxRows(scores, 3)), [1, 0, 2, 0]);
  assert.equal(accuracy(scores, targets, 3), 1 / 4);
  assert.equal(topKAccuracy(scores, targets, 3, 2), 3 / 4);
  assert.equal(topKAccuracy(scores, targets, 3, 3), 1);
  // a NaN score row never counts as a hit
  assert.equal(accuracy([NaN, NaN], [0], 2), 0);
});

test('confusion matrix, per-class F1 and macro-F1 by hand', () => {
  const preds = [1, 0, 2, 0];
  // rows = target, columns = prediction
  assert.deepEqual(Array.from(confusionMatrix(preds, targets, 3)), [
    0, 0, 1, // target 0 predicted as 2
    1, 1, 0, // target 1: once 0, once 1
    1, 0, 0, // target 2 predicted as 0
  ]);
  // class 0: TP 0, FP 2, FN 1 -> 0; class 1: TP 1, FP 0, FN 1 -> 2/3; class 2: TP 0, FP 1, FN 1 -> 0
  const f1 = perClassF1(preds, targets, 3);
  close(f1[0]!, 0); close(f1[1]!, 2 / 3); close(f1[2]!, 0);
  close(macroF1(preds, targets, 3), 2 / 9);
  // a class absent from both targets and predictions is not averaged in (sklearn labels=None)
  close(macroF1(preds, targets, 5), 2 / 9);
  assert.ok(Number.isNaN(perClassF1(preds, targets, 5)[4]!));
  // perfect predictions
  assert.equal(macroF1([0, 1, 2, 2], [0, 1, 2, 2], 3), 1);
});

test('classificationMetrics reports top-5 only with more than 5 classes', () => {
  const m = classificationMetrics(scores, targets, 3);
  assert.deepEqual(Object.keys(m).sort(), ['accuracy', 'macroF1']);
  // 2 samples, 7 classes: sample 0's target has the 6th best score (miss), sample 1's the 5th (hit)
  const s7 = [7, 6, 5, 4, 3, 2, 1, /**/ 1, 2, 3, 4, 5, 6, 7];
  const m7 = classificationMetrics(s7, [5, 2], 7);
  assert.equal(m7.accuracy, 0);
  assert.equal(m7.top5, 1 / 2);
});

test('MSE and MAE by hand', () => {
  const p = [1, 2, 3], t = [1.5, 2, 1];
  close(meanSquaredError(p, t), (0.25 + 0 + 4) / 3);
  close(meanAbsoluteError(p, t), (0.5 + 0 + 2) / 3);
  assert.deepEqual(regressionMetrics(p, t), { mse: 4.25 / 3, mae: 2.5 / 3 });
});

test('mIoU by hand, with an ignore index and a class absent from both', () => {
  const preds = [0, 0, 1, 1, 2, 2], tg = [0, 1, 1, 1, 2, 255];
  // class 0: TP 1, FP 1, FN 0 -> 1/2; class 1: TP 2, FP 0, FN 1 -> 2/3; class 2: TP 1 (the ignored pixel does not count) -> 1
  const iou = perClassIoU(preds, tg, 4, 255);
  close(iou[0]!, 1 / 2); close(iou[1]!, 2 / 3); close(iou[2]!, 1);
  assert.ok(Number.isNaN(iou[3]!));
  close(meanIoU(preds, tg, 4, 255), (1 / 2 + 2 / 3 + 1) / 3);
  // segmentation metrics from scores: pixel accuracy over the 5 non-ignored pixels = 4/5
  const onehot = preds.flatMap((p) => [0, 1, 2, 3].map((c) => (c === p ? 1 : 0)));
  const s = segmentationMetrics(onehot, tg, 4, 255);
  close(s.accuracy, 4 / 5);
  close(s.mIoU, (1 / 2 + 2 / 3 + 1) / 3);
});

test('bad inputs name the problem', () => {
  assert.throws(() => accuracy([1, 2, 3], [0], 2), /scores have 3 values; expected n·C = 1·2 = 2/);
  assert.throws(() => accuracy([1, 2], [2], 2), /target 0 is 2; expected a class index in \[0, 2\)/);
  assert.throws(() => meanSquaredError([1], [1, 2]), /1 predictions for 2 targets/);
  assert.throws(() => topKAccuracy([1, 2], [0], 2, 0), /k must be a positive integer/);
  assert.equal(higherIsBetter('accuracy'), true);
  assert.equal(higherIsBetter('loss'), false);
  assert.equal(higherIsBetter('mae'), false);
});
