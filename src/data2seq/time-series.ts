// Time-series and IMU tokenizers (Meta-Transformer §2.7), after TSLib's `layers/Embed.py`.
//
// Step mode (default; TSLib `DataEmbedding`, what the released forecasting models use): one token per time
// step, tokens = Dropout(value + position + temporal) with
//   - value     TokenEmbedding: Conv1d(C -> D, kernel 3, circular padding 1, no bias) over the time axis of
//               x [B, L, C]; the conv mixes the channels. Kaiming-normal init (fan_in, leaky_relu gain √2).
//   - position  the fixed sinusoid table of "Attention Is All You Need" (TSLib PositionalEmbedding, max_len
//               5000); a baked constant here, not the 5000-row `pe` buffer TSLib stores in its state dict.
//   - temporal  `timeF`: Linear(d_inp -> D, no bias) of the TSLib time features (`timeFeatures` below), added
//               only when marks are given (as TSLib). d_inp by freq: h 4, t 5, s 6, m 1, a 1, w 2, d 3, b 3.
// Parameters: C·D·3 + d_inp·D; ETTh1 (C 7, D 768, freq h) = 16,128 + 3,072 = 19,200 (spec §4).
//
// Patch mode (TSLib `PatchEmbedding`, PatchTST; unused by the released models, useful for long series):
// ReplicationPad1d((0, stride)) at the end of the time axis, unfold windows of `patchLen` every `stride`,
// Linear(patchLen -> D, no bias) + sinusoid positions + dropout. N = floor((L + stride - patchLen) / stride) + 1
// patches. `channelMode`:
//   - 'independent' (PatchTST): every channel is its own sequence, tokens [B·C, N, D] ordered (b, c) with b
//     outer (as TSLib's reshape); a head un-flattens them with `numVars`.
//   - 'mixed': the C channels of a patch are flattened (time-major within the patch, [t0c0, t0c1, ...]) and
//     projected together by Linear(patchLen·C -> D): tokens [B, N, D].
//
// IMU (`imuTokenizer`) uses the same module with modality 'imu' (default 6 channels: 3-axis accelerometer +
// gyroscope) and no temporal embedding unless asked for.
import { ShapeError, fmtShape } from '../engine/errors.js';
import { indexSelect, pad } from '../engine/functional/indexing.js';
import { defaultGenerator, type Generator } from '../engine/functional/random.js';
import { Tensor, constant } from '../engine/tensor.js';
import { Conv1d } from '../nn/conv.js';
import { Dropout } from '../nn/dropout.js';
import { kaimingNormal_ } from '../nn/init.js';
import { Linear } from '../nn/linear.js';
import { Module } from '../nn/module.js';
import { sinusoidTable } from './sinusoid.js';
import { Data2Seq, type TokenSequence } from './types.js';

// ---------------------------------------------------------------------------------------------------
// Time features (TSLib utils/timefeatures.py, `timeenc = 1`)
// ---------------------------------------------------------------------------------------------------

/** TSLib frequency codes: hourly, minutely, secondly, monthly, yearly (annual), weekly, daily, business-daily. */
export type TimeFreq = 'h' | 't' | 's' | 'm' | 'a' | 'w' | 'd' | 'b';

/** Input width of the timeF embedding per frequency (TSLib `freq_map`). */
export const TIME_FEATURE_DIMS: Readonly<Record<TimeFreq, number>> = { h: 4, t: 5, s: 6, m: 1, a: 1, w: 2, d: 3, b: 3 };

/** Feature names per frequency, in TSLib's column order. */
export const TIME_FEATURE_NAMES: Readonly<Record<TimeFreq, readonly string[]>> = {
  s: ['secondOfMinute', 'minuteOfHour', 'hourOfDay', 'dayOfWeek', 'dayOfMonth', 'dayOfYear'],
  t: ['minuteOfHour', 'hourOfDay', 'dayOfWeek', 'dayOfMonth', 'dayOfYear'],
  h: ['hourOfDay', 'dayOfWeek', 'dayOfMonth', 'dayOfYear'],
  d: ['dayOfWeek', 'dayOfMonth', 'dayOfYear'],
  b: ['dayOfWeek', 'dayOfMonth', 'dayOfYear'],
  w: ['dayOfMonth', 'weekOfYear'],
  m: ['monthOfYear'],
  a: [],
};

