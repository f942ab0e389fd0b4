// Perceiver IO input preprocessors, output postprocessors and the UTF-8 bytes tokenizer, with the parameter
// names of Hugging Face's modeling_perceiver (so `perceiver.input_preprocessor.*` and
// `perceiver.output_postprocessor.*` keys load by name). Spec: docs/perceiver.md and
// shared/specs/perceiver-unireplknet.md A5-A8.
//
// Every preprocessor returns `{ inputs [B, M, C], modalitySizes, inputsWithoutPos }` like HF's
// (inputs_with_pos, modality_sizes, inputs_without_pos). Image and video inputs are channels-first, as HF
// takes them: images [B, C, H, W], videos [B, T, C, H, W]; features become channels-last before flattening.
import { ShapeError, fmtShape } from '../../engine/errors.js';
import { cat, narrow, pad, slice } from '../../engine/functional/indexing.js';
import { maxPool2d } from '../../engine/functional/conv.js';
import { defaultGenerator, type Generator } from '../../engine/functional/random.js';
import { Tensor, Variable } from '../../engine/tensor.js';
import { Conv2d } from '../../nn/conv.js';
import { Embedding } from '../../nn/embedding.js';
import { normal_ } from '../../nn/init.js';
import { Linear } from '../../nn/linear.js';
import { Module } from '../../nn/module.js';
import { BatchNorm2d } from '../../nn/norm.js';
import { ModuleDict, ParameterDict, type PerceiverPreprocessor, type PreprocessorOutput } from './model.js';
import { FourierPositionEncoding, TrainablePositionEncoding, type FourierFeatureOptions } from './position.js';

// ---------------------------------------------------------------- bytes tokenizer

/** HF PerceiverTokenizer / DeepMind bytes_tokenizer ids: 6 specials, then byte b -> b + 6 (vocab 262). */
export const PERCEIVER_SPECIAL_TOKENS = { pad: 0, bos: 1, eos: 2, mask: 3, cls: 4, sep: 5 } as const;
const SPECIAL_NAMES = ['[PAD]', '[BOS]', '[EOS]', '[MASK]', '[CLS]', '[SEP]'] as const;
export const PERCEIVER_NUM_SPECIAL_TOKENS = 6;
export const PERCEIVER_VOCAB_SIZE = 256 + PERCEIVER_NUM_SPECIAL_TOKENS;

export interface BytesEncodeOptions {
  /** HF style `[CLS] x [SEP]` / `[CLS] a [SEP] b [SEP]` (default true); DeepMind's tokenizer adds none. */
  addSpecialTokens?: boolean;
}

export interface BytesBatchOptions extends BytesEncodeOptions {
  /** 'max_length' pads every row to `maxLength` (what the HF MLM needs), 'longest' to the longest row. */
  padding?: 'max_length' | 'longest' | false;
  /** Cut rows longer than `maxLength` (special tokens kept); otherwise such rows throw. */
  truncation?: boolean;
  /** Default 2048 (HF model_max_length). */
  maxLength?: number;
}

export interface BytesBatch {
  /** [B, T] int64 ids. */
  inputIds: Tensor;
  /** [B, T] float32, 1 = token, 0 = padding (HF attention_mask). */
  attentionMask: Tensor;
  /** Row lengths before padding. */
  lengths: number[];
}

/**
 * The UTF-8 bytes tokenizer of Perceiver IO. Ids 0..5 are [PAD] [BOS] [EOS] [MASK] [CLS] [SEP]; byte b is
 * b + 6. Decoding maps special ids to their names (or drops them) and invalid UTF-8 to U+FFFD, as HF does.
 */
export class PerceiverBytesTokenizer {
  readonly vocabSize = PERCEIVER_VOCAB_SIZE;
  readonly special = PERCEIVER_SPECIAL_TOKENS;
  readonly modelMaxLength: number;
  constructor(opts: { modelMaxLength?: number } = {}) { this.modelMaxLength = opts.modelMaxLength ?? 2048; }

  /** Text -> ids (bytes + 6), wrapped as [CLS] text [SEP] unless `addSpecialTokens: false`. */
  encode(text: string, opts: BytesEncodeOptions = {}): number[] {
    const body = Array.from(new TextEncoder().encode(text), (b) => b + PERCEIVER_NUM_SPECIAL_TOKENS);
    return (opts.addSpecialTokens ?? true) ? [this.special.cls, ...body, this.special.sep] : body;
  }

  /** A pair: [CLS] a [SEP] b [SEP]. */
  encodePair(a: string, b: string, opts: BytesEncodeOptions = {}): number[] {
    const ea = this.encode(a, { addSpecialTokens: false }), eb = this.encode(b, { addSpecialTokens: false });
    return (opts.addSpecialTokens ?? true) ? [this.special.cls, ...ea, this.special.sep, ...eb, this.special.sep] : [...ea, ...eb];
  }

