// The one module that talks to onnxruntime. Realizing tensors = plan the pending graph, look its structure
// up in the session cache (compile once on a miss), feed leaves, run, hand values back to the tensors.
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { asBytes, onnxType, type AnyTypedArray } from './dtype.js';
import { encodeModel, type AttrValue, type EncodeOptions, type GraphInit, type ModelInit, type NodeInit, type TensorInit, type ValueInit } from './onnx-proto.js';
import { opTable } from './ops/index.js';
import type { Emitter } from './ops/types.js';
import { Variable, type OpNode, type Tensor } from './tensor.js';

export const OPSET = 20;

export interface RuntimeConfig {
  /** Intra-op threads per session; default: all cores. */
  threads: number;
  /** ORT execution providers in order, e.g. ['cuda', 'cpu'] (CUDA needs the opt-in install, see README). */
  providers: string[];
  /** Compiled sessions kept (LRU); evicted ones are released. */
  cacheSize: number;
  /** Folder to write every compiled model to (debugging); also set by OMNIFORMER_DUMP_ONNX. */
  dumpDir: string | null;
  /**
   * ORT graph optimizers to switch off. Default: MatMulAddFusion, which turns a 3-D MatMul + bias Add into
   * Reshape-Gemm-Reshape; on the CPU provider that Gemm is slower than MatMul followed by the Add (which ORT
   * then fuses into BiasGelu / SkipLayerNormalization where it can): measured 40.7 vs 45.4 ms for a
   * [8·197, 768]·[768, 3072] linear on 2 cores.
   */
  disabledOptimizers: string[];
}

export const config: RuntimeConfig = {
  threads: Number(process.env.OMNIFORMER_THREADS) || availableParallelism(),
  providers: (process.env.OMNIFORMER_PROVIDERS ?? 'cpu').split(',').map((s) => s.trim()).filter(Boolean),
  cacheSize: 64,
  dumpDir: process.env.OMNIFORMER_DUMP_ONNX ?? null,
  disabledOptimizers: ['MatMulAddFusion'],
};

/** Counters for tests and benchmarks. */
export const stats = { compiles: 0, runs: 0, cacheHits: 0, compileMs: 0, runMs: 0 };

export function configure(c: Partial<RuntimeConfig>): void {
  if (c.threads !== undefined && (!Number.isInteger(c.threads) || c.threads < 1)) throw new Error(`threads must be a positive integer, got ${c.threads}`);
  const changed = c.threads !== undefined && c.threads !== config.threads || c.providers !== undefined || c.disabledOptimizers !== undefined;
  Object.assign(config, c);
  if (changed) disposeSessions();
}

interface Compiled {
  session: ort.InferenceSession;
  feedNames: string[];
  outputNames: string[];
}

const cache = new Map<string, Promise<Compiled>>();

/** Release every cached session (and the baked weights they hold). */
export function disposeSessions(): void {
  for (const p of cache.values()) p.then((c) => c.session.release()).catch(() => undefined);
  cache.clear();
}

export function cachedSessionCount(): number { return cache.size; }

export interface Plan {
  key: string;
  order: OpNode[];
  feeds: Tensor[];
  baked: Tensor[];
  outputs: Tensor[];
  local: Map<Tensor, number>;
}

const SMALL_CONST = 16;
/** Plain constants up to this many bytes are keyed by content, so re-tracing a step that rebuilds its masks
 * or index tables still hits the cache; larger ones (and parameters) are keyed by identity and version. */
const HASHED_CONST_BYTES = 1 << 18;
const contentKeys = new WeakMap<object, string>();

function contentHash(t: Tensor): string {
  const arr = t.value;
  const cached = contentKeys.get(arr);
  if (cached) return cached;
  const bytes = new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength);
  // two independent 32-bit FNV-1a lanes: collisions would need to hit both
  let h1 = 0x811c9dc5, h2 = 0x01000193 ^ bytes.length;
  for (let i = 0; i < bytes.length; i++) {
    h1 = Math.imul(h1 ^ bytes[i]!, 0x01000193);
    h2 = Math.imul(h2 ^ bytes[i]!, 0x5bd1e995) ^ (h2 >>> 15);
  }
  const key = `${(h1 >>> 0).toString(36)}.${(h2 >>> 0).toString(36)}`;
  contentKeys.set(arr, key);
  return key;
}

function constKey(t: Tensor): string {
  if (t.size <= SMALL_CONST) return `K${t.dtype}[${t.shape}]${Array.from(t.value, String).join(',')}`;
  if (!(t instanceof Variable) && t.value.byteLength <= HASHED_CONST_BYTES) return `H${t.dtype}[${t.shape}]${contentHash(t)}`;
  return `B${t.dtype}[${t.shape}]${t.bakeKey}`;
}

