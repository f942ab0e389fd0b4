// Tabular files: CSV/TSV with a header row (or column names given), one sample per row.
//
// Column types are inferred from the non-missing values (overridable with `types`):
//   numeric      every value parses as a number;
//   boolean      every value is true/false or yes/no (any case);
//   categorical  anything else (strings kept as they are, trimmed).
// Missing values ('', 'NA', 'N/A', 'NaN', 'nan', 'null', 'NULL', 'None', '?' by default) become null;
// a column with no value at all is dropped (with a warning). `target` picks the label column:
// classification (non-numeric, boolean, or at most 20 distinct integers; overridable with `task`) gives class
// indices into the sorted class names, regression gives float values.
//
// `rows` are objects keyed by feature column, the format `TabularTokenizer` takes: numbers for numeric
// columns, 'true'/'false' for booleans, strings for categories, null where missing. Pass `fitOptions` to
// `TabularTokenizer.fit(rows, { dim, ...fitOptions })` so the tokenizer uses these types.
//
// Malformed rows (wrong field count, a non-number in a column forced numeric, a missing target) raise a
// DataFormatError naming the file, the line and the column, or are skipped under `skipBad`.
import { readFile } from 'node:fs/promises';
import { parseCsv, CsvError } from './csv.js';
import { BadRecordLog, DataFormatError, checkIndex, type Dataset, type SkipBadOptions } from './dataset.js';

/** A parsed cell: a number (numeric columns), a string (categories, 'true'/'false'), or null (missing). */
export type TabularValue = string | number | null;
export type ColumnType = 'numeric' | 'categorical' | 'boolean';

export const TABULAR_MISSING_VALUES = ['', 'NA', 'N/A', 'NaN', 'nan', 'null', 'NULL', 'None', '?'] as const;

export interface TabularReadOptions extends SkipBadOptions {
  /** Field separator (default: tab for .tsv/.tab files, else sniffed from the header among , ; tab |). */
  delimiter?: string;
  /** true (default): the first row names the columns; or the column names of a file without a header. */
  header?: boolean | readonly string[];
  /** Lines to skip at the top before the header/data (default 0). */
  skipLines?: number;
  /** Label column. */
  target?: string;
  /** Target kind (default inferred: see the file comment). */
  task?: 'classification' | 'regression';
  /** Column types that override inference; 'ignore' drops the column. */
  types?: Readonly<Record<string, ColumnType | 'ignore'>>;
  /** Columns to drop. */
  drop?: readonly string[];
  /** Strings read as missing (default TABULAR_MISSING_VALUES). */
  missingValues?: readonly string[];
}

export interface TabularColumn {
  name: string;
  type: ColumnType;
  /** Missing values among the kept rows. */
  missing: number;
  /** Sorted distinct values (categorical and boolean columns). */
  categories?: string[];
  /** Range of a numeric column. */
  min?: number;
  max?: number;
}

export type TabularTarget =
  | { name: string; kind: 'classification'; classes: string[]; labels: Int32Array }
  | { name: string; kind: 'regression'; values: Float32Array };

export interface TabularItem {
  row: Record<string, TabularValue>;
  /** Class index (classification) or value (regression), when there is a target. */
  label?: number;
}

export interface TabularData {
  file: string;
  /** Feature columns (target and dropped columns excluded), in file order. */
  columns: TabularColumn[];
  rows: Record<string, TabularValue>[];
  /** Source line of each row. */
  lines: number[];
  target?: TabularTarget;
  /** Classification: class index per row and the class names. */
  labels?: Int32Array;
  classes?: string[];
  /** Regression: target value per row. */
  targets?: Float32Array;
  /** Rows skipped under skipBad. */
  skipped: number;
  /** Column-type lists and missing values for `TabularTokenizer.fit(rows, { dim, ...fitOptions })`. */
  fitOptions: { categorical: string[]; numeric: string[]; missingValues: string[] };
  /** The rows as a dataset of { row, label }. */
  dataset(): Dataset<TabularItem>;
}

const NUMBER_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const TRUE = new Set(['true', 'yes']);
const FALSE = new Set(['false', 'no']);

