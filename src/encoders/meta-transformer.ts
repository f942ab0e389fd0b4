// Meta-Transformer's shared, modality-agnostic encoder: a bare stack of timm pre-LN ViT blocks
// (x = x + attn(LN1(x)); x = x + mlp(LN2(x))) with LayerNorm eps 1e-5, exact-erf GELU, qkv bias, no
// layer-scale, NO final norm and no CLIP `ln_pre`: tokenizer output goes straight into block 0.
//
// The released checkpoints (`Meta-Transformer_base_patch16_encoder.pth`, `..._large_patch14_encoder.pth`)
// are the state dict of a PyTorch `nn.Sequential(*blocks)`, so their keys carry no prefix:
// `0.norm1.weight`, `0.attn.qkv.weight`, ..., `11.mlp.fc2.bias`. This class is a ModuleList of the blocks, so
// its `stateDict()` names are exactly those. `loadEncoderWeights` also accepts keys with a `blocks.` prefix
// (a timm VisionTransformer's trunk), and reads the .pth files directly (src/io/torch-checkpoint.ts). Timm ViT
// and CLIP files (their blocks as this encoder) go through `loadEncoderCheckpoint` (src/io/checkpoint-formats.ts).
//
// The encoder is frozen by default (the paper's "F" setting): frozen parameters are baked into compiled
// graphs and get no gradients. `unfreeze()` switches to the "T" (tuned) setting.
//
// Multimodal input: `joinSequences` concatenates several modalities' token sequences along the token axis.
// The reference simply does torch.cat([tok_a(x_a), tok_b(x_b)], dim=1) with neither a modality embedding nor
// a padding mask; ours optionally adds a learned per-modality embedding and carries a combined key-padding
// mask and per-block positions, so padded or mixed batches attend only to real tokens (our improvement).
import { ShapeError, fmtShape } from '../engine/errors.js';
import { cat, select } from '../engine/functional/indexing.js';
import { defaultGenerator, type Generator } from '../engine/functional/random.js';
import { Tensor, Variable, constant } from '../engine/tensor.js';
import { applyStateDict, StateDictError, type LoadStateDictResult } from '../io/state-dict.js';
import { readSafetensors, type SafetensorsContents, type StoredTensor, type TensorSource } from '../io/safetensors.js';
import { isTorchCheckpointPath, readTorchCheckpoint } from '../io/torch-checkpoint.js';
import type { TokenSequence } from '../data2seq/types.js';
import { ModuleList } from '../nn/container.js';
import { initWeightsTimm, truncNormal_ } from '../nn/init.js';
import { Module } from '../nn/module.js';
import { TransformerBlock } from '../nn/transformer.js';

export interface MetaEncoderConfig {
  /** Token width D. */
  dim: number;
  /** Number of blocks. */
  depth: number;
  numHeads: number;
  /** MLP hidden width = floor(dim * mlpRatio) (4 in every released model). */
  mlpRatio: number;
  /** LayerNorm epsilon of the blocks: 1e-5 (PyTorch's nn.LayerNorm default, as in every released module). */
  eps: number;
  qkvBias: boolean;
  /**
   * MLP activation: exact-erf GELU (every released Meta-Transformer and timm ViT) or QuickGELU x·σ(1.702x)
   * (OpenAI CLIP towers used as the encoder). Default 'gelu'.
   */
  act?: 'gelu' | 'quick_gelu';
  /** Dropout after attention projection and in the MLP (0 in the reference). */
  drop?: number;
  attnDrop?: number;
  /** Stochastic depth rising linearly from 0 (block 0) to this value (last block); 0 in the reference. */
  dropPathRate?: number;
}

/** `base` = Meta-Transformer-B16 and `large` = L14 as released; `tiny` and `small` are for tests and demos. */
export const META_ENCODER_CONFIGS = {
  tiny: { dim: 64, depth: 4, numHeads: 4, mlpRatio: 4, eps: 1e-5, qkvBias: true },
  small: { dim: 192, depth: 6, numHeads: 3, mlpRatio: 4, eps: 1e-5, qkvBias: true },
  base: { dim: 768, depth: 12, numHeads: 12, mlpRatio: 4, eps: 1e-5, qkvBias: true },
  large: { dim: 1024, depth: 24, numHeads: 16, mlpRatio: 4, eps: 1e-5, qkvBias: true },
} satisfies Record<string, MetaEncoderConfig>;
export type MetaEncoderSize = keyof typeof META_ENCODER_CONFIGS;

/**
 * Parameter count of an encoder config without building it: per block two LayerNorms (4D), qkv (3D² + 3D),
 * proj (D² + D), fc1 (DM + M) and fc2 (MD + D), M = floor(D · mlpRatio), qkv bias optional.
 * base: 85,054,464; large: 302,309,376.
 */
