import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  LogisticRegression, NearestClassMean, accuracyOf, applyStandardizer, fitStandardizer, lastValueForecast, mae, matrix, mse,
  seasonalNaiveForecast, stackRows,
} from '../src/benchmark/baselines.js';

test('standardizer: per-column mean / population std from the training rows; constant columns get std 1', () => {
  const x = stackRows([[1, 5, 7], [3, 5, 7], [5, 5, 7]]);
  const s = fitStandardizer(x);
  assert.deepEqual(Array.from(s.mean), [3, 5, 7]);
  assert.ok(Math.abs(s.std[0]! - Math.sqrt(8 / 3)) < 1e-12);
  assert.equal(s.std[1], 1);
  const z = applyStandardizer(s, stackRows([[3, 6, 7]]));
  assert.deepEqual(Array.from(z.data), [0, 1, 0]);
  assert.throws(() => applyStandardizer(s, stackRows([[1, 2]])), /2 columns, fitted on 3/);
  assert.throws(() => stackRows([[1, 2], [3]]), /row 1 has 1 values, row 0 has 2/);
  assert.throws(() => matrix(new Float32Array(5), 2, 3), /5 values do not make a \[2, 3\] matrix/);
});

test('nearest class mean: exact means, nearest-mean predictions, ties to the lower class, absent classes never predicted', () => {
  const x = stackRows([[0, 0], [2, 0], [0, 4], [2, 4], [10, 10]]);
  const y = [0, 0, 1, 1, 3];
  const m = NearestClassMean.fit(x, y, 4);
  assert.deepEqual(Array.from(m.means), [1, 0, 1, 4, 0, 0, 10, 10]);
  assert.deepEqual(m.present, [true, true, false, true]);
  // (0, 0) is nearer to the absent class 2's zero vector than to anything else, but class 2 has no rows
  const p = m.predict(stackRows([[1, 1], [1, 3], [1, 2], [0, 0], [9, 9]]));
  assert.deepEqual(Array.from(p), [0, 1, 0, 0, 3]);
  assert.equal(m.numParams, 8);
  assert.throws(() => NearestClassMean.fit(x, [0, 0, 1, 1, 4], 4), /label 4 is 4, expected an integer in \[0, 4\)/);
  assert.throws(() => NearestClassMean.fit(x, [0, 1], 4), /2 labels for 5 rows/);
});

test('logistic regression separates a linearly separable 3-class set and its loss goes down', () => {
  // three well-separated clusters along different directions, with deterministic jitter
  const rows: number[][] = [], y: number[] = [];
  const centres = [[3, 0], [-3, 0], [0, 3]];
  for (let i = 0; i < 60; i++) {
    const c = i % 3, j = Math.sin(i * 12.9898) * 0.8, k = Math.cos(i * 78.233) * 0.8;
    rows.push([centres[c]![0]! + j, centres[c]![1]! + k]);
    y.push(c);
  }
  const x = stackRows(rows);
  const short = LogisticRegression.fit(x, y, 3, { steps: 5 });
  const lr = LogisticRegression.fit(x, y, 3, { steps: 300 });
  assert.equal(accuracyOf(lr.predict(x), y), 1);
  assert.ok(lr.finalLoss < short.finalLoss, `loss ${lr.finalLoss} should be below ${short.finalLoss}`);
  assert.ok(lr.finalLoss < 0.1, `final loss ${lr.finalLoss}`);
  assert.equal(lr.numParams, 3 * 2 + 3);
  // unseen points near each centre
  assert.deepEqual(Array.from(lr.predict(stackRows([[4, 0.2], [-4, -0.3], [0.1, 4]]))), [0, 1, 2]);
});

test('logistic regression: the decision function is W x + b, and the L2 gradient at the optimum is ~0 (binary, closed form check)', () => {
  // 1-D, 2 classes, symmetric data: the optimum has equal-and-opposite weights and zero biases by symmetry
  const x = stackRows([[-2], [-1], [1], [2], [-0.5], [0.5]]);
  const y = [0, 0, 1, 1, 1, 0]; // not separable: finite optimum
  const m = LogisticRegression.fit(x, y, 2, { steps: 2000, lr: 0.05, l2: 0.01 });
  assert.ok(Math.abs(m.weights[0]! + m.weights[1]!) < 1e-3, `weights ${Array.from(m.weights)}`);
  assert.ok(Math.abs(m.bias[0]! - m.bias[1]!) < 1e-3, `biases ${Array.from(m.bias)}`);
  // stationarity: mean over rows of (p1 - y) x + l2 * (w1 - w0)/2-type terms vanish; check via the margin form
  const w = m.weights[1]! - m.weights[0]!;
  let g = 0;
  for (let i = 0; i < 6; i++) { const xi = x.data[i]!; const p = 1 / (1 + Math.exp(-w * xi)); g += (p - y[i]!) * xi / 6; }
  // d/dw1 of the objective: g + l2 * w1, with w1 = w / 2
  assert.ok(Math.abs(g + 0.01 * (w / 2)) < 1e-3, `gradient ${g + 0.01 * w / 2}`);
  const z = m.decision(stackRows([[1]]));
  assert.ok(Math.abs(z[0]! - (m.weights[0]! + m.bias[0]!)) < 1e-12 && Math.abs(z[1]! - (m.weights[1]! + m.bias[1]!)) < 1e-12);
});

