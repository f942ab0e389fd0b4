// Video tokenizer (Meta-Transformer §2.4, VideoMAE v2's PatchEmbed): a Conv3d over tubelets
// (kernel = stride = tubelet × patch × patch, 2×16×16 by default) flattened in (t, h, w) raster order, plus
// the fixed 1-D sinusoid table of VideoMAE's `get_sinusoid_encoding_table` over the flattened tokens (not
// trained). [B, 3, 16, 224, 224] gives 8·14·14 = 1568 tokens [B, 1568, D]. No CLS token (the reference
// mean-pools). The Data2Seq demo's Video.py (2-D kernel tuple, 4-D assert) is broken; this follows the
// working VideoMAE code.
//
// Input format. `forward` takes float32 clips [B, C, T, H, W] (channel-first; T a multiple of the tubelet
// size, H and W multiples of the patch size; other sizes than the configured one get a sinusoid table of
// their own length). `prepare(raw)` builds it from a list of clips, each either
//   - a Float32Array of channels·frames·height·width values in the configured `layout` ('cthw', default, or
//     'thwc' = frames of interleaved pixels, as decoders emit) for clips of the configured size, or
//   - { data, frames, height, width, channels? },
// all of one size, mapped per channel as (v · scale − mean[c]) / std[c] (VideoMAE uses IMAGENET_MEAN/STD on
// [0, 1] values). NaN or infinite values are rejected with the clip, channel, frame and pixel named.
import { ShapeError, fmtShape } from '../engine/errors.js';
import { defaultGenerator, type Generator } from '../engine/functional/random.js';
import { Tensor } from '../engine/tensor.js';
import { Conv3d } from '../nn/conv.js';
import { Dropout } from '../nn/dropout.js';
import { Module } from '../nn/module.js';
import { assertFinite, channelStats, type ChannelNormalization } from './image.js';
import { sinusoidTable } from './sinusoid.js';
import { Data2Seq, type TokenSequence } from './types.js';

export type VideoLayout = 'cthw' | 'thwc';

export interface RawVideo {
  data: Float32Array | ArrayLike<number>;
  frames: number;
  height: number;
  width: number;
  /** Default: the tokenizer's `channels`. */
  channels?: number;
}
export type VideoInput = RawVideo | Float32Array;

export interface VideoTokenizerOptions extends ChannelNormalization {
  /** Token width D. */
  dim: number;
  /** Spatial patch size (default 16). */
  patchSize?: number;
  /** Frames per tubelet (default 2). */
  tubeletSize?: number;
  /** Configured clip length (default 16). */
  numFrames?: number;
  /** Configured frame size (default 224). */
  imageSize?: number;
  /** Channels (default 3). */
  channels?: number;
  /** Fixed sinusoid positions (default) or none. */
  positionEmbedding?: 'sinusoid' | 'none';
  /** Value order of Float32Array clips given to `prepare` (default 'cthw'). */
  layout?: VideoLayout;
  /** Dropout after adding positions (default 0). */
  dropout?: number;
  generator?: Generator;
}

/** The tubelet patchifier (VideoMAE `PatchEmbed`, `proj` = Conv3d(k = s = (t, p, p))). */
export class VideoPatchEmbed extends Module {
  readonly kernel: [number, number, number];
  proj: Conv3d;
  constructor(inChannels: number, dim: number, kernel: [number, number, number], generator: Generator = defaultGenerator) {
    super();
    this.kernel = kernel;
    this.proj = new Conv3d(inChannels, dim, kernel, { stride: kernel, generator });
  }
  /** [B, C, T, H, W] -> [B, (T/t)(H/p)(W/p), D]. */
  forward(x: Tensor): Tensor { return this.proj.forward(x).flatten(2).transpose(1, 2); }
}

