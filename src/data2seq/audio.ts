// Audio tokenizer in the AST style (Meta-Transformer §2.6): waveform -> Kaldi log-Mel filterbank -> pad/crop
// to a fixed number of frames -> normalise -> (SpecAugment in training) -> overlapping conv patches + learned
// positions, giving tokens [B, f·t, D] (no CLS token, as the released audio model).
//
// Host side (`prepare`): per clip, remove the waveform mean, compute `fbank` (src/data2seq/fbank.ts, which
// matches torchaudio.compliance.kaldi.fbank with AST's settings), zero-pad at the end or crop to
// `targetLength` frames, and normalise as (fbank - mean) / (2 std) (AST; defaults are the Speech Commands
// statistics of the released recipe). The result is float32 [B, T, F] (frames x Mel bins).
//
// Traced side (`forward`): in training mode only, SpecAugment (torchaudio FrequencyMasking / TimeMasking
// with AST's per-clip draws: width = floor(U·param), start = floor(U·(size - width))) sets one band of bins
// and one band of frames per clip to the normalised value of a zero fbank entry, which is what AST gets by
// masking before normalising. Masks are drawn from the tokenizer's seeded Generator and fed as data, so the
// compiled step graph is the same every iteration. Then [B, T, F] -> [B, 1, F, T] -> Conv2d(1, D, patch,
// stride) -> [B, D, f, t] -> tokens in (frequency-major) raster order + learned positions (trunc-normal 0.02).
//
// Geometry: the paper/AST convention (defaults here) is 128 bins, 16x16 patches with stride 10, so a
// 224-frame input gives 12 x 21 = 252 tokens. The released Meta-Transformer audio recipe used 224 bins x 224
// frames and an effective 32x32 kernel with stride 10 (400 tokens): `AudioTokenizer.released(dim)`.
//
// Not done here: mixup, the train-time additive noise and frame roll of AST, and resampling (clips must
// already have the configured sample rate).
import { ShapeError, fmtShape } from '../engine/errors.js';
import { defaultGenerator, type Generator } from '../engine/functional/random.js';
import { Tensor, Variable, where } from '../engine/tensor.js';
import { Conv2d } from '../nn/conv.js';
import { Dropout } from '../nn/dropout.js';
import { truncNormal_ } from '../nn/init.js';
import { Module } from '../nn/module.js';
import { fbank, frameGeometry, type FbankOptions } from './fbank.js';
import { Data2Seq, type TokenSequence } from './types.js';

/** Normalisation statistics of the released Speech Commands V2 recipe (`Audio/run_sc.sh`). */
export const SPEECH_COMMANDS_STATS = { mean: -6.845978, std: 5.5654526 } as const;
/** AST's AudioSet statistics, for reference. */
export const AUDIOSET_STATS = { mean: -4.2677393, std: 4.5689974 } as const;

/** A clip: bare samples (assumed at the tokenizer's sample rate) or samples with their rate (e.g. a WavData). */
export type AudioInput = Float32Array | readonly number[] | { samples: ArrayLike<number>; sampleRate: number };

type Pair = readonly [number, number];
function pair(op: string, what: string, v: number | Pair): [number, number] {
  const p: [number, number] = typeof v === 'number' ? [v, v] : [v[0], v[1]];
  if (p.length !== 2 || p.some((d) => !Number.isInteger(d) || d < 1)) throw new ShapeError(op, `${what} must be a positive integer or [frequency, time], got ${JSON.stringify(v)}`);
  return p;
}

