// Hyperspectral scenes (Indian Pines, Pavia, Salinas ... saved as .npy) -> per-pixel samples for
// HyperspectralTokenizer.prepare: a pixel's spectrum (patch 1) or its patch×patch×bands neighbourhood (HWC,
// SpectralFormer's mirrored borders, via the tokenizer file's `pixelNeighbourhood`).
//
// Inputs: a cube .npy [H, W, bands] (or [bands, H, W] with layout 'chw'), any numeric dtype, and a label
// map .npy [H, W] of non-negative integers (integer dtype, or floats holding integers), 0 = unlabelled.
// The cube is min-max normalised per band over the whole image (`bandMinMaxNormalize`, as the reference)
// unless normalize is 'none'. Samples are the labelled pixels in raster order (label 0 skipped unless
// includeUnlabelled); patches are cut on demand by `sample(i)`, so a scene with many pixels and a large
// patch never holds every patch in memory. Malformed arrays (wrong rank, label map of another size,
// negative or fractional labels, non-finite values, nothing labelled) raise HyperspectralFormatError naming
// the file and the problem.
import { readFile } from 'node:fs/promises';
import { decodeNpy, npyToFloat32, type NpyArray } from '../io/npy.js';
import { bandMinMaxNormalize, pixelNeighbourhood } from '../data2seq/hyperspectral.js';

export interface HyperspectralReadOptions {
  /** Axis order of the cube file: 'hwc' = [H, W, bands] (default) or 'chw' = [bands, H, W]. */
  layout?: 'hwc' | 'chw';
  /** 'band-minmax' (default) or 'none'. */
  normalize?: 'band-minmax' | 'none';
  /** Spatial neighbourhood side p (default 1 = the pixel's spectrum alone). */
  patch?: number;
  /** Also sample label-0 (unlabelled) pixels (default false). */
  includeUnlabelled?: boolean;
}

/** One sample: the values for the tokenizer and where it came from. */
export interface HyperspectralSample { data: Float32Array; label: number; row: number; col: number }

/** A malformed hyperspectral cube or label map; the message names the file and the problem. */
export class HyperspectralFormatError extends Error {
  override name = 'HyperspectralFormatError';
  constructor(readonly file: string, detail: string) { super(`${file}: ${detail}`); }
}

const msg = (e: unknown): string => (e instanceof Error ? e.message : String(e));
const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;

/** A loaded scene; samples are produced on demand. */
export class HyperspectralScene {
  /** Indices (row · width + col) of the sampled pixels, raster order. */
  readonly pixels: Int32Array;
  /** Distinct non-zero labels, ascending. */
  readonly classes: number[];
  constructor(
    readonly cube: Float32Array,
    readonly labels: Int32Array,
    readonly height: number,
    readonly width: number,
    readonly bands: number,
    readonly patch: number,
    includeUnlabelled: boolean,
  ) {
    const keep: number[] = [];
    const cls = new Set<number>();
    for (let p = 0; p < labels.length; p++) {
      if (labels[p]! > 0) cls.add(labels[p]!);
      if (includeUnlabelled || labels[p]! > 0) keep.push(p);
    }
    this.pixels = Int32Array.from(keep);
    this.classes = [...cls].sort((a, b) => a - b);
  }

  /** Number of samples. */
  get length(): number { return this.pixels.length; }

  /** Label (from the label map) of sample i. */
  labelOf(i: number): number { return this.labels[this.pixel(i)]!; }

  /** Index into `classes` of sample i's label (0 .. classes.length − 1), or −1 for an unlabelled pixel. */
  classIndexOf(i: number): number { return this.classes.indexOf(this.labelOf(i)); }

  private pixel(i: number): number {
    if (!Number.isInteger(i) || i < 0 || i >= this.pixels.length) throw new RangeError(`HyperspectralScene: sample ${i} is out of range [0, ${this.pixels.length})`);
    return this.pixels[i]!;
  }

  /** Sample i: the spectrum (patch 1) or the p×p×bands HWC neighbourhood. */
  sample(i: number): HyperspectralSample {
    const p = this.pixel(i);
    const row = Math.floor(p / this.width), col = p % this.width;
    const data = this.patch === 1
      ? this.cube.slice(p * this.bands, (p + 1) * this.bands)
      : pixelNeighbourhood(this.cube, { height: this.height, width: this.width, bands: this.bands }, row, col, this.patch);
    return { data, label: this.labels[p]!, row, col };
  }

  *[Symbol.iterator](): Generator<HyperspectralSample> { for (let i = 0; i < this.length; i++) yield this.sample(i); }
}

