// Time series from CSV with a timestamp column, ETT style (`date,HUFL,HULL,MUFL,MULL,LUFL,LULL,OT`), into
// forecasting windows, following TSLib's data loaders (data_provider/data_loader.py):
//
//   - reading: the timestamp column ('date' when present, else the first column; 'YYYY-MM-DD hh:mm[:ss]',
//     'YYYY/MM/DD ...' or ISO 'T' forms, read as naive wall-clock time), every other column (or `columns`)
//     a numeric channel, `target` moved to the last channel as TSLib does; timestamps must increase;
//     missing values are an error unless `fillMissing` is 'ffill' or 'linear'; the frequency is inferred
//     from the median step (or given);
//   - chronological split with the lookback overlap of TSLib's borders:
//       ETT ('ett-hour' / 'ett-minute', or { months, stepsPerDay }): 12/4/4 months of 30 days,
//         train [0, 12m), val [12m − L, 16m), test [16m − L, 20m);
//       fractions (default 0.7/0.1/0.2, Dataset_Custom): n_train = ⌊0.7·T⌋, n_test = ⌊0.2·T⌋,
//         train [0, n_train), val [n_train − L, T − n_test), test [T − n_test − L, T);
//   - per-channel standard scaling (population std, 1 for a constant channel, as sklearn's StandardScaler)
//     fitted on the training rows only; `scaler.inverse` maps forecasts back for reporting;
//   - sliding windows inside each part: window k starts at s = b1 + k·stride, input rows [s, s + L),
//     target rows [s + L − labelLen, s + L + H); windows = ⌊(b2 − b1 − L − H) / stride⌋ + 1;
//   - time features of the timestamps (TSLib timeF, `timeFeatures` in src/data2seq/time-series.ts).
// Windows are built on `get(i)`; only the (scaled) series and its time features are held in memory.
import { ShapeError } from '../engine/errors.js';
import { calendarFields, timeFeatures, TIME_FEATURE_DIMS, type TimeFreq, type TimeSeriesSample } from '../data2seq/time-series.js';
import { BadRecordLog, DataFormatError, checkIndex, type Dataset, type SkipBadOptions } from './dataset.js';
import { readDelimited, readUtf8File } from './tabular-io.js';

export interface TimeSeriesReadOptions extends SkipBadOptions {
  delimiter?: string;
  skipLines?: number;
  /** Timestamp column (default 'date' when present, else the first column). */
  timestampColumn?: string;
  /** Channel columns (default: every column but the timestamp). */
  columns?: readonly string[];
  /** Channel moved to the last position (TSLib's target, e.g. 'OT'). */
  target?: string;
  /** TSLib frequency code (default: inferred from the timestamps). */
  freq?: TimeFreq;
  /** Missing values: 'error' (default), 'ffill' (forward fill, leading gaps back-filled) or 'linear'. */
  fillMissing?: 'error' | 'ffill' | 'linear';
  /** Strings read as missing (default '', 'NA', 'N/A', 'NaN', 'nan', 'null', 'NULL', 'None', '?'). */
  missingValues?: readonly string[];
}

export interface TimeSeriesData {
  file: string;
  /** Normalised timestamps 'YYYY-MM-DD hh:mm:ss'. */
  timestamps: string[];
  /** Channel names, in value order. */
  channels: string[];
  /** Values [T, C], row-major. */
  values: Float32Array;
  length: number;
  numChannels: number;
  freq: TimeFreq;
  /** Source line of each row. */
  lines: number[];
  /** Rows skipped under skipBad, and missing cells filled. */
  skipped: number;
  filled: number;
}

