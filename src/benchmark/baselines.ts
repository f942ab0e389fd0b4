// Simple baselines on raw features, computed in the same run as the omniformer models of the benchmark suite:
//   - feature standardisation (mean / std fitted on the training rows only);
//   - nearest class mean (Euclidean distance to each class's mean training vector);
//   - multinomial logistic (softmax) regression, L2-regularised, full-batch Adam on standardised features;
//   - forecasting: last value (repeat the last observed step) and seasonal naive (repeat the last season).
// Feature matrices are row-major Float32Array [n, d] with explicit n and d.

export interface Matrix { data: Float32Array; rows: number; cols: number }

export function matrix(data: Float32Array, rows: number, cols: number): Matrix {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols < 1) throw new RangeError(`matrix: rows ${rows} and cols ${cols} must be non-negative / positive integers`);
  if (data.length !== rows * cols) throw new RangeError(`matrix: ${data.length} values do not make a [${rows}, ${cols}] matrix`);
  return { data, rows, cols };
}

/** Stack equal-length rows into a matrix. */
export function stackRows(rows: readonly ArrayLike<number>[]): Matrix {
  if (!rows.length) throw new RangeError('stackRows: no rows');
  const d = rows[0]!.length;
  const out = new Float32Array(rows.length * d);
  rows.forEach((r, i) => {
    if (r.length !== d) throw new RangeError(`stackRows: row ${i} has ${r.length} values, row 0 has ${d}`);
    out.set(r, i * d);
  });
  return matrix(out, rows.length, d);
}

export interface Standardizer { mean: Float64Array; std: Float64Array }

/** Per-column mean and std (population) of the training rows; constant columns get std 1. */
export function fitStandardizer(x: Matrix): Standardizer {
  const { rows: n, cols: d, data } = x;
  if (n < 1) throw new RangeError('fitStandardizer: no rows');
  const mean = new Float64Array(d), std = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j]! += data[i * d + j]!;
  for (let j = 0; j < d; j++) mean[j]! /= n;
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) { const v = data[i * d + j]! - mean[j]!; std[j]! += v * v; }
  for (let j = 0; j < d; j++) { const s = Math.sqrt(std[j]! / n); std[j] = s > 1e-12 ? s : 1; }
  return { mean, std };
}

export function applyStandardizer(s: Standardizer, x: Matrix): Matrix {
  if (x.cols !== s.mean.length) throw new RangeError(`applyStandardizer: ${x.cols} columns, fitted on ${s.mean.length}`);
  const out = new Float32Array(x.data.length);
  for (let i = 0; i < x.rows; i++) for (let j = 0; j < x.cols; j++) out[i * x.cols + j] = (x.data[i * x.cols + j]! - s.mean[j]!) / s.std[j]!;
  return matrix(out, x.rows, x.cols);
}

function checkLabels(x: Matrix, y: ArrayLike<number>, numClasses: number, who: string): void {
  if (y.length !== x.rows) throw new RangeError(`${who}: ${y.length} labels for ${x.rows} rows`);
  if (!Number.isInteger(numClasses) || numClasses < 2) throw new RangeError(`${who}: numClasses must be an integer >= 2, got ${numClasses}`);
  for (let i = 0; i < y.length; i++) {
    const c = y[i]!;
    if (!Number.isInteger(c) || c < 0 || c >= numClasses) throw new RangeError(`${who}: label ${i} is ${c}, expected an integer in [0, ${numClasses})`);
  }
}

/** Nearest class mean: one mean vector per class (classes with no training rows are never predicted). */
export class NearestClassMean {
  readonly means: Float64Array;
  readonly present: boolean[];
  constructor(readonly numClasses: number, readonly dim: number, means: Float64Array, present: boolean[]) {
    this.means = means;
    this.present = present;
  }

  static fit(x: Matrix, y: ArrayLike<number>, numClasses: number): NearestClassMean {
    checkLabels(x, y, numClasses, 'NearestClassMean.fit');
    const d = x.cols, means = new Float64Array(numClasses * d), count = new Float64Array(numClasses);
    for (let i = 0; i < x.rows; i++) {
      const c = y[i]!;
      count[c]!++;
      for (let j = 0; j < d; j++) means[c * d + j]! += x.data[i * d + j]!;
    }
    for (let c = 0; c < numClasses; c++) if (count[c]) for (let j = 0; j < d; j++) means[c * d + j]! /= count[c]!;
    return new NearestClassMean(numClasses, d, means, Array.from(count, (n) => n > 0));
  }