  /** Ids -> text. Specials become '[CLS]'... (or vanish with skipSpecialTokens); bad UTF-8 becomes U+FFFD. */
  decode(ids: Iterable<number | bigint>, opts: { skipSpecialTokens?: boolean } = {}): string {
    let out = '';
    let bytes: number[] = [];
    const flush = (): void => { if (bytes.length) out += new TextDecoder('utf-8', { fatal: false }).decode(Uint8Array.from(bytes)); bytes = []; };
    for (const v of ids) {
      const id = Number(v);
      if (!Number.isInteger(id) || id < 0 || id >= PERCEIVER_VOCAB_SIZE) throw new RangeError(`PerceiverBytesTokenizer.decode: id ${v} is outside the vocabulary [0, ${PERCEIVER_VOCAB_SIZE})`);
      if (id < PERCEIVER_NUM_SPECIAL_TOKENS) {
        flush();
        if (!opts.skipSpecialTokens) out += SPECIAL_NAMES[id];
      } else {
        bytes.push(id - PERCEIVER_NUM_SPECIAL_TOKENS);
      }
    }
    flush();
    return out;
  }

  /** Encode, pad (id 0, mask 0) and stack a batch of texts. */
  batch(texts: readonly string[], opts: BytesBatchOptions = {}): BytesBatch {
    if (texts.length === 0) throw new RangeError('PerceiverBytesTokenizer.batch: no texts');
    const maxLength = opts.maxLength ?? this.modelMaxLength;
    const padding = opts.padding ?? 'longest';
    const rows = texts.map((t, i) => {
      let ids = this.encode(t, opts);
      if (ids.length > maxLength) {
        if (!opts.truncation) throw new RangeError(`PerceiverBytesTokenizer.batch: text ${i} is ${ids.length} tokens long, more than maxLength ${maxLength} (pass truncation: true to cut it)`);
        const keepSep = (opts.addSpecialTokens ?? true) && maxLength >= 2;
        ids = keepSep ? [...ids.slice(0, maxLength - 1), this.special.sep] : ids.slice(0, maxLength);
      }
      return ids;
    });
    const lengths = rows.map((r) => r.length);
    const T = padding === 'max_length' ? maxLength : Math.max(...lengths);
    if (padding === false && lengths.some((l) => l !== lengths[0])) throw new RangeError(`PerceiverBytesTokenizer.batch: rows have different lengths (${lengths.join(', ')}) and padding is off`);
    const ids = new BigInt64Array(texts.length * T), mask = new Float32Array(texts.length * T);
    rows.forEach((r, i) => r.forEach((id, j) => { ids[i * T + j] = BigInt(id); mask[i * T + j] = 1; }));
    return { inputIds: new Tensor([texts.length, T], 'int64', ids), attentionMask: new Tensor([texts.length, T], 'float32', mask), lengths };
  }
}

// ---------------------------------------------------------------- position encodings

/** How a preprocessor encodes positions ('fourier' needs maxResolution: its length fixes the grid rank). */
export type PositionEncodingSpec =
  | ({ type: 'fourier' } & FourierFeatureOptions & { maxResolution: readonly number[] })
  | { type: 'trainable'; indexDims: number | readonly number[]; numChannels: number }
  | { type: 'none' };

/** The `position_embeddings` module of a preprocessor and its width. */
function buildPositionEncoding(what: string, spec: PositionEncodingSpec, g: Generator): { module: TrainablePositionEncoding | FourierPositionEncoding; size: number } {
  if (spec.type === 'trainable') {
    const m = new TrainablePositionEncoding(spec.indexDims, spec.numChannels, { generator: g });
    return { module: m, size: m.outputSize() };
  }
  if (spec.type === 'fourier') {
    if (!spec.maxResolution?.length) throw new ShapeError(what, 'a Fourier position encoding needs maxResolution (one value per index dimension)');
    const m = new FourierPositionEncoding(spec);
    return { module: m, size: m.outputSize(spec.maxResolution.length) };
  }
  throw new ShapeError(what, `needs a 'fourier' or 'trainable' position encoding, got '${(spec as { type: string }).type}'`);
}

/** The position encoding over `indexDims` for a batch: [B, M, C]. */
function encodePositions(what: string, pe: TrainablePositionEncoding | FourierPositionEncoding, indexDims: readonly number[], batch: number): Tensor {
  const m = indexDims.reduce((a, b) => a * b, 1);
  if (pe instanceof TrainablePositionEncoding) {
    const n = pe.position_embeddings.shape[0]!;
    if (n !== m) throw new ShapeError(what, `the trainable position encoding has ${n} positions but the input has ${m} (index dims ${fmtShape(indexDims)})`);
    return pe.forward(batch);
  }
  const R = pe.maxResolution!;
  if (R.length !== indexDims.length) throw new ShapeError(what, `the Fourier encoding is ${R.length}-D (max_resolution ${fmtShape(R)}) but the input index dims are ${fmtShape(indexDims)}`);
  return pe.forward(indexDims, batch);
}

// ---------------------------------------------------------------- preprocessors

