// Perceiver IO position encodings (spec A6): the linear [-1, 1] position grid, Fourier features
// [pos, sin(π·pos·f), cos(π·pos·f)] with frequencies linspace(1, max_resolution/2, num_bands) per dimension,
// subsampled-query positions (-1 + 2·i/n) and trainable position embeddings.
//
// Fourier features of a fixed grid are constants, so they are computed here in TypeScript and baked into the
// graph. The arithmetic emulates PyTorch float32 step by step (torch.linspace's two-sided formula, float32
// products, π rounded to float32 before the product) because with max_resolution in the tens of thousands the
// sine arguments reach ~5e4, where one float32 ulp (0.004) already moves sin() by that much: computing in float64
// would disagree with the reference checkpoints' float32 tables by more than parity tolerances allow.
import { ShapeError, fmtShape } from '../../engine/errors.js';
import { defaultGenerator, type Generator } from '../../engine/functional/random.js';
import { Variable, constant, type Tensor } from '../../engine/tensor.js';
import { normal_ } from '../../nn/init.js';
import { Module } from '../../nn/module.js';

const f32 = Math.fround;
const PI32 = f32(Math.PI);

function checkDims(op: string, dims: readonly number[]): void {
  if (dims.length === 0 || dims.some((d) => !Number.isInteger(d) || d < 1)) throw new ShapeError(op, `index dims must be positive integers, got ${fmtShape(dims)}`);
}

/**
 * torch.linspace(start, end, steps) in float32, as torch's CPU kernel computes it: step = (end - start)/(steps - 1)
 * in float32; the first half counts up from start (start + step·i), the second half down from end
 * (end - step·(steps - 1 - i)), so both endpoints are exact. steps = 1 gives [start].
 */
export function linspaceF32(start: number, end: number, steps: number): Float32Array {
  if (!Number.isInteger(steps) || steps < 1) throw new ShapeError('linspace', `steps must be a positive integer, got ${steps}`);
  const out = new Float32Array(steps);
  const s = f32(start), e = f32(end);
  if (steps === 1) { out[0] = s; return out; }
  const step = f32(f32(e - s) / (steps - 1));
  const half = Math.floor(steps / 2);
  for (let i = 0; i < steps; i++) out[i] = i < half ? f32(s + f32(step * i)) : f32(e - f32(step * (steps - 1 - i)));
  return out;
}

/**
 * The linear position grid of `indexDims` (DM `build_linear_positions`): linspace(-1, 1, n_d) per dimension,
 * meshgrid 'ij', flattened row-major (first dimension slowest): [prod(n), D] as a flat Float32Array.
 */
export function buildLinearPositions(indexDims: readonly number[], range: readonly [number, number] = [-1, 1]): Float32Array {
  checkDims('buildLinearPositions', indexDims);
  const D = indexDims.length;
  const axes = indexDims.map((n) => linspaceF32(range[0], range[1], n));
  const total = indexDims.reduce((a, b) => a * b, 1);
  const out = new Float32Array(total * D);
  const idx = new Array<number>(D).fill(0);
  for (let p = 0; p < total; p++) {
    for (let d = 0; d < D; d++) out[p * D + d] = axes[d]![idx[d]!]!;
    for (let d = D - 1; d >= 0; d--) { if (++idx[d]! < indexDims[d]!) break; idx[d] = 0; }
  }
  return out;
}

/**
 * Positions of subsampled output points (flat row-major indices into `indexDims`): unravel each index, then
 * pos = -1 + 2·i/n per dimension. Note: NOT the linspace grid — values lie in [-1, 1 - 2/n] (spec A5), as the
 * chunked video/audio decoders of the released multimodal model use. Returns [points.length, D].
 */
