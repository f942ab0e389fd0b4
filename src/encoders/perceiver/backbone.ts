// Perceiver IO as a drop-in shared backbone for the Data2Seq tokenizers: tokens [B, M, C] of any modality ->
// a token sequence for any head, with the same `encode(seq) -> TokenSequence` contract as the Meta-Transformer
// encoder. Cost is linear in M (one cross-attention of N latents over the M tokens, then self-attention over the
// N latents only), so long inputs (high-resolution images, long audio, big point clouds) stay affordable.
//
// Output modes:
//   'latents' (pooled heads): the processed latents [B, N, D] are the output token sequence (no padding mask;
//             pooling over latents replaces pooling over input tokens).
//   'inputs'  (heads that need the input token structure: forecasting reads one token per time step, the graph
//             head reads token 0): a Perceiver IO decoder whose queries are the input tokens themselves
//             (flow-decoder style, with a query residual) cross-attends to the latents and projects to D, giving
//             [B, M, D] aligned with the input tokens and carrying their padding mask. Still linear in M.
//
// Positions: the Perceiver is permutation-invariant over its inputs, so position information must be in the
// tokens. Every Data2Seq tokenizer already adds its positional embedding (image/video/audio patch positions,
// text positions, point-cloud group-centre embeddings, time steps), so nothing is added here. A sequence's
// `perBlockPos` (point clouds, re-added before every Meta-Transformer block) is added once to the tokens before
// the cross-attention, as the latents carry no positions of their own. Padded tokens (paddingMask) are never
// attended by the latents.
//
// State-dict names: the wrapped HF-layout `PerceiverModel` lives under `perceiver.` (as in HF task models), so
// inside an OmniModel the keys are `encoder.perceiver.embeddings.latents`, `encoder.perceiver.encoder.*`, ...
import { ShapeError, fmtShape } from '../../engine/errors.js';
import { defaultGenerator, type Generator } from '../../engine/functional/random.js';
import { Tensor } from '../../engine/tensor.js';
import type { TokenSequence } from '../../data2seq/types.js';
import { Module } from '../../nn/module.js';
import { PerceiverBasicDecoder, PerceiverModel, resolvePerceiverConfig, type PerceiverConfig } from './model.js';

export interface PerceiverBackboneConfig {
  /** Token width C of the tokenizer (the cross-attention key/value width). */
  inputDim: number;
  /** N latents. */
  numLatents: number;
  /** D: latent width = the width of the output tokens (and of the head's input). */
  latentDim: number;
  /** Distinct latent self-attention layers in the block. */
  depth: number;
  /** Repeats of the self-attention block with shared weights (total depth x numBlocks applications). */
  numBlocks: number;
  selfHeads: number;
  crossHeads: number;
  /** MLP widening of the latent self-attention layers and of the cross-attention (over D). */
  selfWidening: number;
  crossWidening: number;
  /** Q/K width of the encoder attentions (null: the spec defaults: cross = C, self = D). */
  qkChannels: number | null;
  /** 'latents' for pooled heads, 'inputs' to decode one output per input token (see the file comment). */
  output: 'latents' | 'inputs';
  /** Attention-probability dropout in train mode. */
  dropout: number;
}

/**
 * Defaults (`--backbone perceiver-io`): 64 latents x 256, 4 self-attention layers (8 heads, MLP x4), one
 * cross-attention (1 head, MLP x1), tokens of width 128. About 3.5M parameters: small enough to train on a CPU,
 * and the 64 x 256 latent array is 16k values whatever the input length.
 */
export const PERCEIVER_BACKBONE_DEFAULTS: PerceiverBackboneConfig = {
  inputDim: 128, numLatents: 64, latentDim: 256, depth: 4, numBlocks: 1, selfHeads: 8, crossHeads: 1,
  selfWidening: 4, crossWidening: 1, qkChannels: null, output: 'latents', dropout: 0,
};

const KEYS = Object.keys(PERCEIVER_BACKBONE_DEFAULTS) as (keyof PerceiverBackboneConfig)[];

