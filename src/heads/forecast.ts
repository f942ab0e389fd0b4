// Forecasting heads: encoder tokens (one per observed time step) -> predictions [B, predLen, channels].
//
// (a) LinearForecastHead
//     'flatten' : Linear(N·D -> predLen·C) on the flattened tokens (a "flatten head", PatchTST-style);
//     'temporal': Linear(D -> C) on every token, then a per-channel Linear over time (N -> predLen), shared
//                 by the channels (DLinear-style).
// (b) DecoderForecastHead: the reference's TSLib decoder (Time-Series/models/MetaTransformer.py):
//     d_layers (1) post-norm DecoderLayers —
//         x = norm1(x + drop(selfAttn(x, causal)));  x = norm2(x + drop(crossAttn(x, memory)))
//         y = drop(act(conv1(x)));  y = drop(conv2(y));  x = norm3(x + y)
//     with conv1/conv2 Conv1d(kernel 1) D -> d_ff (2048) -> D, activation gelu, dropout 0.1, attention
//     AttentionLayer(FullAttention) with n_heads 8 (query/key/value/out projections, scale 1/sqrt(E), dropout
//     on the attention weights, a triangular causal mask in self-attention, none in cross-attention);
//     then LayerNorm, Linear(D -> c_out), and the last predLen steps are returned.
//     Its input tokens are the decoder embedding (a time-series DataEmbedding) of
//     [last labelLen observed values; predLen zeros] — build the values with `forecastDecoderInput` and embed
//     them with the time-series tokenizer (this head does not depend on it). Parameter names are TSLib's
//     (`decoder.layers.0.self_attention.query_projection.weight`, `decoder.layers.0.conv1.weight` [d_ff, D, 1],
//     `decoder.norm`, `decoder.projection`), so a TSLib decoder's weights load by name.
//     Our extension: an optional padding mask of the memory (encoder tokens) in cross-attention.
import { ShapeError, fmtShape } from '../engine/errors.js';
import { cat, narrow } from '../engine/functional/indexing.js';
import { defaultGenerator, type Generator } from '../engine/functional/random.js';
import { constant, Tensor, where } from '../engine/tensor.js';
import type { TokenSequence } from '../data2seq/types.js';
import { MASK_VALUE, scaledDotProductAttention } from '../nn/attention.js';
import { Conv1d } from '../nn/conv.js';
import { Dropout } from '../nn/dropout.js';
import { Linear } from '../nn/linear.js';
import { Module } from '../nn/module.js';
import { LayerNorm } from '../nn/norm.js';
import { headInput } from './pooling.js';

function posInt(op: string, what: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new ShapeError(op, `${what} must be a positive integer, got ${v}`);
  return v;
}

// ---- (a) linear heads ----

export interface LinearForecastHeadOptions {
  /** Default 'flatten'. */
  mode?: 'flatten' | 'temporal';
  /** Dropout on the tokens before the projection (default 0). */
  dropout?: number;
  /** Leading special tokens dropped before forecasting (default 0). */
  prefixTokens?: number;
  generator?: Generator;
}

export class LinearForecastHead extends Module {
  readonly dim: number;
  readonly numTokens: number;
  readonly predLen: number;
  readonly channels: number;
  readonly mode: 'flatten' | 'temporal';
  readonly prefixTokens: number;
  dropout: Dropout;
  proj: Linear | null;
  channel_proj: Linear | null;
  time_proj: Linear | null;

  /** `numTokens`: content tokens per sample (after the prefix), e.g. the input length 96. */
  constructor(dim: number, numTokens: number, predLen: number, channels: number, opts: LinearForecastHeadOptions = {}) {
    super();
    const op = 'LinearForecastHead';
    this.dim = posInt(op, 'dim', dim);
    this.numTokens = posInt(op, 'numTokens', numTokens);
    this.predLen = posInt(op, 'predLen', predLen);
    this.channels = posInt(op, 'channels', channels);
    this.mode = opts.mode ?? 'flatten';
    if (this.mode !== 'flatten' && this.mode !== 'temporal') throw new ShapeError(op, `mode must be 'flatten' or 'temporal', got '${String(this.mode)}'`);
    this.prefixTokens = opts.prefixTokens ?? 0;
    const g = opts.generator ?? defaultGenerator;
    this.dropout = new Dropout(opts.dropout ?? 0, { generator: g });
    this.proj = this.mode === 'flatten' ? new Linear(numTokens * dim, predLen * channels, { generator: g }) : null;
    this.channel_proj = this.mode === 'temporal' ? new Linear(dim, channels, { generator: g }) : null;
    this.time_proj = this.mode === 'temporal' ? new Linear(numTokens, predLen, { generator: g }) : null;
  }

