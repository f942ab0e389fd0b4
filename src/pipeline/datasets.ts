// Labelled data sets for the CLI (`--data PATH`):
//
//   1. A folder of class subfolders:  DATA/<class>/<sample file>   (classification; file types per modality,
//      see modalities.ts; video clips may also be folders of frame images; hidden files are skipped).
//      Read lazily: the files are listed and checked once (decoded in worker threads, only their shapes
//      kept), then decoded again batch by batch while training, in a WorkerPool (read-worker.ts), so a
//      large set never sits in memory and decoding overlaps the model's compute.
//   2. A JSON manifest (DATA.json): an array, or { "samples": [...] }, of objects
//        { "path": "relative/or/absolute/file", "label": ... }   or   { "input": <inline sample>, "label": ... }
//      "label" is the default target field (also "target"; --target NAME picks another). Inline samples are
//      nested number arrays, a string (text) or a graph object. Regression targets are numbers.
//   3. A NumPy folder: DATA/inputs.npy (samples stacked on axis 0) with DATA/labels.npy (numbers),
//      DATA/labels.json (an array) or DATA/labels.txt (one label per line); or a NumPy archive DATA.npz with
//      inputs 'x' / 'inputs' (or the only array) and labels 'y' / 'labels' (--target names another array).
//   4. A CSV or TSV file (DATA.csv / DATA.tsv) with a header row and one sample per row for tabular,
//      time-series/imu (the other columns are the series in time order), hyperspectral (the band values) and
//      text (a text column: text/sentence/review/content/document); the target is --target NAME, else a
//      column named label, target, class or y, else the last column.
//      Time-series forecasting reads a CSV of ONE multivariate series instead: rows are time steps, every
//      numeric column a channel, an optional date column (--date-column; 'date', 'time' or 'timestamp' by
//      default) gives calendar features; windows of --seq-len steps predict the next --pred-len steps.
//   5. IDX files (MNIST / Fashion-MNIST; gzipped or not): the images file (…-images-idx3-ubyte[.gz]) with its
//      labels file next to it (…-labels-idx1-ubyte[.gz]), or a folder holding such a pair (with several pairs,
//      train-* for training and t10k-*/test-* for evaluation). Images are read one at a time.
//   6. Graphs: an SD/MOL file (.sdf/.sd/.mol) of molecules with --target naming the SD data item, or a JSON
//      graph list (.json: { "graphs": [...] } or [{ "nodes", "edges", "label" }, ...]).
//   7. Hyperspectral scenes: a folder with cube.npy [H, W, bands] and labels.npy (a label map [H, W], 0 =
//      unlabelled); every labelled pixel is a sample (its spectrum, or its --patch × --patch neighbourhood).
//
// Malformed samples (a truncated image, an empty WAV, a file with the wrong magic, a sample of another
// shape, a bad CSV row) stop the load with a DataError naming the file and the problem, or, with `skipBad`,
// are left out with one warning each (through `warn`) and counted in `skipped`.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import type { TaskKind } from '../train/recipes.js';
import { WorkerPool } from '../data/prefetch.js';
import { IdxImageDataset } from '../data/idx.js';
import { readNpz } from '../data/npz.js';
import { readSdf, readGraphJson } from '../data/graph-io.js';
import { readHyperspectral } from '../data/hyperspectral-io.js';
import { npyToFloat32 } from '../io/npy.js';
import { DataError, extOf, readArrayFile, readCsvFile, readJson, readText, type NdArray } from './files.js';
import type { ModalitySpec, ReadOptions } from './modalities.js';
import { readSampleAt, type ReadResult, type ReadTask, type ReadWorkerConfig } from './read-worker.js';

export type DatasetFormat = 'folders' | 'manifest' | 'npy' | 'npz' | 'csv-rows' | 'csv-series' | 'idx' | 'sdf' | 'graph-json' | 'hyperspectral';

export interface RawSample {
  input: unknown;
  /** Where it came from (file, 'file.csv row 3', ...), for messages and predictions. */
  name: string;
  /** Classification label as text. */
  label?: string;
  /** Regression target. */
  value?: number;
  /** Forecasting target [predLen, channels] (standardised). */
  future?: Float32Array;
}

/** A multivariate series for forecasting, standardised with the training segment's statistics. */
export interface SeriesInfo {
  channels: string[];
  targetChannels: string[];
  dateColumn: string | null;
  mean: number[];
  std: number[];
  seqLen: number;
  predLen: number;
  /** Chronological split of the windows (indices into samples). */
  split: { train: number[]; val: number[]; test: number[] };
}

/** Counters of a lazily read data set (for tests and diagnostics). */
export interface LoadStats {
  /** Samples produced by `get` so far. */
  gets: number;
  /** Thread ids of the worker threads that decoded samples. */
  workerThreads: Set<number>;
}

