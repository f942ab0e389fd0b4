// The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian header length
// N, N bytes of JSON header `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?: {str: str}}`
// (offsets relative to the byte buffer that follows), then the raw little-endian tensor bytes.
// Reading turns every floating type into Float32Array, integer types into BigInt64Array and BOOL into
// Uint8Array (the engine's three dtypes); writing stores F32, I64 and BOOL.
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { AnyTypedArray } from '../engine/dtype.js';
import { Tensor } from '../engine/tensor.js';
import { writeFileAtomic, writeFileAtomicSync } from './atomic.js';

/** Element types this reader understands. */
export const SAFETENSORS_READ_DTYPES = ['F64', 'F32', 'F16', 'BF16', 'I64', 'I32', 'I16', 'I8', 'U8', 'U16', 'U32', 'BOOL'] as const;
export type SafetensorsDtype = (typeof SAFETENSORS_READ_DTYPES)[number];

const ELEMENT_BYTES: Record<SafetensorsDtype, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, U16: 2, U32: 4, BOOL: 1 };
/** The safetensors reference implementation refuses headers above 100 MB. */
const MAX_HEADER_BYTES = 100_000_000;

/** A decoded tensor: its shape, its values and the element type it was stored with. */
export interface StoredTensor {
  shape: number[];
  data: AnyTypedArray;
  /** Element type in the file (F16/BF16/... are widened to float32 on read). */
  storedDtype: SafetensorsDtype;
}

export interface SafetensorsContents {
  /** Tensors in file order (by data offset). */
  tensors: Map<string, StoredTensor>;
  /** The `__metadata__` string map (empty when absent). */
  metadata: Record<string, string>;
}

/** What can be written: a tensor with a value, or raw data with its shape. */
export type TensorSource = Tensor | { shape: readonly number[]; data: AnyTypedArray };

export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
  constructor(source: string, detail: string) { super(`safetensors ${source}: ${detail}`); }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
function requireLittleEndian(source: string): void {
  if (!LITTLE_ENDIAN) throw new SafetensorsError(source, 'big-endian hosts are not supported');
}

// ---- element conversions ----

let halfTable: Float32Array | null = null;
/** IEEE binary16 -> float32 for all 65536 bit patterns (subnormals, infinities and NaN included). */
function halfLookup(): Float32Array {
  if (halfTable) return halfTable;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) t[h] = sign * frac * 2 ** -24;
    else if (exp === 31) t[h] = frac ? NaN : sign * Infinity;
    else t[h] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  halfTable = t;
  return t;
}

/** Decode binary16 bit patterns to float32. */
export function f16ToF32(bits: Uint16Array): Float32Array {
  const lut = halfLookup();
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = lut[bits[i]!]!;
  return out;
}

/** Decode bfloat16 bit patterns (the top half of a float32) to float32. */
export function bf16ToF32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const u = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) u[i] = bits[i]! << 16;
  return out;
}

type ViewCtor<T> = { new (buffer: ArrayBufferLike, byteOffset: number, length: number): T; BYTES_PER_ELEMENT: number };

/** A typed view over `bytes[begin...]`, copied first when the offset is not aligned for the element type. */
function viewAt<T>(Ctor: ViewCtor<T>, bytes: Uint8Array, begin: number, count: number): T {
  const abs = bytes.byteOffset + begin;
  if (abs % Ctor.BYTES_PER_ELEMENT === 0) return new Ctor(bytes.buffer, abs, count);
  const copy = bytes.slice(begin, begin + count * Ctor.BYTES_PER_ELEMENT);
  return new Ctor(copy.buffer, 0, count);
}

