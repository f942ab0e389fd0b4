// Datasets: indexable collections of samples that load lazily, so a large set (60,000 images) never has to
// sit in memory as JS objects. A `Dataset<R>` has a `length` and `get(i)` (sync or async); labelled sets
// also carry `labels` (class index per sample, a typed array) and `classes` (the class names).
//
//   - `folderDataset(root, loadFile)`: the torchvision ImageFolder layout (one subfolder per class, sorted
//     class names, files found recursively and sorted), for any modality given a per-file loader;
//   - `arrayDataset`, `mapDataset`, `subsetDataset`: in-memory sets, lazy transforms and index views;
//   - `splitDataset(ds, { val, test, seed, stratify })`: a seeded train/val/test split, stratified by class
//     when the set has labels (or `splitDataset(n, opts)` for bare indices, as the trainer's);
//   - `batchIndices` / `iterateBatches` / `DataLoader`: seeded shuffled mini-batches driven by indices
//     (a Uint32Array permutation); only the current batch and `prefetch` batches ahead are loaded;
//   - `collect(ds)`: load a (small) set into arrays, skipping bad samples under `skipBad`.
//
// Reader errors are `DataFormatError`s naming the file, the line (when there is one) and the problem;
// every reader with `skipBad` drops bad records instead, counts them and reports them through `onWarning`
// (default: one summary line on stderr).
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Generator as SeededGenerator } from '../engine/functional/random.js';

// ---------------------------------------------------------------------------------------------------
// Errors and bad-record policy
// ---------------------------------------------------------------------------------------------------

/** A malformed input file: the message is `file[:line]: problem`. */
export class DataFormatError extends Error {
  override name = 'DataFormatError';
  constructor(readonly file: string, readonly line: number | undefined, readonly problem: string) {
    super(`${file}${line !== undefined && line > 0 ? `:${line}` : ''}: ${problem}`);
  }
}

export interface SkipBadOptions {
  /** Skip malformed records/files (with a warning and a count) instead of throwing (default false). */
  skipBad?: boolean;
  /** Receives one message per skipped record; default: one summary line on stderr per read. */
  onWarning?: (message: string) => void;
}

/** Collects skipped records under `skipBad`, or rethrows when it is off. */
export class BadRecordLog {
  skipped = 0;
  readonly messages: string[] = [];
  constructor(readonly what: string, private readonly opts: SkipBadOptions = {}) {}

  /** Throw `err` unless skipping is on; then count it and pass it to `onWarning`. */
  handle(err: unknown): void {
    if (!this.opts.skipBad) throw err;
    const msg = err instanceof Error ? err.message : String(err);
    this.skipped++;
    if (this.messages.length < 1000) this.messages.push(msg);
    this.opts.onWarning?.(`skipped: ${msg}`);
  }