/** Output of every preprocessor here (model.ts's PreprocessorOutput with every field present). */
export interface PerceiverPreprocessorOutput extends PreprocessorOutput {
  modalitySizes: Record<string, number> | null;
  inputsWithoutPos: Tensor | Record<string, Tensor>;
}

/** Base of the preprocessors here: raw inputs -> [B, M, numChannels] (model.ts's PerceiverPreprocessor). */
export abstract class PerceiverPreprocessorBase<I = Tensor> extends Module implements PerceiverPreprocessor {
  /** C of the output. */
  abstract get numChannels(): number;
  abstract forward(x: I): PerceiverPreprocessorOutput;
}

function attachPositions(what: string, x: Tensor, pos: Tensor, projection: Linear | null, mode: 'concat' | 'add'): Tensor {
  const p = projection ? projection.forward(pos) : pos;
  if (mode === 'concat') return cat([x, p], -1);
  if (p.shape[2] !== x.shape[2]) throw new ShapeError(what, `concat_or_add_pos 'add' needs features and positions of equal width, got ${x.shape[2]} and ${p.shape[2]}`);
  return x.add(p);
}

/** Text: token embeddings + learned positions (added). HF PerceiverTextPreprocessor. */
export class PerceiverTextPreprocessor extends PerceiverPreprocessorBase<Tensor> {
  readonly dModel: number;
  embeddings: Embedding;
  position_embeddings: Embedding;
  constructor(opts: { vocabSize?: number; dModel: number; maxPositionEmbeddings: number; generator?: Generator; /** normal(0, std) init (HF initializer_range 0.02). */ initStd?: number }) {
    super();
    const g = opts.generator ?? defaultGenerator;
    this.dModel = opts.dModel;
    this.embeddings = new Embedding(opts.vocabSize ?? PERCEIVER_VOCAB_SIZE, opts.dModel, { generator: g });
    this.position_embeddings = new Embedding(opts.maxPositionEmbeddings, opts.dModel, { generator: g });
    normal_(this.embeddings.weight, 0, opts.initStd ?? 0.02, g);
    normal_(this.position_embeddings.weight, 0, opts.initStd ?? 0.02, g);
  }
  get numChannels(): number { return this.dModel; }
  /** ids [B, T] int64 (T <= max positions) -> [B, T, d_model]. */
  forward(ids: Tensor): PerceiverPreprocessorOutput {
    if (ids.rank !== 2 || ids.dtype !== 'int64') throw new ShapeError('PerceiverTextPreprocessor', `expected int64 ids [B, T], got ${ids.dtype} ${fmtShape(ids.shape)}`);
    const T = ids.shape[1]!, P = this.position_embeddings.numEmbeddings;
    if (T > P) throw new ShapeError('PerceiverTextPreprocessor', `sequence of ${T} tokens is longer than max_position_embeddings ${P}`);
    const x = this.embeddings.forward(ids);
    const pos = this.position_embeddings.weight.reshape([1, P, this.dModel]);
    const posT = T === P ? pos : narrow(pos, 1, 0, T);
    return { inputs: x.add(posT), modalitySizes: null, inputsWithoutPos: x };
  }
}

/** HF Conv2DDownsample: Conv2d 7x7 s2 (no bias) -> BatchNorm2d -> ReLU -> MaxPool 3x3 s2. */
export class Conv2DDownsample extends Module {
  /** 'hf': pad 3/3 and an unpadded pool (HF, 224 -> 55); 'tf-same': TF SAME (pad 2/3, pool 0/1) as DeepMind (224 -> 56). */
  readonly padding: 'hf' | 'tf-same';
  conv: Conv2d;
  batchnorm: BatchNorm2d | null;
  constructor(inChannels = 3, outChannels = 64, opts: { useBatchnorm?: boolean; padding?: 'hf' | 'tf-same'; generator?: Generator } = {}) {
    super();
    this.padding = opts.padding ?? 'hf';
    this.conv = new Conv2d(inChannels, outChannels, 7, { stride: 2, bias: false, generator: opts.generator });
    this.batchnorm = (opts.useBatchnorm ?? true) ? new BatchNorm2d(outChannels) : null;
  }
  forward(x: Tensor): Tensor {
    if (x.rank !== 4) throw new ShapeError('Conv2DDownsample', `expected images [B, C, H, W], got ${fmtShape(x.shape)}`);
    const H = x.shape[2]!, W = x.shape[3]!;
    const same = (n: number, k: number, s: number): [number, number] => {
      const total = Math.max((Math.ceil(n / s) - 1) * s + k - n, 0);
      return [Math.floor(total / 2), total - Math.floor(total / 2)];
    };
    let y: Tensor;
    if (this.padding === 'hf') {
      y = this.conv.forward(pad(x, [3, 3, 3, 3]));
    } else {
      const [t, b] = same(H, 7, 2), [l, r] = same(W, 7, 2);
      y = this.conv.forward(pad(x, [l, r, t, b]));
    }
    if (this.batchnorm) y = this.batchnorm.forward(y);
    y = y.relu();
    if (this.padding === 'tf-same') {
      // After ReLU every value is >= 0, so zero padding acts as TF's -inf padding for the max.
      const [t, b] = same(y.shape[2]!, 3, 2), [l, r] = same(y.shape[3]!, 3, 2);
      y = pad(y, [l, r, t, b]);
    }
    return maxPool2d(y, 3, { stride: 2 });
  }
}