/** Build a scene from decoded arrays (`cubeName` / `labelsName` are used in error messages). */
export function hyperspectralFromArrays(cube: NpyArray, labels: NpyArray | null, opts: HyperspectralReadOptions = {}, cubeName = '<cube>', labelsName = '<labels>'): HyperspectralScene {
  const layout = opts.layout ?? 'hwc', norm = opts.normalize ?? 'band-minmax', patch = opts.patch ?? 1;
  if (layout !== 'hwc' && layout !== 'chw') throw new RangeError(`readHyperspectral: layout must be 'hwc' or 'chw', got ${JSON.stringify(layout)}`);
  if (norm !== 'band-minmax' && norm !== 'none') throw new RangeError(`readHyperspectral: normalize must be 'band-minmax' or 'none', got ${JSON.stringify(norm)}`);
  if (!Number.isInteger(patch) || patch < 1) throw new RangeError(`readHyperspectral: patch must be a positive integer, got ${patch}`);
  if (cube.shape.length !== 3) throw new HyperspectralFormatError(cubeName, `a cube must be 3-D ${layout === 'hwc' ? '[H, W, bands]' : '[bands, H, W]'}, got shape ${fmt(cube.shape)}`);
  const [H, W, L] = layout === 'hwc' ? cube.shape as [number, number, number] : [cube.shape[1]!, cube.shape[2]!, cube.shape[0]!];
  if (H < 1 || W < 1 || L < 1) throw new HyperspectralFormatError(cubeName, `cube has an empty dimension: shape ${fmt(cube.shape)}`);
  let values = npyToFloat32(cube);
  if (layout === 'chw') {
    const hwc = new Float32Array(values.length), plane = H * W;
    for (let b = 0; b < L; b++) for (let p = 0; p < plane; p++) hwc[p * L + b] = values[b * plane + p]!;
    values = hwc;
  }
  for (let j = 0; j < values.length; j++) {
    if (!Number.isFinite(values[j]!)) throw new HyperspectralFormatError(cubeName, `pixel (${Math.floor(j / L / W)}, ${Math.floor(j / L) % W}), band ${j % L} is ${values[j]} (not finite)`);
  }
  if (norm === 'band-minmax') values = bandMinMaxNormalize(values, L);
  else if (values === cube.data) values = values.slice();
  const lab = new Int32Array(H * W);
  if (labels) {
    if (labels.shape.length !== 2) throw new HyperspectralFormatError(labelsName, `a label map must be 2-D [H, W], got shape ${fmt(labels.shape)}`);
    if (labels.shape[0] !== H || labels.shape[1] !== W) throw new HyperspectralFormatError(labelsName, `label map is ${labels.shape[0]}x${labels.shape[1]} but the cube ${cubeName} is ${H}x${W} (HxW)`);
    for (let p = 0; p < H * W; p++) {
      const v = Number(labels.data[p]!);
      if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff) throw new HyperspectralFormatError(labelsName, `label at (${Math.floor(p / W)}, ${p % W}) is ${v}; labels must be non-negative integers (0 = unlabelled)`);
      lab[p] = v;
    }
  }
  const includeUnlabelled = labels === null || (opts.includeUnlabelled ?? false);
  const scene = new HyperspectralScene(values, lab, H, W, L, patch, includeUnlabelled);
  if (scene.length === 0) throw new HyperspectralFormatError(labelsName, 'has no labelled pixels (every label is 0); pass includeUnlabelled to sample them anyway');
  if (patch > 1 && Math.floor(patch / 2) > Math.min(H, W)) throw new HyperspectralFormatError(cubeName, `patch ${patch} needs a mirror margin of ${Math.floor(patch / 2)}, more than the image side ${Math.min(H, W)}`);
  return scene;
}

async function load(path: string): Promise<NpyArray> {
  let bytes: Uint8Array;
  try { bytes = await readFile(path); } catch (e) { throw new HyperspectralFormatError(path, `cannot read the file: ${msg(e)}`); }
  if (bytes.length === 0) throw new HyperspectralFormatError(path, 'file is empty');
  return decodeNpy(bytes, path);
}

/** Read a cube .npy and (optionally) its label map .npy (see the file comment). */
export async function readHyperspectral(cubePath: string, labelsPath: string | null, opts: HyperspectralReadOptions = {}): Promise<HyperspectralScene> {
  const [cube, labels] = await Promise.all([load(cubePath), labelsPath === null ? Promise.resolve(null) : load(labelsPath)]);
  return hyperspectralFromArrays(cube, labels, opts, cubePath, labelsPath ?? '<no label map>');
}
