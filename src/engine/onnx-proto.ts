// Minimal protobuf writer for the subset of onnx.proto that omniformer emits.
// Hand-written so the engine needs no protobuf dependency; field numbers follow onnx/onnx.proto3.

export const enum WireType { Varint = 0, Fixed64 = 1, Bytes = 2, Fixed32 = 5 }

/** Growable byte sink with protobuf primitives. */
export class ProtoWriter {
  private buf: Uint8Array;
  private pos = 0;
  constructor(initial = 1024) { this.buf = new Uint8Array(initial); }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.pos + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  varint(v: number | bigint): void {
    let x = BigInt.asUintN(64, BigInt(v));
    if (x < 0x80n) { this.ensure(1); this.buf[this.pos++] = Number(x); return; }
    this.ensure(10);
    while (x >= 0x80n) { this.buf[this.pos++] = Number(x & 0x7fn) | 0x80; x >>= 7n; }
    this.buf[this.pos++] = Number(x);
  }

  /** Fast path for small non-negative integers (lengths, tags, enums). */
  uvarint(v: number): void {
    if (v < 0 || v > Number.MAX_SAFE_INTEGER) { this.varint(v); return; }
    this.ensure(10);
    while (v >= 0x80) { this.buf[this.pos++] = (v % 128) | 0x80; v = Math.floor(v / 128); }
    this.buf[this.pos++] = v;
  }

  tag(field: number, wire: WireType): void { this.uvarint((field << 3) | wire); }

  bytes(field: number, data: Uint8Array): void {
    this.tag(field, WireType.Bytes);
    this.uvarint(data.length);
    this.ensure(data.length);
    this.buf.set(data, this.pos);
    this.pos += data.length;
  }

  string(field: number, s: string): void { this.bytes(field, new TextEncoder().encode(s)); }
  int(field: number, v: number | bigint): void { this.tag(field, WireType.Varint); if (typeof v === 'number' && v >= 0) this.uvarint(v); else this.varint(v); }
  float(field: number, v: number): void {
    this.tag(field, WireType.Fixed32);
    this.ensure(4);
    new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 4).setFloat32(0, v, true);
    this.pos += 4;
  }
  message(field: number, write: (w: ProtoWriter) => void): void {
    const sub = new ProtoWriter(64);
    write(sub);
    this.bytes(field, sub.finish());
  }
  finish(): Uint8Array { return this.buf.subarray(0, this.pos); }
}

/** ONNX TensorProto.DataType codes. */
export const OnnxDataType = { float32: 1, uint8: 2, int8: 3, int32: 6, int64: 7, bool: 9, float16: 10, float64: 11 } as const;
export type OnnxTypeName = keyof typeof OnnxDataType;

export type AttrValue = number | bigint | string | number[] | string[] | boolean | { floats: number[] } | { float: number } | { tensor: TensorInit };
export interface TensorInit { name?: string; dims: readonly number[]; dtype: OnnxTypeName; raw: Uint8Array }
/** Where an initializer's bytes live when they are stored outside the model file (ONNX external data). */
export interface ExternalRef { location: string; offset: number; length: number }
export interface EncodeOptions {
  /** Called per graph initializer: return where its bytes were stored to leave them out of the model, or null to inline them. */
  external?: (t: TensorInit) => ExternalRef | null;
}
export interface NodeInit { op: string; inputs: string[]; outputs: string[]; attrs?: Record<string, AttrValue | undefined>; domain?: string; name?: string }
/** A graph input/output; a string dim is symbolic (dim_param, e.g. 'batch'). */
export interface ValueInit { name: string; dtype: OnnxTypeName; dims: readonly (number | string)[] }
export interface GraphInit { name: string; nodes: NodeInit[]; inputs: ValueInit[]; outputs: ValueInit[]; initializers: TensorInit[] }
export interface ModelInit { graph: GraphInit; opsets: Record<string, number>; irVersion?: number; producer?: string }

