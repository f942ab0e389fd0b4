// PyTorch checkpoints (.pth / .pt / .bin / .ckpt written by torch.save) read without Python and without running
// any of the pickle's code: the pickle goes through src/io/pickle.ts, whose allowlist accepts only tensors,
// storages, dtypes, containers and numpy scalars. Two layouts exist:
//   - zip (torch >= 1.6): `<name>/data.pkl` plus one stored entry `<name>/data/<key>` per storage;
//   - legacy (`_use_new_zipfile_serialization=False`): pickles of the magic number, the protocol version and
//     the system info, then the object pickle, then a pickle of the storage keys, then each storage as an
//     8-byte element count followed by its raw bytes.
// Storages are read by position, one at a time, straight into the buffers the tensors keep (float32 and int64
// storages without a copy), so a multi-gigabyte file is never loaded whole. Only the storages of the selected
// state dict are read (an optimizer state next to it in a wrapper costs nothing).
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { constants as bufferConstants } from 'node:buffer';
import type { AnyTypedArray } from '../engine/dtype.js';
import { PickleError, PickleTruncatedError, PyGlobal, PyObject, unpickle, type GlobalHandler } from './pickle.js';
import { f16ToF32, bf16ToF32, type SafetensorsDtype, type StoredTensor } from './safetensors.js';
import { ZIP_TAIL_BYTES, ZipError, inflateEntry, localDataOffset, parseCentralDirectory, parseZip64End, parseZipTail, type ZipEntry } from './zip.js';

export class TorchCheckpointError extends Error {
  override name = 'TorchCheckpointError';
  constructor(readonly file: string, detail: string, options?: { cause?: unknown }) {
    super(`torch checkpoint '${file}': ${detail}`, options);
  }
}

/** Storage classes -> element type in the safetensors vocabulary and bytes per element. */
const STORAGE_DTYPES: Record<string, [SafetensorsDtype, number]> = {
  FloatStorage: ['F32', 4], HalfStorage: ['F16', 2], BFloat16Storage: ['BF16', 2], DoubleStorage: ['F64', 8],
  LongStorage: ['I64', 8], IntStorage: ['I32', 4], ShortStorage: ['I16', 2], CharStorage: ['I8', 1],
  ByteStorage: ['U8', 1], BoolStorage: ['BOOL', 1], UntypedStorage: ['U8', 1],
};
/** torch.<dtype> tags (torch 2 passes the dtype of untyped storages in _rebuild_tensor_v2's metadata) */
const TORCH_DTYPE_TAGS: Record<string, SafetensorsDtype> = {
  float32: 'F32', float: 'F32', float16: 'F16', half: 'F16', bfloat16: 'BF16', float64: 'F64', double: 'F64',
  int64: 'I64', long: 'I64', int32: 'I32', int: 'I32', int16: 'I16', short: 'I16', int8: 'I8', uint8: 'U8', bool: 'BOOL',
};
const BYTES: Record<SafetensorsDtype, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, U16: 2, U32: 4, BOOL: 1 };

/** A storage named by a persistent id; its bytes are read only if a selected tensor uses it. */
class StorageRef {
  constructor(readonly key: string, readonly dtype: SafetensorsDtype, readonly numel: number, readonly location: string,
    /** Legacy storage views: elements skipped at the start of the root storage. */
    readonly viewOffset = 0, readonly rootKey = key) {}
}

/** A tensor as _rebuild_tensor_v2 describes it: a strided view of a storage. */
class TensorRef {
  constructor(readonly storage: StorageRef, readonly offset: number, readonly shape: number[], readonly stride: number[], readonly requiresGrad: boolean, readonly parameter = false) {}
}

export interface TorchCheckpointOptions {
  /**
   * Wrapper key holding the state dict (e.g. 'state_dict_ema'). By default the first of 'state_dict', 'model',
   * 'module', 'model_state_dict', 'model_state', 'network', 'net', 'params', 'weights', 'state_dict_ema',
   * 'model_ema', 'ema' is unwrapped (repeatedly) until a dict holding tensors is reached.
   */
  key?: string;
  /** Strip a `module.` prefix (DataParallel) when every key has it. Default true. */
  stripPrefix?: boolean;
  /** Called after each storage is read: bytes read so far and the total to read. */
  onProgress?: (read: number, total: number) => void;
  /**
   * 'refuse' (default): any global off the allowlist fails the whole file. 'inert': such globals become inert
   * records (never imported or called) and are listed in `inertGlobals`; useful for checkpoints whose tensors sit
   * next to custom classes (a Lightning .ckpt's hyper-parameters). Inert records inside the state dict are skipped.
   */
  unknownGlobals?: 'refuse' | 'inert';
}

