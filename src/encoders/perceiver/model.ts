// Perceiver IO (Jaegle et al., ICLR 2022; spec PART A): encode an input array [B, M, C] into a learned latent
// array [B, N, D] with one cross-attention, process it with latent self-attention blocks (weights shared across
// `numBlocks` repeats), decode with a cross-attention from output queries [B, O, E]. Cost is linear in M and O.
//
// Module and parameter names follow Hugging Face's `PerceiverModel` state dict (spec A11), so HF checkpoints load
// by name: `embeddings.latents`, `encoder.cross_attention.attention.self.{layernorm1,layernorm2,query,key,value}`,
// `encoder.cross_attention.attention.output.dense`, `encoder.cross_attention.{layernorm,mlp.dense1,mlp.dense2}`,
// `encoder.self_attends.{i}.*`, `decoder.decoding_cross_attention.*`, `decoder.output_position_encodings.*`,
// `decoder.final_layer`, and under the classification/multimodal wrappers `decoder.decoder.*`.
//
// Numerics (spec A2/A3/A12): pre-LN with eps 1e-5 (HF ignores its `layer_norm_eps`), two LayerNorms in a
// cross-attention (query side and key/value side), one in self-attention; scores scaled by 1/sqrt(qk/heads);
// GELU exact (HF) or tanh (DM, `hiddenAct: 'gelu_tanh'`); attention-probability dropout only in train mode.
import { ShapeError, fmtShape } from '../../engine/errors.js';
import { cat, select } from '../../engine/functional/indexing.js';
import { defaultGenerator, dropout, type Generator } from '../../engine/functional/random.js';
import { Tensor, Variable, where } from '../../engine/tensor.js';
import { makeActivation, type UnaryModule } from '../../nn/activation.js';
import { MASK_VALUE } from '../../nn/attention.js';
import { Identity } from '../../nn/container.js';
import { normal_, ones_, truncNormal_, zeros_ } from '../../nn/init.js';
import { Linear } from '../../nn/linear.js';
import { Module } from '../../nn/module.js';
import { LayerNorm } from '../../nn/norm.js';
import { FourierPositionEncoding, TrainablePositionEncoding, subsampledPositions, type FourierFeatureOptions } from './position.js';

// ---- configuration ----

/** Mirrors HF `PerceiverConfig` (camelCase); `resolvePerceiverConfig` fills the defaults. */
export interface PerceiverConfig {
  /** N: number of latents. */
  numLatents: number;
  /** D: latent width. */
  dLatents: number;
  /** C: width of the (preprocessed) inputs, the key/value width of the encoder cross-attention. */
  dModel: number;
  /** Repeats of the self-attention block (weights shared across repeats). */
  numBlocks: number;
  /** Distinct self-attention layers in the block. */
  numSelfAttendsPerBlock: number;
  numSelfAttentionHeads: number;
  numCrossAttentionHeads: number;
  /** Q/K width of every encoder attention; default: cross 'kv' rule (C) or query width (self, D). */
  qkChannels: number | null;
  /** V width; default qkChannels. Must equal D (or be null) in self-attention since its output width is v. */
  vChannels: number | null;
  /** Which side sets the cross-attention qk width when qkChannels is null: 'kv' (C, the default) or 'q' (D). */
  crossAttentionShapeForAttention: 'kv' | 'q';
  selfAttentionWideningFactor: number;
  crossAttentionWideningFactor: number;
  /** Residual to the latents in the encoder cross-attention (true in every released config). */
  useQueryResidual: boolean;
  /** Attention-probability dropout in train mode (HF config 0.1; DM released configs 0). */
  attentionProbsDropoutProb: number;
  /** 'gelu' = exact erf (HF weights), 'gelu_tanh' = tanh approximation (DM/haiku weights). */
  hiddenAct: 'gelu' | 'gelu_tanh';
  /** LayerNorm epsilon: 1e-5 in both references. */
  layerNormEps: number;
  /** Std of the normal(0, std) init of latents, position embeddings and (scheme 'hf') linears (HF initializer_range). */
  initializerRange: number;
  /**
   * Linear init: 'hf' = normal(0, initializerRange) (HF; fine when weights are loaded), 'dm' = haiku's default
   * VarianceScaling(1, fan_in, truncated normal): std 1/sqrt(fan_in), what the original models were trained from.
   * Training from scratch at small widths needs 'dm': with 'hf' the attention starts uniform and the latents
   * nearly input-independent, and small runs stall at chance.
   */
  initScheme: 'hf' | 'dm';
  /** Byte vocabulary and text positions (used by the text preprocessor / MLM, not by the core). */
  vocabSize: number;
  maxPositionEmbeddings: number;
}

/** HF `PerceiverConfig()` defaults (= deepmind/language-perceiver), except dropout 0 (DM). */
export const PERCEIVER_DEFAULTS: PerceiverConfig = {
  numLatents: 256, dLatents: 1280, dModel: 768, numBlocks: 1, numSelfAttendsPerBlock: 26,
  numSelfAttentionHeads: 8, numCrossAttentionHeads: 8, qkChannels: null, vChannels: null,
  crossAttentionShapeForAttention: 'kv', selfAttentionWideningFactor: 1, crossAttentionWideningFactor: 1,
  useQueryResidual: true, attentionProbsDropoutProb: 0, hiddenAct: 'gelu', layerNormEps: 1e-5, initializerRange: 0.02, initScheme: 'hf',
  vocabSize: 262, maxPositionEmbeddings: 2048,
};

const posInt = (v: unknown): boolean => Number.isInteger(v) && (v as number) > 0;