test('last-value and seasonal-naive forecasts: arithmetic', () => {
  const h = Float32Array.from({ length: 48 }, (_, i) => i + 1);
  assert.deepEqual(Array.from(lastValueForecast(h, 3)), [48, 48, 48]);
  const s = seasonalNaiveForecast(h, 30, 24);
  assert.deepEqual(Array.from(s.subarray(0, 24)), Array.from({ length: 24 }, (_, i) => 25 + i));
  assert.deepEqual(Array.from(s.subarray(24)), [25, 26, 27, 28, 29, 30]);
  // two channels, row-major [steps, channels]
  const h2 = Float32Array.from([1, 10, 2, 20, 3, 30, 4, 40]);
  assert.deepEqual(Array.from(lastValueForecast(h2, 2, 2)), [4, 40, 4, 40]);
  assert.deepEqual(Array.from(seasonalNaiveForecast(h2, 3, 2, 2)), [3, 30, 4, 40, 3, 30]);
  assert.throws(() => seasonalNaiveForecast(h, 2, 49), /season 49 is longer than the history \(48 steps\)/);
  assert.throws(() => lastValueForecast(Float32Array.from([1, 2, 3]), 2, 2), /not a whole number/);
  // a perfectly 24-periodic series is forecast exactly by seasonal naive
  const per = Float32Array.from({ length: 120 }, (_, i) => Math.sin((2 * Math.PI * i) / 24));
  const fut = per.subarray(96, 120), f = seasonalNaiveForecast(per.subarray(0, 96), 24, 24);
  assert.ok(mse(f, fut) < 1e-12);
});

test('mse / mae arithmetic and accuracy', () => {
  assert.equal(mse([1, 2, 3], [1, 4, 0]), (0 + 4 + 9) / 3);
  assert.equal(mae([1, 2, 3], [1, 4, 0]), (0 + 2 + 3) / 3);
  assert.equal(accuracyOf([0, 1, 2, 2], [0, 1, 1, 2]), 0.75);
  assert.throws(() => mse([1], [1, 2]), /1 predictions for 2 targets/);
});

test('logistic regression: shuffled mini-batches reach the full-batch optimum (same objective value, same predictions)', () => {
  // 4 overlapping Gaussian-ish clusters in 6-D (deterministic jitter), 600 rows: not separable, unique optimum
  const rows: number[][] = [], y: number[] = [];
  for (let i = 0; i < 600; i++) {
    const c = i % 4;
    rows.push(Array.from({ length: 6 }, (_, j) => (j === c ? 1.2 : 0) + Math.sin(i * 12.9898 + j * 78.233) * 1.5));
    y.push(c);
  }
  const x = stackRows(rows);
  const full = LogisticRegression.fit(x, y, 4, { steps: 1500, lr: 0.05, l2: 0.01 });
  const mini = LogisticRegression.fit(x, y, 4, { batchSize: 64, epochs: 60, lr: 0.05, l2: 0.01, seed: 3 });
  const objective = (m: LogisticRegression): number => {
    const z = m.decision(x);
    let l = 0;
    for (let i = 0; i < 600; i++) {
      const zi = Array.from(z.subarray(i * 4, i * 4 + 4)), mx = Math.max(...zi);
      l += mx + Math.log(zi.reduce((a, v) => a + Math.exp(v - mx), 0)) - zi[y[i]!]!;
    }
    return l / 600 + 0.005 * m.weights.reduce((a, v) => a + v * v, 0);
  };
  const a = objective(full), b = objective(mini);
  assert.ok(Math.abs(a - b) < 2e-3, `full-batch objective ${a} vs mini-batch ${b}`);
  const pa = full.predict(x), pb = mini.predict(x);
  let agree = 0;
  for (let i = 0; i < 600; i++) agree += pa[i] === pb[i] ? 1 : 0;
  assert.ok(agree >= 594, `predictions agree on ${agree}/600 rows`);
  const few = LogisticRegression.fit(x, y, 4, { batchSize: 64, epochs: 1, lr: 0.001, l2: 0.01 });
  assert.ok(objective(few) > a + 0.05, 'one epoch at a tiny rate is far from the optimum (the check can fail)');
});