/** Fill the defaults and validate (errors name the field). */
export function resolvePerceiverBackboneConfig(partial: Partial<PerceiverBackboneConfig> = {}): PerceiverBackboneConfig {
  for (const k of Object.keys(partial)) if (!KEYS.includes(k as keyof PerceiverBackboneConfig)) throw new ShapeError('PerceiverBackbone', `unknown option '${k}' (valid: ${KEYS.join(', ')})`);
  const c = { ...PERCEIVER_BACKBONE_DEFAULTS } as PerceiverBackboneConfig;
  for (const [k, v] of Object.entries(partial)) if (v !== undefined) (c as unknown as Record<string, unknown>)[k] = v;
  for (const k of ['inputDim', 'numLatents', 'latentDim', 'depth', 'numBlocks', 'selfHeads', 'crossHeads', 'selfWidening', 'crossWidening'] as const) {
    if (!Number.isInteger(c[k]) || c[k] < 1) throw new ShapeError('PerceiverBackbone', `${k} must be a positive integer, got ${String(c[k])}`);
  }
  if (c.output !== 'latents' && c.output !== 'inputs') throw new ShapeError('PerceiverBackbone', `output must be 'latents' or 'inputs', got '${String(c.output)}'`);
  if (c.qkChannels !== null && (!Number.isInteger(c.qkChannels) || c.qkChannels < 1)) throw new ShapeError('PerceiverBackbone', `qkChannels must be a positive integer or null, got ${String(c.qkChannels)}`);
  backboneToPerceiverConfig(c); // head divisibility, dropout range
  return c;
}

/** The core `PerceiverConfig` of a backbone config. */
export function backboneToPerceiverConfig(c: PerceiverBackboneConfig): PerceiverConfig {
  return resolvePerceiverConfig({
    numLatents: c.numLatents, dLatents: c.latentDim, dModel: c.inputDim, numBlocks: c.numBlocks, numSelfAttendsPerBlock: c.depth,
    numSelfAttentionHeads: c.selfHeads, numCrossAttentionHeads: c.crossHeads, qkChannels: c.qkChannels,
    selfAttentionWideningFactor: c.selfWidening, crossAttentionWideningFactor: c.crossWidening, attentionProbsDropoutProb: c.dropout,
    initScheme: 'dm', // trained from scratch: haiku fan-in init (see PerceiverConfig.initScheme)
  });
}

export class PerceiverBackbone extends Module {
  readonly config: PerceiverBackboneConfig;
  perceiver: PerceiverModel;

  constructor(config: Partial<PerceiverBackboneConfig> = {}, opts: { generator?: Generator } = {}) {
    super();
    const c = resolvePerceiverBackboneConfig(config);
    const g = opts.generator ?? defaultGenerator;
    this.config = c;
    const pc = backboneToPerceiverConfig(c);
    const decoder = c.output === 'inputs'
      ? new PerceiverBasicDecoder(pc, { positionEncodingType: 'none', numChannels: c.inputDim, outputNumChannels: c.latentDim, numHeads: c.crossHeads, useQueryResidual: true, finalProject: true, generator: g })
      : null;
    this.perceiver = new PerceiverModel(pc, { decoder, generator: g });
  }

  /** Token width the tokenizer must produce. */
  get inputDim(): number { return this.config.inputDim; }
  /** Width of the output tokens (what heads take). */
  get dim(): number { return this.config.latentDim; }

  /** tokens [B, M, C] (+ paddingMask, perBlockPos) -> [B, N, D] latents ('latents') or [B, M, D] ('inputs'). */
  forward(seq: TokenSequence | Tensor): Tensor { return this.encode(seq).tokens; }

  encode(seq: TokenSequence | Tensor): TokenSequence {
    const s: TokenSequence = seq instanceof Tensor ? { tokens: seq } : seq;
    let x = s.tokens;
    if (!(x instanceof Tensor) || x.rank !== 3 || x.dtype !== 'float32' || x.shape[2] !== this.inputDim) {
      throw new ShapeError('PerceiverBackbone', `tokens must be float32 [B, M, ${this.inputDim}], got ${x instanceof Tensor ? `${x.dtype} ${fmtShape(x.shape)}` : String(x)}`);
    }
    if (s.perBlockPos) {
      if (s.perBlockPos.rank !== 3 || s.perBlockPos.shape.some((d, i) => d !== x.shape[i])) throw new ShapeError('PerceiverBackbone', `perBlockPos ${fmtShape(s.perBlockPos.shape)} must match the tokens ${fmtShape(x.shape)}`);
      x = x.add(s.perBlockPos);
    }
    const mask = s.paddingMask ?? null;
    const z = this.perceiver.encode(x, { paddingMask: mask });
    if (this.config.output === 'latents') return { tokens: z, paddingMask: null };
    const dec = this.perceiver.decoder as PerceiverBasicDecoder;
    return { tokens: dec.forward(x, z), paddingMask: mask };
  }
}
