// The Trainer: epochs of shuffled mini-batches through a `TrainStep` (forward + backward + AdamW update in one
// compiled session per step), validation after every epoch, the best epoch kept by a monitored validation
// metric, early stopping, an atomic checkpoint after every epoch, and `resume`.
//
// Resume gives exactly the uninterrupted run: a checkpoint holds the trainable weights and buffers, the
// optimizer moments and step counts, the state of the shuffling generator and of every generator the model
// draws from (dropout, augmentation: pass them as `generators`), the epoch, the best metric, the
// early-stopping counter and the history. Epoch e+1 after a resume therefore sees the same permutation, the
// same dropout masks and the same learning rates as it would have without the interruption, so the losses
// are bit-identical.
//
// Data: every split is a `Dataset<S>` (src/data/dataset.ts: `length` + `get(i)`, sync or async) or a plain
// array (wrapped with `arrayDataset`). Batches are loaded by index through `iterateBatches` (the DataLoader's
// loop) in the order of the trainer's own shuffling generator, `prefetch` batches ahead, so a file-backed set
// (a folder of 60,000 images, IDX files) is decoded batch by batch (in worker threads when its `get` uses a
// WorkerPool) while the previous batch trains; only the batches in flight exist as JS objects.
//
// What is trained is a `TrainerTask`: a model plus `forward(batch) -> { output, loss }` (traced) and the
// host-side targets of a batch. The metrics depend on the task kind:
//   classification  loss, accuracy, top5 (more than 5 classes), macroF1          (output [B, C])
//   regression      loss, mse, mae (in report units: `toReportUnits`)           (output [B, ...])
//   forecasting     loss, mse, mae                                               (output [B, predLen, C])
//   segmentation    loss, accuracy (per token), mIoU                             (output [B, N, C])
import { existsSync, mkdirSync, readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Generator } from '../engine/functional/random.js';
import { realize } from '../engine/runtime.js';
import type { Tensor, Variable } from '../engine/tensor.js';
import type { Module } from '../nn/module.js';
import { AdamW } from '../optim/adamw.js';
import type { Optimizer } from '../optim/optimizer.js';
import { paramGroupsNoDecay } from '../optim/param-groups.js';
import { constantLr, cosineWithWarmup, type LrSchedule } from '../optim/schedule.js';
import { readSafetensors } from '../io/safetensors.js';
import { arrayDataset, iterateBatches, type Dataset } from '../data/dataset.js';
import { TrainStep } from './step.js';
import { checkpointVariables, readCheckpoint, restoreCheckpoint, saveCheckpoint, saveWeights, CheckpointError } from './checkpoint.js';
import { classificationMetrics, higherIsBetter, regressionMetrics, segmentationMetrics } from './metrics.js';
import { ProgressBar, type ProgressOptions } from './progress.js';
import type { TaskKind } from './recipes.js';

export type Metrics = Record<string, number>;

export interface TaskBatchOutput {
  /** Model outputs [B, ...] (logits, values, forecasts). */
  output: Tensor;
  /** Scalar training loss of the batch (mean over the batch). */
  loss: Tensor;
}

export interface TrainerTask<S> {
  readonly kind: TaskKind;
  /** Every module whose parameters train (and whose train/eval mode the trainer switches). */
  readonly model: Module;
  /** Classification / segmentation: number of classes (the output's last axis). */
  readonly numClasses?: number;
  /** Segmentation: target value excluded from loss and metrics (default -100). */
  readonly ignoreIndex?: number;
  /** Trace the model and loss on a batch of samples (host-side preparation included). */
  forward(batch: readonly S[]): TaskBatchOutput;
  /** Host-side targets of a batch: class indices, or values aligned element by element with the output. */
  targets(batch: readonly S[]): ArrayLike<number>;
  /** Regression / forecasting: map outputs and targets to the units metrics are reported in (e.g. un-standardise). */
  toReportUnits?(values: Float32Array): Float32Array;
}

export interface EpochRecord {
  epoch: number;
  /** Mean training loss over the epoch's samples. */
  trainLoss: number;
  /** Loss of every optimizer step of the epoch. */
  losses: number[];
  /** Learning rate of the epoch's last step. */
  lr: number;
  val?: Metrics;
  seconds: number;
  samplesPerSecond: number;
}

