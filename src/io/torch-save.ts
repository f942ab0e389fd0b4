// Write state dicts in the zip format torch.save produces (torch >= 1.6), which torch.load reads: an
// OrderedDict pickle (protocol 2) whose tensors are _rebuild_tensor_v2 calls on persistent-id storages, plus one
// stored, 64-byte aligned zip entry per storage. float32 -> FloatStorage, int64 -> LongStorage, bool ->
// BoolStorage. Tensor bytes are written straight from the arrays (no copy); ZIP64 records appear when the
// archive passes 4 GiB; the file is replaced atomically (temp file, fsync, rename).
import type { AnyTypedArray } from '../engine/dtype.js';
import { Tensor } from '../engine/tensor.js';
import type { StoredTensor, TensorSource } from './safetensors.js';
import { writeZip, writeZipSync, type ZipWriteEntry, type ZipWriteOptions } from './zip.js';

export interface WriteTorchCheckpointOptions {
  /** Folder name inside the archive (torch uses 'archive' or the file stem). Default 'archive'. */
  archiveName?: string;
  /** Called after each entry: bytes written so far and the total. */
  onProgress?: (written: number, total: number) => void;
}

type Source = TensorSource | StoredTensor;

class PickleWriter {
  private parts: number[] = [];
  private chunks: Uint8Array[] = [];
  private flush(): void { if (this.parts.length) { this.chunks.push(Uint8Array.from(this.parts)); this.parts = []; } }
  op(...bytes: number[]): this { for (const b of bytes) this.parts.push(b); return this; }
  /** BINUNICODE: protocol 2 (torch.save's default) has no SHORT_BINUNICODE. */
  str(s: string): this {
    const b = new TextEncoder().encode(s);
    this.op(0x58, b.length & 0xff, (b.length >> 8) & 0xff, (b.length >> 16) & 0xff, b.length >>> 24);
    this.flush();
    this.chunks.push(b);
    return this;
  }
  int(v: number): this {
    if (v >= 0 && v < 256) return this.op(0x4b, v); // BININT1
    if (v >= -(2 ** 31) && v < 2 ** 31) return this.op(0x4a, v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >>> 24) & 0xff); // BININT
    let x = BigInt(v);
    const bytes: number[] = [];
    while (x !== 0n && x !== -1n) { bytes.push(Number(x & 0xffn)); x >>= 8n; }
    if (((bytes[bytes.length - 1] ?? 0) & 0x80) !== (v < 0 ? 0x80 : 0)) bytes.push(v < 0 ? 0xff : 0);
    return this.op(0x8a, bytes.length, ...bytes); // LONG1
  }
  global(module: string, name: string): this {
    this.op(0x63);
    for (const c of new TextEncoder().encode(`${module}\n${name}\n`)) this.parts.push(c);
    return this;
  }
  bytes(): Uint8Array {
    this.flush();
    const n = this.chunks.reduce((a, c) => a + c.length, 0);
    const out = new Uint8Array(n);
    let p = 0;
    for (const c of this.chunks) { out.set(c, p); p += c.length; }
    return out;
  }
}

const MARK = 0x28, TUPLE = 0x74, REDUCE = 0x52, EMPTY_TUPLE = 0x29, SETITEMS = 0x75, NEWFALSE = 0x89, BINPERSID = 0x51, STOP = 0x2e;

function storageOf(data: AnyTypedArray): string {
  if (data instanceof Float32Array) return 'FloatStorage';
  if (data instanceof BigInt64Array) return 'LongStorage';
  return 'BoolStorage';
}

function entryOf(name: string, t: Source): { shape: number[]; data: AnyTypedArray } {
  if (t instanceof Tensor) {
    if (!t.isRealized) throw new Error(`writeTorchCheckpoint: tensor '${name}' is not realized yet: await its data() first`);
    return { shape: [...t.shape], data: t.value };
  }
  const size = t.shape.reduce((a, b) => a * b, 1);
  if (size !== t.data.length) throw new Error(`writeTorchCheckpoint: tensor '${name}': shape [${t.shape.join(', ')}] has ${size} elements but the data has ${t.data.length}`);
  return { shape: [...t.shape], data: t.data };
}

/** The archive's entries (pickle, byte order, storages, version) for a state dict. */
export function torchArchiveEntries(tensors: Iterable<[string, Source]>, archiveName = 'archive'): ZipWriteEntry[] {
  if (!/^[A-Za-z0-9_.-]+$/.test(archiveName)) throw new Error(`writeTorchCheckpoint: archive name '${archiveName}' must be a plain folder name`);
  const list = [...tensors].map(([name, t]) => ({ name, ...entryOf(name, t) }));
  const seen = new Set<string>();
  for (const { name } of list) { if (seen.has(name)) throw new Error(`writeTorchCheckpoint: duplicate tensor name '${name}'`); seen.add(name); }
  const w = new PickleWriter();
  w.op(0x80, 2).global('collections', 'OrderedDict').op(EMPTY_TUPLE, REDUCE);
  if (list.length) w.op(MARK);
  list.forEach((t, i) => {
    const contiguous: number[] = [];
    let s = 1;
    for (let d = t.shape.length - 1; d >= 0; d--) { contiguous[d] = s; s *= t.shape[d]!; }
    w.str(t.name).global('torch._utils', '_rebuild_tensor_v2').op(MARK);
    w.op(MARK).str('storage').global('torch', storageOf(t.data)).str(String(i)).str('cpu').int(t.data.length).op(TUPLE, BINPERSID);
    w.int(0);
    w.op(MARK); for (const d of t.shape) w.int(d); w.op(TUPLE);
    w.op(MARK); for (const d of contiguous) w.int(d); w.op(TUPLE);
    w.op(NEWFALSE).global('collections', 'OrderedDict').op(EMPTY_TUPLE, REDUCE);
    w.op(TUPLE, REDUCE);
  });
  if (list.length) w.op(SETITEMS);
  w.op(STOP);
  const enc = new TextEncoder();
  return [
    { name: `${archiveName}/data.pkl`, chunks: [w.bytes()] },
    { name: `${archiveName}/byteorder`, chunks: [enc.encode('little')] },
    ...list.map((t, i) => ({ name: `${archiveName}/data/${i}`, chunks: [new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)] })),
    { name: `${archiveName}/version`, chunks: [enc.encode('3\n')] },
  ];
}

function zipOptions(opts: WriteTorchCheckpointOptions): ZipWriteOptions {
  return { ...(opts.onProgress ? { onProgress: opts.onProgress } : {}) };
}

/** Write a state dict (tensors by dotted name) as a torch.save zip file that torch.load reads. */
export async function writeTorchCheckpoint(path: string, tensors: Iterable<[string, Source]>, opts: WriteTorchCheckpointOptions = {}): Promise<void> {
  await writeZip(path, torchArchiveEntries(tensors, opts.archiveName), zipOptions(opts));
}
export function writeTorchCheckpointSync(path: string, tensors: Iterable<[string, Source]>, opts: WriteTorchCheckpointOptions = {}): void {
  writeZipSync(path, torchArchiveEntries(tensors, opts.archiveName), zipOptions(opts));
}