function checkFreq(op: string, freq: string): asserts freq is TimeFreq {
  if (!(freq in TIME_FEATURE_DIMS)) throw new ShapeError(op, `freq must be one of ${Object.keys(TIME_FEATURE_DIMS).join(', ')} (TSLib codes), got '${freq}'`);
}

/** Calendar fields of a timestamp (naive wall-clock time). */
export interface CalendarFields { year: number; month: number; day: number; hour: number; minute: number; second: number }

/**
 * Calendar fields of a timestamp. Strings 'YYYY-MM-DD[ T]hh:mm[:ss[.fff]]' (an optional trailing 'Z' or offset
 * is ignored) are read as naive wall-clock time, as pandas does for the TSLib CSVs; Date objects and numbers
 * (ms since the epoch) are read in UTC.
 */
export function calendarFields(ts: Date | string | number, index = 0): CalendarFields {
  if (typeof ts === 'string') {
    const m = /^\s*(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?\s*(?:Z|[+-]\d{2}:?\d{2})?\s*$/.exec(ts);
    if (!m) throw new ShapeError('timeFeatures', `timestamp ${index} '${ts}' is not 'YYYY-MM-DD[ hh:mm[:ss]]'`);
    const f = { year: +m[1]!, month: +m[2]!, day: +m[3]!, hour: +(m[4] ?? 0), minute: +(m[5] ?? 0), second: +(m[6] ?? 0) };
    const check = new Date(Date.UTC(f.year, f.month - 1, f.day));
    if (f.month < 1 || f.month > 12 || check.getUTCDate() !== f.day || f.hour > 23 || f.minute > 59 || f.second > 59) {
      throw new ShapeError('timeFeatures', `timestamp ${index} '${ts}' is not a valid date/time`);
    }
    return f;
  }
  const d = ts instanceof Date ? ts : new Date(ts);
  if (Number.isNaN(d.getTime())) throw new ShapeError('timeFeatures', `timestamp ${index} (${String(ts)}) is not a valid date`);
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour: d.getUTCHours(), minute: d.getUTCMinutes(), second: d.getUTCSeconds() };
}

/** Monday = 0 ... Sunday = 6 (pandas dayofweek). */
function dayOfWeek(f: CalendarFields): number { return (new Date(Date.UTC(f.year, f.month - 1, f.day)).getUTCDay() + 6) % 7; }
function dayOfYear(f: CalendarFields): number { return (Date.UTC(f.year, f.month - 1, f.day) - Date.UTC(f.year, 0, 1)) / 86400000 + 1; }
/** ISO-8601 week number (pandas isocalendar().week). */
function isoWeek(f: CalendarFields): number {
  const d = new Date(Date.UTC(f.year, f.month - 1, f.day));
  const isoDay = d.getUTCDay() || 7; // Monday 1 ... Sunday 7
  d.setUTCDate(d.getUTCDate() + 4 - isoDay); // the Thursday of this week decides the year
  const yearStart = Date.UTC(d.getUTCFullYear(), 0, 1);
  return Math.ceil(((d.getTime() - yearStart) / 86400000 + 1) / 7);
}

const FEATURE_FNS: Record<string, (f: CalendarFields) => number> = {
  secondOfMinute: (f) => f.second / 59 - 0.5,
  minuteOfHour: (f) => f.minute / 59 - 0.5,
  hourOfDay: (f) => f.hour / 23 - 0.5,
  dayOfWeek: (f) => dayOfWeek(f) / 6 - 0.5,
  dayOfMonth: (f) => (f.day - 1) / 30 - 0.5,
  dayOfYear: (f) => (dayOfYear(f) - 1) / 365 - 0.5,
  monthOfYear: (f) => (f.month - 1) / 11 - 0.5,
  weekOfYear: (f) => (isoWeek(f) - 1) / 52 - 0.5,
};

