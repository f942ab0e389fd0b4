// A complete Meta-Transformer model for one modality and task, y = head(encoder(tokenizer(x))), its
// JSON-serialisable run configuration (config.json of a CLI run), and the TrainerTask that trains it.
// State-dict names: `tokenizer.*`, `encoder.{i}.*` (the released checkpoint's keys under `encoder.`), `head.*`.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { Generator } from '../engine/functional/random.js';
import { crossEntropy, l1Loss, mseLoss } from '../engine/functional/losses.js';
import { Tensor } from '../engine/tensor.js';
import type { TokenSequence } from '../data2seq/types.js';
import { META_ENCODER_CONFIGS, MetaTransformerEncoder, loadEncoderWeights, type MetaEncoderConfig } from '../encoders/meta-transformer.js';
import { PerceiverBackbone, resolvePerceiverBackboneConfig, type PerceiverBackboneConfig } from '../encoders/perceiver/backbone.js';
import { ClassificationHead, RegressionHead } from '../heads/classification.js';
import { GraphRegressionHead } from '../heads/graph.js';
import { LinearForecastHead } from '../heads/forecast.js';
import { poolTokens, type PoolMode } from '../heads/pooling.js';
import type { StoredTensor } from '../io/safetensors.js';
import { inferEncoderConfig, mapCheckpointKeys, readCheckpointFile, type CheckpointFile, type CheckpointFormat } from '../io/checkpoint-formats.js';
import { Module } from '../nn/module.js';
import type { Recipe, TaskKind } from '../train/recipes.js';
import type { TaskBatchOutput, TrainerTask } from '../train/trainer.js';
import { DataError } from './files.js';
import { modalitySpec, type AnyTokenizer, type ModalitySpec, type TokenizerConfig } from './modalities.js';
import type { RawSample } from './datasets.js';

// ---- the encoder: a named size or a safetensors file ----

export interface EncoderSpec {
  /** Named size ('tiny', 'small', 'base', 'large') or null for a file of another shape. */
  size: string | null;
  /** Weights file (safetensors), or null for a seeded random initialisation. */
  file: string | null;
  config: MetaEncoderConfig;
  /** Train the encoder too (the paper's "T" setting); frozen otherwise ("F"). */
  unfrozen: boolean;
}

const BLOCK_KEY = /^(?:blocks\.)?(\d+)\.attn\.qkv\.weight$/;

/**
 * Read an encoder weights file and infer its configuration (D, depth, MLP width; heads from a named size, the
 * file's HF config.json, `opts.heads` or D/64). Besides Meta-Transformer encoder files this accepts timm ViT,
 * OpenAI CLIP and HF CLIP checkpoints (src/io/checkpoint-formats.ts): their blocks (a CLIP's vision tower's)
 * become the encoder, with the file's LayerNorm eps and activation, and the returned tensors are already
 * renamed to the encoder's keys (`0.norm1.weight`, ...). safetensors, and PyTorch files where readable.
 */
