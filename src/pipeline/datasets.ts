// Labelled data sets for the CLI (`--data PATH`), in four simple formats:
//
//   1. A folder of class subfolders:  DATA/<class>/<sample file>   (classification; file types per modality,
//      see modalities.ts; hidden files are skipped).
//   2. A JSON manifest (DATA.json): an array, or { "samples": [...] }, of objects
//        { "path": "relative/or/absolute/file", "label": ... }   or   { "input": <inline sample>, "label": ... }
//      "label" is the default target field (also "target"; --target NAME picks another). Inline samples are
//      nested number arrays, a string (text) or a graph object. Regression targets are numbers.
//   3. A NumPy folder: DATA/inputs.npy (samples stacked on axis 0) with DATA/labels.npy (numbers),
//      DATA/labels.json (an array) or DATA/labels.txt (one label per line).
//   4. A CSV file (DATA.csv) with a header row and one sample per row for tabular, time-series/imu (the other
//      columns are the series in time order), hyperspectral (the band values) and text (a 'text' column);
//      the target is --target NAME, else a column named label, target, class or y, else the last column.
//      Time-series forecasting reads a CSV of ONE multivariate series instead: rows are time steps, every
//      numeric column a channel, an optional date column (--date-column; 'date', 'time' or 'timestamp' by
//      default) gives calendar features; windows of --seq-len steps predict the next --pred-len steps.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import type { TaskKind } from '../train/recipes.js';
import { DataError, extOf, readArrayFile, readCsvFile, readJson, readText, type NdArray } from './files.js';
import type { ModalitySpec, ReadOptions } from './modalities.js';

export type DatasetFormat = 'folders' | 'manifest' | 'npy' | 'csv-rows' | 'csv-series';

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

