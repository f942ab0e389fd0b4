// Image / infrared / X-ray tokenizer (Meta-Transformer §2.2): conv patchify (kernel = stride = patch), an
// optional CLS token and a learned position table, giving tokens [B, (cls) + (H/p)·(W/p), D].
//
// Input format. `forward` takes float32 images [B, C, H, W] (channel-first), H and W multiples of the patch
// size (any size: the position table is resampled when the grid differs from the configured one).
// `prepare(raw)` builds that tensor on the host from a list of images, each either
//   - a Float32Array of channels·height·width values in the configured `layout` ('chw', default, or 'hwc')
//     for images of the configured size, or
//   - { data, height, width, channels? } for any size (channels default: the tokenizer's `channels`),
// all of one size. Values are mapped as (v · scale − mean[c]) / std[c] (defaults: scale 1, mean 0, std 1;
// IMAGENET_MEAN/STD and CLIP_MEAN/STD are provided for images in [0, 1]). NaN or infinite values are
// rejected with the image, channel and pixel named.
//
// Channels. The kernel has `kernelChannels` input channels (default: `channels`). Grey data (1 channel) with a
// 3-channel kernel is replicated to 3 channels, as the reference requires for infrared and X-ray inputs (and
// so a pretrained RGB patch embedding loads unchanged); `infraredTokenizer` / `xrayTokenizer` default to
// that. Otherwise give `channels: n` for a kernel with n channels (multispectral, depth, ...).
//
// Parameter names follow timm's VisionTransformer (`patch_embed.proj.weight`, `cls_token`, `pos_embed`), so
// an image checkpoint's tokenizer part loads with loadStateDict. Position-table resampling to other grids
// is bicubic (timm, MMSeg) or bilinear, implemented in TypeScript as interpolation matrices:
// `interpolatePosEmbed` (host, raw weights), `resampleGridTokens` (traced, differentiable) and
// `ImageTokenizer.resizePositionEmbedding` (replace the stored table).
import { ShapeError, fmtShape } from '../engine/errors.js';
import { cat, narrow } from '../engine/functional/indexing.js';
import { defaultGenerator, type Generator } from '../engine/functional/random.js';
import { Tensor, Variable, constant } from '../engine/tensor.js';
import { Conv2d } from '../nn/conv.js';
import { Dropout } from '../nn/dropout.js';
import { normal_, truncNormal_ } from '../nn/init.js';
import { Module } from '../nn/module.js';
import { Data2Seq, type TokenSequence } from './types.js';

// ---------------------------------------------------------------------------------------------------
// Position-table interpolation (what timm's `resample_abs_pos_embed` and MMSeg's `resize_pos_embed` do with
// F.interpolate). Both modes are linear maps, written as interpolation matrices: applied to raw weights on
// the host (`interpolatePosEmbed`) or traced as two matmuls with constant matrices (`resampleGridTokens`),
// which keeps a resampled table differentiable with respect to the stored one.
//
// Semantics are torch.nn.functional.interpolate(..., align_corners=False, antialias=False) given an output
// size: source coordinate s = (i + 0.5) · in / out − 0.5;
//   'bilinear': s clamped at 0, neighbours floor(s) and floor(s) + 1 (clamped to the edge);
//   'bicubic' : Keys' cubic convolution with A = −0.75 over floor(s) − 1 ... floor(s) + 2, indices clamped
//               to the edge, s not clamped (as torch's upsample_bicubic2d).
// Downsampling uses the same kernels without antialiasing (torch's antialias=False, as MMSeg/ViT-Adapter).
// ---------------------------------------------------------------------------------------------------
export type InterpolationMode = 'bicubic' | 'bilinear';

const A = -0.75;
const cubic1 = (x: number): number => ((A + 2) * x - (A + 3)) * x * x + 1; //      |x| <= 1
const cubic2 = (x: number): number => ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; // 1 < |x| < 2

