// Hyperspectral tokenizer (Meta-Transformer §2.3, the SpectralFormer-derived `Hyper-spectrum/metatransformer.py`
// in its 'ViT' mode): one token per spectral band. Each token's input is the band's value(s) — with the default
// patch 1 and bandPatch 1 just the band's scalar — linearly projected to D (`patch_to_embedding`); a learned
// `cls_token` is prepended, a learned `pos_embedding` [1, bands + 1, D] added, then Dropout (emb_dropout 0.1).
// Indian Pines (200 bands): [B, 200, 1] -> [B, 201, 768]. With D = 768 the tokenizer has 156,672 parameters;
// with the reference head (LayerNorm(768) + Linear(768, 16)) 170,512 = the README's "0.17M".
//
// Spatial-spectral mode (SpectralFormer's patches/band_patches): each band's token holds the p×p spatial
// neighbourhood of the pixel at that band and at the (bandPatch − 1)/2 neighbouring bands on each side
// (wrapping around the band axis), i.e. token dim in = p²·bandPatch, ordered band-offset major
// (−k ... +k), then pixels in raster order.
//
// Input format. `forward` takes float32 [B, bands, p²·bandPatch]. `prepare(raw)` builds it from per-pixel
// samples, each a Float32Array (or number array):
//   - patch 1: the pixel's spectrum (bands values);
//   - patch p > 1: its p×p×bands neighbourhood cube in HWC order (p·p·bands values, e.g. from
//     `pixelNeighbourhood`).
// Values are used as given: normalise the image per band first (the reference min-max normalises each band
// over the whole image: `bandMinMaxNormalize`). NaN or infinite values are rejected with the sample, pixel
// and band named.
//
// Initialisation follows the reference: cls token and position table ~ N(0, 1) (torch.randn), the projection
// torch's default Linear init.
import { ShapeError, fmtShape } from '../engine/errors.js';
import { cat, narrow } from '../engine/functional/indexing.js';
import { defaultGenerator, type Generator } from '../engine/functional/random.js';
import { Tensor, Variable } from '../engine/tensor.js';
import { Dropout } from '../nn/dropout.js';
import { normal_ } from '../nn/init.js';
import { Linear } from '../nn/linear.js';
import { assertFinite } from './image.js';
import { Data2Seq, type TokenSequence } from './types.js';

export interface HyperspectralTokenizerOptions {
  /** Token width D. */
  dim: number;
  /** Spectral bands (200 for Indian Pines). */
  bands: number;
  /** Spatial neighbourhood side p (default 1 = the pixel alone). */
  patch?: number;
  /** Bands per token, odd: the band and (bandPatch − 1)/2 neighbours on each side (default 1). */
  bandPatch?: number;
  /** Prepend the learned CLS token (default true). */
  classToken?: boolean;
  /** Dropout after adding positions (reference emb_dropout 0.1). */
  dropout?: number;
  /** Std of the N(0, std) init of cls token and positions (reference torch.randn: 1). */
  initStd?: number;
  generator?: Generator;
}

export class HyperspectralTokenizer extends Data2Seq<Tensor, Float32Array | readonly number[]> {
  readonly modality = 'hyperspectral' as const;
  readonly dim: number;
  readonly bands: number;
  readonly patch: number;
  readonly bandPatch: number;
  pos_embedding: Variable;
  patch_to_embedding: Linear;
  cls_token: Variable | null;
  dropout: Dropout;

  constructor(opts: HyperspectralTokenizerOptions) {
    super();
    const op = 'HyperspectralTokenizer';
    const check = (k: string, v: number): number => {
      if (!Number.isInteger(v) || v < 1) throw new ShapeError(op, `${k} must be a positive integer, got ${v}`);
      return v;
    };
    this.dim = check('dim', opts.dim);
    this.bands = check('bands', opts.bands);
    this.patch = check('patch', opts.patch ?? 1);
    this.bandPatch = check('bandPatch', opts.bandPatch ?? 1);
    if (this.bandPatch % 2 === 0) throw new ShapeError(op, `bandPatch must be odd (the band plus equally many neighbours on each side), got ${this.bandPatch}`);
    if (this.bandPatch > this.bands) throw new ShapeError(op, `bandPatch (${this.bandPatch}) cannot exceed the number of bands (${this.bands})`);
    const g = opts.generator ?? defaultGenerator;
    const std = opts.initStd ?? 1;
    const cls = opts.classToken ?? true;
    const n = this.bands + (cls ? 1 : 0);
    // The reference's names; the state-dict order (own parameters, then children) is torch's as well:
    // pos_embedding, cls_token, patch_to_embedding.weight, patch_to_embedding.bias.
    this.pos_embedding = new Variable(new Float32Array(n * this.dim), [1, n, this.dim]);
    this.patch_to_embedding = new Linear(this.tokenInputDim, this.dim, { generator: g });
    this.cls_token = cls ? new Variable(new Float32Array(this.dim), [1, 1, this.dim]) : null;
    normal_(this.pos_embedding, 0, std, g);
    if (this.cls_token) normal_(this.cls_token, 0, std, g);
    this.dropout = new Dropout(opts.dropout ?? 0.1, { generator: g });
  }

  /** Values per token: patch² · bandPatch. */
  get tokenInputDim(): number { return this.patch * this.patch * this.bandPatch; }
  /** Output tokens: bands (+ 1 with the CLS token). */
  get numTokens(): number { return this.bands + (this.cls_token ? 1 : 0); }