export function metaEncoderParamCount(config: MetaEncoderConfig | MetaEncoderSize): number {
  const c = typeof config === 'string' ? META_ENCODER_CONFIGS[config] : config;
  const D = c.dim, M = Math.floor(D * c.mlpRatio);
  const perBlock = 4 * D + 3 * D * D + (c.qkvBias ? 3 * D : 0) + D * D + D + D * M + M + M * D + D;
  return c.depth * perBlock;
}

export interface MetaEncoderOptions {
  /** Freeze every parameter (default true: the paper's frozen-encoder setting). */
  frozen?: boolean;
  /** Seed source for the random initialisation (timm: trunc-normal 0.02 linears, unit LayerNorms). */
  generator?: Generator;
}

function resolveConfig(config: MetaEncoderConfig | MetaEncoderSize): MetaEncoderConfig {
  if (typeof config === 'string') {
    const c = (META_ENCODER_CONFIGS as Record<string, MetaEncoderConfig>)[config];
    if (!c) throw new Error(`MetaTransformerEncoder: unknown size '${config}' (expected one of ${Object.keys(META_ENCODER_CONFIGS).join(', ')})`);
    return { ...c };
  }
  for (const k of ['dim', 'depth', 'numHeads'] as const) {
    if (!Number.isInteger(config[k]) || config[k] < 1) throw new ShapeError('MetaTransformerEncoder', `${k} must be a positive integer, got ${config[k]}`);
  }
  if (config.dim % config.numHeads) throw new ShapeError('MetaTransformerEncoder', `dim (${config.dim}) must be a multiple of numHeads (${config.numHeads})`);
  if (config.act !== undefined && config.act !== 'gelu' && config.act !== 'quick_gelu') throw new ShapeError('MetaTransformerEncoder', `act must be 'gelu' or 'quick_gelu', got '${String(config.act)}'`);
  return { ...config };
}

/** Validate a token sequence for an encoder of width `dim`; returns [B, N]. */
export function checkTokenSequence(op: string, seq: TokenSequence, dim: number): [number, number] {
  const x = seq.tokens;
  if (!(x instanceof Tensor) || x.rank !== 3 || x.dtype !== 'float32') {
    throw new ShapeError(op, `tokens must be float32 [B, N, ${dim}], got ${x instanceof Tensor ? `${x.dtype} ${fmtShape(x.shape)}` : String(x)}`);
  }
  if (x.shape[2] !== dim) throw new ShapeError(op, `tokens ${fmtShape(x.shape)} have width ${x.shape[2]}, the encoder expects D = ${dim}`);
  const [B, N] = x.shape as [number, number, number];
  const m = seq.paddingMask;
  if (m && (m.dtype !== 'bool' || m.rank !== 2 || m.shape[0] !== B || m.shape[1] !== N)) {
    throw new ShapeError(op, `paddingMask must be bool [B, N] = [${B}, ${N}] (true = padding), got ${m.dtype} ${fmtShape(m.shape)}`);
  }
  const p = seq.perBlockPos;
  if (p && (p.dtype !== 'float32' || p.rank !== 3 || p.shape[0] !== B || p.shape[1] !== N || p.shape[2] !== dim)) {
    throw new ShapeError(op, `perBlockPos must be float32 [B, N, D] = [${B}, ${N}, ${dim}], got ${p.dtype} ${fmtShape(p.shape)}`);
  }
  return [B, N];
}

export class MetaTransformerEncoder extends ModuleList<TransformerBlock> {
  readonly config: MetaEncoderConfig;

  constructor(config: MetaEncoderConfig | MetaEncoderSize = 'base', opts: MetaEncoderOptions = {}) {
    const c = resolveConfig(config);
    const g = opts.generator ?? defaultGenerator;
    const rate = c.dropPathRate ?? 0;
    super(Array.from({ length: c.depth }, (_, i) => new TransformerBlock(c.dim, c.numHeads, {
      mlpRatio: c.mlpRatio, qkvBias: c.qkvBias, eps: c.eps, act: c.act ?? 'gelu', drop: c.drop ?? 0, attnDrop: c.attnDrop ?? 0,
      dropPath: c.depth > 1 ? (rate * i) / (c.depth - 1) : rate, generator: g,
    })));
    this.config = c;
    initWeightsTimm(this, { generator: g });
    if (opts.frozen ?? true) this.freeze();
  }

  get dim(): number { return this.config.dim; }
  get depth(): number { return this.config.depth; }
  /** Are all parameters frozen? */
  get frozen(): boolean { return this.parameters().every((p) => !p.requiresGrad); }

