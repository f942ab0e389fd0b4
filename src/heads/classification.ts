// Pooled heads: ClassificationHead (logits [B, numClasses]) and RegressionHead ([B, outDim]).
//
//   tokens [B, N, D] --pool--> [B, D or 3D] --norm?--> --MLP--> [B, out]
//
// Pooling: see pooling.ts ('cls' | 'mean' | 'max' | 'concat' = [CLS, max, mean], padding masks honoured).
// `norm: true` puts a LayerNorm on the pooled vector (hyperspectral / audio heads: LayerNorm + Linear; video:
// fc_norm). The MLP follows openpoints' ClsHead: for every width in `hidden`, a block
// Sequential(Linear(bias = false), BatchNorm1d, ReLU) then Dropout(p), and a final Sequential(Linear) — so the
// state-dict names are openpoints' (`head.0.0.weight`, `head.0.1.running_mean`, ..., `head.4.0.bias` for
// hidden [256, 256]). The ModelNet-40 head is `{ pool: 'concat', hidden: [256, 256], dropout: 0.5 }` on
// D = 768 (2304 -> 256 -> 256 -> 40). Without hidden layers `dropout` is applied before the final linear
// (timm's head_drop).
//
// Multi-label classification: use a ClassificationHead with one logit per label and
// F.binaryCrossEntropyWithLogits(logits, targets) with float {0, 1} targets [B, numLabels] (as the audio
// reference does with BCEWithLogits on mixup soft labels); `multiLabelLoss` spells that out.
import { ShapeError } from '../engine/errors.js';
import { binaryCrossEntropyWithLogits, type Reduction } from '../engine/functional/losses.js';
import { defaultGenerator, type Generator } from '../engine/functional/random.js';
import type { Tensor } from '../engine/tensor.js';
import type { TokenSequence } from '../data2seq/types.js';
import { GELU, ReLU } from '../nn/activation.js';
import { Sequential } from '../nn/container.js';
import { Dropout } from '../nn/dropout.js';
import { Linear } from '../nn/linear.js';
import { Module } from '../nn/module.js';
import { BatchNorm1d, LayerNorm } from '../nn/norm.js';
import { headInput, pooledDim, poolTokens, POOL_MODES, type PoolMode } from './pooling.js';

export interface MlpHeadOptions {
  /** Hidden widths (openpoints `mlps`); none = a single Linear. */
  hidden?: number[];
  /** Dropout after each hidden block, or before the linear without hidden layers. Default 0.5 with hidden layers, else 0. */
  dropout?: number;
  /** Normalisation in the hidden blocks: BatchNorm1d (openpoints, default), LayerNorm or none (then the Linear has a bias). */
  hiddenNorm?: 'batch' | 'layer' | 'none';
  /** Hidden activation (default 'relu'). */
  activation?: 'relu' | 'gelu';
  generator?: Generator;
}

/** openpoints-style MLP: Sequential(block, Dropout, block, Dropout, ..., Sequential(Linear)). */
export function buildMlpHead(op: string, inDim: number, outDim: number, opts: MlpHeadOptions): { head: Sequential; dropout: number } {
  const hidden = opts.hidden ?? [];
  if (hidden.some((h) => !Number.isInteger(h) || h < 1)) throw new ShapeError(op, `hidden widths must be positive integers, got [${hidden.join(', ')}]`);
  if (!Number.isInteger(outDim) || outDim < 1) throw new ShapeError(op, `output width must be a positive integer, got ${outDim}`);
  const p = opts.dropout ?? (hidden.length ? 0.5 : 0);
  const norm = opts.hiddenNorm ?? 'batch';
  if (!['batch', 'layer', 'none'].includes(norm)) throw new ShapeError(op, `hiddenNorm must be 'batch', 'layer' or 'none', got '${norm}'`);
  const g = opts.generator ?? defaultGenerator;
  const layers: (Module & { forward(x: Tensor): Tensor })[] = [];
  let width = inDim;
  for (const h of hidden) {
    const block = new Sequential(new Linear(width, h, { bias: norm === 'none', generator: g }));
    if (norm === 'batch') block.append(new BatchNorm1d(h));
    else if (norm === 'layer') block.append(new LayerNorm(h));
    block.append((opts.activation ?? 'relu') === 'gelu' ? new GELU() : new ReLU());
    layers.push(block);
    if (p > 0) layers.push(new Dropout(p, { generator: g }));
    width = h;
  }
  layers.push(new Sequential(new Linear(width, outDim, { generator: g })));
  return { head: new Sequential(...layers), dropout: p };
}