export interface TrainerHooks {
  /** After each epoch's checkpoint is written (throwing here simulates a crash between epochs). */
  afterEpoch?(record: EpochRecord): void | Promise<void>;
  /** After each optimizer step. */
  afterStep?(info: { epoch: number; step: number; loss: number }): void | Promise<void>;
}

export interface TrainerOptions {
  epochs: number;
  batchSize: number;
  /** Base learning rate (default 1e-3). */
  lr?: number;
  /** AdamW weight decay, not applied to biases, norms and 1-D parameters (default 0.05). */
  weightDecay?: number;
  betas?: [number, number];
  /** Linear warm-up in epochs (converted to steps; default 0). */
  warmupEpochs?: number;
  /** Cosine decay floor (default 0). */
  minLr?: number;
  /** 'cosine' (default, with warm-up) or 'constant'. */
  schedule?: 'cosine' | 'constant';
  clipGradNorm?: number;
  /** Use this optimizer instead of AdamW over `paramGroupsNoDecay(model)`. */
  optimizer?: Optimizer;
  /** Validation metric selecting the best epoch (default: accuracy for classification, mIoU for segmentation, else loss). */
  monitor?: string;
  /** Early stopping: stop after this many epochs without improvement of `monitor` (default 0 = never). */
  patience?: number;
  /** Minimum change that counts as an improvement (default 0). */
  minDelta?: number;
  /** After training, load the best epoch's weights before the final evaluation (default true). */
  restoreBest?: boolean;
  /** Drop the last incomplete batch of an epoch (default false). */
  dropLast?: boolean;
  /** Batch size for evaluation (default batchSize). */
  evalBatchSize?: number;
  /** Seeds the shuffling (default 0). */
  seed?: number;
  /** Random generators the model draws from (dropout, augmentation): saved in and restored from checkpoints. */
  generators?: Record<string, Generator>;
  /** Folder for `checkpoint.safetensors` (every epoch) and `best.safetensors`; none = no checkpoints. */
  checkpointDir?: string;
  /** Continue from `checkpointDir/checkpoint.safetensors` when it exists. */
  resume?: boolean;
  /** Saved in checkpoints for reference (JSON). */
  config?: unknown;
  /** Progress display (default 'auto' on stderr), or a ProgressBar. */
  progress?: ProgressOptions | ProgressBar;
  hooks?: TrainerHooks;
  /** Batches loaded ahead of the one training / being evaluated (default 1; 0 = load on demand). */
  prefetch?: number;
  /** Drop samples whose `get` fails (with a warning each through `onWarning`) instead of stopping (default false). */
  skipBad?: boolean;
  onWarning?: (message: string) => void;
}

/** Samples: a Dataset (lazy, file-backed) or an in-memory array. */
export type SampleSource<S> = Dataset<S> | readonly S[];

/** A Dataset view of a sample source (arrays are wrapped, datasets returned as they are). */
export function asDataset<S>(data: SampleSource<S>): Dataset<S> {
  if (Array.isArray(data)) return arrayDataset(data as readonly S[]);
  const ds = data as Dataset<S>;
  if (!ds || typeof ds.get !== 'function' || !Number.isInteger(ds.length)) throw new TypeError('Trainer: data must be an array of samples or a Dataset ({ length, get(i) })');
  return ds;
}

/** Loading options of batch iteration (prefetch depth and the bad-sample policy). */
export interface BatchLoadOptions { prefetch?: number; skipBad?: boolean; onWarning?: (message: string) => void }

export interface FitResult {
  history: EpochRecord[];
  /** Epochs completed. */
  epochs: number;
  steps: number;
  best: { metric: string; value: number; epoch: number } | null;
  stoppedEarly: boolean;
  /** Epoch the run resumed after (0 = fresh start), when resumed. */
  resumedFrom: number | null;
}

export interface TrainReport extends FitResult {
  metrics: { train?: Metrics; val?: Metrics; test?: Metrics };
  seconds: number;
}

interface CheckpointState {
  epoch: number;
  step: number;
  best: FitResult['best'];
  sinceImprovement: number;
  stoppedEarly: boolean;
  history: EpochRecord[];
  generators: Record<string, number[]>;
  fingerprint: Record<string, unknown>;
  config?: unknown;
}