export interface LoadedDataset {
  format: DatasetFormat;
  /** Number of (good) samples. */
  length: number;
  /** Sample i: from memory, or read (decoded in a worker thread) on demand. */
  get(i: number): RawSample | Promise<RawSample>;
  /** Where sample i comes from. */
  name(i: number): string;
  /** The samples, when the whole set is held in memory (small formats); absent for lazily read sets. */
  samples?: RawSample[];
  /** Classification: the label text of every sample (known without reading the inputs). */
  labels?: readonly string[];
  /** Regression: the target of every sample. */
  values?: ArrayLike<number>;
  /** Target field / column name. */
  targetName: string;
  /** CSV rows: the feature columns (target removed). */
  header?: string[];
  series?: SeriesInfo;
  /** Samples left out as malformed (skipBad). */
  skipped: number;
  stats: LoadStats;
  /** Stop the worker threads (lazily read sets); the set cannot be read afterwards. */
  close(): Promise<void>;
}

export interface DatasetOptions {
  spec: ModalitySpec;
  task: TaskKind;
  /** Target column / field (--target). */
  target?: string;
  read: ReadOptions;
  /** Forecasting: window lengths and the date column. */
  seqLen?: number;
  predLen?: number;
  dateColumn?: string;
  /** Forecasting: fractions of the time axis for validation and test (TSLib: 0.1 / 0.2). */
  valFraction?: number;
  testFraction?: number;
  /** Forecasting evaluation of a trained run: use these statistics instead of fitting them. */
  seriesStats?: { mean: number[]; std: number[]; channels: string[]; targetChannels: string[]; dateColumn: string | null };
  /** Leave malformed samples out (one warning each) instead of stopping at the first (default false). */
  skipBad?: boolean;
  /** Receives the warnings of skipped samples (default: console.error). */
  warn?: (message: string) => void;
  /** Class folders: read samples lazily in worker threads (default true; false loads them all into memory). */
  stream?: boolean;
  /** Worker threads of a lazily read set (default: WorkerPool's, min(4, cores - 1)). */
  workers?: number;
  /** Video clips stored as frame folders: frames per clip (default 8). */
  frames?: number;
  /** Hyperspectral scenes: neighbourhood side of a pixel sample (default 1 = its spectrum). */
  patch?: number;
  /** IDX folders with several image files: which one to read (train-... for 'train', t10k-... or test-... for 'eval'). */
  role?: 'train' | 'eval';
}

const DEFAULT_TARGETS = ['label', 'target', 'class', 'y'];

function isDir(p: string): boolean { try { return statSync(p).isDirectory(); } catch { return false; } }

function parseValue(s: unknown, where: string): number {
  const v = typeof s === 'number' ? s : typeof s === 'string' && s.trim() !== '' ? Number(s) : NaN;
  if (!Number.isFinite(v)) throw new DataError(`${where}: regression target ${JSON.stringify(s)} is not a finite number`);
  return v;
}

function labelOf(s: unknown, where: string): string {
  if (typeof s === 'string' && s.trim() !== '') return s.trim();
  if (typeof s === 'number' && Number.isFinite(s)) return String(s);
  if (typeof s === 'boolean') return String(s);
  throw new DataError(`${where}: label ${JSON.stringify(s)} is missing or not a string/number`);
}

function withTarget(sample: RawSample, raw: unknown, task: TaskKind, where: string): RawSample {
  if (task === 'regression') sample.value = parseValue(raw, where);
  else sample.label = labelOf(raw, where);
  return sample;
}

const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** The bad-sample policy: rethrow (naming the file), or warn once per sample and count under skipBad. */
export class BadSamples {
  count = 0;
  private readonly warn: (m: string) => void;
  constructor(private readonly skipBad: boolean, warn?: (m: string) => void) { this.warn = warn ?? ((m) => console.error(m)); }
  /** `where` names the sample (a file) when the error does not already. */
  handle(e: unknown, where: string): void {
    const msg = messageOf(e);
    const named = msg.includes(where) ? msg : `${where}: ${msg}`;
    if (!this.skipBad) {
      if (e instanceof DataError && named === msg) throw e;
      throw new DataError(named);
    }
    this.count++;
    this.warn(`omniformer: skipping ${named}`);
  }
}

const newStats = (): LoadStats => ({ gets: 0, workerThreads: new Set() });

/** Per-sample targets of a set whose samples carry label / value. */
function targetsOf(samples: readonly RawSample[], task: TaskKind): Pick<LoadedDataset, 'labels' | 'values'> {
  if (task === 'classification') return { labels: samples.map((s) => s.label!) };
  if (task === 'regression') return { values: samples.map((s) => s.value!) };
  return {};
}

/** A data set held in memory. */
function inMemory(format: DatasetFormat, samples: RawSample[], task: TaskKind, targetName: string, skipped: number, extra: Partial<LoadedDataset> = {}): LoadedDataset {
  const stats = newStats();
  return {
    format, length: samples.length, samples, targetName, skipped, stats,
    get: (i) => { stats.gets++; return samples[i]!; },
    name: (i) => samples[i]!.name,
    ...targetsOf(samples, task),
    close: async () => undefined,
    ...extra,
  };
}

