// The benchmark suite runner: for each task, the omniformer model with the shared encoder frozen and the same
// model with the encoder unfrozen (both through the pipeline's model builder and the Trainer), and simple
// baselines on raw features computed in the same run, with trainable parameter counts and wall times.
// Tasks whose Debian package is missing are reported as skipped with the `apt-get install` line.
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { Trainer, predictTask } from '../train/trainer.js';
import { recipeFor } from '../train/recipes.js';
import { META_ENCODER_CONFIGS } from '../encoders/meta-transformer.js';
import { modalitySpec } from '../pipeline/modalities.js';
import { OmniTask, buildModel, defaultHead, type RunConfig, type TargetConfig, type OmniSample } from '../pipeline/model.js';
import type { ProgressOptions } from '../train/progress.js';
import { LogisticRegression, NearestClassMean, accuracyOf, applyStandardizer, fitStandardizer, lastValueForecast, mae, mse, seasonalNaiveForecast, stackRows } from './baselines.js';
import { benchmarkReportHtml } from './report.js';
import { aptLine, missingRequirements, type BenchTask, type ClassificationData, type ForecastData, type LoadContext } from './datasets.js';

export interface ResultRow {
  task: string;
  method: string;
  /** Classification: test accuracy; forecasting: test MSE and MAE (in the series' units). */
  metrics: Record<string, number>;
  trainableParams: number;
  seconds: number;
  /** omniformer rows: per-epoch training loss and validation metrics (for the report's learning curves). */
  history?: { epoch: number; trainLoss: number; val?: Record<string, number> }[];
  /** omniformer rows: the training settings actually used (the frozen run's learning-rate override included). */
  settings?: string;
  /** Classification rows: test confusion matrix, rows = true class, columns = predicted (order of `TaskResult.classes`). */
  confusion?: number[][];
}

export interface TaskResult {
  task: string;
  description: string;
  status: 'ok' | 'skipped' | 'failed';
  /** Skipped: the missing packages and the install line; failed: the error. */
  reason?: string;
  install?: string;
  note?: string;
  /** Classification tasks: the class names (order of the confusion matrices). */
  classes?: string[];
  rows: ResultRow[];
  seconds: number;
}

export interface SuiteOptions {
  quick?: boolean;
  seed?: number;
  /** Encoder size (default 'tiny'). */
  encoder?: string;
  cacheDir: string;
  /** Methods to run (default all): 'frozen', 'unfrozen', 'logreg', 'ncm', 'last-value', 'seasonal-naive'. */
  methods?: string[];
  log?: (msg: string) => void;
  progress?: ProgressOptions;
}

export interface SuiteResult {
  date: string;
  machine: string;
  quick: boolean;
  encoder: string;
  tasks: TaskResult[];
  seconds: number;
}

const now = (): number => performance.now();

function want(o: SuiteOptions, m: string): boolean { return !o.methods || o.methods.includes(m); }

interface ModelResult { metrics: Record<string, number>; trainableParams: number; seconds: number; history: { epoch: number; trainLoss: number; val?: Record<string, number> }[]; settings: string; confusion?: number[][] }

/** The training settings of a run, as the table shows them. */
function settingsOf(r: { epochs: number; batchSize: number; lr: number; weightDecay: number; head: { pool: string } }, tokenizer: Record<string, unknown> | undefined): string {
  const tok = tokenizer ? Object.entries(tokenizer).filter(([k]) => ['patchSize', 'stride', 'numMelBins', 'targetLength', 'groupSize', 'numGroups'].includes(k)).map(([k, v]) => `${k} ${JSON.stringify(v)}`) : [];
  return [`${r.epochs} ep`, `batch ${r.batchSize}`, `lr ${r.lr}`, `wd ${r.weightDecay}`, `${r.head.pool} pool`, ...tok].join(', ');
}

/** Confusion matrix [true][predicted] from logits [n, K]. */
function confusionOf(logits: Float32Array, targets: readonly number[], K: number): number[][] {
  const m = Array.from({ length: K }, () => new Array<number>(K).fill(0));
  targets.forEach((t, i) => {
    let best = 0;
    for (let c = 1; c < K; c++) if (logits[i * K + c]! > logits[i * K + best]!) best = c;
    m[t]![best]!++;
  });
  return m;
}