export const CHECKPOINT_FILE = 'checkpoint.safetensors';
export const BEST_FILE = 'best.safetensors';

// ---- splits ----

/** Seeded train/validation/test split of `n` samples (stratified or chronological on request): one
 * implementation, in src/data/dataset.ts, shared with the streaming datasets. */
export { splitIndices as splitDataset, type IndexSplitOptions as SplitOptions, type IndexSplit as Split } from '../data/dataset.js';

// ---- the trainer ----

function checkPositiveInt(what: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`Trainer: ${what} must be a positive integer, got ${v}`);
}

function sameJson(a: unknown, b: unknown): boolean { return JSON.stringify(a) === JSON.stringify(b); }

export class Trainer<S> {
  readonly task: TrainerTask<S>;
  readonly opts: TrainerOptions;
  readonly optimizer: Optimizer;
  readonly shuffleGenerator: Generator;
  readonly progress: ProgressBar;
  readonly monitor: string;
  private readonly generators: Record<string, Generator>;
  private bestWeights: Map<Variable, Float32Array | BigInt64Array | Uint8Array> | null = null;

  constructor(task: TrainerTask<S>, opts: TrainerOptions) {
    checkPositiveInt('epochs', opts.epochs);
    checkPositiveInt('batchSize', opts.batchSize);
    if (opts.evalBatchSize !== undefined) checkPositiveInt('evalBatchSize', opts.evalBatchSize);
    if (opts.patience !== undefined && !(Number.isInteger(opts.patience) && opts.patience >= 0)) throw new RangeError(`Trainer: patience must be a non-negative integer, got ${opts.patience}`);
    this.task = task;
    this.opts = opts;
    const model = task.model;
    if (!model.trainableParameters().length) throw new Error('Trainer: the model has no trainable parameters');
    this.optimizer = opts.optimizer ?? new AdamW(paramGroupsNoDecay(model, opts.weightDecay ?? 0.05).filter((g) => g.params.length), { lr: opts.lr ?? 1e-3, betas: opts.betas });
    this.shuffleGenerator = new Generator(((opts.seed ?? 0) ^ 0x5eed5eed) >>> 0);
    this.generators = { shuffle: this.shuffleGenerator, ...(opts.generators ?? {}) };
    this.progress = opts.progress instanceof ProgressBar ? opts.progress : new ProgressBar(opts.progress);
    this.monitor = opts.monitor ?? (task.kind === 'classification' ? 'accuracy' : task.kind === 'segmentation' ? 'mIoU' : 'loss');
  }

  private stepsPerEpoch(n: number): number {
    const bs = this.opts.batchSize;
    return this.opts.dropLast ? Math.floor(n / bs) : Math.ceil(n / bs);
  }

  private schedule(stepsPerEpoch: number): LrSchedule {
    const o = this.opts;
    const lr = o.optimizer ? o.optimizer.lr : o.lr ?? 1e-3;
    if ((o.schedule ?? 'cosine') === 'constant') return constantLr(lr);
    const total = o.epochs * stepsPerEpoch;
    const warmup = Math.min(Math.round((o.warmupEpochs ?? 0) * stepsPerEpoch), total - 1);
    return cosineWithWarmup({ baseLr: lr, warmupSteps: Math.max(0, warmup), totalSteps: Math.max(total, 1), minLr: Math.min(o.minLr ?? 0, lr) });
  }

  private fingerprint(nTrain: number, nVal: number): Record<string, unknown> {
    const o = this.opts;
    return {
      trainSize: nTrain, valSize: nVal, epochs: o.epochs, batchSize: o.batchSize, lr: o.optimizer ? o.optimizer.lr : o.lr ?? 1e-3,
      weightDecay: o.weightDecay ?? 0.05, betas: o.betas ?? null, warmupEpochs: o.warmupEpochs ?? 0, minLr: o.minLr ?? 0, schedule: o.schedule ?? 'cosine',
      clipGradNorm: o.clipGradNorm ?? null, monitor: this.monitor, patience: o.patience ?? 0, minDelta: o.minDelta ?? 0, dropLast: o.dropLast ?? false,
      seed: o.seed ?? 0, optimizer: this.optimizer.kind, trainable: this.task.model.numParams({ trainableOnly: true }),
      generators: Object.keys(this.generators),
    };
  }

