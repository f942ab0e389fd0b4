// A Python pickle reader (protocols 0-5) that never executes code. Pickles name callables with GLOBAL /
// STACK_GLOBAL and call them with REDUCE / NEWOBJ / BUILD; Python's unpickler imports and runs whatever is
// named, which is how a malicious checkpoint runs `os.system`. Here every global goes through an allowlist of
// data-only constructors written in TypeScript (OrderedDict, torch's tensor rebuild functions, storage and dtype
// tags, numpy scalars, ...); any other name is refused before anything is called. Persistent ids (torch's
// storages) are handed to a caller-supplied function. Malformed streams (unknown opcode, stack underflow,
// truncation, no STOP) raise PickleError; every opcode consumes input, so a stream cannot make it loop.

export class PickleError extends Error {
  override name = 'PickleError';
}

/** Thrown when the stream ends before STOP; a caller holding only a prefix of a file can read more and retry. */
export class PickleTruncatedError extends PickleError {
  override name = 'PickleTruncatedError';
}

/** A global the allowlist accepts only as a tag (a storage type, a dtype, a tensor class), never as a call. */
export class PyGlobal {
  constructor(readonly module: string, readonly name: string) {}
  get qualified(): string { return `${this.module}.${this.name}`; }
}

/** A plain attribute bag for data-only classes (argparse.Namespace) and inert records; `dict` is its state after BUILD. */
export class PyObject {
  dict: Map<unknown, unknown> = new Map();
  /** Items appended by APPEND(S) (list subclasses). */
  items: unknown[] = [];
  /** BUILD state that is not a dict. */
  state: unknown = undefined;
  constructor(readonly className: string, readonly args: unknown[] = []) {}
  toString(): string { return `<${this.className} object>`; }
}

/** A numpy dtype as pickled by numpy (`numpy.dtype('f8', False, True)` then BUILD with the byte order). */
export class NumpyDtype {
  byteorder = '=';
  constructor(readonly spec: string) {}
}

/** Python tuples are frozen arrays tagged with this class, so lists and tuples stay distinguishable. */
export class PyTuple extends Array<unknown> {
  static of2(items: unknown[]): PyTuple {
    const t = new PyTuple();
    for (const x of items) t.push(x);
    return Object.freeze(t) as PyTuple;
  }
}

/** Result of a call of an allowlisted global: the handler's value. */
export type GlobalHandler = (args: unknown[], ctx: { global: string }) => unknown;

export interface UnpickleOptions {
  /** Resolve a persistent id (BINPERSID / PERSID); without it, persistent ids are refused. */
  persistentLoad?: (pid: unknown) => unknown;
  /** Extra allowlisted callables by qualified name (`module.name`); they are added to the built-in list. */
  globals?: Record<string, GlobalHandler>;
  /** Extra allowlisted tags (never callable). */
  tags?: readonly string[];
  /** Names errors (a path and an entry). */
  source?: string;
  /** Byte offset where the pickle starts inside `bytes` (default 0). */
  offset?: number;
  /**
   * 'refuse' (default): a global off the allowlist is an error. 'inert': it becomes an inert PyObject record
   * (its name, call arguments and state recorded, nothing imported or run), for files whose tensors sit next
   * to custom classes (Lightning hyper-parameters, ...). The names are listed in `UnpickleResult.inert`.
   */
  unknownGlobals?: 'refuse' | 'inert';
}

export interface UnpickleResult {
  value: unknown;
  /** Offset just after STOP. */
  end: number;
  /** Globals turned into inert records (unknownGlobals: 'inert'), in order of appearance. */
  inert: string[];
}

// Python 2 module names that Python 3's unpickler maps (fix_imports).
const PY2_MODULES: Record<string, string> = { __builtin__: 'builtins', copy_reg: 'copyreg' };

const TORCH_STORAGES = ['FloatStorage', 'HalfStorage', 'BFloat16Storage', 'DoubleStorage', 'LongStorage', 'IntStorage', 'ShortStorage', 'CharStorage', 'ByteStorage', 'BoolStorage', 'UntypedStorage'];
const TORCH_DTYPES = ['float32', 'float', 'float16', 'half', 'bfloat16', 'float64', 'double', 'int64', 'long', 'int32', 'int', 'int16', 'short', 'int8', 'uint8', 'bool'];