export function resolvePerceiverConfig(partial: Partial<PerceiverConfig> = {}): PerceiverConfig {
  const c: PerceiverConfig = { ...PERCEIVER_DEFAULTS };
  for (const [k, v] of Object.entries(partial)) if (v !== undefined) (c as unknown as Record<string, unknown>)[k] = v;
  for (const k of ['numLatents', 'dLatents', 'dModel', 'numBlocks', 'numSelfAttendsPerBlock', 'numSelfAttentionHeads', 'numCrossAttentionHeads', 'selfAttentionWideningFactor', 'crossAttentionWideningFactor'] as const) {
    if (!posInt(c[k])) throw new ShapeError('PerceiverConfig', `${k} must be a positive integer, got ${String(c[k])}`);
  }
  for (const k of ['qkChannels', 'vChannels'] as const) if (c[k] !== null && !posInt(c[k])) throw new ShapeError('PerceiverConfig', `${k} must be a positive integer or null, got ${String(c[k])}`);
  if (c.crossAttentionShapeForAttention !== 'kv' && c.crossAttentionShapeForAttention !== 'q') throw new ShapeError('PerceiverConfig', `crossAttentionShapeForAttention must be 'kv' or 'q', got '${String(c.crossAttentionShapeForAttention)}'`);
  if (c.initScheme !== 'hf' && c.initScheme !== 'dm') throw new ShapeError('PerceiverConfig', `initScheme must be 'hf' or 'dm', got '${String(c.initScheme)}'`);
  if (c.hiddenAct !== 'gelu' && c.hiddenAct !== 'gelu_tanh') throw new ShapeError('PerceiverConfig', `hiddenAct must be 'gelu' or 'gelu_tanh', got '${String(c.hiddenAct)}'`);
  if (!(c.attentionProbsDropoutProb >= 0 && c.attentionProbsDropoutProb < 1)) throw new ShapeError('PerceiverConfig', `attentionProbsDropoutProb must be in [0, 1), got ${c.attentionProbsDropoutProb}`);
  // Spec A2.5: the encoder needs D divisible by both head counts.
  if (c.dLatents % c.numSelfAttentionHeads) throw new ShapeError('PerceiverConfig', `dLatents (${c.dLatents}) must be divisible by numSelfAttentionHeads (${c.numSelfAttentionHeads})`);
  if (c.dLatents % c.numCrossAttentionHeads) throw new ShapeError('PerceiverConfig', `dLatents (${c.dLatents}) must be divisible by numCrossAttentionHeads (${c.numCrossAttentionHeads})`);
  return c;
}

/** haiku's truncated-normal correction: the std of a unit normal truncated to ±2. */
const TRUNC_STD = 0.87962566103423978;

/**
 * Init a subtree: LayerNorm 1/0, Linear bias 0, Linear weight normal(0, std) ('hf') or haiku VarianceScaling(1,
 * fan_in, truncated normal) ('dm': std 1/sqrt(fan_in), truncated at 2 std).
 */
function initWeights(m: Module, scheme: 'hf' | 'dm', std: number, g: Generator): void {
  for (const [, s] of m.namedModules()) {
    if (s instanceof Linear) {
      if (scheme === 'hf') normal_(s.weight, 0, std, g);
      else { const sd = 1 / Math.sqrt(s.inFeatures) / TRUNC_STD; truncNormal_(s.weight, sd, { a: -2 * sd, b: 2 * sd, generator: g }); }
      if (s.bias) zeros_(s.bias);
    } else if (s instanceof LayerNorm) { if (s.weight) ones_(s.weight); if (s.bias) zeros_(s.bias); }
  }
}

// ---- attention ----

export interface PerceiverAttentionOptions {
  isCrossAttention: boolean;
  /** Query input width Cq. */
  qDim: number;
  /** Key/value input width Ckv (self-attention: Cq). */
  kvDim?: number;
  qkChannels?: number | null;
  vChannels?: number | null;
  numHeads?: number;
  useQueryResidual?: boolean;
  /** Cross-attention only: qk width when qkChannels is null ('kv' default). */
  shapeForAttention?: 'kv' | 'q';
  dropout?: number;
  eps?: number;
  generator?: Generator;
}

/**
 * The attention core (HF `PerceiverSelfAttention`): LayerNorms on the query input (`layernorm1`) and, in a
 * cross-attention, on the key/value input (`layernorm2`; Identity in self-attention), then q/k/v projections,
 * per-head softmax(q kᵀ / sqrt(qk/h)) v, heads concatenated -> [B, Nq, v].
 */
export class PerceiverSelfAttention extends Module {
  readonly numHeads: number;
  readonly qkChannels: number;
  readonly vChannels: number;
  readonly isCrossAttention: boolean;
  readonly dropoutP: number;
  layernorm1: LayerNorm;
  layernorm2: LayerNorm | Identity;
  query: Linear;
  key: Linear;
  value: Linear;
  private _generator: Generator;

  constructor(o: { isCrossAttention: boolean; qDim: number; kvDim: number; qkChannels: number; vChannels: number; numHeads: number; dropout: number; eps: number; generator: Generator }) {
    super();
    if (o.qkChannels % o.numHeads) throw new ShapeError('PerceiverSelfAttention', `qk_channels (${o.qkChannels}) must be divisible by num_heads (${o.numHeads})`);
    if (o.vChannels % o.numHeads) throw new ShapeError('PerceiverSelfAttention', `v_channels (${o.vChannels}) must be divisible by num_heads (${o.numHeads})`);
    this.numHeads = o.numHeads;
    this.qkChannels = o.qkChannels;
    this.vChannels = o.vChannels;
    this.isCrossAttention = o.isCrossAttention;
    this.dropoutP = o.dropout;
    this._generator = o.generator;
    const g = o.generator;
    this.layernorm1 = new LayerNorm(o.qDim, { eps: o.eps });
    this.layernorm2 = o.isCrossAttention ? new LayerNorm(o.kvDim, { eps: o.eps }) : new Identity();
    this.query = new Linear(o.qDim, o.qkChannels, { generator: g });
    this.key = new Linear(o.kvDim, o.qkChannels, { generator: g });
    this.value = new Linear(o.kvDim, o.vChannels, { generator: g });
  }

  /** x [B, Nq, Cq]; inputs [B, Nkv, Ckv] (cross-attention only); bias additive, broadcastable to [B, H, Nq, Nkv]. */
  forward(x: Tensor, inputs: Tensor | null, bias: Tensor | null): Tensor {
    const [B, Nq] = x.shape as [number, number, number];
    const H = this.numHeads, dqk = this.qkChannels / H, dv = this.vChannels / H;
    const xq = this.layernorm1.forward(x);
    let kvIn: Tensor;
    if (this.isCrossAttention) {
      if (!inputs) throw new ShapeError('PerceiverSelfAttention', 'a cross-attention needs key/value inputs');
      kvIn = (this.layernorm2 as LayerNorm).forward(inputs);
    } else {
      if (inputs) throw new ShapeError('PerceiverSelfAttention', 'key/value inputs given to a self-attention');
      kvIn = xq;
    }
    const Nk = kvIn.shape[1]!;
    // The 1/sqrt(dqk) scale goes on q (Nq·qk values) rather than the Nq·Nk scores.
    const q = this.query.forward(xq).reshape([B, Nq, H, dqk]).permute(0, 2, 1, 3).mul(1 / Math.sqrt(dqk));
    const kT = this.key.forward(kvIn).reshape([B, Nk, H, dqk]).permute(0, 2, 3, 1);
    const v = this.value.forward(kvIn).reshape([B, Nk, H, dv]).permute(0, 2, 1, 3);
    let scores = q.matmul(kT);
    if (bias) scores = scores.add(bias);
    const probs = dropout(scores.softmax(-1), this.dropoutP, this.training, this._generator);
    return probs.matmul(v).permute(0, 2, 1, 3).reshape([B, Nq, this.vChannels]);
  }
}