  private snapshotBest(): void {
    this.bestWeights = new Map(checkpointVariables(this.task.model).map(([, v]) => [v, v.value.slice()]));
  }

  private restoreBestWeights(): void {
    if (!this.bestWeights) return;
    for (const [v, data] of this.bestWeights) v.assignSync(data.slice());
  }

  /** Remove temp files a killed process left behind while writing a checkpoint. */
  private cleanStaleTemps(dir: string): void {
    for (const f of readdirSync(dir)) {
      const m = /^\.(?:checkpoint|best)\.safetensors\.(\d+)\.[0-9a-f]+\.tmp$/.exec(f);
      if (m && Number(m[1]) !== process.pid) { try { unlinkSync(join(dir, f)); } catch { /* gone already */ } }
    }
  }

  /** Train on `train`, validating on `val` after every epoch. */
  async fit(trainData: SampleSource<S>, valData: SampleSource<S> = []): Promise<FitResult> {
    const o = this.opts;
    const train = asDataset(trainData), val = asDataset(valData);
    if (!train.length) throw new Error('Trainer.fit: the training set is empty');
    const spe = this.stepsPerEpoch(train.length);
    if (spe < 1) throw new Error(`Trainer.fit: ${train.length} training samples make no full batch of ${o.batchSize} (dropLast)`);
    const model = this.task.model;
    const step = new TrainStep<readonly S[]>(model, (b) => this.task.forward(b).loss, this.optimizer, { clipGradNorm: o.clipGradNorm, lrSchedule: this.schedule(spe) });
    const fingerprint = this.fingerprint(train.length, val.length);
    const higher = higherIsBetter(this.monitor);
    const minDelta = o.minDelta ?? 0;
    const dir = o.checkpointDir;
    const ckptPath = dir ? join(dir, CHECKPOINT_FILE) : null;
    const bestPath = dir ? join(dir, BEST_FILE) : null;
    if (dir) { mkdirSync(dir, { recursive: true }); this.cleanStaleTemps(dir); }

    let startEpoch = 0, best: FitResult['best'] = null, since = 0, stoppedEarly = false;
    let history: EpochRecord[] = [];
    let resumedFrom: number | null = null;
    if (o.resume) {
      if (!ckptPath) throw new Error('Trainer: resume needs a checkpointDir');
      if (existsSync(ckptPath)) {
        const ck = await readCheckpoint<CheckpointState>(ckptPath);
        const st = ck.state;
        if (!sameJson(st.fingerprint, fingerprint)) {
          const diff = Object.keys(fingerprint).filter((k) => !sameJson(st.fingerprint[k], fingerprint[k]))
            .map((k) => `${k}: checkpoint ${JSON.stringify(st.fingerprint[k])}, now ${JSON.stringify(fingerprint[k])}`);
          throw new CheckpointError(ckptPath, `cannot resume: the run's settings or data changed (${diff.join('; ')})`);
        }
        restoreCheckpoint(ckptPath, model, this.optimizer, ck);
        for (const [name, g] of Object.entries(this.generators)) {
          const s = st.generators[name];
          if (!s) throw new CheckpointError(ckptPath, `has no state for generator '${name}'`);
          g.setState(s);
        }
        startEpoch = st.epoch; best = st.best; since = st.sinceImprovement; stoppedEarly = st.stoppedEarly; history = st.history;
        resumedFrom = st.epoch;
        if (best && bestPath && existsSync(bestPath)) {
          const { tensors } = await readSafetensors(bestPath);
          const vars = checkpointVariables(model);
          this.bestWeights = new Map(vars.map(([n, v]) => {
            const t = tensors.get(`model.${n}`);
            if (!t || t.shape.join() !== v.shape.join()) throw new CheckpointError(bestPath, `has no matching tensor for '${n}'`);
            return [v, t.data.slice()];
          }));
        } else if (best) throw new CheckpointError(ckptPath, `records a best epoch (${best.epoch}) but '${bestPath}' is missing`);
        this.progress.log(`resuming after epoch ${st.epoch} (step ${st.step})`);
      } else {
        resumedFrom = 0;
      }
    }

    model.train();
    for (let epoch = startEpoch + 1; epoch <= o.epochs && !stoppedEarly; epoch++) {
      const t0 = performance.now();
      this.progress.startEpoch(epoch, o.epochs);
      const perm = this.shuffleGenerator.permutation(train.length);
      const losses: number[] = [];
      let seen = 0, lossSum = 0, lr = this.optimizer.lr, s = 0;
      for await (const loaded of iterateBatches(train, { batchSize: o.batchSize, order: perm, dropLast: o.dropLast, prefetch: o.prefetch, skipBad: o.skipBad, onWarning: o.onWarning, epoch })) {
        s++;
        const batch = loaded.items;
        if (!batch.length) continue; // every sample of the batch was bad (skipBad)
        const r = await step.step(batch);
        losses.push(r.loss);
        lossSum += r.loss * batch.length;
        seen += batch.length;
        lr = r.lr ?? lr;
        this.progress.step({ step: s, steps: spe, samples: seen, loss: lossSum / seen, lr });
        if (o.hooks?.afterStep) await o.hooks.afterStep({ epoch, step: this.optimizer.stepCount, loss: r.loss });
      }
      const trainSeconds = (performance.now() - t0) / 1000;
      if (!seen) throw new Error(`Trainer.fit: no training sample of epoch ${epoch} could be loaded`);
      const record: EpochRecord = { epoch, trainLoss: lossSum / seen, losses, lr, seconds: 0, samplesPerSecond: seen / Math.max(trainSeconds, 1e-9) };
      let improved = false;
      if (val.length) {
        record.val = await this.evaluate(val);
        const v = record.val[this.monitor];
        if (v === undefined) throw new Error(`Trainer: monitored metric '${this.monitor}' is not among the validation metrics (${Object.keys(record.val).join(', ')})`);
        improved = !Number.isNaN(v) && (!best || (higher ? v > best.value + minDelta : v < best.value - minDelta));
        if (improved) { best = { metric: this.monitor, value: v, epoch }; since = 0; } else since++;
        if ((o.patience ?? 0) > 0 && since >= o.patience!) stoppedEarly = true;
      } else {
        improved = true;
        best = null;
      }
      record.seconds = (performance.now() - t0) / 1000;
      history.push(record);
      if (improved && val.length) {
        this.snapshotBest();
        if (bestPath) await saveWeights(bestPath, model, { epoch, metric: this.monitor, value: best!.value });
      }
      if (ckptPath) {
        const generators = Object.fromEntries(Object.entries(this.generators).map(([k, g]) => [k, g.getState()]));
        const state: CheckpointState = { epoch, step: this.optimizer.stepCount, best, sinceImprovement: since, stoppedEarly, history, generators, fingerprint, config: o.config };
        await saveCheckpoint(ckptPath, model, this.optimizer, state);
      }
      const valText = record.val ? ' ' + Object.entries(record.val).map(([k, v]) => `val ${k} ${fmt(v)}`).join(' ') : '';
      this.progress.endEpoch(`loss ${fmt(record.trainLoss)}${valText}${improved && val.length ? ' *' : ''}${stoppedEarly ? ` (early stop: no ${this.monitor} improvement for ${since} epochs)` : ''}`);
      if (o.hooks?.afterEpoch) await o.hooks.afterEpoch(record);
    }
    if ((o.restoreBest ?? true) && this.bestWeights) this.restoreBestWeights();
    return { history, epochs: history.length, steps: this.optimizer.stepCount, best, stoppedEarly, resumedFrom };
  }

