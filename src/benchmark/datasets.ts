// The benchmark suite's data sets: real data installed from Debian packages (Fashion-MNIST, scikit-learn's
// digits / wine / breast-cancer, Seattle hourly temperatures) and data generated at run time (spoken keywords
// synthesised with espeak-ng + sox noise into a cache folder; point clouds of primitive shapes).
//
// Every task declares what it needs (files of a package, or commands) so that a missing package is reported as
// skipped with the `apt-get install` line that provides it, checked by file paths (apt is never called).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { readIdx } from '../data/idx.js';
import { readAudio } from '../data/resample.js';
import { splitIndices } from '../data/dataset.js';
import { fbank } from '../data2seq/fbank.js';
import { Generator } from '../engine/functional/random.js';
import type { RawSample } from '../pipeline/datasets.js';
import type { Recipe } from '../train/recipes.js';

export interface Requirement {
  /** Debian package providing it. */
  package: string;
  /** Files (absolute paths) that must exist; a command is given as its path, e.g. /usr/bin/sox. */
  paths: string[];
}

export interface LoadContext {
  quick: boolean;
  seed: number;
  /** Folder for generated data (spoken keywords). */
  cacheDir: string;
  log(msg: string): void;
}

export interface ClassificationData {
  kind: 'classification';
  modality: 'image' | 'tabular' | 'audio' | 'point-cloud';
  classes: string[];
  train: RawSample[];
  val: RawSample[];
  test: RawSample[];
  /** Raw feature vector of a sample (for the baselines). */
  features(s: RawSample): ArrayLike<number>;
  /** What the raw features are, for the report. */
  featureNote: string;
  header?: string[];
  tokenizerOptions?: Record<string, unknown>;
  recipe?: Partial<Recipe>;
  /** Merged over `recipe` for the frozen-encoder run (a linear-probe style run trains only the tokenizer and head, and takes a larger learning rate). */
  frozenRecipe?: Partial<Recipe>;
  /** Describes the subset / split used. */
  note: string;
}

export interface ForecastData {
  kind: 'forecasting';
  modality: 'time-series';
  /** The univariate series, in its units. */
  series: Float32Array;
  unit: string;
  seqLen: number;
  predLen: number;
  season: number;
  /** Window start indices (the input is series[s, s + seqLen), the target the next predLen steps). */
  windows: { train: number[]; val: number[]; test: number[] };
  recipe?: Partial<Recipe>;
  note: string;
}

export type TaskData = ClassificationData | ForecastData;

export interface BenchTask {
  name: string;
  description: string;
  requires: Requirement[];
  load(ctx: LoadContext): Promise<TaskData>;
}

export const FASHION_DIR = '/usr/share/datasets/fashion-mnist';
export const SKLEARN_DIR = '/usr/lib/python3/dist-packages/sklearn/datasets/data';
export const VEGA_DIR = '/usr/lib/python3/dist-packages/vega_datasets/_data';

/** Requirements that are not met (paths missing). */
export function missingRequirements(reqs: readonly Requirement[]): Requirement[] {
  return reqs.filter((r) => r.paths.some((p) => !existsSync(p)));
}

export function aptLine(reqs: readonly Requirement[]): string {
  return `apt-get install -y ${[...new Set(reqs.map((r) => r.package))].join(' ')}`;
}

/** Indices of a stratified subset of `n` per class (first in a seeded shuffle). */
function stratifiedSubset(labels: ArrayLike<number>, perClass: number, g: Generator): number[] {
  const idx = Array.from({ length: labels.length }, (_, i) => i);
  for (let i = idx.length - 1; i > 0; i--) { const j = Math.floor(g.next() * (i + 1)); [idx[i], idx[j]] = [idx[j]!, idx[i]!]; }
  const count = new Map<number, number>();
  const out: number[] = [];
  for (const i of idx) {
    const c = labels[i]!;
    const k = count.get(c) ?? 0;
    if (k < perClass) { out.push(i); count.set(c, k + 1); }
  }
  return out.sort((a, b) => a - b);
}

