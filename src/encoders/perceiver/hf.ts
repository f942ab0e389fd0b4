// Hugging Face Perceiver checkpoints: `deepmind/language-perceiver` (PerceiverForMaskedLM) and the three ImageNet
// classifiers `deepmind/vision-perceiver-{learned,fourier,conv}`. The task wrappers rebuild HF's module tree
// (spec A11) on top of model.ts's PerceiverModel and processors.ts, so a checkpoint's state dict loads by name:
// `perceiver.*` (+ `embedding_decoder.bias` for the MLM). Sizes HF hard-codes in its model classes (256-wide
// conv1x1 and learned positions, 64-channel conv, 64 Fourier bands) are read from the checkpoint's shapes when
// they are there, so smaller variants load too; Fourier max resolutions (224 / 56) are options.
import { readFile } from 'node:fs/promises';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ShapeError, fmtShape } from '../../engine/errors.js';
import { Generator } from '../../engine/functional/random.js';
import type { Tensor } from '../../engine/tensor.js';
import { readTorchCheckpoint } from '../../io/torch-checkpoint.js';
import { readSafetensors, type StoredTensor } from '../../io/safetensors.js';
import { applyStateDict, type LoadStateDictResult } from '../../io/state-dict.js';
import { Module } from '../../nn/module.js';
import { PerceiverBasicDecoder, PerceiverClassificationDecoder, PerceiverModel, resolvePerceiverConfig, type PerceiverConfig } from './model.js';
import { PerceiverEmbeddingDecoder, PerceiverImagePreprocessor, PerceiverTextPreprocessor, type ImagePreprocessorOptions } from './processors.js';

export const HF_PERCEIVER_ARCHITECTURES = [
  'PerceiverForMaskedLM',
  'PerceiverForImageClassificationLearned',
  'PerceiverForImageClassificationFourier',
  'PerceiverForImageClassificationConvProcessing',
] as const;
export type HfPerceiverArchitecture = (typeof HF_PERCEIVER_ARCHITECTURES)[number];

/** The fields of an HF `config.json` this loader reads (snake_case, as saved by transformers). */
export interface HfPerceiverConfigJson {
  architectures?: string[];
  num_latents?: number;
  d_latents?: number;
  d_model?: number;
  num_blocks?: number;
  num_self_attends_per_block?: number;
  num_self_attention_heads?: number;
  num_cross_attention_heads?: number;
  qk_channels?: number | null;
  v_channels?: number | null;
  cross_attention_shape_for_attention?: 'kv' | 'q';
  self_attention_widening_factor?: number;
  cross_attention_widening_factor?: number;
  hidden_act?: string;
  attention_probs_dropout_prob?: number;
  initializer_range?: number;
  use_query_residual?: boolean;
  vocab_size?: number;
  max_position_embeddings?: number;
  image_size?: number;
  num_labels?: number;
  id2label?: Record<string, string>;
  [k: string]: unknown;
}

/** HF config.json -> model.ts config. LayerNorm eps is 1e-5 whatever `layer_norm_eps` says (HF ignores it too). */
export function perceiverConfigFromHf(json: HfPerceiverConfigJson): PerceiverConfig {
  const act = json.hidden_act ?? 'gelu';
  if (act !== 'gelu' && act !== 'gelu_new' && act !== 'gelu_pytorch_tanh') throw new ShapeError('config.json', `hidden_act '${act}' is not supported (gelu, gelu_new, gelu_pytorch_tanh)`);
  return resolvePerceiverConfig({
    numLatents: json.num_latents, dLatents: json.d_latents, dModel: json.d_model, numBlocks: json.num_blocks,
    numSelfAttendsPerBlock: json.num_self_attends_per_block, numSelfAttentionHeads: json.num_self_attention_heads,
    numCrossAttentionHeads: json.num_cross_attention_heads, qkChannels: json.qk_channels ?? null, vChannels: json.v_channels ?? null,
    crossAttentionShapeForAttention: json.cross_attention_shape_for_attention, selfAttentionWideningFactor: json.self_attention_widening_factor,
    crossAttentionWideningFactor: json.cross_attention_widening_factor, useQueryResidual: json.use_query_residual,
    attentionProbsDropoutProb: json.attention_probs_dropout_prob ?? 0.1, hiddenAct: act === 'gelu' ? 'gelu' : 'gelu_tanh',
    layerNormEps: 1e-5, initializerRange: json.initializer_range, vocabSize: json.vocab_size, maxPositionEmbeddings: json.max_position_embeddings,
  });
}