/** HF `PerceiverSelfOutput`: the output projection `dense` (v -> output channels). */
export class PerceiverSelfOutput extends Module {
  dense: Linear;
  constructor(inChannels: number, outChannels: number, g: Generator) {
    super();
    this.dense = new Linear(inChannels, outChannels, { generator: g });
  }
  forward(x: Tensor): Tensor { return this.dense.forward(x); }
}

/**
 * HF `PerceiverAttention`: `self` (norms, projections, attention) + `output.dense`, with an optional residual
 * to the (un-normalised) query input. Channel rules (spec A2): cross-attention qk defaults by
 * `shapeForAttention` ('kv' -> Ckv, 'q' -> Cq); otherwise qk defaults to Cq; v defaults to qk; output width is
 * Cq for a cross-attention, v for a self-attention.
 */
export class PerceiverAttention extends Module {
  readonly useQueryResidual: boolean;
  readonly outputChannels: number;
  self: PerceiverSelfAttention;
  output: PerceiverSelfOutput;

  constructor(o: PerceiverAttentionOptions) {
    super();
    const g = o.generator ?? defaultGenerator;
    const kvDim = o.kvDim ?? o.qDim;
    let qk = o.qkChannels ?? null;
    if (qk === null) qk = o.isCrossAttention && (o.shapeForAttention ?? 'kv') === 'kv' ? kvDim : o.qDim;
    const v = o.vChannels ?? qk;
    const numHeads = o.numHeads ?? 1;
    this.self = new PerceiverSelfAttention({ isCrossAttention: o.isCrossAttention, qDim: o.qDim, kvDim, qkChannels: qk, vChannels: v, numHeads, dropout: o.dropout ?? 0, eps: o.eps ?? 1e-5, generator: g });
    this.outputChannels = o.isCrossAttention ? o.qDim : v;
    this.output = new PerceiverSelfOutput(v, this.outputChannels, g);
    this.useQueryResidual = o.useQueryResidual ?? true;
    if (this.useQueryResidual && this.outputChannels !== o.qDim) {
      throw new ShapeError('PerceiverAttention', `a self-attention with a query residual needs v_channels (${v}) = the query width (${o.qDim})`);
    }
  }

  forward(x: Tensor, inputs: Tensor | null, bias: Tensor | null): Tensor {
    const a = this.output.forward(this.self.forward(x, inputs, bias));
    return this.useQueryResidual ? a.add(x) : a;
  }
}

/** HF `PerceiverMLP`: dense1 (C -> wf·C), GELU, dense2 (wf·C -> C). */
export class PerceiverMLP extends Module {
  dense1: Linear;
  act: UnaryModule;
  dense2: Linear;
  constructor(inputSize: number, wideningFactor: number, act: 'gelu' | 'gelu_tanh', g: Generator) {
    super();
    this.dense1 = new Linear(inputSize, wideningFactor * inputSize, { generator: g });
    this.act = makeActivation(act);
    this.dense2 = new Linear(wideningFactor * inputSize, inputSize, { generator: g });
  }
  forward(x: Tensor): Tensor { return this.dense2.forward(this.act.forward(this.dense1.forward(x))); }
}

export interface PerceiverLayerOptions extends PerceiverAttentionOptions {
  wideningFactor?: number;
  hiddenAct?: 'gelu' | 'gelu_tanh';
  /** Linear init (see PerceiverConfig.initScheme); default 'hf' with std 0.02. */
  initScheme?: 'hf' | 'dm';
  initStd?: number;
}

/**
 * HF `PerceiverLayer` (spec A3): a = attention(x[, inputs]) (with the optional query residual inside), then
 * out = a + mlp(layernorm(a)). The MLP works over the query width Cq.
 */
export class PerceiverLayer extends Module {
  readonly qDim: number;
  readonly kvDim: number;
  readonly isCrossAttention: boolean;
  attention: PerceiverAttention;
  layernorm: LayerNorm;
  mlp: PerceiverMLP;

  constructor(o: PerceiverLayerOptions) {
    super();
    const g = o.generator ?? defaultGenerator;
    for (const [k, v] of [['qDim', o.qDim], ['kvDim', o.kvDim ?? o.qDim], ['wideningFactor', o.wideningFactor ?? 1]] as const) {
      if (!posInt(v)) throw new ShapeError('PerceiverLayer', `${k} must be a positive integer, got ${String(v)}`);
    }
    this.qDim = o.qDim;
    this.kvDim = o.kvDim ?? o.qDim;
    this.isCrossAttention = o.isCrossAttention;
    this.attention = new PerceiverAttention({ ...o, generator: g });
    this.layernorm = new LayerNorm(o.qDim, { eps: o.eps ?? 1e-5 });
    this.mlp = new PerceiverMLP(o.qDim, o.wideningFactor ?? 1, o.hiddenAct ?? 'gelu', g);
    initWeights(this, o.initScheme ?? 'hf', o.initStd ?? 0.02, g);
  }

  /** x [B, Nq, Cq]; inputs [B, Nkv, Ckv] for a cross-attention; bias: additive attention bias or null. */
  forward(x: Tensor, inputs: Tensor | null = null, bias: Tensor | null = null): Tensor {
    if (x.rank !== 3 || x.shape[2] !== this.qDim) throw new ShapeError('PerceiverLayer', `query input must be [B, N, ${this.qDim}], got ${fmtShape(x.shape)}`);
    if (inputs && (inputs.rank !== 3 || inputs.shape[0] !== x.shape[0] || inputs.shape[2] !== this.kvDim)) {
      throw new ShapeError('PerceiverLayer', `key/value inputs must be [${x.shape[0]}, M, ${this.kvDim}], got ${fmtShape(inputs.shape)} (query ${fmtShape(x.shape)})`);
    }
    const a = this.attention.forward(x, inputs, bias);
    return a.add(this.mlp.forward(this.layernorm.forward(a)));
  }
}