/** Mean and std of the pixels of (up to 2,000) training images, one channel: the image tokenizer's normalisation. */
function pixelStats(inputs: readonly unknown[]): { mean: number[]; std: number[] } {
  let n = 0, sum = 0, sq = 0;
  for (const r of inputs.slice(0, 2000)) for (const v of (r as { data: Float32Array }).data) { n++; sum += v; sq += v * v; }
  const mean = sum / n;
  return { mean: [mean], std: [Math.sqrt(Math.max(sq / n - mean * mean, 1e-12))] };
}

async function trainClassifier(d: ClassificationData, o: SuiteOptions, unfreeze: boolean): Promise<ModelResult> {
  const t0 = now();
  const seed = o.seed ?? 0;
  const spec = modalitySpec(d.modality);
  const recipe = recipeFor(spec.name, 'classification', { ...(d.recipe ?? {}), ...(unfreeze ? {} : d.frozenRecipe ?? {}) });
  const size = o.encoder ?? 'tiny';
  const encCfg = (META_ENCODER_CONFIGS as Record<string, typeof META_ENCODER_CONFIGS.tiny>)[size];
  if (!encCfg) throw new Error(`--encoder: unknown size '${size}' (valid: ${Object.keys(META_ENCODER_CONFIGS).join(', ')})`);
  const encoder = { size, file: null, config: { ...encCfg }, unfrozen: unfreeze };
  const trainInputs = d.train.map((s) => s.input);
  const user = { ...(d.modality === 'image' ? pixelStats(trainInputs) : {}), ...(d.tokenizerOptions ?? {}) };
  const tokenizer = spec.tokenizerConfig(trainInputs, { dim: encCfg.dim, patchSize: 16, user, all: trainInputs, ...(d.header ? { header: d.header } : {}) });
  const head = defaultHead(spec.name, 'classification', recipe, { outDim: d.classes.length });
  const target: TargetConfig = { kind: 'classification', name: 'label', classes: d.classes };
  const config: RunConfig = {
    format: 'omniformer-run', version: 1, modality: spec.name, task: 'classification', seed, encoder, tokenizer, head, target,
    inputLayout: 'file', read: {}, training: recipe,
    data: { path: 'benchmark', format: 'manifest', samples: d.train.length + d.val.length + d.test.length, split: { train: d.train.length, val: d.val.length, test: d.test.length } },
  };
  const { model, generator } = await buildModel(config);
  const toSample = (s: ClassificationData['train'][number]): OmniSample => {
    const k = d.classes.indexOf(s.label!);
    if (k < 0) throw new Error(`${s.name}: label '${s.label}' is not one of ${d.classes.join(', ')}`);
    // keep lazily decoded inputs lazy: a wrapper object whose input getter forwards to the sample
    return Object.create(s, { target: { value: k, enumerable: true } }) as OmniSample;
  };
  const task = new OmniTask(model, config);
  const trainer = new Trainer(task, {
    epochs: recipe.epochs, batchSize: recipe.batchSize, lr: recipe.lr, weightDecay: recipe.weightDecay, betas: recipe.betas,
    warmupEpochs: recipe.warmupEpochs, minLr: recipe.minLr, clipGradNorm: recipe.clipGradNorm, patience: recipe.patience, monitor: recipe.monitor,
    seed, generators: { model: generator }, progress: o.progress ?? { mode: 'silent' },
  });
  const test = d.test.map(toSample);
  const r = await trainer.run({ train: d.train.map(toSample), val: d.val.map(toSample), test });
  const seconds = (now() - t0) / 1000;
  // the trainer restored the best epoch's weights for its test evaluation: the same weights predict here
  const pred = await predictTask(task, test, recipe.batchSize);
  return {
    metrics: { accuracy: r.metrics.test?.accuracy ?? NaN, macroF1: r.metrics.test?.macroF1 ?? NaN },
    trainableParams: model.numParams({ trainableOnly: true }), seconds,
    history: r.history.map((h) => ({ epoch: h.epoch, trainLoss: h.trainLoss, ...(h.val ? { val: h.val } : {}) })),
    settings: settingsOf(recipe, d.tokenizerOptions), confusion: confusionOf(pred.outputs, test.map((s) => s.target as number), d.classes.length),
  };
}

function windowOf(d: ForecastData, s: number, mean: number, std: number): { input: Float32Array; future: Float32Array } {
  const input = Float32Array.from(d.series.subarray(s, s + d.seqLen), (v) => (v - mean) / std);
  const future = Float32Array.from(d.series.subarray(s + d.seqLen, s + d.seqLen + d.predLen), (v) => (v - mean) / std);
  return { input, future };
}

