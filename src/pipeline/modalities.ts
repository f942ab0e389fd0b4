// The modality registry: for every modality, how a sample is read from a file or an inline JSON value, how
// the tokenizer's configuration is inferred from training samples (a JSON object saved in the run's
// config.json) and how the tokenizer is built from it.
//
// Sample files (class folders, manifest "path" entries, --input of predict/embed):
//   image, infrared, xray  .png/.jpg/.webp/.tif, or .npy / .json array [C, H, W] or [H, W] (grey); integer arrays (uint8 pixels) are
//                          divided by 255, float arrays used as they are
//   video                  .npy / .json array [T, H, W, C] (NumPy/decord order: last dimension 1-4 and first > 4),
//                          [C, T, H, W] (the tokenizer's order: first dimension 1-4) or [T, H, W] (grey); with
//                          --frames, clips are sampled uniformly to that many frames (as frame folders are)
//   hyperspectral          .npy / .json spectrum [bands], or a neighbourhood cube [p, p, bands]
//   audio                  .wav (any PCM/float format; mono mixdown, resampled to --sample-rate, default 16000), or
//                          .npy / .json waveform [samples] at --sample-rate (default 16000)
//   point-cloud            .npy / .json / .csv / .txt [P, 3 + c]: x, y, z then c per-point features
//   time-series, imu       .npy / .json / .csv / .txt [L, C] (rows = time steps) or [L]
//   graph                  .json { "numNodes": n, "edges": [[u, v], ...], "nodeFeatures"?: [[int, ...], ...],
//                          "edgeFeatures"?: [[int, ...], ...] }
//   text                   .txt (the whole file is one text)
//   tabular                (CSV rows only)
// CSV rows as samples (tabular, time-series/imu: the non-target columns are the series in time order, with
// `channels` values per step; hyperspectral: the band values; text: a 'text' column).
import type { Generator } from '../engine/functional/random.js';
import type { Data2Seq, Modality } from '../data2seq/types.js';
import { MODALITIES } from '../data2seq/types.js';
import { ImageTokenizer, type RawImage } from '../data2seq/image.js';
import { VideoTokenizer, type RawVideo } from '../data2seq/video.js';
import { HyperspectralTokenizer } from '../data2seq/hyperspectral.js';
import { AudioTokenizer } from '../data2seq/audio.js';
import { PointCloudTokenizer } from '../data2seq/point-cloud.js';
import { TimeSeriesTokenizer, type TimeSeriesSample } from '../data2seq/time-series.js';
import { TabularTokenizer, fitTabularSchema, type TabularRow, type TabularSchema } from '../data2seq/tabular.js';
import { GraphTokenizer, type GraphRaw } from '../data2seq/graph.js';
import { SubwordTokenizer, TextTokenizer } from '../data2seq/text.js';
import type { TaskKind } from '../train/recipes.js';
import { resample } from '../data/resample.js';
import { uniformFrameIndices } from '../data/video-io.js';
import { DataError, arrayFromJson, assertFiniteArray, extOf, fmtShape, readArrayFile, readJson, readText, readWavFile, type NdArray } from './files.js';

export type TokenizerConfig = Record<string, unknown>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyTokenizer = Data2Seq<any, any>;

export interface ReadOptions {
  /** Sample rate of waveforms given as arrays (.npy / .json), and the rate WAV files are resampled to; default 16000. */
  sampleRate?: number;
  /** Video clips: frames sampled uniformly per clip (default: all frames of an array clip, 8 for frame folders). */
  frames?: number;
  /** Time-series rows of a CSV: values per time step (default 1). */
  channels?: number;
}

export interface ConfigContext {
  /** Token width of the encoder. */
  dim: number;
  /** Patch size for image/video/audio patchifiers (default 16; 14 for a large encoder). */
  patchSize: number;
  /** User overrides (--tokenizer-options), merged last. */
  user: Record<string, unknown>;
  /** All samples of the data set (not just training), for sizes that must cover every sample (graph padding). */
  all: readonly unknown[];
  /** CSV header of tabular rows (without the target). */
  header?: string[];
}

