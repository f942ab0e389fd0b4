// IDX files, the format MNIST and Fashion-MNIST ship in (http://yann.lecun.com/exdb/mnist/, "FILE FORMATS"):
//   bytes 0-1  zero
//   byte  2    element type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64
//   byte  3    number of dimensions d
//   then d big-endian int32 sizes, then the elements, big-endian, C (row-major) order.
// Files may be gzipped (recognised by the gzip magic 1f 8b, not by the name).
//
// `IdxReader` reads item i (the sub-array at index i of the first dimension: an image of an idx3 file, a
// label of an idx1 file) on demand, so a 60,000-image set never sits in memory as JS objects:
//   - plain files: each `get` is one positioned read of that item's bytes;
//   - gzipped files: `items()` streams through the decompressor (memory: one chunk); random access (`get`,
//     `getRange`) inflates the file once, on first use, into a single Uint8Array of the raw size (47 MB for
//     Fashion-MNIST's training images: one buffer, no per-image objects).
// The header is checked against the file size when opening (for gzipped files, against the size recorded in
// the gzip trailer), so a truncated file or wrong dimensions fail at `open`, with the file named, not halfway
// through an epoch.
import { createReadStream } from 'node:fs';
import { open, readFile, type FileHandle } from 'node:fs/promises';
import { pipeline } from 'node:stream';
import { createGunzip, gunzipSync } from 'node:zlib';

export type IdxDtype = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';
export type IdxArray = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

/** A malformed IDX file; the message names the file and the problem. */
export class IdxFormatError extends Error {
  override name = 'IdxFormatError';
  constructor(readonly file: string, detail: string) { super(`${file}: ${detail}`); }
}

const TYPES: Record<number, { dtype: IdxDtype; bytes: number }> = {
  0x08: { dtype: 'uint8', bytes: 1 }, 0x09: { dtype: 'int8', bytes: 1 }, 0x0b: { dtype: 'int16', bytes: 2 },
  0x0c: { dtype: 'int32', bytes: 4 }, 0x0d: { dtype: 'float32', bytes: 4 }, 0x0e: { dtype: 'float64', bytes: 8 },
};
const CODE: Record<IdxDtype, number> = { uint8: 0x08, int8: 0x09, int16: 0x0b, int32: 0x0c, float32: 0x0d, float64: 0x0e };

export interface IdxHeader {
  dtype: IdxDtype;
  shape: number[];
  /** Bytes per element. */
  elementBytes: number;
  /** Bytes before the data (4 + 4·ndim). */
  headerBytes: number;
  /** Bytes of data the shape needs. */
  dataBytes: number;
}

const hex = (b: Uint8Array, n: number): string => Array.from(b.subarray(0, n), (x) => x.toString(16).padStart(2, '0')).join(' ');
const isGzip = (b: Uint8Array): boolean => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;
const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;
const msg = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/**
 * Parse the header from the first bytes of an (uncompressed) IDX file. `total`, when given, is the full
 * uncompressed size, checked against what the header declares.
 */
export function parseIdxHeader(b: Uint8Array, name = '<buffer>', total?: number): IdxHeader {
  const fail = (d: string): never => { throw new IdxFormatError(name, d); };
  if (b.length === 0) fail('file is empty');
  if (b.length < 4) fail(`file is ${b.length} bytes, too short for the 4-byte IDX magic`);
  if (b[0] !== 0 || b[1] !== 0) fail(`not an IDX file: magic bytes are ${hex(b, 4)} (expected 00 00 <type> <ndim>)`);
  const t = TYPES[b[2]!];
  if (!t) fail(`unknown IDX element type 0x${b[2]!.toString(16).padStart(2, '0')} (expected 08 uint8, 09 int8, 0b int16, 0c int32, 0d float32 or 0e float64)`);
  const ndim = b[3]!;
  if (ndim === 0) fail('header declares 0 dimensions');
  const headerBytes = 4 + 4 * ndim;
  if (b.length < headerBytes) fail(`header is truncated: ${ndim} dimensions need ${headerBytes} header bytes, the file has ${b.length}`);
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const shape: number[] = [];
  for (let d = 0; d < ndim; d++) {
    const s = view.getInt32(4 + 4 * d, false);
    if (s < 0) fail(`dimension ${d} is negative (${s})`);
    shape.push(s);
  }
  const n = shape.reduce((a, c) => a * c, 1);
  const dataBytes = n * t!.bytes;
  if (!Number.isSafeInteger(dataBytes)) fail(`shape ${fmt(shape)} is too large`);
  const h: IdxHeader = { dtype: t!.dtype, shape, elementBytes: t!.bytes, headerBytes, dataBytes };
  if (total !== undefined) checkTotal(h, total, name);
  return h;
}

