// Vision Transformer in timm's layout (`VisionTransformer`): patch_embed.proj (Conv2d, kernel = stride =
// patch), cls_token, pos_embed, blocks.N (pre-norm), norm, head (Linear to numClasses, on the class token
// after `norm`, timm's global_pool='token'). Parameter names match timm state dicts.
// `resamplePosEmbed` moves a pos_embed to another patch grid as timm's resample_abs_pos_embed does (bicubic,
// align_corners=False, no antialias, the class-token row kept as it is).
import { ShapeError, fmtShape } from '../engine/errors.js';
import { cat } from '../engine/functional/indexing.js';
import { defaultGenerator, type Generator } from '../engine/functional/random.js';
import { Variable, type Tensor } from '../engine/tensor.js';
import { Conv2d } from '../nn/conv.js';
import { Identity } from '../nn/container.js';
import { interpolatePosEmbed, type InterpolationMode } from '../data2seq/image.js';
import { select } from '../engine/functional/indexing.js';
import { Linear } from '../nn/linear.js';
import { truncNormal_ } from '../nn/init.js';
import { initWeightsTimm } from '../nn/init.js';
import { Module } from '../nn/module.js';
import { LayerNorm } from '../nn/norm.js';
import { TransformerBlock } from '../nn/transformer.js';

export interface VitConfig {
  imageSize: number;
  patchSize: number;
  inChannels: number;
  dim: number;
  depth: number;
  numHeads: number;
  mlpRatio: number;
  /** LayerNorm epsilon (timm ViT: 1e-6). */
  eps: number;
  /** Final LayerNorm `norm`. */
  finalNorm: boolean;
  classToken: boolean;
  /** Classes of the `head` Linear (on the class token after `norm`); 0 or absent: no head (features). */
  numClasses?: number;
  /** MLP activation (timm: exact GELU). */
  act?: 'gelu' | 'quick_gelu';
}

export const VIT_CONFIGS = {
  'vit-tiny-patch16-224': { imageSize: 224, patchSize: 16, inChannels: 3, dim: 192, depth: 12, numHeads: 3, mlpRatio: 4, eps: 1e-6, finalNorm: true, classToken: true },
  'vit-small-patch16-224': { imageSize: 224, patchSize: 16, inChannels: 3, dim: 384, depth: 12, numHeads: 6, mlpRatio: 4, eps: 1e-6, finalNorm: true, classToken: true },
  'vit-base-patch16-224': { imageSize: 224, patchSize: 16, inChannels: 3, dim: 768, depth: 12, numHeads: 12, mlpRatio: 4, eps: 1e-6, finalNorm: true, classToken: true },
  'vit-large-patch14-224': { imageSize: 224, patchSize: 14, inChannels: 3, dim: 1024, depth: 24, numHeads: 16, mlpRatio: 4, eps: 1e-6, finalNorm: true, classToken: true },
} satisfies Record<string, VitConfig>;

/** Conv patchify: [B, C, H, W] -> [B, (H/p)(W/p), D]. */
export class PatchEmbed extends Module {
  readonly patchSize: number;
  proj: Conv2d;
  constructor(patchSize: number, inChannels: number, dim: number, generator: Generator = defaultGenerator) {
    super();
    this.patchSize = patchSize;
    this.proj = new Conv2d(inChannels, dim, patchSize, { stride: patchSize, generator });
  }
  forward(x: Tensor): Tensor {
    const p = this.patchSize;
    if (x.rank !== 4) throw new ShapeError('PatchEmbed', `expected images [B, C, H, W], got ${fmtShape(x.shape)}`);
    if (x.shape[1] !== this.proj.inChannels) throw new ShapeError('PatchEmbed', `images have ${x.shape[1]} channels, the patch embedding expects ${this.proj.inChannels}`);
    if (x.shape[2]! % p || x.shape[3]! % p) throw new ShapeError('PatchEmbed', `image size ${x.shape[2]}x${x.shape[3]} is not divisible by the patch size ${p}`);
    const y = this.proj.forward(x); // [B, D, H/p, W/p]
    return y.flatten(2).transpose(1, 2);
  }
}

export class VisionTransformer extends Module {
  readonly config: VitConfig;
  patch_embed: PatchEmbed;
  cls_token: Variable | null;
  pos_embed: Variable;
  blocks: TransformerBlock[];
  norm: LayerNorm | Identity;
  head: Linear | Identity;

