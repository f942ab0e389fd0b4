// NumPy .npz archives: a ZIP file of .npy members, as `np.savez` (stored) and `np.savez_compressed`
// (deflate) write them. Reading goes through the central directory (ZIP64 records included: NumPy writes
// every member with force_zip64), inflates deflated members with node:zlib, checks each member's CRC-32,
// and decodes the .npy bytes with src/io/npy.ts. Keys are member names without the '.npy' suffix.
//
// `npzDataset(path, { inputs, labels })` views arrays [N, ...] of an archive as a dataset of N samples
// (sample i = a copy of row i; nothing else is allocated), for any modality.
import { readFile } from 'node:fs/promises';
import { deflateRawSync } from 'node:zlib';
import { decodeNpy, encodeNpy, type NpyArray, type NpyData } from '../io/npy.js';
import { ZIP_TAIL_BYTES, ZipError, crc32, inflateEntry, localDataOffset, parseCentralDirectory, parseZip64End, parseZipTail, type ZipEntry } from '../io/zip.js';
import { writeFileAtomic } from '../io/atomic.js';
import { DataFormatError, checkIndex, type Dataset } from './dataset.js';

const SIG_LOCAL = 0x04034b50, SIG_CENTRAL = 0x02014b50, SIG_EOCD = 0x06054b50;

// The ZIP structures are read by src/io/zip.ts (shared with the PyTorch checkpoint readers); this file adds the
// .npz checks and names the archive in every error.
export { crc32 } from '../io/zip.js';

/** A ZipError from src/io/zip.ts as a DataFormatError naming the archive (and the member). */
function zipCall<T>(source: string, f: () => T, member?: string): T {
  try { return f(); } catch (e) {
    if (e instanceof ZipError) throw new DataFormatError(source, undefined, (member ? `member '${member}': ` : '') + e.message);
    throw e;
  }
}