  /** Per-pixel samples -> float32 [B, bands, patch²·bandPatch] (see the file comment). */
  prepare(raw: (Float32Array | readonly number[])[]): Tensor {
    const op = 'HyperspectralTokenizer.prepare';
    if (!Array.isArray(raw) || raw.length === 0) throw new ShapeError(op, 'expected a non-empty array of pixel samples');
    const p2 = this.patch * this.patch, L = this.bands, k = (this.bandPatch - 1) / 2, din = this.tokenInputDim;
    const out = new Float32Array(raw.length * L * din);
    raw.forEach((s, i) => {
      const expected = p2 * L;
      if (!s || typeof s.length !== 'number' || s.length !== expected) {
        throw new ShapeError(op, `sample ${i} has ${s?.length} values; expected ${this.patch === 1 ? `a spectrum of ${L} bands` : `a ${this.patch}x${this.patch}x${L} (HxWxbands) neighbourhood = ${expected} values`}`);
      }
      assertFinite(op, `sample ${i}`, s, (j) => (this.patch === 1 ? `band ${j}` : `pixel ${Math.floor(j / L)} (row ${Math.floor(j / L / this.patch)}, column ${Math.floor(j / L) % this.patch}), band ${j % L}`));
      const base = i * L * din;
      for (let b = 0; b < L; b++) {
        for (let o = -k; o <= k; o++) {
          const src = (((b + o) % L) + L) % L;
          const dst = base + b * din + (o + k) * p2;
          for (let q = 0; q < p2; q++) out[dst + q] = Number(s[q * L + src]);
        }
      }
    });
    return new Tensor([raw.length, L, din], 'float32', out);
  }

  /** x [B, bands, patch²·bandPatch] -> tokens [B, (1) + bands, D]. */
  forward(x: Tensor): TokenSequence {
    const op = 'HyperspectralTokenizer';
    if (!(x instanceof Tensor) || x.rank !== 3 || x.dtype !== 'float32' || x.shape[2] !== this.tokenInputDim) {
      throw new ShapeError(op, `expected float32 [B, bands, ${this.tokenInputDim}] (patch ${this.patch}² x bandPatch ${this.bandPatch}), got ${x instanceof Tensor ? `${x.dtype} ${fmtShape(x.shape)}` : String(x)}`);
    }
    const [B, n] = x.shape as [number, number, number];
    if (n > this.bands) throw new ShapeError(op, `input ${fmtShape(x.shape)} has ${n} bands; this tokenizer's position table covers ${this.bands}`);
    let t = this.patch_to_embedding.forward(x);
    if (this.cls_token) t = cat([this.cls_token.expand([B, 1, this.dim]), t], 1);
    // As the reference, fewer bands use the first positions (pos_embedding[:, :n + 1]).
    t = t.add(narrow(this.pos_embedding, 1, 0, t.shape[1]!));
    return { tokens: this.dropout.forward(t), paddingMask: null };
  }
}

/** Per-band min-max normalisation of an HWC cube (pixels × bands) to [0, 1]; constant bands become 0. */
export function bandMinMaxNormalize(cube: Float32Array | readonly number[], bands: number): Float32Array {
  const op = 'bandMinMaxNormalize';
  if (!Number.isInteger(bands) || bands < 1 || cube.length % bands) throw new ShapeError(op, `cube of ${cube.length} values is not a whole number of ${bands}-band pixels`);
  assertFinite(op, 'cube', cube, (j) => `pixel ${Math.floor(j / bands)}, band ${j % bands}`);
  const lo = new Float64Array(bands).fill(Infinity), hi = new Float64Array(bands).fill(-Infinity);
  for (let j = 0; j < cube.length; j++) {
    const b = j % bands, v = Number(cube[j]);
    if (v < lo[b]!) lo[b] = v;
    if (v > hi[b]!) hi[b] = v;
  }
  const out = new Float32Array(cube.length);
  for (let j = 0; j < cube.length; j++) {
    const b = j % bands, r = hi[b]! - lo[b]!;
    out[j] = r > 0 ? (Number(cube[j]) - lo[b]!) / r : 0;
  }
  return out;
}

/**
 * The patch×patch×bands neighbourhood (HWC) of pixel (row, col) in an HWC cube [height, width, bands],
 * mirroring the image symmetrically at the borders (edge pixel repeated, as SpectralFormer's mirror_hsi).
 */
export function pixelNeighbourhood(cube: Float32Array | readonly number[], size: { height: number; width: number; bands: number }, row: number, col: number, patch: number): Float32Array {
  const op = 'pixelNeighbourhood';
  const { height: H, width: W, bands: L } = size;
  if ([H, W, L, patch].some((d) => !Number.isInteger(d) || d < 1)) throw new ShapeError(op, `height, width, bands and patch must be positive integers, got ${H}, ${W}, ${L}, ${patch}`);
  if (cube.length !== H * W * L) throw new ShapeError(op, `cube has ${cube.length} values, expected height x width x bands = ${H}x${W}x${L} = ${H * W * L}`);
  if (!Number.isInteger(row) || !Number.isInteger(col) || row < 0 || row >= H || col < 0 || col >= W) throw new ShapeError(op, `pixel (${row}, ${col}) is outside the ${H}x${W} image`);
  const r = Math.floor(patch / 2);
  if (r > Math.min(H, W)) throw new ShapeError(op, `patch ${patch} needs a mirror margin of ${r}, more than the image side ${Math.min(H, W)}`);
  const mirror = (i: number, n: number): number => (i < 0 ? -i - 1 : i >= n ? 2 * n - i - 1 : i);
  const out = new Float32Array(patch * patch * L);
  for (let dy = 0; dy < patch; dy++) {
    const y = mirror(row - r + dy, H);
    for (let dx = 0; dx < patch; dx++) {
      const x = mirror(col - r + dx, W);
      const src = (y * W + x) * L, dst = (dy * patch + dx) * L;
      for (let b = 0; b < L; b++) out[dst + b] = Number(cube[src + b]);
    }
  }
  return out;
}