  /** After a read: without an `onWarning` callback, one summary line on stderr when records were skipped. */
  finish(): void {
    if (this.skipped && !this.opts.onWarning) {
      console.warn(`omniformer: skipped ${this.skipped} bad record${this.skipped === 1 ? '' : 's'} of ${this.what} (first: ${this.messages[0]})`);
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// The interface and simple datasets
// ---------------------------------------------------------------------------------------------------

export interface Dataset<R> {
  readonly length: number;
  /** Sample i, 0 <= i < length (sync or async). */
  get(i: number): R | Promise<R>;
  /** Class index of each sample, when the set is labelled (length = `length`). */
  readonly labels?: ArrayLike<number>;
  /** Class names, index = label. */
  readonly classes?: readonly string[];
  /** Where sample i comes from (a path, `file:line`), for messages. */
  source?(i: number): string;
}

/** Throw a RangeError unless `i` is an integer index into a set of `length` samples. */
export function checkIndex(what: string, i: number, length: number): void {
  if (!Number.isInteger(i) || i < 0 || i >= length) throw new RangeError(`${what}: index ${i} is outside [0, ${length})`);
}

export interface ArrayDatasetOptions {
  labels?: ArrayLike<number>;
  classes?: readonly string[];
  sources?: readonly string[];
}

/** A dataset over an in-memory array. */
export function arrayDataset<R>(items: readonly R[], opts: ArrayDatasetOptions = {}): Dataset<R> {
  if (!Array.isArray(items)) throw new TypeError('arrayDataset: items must be an array');
  if (opts.labels && opts.labels.length !== items.length) throw new RangeError(`arrayDataset: ${opts.labels.length} labels for ${items.length} items`);
  if (opts.sources && opts.sources.length !== items.length) throw new RangeError(`arrayDataset: ${opts.sources.length} sources for ${items.length} items`);
  checkLabels('arrayDataset', opts.labels, opts.classes);
  const sources = opts.sources;
  return {
    length: items.length,
    get: (i) => { checkIndex('arrayDataset.get', i, items.length); return items[i]!; },
    labels: opts.labels,
    classes: opts.classes,
    ...(sources ? { source: (i: number) => sources[i]! } : {}),
  };
}

function checkLabels(what: string, labels: ArrayLike<number> | undefined, classes: readonly string[] | undefined): void {
  if (!labels || !classes) return;
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i]!;
    if (!Number.isInteger(l) || l < 0 || l >= classes.length) throw new RangeError(`${what}: label ${l} of sample ${i} is outside [0, ${classes.length}) (${classes.length} classes)`);
  }
}

/** A lazy transform of every sample (labels, classes and sources are kept). */
export function mapDataset<R, S>(ds: Dataset<R>, fn: (sample: R, i: number) => S | Promise<S>): Dataset<S> {
  return {
    length: ds.length,
    get: (i) => {
      const r = ds.get(i);
      return r instanceof Promise ? r.then((v) => fn(v, i)) : fn(r, i);
    },
    labels: ds.labels,
    classes: ds.classes,
    ...(ds.source ? { source: (i: number) => ds.source!(i) } : {}),
  };
}

export interface SubsetDataset<R> extends Dataset<R> {
  /** Indices into the parent set. */
  readonly indices: Uint32Array;
  readonly parent: Dataset<R>;
}

/** A view of `ds` through `indices` (labels are gathered; nothing is loaded). */
export function subsetDataset<R>(ds: Dataset<R>, indices: ArrayLike<number>): SubsetDataset<R> {
  const idx = Uint32Array.from(indices as ArrayLike<number>);
  for (let k = 0; k < indices.length; k++) checkIndex('subsetDataset', indices[k]!, ds.length);
  let labels: Int32Array | undefined;
  if (ds.labels) {
    labels = new Int32Array(idx.length);
    for (let k = 0; k < idx.length; k++) labels[k] = ds.labels[idx[k]!]!;
  }
  return {
    length: idx.length,
    indices: idx,
    parent: ds,
    get: (i) => { checkIndex('subsetDataset.get', i, idx.length); return ds.get(idx[i]!); },
    labels,
    classes: ds.classes,
    ...(ds.source ? { source: (i: number) => ds.source!(idx[i]!) } : {}),
  };
}

/** Concatenation of datasets with the same classes (labels concatenated when every part has them). */
export function concatDatasets<R>(parts: readonly Dataset<R>[]): Dataset<R> {
  if (!parts.length) throw new RangeError('concatDatasets: no datasets');
  const offsets = [0];
  for (const p of parts) offsets.push(offsets[offsets.length - 1]! + p.length);
  const n = offsets[parts.length]!;
  const classes = parts[0]!.classes;
  for (const p of parts) {
    if (JSON.stringify(p.classes ?? null) !== JSON.stringify(classes ?? null)) throw new RangeError(`concatDatasets: the parts have different classes (${JSON.stringify(classes)} vs ${JSON.stringify(p.classes)})`);
  }
  let labels: Int32Array | undefined;
  if (parts.every((p) => p.labels)) {
    labels = new Int32Array(n);
    parts.forEach((p, k) => { for (let i = 0; i < p.length; i++) labels![offsets[k]! + i] = p.labels![i]!; });
  }
  const locate = (i: number): [Dataset<R>, number] => {
    checkIndex('concatDatasets.get', i, n);
    let lo = 0, hi = parts.length - 1;
    while (lo < hi) { const mid = (lo + hi + 1) >> 1; if (offsets[mid]! <= i) lo = mid; else hi = mid - 1; }
    return [parts[lo]!, i - offsets[lo]!];
  };
  return {
    length: n,
    get: (i) => { const [p, j] = locate(i); return p.get(j); },
    labels,
    classes,
    source: (i) => { const [p, j] = locate(i); return p.source ? p.source(j) : `item ${j}`; },
  };
}

// ---------------------------------------------------------------------------------------------------
// Folder-per-class datasets (torchvision ImageFolder)
// ---------------------------------------------------------------------------------------------------

export interface FolderSample<T> {
  input: T;
  label: number;
  path: string;
}

export interface FolderDatasetOptions {
  /** Accepted file extensions, case-insensitive, with or without the dot (default: every file). */
  extensions?: readonly string[];
  /** Walk class folders recursively (default true, as torchvision). */
  recursive?: boolean;
  /** Accept class folders without a matching file (default false: an error, as torchvision). */
  allowEmpty?: boolean;
}

export interface FolderDataset<T> extends Dataset<FolderSample<T>> {
  readonly root: string;
  readonly classes: readonly string[];
  readonly labels: Int32Array;
  /** File paths, in sample order (class by class, sorted). */
  readonly paths: readonly string[];
  source(i: number): string;
}

const byCodePoint = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

async function listFiles(dir: string, recursive: boolean, accept: (name: string) => boolean): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    const entries = (await readdir(d, { withFileTypes: true })).sort((a, b) => byCodePoint(a.name, b.name));
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const p = join(d, e.name);
      let isDir = e.isDirectory(), isFile = e.isFile();
      if (e.isSymbolicLink()) {
        try { const s = await stat(p); isDir = s.isDirectory(); isFile = s.isFile(); } catch { continue; }
      }
      if (isDir) { if (recursive) await walk(p); } else if (isFile && accept(e.name)) out.push(p);
    }
  };
  await walk(dir);
  return out;
}