/** Names accepted as tags only. */
const BUILTIN_TAGS = new Set<string>([
  ...TORCH_STORAGES.map((s) => `torch.${s}`),
  'torch.storage.UntypedStorage',
  ...TORCH_DTYPES.map((d) => `torch.${d}`),
  'torch.Tensor', 'torch._tensor.Tensor', 'torch.nn.parameter.Parameter',
]);

function pyRepr(x: unknown): string {
  if (typeof x === 'string') return JSON.stringify(x);
  if (x instanceof PyGlobal) return x.qualified;
  if (x === null) return 'None';
  if (typeof x === 'bigint') return x.toString();
  if (Array.isArray(x)) return `(${x.map(pyRepr).join(', ')})`;
  if (x instanceof Uint8Array) return `<bytes of length ${x.length}>`;
  if (x instanceof Map) return `<dict of ${x.size}>`;
  return String(x);
}

function expectArgs(args: unknown[], min: number, max: number, g: string): void {
  if (args.length < min || args.length > max) throw new PickleError(`${g}: expected ${min === max ? min : `${min}-${max}`} arguments, got ${args.length}`);
}

/** Decode a numpy scalar's raw bytes. */
function numpyScalar(dtype: NumpyDtype, raw: Uint8Array, g: string): unknown {
  const m = /^([<>|=]?)([a-zA-Z])(\d*)$/.exec(dtype.spec);
  if (!m) throw new PickleError(`${g}: unsupported numpy dtype '${dtype.spec}'`);
  const kind = m[2]!;
  const size = Number(m[3] || (kind === '?' ? 1 : 0));
  const order = m[1] || dtype.byteorder;
  const little = order !== '>';
  const need = kind === 'b' && !m[3] ? 1 : size;
  if (raw.length < need) throw new PickleError(`${g}: ${raw.length} bytes for numpy ${dtype.spec}`);
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const code = `${kind}${size}`;
  switch (code) {
    case 'f2': {
      const h = dv.getUint16(0, little), e = (h >> 10) & 31, f = h & 1023, s = h & 0x8000 ? -1 : 1;
      return e === 0 ? s * f * 2 ** -24 : e === 31 ? (f ? NaN : s * Infinity) : s * (1 + f / 1024) * 2 ** (e - 15);
    }
    case 'f4': return dv.getFloat32(0, little);
    case 'f8': return dv.getFloat64(0, little);
    case 'i1': return dv.getInt8(0);
    case 'u1': return dv.getUint8(0);
    case 'i2': return dv.getInt16(0, little);
    case 'u2': return dv.getUint16(0, little);
    case 'i4': return dv.getInt32(0, little);
    case 'u4': return dv.getUint32(0, little);
    case 'i8': { const v = dv.getBigInt64(0, little); return Number.isSafeInteger(Number(v)) ? Number(v) : v; }
    case 'u8': { const v = dv.getBigUint64(0, little); return Number.isSafeInteger(Number(v)) ? Number(v) : v; }
    case 'b1': return dv.getUint8(0) !== 0;
  }
  if (kind === '?') return dv.getUint8(0) !== 0;
  throw new PickleError(`${g}: unsupported numpy scalar dtype '${dtype.spec}'`);
}

const toMap = (x: unknown, g: string): Map<unknown, unknown> => {
  const m = new Map<unknown, unknown>();
  if (x === undefined) return m;
  if (x instanceof Map) { for (const [k, v] of x) m.set(k, v); return m; }
  if (Array.isArray(x)) {
    for (const p of x) {
      if (!Array.isArray(p) || p.length !== 2) throw new PickleError(`${g}: expected (key, value) pairs`);
      m.set(hashKey(p[0]), p[1]);
    }
    return m;
  }
  throw new PickleError(`${g}: cannot build a dict from ${pyRepr(x)}`);
};