function shuffleInPlace<T>(a: T[], g: Generator): T[] {
  for (let i = a.length - 1; i > 0; i--) { const j = Math.floor(g.next() * (i + 1)); [a[i], a[j]] = [a[j]!, a[i]!]; }
  return a;
}

// ---- Fashion-MNIST ----

const FASHION_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

/** An image sample whose pixels are converted from the shared uint8 buffer when read (no per-image copies held). */
class LazyImage implements RawSample {
  constructor(private readonly pixels: Uint8Array, private readonly offset: number, readonly name: string, readonly label: string) {}
  get input(): { data: Float32Array; height: number; width: number; channels: number } {
    const data = new Float32Array(784);
    for (let k = 0; k < 784; k++) data[k] = this.pixels[this.offset + k]! / 255;
    return { data, height: 28, width: 28, channels: 1 };
  }
  pixelsOf(): Uint8Array { return this.pixels.subarray(this.offset, this.offset + 784); }
}

export const fashionMnistTask: BenchTask = {
  name: 'fashion-mnist',
  description: 'Fashion-MNIST 28x28 grey images, 10 classes (official 60k/10k split)',
  requires: [{ package: 'dataset-fashion-mnist', paths: ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'].map((f) => join(FASHION_DIR, f)) }],
  async load(ctx) {
    const g = new Generator(ctx.seed + 11);
    const read = async (split: 'train' | 't10k'): Promise<{ px: Uint8Array; y: Uint8Array }> => {
      const im = await readIdx(join(FASHION_DIR, `${split}-images-idx3-ubyte.gz`));
      const lb = await readIdx(join(FASHION_DIR, `${split}-labels-idx1-ubyte.gz`));
      if (im.dtype !== 'uint8' || im.shape[1] !== 28 || im.shape[2] !== 28) throw new Error(`${split} images: expected uint8 [N, 28, 28], got ${im.dtype} [${im.shape.join(', ')}]`);
      return { px: im.data as Uint8Array, y: lb.data as Uint8Array };
    };
    const tr = await read('train'), te = await read('t10k');
    const mk = (d: { px: Uint8Array; y: Uint8Array }, i: number, split: string): LazyImage => new LazyImage(d.px, i * 784, `${split}[${i}]`, FASHION_CLASSES[d.y[i]!]!);
    // validation: 5,000 stratified images held out of the 60k training set (quick: small stratified subsets)
    const trainIdx = ctx.quick ? stratifiedSubset(tr.y, 250, g) : Array.from({ length: tr.y.length }, (_, i) => i);
    const split = splitIndices(trainIdx.length, { val: ctx.quick ? 1 / 6 : 5000 / 60000, test: 0, seed: ctx.seed, stratify: trainIdx.map((i) => tr.y[i]!) });
    const testIdx = ctx.quick ? stratifiedSubset(te.y, 50, g) : Array.from({ length: te.y.length }, (_, i) => i);
    return {
      kind: 'classification', modality: 'image', classes: FASHION_CLASSES,
      train: split.train.map((k) => mk(tr, trainIdx[k]!, 'train')), val: split.val.map((k) => mk(tr, trainIdx[k]!, 'train')),
      test: testIdx.map((i) => mk(te, i, 't10k')),
      features: (s) => (s as LazyImage).pixelsOf(), featureNote: '784 pixels',
      // 7x7 patches of 4x4 pixels, the image recipe's [CLS, max, mean] pooling; measured on the quick subset
      // (2,083 training images, 10 epochs): frozen 80.6 %, unfrozen 76.4 %; full set, unfrozen, 4 epochs, mean
      // pooling: 87.2 %. The frozen random encoder gets fewer epochs on the full set (it plateaus early).
      tokenizerOptions: { patchSize: 4 },
      recipe: { epochs: ctx.quick ? 10 : 4, batchSize: ctx.quick ? 32 : 64, lr: 2e-3 },
      frozenRecipe: { lr: 1e-2, epochs: ctx.quick ? 10 : 2 },
      note: ctx.quick ? `quick: ${split.train.length} train / ${split.val.length} val from the 60k training set, ${testIdx.length} of the 10k test images (stratified)` : 'official split: 55k train / 5k val (held out of the 60k training set, stratified), 10k test',
    };
  },
};

// ---- scikit-learn's bundled CSVs ----

function parseNumbers(line: string, where: string): number[] {
  return line.split(',').map((s, k) => {
    const v = Number(s);
    if (s.trim() === '' || !Number.isFinite(v)) throw new Error(`${where}, column ${k}: '${s}' is not a number`);
    return v;
  });
}

/** Stratified 60/20/20 split of rows with integer labels. */
function splitRows(labels: number[], seed: number): { train: number[]; val: number[]; test: number[] } {
  return splitIndices(labels.length, { val: 0.2, test: 0.2, seed, stratify: labels });
}

export const digitsTask: BenchTask = {
  name: 'digits',
  description: "scikit-learn's digits: 8x8 images (values 0-16), 10 classes",
  requires: [{ package: 'python3-sklearn', paths: [join(SKLEARN_DIR, 'digits.csv.gz')] }],
  async load(ctx) {
    const path = join(SKLEARN_DIR, 'digits.csv.gz');
    const lines = gunzipSync(readFileSync(path)).toString('utf8').split(/\r?\n/).filter((l) => l.trim() !== '');
    const rows = lines.map((l, i) => parseNumbers(l, `${path} line ${i + 1}`));
    const y = rows.map((r) => r[64]!);
    const split = splitRows(y, ctx.seed);
    const mk = (i: number): RawSample => ({ input: { data: Float32Array.from(rows[i]!.slice(0, 64), (v) => v / 16), height: 8, width: 8, channels: 1 }, name: `digits[${i}]`, label: String(y[i]) });
    return {
      kind: 'classification', modality: 'image', classes: Array.from({ length: 10 }, (_, k) => String(k)),
      train: split.train.map(mk), val: split.val.map(mk), test: split.test.map(mk),
      features: (s) => (s.input as { data: Float32Array }).data, featureNote: '64 pixels',
      tokenizerOptions: { patchSize: 2 },
      recipe: { epochs: ctx.quick ? 15 : 40, batchSize: 32, lr: 2e-3 }, frozenRecipe: { lr: 1e-2 },
      note: `all ${rows.length} images, stratified 60/20/20 train/val/test`,
    };
  },
};

function sklearnTableTask(name: string, file: string, description: string): BenchTask {
  const path = join(SKLEARN_DIR, file);
  return {
    name, description,
    requires: [{ package: 'python3-sklearn', paths: [path] }],
    async load(ctx) {
      const lines = readFileSync(path, 'utf8').split(/\r?\n/).filter((l) => l.trim() !== '');
      // first line: n_samples, n_features, class names...
      const head = lines[0]!.split(',');
      const nFeat = Number(head[1]);
      const classes = head.slice(2).map((s) => s.trim());
      const rows = lines.slice(1).map((l, i) => l.split(','));
      rows.forEach((r, i) => { if (r.length !== nFeat + 1) throw new Error(`${path} line ${i + 2}: ${r.length} fields, expected ${nFeat + 1}`); });
      const y = rows.map((r, i) => parseNumbers(r[nFeat]!, `${path} line ${i + 2}`)[0]!);
      const header = Array.from({ length: nFeat }, (_, k) => `f${k}`);
      const split = splitRows(y, ctx.seed);
      const mk = (i: number): RawSample => ({ input: rows[i]!.slice(0, nFeat), name: `${file} row ${i + 1}`, label: classes[y[i]!]! });
      return {
        kind: 'classification', modality: 'tabular', classes,
        train: split.train.map(mk), val: split.val.map(mk), test: split.test.map(mk),
        features: (s) => (s.input as string[]).map(Number), featureNote: `${nFeat} numeric columns`, header,
        tokenizerOptions: { numeric: header },
        recipe: { epochs: ctx.quick ? 15 : 60, batchSize: 32, patience: ctx.quick ? 0 : 10 },
        note: `all ${rows.length} rows, stratified 60/20/20 train/val/test`,
      };
    },
  };
}

export const wineTask = sklearnTableTask('wine', 'wine_data.csv', "scikit-learn's wine: 13 numeric columns, 3 cultivars");
export const breastCancerTask = sklearnTableTask('breast-cancer', 'breast_cancer.csv', "scikit-learn's breast cancer (Wisconsin): 30 numeric columns, malignant / benign");

// ---- Seattle hourly temperatures ----

export const seattleTask: BenchTask = {
  name: 'seattle-temps',
  description: 'Seattle hourly temperatures 2010 (vega-datasets): forecast 24 h from 96 h',
  requires: [{ package: 'python3-vega-datasets', paths: [join(VEGA_DIR, 'seattle-temps.csv')] }],
  async load(ctx) {
    const path = join(VEGA_DIR, 'seattle-temps.csv');
    const lines = readFileSync(path, 'utf8').split(/\r?\n/).filter((l) => l.trim() !== '');
    if (lines[0]!.trim() !== 'date,temp') throw new Error(`${path}: expected the header 'date,temp', got '${lines[0]}'`);
    const series = Float32Array.from(lines.slice(1), (l, i) => parseNumbers(l.split(',')[1]!, `${path} line ${i + 2}`)[0]!);
    const T = series.length, seqLen = 96, predLen = 24;
    // chronological 70/10/20 of the time axis; a window belongs to the segment its forecast lies in
    const a = Math.floor(T * 0.7), b = Math.floor(T * 0.8);
    const starts = (lo: number, hi: number, stride: number): number[] => {
      const out: number[] = [];
      for (let s = Math.max(0, lo - seqLen); s + seqLen + predLen <= hi; s += stride) if (s + seqLen >= lo) out.push(s);
      return out;
    };
    const stride = ctx.quick ? 12 : 1;
    return {
      kind: 'forecasting', modality: 'time-series', series, unit: '°F', seqLen, predLen, season: 24,
      windows: { train: starts(0, a, stride), val: starts(a, b, stride), test: starts(b, T, ctx.quick ? 6 : 1) },
      recipe: { epochs: ctx.quick ? 3 : 10, batchSize: 32 },
      note: `${T} hourly steps, chronological 70/10/20 split of the time axis; window stride ${stride} (train/val), ${ctx.quick ? 6 : 1} (test); MSE/MAE in °F`,
    };
  },
};

// ---- spoken keywords (espeak-ng + sox) ----

export const KEYWORDS = ['yes', 'no', 'up', 'down', 'left', 'right', 'on', 'off', 'stop', 'go', 'zero', 'one'];
const VOICES = ['en-us', 'en-gb', 'en-gb-scotland', 'en-gb-x-rp', 'en-029', 'en-gb-x-gbclan'];
const VARIANTS = ['m3', 'f2', 'f4', 'm1'];
const CLIP_SAMPLES = 20480; // 1.28 s at 16 kHz

function fixLength(x: Float32Array, n: number): Float32Array {
  if (x.length === n) return x;
  const out = new Float32Array(n);
  out.set(x.subarray(0, n));
  return out;
}

/** Coarse log-Mel features of a clip: 64 bins, averaged over blocks of 8 frames (the baselines' raw audio features). */
function audioFeatures(samples: Float32Array): Float32Array {
  const f = fbank(samples, { sampleRate: 16000, numMelBins: 64 });
  const blocks = Math.ceil(f.frames / 8), out = new Float32Array(blocks * f.bins);
  for (let t = 0; t < f.frames; t++) for (let b = 0; b < f.bins; b++) out[Math.floor(t / 8) * f.bins + b]! += f.data[t * f.bins + b]! / 8;
  return out;
}

export const keywordsTask: BenchTask = {
  name: 'spoken-keywords',
  description: `spoken keywords synthesised with espeak-ng (${KEYWORDS.length} words, several voices, speeds, pitches) + sox white noise`,
  requires: [{ package: 'espeak-ng', paths: ['/usr/bin/espeak-ng'] }, { package: 'sox', paths: ['/usr/bin/sox'] }],
  async load(ctx) {
    const g = new Generator(ctx.seed + 23);
    const voices = ctx.quick ? VOICES.slice(0, 4) : VOICES;
    const speeds = ctx.quick ? [130, 165, 200] : [120, 150, 180, 210];
    const pitches = ctx.quick ? [30, 50, 70] : [25, 45, 65, 85];
    const dir = join(ctx.cacheDir, 'spoken-keywords');
    mkdirSync(dir, { recursive: true });
    const samples: RawSample[] = [];
    const labels: number[] = [];
    let made = 0, vi = 0;
    for (const [w, word] of KEYWORDS.entries()) {
      for (const voice of voices) for (const speed of speeds) for (const pitch of pitches) {
        const variant = VARIANTS[vi++ % VARIANTS.length]!;
        // per-clip random leading silence and noise level, fixed by the seed and the clip's name
        const shift = (g.next() * 0.25).toFixed(3), noise = (0.005 + g.next() * 0.03).toFixed(4);
        const base = `${word}_${voice}+${variant}_s${speed}_p${pitch}_t${shift}_n${noise}`;
        const out = join(dir, `${base}.wav`);
        if (!existsSync(out)) {
          const raw = join(dir, `${base}.raw.wav`), clean = join(dir, `${base}.clean.wav`), tmp = join(dir, `${base}.tmp.wav`);
          execFileSync('espeak-ng', ['-v', `${voice}+${variant}`, '-s', String(speed), '-p', String(pitch), '-w', raw, word], { stdio: 'ignore' });
          execFileSync('sox', [raw, '-r', '16000', '-c', '1', '-b', '16', clean, 'pad', shift, '0'], { stdio: 'ignore' });
          execFileSync('sox', ['-m', clean, `|sox ${clean} -p synth whitenoise vol ${noise}`, tmp], { stdio: 'ignore' });
          execFileSync('rm', ['-f', raw, clean]);
          renameSync(tmp, out);
          made++;
        }
        const clip = await readAudio(out, { sampleRate: 16000 });
        samples.push({ input: { samples: fixLength(clip.samples, CLIP_SAMPLES), sampleRate: 16000 }, name: out, label: word });
        labels.push(w);
      }
    }
    ctx.log(`spoken-keywords: ${samples.length} clips in ${dir} (${made} synthesised now, ${samples.length - made} from the cache)`);
    const split = splitIndices(samples.length, { val: 0.15, test: 0.25, seed: ctx.seed, stratify: labels });
    const feats = new Map<RawSample, Float32Array>();
    return {
      kind: 'classification', modality: 'audio', classes: [...KEYWORDS].sort(),
      train: split.train.map((i) => samples[i]!), val: split.val.map((i) => samples[i]!), test: split.test.map((i) => samples[i]!),
      features: (s) => { let f = feats.get(s); if (!f) { f = audioFeatures((s.input as { samples: Float32Array }).samples); feats.set(s, f); } return f; },
      featureNote: 'log-Mel 64 bins x 16 blocks of 8 frames',
      // 64 Mel bins x 128 frames in 16x16 patches that overlap in time (stride 16 in frequency, 8 in time: 4 x 15 =
      // 60 tokens) with narrow SpecAugment masks. Chosen on the validation split (seed 0, 30 epochs, batch 16, lr 2e-3,
      // unfrozen; 2026-12-03): stride 16 x 16 (32 tokens) 92.5 %, stride 16 x 8 99.4 %, stride 8 x 8 (105 tokens)
      // 97.7 %. AST's defaults (128 bins, stride-10 patches, 48-wide masks that can erase a whole word of a 1.28 s
      // clip) stayed at chance on these few hundred clips (14.6 % unfrozen, 8 epochs).
      tokenizerOptions: { numMelBins: 64, targetLength: 128, patchSize: 16, stride: [16, 8], freqMask: 8, timeMask: 16 },
      recipe: { epochs: ctx.quick ? 20 : 30, batchSize: 16, lr: 2e-3 }, frozenRecipe: { lr: 1e-2 },
      note: `${samples.length} clips (${KEYWORDS.length} words x ${voices.length} voices x ${speeds.length} speeds x ${pitches.length} pitches), 1.28 s at 16 kHz, generated into ${dir}; stratified 60/15/25 split`,
    };
  },
};

// ---- point clouds of primitive shapes ----

export const SHAPES = ['sphere', 'cube', 'cylinder', 'cone', 'torus', 'pyramid', 'disk', 'capsule', 'ellipsoid', 'cross'];

/** One point on the surface of a unit-size primitive, from uniforms u, v, w in [0, 1). */
function surfacePoint(shape: string, u: number, v: number, w: number): [number, number, number] {
  const th = 2 * Math.PI * u;
  switch (shape) {
    case 'sphere': case 'ellipsoid': {
      const z = 2 * v - 1, r = Math.sqrt(1 - z * z);
      return shape === 'sphere' ? [r * Math.cos(th), r * Math.sin(th), z] : [1.6 * r * Math.cos(th), 0.8 * r * Math.sin(th), 0.5 * z];
    }
    case 'cube': {
      const f = Math.floor(w * 6), a = 2 * u - 1, b = 2 * v - 1, s = f % 2 ? 1 : -1;
      return f < 2 ? [s, a, b] : f < 4 ? [a, s, b] : [a, b, s];
    }
    case 'cylinder': return w < 0.2 ? [Math.sqrt(v) * Math.cos(th), Math.sqrt(v) * Math.sin(th), w < 0.1 ? -1 : 1] : [Math.cos(th), Math.sin(th), 2 * v - 1];
    case 'cone': { const h = Math.sqrt(v); return w < 0.25 ? [Math.sqrt(v) * Math.cos(th), Math.sqrt(v) * Math.sin(th), -1] : [h * Math.cos(th), h * Math.sin(th), 1 - 2 * h]; }
    case 'torus': { const ph = 2 * Math.PI * v; return [(1 + 0.35 * Math.cos(ph)) * Math.cos(th), (1 + 0.35 * Math.cos(ph)) * Math.sin(th), 0.35 * Math.sin(ph)]; }
    case 'pyramid': {
      if (w < 0.2) return [2 * u - 1, 2 * v - 1, -1];
      const side = Math.floor((w - 0.2) / 0.2), h = Math.sqrt(v), t = (2 * u - 1) * h;
      const e = 1 - h; // along the height: 0 at the base edge, 1 at the apex
      const z = -1 + 2 * e, s = h;
      return side === 0 ? [t, -s, z] : side === 1 ? [t, s, z] : side === 2 ? [-s, t, z] : [s, t, z];
    }
    case 'disk': { const r = Math.sqrt(v); return [r * Math.cos(th), r * Math.sin(th), 0.04 * (w - 0.5)]; }
    case 'capsule': {
      if (w < 0.5) return [0.5 * Math.cos(th), 0.5 * Math.sin(th), 2 * v - 1];
      const z = 2 * v - 1, r = Math.sqrt(1 - z * z), cap = w < 0.75 ? 1 : -1;
      return [0.5 * r * Math.cos(th), 0.5 * r * Math.sin(th), cap * (1 + 0.5 * Math.abs(z))];
    }
    case 'cross': {
      const axis = Math.floor(w * 3), a = 2 * u - 1, b = 0.25 * (2 * v - 1);
      return axis === 0 ? [a, b, 0] : axis === 1 ? [b, a, 0] : [0, b, a];
    }
  }
  throw new Error(`surfacePoint: unknown shape '${shape}'`);
}

/** A random rotation matrix (uniform quaternion). */
function randomRotation(g: Generator): number[] {
  const u1 = g.next(), u2 = g.next() * 2 * Math.PI, u3 = g.next() * 2 * Math.PI;
  const a = Math.sqrt(1 - u1), b = Math.sqrt(u1);
  const [x, y, z, w] = [a * Math.sin(u2), a * Math.cos(u2), b * Math.sin(u3), b * Math.cos(u3)];
  return [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w), 2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w), 2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)];
}

