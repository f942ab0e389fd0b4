// The operations behind the CLI's model commands, usable from the library: train a run, evaluate it, predict
// with it, embed samples, and run the shared encoder alone on raw tokens.
//
// A run folder (`--out DIR`) holds
//   config.json               everything needed to rebuild the model (modality, task, encoder, tokenizer
//                             configuration incl. a fitted tabular schema, head, classes / target statistics,
//                             the recipe, the seed, the data split sizes);
//   checkpoint.safetensors    the last epoch's full training state (atomic, every epoch; see train/checkpoint.ts);
//   best.safetensors          the weights of the best validation epoch (used by eval / predict / embed);
//   report.json               the final report (also the last line printed with --json).
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { readNpy, writeNpy, npyToFloat32 } from '../io/npy.js';
import { realize } from '../engine/runtime.js';
import { Tensor } from '../engine/tensor.js';
import { MetaTransformerEncoder, loadEncoderWeights } from '../encoders/meta-transformer.js';
import { Trainer, splitDataset, evaluateTask, predictTask, CHECKPOINT_FILE, BEST_FILE, type Metrics, type TrainReport } from '../train/trainer.js';
import { recipeFor, type Recipe, type TaskKind } from '../train/recipes.js';
import { loadWeights } from '../train/checkpoint.js';
import type { ProgressOptions } from '../train/progress.js';
import { DataError, extOf, fmtShape, readCsvFile } from './files.js';
import { BadSamples, loadDataset, readSeriesCsv, type DatasetOptions, type LoadedDataset, type RawSample } from './datasets.js';
import { mapDataset, subsetDataset, type Dataset } from '../data/dataset.js';
import { modalitySpec, type ModalitySpec, type ReadOptions } from './modalities.js';
import { readSampleAt, type SampleReadOptions } from './read-worker.js';
import { OmniTask, buildModel, defaultHead, readEncoderFile, resolveBackbone, resolveEncoder, tokenWidth, type BackboneSpec, type OmniModel, type OmniSample, type RunConfig, type TargetConfig } from './model.js';
import type { PerceiverBackboneConfig } from '../encoders/perceiver/backbone.js';

export const CONFIG_FILE = 'config.json';
export const REPORT_FILE = 'report.json';

const TASKS: readonly TaskKind[] = ['classification', 'regression', 'forecasting'];

export interface TrainRunOptions {
  modality: string;
  data: string;
  task?: TaskKind;
  /** Target column / manifest field; forecasting: the one channel to predict (default: all). */
  target?: string;
  /** 'tiny' | 'small' | 'base' | 'large' | path to a safetensors encoder (default 'tiny'). */
  encoder?: string;
  /** Attention heads of an `encoder` file (default: its HF config.json's, else width / 64). */
  heads?: number;
  unfreeze?: boolean;
  /** Shared backbone: 'meta-transformer' (default) or 'perceiver-io' (then `encoder`/`unfreeze` do not apply). */
  backbone?: string;
  /** Perceiver IO backbone options (latents, widths, depth...; defaults in PERCEIVER_BACKBONE_DEFAULTS). */
  perceiver?: Partial<PerceiverBackboneConfig>;
  epochs?: number;
  batchSize?: number;
  lr?: number;
  weightDecay?: number;
  patience?: number;
  seed?: number;
  /** Run folder (required). */
  out: string;
  resume?: boolean;
  /** Validation and test fractions (default 0.1 each; forecasting 0.1 / 0.2 of the time axis). */
  val?: number;
  test?: number;
  patchSize?: number;
  sampleRate?: number;
  channels?: number;
  seqLen?: number;
  predLen?: number;
  dateColumn?: string;
  freq?: string;
  /** Extra tokenizer options (JSON object), merged over the inferred ones. */
  tokenizerOptions?: Record<string, unknown>;
  /** Head overrides: { pool, norm, hidden, dropout } of pooled heads. */
  headOptions?: { pool?: string; norm?: boolean; hidden?: number[]; dropout?: number };
  progress?: ProgressOptions;
  /** Leave malformed samples out (one warning each, then a count) instead of stopping at the first. */
  skipBad?: boolean;
  /** Warnings (skipped samples); default console.error. */
  warn?: (message: string) => void;
  /** Class folders: read samples lazily in worker threads (default true; false loads them into memory first). */
  stream?: boolean;
  /** Worker threads decoding a lazily read set (default min(4, cores - 1)). */
  workers?: number;
  /** Batches decoded ahead of the one training (default 1). */
  prefetch?: number;
  /** Video clips stored as frame folders: frames sampled per clip (default 8). */
  frames?: number;
  /** Hyperspectral scenes (cube.npy + labels.npy): neighbourhood side of a pixel sample (default 1). */
  patch?: number;
}

/** Data-set reading options shared by train, eval and predict. */
export interface DataReadOptions { skipBad?: boolean; warn?: (message: string) => void; stream?: boolean; workers?: number; prefetch?: number; frames?: number; patch?: number }

