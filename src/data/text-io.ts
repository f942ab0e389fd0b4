// Text classification data:
//   - a CSV/TSV file with a text column and a label column (RFC 4180 quoting: fields may hold delimiters,
//     doubled quotes and newlines). Columns default to the first of text/sentence/review/content/document
//     and label/labels/class/category/sentiment/target found in the header (case-insensitive);
//   - a folder of .txt files per class (the ImageFolder layout), read lazily as UTF-8.
// Classes are the sorted distinct labels (numbers by value). Empty texts, missing labels and rows with the
// wrong field count are DataFormatErrors naming the file and line, or are skipped under `skipBad`;
// a file that is not valid UTF-8 is an error naming it.
import { BadRecordLog, DataFormatError, checkIndex, folderDataset, type Dataset, type FolderDataset, type SkipBadOptions } from './dataset.js';
import { compareCategories, readDelimited, readUtf8File } from './tabular-io.js';
import { readFile } from 'node:fs/promises';

export interface TextCsvOptions extends SkipBadOptions {
  delimiter?: string;
  skipLines?: number;
  /** Text column (default: see the file comment). */
  textColumn?: string;
  /** Label column (default: see the file comment). */
  labelColumn?: string;
  /** Fixed class list (labels outside it are bad rows); default: the sorted distinct labels. */
  classes?: readonly string[];
  /** Strings read as a missing label (default '', 'NA', 'N/A', 'null', 'None', '?'). */
  missingValues?: readonly string[];
}

export interface TextItem { text: string; label: number }

export interface TextClassificationData {
  file: string;
  texts: string[];
  labels: Int32Array;
  classes: string[];
  /** Source line on which each row starts. */
  lines: number[];
  skipped: number;
  dataset(): Dataset<TextItem>;
}

const TEXT_NAMES = ['text', 'sentence', 'review', 'content', 'document'];
const LABEL_NAMES = ['label', 'labels', 'class', 'category', 'sentiment', 'target'];

function pickColumn(header: readonly string[], given: string | undefined, defaults: readonly string[], what: string, source: string): number {
  if (given !== undefined) {
    const j = header.indexOf(given);
    if (j < 0) throw new DataFormatError(source, undefined, `${what} column '${given}' is not in the file (columns: ${header.join(', ')})`);
    return j;
  }
  const lower = header.map((h) => h.toLowerCase());
  for (const d of defaults) { const j = lower.indexOf(d); if (j >= 0) return j; }
  throw new DataFormatError(source, undefined, `no ${what} column: none of ${defaults.join('/')} in the header (columns: ${header.join(', ')}); name it with the ${what}Column option`);
}

/** Parse (text, label) rows from delimited text (see the file comment). */
export function parseTextCsv(content: string, source: string, opts: TextCsvOptions = {}): TextClassificationData {
  const log = new BadRecordLog(source, opts);
  let tj = -1, lj = -1;
  const { header, rows, lines: rowLines } = readDelimited(content, source, { delimiter: opts.delimiter, skipLines: opts.skipLines }, log, (header) => {
    tj = pickColumn(header, opts.textColumn, TEXT_NAMES, 'text', source);
    lj = pickColumn(header, opts.labelColumn, LABEL_NAMES, 'label', source);
    if (tj === lj) throw new DataFormatError(source, undefined, `the text and label columns are the same ('${header[tj]}')`);
  });
  const missing = new Set(opts.missingValues ?? ['', 'NA', 'N/A', 'null', 'None', '?']);
  const fixed = opts.classes ? new Map(opts.classes.map((c, i) => [c, i])) : null;
  const texts: string[] = [], raw: string[] = [], lines: number[] = [];
  rows.forEach((r, k) => {
    const line = rowLines[k]!;
    const text = r[tj]!, label = r[lj]!;
    if (!text.trim()) { log.handle(new DataFormatError(source, line, `text column '${header[tj]}' is empty`)); return; }
    if (missing.has(label)) { log.handle(new DataFormatError(source, line, `label column '${header[lj]}' is missing (${JSON.stringify(label)})`)); return; }
    if (fixed && !fixed.has(label)) { log.handle(new DataFormatError(source, line, `label ${JSON.stringify(label)} is not one of the classes [${opts.classes!.join(', ')}]`)); return; }
    texts.push(text); raw.push(label); lines.push(line);
  });
  log.finish();
  if (!texts.length) throw new DataFormatError(source, undefined, log.skipped ? `no valid rows (${log.skipped} skipped; first: ${log.messages[0]})` : 'no data rows after the header');
  const classes = opts.classes ? [...opts.classes] : [...new Set(raw)].sort(compareCategories);
  const index = new Map(classes.map((c, i) => [c, i]));
  const labels = Int32Array.from(raw, (l) => index.get(l)!);
  return {
    file: source, texts, labels, classes, lines, skipped: log.skipped,
    dataset: () => ({
      length: texts.length, labels, classes,
      source: (i: number) => `${source}:${lines[i]}`,
      get: (i: number): TextItem => { checkIndex('text dataset', i, texts.length); return { text: texts[i]!, label: labels[i]! }; },
    }),
  };
}

/** Read a (text, label) CSV/TSV file. */
export async function readTextCsv(path: string, opts: TextCsvOptions = {}): Promise<TextClassificationData> {
  return parseTextCsv(await readUtf8File(path), path, opts);
}

/** One text file as UTF-8 (BOM stripped); empty or non-UTF-8 files are DataFormatErrors. */
export async function readTextFile(path: string, opts: { maxBytes?: number } = {}): Promise<string> {
  let bytes: Buffer;
  try { bytes = await readFile(path); } catch (e) { throw new DataFormatError(path, undefined, `cannot read: ${(e as Error).message}`); }
  if (opts.maxBytes !== undefined && bytes.length > opts.maxBytes) throw new DataFormatError(path, undefined, `is ${bytes.length} bytes, over the limit of ${opts.maxBytes}`);
  let text: string;
  try { text = new TextDecoder('utf-8', { fatal: true }).decode(bytes); } catch { throw new DataFormatError(path, undefined, 'is not UTF-8 text'); }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (!text.trim()) throw new DataFormatError(path, undefined, 'empty text file');
  return text;
}

/** A folder with one subfolder of text files per class; samples { input: text, label, path }. */
export async function textFolderDataset(root: string, opts: { extensions?: readonly string[]; maxBytes?: number } = {}): Promise<FolderDataset<string>> {
  return folderDataset(root, (path) => readTextFile(path, { maxBytes: opts.maxBytes }), { extensions: opts.extensions ?? ['.txt'] });
}