export interface TorchCheckpointInfo {
  format: 'zip' | 'legacy';
  /** The selected state dict, keys in file order (prefix stripped). */
  tensors: Map<string, StoredTensor>;
  /** Wrapper keys descended through to reach the state dict, outermost first (empty for a bare state dict). */
  unwrapped: string[];
  /** Keys of the file's top-level dict (empty when the top level is not a dict). */
  topLevelKeys: string[];
  /** The key prefix that was stripped (`module.`), or null. */
  strippedPrefix: string | null;
  /** Tensors per element type in the file. */
  dtypeCounts: Partial<Record<SafetensorsDtype, number>>;
  /** Entries of the state dict that are not tensors (numpy scalars, ints, ...), left out of `tensors`. */
  skipped: string[];
  /** Parameters (nn.Parameter entries) among the tensors. */
  parameters: number;
  /** Sum of the stored bytes of the selected tensors. */
  bytes: number;
  /** Globals off the allowlist that were turned into inert records (only with unknownGlobals: 'inert'). */
  inertGlobals: string[];
}

const WRAPPER_KEYS = ['state_dict', 'model', 'module', 'model_state_dict', 'model_state', 'network', 'net', 'params', 'weights', 'state_dict_ema', 'model_ema', 'ema'];

// ---- the pickle's tensor globals ----

const int = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);
const intTuple = (v: unknown): v is number[] => Array.isArray(v) && v.every((d) => int(d) && d >= 0);

function rebuildTensor(args: unknown[], g: string, parameter = false): TensorRef {
  const [storage, offset, size, stride, requiresGrad] = args;
  if (!(storage instanceof StorageRef)) throw new PickleError(`${g}: first argument must be a storage, got ${String(storage)}`);
  if (!int(offset) || offset < 0) throw new PickleError(`${g}: bad storage offset ${String(offset)}`);
  if (!intTuple(size) || !intTuple(stride) || size.length !== stride.length) throw new PickleError(`${g}: bad size ${String(size)} / stride ${String(stride)}`);
  return new TensorRef(storage, offset, [...size], [...stride], requiresGrad === true, parameter);
}

const TENSOR_GLOBALS: Record<string, GlobalHandler> = {
  // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
  'torch._utils._rebuild_tensor_v2': (a, { global }) => { if (a.length < 4 || a.length > 7) throw new PickleError(`${global}: expected 4-7 arguments, got ${a.length}`); return rebuildTensor(a, global); },
  'torch._utils._rebuild_tensor': (a, { global }) => { if (a.length !== 4) throw new PickleError(`${global}: expected 4 arguments, got ${a.length}`); return rebuildTensor(a, global); },
  // (data, requires_grad, backward_hooks[, state])
  'torch._utils._rebuild_parameter': parameter,
  'torch._utils._rebuild_parameter_with_state': parameter,
  // torch 2 tensor subclasses: (func, new_type, args, state); only plain tensors and parameters are accepted.
  'torch._tensor._rebuild_from_type_v2': (a, ctx) => {
    const [func, type, args] = a;
    if (!(func instanceof PyGlobal) || !(func.qualified in TENSOR_GLOBALS)) throw new PickleError(`${ctx.global}: unsupported rebuild function ${String(func)}`);
    if (!(type instanceof PyGlobal) || !['torch.Tensor', 'torch._tensor.Tensor', 'torch.nn.parameter.Parameter'].includes(type.qualified)) {
      throw new PickleError(`${ctx.global}: tensor subclass ${type instanceof PyGlobal ? type.qualified : String(type)} is not supported`);
    }
    const t = TENSOR_GLOBALS[func.qualified]!(args as unknown[], { global: func.qualified });
    return type.qualified.endsWith('Parameter') && t instanceof TensorRef ? new TensorRef(t.storage, t.offset, t.shape, t.stride, t.requiresGrad, true) : t;
  },
};
function parameter(a: unknown[], { global }: { global: string }): TensorRef {
  if (a.length < 1 || !(a[0] instanceof TensorRef)) throw new PickleError(`${global}: first argument must be a tensor`);
  const t = a[0];
  return new TensorRef(t.storage, t.offset, t.shape, t.stride, a[1] === true, true);
}