export async function loadDataset(path: string, opts: DatasetOptions): Promise<LoadedDataset> {
  const { spec, task } = opts;
  if (!existsSync(path)) throw new DataError(`--data: '${path}' does not exist`);
  const ext = extOf(path);
  if (task === 'forecasting') {
    if (ext !== 'csv' && ext !== 'tsv') throw new DataError(`--data: forecasting reads one multivariate series from a CSV/TSV file (rows = time steps), got '${path}'`);
    return loadSeries(path, opts);
  }
  const bad = new BadSamples(opts.skipBad ?? false, opts.warn);
  if (isDir(path)) {
    if (existsSync(join(path, 'inputs.npy'))) return loadNpyFolder(path, opts, bad);
    if (existsSync(join(path, 'cube.npy'))) return loadHyperspectralScene(path, opts);
    const idx = findIdxPair(path, opts.role ?? 'train');
    if (idx) return loadIdx(idx.images, idx.labels, opts);
    return loadClassFolders(path, opts, bad);
  }
  if (isIdxFile(path)) {
    const labels = idxLabelsFor(path);
    if (!labels) throw new DataError(`--data: no labels file next to '${path}' (expected ${basename(path).replace(/images-idx3/i, 'labels-idx1')} in ${dirname(path)})`);
    return loadIdx(path, labels, opts);
  }
  if (ext === 'npz') return loadNpz(path, opts, bad);
  if (spec.name === 'graph' && ['sdf', 'sd', 'mol'].includes(ext)) return loadSdf(path, opts);
  if (ext === 'json') {
    if (spec.name === 'graph') {
      const doc = await readJson(path, 'data file');
      if (isGraphList(doc)) return loadGraphJson(path, opts);
    }
    return loadManifest(path, opts, bad);
  }
  if (ext === 'csv' || ext === 'tsv') {
    if (!spec.csvRows || !spec.fromCsvRow) throw new DataError(`--data: ${spec.name} samples are not read from CSV rows; use a folder of class subfolders, a JSON manifest or an inputs.npy folder`);
    return loadCsvRows(path, opts, bad);
  }
  throw new DataError(`--data: '${path}' is not a folder, a .json manifest, a .csv/.tsv file, an .npz archive, IDX files${spec.name === 'graph' ? ' or an .sdf/.mol file' : ''}`);
}

// ---- class folders (lazy, decoded in worker threads) ----

interface FileEntry { path: string; label: string }

function listClassFolders(dir: string, opts: DatasetOptions, bad: BadSamples): FileEntry[] {
  const { spec } = opts;
  if (opts.task === 'regression') throw new DataError(`--data: class subfolders give class labels; for regression use a JSON manifest${spec.csvRows ? ' or a CSV file' : ''}`);
  const classes = readdirSync(dir).filter((d) => !d.startsWith('.') && isDir(join(dir, d))).sort();
  if (!classes.length) throw new DataError(`--data: '${dir}' has no class subfolders (expected ${dir}/<class>/<file>) and no inputs.npy`);
  const files: FileEntry[] = [];
  for (const c of classes) {
    for (const f of readdirSync(join(dir, c)).filter((f) => !f.startsWith('.')).sort()) {
      const p = join(dir, c, f);
      if (isDir(p)) {
        if (spec.name === 'video') files.push({ path: p, label: c }); // a clip: a folder of frames
        continue;
      }
      if (!spec.extensions.includes(extOf(f))) {
        bad.handle(new DataError(`${p}: unsupported file type for ${spec.name} (expected ${spec.extensions.map((e) => `.${e}`).join(', ')}${spec.name === 'video' ? ' or a folder of frames' : ''})`), p);
        continue;
      }
      files.push({ path: p, label: c });
    }
  }
  return files;
}

/** Modalities whose tokenizer configuration needs only one sample (graphs need every sample's size). */
const LAZY_MODALITIES = new Set(['image', 'infrared', 'xray', 'video', 'hyperspectral', 'audio', 'point-cloud', 'time-series', 'imu', 'text']);

function shapeMismatch(spec: ModalitySpec, path: string, shape: string, firstPath: string, first: string): DataError {
  return new DataError(`${path} is ${shape} but ${firstPath} is ${first}; all ${spec.name} samples of a data set must have the same shape (resize, crop or pad them first)`);
}