/**
 * TSLib time features (`time_features(dates, freq)` transposed): [L, d] row-major, values in [-0.5, 0.5].
 * freq 'a' is rejected: TSLib lists no yearly features (its `freq_map` says 1, but the feature list for
 * YearEnd is empty, so TSLib itself cannot run timeF on yearly data).
 */
export function timeFeatures(dates: readonly (Date | string | number)[], freq: TimeFreq = 'h'): { data: Float32Array; length: number; dim: number } {
  checkFreq('timeFeatures', freq);
  if (freq === 'a') throw new ShapeError('timeFeatures', "TSLib defines no time features for yearly data (freq 'a'); use freq 'm' or pass no timestamps");
  const names = TIME_FEATURE_NAMES[freq];
  const out = new Float32Array(dates.length * names.length);
  dates.forEach((ts, i) => {
    const f = calendarFields(ts, i);
    names.forEach((n, j) => { out[i * names.length + j] = FEATURE_FNS[n]!(f); });
  });
  return { data: out, length: dates.length, dim: names.length };
}

// ---------------------------------------------------------------------------------------------------
// Modules
// ---------------------------------------------------------------------------------------------------

/** TSLib TokenEmbedding: circular Conv1d(C -> D, k 3, no bias) over time; [B, L, C] -> [B, L, D]. */
export class TokenEmbedding extends Module {
  tokenConv: Conv1d;
  constructor(cIn: number, dim: number, generator: Generator = defaultGenerator) {
    super();
    this.tokenConv = new Conv1d(cIn, dim, 3, { padding: 0, bias: false, generator });
    kaimingNormal_(this.tokenConv.weight, { mode: 'fan_in', nonlinearity: 'leaky_relu', generator });
  }
  forward(x: Tensor): Tensor {
    const y = pad(x.transpose(1, 2), [1, 1], 'circular'); // [B, C, L + 2], wrapped around
    return this.tokenConv.forward(y).transpose(1, 2);
  }
}

/** TSLib TimeFeatureEmbedding: Linear(d_inp -> D, no bias). */
export class TimeFeatureEmbedding extends Module {
  embed: Linear;
  constructor(dInp: number, dim: number, generator: Generator = defaultGenerator) {
    super();
    this.embed = new Linear(dInp, dim, { bias: false, generator });
  }
  forward(marks: Tensor): Tensor { return this.embed.forward(marks); }
}

/** A time-series batch: values [B, L, C] and optional time features [B, L, d_inp]. */
export interface TimeSeriesBatch {
  x: Tensor;
  marks?: Tensor | null;
}

/** One raw series: [L][C] values (or row-major L·C) and optional timestamps or precomputed marks. */
export interface TimeSeriesSample {
  values: readonly (readonly number[])[] | Float32Array;
  timestamps?: readonly (Date | string | number)[];
  /** Precomputed time features [L][d_inp] (instead of timestamps). */
  marks?: readonly (readonly number[])[];
}

export interface TimeSeriesTokenizerOptions {
  /** Token width D. */
  dim: number;
  /** Channels C (c_in). */
  channels: number;
  modality?: 'time-series' | 'imu';
  /** 'step' (DataEmbedding, default) or 'patch' (PatchTST). */
  mode?: 'step' | 'patch';
  /** Time-feature embedding: 'timeF' (default for time series) or 'none' (default for IMU). Step mode only. */
  embed?: 'timeF' | 'none';
  /** TSLib frequency code for timeF (default 'h'). */
  freq?: TimeFreq;
  /** Dropout on the tokens (default 0.1, TSLib). */
  dropout?: number;
  /** Longest sequence (steps or patches) accepted, as TSLib's position table (default 5000). */
  maxLen?: number;
  /** Patch mode: window length (default 16) and stride (default 8), as PatchTST. */
  patchLen?: number;
  patchStride?: number;
  /** Patch mode: 'independent' (default, tokens [B·C, N, D]) or 'mixed' (tokens [B, N, D]). */
  channelMode?: 'independent' | 'mixed';
  generator?: Generator;
}