function decodeTensor(dtype: SafetensorsDtype, bytes: Uint8Array, begin: number, count: number): AnyTypedArray {
  switch (dtype) {
    case 'F32': return viewAt(Float32Array, bytes, begin, count);
    case 'F64': return Float32Array.from(viewAt(Float64Array, bytes, begin, count));
    case 'F16': return f16ToF32(viewAt(Uint16Array, bytes, begin, count));
    case 'BF16': return bf16ToF32(viewAt(Uint16Array, bytes, begin, count));
    case 'I64': return viewAt(BigInt64Array, bytes, begin, count);
    case 'I32': return BigInt64Array.from(viewAt(Int32Array, bytes, begin, count), (v) => BigInt(v));
    case 'I16': return BigInt64Array.from(viewAt(Int16Array, bytes, begin, count), (v) => BigInt(v));
    case 'I8': return BigInt64Array.from(new Int8Array(bytes.buffer, bytes.byteOffset + begin, count), (v) => BigInt(v));
    case 'U8': return BigInt64Array.from(bytes.subarray(begin, begin + count), (v) => BigInt(v));
    case 'U16': return BigInt64Array.from(viewAt(Uint16Array, bytes, begin, count), (v) => BigInt(v));
    case 'U32': return BigInt64Array.from(viewAt(Uint32Array, bytes, begin, count), (v) => BigInt(v));
    case 'BOOL': return bytes.slice(begin, begin + count).map((v) => (v ? 1 : 0));
  }
}

// ---- reading ----

function isDtype(s: unknown): s is SafetensorsDtype {
  return typeof s === 'string' && (SAFETENSORS_READ_DTYPES as readonly string[]).includes(s);
}

/**
 * Decode a safetensors file held in memory. `source` names it in errors (a path). Float32 and int64 tensors
 * whose data is aligned are views into `bytes` (no copy); everything else is converted into a new array.
 */
export function decodeSafetensors(input: Uint8Array, source = '<buffer>'): SafetensorsContents {
  const src = `'${source}'`;
  // A plain Uint8Array view: Node Buffers' slice() does not copy, and results should be plain typed arrays.
  const bytes = new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  requireLittleEndian(src);
  if (bytes.byteLength < 8) throw new SafetensorsError(src, `truncated file: ${bytes.byteLength} bytes, shorter than the 8-byte header length`);
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(bytes.byteLength - 8)) throw new SafetensorsError(src, `truncated file: header claims ${n} bytes but only ${bytes.byteLength - 8} follow the length field`);
  const headerLen = Number(n);
  if (headerLen > MAX_HEADER_BYTES) throw new SafetensorsError(src, `header of ${headerLen} bytes exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  let header: unknown;
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes.subarray(8, 8 + headerLen));
  try {
    header = JSON.parse(text);
  } catch (err) {
    throw new SafetensorsError(src, `bad header JSON (${(err as Error).message}): ${JSON.stringify(text.slice(0, 80))}${text.length > 80 ? '...' : ''}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new SafetensorsError(src, 'bad header JSON: expected an object mapping tensor names to {dtype, shape, data_offsets}');
  const data = bytes.subarray(8 + headerLen);
  const metadata: Record<string, string> = {};
  const entries: [string, SafetensorsDtype, number[], number, number][] = [];
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof info !== 'object' || info === null || Array.isArray(info)) throw new SafetensorsError(src, '__metadata__ must be an object of strings');
      for (const [k, v] of Object.entries(info)) {
        if (typeof v !== 'string') throw new SafetensorsError(src, `__metadata__ entry '${k}' must be a string, got ${JSON.stringify(v)}`);
        metadata[k] = v;
      }
      continue;
    }
    const where = `tensor '${name}'`;
    if (typeof info !== 'object' || info === null) throw new SafetensorsError(src, `${where}: header entry must be an object, got ${JSON.stringify(info)}`);
    const { dtype, shape, data_offsets: offsets } = info as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!isDtype(dtype)) throw new SafetensorsError(src, `${where}: unsupported dtype ${JSON.stringify(dtype)} (supported: ${SAFETENSORS_READ_DTYPES.join(', ')})`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new SafetensorsError(src, `${where}: bad shape ${JSON.stringify(shape)}`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      throw new SafetensorsError(src, `${where}: bad data_offsets ${JSON.stringify(offsets)}, expected [begin, end]`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end || end > data.byteLength) {
      throw new SafetensorsError(src, `${where}: data_offsets [${begin}, ${end}] out of range for a data section of ${data.byteLength} bytes`);
    }
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    if (end - begin !== count * ELEMENT_BYTES[dtype]) {
      throw new SafetensorsError(src, `${where}: ${dtype} shape [${(shape as number[]).join(', ')}] needs ${count * ELEMENT_BYTES[dtype]} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`);
    }
    entries.push([name, dtype, shape as number[], begin, count]);
  }
  entries.sort((a, b) => a[3] - b[3]);
  const tensors = new Map<string, StoredTensor>();
  for (const [name, dtype, shape, begin, count] of entries) tensors.set(name, { shape, data: decodeTensor(dtype, data, begin, count), storedDtype: dtype });
  return { tensors, metadata };
}

