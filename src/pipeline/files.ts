// Small, dependency-free readers for the CLI's inputs: numeric arrays from .npy / .json / .csv / .tsv / .txt files,
// text files, WAV audio. Every error is a DataError naming the file (and the row, column or index).
import { readFile } from 'node:fs/promises';
import { parseCsv, type CsvTable } from '../data/csv.js';
import { decodeWav, type WavData } from '../data/wav.js';
import { decodeNpy, npyToFloat32 } from '../io/npy.js';
import { readImage } from '../data/image-io.js';
import { readPointCloud } from '../data/pointcloud-io.js';

/** Bad input data: the message names the file (or argument) and what was expected. */
export class DataError extends Error {
  override name = 'DataError';
}

/** A numeric array read from a file: row-major float32 values, their shape, and whether they were integers. */
export interface NdArray {
  shape: number[];
  data: Float32Array;
  /** The file stored integers (e.g. uint8 pixels). */
  integer: boolean;
}

export function fmtShape(shape: readonly number[]): string { return `[${shape.join(', ')}]`; }

/** File extension in lower case, without the dot ('' when none). */
export function extOf(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1);
  const i = base.lastIndexOf('.');
  return i > 0 ? base.slice(i + 1).toLowerCase() : '';
}

async function readBytes(path: string, what: string): Promise<Buffer> {
  try { return await readFile(path); } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DataError(code === 'ENOENT' ? `${what} '${path}' does not exist` : code === 'EISDIR' ? `${what} '${path}' is a directory, expected a file` : `cannot read ${what} '${path}': ${(e as Error).message}`);
  }
}

export async function readText(path: string, what = 'file'): Promise<string> {
  return (await readBytes(path, what)).toString('utf8');
}

export async function readJson(path: string, what = 'file'): Promise<unknown> {
  const text = await readText(path, what);
  try { return JSON.parse(text); } catch (e) { throw new DataError(`${path}: invalid JSON (${(e as Error).message})`); }
}

export async function readCsvFile(path: string, opts: { header?: boolean } = {}): Promise<CsvTable> {
  const text = await readText(path, 'CSV file');
  // tab-separated for .tsv files, commas otherwise
  try { return parseCsv(text, { source: path, header: opts.header, trim: true, delimiter: extOf(path) === 'tsv' ? '\t' : ',' }); } catch (e) { throw new DataError((e as Error).message); }
}

export async function readWavFile(path: string): Promise<WavData> {
  const bytes = await readBytes(path, 'WAV file');
  try { return decodeWav(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), path); } catch (e) { throw new DataError((e as Error).message); }
}

/** Throw a DataError naming the first NaN/infinite value (by its index in `shape`). */
export function assertFiniteArray(source: string, data: ArrayLike<number>, shape: readonly number[]): void {
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (!Number.isFinite(v)) {
      const idx: number[] = [];
      let r = i;
      for (let d = shape.length - 1; d >= 0; d--) { idx.unshift(r % shape[d]!); r = Math.floor(r / shape[d]!); }
      throw new DataError(`${source}: value at index [${idx.join(', ')}] is ${v}; NaN and infinite values are not allowed (clean or impute the data first)`);
    }
  }
}

/** A nested JSON array of numbers -> NdArray (must be rectangular). */
export function arrayFromJson(value: unknown, source: string): NdArray {
  const shape: number[] = [];
  let v: unknown = value;
  while (Array.isArray(v)) { shape.push(v.length); v = v[0]; }
  if (!shape.length) throw new DataError(`${source}: expected a (nested) array of numbers, got ${value === null ? 'null' : typeof value}`);
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  let k = 0, integer = true;
  const walk = (x: unknown, d: number, path: number[]): void => {
    if (d === shape.length) {
      if (typeof x !== 'number') throw new DataError(`${source}: element [${path.join(', ')}] is ${JSON.stringify(x)}, expected a number${x === null ? ' (NaN/missing values are not allowed)' : ''}`);
      if (!Number.isInteger(x)) integer = false;
      data[k++] = x;
      return;
    }
    if (!Array.isArray(x) || x.length !== shape[d]) {
      throw new DataError(`${source}: ragged array: element [${path.join(', ')}] has ${Array.isArray(x) ? `${x.length} entries` : 'no entries'}, expected ${shape[d]} (shape ${fmtShape(shape)})`);
    }
    x.forEach((y, i) => walk(y, d + 1, [...path, i]));
  };
  walk(value, 0, []);
  return { shape, data, integer };
}