export async function readEncoderFile(path: string, sizeHint?: string, opts: { heads?: number } = {}): Promise<{ tensors: Map<string, StoredTensor>; config: MetaEncoderConfig; size: string | null; format?: CheckpointFormat }> {
  if (!existsSync(path)) throw new DataError(`encoder file '${path}' does not exist (or name a size: ${Object.keys(META_ENCODER_CONFIGS).join(', ')})`);
  let file: CheckpointFile;
  try { file = await readCheckpointFile(path); } catch (e) { throw new DataError(`${path}: ${(e as Error).message}`); }
  const tensors = file.tensors as Map<string, StoredTensor>;
  if (file.format !== 'meta-transformer') {
    let config: MetaEncoderConfig, mapped: ReturnType<typeof mapCheckpointKeys>;
    try {
      config = inferEncoderConfig(tensors, file.format, { heads: opts.heads, hfConfig: file.hfConfig, sourceName: path });
      mapped = mapCheckpointKeys(tensors, file.format, 'encoder');
    } catch (e) { throw new DataError(`${path}: ${(e as Error).message}`); }
    if (sizeHint !== undefined) {
      const c = (META_ENCODER_CONFIGS as Record<string, MetaEncoderConfig>)[sizeHint];
      if (!c) throw new DataError(`--size: unknown encoder size '${sizeHint}' (valid: ${Object.keys(META_ENCODER_CONFIGS).join(', ')})`);
      if (c.dim !== config.dim || c.depth !== config.depth) throw new DataError(`${path}: holds a ${config.depth}-block encoder of width D=${config.dim}, but --size ${sizeHint} is ${c.depth} blocks of D=${c.dim}`);
    }
    // Encoder keys; keys no rule knows stay under their own names, so the strict load reports them.
    const out = new Map<string, StoredTensor>();
    for (const [k, v] of mapped.mapped) out.set(k, { ...v, storedDtype: 'F32' });
    for (const k of mapped.unexpected) out.set(k, tensors.get(k)!);
    for (const [k, absent] of mapped.incomplete) throw new DataError(`${path}: encoder tensor '${k}' is incomplete: ${absent.join(', ')} missing`);
    return { tensors: out, config, size: sizeHint ?? null, format: file.format };
  }
  let depth = 0, dim = 0, mlp = 0;
  for (const [k, t] of tensors) {
    const m = BLOCK_KEY.exec(k);
    if (!m) continue;
    depth = Math.max(depth, Number(m[1]) + 1);
    dim = t.shape[1] ?? 0;
  }
  for (const [k, t] of tensors) if (/^(?:blocks\.)?0\.mlp\.fc1\.weight$/.test(k)) mlp = t.shape[0]!;
  if (sizeHint !== undefined) {
    const c = (META_ENCODER_CONFIGS as Record<string, MetaEncoderConfig>)[sizeHint];
    if (!c) throw new DataError(`--size: unknown encoder size '${sizeHint}' (valid: ${Object.keys(META_ENCODER_CONFIGS).join(', ')})`);
    if (c.dim !== dim || c.depth !== depth) throw new DataError(`${path}: holds a ${depth}-block encoder of width D=${dim}, but --size ${sizeHint} is ${c.depth} blocks of D=${c.dim}`);
    return { tensors, config: { ...c }, size: sizeHint, format: file.format };
  }
  const named = Object.entries(META_ENCODER_CONFIGS).find(([, c]) => c.dim === dim && c.depth === depth);
  if (named && opts.heads === undefined) return { tensors, config: { ...named[1] }, size: named[0], format: file.format };
  if (opts.heads === undefined && dim % 64) throw new DataError(`${path}: cannot infer the head count of a D=${dim} encoder (not a multiple of 64); pass --size or --heads`);
  const heads = opts.heads ?? dim / 64;
  if (!Number.isInteger(heads) || heads < 1 || dim % heads) throw new DataError(`--heads ${heads} does not divide the encoder width D=${dim}`);
  return { tensors, config: { dim, depth, numHeads: heads, mlpRatio: mlp ? mlp / dim : 4, eps: 1e-5, qkvBias: true }, size: null, format: file.format };
}

/** `--encoder tiny|small|base|large|FILE` -> spec (and the file's tensors when a file). */
export async function resolveEncoder(arg: string, unfrozen: boolean, opts: { heads?: number } = {}): Promise<{ spec: EncoderSpec; tensors: Map<string, StoredTensor> | null }> {
  const named = (META_ENCODER_CONFIGS as Record<string, MetaEncoderConfig>)[arg];
  if (named) {
    if (opts.heads !== undefined && opts.heads !== named.numHeads) throw new DataError(`--heads ${opts.heads}: applies to an --encoder FILE; the ${arg} encoder has ${named.numHeads} heads`);
    return { spec: { size: arg, file: null, config: { ...named }, unfrozen }, tensors: null };
  }
  if (!/[./\\]/.test(arg)) throw new DataError(`--encoder: '${arg}' is neither a size (${Object.keys(META_ENCODER_CONFIGS).join(', ')}) nor a file path`);
  if (opts.heads !== undefined && (!Number.isInteger(opts.heads) || opts.heads < 1)) throw new DataError(`--heads must be a positive integer, got ${opts.heads}`);
  const r = await readEncoderFile(arg, undefined, opts);
  return { spec: { size: r.size, file: resolve(arg), config: r.config, unfrozen }, tensors: r.tensors };
}