export interface ModalitySpec {
  readonly name: Modality;
  readonly summary: string;
  readonly tasks: readonly TaskKind[];
  /** Extensions of one-sample files. */
  readonly extensions: readonly string[];
  /** Can a CSV file hold one sample per row? */
  readonly csvRows: boolean;
  /** Read a one-sample file. */
  readSample(path: string, opts: ReadOptions): Promise<unknown>;
  /** An inline manifest value -> raw input. */
  fromJson(value: unknown, where: string, opts: ReadOptions): unknown;
  /** A row of an array stack (inputs.npy [N, ...]) -> raw input. */
  fromArray(a: NdArray, where: string, opts: ReadOptions): unknown;
  /** CSV row (strings of the non-target columns) -> raw input. */
  fromCsvRow?(fields: string[], header: string[], where: string, opts: ReadOptions): unknown;
  /** A description of the sample's shape; samples of one data set must agree ('' = no constraint). */
  shapeOf(raw: unknown): string;
  /** Tokenizer configuration (JSON) inferred from the training inputs. */
  tokenizerConfig(train: readonly unknown[], ctx: ConfigContext): TokenizerConfig;
  buildTokenizer(cfg: TokenizerConfig, dim: number, generator: Generator): AnyTokenizer;
  /** The tokenizer's `prepare` input for a raw sample (default: the sample itself). */
  toTokenizerInput?(raw: unknown): unknown;
}

const ALL_TASKS: readonly TaskKind[] = ['classification', 'regression'];

function rowOf(a: NdArray, where: string, want: string, ranks: number[]): NdArray {
  if (!ranks.includes(a.shape.length)) throw new DataError(`${where}: expected ${want}, got an array of shape ${fmtShape(a.shape)}`);
  assertFiniteArray(where, a.data, a.shape);
  return a;
}

// ---- images, video ----

function imageFromArray(a: NdArray, where: string): RawImage {
  rowOf(a, where, 'an image array [C, H, W] or [H, W]', [2, 3]);
  const [c, h, w] = a.shape.length === 2 ? [1, a.shape[0]!, a.shape[1]!] : (a.shape as [number, number, number]);
  if (a.shape.length === 3 && c > 16 && w <= 4) throw new DataError(`${where}: shape ${fmtShape(a.shape)} looks channel-last (H, W, C); images must be channel-first [C, H, W]`);
  const data = a.integer ? a.data.map((v) => v / 255) : a.data;
  return { data, height: h, width: w, channels: c };
}

function imageSpec(name: 'image' | 'infrared' | 'xray', summary: string): ModalitySpec {
  return {
    name, summary, tasks: ALL_TASKS, extensions: ['npy', 'json', 'png', 'jpg', 'jpeg', 'webp', 'tif', 'tiff'], csvRows: false,
    async readSample(path) { return imageFromArray(await readArrayFile(path), path); },
    fromJson: (v, where) => imageFromArray(arrayFromJson(v, where), where),
    fromArray: (a, where) => imageFromArray(a, where),
    shapeOf: (r) => { const i = r as RawImage; return `${i.channels}x${i.height}x${i.width} (CxHxW)`; },
    tokenizerConfig(train, ctx) {
      const f = train[0] as RawImage;
      const grey = f.channels === 1 && name !== 'image';
      return { channels: f.channels!, kernelChannels: grey ? 3 : f.channels!, imageSize: [f.height, f.width], patchSize: ctx.patchSize, ...ctx.user };
    },
    buildTokenizer: (cfg, dim, generator) => new ImageTokenizer({ ...(cfg as object), dim, modality: name, generator }),
  };
}