function checkTotal(h: IdxHeader, total: number, name: string): void {
  const have = total - h.headerBytes;
  if (have < h.dataBytes) throw new IdxFormatError(name, `data is truncated: shape ${fmt(h.shape)} of ${h.dtype} needs ${h.dataBytes} bytes, the file has ${have}`);
  if (have > h.dataBytes) throw new IdxFormatError(name, `${have - h.dataBytes} bytes after the data: shape ${fmt(h.shape)} of ${h.dtype} needs ${h.dataBytes} bytes, the file has ${have} (wrong dimensions in the header?)`);
}

function allocate(dtype: IdxDtype, n: number): IdxArray {
  switch (dtype) {
    case 'uint8': return new Uint8Array(n);
    case 'int8': return new Int8Array(n);
    case 'int16': return new Int16Array(n);
    case 'int32': return new Int32Array(n);
    case 'float32': return new Float32Array(n);
    case 'float64': return new Float64Array(n);
  }
}

/** Big-endian element bytes -> a typed array (a copy). */
function decodeElements(bytes: Uint8Array, dtype: IdxDtype): IdxArray {
  // (a Buffer's slice() is a view, not a copy: copy through the Uint8Array constructor)
  if (dtype === 'uint8') return new Uint8Array(bytes);
  if (dtype === 'int8') return new Int8Array(new Uint8Array(bytes).buffer);
  const w = TYPES[CODE[dtype]]!.bytes;
  const n = bytes.length / w;
  const out = allocate(dtype, n);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let k = 0, o = 0; k < n; k++, o += w) {
    out[k] = dtype === 'int16' ? v.getInt16(o, false) : dtype === 'int32' ? v.getInt32(o, false) : dtype === 'float32' ? v.getFloat32(o, false) : v.getFloat64(o, false);
  }
  return out;
}

export interface IdxData { dtype: IdxDtype; shape: number[]; data: IdxArray }

/** Decode a whole IDX file held in memory (gzipped or not). For large files use `IdxReader`. */
export function decodeIdx(bytes: Uint8Array, name = '<buffer>'): IdxData {
  if (bytes.length === 0) throw new IdxFormatError(name, 'file is empty');
  let raw = bytes;
  if (isGzip(bytes)) {
    try { raw = gunzipSync(bytes); } catch (e) { throw new IdxFormatError(name, `corrupt or truncated gzip data: ${msg(e)}`); }
    if (raw.length === 0) throw new IdxFormatError(name, 'gzip stream decompresses to nothing (empty IDX file)');
  }
  const h = parseIdxHeader(raw, name, raw.length);
  return { dtype: h.dtype, shape: h.shape, data: decodeElements(raw.subarray(h.headerBytes, h.headerBytes + h.dataBytes), h.dtype) };
}

function dtypeOf(data: IdxArray): IdxDtype {
  if (data instanceof Uint8Array) return 'uint8';
  if (data instanceof Int8Array) return 'int8';
  if (data instanceof Int16Array) return 'int16';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  throw new TypeError('encodeIdx: data must be a Uint8Array, Int8Array, Int16Array, Int32Array, Float32Array or Float64Array');
}