// ---- the backbone: Meta-Transformer (default) or Perceiver IO ----

export type BackboneName = 'meta-transformer' | 'perceiver-io';
export const BACKBONES: readonly BackboneName[] = ['meta-transformer', 'perceiver-io'];

/**
 * `--backbone perceiver-io`: the shared encoder is a Perceiver IO (src/encoders/perceiver/backbone.ts), trained
 * from its seeded initialisation (there is no frozen setting); the tokenizers produce tokens of width
 * `config.inputDim` and the head takes width `config.latentDim`. Absent from a run config = meta-transformer.
 */
export interface BackboneSpec { kind: 'perceiver-io'; config: PerceiverBackboneConfig }

/** The backbone's contract with the rest of the pipeline: tokens in, a token sequence for the head out. */
export type SharedBackbone = MetaTransformerEncoder | PerceiverBackbone;

/** Token width the tokenizers must produce for a run config. */
export function tokenWidth(cfg: Pick<RunConfig, 'encoder'> & { backbone?: BackboneSpec }): number {
  return cfg.backbone?.kind === 'perceiver-io' ? cfg.backbone.config.inputDim : cfg.encoder.config.dim;
}

/**
 * The backbone spec of `--backbone NAME` with Perceiver options (undefined for the Meta-Transformer). Heads that
 * read the input token structure (forecast, graph regression) get the 'inputs' output mode unless the options
 * set one.
 */
export function resolveBackbone(name: string | undefined, options: Partial<PerceiverBackboneConfig> | undefined, headKind?: HeadConfig['kind']): BackboneSpec | undefined {
  const n = name ?? 'meta-transformer';
  if (!BACKBONES.includes(n as BackboneName)) throw new DataError(`--backbone: unknown backbone '${n}' (valid: ${BACKBONES.join(', ')})`);
  if (n === 'meta-transformer') {
    if (options && Object.values(options).some((v) => v !== undefined)) throw new DataError(`Perceiver options (${Object.keys(options).filter((k) => options[k as keyof PerceiverBackboneConfig] !== undefined).join(', ')}) need --backbone perceiver-io`);
    return undefined;
  }
  const o: Partial<PerceiverBackboneConfig> = { ...(options ?? {}) };
  if (o.output === undefined && (headKind === 'forecast' || headKind === 'graph-regression')) o.output = 'inputs';
  try { return { kind: 'perceiver-io', config: resolvePerceiverBackboneConfig(o) }; } catch (e) { throw new DataError(`--backbone perceiver-io: ${(e as Error).message}`); }
}

// ---- heads ----

export interface HeadConfig {
  kind: 'classification' | 'regression' | 'graph-regression' | 'forecast';
  /** Classes (classification) or outputs (regression). */
  outDim: number;
  pool?: PoolMode;
  norm?: boolean;
  hidden?: number[];
  dropout?: number;
  /** Forecasting: input steps, horizon and output channels. */
  seqLen?: number;
  predLen?: number;
  channels?: number;
}

export type HeadModule = Module & { forward(x: TokenSequence): Tensor };

export function buildHead(cfg: HeadConfig, dim: number, generator: Generator): HeadModule {
  const pooled = { pool: cfg.pool, norm: cfg.norm, hidden: cfg.hidden, dropout: cfg.dropout, generator };
  switch (cfg.kind) {
    case 'classification': return new ClassificationHead(dim, cfg.outDim, pooled);
    case 'regression': return new RegressionHead(dim, cfg.outDim, pooled);
    case 'graph-regression': return new GraphRegressionHead(dim, cfg.outDim, { generator });
    case 'forecast': return new LinearForecastHead(dim, cfg.seqLen!, cfg.predLen!, cfg.channels!, { mode: 'temporal', generator });
  }
}