/**
 * One subfolder of `root` per class (class index = position in the sorted folder names), every file below
 * it a sample, loaded lazily by `loadFile(path, label)`. Hidden files and folders (leading '.') are ignored.
 * Loader errors are rethrown with the file's path in the message.
 */
export async function folderDataset<T>(
  root: string,
  loadFile: (path: string, label: number) => T | Promise<T>,
  opts: FolderDatasetOptions = {},
): Promise<FolderDataset<T>> {
  if (typeof loadFile !== 'function') throw new TypeError('folderDataset: loadFile must be a function (path, label) => sample');
  let rootStat;
  try { rootStat = await stat(root); } catch { throw new DataFormatError(root, undefined, 'dataset folder does not exist'); }
  if (!rootStat.isDirectory()) throw new DataFormatError(root, undefined, 'is a file; expected a folder with one subfolder per class');
  const exts = opts.extensions?.map((e) => (e.startsWith('.') ? e : `.${e}`).toLowerCase());
  const accept = (name: string): boolean => !exts || exts.some((e) => name.toLowerCase().endsWith(e));
  const entries = (await readdir(root, { withFileTypes: true })).filter((e) => !e.name.startsWith('.'));
  const classes: string[] = [];
  for (const e of entries) {
    let isDir = e.isDirectory();
    if (e.isSymbolicLink()) { try { isDir = (await stat(join(root, e.name))).isDirectory(); } catch { isDir = false; } }
    if (isDir) classes.push(e.name);
  }
  classes.sort(byCodePoint);
  if (!classes.length) {
    const files = entries.filter((e) => e.isFile()).length;
    throw new DataFormatError(root, undefined, `no class folders (expected one subfolder per class, as torchvision's ImageFolder${files ? `; found ${files} loose file${files === 1 ? '' : 's'} and no subfolders` : '; the folder is empty'})`);
  }
  const paths: string[] = [];
  const labelList: number[] = [];
  const empty: string[] = [];
  for (let c = 0; c < classes.length; c++) {
    const files = await listFiles(join(root, classes[c]!), opts.recursive ?? true, accept);
    if (!files.length) empty.push(classes[c]!);
    for (const f of files) { paths.push(f); labelList.push(c); }
  }
  const extMsg = exts ? ` (accepted extensions: ${exts.join(', ')})` : '';
  if (empty.length && !opts.allowEmpty) throw new DataFormatError(root, undefined, `no files in class folder${empty.length > 1 ? 's' : ''} ${empty.map((e) => `'${e}'`).join(', ')}${extMsg}`);
  if (!paths.length) throw new DataFormatError(root, undefined, `no files in any class folder${extMsg}`);
  const labels = Int32Array.from(labelList);
  return {
    root,
    length: paths.length,
    classes,
    labels,
    paths,
    source: (i) => paths[i]!,
    get: async (i) => {
      checkIndex('folderDataset.get', i, paths.length);
      const path = paths[i]!;
      try {
        return { input: await loadFile(path, labels[i]!), label: labels[i]!, path };
      } catch (e) {
        if (e instanceof Error && e.message.includes(path)) throw e;
        throw new DataFormatError(path, undefined, e instanceof Error ? e.message : String(e));
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// Splits
// ---------------------------------------------------------------------------------------------------

export interface IndexSplitOptions {
  /** Fractions of the samples for validation and test (default 0.1 each). */
  val?: number;
  test?: number;
  seed?: number;
  /** Class labels of the samples: every split gets each class in proportion (largest-remainder rounding). */
  stratify?: ArrayLike<number>;
  /** First (1 - val - test) for training, then validation, then test, in order (no shuffling). */
  chronological?: boolean;
}

/** Sorted sample indices of each part. */
export interface IndexSplit { train: number[]; val: number[]; test: number[] }

/** Largest-remainder allocation of `total` over groups in proportion to `counts`, never above `caps`. */
function allocateByRemainder(counts: readonly number[], total: number, caps: readonly number[]): number[] {
  const n = counts.reduce((a, b) => a + b, 0);
  if (!n || !total) return counts.map(() => 0);
  const quotas = counts.map((c) => (c * total) / n);
  const out = quotas.map((q, i) => Math.min(Math.floor(q), caps[i]!));
  let left = total - out.reduce((a, b) => a + b, 0);
  // largest fractional part first, ties by group order
  const order = quotas.map((q, i) => ({ frac: q - Math.floor(q), i })).sort((a, b) => b.frac - a.frac || a.i - b.i);
  while (left > 0) {
    let progressed = false;
    for (const { i } of order) {
      if (left > 0 && out[i]! < caps[i]!) { out[i]!++; left--; progressed = true; }
    }
    if (!progressed) break;
  }
  return out;
}

/** Seeded train/validation/test split of `n` sample indices (stratified or chronological on request). */
export function splitIndices(n: number, opts: IndexSplitOptions = {}): IndexSplit {
  const val = opts.val ?? 0.1, test = opts.test ?? 0.1;
  for (const [k, v] of [['val', val], ['test', test]] as const) if (!(v >= 0 && v < 1)) throw new RangeError(`splitDataset: ${k} fraction must be in [0, 1), got ${v}`);
  if (val + test >= 1) throw new RangeError(`splitDataset: val + test fractions (${val} + ${test}) leave no training samples`);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`splitDataset: need at least one sample, got ${n}`);
  const nTest = Math.round(n * test), nVal = Math.round(n * val);
  if (n - nTest - nVal < 1) throw new RangeError(`splitDataset: ${n} samples are too few for val ${val} and test ${test}`);
  const range = (a: number, b: number): number[] => Array.from({ length: b - a }, (_, k) => a + k);
  if (opts.chronological) return { train: range(0, n - nVal - nTest), val: range(n - nVal - nTest, n - nTest), test: range(n - nTest, n) };
  const g = new SeededGenerator(opts.seed ?? 0);
  const asc = (a: number[]): number[] => a.sort((x, y) => x - y);
  if (!opts.stratify) {
    const p = g.permutation(n);
    return { train: asc(p.slice(nTest + nVal)), val: asc(p.slice(nTest, nTest + nVal)), test: asc(p.slice(0, nTest)) };
  }
  const labels = opts.stratify;
  if (labels.length !== n) throw new RangeError(`splitDataset: ${labels.length} labels for ${n} samples`);
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const c = labels[i]!;
    let m = byClass.get(c);
    if (!m) byClass.set(c, (m = []));
    m.push(i);
  }
  const groups = [...byClass.keys()].sort((a, b) => a - b).map((c) => {
    const members = byClass.get(c)!;
    return g.permutation(members.length).map((k) => members[k]!);
  });
  const counts = groups.map((m) => m.length);
  // every class keeps at least one training sample when it has one to spare
  const testK = allocateByRemainder(counts, nTest, counts.map((c) => Math.max(0, c - 1)));
  const valK = allocateByRemainder(counts, nVal, counts.map((c, i) => Math.max(0, c - 1 - testK[i]!)));
  const out: IndexSplit = { train: [], val: [], test: [] };
  groups.forEach((m, i) => {
    out.test.push(...m.slice(0, testK[i]));
    out.val.push(...m.slice(testK[i], testK[i]! + valK[i]!));
    out.train.push(...m.slice(testK[i]! + valK[i]!));
  });
  return { train: asc(out.train), val: asc(out.val), test: asc(out.test) };
}

export interface DatasetSplitOptions {
  /** Fractions for validation and test (default 0.1 each). */
  val?: number;
  test?: number;
  seed?: number;
  /** Stratify by class: `true` uses the set's labels (default: true when the set has labels), or give labels. */
  stratify?: boolean | ArrayLike<number>;
  /** First (1 - val - test) for training, then validation, then test, in order (no shuffling). */
  chronological?: boolean;
}

export interface DatasetSplit<R> {
  train: SubsetDataset<R>;
  val: SubsetDataset<R>;
  test: SubsetDataset<R>;
}

/**
 * Seeded train/validation/test split. With a dataset: three index views, stratified by class when the set
 * has labels (every split gets each class in proportion, largest-remainder rounding). With a number: the
 * sorted indices of each part (the trainer's `splitDataset`).
 */
export function splitDataset(n: number, opts?: IndexSplitOptions): IndexSplit;
export function splitDataset<R>(ds: Dataset<R>, opts?: DatasetSplitOptions): DatasetSplit<R>;
export function splitDataset<R>(dsOrN: Dataset<R> | number, opts: DatasetSplitOptions | IndexSplitOptions = {}): DatasetSplit<R> | IndexSplit {
  if (typeof dsOrN === 'number') return splitIndices(dsOrN, opts as IndexSplitOptions);
  const ds = dsOrN;
  if (!ds || typeof ds.get !== 'function' || !Number.isInteger(ds.length)) throw new TypeError('splitDataset: expected a Dataset ({ length, get(i) }) or a sample count');
  const o = opts as DatasetSplitOptions;
  let stratify: ArrayLike<number> | undefined;
  if (o.stratify === true) {
    if (!ds.labels) throw new RangeError('splitDataset: stratify is true but the dataset has no labels');
    stratify = ds.labels;
  } else if (o.stratify === undefined) stratify = o.chronological ? undefined : ds.labels;
  else if (o.stratify !== false) stratify = o.stratify;
  const s = splitIndices(ds.length, { val: o.val, test: o.test, seed: o.seed, stratify, chronological: o.chronological });
  return { train: subsetDataset(ds, s.train), val: subsetDataset(ds, s.val), test: subsetDataset(ds, s.test) };
}

// ---------------------------------------------------------------------------------------------------
// Batching
// ---------------------------------------------------------------------------------------------------

/** A seeded random permutation of 0..n-1 (Fisher-Yates) as a Uint32Array. */
export function permutation(n: number, seed: number): Uint32Array {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`permutation: n must be a non-negative integer, got ${n}`);
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  const g = new SeededGenerator(seed >>> 0);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(g.next() * (i + 1));
    const t = p[i]!; p[i] = p[j]!; p[j] = t;
  }
  return p;
}