/** Encode an array as an (uncompressed) IDX file; the dtype follows the typed array. */
export function encodeIdx(array: { shape: readonly number[]; data: IdxArray }): Uint8Array {
  const { shape, data } = array;
  if (shape.length < 1 || shape.length > 255) throw new RangeError(`encodeIdx: IDX files have 1 to 255 dimensions, got ${shape.length}`);
  if (shape.some((d) => !Number.isInteger(d) || d < 0 || d > 0x7fffffff)) throw new RangeError(`encodeIdx: invalid shape ${fmt(shape)}`);
  const n = shape.reduce((a, c) => a * c, 1);
  if (n !== data.length) throw new RangeError(`encodeIdx: shape ${fmt(shape)} has ${n} elements, the data ${data.length}`);
  const dtype = dtypeOf(data);
  const w = TYPES[CODE[dtype]]!.bytes;
  const hb = 4 + 4 * shape.length;
  const out = new Uint8Array(hb + n * w);
  const v = new DataView(out.buffer);
  out[2] = CODE[dtype]; out[3] = shape.length;
  shape.forEach((d, i) => v.setInt32(4 + 4 * i, d, false));
  for (let k = 0, o = hb; k < n; k++, o += w) {
    const x = data[k]!;
    switch (dtype) {
      case 'uint8': v.setUint8(o, x); break;
      case 'int8': v.setInt8(o, x); break;
      case 'int16': v.setInt16(o, x, false); break;
      case 'int32': v.setInt32(o, x, false); break;
      case 'float32': v.setFloat32(o, x, false); break;
      case 'float64': v.setFloat64(o, x, false); break;
    }
  }
  return out;
}

/** Read a whole IDX file (fine for label files and small sets; see `IdxReader` for large ones). */
export async function readIdx(path: string): Promise<IdxData> {
  let bytes: Uint8Array;
  try { bytes = await readFile(path); } catch (e) { throw new IdxFormatError(path, `cannot read the file: ${msg(e)}`); }
  return decodeIdx(bytes, path);
}

/** Stream the decompressed bytes of a gzip file, chunk by chunk (errors name the file). */
async function* gunzipChunks(path: string): AsyncGenerator<Uint8Array> {
  const gz = pipeline(createReadStream(path), createGunzip(), () => { /* errors surface through the iterator */ });
  try {
    for await (const chunk of gz) yield chunk as Uint8Array;
  } catch (e) {
    throw new IdxFormatError(path, `corrupt or truncated gzip data: ${msg(e)}`);
  } finally {
    gz.destroy();
  }
}

/** Random and sequential access to the items of an IDX file without loading it. */
export class IdxReader {
  readonly dtype: IdxDtype;
  readonly shape: readonly number[];
  /** Number of items (the first dimension). */
  readonly length: number;
  /** Shape of one item (the other dimensions; [] for a label file). */
  readonly itemShape: readonly number[];
  /** Elements per item. */
  readonly itemSize: number;
  private readonly itemBytes: number;
  private inflated: Promise<Uint8Array> | null = null;

  private constructor(readonly path: string, readonly header: IdxHeader, readonly gzipped: boolean, private fh: FileHandle | null) {
    this.dtype = header.dtype;
    this.shape = header.shape;
    this.length = header.shape[0]!;
    this.itemShape = header.shape.slice(1);
    this.itemSize = this.itemShape.reduce((a, c) => a * c, 1);
    this.itemBytes = this.itemSize * header.elementBytes;
  }

  /** Open a file and check its header against its size. */
  static async open(path: string): Promise<IdxReader> {
    let fh: FileHandle;
    try { fh = await open(path, 'r'); } catch (e) { throw new IdxFormatError(path, `cannot open the file: ${msg(e)}`); }
    try {
      const size = (await fh.stat()).size;
      if (size === 0) throw new IdxFormatError(path, 'file is empty');
      const first = Buffer.alloc(Math.min(size, 4 + 4 * 255));
      await fh.read(first, 0, first.length, 0);
      if (!isGzip(first)) {
        const h = parseIdxHeader(first, path, size);
        return new IdxReader(path, h, false, fh);
      }
      // gzip: the header from the start of the stream, the total size from the trailer (ISIZE = size mod 2^32)
      if (size < 18) throw new IdxFormatError(path, `gzip file is ${size} bytes, too short to be complete (truncated?)`);
      const trailer = Buffer.alloc(4);
      await fh.read(trailer, 0, 4, size - 4);
      await fh.close();
      const isize = trailer.readUInt32LE(0);
      let head = new Uint8Array(0);
      for await (const c of gunzipChunks(path)) {
        const next = new Uint8Array(head.length + c.length);
        next.set(head); next.set(c, head.length);
        head = next;
        if (head.length >= 4 && head.length >= 4 + 4 * head[3]!) break;
      }
      if (head.length === 0) throw new IdxFormatError(path, 'gzip stream decompresses to nothing (empty IDX file)');
      const h = parseIdxHeader(head, path);
      const total = h.headerBytes + h.dataBytes;
      if (total % 2 ** 32 !== isize) {
        throw new IdxFormatError(path, `the gzip trailer records ${isize} uncompressed bytes (mod 2^32) but shape ${fmt(h.shape)} of ${h.dtype} needs ${total} (truncated file or wrong dimensions in the header?)`);
      }
      return new IdxReader(path, h, true, null);
    } catch (e) {
      await fh.close().catch(() => undefined);
      throw e;
    }
  }