function writeTensor(w: ProtoWriter, t: TensorInit, ext: ExternalRef | null = null): void {
  for (const d of t.dims) w.int(1, d);
  w.int(2, OnnxDataType[t.dtype]);
  if (t.name !== undefined) w.string(8, t.name);
  if (!ext) { w.bytes(9, t.raw); return; }
  // TensorProto.external_data (13): StringStringEntryProto {key = 1, value = 2}; data_location (14) = EXTERNAL
  const entry = (key: string, value: string): void => w.message(13, (e) => { e.string(1, key); e.string(2, value); });
  entry('location', ext.location);
  entry('offset', String(ext.offset));
  entry('length', String(ext.length));
  w.int(14, 1);
}

const enum AttrType { FLOAT = 1, INT = 2, STRING = 3, TENSOR = 4, FLOATS = 6, INTS = 7, STRINGS = 8 }

function writeAttr(w: ProtoWriter, name: string, v: AttrValue): void {
  w.string(1, name);
  if (typeof v === 'boolean') { w.int(3, v ? 1 : 0); w.int(20, AttrType.INT); }
  else if (typeof v === 'number' || typeof v === 'bigint') {
    if (typeof v === 'number' && !Number.isInteger(v)) throw new Error(`attribute ${name}: non-integer ${v}; wrap floats as {float: v}`);
    w.int(3, v); w.int(20, AttrType.INT);
  } else if (typeof v === 'string') { w.string(4, v); w.int(20, AttrType.STRING); }
  else if (Array.isArray(v)) {
    if (v.length > 0 && typeof v[0] === 'string') { for (const s of v as string[]) w.string(9, s); w.int(20, AttrType.STRINGS); }
    else { for (const x of v as number[]) w.int(8, x); w.int(20, AttrType.INTS); }
  } else if ('floats' in v) { for (const x of v.floats) w.float(7, x); w.int(20, AttrType.FLOATS); }
  else if ('float' in v) { w.float(2, v.float); w.int(20, AttrType.FLOAT); }
  else { w.message(5, (s) => writeTensor(s, v.tensor)); w.int(20, AttrType.TENSOR); }
}

function writeValueInfo(w: ProtoWriter, v: ValueInit): void {
  w.string(1, v.name);
  w.message(2, (tp) => tp.message(1, (tt) => {
    tt.int(1, OnnxDataType[v.dtype]);
    // TensorShapeProto.Dimension: dim_value = 1, dim_param = 2
    tt.message(2, (sh) => { for (const d of v.dims) sh.message(1, (dim) => { if (typeof d === 'string') dim.string(2, d); else dim.int(1, d); }); });
  }));
}

/**
 * Serialize a ModelProto. Large initializers are copied once into the output buffer, unless `opts.external`
 * stores them elsewhere (then only their external-data entries are written).
 */
export function encodeModel(m: ModelInit, opts: EncodeOptions = {}): Uint8Array {
  const refs = m.graph.initializers.map((t) => opts.external?.(t) ?? null);
  const initBytes = m.graph.initializers.reduce((s, t, i) => s + (refs[i] ? 0 : t.raw.length) + 64, 0);
  const w = new ProtoWriter(1 << 16);
  w.int(1, m.irVersion ?? 9);
  w.string(2, m.producer ?? 'omniformer');
  const graph = new ProtoWriter(initBytes + (1 << 16));
  const g = m.graph;
  for (const n of g.nodes) graph.message(1, (nw) => {
    for (const i of n.inputs) nw.string(1, i);
    for (const o of n.outputs) nw.string(2, o);
    if (n.name) nw.string(3, n.name);
    nw.string(4, n.op);
    for (const [k, v] of Object.entries(n.attrs ?? {})) if (v !== undefined) nw.message(5, (aw) => writeAttr(aw, k, v));
    if (n.domain) nw.string(7, n.domain);
  });
  graph.string(2, g.name);
  g.initializers.forEach((t, i) => graph.message(5, (tw) => writeTensor(tw, t, refs[i])));
  for (const v of g.inputs) graph.message(11, (vw) => writeValueInfo(vw, v));
  for (const v of g.outputs) graph.message(12, (vw) => writeValueInfo(vw, v));
  w.bytes(7, graph.finish());
  for (const [domain, version] of Object.entries(m.opsets)) w.message(8, (ow) => { if (domain) ow.string(1, domain); ow.int(2, version); });
  return w.finish();
}