/** persistent_load for both layouts: ('storage', storage_type, key, location, numel[, view_metadata]). */
function storageLoader(legacy: boolean): { load: (pid: unknown) => StorageRef; storages: Map<string, StorageRef> } {
  const storages = new Map<string, StorageRef>();
  const load = (pid: unknown): StorageRef => {
    if (!Array.isArray(pid) || pid[0] !== 'storage') {
      throw new PickleError(`unsupported persistent id ${Array.isArray(pid) ? `('${String(pid[0])}', ...)` : JSON.stringify(pid)}: only tensor storages can be loaded (a pickled nn.Module is refused)`);
    }
    const [, type, key, location, numel, view] = pid as unknown[];
    if (!(type instanceof PyGlobal)) throw new PickleError(`storage persistent id: storage type must be a torch storage class, got ${String(type)}`);
    const info = STORAGE_DTYPES[type.name];
    if (!info) throw new PickleError(`storage type '${type.qualified}' is not supported`);
    if (typeof key !== 'string' && !int(key)) throw new PickleError(`storage persistent id: bad key ${String(key)}`);
    if (!int(numel) || numel < 0) throw new PickleError(`storage '${String(key)}': bad element count ${String(numel)}`);
    const k = String(key);
    let root = storages.get(k);
    if (!root) {
      root = new StorageRef(k, info[0], numel, String(location), 0, k);
      storages.set(k, root);
    } else if (root.dtype !== info[0]) throw new PickleError(`storage '${k}' is used as both ${root.dtype} and ${info[0]}`);
    if (legacy && view !== undefined && view !== null) {
      // old torch storage views: (view_key, offset, view_size) into the root storage
      if (!Array.isArray(view) || view.length !== 3) throw new PickleError(`storage '${k}': bad view metadata ${String(view)}`);
      const [vk, off, vsize] = view as unknown[];
      if (!int(off) || !int(vsize) || off < 0 || vsize < 0 || off + vsize > numel) throw new PickleError(`storage view '${String(vk)}' [${String(off)}, +${String(vsize)}) exceeds its root storage '${k}' of ${numel} elements`);
      return new StorageRef(String(vk), info[0], vsize, String(location), off, k);
    }
    return root;
  };
  return { load, storages };
}

function unpickleCheckpoint(bytes: Uint8Array, legacy: boolean, source: string, opts: TorchCheckpointOptions, offset = 0): { value: unknown; end: number; inert: string[]; storages: Map<string, StorageRef> } {
  const { load, storages } = storageLoader(legacy);
  const r = unpickle(bytes, { persistentLoad: load, globals: TENSOR_GLOBALS, source, offset, unknownGlobals: opts.unknownGlobals ?? 'refuse' });
  return { ...r, storages };
}

// ---- selecting the state dict ----

function keyName(k: unknown): string { return typeof k === 'string' ? k : String(k); }
const hasTensors = (m: Map<unknown, unknown>): boolean => { for (const v of m.values()) if (v instanceof TensorRef) return true; return false; };

function selectStateDict(root: unknown, file: string, opts: TorchCheckpointOptions): { dict: Map<unknown, unknown>; unwrapped: string[]; topLevelKeys: string[] } {
  if (root instanceof TensorRef) throw new TorchCheckpointError(file, 'holds a single tensor, not a state dict');
  if (!(root instanceof Map)) throw new TorchCheckpointError(file, `top-level object is not a dict (got ${root instanceof PyObject ? String(root) : Array.isArray(root) ? 'a list/tuple' : typeof root})`);
  const topLevelKeys = [...root.keys()].map(keyName);
  const unwrapped: string[] = [];
  let cur: Map<unknown, unknown> = root;
  if (opts.key !== undefined) {
    const v = root.get(opts.key);
    if (!(v instanceof Map)) throw new TorchCheckpointError(file, `key '${opts.key}' ${v === undefined ? 'is not in the file' : 'is not a dict'}; top-level keys: ${topLevelKeys.join(', ')}`);
    cur = v;
    unwrapped.push(opts.key);
  }
  while (!hasTensors(cur)) {
    const k = WRAPPER_KEYS.find((w) => cur.get(w) instanceof Map);
    if (!k) {
      const keys = [...cur.keys()].map(keyName);
      throw new TorchCheckpointError(file, `no tensors found${unwrapped.length ? ` under '${unwrapped.join('.')}'` : ''}; keys: ${keys.slice(0, 20).join(', ')}${keys.length > 20 ? ', ...' : ''} (pick the state dict with the key option / --key)`);
    }
    cur = cur.get(k) as Map<unknown, unknown>;
    unwrapped.push(k);
  }
  return { dict: cur, unwrapped, topLevelKeys };
}