const NUMERIC = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$|^[+-]?(?:nan|inf|infinity)$/i;

/** Numeric matrix from CSV or whitespace/comma separated text; a first row with non-numeric fields is a header. */
export function matrixFromText(text: string, source: string): { array: NdArray; header: string[] | null } {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  if (!lines.length) throw new DataError(`${source}: no data rows`);
  const split = (l: string): string[] => l.split(/[\s,;]+/).filter((f) => f !== '');
  let header: string[] | null = null;
  let body = lines;
  const first = split(lines[0]!);
  if (first.some((f) => !NUMERIC.test(f))) { header = first; body = lines.slice(1); }
  if (!body.length) throw new DataError(`${source}: no data rows after the header`);
  const width = split(body[0]!).length;
  const data = new Float32Array(body.length * width);
  let integer = true;
  body.forEach((l, r) => {
    const f = split(l);
    if (f.length !== width) throw new DataError(`${source}: data row ${r + 1} has ${f.length} values, the first row has ${width}`);
    f.forEach((s, c) => {
      if (!NUMERIC.test(s)) throw new DataError(`${source}: data row ${r + 1}, column ${header?.[c] ?? c + 1}: '${s}' is not a number`);
      const v = Number(/^[+-]?inf/i.test(s) ? (s.startsWith('-') ? -Infinity : Infinity) : s);
      if (!Number.isInteger(v)) integer = false;
      data[r * width + c] = v;
    });
  });
  return { array: { shape: [body.length, width], data, integer }, header };
}

const IMAGE_EXTS = new Set(['png', 'jpg', 'jpeg', 'webp', 'tif', 'tiff']);
const POINT_EXTS = new Set(['ply', 'off', 'xyz', 'pts']);

/** Read a numeric array from .npy, .json (nested arrays), .csv or .txt (rows of numbers), an image or a point cloud. */
export async function readArrayFile(path: string): Promise<NdArray> {
  const ext = extOf(path);
  if (ext === 'npy') {
    const bytes = await readBytes(path, 'array file');
    let a;
    try { a = decodeNpy(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), path); } catch (e) { throw new DataError((e as Error).message); }
    const integer = a.dtype !== 'float16' && a.dtype !== 'float32' && a.dtype !== 'float64';
    return { shape: a.shape, data: npyToFloat32(a), integer };
  }
  if (ext === 'json') return arrayFromJson(await readJson(path), path);
  if (ext === 'csv' || ext === 'txt' || ext === 'tsv') return matrixFromText(await readText(path), path).array;
  if (IMAGE_EXTS.has(ext)) {
    // decoded to [3, H, W] in [0, 1]; a grey picture (all channels equal) becomes [1, H, W], which the
    // infrared / X-ray tokenizers replicate onto their 3-channel kernel
    try {
      const img = await readImage(path, { layout: 'chw', color: 'rgb' });
      const plane = img.height * img.width;
      const d = img.data;
      let grey = img.channels === 3;
      for (let i = 0; grey && i < plane; i++) grey = d[i] === d[plane + i] && d[i] === d[2 * plane + i];
      return grey
        ? { shape: [1, img.height, img.width], data: d.slice(0, plane), integer: false }
        : { shape: [img.channels, img.height, img.width], data: img.data, integer: false };
    } catch (e) { throw new DataError((e as Error).message); }
  }
  if (POINT_EXTS.has(ext)) {
    try {
      const pc = await readPointCloud(path);
      return { shape: [pc.numPoints, pc.channels], data: pc.points, integer: false };
    } catch (e) { throw new DataError((e as Error).message); }
  }
  throw new DataError(`${path}: unsupported file type '.${ext}' (expected .npy, .json, .csv, .txt, an image (.png, .jpg, .webp, .tif) or a point cloud (.ply, .off, .xyz, .pts))`);
}