// ---- masks ----

/**
 * The additive cross-attention bias [B, 1, 1, M] from an input mask: either `paddingMask` (bool [B, M],
 * true = padding, the project's convention) or `attentionMask` (HF convention: [B, M], 1 = attend, 0 = pad;
 * any dtype). Null when neither is given.
 */
export function inputMaskBias(B: number, M: number, masks: { paddingMask?: Tensor | null; attentionMask?: Tensor | null }): Tensor | null {
  const check = (name: string, m: Tensor): void => {
    if (m.rank !== 2 || m.shape[0] !== B || m.shape[1] !== M) throw new ShapeError('Perceiver', `${name} must be [B, M] = [${B}, ${M}], got ${m.dtype} ${fmtShape(m.shape)}`);
  };
  let pad: Tensor | null = null;
  if (masks.paddingMask) {
    check('paddingMask', masks.paddingMask);
    if (masks.paddingMask.dtype !== 'bool') throw new ShapeError('Perceiver', `paddingMask must be bool (true = padding), got ${masks.paddingMask.dtype}`);
    pad = masks.paddingMask;
  }
  if (masks.attentionMask) {
    const am = masks.attentionMask;
    check('attentionMask', am);
    const p = am.dtype === 'bool' ? am.logicalNot() : am.eq(0);
    pad = pad ? pad.logicalOr(p) : p;
  }
  return pad ? where(pad.reshape([B, 1, 1, M]), MASK_VALUE, 0) : null;
}

// ---- encoder ----

/** HF `PerceiverEmbeddings`: the learned latent array `latents` [N, D], broadcast over the batch. */
export class PerceiverEmbeddings extends Module {
  latents: Variable;
  constructor(numLatents: number, dLatents: number, opts: { std?: number; generator?: Generator } = {}) {
    super();
    this.latents = new Variable(new Float32Array(numLatents * dLatents), [numLatents, dLatents]);
    normal_(this.latents, 0, opts.std ?? 0.02, opts.generator ?? defaultGenerator);
  }
  forward(batch: number): Tensor {
    const [n, d] = this.latents.shape as [number, number];
    return this.latents.unsqueeze(0).expand([batch, n, d]);
  }
}

/**
 * HF `PerceiverEncoder`: one cross-attention (q = latents, kv = inputs of width `kvDim`) and a block of
 * `numSelfAttendsPerBlock` distinct self-attention layers applied `numBlocks` times with the same weights.
 */
export class PerceiverEncoder extends Module {
  readonly config: PerceiverConfig;
  readonly kvDim: number;
  cross_attention: PerceiverLayer;
  self_attends: PerceiverLayer[];

  constructor(config: Partial<PerceiverConfig>, kvDim?: number, opts: { generator?: Generator } = {}) {
    super();
    const c = resolvePerceiverConfig(config);
    kvDim ??= c.dModel;
    const g = opts.generator ?? defaultGenerator;
    if (!posInt(kvDim)) throw new ShapeError('PerceiverEncoder', `kvDim (input width) must be a positive integer, got ${kvDim}`);
    this.config = c;
    this.kvDim = kvDim;
    const common = { qkChannels: c.qkChannels, vChannels: c.vChannels, dropout: c.attentionProbsDropoutProb, eps: c.layerNormEps, hiddenAct: c.hiddenAct, initScheme: c.initScheme, initStd: c.initializerRange, generator: g };
    this.cross_attention = new PerceiverLayer({
      ...common, isCrossAttention: true, qDim: c.dLatents, kvDim, numHeads: c.numCrossAttentionHeads,
      wideningFactor: c.crossAttentionWideningFactor, useQueryResidual: c.useQueryResidual, shapeForAttention: c.crossAttentionShapeForAttention,
    });
    this.self_attends = Array.from({ length: c.numSelfAttendsPerBlock }, () => new PerceiverLayer({
      ...common, isCrossAttention: false, qDim: c.dLatents, kvDim: c.dLatents, numHeads: c.numSelfAttentionHeads,
      wideningFactor: c.selfAttentionWideningFactor, useQueryResidual: true,
    }));
  }

  /** Number of self-attention applications (numBlocks x numSelfAttendsPerBlock). */
  get numSelfAttentionApplications(): number { return this.config.numBlocks * this.self_attends.length; }

  /** latents [B, N, D], inputs [B, M, kvDim], inputBias (from `inputMaskBias`) -> [B, N, D]. */
  forward(latents: Tensor, inputs: Tensor, inputBias: Tensor | null = null): Tensor {
    let z = this.cross_attention.forward(latents, inputs, inputBias);
    for (let r = 0; r < this.config.numBlocks; r++) for (const layer of this.self_attends) z = layer.forward(z);
    return z;
  }
}

// ---- decoders ----

/** What a decoder's `decoderQuery` may use. */
export interface DecoderQueryContext {
  batch: number;
  /** The preprocessed inputs (for decoders whose queries are the inputs, e.g. flow). */
  inputs?: Tensor | null;
  /** Inputs before position encodings were added (concatPreprocessedInput), per modality for the multimodal decoder. */
  inputsWithoutPos?: Tensor | Record<string, Tensor> | null;
  /** Flat row-major indices of the output points to decode (subsampled decoding); per modality for multimodal. */
  subsampledPoints?: ArrayLike<number> | Record<string, ArrayLike<number> | null> | null;
  modalitySizes?: Record<string, number> | null;
}

export interface PerceiverDecoder extends Module {
  /** Channels of the queries this decoder builds. */
  readonly numQueryChannels: number;
  decoderQuery(ctx: DecoderQueryContext): Tensor;
  /** query [B, O, Cq], z [B, N, D] -> output. */
  forward(query: Tensor, z: Tensor): Tensor;
}