/** The [outSize, inSize] row-major matrix M with out = M · in along one axis. */
export function interpolationMatrix(inSize: number, outSize: number, mode: InterpolationMode = 'bicubic'): Float64Array {
  for (const [k, v] of [['inSize', inSize], ['outSize', outSize]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new ShapeError('interpolationMatrix', `${k} must be a positive integer, got ${v}`);
  }
  const m = new Float64Array(outSize * inSize);
  const scale = inSize / outSize;
  const clampIdx = (i: number): number => Math.min(Math.max(i, 0), inSize - 1);
  for (let o = 0; o < outSize; o++) {
    const row = o * inSize;
    if (inSize === outSize) { m[row + o] = 1; continue; }
    if (mode === 'bilinear') {
      const s = Math.max(scale * (o + 0.5) - 0.5, 0);
      const i0 = Math.floor(s);
      const i1 = i0 < inSize - 1 ? i0 + 1 : i0;
      const l1 = s - i0;
      m[row + i0] += 1 - l1;
      m[row + i1] += l1;
    } else if (mode === 'bicubic') {
      const s = scale * (o + 0.5) - 0.5;
      const i0 = Math.floor(s);
      const t = s - i0;
      const w = [cubic2(t + 1), cubic1(t), cubic1(1 - t), cubic2(2 - t)];
      for (let k = 0; k < 4; k++) m[row + clampIdx(i0 - 1 + k)] += w[k]!;
    } else {
      throw new ShapeError('interpolationMatrix', `unknown mode '${String(mode)}' (expected 'bicubic' or 'bilinear')`);
    }
  }
  return m;
}

export type Grid = readonly [height: number, width: number];

function checkGrid(op: string, what: string, g: Grid): void {
  if (g.length !== 2 || g.some((d) => !Number.isInteger(d) || d < 1)) throw new ShapeError(op, `${what} must be [height, width] of positive integers, got ${JSON.stringify(g)}`);
}

export interface InterpolatePosEmbedOptions {
  mode?: InterpolationMode;
  /** Leading tokens (CLS, ...) copied unchanged before the grid (default 0). */
  prefixTokens?: number;
}

/**
 * Resample a row-major position table of `prefixTokens + oldH·oldW` rows of width `dim` (grid rows in
 * raster order, as a ViT's `pos_embed[0]`) to the grid `newGrid`. Host-side, in double precision; returns
 * `prefixTokens + newH·newW` rows.
 */
export function interpolatePosEmbed(pos: Float32Array, oldGrid: Grid, newGrid: Grid, dim: number, opts: InterpolatePosEmbedOptions = {}): Float32Array {
  const op = 'interpolatePosEmbed';
  checkGrid(op, 'oldGrid', oldGrid);
  checkGrid(op, 'newGrid', newGrid);
  const prefix = opts.prefixTokens ?? 0;
  if (!Number.isInteger(dim) || dim < 1) throw new ShapeError(op, `dim must be a positive integer, got ${dim}`);
  if (!Number.isInteger(prefix) || prefix < 0) throw new ShapeError(op, `prefixTokens must be a non-negative integer, got ${prefix}`);
  const [h0, w0] = oldGrid, [h1, w1] = newGrid;
  const expected = (prefix + h0 * w0) * dim;
  if (pos.length !== expected) {
    throw new ShapeError(op, `table has ${pos.length} values; expected (${prefix} prefix + ${h0}x${w0} grid) tokens x ${dim} = ${expected}`);
  }
  const my = interpolationMatrix(h0, h1, opts.mode), mx = interpolationMatrix(w0, w1, opts.mode);
  const out = new Float32Array((prefix + h1 * w1) * dim);
  out.set(pos.subarray(0, prefix * dim));
  const grid = pos.subarray(prefix * dim);
  // rows first: tmp[y1, x0, :] = Σ_y0 my[y1, y0] grid[y0, x0, :]
  const tmp = new Float64Array(h1 * w0 * dim);
  for (let y1 = 0; y1 < h1; y1++) {
    for (let y0 = 0; y0 < h0; y0++) {
      const c = my[y1 * h0 + y0]!;
      if (c === 0) continue;
      const src = y0 * w0 * dim, dst = y1 * w0 * dim;
      for (let k = 0; k < w0 * dim; k++) tmp[dst + k] += c * grid[src + k]!;
    }
  }
  const res = new Float64Array(h1 * w1 * dim);
  for (let y1 = 0; y1 < h1; y1++) {
    for (let x1 = 0; x1 < w1; x1++) {
      const dst = (y1 * w1 + x1) * dim;
      for (let x0 = 0; x0 < w0; x0++) {
        const c = mx[x1 * w0 + x0]!;
        if (c === 0) continue;
        const src = (y1 * w0 + x0) * dim;
        for (let d = 0; d < dim; d++) res[dst + d] += c * tmp[src + d]!;
      }
    }
  }
  for (let i = 0; i < res.length; i++) out[prefix * dim + i] = res[i]!;
  return out;
}

const matCache = new Map<string, Tensor>();
function matrixConstant(inSize: number, outSize: number, mode: InterpolationMode): Tensor {
  const key = `${inSize}/${outSize}/${mode}`;
  let t = matCache.get(key);
  if (!t) {
    t = constant(Float32Array.from(interpolationMatrix(inSize, outSize, mode)), [outSize, inSize]);
    matCache.set(key, t);
  }
  return t;
}

/**
 * Traced resampling of a position table [1, prefixTokens + oldH·oldW, D] to [1, prefixTokens + newH·newW, D]
 * (differentiable: two matmuls with constant interpolation matrices). Returns the input when the grids agree.
 */
export function resampleGridTokens(pos: Tensor, oldGrid: Grid, newGrid: Grid, opts: InterpolatePosEmbedOptions = {}): Tensor {
  const op = 'resampleGridTokens';
  checkGrid(op, 'oldGrid', oldGrid);
  checkGrid(op, 'newGrid', newGrid);
  const prefix = opts.prefixTokens ?? 0, mode = opts.mode ?? 'bicubic';
  const [h0, w0] = oldGrid, [h1, w1] = newGrid;
  if (pos.rank !== 3 || pos.shape[0] !== 1 || pos.shape[1] !== prefix + h0 * w0) {
    throw new ShapeError(op, `position table ${fmtShape(pos.shape)} must be [1, ${prefix} + ${h0}*${w0}, D]`);
  }
  if (h0 === h1 && w0 === w1) return pos;
  const D = pos.shape[2]!;
  let grid = narrow(pos, 1, prefix, h0 * w0).reshape([h0, w0 * D]);
  if (h0 !== h1) grid = matrixConstant(h0, h1, mode).matmul(grid); //             [h1, w0·D]
  let g3 = grid.reshape([h1, w0, D]);
  if (w0 !== w1) g3 = matrixConstant(w0, w1, mode).unsqueeze(0).matmul(g3); // [h1, w1, D]
  const resized = g3.reshape([1, h1 * w1, D]);
  return prefix ? cat([narrow(pos, 1, 0, prefix), resized], 1) : resized;
}

// ---------------------------------------------------------------------------------------------------
// Host-side image preprocessing
// ---------------------------------------------------------------------------------------------------

/** ImageNet statistics for values in [0, 1] (timm / torchvision; the Meta-Transformer det/seg configs). */
export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;
/** OpenAI CLIP statistics for values in [0, 1]. */
export const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073] as const;
export const CLIP_STD = [0.26862954, 0.26130258, 0.27577711] as const;