/** Built-in allowlist of data-only callables (torch's tensor rebuilds are supplied by the checkpoint reader). */
const BUILTIN_GLOBALS: Record<string, GlobalHandler> = {
  'collections.OrderedDict': (a, { global }) => { expectArgs(a, 0, 1, global); return toMap(a[0], global); },
  'builtins.dict': (a, { global }) => { expectArgs(a, 0, 1, global); return toMap(a[0], global); },
  'builtins.set': (a, { global }) => { expectArgs(a, 0, 1, global); return new Set(a[0] === undefined ? [] : (a[0] as unknown[]).map(hashKey)); },
  'builtins.frozenset': (a, { global }) => { expectArgs(a, 0, 1, global); return new Set(a[0] === undefined ? [] : (a[0] as unknown[]).map(hashKey)); },
  'builtins.bytearray': (a, { global }) => {
    expectArgs(a, 0, 2, global);
    if (a[0] === undefined) return new Uint8Array(0);
    if (a[0] instanceof Uint8Array) return a[0].slice();
    if (typeof a[0] === 'string' && (a[1] === 'latin-1' || a[1] === 'latin1')) return latin1(a[0], global);
    throw new PickleError(`${global}: unsupported arguments ${pyRepr(a)}`);
  },
  // Protocol 2 pickles store `bytes` as _codecs.encode(<latin-1 text>, 'latin1').
  '_codecs.encode': (a, { global }) => {
    expectArgs(a, 1, 2, global);
    const [s, enc = 'utf-8'] = a;
    if (typeof s !== 'string' || typeof enc !== 'string') throw new PickleError(`${global}: expected (str, encoding), got ${pyRepr(a)}`);
    const e = enc.toLowerCase().replace('_', '-');
    if (e === 'latin1' || e === 'latin-1' || e === 'iso-8859-1') return latin1(s, global);
    if (e === 'utf-8' || e === 'utf8') return new TextEncoder().encode(s);
    throw new PickleError(`${global}: encoding '${enc}' is not supported (only latin-1 and utf-8)`);
  },
  'torch.Size': (a, { global }) => { expectArgs(a, 0, 1, global); return PyTuple.of2((a[0] as unknown[] | undefined) ?? []); },
  'torch.device': (a, { global }) => { expectArgs(a, 1, 2, global); return a.length === 2 ? `${String(a[0])}:${String(a[1])}` : String(a[0]); },
  'numpy.dtype': (a, { global }) => {
    expectArgs(a, 1, 3, global);
    if (typeof a[0] !== 'string') throw new PickleError(`${global}: expected a dtype string, got ${pyRepr(a[0])}`);
    return new NumpyDtype(a[0]);
  },
  'numpy.core.multiarray.scalar': numpyScalarHandler,
  'numpy._core.multiarray.scalar': numpyScalarHandler,
  'argparse.Namespace': (a) => new PyObject('argparse.Namespace', a),
};

function numpyScalarHandler(a: unknown[], { global }: { global: string }): unknown {
  expectArgs(a, 1, 2, global);
  const [dtype, raw] = a;
  if (!(dtype instanceof NumpyDtype)) throw new PickleError(`${global}: first argument must be a numpy dtype, got ${pyRepr(dtype)}`);
  if (!(raw instanceof Uint8Array)) throw new PickleError(`${global}: object-dtype scalars are not supported (got ${pyRepr(raw)})`);
  return numpyScalar(dtype, raw, global);
}

function latin1(s: string, g: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 255) throw new PickleError(`${g}: character U+${c.toString(16)} is not latin-1`);
    out[i] = c;
  }
  return out;
}

/** Dict keys / set members: strings, numbers, booleans and None are used as-is; tuples become their repr. */
function hashKey(k: unknown): unknown {
  if (k === null || ['string', 'number', 'bigint', 'boolean'].includes(typeof k)) return k;
  if (Array.isArray(k)) return pyRepr(k);
  if (k instanceof Uint8Array) return `b:${new TextDecoder('latin1').decode(k)}`;
  throw new PickleError(`unhashable or unsupported dict key ${pyRepr(k)}`);
}

const MARK = Symbol('mark');