export type ImagePrepType = 'conv' | 'conv1x1' | 'patches' | 'pixels';

export interface ImagePreprocessorOptions {
  prepType: ImagePrepType;
  /** Default 4 (HF default), must be 4^n for 'conv' (HF builds one conv+pool whatever n is). */
  spatialDownsample?: number;
  temporalDownsample?: number;
  positionEncoding: PositionEncodingSpec;
  inChannels?: number;
  /** Output channels of the conv / conv1x1 / conv-after-patching layers (default 64). */
  outChannels?: number;
  convAfterPatching?: boolean;
  convAfterPatchingInChannels?: number;
  conv2dUseBatchnorm?: boolean;
  /** 'hf' (default) or DeepMind's 'tf-same' geometry for prepType 'conv'. */
  convPadding?: 'hf' | 'tf-same';
  concatOrAddPos?: 'concat' | 'add';
  /** Project the position encoding to this width (Linear); -1 = none. */
  projectPosDim?: number;
  generator?: Generator;
}

/**
 * rearrange 'b c (h dh) (w dw) -> b h w (dh dw c)' (4-D) or 'b (t dt) c (h dh) (w dw) -> b t h w (dt dh dw c)'
 * (5-D): HF space_to_depth, channels-first in, channels-last out.
 */
export function spaceToDepth(x: Tensor, temporalBlock = 1, spatialBlock = 1): Tensor {
  const s = spatialBlock, t = temporalBlock;
  if (x.rank === 4) {
    const [B, C, H, W] = x.shape as [number, number, number, number];
    if (H % s || W % s) throw new ShapeError('spaceToDepth', `image ${fmtShape(x.shape)} is not divisible into ${s}x${s} blocks`);
    return x.reshape([B, C, H / s, s, W / s, s]).permute(0, 2, 4, 3, 5, 1).reshape([B, H / s, W / s, s * s * C]);
  }
  if (x.rank === 5) {
    const [B, T, C, H, W] = x.shape as [number, number, number, number, number];
    if (T % t || H % s || W % s) throw new ShapeError('spaceToDepth', `video ${fmtShape(x.shape)} is not divisible into ${t}x${s}x${s} blocks`);
    return x.reshape([B, T / t, t, C, H / s, s, W / s, s]).permute(0, 1, 4, 6, 2, 5, 7, 3).reshape([B, T / t, H / s, W / s, t * s * s * C]);
  }
  throw new ShapeError('spaceToDepth', `expected [B, C, H, W] or [B, T, C, H, W], got ${fmtShape(x.shape)}`);
}

/** Inverse of {@link spaceToDepth}: [B, h, w, (dh dw c)] -> [B, C, H, W], [B, t, h, w, (dt dh dw c)] -> [B, T, C, H, W]. */
export function depthToSpace(x: Tensor, temporalBlock = 1, spatialBlock = 1): Tensor {
  const s = spatialBlock, t = temporalBlock;
  if (x.rank === 4) {
    const [B, h, w, D] = x.shape as [number, number, number, number];
    if (D % (s * s)) throw new ShapeError('depthToSpace', `${D} channels are not divisible by ${s}x${s}`);
    const C = D / (s * s);
    return x.reshape([B, h, w, s, s, C]).permute(0, 5, 1, 3, 2, 4).reshape([B, C, h * s, w * s]);
  }
  if (x.rank === 5) {
    const [B, T, h, w, D] = x.shape as [number, number, number, number, number];
    if (D % (t * s * s)) throw new ShapeError('depthToSpace', `${D} channels are not divisible by ${t}x${s}x${s}`);
    const C = D / (t * s * s);
    return x.reshape([B, T, h, w, t, s, s, C]).permute(0, 1, 4, 7, 2, 5, 3, 6).reshape([B, T * t, C, h * s, w * s]);
  }
  throw new ShapeError('depthToSpace', `expected [B, h, w, D] or [B, t, h, w, D], got ${fmtShape(x.shape)}`);
}

/** Images [B, C, H, W] or videos [B, T, C, H, W] -> [B, M, C']. HF PerceiverImagePreprocessor. */
export class PerceiverImagePreprocessor extends PerceiverPreprocessorBase<Tensor> {
  readonly prepType: ImagePrepType;
  readonly spatialDownsample: number;
  readonly temporalDownsample: number;
  readonly inChannels: number;
  readonly outChannels: number;
  readonly concatOrAddPos: 'concat' | 'add';
  readonly projectPosDim: number;
  readonly convAfterPatching: boolean;
  /** Width of the position encoding before any projection. */
  readonly posEncodingSize: number;
  private readonly _fourierDims: number;
  convnet: Conv2DDownsample | null = null;
  convnet_1x1: Conv2d | null = null;
  position_embeddings: TrainablePositionEncoding | FourierPositionEncoding;
  positions_projection: Linear | null = null;
  conv_after_patches: Linear | null = null;