async function loadClassFolders(dir: string, opts: DatasetOptions, bad: BadSamples): Promise<LoadedDataset> {
  const { spec } = opts;
  const files = listClassFolders(dir, opts, bad);
  const what = `${spec.extensions.map((e) => `.${e}`).join('/')} files`;
  if (!files.length && !bad.count) throw new DataError(`--data: the class subfolders of '${dir}' hold no ${what}`);
  const read = { ...opts.read, ...(opts.frames !== undefined ? { frames: opts.frames } : {}) };
  if (opts.stream === false || !LAZY_MODALITIES.has(spec.name)) {
    const samples: RawSample[] = [];
    let first: { path: string; shape: string } | null = null;
    for (const f of files) {
      let input: unknown;
      try { input = await readSampleAt(spec, f.path, read); } catch (e) { bad.handle(e, f.path); continue; }
      const shape = spec.shapeOf(input);
      if (shape && first && shape !== first.shape) { bad.handle(shapeMismatch(spec, f.path, shape, first.path, first.shape), f.path); continue; }
      first ??= { path: f.path, shape };
      samples.push({ input, name: f.path, label: f.label });
    }
    if (!samples.length) throw new DataError(`--data: no readable samples in the class subfolders of '${dir}' (${bad.count} skipped)`);
    return inMemory('folders', samples, opts.task, 'folder', bad.count);
  }
  const config: ReadWorkerConfig = { modality: spec.name, read };
  const pool = new WorkerPool<ReadTask, { threadId: number; results: ReadResult[] }>({
    module: new URL('./read-worker.js', import.meta.url), fn: 'readSamples', config, ...(opts.workers !== undefined ? { workers: opts.workers } : {}),
  });
  const stats = newStats();
  try {
    // The check: every file decoded once (in the workers, 8 per task), only its shape kept.
    const chunks: FileEntry[][] = [];
    for (let i = 0; i < files.length; i += 8) chunks.push(files.slice(i, i + 8));
    const good: FileEntry[] = [];
    let first: { path: string; shape: string } | null = null;
    let k = 0;
    for await (const r of pool.map(chunks.map((c) => ({ paths: c.map((f) => f.path), shapes: true })))) {
      const chunk = chunks[k++]!;
      stats.workerThreads.add(r.threadId);
      r.results.forEach((res, j) => {
        const f = chunk[j]!;
        if (!res.ok) { bad.handle(new DataError(res.error), f.path); return; }
        const shape = res.shape ?? '';
        if (shape && first && shape !== first.shape) { bad.handle(shapeMismatch(spec, f.path, shape, first.path, first.shape), f.path); return; }
        first ??= { path: f.path, shape };
        good.push(f);
      });
    }
    if (!good.length) throw new DataError(`--data: no readable samples in the class subfolders of '${dir}' (${bad.count} skipped)`);
    const paths = good.map((f) => f.path);
    return {
      format: 'folders', length: good.length, targetName: 'folder', skipped: bad.count, stats,
      labels: good.map((f) => f.label),
      name: (i) => paths[i]!,
      get: async (i) => {
        const f = good[i]!;
        const r = await pool.run({ paths: [f.path] });
        const res = r.results[0]!;
        if (!res.ok) throw new DataError(res.error.includes(f.path) ? res.error : `${f.path}: ${res.error}`);
        stats.gets++;
        stats.workerThreads.add(r.threadId);
        return { input: res.input, name: f.path, label: f.label };
      },
      close: () => pool.close(),
    };
  } catch (e) {
    await pool.terminate();
    throw e;
  }
}

// ---- IDX ----

const IDX_NAME = /idx\d+-ubyte(\.gz)?$|\.idx\d?(\.gz)?$/i;

function isIdxFile(p: string): boolean { return IDX_NAME.test(basename(p)); }

/** The labels file of an images file: '…images-idx3-ubyte[.gz]' -> '…labels-idx1-ubyte[.gz]' (gzipped or not). */
function idxLabelsFor(images: string): string | null {
  const base = basename(images);
  if (!/images/i.test(base)) return null;
  const stem = base.replace(/images/i, 'labels').replace(/idx3/i, 'idx1').replace(/\.gz$/i, '');
  for (const cand of [stem, `${stem}.gz`]) if (existsSync(join(dirname(images), cand))) return join(dirname(images), cand);
  return null;
}

function findIdxPair(dir: string, role: 'train' | 'eval'): { images: string; labels: string } | null {
  const images = readdirSync(dir).filter((f) => isIdxFile(f) && /images/i.test(f)).sort();
  if (!images.length) return null;
  // the same set may be there gzipped and not: prefer the plain file
  const uniq = [...new Set(images.map((f) => f.replace(/\.gz$/i, '')))].map((f) => (images.includes(f) ? f : `${f}.gz`));
  let pick = uniq;
  if (uniq.length > 1) {
    pick = uniq.filter((f) => (role === 'train' ? /^train/i.test(f) : /^(t10k|test)/i.test(f)));
    if (pick.length !== 1) throw new DataError(`--data: '${dir}' holds several IDX image files (${uniq.join(', ')}); name one with --data ${join(dir, uniq[0]!)}`);
  }
  const img = join(dir, pick[0]!);
  const labels = idxLabelsFor(img);
  if (!labels) throw new DataError(`--data: no labels file for '${img}' (expected ${basename(img).replace(/images-idx3/i, 'labels-idx1')})`);
  return { images: img, labels };
}

async function loadIdx(images: string, labelsPath: string, opts: DatasetOptions): Promise<LoadedDataset> {
  const { spec } = opts;
  if (!['image', 'infrared', 'xray'].includes(spec.name)) throw new DataError(`--data: IDX image files are read for the image, infrared and xray modalities, not ${spec.name}`);
  let idx: IdxImageDataset;
  try { idx = await IdxImageDataset.open(images, labelsPath); } catch (e) { throw new DataError(messageOf(e)); }
  const lab = await idx.allLabels();
  const stats = newStats();
  const name = (i: number): string => `${images}[${i}]`;
  const targets = opts.task === 'regression' ? { values: Float64Array.from(lab) } : { labels: Array.from(lab, (v) => String(v)) };
  return {
    format: 'idx', length: idx.length, targetName: basename(labelsPath), skipped: 0, stats, name, ...targets,
    get: async (i) => {
      const img = await idx.image(i); // one positioned read (plain files) or a slice of the inflated buffer (gzip)
      stats.gets++;
      const s: RawSample = { input: img, name: name(i) };
      if (opts.task === 'regression') s.value = lab[i]!; else s.label = String(lab[i]!);
      return s;
    },
    close: () => idx.close(),
  };
}