export interface ChannelNormalization {
  /** Multiplies raw values first (e.g. 1/255 for bytes). Default 1. */
  scale?: number;
  /** Per-channel mean (one value, or one per channel). Default 0. */
  mean?: readonly number[];
  /** Per-channel standard deviation (one value, or one per channel). Default 1. */
  std?: readonly number[];
}

/** Per-channel (scale, mean, std) resolved for `channels` channels; throws on bad values. */
export function channelStats(op: string, norm: ChannelNormalization, channels: number): { scale: number; mean: Float64Array; std: Float64Array } {
  const scale = norm.scale ?? 1;
  if (!Number.isFinite(scale) || scale === 0) throw new ShapeError(op, `scale must be a finite non-zero number, got ${scale}`);
  const expand = (what: string, v: readonly number[] | undefined, dflt: number): Float64Array => {
    const arr = v ?? [dflt];
    if (arr.length !== 1 && arr.length !== channels) throw new ShapeError(op, `${what} has ${arr.length} values; expected 1 or one per channel (${channels})`);
    if (arr.some((x) => !Number.isFinite(x))) throw new ShapeError(op, `${what} values must be finite, got [${arr.join(', ')}]`);
    return Float64Array.from({ length: channels }, (_, c) => arr[arr.length === 1 ? 0 : c]!);
  };
  const mean = expand('mean', norm.mean, 0), std = expand('std', norm.std, 1);
  if (std.some((s) => s <= 0)) throw new ShapeError(op, `std values must be positive, got [${[...std].join(', ')}]`);
  return { scale, mean, std };
}