/** Number of labels of an HF config: `num_labels`, else the size of `id2label`, else 2 (HF default). */
export function hfNumLabels(json: HfPerceiverConfigJson): number {
  if (typeof json.num_labels === 'number') return json.num_labels;
  if (json.id2label && typeof json.id2label === 'object') return Object.keys(json.id2label).length;
  return 2;
}

// ---------------------------------------------------------------- task models (HF module trees)

export interface MaskedLMOutput {
  /** [B, maxPositionEmbeddings, vocab]: the HF decoder always emits every position (spec A12.8). */
  logits: Tensor;
  /** Latents after the encoder [B, N, D]. */
  lastHiddenState: Tensor;
}

/**
 * HF `PerceiverForMaskedLM`: bytes embeddings + learned positions, the encoder, a BasicDecoder with one learned
 * query per position (8 heads, qk 256, v = d_model, no query residual, no final layer) and logits from the
 * input embedding (tied) plus `embedding_decoder.bias`.
 */
export class PerceiverForMaskedLM extends Module {
  readonly config: PerceiverConfig;
  perceiver: PerceiverModel;
  embedding_decoder: PerceiverEmbeddingDecoder;

  constructor(config: Partial<PerceiverConfig>, opts: { generator?: Generator } = {}) {
    super();
    const c = resolvePerceiverConfig(config);
    const g = opts.generator ?? new Generator(0);
    this.config = c;
    const text = new PerceiverTextPreprocessor({ vocabSize: c.vocabSize, dModel: c.dModel, maxPositionEmbeddings: c.maxPositionEmbeddings, initStd: c.initializerRange, generator: g });
    const decoder = new PerceiverBasicDecoder(c, {
      outputNumChannels: c.dLatents, positionEncodingType: 'trainable', outputIndexDims: c.maxPositionEmbeddings, numChannels: c.dModel,
      trainableChannels: c.dModel, qkChannels: 8 * 32, vChannels: c.dModel, numHeads: 8, useQueryResidual: false, finalProject: false, generator: g,
    });
    this.perceiver = new PerceiverModel(c, { inputPreprocessor: text, decoder, generator: g });
    this.embedding_decoder = new PerceiverEmbeddingDecoder(c.vocabSize);
  }

  get textPreprocessor(): PerceiverTextPreprocessor { return this.perceiver.input_preprocessor as PerceiverTextPreprocessor; }

  /** ids [B, T] int64 (T <= maxPositionEmbeddings); attentionMask [B, T] (1 = token, 0 = padding) or a bool paddingMask. */
  forward(ids: Tensor, masks: { attentionMask?: Tensor | null; paddingMask?: Tensor | null } = {}): MaskedLMOutput {
    const out = this.perceiver.forward(ids, { attentionMask: masks.attentionMask ?? null, paddingMask: masks.paddingMask ?? null });
    const h = out.logits as Tensor;
    return { logits: this.embedding_decoder.forward(h, this.textPreprocessor.embeddings.weight), lastHiddenState: out.lastHiddenState };
  }
}

export interface ImageClassifierOutput {
  /** [B, numLabels] */
  logits: Tensor;
  /** Latents after the encoder [B, N, D]. */
  lastHiddenState: Tensor;
}

export type HfImagePrep = 'learned' | 'fourier' | 'conv';

