// CLIP (OpenAI `clip/model.py` semantics) with OpenAI's parameter names, so an OpenAI or open_clip `CLIP`
// state dict loads as it is:
//   vision: visual.conv1 (no bias), visual.class_embedding [W], visual.positional_embedding [(H/p)(W/p)+1, W],
//           visual.ln_pre, visual.transformer.resblocks.N.*, visual.ln_post (on the class token only),
//           visual.proj [W, E] (applied as x @ proj);
//   text:   token_embedding, positional_embedding [L, Wt], transformer.resblocks.N.* (causal mask), ln_final,
//           text_projection [Wt, E] (x @ P), taken at the EOT token (argmax of the ids);
//   logit_scale [] (log space): logits_per_image = exp(logit_scale) · norm(img) @ norm(txt)ᵀ.
// Each residual block is pre-LN (ln_1, attn, ln_2, mlp.c_fc / mlp.c_proj) with QuickGELU. The attention keeps
// the packed `attn.in_proj_weight` [3W, W] / `attn.in_proj_bias` of torch.nn.MultiheadAttention (rows
// [q; k; v], heads contiguous) and `attn.out_proj`: the fused parameter loads OpenAI files without any
// splitting, and HF CLIPModel's separate q_proj/k_proj/v_proj are concatenated into it by the key mapping
// (src/io/checkpoint-formats.ts). The math is the timm block's (src/nn/transformer.ts): only names differ.
import { ShapeError, fmtShape } from '../engine/errors.js';
import { cat, gather, narrow, select } from '../engine/functional/indexing.js';
import { defaultGenerator, type Generator } from '../engine/functional/random.js';
import { Tensor, Variable, constant } from '../engine/tensor.js';
import { makeActivation, type UnaryModule } from '../nn/activation.js';
import { attentionBias, scaledDotProductAttention } from '../nn/attention.js';
import { Conv2d } from '../nn/conv.js';
import { Embedding } from '../nn/embedding.js';
import { normal_ } from '../nn/init.js';
import { Linear, linear } from '../nn/linear.js';
import { Module } from '../nn/module.js';
import { LayerNorm } from '../nn/norm.js';

export type ClipActivation = 'quick_gelu' | 'gelu';

export interface ClipVisionConfig {
  imageSize: number;
  patchSize: number;
  width: number;
  layers: number;
  heads: number;
  inChannels?: number;
}

export interface ClipTextConfig {
  contextLength: number;
  vocabSize: number;
  width: number;
  layers: number;
  heads: number;
}

export interface ClipConfig {
  /** Joint embedding width E (visual.proj / text_projection columns). */
  embedDim: number;
  vision: ClipVisionConfig;
  text: ClipTextConfig;
  /** MLP activation: 'quick_gelu' (OpenAI, HF openai/*) or 'gelu' (most open_clip LAION weights). */
  act: ClipActivation;
  /** LayerNorm epsilon of every norm (1e-5). */
  eps: number;
  /**
   * Text pooling. null/undefined: the argmax of the token ids (OpenAI: EOT has the largest id). A number: the
   * first position holding that id (HF CLIPTextTransformer when its config's eos_token_id is not the legacy 2).
   */
  eosTokenId?: number | null;
}

/** OpenAI CLIP ViT-B/16 (the configuration of `ViT-B-16.pt`). */
export const CLIP_VIT_B16: ClipConfig = {
  embedDim: 512,
  vision: { imageSize: 224, patchSize: 16, width: 768, layers: 12, heads: 12 },
  text: { contextLength: 77, vocabSize: 49408, width: 512, layers: 12, heads: 8 },
  act: 'quick_gelu', eps: 1e-5,
};