export class TimeSeriesTokenizer extends Data2Seq<TimeSeriesBatch, TimeSeriesSample | readonly (readonly number[])[]> {
  readonly modality: 'time-series' | 'imu';
  readonly dim: number;
  readonly channels: number;
  readonly mode: 'step' | 'patch';
  readonly embed: 'timeF' | 'none';
  readonly freq: TimeFreq;
  readonly maxLen: number;
  readonly patchLen: number;
  readonly patchStride: number;
  readonly channelMode: 'independent' | 'mixed';
  value_embedding: TokenEmbedding | Linear;
  temporal_embedding: TimeFeatureEmbedding | null;
  dropout: Dropout;

  constructor(opts: TimeSeriesTokenizerOptions) {
    super();
    const op = 'TimeSeriesTokenizer';
    for (const k of ['dim', 'channels'] as const) {
      if (!Number.isInteger(opts[k]) || opts[k] < 1) throw new ShapeError(op, `${k} must be a positive integer, got ${opts[k]}`);
    }
    this.modality = opts.modality ?? 'time-series';
    this.dim = opts.dim;
    this.channels = opts.channels;
    this.mode = opts.mode ?? 'step';
    if (this.mode !== 'step' && this.mode !== 'patch') throw new ShapeError(op, `mode must be 'step' or 'patch', got '${String(this.mode)}'`);
    this.embed = opts.embed ?? (this.modality === 'imu' || this.mode === 'patch' ? 'none' : 'timeF');
    if (this.embed !== 'timeF' && this.embed !== 'none') throw new ShapeError(op, `embed must be 'timeF' or 'none', got '${String(this.embed)}'`);
    if (this.mode === 'patch' && this.embed === 'timeF') throw new ShapeError(op, "patch mode has no time-feature embedding (PatchTST); use embed: 'none'");
    this.freq = opts.freq ?? 'h';
    checkFreq(op, this.freq);
    this.maxLen = opts.maxLen ?? 5000;
    this.patchLen = opts.patchLen ?? 16;
    this.patchStride = opts.patchStride ?? 8;
    for (const [k, v] of [['maxLen', this.maxLen], ['patchLen', this.patchLen], ['patchStride', this.patchStride]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new ShapeError(op, `${k} must be a positive integer, got ${v}`);
    }
    this.channelMode = opts.channelMode ?? 'independent';
    if (this.channelMode !== 'independent' && this.channelMode !== 'mixed') throw new ShapeError(op, `channelMode must be 'independent' or 'mixed', got '${String(this.channelMode)}'`);
    const g = opts.generator ?? defaultGenerator;
    if (this.mode === 'step') this.value_embedding = new TokenEmbedding(this.channels, this.dim, g);
    else this.value_embedding = new Linear(this.channelMode === 'mixed' ? this.patchLen * this.channels : this.patchLen, this.dim, { bias: false, generator: g });
    this.temporal_embedding = this.embed === 'timeF' ? new TimeFeatureEmbedding(TIME_FEATURE_DIMS[this.freq], this.dim, g) : null;
    this.dropout = new Dropout(opts.dropout ?? 0.1, { generator: g });
  }

  /** Width of the time features (0 without a temporal embedding). */
  get markDim(): number { return this.temporal_embedding ? TIME_FEATURE_DIMS[this.freq] : 0; }

  /** Patch mode: patches for a series of length L. */
  numPatches(length: number): number {
    if (length + this.patchStride < this.patchLen) {
      throw new ShapeError('TimeSeriesTokenizer', `series of length ${length} is shorter than one patch (patchLen ${this.patchLen}, end padding ${this.patchStride})`);
    }
    return Math.floor((length + this.patchStride - this.patchLen) / this.patchStride) + 1;
  }

  /** Tokens per sequence for a series of length L. */
  numTokens(length: number): number { return this.mode === 'step' ? length : this.numPatches(length); }

  /** Sequences per sample: C in channel-independent patch mode, else 1. */
  get numVars(): number { return this.mode === 'patch' && this.channelMode === 'independent' ? this.channels : 1; }

  /** Raw series -> { x [B, L, C], marks? [B, L, d_inp] }. All series must have the same length. */
  prepare(raw: (TimeSeriesSample | readonly (readonly number[])[])[]): TimeSeriesBatch {
    const op = `${this.constructor.name}.prepare`;
    if (!Array.isArray(raw) || raw.length === 0) throw new ShapeError(op, 'expected a non-empty array of series');
    const C = this.channels;
    const samples = raw.map((r) => (Array.isArray(r) ? { values: r as readonly (readonly number[])[] } : (r as TimeSeriesSample)));
    const lengthOf = (s: TimeSeriesSample, i: number): number => {
      if (s.values instanceof Float32Array) {
        if (s.values.length % C !== 0) throw new ShapeError(op, `series ${i} has ${s.values.length} values, not a multiple of ${C} channels (row-major [L, C] expected)`);
        return s.values.length / C;
      }
      if (!Array.isArray(s.values)) throw new ShapeError(op, `series ${i} must be [L][C] numbers, a row-major Float32Array, or { values, timestamps? }`);
      return s.values.length;
    };
    const L = lengthOf(samples[0]!, 0);
    if (L === 0) throw new ShapeError(op, 'series 0 is empty');
    const x = new Float32Array(samples.length * L * C);
    const withMarks = samples.map((s) => s.timestamps !== undefined || s.marks !== undefined);
    if (withMarks.some((w) => w !== withMarks[0])) throw new ShapeError(op, 'either every series or none must have timestamps/marks');
    const useMarks = withMarks[0]!;
    if (useMarks && !this.temporal_embedding) throw new ShapeError(op, `series have timestamps/marks but this tokenizer has no time-feature embedding (embed: 'none')`);
    const dm = this.markDim;
    const marks = useMarks ? new Float32Array(samples.length * L * dm) : null;
    samples.forEach((s, i) => {
      const len = lengthOf(s, i);
      if (len !== L) throw new ShapeError(op, `series ${i} has length ${len} but series 0 has ${L}; a batch must have one length (crop or pad first)`);
      for (let t = 0; t < L; t++) {
        for (let c = 0; c < C; c++) {
          let v: number;
          if (s.values instanceof Float32Array) v = s.values[t * C + c]!;
          else {
            const row = s.values[t]!;
            if (!row || row.length !== C) throw new ShapeError(op, `series ${i}, step ${t} has ${row?.length ?? 0} values; expected ${C} channels`);
            v = row[c]!;
          }
          if (!Number.isFinite(v)) throw new ShapeError(op, `series ${i} has a non-finite value (${v}) at step ${t}, channel ${c}; impute missing values first`);
          x[(i * L + t) * C + c] = v;
        }
      }
      if (marks) {
        let m: ArrayLike<number>;
        if (s.marks) {
          if (s.marks.length !== L || s.marks.some((r) => r.length !== dm)) throw new ShapeError(op, `series ${i} marks must be [${L}][${dm}] (freq '${this.freq}')`);
          m = s.marks.flat();
        } else {
          if (s.timestamps!.length !== L) throw new ShapeError(op, `series ${i} has ${s.timestamps!.length} timestamps for ${L} steps`);
          m = timeFeatures(s.timestamps!, this.freq).data;
        }
        for (let k = 0; k < L * dm; k++) {
          if (!Number.isFinite(m[k]!)) throw new ShapeError(op, `series ${i} has a non-finite time feature at step ${Math.floor(k / dm)}`);
          marks[i * L * dm + k] = m[k]!;
        }
      }
    });
    return { x: new Tensor([samples.length, L, C], 'float32', x), marks: marks ? new Tensor([samples.length, L, dm], 'float32', marks) : null };
  }

  forward(input: TimeSeriesBatch | Tensor): TokenSequence {
    const op = this.constructor.name;
    const batch: TimeSeriesBatch = input instanceof Tensor ? { x: input } : input;
    const x = batch.x;
    if (!(x instanceof Tensor) || x.rank !== 3 || x.dtype !== 'float32' || x.shape[2] !== this.channels) {
      throw new ShapeError(op, `x must be float32 [B, L, ${this.channels}] (batch, time, channels), got ${x instanceof Tensor ? `${x.dtype} ${fmtShape(x.shape)}` : String(x)}`);
    }
    const [B, L] = x.shape as [number, number, number];
    if (this.mode === 'patch') return { tokens: this.dropout.forward(this.patchTokens(x)), paddingMask: null };
    if (L > this.maxLen) throw new ShapeError(op, `sequence length ${L} exceeds maxLen ${this.maxLen} (the position table)`);
    let tokens = (this.value_embedding as TokenEmbedding).forward(x).add(sinusoidTable(L, this.dim));
    const marks = batch.marks;
    if (marks) {
      if (!this.temporal_embedding) throw new ShapeError(op, "marks were given but this tokenizer has no time-feature embedding (embed: 'none')");
      if (marks.rank !== 3 || marks.dtype !== 'float32' || marks.shape[0] !== B || marks.shape[1] !== L || marks.shape[2] !== this.markDim) {
        throw new ShapeError(op, `marks must be float32 [${B}, ${L}, ${this.markDim}] (time features for freq '${this.freq}'), got ${marks.dtype} ${fmtShape(marks.shape)}`);
      }
      tokens = tokens.add(this.temporal_embedding.forward(marks));
    }
    return { tokens: this.dropout.forward(tokens), paddingMask: null };
  }

  /** PatchTST patches: [B, L, C] -> [B·C, N, D] (independent) or [B, N, D] (mixed), positions added. */
  private patchTokens(x: Tensor): Tensor {
    const [B, L, C] = x.shape as [number, number, number];
    const N = this.numPatches(L);
    if (N > this.maxLen) throw new ShapeError(this.constructor.name, `${N} patches exceed maxLen ${this.maxLen}`);
    const P = this.patchLen, S = this.patchStride;
    const xt = pad(x.transpose(1, 2), [0, S], 'replicate'); // [B, C, L + S], last value repeated
    // unfold as one gather along time: index [N·P] = n·S + p
    const idx = new BigInt64Array(N * P);
    for (let n = 0; n < N; n++) for (let p = 0; p < P; p++) idx[n * P + p] = BigInt(n * S + p);
    const windows = indexSelect(xt, 2, constant(idx, [N * P], 'int64')).reshape([B, C, N, P]);
    const lin = this.value_embedding as Linear;
    const pos = sinusoidTable(N, this.dim);
    if (this.channelMode === 'independent') return lin.forward(windows.reshape([B * C, N, P])).add(pos);
    const mixed = windows.permute(0, 2, 3, 1).reshape([B, N, P * C]); // time-major within a patch
    return lin.forward(mixed).add(pos);
  }
}

/** IMU tokenizer: the time-series tokenizer with modality 'imu', 6 channels and no time features by default. */
export function imuTokenizer(opts: Omit<TimeSeriesTokenizerOptions, 'modality' | 'channels'> & { channels?: number }): TimeSeriesTokenizer {
  return new TimeSeriesTokenizer({ channels: 6, embed: 'none', ...opts, modality: 'imu' });
}