export interface HfImageClassifierOptions {
  numLabels: number;
  /** Trainable-position grid of the learned model: image_size^2 positions (HF config image_size, 224). */
  imageSize?: number;
  /** conv1x1 / learned-position / projection width of the learned model (HF: 256). */
  learnedChannels?: number;
  /** Conv front-end channels of the conv model (HF: 64). */
  convChannels?: number;
  /** 'hf' (HF geometry, default) or 'tf-same' (DeepMind's) for the conv front end. */
  convPadding?: 'hf' | 'tf-same';
  /** Fourier bands (HF: 64). */
  numBands?: number;
  /** Fourier max resolution (HF: [224, 224] for 'fourier', [56, 56] for 'conv'). */
  maxResolution?: readonly number[];
  generator?: Generator;
}

/** The HF image preprocessor of each ImageNet classifier (spec A9.2). */
export function hfImagePreprocessorOptions(prep: HfImagePrep, o: Omit<HfImageClassifierOptions, 'numLabels'> = {}): ImagePreprocessorOptions {
  if (prep === 'learned') {
    const C = o.learnedChannels ?? 256, S = o.imageSize ?? 224;
    return { prepType: 'conv1x1', spatialDownsample: 1, outChannels: C, positionEncoding: { type: 'trainable', indexDims: S * S, numChannels: C }, concatOrAddPos: 'concat', projectPosDim: C, generator: o.generator };
  }
  const fourier = { type: 'fourier' as const, numBands: o.numBands ?? 64, concatPos: true, sineOnly: false };
  if (prep === 'fourier') return { prepType: 'pixels', spatialDownsample: 1, positionEncoding: { ...fourier, maxResolution: o.maxResolution ?? [224, 224] }, generator: o.generator };
  return { prepType: 'conv', spatialDownsample: 1, outChannels: o.convChannels ?? 64, convPadding: o.convPadding, positionEncoding: { ...fourier, maxResolution: o.maxResolution ?? [56, 56] }, generator: o.generator };
}

/**
 * HF `PerceiverForImageClassification{Learned,Fourier,ConvProcessing}`: image preprocessor, the encoder and a
 * classification decoder (one learned query [1, D], 1 head, query residual, final Linear D -> numLabels).
 * Images are [B, 3, H, W], normalised as the HF image processor does.
 */
export class PerceiverForImageClassification extends Module {
  readonly config: PerceiverConfig;
  readonly prep: HfImagePrep;
  perceiver: PerceiverModel;

  constructor(prep: HfImagePrep, config: Partial<PerceiverConfig>, opts: HfImageClassifierOptions) {
    super();
    const c = resolvePerceiverConfig(config);
    const g = opts.generator ?? new Generator(0);
    this.config = c;
    this.prep = prep;
    const pre = new PerceiverImagePreprocessor(hfImagePreprocessorOptions(prep, { ...opts, generator: g }));
    const decoder = new PerceiverClassificationDecoder(c, { numLabels: opts.numLabels, numChannels: c.dLatents, useQueryResidual: true, generator: g });
    this.perceiver = new PerceiverModel(c, { inputPreprocessor: pre, decoder, generator: g });
  }

  forward(images: Tensor): ImageClassifierOutput {
    const out = this.perceiver.forward(images);
    return { logits: out.logits as Tensor, lastHiddenState: out.lastHiddenState };
  }
}

export type HfPerceiverModel = PerceiverForMaskedLM | PerceiverForImageClassification;

// ---------------------------------------------------------------- loading

export interface LoadHfPerceiverOptions {
  /** Override `architectures[0]` of config.json. */
  architecture?: HfPerceiverArchitecture;
  /** Fourier settings HF hard-codes in its classes (the loader infers numBands from the weights when it can). */
  numBands?: number;
  maxResolution?: readonly number[];
  convPadding?: 'hf' | 'tf-same';
  /** Throw unless every key matches in name and shape (default true); otherwise load what matches and report. */
  strict?: boolean;
}

export interface LoadHfPerceiverResult extends LoadStateDictResult {
  model: HfPerceiverModel;
  architecture: HfPerceiverArchitecture;
  config: PerceiverConfig;
}