export interface BatchOptions {
  batchSize: number;
  /** Shuffle every epoch (default true). */
  shuffle?: boolean;
  /** Seed of the shuffling (default 0); epoch e uses a permutation derived from (seed, e). */
  seed?: number;
  /** Drop the last incomplete batch (default false). */
  dropLast?: boolean;
  /** Visit the samples in this order (a permutation of 0..n-1) instead of a seeded shuffle (the Trainer's own
   * shuffling generator drives its epochs this way, so resumed runs see the same order). */
  order?: ArrayLike<number>;
}

/** The seed of epoch `epoch`'s permutation. */
export function epochSeed(seed: number, epoch: number): number {
  return ((seed >>> 0) ^ Math.imul((epoch >>> 0) + 1, 0x9e3779b9)) >>> 0;
}

/** Index batches of one epoch (subarrays of one permutation; nothing per sample is allocated). */
export function* batchIndices(n: number, opts: BatchOptions & { epoch?: number }): Generator<Uint32Array> {
  const bs = opts.batchSize;
  if (!Number.isInteger(bs) || bs < 1) throw new RangeError(`batchIndices: batchSize must be a positive integer, got ${bs}`);
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`batchIndices: n must be a non-negative integer, got ${n}`);
  let order: Uint32Array;
  if (opts.order) {
    if (opts.order.length !== n) throw new RangeError(`batchIndices: order has ${opts.order.length} indices for ${n} samples`);
    order = Uint32Array.from(opts.order);
    for (let k = 0; k < n; k++) checkIndex('batchIndices: order', order[k]!, n);
  } else if (opts.shuffle ?? true) order = permutation(n, epochSeed(opts.seed ?? 0, opts.epoch ?? 0));
  else { order = new Uint32Array(n); for (let i = 0; i < n; i++) order[i] = i; }
  const full = Math.floor(n / bs);
  const count = opts.dropLast || n % bs === 0 ? full : full + 1;
  for (let b = 0; b < count; b++) yield order.subarray(b * bs, Math.min(n, (b + 1) * bs));
}