export interface AudioTokenizerOptions {
  /** Token width D. */
  dim: number;
  /** Sample rate the clips must have (Hz, default 16000). */
  sampleRate?: number;
  /** Mel bins F (default 128; the released recipe uses 224). */
  numMelBins?: number;
  /** Frames T after zero-padding at the end / cropping (default 224, the released recipe). */
  targetLength?: number;
  /** Conv kernel [frequency, time] (default 16). */
  patchSize?: number | Pair;
  /** Conv stride [frequency, time] (default 10: AST's overlapping patches). */
  stride?: number | Pair;
  /** Normalisation (fbank - mean) / (2 std); defaults SPEECH_COMMANDS_STATS. */
  normMean?: number;
  normStd?: number;
  /** Skip the normalisation (AST's skip_norm). */
  skipNorm?: boolean;
  /** SpecAugment frequency-mask parameter (max width + 1, in bins; 0 = off). Default 48 (AST / the recipe). */
  freqMask?: number;
  /** SpecAugment time-mask parameter (frames; 0 = off). Default 48. */
  timeMask?: number;
  /** Other fbank settings (defaults: AST's, see fbank.ts). */
  fbank?: Omit<FbankOptions, 'sampleRate' | 'numMelBins'>;
  /** Dropout after adding positions (timm pos_drop, default 0). */
  dropout?: number;
  /** Seeds the initialisation, the SpecAugment draws and dropout. */
  generator?: Generator;
}

export class AudioTokenizer extends Data2Seq<Tensor, AudioInput> {
  readonly modality = 'audio' as const;
  readonly dim: number;
  readonly sampleRate: number;
  readonly numMelBins: number;
  readonly targetLength: number;
  readonly patchSize: [number, number];
  readonly stride: [number, number];
  readonly normMean: number;
  readonly normStd: number;
  readonly skipNorm: boolean;
  readonly freqMask: number;
  readonly timeMask: number;
  readonly fbankOptions: FbankOptions;
  /** Patch grid [f, t]. */
  readonly grid: [number, number];
  patch_embed: AudioPatchEmbed;
  pos_embed: Variable;
  pos_drop: Dropout;
  private _generator: Generator;

