// Vision Transformer in timm's layout (`VisionTransformer`): patch_embed.proj (Conv2d, kernel = stride =
// patch), cls_token, pos_embed, blocks.N (pre-norm), norm. Parameter names match timm state dicts.
import { ShapeError, fmtShape } from '../engine/errors.js';
import { cat } from '../engine/functional/indexing.js';
import { defaultGenerator, type Generator } from '../engine/functional/random.js';
import { Variable, type Tensor } from '../engine/tensor.js';
import { Conv2d } from '../nn/conv.js';
import { Identity } from '../nn/container.js';
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
    this.blocks = Array.from({ length: config.depth }, () => new TransformerBlock(dim, config.numHeads, { mlpRatio: config.mlpRatio, eps: config.eps, generator: g }));
    this.norm = config.finalNorm ? new LayerNorm(dim, { eps: config.eps }) : new Identity();
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
}