/** The central directory of a ZIP archive held in memory. */
export function zipEntries(bytes: Uint8Array, source = '<zip>'): ZipEntry[] {
  const fail = (what: string): never => { throw new DataFormatError(source, undefined, what); };
  if (bytes.length === 0) fail('empty file (not a ZIP/.npz archive)');
  if (bytes.length < 22) fail(`file is ${bytes.length} bytes, too short for a ZIP archive (truncated, or not an .npz file)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== SIG_LOCAL && view.getUint32(0, true) !== SIG_EOCD) fail('not a ZIP archive (no PK signature at the start; an .npz file is a ZIP of .npy files)');
  return zipCall(source, () => {
    let dir = parseZipTail(bytes.subarray(Math.max(0, bytes.length - ZIP_TAIL_BYTES)), bytes.length);
    if ('eocd64Offset' in dir) dir = parseZip64End(bytes.subarray(dir.eocd64Offset, dir.eocd64Offset + 56));
    if (dir.cdOffset + dir.cdSize > bytes.length) fail(`central directory (${dir.cdSize} bytes at offset ${dir.cdOffset}) runs past the end of the file (${bytes.length} bytes): truncated`);
    return parseCentralDirectory(bytes.subarray(dir.cdOffset, dir.cdOffset + dir.cdSize), dir.entries);
  });
}

/** The uncompressed bytes of one member (CRC checked). */
export function zipMember(bytes: Uint8Array, entry: ZipEntry, source = '<zip>'): Uint8Array {
  const fail = (what: string): never => { throw new DataFormatError(source, undefined, `member '${entry.name}': ${what}`); };
  const start = zipCall(source, () => localDataOffset(bytes.subarray(entry.localHeaderOffset, entry.localHeaderOffset + 30), entry));
  if (start + entry.compressedSize > bytes.length) fail(`data (${entry.compressedSize} bytes) runs past the end of the file: truncated`);
  let out: Uint8Array;
  try {
    out = zipCall(source, () => inflateEntry(entry, bytes.subarray(start, start + entry.compressedSize)));
  } catch (e) {
    if (e instanceof DataFormatError) throw e;
    return fail(`deflate data is corrupt (${(e as Error).message})`);
  }
  if (out.length !== entry.size) fail(`uncompressed size is ${out.length} bytes, the directory says ${entry.size}`);
  if (crc32(out) !== entry.crc32) fail('CRC-32 mismatch (the archive is corrupt)');
  return out;
}

/** Decode an .npz archive held in memory: array name (member name without '.npy') -> array. */
export function decodeNpz(bytes: Uint8Array, source = '<npz>'): Map<string, NpyArray> {
  const out = new Map<string, NpyArray>();
  for (const entry of zipEntries(bytes, source)) {
    if (entry.name.endsWith('/')) continue; // a directory entry
    if (!entry.name.endsWith('.npy')) throw new DataFormatError(source, undefined, `member '${entry.name}' is not an .npy array (an .npz archive holds only .npy files)`);
    const key = entry.name.slice(0, -4);
    try {
      out.set(key, decodeNpy(zipMember(bytes, entry, source), `${source}[${key}]`));
    } catch (e) {
      if (e instanceof DataFormatError) throw e;
      throw new DataFormatError(source, undefined, `array '${key}': ${(e as Error).message.replace(`${source}[${key}]: `, '')}`);
    }
  }
  if (!out.size) throw new DataFormatError(source, undefined, 'the archive holds no arrays');
  return out;
}

export async function readNpz(path: string): Promise<Map<string, NpyArray>> {
  let bytes: Buffer;
  try { bytes = await readFile(path); } catch (e) {
    throw new DataFormatError(path, undefined, (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'file does not exist' : `cannot read: ${(e as Error).message}`);
  }
  return decodeNpz(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), path);
}

/** Encode arrays as an .npz archive (stored, as np.savez, or deflated, as np.savez_compressed). */
export function encodeNpz(arrays: Record<string, { shape: readonly number[]; data: NpyData }>, opts: { compress?: boolean } = {}): Uint8Array {
  const enc = new TextEncoder();
  const locals: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  let offset = 0;
  for (const [key, arr] of Object.entries(arrays)) {
    const name = enc.encode(`${key}.npy`);
    const data = encodeNpy(arr);
    const body = opts.compress ? deflateRawSync(data) : data;
    const crc = crc32(data);
    const method = opts.compress ? 8 : 0;
    if (offset > 0xfffffffe || body.length > 0xfffffffe || data.length > 0xfffffffe) throw new RangeError('encodeNpz: archives over 4 GiB are not supported');
    const local = new Uint8Array(30 + name.length + body.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, SIG_LOCAL, true); lv.setUint16(4, 20, true); lv.setUint16(6, 0, true); lv.setUint16(8, method, true);
    lv.setUint16(10, 0, true); lv.setUint16(12, 0x21, true); // time 00:00, date 1980-01-01
    lv.setUint32(14, crc, true); lv.setUint32(18, body.length, true); lv.setUint32(22, data.length, true);
    lv.setUint16(26, name.length, true); lv.setUint16(28, 0, true);
    local.set(name, 30); local.set(body, 30 + name.length);
    const central = new Uint8Array(46 + name.length);
    const cv = new DataView(central.buffer);
    cv.setUint32(0, SIG_CENTRAL, true); cv.setUint16(4, 20, true); cv.setUint16(6, 20, true); cv.setUint16(8, 0, true); cv.setUint16(10, method, true);
    cv.setUint16(12, 0, true); cv.setUint16(14, 0x21, true);
    cv.setUint32(16, crc, true); cv.setUint32(20, body.length, true); cv.setUint32(24, data.length, true);
    cv.setUint16(28, name.length, true); cv.setUint32(42, offset, true);
    central.set(name, 46);
    locals.push(local); centrals.push(central);
    offset += local.length;
  }
  const cdSize = centrals.reduce((a, c) => a + c.length, 0);
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, SIG_EOCD, true); ev.setUint16(8, centrals.length, true); ev.setUint16(10, centrals.length, true);
  ev.setUint32(12, cdSize, true); ev.setUint32(16, offset, true);
  const out = new Uint8Array(offset + cdSize + 22);
  let p = 0;
  for (const part of [...locals, ...centrals, eocd]) { out.set(part, p); p += part.length; }
  return out;
}

export async function writeNpz(path: string, arrays: Record<string, { shape: readonly number[]; data: NpyData }>, opts: { compress?: boolean } = {}): Promise<void> {
  await writeFileAtomic(path, encodeNpz(arrays, opts));
}

// ---------------------------------------------------------------------------------------------------
// A dataset over the first axis
// ---------------------------------------------------------------------------------------------------

export interface NpzSample {
  /** Row i of the input array (a copy), shape `shape`. */
  input: NpyData;
  shape: number[];
  /** Class index (integer labels) or value (float labels), when a label array is named. */
  label?: number;
}

export interface NpzDataset extends Dataset<NpzSample> {
  readonly arrays: Map<string, NpyArray>;
  /** Shape of one sample (the input array without its first axis). */
  readonly sampleShape: number[];
  /** Float labels (regression), when the label array is floating point. */
  readonly targets?: Float32Array;
}

/**
 * Samples along the first axis of `inputs` (default 'x', else the only array), with labels from `labels`
 * (default 'y' when present): integer labels become class indices (`classes` = their string values
 * 0..max), float labels regression targets.
 */
export async function npzDataset(path: string, opts: { inputs?: string; labels?: string | null; classes?: readonly string[] } = {}): Promise<NpzDataset> {
  const arrays = await readNpz(path);
  const names = [...arrays.keys()];
  const inputName = opts.inputs ?? (arrays.has('x') ? 'x' : names.length === 1 ? names[0]! : undefined);
  if (!inputName) throw new DataFormatError(path, undefined, `which array holds the inputs? pass { inputs } (arrays: ${names.join(', ')})`);
  const x = arrays.get(inputName);
  if (!x) throw new DataFormatError(path, undefined, `no array '${inputName}' (arrays: ${names.join(', ')})`);
  if (x.shape.length < 1 || x.shape[0] === 0) throw new DataFormatError(path, undefined, `array '${inputName}' has shape [${x.shape.join(', ')}]; expected [N, ...] with N >= 1 samples`);
  const n = x.shape[0]!;
  const sampleShape = x.shape.slice(1);
  const per = sampleShape.reduce((a, b) => a * b, 1);
  const labelName = opts.labels === null ? undefined : opts.labels ?? (arrays.has('y') && inputName !== 'y' ? 'y' : undefined);
  let labels: Int32Array | undefined, targets: Float32Array | undefined, classes = opts.classes;
  if (labelName) {
    const y = arrays.get(labelName);
    if (!y) throw new DataFormatError(path, undefined, `no label array '${labelName}' (arrays: ${names.join(', ')})`);
    const count = y.shape.reduce((a, b) => a * b, 1);
    if (y.shape[0] !== n || count !== n) throw new DataFormatError(path, undefined, `label array '${labelName}' has shape [${y.shape.join(', ')}]; expected [${n}] (one label per row of '${inputName}')`);
    if (y.dtype === 'float16' || y.dtype === 'float32' || y.dtype === 'float64') targets = Float32Array.from(y.data as Float32Array | Float64Array);
    else {
      labels = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const v = Number(y.data[i]!);
        if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff) throw new DataFormatError(path, undefined, `label ${i} of '${labelName}' is ${v}; class labels must be non-negative integers`);
        labels[i] = v;
      }
      const max = labels.reduce((a, b) => Math.max(a, b), 0);
      if (classes && max >= classes.length) throw new DataFormatError(path, undefined, `label ${max} of '${labelName}' is outside the ${classes.length} classes given`);
      classes ??= Array.from({ length: max + 1 }, (_, k) => String(k));
    }
  }
  const data = x.data;
  return {
    arrays,
    sampleShape,
    length: n,
    labels,
    classes: labels ? classes : undefined,
    targets,
    source: (i) => `${path}[${inputName}][${i}]`,
    get: (i) => {
      checkIndex('npzDataset.get', i, n);
      const input = data.slice(i * per, (i + 1) * per) as NpyData;
      const label = labels ? labels[i] : targets ? targets[i] : undefined;
      return { input, shape: sampleShape, ...(label !== undefined ? { label } : {}) };
    },
  };
}