function videoFromArray(a: NdArray, where: string, opts: ReadOptions = {}): RawVideo {
  rowOf(a, where, 'a clip array [T, H, W, C], [C, T, H, W] or [T, H, W]', [3, 4]);
  const s = a.shape;
  // [T, H, W, C] (channel-last, as NumPy video readers give) is told from [C, T, H, W] by which end holds 1-4 channels.
  const channelLast = s.length === 4 && s[3]! <= 4 && s[0]! > 4;
  const [c, t, h, w] = s.length === 3 ? [1, ...s] as number[] : channelLast ? [s[3]!, s[0]!, s[1]!, s[2]!] : s;
  const scale = a.integer ? 1 / 255 : 1;
  const idx = opts.frames !== undefined ? uniformFrameIndices(t!, opts.frames) : Array.from({ length: t! }, (_, i) => i);
  const hw = h! * w!, T = idx.length;
  const data = new Float32Array(c! * T * hw);
  for (let ci = 0; ci < c!; ci++) {
    for (let ti = 0; ti < T; ti++) {
      const src = idx[ti]!, dst = (ci * T + ti) * hw;
      if (channelLast) for (let k = 0; k < hw; k++) data[dst + k] = a.data[(src * hw + k) * c! + ci]! * scale;
      else for (let k = 0; k < hw; k++) data[dst + k] = a.data[(ci * t! + src) * hw + k]! * scale;
    }
  }
  return { data, frames: T, height: h!, width: w!, channels: c! };
}

// ---- signals ----

function audioFromArray(a: NdArray, where: string, opts: ReadOptions): { samples: Float32Array; sampleRate: number } {
  rowOf(a, where, 'a waveform [samples]', [1]);
  return { samples: a.data, sampleRate: opts.sampleRate ?? 16000 };
}

function seriesFromArray(a: NdArray, where: string): TimeSeriesSample & { channels: number } {
  rowOf(a, where, 'a series [L, C] (rows = time steps) or [L]', [1, 2]);
  const channels = a.shape.length === 1 ? 1 : a.shape[1]!;
  return { values: a.data, channels };
}

function seriesSpec(name: 'time-series' | 'imu', summary: string): ModalitySpec {
  return {
    name, summary, tasks: ['classification', 'regression', 'forecasting'], extensions: ['npy', 'json', 'csv', 'txt'], csvRows: true,
    async readSample(path) { return seriesFromArray(await readArrayFile(path), path); },
    fromJson: (v, where) => seriesFromArray(arrayFromJson(v, where), where),
    fromArray: (a, where) => seriesFromArray(a, where),
    fromCsvRow(fields, header, where, opts) {
      const c = opts.channels ?? 1;
      if (fields.length % c) throw new DataError(`${where}: ${fields.length} value columns are not a multiple of --channels ${c}`);
      const values = Float32Array.from(fields, (s, k) => {
        const v = s.trim() === '' ? NaN : Number(s);
        if (!Number.isFinite(v)) throw new DataError(`${where}, column '${header[k]}': ${s.trim() === '' ? 'missing value' : `'${s}' is not a finite number`}; time series must be complete (impute missing values first)`);
        return v;
      });
      return { values, channels: c };
    },
    shapeOf: (r) => { const s = r as { values: Float32Array; channels: number }; return `${s.values.length / s.channels} steps x ${s.channels} channels`; },
    tokenizerConfig(train, ctx) {
      const f = train[0] as { channels: number; timestamps?: unknown };
      return { channels: f.channels, mode: 'step', embed: f.timestamps ? 'timeF' : 'none', ...ctx.user };
    },
    buildTokenizer: (cfg, dim, generator) => new TimeSeriesTokenizer({ ...(cfg as object), dim, modality: name, generator } as never),
    toTokenizerInput: (r) => { const s = r as { values: Float32Array; timestamps?: string[] }; return s.timestamps ? { values: s.values, timestamps: s.timestamps } : { values: s.values }; },
  };
}

// ---- structures ----

function pointsFromArray(a: NdArray, where: string): { points: Float32Array; channels: number } {
  rowOf(a, where, 'a point array [P, 3 + c] (x, y, z, features...)', [2]);
  if (a.shape[1]! < 3) throw new DataError(`${where}: points have ${a.shape[1]} values each; expected at least x, y, z (shape [P, 3 + c], got ${fmtShape(a.shape)})`);
  return { points: a.data, channels: a.shape[1]! };
}