// ---- reading plan (a generator of positional reads, run by a sync or an async driver) ----

/** A positional read: `len` bytes at `pos`. The driver answers with exactly those bytes (fresh, 8-byte aligned). */
type ReadRequest = { pos: number; len: number };
type Plan<T> = Generator<ReadRequest, T, Uint8Array>;

/** Where a storage's bytes live in the file. */
interface StorageLocation { pos: number; bytes: number; entry?: ZipEntry; name: string }

function toEngine(dtype: SafetensorsDtype, raw: Uint8Array, count: number): AnyTypedArray {
  // raw is a fresh aligned buffer: float32 / int64 become views without a copy
  const view = <T>(C: { new (b: ArrayBufferLike, o: number, n: number): T }): T => new C(raw.buffer, raw.byteOffset, count);
  switch (dtype) {
    case 'F32': return view(Float32Array);
    case 'F64': return Float32Array.from(view(Float64Array));
    case 'F16': return f16ToF32(view(Uint16Array));
    case 'BF16': return bf16ToF32(view(Uint16Array));
    case 'I64': return view(BigInt64Array);
    case 'I32': return BigInt64Array.from(view(Int32Array), (v) => BigInt(v));
    case 'I16': return BigInt64Array.from(view(Int16Array), (v) => BigInt(v));
    case 'I8': return BigInt64Array.from(view(Int8Array), (v) => BigInt(v));
    case 'U8': return BigInt64Array.from(raw.subarray(0, count), (v) => BigInt(v));
    case 'U16': return BigInt64Array.from(view(Uint16Array), (v) => BigInt(v));
    case 'U32': return BigInt64Array.from(view(Uint32Array), (v) => BigInt(v));
    case 'BOOL': { const b = raw.subarray(0, count); for (let i = 0; i < count; i++) b[i] = b[i] ? 1 : 0; return b; }
  }
}

const isContiguous = (shape: number[], stride: number[]): boolean => {
  let expect = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && stride[i] !== expect) return false;
    expect *= shape[i]!;
  }
  return true;
};

/** Copy a strided view out of `span` (decoded elements starting at storage element `spanStart`). */
function gather(span: AnyTypedArray, spanStart: number, t: TensorRef): AnyTypedArray {
  const n = t.shape.reduce((a, b) => a * b, 1);
  const out = new (span.constructor as { new (n: number): AnyTypedArray })(n);
  const rank = t.shape.length;
  const idx = new Array<number>(rank).fill(0);
  let src = t.offset - spanStart;
  for (let i = 0; i < n; i++) {
    (out as unknown as number[])[i] = (span as unknown as number[])[src]!;
    for (let d = rank - 1; d >= 0; d--) {
      if (++idx[d]! < t.shape[d]!) { src += t.stride[d]!; break; }
      src -= (t.shape[d]! - 1) * t.stride[d]!;
      idx[d] = 0;
    }
  }
  return out;
}