/** Mean and std of the training segment (the steps covered by training windows). */
function trainStats(d: ForecastData): { mean: number; std: number } {
  const end = Math.max(...d.windows.train) + d.seqLen + d.predLen;
  const seg = d.series.subarray(0, end);
  const mean = seg.reduce((a, b) => a + b, 0) / seg.length;
  const std = Math.sqrt(seg.reduce((a, b) => a + (b - mean) ** 2, 0) / seg.length) || 1;
  return { mean, std };
}

async function trainForecaster(d: ForecastData, o: SuiteOptions, unfreeze: boolean): Promise<ModelResult> {
  const t0 = now();
  const seed = o.seed ?? 0;
  const spec = modalitySpec(d.modality);
  const recipe = recipeFor(spec.name, 'forecasting', d.recipe ?? {});
  const size = o.encoder ?? 'tiny';
  const encCfg = (META_ENCODER_CONFIGS as Record<string, typeof META_ENCODER_CONFIGS.tiny>)[size];
  if (!encCfg) throw new Error(`--encoder: unknown size '${size}'`);
  const { mean, std } = trainStats(d);
  const mk = (s: number): OmniSample => { const w = windowOf(d, s, mean, std); return { input: { values: w.input, channels: 1 }, name: `t=${s}`, future: w.future, target: w.future }; };
  const train = d.windows.train.map(mk), val = d.windows.val.map(mk), test = d.windows.test.map(mk);
  const tokenizer = spec.tokenizerConfig(train.map((s) => s.input), { dim: encCfg.dim, patchSize: 16, user: {}, all: [] });
  const head = defaultHead(spec.name, 'forecasting', recipe, { outDim: 1, seqLen: d.seqLen, predLen: d.predLen, channels: 1 });
  const target: TargetConfig = { kind: 'forecasting', channels: ['temp'], targetChannels: ['temp'], dateColumn: null, mean: [mean], std: [std], seqLen: d.seqLen, predLen: d.predLen };
  const config: RunConfig = {
    format: 'omniformer-run', version: 1, modality: spec.name, task: 'forecasting', seed, encoder: { size, file: null, config: { ...encCfg }, unfrozen: unfreeze }, tokenizer, head, target,
    inputLayout: 'series', read: {}, training: recipe,
    data: { path: 'benchmark', format: 'csv-series', samples: train.length + val.length + test.length, split: { train: train.length, val: val.length, test: test.length } },
  };
  const { model, generator } = await buildModel(config);
  const task = new OmniTask(model, config);
  const trainer = new Trainer(task, {
    epochs: recipe.epochs, batchSize: recipe.batchSize, lr: recipe.lr, weightDecay: recipe.weightDecay, betas: recipe.betas,
    warmupEpochs: recipe.warmupEpochs, minLr: recipe.minLr, clipGradNorm: recipe.clipGradNorm, patience: recipe.patience, monitor: recipe.monitor,
    seed, generators: { model: generator }, progress: o.progress ?? { mode: 'silent' },
  });
  const r = await trainer.run({ train, val });
  const pred = await predictTask(task, test, recipe.batchSize);
  const p = pred.outputs.map((v) => v * std + mean);
  const y = new Float32Array(test.length * d.predLen);
  test.forEach((s, i) => y.set((s.target as Float32Array).map((v) => v * std + mean), i * d.predLen));
  return {
    metrics: { mse: mse(p, y), mae: mae(p, y) }, trainableParams: model.numParams({ trainableOnly: true }), seconds: (now() - t0) / 1000,
    history: r.history.map((h) => ({ epoch: h.epoch, trainLoss: h.trainLoss, ...(h.val ? { val: h.val } : {}) })),
    settings: settingsOf(recipe, undefined),
  };
}