// ---- manifests ----

async function loadManifest(path: string, opts: DatasetOptions, bad: BadSamples): Promise<LoadedDataset> {
  const { spec } = opts;
  const doc = await readJson(path, 'manifest');
  const items = Array.isArray(doc) ? doc : doc && typeof doc === 'object' && Array.isArray((doc as { samples?: unknown }).samples) ? (doc as { samples: unknown[] }).samples : null;
  if (!items) throw new DataError(`${path}: a manifest must be a JSON array of samples or { "samples": [...] }`);
  if (!items.length) throw new DataError(`${path}: the manifest has no samples`);
  const base = dirname(resolve(path));
  const targetKey = opts.target;
  const samples: RawSample[] = [];
  let targetName = targetKey ?? '';
  const read = { ...opts.read, ...(opts.frames !== undefined ? { frames: opts.frames } : {}) };
  for (let i = 0; i < items.length; i++) {
    const it = items[i] as Record<string, unknown>;
    const where = `${path}: sample ${i}`;
    if (!it || typeof it !== 'object' || Array.isArray(it)) throw new DataError(`${where} must be an object with "path" or "input" and a label`);
    let input: unknown, name: string;
    if (typeof it.path === 'string') {
      const p = isAbsolute(it.path) ? it.path : join(base, it.path);
      if (!existsSync(p)) { bad.handle(new DataError(`${where}: file '${it.path}' does not exist (paths are relative to the manifest's folder)`), p); continue; }
      try { input = await readSampleAt(spec, p, read); } catch (e) { bad.handle(e, p); continue; }
      name = p;
    } else if ('input' in it) {
      try { input = spec.fromJson(it.input, `${where}, field "input"`, opts.read); } catch (e) { bad.handle(e, where); continue; }
      name = `${basename(path)}[${i}]`;
    } else throw new DataError(`${where} has neither "path" nor "input"`);
    const key = targetKey ?? DEFAULT_TARGETS.find((k) => k in it);
    if (!key || !(key in it)) throw new DataError(`${where} has no target field "${targetKey ?? 'label'}" (fields: ${Object.keys(it).join(', ')})`);
    targetName = key;
    try { samples.push(withTarget({ input, name }, it[key], opts.task, `${where}, field "${key}"`)); } catch (e) { bad.handle(e, where); }
  }
  if (!samples.length) throw new DataError(`${path}: no readable samples (${bad.count} skipped)`);
  return inMemory('manifest', samples, opts.task, targetName, bad.count);
}

// ---- stacked arrays: inputs.npy folders and .npz archives (rows converted on demand) ----

function arrayRows(format: DatasetFormat, inputs: NdArray, inputsName: string, labels: unknown[], labelsName: string, targetName: string, opts: DatasetOptions, bad: BadSamples): LoadedDataset {
  const { spec } = opts;
  if (inputs.shape.length < 2) throw new DataError(`${inputsName}: expected samples stacked on axis 0 ([N, ...]), got shape [${inputs.shape.join(', ')}]`);
  const n = inputs.shape[0]!;
  if (labels.length !== n) throw new DataError(`${labelsName}: ${labels.length} labels for ${n} samples in ${inputsName}`);
  const rowShape = inputs.shape.slice(1);
  const size = rowShape.reduce((a, b) => a * b, 1);
  const nameOf = (i: number): string => `${inputsName}[${i}]`;
  const row = (i: number): NdArray => ({ shape: rowShape, data: inputs.data.subarray(i * size, (i + 1) * size), integer: inputs.integer });
  // check every row once (finite values, rank, target) without keeping the converted samples
  const keep: number[] = [];
  const labelText: string[] = [], values: number[] = [];
  for (let i = 0; i < n; i++) {
    try {
      spec.fromArray(row(i), nameOf(i), opts.read);
      const s = withTarget({ input: null, name: nameOf(i) }, labels[i], opts.task, `${labelsName}: label ${i}`);
      if (s.label !== undefined) labelText.push(s.label); else values.push(s.value!);
      keep.push(i);
    } catch (e) { bad.handle(e, nameOf(i)); }
  }
  if (!keep.length) throw new DataError(`${inputsName}: no readable samples (${bad.count} skipped)`);
  const stats = newStats();
  return {
    format, length: keep.length, targetName, skipped: bad.count, stats,
    ...(opts.task === 'regression' ? { values } : { labels: labelText }),
    name: (k) => nameOf(keep[k]!),
    get: (k) => {
      const i = keep[k]!;
      stats.gets++;
      const s: RawSample = { input: spec.fromArray(row(i), nameOf(i), opts.read), name: nameOf(i) };
      if (opts.task === 'regression') s.value = values[k]!; else s.label = labelText[k]!;
      return s;
    },
    close: async () => undefined,
  };
}