function* materialise(file: string, fileSize: number, entries: [string, TensorRef][], locate: (s: StorageRef) => Plan<StorageLocation>, opts: TorchCheckpointOptions): Plan<Map<string, StoredTensor>> {
  // group tensors by root storage; check every view lies inside its storage
  const groups = new Map<string, { root: StorageRef; users: [string, TensorRef, number][] }>();
  for (const [name, t] of entries) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    const start = t.storage.viewOffset + t.offset;
    let last = start;
    for (let d = 0; d < t.shape.length; d++) if (t.shape[d]! > 0) last += (t.shape[d]! - 1) * t.stride[d]!;
    if (n > 0 && (t.offset + (last - start) >= t.storage.numel)) {
      throw new TorchCheckpointError(file, `tensor '${name}': view at storage offset ${t.offset} with shape [${t.shape.join(', ')}] and stride [${t.stride.join(', ')}] reaches element ${t.offset + last - start}, beyond its storage '${t.storage.key}' of ${t.storage.numel} elements`);
    }
    const g = groups.get(t.storage.rootKey) ?? { root: t.storage, users: [] };
    g.users.push([name, t, n]);
    groups.set(t.storage.rootKey, g);
  }
  const plan: { g: { root: StorageRef; users: [string, TensorRef, number][] }; lo: number; hi: number }[] = [];
  let total = 0;
  for (const g of groups.values()) {
    let lo = Infinity, hi = 0;
    for (const [, t, n] of g.users) {
      if (n === 0) continue;
      const start = t.storage.viewOffset + t.offset;
      let last = start;
      for (let d = 0; d < t.shape.length; d++) last += (t.shape[d]! - 1) * t.stride[d]!;
      lo = Math.min(lo, start); hi = Math.max(hi, last + 1);
    }
    if (hi > 0) total += (hi - lo) * BYTES[g.root.dtype];
    plan.push({ g, lo, hi });
  }
  const out = new Map<string, StoredTensor>();
  let done = 0;
  for (const { g, lo, hi } of plan) {
    const dtype = g.root.dtype, es = BYTES[dtype];
    let decoded: AnyTypedArray | null = null;
    if (hi > 0) {
      const loc = yield* locate(g.root);
      if (g.root.numel * es > loc.bytes) throw new TorchCheckpointError(file, `storage '${loc.name}' holds ${loc.bytes} bytes but ${g.root.numel} ${dtype} elements need ${g.root.numel * es}`);
      let raw: Uint8Array;
      if (loc.entry && loc.entry.method !== 0) raw = inflateEntry(loc.entry, yield { pos: loc.pos, len: loc.entry.compressedSize }).subarray(lo * es, hi * es).slice();
      else {
        const pos = loc.pos + lo * es, len = (hi - lo) * es;
        if (pos + len > fileSize) {
          throw new TorchCheckpointError(file, `storage '${loc.name}' of tensor '${g.users[0]![0]}' spans bytes [${pos}, ${pos + len}) but the file has only ${fileSize} bytes (truncated or corrupt)`);
        }
        raw = yield { pos, len };
      }
      decoded = toEngine(dtype, raw, hi - lo);
      done += (hi - lo) * es;
      opts.onProgress?.(done, total);
    }
    const single = g.users.length === 1;
    for (const [name, t, n] of g.users) {
      let data: AnyTypedArray;
      if (n === 0 || !decoded) data = toEngine(dtype, new Uint8Array(8), 0);
      else if (single && isContiguous(t.shape, t.stride)) data = decoded; // the span is exactly this tensor
      else data = gather(decoded, lo, new TensorRef(t.storage, t.storage.viewOffset + t.offset, t.shape, t.stride, false));
      out.set(name, { shape: [...t.shape], data, storedDtype: dtype });
    }
  }
  // keep the state dict's order
  return new Map(entries.map(([k]) => [k, out.get(k)!]));
}

function finish(file: string, root: unknown, opts: TorchCheckpointOptions): { entries: [string, TensorRef][]; info: Omit<TorchCheckpointInfo, 'tensors' | 'format' | 'bytes' | 'inertGlobals'> } {
  const { dict, unwrapped, topLevelKeys } = selectStateDict(root, file, opts);
  const entries: [string, TensorRef][] = [];
  const skipped: string[] = [];
  for (const [k, v] of dict) {
    if (v instanceof TensorRef) entries.push([keyName(k), v]);
    else skipped.push(keyName(k));
  }
  let strippedPrefix: string | null = null;
  if ((opts.stripPrefix ?? true) && entries.length && entries.every(([k]) => k.startsWith('module.'))) {
    strippedPrefix = 'module.';
    for (const e of entries) e[0] = e[0].slice('module.'.length);
  }
  const seen = new Set<string>();
  for (const [k] of entries) { if (seen.has(k)) throw new TorchCheckpointError(file, `duplicate key '${k}' after stripping the 'module.' prefix`); seen.add(k); }
  const dtypeCounts: Partial<Record<SafetensorsDtype, number>> = {};
  let parameters = 0;
  for (const [, t] of entries) { dtypeCounts[t.storage.dtype] = (dtypeCounts[t.storage.dtype] ?? 0) + 1; if (t.parameter) parameters++; }
  return { entries, info: { unwrapped, topLevelKeys, strippedPrefix, dtypeCounts, skipped, parameters } };
}

const tensorBytes = (entries: [string, TensorRef][]): number => entries.reduce((a, [, t]) => a + t.shape.reduce((x, y) => x * y, 1) * BYTES[t.storage.dtype], 0);

