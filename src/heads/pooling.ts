// Pooling of encoder tokens [B, N, D] into one vector per sample, honouring a key-padding mask.
//   'cls'   : token 0 (a CLS / graph token);                                                  -> [B, D]
//   'mean'  : mean over the content tokens that are not padding;                              -> [B, D]
//   'max'   : element-wise max over the content tokens that are not padding (0 if none);      -> [B, D]
//   'concat': [token 0, max, mean] concatenated, as the point-cloud reference's ModelNet head
//             (`cls_map: [cls, max, avg]` over the tokens after the CLS token);              -> [B, 3D]
// "Content tokens" are the tokens after the first `prefixTokens` (special tokens such as CLS, which the
// point-cloud reference excludes from max/mean). Default prefixTokens: 1 for 'concat', 0 otherwise.
import { ShapeError, fmtShape } from '../engine/errors.js';
import { cat, narrow, select } from '../engine/functional/indexing.js';
import { Tensor, where } from '../engine/tensor.js';
import type { TokenSequence } from '../data2seq/types.js';

export type PoolMode = 'cls' | 'mean' | 'max' | 'concat';
export const POOL_MODES: readonly PoolMode[] = ['cls', 'mean', 'max', 'concat'];

export interface PoolOptions {
  /** [B, N] bool, true = padding (excluded from mean and max). */
  paddingMask?: Tensor | null;
  /** Leading special tokens excluded from mean/max (default 1 for 'concat', else 0). */
  prefixTokens?: number;
}

/** Width of the pooled vector for token width `dim`. */
export function pooledDim(mode: PoolMode, dim: number): number { return mode === 'concat' ? 3 * dim : dim; }

/** Split a head input into tokens and mask, checking shapes. */
export function headInput(op: string, input: Tensor | TokenSequence, paddingMask: Tensor | null | undefined, dim: number): { x: Tensor; mask: Tensor | null } {
  const x = input instanceof Tensor ? input : input.tokens;
  const mask = paddingMask ?? (input instanceof Tensor ? null : input.paddingMask ?? null);
  if (!(x instanceof Tensor) || x.rank !== 3 || x.dtype !== 'float32' || x.shape[2] !== dim) {
    throw new ShapeError(op, `expected float32 tokens [B, N, ${dim}], got ${x instanceof Tensor ? `${x.dtype} ${fmtShape(x.shape)}` : String(x)}`);
  }
  if (mask && (mask.dtype !== 'bool' || mask.rank !== 2 || mask.shape[0] !== x.shape[0] || mask.shape[1] !== x.shape[1])) {
    throw new ShapeError(op, `paddingMask must be bool [B, N] = [${x.shape[0]}, ${x.shape[1]}] (true = padding), got ${mask.dtype} ${fmtShape(mask.shape)}`);
  }
  return { x, mask };
}

const NEG = -3.4e38;

/** Masked mean over axis 1 of [B, N, D] (padding excluded; all-padding rows give 0). */
export function maskedMean(x: Tensor, mask: Tensor | null): Tensor {
  if (!mask) return x.mean(1);
  const valid = mask.logicalNot().cast('float32').unsqueeze(-1); // [B, N, 1]
  return x.mul(valid).sum(1).div(valid.sum(1).maximum(1));
}

/** Masked max over axis 1 of [B, N, D] (padding excluded; all-padding rows give 0). */
export function maskedMax(x: Tensor, mask: Tensor | null): Tensor {
  if (!mask) return x.max(1);
  const m = mask.unsqueeze(-1);
  const mx = where(m, NEG, x).max(1);
  const any = mask.logicalNot().cast('float32').sum(1, true).gt(0); // [B, 1]
  return where(any, mx, 0);
}

/** Pool tokens [B, N, D] as described in the file comment. */
export function poolTokens(tokens: Tensor, mode: PoolMode, opts: PoolOptions = {}): Tensor {
  const op = 'poolTokens';
  if (tokens.rank !== 3) throw new ShapeError(op, `expected tokens [B, N, D], got ${fmtShape(tokens.shape)}`);
  if (!POOL_MODES.includes(mode)) throw new ShapeError(op, `unknown pool mode '${String(mode)}' (expected ${POOL_MODES.join(', ')})`);
  const N = tokens.shape[1]!;
  const prefix = opts.prefixTokens ?? (mode === 'concat' ? 1 : 0);
  if (!Number.isInteger(prefix) || prefix < 0) throw new ShapeError(op, `prefixTokens must be a non-negative integer, got ${prefix}`);
  const mask = opts.paddingMask ?? null;
  if (mask && (mask.dtype !== 'bool' || mask.rank !== 2 || mask.shape[0] !== tokens.shape[0] || mask.shape[1] !== N)) {
    throw new ShapeError(op, `paddingMask must be bool [B, N] = [${tokens.shape[0]}, ${N}], got ${mask.dtype} ${fmtShape(mask.shape)}`);
  }
  if (mode === 'cls') return select(tokens, 1, 0);
  if (N - prefix < 1) throw new ShapeError(op, `'${mode}' pooling needs content tokens after the ${prefix} prefix token(s), got N = ${N}`);
  const content = narrow(tokens, 1, prefix, N - prefix);
  const cmask = mask ? narrow(mask, 1, prefix, N - prefix) : null;
  if (mode === 'mean') return maskedMean(content, cmask);
  if (mode === 'max') return maskedMax(content, cmask);
  if (prefix < 1) throw new ShapeError(op, "'concat' pooling takes token 0 as the CLS token: prefixTokens must be >= 1");
  return cat([select(tokens, 1, 0), maskedMax(content, cmask), maskedMean(content, cmask)], 1);
}
