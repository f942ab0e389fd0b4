// A small RFC 4180 CSV parser: quoted fields ("" escapes a quote; quoted fields may hold delimiters and
// newlines), LF or CRLF line ends, an optional header row, and errors that name the line (1-based, as an
// editor shows it).
import { readFile } from 'node:fs/promises';

export class CsvError extends Error {
  override name = 'CsvError';
  constructor(readonly source: string, readonly line: number, detail: string) { super(`${source}:${line}: ${detail}`); }
}

export interface CsvOptions {
  /** Field separator (default ','). */
  delimiter?: string;
  /** First row is a header (default true). */
  header?: boolean;
  /** Skip lines that are completely empty (default true). */
  skipEmptyLines?: boolean;
  /** Trim spaces around unquoted fields (default false). */
  trim?: boolean;
  /** Name used in error messages (a path; default '<csv>'). */
  source?: string;
  /** Accept rows whose field count differs from the header's (the caller checks them; default false). */
  ragged?: boolean;
}

export interface CsvTable {
  /** Column names (generated as column0, column1, ... without a header row). */
  header: string[];
  rows: string[][];
  /** Source line on which each row starts (1-based). */
  lines: number[];
}

/** Parse CSV text. Every row must have as many fields as the first (header) row. */
export function parseCsv(text: string, opts: CsvOptions = {}): CsvTable {
  const delim = opts.delimiter ?? ',';
  const source = opts.source ?? '<csv>';
  if (delim.length !== 1 || delim === '"' || delim === '\n' || delim === '\r') throw new CsvError(source, 0, `delimiter must be one character other than a quote or newline, got ${JSON.stringify(delim)}`);
  const skipEmpty = opts.skipEmptyLines ?? true;
  const trim = opts.trim ?? false;
  const records: { fields: string[]; line: number }[] = [];
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0; // byte-order mark
  let line = 1;
  const n = text.length;
  while (i < n) {
    const startLine = line;
    const fields: string[] = [];
    let endOfRecord = false;
    let emptyLine = true;
    while (!endOfRecord) {
      let field = '';
      if (text[i] === '"') {
        emptyLine = false;
        const quoteLine = line;
        i++;
        for (;;) {
          if (i >= n) throw new CsvError(source, quoteLine, 'unterminated quoted field (a field opened with " is never closed)');
          const ch = text[i]!;
          if (ch === '"') {
            if (text[i + 1] === '"') { field += '"'; i += 2; continue; }
            i++;
            break;
          }
          if (ch === '\n') line++;
          field += ch;
          i++;
        }
        const next = text[i];
        if (next !== undefined && next !== delim && next !== '\n' && next !== '\r') {
          throw new CsvError(source, line, `unexpected character ${JSON.stringify(next)} after a closing quote (quotes inside a field must be doubled: "")`);
        }
      } else {
        const start = i;
        while (i < n && text[i] !== delim && text[i] !== '\n' && text[i] !== '\r') {
          if (text[i] === '"') throw new CsvError(source, line, 'stray quote inside an unquoted field (quote the whole field and double inner quotes)');
          i++;
        }
        field = text.slice(start, i);
        if (field.length) emptyLine = false;
        if (trim) field = field.trim();
      }
      fields.push(field);
      const ch = text[i];
      if (ch === delim) { emptyLine = false; i++; continue; }
      if (ch === '\r') { i++; if (text[i] === '\n') i++; line++; endOfRecord = true; continue; }
      if (ch === '\n') { i++; line++; endOfRecord = true; continue; }
      endOfRecord = true; // end of text
    }
    if (emptyLine && skipEmpty) continue;
    records.push({ fields, line: startLine });
  }
  const hasHeader = opts.header ?? true;
  if (records.length === 0) {
    if (hasHeader) throw new CsvError(source, 1, 'empty file: no header row');
    return { header: [], rows: [], lines: [] };
  }
  const width = records[0]!.fields.length;
  let header: string[];
  let body = records;
  if (hasHeader) {
    header = records[0]!.fields.map((h) => h.trim());
    const seen = new Map<string, number>();
    header.forEach((h, k) => {
      if (h === '') throw new CsvError(source, records[0]!.line, `header column ${k + 1} is empty`);
      if (seen.has(h)) throw new CsvError(source, records[0]!.line, `duplicate header '${h}' (columns ${seen.get(h)! + 1} and ${k + 1})`);
      seen.set(h, k);
    });
    body = records.slice(1);
  } else {
    header = Array.from({ length: width }, (_, k) => `column${k}`);
  }
  for (const r of opts.ragged ? [] : body) {
    if (r.fields.length !== width) throw new CsvError(source, r.line, `row has ${r.fields.length} fields, expected ${width}${hasHeader ? ' (as the header)' : ' (as the first row)'}`);
  }
  return { header, rows: body.map((r) => r.fields), lines: body.map((r) => r.line) };
}

/** Rows as objects keyed by the header. */
export function csvRecords(table: CsvTable): Record<string, string>[] {
  return table.rows.map((r) => Object.fromEntries(table.header.map((h, k) => [h, r[k]!])));
}

/** Read and parse a CSV file (UTF-8). */
export async function readCsv(path: string, opts: Omit<CsvOptions, 'source'> = {}): Promise<CsvTable> {
  return parseCsv(await readFile(path, 'utf8'), { ...opts, source: path });
}