/** torch.nn.MultiheadAttention's parameters (in_proj_weight, in_proj_bias, out_proj), batch-first self-attention. */
export class ClipAttention extends Module {
  readonly dim: number;
  readonly numHeads: number;
  in_proj_weight: Variable;
  in_proj_bias: Variable;
  out_proj: Linear;
  constructor(dim: number, numHeads: number, generator: Generator = defaultGenerator) {
    super();
    if (!Number.isInteger(dim) || !Number.isInteger(numHeads) || numHeads < 1 || dim % numHeads) {
      throw new ShapeError('ClipAttention', `width (${dim}) must be a positive multiple of heads (${numHeads})`);
    }
    this.dim = dim;
    this.numHeads = numHeads;
    this.in_proj_weight = new Variable(new Float32Array(3 * dim * dim), [3 * dim, dim]);
    this.in_proj_bias = new Variable(new Float32Array(3 * dim), [3 * dim]);
    this.out_proj = new Linear(dim, dim, { generator });
    normal_(this.in_proj_weight, 0, dim ** -0.5, generator);
  }
  /** x [B, N, W]; attnMask bool [N, N] (true = masked) or none. */
  forward(x: Tensor, attnMask: Tensor | null = null): Tensor {
    if (x.rank !== 3 || x.shape[2] !== this.dim) throw new ShapeError('ClipAttention', `input must be [B, N, ${this.dim}], got ${fmtShape(x.shape)}`);
    const [B, N] = x.shape as [number, number, number];
    const H = this.numHeads, hd = this.dim / H;
    const heads = linear(x, this.in_proj_weight, this.in_proj_bias).reshape([B, N, 3, H, hd]).permute(2, 0, 3, 1, 4);
    const [q, k, v] = [0, 1, 2].map((i) => select(heads, 0, i)) as [Tensor, Tensor, Tensor];
    const o = scaledDotProductAttention(q, k, v, { bias: attnMask ? attentionBias(B, H, N, N, { attnMask }) : null });
    return this.out_proj.forward(o.permute(0, 2, 1, 3).reshape([B, N, this.dim]));
  }
}

/** OpenAI's MLP: c_fc (W -> 4W), activation, c_proj (4W -> W). */
export class ClipMlp extends Module {
  c_fc: Linear;
  gelu: UnaryModule;
  c_proj: Linear;
  constructor(dim: number, act: ClipActivation, generator: Generator = defaultGenerator) {
    super();
    this.c_fc = new Linear(dim, 4 * dim, { generator });
    this.gelu = makeActivation(act);
    this.c_proj = new Linear(4 * dim, dim, { generator });
  }
  forward(x: Tensor): Tensor { return this.c_proj.forward(this.gelu.forward(this.c_fc.forward(x))); }
}

/** x = x + attn(ln_1(x)); x = x + mlp(ln_2(x)). */
export class ResidualAttentionBlock extends Module {
  ln_1: LayerNorm;
  attn: ClipAttention;
  ln_2: LayerNorm;
  mlp: ClipMlp;
  constructor(dim: number, heads: number, opts: { act: ClipActivation; eps: number; generator?: Generator }) {
    super();
    const g = opts.generator ?? defaultGenerator;
    this.ln_1 = new LayerNorm(dim, { eps: opts.eps });
    this.attn = new ClipAttention(dim, heads, g);
    this.ln_2 = new LayerNorm(dim, { eps: opts.eps });
    this.mlp = new ClipMlp(dim, opts.act, g);
  }
  forward(x: Tensor, attnMask: Tensor | null = null): Tensor {
    const h = x.add(this.attn.forward(this.ln_1.forward(x), attnMask));
    return h.add(this.mlp.forward(this.ln_2.forward(h)));
  }
}

/** `transformer.resblocks.N` (the blocks of one tower). */
export class ClipTransformer extends Module {
  readonly width: number;
  resblocks: ResidualAttentionBlock[];
  constructor(width: number, layers: number, heads: number, opts: { act: ClipActivation; eps: number; generator?: Generator }) {
    super();
    if (!Number.isInteger(layers) || layers < 1) throw new ShapeError('ClipTransformer', `layers must be a positive integer, got ${layers}`);
    this.width = width;
    this.resblocks = Array.from({ length: layers }, () => new ResidualAttentionBlock(width, heads, opts));
  }
  forward(x: Tensor, attnMask: Tensor | null = null): Tensor {
    let h = x;
    for (const b of this.resblocks) h = b.forward(h, attnMask);
    return h;
  }
}