/** Read and decode a safetensors file. */
export async function readSafetensors(path: string): Promise<SafetensorsContents> {
  return decodeSafetensors(await readFile(path), path);
}
export function readSafetensorsSync(path: string): SafetensorsContents {
  return decodeSafetensors(readFileSync(path), path);
}

// ---- writing ----

function storedType(data: AnyTypedArray): 'F32' | 'I64' | 'BOOL' {
  if (data instanceof Float32Array) return 'F32';
  if (data instanceof BigInt64Array) return 'I64';
  return 'BOOL';
}

function entryOf(name: string, t: TensorSource): { shape: number[]; data: AnyTypedArray } {
  if (t instanceof Tensor) {
    if (!t.isRealized) throw new SafetensorsError('(writing)', `tensor '${name}' is not realized yet: await its data() first`);
    return { shape: [...t.shape], data: t.value };
  }
  const size = t.shape.reduce((a, b) => a * b, 1);
  if (size !== t.data.length) throw new SafetensorsError('(writing)', `tensor '${name}': shape [${t.shape.join(', ')}] has ${size} elements but the data has ${t.data.length}`);
  return { shape: [...t.shape], data: t.data };
}

/**
 * Encode tensors (insertion order; laid out by element size, widest first, so every tensor stays aligned
 * without holes) and a string metadata map into safetensors bytes. float32 -> F32, int64 -> I64, bool -> BOOL.
 */
export function encodeSafetensors(tensors: Iterable<[string, TensorSource]> | Map<string, TensorSource>, metadata: Record<string, string> = {}): Uint8Array {
  requireLittleEndian('(writing)');
  const list = [...tensors].map(([name, t]) => {
    if (name === '__metadata__') throw new SafetensorsError('(writing)', "'__metadata__' is reserved and cannot name a tensor");
    const e = entryOf(name, t);
    return { name, ...e, dtype: storedType(e.data) };
  });
  const seen = new Set<string>();
  for (const { name } of list) { if (seen.has(name)) throw new SafetensorsError('(writing)', `duplicate tensor name '${name}'`); seen.add(name); }
  for (const [k, v] of Object.entries(metadata)) if (typeof v !== 'string') throw new SafetensorsError('(writing)', `metadata '${k}' must be a string`);
  const width = { I64: 8, F32: 4, BOOL: 1 } as const;
  const order = list.map((e, i) => ({ e, i })).sort((a, b) => width[b.e.dtype] - width[a.e.dtype] || a.i - b.i).map(({ e }) => e);
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const e of order) {
    header[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: [offset, offset + e.data.byteLength] };
    offset += e.data.byteLength;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil((8 + json.byteLength) / 8) * 8 - 8; // data starts 8-byte aligned; pad with spaces
  if (padded !== json.byteLength) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.byteLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.byteLength), true);
  out.set(json, 8);
  let pos = 8 + json.byteLength;
  for (const e of order) {
    out.set(new Uint8Array(e.data.buffer, e.data.byteOffset, e.data.byteLength), pos);
    pos += e.data.byteLength;
  }
  return out;
}

/** Write tensors to `path` as safetensors, atomically (temp file + fsync + rename). */
export async function writeSafetensors(path: string, tensors: Iterable<[string, TensorSource]> | Map<string, TensorSource>, metadata: Record<string, string> = {}): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}
export function writeSafetensorsSync(path: string, tensors: Iterable<[string, TensorSource]> | Map<string, TensorSource>, metadata: Record<string, string> = {}): void {
  writeFileAtomicSync(path, encodeSafetensors(tensors, metadata));
}
