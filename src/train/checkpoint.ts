// Training checkpoints: ONE safetensors file per checkpoint, written atomically (temp file in the same folder,
// fsync, rename: src/io/atomic.ts), so a crash at any moment leaves either the previous checkpoint or the new
// one, never a torn file.
//
// Contents:
//   model.<name>             trainable parameters and every buffer (batch-norm statistics) of the model. Frozen
//                            parameters are not stored (a frozen Meta-Transformer-B16 is 340 MB): they are
//                            rebuilt by the caller (seeded init or the encoder file) and verified against
//                            the `frozen` checksum stored here.
//   optimizer.<i>.<slot>     the optimizer state (AdamW moments) by flat parameter index;
//   __metadata__             format, version, `optimizer` (kind, lr, hyperparameters, group step counts) and
//                            `state` (JSON: epoch, step, best metric, early-stopping counter, history, the
//                            states of every random generator, a fingerprint of the run, the user's config).
// `best.safetensors` (model weights only, same `model.` names) holds the weights of the best validation epoch.
import { readSafetensors, writeSafetensors, type StoredTensor, type TensorSource } from '../io/safetensors.js';
import type { Variable } from '../engine/tensor.js';
import type { Module } from '../nn/module.js';
import type { Optimizer, OptimizerStateDict } from '../optim/optimizer.js';

export const CHECKPOINT_FORMAT = 'omniformer-checkpoint';
export const WEIGHTS_FORMAT = 'omniformer-weights';
export const CHECKPOINT_VERSION = '1';

export class CheckpointError extends Error {
  override name = 'CheckpointError';
  constructor(readonly path: string, detail: string) { super(`checkpoint '${path}': ${detail}`); }
}

/** The variables a checkpoint stores: trainable parameters and all buffers, by state-dict name. */
export function checkpointVariables(model: Module): [string, Variable][] {
  return [...model.namedParameters().filter(([, p]) => p.requiresGrad), ...model.namedBuffers()];
}

/**
 * A checksum (FNV-1a 32-bit, hex) of the frozen parameters' names, shapes and float bits, in state-dict
 * order: proves that a rebuilt model has the same frozen weights as the one that was trained.
 */
export function frozenChecksum(model: Module): string {
  let h = 0x811c9dc5;
  const mix = (byte: number): void => { h ^= byte; h = Math.imul(h, 0x01000193) >>> 0; };
  for (const [name, p] of model.namedParameters()) {
    if (p.requiresGrad) continue;
    for (let i = 0; i < name.length; i++) mix(name.charCodeAt(i) & 0xff);
    for (const d of p.shape) { mix(d & 0xff); mix((d >>> 8) & 0xff); mix((d >>> 16) & 0xff); }
    const v = p.value;
    const bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    for (let i = 0; i < bytes.length; i++) { h ^= bytes[i]!; h = Math.imul(h, 0x01000193) >>> 0; }
  }
  return h.toString(16).padStart(8, '0');
}

function modelEntries(model: Module): [string, TensorSource][] {
  return checkpointVariables(model).map(([n, v]) => {
    if (!v.isRealized) throw new Error(`checkpoint: '${n}' has no value (was the model disposed?)`);
    return [`model.${n}`, v];
  });
}

/** Copy `model.<name>` tensors into the model's trainable parameters and buffers; all must match exactly. */
export function applyModelTensors(model: Module, tensors: Map<string, StoredTensor>, path: string): void {
  const own = new Map(checkpointVariables(model));
  const missing: string[] = [], mismatched: string[] = [];
  const plan: [Variable, StoredTensor][] = [];
  for (const [name, v] of own) {
    const t = tensors.get(`model.${name}`);
    if (!t) { missing.push(name); continue; }
    if (t.shape.length !== v.rank || t.shape.some((d, i) => d !== v.shape[i]) || t.data.constructor !== v.value.constructor) {
      mismatched.push(`${name}: checkpoint [${t.shape.join(', ')}] vs model [${v.shape.join(', ')}]`);
      continue;
    }
    plan.push([v, t]);
  }
  const unexpected = [...tensors.keys()].filter((k) => k.startsWith('model.') && !own.has(k.slice(6))).map((k) => k.slice(6));
  if (missing.length || unexpected.length || mismatched.length) {
    const lines = [`the model's trainable weights do not match (${missing.length} missing, ${unexpected.length} unexpected, ${mismatched.length} mismatched); was it built with the same configuration (and --unfreeze setting)?`];
    if (missing.length) lines.push(`  missing: ${missing.slice(0, 20).join(', ')}${missing.length > 20 ? ', ...' : ''}`);
    if (unexpected.length) lines.push(`  unexpected: ${unexpected.slice(0, 20).join(', ')}${unexpected.length > 20 ? ', ...' : ''}`);
    for (const m of mismatched.slice(0, 20)) lines.push(`  mismatched ${m}`);
    throw new CheckpointError(path, lines.join('\n'));
  }
  for (const [v, t] of plan) v.assignSync(t.data.slice() as typeof v.value);
}