export function subsampledPositions(points: ArrayLike<number>, indexDims: readonly number[]): Float32Array {
  checkDims('subsampledPositions', indexDims);
  const D = indexDims.length;
  const total = indexDims.reduce((a, b) => a * b, 1);
  const out = new Float32Array(points.length * D);
  for (let p = 0; p < points.length; p++) {
    let rest = points[p]!;
    if (!Number.isInteger(rest) || rest < 0 || rest >= total) throw new ShapeError('subsampledPositions', `point ${rest} (entry ${p}) is outside the ${total} positions of index dims ${fmtShape(indexDims)}`);
    for (let d = D - 1; d >= 0; d--) {
      const n = indexDims[d]!;
      const i = rest % n;
      rest = (rest - i) / n;
      out[p * D + d] = f32(-1 + f32((2 * i) / n));
    }
  }
  return out;
}

export interface FourierFeatureOptions {
  /** K: frequency bands per dimension. */
  numBands: number;
  /** R_d per dimension; the frequencies are linspace(1, R_d/2, K). Default: the index dims of the grid. */
  maxResolution?: readonly number[];
  /** Prepend the raw positions (default true). */
  concatPos?: boolean;
  /** Sines only, no cosines (default false). */
  sineOnly?: boolean;
}

/** Channels of the Fourier features of D-dimensional positions: D·K·(sineOnly ? 1 : 2) + (concatPos ? D : 0). */
export function fourierFeatureSize(numDims: number, opts: FourierFeatureOptions): number {
  return numDims * opts.numBands * (opts.sineOnly ? 1 : 2) + ((opts.concatPos ?? true) ? numDims : 0);
}

/**
 * Fourier features of positions `pos` [n, D] (flat): per point [pos_1..pos_D (concatPos), sin(π·f) (D·K values,
 * dimension-major, band-minor), cos(π·f) (unless sineOnly)] with f[d, k] = pos_d · linspace(1, R_d/2, K)[k].
 * Returns [n, fourierFeatureSize(D)] (flat).
 */
export function generateFourierFeatures(pos: Float32Array, numDims: number, opts: FourierFeatureOptions): Float32Array {
  const K = opts.numBands;
  if (!Number.isInteger(K) || K < 1) throw new ShapeError('fourierFeatures', `numBands must be a positive integer, got ${K}`);
  if (!Number.isInteger(numDims) || numDims < 1 || pos.length % numDims) throw new ShapeError('fourierFeatures', `positions of length ${pos.length} are not [n, ${numDims}]`);
  const R = opts.maxResolution;
  if (!R || R.length !== numDims || R.some((r) => !(r > 0))) throw new ShapeError('fourierFeatures', `maxResolution must hold ${numDims} positive value(s) (one per position dimension), got ${R ? fmtShape(R) : 'none'}`);
  const concatPos = opts.concatPos ?? true, sineOnly = opts.sineOnly ?? false;
  const n = pos.length / numDims;
  const DK = numDims * K;
  const C = fourierFeatureSize(numDims, opts);
  const freqs = R.map((r) => linspaceF32(1, r / 2, K));
  const out = new Float32Array(n * C);
  const off = concatPos ? numDims : 0;
  for (let p = 0; p < n; p++) {
    const row = p * C;
    for (let d = 0; d < numDims; d++) {
      const x = pos[p * numDims + d]!;
      if (concatPos) out[row + d] = x;
      const fr = freqs[d]!;
      for (let k = 0; k < K; k++) {
        const arg = f32(PI32 * f32(x * fr[k]!));
        out[row + off + d * K + k] = Math.sin(arg);
        if (!sineOnly) out[row + off + DK + d * K + k] = Math.cos(arg);
      }
    }
  }
  return out;
}

/** The Fourier-feature table of the linear grid over `indexDims`: [prod(indexDims), size] (flat). */
export function fourierGridFeatures(indexDims: readonly number[], opts: FourierFeatureOptions): Float32Array {
  return generateFourierFeatures(buildLinearPositions(indexDims), indexDims.length, { ...opts, maxResolution: opts.maxResolution ?? indexDims });
}

/**
 * Fourier position encoding (HF `PerceiverFourierPositionEncoding`, no parameters). `forward(indexDims, batch)`
 * gives the grid's features as a baked constant broadcast to [B, prod(indexDims), size]; `forward(dims, batch,
 * pos)` encodes explicit positions [n, D] (subsampled queries) instead of the grid.
 */