function* readZip(file: string, size: number, opts: TorchCheckpointOptions): Plan<TorchCheckpointInfo> {
  const tailLen = Math.min(size, ZIP_TAIL_BYTES);
  let dir = parseZipTail(yield { pos: size - tailLen, len: tailLen }, size);
  if ('eocd64Offset' in dir) {
    if (dir.eocd64Offset + 56 > size) throw new ZipError(`ZIP64 end record at byte ${dir.eocd64Offset} lies beyond the end of the file (${size} bytes)`);
    dir = parseZip64End(yield { pos: dir.eocd64Offset, len: 56 });
  }
  if (dir.cdOffset + dir.cdSize > size) throw new ZipError(`central directory [${dir.cdOffset}, ${dir.cdOffset + dir.cdSize}) lies beyond the end of the file (${size} bytes)`);
  const entries = parseCentralDirectory(yield { pos: dir.cdOffset, len: dir.cdSize }, dir.entries);
  const byName = new Map(entries.map((e) => [e.name, e]));
  const pkl = entries.find((e) => /^[^/]+\/data\.pkl$/.test(e.name)) ?? entries.find((e) => e.name.endsWith('data.pkl'));
  if (!pkl) throw new TorchCheckpointError(file, `zip archive without a data.pkl entry (entries: ${entries.slice(0, 8).map((e) => e.name).join(', ')}): not a torch.save file`);
  const prefix = pkl.name.slice(0, -'data.pkl'.length);
  if (byName.has(`${prefix}constants.pkl`) || entries.some((e) => e.name.startsWith(`${prefix}code/`))) {
    throw new TorchCheckpointError(file, 'is a TorchScript archive (torch.jit.save), not a torch.save checkpoint; save its state_dict() with torch.save instead');
  }
  function* entryBytes(e: ZipEntry, what: string): Plan<{ pos: number; bytes: Uint8Array | null }> {
    if (e.localHeaderOffset + 30 > size) throw new TorchCheckpointError(file, `${what} '${e.name}': local header offset ${e.localHeaderOffset} lies beyond the end of the file (${size} bytes)`);
    const pos = localDataOffset(yield { pos: e.localHeaderOffset, len: 30 }, e);
    if (pos + e.compressedSize > size) throw new TorchCheckpointError(file, `${what} '${e.name}': data [${pos}, ${pos + e.compressedSize}) lies beyond the end of the file (${size} bytes)`);
    return { pos, bytes: null };
  }
  const bo = byName.get(`${prefix}byteorder`);
  if (bo && bo.size < 16) {
    const { pos } = yield* entryBytes(bo, 'entry');
    const text = new TextDecoder().decode(inflateEntry(bo, yield { pos, len: bo.compressedSize })).trim();
    if (text !== 'little') throw new TorchCheckpointError(file, `byte order '${text}' is not supported (only little-endian checkpoints)`);
  }
  if (pkl.size > MAX_PICKLE_BYTES) throw new TorchCheckpointError(file, `'${pkl.name}' declares ${pkl.size} bytes, more than the ${MAX_PICKLE_BYTES}-byte limit for a checkpoint's pickle`);
  const { pos: pklPos } = yield* entryBytes(pkl, 'entry');
  const pklBytes = inflateEntry(pkl, yield { pos: pklPos, len: pkl.compressedSize });
  let root: unknown, inertGlobals: string[];
  try {
    ({ value: root, inert: inertGlobals } = unpickleCheckpoint(pklBytes, false, pkl.name, opts));
  } catch (e) {
    if (e instanceof PickleError) throw new TorchCheckpointError(file, e.message, { cause: e });
    throw e;
  }
  const { entries: tensors, info } = finish(file, root, opts);
  function* locate(s: StorageRef): Plan<StorageLocation> {
    const name = `${prefix}data/${s.rootKey}`;
    const e = byName.get(name);
    if (!e) throw new TorchCheckpointError(file, `storage entry '${name}' is missing from the archive`);
    const { pos } = yield* entryBytes(e, 'storage');
    return { pos, bytes: e.size, entry: e, name };
  }
  const data = yield* materialise(file, size, tensors, locate, opts);
  return { format: 'zip', tensors: data, ...info, bytes: tensorBytes(tensors), inertGlobals };
}

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
/** Upper bound on a checkpoint's object pickle (it holds names, shapes and storage ids, never tensor data). */
const MAX_PICKLE_BYTES = 256 * 2 ** 20;

