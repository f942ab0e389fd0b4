// Module weights <-> safetensors files, keyed by PyTorch dotted names (`blocks.0.attn.qkv.weight`).
import type { AnyTypedArray, DType } from '../engine/dtype.js';
import { dtypeOfArray } from '../engine/dtype.js';
import { Tensor, type Variable } from '../engine/tensor.js';
import type { Module } from '../nn/module.js';
import { readSafetensors, writeSafetensors, type SafetensorsContents, type StoredTensor, type TensorSource } from './safetensors.js';
import { isTorchCheckpointPath, readTorchCheckpoint } from './torch-checkpoint.js';

export interface MismatchedKey {
  key: string;
  /** Shape and dtype in the checkpoint. */
  checkpointShape: number[];
  checkpointDtype: DType;
  /** Shape and dtype the module expects. */
  modelShape: number[];
  modelDtype: DType;
}

export interface LoadStateDictResult {
  /** Module keys the checkpoint does not have (left unchanged). */
  missing: string[];
  /** Checkpoint keys the module does not have (ignored). */
  unexpected: string[];
  /** Keys present in both whose shape or dtype differ (left unchanged). */
  mismatched: MismatchedKey[];
}

export interface LoadStateDictOptions {
  /** Throw (before changing anything) unless every key matches in name, shape and dtype. Default true. */
  strict?: boolean;
}

export class StateDictError extends Error {
  override name = 'StateDictError';
  constructor(message: string, readonly result: LoadStateDictResult) { super(message); }
}

/** Checkpoint-like sources: a safetensors or PyTorch (.pth/.pt/.bin/.ckpt) path, decoded contents, or a map of tensors by name. */
export type StateDictSource = string | SafetensorsContents | Map<string, TensorSource | StoredTensor>;

/** Save every parameter and buffer of `module` (as `module.stateDict()` names them) to a safetensors file. */
export async function saveStateDict(module: Module, path: string, metadata: Record<string, string> = {}): Promise<void> {
  const entries: [string, TensorSource][] = [];
  for (const [name, v] of module.stateDict()) {
    if (!v.isRealized) throw new Error(`saveStateDict: '${name}' has no value (was the module disposed?)`);
    entries.push([name, v]);
  }
  await writeSafetensors(path, entries, metadata);
}

function asEntry(t: TensorSource | StoredTensor): { shape: number[]; data: AnyTypedArray } {
  if (t instanceof Tensor) return { shape: [...t.shape], data: t.value };
  return { shape: [...t.shape], data: t.data };
}

const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;

/**
 * Copy checkpoint values into `module`'s parameters and buffers by name. With `strict` (default) any missing,
 * unexpected or mis-shaped key raises one error listing all of them and nothing is changed; otherwise the
 * matching keys are loaded and the others reported. Values are adopted, not copied.
 */
export async function loadStateDict(module: Module, source: StateDictSource, opts: LoadStateDictOptions = {}): Promise<LoadStateDictResult> {
  const contents = typeof source === 'string'
    ? (isTorchCheckpointPath(source) ? await readTorchCheckpoint(source) : (await readSafetensors(source)).tensors)
    : source instanceof Map ? source : source.tensors;
  return applyStateDict(module, contents, opts, typeof source === 'string' ? source : undefined);
}

/** Synchronous core of {@link loadStateDict} for in-memory checkpoints. */
export function applyStateDict(module: Module, tensors: Map<string, TensorSource | StoredTensor>, opts: LoadStateDictOptions = {}, sourceName?: string): LoadStateDictResult {
  const strict = opts.strict ?? true;
  const own = module.stateDict();
  const result: LoadStateDictResult = { missing: [], unexpected: [], mismatched: [] };
  const plan: [Variable, AnyTypedArray][] = [];
  for (const [key, v] of own) {
    const t = tensors.get(key);
    if (!t) { result.missing.push(key); continue; }
    const e = asEntry(t);
    const dtype = dtypeOfArray(e.data);
    if (dtype !== v.dtype || e.shape.length !== v.rank || e.shape.some((d, i) => d !== v.shape[i])) {
      result.mismatched.push({ key, checkpointShape: e.shape, checkpointDtype: dtype, modelShape: [...v.shape], modelDtype: v.dtype });
      continue;
    }
    plan.push([v, e.data]);
  }
  for (const key of tensors.keys()) if (!own.has(key)) result.unexpected.push(key);
  if (strict && (result.missing.length || result.unexpected.length || result.mismatched.length)) {
    const lines = [`loadStateDict(${module.constructor.name}${sourceName ? `, '${sourceName}'` : ''}): checkpoint does not match the module ` +
      `(${result.missing.length} missing, ${result.unexpected.length} unexpected, ${result.mismatched.length} mismatched); nothing was loaded`];
    if (result.missing.length) lines.push(`  missing keys: ${result.missing.join(', ')}`);
    if (result.unexpected.length) lines.push(`  unexpected keys: ${result.unexpected.join(', ')}`);
    for (const m of result.mismatched) {
      lines.push(`  mismatched '${m.key}': checkpoint ${m.checkpointDtype} ${fmt(m.checkpointShape)} vs model ${m.modelDtype} ${fmt(m.modelShape)}`);
    }
    throw new StateDictError(lines.join('\n'), result);
  }
  for (const [v, data] of plan) v.assignSync(data);
  return result;
}
