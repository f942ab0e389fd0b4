// The subset of ZIP that torch.save writes and torch.load reads: stored (uncompressed) entries, data aligned to
// 64 bytes with an 'FB' padding extra field as PyTorch does, and ZIP64 records whenever a size, an offset or
// the entry count overflows the 32/16-bit fields. Reading parses the central directory from the end of the
// file, so a multi-gigabyte archive is never loaded whole: callers read each entry's bytes by position.
import { writeAtomicWith, writeAtomicWithSync } from './atomic.js';
import * as zlib from 'node:zlib';

export class ZipError extends Error {
  override name = 'ZipError';
}

export interface ZipEntry {
  name: string;
  /** 0 = stored, 8 = deflate. */
  method: number;
  compressedSize: number;
  size: number;
  crc32: number;
  localHeaderOffset: number;
}

const SIG_LOCAL = 0x04034b50, SIG_CENTRAL = 0x02014b50, SIG_EOCD = 0x06054b50, SIG_EOCD64 = 0x06064b50, SIG_LOC64 = 0x07064b50;
const U32_MAX = 0xffffffff, U16_MAX = 0xffff;

/** Bytes to read from the end of a file to be sure to hold the EOCD record (with a maximal comment) and the ZIP64 locator. */
export const ZIP_TAIL_BYTES = 22 + 65535 + 20;

function u64(dv: DataView, at: number, what: string): number {
  const v = dv.getBigUint64(at, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ZipError(`${what} ${v} is too large`);
  return Number(v);
}

/**
 * Locate the central directory from the file's last bytes (`tail`, which ends at `fileSize`). Returns its
 * offset and size, or the offset of a ZIP64 end record that must be read next (56 bytes).
 */
export function parseZipTail(tail: Uint8Array, fileSize: number): { cdOffset: number; cdSize: number; entries: number } | { eocd64Offset: number } {
  const dv = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
  const base = fileSize - tail.length;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (dv.getUint32(i, true) !== SIG_EOCD) continue;
    const commentLen = dv.getUint16(i + 20, true);
    if (i + 22 + commentLen !== tail.length) continue; // a signature inside the comment or data
    const entries = dv.getUint16(i + 10, true), cdSize = dv.getUint32(i + 12, true), cdOffset = dv.getUint32(i + 16, true);
    if (i >= 20 && dv.getUint32(i - 20, true) === SIG_LOC64) return { eocd64Offset: u64(dv, i - 20 + 8, 'ZIP64 end record offset') };
    if (entries === U16_MAX || cdSize === U32_MAX || cdOffset === U32_MAX) throw new ZipError('ZIP64 fields are set but the ZIP64 end-record locator is missing');
    if (cdOffset + cdSize > base + i) throw new ZipError(`central directory [${cdOffset}, ${cdOffset + cdSize}) overlaps the end record at byte ${base + i}`);
    return { cdOffset, cdSize, entries };
  }
  throw new ZipError('no end-of-central-directory record (the archive is truncated or corrupt)');
}

/** Parse the 56-byte ZIP64 end-of-central-directory record. */
export function parseZip64End(rec: Uint8Array): { cdOffset: number; cdSize: number; entries: number } {
  if (rec.length < 56) throw new ZipError('truncated ZIP64 end record');
  const dv = new DataView(rec.buffer, rec.byteOffset, rec.byteLength);
  if (dv.getUint32(0, true) !== SIG_EOCD64) throw new ZipError('bad ZIP64 end-record signature');
  return { entries: u64(dv, 32, 'entry count'), cdSize: u64(dv, 40, 'central directory size'), cdOffset: u64(dv, 48, 'central directory offset') };
}