  /** Outputs (realized, float32, row-major) and mean loss of the model on `data`, in eval mode. */
  predict(data: SampleSource<S>): Promise<Prediction> { return predictTask(this.task, data, this.opts.evalBatchSize ?? this.opts.batchSize, this.loadOptions()); }

  /** Metrics of the model on `data` (see the file comment). */
  evaluate(data: SampleSource<S>): Promise<Metrics> { return evaluateTask(this.task, data, this.opts.evalBatchSize ?? this.opts.batchSize, this.loadOptions()); }

  private loadOptions(): BatchLoadOptions { return { prefetch: this.opts.prefetch, skipBad: this.opts.skipBad, onWarning: this.opts.onWarning }; }

  /** fit, then the final metrics on each split with the best weights; the JSON-serialisable report. */
  async run(splits: { train: SampleSource<S>; val?: SampleSource<S>; test?: SampleSource<S> }): Promise<TrainReport> {
    const t0 = performance.now();
    const fit = await this.fit(splits.train, splits.val ?? []);
    const metrics: TrainReport['metrics'] = {};
    if (splits.val?.length) metrics.val = await this.evaluate(splits.val);
    if (splits.test?.length) metrics.test = await this.evaluate(splits.test);
    return { ...fit, metrics, seconds: (performance.now() - t0) / 1000 };
  }
}