  /** tokens [B, prefix + numTokens, D] -> [B, predLen, channels]. */
  forward(input: Tensor | TokenSequence): Tensor {
    const { x } = headInput('LinearForecastHead', input, null, this.dim);
    const [B, N] = x.shape as [number, number, number];
    if (N !== this.prefixTokens + this.numTokens) {
      throw new ShapeError('LinearForecastHead', `tokens ${fmtShape(x.shape)} must have ${this.prefixTokens} prefix + ${this.numTokens} content tokens (the head was built for a fixed input length)`);
    }
    const t = this.dropout.forward(narrow(x, 1, this.prefixTokens, this.numTokens));
    if (this.proj) return this.proj.forward(t.reshape([B, this.numTokens * this.dim])).reshape([B, this.predLen, this.channels]);
    const perChannel = this.channel_proj!.forward(t).transpose(1, 2); // [B, C, N]
    return this.time_proj!.forward(perChannel).transpose(1, 2); //       [B, predLen, C]
  }
}

// ---- (b) TSLib decoder ----

/** TSLib AttentionLayer + FullAttention (names: query_projection, key_projection, value_projection, out_projection). */
export class TSLibAttention extends Module {
  readonly dim: number;
  readonly numHeads: number;
  readonly causal: boolean;
  query_projection: Linear;
  key_projection: Linear;
  value_projection: Linear;
  out_projection: Linear;
  /** Dropout on the attention weights (active in train mode). */
  readonly attentionDropout: number;
  private _generator: Generator;

  constructor(dim: number, numHeads: number, opts: { causal: boolean; attentionDropout: number; generator?: Generator }) {
    super();
    if (dim % numHeads) throw new ShapeError('TSLibAttention', `d_model (${dim}) must be a multiple of n_heads (${numHeads})`);
    this.dim = dim;
    this.numHeads = numHeads;
    this.causal = opts.causal;
    const g = opts.generator ?? defaultGenerator;
    this._generator = g;
    this.query_projection = new Linear(dim, dim, { generator: g });
    this.key_projection = new Linear(dim, dim, { generator: g });
    this.value_projection = new Linear(dim, dim, { generator: g });
    this.out_projection = new Linear(dim, dim, { generator: g });
    if (!(opts.attentionDropout >= 0 && opts.attentionDropout < 1)) throw new ShapeError('TSLibAttention', `attention dropout must be in [0, 1), got ${opts.attentionDropout}`);
    this.attentionDropout = opts.attentionDropout;
  }

  forward(q: Tensor, kv: Tensor, keyPaddingMask: Tensor | null = null): Tensor {
    const [B, L] = q.shape as [number, number, number];
    const S = kv.shape[1]!;
    const H = this.numHeads, E = this.dim / H;
    const heads = (t: Tensor, n: number): Tensor => t.reshape([B, n, H, E]).permute(0, 2, 1, 3);
    let bias: Tensor | null = null;
    if (this.causal) {
      if (L !== S) throw new ShapeError('TSLibAttention', `causal self-attention needs equal query and key lengths, got ${L} and ${S}`);
      bias = causalBias(L);
    }
    if (keyPaddingMask) {
      const kb = where(keyPaddingMask.reshape([B, 1, 1, S]), MASK_VALUE, 0);
      bias = bias ? bias.add(kb) : kb;
    }
    const o = scaledDotProductAttention(heads(this.query_projection.forward(q), L), heads(this.key_projection.forward(kv), S), heads(this.value_projection.forward(kv), S), {
      bias, dropoutP: this.attentionDropout, training: this.training, generator: this._generator,
    });
    return this.out_projection.forward(o.permute(0, 2, 1, 3).reshape([B, L, this.dim]));
  }
}