const MISSING = ['', 'NA', 'N/A', 'NaN', 'nan', 'null', 'NULL', 'None', '?'];
const NUMBER_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const TS_RE = /^\s*(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?\s*$/;

const pad2 = (v: number): string => String(v).padStart(2, '0');

/** A timestamp string -> normalised 'YYYY-MM-DD hh:mm:ss' and its naive time in ms, or an error message. */
export function parseTimestamp(text: string): { text: string; ms: number } | string {
  const m = TS_RE.exec(text);
  if (!m) return `timestamp ${JSON.stringify(text)} is not 'YYYY-MM-DD[ hh:mm[:ss]]'`;
  const norm = `${m[1]}-${pad2(+m[2]!)}-${pad2(+m[3]!)} ${pad2(+(m[4] ?? 0))}:${m[5] ?? '00'}:${m[6] ?? '00'}`;
  try {
    const f = calendarFields(norm);
    return { text: norm, ms: Date.UTC(f.year, f.month - 1, f.day, f.hour, f.minute, f.second) };
  } catch {
    return `timestamp ${JSON.stringify(text)} is not a valid date/time`;
  }
}

/** TSLib frequency code from the median step between timestamps (ms). */
export function inferFreq(ms: ArrayLike<number>): TimeFreq {
  const n = Math.min(ms.length, 1001);
  if (n < 2) return 'h';
  const d: number[] = [];
  for (let i = 1; i < n; i++) d.push(ms[i]! - ms[i - 1]!);
  d.sort((a, b) => a - b);
  const step = d[Math.floor(d.length / 2)]! / 1000;
  const DAY = 86400;
  if (step < 60) return 's';
  if (step < 3600) return 't';
  if (step < DAY) return 'h';
  if (step < 7 * DAY) return 'd';
  if (step < 28 * DAY) return 'w';
  if (step < 365 * DAY) return 'm';
  return 'a';
}

/** Parse the text of a time-series CSV (see the file comment). */
export function parseTimeSeries(text: string, source: string, opts: TimeSeriesReadOptions = {}): TimeSeriesData {
  const log = new BadRecordLog(source, opts);
  let tsName = '', tsCol = -1;
  let channels: string[] = [];
  const { header, rows, lines: rowLines } = readDelimited(text, source, { delimiter: opts.delimiter, skipLines: opts.skipLines }, log, (header) => {
    tsName = opts.timestampColumn ?? (header.includes('date') ? 'date' : header[0]!);
    tsCol = header.indexOf(tsName);
    if (tsCol < 0) throw new DataFormatError(source, undefined, `timestamp column '${tsName}' is not in the file (columns: ${header.join(', ')})`);
    channels = opts.columns ? [...opts.columns] : header.filter((_, j) => j !== tsCol);
    for (const c of channels) {
      if (!header.includes(c)) throw new DataFormatError(source, undefined, `channel column '${c}' is not in the file (columns: ${header.join(', ')})`);
      if (c === tsName) throw new DataFormatError(source, undefined, `column '${c}' is the timestamp column and cannot be a channel`);
    }
    if (opts.target !== undefined) {
      if (!header.includes(opts.target)) throw new DataFormatError(source, undefined, `target column '${opts.target}' is not in the file (columns: ${header.join(', ')})`);
      channels = [...channels.filter((c) => c !== opts.target), opts.target];
    }
    if (!channels.length) throw new DataFormatError(source, undefined, `no value columns besides the timestamp column '${tsName}'`);
  });
  const chCols = channels.map((c) => header.indexOf(c));
  const missing = new Set(opts.missingValues ?? MISSING);
  const fill = opts.fillMissing ?? 'error';
  if (fill !== 'error' && fill !== 'ffill' && fill !== 'linear') throw new DataFormatError(source, undefined, `fillMissing must be 'error', 'ffill' or 'linear', got '${String(fill)}'`);
  const C = channels.length;

  const stamps: string[] = [], ms: number[] = [], lines: number[] = [], vals: number[] = [];
  rows.forEach((r, k) => {
    const line = rowLines[k]!;
    const ts = parseTimestamp(r[tsCol]!);
    if (typeof ts === 'string') { log.handle(new DataFormatError(source, line, `column '${tsName}': ${ts}`)); return; }
    if (ms.length && ts.ms <= ms[ms.length - 1]!) {
      log.handle(new DataFormatError(source, line, `timestamps must increase: ${ts.text} follows ${stamps[stamps.length - 1]} (line ${lines[lines.length - 1]})`));
      return;
    }
    const row: number[] = [];
    for (let c = 0; c < C; c++) {
      const v = r[chCols[c]!]!;
      if (missing.has(v)) {
        if (fill === 'error') { log.handle(new DataFormatError(source, line, `column '${channels[c]}' is missing (${JSON.stringify(v)}); pass fillMissing: 'ffill' or 'linear' to fill gaps`)); return; }
        row.push(NaN);
      } else if (!NUMBER_RE.test(v)) {
        log.handle(new DataFormatError(source, line, `column '${channels[c]}' has ${JSON.stringify(v)}, expected a number`));
        return;
      } else row.push(Number(v));
    }
    stamps.push(ts.text); ms.push(ts.ms); lines.push(line);
    for (const v of row) vals.push(v);
  });
  log.finish();
  const T = stamps.length;
  if (!T) throw new DataFormatError(source, undefined, log.skipped ? `no valid rows (${log.skipped} skipped; first: ${log.messages[0]})` : 'no data rows');
  const values = Float32Array.from(vals);
  let filled = 0;
  if (fill !== 'error') {
    for (let c = 0; c < C; c++) {
      const valid: number[] = [];
      for (let t = 0; t < T; t++) if (!Number.isNaN(values[t * C + c]!)) valid.push(t);
      if (!valid.length) throw new DataFormatError(source, undefined, `column '${channels[c]}' has no values to fill gaps from`);
      for (let t = 0, v = 0; t < T; t++) {
        if (!Number.isNaN(values[t * C + c]!)) continue;
        filled++;
        while (v < valid.length && valid[v]! < t) v++;
        const next = valid[v], prev = v > 0 ? valid[v - 1] : undefined;
        let x: number;
        if (prev === undefined) x = values[next! * C + c]!; // leading gap: back-fill
        else if (fill === 'ffill' || next === undefined) x = values[prev * C + c]!;
        else {
          const a = values[prev * C + c]!, b = values[next * C + c]!;
          x = a + ((b - a) * (t - prev)) / (next - prev);
        }
        values[t * C + c] = x;
      }
    }
  }
  const freq = opts.freq ?? inferFreq(ms);
  if (!(freq in TIME_FEATURE_DIMS)) throw new DataFormatError(source, undefined, `freq must be one of ${Object.keys(TIME_FEATURE_DIMS).join(', ')} (TSLib codes), got '${freq}'`);
  return { file: source, timestamps: stamps, channels, values, length: T, numChannels: C, freq, lines, skipped: log.skipped, filled };
}

/** Read a time-series CSV file (see the file comment). */
export async function readTimeSeries(path: string, opts: TimeSeriesReadOptions = {}): Promise<TimeSeriesData> {
  return parseTimeSeries(await readUtf8File(path), path, opts);
}

// ---------------------------------------------------------------------------------------------------
// Chronological split and scaling
// ---------------------------------------------------------------------------------------------------

export type ChronologicalSplit =
  | 'ett-hour'
  | 'ett-minute'
  | { months: readonly [number, number, number]; stepsPerDay: number }
  | { train: number; val: number; test: number };

/** Row ranges [start, end) of each part; val and test start `lookback` rows early (TSLib's borders). */
export interface SplitBorders { train: [number, number]; val: [number, number]; test: [number, number] }

/** TSLib's border arithmetic for a series of `length` rows (see the file comment). */
export function chronologicalBorders(length: number, lookback: number, split: ChronologicalSplit = { train: 0.7, val: 0.1, test: 0.2 }): SplitBorders {
  const op = 'chronologicalBorders';
  if (!Number.isInteger(length) || length < 1) throw new RangeError(`${op}: length must be a positive integer, got ${length}`);
  if (!Number.isInteger(lookback) || lookback < 1) throw new RangeError(`${op}: lookback must be a positive integer, got ${lookback}`);
  let trainEnd: number, valEnd: number, testEnd: number;
  if (split === 'ett-hour' || split === 'ett-minute' || 'months' in split) {
    const { months, stepsPerDay } = split === 'ett-hour' ? { months: [12, 4, 4] as const, stepsPerDay: 24 } : split === 'ett-minute' ? { months: [12, 4, 4] as const, stepsPerDay: 96 } : split;
    if (!Number.isInteger(stepsPerDay) || stepsPerDay < 1) throw new RangeError(`${op}: stepsPerDay must be a positive integer, got ${stepsPerDay}`);
    if (months.some((m) => !(m > 0))) throw new RangeError(`${op}: months must be positive, got [${months.join(', ')}]`);
    const month = 30 * stepsPerDay;
    trainEnd = Math.round(months[0] * month);
    valEnd = trainEnd + Math.round(months[1] * month);
    testEnd = valEnd + Math.round(months[2] * month);
    if (testEnd > length) throw new RangeError(`${op}: the ${months.join('/')}-month split of 30-day months at ${stepsPerDay} steps a day needs ${testEnd} rows; the series has ${length} (use fractions instead)`);
  } else {
    const { train, val, test } = split;
    for (const [k, v] of [['train', train], ['val', val], ['test', test]] as const) if (!(v >= 0 && v <= 1)) throw new RangeError(`${op}: ${k} fraction must be in [0, 1], got ${v}`);
    if (Math.abs(train + val + test - 1) > 1e-6) throw new RangeError(`${op}: fractions ${train} + ${val} + ${test} must add up to 1`);
    const nTrain = Math.floor(length * train), nTest = Math.floor(length * test);
    trainEnd = nTrain;
    valEnd = length - nTest;
    testEnd = length;
  }
  if (trainEnd - lookback < 0) throw new RangeError(`${op}: the training part (${trainEnd} rows) is shorter than the lookback (${lookback})`);
  return { train: [0, trainEnd], val: [trainEnd - lookback, valEnd], test: [valEnd - lookback, testEnd] };
}

/** Per-channel standardisation (x − mean) / std, as sklearn's StandardScaler (population std; 1 when constant). */
export class StandardScaler {
  constructor(readonly mean: Float64Array, readonly std: Float64Array) {
    if (mean.length !== std.length || !mean.length) throw new RangeError(`StandardScaler: mean and std must have the same positive length, got ${mean.length} and ${std.length}`);
  }
  get channels(): number { return this.mean.length; }

  /** Fit on rows [start, end) of row-major values [T, channels]. */
  static fit(values: ArrayLike<number>, channels: number, rows: readonly [number, number] = [0, values.length / channels]): StandardScaler {
    const [a, b] = rows;
    if (!Number.isInteger(channels) || channels < 1 || values.length % channels !== 0) throw new RangeError(`StandardScaler.fit: ${values.length} values are not rows of ${channels} channels`);
    if (!(b > a) || a < 0 || b * channels > values.length) throw new RangeError(`StandardScaler.fit: rows [${a}, ${b}) are not inside the ${values.length / channels} rows`);
    const n = b - a;
    const mean = new Float64Array(channels), m2 = new Float64Array(channels);
    for (let t = a; t < b; t++) for (let c = 0; c < channels; c++) mean[c]! += values[t * channels + c]!;
    for (let c = 0; c < channels; c++) mean[c]! /= n;
    for (let t = a; t < b; t++) for (let c = 0; c < channels; c++) { const d = values[t * channels + c]! - mean[c]!; m2[c]! += d * d; }
    const std = m2.map((s) => { const v = Math.sqrt(s / n); return v > 0 ? v : 1; });
    return new StandardScaler(mean, std);
  }

  private check(values: ArrayLike<number>, op: string): void {
    if (values.length % this.channels !== 0) throw new RangeError(`StandardScaler.${op}: ${values.length} values are not rows of ${this.channels} channels`);
  }
  /** (x − mean) / std per channel of row-major [.., C] values. */
  transform(values: ArrayLike<number>): Float32Array {
    this.check(values, 'transform');
    const C = this.channels, out = new Float32Array(values.length);
    for (let i = 0; i < values.length; i++) out[i] = (values[i]! - this.mean[i % C]!) / this.std[i % C]!;
    return out;
  }
  /** x · std + mean per channel (forecasts back to the data's units). */
  inverse(values: ArrayLike<number>): Float32Array {
    this.check(values, 'inverse');
    const C = this.channels, out = new Float32Array(values.length);
    for (let i = 0; i < values.length; i++) out[i] = values[i]! * this.std[i % C]! + this.mean[i % C]!;
    return out;
  }
  /** A scaler restricted to some channels (e.g. the target channel of an 'MS' forecast). */
  select(channels: readonly number[]): StandardScaler {
    return new StandardScaler(Float64Array.from(channels, (c) => this.mean[c]!), Float64Array.from(channels, (c) => this.std[c]!));
  }
  toJSON(): { mean: number[]; std: number[] } { return { mean: [...this.mean], std: [...this.std] }; }
  static fromJSON(j: { mean: readonly number[]; std: readonly number[] }): StandardScaler { return new StandardScaler(Float64Array.from(j.mean), Float64Array.from(j.std)); }
}

// ---------------------------------------------------------------------------------------------------
// Windows
// ---------------------------------------------------------------------------------------------------

export interface WindowOptions {
  /** Input steps L (TSLib seq_len). */
  lookback: number;
  /** Forecast steps H (TSLib pred_len). */
  horizon: number;
  /** Rows between window starts (default 1). */
  stride?: number;
  /** Known steps at the start of the target (TSLib label_len; default 0). */
  labelLen?: number;
  /** Channels predicted (names; default all). */
  targetChannels?: readonly string[];
  /** Attach TSLib time features to the inputs as `marks` (default true; not for freq 'a'). */
  timeFeatures?: boolean;
}

export interface TimeSeriesWindow {
  /** The tokenizer's raw sample: values [L, C] row-major and, with time features, marks [L][d]. */
  input: TimeSeriesSample & { values: Float32Array };
  /** Target values [labelLen + H, targetChannels] row-major. */
  target: Float32Array;
  /** Row of the first input step in the series. */
  start: number;
}

export interface WindowDataset extends Dataset<TimeSeriesWindow> {
  readonly range: readonly [number, number];
  readonly lookback: number;
  readonly horizon: number;
  readonly stride: number;
}

/** Number of windows in rows [b1, b2). */
export function countWindows(b1: number, b2: number, lookback: number, horizon: number, stride = 1): number {
  const span = b2 - b1 - lookback - horizon;
  return span < 0 ? 0 : Math.floor(span / stride) + 1;
}

interface SeriesView { values: Float32Array; numChannels: number; channels: readonly string[]; marks: Float32Array | null; markDim: number; source: string; lines?: readonly number[] }

function windowDataset(series: SeriesView, range: readonly [number, number], opts: WindowOptions): WindowDataset {
  const L = opts.lookback, H = opts.horizon, stride = opts.stride ?? 1, labelLen = opts.labelLen ?? 0;
  for (const [k, v, min] of [['lookback', L, 1], ['horizon', H, 1], ['stride', stride, 1], ['labelLen', labelLen, 0]] as const) {
    if (!Number.isInteger(v) || v < min) throw new RangeError(`timeSeriesWindows: ${k} must be an integer >= ${min}, got ${v}`);
  }
  if (labelLen > L) throw new RangeError(`timeSeriesWindows: labelLen ${labelLen} exceeds the lookback ${L}`);
  const C = series.numChannels;
  const tgt = opts.targetChannels ? opts.targetChannels.map((name) => {
    const c = series.channels.indexOf(name);
    if (c < 0) throw new RangeError(`timeSeriesWindows: target channel '${name}' is not a channel (${series.channels.join(', ')})`);
    return c;
  }) : Array.from({ length: C }, (_, c) => c);
  const [b1, b2] = range;
  const n = countWindows(b1, b2, L, H, stride);
  const Ct = tgt.length, Ty = labelLen + H, dm = series.markDim;
  return {
    range, lookback: L, horizon: H, stride,
    length: n,
    source: (i) => { const s = b1 + i * stride; return `${series.source}:${series.lines ? series.lines[s] : `row ${s}`} (window ${i})`; },
    get: (i) => {
      checkIndex('timeSeriesWindows.get', i, n);
      const s = b1 + i * stride;
      const values = series.values.slice(s * C, (s + L) * C);
      const target = new Float32Array(Ty * Ct);
      const t0 = s + L - labelLen;
      for (let t = 0; t < Ty; t++) for (let k = 0; k < Ct; k++) target[t * Ct + k] = series.values[(t0 + t) * C + tgt[k]!]!;
      const input: TimeSeriesWindow['input'] = { values };
      if (series.marks) {
        const marks: number[][] = [];
        for (let t = s; t < s + L; t++) marks.push(Array.from(series.marks.subarray(t * dm, (t + 1) * dm)));
        input.marks = marks;
      }
      return { input, target, start: s };
    },
  };
}

/** Windows over rows `range` of a series (unscaled unless you pass scaled values). */
export function timeSeriesWindows(
  data: Pick<TimeSeriesData, 'values' | 'numChannels' | 'channels' | 'timestamps' | 'freq' | 'file'> & { lines?: readonly number[] },
  range: readonly [number, number],
  opts: WindowOptions,
): WindowDataset {
  const [a, b] = range;
  if (!(Number.isInteger(a) && Number.isInteger(b) && a >= 0 && b <= data.values.length / data.numChannels && a <= b)) throw new RangeError(`timeSeriesWindows: range [${a}, ${b}) is not inside the ${data.values.length / data.numChannels} rows`);
  const tf = withMarks(data, opts);
  return windowDataset({ values: data.values, numChannels: data.numChannels, channels: data.channels, marks: tf.marks, markDim: tf.dim, source: data.file, lines: data.lines }, range, opts);
}

function withMarks(data: Pick<TimeSeriesData, 'timestamps' | 'freq'>, opts: WindowOptions): { marks: Float32Array | null; dim: number } {
  if (opts.timeFeatures === false) return { marks: null, dim: 0 };
  if (data.freq === 'a') {
    if (opts.timeFeatures === true) throw new RangeError("timeSeriesWindows: TSLib defines no time features for yearly data (freq 'a'); pass timeFeatures: false");
    return { marks: null, dim: 0 };
  }
  try {
    const f = timeFeatures(data.timestamps, data.freq);
    return { marks: f.data, dim: f.dim };
  } catch (e) {
    if (e instanceof ShapeError) throw new RangeError(`timeSeriesWindows: ${e.message}`);
    throw e;
  }
}

export interface TimeSeriesSplits {
  train: WindowDataset;
  val: WindowDataset;
  test: WindowDataset;
  borders: SplitBorders;
  /** Fitted on the training rows (null with scale: false). */
  scaler: StandardScaler | null;
  /** The scaler of the target channels, for inverse-transforming forecasts (null with scale: false). */
  targetScaler: StandardScaler | null;
  /** Width of the time features (0 without). */
  markDim: number;
}

/** Chronological train/val/test windows of a series, scaled with train-only statistics (see the file comment). */
export function timeSeriesSplits(data: TimeSeriesData, opts: WindowOptions & { split?: ChronologicalSplit; scale?: boolean }): TimeSeriesSplits {
  const borders = chronologicalBorders(data.length, opts.lookback, opts.split);
  const scale = opts.scale ?? true;
  const C = data.numChannels;
  const scaler = scale ? StandardScaler.fit(data.values, C, borders.train) : null;
  const values = scaler ? scaler.transform(data.values) : data.values;
  const tf = withMarks(data, opts);
  const view: SeriesView = { values, numChannels: C, channels: data.channels, marks: tf.marks, markDim: tf.dim, source: data.file, lines: data.lines };
  const parts = (['train', 'val', 'test'] as const).map((k) => {
    const ds = windowDataset(view, borders[k], opts);
    if (ds.length === 0) throw new RangeError(`timeSeriesSplits: the ${k} part (rows ${borders[k][0]}..${borders[k][1]}) is too short for one window of lookback ${opts.lookback} + horizon ${opts.horizon}`);
    return ds;
  });
  const tgt = opts.targetChannels ? opts.targetChannels.map((n) => data.channels.indexOf(n)) : null;
  return {
    train: parts[0]!, val: parts[1]!, test: parts[2]!,
    borders,
    scaler,
    targetScaler: scaler ? (tgt ? scaler.select(tgt) : scaler) : null,
    markDim: tf.dim,
  };
}