  private checkIndex(i: number, what = 'index'): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.length) throw new RangeError(`${this.path}: ${what} ${i} is out of range [0, ${this.length})`);
  }

  /** The whole data section (gzipped files only), inflated once. */
  private inflate(): Promise<Uint8Array> {
    if (!this.inflated) {
      this.inflated = (async () => {
        const total = this.header.headerBytes + this.header.dataBytes;
        const out = new Uint8Array(total);
        let at = 0;
        for await (const c of gunzipChunks(this.path)) {
          if (at + c.length > total) throw new IdxFormatError(this.path, `decompresses to more than the ${total} bytes its header declares (wrong dimensions?)`);
          out.set(c, at);
          at += c.length;
        }
        if (at < total) throw new IdxFormatError(this.path, `data is truncated: decompresses to ${at} bytes, the header declares ${total}`);
        return out.subarray(this.header.headerBytes);
      })();
      this.inflated.catch(() => { this.inflated = null; });
    }
    return this.inflated;
  }

  private async bytesAt(start: number, count: number): Promise<Uint8Array> {
    const off = start * this.itemBytes, len = count * this.itemBytes;
    if (this.gzipped) return (await this.inflate()).subarray(off, off + len);
    if (!this.fh) throw new Error(`${this.path}: reader is closed`);
    const buf = Buffer.alloc(len);
    const { bytesRead } = await this.fh.read(buf, 0, len, this.header.headerBytes + off);
    if (bytesRead !== len) throw new IdxFormatError(this.path, `short read at item ${start}: got ${bytesRead} of ${len} bytes (file changed since it was opened?)`);
    return buf;
  }

  /** Item i: `itemSize` values in C order (for a label file, one value). */
  async get(i: number): Promise<IdxArray> {
    this.checkIndex(i);
    return decodeElements(await this.bytesAt(i, 1), this.dtype);
  }

  /** Items start .. start + count − 1, concatenated (count·itemSize values). */
  async getRange(start: number, count: number): Promise<IdxArray> {
    if (!Number.isInteger(count) || count < 0 || start + count > this.length) throw new RangeError(`${this.path}: range ${start} + ${count} exceeds the ${this.length} items`);
    if (count === 0) return allocate(this.dtype, 0);
    this.checkIndex(start, 'start');
    return decodeElements(await this.bytesAt(start, count), this.dtype);
  }

  /** Items in order, from `start` (default 0) to `end` (exclusive, default all), streamed. */
  async *items(start = 0, end = this.length): AsyncGenerator<{ index: number; data: IdxArray }> {
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > this.length || start > end) throw new RangeError(`${this.path}: items(${start}, ${end}) is outside [0, ${this.length}]`);
    const ib = this.itemBytes;
    if (!this.gzipped || this.inflated) {
      const block = Math.max(1, Math.floor((1 << 20) / Math.max(1, ib)));
      for (let s = start; s < end; s += block) {
        const n = Math.min(block, end - s);
        const bytes = await this.bytesAt(s, n);
        for (let k = 0; k < n; k++) yield { index: s + k, data: decodeElements(bytes.subarray(k * ib, (k + 1) * ib), this.dtype) };
      }
      return;
    }
    // gzipped, not inflated: one pass through the decompressor
    let skip = this.header.headerBytes + start * ib;
    let pending = new Uint8Array(0);
    let index = start;
    if (ib === 0) { for (; index < end; index++) yield { index, data: allocate(this.dtype, 0) }; return; }
    for await (let c of gunzipChunks(this.path)) {
      if (skip >= c.length) { skip -= c.length; continue; }
      c = c.subarray(skip); skip = 0;
      let buf: Uint8Array = c;
      if (pending.length) { buf = new Uint8Array(pending.length + c.length); buf.set(pending); buf.set(c, pending.length); }
      let o = 0;
      while (o + ib <= buf.length && index < end) { yield { index, data: decodeElements(buf.subarray(o, o + ib), this.dtype) }; index++; o += ib; }
      if (index >= end) return;
      pending = new Uint8Array(buf.subarray(o));
    }
    if (index < end) throw new IdxFormatError(this.path, `data is truncated: the stream ended after ${index} of ${this.length} items`);
  }

  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = null;
    this.inflated = null;
    if (fh) await fh.close();
  }
}