function readingOptions(o: DataReadOptions): Pick<DatasetOptions, 'skipBad' | 'warn' | 'stream' | 'workers' | 'frames' | 'patch'> {
  for (const [k, v] of [['--workers', o.workers], ['--frames', o.frames], ['--patch', o.patch]] as const) {
    if (v !== undefined && (!Number.isInteger(v) || v < 1)) throw new DataError(`${k} must be a positive integer, got ${v}`);
  }
  if (o.prefetch !== undefined && (!Number.isInteger(o.prefetch) || o.prefetch < 0)) throw new DataError(`--prefetch must be a non-negative integer, got ${o.prefetch}`);
  return { skipBad: o.skipBad, warn: o.warn, stream: o.stream, workers: o.workers, frames: o.frames, patch: o.patch };
}

function reportSkipped(ds: { skipped: number }, what: string, o: DataReadOptions): void {
  if (ds.skipped) (o.warn ?? ((m: string) => console.error(m)))(`omniformer: skipped ${ds.skipped} bad sample${ds.skipped === 1 ? '' : 's'} of ${what} (--skip-bad)`);
}

export interface TrainRunResult {
  report: RunReport;
  config: RunConfig;
  model: OmniModel;
  /** How the data set was read: its format, samples skipped (skipBad), samples produced by `get` over the
   * whole run (a lazily read set reads each sample when a batch needs it), and the worker threads that
   * decoded them. */
  data: { format: string; lazy: boolean; skipped: number; gets: number; workerThreads: number[] };
}

export interface RunReport {
  modality: string;
  task: TaskKind;
  encoder: { size: string | null; file: string | null; dim: number; depth: number; frozen: boolean };
  /** Present for a non-default backbone (perceiver-io, with its configuration). */
  backbone?: { kind: 'perceiver-io' } & PerceiverBackboneConfig;
  trainableParams: number;
  totalParams: number;
  classes?: string[];
  samples: { train: number; val: number; test: number };
  metrics: { val: Metrics | null; test: Metrics | null };
  bestEpoch: number | null;
  epochs: number;
  steps: number;
  stoppedEarly: boolean;
  resumedFrom: number | null;
  history: { epoch: number; trainLoss: number; lr: number; val?: Metrics }[];
  recipe: { lr: number; weightDecay: number; epochs: number; batchSize: number; labelSmoothing: number; reference: string };
  out: string;
  seconds: number;
}

function checkTask(spec: ModalitySpec, task: string): TaskKind {
  if (!TASKS.includes(task as TaskKind)) throw new DataError(`--task: unknown task '${task}' (valid: ${TASKS.join(', ')})`);
  if (!spec.tasks.includes(task as TaskKind)) throw new DataError(`--task: ${spec.name} supports ${spec.tasks.join(', ')}, not ${task}`);
  return task as TaskKind;
}

/** Sort labels numerically when they all are numbers, else lexically. */
export function sortLabels(labels: Iterable<string>): string[] {
  const u = [...new Set(labels)];
  const numeric = u.every((l) => /^[+-]?\d+(\.\d+)?$/.test(l));
  return numeric ? u.sort((a, b) => Number(a) - Number(b)) : u.sort();
}

function checkShapes(spec: ModalitySpec, samples: readonly RawSample[]): void {
  if (!samples.length) return;
  const first = spec.shapeOf(samples[0]!.input);
  if (!first) return;
  for (const s of samples) {
    const sh = spec.shapeOf(s.input);
    if (sh !== first) throw new DataError(`${s.name} is ${sh} but ${samples[0]!.name} is ${first}; all ${spec.name} samples of a data set must have the same shape (resize, crop or pad them first)`);
  }
}

/** Run every sample through the tokenizer's host-side preparation once, so bad samples fail early, named. */
function validateSamples(model: OmniModel, spec: ModalitySpec, samples: readonly RawSample[], chunk = 64): void {
  const prep = (batch: readonly RawSample[]): void => {
    const conv = spec.toTokenizerInput;
    model.tokenizer.prepare(batch.map((s) => (conv ? conv(s.input) : s.input)));
  };
  for (let i = 0; i < samples.length; i += chunk) {
    const batch = samples.slice(i, i + chunk);
    try { prep(batch); } catch (e) {
      for (const s of batch) {
        try { prep([s]); } catch (e1) { throw new DataError(`${s.name}: ${(e1 as Error).message}`); }
      }
      throw new DataError(`${(e as Error).message} (samples ${batch.slice(0, 8).map((s, k) => `${k} = ${s.name}`).join(', ')}${batch.length > 8 ? ', ...' : ''})`);
    }
  }
}