/** Parse central-directory records (ZIP64 extra fields included). */
export function parseCentralDirectory(cd: Uint8Array, expected: number): ZipEntry[] {
  const dv = new DataView(cd.buffer, cd.byteOffset, cd.byteLength);
  const out: ZipEntry[] = [];
  let p = 0;
  const dec = new TextDecoder('utf-8');
  while (p + 46 <= cd.length && dv.getUint32(p, true) === SIG_CENTRAL) {
    const flags = dv.getUint16(p + 8, true), method = dv.getUint16(p + 10, true);
    const crc32 = dv.getUint32(p + 16, true);
    let compressedSize = dv.getUint32(p + 20, true), size = dv.getUint32(p + 24, true);
    const nameLen = dv.getUint16(p + 28, true), extraLen = dv.getUint16(p + 30, true), commentLen = dv.getUint16(p + 32, true);
    let localHeaderOffset = dv.getUint32(p + 42, true);
    if (p + 46 + nameLen + extraLen + commentLen > cd.length) throw new ZipError(`central directory record ${out.length} is truncated`);
    const name = dec.decode(cd.subarray(p + 46, p + 46 + nameLen));
    if (flags & 1) throw new ZipError(`entry '${name}' is encrypted`);
    let e = p + 46 + nameLen;
    const eEnd = e + extraLen;
    while (e + 4 <= eEnd) {
      const id = dv.getUint16(e, true), len = dv.getUint16(e + 2, true);
      if (id === 0x0001) {
        let q = e + 4;
        const next = (what: string): number => {
          if (q + 8 > e + 4 + len) throw new ZipError(`entry '${name}': ZIP64 extra field lacks the ${what}`);
          const v = u64(dv, q, `entry '${name}' ${what}`); q += 8; return v;
        };
        if (size === U32_MAX) size = next('size');
        if (compressedSize === U32_MAX) compressedSize = next('compressed size');
        if (localHeaderOffset === U32_MAX) localHeaderOffset = next('header offset');
      }
      e += 4 + len;
    }
    out.push({ name, method, compressedSize, size, crc32, localHeaderOffset });
    p += 46 + nameLen + extraLen + commentLen;
  }
  if (out.length !== expected) throw new ZipError(`central directory holds ${out.length} records, the end record says ${expected}`);
  return out;
}

/** Offset of an entry's data, from its 30-byte local header (whose name and extra lengths may differ from the central record's). */
export function localDataOffset(header: Uint8Array, entry: ZipEntry): number {
  if (header.length < 30) throw new ZipError(`entry '${entry.name}': local header at byte ${entry.localHeaderOffset} is truncated`);
  const dv = new DataView(header.buffer, header.byteOffset, header.byteLength);
  if (dv.getUint32(0, true) !== SIG_LOCAL) throw new ZipError(`entry '${entry.name}': no local header at byte ${entry.localHeaderOffset}`);
  return entry.localHeaderOffset + 30 + dv.getUint16(26, true) + dv.getUint16(28, true);
}

