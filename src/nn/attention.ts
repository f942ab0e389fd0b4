// Multi-head attention in timm's layout. Self-attention packs q, k, v into one Linear `qkv` (dim -> 3 dim);
// cross-attention has `q` (dim -> dim) and a packed `kv` (kdim -> 2 dim), or separate `k` / `v` when the key
// and value inputs differ in width. The 1/sqrt(head_dim) scale is folded into q; masks become an additive
// large-negative bias on the scores.
import { ShapeError, fmtShape } from '../engine/errors.js';
import { split } from '../engine/functional/indexing.js';
import { defaultGenerator, dropout, type Generator } from '../engine/functional/random.js';
import { where, type Tensor } from '../engine/tensor.js';
import { Dropout } from './dropout.js';
import { Linear } from './linear.js';
import { Module } from './module.js';

/** Added to the scores of masked positions; exp() of it underflows to 0 without NaNs or infinities. */
export const MASK_VALUE = -1e9;

/**
 * The additive score bias for [B, H, Nq, Nk] scores from a key-padding mask ([B, Nk] bool, true = padding)
 * and/or an attention mask (bool, true = masked, or float added as is; [Nq, Nk], [B, Nq, Nk] or
 * [B, H, Nq, Nk]). Returns null when there is neither.
 */
export function attentionBias(B: number, H: number, Nq: number, Nk: number, opts: { keyPaddingMask?: Tensor | null; attnMask?: Tensor | null }): Tensor | null {
  let bias: Tensor | null = null;
  const kpm = opts.keyPaddingMask;
  if (kpm) {
    if (kpm.dtype !== 'bool' || kpm.rank !== 2 || kpm.shape[0] !== B || kpm.shape[1] !== Nk) {
      throw new ShapeError('attention', `keyPaddingMask must be bool [B, Nk] = [${B}, ${Nk}] (true = padding), got ${kpm.dtype} ${fmtShape(kpm.shape)}`);
    }
    bias = where(kpm.reshape([B, 1, 1, Nk]), MASK_VALUE, 0);
  }
  const am = opts.attnMask;
  if (am) {
    const want = [B, H, Nq, Nk];
    let m4: Tensor;
    if (am.rank === 2) m4 = am.reshape([1, 1, ...am.shape]);
    else if (am.rank === 3) m4 = am.unsqueeze(1);
    else if (am.rank === 4) m4 = am;
    else throw new ShapeError('attention', `attnMask must be [Nq, Nk], [B, Nq, Nk] or [B, H, Nq, Nk], got ${fmtShape(am.shape)}`);
    if (m4.shape.some((d, i) => d !== 1 && d !== want[i]) || m4.shape[2] !== Nq || m4.shape[3] !== Nk) {
      throw new ShapeError('attention', `attnMask ${fmtShape(am.shape)} does not broadcast to the scores ${fmtShape(want)} ([B, H, Nq, Nk])`);
    }
    let b: Tensor;
    if (m4.dtype === 'bool') b = where(m4, MASK_VALUE, 0);
    else if (m4.dtype === 'float32') b = m4;
    else throw new ShapeError('attention', `attnMask must be bool (true = masked) or float32 (additive), got ${m4.dtype}`);
    bias = bias ? bias.add(b) : b;
  }
  return bias;
}

export interface SdpaOptions {
  /** Additive bias broadcastable to the scores [..., Nq, Nk]. */
  bias?: Tensor | null;
  /** Dropout on the attention probabilities (only when `training`). */
  dropoutP?: number;
  training?: boolean;
  generator?: Generator;
  /** Score scale; default 1/sqrt(head_dim), applied to q. */
  scale?: number;
}