const causalCache = new Map<number, Tensor>();
/** [L, L] additive bias: MASK_VALUE above the diagonal (TSLib TriangularCausalMask). */
function causalBias(L: number): Tensor {
  let t = causalCache.get(L);
  if (!t) {
    const d = new Float32Array(L * L);
    for (let i = 0; i < L; i++) for (let j = i + 1; j < L; j++) d[i * L + j] = MASK_VALUE;
    t = constant(d, [L, L]);
    causalCache.set(L, t);
  }
  return t;
}

/** Conv1d(kernel 1) applied to [B, L, Cin] as a per-step linear map (same weights [Cout, Cin, 1] as TSLib). */
function pointwise(conv: Conv1d, x: Tensor): Tensor {
  const w = conv.weight.reshape([conv.outChannels, conv.inChannels]);
  const y = x.matmul(w.mT);
  return conv.bias ? y.add(conv.bias) : y;
}

export class TSLibDecoderLayer extends Module {
  self_attention: TSLibAttention;
  cross_attention: TSLibAttention;
  conv1: Conv1d;
  conv2: Conv1d;
  norm1: LayerNorm;
  norm2: LayerNorm;
  norm3: LayerNorm;
  dropout: Dropout;
  readonly activation: 'gelu' | 'relu';

  constructor(dim: number, numHeads: number, dFF: number, opts: { dropout: number; activation: 'gelu' | 'relu'; generator?: Generator }) {
    super();
    const g = opts.generator ?? defaultGenerator;
    this.self_attention = new TSLibAttention(dim, numHeads, { causal: true, attentionDropout: opts.dropout, generator: g });
    this.cross_attention = new TSLibAttention(dim, numHeads, { causal: false, attentionDropout: opts.dropout, generator: g });
    this.conv1 = new Conv1d(dim, dFF, 1, { generator: g });
    this.conv2 = new Conv1d(dFF, dim, 1, { generator: g });
    this.norm1 = new LayerNorm(dim);
    this.norm2 = new LayerNorm(dim);
    this.norm3 = new LayerNorm(dim);
    this.dropout = new Dropout(opts.dropout, { generator: g });
    this.activation = opts.activation;
  }

  forward(x: Tensor, memory: Tensor, memoryPaddingMask: Tensor | null = null): Tensor {
    let h = this.norm1.forward(x.add(this.dropout.forward(this.self_attention.forward(x, x))));
    h = this.norm2.forward(h.add(this.dropout.forward(this.cross_attention.forward(h, memory, memoryPaddingMask))));
    const a = pointwise(this.conv1, h);
    let y = this.dropout.forward(this.activation === 'gelu' ? a.gelu() : a.relu());
    y = this.dropout.forward(pointwise(this.conv2, y));
    return this.norm3.forward(h.add(y));
  }
}

/** TSLib `Decoder`: layers, then norm, then projection. */
export class TSLibDecoder extends Module {
  layers: TSLibDecoderLayer[];
  norm: LayerNorm;
  projection: Linear;
  constructor(dim: number, cOut: number, opts: { numHeads: number; dFF: number; layers: number; dropout: number; activation: 'gelu' | 'relu'; generator?: Generator }) {
    super();
    const g = opts.generator ?? defaultGenerator;
    this.layers = Array.from({ length: opts.layers }, () => new TSLibDecoderLayer(dim, opts.numHeads, opts.dFF, { ...opts, generator: g }));
    this.norm = new LayerNorm(dim);
    this.projection = new Linear(dim, cOut, { generator: g });
  }
  forward(x: Tensor, memory: Tensor, memoryPaddingMask: Tensor | null = null): Tensor {
    let h = x;
    for (const l of this.layers) h = l.forward(h, memory, memoryPaddingMask);
    return this.projection.forward(this.norm.forward(h));
  }
}