  constructor(opts: ImagePreprocessorOptions) {
    super();
    const g = opts.generator ?? defaultGenerator;
    this.prepType = opts.prepType;
    this.spatialDownsample = opts.spatialDownsample ?? 4;
    this.temporalDownsample = opts.temporalDownsample ?? 1;
    this.inChannels = opts.inChannels ?? 3;
    this.outChannels = opts.outChannels ?? 64;
    this.concatOrAddPos = opts.concatOrAddPos ?? 'concat';
    this.projectPosDim = opts.projectPosDim ?? -1;
    this.convAfterPatching = opts.convAfterPatching ?? false;
    const name = 'PerceiverImagePreprocessor';
    if (!['conv', 'conv1x1', 'patches', 'pixels'].includes(this.prepType)) throw new ShapeError(name, `prep_type '${this.prepType}' is not one of conv, conv1x1, patches, pixels`);
    if (this.prepType === 'conv') {
      const layers = Math.log(this.spatialDownsample) / Math.log(4);
      if (Math.abs(layers - Math.round(layers)) > 1e-9 || this.temporalDownsample !== 1) throw new ShapeError(name, `prep_type 'conv' needs a power-of-4 spatial_downsample and temporal_downsample 1, got ${this.spatialDownsample} and ${this.temporalDownsample}`);
      this.convnet = new Conv2DDownsample(this.inChannels, this.outChannels, { useBatchnorm: opts.conv2dUseBatchnorm, padding: opts.convPadding, generator: g });
    } else if (this.prepType === 'conv1x1') {
      if (this.temporalDownsample !== 1) throw new ShapeError(name, 'conv1x1 does not downsample in time');
      this.convnet_1x1 = new Conv2d(this.inChannels, this.outChannels, 1, { stride: this.spatialDownsample, generator: g });
    }
    const pe = buildPositionEncoding(name, opts.positionEncoding, g);
    this.position_embeddings = pe.module;
    this.posEncodingSize = pe.size;
    this._fourierDims = opts.positionEncoding.type === 'fourier' ? opts.positionEncoding.maxResolution.length : 0;
    // HF sizes this Linear's input by out_channels; the two agree in every HF config that runs (256 = 256).
    if (this.projectPosDim > 0) this.positions_projection = new Linear(pe.size, this.projectPosDim, { generator: g });
    if (this.convAfterPatching) this.conv_after_patches = new Linear(opts.convAfterPatchingInChannels ?? 54, this.outChannels, { generator: g });
  }

  private get posDim(): number { return this.projectPosDim > 0 ? this.projectPosDim : this.posEncodingSize; }
  // HF decides "video" by the rank of the position encoding (num_dimensions > 2).
  private get temporal(): boolean { return this._fourierDims > 2; }

  /** Feature channels before positions. */
  get featureChannels(): number {
    if (this.convAfterPatching || this.prepType === 'conv1x1' || this.prepType === 'conv') return this.outChannels;
    if (this.prepType === 'pixels') return this.inChannels;
    return this.inChannels * this.spatialDownsample ** 2 * (this.temporal ? this.temporalDownsample : 1);
  }
  get numChannels(): number { return this.concatOrAddPos === 'add' ? this.posDim : this.featureChannels + this.posDim; }

  /** The channels-last feature map [B, (T,) h, w, C] before flattening. */
  features(x: Tensor): Tensor {
    const name = 'PerceiverImagePreprocessor';
    if (x.rank !== 4 && x.rank !== 5) throw new ShapeError(name, `expected images [B, C, H, W] or videos [B, T, C, H, W], got ${fmtShape(x.shape)}`);
    const cAxis = x.rank === 4 ? 1 : 2;
    if (x.shape[cAxis] !== this.inChannels && !(this.prepType === 'patches' && this.convAfterPatching)) throw new ShapeError(name, `input ${fmtShape(x.shape)} has ${x.shape[cAxis]} channels, expected ${this.inChannels}`);
    const s = this.spatialDownsample, t = this.temporalDownsample;
    if (this.prepType === 'conv' || this.prepType === 'conv1x1') {
      if (x.rank !== 4) throw new ShapeError(name, `prep_type '${this.prepType}' takes images [B, C, H, W], got ${fmtShape(x.shape)}`);
      const y = this.prepType === 'conv' ? this.convnet!.forward(x) : this.convnet_1x1!.forward(x);
      return y.permute(0, 2, 3, 1);
    }
    if (this.prepType === 'pixels') {
      // Strided subsampling of the spatial (and time) axes; HF slices the batch axis instead (spec A12.10).
      let y = x;
      if (x.rank === 4) y = slice(slice(y, 2, 0, null, s), 3, 0, null, s).permute(0, 2, 3, 1);
      else y = slice(slice(slice(y, 1, 0, null, t), 3, 0, null, s), 4, 0, null, s).permute(0, 1, 3, 4, 2);
      return y;
    }
    let y = spaceToDepth(x, t, s);
    if (y.rank === 5 && y.shape[1] === 1) y = y.squeeze(1); // two frames merged into one (flow)
    if (this.conv_after_patches) {
      if (y.shape[y.rank - 1] !== this.conv_after_patches.inFeatures) throw new ShapeError(name, `patches have ${y.shape[y.rank - 1]} channels, conv_after_patches expects ${this.conv_after_patches.inFeatures}`);
      y = this.conv_after_patches.forward(y);
    }
    return y;
  }