/** Throw a clear error naming the item and position of the first NaN / infinite value in `data`. */
export function assertFinite(op: string, what: string, data: ArrayLike<number>, describe: (index: number) => string): void {
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (!Number.isFinite(v)) throw new ShapeError(op, `${what} has a non-finite value (${v}) at index ${i} (${describe(i)}); clean or impute the data first`);
  }
}

export type ImageLayout = 'chw' | 'hwc';

/** One image: values in `layout` order. */
export interface RawImage {
  data: Float32Array | ArrayLike<number>;
  height: number;
  width: number;
  /** Default: the tokenizer's `channels`. */
  channels?: number;
}
export type ImageInput = RawImage | Float32Array;

// ---------------------------------------------------------------------------------------------------
// Tokenizer
// ---------------------------------------------------------------------------------------------------

type Pair = readonly [number, number];
function pair(op: string, what: string, v: number | Pair): [number, number] {
  const p: [number, number] = typeof v === 'number' ? [v, v] : [v[0], v[1]];
  if (p.length !== 2 || p.some((d) => !Number.isInteger(d) || d < 1)) throw new ShapeError(op, `${what} must be a positive integer or [height, width], got ${JSON.stringify(v)}`);
  return p;
}

export interface ImageTokenizerOptions extends ChannelNormalization {
  /** Token width D (768 for B16, 1024 for L14). */
  dim: number;
  /** Patch (= kernel = stride) size: 16 for base, 14 for large. Default 16. */
  patchSize?: number | Pair;
  /** Image size the learned position table is made for. Default 224. */
  imageSize?: number | Pair;
  /** Channels of the data. Default 3. */
  channels?: number;
  /** Input channels of the patch kernel. Default `channels`; 3 with `channels: 1` replicates grey data. */
  kernelChannels?: number;
  /** Prepend a learned CLS token (default true). */
  classToken?: boolean;
  /** Learned position table (default) or none. */
  positionEmbedding?: 'learned' | 'none';
  /** Resampling of the position table for other grids. Default 'bicubic'. */
  interpolation?: InterpolationMode;
  /** Value order of Float32Array images given to `prepare`. Default 'chw'. */
  layout?: ImageLayout;
  /** Dropout after adding positions (timm `pos_drop`). Default 0. */
  dropout?: number;
  modality?: 'image' | 'infrared' | 'xray';
  generator?: Generator;
}