function classificationBaselines(d: ClassificationData, o: SuiteOptions, name: string): ResultRow[] {
  const rows: ResultRow[] = [];
  const enc = (ss: typeof d.train) => stackRows(ss.map((s) => d.features(s)));
  const t0 = now();
  const ytr = d.train.map((s) => d.classes.indexOf(s.label!)), yte = d.test.map((s) => d.classes.indexOf(s.label!));
  const st = fitStandardizer(enc(d.train));
  const xtr = applyStandardizer(st, enc(d.train)), xte = applyStandardizer(st, enc(d.test));
  const prepS = (now() - t0) / 1000;
  if (want(o, 'logreg')) {
    const t = now();
    const lr = LogisticRegression.fit(xtr, ytr, d.classes.length, { steps: o.quick ? 150 : 300, l2: 1e-3, lr: 0.05, seed: o.seed ?? 0 });
    const pred = lr.predict(xte);
    const confusion = Array.from({ length: d.classes.length }, () => new Array<number>(d.classes.length).fill(0));
    yte.forEach((c, i) => { confusion[c]![pred[i]!]!++; });
    rows.push({ task: name, method: `logistic regression (${d.featureNote}, standardised)`, metrics: { accuracy: accuracyOf(pred, yte) }, trainableParams: lr.numParams, seconds: prepS + (now() - t) / 1000, confusion });
  }
  if (want(o, 'ncm')) {
    const t = now();
    const ncm = NearestClassMean.fit(xtr, ytr, d.classes.length);
    rows.push({ task: name, method: `nearest class mean (${d.featureNote}, standardised)`, metrics: { accuracy: accuracyOf(ncm.predict(xte), yte) }, trainableParams: ncm.numParams, seconds: prepS + (now() - t) / 1000 });
  }
  return rows;
}

function forecastBaselines(d: ForecastData, o: SuiteOptions, name: string): ResultRow[] {
  const rows: ResultRow[] = [];
  const y = new Float32Array(d.windows.test.length * d.predLen);
  d.windows.test.forEach((s, i) => y.set(d.series.subarray(s + d.seqLen, s + d.seqLen + d.predLen), i * d.predLen));
  const run = (label: string, f: (h: Float32Array) => Float32Array): void => {
    const t = now();
    const p = new Float32Array(y.length);
    d.windows.test.forEach((s, i) => p.set(f(d.series.subarray(s, s + d.seqLen)), i * d.predLen));
    rows.push({ task: name, method: label, metrics: { mse: mse(p, y), mae: mae(p, y) }, trainableParams: 0, seconds: (now() - t) / 1000 });
  };
  if (want(o, 'last-value')) run('last value', (h) => lastValueForecast(h, d.predLen));
  if (want(o, 'seasonal-naive')) run(`seasonal naive (${d.season} h)`, (h) => seasonalNaiveForecast(h, d.predLen, d.season));
  return rows;
}

/** Run the suite over `tasks`; never throws for one task's failure (recorded as 'failed' with the error). */
export async function runSuite(tasks: readonly BenchTask[], o: SuiteOptions): Promise<SuiteResult> {
  const t0 = now();
  const log = o.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const out: TaskResult[] = [];
  const ctx: LoadContext = { quick: o.quick ?? false, seed: o.seed ?? 0, cacheDir: resolve(o.cacheDir), log };
  for (const [i, task] of tasks.entries()) {
    const tt = now();
    const head = `[${i + 1}/${tasks.length}] ${task.name}`;
    const missing = missingRequirements(task.requires);
    if (missing.length) {
      const install = aptLine(missing);
      const reason = `missing ${missing.map((r) => `${r.package} (${r.paths.filter((p) => !p.startsWith('/usr/bin')).slice(0, 1).join('') || r.paths[0]})`).join(', ')}`;
      log(`${head}: skipped, ${reason}; install with: ${install}`);
      out.push({ task: task.name, description: task.description, status: 'skipped', reason, install, rows: [], seconds: 0 });
      continue;
    }
    const rows: ResultRow[] = [];
    try {
      log(`${head}: loading`);
      const d = await task.load(ctx);
      log(`${head}: ${d.note}`);
      if (d.kind === 'classification') {
        log(`${head}: baselines`);
        rows.push(...classificationBaselines(d, o, task.name));
        for (const unfreeze of [false, true]) {
          if (!want(o, unfreeze ? 'unfrozen' : 'frozen')) continue;
          log(`${head}: omniformer, encoder ${unfreeze ? 'unfrozen' : 'frozen'}`);
          const r = await trainClassifier(d, o, unfreeze);
          rows.push({ task: task.name, method: `omniformer ${o.encoder ?? 'tiny'}, encoder ${unfreeze ? 'unfrozen' : 'frozen'}`, metrics: r.metrics, trainableParams: r.trainableParams, seconds: r.seconds, history: r.history, settings: r.settings, ...(r.confusion ? { confusion: r.confusion } : {}) });
          log(`${head}: ${rows.at(-1)!.method}: accuracy ${r.metrics.accuracy!.toFixed(4)} (${r.seconds.toFixed(1)} s)`);
        }
      } else {
        rows.push(...forecastBaselines(d, o, task.name));
        for (const unfreeze of [false, true]) {
          if (!want(o, unfreeze ? 'unfrozen' : 'frozen')) continue;
          log(`${head}: omniformer, encoder ${unfreeze ? 'unfrozen' : 'frozen'}`);
          const r = await trainForecaster(d, o, unfreeze);
          rows.push({ task: task.name, method: `omniformer ${o.encoder ?? 'tiny'}, encoder ${unfreeze ? 'unfrozen' : 'frozen'}`, metrics: r.metrics, trainableParams: r.trainableParams, seconds: r.seconds, history: r.history, settings: r.settings });
          log(`${head}: ${rows.at(-1)!.method}: MSE ${r.metrics.mse!.toFixed(3)} MAE ${r.metrics.mae!.toFixed(3)} (${r.seconds.toFixed(1)} s)`);
        }
      }
      out.push({ task: task.name, description: task.description, status: 'ok', note: d.note, ...(d.kind === 'classification' ? { classes: d.classes } : {}), rows, seconds: (now() - tt) / 1000 });
    } catch (e) {
      const msg = (e as Error).message;
      log(`${head}: failed: ${msg}`);
      out.push({ task: task.name, description: task.description, status: 'failed', reason: msg, rows, seconds: (now() - tt) / 1000 });
    }
  }
  const os = await import('node:os');
  return {
    date: new Date().toISOString(), machine: `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.availableParallelism()} cores, ${os.platform()} ${os.release()}`,
    quick: o.quick ?? false, encoder: o.encoder ?? 'tiny', tasks: out, seconds: (now() - t0) / 1000,
  };
}