  forward(x: Tensor): PerceiverPreprocessorOutput {
    const f = this.features(x);
    const B = f.shape[0]!, indexDims = f.shape.slice(1, -1), C = f.shape[f.rank - 1]!;
    const M = indexDims.reduce((a, b) => a * b, 1);
    const flat = f.reshape([B, M, C]);
    const pos = encodePositions('PerceiverImagePreprocessor', this.position_embeddings, indexDims, B);
    return { inputs: attachPositions('PerceiverImagePreprocessor', flat, pos, this.positions_projection, this.concatOrAddPos), modalitySizes: null, inputsWithoutPos: flat };
  }
}

export interface AudioPreprocessorOptions {
  /** 'patches': raw samples [B, S] or [B, S, 1] cut into patches; 'spectrogram': [B, T, F] in (pt x pf) patches. */
  prepType?: 'patches' | 'spectrogram';
  /** 'patches': samples per token (HF default 96; 16 in the Kinetics model). */
  samplesPerPatch?: number;
  /** 'spectrogram': patch size [frames, bins]. */
  patchSize?: readonly [number, number];
  positionEncoding: PositionEncodingSpec;
  concatOrAddPos?: 'concat' | 'add';
  projectPosDim?: number;
  generator?: Generator;
}

/** Audio -> [B, M, C]. HF PerceiverAudioPreprocessor ('patches'), plus spectrogram patches with 2-D positions. */
export class PerceiverAudioPreprocessor extends PerceiverPreprocessorBase<Tensor> {
  readonly prepType: 'patches' | 'spectrogram';
  readonly samplesPerPatch: number;
  readonly patchSize: readonly [number, number];
  readonly concatOrAddPos: 'concat' | 'add';
  readonly projectPosDim: number;
  readonly posEncodingSize: number;
  position_embeddings: TrainablePositionEncoding | FourierPositionEncoding;
  positions_projection: Linear | null = null;

  constructor(opts: AudioPreprocessorOptions) {
    super();
    const g = opts.generator ?? defaultGenerator;
    this.prepType = opts.prepType ?? 'patches';
    this.samplesPerPatch = opts.samplesPerPatch ?? 96;
    this.patchSize = opts.patchSize ?? [4, 4];
    this.concatOrAddPos = opts.concatOrAddPos ?? 'concat';
    this.projectPosDim = opts.projectPosDim ?? -1;
    const pe = buildPositionEncoding('PerceiverAudioPreprocessor', opts.positionEncoding, g);
    this.position_embeddings = pe.module;
    this.posEncodingSize = pe.size;
    if (this.projectPosDim > 0) this.positions_projection = new Linear(pe.size, this.projectPosDim, { generator: g });
  }
  get featureChannels(): number { return this.prepType === 'patches' ? this.samplesPerPatch : this.patchSize[0] * this.patchSize[1]; }
  get numChannels(): number {
    const pos = this.projectPosDim > 0 ? this.projectPosDim : this.posEncodingSize;
    return this.concatOrAddPos === 'add' ? pos : this.featureChannels + pos;
  }
  forward(x: Tensor): PerceiverPreprocessorOutput {
    const name = 'PerceiverAudioPreprocessor';
    let feats: Tensor, indexDims: number[];
    const B = x.shape[0]!;
    if (this.prepType === 'patches') {
      if (!(x.rank === 2 || (x.rank === 3 && x.shape[2] === 1))) throw new ShapeError(name, `expected a waveform [B, S] or [B, S, 1], got ${fmtShape(x.shape)}`);
      const S = x.shape[1]!;
      if (S % this.samplesPerPatch) throw new ShapeError(name, `${S} samples are not a multiple of samples_per_patch ${this.samplesPerPatch}`);
      indexDims = [S / this.samplesPerPatch];
      feats = x.reshape([B, indexDims[0]!, this.samplesPerPatch]);
    } else {
      if (x.rank !== 3) throw new ShapeError(name, `expected a spectrogram [B, T, F], got ${fmtShape(x.shape)}`);
      const [, T, Fq] = x.shape as [number, number, number];
      const [pt, pf] = this.patchSize;
      if (T % pt || Fq % pf) throw new ShapeError(name, `spectrogram ${fmtShape(x.shape)} is not divisible into ${pt}x${pf} patches`);
      indexDims = [T / pt, Fq / pf];
      feats = x.reshape([B, T / pt, pt, Fq / pf, pf]).permute(0, 1, 3, 2, 4).reshape([B, (T / pt) * (Fq / pf), pt * pf]);
    }
    const pos = encodePositions(name, this.position_embeddings, indexDims, B);
    return { inputs: attachPositions(name, feats, pos, this.positions_projection, this.concatOrAddPos), modalitySizes: null, inputsWithoutPos: feats };
  }
}

