// Pre-norm transformer block in timm's layout (`Block`): norm1, attn, ls1, drop_path1, norm2, mlp, ls2,
// drop_path2, computing x = x + dp(ls1(attn(norm1(x)))); x = x + dp(ls2(mlp(norm2(x)))).
import { ShapeError, fmtShape } from '../engine/errors.js';
import { defaultGenerator, type Generator } from '../engine/functional/random.js';
import { Variable, type Tensor } from '../engine/tensor.js';
import type { ActivationSpec } from './activation.js';
import { MultiHeadAttention, type AttentionCallOptions } from './attention.js';
import { Identity } from './container.js';
import { DropPath } from './dropout.js';
import { Mlp } from './mlp.js';
import { Module } from './module.js';
import { LayerNorm } from './norm.js';

/** Per-channel learnable scale of a residual branch (timm LayerScale, parameter `gamma`). */
export class LayerScale extends Module {
  readonly initValues: number;
  gamma: Variable;
  constructor(dim: number, initValues = 1e-5) {
    super();
    this.initValues = initValues;
    this.gamma = new Variable(new Float32Array(dim).fill(initValues), [dim]);
  }
  forward(x: Tensor): Tensor {
    if (x.shape[x.rank - 1] !== this.gamma.shape[0]) throw new ShapeError('LayerScale', `input ${fmtShape(x.shape)} must end in ${this.gamma.shape[0]}`);
    return x.mul(this.gamma);
  }
}

export interface TransformerBlockOptions {
  mlpRatio?: number;
  qkvBias?: boolean;
  /** Dropout after the attention projection and in the Mlp. */
  drop?: number;
  attnDrop?: number;
  /** Stochastic-depth probability of both residual branches. */
  dropPath?: number;
  /** LayerNorm epsilon (timm ViT: 1e-6). */
  eps?: number;
  act?: ActivationSpec;
  /** LayerScale init value; none (identity) when undefined. */
  layerScale?: number;
  generator?: Generator;
}

type ResidualBranch = Module & { forward(x: Tensor): Tensor };

export class TransformerBlock extends Module {
  readonly dim: number;
  norm1: LayerNorm;
  attn: MultiHeadAttention;
  ls1: LayerScale | Identity;
  drop_path1: DropPath | Identity;
  norm2: LayerNorm;
  mlp: Mlp;
  ls2: LayerScale | Identity;
  drop_path2: DropPath | Identity;

  constructor(dim: number, numHeads: number, opts: TransformerBlockOptions = {}) {
    super();
    this.dim = dim;
    const g = opts.generator ?? defaultGenerator;
    const eps = opts.eps ?? 1e-6;
    const hidden = Math.floor(dim * (opts.mlpRatio ?? 4)); // int(dim * mlp_ratio) as timm
    const branch = (): LayerScale | Identity => (opts.layerScale === undefined ? new Identity() : new LayerScale(dim, opts.layerScale));
    const dp = (): DropPath | Identity => ((opts.dropPath ?? 0) > 0 ? new DropPath(opts.dropPath, { generator: g }) : new Identity());
    this.norm1 = new LayerNorm(dim, { eps });
    this.attn = new MultiHeadAttention(dim, numHeads, { qkvBias: opts.qkvBias ?? true, attnDrop: opts.attnDrop ?? 0, projDrop: opts.drop ?? 0, generator: g });
    this.ls1 = branch();
    this.drop_path1 = dp();
    this.norm2 = new LayerNorm(dim, { eps });
    this.mlp = new Mlp(dim, hidden, dim, { act: opts.act ?? 'gelu', drop: opts.drop ?? 0, generator: g });
    this.ls2 = branch();
    this.drop_path2 = dp();
  }

  /** x [B, N, dim]; masks as in MultiHeadAttention (keyPaddingMask [B, N] bool, true = padding). */
  forward(x: Tensor, opts: Pick<AttentionCallOptions, 'keyPaddingMask' | 'attnMask'> = {}): Tensor {
    const ls1 = this.ls1 as ResidualBranch, ls2 = this.ls2 as ResidualBranch;
    const dp1 = this.drop_path1 as ResidualBranch, dp2 = this.drop_path2 as ResidualBranch;
    const h = x.add(dp1.forward(ls1.forward(this.attn.forward(this.norm1.forward(x), opts))));
    return h.add(dp2.forward(ls2.forward(this.mlp.forward(this.norm2.forward(h)))));
  }
}

export interface TransformerEncoderOptions extends Omit<TransformerBlockOptions, 'dropPath'> {
  /** Stochastic depth rising linearly from 0 (first block) to this value (last block), as in timm. */
  dropPathRate?: number;
  /** Final LayerNorm `norm` (default true). */
  finalNorm?: boolean;
}

/** A stack of pre-norm blocks (`blocks.0`, `blocks.1`, ...) and a final `norm`, as in timm's ViT trunk. */
export class TransformerEncoder extends Module {
  blocks: TransformerBlock[];
  norm: LayerNorm | Identity;
  constructor(dim: number, depth: number, numHeads: number, opts: TransformerEncoderOptions = {}) {
    super();
    if (!Number.isInteger(depth) || depth < 1) throw new ShapeError('TransformerEncoder', `depth must be a positive integer, got ${depth}`);
    const rate = opts.dropPathRate ?? 0;
    this.blocks = Array.from({ length: depth }, (_, i) => new TransformerBlock(dim, numHeads, { ...opts, dropPath: depth > 1 ? (rate * i) / (depth - 1) : rate }));
    this.norm = (opts.finalNorm ?? true) ? new LayerNorm(dim, { eps: opts.eps ?? 1e-6 }) : new Identity();
  }
  forward(x: Tensor, opts: Pick<AttentionCallOptions, 'keyPaddingMask' | 'attnMask'> = {}): Tensor {
    let h = x;
    for (const b of this.blocks) h = b.forward(h, opts);
    return (this.norm as ResidualBranch).forward(h);
  }
}
