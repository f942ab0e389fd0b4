// Export a traced computation as a standalone ONNX model (for onnxruntime-web, Python ORT, Netron, ...).
import { writeFileSync } from 'node:fs';
import { emitModel, plan } from './runtime.js';
import type { Tensor } from './tensor.js';

export interface ExportOptions {
  /** Graph inputs by name. Every other leaf (parameters, constants) is baked into the model as an initializer. */
  inputs: Record<string, Tensor>;
  /** Graph outputs by name. */
  outputs: Record<string, Tensor>;
  /** Write the model here (otherwise only the bytes are returned). */
  path?: string;
}

/**
 * Serialize the graph from `inputs` to `outputs` as ONNX (opset 20). Trace the model on example inputs whose
 * shapes are the ones the exported model will accept (shapes are static).
 */
export function exportOnnx(opts: ExportOptions): Uint8Array {
  const feedSet = new Map<Tensor, string>();
  for (const [n, t] of Object.entries(opts.inputs)) feedSet.set(t, n);
  const outs = Object.entries(opts.outputs);
  for (const [n, t] of outs) {
    if (t.isRealized) throw new Error(`exportOnnx: output '${n}' is already realized; export before awaiting values`);
  }
  const p = plan(outs.map(([, t]) => t), (t) => feedSet.has(t));
  for (const [t, n] of feedSet) if (!p.local.has(t)) throw new Error(`exportOnnx: input '${n}' does not reach any output`);
  const names = new Map<Tensor, string>(feedSet);
  for (const [n, t] of outs) names.set(t, n);
  const { bytes } = emitModel(p, names);
  if (opts.path) writeFileSync(opts.path, bytes);
  return bytes;
}