/** One-hot labels [B, K] -> [B, 1, K] (no positions). HF PerceiverOneHotPreprocessor. */
export class PerceiverOneHotPreprocessor extends PerceiverPreprocessorBase<Tensor> {
  constructor(readonly numLabels: number) { super(); }
  get numChannels(): number { return this.numLabels; }
  forward(x: Tensor): PerceiverPreprocessorOutput {
    if (x.rank !== 2 || x.shape[1] !== this.numLabels) throw new ShapeError('PerceiverOneHotPreprocessor', `expected [B, ${this.numLabels}], got ${fmtShape(x.shape)}`);
    const y = x.unsqueeze(1);
    return { inputs: y, modalitySizes: null, inputsWithoutPos: y };
  }
}

/** Split [B, N, C] into modalities by size, in sorted name order (HF `restructure`). */
export function restructure(modalitySizes: Record<string, number>, x: Tensor): Record<string, Tensor> {
  const names = Object.keys(modalitySizes).sort();
  const total = names.reduce((s, k) => s + modalitySizes[k]!, 0);
  if (x.rank < 2 || x.shape[1] !== total) throw new ShapeError('restructure', `input ${fmtShape(x.shape)} has ${x.shape[1]} positions, the modality sizes (${names.map((k) => `${k} ${modalitySizes[k]}`).join(', ')}) add up to ${total}`);
  const out: Record<string, Tensor> = {};
  let at = 0;
  for (const k of names) {
    const n = modalitySizes[k]!;
    out[k] = n === total ? x : narrow(x, 1, at, n);
    at += n;
  }
  return out;
}
export interface MultimodalPreprocessorOptions {
  /** Extra channels beyond the widest modality (HF default 2; 4 in the Kinetics model). */
  minPaddingSize?: number;
  /** Per-modality probability that a token is replaced by the learned mask token. */
  maskProbs?: Record<string, number>;
  /** normal(0, std) init of the padding and mask vectors (HF initializer_range 0.02). */
  initStd?: number;
  generator?: Generator;
}

/**
 * Runs each modality's preprocessor, pads every modality to a common width with a learned per-modality vector,
 * optionally swaps tokens for a learned mask token, and concatenates in sorted modality order.
 * HF PerceiverMultimodalPreprocessor (`modalities.*`, `padding.*`, `mask.*`).
 */
export class PerceiverMultimodalPreprocessor extends PerceiverPreprocessorBase<Record<string, Tensor>> {
  readonly minPaddingSize: number;
  readonly maskProbs: Record<string, number>;
  private readonly _generator: Generator;
  modalities: ModuleDict<PerceiverPreprocessorBase>;
  padding: ParameterDict;
  mask: ParameterDict;

  constructor(modalities: Record<string, PerceiverPreprocessorBase>, opts: MultimodalPreprocessorOptions = {}) {
    super();
    if (Object.keys(modalities).length === 0) throw new Error('PerceiverMultimodalPreprocessor: no modalities');
    this._generator = opts.generator ?? defaultGenerator;
    this.minPaddingSize = opts.minPaddingSize ?? 2;
    this.maskProbs = { ...(opts.maskProbs ?? {}) };
    for (const [k, p] of Object.entries(this.maskProbs)) {
      if (!(k in modalities)) throw new Error(`PerceiverMultimodalPreprocessor: mask probability for unknown modality '${k}'`);
      if (!(p >= 0 && p <= 1)) throw new RangeError(`PerceiverMultimodalPreprocessor: mask probability of '${k}' must be in [0, 1], got ${p}`);
    }
    this.modalities = new ModuleDict(modalities);
    const common = this.numChannels;
    const g = this._generator;
    const mk = (n: number): Variable => { const v = new Variable(new Float32Array(n), [1, n]); return normal_(v, 0, opts.initStd ?? 0.02, g); };
    this.padding = new ParameterDict(Object.fromEntries(Object.entries(modalities).map(([k, m]) => [k, mk(common - m.numChannels)])));
    this.mask = new ParameterDict(Object.fromEntries(Object.keys(this.maskProbs).map((k) => [k, mk(common)])));
  }

  get numChannels(): number {
    return Math.max(...this.modalities.keys().map((k) => this.modalities.get(k).numChannels)) + this.minPaddingSize;
  }