async function loadNpyFolder(dir: string, opts: DatasetOptions, bad: BadSamples): Promise<LoadedDataset> {
  const inputsPath = join(dir, 'inputs.npy');
  const inputs = await readArrayFile(inputsPath);
  let labels: unknown[];
  let labelsPath: string;
  if (existsSync((labelsPath = join(dir, 'labels.npy')))) {
    const l = await readArrayFile(labelsPath);
    if (l.shape.length !== 1) throw new DataError(`${labelsPath}: expected labels of shape [N], got [${l.shape.join(', ')}]`);
    labels = Array.from(l.data);
  } else if (existsSync((labelsPath = join(dir, 'labels.json')))) {
    const l = await readJson(labelsPath);
    if (!Array.isArray(l)) throw new DataError(`${labelsPath}: expected a JSON array of labels`);
    labels = l;
  } else if (existsSync((labelsPath = join(dir, 'labels.txt')))) {
    labels = (await readText(labelsPath)).split(/\r?\n/).map((s) => s.trim()).filter((s) => s !== '');
  } else throw new DataError(`--data: '${dir}' has inputs.npy but no labels.npy, labels.json or labels.txt`);
  return arrayRows('npy', inputs, inputsPath, labels, labelsPath, basename(labelsPath), opts, bad);
}

async function loadNpz(path: string, opts: DatasetOptions, bad: BadSamples): Promise<LoadedDataset> {
  let arrays;
  try { arrays = await readNpz(path); } catch (e) { throw new DataError(messageOf(e).includes(path) ? messageOf(e) : `${path}: ${messageOf(e)}`); }
  const names = [...arrays.keys()];
  const inputsName = ['x', 'inputs', 'X', 'data'].find((k) => arrays.has(k)) ?? (names.length === 1 ? names[0] : undefined);
  if (!inputsName) throw new DataError(`${path}: which array holds the inputs? name it 'x' or 'inputs' (arrays: ${names.join(', ')})`);
  const labelsName = opts.target ?? ['y', 'labels', 'label', 'targets'].find((k) => arrays.has(k) && k !== inputsName);
  if (!labelsName) throw new DataError(`${path}: no label array ('y' or 'labels'; --target names another; arrays: ${names.join(', ')})`);
  const y = arrays.get(labelsName);
  if (!y) throw new DataError(`--target: ${path} has no array '${labelsName}' (arrays: ${names.join(', ')})`);
  if (y.shape.length !== 1) throw new DataError(`${path}: label array '${labelsName}' must be [N], got [${y.shape.join(', ')}]`);
  const x = arrays.get(inputsName)!;
  const inputs: NdArray = { shape: x.shape, data: npyToFloat32(x), integer: !['float16', 'float32', 'float64'].includes(x.dtype) };
  return arrayRows('npz', inputs, `${path}[${inputsName}]`, Array.from(npyToFloat32(y)), `${path}[${labelsName}]`, labelsName, opts, bad);
}

// ---- hyperspectral scenes ----

async function loadHyperspectralScene(dir: string, opts: DatasetOptions): Promise<LoadedDataset> {
  if (opts.spec.name !== 'hyperspectral') throw new DataError(`--data: '${dir}' holds cube.npy (a hyperspectral scene); use --modality hyperspectral`);
  if (opts.task !== 'classification') throw new DataError('--data: a hyperspectral scene with a label map is a classification set');
  const cube = join(dir, 'cube.npy');
  const labelsPath = ['labels.npy', 'gt.npy'].map((f) => join(dir, f)).find((p) => existsSync(p));
  if (!labelsPath) throw new DataError(`--data: '${dir}' has cube.npy but no label map (labels.npy or gt.npy, [H, W], 0 = unlabelled)`);
  const patch = opts.patch ?? 1;
  if (!Number.isInteger(patch) || patch < 1 || patch % 2 === 0) throw new DataError(`--patch must be a positive odd integer, got ${patch}`);
  let scene;
  try { scene = await readHyperspectral(cube, labelsPath, { patch }); } catch (e) { throw new DataError(messageOf(e)); }
  const stats = newStats();
  const name = (i: number): string => { const p = scene.sample(i); return `${cube}[${p.row}, ${p.col}]`; };
  return {
    format: 'hyperspectral', length: scene.length, targetName: basename(labelsPath), skipped: 0, stats, name,
    labels: Array.from({ length: scene.length }, (_, i) => String(scene.labelOf(i))),
    get: (i) => {
      const p = scene.sample(i);
      stats.gets++;
      return { input: { spectrum: p.data, patch, bands: scene.bands }, name: `${cube}[${p.row}, ${p.col}]`, label: String(p.label) };
    },
    close: async () => undefined,
  };
}

// ---- graphs: SD files and JSON graph lists ----