/** Number of batches per epoch. */
export function numBatches(n: number, batchSize: number, dropLast = false): number {
  return dropLast ? Math.floor(n / batchSize) : Math.ceil(n / batchSize);
}

export interface Batch<R> {
  epoch: number;
  /** Batch number within the epoch. */
  batch: number;
  /** Dataset indices of the loaded samples (bad ones removed under skipBad). */
  indices: Uint32Array;
  items: R[];
  /** Class indices of the samples, when the set is labelled. */
  labels?: Int32Array;
  /** Samples of this batch that were skipped (skipBad). */
  skipped: number;
}

export interface LoaderOptions extends BatchOptions, SkipBadOptions {
  /** Batches loaded ahead of the one being consumed (default 1; 0 = load on demand). */
  prefetch?: number;
}

async function loadBatch<R>(ds: Dataset<R>, idx: Uint32Array, epoch: number, batch: number, log: BadRecordLog): Promise<Batch<R>> {
  const settled = await Promise.allSettled(Array.from(idx, (i) => {
    try { return Promise.resolve(ds.get(i)); } catch (e) { return Promise.reject(e); } // a synchronous throw is one sample's failure
  }));
  const keep: number[] = [];
  const items: R[] = [];
  let skipped = 0;
  settled.forEach((s, k) => {
    if (s.status === 'fulfilled') { keep.push(k); items.push(s.value); return; }
    const i = idx[k]!;
    const err = s.reason instanceof Error ? s.reason : new Error(String(s.reason));
    const src = ds.source?.(i);
    const wrapped = src && !err.message.includes(src) ? new DataFormatError(src, undefined, err.message) : err;
    log.handle(wrapped);
    skipped++;
  });
  const indices = keep.length === idx.length ? Uint32Array.from(idx) : Uint32Array.from(keep, (k) => idx[k]!);
  let labels: Int32Array | undefined;
  if (ds.labels) { labels = new Int32Array(indices.length); indices.forEach((i, k) => { labels![k] = ds.labels![i]!; }); }
  return { epoch, batch, indices, items, labels, skipped };
}