export interface BasicDecoderOptions {
  /** Output channels of `final_layer` (when finalProject). */
  outputNumChannels: number;
  /** How queries are built: learned, Fourier features of the output grid, or given by the caller ('none'). */
  positionEncodingType?: 'trainable' | 'fourier' | 'none';
  /** Output index dims (the query grid); required unless 'none'. */
  outputIndexDims?: number | readonly number[];
  /** Query width Cq of the cross-attention (HF `num_channels`); default: the query encoding's width. */
  numChannels?: number;
  /** Channels of the trainable query embedding (default numChannels, else 128 as HF). */
  trainableChannels?: number;
  fourier?: FourierFeatureOptions;
  /** Linear projection of the position encoding to this width (`positions_projection`). */
  projectPosDim?: number;
  qkChannels?: number | null;
  vChannels?: number | null;
  numHeads?: number;
  wideningFactor?: number;
  /** Residual to the query (default false: queries rarely live in output space). */
  useQueryResidual?: boolean;
  /** Queries = concat(inputsWithoutPos, position encoding). */
  concatPreprocessedInput?: boolean;
  /** Final Linear(Cq -> outputNumChannels) `final_layer` (default true). */
  finalProject?: boolean;
  /** Only build queries (no attention; used as a modality of the multimodal decoder). */
  positionEncodingOnly?: boolean;
  generator?: Generator;
}

/**
 * HF `PerceiverBasicDecoder` (spec A5): queries from `output_position_encodings` (+ `positions_projection`),
 * one cross-attention `decoding_cross_attention` (q = queries, kv = latents), then `final_layer`.
 */
export class PerceiverBasicDecoder extends Module implements PerceiverDecoder {
  readonly outputNumChannels: number;
  readonly positionEncodingType: 'trainable' | 'fourier' | 'none';
  readonly outputIndexDims: readonly number[] | null;
  readonly numChannels: number;
  readonly finalProject: boolean;
  readonly concatPreprocessedInput: boolean;
  readonly positionEncodingOnly: boolean;
  readonly projectPosDim: number | null;
  output_position_encodings: TrainablePositionEncoding | FourierPositionEncoding | null = null;
  positions_projection: Linear | Identity | null = null;
  decoding_cross_attention: PerceiverLayer | null = null;
  final_layer: Linear | Identity | null = null;

  constructor(partial: Partial<PerceiverConfig>, o: BasicDecoderOptions) {
    super();
    const config = resolvePerceiverConfig(partial);
    const g = o.generator ?? defaultGenerator;
    this.outputNumChannels = o.outputNumChannels;
    this.positionEncodingType = o.positionEncodingType ?? 'trainable';
    const dims = o.outputIndexDims === undefined ? null : typeof o.outputIndexDims === 'number' ? [o.outputIndexDims] : [...o.outputIndexDims];
    this.outputIndexDims = dims;
    this.finalProject = o.finalProject ?? true;
    this.concatPreprocessedInput = o.concatPreprocessedInput ?? false;
    this.positionEncodingOnly = o.positionEncodingOnly ?? false;
    this.projectPosDim = o.projectPosDim && o.projectPosDim > 0 ? o.projectPosDim : null;
    let posSize = 0;
    if (this.positionEncodingType !== 'none') {
      if (!dims || dims.some((d) => !posInt(d))) throw new ShapeError('PerceiverBasicDecoder', `outputIndexDims must be positive integers for '${this.positionEncodingType}' queries, got ${dims ? fmtShape(dims) : 'none'}`);
      if (this.positionEncodingType === 'trainable') {
        const ch = o.trainableChannels ?? o.numChannels ?? 128;
        this.output_position_encodings = new TrainablePositionEncoding(dims, ch, { std: config.initializerRange, generator: g });
        posSize = ch;
      } else if (this.positionEncodingType === 'fourier') {
        if (!o.fourier) throw new ShapeError('PerceiverBasicDecoder', "'fourier' queries need fourier options (numBands, maxResolution, ...)");
        const pe = new FourierPositionEncoding({ ...o.fourier, maxResolution: o.fourier.maxResolution ?? dims });
        this.output_position_encodings = pe;
        posSize = pe.outputSize(dims.length);
      } else {
        throw new ShapeError('PerceiverBasicDecoder', `positionEncodingType must be 'trainable', 'fourier' or 'none', got '${String(this.positionEncodingType)}'`);
      }
      if (this.projectPosDim) {
        this.positions_projection = new Linear(posSize, this.projectPosDim, { generator: g });
        initWeights(this.positions_projection, config.initScheme, config.initializerRange, g);
        posSize = this.projectPosDim;
      } else this.positions_projection = new Identity();
    }
    const natural = this.positionEncodingType === 'none' || this.concatPreprocessedInput ? undefined : posSize;
    const numChannels = o.numChannels ?? natural;
    if (numChannels === undefined) throw new ShapeError('PerceiverBasicDecoder', "numChannels (the query width) is required for 'none' queries or with concatPreprocessedInput");
    this.numChannels = numChannels;
    if (!this.positionEncodingOnly) {
      this.decoding_cross_attention = new PerceiverLayer({
        isCrossAttention: true, qDim: numChannels, kvDim: config.dLatents, qkChannels: o.qkChannels ?? null, vChannels: o.vChannels ?? null,
        numHeads: o.numHeads ?? 1, wideningFactor: o.wideningFactor ?? 1, useQueryResidual: o.useQueryResidual ?? false,
        shapeForAttention: config.crossAttentionShapeForAttention, dropout: config.attentionProbsDropoutProb, eps: config.layerNormEps,
        hiddenAct: config.hiddenAct, initScheme: config.initScheme, initStd: config.initializerRange, generator: g,
      });
      if (this.finalProject) {
        const fl = new Linear(numChannels, o.outputNumChannels, { generator: g });
        initWeights(fl, config.initScheme, config.initializerRange, g);
        this.final_layer = fl;
      } else this.final_layer = new Identity();
    }
  }

  /** HF `num_query_channels`: projectPosDim / pos-enc width (position-only), outputNumChannels (finalProject), else numChannels. */
  get numQueryChannels(): number {
    if (this.positionEncodingType === 'none') throw new ShapeError('PerceiverBasicDecoder', "a decoder with 'none' queries has no query width of its own");
    if (this.positionEncodingOnly) {
      if (this.projectPosDim) return this.projectPosDim;
      const pe = this.output_position_encodings!;
      return pe instanceof TrainablePositionEncoding ? pe.outputSize() : pe.outputSize(this.outputIndexDims!.length);
    }
    return this.finalProject ? this.outputNumChannels : this.numChannels;
  }