export function readConfig(dir: string): RunConfig {
  const p = join(dir, CONFIG_FILE);
  if (!existsSync(p)) throw new DataError(`--run: '${dir}' is not a run folder (no ${CONFIG_FILE}; create one with omniformer train --out ${dir})`);
  let cfg: RunConfig;
  try { cfg = JSON.parse(readFileSync(p, 'utf8')) as RunConfig; } catch (e) { throw new DataError(`${p}: invalid JSON (${(e as Error).message})`); }
  if (cfg.format !== 'omniformer-run' || cfg.version !== 1) throw new DataError(`${p}: not an omniformer run configuration (format ${JSON.stringify(cfg.format)}, version ${cfg.version})`);
  return cfg;
}

/** Differences between two JSON values, as 'path: a vs b' lines (for resume checks). */
function jsonDiff(a: unknown, b: unknown, path = ''): string[] {
  if (JSON.stringify(a) === JSON.stringify(b)) return [];
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
    return keys.flatMap((k) => jsonDiff((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], path ? `${path}.${k}` : k));
  }
  const s = (v: unknown): string => { const t = JSON.stringify(v); return t === undefined ? 'unset' : t.length > 60 ? `${t.slice(0, 57)}...` : t; };
  return [`${path}: ${s(a)} vs ${s(b)}`];
}

/** A sample with its trainer target (class index, standardised value or future) for a target config. */
function withTrainerTarget(s: RawSample, target: TargetConfig): OmniSample {
  if (target.kind === 'classification') {
    const k = target.classes.indexOf(s.label!);
    if (k < 0) throw new DataError(`${s.name}: label '${s.label}' is not one of the run's classes (${target.classes.join(', ')})`);
    return { ...s, target: k };
  }
  if (target.kind === 'regression') return { ...s, target: (s.value! - target.mean) / target.std };
  return { ...s, target: s.future! };
}

/**
 * The trainer's samples: an array for sets held in memory, else a lazy Dataset whose `get` reads the sample
 * (decoding in the data set's worker threads) and attaches its target.
 */
function trainerSamples(ds: LoadedDataset, target: TargetConfig): OmniSample[] | Dataset<OmniSample> {
  if (ds.samples) return ds.samples.map((s) => withTrainerTarget(s, target));
  if (target.kind === 'classification' && ds.labels) {
    const known = new Set(target.classes);
    for (let i = 0; i < ds.length; i++) if (!known.has(ds.labels[i]!)) throw new DataError(`${ds.name(i)}: label '${ds.labels[i]}' is not one of the run's classes (${target.classes.join(', ')})`);
  }
  return mapDataset({ length: ds.length, get: (i) => ds.get(i), source: (i) => ds.name(i) }, (s) => withTrainerTarget(s, target));
}

function pickSamples(all: OmniSample[] | Dataset<OmniSample>, idx: number[]): OmniSample[] | Dataset<OmniSample> {
  return Array.isArray(all) ? idx.map((i) => all[i]!) : subsetDataset(all as Dataset<OmniSample>, idx);
}

/** Train a model on a data set (see the file comment for the run folder). */
export async function trainRun(o: TrainRunOptions): Promise<TrainRunResult> {
  const t0 = performance.now();
  const spec = modalitySpec(o.modality);
  const task = checkTask(spec, o.task ?? 'classification');
  if (!o.out) throw new DataError('--out: a run folder is required');
  const out = resolve(o.out);
  const ckpt = join(out, CHECKPOINT_FILE);
  if (existsSync(ckpt) && !o.resume) throw new DataError(`--out: '${o.out}' already holds a training run (${CHECKPOINT_FILE}); pass --resume to continue it or choose another --out`);
  const seed = o.seed ?? 0;
  if (!Number.isInteger(seed) || seed < 0) throw new DataError(`--seed must be a non-negative integer, got ${seed}`);
  const read: SampleReadOptions = { ...(o.sampleRate !== undefined ? { sampleRate: o.sampleRate } : {}), ...(o.channels !== undefined ? { channels: o.channels } : {}), ...(o.frames !== undefined ? { frames: o.frames } : {}) };
  if (o.channels !== undefined && (!Number.isInteger(o.channels) || o.channels < 1)) throw new DataError(`--channels must be a positive integer, got ${o.channels}`);
  const overrides: Partial<Recipe> = {};
  if (o.epochs !== undefined) overrides.epochs = o.epochs;
  if (o.batchSize !== undefined) overrides.batchSize = o.batchSize;
  if (o.lr !== undefined) overrides.lr = o.lr;
  if (o.weightDecay !== undefined) overrides.weightDecay = o.weightDecay;
  if (o.patience !== undefined) overrides.patience = o.patience;
  for (const [k, v] of [['--epochs', overrides.epochs], ['--batch-size', overrides.batchSize]] as const) {
    if (v !== undefined && (!Number.isInteger(v) || v < 1)) throw new DataError(`${k} must be a positive integer, got ${v}`);
  }
  if (overrides.lr !== undefined && !(overrides.lr > 0 && Number.isFinite(overrides.lr))) throw new DataError(`--lr must be a positive number, got ${overrides.lr}`);
  if (overrides.weightDecay !== undefined && !(overrides.weightDecay >= 0)) throw new DataError(`--weight-decay must be >= 0, got ${overrides.weightDecay}`);
  if (overrides.patience !== undefined && !(Number.isInteger(overrides.patience) && overrides.patience >= 0)) throw new DataError(`--patience must be a non-negative integer, got ${overrides.patience}`);
  const recipe = recipeFor(spec.name, task, overrides);

  resolveBackbone(o.backbone, o.perceiver); // validate the backbone options before reading data
  if (o.backbone === 'perceiver-io') {
    if (o.encoder !== undefined && o.encoder !== 'tiny') throw new DataError(`--encoder ${o.encoder}: applies to the meta-transformer backbone, not --backbone perceiver-io`);
    if (o.unfreeze) throw new DataError('--unfreeze: the perceiver-io backbone always trains (it has no pretrained frozen setting)');
  }
  const { spec: encoder, tensors } = await resolveEncoder(o.encoder ?? 'tiny', o.unfreeze ?? false, { heads: o.heads });
  const ds = await loadDataset(o.data, {
    spec, task, target: o.target, read, seqLen: o.seqLen, predLen: o.predLen, dateColumn: o.dateColumn,
    ...(task === 'forecasting' ? { valFraction: o.val, testFraction: o.test } : {}),
    ...readingOptions(o), role: 'train',
  });
  try {
    return await trainOn(ds, o, { t0, spec, task, out, ckpt, seed, read, recipe, encoder, tensors });
  } finally {
    await ds.close();
  }
}