/**
 * One epoch of mini-batches, loaded by index: at most `prefetch + 1` batches of samples exist at a time
 * (the one being consumed and those loading ahead). Errors from `get` propagate (with the sample's source)
 * unless `skipBad` drops the sample.
 */
export async function* iterateBatches<R>(ds: Dataset<R>, opts: LoaderOptions & { epoch?: number }): AsyncGenerator<Batch<R>> {
  const epoch = opts.epoch ?? 0;
  const depth = opts.prefetch ?? 1;
  if (!Number.isInteger(depth) || depth < 0) throw new RangeError(`iterateBatches: prefetch must be a non-negative integer, got ${depth}`);
  const log = new BadRecordLog(`dataset batches (epoch ${epoch})`, opts);
  const it = batchIndices(ds.length, { ...opts, epoch });
  const pending: Promise<Batch<R>>[] = [];
  let b = 0;
  const fill = (): void => {
    while (pending.length < depth + 1) {
      const next = it.next();
      if (next.done) return;
      const p = loadBatch(ds, next.value, epoch, b++, log);
      p.catch(() => undefined); // consumed in order below; avoid an unhandled rejection while it waits
      pending.push(p);
    }
  };
  try {
    fill();
    while (pending.length) {
      const batch = await pending.shift()!;
      yield batch;
      fill();
    }
  } finally {
    log.finish();
  }
}