/**
 * Streaming 96-bit hash of the graph description. Building the description as one string would allocate a
 * string the size of the graph (hundreds of KB for a ViT training step) every step; hashing it piecewise
 * keeps per-step garbage small and short-lived.
 */
class KeyHasher {
  private a = 0x811c9dc5;
  private b = 0x9e3779b9;
  private c = 0x85ebca6b;
  private n = 0;
  push(part: string): void {
    let { a, b, c } = this;
    for (let i = 0; i < part.length; i++) {
      const ch = part.charCodeAt(i);
      a = Math.imul(a ^ ch, 0x01000193);
      b = Math.imul(b ^ ch, 0x5bd1e995); b ^= b >>> 13;
      c = Math.imul(c + ch, 0xc2b2ae35); c ^= c >>> 16;
    }
    // a separator that no character sequence can imitate
    this.a = Math.imul(a ^ 0x1f, 0x01000193); this.b = Math.imul(b ^ 0x3b, 0x5bd1e995); this.c = Math.imul(c + 0x7f, 0xc2b2ae35);
    this.n += part.length + 1;
  }
  digest(): string { return `${(this.a >>> 0).toString(16)}${(this.b >>> 0).toString(16)}${(this.c >>> 0).toString(16)}:${this.n}`; }
}

/** Topologically order the unrealized part of the graph behind `targets` and build its structural key. */
export function plan(targets: Tensor[], isFeed: (t: Tensor) => boolean = (t) => !t.baked): Plan {
  const local = new Map<Tensor, number>();
  const order: OpNode[] = [];
  const feeds: Tensor[] = [];
  const baked: Tensor[] = [];
  const visitedNodes = new Set<OpNode>();
  const parts = new KeyHasher();

  const addLeaf = (t: Tensor): void => {
    local.set(t, local.size);
    if (!isFeed(t)) { baked.push(t); parts.push(constKey(t)); } else { feeds.push(t); parts.push(`F${t.dtype}[${t.shape}]`); }
  };
  // Iterative post-order DFS: graphs of thousands of nodes must not overflow the stack.
  for (const target of targets) {
    if (local.has(target)) continue;
    if (target.isRealized) { addLeaf(target); continue; }
    const stack: [OpNode, number][] = [[target.node!, 0]];
    visitedNodes.add(target.node!);
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      const [node, i] = top;
      if (i < node.inputs.length) {
        top[1]++;
        const inp = node.inputs[i]!;
        if (local.has(inp)) continue;
        if (inp.isRealized) { addLeaf(inp); continue; }
        const producer = inp.node;
        if (!producer) throw new Error(`tensor ${inp} has neither data nor a producer (was it disposed?)`);
        if (!visitedNodes.has(producer)) { visitedNodes.add(producer); stack.push([producer, 0]); }
        continue;
      }
      stack.pop();
      order.push(node);
      const ins = node.inputs.map((t) => local.get(t)!).join(',');
      for (const o of node.outputs) local.set(o, local.size);
      parts.push(`${node.op}${JSON.stringify(node.attrs)}(${ins})`);
    }
  }
  const outputs = [...new Set(targets.filter((t) => !t.isRealized))];
  parts.push(`->${outputs.map((t) => local.get(t)).join(',')}`);
  return { key: parts.digest(), order, feeds, baked, outputs, local };
}

class GraphEmitter implements Emitter {
  nodes: NodeInit[] = [];
  inits: TensorInit[] = [];
  private consts = new Map<string, string>();
  private counter = 0;
  fresh(): string { return `v${this.counter++}`; }
  node(op: string, inputs: string[], outputs: string[] | number, attrs?: Record<string, AttrValue | undefined>, domain?: string): string[] {
    const outs = typeof outputs === 'number' ? Array.from({ length: outputs }, () => this.fresh()) : outputs;
    const n: NodeInit = { op, inputs, outputs: outs };
    if (attrs) n.attrs = attrs;
    if (domain) n.domain = domain;
    this.nodes.push(n);
    return outs;
  }
  private constant(key: string, make: () => TensorInit): string {
    let name = this.consts.get(key);
    if (!name) {
      name = `c${this.consts.size}`;
      this.consts.set(key, name);
      this.inits.push({ ...make(), name });
    }
    return name;
  }
  i64(values: readonly number[]): string {
    return this.constant(`i64:${values.join(',')}`, () => ({ dims: [values.length], dtype: 'int64', raw: asBytes(BigInt64Array.from(values, (v) => BigInt(v))) }));
  }
  f32(values: number | readonly number[]): string {
    const arr = typeof values === 'number' ? [values] : values;
    return this.constant(`f32:${typeof values === 'number' ? 's' : 'v'}${arr.join(',')}`, () => ({ dims: typeof values === 'number' ? [] : [arr.length], dtype: 'float32', raw: asBytes(Float32Array.from(arr)) }));
  }
}