async function trainOn(ds: LoadedDataset, o: TrainRunOptions, c: {
  t0: number; spec: ModalitySpec; task: TaskKind; out: string; ckpt: string; seed: number; read: ReadOptions; recipe: Recipe;
  encoder: Awaited<ReturnType<typeof resolveEncoder>>['spec']; tensors: Awaited<ReturnType<typeof resolveEncoder>>['tensors'];
}): Promise<TrainRunResult> {
  const { t0, spec, task, out, ckpt, seed, read, recipe, encoder, tensors } = c;
  reportSkipped(ds, o.data, o);
  if (ds.samples) checkShapes(spec, ds.samples);

  // split + targets
  let target: TargetConfig;
  let split: { train: number[]; val: number[]; test: number[] };
  if (task === 'forecasting') {
    const s = ds.series!;
    target = { kind: 'forecasting', channels: s.channels, targetChannels: s.targetChannels, dateColumn: s.dateColumn, mean: s.mean, std: s.std, seqLen: s.seqLen, predLen: s.predLen };
    split = s.split;
    if (!split.train.length) throw new DataError(`--data: no training windows (the series is too short for --seq-len ${s.seqLen} + --pred-len ${s.predLen})`);
  } else if (task === 'classification') {
    const labels = ds.labels!;
    const classes = sortLabels(labels);
    if (classes.length < 2) throw new DataError(`--data: classification needs at least 2 classes; '${o.data}' has only ${classes.length} (${classes.join(', ')}) in '${ds.targetName}'`);
    target = { kind: 'classification', name: ds.targetName, classes };
    const index = new Map(classes.map((c, k) => [c, k]));
    split = splitDataset(ds.length, { val: o.val ?? 0.1, test: o.test ?? 0.1, seed, stratify: Int32Array.from(labels, (l) => index.get(l)!) });
  } else {
    split = splitDataset(ds.length, { val: o.val ?? 0.1, test: o.test ?? 0.1, seed });
    const v = split.train.map((i) => ds.values![i]!);
    const mean = v.reduce((a, b) => a + b, 0) / v.length;
    const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length) || 1;
    target = { kind: 'regression', name: ds.targetName, mean, std };
  }
  // Tokenizer sizes come from the training inputs; a lazily read set (uniform shapes, checked while loading)
  // gives them from its first training sample.
  const probe = ds.samples ? null : await ds.get(split.train[0]!);
  const trainInputs = ds.samples ? split.train.map((i) => ds.samples![i]!.input) : [probe!.input];
  const user = { ...(o.freq !== undefined ? { freq: o.freq } : {}), ...(o.tokenizerOptions ?? {}) };
  const head = defaultHead(spec.name, task, recipe, target.kind === 'forecasting'
    ? { outDim: target.targetChannels.length, seqLen: target.seqLen, predLen: target.predLen, channels: target.targetChannels.length }
    : { outDim: target.kind === 'classification' ? target.classes.length : 1 });
  const backbone = resolveBackbone(o.backbone, o.perceiver, head.kind);
  const patchSize = o.patchSize ?? (!backbone && encoder.size === 'large' ? 14 : 16);
  const tokenizer = spec.tokenizerConfig(trainInputs, { dim: tokenWidth({ encoder, backbone }), patchSize, user, all: ds.samples ? ds.samples.map((s) => s.input) : trainInputs, header: ds.header });
  if (o.headOptions) {
    const allowed = ['pool', 'norm', 'hidden', 'dropout'];
    for (const k of Object.keys(o.headOptions)) if (!allowed.includes(k)) throw new DataError(`--head-options: unknown key '${k}' (allowed: ${allowed.join(', ')})`);
    if (head.kind !== 'classification' && head.kind !== 'regression') throw new DataError(`--head-options: the ${head.kind} head has no pooling options`);
    Object.assign(head, o.headOptions);
  }
  const config: RunConfig = {
    format: 'omniformer-run', version: 1, modality: spec.name, task, seed, encoder, tokenizer, head, target,
    inputLayout: ds.format === 'csv-rows' ? 'csv-rows' : ds.format === 'csv-series' ? 'series' : 'file',
    read, training: recipe, ...(backbone ? { backbone } : {}),
    data: { path: resolve(o.data), format: ds.format, samples: ds.length, split: { train: split.train.length, val: split.val.length, test: split.test.length }, ...(ds.header ? { features: ds.header } : {}) },
  };
  mkdirSync(out, { recursive: true });
  const cfgPath = join(out, CONFIG_FILE);
  if (o.resume && existsSync(ckpt)) {
    const saved = readConfig(out);
    const diff = jsonDiff(saved, JSON.parse(JSON.stringify(config)));
    if (diff.length) throw new DataError(`--resume: the options or data differ from the run in '${o.out}' (saved vs now):\n  ${diff.slice(0, 12).join('\n  ')}`);
  } else {
    await writeFileAtomic(cfgPath, new TextEncoder().encode(JSON.stringify(config, null, 2) + '\n'));
  }

  const { model, generator } = await buildModel(config, tensors);
  validateSamples(model, spec, ds.samples ?? [probe!]);
  const samples = trainerSamples(ds, target);
  const pick = (idx: number[]): OmniSample[] | Dataset<OmniSample> => pickSamples(samples, idx);
  const warn = o.warn ?? ((m: string) => console.error(m));
  const taskObj = new OmniTask(model, config);
  const trainer = new Trainer(taskObj, {
    epochs: recipe.epochs, batchSize: recipe.batchSize, lr: recipe.lr, weightDecay: recipe.weightDecay, betas: recipe.betas,
    warmupEpochs: recipe.warmupEpochs, minLr: recipe.minLr, clipGradNorm: recipe.clipGradNorm, patience: recipe.patience, monitor: recipe.monitor,
    seed, generators: { model: generator }, checkpointDir: out, resume: o.resume, config, progress: o.progress,
    prefetch: o.prefetch, skipBad: o.skipBad, onWarning: (m) => warn(`omniformer: ${m}`),
  });
  const r: TrainReport = await trainer.run({ train: pick(split.train), val: pick(split.val), test: pick(split.test) });
  const report: RunReport = {
    modality: spec.name, task,
    encoder: backbone ? backboneSummary(backbone) : { size: encoder.size, file: encoder.file, dim: encoder.config.dim, depth: encoder.config.depth, frozen: !encoder.unfrozen },
    ...(backbone ? { backbone: { kind: backbone.kind, ...backbone.config } } : {}),
    trainableParams: model.numParams({ trainableOnly: true }), totalParams: model.numParams(),
    ...(target.kind === 'classification' ? { classes: target.classes } : {}),
    samples: config.data.split,
    metrics: { val: r.metrics.val ?? null, test: r.metrics.test ?? null },
    bestEpoch: r.best?.epoch ?? null, epochs: r.epochs, steps: r.steps, stoppedEarly: r.stoppedEarly, resumedFrom: r.resumedFrom,
    history: r.history.map((h) => ({ epoch: h.epoch, trainLoss: h.trainLoss, lr: h.lr, ...(h.val ? { val: h.val } : {}) })),
    recipe: { lr: recipe.lr, weightDecay: recipe.weightDecay, epochs: recipe.epochs, batchSize: recipe.batchSize, labelSmoothing: recipe.labelSmoothing, reference: recipe.reference },
    out, seconds: (performance.now() - t0) / 1000,
  };
  await writeFileAtomic(join(out, REPORT_FILE), new TextEncoder().encode(JSON.stringify(report, null, 2) + '\n'));
  return { report, config, model, data: { format: ds.format, lazy: !ds.samples, skipped: ds.skipped, gets: ds.stats.gets, workerThreads: [...ds.stats.workerThreads] } };
}