type Weights = Map<string, StoredTensor | { shape: readonly number[]; data: StoredTensor['data'] }>;

const PRE = 'perceiver.input_preprocessor.';
const KEY_IN = 'perceiver.encoder.cross_attention.attention.self.key.weight';

function shapeOf(w: Weights, key: string): readonly number[] | undefined { return w.get(key)?.shape; }

/** Sizes HF hard-codes in the classifier classes, read from the checkpoint where possible. */
function inferImageOptions(arch: HfPerceiverArchitecture, json: HfPerceiverConfigJson, w: Weights, o: LoadHfPerceiverOptions, source: string): HfImageClassifierOptions {
  const numLabels = hfNumLabels(json);
  const base: HfImageClassifierOptions = { numLabels, imageSize: json.image_size ?? 224, convPadding: o.convPadding, maxResolution: o.maxResolution };
  const kvIn = shapeOf(w, KEY_IN)?.[1];
  const fourierBands = (featureChannels: number): number | undefined => {
    if (o.numBands !== undefined) return o.numBands;
    if (kvIn === undefined) return undefined;
    // kv width = features + 2 (raw positions) + 2 axes * 2 (sin, cos) * K
    const k = (kvIn - featureChannels - 2) / 4;
    if (!Number.isInteger(k) || k < 1) throw new ShapeError(source, `cannot read the number of Fourier bands: the encoder's key input width ${kvIn} is not ${featureChannels} feature channels + 2 + 4*K`);
    return k;
  };
  if (arch === 'PerceiverForImageClassificationLearned') {
    const conv = shapeOf(w, `${PRE}convnet_1x1.weight`);
    const pos = shapeOf(w, `${PRE}position_embeddings.position_embeddings`);
    const C = conv?.[0] ?? 256;
    if (pos && pos[1] !== C) throw new ShapeError(source, `learned positions ${fmtShape(pos)} must have the conv1x1 width ${C} (HF projects them with Linear(${C}, ${C}))`);
    // The trainable grid is image_size^2 positions; a checkpoint's table fixes it.
    let imageSize = base.imageSize!;
    if (pos) {
      const side = Math.round(Math.sqrt(pos[0]!));
      if (side * side !== pos[0]) throw new ShapeError(source, `learned positions ${fmtShape(pos)} are not a square grid`);
      imageSize = side;
    }
    return { ...base, imageSize, learnedChannels: C };
  }
  if (arch === 'PerceiverForImageClassificationFourier') return { ...base, numBands: fourierBands(3) };
  const conv = shapeOf(w, `${PRE}convnet.conv.weight`);
  const C = conv?.[0] ?? 64;
  return { ...base, convChannels: C, numBands: fourierBands(C) };
}

/** Build the (randomly initialised) HF task model for an architecture and config, sized after `weights`. */
export function buildHfPerceiver(architecture: HfPerceiverArchitecture, json: HfPerceiverConfigJson, weights: Weights = new Map(), opts: LoadHfPerceiverOptions = {}, source = 'checkpoint'): HfPerceiverModel {
  const config = perceiverConfigFromHf(json);
  switch (architecture) {
    case 'PerceiverForMaskedLM': return new PerceiverForMaskedLM(config);
    case 'PerceiverForImageClassificationLearned': return new PerceiverForImageClassification('learned', config, inferImageOptions(architecture, json, weights, opts, source));
    case 'PerceiverForImageClassificationFourier': return new PerceiverForImageClassification('fourier', config, inferImageOptions(architecture, json, weights, opts, source));
    case 'PerceiverForImageClassificationConvProcessing': return new PerceiverForImageClassification('conv', config, inferImageOptions(architecture, json, weights, opts, source));
    default: throw new ShapeError(source, `unsupported architecture '${String(architecture)}' (supported: ${HF_PERCEIVER_ARCHITECTURES.join(', ')})`);
  }
}