export class FourierPositionEncoding extends Module {
  readonly numBands: number;
  readonly maxResolution: readonly number[] | null;
  readonly concatPos: boolean;
  readonly sineOnly: boolean;
  private _cache = new Map<string, Tensor>();

  constructor(opts: FourierFeatureOptions) {
    super();
    if (!Number.isInteger(opts.numBands) || opts.numBands < 1) throw new ShapeError('FourierPositionEncoding', `numBands must be a positive integer, got ${opts.numBands}`);
    this.numBands = opts.numBands;
    this.maxResolution = opts.maxResolution ? [...opts.maxResolution] : null;
    this.concatPos = opts.concatPos ?? true;
    this.sineOnly = opts.sineOnly ?? false;
  }

  private opts(indexDims: readonly number[]): FourierFeatureOptions {
    const maxResolution = this.maxResolution ?? indexDims;
    if (maxResolution.length !== indexDims.length) throw new ShapeError('FourierPositionEncoding', `maxResolution ${fmtShape(maxResolution)} has ${maxResolution.length} dimension(s), the index dims ${fmtShape(indexDims)} have ${indexDims.length}`);
    return { numBands: this.numBands, maxResolution, concatPos: this.concatPos, sineOnly: this.sineOnly };
  }

  /** Channels for `numDims`-dimensional positions (default: the length of maxResolution). */
  outputSize(numDims = this.maxResolution?.length ?? NaN): number {
    if (!Number.isInteger(numDims)) throw new ShapeError('FourierPositionEncoding', 'outputSize needs the number of position dimensions when maxResolution is not set');
    return fourierFeatureSize(numDims, { numBands: this.numBands, concatPos: this.concatPos, sineOnly: this.sineOnly });
  }

  /** The features of the grid over `indexDims` (or of explicit positions `pos` [n, D]) as a [B, n, size] constant. */
  forward(indexDims: readonly number[], batch: number, pos?: Float32Array): Tensor {
    checkDims('FourierPositionEncoding', indexDims);
    const D = indexDims.length;
    let table: Tensor;
    if (pos) {
      table = constant(generateFourierFeatures(pos, D, this.opts(indexDims)), [pos.length / D, this.outputSize(D)]);
    } else {
      // Grid tables are cached per shape: a training loop asks for the same one every step.
      const key = indexDims.join('x');
      let t = this._cache.get(key);
      if (!t) {
        t = constant(generateFourierFeatures(buildLinearPositions(indexDims), D, this.opts(indexDims)), [indexDims.reduce((a, b) => a * b, 1), this.outputSize(D)]);
        this._cache.set(key, t);
      }
      table = t;
    }
    return table.unsqueeze(0).expand([batch, table.shape[0]!, table.shape[1]!]);
  }
}

/**
 * A learned position embedding (HF `PerceiverTrainablePositionEncoding`): parameter `position_embeddings`
 * [prod(indexDims), numChannels], normal(0, 0.02) init, broadcast over the batch.
 */
export class TrainablePositionEncoding extends Module {
  readonly indexDims: readonly number[];
  readonly numChannels: number;
  position_embeddings: Variable;

  constructor(indexDims: number | readonly number[], numChannels: number, opts: { std?: number; generator?: Generator } = {}) {
    super();
    const dims = typeof indexDims === 'number' ? [indexDims] : [...indexDims];
    checkDims('TrainablePositionEncoding', dims);
    if (!Number.isInteger(numChannels) || numChannels < 1) throw new ShapeError('TrainablePositionEncoding', `numChannels must be a positive integer, got ${numChannels}`);
    this.indexDims = dims;
    this.numChannels = numChannels;
    const n = dims.reduce((a, b) => a * b, 1);
    this.position_embeddings = new Variable(new Float32Array(n * numChannels), [n, numChannels]);
    normal_(this.position_embeddings, 0, opts.std ?? 0.02, opts.generator ?? defaultGenerator);
  }

  outputSize(): number { return this.numChannels; }

  /** [B, prod(indexDims), numChannels]. */
  forward(batch: number): Tensor {
    const [n, c] = this.position_embeddings.shape as [number, number];
    return this.position_embeddings.unsqueeze(0).expand([batch, n, c]);
  }
}