/** The report's `encoder` entry for a Perceiver backbone: output width, self-attention applications, trained. */
function backboneSummary(b: BackboneSpec): RunReport['encoder'] {
  return { size: null, file: null, dim: b.config.latentDim, depth: b.config.depth * b.config.numBlocks, frozen: false };
}

/** Rebuild a run's model with its best (else last) weights. */
export async function loadRun(dir: string): Promise<{ config: RunConfig; model: OmniModel; task: OmniTask }> {
  const config = readConfig(dir);
  const { model } = await buildModel(config);
  const best = join(dir, BEST_FILE), last = join(dir, CHECKPOINT_FILE);
  const weights = existsSync(best) ? best : existsSync(last) ? last : null;
  if (!weights) throw new DataError(`--run: '${dir}' has no trained weights (${BEST_FILE} or ${CHECKPOINT_FILE}); did training finish its first epoch?`);
  await loadWeights(weights, model);
  model.eval();
  return { config, model, task: new OmniTask(model, config) };
}

export interface EvalRunResult { modality: string; task: TaskKind; samples: number; metrics: Metrics }

/** Metrics of a trained run on a labelled data set (the same formats as training). */
export async function evalRun(o: { run: string; data: string; batchSize?: number; target?: string } & DataReadOptions): Promise<EvalRunResult> {
  const { config, task } = await loadRun(o.run);
  const spec = modalitySpec(config.modality);
  const t = config.target;
  const ds = await loadDataset(o.data, {
    spec, task: config.task, read: config.read,
    ...(t.kind === 'forecasting'
      ? { seqLen: t.seqLen, predLen: t.predLen, seriesStats: { mean: t.mean, std: t.std, channels: t.channels, targetChannels: t.targetChannels, dateColumn: t.dateColumn } }
      : { target: o.target ?? (['csv-rows', 'manifest', 'npz', 'sdf', 'graph-json'].includes(config.data.format) ? t.name : undefined) }),
    ...readingOptions(o), role: 'eval',
    // a hyperspectral scene is cut into the neighbourhoods the run was trained on
    ...(o.patch === undefined && config.modality === 'hyperspectral' && typeof config.tokenizer.patch === 'number' ? { patch: config.tokenizer.patch } : {}),
  });
  try {
    reportSkipped(ds, o.data, o);
    if (!ds.length) throw new DataError(`--data: '${o.data}' has no samples`);
    if (ds.samples) checkShapes(spec, ds.samples);
    validateSamples(task.model, spec, ds.samples ?? [await ds.get(0)]);
    const samples = trainerSamples(ds, t);
    const warn = o.warn ?? ((m: string) => console.error(m));
    const metrics = await evaluateTask(task, samples, o.batchSize ?? config.training.batchSize, { prefetch: o.prefetch, skipBad: o.skipBad, onWarning: (m) => warn(`omniformer: ${m}`) });
    return { modality: config.modality, task: config.task, samples: ds.length, metrics };
  } finally {
    await ds.close();
  }
}