function isGraphList(doc: unknown): boolean {
  if (doc && typeof doc === 'object' && !Array.isArray(doc) && Array.isArray((doc as { graphs?: unknown }).graphs)) return true;
  return Array.isArray(doc) && doc.length > 0 && doc.every((g) => g && typeof g === 'object' && 'nodes' in g && !('input' in g) && !('path' in g));
}

function graphSamples(format: DatasetFormat, data: { graphs: { numNodes: number }[]; names: string[]; labels?: Int32Array; classes?: string[]; targets?: Float32Array; skipped: number; file: string }, targetName: string, opts: DatasetOptions): LoadedDataset {
  const samples: RawSample[] = data.graphs.map((g, i) => {
    const s: RawSample = { input: g, name: `${data.file}: ${data.names[i] || `graph ${i}`}` };
    if (opts.task === 'regression') {
      if (!data.targets) throw new DataError(`${data.file}: target '${targetName}' is categorical; use --task classification`);
      s.value = data.targets[i]!;
    } else {
      if (data.labels && data.classes) s.label = data.classes[data.labels[i]!]!;
      else if (data.targets) s.label = String(data.targets[i]!);
      else throw new DataError(`${data.file}: no target; name it with --target`);
    }
    return s;
  });
  return inMemory(format, samples, opts.task, targetName, data.skipped);
}

async function loadSdf(path: string, opts: DatasetOptions): Promise<LoadedDataset> {
  if (opts.target === undefined) throw new DataError(`--target: name the SD data item of ${path} to predict (e.g. --target activity)`);
  let data;
  try { data = await readSdf(path, { target: opts.target, task: opts.task === 'regression' ? 'regression' : 'classification', skipBad: opts.skipBad, onWarning: (m) => (opts.warn ?? console.error)(`omniformer: ${m}`) }); } catch (e) { throw new DataError(messageOf(e)); }
  return graphSamples('sdf', data, opts.target, opts);
}

async function loadGraphJson(path: string, opts: DatasetOptions): Promise<LoadedDataset> {
  let data;
  try { data = await readGraphJson(path, { target: opts.target, task: opts.task === 'regression' ? 'regression' : 'classification', skipBad: opts.skipBad, onWarning: (m) => (opts.warn ?? console.error)(`omniformer: ${m}`) }); } catch (e) { throw new DataError(messageOf(e)); }
  return graphSamples('graph-json', data, opts.target ?? 'label', opts);
}

/** The target column of a CSV header (explicit, a conventional name, or the last column). */
export function targetColumn(header: string[], explicit: string | undefined, path: string): number {
  if (explicit !== undefined) {
    const k = header.indexOf(explicit);
    if (k < 0) throw new DataError(`--target: column '${explicit}' is not in ${path} (columns: ${header.join(', ')})`);
    return k;
  }
  const k = header.findIndex((h) => DEFAULT_TARGETS.includes(h.toLowerCase()));
  return k >= 0 ? k : header.length - 1;
}

const TEXT_COLUMNS = ['text', 'sentence', 'review', 'content', 'document'];

async function loadCsvRows(path: string, opts: DatasetOptions, bad: BadSamples): Promise<LoadedDataset> {
  const { spec } = opts;
  const table = await readCsvFile(path);
  if (table.header.length < 2) throw new DataError(`${path}: needs at least one feature column and a target column (header: ${table.header.join(', ')})`);
  if (!table.rows.length) throw new DataError(`${path}: no data rows`);
  const t = targetColumn(table.header, opts.target, path);
  let cols = table.header.map((_, k) => k).filter((k) => k !== t);
  if (spec.name === 'text' && cols.length > 1) {
    // the text column: text / sentence / review / content / document (other columns, e.g. an id, are ignored)
    const lower = table.header.map((h) => h.toLowerCase());
    const k = TEXT_COLUMNS.map((n) => lower.indexOf(n)).find((j) => j >= 0 && j !== t);
    if (k === undefined) throw new DataError(`${path}: a text CSV needs a text column (${TEXT_COLUMNS.join(', ')}) besides the target; columns: ${table.header.join(', ')}`);
    cols = [k];
  }
  const header = cols.map((k) => table.header[k]!);
  const samples: RawSample[] = [];
  table.rows.forEach((r, i) => {
    const where = `${path}:${table.lines[i]}`;
    try {
      const fields = cols.map((k) => r[k]!);
      samples.push(withTarget({ input: spec.fromCsvRow!(fields, header, where, opts.read), name: where }, r[t], opts.task, `${where}, column '${table.header[t]}'`));
    } catch (e) { bad.handle(e, where); }
  });
  if (!samples.length) throw new DataError(`${path}: no readable rows (${bad.count} skipped)`);
  return inMemory('csv-rows', samples, opts.task, table.header[t]!, bad.count, { header });
}

const DATE_COLUMNS = ['date', 'time', 'timestamp', 'datetime'];