/** Epochs of seeded shuffled batches over a dataset (see `iterateBatches`). */
export class DataLoader<R> implements AsyncIterable<Batch<R>> {
  readonly dataset: Dataset<R>;
  readonly opts: LoaderOptions;
  /** The epoch the next `for await` runs. */
  epoch = 0;
  /** Samples skipped so far (skipBad). */
  skipped = 0;
  constructor(dataset: Dataset<R>, opts: LoaderOptions) {
    if (!dataset || typeof dataset.get !== 'function') throw new TypeError('DataLoader: expected a Dataset ({ length, get(i) })');
    if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1) throw new RangeError(`DataLoader: batchSize must be a positive integer, got ${opts.batchSize}`);
    this.dataset = dataset;
    this.opts = opts;
  }
  get length(): number { return numBatches(this.dataset.length, this.opts.batchSize, this.opts.dropLast); }
  /** The batches of one epoch (default: the next one). */
  async *batches(epoch = this.epoch): AsyncGenerator<Batch<R>> {
    this.epoch = epoch + 1;
    for await (const b of iterateBatches(this.dataset, { ...this.opts, epoch })) {
      this.skipped += b.skipped;
      yield b;
    }
  }
  [Symbol.asyncIterator](): AsyncIterator<Batch<R>> { return this.batches(); }
}

// ---------------------------------------------------------------------------------------------------
// Loading small sets
// ---------------------------------------------------------------------------------------------------

export interface Collected<R> {
  items: R[];
  /** Dataset index of each item. */
  indices: number[];
  labels?: Int32Array;
  skipped: number;
}

/** Load every sample (or `indices`) into an array, `concurrency` loads at a time; bad ones skipped under skipBad. */
export async function collect<R>(ds: Dataset<R>, opts: SkipBadOptions & { indices?: ArrayLike<number>; concurrency?: number } = {}): Promise<Collected<R>> {
  const idx = opts.indices ? Uint32Array.from(opts.indices) : Uint32Array.from({ length: ds.length }, (_, i) => i);
  const chunk = opts.concurrency ?? 64;
  const log = new BadRecordLog('dataset', opts);
  const items: R[] = [], indices: number[] = [];
  let skipped = 0;
  for (let s = 0; s < idx.length; s += chunk) {
    const b = await loadBatch(ds, idx.subarray(s, s + chunk), 0, 0, log);
    items.push(...b.items);
    b.indices.forEach((i) => indices.push(i));
    skipped += b.skipped;
  }
  log.finish();
  let labels: Int32Array | undefined;
  if (ds.labels) labels = Int32Array.from(indices, (i) => ds.labels![i]!);
  return { items, indices, labels, skipped };
}
