// A symbolic batch dimension for exported graphs.
//
// The tracer bakes every shape into the graph (Reshape targets, Expand shapes, ...), so a traced graph runs at
// one batch size. Tracing the same computation at two batch sizes b1 != b2 gives two graphs that differ only
// where the batch enters: int64 shape constants with entries k·b, constants whose leading axis is the batch,
// and the batch dims of the inputs and outputs. `dynamicBatchGraph` diffs the two traces and rewrites the
// first: each batch-dependent shape constant is computed at run time from the batch dim of an input
// (Shape -> Mul -> Concat), each batch-leading constant whose rows are all equal becomes an Expand of one row,
// and batch dims become the dim_param `batch`. Anything else that differs (an attribute, a different node
// list, a constant that is not linear in the batch) is reported as an error naming the node or constant,
// never guessed. Trace at batch sizes >= 2 so that no op specialises on a batch of one.
import type { AttrValue, GraphInit, NodeInit, TensorInit, ValueInit } from './onnx-proto.js';

export class DynamicBatchError extends Error {
  constructor(message: string) {
    super(`dynamic batch: ${message}; export with a fixed batch size instead`);
    this.name = 'DynamicBatchError';
  }
}

function attrKey(v: AttrValue | undefined): string {
  if (v === undefined) return 'undefined';
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'object' && v !== null && 'tensor' in v) {
    const t = v.tensor;
    return JSON.stringify({ dims: t.dims, dtype: t.dtype, raw: Array.from(t.raw) });
  }
  return JSON.stringify(v);
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

function int64s(t: TensorInit): bigint[] {
  return Array.from(new BigInt64Array(t.raw.slice().buffer, 0, t.raw.byteLength / 8));
}

function int64Init(name: string, values: readonly bigint[], dims: readonly number[] = [values.length]): TensorInit {
  return { name, dims, dtype: 'int64', raw: new Uint8Array(BigInt64Array.from(values).buffer) };
}

/** Dims of a value at the two batch sizes -> the symbolic dims (throws on a dim that is not k·b). */
function symbolicDims(what: string, d1: readonly (number | string)[], d2: readonly (number | string)[], b1: number, b2: number, dimName: string): (number | string)[] {
  if (d1.length !== d2.length) throw new DynamicBatchError(`${what} has rank ${d1.length} at batch ${b1} but ${d2.length} at batch ${b2}`);
  return d1.map((a, j) => {
    const b = d2[j]!;
    if (a === b) return a;
    if (typeof a === 'number' && typeof b === 'number' && a % b1 === 0 && a / b1 === b / b2) {
      const k = a / b1;
      return k === 1 ? dimName : `${dimName}*${k}`;
    }
    throw new DynamicBatchError(`${what} dim ${j} is ${a} at batch ${b1} but ${b} at batch ${b2}, not a multiple of the batch`);
  });
}

/**
 * The graph `g1` (traced at batch `b1`) with a symbolic batch dimension, found by comparing it with `g2`, the
 * same computation traced at batch `b2`.
 */
