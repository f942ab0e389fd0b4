// NumPy's .npy format (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html):
//   magic "\x93NUMPY", major and minor version bytes, the header length (uint16 LE in version 1.0, uint32 LE in
//   2.0 and 3.0), then an ASCII (3.0: UTF-8) Python dict literal
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
//   padded with spaces and a final newline so that the data starts at a multiple of 64 bytes, then the raw
//   elements in C (row-major) or Fortran (column-major) order.
// Reading supports every numeric and bool dtype in either byte order (float16 is widened to float32; Fortran
// order is transposed to C order). Writing stores little-endian C-order arrays of the typed array's type.
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { f16ToF32 } from './safetensors.js';
import { writeFileAtomic, writeFileAtomicSync } from './atomic.js';

export type NpyDtype = 'bool' | 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64' | 'float16' | 'float32' | 'float64';

export type NpyData = Uint8Array | Int8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | BigInt64Array | BigUint64Array | Float32Array | Float64Array;

/** A decoded array: C-order values and the dtype stored in the file (float16 values come as a Float32Array). */
export interface NpyArray {
  shape: number[];
  dtype: NpyDtype;
  data: NpyData;
}

export class NpyError extends Error {
  override name = 'NpyError';
  constructor(readonly source: string, detail: string) { super(`${source}: ${detail}`); }
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

const KIND: Record<string, NpyDtype> = {
  b1: 'bool', i1: 'int8', u1: 'uint8', i2: 'int16', u2: 'uint16', i4: 'int32', u4: 'uint32', i8: 'int64', u8: 'uint64',
  f2: 'float16', f4: 'float32', f8: 'float64',
};
const DESCR: Record<NpyDtype, string> = {
  bool: '|b1', int8: '|i1', uint8: '|u1', int16: '<i2', uint16: '<u2', int32: '<i4', uint32: '<u4', int64: '<i8', uint64: '<u8',
  float16: '<f2', float32: '<f4', float64: '<f8',
};
const ITEM_BYTES: Record<NpyDtype, number> = {
  bool: 1, int8: 1, uint8: 1, int16: 2, uint16: 2, int32: 4, uint32: 4, int64: 8, uint64: 8, float16: 2, float32: 4, float64: 8,
};

// ---- the header dict: a tiny parser for the Python literal subset NumPy writes ----

type PyValue = string | number | boolean | null | PyValue[] | { [k: string]: PyValue };

function parsePyLiteral(text: string, source: string): PyValue {
  let i = 0;
  const fail = (what: string): never => { throw new NpyError(source, `malformed header: ${what} at offset ${i} in ${JSON.stringify(text.trim())}`); };
  const ws = (): void => { while (i < text.length && /\s/.test(text[i]!)) i++; };
  const value = (): PyValue => {
    ws();
    const c = text[i];
    if (c === "'" || c === '"') {
      const q = c; i++;
      let s = '';
      while (i < text.length && text[i] !== q) { if (text[i] === '\\') i++; s += text[i++]; }
      if (text[i] !== q) fail('unterminated string');
      i++;
      return s;
    }
    if (c === '{' || c === '(' || c === '[') {
      const close = c === '{' ? '}' : c === '(' ? ')' : ']';
      i++;
      const obj: Record<string, PyValue> = {};
      const arr: PyValue[] = [];
      for (;;) {
        ws();
        if (text[i] === close) { i++; break; }
        const v = value();
        if (c === '{') {
          ws();
          if (text[i] !== ':') fail("expected ':'");
          i++;
          if (typeof v !== 'string') fail('dict keys must be strings');
          obj[v as string] = value();
        } else arr.push(v);
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === close) { i++; break; }
        fail(`expected ',' or '${close}'`);
      }
      return c === '{' ? obj : arr;
    }
    const m = /^(True|False|None|-?\d+L?)/.exec(text.slice(i));
    if (!m) return fail('unexpected token');
    i += m[0].length;
    if (m[0] === 'True') return true;
    if (m[0] === 'False') return false;
    if (m[0] === 'None') return null;
    return Number(m[0].replace('L', ''));
  };
  const v = value();
  ws();
  if (i !== text.length) fail('trailing characters');
  return v;
}