export interface RunPrediction {
  input: string;
  /** Classification */
  label?: string;
  index?: number;
  probabilities?: Record<string, number>;
  /** Regression */
  value?: number;
  /** Forecasting: per target channel, the next predLen values. */
  forecast?: Record<string, number[]>;
}

/** Read --input files as samples of a run (CSV rows, a series, or one sample per file). */
export async function readInputs(config: RunConfig, spec: ModalitySpec, files: readonly string[], bad: BadSamples = new BadSamples(false)): Promise<RawSample[]> {
  const out: RawSample[] = [];
  for (const f of files) {
    if (!existsSync(f)) throw new DataError(`--input: '${f}' does not exist`);
    try {
      out.push(...(await readInput(config, spec, f, bad)));
    } catch (e) { bad.handle(e, f); }
  }
  return out;
}

async function readInput(config: RunConfig, spec: ModalitySpec, f: string, bad: BadSamples): Promise<RawSample[]> {
  const out: RawSample[] = [];
  {
    if (config.inputLayout === 'series') {
      const t = config.target as Extract<TargetConfig, { kind: 'forecasting' }>;
      const s = await readSeriesCsv(f, t.dateColumn ?? undefined, t.channels);
      if (s.steps < t.seqLen) throw new DataError(`--input: '${f}' has ${s.steps} time steps; the model needs the last ${t.seqLen} (--seq-len of the run)`);
      const C = t.channels.length, start = s.steps - t.seqLen;
      const values = s.values.slice(start * C).map((v, k) => (v - t.mean[k % C]!) / t.std[k % C]!);
      out.push({ input: { values, channels: C, ...(s.timestamps ? { timestamps: s.timestamps.slice(start) } : {}) }, name: f });
    } else if (config.inputLayout === 'csv-rows' && (extOf(f) === 'csv' || extOf(f) === 'tsv')) {
      const table = await readCsvFile(f);
      const features = config.data.features ?? [];
      const cols = features.map((c) => {
        const k = table.header.indexOf(c);
        if (k < 0) throw new DataError(`--input: '${f}' has no column '${c}' (the run was trained on columns ${features.join(', ')})`);
        return k;
      });
      table.rows.forEach((r, i) => {
        const where = `${f}:${table.lines[i]}`;
        try { out.push({ input: spec.fromCsvRow!(cols.map((k) => r[k]!), features, where, config.read), name: where }); } catch (e) { bad.handle(e, where); }
      });
    } else {
      out.push({ input: await readSampleAt(spec, f, config.read), name: f });
    }
  }
  return out;
}