/** Serialize a plan as an ONNX model; `names` overrides the tensor names of graph inputs and outputs. */
export function emitModel(p: Plan, names: Map<Tensor, string> = new Map(), encode: EncodeOptions = {}): { bytes: Uint8Array; feedNames: string[]; outputNames: string[] } {
  const graph = emitGraph(p, names);
  const bytes = encodeModel(modelOf(graph), encode);
  return { bytes, feedNames: graph.inputs.map((v) => v.name), outputNames: graph.outputs.map((v) => v.name) };
}

/** The ModelProto fields around a graph: this engine's opsets. */
export function modelOf(graph: GraphInit): ModelInit {
  return { graph, opsets: { '': OPSET, 'com.microsoft': 1 } };
}

/** A plan as an ONNX graph (nodes, inputs, outputs, initializers), before serialization. */
export function emitGraph(p: Plan, names: Map<Tensor, string> = new Map()): GraphInit {
  const e = new GraphEmitter();
  const name = (t: Tensor): string => names.get(t) ?? `t${p.local.get(t)}`;
  const inputs: ValueInit[] = p.feeds.map((t) => ({ name: name(t), dtype: onnxType[t.dtype], dims: t.shape }));
  for (const t of p.baked) e.inits.push({ name: name(t), dims: t.shape, dtype: onnxType[t.dtype], raw: asBytes(t.value) });
  for (const node of p.order) {
    const def = opTable()[node.op] as { emit: (e: Emitter, ins: string[], outs: string[], a: unknown, inputs: Tensor[]) => void };
    def.emit(e, node.inputs.map(name), node.outputs.map(name), node.attrs, node.inputs);
  }
  const outputs: ValueInit[] = p.outputs.map((t) => ({ name: name(t), dtype: onnxType[t.dtype], dims: t.shape }));
  return { name: 'omniformer', nodes: e.nodes, inputs, outputs, initializers: e.inits };
}

async function compile(p: Plan): Promise<Compiled> {
  const t0 = performance.now();
  const { bytes, feedNames, outputNames } = emitModel(p);
  if (config.dumpDir) {
    mkdirSync(config.dumpDir, { recursive: true });
    writeFileSync(join(config.dumpDir, `model-${stats.compiles}.onnx`), bytes);
  }
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, {
      executionProviders: config.providers,
      graphOptimizationLevel: 'all',
      intraOpNumThreads: config.threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      logSeverityLevel: 3,
      ...(config.disabledOptimizers.length ? { extra: { optimization: { disable_specified_optimizers: config.disabledOptimizers.join(',') } } } : {}),
    });
  } catch (err) {
    const ops = [...new Set(p.order.map((n) => n.op))].join(', ');
    throw new Error(`onnxruntime could not compile the traced graph (${p.order.length} nodes; ops: ${ops}): ${(err as Error).message}`);
  }
  stats.compiles++;
  stats.compileMs += performance.now() - t0;
  return { session, feedNames, outputNames };
}

function lookup(p: Plan): Promise<Compiled> {
  let entry = cache.get(p.key);
  if (entry) {
    stats.cacheHits++;
    cache.delete(p.key); // refresh LRU position
    cache.set(p.key, entry);
    return entry;
  }
  entry = compile(p);
  cache.set(p.key, entry);
  entry.catch(() => cache.delete(p.key));
  while (cache.size > config.cacheSize) {
    const oldest = cache.keys().next().value as string;
    const victim = cache.get(oldest)!;
    cache.delete(oldest);
    victim.then((c) => c.session.release()).catch(() => undefined);
  }
  return entry;
}

function toOrt(t: Tensor): ort.Tensor {
  return new ort.Tensor(t.dtype, t.value as Float32Array, t.shape as number[]);
}

/** Compute the values of `targets` by compiling (or reusing) one ORT session for the whole pending graph. */
export async function realize(targets: Tensor[]): Promise<void> {
  const p = plan(targets);
  if (p.outputs.length === 0) return;
  const compiled = await lookup(p);
  const feeds: Record<string, ort.Tensor> = {};
  p.feeds.forEach((t, i) => { feeds[compiled.feedNames[i]!] = toOrt(t); });
  const t0 = performance.now();
  let result: ort.InferenceSession.OnnxValueMapType;
  try {
    result = await compiled.session.run(feeds);
  } catch (err) {
    throw new Error(`onnxruntime failed running the traced graph: ${(err as Error).message}`);
  }
  stats.runs++;
  stats.runMs += performance.now() - t0;
  p.outputs.forEach((t, i) => {
    const v = result[compiled.outputNames[i]!]!;
    t.setData(v.data as AnyTypedArray);
  });
}