function toNumber(s: string): number { return Number(s); }

/** Sort category keys: numbers numerically first, then strings by code point. */
export function compareCategories(a: string, b: string): number {
  const na = NUMBER_RE.test(a) ? Number(a) : NaN, nb = NUMBER_RE.test(b) ? Number(b) : NaN;
  if (!Number.isNaN(na) && !Number.isNaN(nb)) return na - nb || (a < b ? -1 : a > b ? 1 : 0);
  if (!Number.isNaN(na)) return -1;
  if (!Number.isNaN(nb)) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The delimiter of a delimited text file: tab for .tsv/.tab, else the most frequent of , ; tab | in the header line. */
export function sniffDelimiter(text: string, source = ''): string {
  if (/\.(tsv|tab)$/i.test(source)) return '\t';
  const first = text.slice(0, text.search(/\r?\n|$/));
  let best = ',', bestCount = 0;
  for (const d of [',', '\t', ';', '|']) {
    let count = 0, quoted = false;
    for (const ch of first) { if (ch === '"') quoted = !quoted; else if (ch === d && !quoted) count++; }
    if (count > bestCount) { best = d; bestCount = count; }
  }
  return best;
}

/** Parse delimited text into header + rows, checking the field count of every row (skipBad drops bad ones). */
export function readDelimited(
  text: string,
  source: string,
  opts: { delimiter?: string; header?: boolean | readonly string[]; skipLines?: number },
  log: BadRecordLog,
  checkHeader?: (header: string[]) => void,
): { header: string[]; rows: string[][]; lines: number[] } {
  const skip = opts.skipLines ?? 0;
  let body = text;
  let lineOffset = 0;
  if (skip > 0) {
    let p = 0;
    for (let k = 0; k < skip; k++) {
      const nl = body.indexOf('\n', p);
      if (nl < 0) throw new DataFormatError(source, undefined, `skipLines ${skip}: the file has only ${k} lines`);
      p = nl + 1;
    }
    body = body.slice(p);
    lineOffset = skip;
  }
  if (!body.trim()) throw new DataFormatError(source, undefined, skip ? `no rows after the first ${skip} lines` : 'empty file');
  const delimiter = opts.delimiter ?? sniffDelimiter(body, source);
  const names = Array.isArray(opts.header) ? [...(opts.header as readonly string[])] : null;
  let table;
  try {
    table = parseCsv(body, { delimiter, header: names ? false : (opts.header as boolean | undefined) ?? true, source, trim: true, ragged: true });
  } catch (e) {
    if (e instanceof CsvError) throw new DataFormatError(source, e.line > 0 ? e.line + lineOffset : undefined, e.message.slice(e.message.indexOf(': ') + 2));
    throw e;
  }
  const header = names ?? table.header;
  if (names) {
    const seen = new Set<string>();
    for (const h of names) { if (seen.has(h)) throw new DataFormatError(source, undefined, `duplicate column name '${h}' in the header option`); seen.add(h); }
  }
  checkHeader?.(header);
  const rows: string[][] = [], lines: number[] = [];
  table.rows.forEach((r, k) => {
    const line = table.lines[k]! + lineOffset;
    if (r.length !== header.length) {
      log.handle(new DataFormatError(source, line, `row has ${r.length} field${r.length === 1 ? '' : 's'}, expected ${header.length} (${names ? 'the column names given' : 'as the header'}; delimiter ${JSON.stringify(delimiter)})`));
      return;
    }
    rows.push(r);
    lines.push(line);
  });
  return { header, rows, lines };
}

async function readText(path: string): Promise<string> {
  let bytes: Buffer;
  try { bytes = await readFile(path); } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DataFormatError(path, undefined, code === 'ENOENT' ? 'file does not exist' : code === 'EISDIR' ? 'is a folder, expected a file' : `cannot read: ${(e as Error).message}`);
  }
  try { return new TextDecoder('utf-8', { fatal: true }).decode(bytes); } catch {
    throw new DataFormatError(path, undefined, 'is not UTF-8 text (binary file?)');
  }
}