function* readLegacy(file: string, size: number, opts: TorchCheckpointOptions): Plan<TorchCheckpointInfo> {
  // The pickles come first; their length is unknown, so read a prefix and grow it until they parse.
  let have = Math.min(size, 1 << 20);
  for (;;) {
    const head = yield { pos: 0, len: have };
    try {
      const src = (what: string): string => `${what}`;
      const magic = unpickle(head, { source: src('magic number') });
      if (magic.value !== LEGACY_MAGIC && magic.value !== Number(LEGACY_MAGIC)) throw new TorchCheckpointError(file, 'starts with a pickle but not with the torch.save magic number: not a PyTorch checkpoint');
      const proto = unpickle(head, { offset: magic.end, source: 'protocol version' });
      if (proto.value !== 1001) throw new TorchCheckpointError(file, `legacy protocol version ${String(proto.value)} is not supported (expected 1001)`);
      const sys = unpickle(head, { offset: proto.end, source: 'system info' });
      if (sys.value instanceof Map && sys.value.get('little_endian') === false) throw new TorchCheckpointError(file, 'big-endian checkpoints are not supported');
      const main = unpickleCheckpoint(head, true, 'object pickle', opts, sys.end);
      const keysPickle = unpickle(head, { offset: main.end, source: 'storage keys' });
      const keys = keysPickle.value;
      if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string' || int(k))) throw new TorchCheckpointError(file, 'the storage-key list is not a list of strings');
      const { entries: tensors, info } = finish(file, main.value, opts);
      // Walk the storages: each is an int64 element count then count * element-size bytes.
      const locations = new Map<string, StorageLocation>();
      let pos = keysPickle.end;
      for (const k of keys.map(String)) {
        const s = main.storages.get(k);
        if (!s) throw new TorchCheckpointError(file, `storage key '${k}' is listed but no tensor refers to it`);
        if (pos + 8 > size) throw new TorchCheckpointError(file, `storage '${k}': its header at byte ${pos} lies beyond the end of the file (${size} bytes)`);
        const hdr = yield { pos, len: 8 };
        const count = new DataView(hdr.buffer, hdr.byteOffset, 8).getBigInt64(0, true);
        if (count < 0n || count > BigInt(size)) throw new TorchCheckpointError(file, `storage '${k}': bad element count ${count} at byte ${pos}`);
        const bytes = Number(count) * BYTES[s.dtype];
        locations.set(k, { pos: pos + 8, bytes, name: k });
        if (pos + 8 + bytes > size) throw new TorchCheckpointError(file, `storage '${k}': ${bytes} bytes at byte ${pos + 8} extend beyond the end of the file (${size} bytes)`);
        pos += 8 + bytes;
      }
      function* locate(s: StorageRef): Plan<StorageLocation> {
        const loc = locations.get(s.rootKey);
        if (!loc) throw new TorchCheckpointError(file, `storage '${s.rootKey}' is not in the file's storage list`);
        return loc;
      }
      const data = yield* materialise(file, size, tensors, locate, opts);
      return { format: 'legacy', tensors: data, ...info, bytes: tensorBytes(tensors), inertGlobals: main.inert };
    } catch (e) {
      if (e instanceof PickleTruncatedError && have < size) {
        // the pickles only describe tensors: a legitimate one is far below this, a hostile length field is not
        if (have >= MAX_PICKLE_BYTES) throw new TorchCheckpointError(file, `the pickles at the start of the file exceed ${MAX_PICKLE_BYTES} bytes (${e.message})`);
        have = Math.min(size, have * 4, MAX_PICKLE_BYTES);
        continue;
      }
      if (e instanceof PickleError) throw new TorchCheckpointError(file, e.message, { cause: e });
      throw e;
    }
  }
}

function* readAny(file: string, size: number, opts: TorchCheckpointOptions): Plan<TorchCheckpointInfo> {
  if (size < 4) throw new TorchCheckpointError(file, `${size}-byte file is too short to be a checkpoint`);
  const head = yield { pos: 0, len: Math.min(size, 512) };
  try {
    if (head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04) return yield* readZip(file, size, opts);
    if (head.length >= 262 && new TextDecoder('latin1').decode(head.subarray(257, 262)) === 'ustar') {
      throw new TorchCheckpointError(file, 'the pre-1.0 tar checkpoint format is not supported; re-save it with a current torch (torch.save(torch.load(f), g))');
    }
    if (head[0] === 0x80) return yield* readLegacy(file, size, opts);
    // a zip archive after other bytes (offsets stay absolute, as in self-extracting archives)
    if (size >= 22) {
      const end = yield { pos: size - 22, len: 22 };
      if (end[0] === 0x50 && end[1] === 0x4b && end[2] === 0x05 && end[3] === 0x06) return yield* readZip(file, size, opts);
    }
  } catch (e) {
    if (e instanceof ZipError) throw new TorchCheckpointError(file, e.message, { cause: e });
    if (e instanceof PickleError) throw new TorchCheckpointError(file, e.message, { cause: e });
    throw e;
  }
  const magic = new TextDecoder('latin1').decode(head.subarray(0, 8));
  throw new TorchCheckpointError(file, `not a PyTorch checkpoint: starts with ${JSON.stringify(magic)} (expected a zip archive 'PK\\x03\\x04' or a pickle 0x80)`);
}