/** The conv patchifier (timm `PatchEmbed`, `proj` = Conv2d(k = s = patch)). */
export class ImagePatchEmbed extends Module {
  readonly patchSize: [number, number];
  proj: Conv2d;
  constructor(inChannels: number, dim: number, patchSize: Pair, generator: Generator = defaultGenerator) {
    super();
    this.patchSize = [patchSize[0], patchSize[1]];
    this.proj = new Conv2d(inChannels, dim, this.patchSize, { stride: this.patchSize, generator });
  }
  /** [B, C, H, W] -> [B, (H/p)(W/p), D] (the divisibility of H and W is checked by the tokenizer). */
  forward(x: Tensor): Tensor { return this.proj.forward(x).flatten(2).transpose(1, 2); }
}

export class ImageTokenizer extends Data2Seq<Tensor, ImageInput> {
  readonly modality: 'image' | 'infrared' | 'xray';
  readonly dim: number;
  readonly patchSize: [number, number];
  readonly channels: number;
  readonly kernelChannels: number;
  readonly interpolation: InterpolationMode;
  readonly layout: ImageLayout;
  readonly normalization: ChannelNormalization;
  /** Image size the stored position table corresponds to (changed by resizePositionEmbedding). */
  imageSize: [number, number];
  patch_embed: ImagePatchEmbed;
  cls_token: Variable | null;
  pos_embed: Variable | null;
  pos_drop: Dropout;