  forward(inputs: Record<string, Tensor>): PerceiverPreprocessorOutput {
    const C = this.numChannels;
    const padded: Record<string, Tensor> = {}, sizes: Record<string, number> = {}, without: Record<string, Tensor> = {};
    for (const k of this.modalities.keys()) {
      const x = inputs[k];
      if (!x) throw new Error(`PerceiverMultimodalPreprocessor: input for modality '${k}' is missing (got ${Object.keys(inputs).join(', ') || 'none'})`);
      const out = this.modalities.get(k).forward(x);
      without[k] = out.inputsWithoutPos as Tensor;
      const [B, N, c] = out.inputs.shape as [number, number, number];
      const padV = this.padding.get(k);
      let y = c === C ? out.inputs : cat([out.inputs, padV.unsqueeze(0).expand([B, N, C - c])], 2);
      const p = this.maskProbs[k];
      if (p !== undefined && p > 0) {
        const token = this.mask.get(k).unsqueeze(0).expand([B, N, C]);
        if (p >= 1) y = token;
        else {
          // Bernoulli(p) per token, drawn in TypeScript and fed as data (the graph stays the same).
          const u = this._generator.uniformData(B * N);
          const m = new Tensor([B, N, 1], 'float32', u.map((v) => (v < p ? 1 : 0)));
          y = y.mul(m.neg().add(1)).add(token.mul(m));
        }
      }
      padded[k] = y;
      sizes[k] = N;
    }
    const order = Object.keys(padded).sort();
    return { inputs: order.length === 1 ? padded[order[0]!]! : cat(order.map((k) => padded[k]!), 1), modalitySizes: sizes, inputsWithoutPos: without };
  }
}

// ---------------------------------------------------------------- postprocessors

/** MLM logits from the tied input embedding: h [B, T, D] @ E^T [D, V] + bias. HF PerceiverEmbeddingDecoder. */
export class PerceiverEmbeddingDecoder extends Module {
  bias: Variable;
  constructor(readonly vocabSize = PERCEIVER_VOCAB_SIZE) {
    super();
    this.bias = new Variable(new Float32Array(vocabSize), [vocabSize]);
  }
  forward(h: Tensor, embeddingWeight: Tensor): Tensor {
    if (embeddingWeight.rank !== 2 || embeddingWeight.shape[0] !== this.vocabSize || h.shape[h.rank - 1] !== embeddingWeight.shape[1]) {
      throw new ShapeError('PerceiverEmbeddingDecoder', `hidden ${fmtShape(h.shape)} and embedding ${fmtShape(embeddingWeight.shape)} must be [..., D] and [${this.vocabSize}, D]`);
    }
    return h.matmul(embeddingWeight.mT).add(this.bias);
  }
}

/** Linear then the first position: [B, N, C] -> [B, classes]. HF PerceiverClassificationPostprocessor. */
export class PerceiverClassificationPostprocessor extends Module {
  classifier: Linear;
  constructor(inChannels: number, numLabels: number, opts: { generator?: Generator } = {}) { super(); this.classifier = new Linear(inChannels, numLabels, opts); }
  forward(x: Tensor): Tensor {
    const y = this.classifier.forward(x);
    return y.rank === 3 ? (y.shape[1] === 1 ? y.squeeze(1) : narrow(y, 1, 0, 1).squeeze(1)) : y;
  }
}

/** Per-position projection [B, N, C] -> [B, N, out]. HF PerceiverProjectionPostprocessor. */
export class PerceiverProjectionPostprocessor extends Module {
  classifier: Linear;
  constructor(inChannels: number, outChannels: number, opts: { generator?: Generator } = {}) { super(); this.classifier = new Linear(inChannels, outChannels, opts); }
  forward(x: Tensor): Tensor { return this.classifier.forward(x); }
}

/** Per-patch samples, flattened back to a waveform [B, N * samplesPerPatch]. HF PerceiverAudioPostprocessor. */
export class PerceiverAudioPostprocessor extends Module {
  classifier: Linear;
  constructor(inChannels: number, samplesPerPatch: number, opts: { generator?: Generator } = {}) { super(); this.classifier = new Linear(inChannels, samplesPerPatch, opts); }
  forward(x: Tensor): Tensor { return this.classifier.forward(x).reshape([x.shape[0]!, -1]); }
}

/** Split the decoder output by modality (sorted order) and run each modality's postprocessor. */
export class PerceiverMultimodalPostprocessor extends Module {
  modalities: ModuleDict<Module & { forward(x: Tensor): Tensor }>;
  constructor(modalities: Record<string, Module & { forward(x: Tensor): Tensor }>) { super(); this.modalities = new ModuleDict(modalities); }
  forward(x: Tensor | Record<string, Tensor>, opts: { modalitySizes?: Record<string, number> | null } = {}): Record<string, Tensor> {
    let parts: Record<string, Tensor>;
    const modalitySizes = opts.modalitySizes;
    if (x instanceof Tensor) {
      if (!modalitySizes) throw new Error('PerceiverMultimodalPostprocessor: modality sizes are needed to split a tensor input');
      parts = restructure(modalitySizes, x);
    } else parts = x;
    const out: Record<string, Tensor> = {};
    for (const k of this.modalities.keys()) {
      if (!parts[k]) throw new Error(`PerceiverMultimodalPostprocessor: no output for modality '${k}'`);
      out[k] = this.modalities.get(k).forward(parts[k]!);
    }
    return out;
  }
}