export class VideoTokenizer extends Data2Seq<Tensor, VideoInput> {
  readonly modality = 'video' as const;
  readonly dim: number;
  readonly patchSize: number;
  readonly tubeletSize: number;
  readonly numFrames: number;
  readonly imageSize: number;
  readonly channels: number;
  readonly positionEmbedding: 'sinusoid' | 'none';
  readonly layout: VideoLayout;
  readonly normalization: ChannelNormalization;
  patch_embed: VideoPatchEmbed;
  pos_drop: Dropout;

  constructor(opts: VideoTokenizerOptions) {
    super();
    const op = 'VideoTokenizer';
    const ints: [string, number | undefined, number][] = [
      ['dim', opts.dim, NaN], ['patchSize', opts.patchSize, 16], ['tubeletSize', opts.tubeletSize, 2], ['numFrames', opts.numFrames, 16],
      ['imageSize', opts.imageSize, 224], ['channels', opts.channels, 3],
    ];
    const v = Object.fromEntries(ints.map(([k, x, d]) => {
      const val = x ?? d;
      if (!Number.isInteger(val) || val < 1) throw new ShapeError(op, `${k} must be a positive integer, got ${x}`);
      return [k, val];
    })) as Record<string, number>;
    this.dim = v.dim!;
    this.patchSize = v.patchSize!;
    this.tubeletSize = v.tubeletSize!;
    this.numFrames = v.numFrames!;
    this.imageSize = v.imageSize!;
    this.channels = v.channels!;
    this.positionEmbedding = opts.positionEmbedding ?? 'sinusoid';
    if (this.positionEmbedding !== 'sinusoid' && this.positionEmbedding !== 'none') throw new ShapeError(op, `positionEmbedding must be 'sinusoid' or 'none', got '${String(this.positionEmbedding)}'`);
    this.layout = opts.layout ?? 'cthw';
    if (this.layout !== 'cthw' && this.layout !== 'thwc') throw new ShapeError(op, `layout must be 'cthw' or 'thwc', got '${String(this.layout)}'`);
    this.checkSize(op, this.numFrames, this.imageSize, this.imageSize, 'configured clip size');
    this.normalization = { scale: opts.scale, mean: opts.mean, std: opts.std };
    channelStats(op, this.normalization, this.channels);
    const g = opts.generator ?? defaultGenerator;
    this.patch_embed = new VideoPatchEmbed(this.channels, this.dim, [this.tubeletSize, this.patchSize, this.patchSize], g);
    this.pos_drop = new Dropout(opts.dropout ?? 0, { generator: g });
  }

  private checkSize(op: string, t: number, h: number, w: number, what: string): void {
    const ts = this.tubeletSize, p = this.patchSize;
    if (!Number.isInteger(t) || t < ts || t % ts) throw new ShapeError(op, `${what}: ${t} frames is not a multiple of the tubelet size ${ts}`);
    if (!Number.isInteger(h) || !Number.isInteger(w) || h < p || w < p || h % p || w % p) {
      throw new ShapeError(op, `${what}: frame size ${h}x${w} (HxW) is not divisible by the patch size ${p}x${p}`);
    }
  }

  /** Tokens of a clip size: (T/t)·(H/p)·(W/p); 1568 for 16×224×224 with 2×16×16 tubelets. */
  numTokens(frames = this.numFrames, height = this.imageSize, width = this.imageSize): number {
    this.checkSize('VideoTokenizer', frames, height, width, 'clip size');
    return (frames / this.tubeletSize) * (height / this.patchSize) * (width / this.patchSize);
  }