function parseDescr(descr: PyValue, source: string): { dtype: NpyDtype; littleEndian: boolean } {
  if (typeof descr !== 'string') throw new NpyError(source, `structured dtypes are not supported (descr ${JSON.stringify(descr)}); save a plain numeric array`);
  const m = /^([<>|=]?)([biuf]\d+)$/.exec(descr);
  const dtype = m ? KIND[m[2]!] : undefined;
  if (!m || !dtype) throw new NpyError(source, `unsupported dtype '${descr}' (supported: bool, int8-64, uint8-64, float16/32/64)`);
  const order = m[1] === '>' ? 'big' : 'little'; // '|' (not applicable) and '=' (native: little on every supported host)
  return { dtype, littleEndian: order === 'little' };
}

function allocateFor(dtype: NpyDtype, n: number): NpyData {
  switch (dtype) {
    case 'bool': case 'uint8': return new Uint8Array(n);
    case 'int8': return new Int8Array(n);
    case 'int16': return new Int16Array(n);
    case 'uint16': return new Uint16Array(n);
    case 'int32': return new Int32Array(n);
    case 'uint32': return new Uint32Array(n);
    case 'int64': return new BigInt64Array(n);
    case 'uint64': return new BigUint64Array(n);
    case 'float16': case 'float32': return new Float32Array(n);
    case 'float64': return new Float64Array(n);
  }
}

function readElements(view: DataView, offset: number, dtype: NpyDtype, n: number, le: boolean): NpyData {
  const out = allocateFor(dtype, n);
  const w = ITEM_BYTES[dtype];
  if (dtype === 'float16') {
    const bits = new Uint16Array(n);
    for (let k = 0; k < n; k++) bits[k] = view.getUint16(offset + k * w, le);
    return f16ToF32(bits);
  }
  for (let k = 0, o = offset; k < n; k++, o += w) {
    switch (dtype) {
      case 'bool': (out as Uint8Array)[k] = view.getUint8(o) ? 1 : 0; break;
      case 'uint8': (out as Uint8Array)[k] = view.getUint8(o); break;
      case 'int8': (out as Int8Array)[k] = view.getInt8(o); break;
      case 'int16': (out as Int16Array)[k] = view.getInt16(o, le); break;
      case 'uint16': (out as Uint16Array)[k] = view.getUint16(o, le); break;
      case 'int32': (out as Int32Array)[k] = view.getInt32(o, le); break;
      case 'uint32': (out as Uint32Array)[k] = view.getUint32(o, le); break;
      case 'int64': (out as BigInt64Array)[k] = view.getBigInt64(o, le); break;
      case 'uint64': (out as BigUint64Array)[k] = view.getBigUint64(o, le); break;
      case 'float32': (out as Float32Array)[k] = view.getFloat32(o, le); break;
      case 'float64': (out as Float64Array)[k] = view.getFloat64(o, le); break;
    }
  }
  return out;
}

/** Fortran (column-major) order -> C (row-major) order. */
function fortranToC<T extends NpyData>(data: T, shape: readonly number[]): T {
  if (shape.length < 2) return data;
  const out = new (data.constructor as new (n: number) => T)(data.length);
  const n = data.length, r = shape.length;
  const idx = new Array<number>(r).fill(0);
  const fStride = new Array<number>(r);
  fStride[0] = 1;
  for (let d = 1; d < r; d++) fStride[d] = fStride[d - 1]! * shape[d - 1]!;
  for (let c = 0; c < n; c++) {
    let f = 0;
    for (let d = 0; d < r; d++) f += idx[d]! * fStride[d]!;
    (out as unknown as unknown[])[c] = (data as unknown as unknown[])[f];
    for (let d = r - 1; d >= 0; d--) { if (++idx[d]! < shape[d]!) break; idx[d] = 0; }
  }
  return out;
}