/** Opcode names, for error messages. */
const OPNAMES: Record<number, string> = {};
const OP = {
  MARK: 0x28, STOP: 0x2e, POP: 0x30, POP_MARK: 0x31, DUP: 0x32, FLOAT: 0x46, INT: 0x49, BININT: 0x4a, BININT1: 0x4b,
  LONG: 0x4c, BININT2: 0x4d, NONE: 0x4e, PERSID: 0x50, BINPERSID: 0x51, REDUCE: 0x52, STRING: 0x53, BINSTRING: 0x54,
  SHORT_BINSTRING: 0x55, UNICODE: 0x56, BINUNICODE: 0x58, APPEND: 0x61, BUILD: 0x62, GLOBAL: 0x63, DICT: 0x64,
  EMPTY_DICT: 0x7d, APPENDS: 0x65, GET: 0x67, BINGET: 0x68, INST: 0x69, LONG_BINGET: 0x6a, LIST: 0x6c, EMPTY_LIST: 0x5d,
  OBJ: 0x6f, PUT: 0x70, BINPUT: 0x71, LONG_BINPUT: 0x72, SETITEM: 0x73, TUPLE: 0x74, EMPTY_TUPLE: 0x29, SETITEMS: 0x75,
  BINFLOAT: 0x47, PROTO: 0x80, NEWOBJ: 0x81, EXT1: 0x82, EXT2: 0x83, EXT4: 0x84, TUPLE1: 0x85, TUPLE2: 0x86, TUPLE3: 0x87,
  NEWTRUE: 0x88, NEWFALSE: 0x89, LONG1: 0x8a, LONG4: 0x8b, BINBYTES: 0x42, SHORT_BINBYTES: 0x43,
  SHORT_BINUNICODE: 0x8c, BINUNICODE8: 0x8d, BINBYTES8: 0x8e, EMPTY_SET: 0x8f, ADDITEMS: 0x90, FROZENSET: 0x91,
  NEWOBJ_EX: 0x92, STACK_GLOBAL: 0x93, MEMOIZE: 0x94, FRAME: 0x95, BYTEARRAY8: 0x96, NEXT_BUFFER: 0x97, READONLY_BUFFER: 0x98,
} as const;
for (const [k, v] of Object.entries(OP)) OPNAMES[v] = k;

/** Decode a little-endian two's-complement integer (LONG1 / LONG4). */
function decodeLong(b: Uint8Array): number | bigint {
  if (b.length === 0) return 0;
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
  if (b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
  return Number.isSafeInteger(Number(v)) && BigInt(Number(v)) === v ? Number(v) : v;
}

function parseIntText(s: string, where: string): number | bigint | boolean {
  const t = s.trim().replace(/L$/, '');
  if (t === '00' && s.trim() === '00') return false; // protocol 0 False
  if (t === '01' && s.trim() === '01') return true;
  if (!/^[-+]?\d+$/.test(t)) throw new PickleError(`${where}: bad integer literal ${JSON.stringify(s)}`);
  const v = BigInt(t);
  return Number.isSafeInteger(Number(v)) ? Number(v) : v;
}

/** Python string literal of protocol 0 (STRING): quoted, with backslash escapes. */
function parseStringLiteral(s: string, where: string): Uint8Array {
  const q = s[0];
  if (s.length < 2 || (q !== "'" && q !== '"') || s[s.length - 1] !== q) throw new PickleError(`${where}: STRING argument must be quoted, got ${JSON.stringify(s.slice(0, 40))}`);
  const body = s.slice(1, -1);
  const out: number[] = [];
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c !== '\\') { out.push(c.charCodeAt(0) & 0xff); continue; }
    const n = body[++i];
    const simple: Record<string, number> = { n: 10, r: 13, t: 9, '\\': 92, "'": 39, '"': 34, a: 7, b: 8, f: 12, v: 11, '0': 0 };
    if (n === 'x') { out.push(parseInt(body.slice(i + 1, i + 3), 16)); i += 2; } else if (n !== undefined && n in simple) out.push(simple[n]!);
    else throw new PickleError(`${where}: unsupported escape \\${n ?? ''} in STRING`);
  }
  return Uint8Array.from(out);
}

/** Python's raw-unicode-escape (protocol 0 UNICODE): \uXXXX and \UXXXXXXXX escapes, other bytes latin-1. */
function rawUnicodeEscape(b: Uint8Array): string {
  const s = new TextDecoder('latin1').decode(b);
  return s.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_, a: string | undefined, c: string | undefined) => String.fromCodePoint(parseInt((a ?? c)!, 16)));
}

/**
 * Unpickle `bytes` from `opts.offset`. Only allowlisted globals are honoured; the rest raise a PickleError
 * naming the global (before anything is called).
 */