  /** Build the queries [B, O, Cq]; subsampledPoints select (flat indices) a subset of the output grid. */
  decoderQuery(ctx: DecoderQueryContext): Tensor {
    if (this.positionEncodingType === 'none') throw new ShapeError('PerceiverBasicDecoder', "cannot build queries when positionEncodingType is 'none' (pass them to forward)");
    const B = ctx.batch;
    const pe = this.output_position_encodings!;
    const pts = ctx.subsampledPoints;
    if (pts && !isArrayLike(pts)) throw new ShapeError('PerceiverBasicDecoder', 'subsampledPoints must be a list of flat indices (per-modality points go to the multimodal decoder)');
    let pos: Tensor;
    if (pe instanceof TrainablePositionEncoding) {
      // As HF: a trainable query table is used whole, even when points are subsampled.
      pos = pe.forward(B);
    } else {
      const dims = this.outputIndexDims!;
      pos = pts ? pe.forward(dims, B, subsampledPositions(pts, dims)) : pe.forward(dims, B);
    }
    pos = (this.positions_projection as Linear | Identity).forward(pos);
    if (this.concatPreprocessedInput) {
      const iw = ctx.inputsWithoutPos;
      if (!(iw instanceof Tensor)) throw new ShapeError('PerceiverBasicDecoder', 'concatPreprocessedInput needs inputsWithoutPos (a tensor [B, O, C])');
      pos = cat([iw, pos], -1);
    }
    return pos;
  }

  /** query [B, O, numChannels], z [B, N, D] -> [B, O, outputNumChannels] (or [B, O, numChannels] without final projection). */
  forward(query: Tensor, z: Tensor): Tensor {
    if (!this.decoding_cross_attention) throw new ShapeError('PerceiverBasicDecoder', 'this decoder only builds queries (positionEncodingOnly)');
    const out = this.decoding_cross_attention.forward(query, z);
    return (this.final_layer as Linear | Identity).forward(out);
  }
}

function isArrayLike(x: unknown): x is ArrayLike<number> {
  return Array.isArray(x) || ArrayBuffer.isView(x);
}

export interface ClassificationDecoderOptions extends Omit<BasicDecoderOptions, 'outputNumChannels' | 'outputIndexDims' | 'positionEncodingType'> {
  numLabels: number;
  positionEncodingType?: 'trainable' | 'fourier';
}

/**
 * HF `PerceiverClassificationDecoder`: a BasicDecoder (`decoder.*`) with one learned query [1, numChannels]
 * (default D) and final Linear(numChannels -> numLabels); returns [B, numLabels]. Query residual on by default
 * (ImageNet FF/conv and GLUE keep it).
 */
export class PerceiverClassificationDecoder extends Module implements PerceiverDecoder {
  readonly numLabels: number;
  decoder: PerceiverBasicDecoder;
  constructor(partial: Partial<PerceiverConfig>, o: ClassificationDecoderOptions) {
    super();
    const config = resolvePerceiverConfig(partial);
    this.numLabels = o.numLabels;
    const numChannels = o.numChannels ?? config.dLatents;
    this.decoder = new PerceiverBasicDecoder(config, {
      ...o, positionEncodingType: o.positionEncodingType ?? 'trainable', outputIndexDims: [1], outputNumChannels: o.numLabels,
      numChannels: o.positionEncodingOnly ? o.numChannels : numChannels, trainableChannels: o.trainableChannels ?? numChannels, useQueryResidual: o.useQueryResidual ?? true,
    });
  }
  get numQueryChannels(): number { return this.decoder.numQueryChannels; }
  decoderQuery(ctx: DecoderQueryContext): Tensor { return this.decoder.decoderQuery(ctx); }
  /** -> [B, numLabels] (the single query's output). */
  forward(query: Tensor, z: Tensor): Tensor { return select(this.decoder.forward(query, z), 1, 0); }
}

/**
 * HF `PerceiverOpticalFlowDecoder` (spec A5 FlowDecoder): the queries are the preprocessed inputs themselves
 * (features + positions at every pixel); a BasicDecoder (`decoder.*`, 'none' queries of width numChannels, no query
 * residual) decodes them, the output is divided by `rescaleFactor` (100) and reshaped to [B, H, W, C].
 */
export class PerceiverOpticalFlowDecoder extends Module implements PerceiverDecoder {
  readonly outputImageShape: readonly number[];
  readonly rescaleFactor: number;
  decoder: PerceiverBasicDecoder;
  constructor(config: Partial<PerceiverConfig>, o: Omit<BasicDecoderOptions, 'positionEncodingType' | 'outputNumChannels'> & { outputImageShape: readonly number[]; outputNumChannels?: number; rescaleFactor?: number; numChannels: number }) {
    super();
    this.outputImageShape = [...o.outputImageShape];
    this.rescaleFactor = o.rescaleFactor ?? 100;
    this.decoder = new PerceiverBasicDecoder(config, { ...o, positionEncodingType: 'none', outputNumChannels: o.outputNumChannels ?? 2 });
  }
  get numQueryChannels(): number { return this.decoder.numChannels; }
  decoderQuery(ctx: DecoderQueryContext): Tensor {
    if (ctx.subsampledPoints) throw new ShapeError('PerceiverOpticalFlowDecoder', 'subsampled decoding is not supported (as HF)');
    if (!(ctx.inputs instanceof Tensor)) throw new ShapeError('PerceiverOpticalFlowDecoder', 'the flow decoder queries are the preprocessed inputs; pass them as ctx.inputs');
    return ctx.inputs;
  }
  /** -> [B, ...outputImageShape, outputNumChannels]. */
  forward(query: Tensor, z: Tensor): Tensor {
    const y = this.decoder.forward(query, z).div(this.rescaleFactor);
    return y.reshape([y.shape[0]!, ...this.outputImageShape, y.shape[2]!]);
  }
}

/**
 * HF `PerceiverBasicVideoAutoencodingDecoder`: a BasicDecoder (`decoder.*`) over outputIndexDims = outputShape[1..3]
 * (T, H, W) whose output is reshaped to [...outputShape, C]. Used as the 'image' modality of the multimodal
 * autoencoder (positionEncodingOnly: it then only builds the Fourier queries).
 */