function graphFromJson(v: unknown, where: string): GraphRaw {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new DataError(`${where}: a graph must be an object { "numNodes", "edges", "nodeFeatures"?, "edgeFeatures"? }`);
  const g = v as Record<string, unknown>;
  if (!Number.isInteger(g.numNodes) || (g.numNodes as number) < 1) throw new DataError(`${where}: field 'numNodes' must be a positive integer, got ${JSON.stringify(g.numNodes)}`);
  if (!Array.isArray(g.edges)) throw new DataError(`${where}: field 'edges' must be an array of [u, v] pairs`);
  return g as unknown as GraphRaw;
}

function featureColumns(rows: unknown): number {
  return Array.isArray(rows) && rows.length && Array.isArray(rows[0]) ? (rows[0] as unknown[]).length : 0;
}

function maxFeature(graphs: readonly GraphRaw[], key: 'nodeFeatures' | 'edgeFeatures'): number {
  let m = 0;
  for (const g of graphs) for (const r of g[key] ?? []) for (const v of r) if (Number.isInteger(v) && v > m) m = v;
  return m;
}

export const MODALITY_SPECS: Record<Modality, ModalitySpec> = {
  image: imageSpec('image', 'RGB (or any channel count) images: conv patchify + CLS + learned positions'),
  infrared: imageSpec('infrared', 'infrared images (grey replicated to the RGB kernel)'),
  xray: imageSpec('xray', 'X-ray images (grey replicated to the RGB kernel)'),
  video: {
    name: 'video', summary: 'video clips: Conv3d tubelets 2x16x16 + fixed sinusoid positions', tasks: ALL_TASKS, extensions: ['npy', 'json'], csvRows: false,
    async readSample(path, opts) { return videoFromArray(await readArrayFile(path), path, opts); },
    fromJson: (v, where, opts) => videoFromArray(arrayFromJson(v, where), where, opts),
    fromArray: (a, where, opts) => videoFromArray(a, where, opts),
    shapeOf: (r) => { const v = r as RawVideo; return `${v.channels}x${v.frames}x${v.height}x${v.width} (CxTxHxW)`; },
    tokenizerConfig(train, ctx) {
      const f = train[0] as RawVideo;
      return { channels: f.channels!, numFrames: f.frames, imageSize: f.height, patchSize: ctx.patchSize, tubeletSize: 2, ...ctx.user };
    },
    buildTokenizer: (cfg, dim, generator) => new VideoTokenizer({ ...(cfg as object), dim, generator }),
  },
  hyperspectral: {
    name: 'hyperspectral', summary: 'hyperspectral pixels: one token per band + CLS + learned positions', tasks: ALL_TASKS, extensions: ['npy', 'json'], csvRows: true,
    async readSample(path) { return this.fromArray(await readArrayFile(path), path, {}); },
    fromJson(v, where) { return this.fromArray(arrayFromJson(v, where), where, {}); },
    fromArray(a, where) {
      rowOf(a, where, 'a spectrum [bands] or a neighbourhood cube [p, p, bands]', [1, 3]);
      if (a.shape.length === 3 && a.shape[0] !== a.shape[1]) throw new DataError(`${where}: a neighbourhood cube must be square [p, p, bands], got ${fmtShape(a.shape)}`);
      return { spectrum: a.data, patch: a.shape.length === 3 ? a.shape[0]! : 1, bands: a.shape.at(-1)! };
    },
    fromCsvRow(fields, header, where) {
      const spectrum = Float32Array.from(fields, (s, k) => {
        const v = Number(s);
        if (s.trim() === '' || !Number.isFinite(v)) throw new DataError(`${where}, column '${header[k]}': '${s}' is not a finite number`);
        return v;
      });
      return { spectrum, patch: 1, bands: spectrum.length };
    },
    shapeOf: (r) => { const s = r as { patch: number; bands: number }; return `${s.patch}x${s.patch}x${s.bands} (p x p x bands)`; },
    tokenizerConfig(train, ctx) { const f = train[0] as { patch: number; bands: number }; return { bands: f.bands, patch: f.patch, ...ctx.user }; },
    buildTokenizer: (cfg, dim, generator) => new HyperspectralTokenizer({ ...(cfg as object), dim, generator } as never),
    toTokenizerInput: (r) => (r as { spectrum: Float32Array }).spectrum,
  },
  audio: {
    name: 'audio', summary: 'audio clips: Kaldi log-Mel filterbank -> overlapping 16x16 patches (stride 10) + positions', tasks: ALL_TASKS, extensions: ['wav', 'npy', 'json'], csvRows: false,
    async readSample(path, opts) {
      if (extOf(path) === 'wav') {
        const w = await readWavFile(path), rate = opts.sampleRate ?? 16000;
        return { samples: w.sampleRate === rate ? w.samples : resample(w.samples, w.sampleRate, rate), sampleRate: rate };
      }
      return audioFromArray(await readArrayFile(path), path, opts);
    },
    fromJson: (v, where, opts) => audioFromArray(arrayFromJson(v, where), where, opts),
    fromArray: (a, where, opts) => audioFromArray(a, where, opts),
    shapeOf: (r) => `${(r as { sampleRate: number }).sampleRate} Hz`,
    tokenizerConfig(train, ctx) {
      const f = train[0] as { sampleRate: number };
      return { sampleRate: f.sampleRate, numMelBins: 128, targetLength: 224, patchSize: ctx.patchSize, stride: 10, ...ctx.user };
    },
    buildTokenizer: (cfg, dim, generator) => new AudioTokenizer({ ...(cfg as object), dim, generator }),
  },
  'point-cloud': {
    name: 'point-cloud', summary: 'point clouds: FPS + kNN groups -> mini-PointNet tokens + CLS + centre positions', tasks: ALL_TASKS, extensions: ['npy', 'json', 'csv', 'txt', 'ply', 'off', 'xyz', 'pts'], csvRows: false,
    async readSample(path) { return pointsFromArray(await readArrayFile(path), path); },
    fromJson: (v, where) => pointsFromArray(arrayFromJson(v, where), where),
    fromArray: (a, where) => pointsFromArray(a, where),
    shapeOf: (r) => { const p = r as { points: Float32Array; channels: number }; return `${p.points.length / p.channels} points x ${p.channels} values`; },
    tokenizerConfig(train, ctx) { const f = train[0] as { channels: number }; return { inChannels: f.channels, groupSize: 32, ...ctx.user }; },
    buildTokenizer: (cfg, dim, generator) => new PointCloudTokenizer({ ...(cfg as object), dim, generator }),
    toTokenizerInput: (r) => (r as { points: Float32Array }).points,
  },
  'time-series': seriesSpec('time-series', 'time series: circular Conv1d value embedding + sinusoid positions, one token per step'),
  imu: seriesSpec('imu', 'IMU streams (accelerometer/gyroscope channels): the time-series tokenizer'),
  tabular: {
    name: 'tabular', summary: 'tables: one token per column (categorical embeddings, numeric linear) + CLS', tasks: ALL_TASKS, extensions: [], csvRows: true,
    async readSample(path) { throw new DataError(`${path}: tabular inputs are CSV rows (give a .csv file)`); },
    fromJson(v, where) {
      if (!v || typeof v !== 'object') throw new DataError(`${where}: a tabular sample must be an object { column: value, ... }`);
      return v;
    },
    fromArray(_a, where) { throw new DataError(`${where}: tabular data must be a CSV file, not an array`); },
    fromCsvRow: (fields) => fields,
    shapeOf: () => '',
    tokenizerConfig(train, ctx) {
      // Column typing options go to the schema fit, the rest to the tokenizer. The reference's rule (numeric
      // columns with < 200 distinct values are categorical) is meant for tens of thousands of rows; on a small
      // table it turns every continuous column into a lookup table, so the threshold is capped at a tenth of the
      // training rows (Adult, 32k rows: 200 as the reference).
      const fitKeys = ['categorical', 'numeric', 'drop', 'maxCategoricalUnique', 'missingValues'];
      const fit = Object.fromEntries(Object.entries(ctx.user).filter(([k]) => fitKeys.includes(k)));
      const rest = Object.fromEntries(Object.entries(ctx.user).filter(([k]) => !fitKeys.includes(k)));
      const maxCategoricalUnique = Math.min(200, Math.max(2, Math.floor(train.length / 10)));
      let schema: TabularSchema;
      try { schema = fitTabularSchema(train as TabularRow[], { header: ctx.header, maxCategoricalUnique, ...fit }); } catch (e) { throw new DataError(`tabular columns: ${(e as Error).message}`); }
      return { schema, ...rest };
    },
    buildTokenizer(cfg, dim, generator) {
      const { schema, ...rest } = cfg as { schema: TabularSchema };
      return new TabularTokenizer(schema, { ...rest, dim, generator });
    },
  },
  graph: {
    name: 'graph', summary: 'graphs: TokenGT node and edge tokens with Laplacian node identifiers + graph/null tokens', tasks: ALL_TASKS, extensions: ['json'], csvRows: false,
    async readSample(path) { return graphFromJson(await readJson(path), path); },
    fromJson: (v, where) => graphFromJson(v, where),
    fromArray(_a, where) { throw new DataError(`${where}: graphs must be JSON objects, not arrays`); },
    shapeOf: () => '',
    tokenizerConfig(train, ctx) {
      const all = ctx.all as GraphRaw[];
      const f = train[0] as GraphRaw;
      return {
        numNodeFeatures: featureColumns(f.nodeFeatures), numEdgeFeatures: featureColumns(f.edgeFeatures),
        nodeVocabPerColumn: maxFeature(all, 'nodeFeatures') + 1, edgeVocabPerColumn: maxFeature(all, 'edgeFeatures') + 1,
        lapK: 16, padToTokens: Math.max(...all.map((g) => g.numNodes + g.edges.length)), padToNodes: Math.max(...all.map((g) => g.numNodes)),
        ...ctx.user,
      };
    },
    buildTokenizer: (cfg, dim, generator) => new GraphTokenizer({ ...(cfg as object), dim, generator }),
  },
  text: {
    name: 'text', summary: 'text: CLIP BPE (or BERT WordPiece) ids -> learned embeddings + positions', tasks: ALL_TASKS, extensions: ['txt'], csvRows: true,
    async readSample(path) { return (await readText(path)).trim(); },
    fromJson(v, where) {
      if (typeof v !== 'string') throw new DataError(`${where}: a text sample must be a string, got ${JSON.stringify(v)?.slice(0, 40)}`);
      return v;
    },
    fromArray(_a, where) { throw new DataError(`${where}: text samples must be strings (.txt files, a JSON manifest or a CSV 'text' column)`); },
    fromCsvRow(fields, header, where) {
      const k = header.length === 1 ? 0 : header.indexOf('text');
      if (k < 0) throw new DataError(`${where}: a text CSV needs a column named 'text' (besides the target); columns: ${header.join(', ')}`);
      return fields[k]!;
    },
    shapeOf: () => '',
    tokenizerConfig(_train, ctx) { return { vocabulary: 'clip', contextLength: 77, ...ctx.user }; },
    buildTokenizer(cfg, dim, generator) {
      const { vocabulary = 'clip', contextLength, ...rest } = cfg as { vocabulary?: string; contextLength?: number };
      if (vocabulary !== 'clip' && vocabulary !== 'bert') throw new DataError(`tokenizer option 'vocabulary' must be 'clip' or 'bert', got '${vocabulary}'`);
      const sub = vocabulary === 'clip' ? SubwordTokenizer.clip({ contextLength }) : SubwordTokenizer.bertBaseUncased({ contextLength });
      return new TextTokenizer({ ...rest, dim, tokenizer: sub, generator });
    },
  },
};

/** The spec of a modality, or a DataError listing the valid names. */
export function modalitySpec(name: string, argName = '--modality'): ModalitySpec {
  const spec = (MODALITY_SPECS as Record<string, ModalitySpec>)[name];
  if (!spec) throw new DataError(`${argName}: unknown modality '${name}' (valid: ${MODALITIES.join(', ')})`);
  return spec;
}
