// TorchScript archives (torch.jit.save; OpenAI's released CLIP .pt files are traced modules saved this way)
// read as a state dict, without running anything. The archive is a zip: `<name>/data.pkl` pickles the module
// tree as objects of `__torch__.*` classes (NEWOBJ, then BUILD with a dict of attributes: parameters and
// buffers are tensors made by torch._utils._rebuild_tensor_v2 over persistent storages `<name>/data/<key>`,
// submodules are further objects), next to `code/` (the TorchScript program, never read) and constants.
// The pickle goes through src/io/pickle.ts: `__torch__.*` classes become plain attribute bags (PyObject) and
// nothing else beyond the data-only allowlist is accepted. The tensors are named by walking the attributes
// (`visual.transformer.resblocks.0.attn.in_proj_weight`), as `module.state_dict()` would name them.
import { readFileSync } from 'node:fs';
import type { AnyTypedArray } from '../engine/dtype.js';
import { PickleError, PyGlobal, PyObject, unpickle, type GlobalHandler } from './pickle.js';
import { bf16ToF32, f16ToF32, type SafetensorsDtype, type StoredTensor } from './safetensors.js';
import { ZIP_TAIL_BYTES, inflateEntry, localDataOffset, parseCentralDirectory, parseZip64End, parseZipTail, type ZipEntry } from './zip.js';

export class TorchScriptError extends Error {
  override name = 'TorchScriptError';
  constructor(file: string, detail: string) { super(`TorchScript archive '${file}': ${detail}`); }
}

const STORAGE_DTYPES: Record<string, [SafetensorsDtype, number]> = {
  FloatStorage: ['F32', 4], HalfStorage: ['F16', 2], BFloat16Storage: ['BF16', 2], DoubleStorage: ['F64', 8], LongStorage: ['I64', 8],
  IntStorage: ['I32', 4], ShortStorage: ['I16', 2], CharStorage: ['I8', 1], ByteStorage: ['U8', 1], BoolStorage: ['BOOL', 1],
};

class StorageRef { constructor(readonly key: string, readonly dtype: SafetensorsDtype, readonly numel: number, readonly elementBytes: number) {} }
class TensorRef { constructor(readonly storage: StorageRef, readonly offset: number, readonly shape: number[], readonly stride: number[]) {} }

function zipEntries(file: string, bytes: Uint8Array): ZipEntry[] {
  const size = bytes.length;
  const tailLen = Math.min(size, ZIP_TAIL_BYTES);
  let dir = parseZipTail(bytes.subarray(size - tailLen), size);
  if ('eocd64Offset' in dir) dir = parseZip64End(bytes.subarray(dir.eocd64Offset, dir.eocd64Offset + 56));
  if (dir.cdOffset + dir.cdSize > size) throw new TorchScriptError(file, 'central directory lies beyond the end of the file');
  return parseCentralDirectory(bytes.subarray(dir.cdOffset, dir.cdOffset + dir.cdSize), dir.entries);
}

function entryData(file: string, bytes: Uint8Array, e: ZipEntry): Uint8Array {
  const pos = localDataOffset(bytes.subarray(e.localHeaderOffset, e.localHeaderOffset + 30), e);
  if (pos + e.compressedSize > bytes.length) throw new TorchScriptError(file, `entry '${e.name}' extends beyond the end of the file`);
  return inflateEntry(e, bytes.subarray(pos, pos + e.compressedSize));
}

/** A whole storage decoded to the engine's element types (float32 / int64 / bool). */
function decodeStorage(raw: Uint8Array, s: StorageRef): AnyTypedArray {
  const { dtype, numel } = s;
  if (raw.length < numel * s.elementBytes) throw new Error(`storage '${s.key}' holds ${raw.length} bytes, ${numel} ${dtype} elements need ${numel * s.elementBytes}`);
  const copy = raw.slice(0, numel * s.elementBytes); // aligned, owned
  const buf = copy.buffer;
  switch (dtype) {
    case 'F32': return new Float32Array(buf, 0, numel);
    case 'F16': return f16ToF32(new Uint16Array(buf, 0, numel));
    case 'BF16': return bf16ToF32(new Uint16Array(buf, 0, numel));
    case 'F64': return Float32Array.from(new Float64Array(buf, 0, numel));
    case 'I64': return new BigInt64Array(buf, 0, numel);
    case 'I32': return BigInt64Array.from(new Int32Array(buf, 0, numel), (v) => BigInt(v));
    case 'I16': return BigInt64Array.from(new Int16Array(buf, 0, numel), (v) => BigInt(v));
    case 'I8': return BigInt64Array.from(new Int8Array(buf, 0, numel), (v) => BigInt(v));
    case 'U8': return BigInt64Array.from(copy, (v) => BigInt(v));
    case 'BOOL': return copy.map((v) => (v ? 1 : 0));
    default: throw new Error(`unsupported storage type ${dtype}`);
  }
}

/** The strided view (offset, shape, stride) of a decoded storage, copied out contiguously. */
function gatherStrided(src: AnyTypedArray, t: TensorRef): AnyTypedArray {
  const n = t.shape.reduce((a, b) => a * b, 1);
  const out = new (src.constructor as new (n: number) => AnyTypedArray)(n);
  const rank = t.shape.length;
  const idx = new Array<number>(rank).fill(0);
  for (let i = 0; i < n; i++) {
    let p = t.offset;
    for (let d = 0; d < rank; d++) p += idx[d]! * t.stride[d]!;
    (out as unknown as number[])[i] = (src as unknown as number[])[p]!;
    for (let d = rank - 1; d >= 0; d--) { if (++idx[d]! < t.shape[d]!) break; idx[d] = 0; }
  }
  return out;
}