export interface LoadedDataset {
  format: DatasetFormat;
  samples: RawSample[];
  /** Target field / column name. */
  targetName: string;
  /** CSV rows: the feature columns (target removed). */
  header?: string[];
  series?: SeriesInfo;
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

export async function loadDataset(path: string, opts: DatasetOptions): Promise<LoadedDataset> {
  const { spec, task } = opts;
  if (!existsSync(path)) throw new DataError(`--data: '${path}' does not exist`);
  if (task === 'forecasting') {
    if (extOf(path) !== 'csv') throw new DataError(`--data: forecasting reads one multivariate series from a CSV file (rows = time steps), got '${path}'`);
    return loadSeries(path, opts);
  }
  if (isDir(path)) {
    if (existsSync(join(path, 'inputs.npy'))) return loadNpyFolder(path, opts);
    return loadClassFolders(path, opts);
  }
  const ext = extOf(path);
  if (ext === 'json') return loadManifest(path, opts);
  if (ext === 'csv') {
    if (!spec.csvRows || !spec.fromCsvRow) throw new DataError(`--data: ${spec.name} samples are not read from CSV rows; use a folder of class subfolders, a JSON manifest or an inputs.npy folder`);
    return loadCsvRows(path, opts);
  }
  throw new DataError(`--data: '${path}' is not a folder, a .json manifest or a .csv file`);
}

async function loadClassFolders(dir: string, opts: DatasetOptions): Promise<LoadedDataset> {
  const { spec } = opts;
  if (opts.task === 'regression') throw new DataError(`--data: class subfolders give class labels; for regression use a JSON manifest${spec.csvRows ? ' or a CSV file' : ''}`);
  const classes = readdirSync(dir).filter((d) => !d.startsWith('.') && isDir(join(dir, d))).sort();
  if (!classes.length) throw new DataError(`--data: '${dir}' has no class subfolders (expected ${dir}/<class>/<file>) and no inputs.npy`);
  const samples: RawSample[] = [];
  for (const c of classes) {
    const files = readdirSync(join(dir, c)).filter((f) => !f.startsWith('.')).sort();
    for (const f of files) {
      const p = join(dir, c, f);
      if (isDir(p)) continue;
      if (!spec.extensions.includes(extOf(f))) throw new DataError(`${p}: unsupported file type for ${spec.name} (expected ${spec.extensions.map((e) => `.${e}`).join(', ')})`);
      samples.push({ input: await spec.readSample(p, opts.read), name: p, label: c });
    }
  }
  if (!samples.length) throw new DataError(`--data: the class subfolders of '${dir}' hold no ${spec.extensions.map((e) => `.${e}`).join('/')} files`);
  return { format: 'folders', samples, targetName: 'folder' };
}

async function loadManifest(path: string, opts: DatasetOptions): Promise<LoadedDataset> {
  const { spec } = opts;
  const doc = await readJson(path, 'manifest');
  const items = Array.isArray(doc) ? doc : doc && typeof doc === 'object' && Array.isArray((doc as { samples?: unknown }).samples) ? (doc as { samples: unknown[] }).samples : null;
  if (!items) throw new DataError(`${path}: a manifest must be a JSON array of samples or { "samples": [...] }`);
  if (!items.length) throw new DataError(`${path}: the manifest has no samples`);
  const base = dirname(resolve(path));
  const targetKey = opts.target;
  const samples: RawSample[] = [];
  let targetName = targetKey ?? '';
  for (let i = 0; i < items.length; i++) {
    const it = items[i] as Record<string, unknown>;
    const where = `${path}: sample ${i}`;
    if (!it || typeof it !== 'object' || Array.isArray(it)) throw new DataError(`${where} must be an object with "path" or "input" and a label`);
    let input: unknown, name: string;
    if (typeof it.path === 'string') {
      const p = isAbsolute(it.path) ? it.path : join(base, it.path);
      if (!existsSync(p)) throw new DataError(`${where}: file '${it.path}' does not exist (paths are relative to the manifest's folder)`);
      input = await spec.readSample(p, opts.read);
      name = p;
    } else if ('input' in it) {
      input = spec.fromJson(it.input, `${where}, field "input"`, opts.read);
      name = `${basename(path)}[${i}]`;
    } else throw new DataError(`${where} has neither "path" nor "input"`);
    const key = targetKey ?? DEFAULT_TARGETS.find((k) => k in it);
    if (!key || !(key in it)) throw new DataError(`${where} has no target field "${targetKey ?? 'label'}" (fields: ${Object.keys(it).join(', ')})`);
    targetName = key;
    samples.push(withTarget({ input, name }, it[key], opts.task, `${where}, field "${key}"`));
  }
  return { format: 'manifest', samples, targetName };
}

async function loadNpyFolder(dir: string, opts: DatasetOptions): Promise<LoadedDataset> {
  const { spec } = opts;
  const inputsPath = join(dir, 'inputs.npy');
  const inputs = await readArrayFile(inputsPath);
  if (inputs.shape.length < 2) throw new DataError(`${inputsPath}: expected samples stacked on axis 0 ([N, ...]), got shape [${inputs.shape.join(', ')}]`);
  const n = inputs.shape[0]!;
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
  if (labels.length !== n) throw new DataError(`${labelsPath}: ${labels.length} labels for ${n} samples in inputs.npy`);
  const rowShape = inputs.shape.slice(1);
  const size = rowShape.reduce((a, b) => a * b, 1);
  const samples: RawSample[] = [];
  for (let i = 0; i < n; i++) {
    const row: NdArray = { shape: rowShape, data: inputs.data.subarray(i * size, (i + 1) * size), integer: inputs.integer };
    const name = `${inputsPath}[${i}]`;
    samples.push(withTarget({ input: spec.fromArray(row, name, opts.read), name }, labels[i], opts.task, `${labelsPath}: label ${i}`));
  }
  return { format: 'npy', samples, targetName: basename(labelsPath) };
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

async function loadCsvRows(path: string, opts: DatasetOptions): Promise<LoadedDataset> {
  const { spec } = opts;
  const table = await readCsvFile(path);
  if (table.header.length < 2) throw new DataError(`${path}: needs at least one feature column and a target column (header: ${table.header.join(', ')})`);
  if (!table.rows.length) throw new DataError(`${path}: no data rows`);
  const t = targetColumn(table.header, opts.target, path);
  const header = table.header.filter((_, k) => k !== t);
  const samples = table.rows.map((r, i) => {
    const where = `${path}:${table.lines[i]}`;
    const fields = r.filter((_, k) => k !== t);
    return withTarget({ input: spec.fromCsvRow!(fields, header, where, opts.read), name: `${path}:${table.lines[i]}` }, r[t], opts.task, `${where}, column '${table.header[t]}'`);
  });
  return { format: 'csv-rows', samples, targetName: table.header[t]!, header };
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
  return {
    format: 'csv-series', samples, targetName: targets.join(','),
    series: { channels, targetChannels: targets, dateColumn: s.dateColumn, mean, std, seqLen, predLen, split },
  };
}