// ---- drivers ----

const CHUNK = 1 << 30;
const MAX_LENGTH = bufferConstants.MAX_LENGTH;

/** A fresh, 8-byte aligned buffer (not from Node's shared pool) so float32 / int64 views need no copy. */
function fresh(file: string, len: number): Uint8Array {
  if (len > MAX_LENGTH) throw new TorchCheckpointError(file, `a single storage of ${len} bytes exceeds the ${MAX_LENGTH}-byte limit of one buffer`);
  const b = Buffer.allocUnsafeSlow(len);
  return new Uint8Array(b.buffer, b.byteOffset, len);
}

function runSync<T>(file: string, plan: (size: number) => Plan<T>): T {
  let fd: number;
  try { fd = openSync(file, 'r'); } catch (e) { throw new TorchCheckpointError(file, (e as Error).message, { cause: e }); }
  try {
    const size = fstatSync(fd).size;
    const it = plan(size);
    let r = it.next();
    while (!r.done) {
      const { pos, len } = r.value;
      const buf = fresh(file, len);
      let off = 0;
      while (off < len) {
        const got = readSync(fd, buf, off, Math.min(len - off, CHUNK), pos + off);
        if (got === 0) throw new TorchCheckpointError(file, `unexpected end of file at byte ${pos + off}`);
        off += got;
      }
      r = it.next(buf);
    }
    return r.value;
  } finally {
    closeSync(fd);
  }
}

async function runAsync<T>(file: string, plan: (size: number) => Plan<T>): Promise<T> {
  let handle: FileHandle;
  try { handle = await open(file, 'r'); } catch (e) { throw new TorchCheckpointError(file, (e as Error).message, { cause: e }); }
  try {
    const size = (await handle.stat()).size;
    const it = plan(size);
    let r = it.next();
    while (!r.done) {
      const { pos, len } = r.value;
      const buf = fresh(file, len);
      let off = 0;
      while (off < len) {
        const { bytesRead } = await handle.read(buf, off, Math.min(len - off, CHUNK), pos + off);
        if (bytesRead === 0) throw new TorchCheckpointError(file, `unexpected end of file at byte ${pos + off}`);
        off += bytesRead;
      }
      r = it.next(buf);
    }
    return r.value;
  } finally {
    await handle.close();
  }
}

/** Read a torch.save file: its state dict (unwrapped, `module.` stripped) plus what was found on the way. */
export async function readTorchCheckpointInfo(path: string, opts: TorchCheckpointOptions = {}): Promise<TorchCheckpointInfo> {
  return runAsync(path, (size) => readAny(path, size, opts));
}
export function readTorchCheckpointInfoSync(path: string, opts: TorchCheckpointOptions = {}): TorchCheckpointInfo {
  return runSync(path, (size) => readAny(path, size, opts));
}

/**
 * Read the state dict of a PyTorch checkpoint (.pth / .pt / .bin / .ckpt) as tensors by name, in the form
 * {@link loadStateDict} takes: float types widen to float32, integer types to int64, bool stays bool.
 */
export async function readTorchCheckpoint(path: string, opts: TorchCheckpointOptions = {}): Promise<Map<string, StoredTensor>> {
  return (await readTorchCheckpointInfo(path, opts)).tensors;
}
export function readTorchCheckpointSync(path: string, opts: TorchCheckpointOptions = {}): Map<string, StoredTensor> {
  return readTorchCheckpointInfoSync(path, opts).tensors;
}

/** File extensions treated as PyTorch checkpoints. */
export const TORCH_CHECKPOINT_EXTENSIONS = ['pth', 'pt', 'bin', 'ckpt'] as const;
export function isTorchCheckpointPath(path: string): boolean {
  const m = /\.([^./\\]+)$/.exec(path);
  return !!m && (TORCH_CHECKPOINT_EXTENSIONS as readonly string[]).includes(m[1]!.toLowerCase());
}