/** Is this zip a TorchScript archive (code/ and constants.pkl next to data.pkl)? */
export function isTorchScriptZip(names: readonly string[]): boolean {
  return names.some((n) => /(^|\/)constants\.pkl$/.test(n) || /(^|\/)code\//.test(n));
}

/**
 * Read the parameters and buffers of a TorchScript archive by attribute path. Float types widen to float32,
 * integer types to int64 (as the safetensors and torch.save readers do).
 */
export function readTorchScriptArchive(file: string): Map<string, StoredTensor> {
  const bytes = new Uint8Array(readFileSync(file));
  const entries = zipEntries(file, bytes);
  const pkl = entries.find((e) => /^[^/]+\/data\.pkl$/.test(e.name));
  if (!pkl || !isTorchScriptZip(entries.map((e) => e.name))) throw new TorchScriptError(file, 'not a torch.jit.save archive (no <name>/data.pkl next to code/ and constants.pkl)');
  const prefix = pkl.name.slice(0, -'data.pkl'.length);
  const data = entryData(file, bytes, pkl);

  const identity: GlobalHandler = (a) => a[0];
  const globals: Record<string, GlobalHandler> = {
    'torch._utils._rebuild_tensor_v2': (a, { global }) => {
      const [storage, offset, shape, stride] = a;
      if (!(storage instanceof StorageRef) || typeof offset !== 'number' || !Array.isArray(shape) || !Array.isArray(stride)) throw new PickleError(`${global}: unexpected arguments`);
      return new TensorRef(storage, offset, shape.map(Number), stride.map(Number));
    },
    // typed containers of TorchScript values
    'torch.jit._pickle.restore_type_tag': identity, 'torch.jit._pickle.build_intlist': identity, 'torch.jit._pickle.build_doublelist': identity,
    'torch.jit._pickle.build_boollist': identity, 'torch.jit._pickle.build_tensorlist': identity,
  };
  const persistentLoad = (pid: unknown): StorageRef => {
    const [tag, type, key, , numel] = pid as unknown[];
    const name = type instanceof PyGlobal ? type.name : '';
    const info = STORAGE_DTYPES[name];
    if (tag !== 'storage' || !info || (typeof key !== 'string' && typeof key !== 'number') || typeof numel !== 'number') throw new PickleError(`unsupported persistent id ${String(pid)}`);
    return new StorageRef(String(key), info[0], numel, info[1]);
  };
  // The module classes are named by the archive (`__torch__.clip.model.CLIP`, mangled variants): each one
  // met is admitted as an attribute bag and the pickle read again.
  let root: unknown;
  for (let tries = 0; ; tries++) {
    try {
      root = unpickle(data, { globals, persistentLoad, source: pkl.name }).value;
      break;
    } catch (e) {
      const m = e instanceof PickleError ? /refusing to load global '([^']+)'/.exec(e.message) : null;
      if (!m || !m[1]!.startsWith('__torch__.') || tries > 10_000) throw e instanceof PickleError ? new TorchScriptError(file, e.message) : e;
      const cls = m[1]!;
      globals[cls] = () => new PyObject(cls);
    }
  }
  if (!(root instanceof PyObject)) throw new TorchScriptError(file, 'data.pkl does not hold a module object');
  const refs = new Map<string, TensorRef>();
  const walk = (obj: PyObject, path: string): void => {
    for (const [k, v] of obj.dict) {
      if (typeof k !== 'string') continue;
      const name = path ? `${path}.${k}` : k;
      if (v instanceof TensorRef) refs.set(name, v);
      else if (v instanceof PyObject) walk(v, name);
    }
  };
  walk(root, '');
  const byName = new Map(entries.map((e) => [e.name, e]));
  const storages = new Map<string, AnyTypedArray>();
  const out = new Map<string, StoredTensor>();
  for (const [name, t] of refs) {
    let s = storages.get(t.storage.key);
    if (!s) {
      const e = byName.get(`${prefix}data/${t.storage.key}`);
      if (!e) throw new TorchScriptError(file, `storage '${prefix}data/${t.storage.key}' of '${name}' is missing`);
      try { s = decodeStorage(entryData(file, bytes, e), t.storage); } catch (err) { throw new TorchScriptError(file, (err as Error).message); }
      storages.set(t.storage.key, s);
    }
    const n = t.shape.reduce((a, b) => a * b, 1);
    let lo = t.offset, hi = t.offset;
    for (let d = 0; d < t.shape.length; d++) { const span = (t.shape[d]! - 1) * t.stride[d]!; if (span < 0) lo += span; else hi += span; }
    if (t.shape.some((d) => !Number.isInteger(d) || d < 0) || (n > 0 && (lo < 0 || hi >= s.length))) throw new TorchScriptError(file, `tensor '${name}' [${t.shape.join(', ')}] lies outside its storage of ${s.length} elements`);
    out.set(name, { shape: t.shape, data: gatherStrided(s, t), storedDtype: t.storage.dtype });
  }
  return out;
}