/** Decode .npy bytes. `source` names the file in error messages. */
export function decodeNpy(bytes: Uint8Array, source = '<buffer>'): NpyArray {
  if (bytes.length < 10 || MAGIC.some((b, k) => bytes[k] !== b)) throw new NpyError(source, 'not a .npy file (missing the \\x93NUMPY magic)');
  const major = bytes[6]!, minor = bytes[7]!;
  if (major < 1 || major > 3) throw new NpyError(source, `unsupported .npy format version ${major}.${minor}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lenBytes = major === 1 ? 2 : 4;
  if (bytes.length < 8 + lenBytes) throw new NpyError(source, 'truncated header');
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = 8 + lenBytes;
  if (start + headerLen > bytes.length) throw new NpyError(source, `header length ${headerLen} runs past the end of the file (${bytes.length} bytes)`);
  const headerText = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(start, start + headerLen));
  const header = parsePyLiteral(headerText, source);
  if (!header || typeof header !== 'object' || Array.isArray(header)) throw new NpyError(source, 'header is not a dict');
  for (const k of ['descr', 'fortran_order', 'shape']) if (!(k in header)) throw new NpyError(source, `header has no '${k}' key`);
  const { dtype, littleEndian } = parseDescr(header.descr!, source);
  const shapeV = header.shape;
  if (!Array.isArray(shapeV) || shapeV.some((d) => typeof d !== 'number' || !Number.isInteger(d) || d < 0)) throw new NpyError(source, `invalid shape ${JSON.stringify(shapeV)}`);
  const shape = shapeV as number[];
  const n = shape.reduce((a, b) => a * b, 1);
  const dataStart = start + headerLen;
  const need = n * ITEM_BYTES[dtype];
  if (bytes.length - dataStart < need) {
    throw new NpyError(source, `data is truncated: shape [${shape.join(', ')}] of ${dtype} needs ${need} bytes, the file has ${bytes.length - dataStart}`);
  }
  let data = readElements(view, dataStart, dtype, n, littleEndian);
  if (header.fortran_order === true) data = fortranToC(data, shape);
  return { shape, dtype, data };
}

export async function readNpy(path: string): Promise<NpyArray> { return decodeNpy(await readFile(path), path); }
export function readNpySync(path: string): NpyArray { return decodeNpy(readFileSync(path), path); }

function dtypeOf(data: NpyData, asBool: boolean): NpyDtype {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof BigUint64Array) return 'uint64';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Uint32Array) return 'uint32';
  if (data instanceof Int16Array) return 'int16';
  if (data instanceof Uint16Array) return 'uint16';
  if (data instanceof Int8Array) return 'int8';
  if (data instanceof Uint8Array) return asBool ? 'bool' : 'uint8';
  throw new TypeError('encodeNpy: unsupported data array');
}

/** Encode an array as .npy (format 1.0, or 2.0 when the header needs it), little-endian, C order. */
export function encodeNpy(array: { shape: readonly number[]; data: NpyData }, opts: { bool?: boolean } = {}): Uint8Array {
  const { shape, data } = array;
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) throw new NpyError('encodeNpy', `invalid shape [${shape.join(', ')}]`);
  const n = shape.reduce((a, b) => a * b, 1);
  if (n !== data.length) throw new NpyError('encodeNpy', `shape [${shape.join(', ')}] has ${n} elements, the data ${data.length}`);
  const dtype = dtypeOf(data, opts.bool ?? false);
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '${DESCR[dtype]}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  let major = 1;
  let lenBytes = 2;
  let total = Math.ceil((8 + lenBytes + dict.length + 1) / 64) * 64;
  if (total - 8 - lenBytes > 0xffff) { major = 2; lenBytes = 4; total = Math.ceil((8 + lenBytes + dict.length + 1) / 64) * 64; }
  const headerLen = total - 8 - lenBytes;
  const header = dict.padEnd(headerLen - 1, ' ') + '\n';
  const out = new Uint8Array(total + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = major; out[7] = 0;
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, headerLen, true); else view.setUint32(8, headerLen, true);
  for (let k = 0; k < header.length; k++) out[8 + lenBytes + k] = header.charCodeAt(k);
  const LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  if (!LE) throw new NpyError('encodeNpy', 'big-endian hosts are not supported');
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), total);
  return out;
}

/** Write an array to a .npy file atomically. */
export async function writeNpy(path: string, array: { shape: readonly number[]; data: NpyData }, opts: { bool?: boolean } = {}): Promise<void> {
  await writeFileAtomic(path, encodeNpy(array, opts));
}
export function writeNpySync(path: string, array: { shape: readonly number[]; data: NpyData }, opts: { bool?: boolean } = {}): void {
  writeFileAtomicSync(path, encodeNpy(array, opts));
}

/** Values as float32 (integers and bools converted; the source file name is used in errors for bigints out of range). */
export function npyToFloat32(a: NpyArray): Float32Array {
  if (a.data instanceof Float32Array) return a.data;
  const out = new Float32Array(a.data.length);
  for (let k = 0; k < out.length; k++) out[k] = Number(a.data[k]!);
  return out;
}