function checkPositive(op: string, fields: Record<string, number>): void {
  for (const [k, v] of Object.entries(fields)) if (!Number.isInteger(v) || v < 1) throw new ShapeError(op, `${k} must be a positive integer, got ${v}`);
}

/** The image tower of a CLIP ViT. */
export class ClipVisionTransformer extends Module {
  readonly config: ClipVisionConfig;
  conv1: Conv2d;
  class_embedding: Variable;
  positional_embedding: Variable;
  ln_pre: LayerNorm;
  transformer: ClipTransformer;
  ln_post: LayerNorm;
  proj: Variable;

  constructor(config: ClipVisionConfig, embedDim: number, opts: { act: ClipActivation; eps: number; generator?: Generator }) {
    super();
    const { imageSize, patchSize, width, layers, heads } = config;
    checkPositive('ClipVisionTransformer', { imageSize, patchSize, width, layers, heads, embedDim });
    if (imageSize % patchSize) throw new ShapeError('ClipVisionTransformer', `image size ${imageSize} is not divisible by the patch size ${patchSize}`);
    this.config = { ...config };
    const g = opts.generator ?? defaultGenerator;
    const n = (imageSize / patchSize) ** 2 + 1;
    this.conv1 = new Conv2d(config.inChannels ?? 3, width, patchSize, { stride: patchSize, bias: false, generator: g });
    this.class_embedding = new Variable(new Float32Array(width), [width]);
    this.positional_embedding = new Variable(new Float32Array(n * width), [n, width]);
    this.ln_pre = new LayerNorm(width, { eps: opts.eps });
    this.transformer = new ClipTransformer(width, layers, heads, { ...opts, generator: g });
    this.ln_post = new LayerNorm(width, { eps: opts.eps });
    this.proj = new Variable(new Float32Array(width * embedDim), [width, embedDim]);
    const scale = width ** -0.5; // OpenAI: scale * randn for class / positional embeddings and proj
    for (const v of [this.class_embedding, this.positional_embedding, this.proj]) normal_(v, 0, scale, g);
  }

  /** images [B, C, H, W] -> all tokens after the last block [B, 1 + N, W] (before ln_post). */
  forwardTokens(images: Tensor): Tensor {
    const op = 'ClipVisionTransformer';
    if (images.rank !== 4 || images.shape[1] !== this.conv1.inChannels) throw new ShapeError(op, `expected images [B, ${this.conv1.inChannels}, H, W], got ${fmtShape(images.shape)}`);
    const x = this.conv1.forward(images).flatten(2).transpose(1, 2); // [B, N, W]
    const [B, N, W] = x.shape as [number, number, number];
    if (N + 1 !== this.positional_embedding.shape[0]) {
      throw new ShapeError(op, `images ${fmtShape(images.shape)} give ${N} patches + class token, the positional embedding has ${this.positional_embedding.shape[0]} rows (image size ${this.config.imageSize})`);
    }
    const tokens = cat([this.class_embedding.reshape([1, 1, W]).expand([B, 1, W]), x], 1).add(this.positional_embedding);
    return this.transformer.forward(this.ln_pre.forward(tokens));
  }

  /** images [B, C, H, W] -> image embeddings [B, E] = ln_post(x[:, 0]) @ proj (not normalised). */
  forward(images: Tensor): Tensor {
    return this.ln_post.forward(select(this.forwardTokens(images), 1, 0)).matmul(this.proj);
  }
}

/** Causal mask [L, L], true above the diagonal (a token never attends to later tokens). */
function causalMask(L: number): Tensor {
  const m = new Uint8Array(L * L);
  for (let i = 0; i < L; i++) for (let j = i + 1; j < L; j++) m[i * L + j] = 1;
  return constant(m, [L, L]);
}