/** One IDX image as ImageTokenizer's raw form: values in [0, 1] for uint8 files (as stored otherwise), CHW. */
export interface IdxImage { data: Float32Array; height: number; width: number; channels: number }

/**
 * An image file ([N, H, W] or [N, H, W, C]) with an optional label file ([N]) as MNIST ships them, read one
 * item at a time.
 */
export class IdxImageDataset {
  readonly length: number;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  private constructor(readonly images: IdxReader, readonly labels: IdxReader | null) {
    this.length = images.length;
    this.height = images.shape[1]!;
    this.width = images.shape[2]!;
    this.channels = images.shape[3] ?? 1;
  }

  static async open(imagesPath: string, labelsPath?: string): Promise<IdxImageDataset> {
    const images = await IdxReader.open(imagesPath);
    let labels: IdxReader | null = null;
    try {
      if (images.shape.length !== 3 && images.shape.length !== 4) throw new IdxFormatError(imagesPath, `an image file must be [N, H, W] or [N, H, W, C], got shape ${fmt(images.shape)}`);
      if (labelsPath !== undefined) {
        labels = await IdxReader.open(labelsPath);
        if (labels.shape.length !== 1) throw new IdxFormatError(labelsPath, `a label file must be 1-D [N], got shape ${fmt(labels.shape)}`);
        if (labels.dtype === 'float32' || labels.dtype === 'float64') throw new IdxFormatError(labelsPath, `labels must be integers, the file holds ${labels.dtype}`);
        if (labels.length !== images.length) throw new IdxFormatError(labelsPath, `has ${labels.length} labels but ${imagesPath} has ${images.length} images`);
      }
    } catch (e) {
      await images.close();
      await labels?.close();
      throw e;
    }
    return new IdxImageDataset(images, labels);
  }

  /** Image i as { data (CHW float32), height, width, channels }. */
  async image(i: number): Promise<IdxImage> {
    const raw = await this.images.get(i);
    const H = this.height, W = this.width, C = this.channels, plane = H * W;
    const scale = this.images.dtype === 'uint8' ? 1 / 255 : 1;
    const data = new Float32Array(raw.length);
    if (C === 1) for (let k = 0; k < raw.length; k++) data[k] = raw[k]! * scale;
    else for (let p = 0; p < plane; p++) for (let c = 0; c < C; c++) data[c * plane + p] = raw[p * C + c]! * scale;
    return { data, height: H, width: W, channels: C };
  }

  async label(i: number): Promise<number> {
    if (!this.labels) throw new Error(`${this.images.path}: no label file was given`);
    return (await this.labels.get(i))[0]!;
  }

  async get(i: number): Promise<{ image: IdxImage; label: number | null }> {
    return { image: await this.image(i), label: this.labels ? await this.label(i) : null };
  }

  /** All labels at once (N small integers: fine to hold, e.g. for a stratified split). */
  async allLabels(): Promise<Int32Array> {
    if (!this.labels) throw new Error(`${this.images.path}: no label file was given`);
    return Int32Array.from(await this.labels.getRange(0, this.length) as ArrayLike<number>);
  }

  async close(): Promise<void> {
    await this.images.close();
    await this.labels?.close();
  }
}