export function dynamicBatchGraph(g1: GraphInit, g2: GraphInit, b1: number, b2: number, dimName = 'batch'): GraphInit {
  if (!Number.isInteger(b1) || !Number.isInteger(b2) || b1 < 2 || b2 < 2 || b1 === b2) {
    throw new DynamicBatchError(`trace batch sizes must be two different integers >= 2, got ${b1} and ${b2}`);
  }
  // the same nodes, wired the same way, with the same attributes
  if (g1.nodes.length !== g2.nodes.length) throw new DynamicBatchError(`the graph has ${g1.nodes.length} nodes at batch ${b1} but ${g2.nodes.length} at batch ${b2}`);
  g1.nodes.forEach((n, i) => {
    const m = g2.nodes[i]!;
    const where = `node ${i} (${n.op} -> ${n.outputs.join(', ')})`;
    if (n.op !== m.op || (n.domain ?? '') !== (m.domain ?? '') || n.inputs.join('\u0000') !== m.inputs.join('\u0000') || n.outputs.join('\u0000') !== m.outputs.join('\u0000')) {
      throw new DynamicBatchError(`${where} differs between batch ${b1} and ${b2} (${m.op} -> ${m.outputs.join(', ')})`);
    }
    const keys = new Set([...Object.keys(n.attrs ?? {}), ...Object.keys(m.attrs ?? {})]);
    for (const k of keys) {
      if (attrKey(n.attrs?.[k]) !== attrKey(m.attrs?.[k])) throw new DynamicBatchError(`${where}: attribute '${k}' depends on the batch size`);
    }
  });

  // inputs: find the batch axis of one of them, the source of the run-time batch size
  if (g1.inputs.length !== g2.inputs.length) throw new DynamicBatchError('the two traces have different inputs');
  let source: { name: string; axis: number } | null = null;
  const inputs: ValueInit[] = g1.inputs.map((v, i) => {
    const w = g2.inputs[i]!;
    if (v.name !== w.name || v.dtype !== w.dtype) throw new DynamicBatchError(`input ${i} is '${v.name}' (${v.dtype}) at batch ${b1} but '${w.name}' (${w.dtype}) at batch ${b2}`);
    const dims = symbolicDims(`input '${v.name}'`, v.dims, w.dims, b1, b2, dimName);
    const axis = dims.indexOf(dimName);
    if (!source && axis >= 0) source = { name: v.name, axis };
    return { ...v, dims };
  });
  if (g1.outputs.length !== g2.outputs.length) throw new DynamicBatchError('the two traces have different outputs');
  const outputs: ValueInit[] = g1.outputs.map((v, i) => {
    const w = g2.outputs[i]!;
    if (v.name !== w.name || v.dtype !== w.dtype) throw new DynamicBatchError(`output ${i} is '${v.name}' at batch ${b1} but '${w.name}' at batch ${b2}`);
    return { ...v, dims: symbolicDims(`output '${v.name}'`, v.dims, w.dims, b1, b2, dimName) };
  });

  const prefix = 'dynamic_batch';
  const extraInits: TensorInit[] = [];
  const extraNodes: NodeInit[] = [];
  let batchVec: string | null = null;
  const batch = (what: string): string => {
    if (batchVec) return batchVec;
    if (!source) throw new DynamicBatchError(`${what} depends on the batch size, but no graph input has a batch dimension`);
    const s = source as { name: string; axis: number };
    batchVec = `${prefix}/size`;
    extraNodes.push({ op: 'Shape', inputs: [s.name], outputs: [batchVec], attrs: { start: s.axis, end: s.axis + 1 } });
    return batchVec;
  };
  let counter = 0;
  const fresh = (what: string): string => `${prefix}/${what}_${counter++}`;

  if (g1.initializers.length !== g2.initializers.length) throw new DynamicBatchError(`the graph has ${g1.initializers.length} constants at batch ${b1} but ${g2.initializers.length} at batch ${b2}`);
  const initializers: TensorInit[] = [];
  g1.initializers.forEach((t, i) => {
    const u = g2.initializers[i]!;
    const what = `constant '${t.name}' (${t.dtype} [${t.dims.join(', ')}])`;
    if (t.name !== u.name || t.dtype !== u.dtype) throw new DynamicBatchError(`${what} is '${u.name}' (${u.dtype}) in the trace at batch ${b2}`);
    const sameDims = t.dims.length === u.dims.length && t.dims.every((d, j) => d === u.dims[j]);
    if (sameDims && bytesEqual(t.raw, u.raw)) { initializers.push(t); return; }
    const name = t.name!;
    if (sameDims && t.dtype === 'int64' && t.dims.length <= 1) {
      // a shape vector: each entry is a constant or k·batch
      const v1 = int64s(t), v2 = int64s(u);
      const pieces: string[] = [];
      let run: bigint[] = [];
      const flush = (): void => { if (run.length) { const c = fresh('const'); extraInits.push(int64Init(c, run)); pieces.push(c); run = []; } };
      v1.forEach((a, j) => {
        const b = v2[j]!;
        if (a === b) { run.push(a); return; }
        if (a % BigInt(b1) !== 0n || a / BigInt(b1) !== b / BigInt(b2) || b % BigInt(b2) !== 0n) {
          throw new DynamicBatchError(`${what}: entry ${j} is ${a} at batch ${b1} but ${b} at batch ${b2}, not a multiple of the batch`);
        }
        flush();
        const k = a / BigInt(b1);
        const size = batch(what);
        if (k === 1n) { pieces.push(size); return; }
        const kName = fresh('k'), out = fresh('mul');
        extraInits.push(int64Init(kName, [k]));
        extraNodes.push({ op: 'Mul', inputs: [size, kName], outputs: [out] });
        pieces.push(out);
      });
      flush();
      if (t.dims.length === 0) {
        const axes = fresh('axes');
        extraInits.push(int64Init(axes, [0n]));
        extraNodes.push({ op: 'Squeeze', inputs: [pieces[0]!, axes], outputs: [name] });
      } else if (pieces.length === 1) {
        extraNodes.push({ op: 'Identity', inputs: [pieces[0]!], outputs: [name] });
      } else {
        extraNodes.push({ op: 'Concat', inputs: pieces, outputs: [name], attrs: { axis: 0 } });
      }
      return;
    }
    const rest = t.dims.slice(1);
    if (t.dims.length >= 1 && t.dims[0] === b1 && u.dims[0] === b2 && u.dims.length === t.dims.length && rest.every((d, j) => d === u.dims[j + 1])) {
      // a constant with the batch as leading axis: fine when every row is the same row
      const rowBytes = t.raw.byteLength / b1;
      const row = t.raw.subarray(0, rowBytes);
      for (let r = 1; r < b1; r++) if (!bytesEqual(row, t.raw.subarray(r * rowBytes, (r + 1) * rowBytes))) throw new DynamicBatchError(`${what} has different rows along its batch axis`);
      for (let r = 0; r < b2; r++) if (!bytesEqual(row, u.raw.subarray(r * rowBytes, (r + 1) * rowBytes))) throw new DynamicBatchError(`${what} has different rows at batch ${b2}`);
      const rowName = fresh('row'), restName = fresh('dims'), shape = fresh('shape');
      initializers.push({ ...t, name: rowName, dims: [1, ...rest], raw: row.slice() });
      extraInits.push(int64Init(restName, rest.map((d) => BigInt(d))));
      extraNodes.push({ op: 'Concat', inputs: [batch(what), restName], outputs: [shape], attrs: { axis: 0 } });
      extraNodes.push({ op: 'Expand', inputs: [rowName, shape], outputs: [name] });
      return;
    }
    throw new DynamicBatchError(`${what} is ${u.dtype} [${u.dims.join(', ')}] with other values at batch ${b2}, which is not a batch-sized shape or a repeated row`);
  });

  return { name: g1.name, nodes: [...extraNodes, ...g1.nodes], inputs, outputs, initializers: [...initializers, ...extraInits] };
}