export interface DecoderForecastHeadOptions {
  /** n_heads (default 8, as the reference scripts). */
  numHeads?: number;
  /** d_ff (default 2048, TSLib's default). */
  dFF?: number;
  /** d_layers (default 1). */
  layers?: number;
  /** Dropout (default 0.1). */
  dropout?: number;
  /** Default 'gelu'. */
  activation?: 'gelu' | 'relu';
  generator?: Generator;
}

export class DecoderForecastHead extends Module {
  readonly dim: number;
  readonly cOut: number;
  readonly predLen: number;
  decoder: TSLibDecoder;

  constructor(dim: number, cOut: number, predLen: number, opts: DecoderForecastHeadOptions = {}) {
    super();
    const op = 'DecoderForecastHead';
    this.dim = posInt(op, 'dim', dim);
    this.cOut = posInt(op, 'cOut', cOut);
    this.predLen = posInt(op, 'predLen', predLen);
    const numHeads = posInt(op, 'numHeads', opts.numHeads ?? 8);
    if (dim % numHeads) throw new ShapeError(op, `dim (${dim}) must be a multiple of numHeads (${numHeads})`);
    const activation = opts.activation ?? 'gelu';
    if (activation !== 'gelu' && activation !== 'relu') throw new ShapeError(op, `activation must be 'gelu' or 'relu', got '${String(activation)}'`);
    this.decoder = new TSLibDecoder(dim, cOut, {
      numHeads, dFF: posInt(op, 'dFF', opts.dFF ?? 2048), layers: posInt(op, 'layers', opts.layers ?? 1), dropout: opts.dropout ?? 0.1, activation, generator: opts.generator,
    });
  }

  /**
   * decoderTokens [B, labelLen + predLen, D] (the embedded decoder input), memory = encoder output [B, N, D]
   * (or its TokenSequence, whose padding mask is then used in cross-attention) -> [B, predLen, cOut].
   */
  forward(decoderTokens: Tensor, memory: Tensor | TokenSequence, memoryPaddingMask?: Tensor | null): Tensor {
    const op = 'DecoderForecastHead';
    if (!(decoderTokens instanceof Tensor) || decoderTokens.rank !== 3 || decoderTokens.shape[2] !== this.dim) {
      throw new ShapeError(op, `decoderTokens must be [B, labelLen + predLen, ${this.dim}], got ${decoderTokens instanceof Tensor ? fmtShape(decoderTokens.shape) : String(decoderTokens)}`);
    }
    const L = decoderTokens.shape[1]!;
    if (L < this.predLen) throw new ShapeError(op, `decoderTokens ${fmtShape(decoderTokens.shape)} are shorter than predLen ${this.predLen}`);
    const { x: mem, mask } = headInput(op, memory, memoryPaddingMask, this.dim);
    if (mem.shape[0] !== decoderTokens.shape[0]) throw new ShapeError(op, `memory ${fmtShape(mem.shape)} and decoderTokens ${fmtShape(decoderTokens.shape)} differ in batch size`);
    const out = this.decoder.forward(decoderTokens, mem, mask);
    return narrow(out, 1, L - this.predLen, this.predLen);
  }
}

/**
 * The reference's decoder input values: [last labelLen steps of x; predLen zeros] along time, from
 * x [B, L, C] -> [B, labelLen + predLen, C]. Embed the result with the time-series tokenizer.
 */
export function forecastDecoderInput(x: Tensor, labelLen: number, predLen: number): Tensor {
  const op = 'forecastDecoderInput';
  if (x.rank !== 3) throw new ShapeError(op, `x must be [B, L, C], got ${fmtShape(x.shape)}`);
  const [B, L, C] = x.shape as [number, number, number];
  if (!Number.isInteger(labelLen) || labelLen < 0 || labelLen > L) throw new ShapeError(op, `labelLen must be an integer in [0, ${L}] (the input length), got ${labelLen}`);
  posInt(op, 'predLen', predLen);
  const zeros = constant(new Float32Array(B * predLen * C), [B, predLen, C]);
  return labelLen ? cat([narrow(x, 1, L - labelLen, labelLen), zeros], 1) : zeros;
}