  constructor(opts: AudioTokenizerOptions) {
    super();
    const op = 'AudioTokenizer';
    if (!Number.isInteger(opts.dim) || opts.dim < 1) throw new ShapeError(op, `dim must be a positive integer, got ${opts.dim}`);
    this.dim = opts.dim;
    this.sampleRate = opts.sampleRate ?? 16000;
    if (!(this.sampleRate > 0)) throw new ShapeError(op, `sampleRate must be positive, got ${this.sampleRate}`);
    this.numMelBins = opts.numMelBins ?? 128;
    this.targetLength = opts.targetLength ?? 224;
    for (const [k, v] of [['numMelBins', this.numMelBins], ['targetLength', this.targetLength]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new ShapeError(op, `${k} must be a positive integer, got ${v}`);
    }
    this.patchSize = pair(op, 'patchSize', opts.patchSize ?? 16);
    this.stride = pair(op, 'stride', opts.stride ?? 10);
    if (this.patchSize[0] > this.numMelBins || this.patchSize[1] > this.targetLength) {
      throw new ShapeError(op, `patchSize ${fmtShape(this.patchSize)} does not fit a ${this.numMelBins} x ${this.targetLength} (bins x frames) spectrogram`);
    }
    this.normMean = opts.normMean ?? SPEECH_COMMANDS_STATS.mean;
    this.normStd = opts.normStd ?? SPEECH_COMMANDS_STATS.std;
    if (!Number.isFinite(this.normMean) || !(this.normStd > 0)) throw new ShapeError(op, `normMean must be finite and normStd positive, got ${this.normMean}, ${this.normStd}`);
    this.skipNorm = opts.skipNorm ?? false;
    this.freqMask = opts.freqMask ?? 48;
    this.timeMask = opts.timeMask ?? 48;
    for (const [k, v] of [['freqMask', this.freqMask], ['timeMask', this.timeMask]] as const) {
      if (!Number.isInteger(v) || v < 0) throw new ShapeError(op, `${k} must be a non-negative integer, got ${v}`);
    }
    this.fbankOptions = { ...(opts.fbank ?? {}), sampleRate: this.sampleRate, numMelBins: this.numMelBins };
    const { windowSize, windowShift } = frameGeometry(this.fbankOptions);
    if (windowSize < 2 || windowShift < 1) throw new ShapeError(op, `frame length/shift give ${windowSize}/${windowShift} samples at ${this.sampleRate} Hz`);
    const g = opts.generator ?? defaultGenerator;
    this._generator = g;
    this.patch_embed = new AudioPatchEmbed(this.dim, this.patchSize, this.stride, g);
    this.grid = [
      Math.floor((this.numMelBins - this.patchSize[0]) / this.stride[0]) + 1,
      Math.floor((this.targetLength - this.patchSize[1]) / this.stride[1]) + 1,
    ];
    this.pos_embed = new Variable(new Float32Array(this.numTokens * this.dim), [1, this.numTokens, this.dim]);
    truncNormal_(this.pos_embed, 0.02, { generator: g });
    this.pos_drop = new Dropout(opts.dropout ?? 0, { generator: g });
  }

  /**
   * The released Meta-Transformer audio geometry: 224 Mel bins x 224 frames, effective 32x32 kernel with
   * stride 10 -> 20 x 20 = 400 tokens.
   */
  static released(dim = 768, opts: Omit<AudioTokenizerOptions, 'dim'> = {}): AudioTokenizer {
    return new AudioTokenizer({ numMelBins: 224, targetLength: 224, patchSize: 32, stride: 10, ...opts, dim });
  }

  /** Tokens per clip: f · t. */
  get numTokens(): number { return this.grid[0] * this.grid[1]; }

  /** The value a masked entry takes: a zero fbank entry after normalisation (AST masks before normalising). */
  get maskValue(): number { return this.skipNorm ? 0 : -this.normMean / (2 * this.normStd); }

  /** Waveforms -> normalised log-Mel [B, targetLength, numMelBins]. */
  prepare(raw: AudioInput[]): Tensor {
    const op = 'AudioTokenizer.prepare';
    if (!Array.isArray(raw) || raw.length === 0) throw new ShapeError(op, 'expected a non-empty array of clips');
    const T = this.targetLength, F = this.numMelBins;
    const out = new Float32Array(raw.length * T * F);
    raw.forEach((clip, i) => {
      const feats = this.features(clip, i);
      const frames = Math.min(feats.frames, T);
      const base = i * T * F;
      for (let t = 0; t < T; t++) {
        for (let f = 0; f < F; f++) {
          const v = t < frames ? feats.data[t * F + f]! : 0; // AST pads the fbank with zeros (before normalising)
          out[base + t * F + f] = this.skipNorm ? v : (v - this.normMean) / (2 * this.normStd);
        }
      }
    });
    return new Tensor([raw.length, T, F], 'float32', out);
  }

  /** Log-Mel filterbank of one clip (mean removed first), unpadded [frames, numMelBins], with the input checks. */
  features(clip: AudioInput, index = 0): { data: Float32Array; frames: number } {
    const op = 'AudioTokenizer.prepare';
    let samples: ArrayLike<number>;
    if (clip instanceof Float32Array || Array.isArray(clip)) samples = clip as ArrayLike<number>;
    else if (clip && typeof clip === 'object' && 'samples' in clip) {
      const c = clip as { samples: ArrayLike<number>; sampleRate: number };
      if (c.sampleRate !== this.sampleRate) {
        throw new ShapeError(op, `clip ${index} has sample rate ${c.sampleRate} Hz but this tokenizer is configured for ${this.sampleRate} Hz; resample the audio first (no resampling is done here) or set sampleRate`);
      }
      samples = c.samples;
    } else {
      throw new ShapeError(op, `clip ${index} must be a Float32Array, a number[] or { samples, sampleRate }`);
    }
    const n = samples.length;
    if (n === 0) throw new ShapeError(op, `clip ${index} is empty (0 samples)`);
    let sum = 0, nonZero = false;
    for (let k = 0; k < n; k++) {
      const v = samples[k]!;
      if (!Number.isFinite(v)) throw new ShapeError(op, `clip ${index} has a ${Number.isNaN(v) ? 'NaN' : 'non-finite'} sample (${v}) at index ${k}`);
      if (v !== 0) nonZero = true;
      sum += v;
    }
    if (!nonZero) {
      throw new ShapeError(op, `clip ${index} is silent: all ${n} samples are zero, so its log-Mel filterbank would be the constant log(eps) floor; check the file or its decoding`);
    }
    const { windowSize } = frameGeometry(this.fbankOptions);
    if (n < windowSize && (this.fbankOptions.snipEdges ?? true)) {
      throw new ShapeError(op, `clip ${index} has ${n} samples, shorter than one ${this.fbankOptions.frameLengthMs ?? 25} ms frame (${windowSize} samples at ${this.sampleRate} Hz)`);
    }
    const mean = sum / n;
    const centred = new Float32Array(n);
    for (let k = 0; k < n; k++) centred[k] = samples[k]! - mean;
    const r = fbank(centred, this.fbankOptions);
    return { data: r.data, frames: r.frames };
  }

  /**
   * Draw SpecAugment keep-masks for a batch: [B, T, F] with 1 = keep, 0 = masked (one frequency band and one
   * time band per clip, torchaudio's draws). Consumes the tokenizer's generator.
   */
  drawSpecAugmentMask(batch: number, generator: Generator = this._generator): Float32Array {
    const T = this.targetLength, F = this.numMelBins;
    const keep = new Float32Array(batch * T * F).fill(1);
    const band = (param: number, size: number): [number, number] => {
      const value = generator.next() * param;
      const minValue = generator.next() * (size - value);
      const start = Math.floor(minValue);
      return [start, start + Math.floor(value)];
    };
    for (let b = 0; b < batch; b++) {
      if (this.freqMask > 0) {
        const [s, e] = band(this.freqMask, F);
        for (let t = 0; t < T; t++) for (let f = s; f < e; f++) keep[(b * T + t) * F + f] = 0;
      }
      if (this.timeMask > 0) {
        const [s, e] = band(this.timeMask, T);
        for (let t = s; t < e; t++) keep.fill(0, (b * T + t) * F, (b * T + t + 1) * F);
      }
    }
    return keep;
  }

  /** Apply fed SpecAugment masks (training only). */
  specAugment(x: Tensor): Tensor {
    if (!this.training || (this.freqMask === 0 && this.timeMask === 0)) return x;
    const keep = new Tensor(x.shape, 'bool', Uint8Array.from(this.drawSpecAugmentMask(x.shape[0]!)));
    return where(keep, x, this.maskValue);
  }

  /** fbank [B, T, F] (from `prepare`) -> tokens [B, f·t, D]. */
  forward(input: Tensor): TokenSequence {
    const op = 'AudioTokenizer';
    if (!(input instanceof Tensor) || input.rank !== 3 || input.dtype !== 'float32') {
      throw new ShapeError(op, `expected float32 filterbanks [B, ${this.targetLength}, ${this.numMelBins}] (frames x bins, from prepare), got ${input instanceof Tensor ? `${input.dtype} ${fmtShape(input.shape)}` : String(input)}`);
    }
    if (input.shape[1] !== this.targetLength || input.shape[2] !== this.numMelBins) {
      throw new ShapeError(op, `filterbanks ${fmtShape(input.shape)} must be [B, ${this.targetLength}, ${this.numMelBins}] (targetLength frames x numMelBins)`);
    }
    const x = this.specAugment(input).transpose(1, 2).unsqueeze(1); // [B, 1, F, T]
    const tokens = this.patch_embed.forward(x).add(this.pos_embed);
    return { tokens: this.pos_drop.forward(tokens), paddingMask: null };
  }
}

/** Conv2d(1, D, kernel, stride) patchifier over [B, 1, F, T] (AST's `patch_embed.proj`). */
export class AudioPatchEmbed extends Module {
  proj: Conv2d;
  constructor(dim: number, kernel: Pair, stride: Pair, generator: Generator = defaultGenerator) {
    super();
    this.proj = new Conv2d(1, dim, [kernel[0], kernel[1]], { stride: [stride[0], stride[1]], generator });
  }
  /** [B, 1, F, T] -> [B, f·t, D], frequency-major. */
  forward(x: Tensor): Tensor { return this.proj.forward(x).flatten(2).transpose(1, 2); }
}