export interface Prediction {
  /** Outputs of all samples, row-major float32. */
  outputs: Float32Array;
  /** Output shape with the batch axis = number of samples. */
  shape: number[];
  /** Mean loss over the samples. */
  loss: number;
  /** Host targets of the predicted samples (`task.targets`, batch by batch). */
  targets: Float32Array;
  /** Dataset indices of the predicted samples, in output order (all of them unless skipBad dropped some). */
  indices: Uint32Array;
}

/** Run a task's model on `data` in eval mode, in batches loaded in order (`prefetch` ahead); the outputs and the mean loss. */
export async function predictTask<S>(task: TrainerTask<S>, data: SampleSource<S>, batchSize: number, opts: BatchLoadOptions = {}): Promise<Prediction> {
  const ds = asDataset(data);
  const model = task.model;
  const wasTraining = model.training;
  model.eval();
  try {
    const parts: Float32Array[] = [];
    const targets: number[] = [];
    const indices: number[] = [];
    let shape: number[] = [];
    let lossSum = 0, count = 0;
    for await (const loaded of iterateBatches(ds, { batchSize, shuffle: false, prefetch: opts.prefetch, skipBad: opts.skipBad, onWarning: opts.onWarning })) {
      const batch = loaded.items;
      if (!batch.length) continue;
      const { output, loss } = task.forward(batch);
      await realize([output, loss]);
      parts.push(output.value as Float32Array);
      shape = [...output.shape];
      lossSum += Number(loss.value[0]) * batch.length;
      count += batch.length;
      const t = task.targets(batch);
      for (let k = 0; k < t.length; k++) targets.push(t[k]!);
      loaded.indices.forEach((i) => indices.push(i));
    }
    const outputs = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
    let off = 0;
    for (const p of parts) { outputs.set(p, off); off += p.length; }
    if (shape.length) shape[0] = count;
    return { outputs, shape, loss: count ? lossSum / count : NaN, targets: Float32Array.from(targets), indices: Uint32Array.from(indices) };
  } finally {
    model.train(wasTraining);
  }
}

/** Metrics of a task's model on `data` (eval mode). */
export async function evaluateTask<S>(task: TrainerTask<S>, data: SampleSource<S>, batchSize: number, opts: BatchLoadOptions = {}): Promise<Metrics> {
  if (!data.length) throw new Error('evaluate: no samples');
  const { outputs, loss, targets, indices } = await predictTask(task, data, batchSize, opts);
  if (!indices.length) throw new Error('evaluate: no sample could be loaded');
  return computeMetrics(task, outputs, targets, loss);
}

function fmt(v: number): string { return Number.isFinite(v) ? (Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(3) : v.toFixed(4)) : String(v); }

/** Metrics of realized outputs against host targets for a task kind (see the file comment). */
export function computeMetrics(task: Pick<TrainerTask<unknown>, 'kind' | 'numClasses' | 'ignoreIndex' | 'toReportUnits'>, outputs: Float32Array, targets: ArrayLike<number>, loss: number): Metrics {
  switch (task.kind) {
    case 'classification': {
      const c = task.numClasses;
      if (!c) throw new Error('computeMetrics: classification needs numClasses');
      return { loss, ...classificationMetrics(outputs, targets, c) };
    }
    case 'segmentation': {
      const c = task.numClasses;
      if (!c) throw new Error('computeMetrics: segmentation needs numClasses');
      return { loss, ...segmentationMetrics(outputs, targets, c, task.ignoreIndex ?? -100) };
    }
    case 'regression':
    case 'forecasting': {
      const t = Float32Array.from(targets);
      if (t.length !== outputs.length) throw new Error(`computeMetrics: ${outputs.length} outputs for ${t.length} target values`);
      const conv = task.toReportUnits;
      return { loss, ...(conv ? regressionMetrics(conv(outputs), conv(t)) : regressionMetrics(outputs, t)) };
    }
  }
}