/** softmax(q k^T * scale + bias) v for q [..., Nq, d], k [..., Nk, d], v [..., Nk, dv]. */
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, opts: SdpaOptions = {}): Tensor {
  if (q.rank < 2 || k.rank !== q.rank || v.rank !== q.rank || q.shape[q.rank - 1] !== k.shape[k.rank - 1] || k.shape[k.rank - 2] !== v.shape[v.rank - 2]) {
    throw new ShapeError('scaledDotProductAttention', `expected q [..., Nq, d], k [..., Nk, d], v [..., Nk, dv] of one rank, got q ${fmtShape(q.shape)}, k ${fmtShape(k.shape)}, v ${fmtShape(v.shape)}`);
  }
  return attend(q.mul(opts.scale ?? 1 / Math.sqrt(q.shape[q.rank - 1]!)), k.mT, v, opts.bias ?? null, opts.dropoutP ?? 0, opts.training ?? false, opts.generator ?? defaultGenerator);
}

/** Core with a pre-scaled q and a pre-transposed k ([..., d, Nk]). */
function attend(qScaled: Tensor, kT: Tensor, v: Tensor, bias: Tensor | null, p: number, training: boolean, generator: Generator): Tensor {
  let scores = qScaled.matmul(kT);
  if (bias) scores = scores.add(bias);
  const probs = dropout(scores.softmax(-1), p, training, generator);
  return probs.matmul(v);
}

export interface MultiHeadAttentionOptions {
  qkvBias?: boolean;
  attnDrop?: number;
  projDrop?: number;
  /** Cross-attention: width of the key (context) input; default dim. */
  kdim?: number;
  /** Cross-attention: width of the value input; default kdim (then k and v are packed in `kv`). */
  vdim?: number;
  /** Query attends to a separate context (q / kv linears) instead of itself (packed qkv). */
  cross?: boolean;
  generator?: Generator;
}

export interface AttentionCallOptions {
  /** Cross-attention keys (and values) [B, Nk, kdim]. */
  context?: Tensor;
  /** Cross-attention values [B, Nk, vdim] when vdim differs from kdim (default: context). */
  value?: Tensor;
  /** [B, Nk] bool, true = padding (ignored as a key). */
  keyPaddingMask?: Tensor | null;
  /** bool (true = masked) or additive float; [Nq, Nk], [B, Nq, Nk] or [B, H, Nq, Nk]. */
  attnMask?: Tensor | null;
}

export class MultiHeadAttention extends Module {
  readonly dim: number;
  readonly numHeads: number;
  readonly headDim: number;
  readonly scale: number;
  readonly cross: boolean;
  readonly kdim: number;
  readonly vdim: number;
  qkv: Linear | null = null;
  q: Linear | null = null;
  kv: Linear | null = null;
  k: Linear | null = null;
  v: Linear | null = null;
  attn_drop: Dropout;
  proj: Linear;
  proj_drop: Dropout;
  private _generator: Generator;

  constructor(dim: number, numHeads: number, opts: MultiHeadAttentionOptions = {}) {
    super();
    if (!Number.isInteger(dim) || !Number.isInteger(numHeads) || numHeads < 1 || dim < 1 || dim % numHeads !== 0) {
      throw new ShapeError('MultiHeadAttention', `dim (${dim}) must be a positive multiple of num_heads (${numHeads})`);
    }
    this.dim = dim;
    this.numHeads = numHeads;
    this.headDim = dim / numHeads;
    this.scale = 1 / Math.sqrt(this.headDim);
    this.cross = opts.cross ?? false;
    this.kdim = opts.kdim ?? dim;
    this.vdim = opts.vdim ?? this.kdim;
    const bias = opts.qkvBias ?? true;
    const g = opts.generator ?? defaultGenerator;
    this._generator = g;
    if (!this.cross) {
      if (this.kdim !== dim || this.vdim !== dim) throw new ShapeError('MultiHeadAttention', `self-attention needs kdim = vdim = dim (${dim}), got kdim ${this.kdim}, vdim ${this.vdim}; pass cross: true for a separate context`);
      this.qkv = new Linear(dim, 3 * dim, { bias, generator: g });
    } else {
      this.q = new Linear(dim, dim, { bias, generator: g });
      if (this.vdim === this.kdim) this.kv = new Linear(this.kdim, 2 * dim, { bias, generator: g });
      else {
        this.k = new Linear(this.kdim, dim, { bias, generator: g });
        this.v = new Linear(this.vdim, dim, { bias, generator: g });
      }
    }
    this.attn_drop = new Dropout(opts.attnDrop ?? 0, { generator: g });
    this.proj = new Linear(dim, dim, { generator: g });
    this.proj_drop = new Dropout(opts.projDrop ?? 0, { generator: g });
  }