function pickArchitecture(json: HfPerceiverConfigJson, o: LoadHfPerceiverOptions, source: string): HfPerceiverArchitecture {
  const a = o.architecture ?? json.architectures?.[0];
  if (!a) throw new ShapeError(source, `config.json names no architecture; pass { architecture } (one of ${HF_PERCEIVER_ARCHITECTURES.join(', ')})`);
  if (!(HF_PERCEIVER_ARCHITECTURES as readonly string[]).includes(a)) throw new ShapeError(source, `architecture '${a}' is not supported (supported: ${HF_PERCEIVER_ARCHITECTURES.join(', ')})`);
  return a as HfPerceiverArchitecture;
}

/**
 * Load an HF Perceiver checkpoint: `source` is a folder holding config.json and model.safetensors, or the two
 * given explicitly (paths, a parsed config, an in-memory weight map). Returns the model in eval mode with the
 * missing / unexpected / mis-shaped key report; with `strict` (default) any of those throws one error naming
 * them all and nothing is loaded.
 */
export async function loadHfPerceiver(
  source: string | { config: string | HfPerceiverConfigJson; weights: string | Weights },
  opts: LoadHfPerceiverOptions = {},
): Promise<LoadHfPerceiverResult> {
  let configSrc: string | HfPerceiverConfigJson, weightsSrc: string | Weights;
  if (typeof source === 'string') {
    if (!existsSync(source) || !statSync(source).isDirectory()) throw new Error(`loadHfPerceiver: '${source}' is not a folder (expected config.json + model.safetensors inside, or pass { config, weights })`);
    configSrc = join(source, 'config.json');
    weightsSrc = join(source, 'model.safetensors');
    if (!existsSync(weightsSrc)) {
      // older hub folders ship pickle weights; they are read by the safe (allowlisted, non-executing) reader
      const bin = ['pytorch_model.bin', 'model.pth'].find((f) => existsSync(join(source, f)));
      if (!bin) throw new Error(`loadHfPerceiver: no model.safetensors or pytorch_model.bin in '${source}'`);
      weightsSrc = join(source, bin);
    }
  } else ({ config: configSrc, weights: weightsSrc } = source);
  let json: HfPerceiverConfigJson;
  const cfgName = typeof configSrc === 'string' ? configSrc : 'config';
  if (typeof configSrc === 'string') {
    let text: string;
    try { text = await readFile(configSrc, 'utf8'); } catch (e) { throw new Error(`loadHfPerceiver: cannot read '${configSrc}': ${(e as Error).message}`); }
    try { json = JSON.parse(text) as HfPerceiverConfigJson; } catch (e) { throw new Error(`loadHfPerceiver: '${configSrc}' is not valid JSON: ${(e as Error).message}`); }
  } else json = configSrc;
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error(`loadHfPerceiver: ${cfgName} must hold a JSON object`);
  const weights: Weights = typeof weightsSrc !== 'string' ? weightsSrc
    : /\.(bin|pth|pt)$/i.test(weightsSrc) ? await readTorchCheckpoint(weightsSrc) : (await readSafetensors(weightsSrc)).tensors;
  const wName = typeof weightsSrc === 'string' ? weightsSrc : 'weights';
  const architecture = pickArchitecture(json, opts, cfgName);
  const model = buildHfPerceiver(architecture, json, weights, opts, wName);
  // torch fills a BatchNorm's missing `num_batches_tracked` (older checkpoints) on load; so does this loader.
  let tensors = weights as Map<string, StoredTensor>;
  const counters = [...model.stateDict().keys()].filter((k) => k.endsWith('.num_batches_tracked') && !weights.has(k));
  if (counters.length) {
    tensors = new Map(tensors);
    for (const k of counters) tensors.set(k, { shape: [], data: new BigInt64Array(1), storedDtype: 'I64' });
  }
  const result = applyStateDict(model, tensors, { strict: opts.strict ?? true }, wName);
  model.eval();
  return { model, architecture, config: model.config, ...result };
}