  /** Class index of each row (ties: the lower class index). */
  predict(x: Matrix): Int32Array {
    if (x.cols !== this.dim) throw new RangeError(`NearestClassMean.predict: ${x.cols} columns, fitted on ${this.dim}`);
    const d = this.dim, out = new Int32Array(x.rows);
    for (let i = 0; i < x.rows; i++) {
      let best = -1, bestD = Infinity;
      for (let c = 0; c < this.numClasses; c++) {
        if (!this.present[c]) continue;
        let s = 0;
        for (let j = 0; j < d; j++) { const v = x.data[i * d + j]! - this.means[c * d + j]!; s += v * v; }
        if (s < bestD) { bestD = s; best = c; }
      }
      out[i] = best;
    }
    return out;
  }

  /** Trainable parameters (the class means). */
  get numParams(): number { return this.numClasses * this.dim; }
}

export interface LogisticOptions {
  /** L2 penalty on the weights (not the biases), scaled as lambda/2 * |W|^2 (default 1e-3). */
  l2?: number;
  /** Full-batch Adam steps (default 300), used when the rows fit one batch. */
  steps?: number;
  /** Adam learning rate (default 0.05; mini-batches decay it along a cosine to 1 % of it). */
  lr?: number;
  /**
   * Rows per Adam step (default: all rows up to 8,192, else 512). Full-batch Adam over 55k x 784 features costs
   * 300 passes over the data; shuffled mini-batches reach the same optimum in a tenth of that.
   */
  batchSize?: number;
  /** Passes over the data with mini-batches (default 30). */
  epochs?: number;
  /** Seed of the mini-batch shuffling (default 0). */
  seed?: number;
}

/** Multinomial logistic regression: p(y | x) = softmax(W x + b), trained by Adam on the mean cross-entropy + L2. */
export class LogisticRegression {
  constructor(readonly numClasses: number, readonly dim: number, readonly weights: Float64Array, readonly bias: Float64Array, readonly finalLoss: number) {}

  static fit(x: Matrix, y: ArrayLike<number>, numClasses: number, opts: LogisticOptions = {}): LogisticRegression {
    checkLabels(x, y, numClasses, 'LogisticRegression.fit');
    const l2 = opts.l2 ?? 1e-3, lr0 = opts.lr ?? 0.05;
    const n = x.rows, d = x.cols, K = numClasses, X = x.data;
    const batch = Math.min(n, opts.batchSize ?? (n <= 8192 ? n : 512));
    const P = K * d + K;
    const w = new Float64Array(P), g = new Float64Array(P), m = new Float64Array(P), v = new Float64Array(P);
    const logits = new Float64Array(K);
    const b1 = 0.9, b2 = 0.999, eps = 1e-8;
    let t = 0;
    /** One Adam step on the rows order[lo, hi); returns the batch's mean loss (with the penalty). */
    const step = (order: ArrayLike<number>, lo: number, hi: number, lr: number): number => {
      g.fill(0);
      const nb = hi - lo;
      let l = 0;
      for (let q = lo; q < hi; q++) {
        const i = order[q]!, row = i * d;
        let mx = -Infinity;
        for (let c = 0; c < K; c++) {
          let s = w[K * d + c]!;
          const wc = c * d;
          for (let j = 0; j < d; j++) s += w[wc + j]! * X[row + j]!;
          logits[c] = s;
          if (s > mx) mx = s;
        }
        let z = 0;
        for (let c = 0; c < K; c++) { logits[c] = Math.exp(logits[c]! - mx); z += logits[c]!; }
        const yi = y[i]!;
        l += -Math.log(logits[yi]! / z);
        for (let c = 0; c < K; c++) {
          const r = (logits[c]! / z - (c === yi ? 1 : 0)) / nb;
          if (r === 0) continue;
          const wc = c * d;
          for (let j = 0; j < d; j++) g[wc + j]! += r * X[row + j]!;
          g[K * d + c]! += r;
        }
      }
      let reg = 0;
      for (let k = 0; k < K * d; k++) { g[k]! += l2 * w[k]!; reg += w[k]! * w[k]!; }
      t++;
      const c1 = 1 - b1 ** t, c2 = 1 - b2 ** t;
      for (let k = 0; k < P; k++) {
        m[k] = b1 * m[k]! + (1 - b1) * g[k]!;
        v[k] = b2 * v[k]! + (1 - b2) * g[k]! * g[k]!;
        w[k]! -= lr * (m[k]! / c1) / (Math.sqrt(v[k]! / c2) + eps);
      }
      return l / nb + 0.5 * l2 * reg;
    };
    let loss = NaN;
    if (batch >= n) {
      const all = Uint32Array.from({ length: n }, (_, i) => i);
      for (let s = 0, steps = opts.steps ?? 300; s < steps; s++) loss = step(all, 0, n, lr0);
    } else {
      const epochs = opts.epochs ?? 30, perEpoch = Math.ceil(n / batch), total = epochs * perEpoch;
      const order = Uint32Array.from({ length: n }, (_, i) => i);
      let state = (opts.seed ?? 0) * 2654435761 + 1013904223 >>> 0;
      const rand = (): number => { state = (Math.imul(state, 1664525) + 1013904223) >>> 0; return state / 4294967296; };
      for (let e = 0; e < epochs; e++) {
        for (let i = n - 1; i > 0; i--) { const j = Math.floor(rand() * (i + 1)); const tmp = order[i]!; order[i] = order[j]!; order[j] = tmp; }
        let sum = 0;
        for (let b = 0; b < perEpoch; b++) {
          const lr = lr0 * (0.01 + 0.99 * 0.5 * (1 + Math.cos(Math.PI * t / total)));
          sum += step(order, b * batch, Math.min(n, (b + 1) * batch), lr) * (Math.min(n, (b + 1) * batch) - b * batch);
        }
        loss = sum / n;
      }
    }
    return new LogisticRegression(K, d, w.slice(0, K * d), w.slice(K * d), loss);
  }