  constructor(config: VitConfig, opts: { generator?: Generator } = {}) {
    super();
    this.config = config;
    const g = opts.generator ?? defaultGenerator;
    const { dim, imageSize, patchSize } = config;
    if (imageSize % patchSize) throw new ShapeError('VisionTransformer', `image size ${imageSize} is not divisible by the patch size ${patchSize}`);
    const numTokens = (imageSize / patchSize) ** 2 + (config.classToken ? 1 : 0);
    this.patch_embed = new PatchEmbed(patchSize, config.inChannels, dim, g);
    this.cls_token = config.classToken ? new Variable(new Float32Array(dim), [1, 1, dim]) : null;
    this.pos_embed = new Variable(new Float32Array(numTokens * dim), [1, numTokens, dim]);
    this.blocks = Array.from({ length: config.depth }, () => new TransformerBlock(dim, config.numHeads, { mlpRatio: config.mlpRatio, eps: config.eps, act: config.act ?? 'gelu', generator: g }));
    this.norm = config.finalNorm ? new LayerNorm(dim, { eps: config.eps }) : new Identity();
    const nc = config.numClasses ?? 0;
    if (!Number.isInteger(nc) || nc < 0) throw new ShapeError('VisionTransformer', `numClasses must be a non-negative integer, got ${nc}`);
    this.head = nc > 0 ? new Linear(dim, nc, { generator: g }) : new Identity();
    initWeightsTimm(this, { generator: g });
    truncNormal_(this.pos_embed, 0.02, { generator: g });
    if (this.cls_token) truncNormal_(this.cls_token, 1e-6, { generator: g });
  }

  /** images [B, C, H, W] -> tokens [B, N (+1), D]. */
  forward(images: Tensor): Tensor {
    let x = this.patch_embed.forward(images);
    const B = x.shape[0]!, D = this.config.dim;
    if (this.cls_token) x = cat([this.cls_token.expand([B, 1, D]), x], 1);
    if (x.shape[1] !== this.pos_embed.shape[1]) throw new ShapeError('VisionTransformer', `got ${x.shape[1]} tokens, the position embedding has ${this.pos_embed.shape[1]} (image size ${images.shape[2]}x${images.shape[3]}, configured ${this.config.imageSize})`);
    x = x.add(this.pos_embed);
    for (const b of this.blocks) x = b.forward(x);
    return this.norm instanceof LayerNorm ? this.norm.forward(x) : x;
  }

  /** tokens [B, N (+1), D] (from `forward`) -> logits [B, numClasses]: head(tokens[:, 0]) (timm global_pool='token'). */
  forwardHead(tokens: Tensor): Tensor {
    if (!(this.head instanceof Linear)) throw new ShapeError('VisionTransformer', 'this model has no classification head (numClasses 0)');
    if (!this.cls_token) throw new ShapeError('VisionTransformer', 'token pooling needs a class token (classToken: true)');
    return this.head.forward(select(tokens, 1, 0));
  }

  /** images -> class logits [B, numClasses]. */
  classify(images: Tensor): Tensor { return this.forwardHead(this.forward(images)); }
}

export interface ResamplePosEmbedOptions {
  /** Leading non-grid rows (class token) kept unchanged; default 1. */
  prefixTokens?: number;
  /** 'bicubic' (timm's default) or 'bilinear'. */
  mode?: InterpolationMode;
  /** Source grid [h, w]; default the square root of the grid rows. */
  oldGrid?: readonly [number, number];
}

/**
 * timm's `resample_abs_pos_embed`: a pos_embed [1, prefix + h0·w0, D] (or [prefix + h0·w0, D]) to the grid
 * `newGrid` [h1, w1] with F.interpolate(bicubic, align_corners=False, antialias=False) over the grid rows; the
 * prefix (class-token) rows are kept. Returns the data and its shape (the input's rank).
 */
export function resamplePosEmbed(pos: { shape: readonly number[]; data: Float32Array }, newGrid: readonly [number, number], opts: ResamplePosEmbedOptions = {}): { shape: number[]; data: Float32Array } {
  const op = 'resamplePosEmbed';
  const prefix = opts.prefixTokens ?? 1;
  const rank = pos.shape.length;
  if ((rank !== 2 && rank !== 3) || (rank === 3 && pos.shape[0] !== 1)) throw new ShapeError(op, `pos_embed must be [1, N, D] or [N, D], got ${fmtShape(pos.shape)}`);
  const N = pos.shape[rank - 2]!, D = pos.shape[rank - 1]!;
  const gridRows = N - prefix;
  let old = opts.oldGrid;
  if (!old) {
    const side = Math.round(Math.sqrt(gridRows));
    if (side * side !== gridRows) throw new ShapeError(op, `pos_embed ${fmtShape(pos.shape)} has ${gridRows} grid rows after ${prefix} prefix token(s), not a square; pass oldGrid`);
    old = [side, side];
  }
  const data = interpolatePosEmbed(pos.data, old, newGrid, D, { mode: opts.mode ?? 'bicubic', prefixTokens: prefix });
  const n1 = prefix + newGrid[0] * newGrid[1];
  return { shape: rank === 3 ? [1, n1, D] : [n1, D], data };
}