/** Parse a tabular file's text (see the file comment). `source` names it in messages. */
export function parseTabular(text: string, source: string, opts: TabularReadOptions = {}): TabularData {
  const log = new BadRecordLog(source, opts);
  const missing = new Set(opts.missingValues ?? TABULAR_MISSING_VALUES);
  const types = opts.types ?? {};
  const { header, rows: raw, lines: rawLines } = readDelimited(text, source, opts, log, (header) => {
    const known = new Set(header);
    for (const c of Object.keys(types)) if (!known.has(c)) throw new DataFormatError(source, undefined, `types: column '${c}' is not in the file (columns: ${header.join(', ')})`);
    for (const c of opts.drop ?? []) if (!known.has(c)) throw new DataFormatError(source, undefined, `drop: column '${c}' is not in the file (columns: ${header.join(', ')})`);
    if (opts.target !== undefined && !known.has(opts.target)) throw new DataFormatError(source, undefined, `target column '${opts.target}' is not in the file (columns: ${header.join(', ')})`);
  });
  const targetCol = opts.target === undefined ? -1 : header.indexOf(opts.target);
  const dropped = new Set(opts.drop ?? []);
  for (const [c, t] of Object.entries(types)) if (t === 'ignore') dropped.add(c);
  if (opts.target !== undefined && dropped.has(opts.target)) throw new DataFormatError(source, undefined, `target column '${opts.target}' is also dropped`);

  // Rows whose target is missing are bad records.
  const keep: number[] = [];
  raw.forEach((r, k) => {
    if (targetCol >= 0 && missing.has(r[targetCol]!)) {
      log.handle(new DataFormatError(source, rawLines[k], `target '${opts.target}' is missing (${JSON.stringify(r[targetCol])})`));
      return;
    }
    keep.push(k);
  });

  if (!keep.length) {
    log.finish();
    throw new DataFormatError(source, undefined, log.skipped ? `no valid rows (${log.skipped} skipped; first: ${log.messages[0]})` : 'no data rows after the header');
  }

  // Column types from the kept rows, then conversion; values that break a forced type are bad rows.
  const featureCols = header.map((h, j) => ({ h, j })).filter(({ h, j }) => j !== targetCol && !dropped.has(h));
  const inferred = new Map<string, ColumnType | 'empty'>();
  for (const { h, j } of featureCols) {
    const forced = types[h];
    if (forced && forced !== 'ignore') { inferred.set(h, forced); continue; }
    let any = false, allNum = true, allBool = true;
    for (const k of keep) {
      const v = raw[k]![j]!;
      if (missing.has(v)) continue;
      any = true;
      if (allNum && !NUMBER_RE.test(v)) allNum = false;
      if (allBool && !TRUE.has(v.toLowerCase()) && !FALSE.has(v.toLowerCase())) allBool = false;
      if (!allNum && !allBool) break;
    }
    inferred.set(h, !any ? 'empty' : allNum ? 'numeric' : allBool ? 'boolean' : 'categorical');
  }
  const emptyCols = featureCols.filter(({ h }) => inferred.get(h) === 'empty').map(({ h }) => h);
  if (emptyCols.length) opts.onWarning?.(`${source}: column${emptyCols.length > 1 ? 's' : ''} ${emptyCols.map((c) => `'${c}'`).join(', ')} ha${emptyCols.length > 1 ? 've' : 's'} no values and ${emptyCols.length > 1 ? 'are' : 'is'} dropped`);
  const cols = featureCols.filter(({ h }) => inferred.get(h) !== 'empty');
  if (!cols.length) throw new DataFormatError(source, undefined, `no feature columns left (columns: ${header.join(', ')}; target ${opts.target ?? 'none'})`);

  const rows: Record<string, TabularValue>[] = [];
  const lines: number[] = [];
  const targetRaw: string[] = [];
  for (const k of keep) {
    const r = raw[k]!;
    const row: Record<string, TabularValue> = {};
    let bad: DataFormatError | null = null;
    for (const { h, j } of cols) {
      const v = r[j]!;
      if (missing.has(v)) { row[h] = null; continue; }
      const t = inferred.get(h)!;
      if (t === 'numeric') {
        if (!NUMBER_RE.test(v)) { bad = new DataFormatError(source, rawLines[k], `column '${h}' is numeric but has ${JSON.stringify(v)}`); break; }
        row[h] = toNumber(v);
      } else if (t === 'boolean') {
        const l = v.toLowerCase();
        if (!TRUE.has(l) && !FALSE.has(l)) { bad = new DataFormatError(source, rawLines[k], `column '${h}' is boolean but has ${JSON.stringify(v)} (expected true/false or yes/no)`); break; }
        row[h] = TRUE.has(l) ? 'true' : 'false';
      } else row[h] = v;
    }
    if (bad) { log.handle(bad); continue; }
    rows.push(row);
    lines.push(rawLines[k]!);
    if (targetCol >= 0) targetRaw.push(r[targetCol]!);
  }
  log.finish();
  if (!rows.length) throw new DataFormatError(source, undefined, log.skipped ? `no valid rows (${log.skipped} skipped; first: ${log.messages[0]})` : 'no data rows after the header');

  const columns: TabularColumn[] = cols.map(({ h }) => {
    const type = inferred.get(h) as ColumnType;
    let miss = 0;
    const distinct = new Set<string>();
    let min = Infinity, max = -Infinity;
    for (const row of rows) {
      const v = row[h];
      if (v === null) { miss++; continue; }
      if (type === 'numeric') { min = Math.min(min, v as number); max = Math.max(max, v as number); } else distinct.add(v as string);
    }
    return type === 'numeric' ? { name: h, type, missing: miss, min, max } : { name: h, type, missing: miss, categories: [...distinct].sort(compareCategories) };
  });

  let target: TabularTarget | undefined;
  if (opts.target !== undefined) {
    const name = opts.target;
    const allNum = targetRaw.every((v) => NUMBER_RE.test(v));
    const distinct = [...new Set(targetRaw)];
    const task = opts.task ?? (!allNum || (targetRaw.every((v) => Number.isInteger(toNumber(v))) && distinct.length <= 20) ? 'classification' : 'regression');
    if (task === 'classification') {
      // numeric class names compare by value: '1' and '1.0' are one class
      const keyOf = (v: string): string => (allNum ? String(toNumber(v)) : v);
      const classes = [...new Set(targetRaw.map(keyOf))].sort(compareCategories);
      const index = new Map(classes.map((c, i) => [c, i]));
      target = { name, kind: 'classification', classes, labels: Int32Array.from(targetRaw, (v) => index.get(keyOf(v))!) };
    } else {
      const bad = targetRaw.findIndex((v) => !NUMBER_RE.test(v));
      if (bad >= 0) throw new DataFormatError(source, lines[bad], `regression target '${name}' has a non-numeric value ${JSON.stringify(targetRaw[bad])}`);
      target = { name, kind: 'regression', values: Float32Array.from(targetRaw, toNumber) };
    }
  }
  const labels = target?.kind === 'classification' ? target.labels : undefined;
  const classes = target?.kind === 'classification' ? target.classes : undefined;
  const targets = target?.kind === 'regression' ? target.values : undefined;
  const fitOptions = {
    categorical: columns.filter((c) => c.type !== 'numeric').map((c) => c.name),
    numeric: columns.filter((c) => c.type === 'numeric').map((c) => c.name),
    missingValues: [...missing],
  };
  return {
    file: source,
    columns,
    rows,
    lines,
    target,
    labels,
    classes,
    targets,
    skipped: log.skipped,
    fitOptions,
    dataset: () => ({
      length: rows.length,
      labels,
      classes,
      source: (i: number) => `${source}:${lines[i]}`,
      get: (i: number): TabularItem => {
        checkIndex('tabular dataset', i, rows.length);
        const label = labels ? labels[i] : targets ? targets[i] : undefined;
        return label === undefined ? { row: rows[i]! } : { row: rows[i]!, label };
      },
    }),
  };
}

/** Read a CSV/TSV file (see the file comment). */
export async function readTabular(path: string, opts: TabularReadOptions = {}): Promise<TabularData> {
  return parseTabular(await readText(path), path, opts);
}

export { readText as readUtf8File };