  /** x [B, N, dim] -> [B, N, dim]; cross-attention: x is the query, `context` [B, Nk, kdim] the keys/values. */
  forward(x: Tensor, opts: AttentionCallOptions = {}): Tensor {
    if (x.rank !== 3 || x.shape[2] !== this.dim) throw new ShapeError('MultiHeadAttention', `query must be [B, N, ${this.dim}], got ${fmtShape(x.shape)}`);
    const [B, N] = x.shape as [number, number, number];
    const H = this.numHeads, hd = this.headDim, D = this.dim;
    let q: Tensor, k: Tensor, v: Tensor;
    if (!this.cross) {
      if (opts.context || opts.value) throw new ShapeError('MultiHeadAttention', 'context/value given to a self-attention module (construct it with cross: true)');
      // One transpose of the packed projection to [3, B, H, N, hd] instead of a split and three head
      // transposes (fewer passes over the activations, forward and backward); k enters the score product
      // transposed on its last two axes, which onnxruntime folds into the matmul.
      const heads = this.qkv!.forward(x).reshape([B, N, 3, H, hd]).permute(2, 0, 3, 1, 4);
      const [qh, kh, vh] = split(heads, [1, 1, 1], 0).map((t) => t.reshape([B, H, N, hd])) as [Tensor, Tensor, Tensor];
      const bias = attentionBias(B, H, N, N, opts);
      const o = attend(qh.mul(this.scale), kh.mT, vh, bias, this.attn_drop.p, this.attn_drop.training, this._generator);
      return this.proj_drop.forward(this.proj.forward(o.permute(0, 2, 1, 3).reshape([B, N, D])));
    } else {
      const ctx = opts.context;
      if (!ctx) throw new ShapeError('MultiHeadAttention', `cross-attention needs a context [B, Nk, ${this.kdim}]`);
      if (ctx.rank !== 3 || ctx.shape[0] !== B || ctx.shape[2] !== this.kdim) throw new ShapeError('MultiHeadAttention', `context must be [${B}, Nk, ${this.kdim}], got ${fmtShape(ctx.shape)} (query ${fmtShape(x.shape)})`);
      q = this.q!.forward(x);
      if (this.kv) {
        if (opts.value) throw new ShapeError('MultiHeadAttention', 'a separate value input needs vdim != kdim at construction');
        [k, v] = split(this.kv.forward(ctx), [D, D], 2) as [Tensor, Tensor];
      } else {
        const val = opts.value;
        if (!val || val.rank !== 3 || val.shape[0] !== B || val.shape[1] !== ctx.shape[1] || val.shape[2] !== this.vdim) {
          throw new ShapeError('MultiHeadAttention', `value must be [${B}, ${ctx.shape[1]}, ${this.vdim}], got ${val ? fmtShape(val.shape) : 'none'}`);
        }
        k = this.k!.forward(ctx);
        v = this.v!.forward(val);
      }
    }
    const Nk = k.shape[1]!;
    const qh = q.reshape([B, N, H, hd]).permute(0, 2, 1, 3).mul(this.scale); // [B, H, N, hd]
    const kT = k.reshape([B, Nk, H, hd]).permute(0, 2, 3, 1); //                [B, H, hd, Nk]
    const vh = v.reshape([B, Nk, H, hd]).permute(0, 2, 1, 3); //                [B, H, Nk, hd]
    const bias = attentionBias(B, H, N, Nk, opts);
    const o = attend(qh, kT, vh, bias, this.attn_drop.p, this.attn_drop.training, this._generator);
    return this.proj_drop.forward(this.proj.forward(o.permute(0, 2, 1, 3).reshape([B, N, D])));
  }
}