  /** Logits [rows, numClasses]. */
  decision(x: Matrix): Float64Array {
    if (x.cols !== this.dim) throw new RangeError(`LogisticRegression: ${x.cols} columns, fitted on ${this.dim}`);
    const K = this.numClasses, d = this.dim, out = new Float64Array(x.rows * K);
    for (let i = 0; i < x.rows; i++) for (let c = 0; c < K; c++) {
      let s = this.bias[c]!;
      for (let j = 0; j < d; j++) s += this.weights[c * d + j]! * x.data[i * d + j]!;
      out[i * K + c] = s;
    }
    return out;
  }

  predict(x: Matrix): Int32Array {
    const z = this.decision(x), K = this.numClasses, out = new Int32Array(x.rows);
    for (let i = 0; i < x.rows; i++) {
      let best = 0;
      for (let c = 1; c < K; c++) if (z[i * K + c]! > z[i * K + best]!) best = c;
      out[i] = best;
    }
    return out;
  }

  get numParams(): number { return this.numClasses * this.dim + this.numClasses; }
}

export function accuracyOf(pred: ArrayLike<number>, y: ArrayLike<number>): number {
  if (pred.length !== y.length) throw new RangeError(`accuracyOf: ${pred.length} predictions for ${y.length} labels`);
  if (!y.length) return NaN;
  let ok = 0;
  for (let i = 0; i < y.length; i++) if (pred[i] === y[i]) ok++;
  return ok / y.length;
}

// ---- forecasting ----

function checkWindow(history: ArrayLike<number>, channels: number, who: string): number {
  if (!Number.isInteger(channels) || channels < 1) throw new RangeError(`${who}: channels must be a positive integer, got ${channels}`);
  if (history.length % channels || !history.length) throw new RangeError(`${who}: history of ${history.length} values is not a whole number (>= 1) of steps of ${channels} channels`);
  return history.length / channels;
}

/** Repeat the last observed step `horizon` times. history [steps, channels] row-major -> [horizon, channels]. */
export function lastValueForecast(history: ArrayLike<number>, horizon: number, channels = 1): Float32Array {
  const L = checkWindow(history, channels, 'lastValueForecast');
  const out = new Float32Array(horizon * channels);
  for (let h = 0; h < horizon; h++) for (let c = 0; c < channels; c++) out[h * channels + c] = history[(L - 1) * channels + c]!;
  return out;
}

/** Seasonal naive: y[t + h] = y[t + h - season * ceil(h / season)], i.e. repeat the last full season. */
export function seasonalNaiveForecast(history: ArrayLike<number>, horizon: number, season: number, channels = 1): Float32Array {
  const L = checkWindow(history, channels, 'seasonalNaiveForecast');
  if (!Number.isInteger(season) || season < 1) throw new RangeError(`seasonalNaiveForecast: season must be a positive integer, got ${season}`);
  if (season > L) throw new RangeError(`seasonalNaiveForecast: season ${season} is longer than the history (${L} steps)`);
  const out = new Float32Array(horizon * channels);
  for (let h = 0; h < horizon; h++) {
    const src = L - season + (h % season);
    for (let c = 0; c < channels; c++) out[h * channels + c] = history[src * channels + c]!;
  }
  return out;
}

export function mse(pred: ArrayLike<number>, target: ArrayLike<number>): number {
  if (pred.length !== target.length) throw new RangeError(`mse: ${pred.length} predictions for ${target.length} targets`);
  let s = 0;
  for (let i = 0; i < pred.length; i++) s += (pred[i]! - target[i]!) ** 2;
  return s / pred.length;
}

export function mae(pred: ArrayLike<number>, target: ArrayLike<number>): number {
  if (pred.length !== target.length) throw new RangeError(`mae: ${pred.length} predictions for ${target.length} targets`);
  let s = 0;
  for (let i = 0; i < pred.length; i++) s += Math.abs(pred[i]! - target[i]!);
  return s / pred.length;
}