export function unpickle(bytes: Uint8Array, opts: UnpickleOptions = {}): UnpickleResult {
  const src = opts.source ? `${opts.source}: ` : '';
  const handlers: Record<string, GlobalHandler> = { ...BUILTIN_GLOBALS, ...(opts.globals ?? {}) };
  const tags = new Set<string>([...BUILTIN_TAGS, ...(opts.tags ?? [])]);
  const n = bytes.length;
  let pos = opts.offset ?? 0;
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  let op = 0;
  let opAt = 0;

  function fail(msg: string): never { throw new PickleError(`${src}pickle opcode ${OPNAMES[op] ?? `0x${op.toString(16)}`} at byte ${opAt}: ${msg}`); }
  const need = (k: number): void => {
    if (!(k >= 0) || pos + k > n) throw new PickleTruncatedError(`${src}pickle truncated: opcode ${OPNAMES[op] ?? op} at byte ${opAt} needs ${k} bytes but ${n - pos} remain`);
  };
  const take = (k: number): Uint8Array => { need(k); const b = bytes.subarray(pos, pos + k); pos += k; return b; };
  const u8 = (): number => { need(1); return bytes[pos++]!; };
  const u16 = (): number => { need(2); const v = dv.getUint16(pos, true); pos += 2; return v; };
  const u32 = (): number => { need(4); const v = dv.getUint32(pos, true); pos += 4; return v; };
  const u64 = (): number => {
    need(8);
    const v = dv.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(n)) throw new PickleTruncatedError(`${src}pickle truncated: opcode ${OPNAMES[op]} at byte ${opAt} declares ${v} bytes but ${n - pos} remain`);
    return Number(v);
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) throw new PickleTruncatedError(`${src}pickle truncated: opcode ${OPNAMES[op]} at byte ${opAt} has no terminating newline`);
    const s = new TextDecoder('latin1').decode(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const text = (b: Uint8Array): string => {
    try { return utf8.decode(b); } catch { return fail('invalid UTF-8 in a string'); }
  };
  const pop = (): unknown => {
    if (stack.length === 0 || (marks.length && stack.length <= marks[marks.length - 1]!)) fail('stack underflow');
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0 || (marks.length && stack.length <= marks[marks.length - 1]!)) fail('stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const m = marks.pop();
    if (m === undefined) return fail('no MARK on the stack');
    const items = stack.splice(m);
    return items;
  };
  const inert: string[] = [];
  const inertMode = opts.unknownGlobals === 'inert';
  const resolveGlobal = (moduleName: string, name: string): unknown => {
    const mod = PY2_MODULES[moduleName] ?? moduleName;
    const q = `${mod}.${name}`;
    if (handlers[q] || tags.has(q)) return new PyGlobal(mod, name);
    if (inertMode) {
      if (!inert.includes(q)) inert.push(q);
      return new PyObject(q); // an inert record: calling it records its arguments, nothing else
    }
    throw new PickleError(`${src}refusing to load global '${q}': it is not on the allowlist of data-only types ` +
      '(a pickle can name any Python callable; only tensors, storages, dtypes, containers and numpy scalars are accepted)');
  };
  const call = (fn: unknown, args: unknown): unknown => {
    if (inertMode && fn instanceof PyObject) return new PyObject(fn.className, Array.isArray(args) ? [...args] : [args]);
    if (!(fn instanceof PyGlobal)) return fail(`cannot call ${pyRepr(fn)}: only allowlisted globals can be called`);
    if (!Array.isArray(args)) return fail(`arguments of ${fn.qualified} must be a tuple, got ${pyRepr(args)}`);
    const h = handlers[fn.qualified];
    if (!h) return fail(`global '${fn.qualified}' is allowed only as a type tag, not as a call`);
    try {
      return h(args, { global: fn.qualified });
    } catch (e) {
      if (e instanceof PickleError) throw new PickleError(`${src}${e.message}`);
      throw e;
    }
  };
  const setItems = (d: unknown, items: unknown[]): void => {
    if (items.length % 2) fail('odd number of items for SETITEMS');
    if (d instanceof PyObject) { for (let i = 0; i < items.length; i += 2) d.dict.set(hashKey(items[i]), items[i + 1]); return; }
    if (!(d instanceof Map)) fail(`SETITEM(S) on a ${pyRepr(d)}, expected a dict`);
    for (let i = 0; i < items.length; i += 2) (d as Map<unknown, unknown>).set(hashKey(items[i]), items[i + 1]);
  };
  const appendItems = (l: unknown, items: unknown[]): void => {
    if (l instanceof PyObject) { l.items.push(...items); return; }
    if (!Array.isArray(l) || l instanceof PyTuple) fail(`APPEND(S) on ${pyRepr(l)}, expected a list`);
    for (const x of items) (l as unknown[]).push(x);
  };
  const memoGet = (i: number): unknown => {
    if (!memo.has(i)) fail(`memo key ${i} was never stored`);
    return memo.get(i);
  };
  const memoPut = (i: number): void => { memo.set(i, top()); };

  while (true) {
    if (pos >= n) throw new PickleTruncatedError(`${src}pickle truncated: reached the end of the data after ${pos - (opts.offset ?? 0)} bytes without a STOP opcode`);
    opAt = pos;
    op = bytes[pos++]!;
    switch (op) {
      case OP.PROTO: { const p = u8(); if (p > 5) fail(`unsupported pickle protocol ${p}`); break; }
      case OP.FRAME: u64(); break; // frames are a buffering hint; the data follows in place
      case OP.STOP: {
        const v = pop();
        if (stack.length) fail(`${stack.length} item(s) left on the stack after STOP`);
        return { value: v, end: pos, inert };
      }
      case OP.MARK: marks.push(stack.length); break;
      case OP.POP: if (marks.length && stack.length === marks[marks.length - 1]) marks.pop(); else pop(); break;
      case OP.POP_MARK: popMark(); break;
      case OP.DUP: stack.push(top()); break;
      case OP.NONE: stack.push(null); break;
      case OP.NEWTRUE: stack.push(true); break;
      case OP.NEWFALSE: stack.push(false); break;
      case OP.BININT: { need(4); stack.push(dv.getInt32(pos, true)); pos += 4; break; }
      case OP.BININT1: stack.push(u8()); break;
      case OP.BININT2: stack.push(u16()); break;
      case OP.LONG1: stack.push(decodeLong(take(u8()))); break;
      case OP.LONG4: { need(4); const k = dv.getInt32(pos, true); pos += 4; if (k < 0) fail('negative LONG4 length'); stack.push(decodeLong(take(k))); break; }
      case OP.INT: stack.push(parseIntText(line(), `${src}INT at byte ${opAt}`)); break;
      case OP.LONG: { const v = parseIntText(line(), `${src}LONG at byte ${opAt}`); stack.push(v); break; }
      case OP.BINFLOAT: { need(8); stack.push(dv.getFloat64(pos, false)); pos += 8; break; }
      case OP.FLOAT: { const s = line(); const v = Number(s); if (Number.isNaN(v) && !/nan/i.test(s)) fail(`bad float ${JSON.stringify(s)}`); stack.push(v); break; }
      case OP.BINUNICODE: stack.push(text(take(u32()))); break;
      case OP.SHORT_BINUNICODE: stack.push(text(take(u8()))); break;
      case OP.BINUNICODE8: stack.push(text(take(u64()))); break;
      case OP.UNICODE: { const end = bytes.indexOf(0x0a, pos); if (end < 0) throw new PickleTruncatedError(`${src}pickle truncated: UNICODE at byte ${opAt} has no newline`); stack.push(rawUnicodeEscape(bytes.subarray(pos, end))); pos = end + 1; break; }
      case OP.SHORT_BINBYTES: stack.push(take(u8()).slice()); break;
      case OP.BINBYTES: stack.push(take(u32()).slice()); break;
      case OP.BINBYTES8: stack.push(take(u64()).slice()); break;
      case OP.BYTEARRAY8: stack.push(take(u64()).slice()); break;
      // Python 2 str: decoded as latin-1 text (the unpickler's encoding='latin1' convention for numpy/torch).
      case OP.SHORT_BINSTRING: stack.push(new TextDecoder('latin1').decode(take(u8()))); break;
      case OP.BINSTRING: { need(4); const k = dv.getInt32(pos, true); pos += 4; if (k < 0) fail('negative BINSTRING length'); stack.push(new TextDecoder('latin1').decode(take(k))); break; }
      case OP.STRING: stack.push(new TextDecoder('latin1').decode(parseStringLiteral(line(), `${src}STRING at byte ${opAt}`))); break;
      case OP.EMPTY_DICT: stack.push(new Map()); break;
      case OP.EMPTY_LIST: stack.push([]); break;
      case OP.EMPTY_TUPLE: stack.push(PyTuple.of2([])); break;
      case OP.EMPTY_SET: stack.push(new Set()); break;
      case OP.TUPLE: stack.push(PyTuple.of2(popMark())); break;
      case OP.TUPLE1: { const a = pop(); stack.push(PyTuple.of2([a])); break; }
      case OP.TUPLE2: { const b = pop(), a = pop(); stack.push(PyTuple.of2([a, b])); break; }
      case OP.TUPLE3: { const c = pop(), b = pop(), a = pop(); stack.push(PyTuple.of2([a, b, c])); break; }
      case OP.LIST: stack.push(popMark()); break;
      case OP.DICT: { const items = popMark(); const d = new Map(); setItems(d, items); stack.push(d); break; }
      case OP.FROZENSET: stack.push(new Set(popMark().map(hashKey))); break;
      case OP.ADDITEMS: { const items = popMark(); const s = top(); if (!(s instanceof Set)) fail('ADDITEMS on a non-set'); for (const x of items) (s as Set<unknown>).add(hashKey(x)); break; }
      case OP.APPEND: { const v = pop(); appendItems(top(), [v]); break; }
      case OP.APPENDS: { const items = popMark(); appendItems(top(), items); break; }
      case OP.SETITEM: { const v = pop(), k = pop(); setItems(top(), [k, v]); break; }
      case OP.SETITEMS: { const items = popMark(); setItems(top(), items); break; }
      case OP.BINPUT: memoPut(u8()); break;
      case OP.LONG_BINPUT: memoPut(u32()); break;
      case OP.PUT: { const s = line(); if (!/^\d+$/.test(s)) fail(`bad PUT index ${JSON.stringify(s)}`); memoPut(Number(s)); break; }
      case OP.MEMOIZE: memo.set(memo.size, top()); break;
      case OP.BINGET: stack.push(memoGet(u8())); break;
      case OP.LONG_BINGET: stack.push(memoGet(u32())); break;
      case OP.GET: { const s = line(); if (!/^\d+$/.test(s)) fail(`bad GET index ${JSON.stringify(s)}`); stack.push(memoGet(Number(s))); break; }
      case OP.GLOBAL: { const mod = line(), name = line(); stack.push(resolveGlobal(mod, name)); break; }
      case OP.STACK_GLOBAL: {
        const name = pop(), mod = pop();
        if (typeof mod !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        stack.push(resolveGlobal(mod as string, name as string));
        break;
      }
      case OP.INST: { const mod = line(), name = line(); const g = resolveGlobal(mod, name); stack.push(call(g, popMark())); break; }
      case OP.OBJ: { const items = popMark(); if (!items.length) fail('OBJ without a class'); stack.push(call(items[0], items.slice(1))); break; }
      case OP.REDUCE: { const args = pop(), fn = pop(); stack.push(call(fn, args)); break; }
      case OP.NEWOBJ: { const args = pop(), cls = pop(); stack.push(call(cls, args)); break; }
      case OP.NEWOBJ_EX: {
        const kwargs = pop(), args = pop(), cls = pop();
        if (!(kwargs instanceof Map) || kwargs.size) fail(`keyword arguments are not supported (class ${pyRepr(cls)})`);
        stack.push(call(cls, args));
        break;
      }
      case OP.BUILD: {
        const state = pop();
        const obj = top();
        if (obj instanceof NumpyDtype) {
          // numpy dtype state: (version, byteorder, subdescr, names, fields, elsize, alignment, flags)
          if (Array.isArray(state) && typeof state[1] === 'string') obj.byteorder = state[1];
        } else if (obj instanceof PyObject) {
          const d = Array.isArray(state) ? state[0] : state;
          if (d instanceof Map) for (const [k, v] of d) obj.dict.set(k, v);
          else obj.state = state;
        } else if (obj instanceof Map) {
          // OrderedDict `__dict__` (a state dict's `_metadata`): kept aside, not applied.
          (obj as Map<unknown, unknown> & { pyState?: unknown }).pyState = state;
        } else fail(`BUILD on ${pyRepr(obj)} is not supported`);
        break;
      }
      case OP.BINPERSID:
      case OP.PERSID: {
        const pid = op === OP.PERSID ? line() : pop();
        if (!opts.persistentLoad) fail('persistent ids are not supported in this pickle');
        stack.push(opts.persistentLoad!(pid));
        break;
      }
      case OP.EXT1: case OP.EXT2: case OP.EXT4: return fail('extension registry codes (EXT1/2/4) are not supported');
      case OP.NEXT_BUFFER: case OP.READONLY_BUFFER: return fail('out-of-band buffers are not supported');
      default: return fail('unknown opcode');
    }
  }
}
