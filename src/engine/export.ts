// Export a traced computation as a standalone ONNX model (for onnxruntime-web, Python ORT, Netron, ...).
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { writeFileAtomicSync } from '../io/atomic.js';
import { dynamicBatchGraph } from './dynamic-batch.js';
import { encodeModel, type ExternalRef, type GraphInit, type TensorInit } from './onnx-proto.js';
import { emitGraph, modelOf, plan, type Plan } from './runtime.js';
import type { Tensor } from './tensor.js';

/**
 * A serialized protobuf message cannot exceed 2 GiB (2^31 - 1 bytes). Initializers beyond this total (the
 * margin leaves room for the graph itself) go to external data in 'auto' mode.
 */
export const MAX_INLINE_INITIALIZER_BYTES = 2 ** 31 - 2 ** 26;

export interface ExportOptions {
  /** Graph inputs by name. Every other leaf (parameters, constants) is baked into the model as an initializer. */
  inputs: Record<string, Tensor>;
  /** Graph outputs by name. */
  outputs: Record<string, Tensor>;
  /** Write the model here (atomically; otherwise only the bytes are returned). */
  path?: string;
  /** Names of baked leaves (e.g. parameters by their state-dict names); the others are named t0, t1, ... */
  names?: ReadonlyMap<Tensor, string>;
  /**
   * Store initializers in `<path>.data` (ONNX external data: location, offset, length) instead of in the
   * model: true = always, false = never, 'auto' (default) = when they exceed `maxInlineBytes` (2 GiB - 64 MiB,
   * the protobuf limit less a margin). Needs `path`: the location is stored relative to the model file.
   */
  externalData?: boolean | 'auto';
  /** 'auto' mode threshold in bytes of all initializers (default MAX_INLINE_INITIALIZER_BYTES). */
  maxInlineBytes?: number;
  /** With external data, initializers smaller than this stay in the model (default 1024 bytes, as onnx's Python helper). */
  externalMinBytes?: number;
  /**
   * Make the batch dimension symbolic ('batch'): `batch` is the batch size `inputs`/`outputs` were traced at,
   * `other` the same computation traced at another batch size (both >= 2). See dynamic-batch.ts.
   */
  dynamicBatch?: { batch: number; other: { batch: number; inputs: Record<string, Tensor>; outputs: Record<string, Tensor> } };
}

export interface ExportResult {
  /** The serialized ModelProto (the .onnx file's bytes). */
  bytes: Uint8Array;
  /** The external data file written next to the model, or null when every initializer is inline. */
  externalData: string | null;
  /** Initializer bytes kept in the model and stored externally. */
  inlineBytes: number;
  externalBytes: number;
}

/** Offsets of tensors of at least 1 MiB are aligned to 64 KiB so ORT can map them (page / allocation granularity). */
const MAP_ALIGN = 65536, MAP_ALIGN_FROM = 1 << 20, ALIGN = 16;

function tempPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

/**
 * Serialize the graph from `inputs` to `outputs` as ONNX (opset 20) and report where its weights went. Trace
 * the model on example inputs whose shapes are the ones the exported model will accept (shapes are static).
 */
/** The traced computation from `inputs` to `outputs` as a plan and its names (inputs, outputs, `names`). */
function planGraph(inputs: Record<string, Tensor>, outputs: Record<string, Tensor>, given: ReadonlyMap<Tensor, string> | undefined): { p: Plan; graph: GraphInit } {
  const feedSet = new Map<Tensor, string>();
  for (const [n, t] of Object.entries(inputs)) feedSet.set(t, n);
  const outs = Object.entries(outputs);
  for (const [n, t] of outs) {
    if (t.isRealized) throw new Error(`exportOnnx: output '${n}' is already realized; export before awaiting values`);
  }
  const p = plan(outs.map(([, t]) => t), (t) => feedSet.has(t));
  for (const [t, n] of feedSet) if (!p.local.has(t)) throw new Error(`exportOnnx: input '${n}' does not reach any output`);
  const names = new Map<Tensor, string>(feedSet);
  for (const [n, t] of outs) names.set(t, n);
  const taken = new Set(names.values());
  for (const [t, n] of given ?? []) {
    if (!p.local.has(t) || names.has(t)) continue;
    if (taken.has(n)) throw new Error(`exportOnnx: name '${n}' is used twice (graph inputs, outputs and initializers need distinct names)`);
    taken.add(n);
    names.set(t, n);
  }
  return { p, graph: emitGraph(p, names) };
}