export class PerceiverBasicVideoAutoencodingDecoder extends Module implements PerceiverDecoder {
  readonly outputShape: readonly number[];
  decoder: PerceiverBasicDecoder;
  constructor(config: Partial<PerceiverConfig>, o: Omit<BasicDecoderOptions, 'outputIndexDims'> & { outputShape: readonly number[] }) {
    super();
    if (o.outputShape.length !== 4) throw new ShapeError('PerceiverBasicVideoAutoencodingDecoder', `outputShape must be [B, T, H, W], got ${fmtShape(o.outputShape)}`);
    this.outputShape = [...o.outputShape];
    this.decoder = new PerceiverBasicDecoder(config, { ...o, outputIndexDims: this.outputShape.slice(1) });
  }
  get numQueryChannels(): number { return this.decoder.numQueryChannels; }
  decoderQuery(ctx: DecoderQueryContext): Tensor { return this.decoder.decoderQuery(ctx); }
  forward(query: Tensor, z: Tensor): Tensor {
    const y = this.decoder.forward(query, z);
    return y.reshape([...this.outputShape, y.shape[2]!]);
  }
}

/** Plain-object container of named submodules (torch.nn.ModuleDict): children are fields named by key. */
export class ModuleDict<M extends Module = Module> extends Module {
  constructor(entries: Record<string, M>) {
    super();
    for (const [k, m] of Object.entries(entries)) {
      if (!/^[A-Za-z][A-Za-z0-9_-]*$/.test(k) || k in this) throw new ShapeError('ModuleDict', `invalid or reserved key '${k}'`);
      (this as unknown as Record<string, M>)[k] = m;
    }
  }
  get(key: string): M {
    const m = (this as unknown as Record<string, unknown>)[key];
    if (!(m instanceof Module)) throw new ShapeError('ModuleDict', `no entry '${key}' (have ${this.keys().join(', ')})`);
    return m as M;
  }
  keys(): string[] { return this.namedChildren().map(([k]) => k); }
}

/** Named parameters (torch.nn.ParameterDict): each key is a Variable field of this module. */
export class ParameterDict extends Module {
  constructor(entries: Record<string, Variable>) {
    super();
    for (const [k, v] of Object.entries(entries)) {
      if (!/^[A-Za-z][A-Za-z0-9_-]*$/.test(k) || k in this) throw new ShapeError('ParameterDict', `invalid or reserved key '${k}'`);
      (this as unknown as Record<string, Variable>)[k] = v;
    }
  }
  get(key: string): Variable {
    const v = (this as unknown as Record<string, unknown>)[key];
    if (!(v instanceof Variable)) throw new ShapeError('ParameterDict', `no entry '${key}'`);
    return v;
  }
  keys(): string[] { return this.namedParameters().map(([k]) => k); }
}

export interface MultimodalDecoderOptions extends Omit<BasicDecoderOptions, 'positionEncodingType' | 'outputIndexDims' | 'numChannels' | 'outputNumChannels' | 'positionEncodingOnly' | 'concatPreprocessedInput'> {
  /** Per-modality query builders (built with positionEncodingOnly: true). */
  modalities: Record<string, PerceiverDecoder>;
  /** Output points of the shared decoder (informational, as HF `num_outputs`). */
  numOutputs?: number | null;
  outputNumChannels: number;
  /** Common query width = max modality width + minPaddingSize (default 2). */
  minPaddingSize?: number;
}

/**
 * HF `PerceiverMultimodalDecoder` (spec A5): each modality's queries (`modalities.{m}`) are padded to a common
 * width with a learned per-modality vector (`padding.{m}` [1, Cq - c_m]), concatenated in sorted modality
 * order, and decoded by one shared BasicDecoder (`decoder.*`, 'none' queries).
 */
export class PerceiverMultimodalDecoder extends Module implements PerceiverDecoder {
  readonly minPaddingSize: number;
  readonly numQueryChannels: number;
  readonly order: readonly string[];
  modalities: ModuleDict<PerceiverDecoder>;
  decoder: PerceiverBasicDecoder;
  padding: ParameterDict;

  constructor(partial: Partial<PerceiverConfig>, o: MultimodalDecoderOptions) {
    super();
    const config = resolvePerceiverConfig(partial);
    const g = o.generator ?? defaultGenerator;
    const names = Object.keys(o.modalities);
    if (names.length === 0) throw new ShapeError('PerceiverMultimodalDecoder', 'expected at least one modality');
    this.order = [...names].sort();
    this.minPaddingSize = o.minPaddingSize ?? 2;
    this.modalities = new ModuleDict(o.modalities);
    const widths = Object.fromEntries(names.map((m) => [m, o.modalities[m]!.numQueryChannels]));
    this.numQueryChannels = Math.max(...Object.values(widths)) + this.minPaddingSize;
    this.decoder = new PerceiverBasicDecoder(config, {
      ...o, positionEncodingType: 'none', outputIndexDims: [o.numOutputs ?? 1], outputNumChannels: o.outputNumChannels, numChannels: this.numQueryChannels, generator: g,
    });
    const pads: Record<string, Variable> = {};
    for (const m of names) {
      const w = this.numQueryChannels - widths[m]!;
      pads[m] = normal_(new Variable(new Float32Array(w), [1, w]), 0, config.initializerRange, g);
    }
    this.padding = new ParameterDict(pads);
  }

  /** Queries [B, ΣO_m, Cq]: each modality's queries padded by its learned vector, in sorted modality order. */
  decoderQuery(ctx: DecoderQueryContext): Tensor {
    const B = ctx.batch;
    const pts = ctx.subsampledPoints && !isArrayLike(ctx.subsampledPoints) ? ctx.subsampledPoints : {};
    const iw = ctx.inputsWithoutPos instanceof Tensor ? null : ctx.inputsWithoutPos ?? null;
    const parts = this.order.map((m) => {
      const q = this.modalities.get(m).decoderQuery({ batch: B, subsampledPoints: pts[m] ?? null, inputsWithoutPos: iw?.[m] ?? null });
      const flat = q.reshape([B, -1, q.shape[q.rank - 1]!]);
      const n = flat.shape[1]!;
      const pad = this.padding.get(m);
      return cat([flat, pad.unsqueeze(0).expand([B, n, pad.shape[1]!])], 2);
    });
    return cat(parts, 1);
  }

  forward(query: Tensor, z: Tensor): Tensor { return this.decoder.forward(query, z); }
}

// ---- the model ----

/** Output of a preprocessor: inputs with positions [B, M, C], modality sizes, inputs without positions. */
export interface PreprocessorOutput {
  inputs: Tensor;
  modalitySizes?: Record<string, number> | null;
  inputsWithoutPos?: Tensor | Record<string, Tensor> | null;
  /** Optional padding mask [B, M] (true = padding) produced by the preprocessor. */
  paddingMask?: Tensor | null;
}