/** The default head of a modality and task (spec §3 via the recipe). */
export function defaultHead(modality: string, task: TaskKind, recipe: Recipe, info: { outDim: number; seqLen?: number; predLen?: number; channels?: number }): HeadConfig {
  if (task === 'forecasting') return { kind: 'forecast', outDim: info.channels!, seqLen: info.seqLen, predLen: info.predLen, channels: info.channels };
  if (task === 'regression' && modality === 'graph') return { kind: 'graph-regression', outDim: info.outDim };
  const h = recipe.head;
  return { kind: task === 'regression' ? 'regression' : 'classification', outDim: info.outDim, pool: h.pool, norm: h.norm, ...(h.hidden ? { hidden: h.hidden } : {}), ...(h.dropout !== undefined ? { dropout: h.dropout } : {}) };
}

// ---- run configuration ----

export type TargetConfig =
  | { kind: 'classification'; name: string; classes: string[] }
  | { kind: 'regression'; name: string; mean: number; std: number }
  | { kind: 'forecasting'; channels: string[]; targetChannels: string[]; dateColumn: string | null; mean: number[]; std: number[]; seqLen: number; predLen: number };

export interface RunConfig {
  format: 'omniformer-run';
  version: 1;
  modality: string;
  task: TaskKind;
  seed: number;
  encoder: EncoderSpec;
  tokenizer: TokenizerConfig;
  head: HeadConfig;
  target: TargetConfig;
  /** How --input files of predict are read: 'csv-rows' (CSV rows are samples), 'series' (a CSV of time steps), 'file'. */
  inputLayout: 'csv-rows' | 'series' | 'file';
  /** Reading options (sample rate of array audio, channels of CSV series rows, frames sampled per video clip). */
  read: { sampleRate?: number; channels?: number; frames?: number };
  training: Recipe;
  /** The shared backbone when not the Meta-Transformer encoder (older run configs have none). */
  backbone?: BackboneSpec;
  data: { path: string; format: string; samples: number; split: { train: number; val: number; test: number }; features?: string[] };
}

// ---- the model ----

export class OmniModel extends Module {
  tokenizer: AnyTokenizer;
  encoder: SharedBackbone;
  head: HeadModule | null;
  private _spec: ModalitySpec;

  /** `head` null: an embedding model (tokenizer + encoder). */
  constructor(spec: ModalitySpec, tokenizer: AnyTokenizer, encoder: SharedBackbone, head: HeadModule | null) {
    super();
    this._spec = spec;
    this.tokenizer = tokenizer;
    this.encoder = encoder;
    this.head = head;
  }

  /** Raw samples -> encoded token sequence [B, N, D] (with the tokenizer's padding mask). */
  encodeRaw(inputs: readonly unknown[]): TokenSequence {
    const conv = this._spec.toTokenizerInput;
    const prepared = this.tokenizer.prepare(conv ? inputs.map((r) => conv(r)) : [...inputs]);
    return this.encoder.encode(this.tokenizer.forward(prepared));
  }

  /** Raw samples -> head outputs. */
  forwardRaw(inputs: readonly unknown[]): Tensor {
    if (!this.head) throw new Error('OmniModel: this model has no head (an embedding model); use embed()');
    return this.head.forward(this.encodeRaw(inputs));
  }

  /** Pooled (or full) encoder features of raw samples: [B, D] for 'cls'/'mean', [B, N, D] for 'none'. */
  embed(inputs: readonly unknown[], pool: 'cls' | 'mean' | 'none'): Tensor {
    const seq = this.encodeRaw(inputs);
    if (pool === 'none') return seq.tokens;
    return poolTokens(seq.tokens, pool, { paddingMask: seq.paddingMask ?? null });
  }
}

/**
 * Build the model of a run configuration (deterministic: the seed fixes every random initialisation, in the
 * order tokenizer, encoder, head). `cfg.head` null builds an embedding model.
 */