/** Save the model's trainable weights and buffers (for inference), atomically. */
export async function saveWeights(path: string, model: Module, metadata: Record<string, unknown> = {}): Promise<void> {
  await writeSafetensors(path, modelEntries(model), {
    format: WEIGHTS_FORMAT, version: CHECKPOINT_VERSION, frozen: frozenChecksum(model), info: JSON.stringify(metadata),
  });
}

/** Load weights written by `saveWeights` (or the model part of a checkpoint); verifies the frozen checksum. */
export async function loadWeights(path: string, model: Module): Promise<Record<string, unknown>> {
  let contents;
  try { contents = await readSafetensors(path); } catch (e) { throw new CheckpointError(path, (e as Error).message); }
  const { tensors, metadata } = contents;
  if (metadata.format !== WEIGHTS_FORMAT && metadata.format !== CHECKPOINT_FORMAT) throw new CheckpointError(path, `not an omniformer weights or checkpoint file (format '${metadata.format ?? 'none'}')`);
  checkFrozen(path, model, metadata.frozen);
  applyModelTensors(model, tensors, path);
  return metadata.info ? JSON.parse(metadata.info) as Record<string, unknown> : {};
}

function checkFrozen(path: string, model: Module, stored: string | undefined): void {
  const now = frozenChecksum(model);
  if (stored !== undefined && stored !== now) {
    throw new CheckpointError(path, `the frozen weights differ from the ones it was trained with (checksum ${now}, expected ${stored}): use the same encoder (file or size) and seed`);
  }
}

/** Everything besides tensors that a training checkpoint records. */
export interface CheckpointMeta<S = unknown> {
  state: S;
}

/** Save a full training checkpoint (model, optimizer, JSON state) atomically. */
export async function saveCheckpoint(path: string, model: Module, optimizer: Optimizer, state: unknown): Promise<void> {
  const sd = optimizer.stateDict();
  const tensors: [string, TensorSource][] = [...modelEntries(model), ...[...sd.state].map(([k, v]) => [`optimizer.${k}`, v] as [string, TensorSource])];
  const optMeta = { kind: sd.kind, lr: sd.lr, hyperparameters: sd.hyperparameters, groups: sd.groups };
  await writeSafetensors(path, tensors, {
    format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, frozen: frozenChecksum(model),
    optimizer: JSON.stringify(optMeta), state: JSON.stringify(state),
  });
}

/** Read a checkpoint file without applying it (its state JSON, for inspection or resume decisions). */
export async function readCheckpoint<S = unknown>(path: string): Promise<{ state: S; tensors: Map<string, StoredTensor>; metadata: Record<string, string> }> {
  let contents;
  try { contents = await readSafetensors(path); } catch (e) { throw new CheckpointError(path, (e as Error).message); }
  const { tensors, metadata } = contents;
  if (metadata.format !== CHECKPOINT_FORMAT) throw new CheckpointError(path, `not an omniformer training checkpoint (format '${metadata.format ?? 'none'}')`);
  if (metadata.version !== CHECKPOINT_VERSION) throw new CheckpointError(path, `unsupported checkpoint version ${metadata.version}`);
  if (!metadata.state || !metadata.optimizer) throw new CheckpointError(path, 'metadata has no training state');
  return { state: JSON.parse(metadata.state) as S, tensors, metadata };
}

/** Restore model weights and optimizer state from a checkpoint read by `readCheckpoint`. */
export function restoreCheckpoint(path: string, model: Module, optimizer: Optimizer, ckpt: { tensors: Map<string, StoredTensor>; metadata: Record<string, string> }): void {
  checkFrozen(path, model, ckpt.metadata.frozen);
  const optMeta = JSON.parse(ckpt.metadata.optimizer!) as Omit<OptimizerStateDict, 'state'>;
  const state = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [k, t] of ckpt.tensors) {
    if (!k.startsWith('optimizer.')) continue;
    if (!(t.data instanceof Float32Array)) throw new CheckpointError(path, `optimizer tensor '${k}' is not float32`);
    state.set(k.slice('optimizer.'.length), { shape: t.shape, data: t.data });
  }
  applyModelTensors(model, ckpt.tensors, path);
  try { optimizer.loadStateDict({ ...optMeta, state }); } catch (e) { throw new CheckpointError(path, (e as Error).message); }
}
