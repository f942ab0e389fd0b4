// Per-token classification (segmentation, tagging): tokens [B, N, D] -> logits [B, N − prefixTokens, C].
// The optional LayerNorm and MLP (see classification.ts; BatchNorm statistics are taken over all B·N tokens,
// padding included, so prefer hiddenNorm 'layer' for padded batches) are applied to every token.
// `tokenCrossEntropy` is the matching loss: mean cross-entropy over the tokens that are not padding.
import { ShapeError, fmtShape } from '../engine/errors.js';
import { narrow } from '../engine/functional/indexing.js';
import { crossEntropy } from '../engine/functional/losses.js';
import { defaultGenerator } from '../engine/functional/random.js';
import { scalar, where, type Tensor } from '../engine/tensor.js';
import type { TokenSequence } from '../data2seq/types.js';
import { Sequential } from '../nn/container.js';
import { Dropout } from '../nn/dropout.js';
import { Module } from '../nn/module.js';
import { LayerNorm } from '../nn/norm.js';
import { buildMlpHead, type MlpHeadOptions } from './classification.js';
import { headInput } from './pooling.js';

export interface TokenHeadOptions extends MlpHeadOptions {
  /** Leading special tokens (CLS, ...) dropped from the output (default 0). */
  prefixTokens?: number;
  /** LayerNorm on each token first (true or its eps). */
  norm?: boolean | { eps: number };
}

export class TokenHead extends Module {
  readonly dim: number;
  readonly numClasses: number;
  readonly prefixTokens: number;
  norm: LayerNorm | null;
  head_drop: Dropout | null;
  head: Sequential;

  constructor(dim: number, numClasses: number, opts: TokenHeadOptions = {}) {
    super();
    if (!Number.isInteger(dim) || dim < 1) throw new ShapeError('TokenHead', `dim must be a positive integer, got ${dim}`);
    this.dim = dim;
    this.numClasses = numClasses;
    this.prefixTokens = opts.prefixTokens ?? 0;
    if (!Number.isInteger(this.prefixTokens) || this.prefixTokens < 0) throw new ShapeError('TokenHead', `prefixTokens must be a non-negative integer, got ${opts.prefixTokens}`);
    this.norm = opts.norm ? new LayerNorm(dim, { eps: typeof opts.norm === 'object' ? opts.norm.eps : 1e-5 }) : null;
    const { head, dropout } = buildMlpHead('TokenHead', dim, numClasses, opts);
    this.head_drop = !(opts.hidden ?? []).length && dropout > 0 ? new Dropout(dropout, { generator: opts.generator ?? defaultGenerator }) : null;
    this.head = head;
  }

  /** tokens [B, N, D] (or a TokenSequence) -> logits [B, N − prefixTokens, numClasses]. */
  forward(input: Tensor | TokenSequence, paddingMask?: Tensor | null): Tensor {
    const { x } = headInput('TokenHead', input, paddingMask, this.dim);
    const [B, N] = x.shape as [number, number, number];
    const n = N - this.prefixTokens;
    if (n < 1) throw new ShapeError('TokenHead', `tokens ${fmtShape(x.shape)} have no content tokens after ${this.prefixTokens} prefix token(s)`);
    let t = narrow(x, 1, this.prefixTokens, n);
    if (this.norm) t = this.norm.forward(t);
    if (this.head_drop) t = this.head_drop.forward(t);
    return this.head.forward(t.reshape([B * n, this.dim])).reshape([B, n, this.numClasses]);
  }
}

export interface TokenLossOptions {
  /** [B, N] bool, true = padding (no loss); aligned with the logits' tokens. */
  paddingMask?: Tensor | null;
  /** Target value ignored (default -100, as torch). */
  ignoreIndex?: number;
  labelSmoothing?: number;
}

/** Mean cross-entropy of per-token logits [B, N, C] against int64 classes [B, N], padding and ignoreIndex excluded. */
export function tokenCrossEntropy(logits: Tensor, target: Tensor, opts: TokenLossOptions = {}): Tensor {
  const op = 'tokenCrossEntropy';
  if (logits.rank !== 3) throw new ShapeError(op, `logits must be [B, N, C], got ${fmtShape(logits.shape)}`);
  const [B, N] = logits.shape as [number, number, number];
  if (target.dtype !== 'int64' || target.rank !== 2 || target.shape[0] !== B || target.shape[1] !== N) {
    throw new ShapeError(op, `target must be int64 [B, N] = [${B}, ${N}], got ${target.dtype} ${fmtShape(target.shape)}`);
  }
  const ignoreIndex = opts.ignoreIndex ?? -100;
  let t = target;
  const m = opts.paddingMask;
  if (m) {
    if (m.dtype !== 'bool' || m.rank !== 2 || m.shape[0] !== B || m.shape[1] !== N) throw new ShapeError(op, `paddingMask must be bool [${B}, ${N}], got ${m.dtype} ${fmtShape(m.shape)}`);
    t = where(m, scalar(ignoreIndex, 'int64'), target);
  }
  return crossEntropy(logits.permute(0, 2, 1), t, { ignoreIndex, labelSmoothing: opts.labelSmoothing ?? 0 });
}
