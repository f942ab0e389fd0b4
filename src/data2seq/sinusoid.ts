// Fixed sinusoidal position tables, shared by the tokenizers that use them (video, time series, ...).
//
// The layout is the interleaved one of "Attention Is All You Need", VideoMAE's `get_sinusoid_encoding_table`
// and TSLib's `PositionalEmbedding`:
//   table[pos, 2i]   = sin(pos / base^(2i / dim))
//   table[pos, 2i+1] = cos(pos / base^(2i / dim))
// Values are computed in double precision and rounded once to float32 (VideoMAE computes them in numpy
// float64; TSLib computes in float32, which differs by float32 rounding only). An odd `dim` is allowed (the
// last column is a sine), as VideoMAE's formula allows.
import { ShapeError } from '../engine/errors.js';
import { constant, type Tensor } from '../engine/tensor.js';

export interface SinusoidOptions {
  /** Wavelength base (default 10000). */
  base?: number;
  /** First position (default 0). */
  offset?: number;
}

/** The [numPositions, dim] table as row-major float32 data. */
export function sinusoidTableData(numPositions: number, dim: number, opts: SinusoidOptions = {}): Float32Array {
  if (!Number.isInteger(numPositions) || numPositions < 1) throw new ShapeError('sinusoidTable', `numPositions must be a positive integer, got ${numPositions}`);
  if (!Number.isInteger(dim) || dim < 1) throw new ShapeError('sinusoidTable', `dim must be a positive integer, got ${dim}`);
  const base = opts.base ?? 10000, offset = opts.offset ?? 0;
  if (!(base > 0) || !Number.isFinite(base)) throw new ShapeError('sinusoidTable', `base must be a positive number, got ${base}`);
  const out = new Float32Array(numPositions * dim);
  const inv = new Float64Array(dim);
  for (let j = 0; j < dim; j++) inv[j] = 1 / base ** ((2 * Math.floor(j / 2)) / dim);
  for (let p = 0; p < numPositions; p++) {
    const pos = p + offset;
    for (let j = 0; j < dim; j++) {
      const a = pos * inv[j]!;
      out[p * dim + j] = j % 2 === 0 ? Math.sin(a) : Math.cos(a);
    }
  }
  return out;
}

const cache = new Map<string, Tensor>();

/**
 * The table as a baked constant tensor [1, numPositions, dim] (not a parameter: it never trains). Tensors are
 * cached by arguments, so repeated forwards reuse one constant.
 */
export function sinusoidTable(numPositions: number, dim: number, opts: SinusoidOptions = {}): Tensor {
  const key = `${numPositions}/${dim}/${opts.base ?? 10000}/${opts.offset ?? 0}`;
  let t = cache.get(key);
  if (!t) {
    t = constant(sinusoidTableData(numPositions, dim, opts), [1, numPositions, dim]);
    cache.set(key, t);
  }
  return t;
}