function softmax(row: Float32Array): number[] {
  const m = Math.max(...row);
  const e = Array.from(row, (v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/** Predictions of a trained run for input files (one per sample; CSV inputs of row-trained runs give one per row). */
export async function predictRun(o: { run: string; inputs: readonly string[]; batchSize?: number; skipBad?: boolean; warn?: (message: string) => void }): Promise<RunPrediction[]> {
  if (!o.inputs.length) throw new DataError('--input: give at least one input file');
  const { config, task } = await loadRun(o.run);
  const spec = modalitySpec(config.modality);
  const bad = new BadSamples(o.skipBad ?? false, o.warn);
  const raw = await readInputs(config, spec, o.inputs, bad);
  reportSkipped({ skipped: bad.count }, '--input', o);
  if (!raw.length) throw new DataError(`--input: none of the ${o.inputs.length} inputs could be read (${bad.count} skipped)`);
  validateSamples(task.model, spec, raw);
  const t = config.target;
  // prediction ignores targets; zero targets let it share the evaluation path (whose loss is then unused)
  const dummy: OmniSample[] = raw.map((s) => ({ ...s, target: t.kind === 'classification' ? 0 : t.kind === 'regression' ? 0 : new Float32Array(t.predLen * t.targetChannels.length) }));
  const { outputs } = await predictTask(task, dummy, o.batchSize ?? config.training.batchSize);
  const per = outputs.length / raw.length;
  return raw.map((s, i) => {
    const row = outputs.subarray(i * per, (i + 1) * per);
    if (t.kind === 'classification') {
      const p = softmax(row);
      const k = p.indexOf(Math.max(...p));
      return { input: s.name, label: t.classes[k]!, index: k, probabilities: Object.fromEntries(t.classes.map((c, j) => [c, p[j]!])) };
    }
    if (t.kind === 'regression') return { input: s.name, value: row[0]! * t.std + t.mean };
    const C = t.targetChannels.length;
    const forecast = Object.fromEntries(t.targetChannels.map((c, j) => {
      const k = t.channels.indexOf(c);
      return [c, Array.from({ length: t.predLen }, (_, p) => row[p * C + j]! * t.std[k]! + t.mean[k]!)];
    }));
    return { input: s.name, forecast };
  });
}

export interface EmbedRunOptions {
  inputs: readonly string[];
  output: string;
  pool?: 'cls' | 'mean' | 'none';
  /** Use a trained run's tokenizer and encoder (else a seeded random tokenizer and --encoder). */
  run?: string;
  modality?: string;
  encoder?: string;
  /** Attention heads of an `encoder` file (default: its HF config.json's, else width / 64). */
  heads?: number;
  /** Without --run: 'meta-transformer' (default) or 'perceiver-io' (seeded random Perceiver, `perceiver` options). */
  backbone?: string;
  perceiver?: Partial<PerceiverBackboneConfig>;
  seed?: number;
  patchSize?: number;
  sampleRate?: number;
  channels?: number;
  /** Video: frames sampled uniformly per clip (frame folders default 8; array clips default all; with `run`, the run's). */
  frames?: number;
  tokenizerOptions?: Record<string, unknown>;
  batchSize?: number;
}

/** Encoder features of input files, written to a float32 .npy: [B, D] pooled or [B, N, D] with pool 'none'. */
export async function embedRun(o: EmbedRunOptions): Promise<{ shape: number[]; output: string; inputs: string[] }> {
  const pool = o.pool ?? 'mean';
  if (!['cls', 'mean', 'none'].includes(pool)) throw new DataError(`--pool: must be cls, mean or none, got '${pool}'`);
  if (!o.inputs.length) throw new DataError('--input: give at least one input file');
  if (o.frames !== undefined && (!Number.isInteger(o.frames) || o.frames < 1)) throw new DataError(`--frames must be a positive integer, got ${o.frames}`);
  if (o.run && o.heads !== undefined) throw new DataError('--heads: a run\'s encoder is fixed by its config.json; drop --heads (or --run)');
  let model: OmniModel, spec: ModalitySpec, raw: RawSample[];
  if (o.run) {
    const r = await loadRun(o.run);
    if (o.modality && o.modality !== r.config.modality) throw new DataError(`--modality ${o.modality} does not match the run's modality '${r.config.modality}'`);
    spec = modalitySpec(r.config.modality);
    model = r.model;
    // --frames overrides the run's sampling; the tokenizer's frame count still decides (validateSamples says so)
    raw = await readInputs(o.frames !== undefined ? { ...r.config, read: { ...r.config.read, frames: o.frames } } : r.config, spec, o.inputs);
  } else {
    if (!o.modality) throw new DataError('--modality: required unless --run is given');
    spec = modalitySpec(o.modality);
    if (spec.name === 'tabular') throw new DataError('--modality tabular: embedding needs a fitted column schema; pass --run DIR of a trained tabular run');
    const read: ReadOptions = { ...(o.sampleRate !== undefined ? { sampleRate: o.sampleRate } : {}), ...(o.channels !== undefined ? { channels: o.channels } : {}), ...(o.frames !== undefined ? { frames: o.frames } : {}) };
    raw = [];
    for (const f of o.inputs) {
      if (!existsSync(f)) throw new DataError(`--input: '${f}' does not exist`);
      raw.push({ input: await readSampleAt(spec, f, read), name: f }); // video: a folder of frames or an array clip
    }
    checkShapes(spec, raw);
    const backbone = resolveBackbone(o.backbone, o.perceiver);
    if (backbone && o.encoder !== undefined && o.encoder !== 'tiny') throw new DataError(`--encoder ${o.encoder}: applies to the meta-transformer backbone, not --backbone perceiver-io`);
    const { spec: encoder, tensors } = await resolveEncoder(o.encoder ?? 'tiny', false, { heads: o.heads });
    const tokenizer = spec.tokenizerConfig(raw.map((s) => s.input), { dim: tokenWidth({ encoder, backbone }), patchSize: o.patchSize ?? (!backbone && encoder.size === 'large' ? 14 : 16), user: o.tokenizerOptions ?? {}, all: raw.map((s) => s.input) });
    ({ model } = await buildModel({ modality: spec.name, seed: o.seed ?? 0, encoder, tokenizer, head: null, ...(backbone ? { backbone } : {}) }, tensors));
  }
  validateSamples(model, spec, raw);
  model.eval();
  const bs = o.batchSize ?? 16;
  const parts: Float32Array[] = [];
  let shape: number[] = [];
  for (let i = 0; i < raw.length; i += bs) {
    const batch = raw.slice(i, i + bs);
    const t = model.embed(batch.map((s) => s.input), pool);
    await realize([t]);
    if (shape.length && t.shape.slice(1).join() !== shape.slice(1).join()) throw new DataError(`--pool none: inputs give different token counts (${fmtShape(shape.slice(1))} vs ${fmtShape(t.shape.slice(1))}); use --pool mean or cls`);
    shape = [...t.shape];
    parts.push(t.value as Float32Array);
  }
  const data = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let off = 0;
  for (const p of parts) { data.set(p, off); off += p.length; }
  shape[0] = raw.length;
  await writeNpy(o.output, { shape, data });
  return { shape, output: o.output, inputs: raw.map((s) => s.name) };
}

/** Run the shared encoder alone on raw tokens [B, N, D] from a .npy file; writes [B, N, D] float32. */
export async function encodeRun(o: { checkpoint: string; input: string; output: string; size?: string; batchSize?: number; heads?: number }): Promise<{ shape: number[]; size: string | null; dim: number; depth: number; format?: string }> {
  const { tensors, config, size, format } = await readEncoderFile(o.checkpoint, o.size, { heads: o.heads });
  if (!existsSync(o.input)) throw new DataError(`--input: '${o.input}' does not exist`);
  let arr;
  try { arr = await readNpy(o.input); } catch (e) { throw new DataError((e as Error).message); }
  if (!['float32', 'float64', 'float16'].includes(arr.dtype)) throw new DataError(`--input: '${o.input}' holds ${arr.dtype} values; tokens must be floating point (float32) [B, N, D]`);
  if (arr.shape.length !== 3) throw new DataError(`--input: '${o.input}' has shape ${fmtShape(arr.shape)}; tokens must be [B, N, D] (batch, tokens, width)`);
  const [B, N, D] = arr.shape as [number, number, number];
  if (D !== config.dim) throw new DataError(`--input: '${o.input}' has token width D = ${D}, but the ${size ?? 'custom'} encoder in '${o.checkpoint}' expects D = ${config.dim} (${config.depth} blocks)`);
  if (B < 1 || N < 1) throw new DataError(`--input: '${o.input}' has an empty shape ${fmtShape(arr.shape)}`);
  const data = npyToFloat32(arr);
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i]!)) throw new DataError(`--input: '${o.input}' has a non-finite value (${data[i]}) at token [${Math.floor(i / (N * D))}, ${Math.floor(i / D) % N}, ${i % D}]`);
  }
  const encoder = new MetaTransformerEncoder(config, { frozen: true });
  try { await loadEncoderWeights(encoder, tensors); } catch (e) { throw new DataError(`--checkpoint '${o.checkpoint}': ${(e as Error).message}`); }
  encoder.eval();
  const bs = o.batchSize ?? B;
  const out = new Float32Array(B * N * D);
  for (let b = 0; b < B; b += bs) {
    const n = Math.min(bs, B - b);
    const y = encoder.forward(new Tensor([n, N, D], 'float32', data.slice(b * N * D, (b + n) * N * D)));
    out.set(await y.float32(), b * N * D);
  }
  await writeNpy(o.output, { shape: [B, N, D], data: out });
  return { shape: [B, N, D], size, dim: config.dim, depth: config.depth, format };
}