function fmtMetric(k: string, v: number): string {
  if (!Number.isFinite(v)) return String(v);
  return k === 'accuracy' || k === 'macroF1' ? `${(v * 100).toFixed(1)}%` : v.toFixed(3);
}

/** The results as a markdown document (one table, skipped and failed tasks listed below it). */
export function toMarkdown(r: SuiteResult): string {
  const lines = [
    `# omniformer benchmark-tasks${r.quick ? ' --quick' : ''}`, '',
    `${r.date}, ${r.machine}; encoder ${r.encoder} (randomly initialised: no pretrained weights); total ${r.seconds.toFixed(0)} s.`, '',
    '| task | method | test metric | trainable params | wall time (s) | settings |',
    '|---|---|---|---:|---:|---|',
  ];
  for (const t of r.tasks) for (const row of t.rows) {
    const m = Object.entries(row.metrics).filter(([k]) => k !== 'macroF1').map(([k, v]) => `${k} ${fmtMetric(k, v)}`).join(', ');
    lines.push(`| ${row.task} | ${row.method} | ${m} | ${row.trainableParams.toLocaleString('en-US')} | ${row.seconds.toFixed(1)} | ${row.settings ?? ''} |`);
  }
  lines.push('');
  const notes = r.tasks.filter((t) => t.status === 'ok' && t.note);
  if (notes.length) lines.push('Data:', ...notes.map((t) => `- ${t.task}: ${t.note}`), '');
  const skipped = r.tasks.filter((t) => t.status === 'skipped');
  if (skipped.length) lines.push('Skipped:', ...skipped.map((t) => `- ${t.task}: ${t.reason}; install with \`${t.install}\``), '');
  const failed = r.tasks.filter((t) => t.status === 'failed');
  if (failed.length) lines.push('Failed:', ...failed.map((t) => `- ${t.task}: ${t.reason}`), '');
  return lines.join('\n');
}

/** Write results.md, results.json and report.html to `dir`; returns the paths. */
export async function writeResults(r: SuiteResult, dir: string): Promise<{ markdown: string; json: string; html: string }> {
  mkdirSync(dir, { recursive: true });
  const markdown = join(dir, 'results.md'), json = join(dir, 'results.json'), html = join(dir, 'report.html');
  await writeFileAtomic(html, new TextEncoder().encode(benchmarkReportHtml(r)));
  await writeFileAtomic(markdown, new TextEncoder().encode(toMarkdown(r)));
  await writeFileAtomic(json, new TextEncoder().encode(JSON.stringify(r, null, 2) + '\n'));
  return { markdown, json, html };
}