/** A point cloud [points, 3] of a shape with random pose, scale, density (non-uniform sampling) and Gaussian noise. */
export function generateShape(shape: string, points: number, g: Generator): Float32Array {
  const R = randomRotation(g), scale = 0.5 + g.next(), noise = 0.005 + 0.03 * g.next();
  const t = [g.next() - 0.5, g.next() - 0.5, g.next() - 0.5];
  const bias = 0.5 * g.next(); // density: rejection against a random linear ramp along u
  const out = new Float32Array(points * 3);
  const gauss = (): number => Math.sqrt(-2 * Math.log(1 - g.next())) * Math.cos(2 * Math.PI * g.next());
  for (let i = 0; i < points; i++) {
    let u: number;
    do { u = g.next(); } while (g.next() > 1 - bias * u);
    const p = surfacePoint(shape, u, g.next(), g.next());
    for (let k = 0; k < 3; k++) out[i * 3 + k] = scale * (R[k * 3]! * p[0] + R[k * 3 + 1]! * p[1] + R[k * 3 + 2]! * p[2]) + t[k]! + noise * gauss();
  }
  return out;
}

export const pointCloudTask: BenchTask = {
  name: 'point-shapes',
  description: `generated point clouds of ${SHAPES.length} primitive shapes (random pose, scale, density, noise)`,
  requires: [],
  async load(ctx) {
    const g = new Generator(ctx.seed + 37);
    const perClass = ctx.quick ? 16 : 150, P = ctx.quick ? 256 : 512;
    const samples: RawSample[] = [];
    const labels: number[] = [];
    for (const [c, shape] of SHAPES.entries()) for (let k = 0; k < perClass; k++) {
      samples.push({ input: { points: generateShape(shape, P, g), channels: 3 }, name: `${shape}#${k}`, label: shape });
      labels.push(c);
    }
    shuffleInPlace(samples, new Generator(ctx.seed + 41));
    const y = samples.map((s) => SHAPES.indexOf(s.label!));
    const split = splitIndices(samples.length, { val: 0.15, test: 0.25, seed: ctx.seed, stratify: y });
    return {
      kind: 'classification', modality: 'point-cloud', classes: [...SHAPES].sort(),
      train: split.train.map((i) => samples[i]!), val: split.val.map((i) => samples[i]!), test: split.test.map((i) => samples[i]!),
      features: (s) => (s.input as { points: Float32Array }).points, featureNote: `${P} x 3 coordinates in sampling order`,
      tokenizerOptions: { groupSize: 16, numGroups: 32 },
      recipe: { epochs: ctx.quick ? 5 : 40, batchSize: 32 },
      note: `${samples.length} clouds of ${P} points (${perClass} per shape), stratified 60/15/25 split`,
    };
  },
};

export const DEFAULT_TASKS: BenchTask[] = [fashionMnistTask, digitsTask, wineTask, breastCancerTask, seattleTask, keywordsTask, pointCloudTask];