/** A modality preprocessor (HF `input_preprocessor`): raw inputs -> [B, M, numChannels]. */
export interface PerceiverPreprocessor extends Module {
  readonly numChannels: number;
  forward(inputs: never): PreprocessorOutput;
}

/** A postprocessor (HF `output_postprocessor`): decoder output -> task output. */
export interface PerceiverPostprocessor extends Module {
  forward(logits: Tensor, opts: { modalitySizes?: Record<string, number> | null }): Tensor | Record<string, Tensor>;
}

export interface PerceiverForwardOptions {
  /** [B, M] bool, true = padding (the project's convention). */
  paddingMask?: Tensor | null;
  /** [B, M] HF convention: 1 = attend, 0 = padding. */
  attentionMask?: Tensor | null;
  /** Subsampled decoding: flat output indices (per modality for a multimodal decoder). */
  subsampledOutputPoints?: DecoderQueryContext['subsampledPoints'];
  /** Queries to use instead of the decoder's own (a BasicDecoder with 'none' queries needs them). */
  queries?: Tensor | null;
}

export interface PerceiverOutput {
  /** Decoder (+ postprocessor) output; null without a decoder. */
  logits: Tensor | Record<string, Tensor> | null;
  /** The latents after the encoder [B, N, D]. */
  lastHiddenState: Tensor;
}

/**
 * HF `PerceiverModel`: [input_preprocessor] -> encoder (latents `embeddings.latents`) -> [decoder] ->
 * [output_postprocessor]. Without a preprocessor the inputs must be [B, M, dModel]. The decoder's query mask is
 * not applied (HF ignores it too, spec A12.4).
 */
export class PerceiverModel extends Module {
  readonly config: PerceiverConfig;
  input_preprocessor: PerceiverPreprocessor | null;
  embeddings: PerceiverEmbeddings;
  encoder: PerceiverEncoder;
  decoder: PerceiverDecoder | null;
  output_postprocessor: PerceiverPostprocessor | null;

  constructor(config: Partial<PerceiverConfig>, parts: { inputPreprocessor?: PerceiverPreprocessor | null; decoder?: PerceiverDecoder | null; outputPostprocessor?: PerceiverPostprocessor | null; generator?: Generator } = {}) {
    super();
    const c = resolvePerceiverConfig(config);
    const g = parts.generator ?? defaultGenerator;
    this.config = c;
    this.input_preprocessor = parts.inputPreprocessor ?? null;
    this.embeddings = new PerceiverEmbeddings(c.numLatents, c.dLatents, { std: c.initializerRange, generator: g });
    this.encoder = new PerceiverEncoder(c, this.input_preprocessor ? this.input_preprocessor.numChannels : c.dModel, { generator: g });
    this.decoder = parts.decoder ?? null;
    this.output_postprocessor = parts.outputPostprocessor ?? null;
  }

  /** Encoder only: inputs [B, M, C] -> latents [B, N, D]. */
  encode(inputs: Tensor, masks: Pick<PerceiverForwardOptions, 'paddingMask' | 'attentionMask'> = {}): Tensor {
    if (inputs.rank !== 3 || inputs.shape[2] !== this.encoder.kvDim) throw new ShapeError('PerceiverModel', `inputs must be [B, M, ${this.encoder.kvDim}], got ${inputs.dtype} ${fmtShape(inputs.shape)}`);
    const [B, M] = inputs.shape as [number, number, number];
    return this.encoder.forward(this.embeddings.forward(B), inputs, inputMaskBias(B, M, masks));
  }

  forward(raw: unknown, opts: PerceiverForwardOptions = {}): PerceiverOutput {
    let pre: PreprocessorOutput;
    if (this.input_preprocessor) pre = this.input_preprocessor.forward(raw as never);
    else {
      if (!(raw instanceof Tensor)) throw new ShapeError('PerceiverModel', 'without an input preprocessor the inputs must be a tensor [B, M, dModel]');
      pre = { inputs: raw };
    }
    const z = this.encode(pre.inputs, { paddingMask: opts.paddingMask ?? pre.paddingMask ?? null, attentionMask: opts.attentionMask ?? null });
    if (!this.decoder) return { logits: null, lastHiddenState: z };
    const B = pre.inputs.shape[0]!;
    const query = opts.queries ?? this.decoder.decoderQuery({ batch: B, inputs: pre.inputs, inputsWithoutPos: pre.inputsWithoutPos ?? null, subsampledPoints: opts.subsampledOutputPoints ?? null, modalitySizes: pre.modalitySizes ?? null });
    let logits: Tensor | Record<string, Tensor> = this.decoder.forward(query, z);
    if (this.output_postprocessor) {
      // Subsampled multimodal decoding changes the per-modality output counts (HF: points per modality, label 1).
      let sizes = pre.modalitySizes ?? null;
      const pts = opts.subsampledOutputPoints;
      if (sizes && pts && !isArrayLike(pts)) sizes = Object.fromEntries(Object.keys(sizes).map((m) => [m, pts[m] ? pts[m]!.length : m === 'label' ? 1 : sizes![m]!]));
      logits = this.output_postprocessor.forward(logits, { modalitySizes: sizes });
    }
    return { logits, lastHiddenState: z };
  }
}

/**
 * Parameter count of the encoder stack (latents + cross-attention + self-attention block) of a config with input
 * width kvDim, without building it.
 */
export function perceiverEncoderParamCount(config: Partial<PerceiverConfig>, kvDim?: number): number {
  const c = resolvePerceiverConfig(config);
  const C = kvDim ?? c.dModel, D = c.dLatents;
  const lin = (i: number, o: number): number => i * o + o;
  const layer = (q: number, kv: number, cross: boolean, wf: number): number => {
    const qk = c.qkChannels ?? (cross && c.crossAttentionShapeForAttention === 'kv' ? kv : q);
    const v = c.vChannels ?? qk;
    const out = cross ? q : v;
    return 2 * q + (cross ? 2 * kv : 0) + lin(q, qk) + lin(kv, qk) + lin(kv, v) + lin(v, out) + 2 * q + lin(q, wf * q) + lin(wf * q, q);
  };
  return c.numLatents * D + layer(D, C, true, c.crossAttentionWideningFactor) + c.numSelfAttendsPerBlock * layer(D, D, false, c.selfAttentionWideningFactor);
}