  constructor(opts: ImageTokenizerOptions) {
    super();
    const op = 'ImageTokenizer';
    if (!Number.isInteger(opts.dim) || opts.dim < 1) throw new ShapeError(op, `dim must be a positive integer, got ${opts.dim}`);
    this.modality = opts.modality ?? 'image';
    this.dim = opts.dim;
    this.patchSize = pair(op, 'patchSize', opts.patchSize ?? 16);
    this.imageSize = pair(op, 'imageSize', opts.imageSize ?? 224);
    this.channels = opts.channels ?? 3;
    this.kernelChannels = opts.kernelChannels ?? this.channels;
    for (const [k, v] of [['channels', this.channels], ['kernelChannels', this.kernelChannels]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new ShapeError(op, `${k} must be a positive integer, got ${v}`);
    }
    if (this.channels !== this.kernelChannels && this.channels !== 1) {
      throw new ShapeError(op, `channels (${this.channels}) must equal kernelChannels (${this.kernelChannels}), or be 1 (grey data replicated to the kernel's channels)`);
    }
    this.checkImageSize(op, this.imageSize[0], this.imageSize[1], 'imageSize');
    this.interpolation = opts.interpolation ?? 'bicubic';
    if (this.interpolation !== 'bicubic' && this.interpolation !== 'bilinear') throw new ShapeError(op, `interpolation must be 'bicubic' or 'bilinear', got '${String(this.interpolation)}'`);
    this.layout = opts.layout ?? 'chw';
    if (this.layout !== 'chw' && this.layout !== 'hwc') throw new ShapeError(op, `layout must be 'chw' or 'hwc', got '${String(this.layout)}'`);
    this.normalization = { scale: opts.scale, mean: opts.mean, std: opts.std };
    channelStats(op, this.normalization, this.channels); // validate now
    const g = opts.generator ?? defaultGenerator;
    this.patch_embed = new ImagePatchEmbed(this.kernelChannels, this.dim, this.patchSize, g);
    this.cls_token = (opts.classToken ?? true) ? new Variable(new Float32Array(this.dim), [1, 1, this.dim]) : null;
    if (this.cls_token) normal_(this.cls_token, 0, 1e-6, g);
    const [gh, gw] = this.grid(this.imageSize[0], this.imageSize[1]);
    const n = this.prefixTokens + gh * gw;
    this.pos_embed = (opts.positionEmbedding ?? 'learned') === 'learned' ? new Variable(new Float32Array(n * this.dim), [1, n, this.dim]) : null;
    if (this.pos_embed) truncNormal_(this.pos_embed, 0.02, { generator: g });
    this.pos_drop = new Dropout(opts.dropout ?? 0, { generator: g });
  }

  /** 1 with a CLS token, else 0. */
  get prefixTokens(): number { return this.cls_token ? 1 : 0; }

  /** Patch grid [H/p, W/p] of an image size. */
  grid(height: number, width: number): [number, number] {
    return [height / this.patchSize[0], width / this.patchSize[1]];
  }

  /** Number of tokens for an image size (CLS included). */
  numTokens(height = this.imageSize[0], width = this.imageSize[1]): number {
    this.checkImageSize('ImageTokenizer', height, width, 'image size');
    const [gh, gw] = this.grid(height, width);
    return this.prefixTokens + gh * gw;
  }

  private checkImageSize(op: string, h: number, w: number, what: string): void {
    const [ph, pw] = this.patchSize;
    if (!Number.isInteger(h) || !Number.isInteger(w) || h < ph || w < pw || h % ph || w % pw) {
      throw new ShapeError(op, `${what} ${h}x${w} (HxW) is not divisible by the patch size ${ph}x${pw}; resize or crop to a multiple (e.g. ${Math.max(ph, Math.floor(h / ph) * ph)}x${Math.max(pw, Math.floor(w / pw) * pw)})`);
    }
  }

  /** Raw images -> float32 [B, C, H, W] (see the file comment for the accepted formats). */
  prepare(raw: ImageInput[]): Tensor {
    const op = `${this.constructor.name}.prepare`;
    if (!Array.isArray(raw) || raw.length === 0) throw new ShapeError(op, 'expected a non-empty array of images');
    const items = raw.map((r, i) => {
      if (r instanceof Float32Array) {
        const [h, w] = this.imageSize;
        const expected = this.channels * h * w;
        if (r.length !== expected) {
          throw new ShapeError(op, `image ${i} is a Float32Array of ${r.length} values; a bare array must hold channels x height x width = ${this.channels}x${h}x${w} = ${expected} values (pass { data, height, width, channels } for other sizes)`);
        }
        return { data: r as ArrayLike<number>, height: h, width: w, channels: this.channels };
      }
      if (!r || typeof r !== 'object' || !('data' in r)) throw new ShapeError(op, `image ${i} must be a Float32Array or { data, height, width, channels? }`);
      const c = r.channels ?? this.channels;
      if (!Number.isInteger(r.height) || !Number.isInteger(r.width) || r.height < 1 || r.width < 1 || !Number.isInteger(c) || c < 1) {
        throw new ShapeError(op, `image ${i} has invalid size height ${r.height}, width ${r.width}, channels ${c}`);
      }
      if (r.data.length !== c * r.height * r.width) {
        throw new ShapeError(op, `image ${i} has ${r.data.length} values; expected channels x height x width = ${c}x${r.height}x${r.width} = ${c * r.height * r.width}`);
      }
      return { data: r.data, height: r.height, width: r.width, channels: c };
    });
    const { height: H, width: W, channels: C } = items[0]!;
    items.forEach((it, i) => {
      if (it.height !== H || it.width !== W || it.channels !== C) {
        throw new ShapeError(op, `image ${i} is ${it.channels}x${it.height}x${it.width} (CxHxW) but image 0 is ${C}x${H}x${W}; a batch must have one size (resize or pad first)`);
      }
    });
    this.checkChannels(op, C);
    this.checkImageSize(op, H, W, 'image size');
    const { scale, mean, std } = channelStats(op, this.normalization, C);
    const hw = H * W;
    const out = new Float32Array(raw.length * C * hw);
    items.forEach((it, b) => {
      const d = it.data;
      const hwc = this.layout === 'hwc';
      assertFinite(op, `image ${b}`, d, (k) => {
        const [c, p] = hwc ? [k % C, Math.floor(k / C)] : [Math.floor(k / hw), k % hw];
        return `channel ${c}, row ${Math.floor(p / W)}, column ${p % W}`;
      });
      const base = b * C * hw;
      for (let c = 0; c < C; c++) {
        const m = mean[c]!, s = std[c]!;
        for (let p = 0; p < hw; p++) {
          const v = Number(d[hwc ? p * C + c : c * hw + p]);
          out[base + c * hw + p] = (v * scale - m) / s;
        }
      }
    });
    return new Tensor([raw.length, C, H, W], 'float32', out);
  }

  private checkChannels(op: string, c: number): void {
    if (c === this.kernelChannels || (c === 1 && this.kernelChannels > 1 && this.channels === 1)) return;
    const ok = this.channels === 1 && this.kernelChannels > 1 ? `1 (replicated to ${this.kernelChannels}) or ${this.kernelChannels}` : `${this.kernelChannels}`;
    throw new ShapeError(op, `images have ${c} channels; this ${this.modality} tokenizer expects ${ok} (set channels / kernelChannels to change it)`);
  }

  /** The position table for a patch grid (resampled, traced, when it differs from the stored grid). */
  positionsFor(grid: readonly [number, number]): Tensor | null {
    if (!this.pos_embed) return null;
    const stored = this.grid(this.imageSize[0], this.imageSize[1]);
    return resampleGridTokens(this.pos_embed, stored, grid, { mode: this.interpolation, prefixTokens: this.prefixTokens });
  }

  /** images [B, C, H, W] -> tokens [B, (1) + (H/p)(W/p), D]. */
  forward(images: Tensor): TokenSequence {
    const op = this.constructor.name;
    if (!(images instanceof Tensor) || images.rank !== 4 || images.dtype !== 'float32') {
      throw new ShapeError(op, `expected float32 images [B, C, H, W], got ${images instanceof Tensor ? `${images.dtype} ${fmtShape(images.shape)}` : String(images)}`);
    }
    const [B, C, H, W] = images.shape as [number, number, number, number];
    this.checkChannels(op, C);
    this.checkImageSize(op, H, W, 'image size');
    const x = C === this.kernelChannels ? images : images.expand([B, this.kernelChannels, H, W]);
    let tokens = this.patch_embed.forward(x); // [B, gh·gw, D]
    if (this.cls_token) tokens = cat([this.cls_token.expand([B, 1, this.dim]), tokens], 1);
    const pos = this.positionsFor(this.grid(H, W));
    if (pos) tokens = tokens.add(pos);
    return { tokens: this.pos_drop.forward(tokens), paddingMask: null };
  }

  /**
   * Replace the stored position table by its resampling to `imageSize` (e.g. 224 -> 336 for detection).
   * The table becomes a new Variable: build optimizers after calling this.
   */
  resizePositionEmbedding(imageSize: number | Pair): void {
    const op = 'ImageTokenizer.resizePositionEmbedding';
    const [h, w] = pair(op, 'imageSize', imageSize);
    this.checkImageSize(op, h, w, 'imageSize');
    if (this.pos_embed) {
      const old = this.grid(this.imageSize[0], this.imageSize[1]), next = this.grid(h, w);
      const data = interpolatePosEmbed(this.pos_embed.value as Float32Array, old, next, this.dim, { mode: this.interpolation, prefixTokens: this.prefixTokens });
      const v = new Variable(data, [1, this.prefixTokens + next[0] * next[1], this.dim]);
      v.requiresGrad = this.pos_embed.requiresGrad;
      this.pos_embed = v;
    }
    this.imageSize = [h, w];
  }
}

/** Infrared tokenizer: grey data replicated to a 3-channel kernel unless `channels`/`kernelChannels` say otherwise. */
export function infraredTokenizer(opts: Omit<ImageTokenizerOptions, 'modality'>): ImageTokenizer {
  return new ImageTokenizer({ channels: 1, kernelChannels: 3, ...opts, modality: 'infrared' });
}

/** X-ray tokenizer: grey data replicated to a 3-channel kernel unless `channels`/`kernelChannels` say otherwise. */
export function xrayTokenizer(opts: Omit<ImageTokenizerOptions, 'modality'>): ImageTokenizer {
  return new ImageTokenizer({ channels: 1, kernelChannels: 3, ...opts, modality: 'xray' });
}