  /**
   * tokens [B, N, D] -> [B, N, D]. A `paddingMask` (true = padding) removes padded tokens as attention keys;
   * `perBlockPos` is added to the input of every block (x = block(x + pos)), as the point-cloud reference does.
   * A plain tensor is accepted as a sequence without mask or positions.
   */
  forward(seq: TokenSequence | Tensor): Tensor {
    const s: TokenSequence = seq instanceof Tensor ? { tokens: seq } : seq;
    checkTokenSequence('MetaTransformerEncoder', s, this.dim);
    const opts = { keyPaddingMask: s.paddingMask ?? null };
    let x = s.tokens;
    for (const block of this) {
      if (s.perBlockPos) x = x.add(s.perBlockPos);
      x = block.forward(x, opts);
    }
    return x;
  }

  /** As `forward`, keeping the padding mask with the output (what heads take). */
  encode(seq: TokenSequence | Tensor): TokenSequence {
    const s: TokenSequence = seq instanceof Tensor ? { tokens: seq } : seq;
    return { tokens: this.forward(s), paddingMask: s.paddingMask ?? null };
  }
}

// ---- checkpoint loading ----

export type EncoderWeightsSource = string | SafetensorsContents | Map<string, TensorSource | StoredTensor>;

export interface LoadEncoderWeightsOptions {
  /** Throw (changing nothing) unless every key matches in name, shape and dtype. Default true. */
  strict?: boolean;
  /**
   * A key prefix to strip before matching (e.g. 'encoder.' or 'model.blocks.'). Default: keys starting with
   * 'blocks.' have it stripped (a timm ViT trunk); un-prefixed keys are used as they are.
   */
  prefix?: string;
}

export interface LoadEncoderWeightsResult extends LoadStateDictResult {
  /** The prefix that was stripped ('' when none). */
  strippedPrefix: string;
  /** Number of tensors copied into the encoder. */
  loaded: number;
}

/**
 * Load the released Meta-Transformer encoder weights (or any state dict of the same blocks) into `encoder`.
 * Keys are `{i}.norm1.weight`, ..., optionally prefixed by `blocks.` (or `opts.prefix`). With `strict`
 * (default) a missing, unexpected or mis-shaped key raises a StateDictError listing all of them and nothing
 * is loaded; otherwise matching keys are loaded and the rest reported. Frozen parameters stay frozen (and
 * the new values are baked into the next compiled graph).
 */
export async function loadEncoderWeights(encoder: MetaTransformerEncoder, source: EncoderWeightsSource, opts: LoadEncoderWeightsOptions = {}): Promise<LoadEncoderWeightsResult> {
  const name = typeof source === 'string' ? source : undefined;
  const tensors = typeof source === 'string' ? (isTorchCheckpointPath(source) ? await readTorchCheckpoint(source) : (await readSafetensors(source)).tensors) : source instanceof Map ? source : source.tensors;
  return loadEncoderWeightsSync(encoder, tensors, opts, name);
}

/** Synchronous core of {@link loadEncoderWeights} for in-memory state dicts. */
export function loadEncoderWeightsSync(encoder: MetaTransformerEncoder, tensors: Map<string, TensorSource | StoredTensor>, opts: LoadEncoderWeightsOptions = {}, sourceName?: string): LoadEncoderWeightsResult {
  let prefix = opts.prefix;
  if (prefix === undefined) prefix = [...tensors.keys()].some((k) => k.startsWith('blocks.')) ? 'blocks.' : '';
  const renamed = new Map<string, TensorSource | StoredTensor>();
  for (const [k, v] of tensors) {
    const key = prefix && k.startsWith(prefix) ? k.slice(prefix.length) : k;
    if (renamed.has(key)) throw new StateDictError(`loadEncoderWeights: key '${k}' collides with another key after stripping the prefix '${prefix}'`, { missing: [], unexpected: [k], mismatched: [] });
    renamed.set(key, v);
  }
  const where = sourceName ? ` from '${sourceName}'` : '';
  try {
    const r = applyStateDict(encoder, renamed, { strict: opts.strict ?? true }, sourceName);
    // Unexpected keys are reported with their original (prefixed) names.
    const original = (k: string): string => (prefix && tensors.has(prefix + k) ? prefix + k : k);
    const result = { ...r, unexpected: r.unexpected.map(original), strippedPrefix: prefix, loaded: encoder.stateDict().size - r.missing.length - r.mismatched.length };
    return result;
  } catch (e) {
    if (e instanceof StateDictError) {
      const c = encoder.config;
      const hint = `expected the ${c.depth}-block, D=${c.dim} Meta-Transformer encoder keys '0.norm1.weight' ... '${c.depth - 1}.mlp.fc2.bias'` +
        `${prefix ? ` (after stripping '${prefix}')` : ' (optionally prefixed by \'blocks.\')'}`;
      throw new StateDictError(`loadEncoderWeights${where}: ${hint}\n${e.message}`, e.result);
    }
    throw e;
  }
}