export class CLIP extends Module {
  readonly config: ClipConfig;
  visual: ClipVisionTransformer;
  transformer: ClipTransformer;
  token_embedding: Embedding;
  positional_embedding: Variable;
  ln_final: LayerNorm;
  text_projection: Variable;
  logit_scale: Variable;

  constructor(config: ClipConfig = CLIP_VIT_B16, opts: { generator?: Generator } = {}) {
    super();
    const { text, act, eps } = config;
    if (act !== 'quick_gelu' && act !== 'gelu') throw new ShapeError('CLIP', `act must be 'quick_gelu' or 'gelu', got '${String(act)}'`);
    checkPositive('CLIP text tower', { contextLength: text.contextLength, vocabSize: text.vocabSize, width: text.width, layers: text.layers, heads: text.heads });
    this.config = { ...config, vision: { ...config.vision }, text: { ...text } };
    const g = opts.generator ?? defaultGenerator;
    this.visual = new ClipVisionTransformer(config.vision, config.embedDim, { act, eps, generator: g });
    this.transformer = new ClipTransformer(text.width, text.layers, text.heads, { act, eps, generator: g });
    this.token_embedding = new Embedding(text.vocabSize, text.width, { generator: g });
    normal_(this.token_embedding.weight, 0, 0.02, g);
    this.positional_embedding = new Variable(new Float32Array(text.contextLength * text.width), [text.contextLength, text.width]);
    normal_(this.positional_embedding, 0, 0.01, g);
    this.ln_final = new LayerNorm(text.width, { eps });
    this.text_projection = new Variable(new Float32Array(text.width * config.embedDim), [text.width, config.embedDim]);
    normal_(this.text_projection, 0, text.width ** -0.5, g);
    this.logit_scale = new Variable(Float32Array.of(Math.log(1 / 0.07)), []);
  }

  encodeImage(images: Tensor): Tensor { return this.visual.forward(images); }

  /** token ids int64 [B, L] (L <= context length) -> text embeddings [B, E] (not normalised). */
  encodeText(ids: Tensor): Tensor {
    const op = 'CLIP.encodeText';
    const L = this.config.text.contextLength;
    if (ids.dtype !== 'int64' || ids.rank !== 2 || ids.shape[1]! > L) throw new ShapeError(op, `token ids must be int64 [B, L] with L <= ${L}, got ${ids.dtype} ${fmtShape(ids.shape)}`);
    const [B, n] = ids.shape as [number, number];
    const W = this.config.text.width;
    const pos = n === L ? this.positional_embedding : narrow(this.positional_embedding, 0, 0, n);
    let x = this.token_embedding.forward(ids).add(pos);
    x = this.ln_final.forward(this.transformer.forward(x, causalMask(n)));
    // Pool at the EOT token: the argmax of the ids (first maximum), or the first position holding eosTokenId.
    const eos = this.config.eosTokenId;
    const key = eos === null || eos === undefined ? ids.cast('float32') : ids.eq(eos).cast('float32');
    const at = key.argmax(-1, true).reshape([B, 1, 1]).expand([B, 1, W]);
    return gather(x, 1, at).reshape([B, W]).matmul(this.text_projection);
  }

  /** Similarity logits: logitsPerImage [Bi, Bt] = exp(logit_scale) · norm(img) @ norm(txt)ᵀ, logitsPerText its transpose. */
  forward(images: Tensor, ids: Tensor): { logitsPerImage: Tensor; logitsPerText: Tensor; imageEmbeds: Tensor; textEmbeds: Tensor } {
    const img = this.encodeImage(images), txt = this.encodeText(ids);
    const imageEmbeds = normalize(img), textEmbeds = normalize(txt);
    const logitsPerImage = imageEmbeds.matmul(textEmbeds.mT).mul(this.logit_scale.exp());
    return { logitsPerImage, logitsPerText: logitsPerImage.mT, imageEmbeds, textEmbeds };
  }
}

/** x / ||x||₂ over the last axis. */
export function normalize(x: Tensor): Tensor {
  return x.div(x.mul(x).sum(-1, true).sqrt());
}