export interface PooledHeadOptions extends MlpHeadOptions {
  /** Default 'cls'. */
  pool?: PoolMode;
  /** Leading special tokens excluded from mean/max pooling (default 1 for 'concat', else 0). */
  prefixTokens?: number;
  /** LayerNorm on the pooled vector (true or its eps; default none). */
  norm?: boolean | { eps: number };
}

abstract class PooledHead extends Module {
  readonly dim: number;
  readonly outDim: number;
  readonly pool: PoolMode;
  readonly prefixTokens: number | undefined;
  norm: LayerNorm | null;
  head_drop: Dropout | null;
  head: Sequential;

  constructor(dim: number, outDim: number, opts: PooledHeadOptions) {
    super();
    const op = this.constructor.name;
    if (!Number.isInteger(dim) || dim < 1) throw new ShapeError(op, `dim must be a positive integer, got ${dim}`);
    this.dim = dim;
    this.outDim = outDim;
    this.pool = opts.pool ?? 'cls';
    if (!POOL_MODES.includes(this.pool)) throw new ShapeError(op, `unknown pool '${String(this.pool)}' (expected ${POOL_MODES.join(', ')})`);
    this.prefixTokens = opts.prefixTokens;
    const inDim = pooledDim(this.pool, dim);
    this.norm = opts.norm ? new LayerNorm(inDim, { eps: typeof opts.norm === 'object' ? opts.norm.eps : 1e-5 }) : null;
    const { head, dropout } = buildMlpHead(op, inDim, outDim, opts);
    this.head_drop = !(opts.hidden ?? []).length && dropout > 0 ? new Dropout(dropout, { generator: opts.generator ?? defaultGenerator }) : null;
    this.head = head;
  }

  /** The pooled (and normalised) feature vector [B, D or 3D]. */
  features(input: Tensor | TokenSequence, paddingMask?: Tensor | null): Tensor {
    const { x, mask } = headInput(this.constructor.name, input, paddingMask, this.dim);
    let f = poolTokens(x, this.pool, { paddingMask: mask, prefixTokens: this.prefixTokens });
    if (this.norm) f = this.norm.forward(f);
    return f;
  }

  /** tokens [B, N, D] (or an encoded TokenSequence, whose padding mask is used) -> [B, outDim]. */
  forward(input: Tensor | TokenSequence, paddingMask?: Tensor | null): Tensor {
    let f = this.features(input, paddingMask);
    if (this.head_drop) f = this.head_drop.forward(f);
    return this.head.forward(f);
  }
}

/** Logits [B, numClasses] from encoder tokens. */
export class ClassificationHead extends PooledHead {
  constructor(dim: number, numClasses: number, opts: PooledHeadOptions = {}) { super(dim, numClasses, opts); }
  get numClasses(): number { return this.outDim; }
}

/** Real-valued outputs [B, outDim] from encoder tokens (train with F.mseLoss / F.l1Loss / F.smoothL1Loss). */
export class RegressionHead extends PooledHead {
  constructor(dim: number, outDim = 1, opts: PooledHeadOptions = {}) { super(dim, outDim, opts); }
}

/** Multi-label loss: binary cross-entropy on each logit against float {0, 1} (or soft) targets of the same shape. */
export function multiLabelLoss(logits: Tensor, targets: Tensor, opts: { reduction?: Reduction; posWeight?: Tensor } = {}): Tensor {
  return binaryCrossEntropyWithLogits(logits, targets, opts);
}