// ---- multimodal sequences ----

/** A learned per-modality embedding [numModalities, D] added to every token of a modality's sequence. */
export class ModalityEmbedding extends Module {
  readonly numModalities: number;
  readonly dim: number;
  weight: Variable;
  constructor(numModalities: number, dim: number, opts: { std?: number; generator?: Generator } = {}) {
    super();
    if (!Number.isInteger(numModalities) || numModalities < 1) throw new ShapeError('ModalityEmbedding', `numModalities must be a positive integer, got ${numModalities}`);
    if (!Number.isInteger(dim) || dim < 1) throw new ShapeError('ModalityEmbedding', `dim must be a positive integer, got ${dim}`);
    this.numModalities = numModalities;
    this.dim = dim;
    this.weight = new Variable(new Float32Array(numModalities * dim), [numModalities, dim]);
    truncNormal_(this.weight, opts.std ?? 0.02, { generator: opts.generator ?? defaultGenerator });
  }
  /** The [1, 1, D] embedding of modality `index`. */
  row(index: number): Tensor {
    if (!Number.isInteger(index) || index < 0 || index >= this.numModalities) throw new ShapeError('ModalityEmbedding', `modality index ${index} out of range [0, ${this.numModalities})`);
    return select(this.weight, 0, index).reshape([1, 1, this.dim]);
  }
}

export interface JoinOptions {
  /** Adds `modalityEmbedding.row(ids[i])` to every token of sequence i. */
  modalityEmbedding?: ModalityEmbedding | null;
  /** Modality index of each sequence (default 0, 1, 2, ...). */
  modalityIds?: number[];
}

/**
 * Concatenate token sequences [B, N_i, D] along the token axis into [B, ΣN_i, D]. The padding mask is the
 * concatenation of the masks (all-false for sequences without one) and is omitted when no sequence has one;
 * per-block positions likewise (zeros for sequences without). With a `modalityEmbedding`, each sequence first
 * gets its modality's learned embedding added. (The reference concatenates with neither embedding nor mask.)
 */
export function joinSequences(seqs: readonly TokenSequence[], opts: JoinOptions = {}): TokenSequence {
  if (seqs.length === 0) throw new ShapeError('joinSequences', 'expected at least one token sequence');
  const first = seqs[0]!.tokens;
  if (first.rank !== 3) throw new ShapeError('joinSequences', `sequence 0 tokens must be [B, N, D], got ${fmtShape(first.shape)}`);
  const [B, , D] = first.shape as [number, number, number];
  const shapes = seqs.map((s) => fmtShape(s.tokens.shape)).join(', ');
  seqs.forEach((s, i) => {
    const t = s.tokens;
    if (t.rank !== 3 || t.shape[0] !== B || t.shape[2] !== D) throw new ShapeError('joinSequences', `sequence ${i} has tokens ${fmtShape(t.shape)}; every sequence must be [${B}, N_i, ${D}] (got ${shapes})`);
    checkTokenSequence(`joinSequences (sequence ${i})`, s, D);
  });
  const emb = opts.modalityEmbedding ?? null;
  const ids = opts.modalityIds ?? seqs.map((_, i) => i);
  if (ids.length !== seqs.length) throw new ShapeError('joinSequences', `modalityIds has ${ids.length} entries for ${seqs.length} sequences`);
  if (emb && emb.dim !== D) throw new ShapeError('joinSequences', `modalityEmbedding has width ${emb.dim}, the tokens have D = ${D}`);
  const tokens = cat(seqs.map((s, i) => (emb ? s.tokens.add(emb.row(ids[i]!)) : s.tokens)), 1);
  const anyMask = seqs.some((s) => s.paddingMask);
  const paddingMask = anyMask
    ? cat(seqs.map((s) => s.paddingMask ?? constant(new Uint8Array(B * s.tokens.shape[1]!), [B, s.tokens.shape[1]!])), 1)
    : null;
  const anyPos = seqs.some((s) => s.perBlockPos);
  const perBlockPos = anyPos
    ? cat(seqs.map((s) => s.perBlockPos ?? constant(new Float32Array(B * s.tokens.shape[1]! * D), [B, s.tokens.shape[1]!, D])), 1)
    : null;
  return { tokens, paddingMask, perBlockPos };
}