/** Read a series CSV: channels [T, C] (numbers), optional timestamps. */
export async function readSeriesCsv(path: string, dateColumn: string | undefined, channels?: string[]): Promise<{ values: Float32Array; steps: number; channels: string[]; dateColumn: string | null; timestamps: string[] | null }> {
  const table = await readCsvFile(path);
  if (!table.rows.length) throw new DataError(`${path}: no data rows`);
  let d = -1;
  if (dateColumn !== undefined) {
    d = table.header.indexOf(dateColumn);
    if (d < 0) throw new DataError(`--date-column: column '${dateColumn}' is not in ${path} (columns: ${table.header.join(', ')})`);
  } else d = table.header.findIndex((h) => DATE_COLUMNS.includes(h.toLowerCase()));
  const names = channels ?? table.header.filter((_, k) => k !== d);
  const cols = names.map((c) => {
    const k = table.header.indexOf(c);
    if (k < 0) throw new DataError(`${path}: channel column '${c}' is missing (columns: ${table.header.join(', ')})`);
    return k;
  });
  if (!cols.length) throw new DataError(`${path}: no channel columns besides the date column`);
  const T = table.rows.length, C = cols.length;
  const values = new Float32Array(T * C);
  table.rows.forEach((r, i) => cols.forEach((k, c) => {
    const s = r[k]!;
    const v = s === '' ? NaN : Number(s);
    if (!Number.isFinite(v)) throw new DataError(`${path}:${table.lines[i]}, column '${table.header[k]}': ${s === '' ? 'missing value' : `'${s}' is not a finite number`} (series must be complete and numeric)`);
    values[i * C + c] = v;
  }));
  return { values, steps: T, channels: names, dateColumn: d >= 0 ? table.header[d]! : null, timestamps: d >= 0 ? table.rows.map((r) => r[d]!) : null };
}

async function loadSeries(path: string, opts: DatasetOptions): Promise<LoadedDataset> {
  const seqLen = opts.seqLen ?? 96, predLen = opts.predLen ?? 96;
  for (const [k, v] of [['--seq-len', seqLen], ['--pred-len', predLen]] as const) if (!Number.isInteger(v) || v < 1) throw new DataError(`${k} must be a positive integer, got ${v}`);
  const stats = opts.seriesStats;
  const s = await readSeriesCsv(path, stats ? stats.dateColumn ?? undefined : opts.dateColumn, stats?.channels);
  const { steps: T, channels } = s;
  const C = channels.length;
  const targets = stats ? stats.targetChannels : opts.target !== undefined ? [opts.target] : channels;
  const tIdx = targets.map((t) => {
    const k = channels.indexOf(t);
    if (k < 0) throw new DataError(`--target: '${t}' is not a channel of ${path} (channels: ${channels.join(', ')})`);
    return k;
  });
  if (T < seqLen + predLen) throw new DataError(`${path}: ${T} time steps are too few for windows of --seq-len ${seqLen} + --pred-len ${predLen}`);
  // TSLib borders: train = first 70 % of the steps, test = last 20 %, validation in between.
  const testF = opts.testFraction ?? 0.2, valF = opts.valFraction ?? 0.1;
  const nTest = stats ? T : Math.round(T * testF), nTrain = stats ? 0 : T - nTest - Math.round(T * valF), nVal = T - nTrain - nTest;
  let mean: number[], std: number[];
  if (stats) ({ mean, std } = stats);
  else {
    if (nTrain < seqLen + predLen) throw new DataError(`${path}: the training part (${nTrain} of ${T} steps) is shorter than --seq-len ${seqLen} + --pred-len ${predLen}`);
    mean = new Array<number>(C).fill(0); std = new Array<number>(C).fill(0);
    for (let c = 0; c < C; c++) {
      let m = 0;
      for (let t = 0; t < nTrain; t++) m += s.values[t * C + c]!;
      m /= nTrain;
      let v = 0;
      for (let t = 0; t < nTrain; t++) v += (s.values[t * C + c]! - m) ** 2;
      mean[c] = m;
      std[c] = Math.sqrt(v / nTrain) || 1;
    }
  }
  const z = s.values.map((v, k) => (v - mean[k % C]!) / std[k % C]!);
  const samples: RawSample[] = [];
  const split = { train: [] as number[], val: [] as number[], test: [] as number[] };
  const Co = tIdx.length;
  for (let t0 = 0; t0 + seqLen + predLen <= T; t0++) {
    const fStart = t0 + seqLen, fEnd = fStart + predLen; // future [fStart, fEnd)
    const which = fEnd <= nTrain ? 'train' : fStart >= nTrain && fEnd <= nTrain + nVal ? 'val' : fStart >= nTrain + nVal ? 'test' : null;
    if (!which) continue;
    const future = new Float32Array(predLen * Co);
    for (let p = 0; p < predLen; p++) tIdx.forEach((k, j) => { future[p * Co + j] = z[(fStart + p) * C + k]!; });
    split[which].push(samples.length);
    samples.push({
      input: { values: z.slice(t0 * C, fStart * C), channels: C, ...(s.timestamps ? { timestamps: s.timestamps.slice(t0, fStart) } : {}) },
      name: `${path} steps ${t0}-${fStart - 1}`, future,
    });
  }
  return inMemory('csv-series', samples, 'forecasting', targets.join(','), 0, {
    series: { channels, targetChannels: targets, dateColumn: s.dateColumn, mean, std, seqLen, predLen, split },
  });
}