  /** Raw clips -> float32 [B, C, T, H, W]. */
  prepare(raw: VideoInput[]): Tensor {
    const op = 'VideoTokenizer.prepare';
    if (!Array.isArray(raw) || raw.length === 0) throw new ShapeError(op, 'expected a non-empty array of clips');
    const items = raw.map((r, i) => {
      if (r instanceof Float32Array) {
        const n = this.channels * this.numFrames * this.imageSize * this.imageSize;
        if (r.length !== n) {
          throw new ShapeError(op, `clip ${i} is a Float32Array of ${r.length} values; a bare array must hold channels x frames x height x width = ${this.channels}x${this.numFrames}x${this.imageSize}x${this.imageSize} = ${n} values (pass { data, frames, height, width, channels } for other sizes)`);
        }
        return { data: r as ArrayLike<number>, frames: this.numFrames, height: this.imageSize, width: this.imageSize, channels: this.channels };
      }
      if (!r || typeof r !== 'object' || !('data' in r)) throw new ShapeError(op, `clip ${i} must be a Float32Array or { data, frames, height, width, channels? }`);
      const c = r.channels ?? this.channels;
      const dims = [c, r.frames, r.height, r.width];
      if (dims.some((d) => !Number.isInteger(d) || d < 1)) throw new ShapeError(op, `clip ${i} has invalid size channels ${c}, frames ${r.frames}, height ${r.height}, width ${r.width}`);
      const n = dims.reduce((a, b) => a * b, 1);
      if (r.data.length !== n) throw new ShapeError(op, `clip ${i} has ${r.data.length} values; expected channels x frames x height x width = ${dims.join('x')} = ${n}`);
      return { data: r.data, frames: r.frames, height: r.height, width: r.width, channels: c };
    });
    const { channels: C, frames: T, height: H, width: W } = items[0]!;
    items.forEach((it, i) => {
      if (it.channels !== C || it.frames !== T || it.height !== H || it.width !== W) {
        throw new ShapeError(op, `clip ${i} is ${it.channels}x${it.frames}x${it.height}x${it.width} (CxTxHxW) but clip 0 is ${C}x${T}x${H}x${W}; a batch must have one size`);
      }
    });
    if (C !== this.channels) throw new ShapeError(op, `clips have ${C} channels; this tokenizer expects ${this.channels}`);
    this.checkSize(op, T, H, W, 'clip size');
    const { scale, mean, std } = channelStats(op, this.normalization, C);
    const hw = H * W, thw = T * hw;
    const out = new Float32Array(raw.length * C * thw);
    const last = this.layout === 'thwc';
    items.forEach((it, b) => {
      assertFinite(op, `clip ${b}`, it.data, (k) => {
        const [c, p] = last ? [k % C, Math.floor(k / C)] : [Math.floor(k / thw), k % thw];
        return `channel ${c}, frame ${Math.floor(p / hw)}, row ${Math.floor((p % hw) / W)}, column ${p % W}`;
      });
      const base = b * C * thw;
      for (let c = 0; c < C; c++) {
        const m = mean[c]!, s = std[c]!;
        for (let p = 0; p < thw; p++) out[base + c * thw + p] = (Number(it.data[last ? p * C + c : c * thw + p]) * scale - m) / s;
      }
    });
    return new Tensor([raw.length, C, T, H, W], 'float32', out);
  }

  /** clips [B, C, T, H, W] -> tokens [B, (T/t)(H/p)(W/p), D]. */
  forward(video: Tensor): TokenSequence {
    const op = 'VideoTokenizer';
    if (!(video instanceof Tensor) || video.rank !== 5 || video.dtype !== 'float32') {
      throw new ShapeError(op, `expected float32 clips [B, C, T, H, W], got ${video instanceof Tensor ? `${video.dtype} ${fmtShape(video.shape)}` : String(video)}`);
    }
    const [, C, T, H, W] = video.shape as [number, number, number, number, number];
    if (C !== this.channels) throw new ShapeError(op, `clips ${fmtShape(video.shape)} have ${C} channels (axis 1); this tokenizer expects ${this.channels}`);
    this.checkSize(op, T, H, W, `clips ${fmtShape(video.shape)}`);
    let tokens = this.patch_embed.forward(video);
    if (this.positionEmbedding === 'sinusoid') tokens = tokens.add(sinusoidTable(tokens.shape[1]!, this.dim));
    return { tokens: this.pos_drop.forward(tokens), paddingMask: null };
  }
}