export async function buildModel(cfg: Pick<RunConfig, 'modality' | 'seed' | 'encoder' | 'tokenizer'> & { head: HeadConfig | null; backbone?: BackboneSpec }, encoderTensors?: Map<string, StoredTensor> | null): Promise<{ model: OmniModel; generator: Generator }> {
  const spec = modalitySpec(cfg.modality);
  const g = new Generator(cfg.seed);
  const D = tokenWidth(cfg);
  let tokenizer: AnyTokenizer;
  try { tokenizer = spec.buildTokenizer(cfg.tokenizer, D, g); } catch (e) { throw new DataError(`${cfg.modality} tokenizer (options ${JSON.stringify(cfg.tokenizer).slice(0, 200)}): ${(e as Error).message}`); }
  if (cfg.backbone?.kind === 'perceiver-io') {
    let backbone: PerceiverBackbone;
    try { backbone = new PerceiverBackbone(resolvePerceiverBackboneConfig(cfg.backbone.config), { generator: g }); } catch (e) { throw new DataError(`perceiver-io backbone (options ${JSON.stringify(cfg.backbone.config)}): ${(e as Error).message}`); }
    const head = cfg.head ? buildHead(cfg.head, backbone.dim, g) : null;
    return { model: new OmniModel(spec, tokenizer, backbone, head), generator: g };
  }
  const encoder = new MetaTransformerEncoder(cfg.encoder.config, { generator: g, frozen: true });
  if (cfg.encoder.file) {
    const tensors = encoderTensors ?? (await readEncoderFile(cfg.encoder.file, undefined, { heads: cfg.encoder.config.numHeads })).tensors; // the heads as the run recorded them
    try { await loadEncoderWeights(encoder, tensors); } catch (e) { throw new DataError(`encoder file '${cfg.encoder.file}': ${(e as Error).message}`); }
  }
  if (cfg.encoder.unfrozen) encoder.unfreeze();
  const head = cfg.head ? buildHead(cfg.head, D, g) : null;
  return { model: new OmniModel(spec, tokenizer, encoder, head), generator: g };
}

// ---- the trainer task ----

export interface OmniSample extends RawSample {
  /** Class index (classification), standardised value (regression) or standardised future (forecasting). */
  target: number | Float32Array;
}

export class OmniTask implements TrainerTask<OmniSample> {
  readonly kind: TaskKind;
  readonly numClasses?: number;
  constructor(readonly model: OmniModel, readonly cfg: RunConfig) {
    this.kind = cfg.task;
    if (cfg.target.kind === 'classification') this.numClasses = cfg.target.classes.length;
  }

  forward(batch: readonly OmniSample[]): TaskBatchOutput {
    const output = this.model.forwardRaw(batch.map((s) => s.input));
    const B = batch.length;
    const t = this.cfg.target;
    if (t.kind === 'classification') {
      const y = new Tensor([B], 'int64', BigInt64Array.from(batch, (s) => BigInt(s.target as number)));
      return { output, loss: crossEntropy(output, y, { labelSmoothing: this.cfg.training.labelSmoothing }) };
    }
    const y = new Tensor(output.shape, 'float32', Float32Array.from(this.targets(batch)));
    const lossFn = t.kind === 'regression' && this.cfg.training.regressionLoss === 'l1' ? l1Loss : mseLoss;
    return { output, loss: lossFn(output, y) };
  }

  targets(batch: readonly OmniSample[]): number[] {
    if (this.kind === 'classification') return batch.map((s) => s.target as number);
    return batch.flatMap((s) => (typeof s.target === 'number' ? [s.target] : Array.from(s.target)));
  }

  /** Regression metrics in the target's units; forecasting metrics stay standardised (as TSLib reports them). */
  toReportUnits = (values: Float32Array): Float32Array => {
    const t = this.cfg.target;
    return t.kind === 'regression' ? values.map((v) => v * t.std + t.mean) : values;
  };
}