/** Decompress an entry's bytes when it is deflated (torch writes stored entries; re-zipped archives may not be). */
export function inflateEntry(entry: ZipEntry, data: Uint8Array): Uint8Array {
  if (entry.method === 0) return data;
  if (entry.method !== 8) throw new ZipError(`entry '${entry.name}': compression method ${entry.method} is not supported (only stored and deflate)`);
  const out = zlib.inflateRawSync(data);
  if (out.length !== entry.size) throw new ZipError(`entry '${entry.name}': inflated to ${out.length} bytes, expected ${entry.size}`);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

// ---- CRC-32 ----

let crcTable: Int32Array | null = null;
function crc32Js(data: Uint8Array, crc: number): number {
  if (!crcTable) {
    crcTable = new Int32Array(256);
    for (let n = 0; n < 256; n++) { let c = n; for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1; crcTable[n] = c; }
  }
  let c = ~crc;
  for (let i = 0; i < data.length; i++) c = crcTable[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
const nativeCrc = (zlib as unknown as { crc32?: (d: Uint8Array, v?: number) => number }).crc32;
/** CRC-32 (zlib's native one on Node >= 20.15, a table otherwise). */
export function crc32(data: Uint8Array, crc = 0): number {
  return nativeCrc ? nativeCrc(data, crc) >>> 0 : crc32Js(data, crc);
}

// ---- writing ----

/** An entry to write: its bytes as one or more chunks (tensor data is written without copying). */
export interface ZipWriteEntry { name: string; chunks: Uint8Array[] }

export interface ZipWriteOptions {
  /** Called after each entry with bytes written so far and the total. */
  onProgress?: (written: number, total: number) => void;
  /**
   * Start the archive this many bytes into the file (the bytes before it are left as a hole). Offsets stay
   * absolute, as in self-extracting archives; used to test ZIP64 offsets without writing gigabytes.
   */
  offset?: number;
  /** Align entry data to this many bytes (default 64, as PyTorch does). */
  align?: number;
}

/** Yields [position, bytes] writes of a stored ZIP archive. */
function* zipWrites(entries: ZipWriteEntry[], opts: ZipWriteOptions): Generator<[number, Uint8Array]> {
  const align = opts.align ?? 64;
  const enc = new TextEncoder();
  let pos = opts.offset ?? 0;
  const total = entries.reduce((a, e) => a + e.chunks.reduce((b, c) => b + c.byteLength, 0), 0);
  let done = 0;
  const central: Uint8Array[] = [];
  for (const entry of entries) {
    const name = enc.encode(entry.name);
    let size = 0, crc = 0;
    for (const c of entry.chunks) { size += c.byteLength; crc = crc32(c, crc); }
    const offset = pos;
    const zip64 = size >= U32_MAX || offset >= U32_MAX;
    // local header: ZIP64 extra carries both sizes when they overflow (the header offset is central-only)
    const local64 = size >= U32_MAX ? 20 : 0;
    const before = offset + 30 + name.length + local64;
    let pad = (align - ((before + 4) % align)) % align;
    const local = new Uint8Array(30 + name.length + local64 + 4 + pad);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, SIG_LOCAL, true);
    lv.setUint16(4, zip64 ? 45 : 20, true);
    lv.setUint16(6, 0x0800, true); // UTF-8 names
    lv.setUint16(8, 0, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, size >= U32_MAX ? U32_MAX : size, true);
    lv.setUint32(22, size >= U32_MAX ? U32_MAX : size, true);
    lv.setUint16(26, name.length, true);
    lv.setUint16(28, local64 + 4 + pad, true);
    local.set(name, 30);
    let q = 30 + name.length;
    if (local64) {
      lv.setUint16(q, 0x0001, true); lv.setUint16(q + 2, 16, true);
      lv.setBigUint64(q + 4, BigInt(size), true); lv.setBigUint64(q + 12, BigInt(size), true);
      q += 20;
    }
    lv.setUint16(q, 0x4246, true); // 'FB': PyTorch's alignment padding field
    lv.setUint16(q + 2, pad, true);
    local.fill(0x5a, q + 4, q + 4 + pad);
    yield [pos, local];
    pos += local.length;
    for (const c of entry.chunks) { if (c.byteLength) yield [pos, c]; pos += c.byteLength; }
    done += size;
    opts.onProgress?.(done, total);

    const c64: number[] = [];
    if (size >= U32_MAX) c64.push(size, size);
    if (offset >= U32_MAX) c64.push(offset);
    const cExtra = c64.length ? 4 + 8 * c64.length : 0;
    const cen = new Uint8Array(46 + name.length + cExtra);
    const cv = new DataView(cen.buffer);
    cv.setUint32(0, SIG_CENTRAL, true);
    cv.setUint16(4, zip64 ? 45 : 20, true);
    cv.setUint16(6, zip64 ? 45 : 20, true);
    cv.setUint16(8, 0x0800, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, size >= U32_MAX ? U32_MAX : size, true);
    cv.setUint32(24, size >= U32_MAX ? U32_MAX : size, true);
    cv.setUint16(28, name.length, true);
    cv.setUint16(30, cExtra, true);
    cv.setUint32(42, offset >= U32_MAX ? U32_MAX : offset, true);
    cen.set(name, 46);
    if (cExtra) {
      cv.setUint16(46 + name.length, 0x0001, true);
      cv.setUint16(48 + name.length, 8 * c64.length, true);
      c64.forEach((v, i) => cv.setBigUint64(50 + name.length + 8 * i, BigInt(v), true));
    }
    central.push(cen);
    pad = 0;
  }
  const cdOffset = pos;
  for (const c of central) { yield [pos, c]; pos += c.length; }
  const cdSize = pos - cdOffset;
  const need64 = entries.length >= U16_MAX || cdOffset >= U32_MAX || cdSize >= U32_MAX;
  if (need64) {
    const rec = new Uint8Array(56 + 20);
    const rv = new DataView(rec.buffer);
    rv.setUint32(0, SIG_EOCD64, true);
    rv.setBigUint64(4, 44n, true);
    rv.setUint16(12, 45, true);
    rv.setUint16(14, 45, true);
    rv.setBigUint64(24, BigInt(entries.length), true);
    rv.setBigUint64(32, BigInt(entries.length), true);
    rv.setBigUint64(40, BigInt(cdSize), true);
    rv.setBigUint64(48, BigInt(cdOffset), true);
    rv.setUint32(56, SIG_LOC64, true);
    rv.setBigUint64(56 + 8, BigInt(pos), true);
    rv.setUint32(56 + 16, 1, true);
    yield [pos, rec];
    pos += rec.length;
  }
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, SIG_EOCD, true);
  ev.setUint16(8, Math.min(entries.length, U16_MAX), true);
  ev.setUint16(10, Math.min(entries.length, U16_MAX), true);
  ev.setUint32(12, Math.min(cdSize, U32_MAX), true);
  ev.setUint32(16, Math.min(cdOffset, U32_MAX), true);
  yield [pos, end];
}

/** Write a stored ZIP archive to `path` atomically (temp file in the same folder, fsync, rename). */
export function writeZipSync(path: string, entries: ZipWriteEntry[], opts: ZipWriteOptions = {}): void {
  writeAtomicWithSync(path, (write) => { for (const [at, bytes] of zipWrites(entries, opts)) write(bytes, at); });
}

/** Asynchronous {@link writeZipSync}. */
export async function writeZip(path: string, entries: ZipWriteEntry[], opts: ZipWriteOptions = {}): Promise<void> {
  await writeAtomicWith(path, async (write) => { for (const [at, bytes] of zipWrites(entries, opts)) await write(bytes, at); });
}