export function exportOnnxModel(opts: ExportOptions): ExportResult {
  const { p, graph: traced } = planGraph(opts.inputs, opts.outputs, opts.names);
  let graph = traced;
  if (opts.dynamicBatch) {
    const d = opts.dynamicBatch;
    graph = dynamicBatchGraph(traced, planGraph(d.other.inputs, d.other.outputs, opts.names).graph, d.batch, d.other.batch);
  }
  const emit = (encode: Parameters<typeof encodeModel>[1] = {}): { bytes: Uint8Array } => ({ bytes: encodeModel(modelOf(graph), encode) });

  const total = p.baked.reduce((s, t) => s + t.value.byteLength, 0);
  const mode = opts.externalData ?? 'auto';
  const external = mode === true || (mode === 'auto' && total > (opts.maxInlineBytes ?? MAX_INLINE_INITIALIZER_BYTES));
  if (external && !opts.path) {
    throw new Error(`exportOnnx: ${mode === true ? 'external data needs' : `the initializers (${total} bytes) exceed the 2 GB protobuf limit; external data needs`} a 'path' to write the model and its .data file to`);
  }
  if (!external) {
    const { bytes } = emit();
    if (opts.path) writeFileAtomicSync(opts.path, bytes);
    return { bytes, externalData: null, inlineBytes: total, externalBytes: 0 };
  }

  // External data: append each large initializer to a temporary data file, then rename both into place.
  const path = opts.path!;
  const dataPath = `${path}.data`;
  const location = basename(dataPath);
  const minBytes = opts.externalMinBytes ?? 1024;
  const dataTmp = tempPath(dataPath);
  const fd = openSync(dataTmp, 'w', 0o644);
  let offset = 0, inlineBytes = 0, externalBytes = 0, open = true, moved = false;
  // one write call takes at most 2^31 - 1 bytes: write large tensors in 1 GiB pieces
  const write = (b: Uint8Array): void => { let o = 0; while (o < b.byteLength) o += writeSync(fd, b, o, Math.min(b.byteLength - o, 1 << 30)); };
  try {
    const store = (t: TensorInit): ExternalRef | null => {
      if (t.raw.byteLength < minBytes) { inlineBytes += t.raw.byteLength; return null; }
      const align = t.raw.byteLength >= MAP_ALIGN_FROM ? MAP_ALIGN : ALIGN;
      const pad = (align - (offset % align)) % align;
      if (pad) { write(new Uint8Array(pad)); offset += pad; }
      write(t.raw);
      const ref = { location, offset, length: t.raw.byteLength };
      offset += t.raw.byteLength;
      externalBytes += t.raw.byteLength;
      return ref;
    };
    const { bytes } = emit({ external: store });
    fsyncSync(fd);
    closeSync(fd);
    open = false;
    renameSync(dataTmp, dataPath);
    moved = true;
    writeFileAtomicSync(path, bytes);
    return { bytes, externalData: dataPath, inlineBytes, externalBytes };
  } finally {
    if (open) closeSync(fd);
    if (!moved) { try { unlinkSync(dataTmp); } catch { /* never written */ } }
  }
}

/**
 * Serialize the graph from `inputs` to `outputs` as ONNX (opset 20). Trace the model on example inputs whose
 * shapes are the ones the exported model will accept (shapes are static). See {@link exportOnnxModel} for
 * external data (weights over 2 GB).
 */
export function exportOnnx(opts: ExportOptions): Uint8Array {
  return exportOnnxModel(opts).bytes;
}
