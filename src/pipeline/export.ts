// Export a trained run (tokenizer + encoder + head) as one standalone ONNX file that plain onnxruntime runs,
// plus a JSON sidecar (`OUT.onnx.json`) that says what to feed it and how to read its outputs.
//
// The exported graph starts after the tokenizer's host-side `prepare` (decoding, resizing checks, fbank,
// FPS/kNN, BPE, tabular vocabularies...) and ends with the head's outputs:
//   classification  logits [B, K] float32 and probabilities [B, K] (softmax over the run's classes)
//   regression      prediction [B, 1] float32 in the target's units (de-standardised inside the graph)
//   forecasting     forecast [B, predLen, C] float32 in the series' units (C = the run's target channels)
// Its inputs are the prepared tensors, named by modality (see PREPARED_INPUTS and the sidecar). The tracer bakes
// shapes into Reshape/Expand nodes, so by default the batch size B is fixed at export (--batch-size, default 1:
// pad the last batch by repeating a sample and drop those rows). With `dynamicBatch` the model is traced at
// batch 2 and 3 and the difference makes the batch dimension symbolic ('batch', src/engine/dynamic-batch.ts).
import { accessSync, constants, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { DynamicBatchError } from '../engine/dynamic-batch.js';
import { exportOnnxModel } from '../engine/export.js';
import { Generator } from '../engine/functional/random.js';
import { OPSET, plan, realize } from '../engine/runtime.js';
import { Tensor, constant } from '../engine/tensor.js';
import type { AnyTypedArray, DType } from '../engine/dtype.js';
import { writeFileAtomic } from '../io/atomic.js';
import { loadWeights } from '../train/checkpoint.js';
import { BEST_FILE, CHECKPOINT_FILE } from '../train/trainer.js';
import { DataError, fmtShape } from './files.js';
import { modalitySpec, type AnyTokenizer, type ModalitySpec } from './modalities.js';
import { buildModel, type RunConfig } from './model.js';
import { readConfig, readInputs } from './run.js';
import type { RawSample } from './datasets.js';

/** Name of a tokenizer's prepared input when `prepare` returns one tensor (objects keep their field names). */
const SINGLE_INPUT_NAME: Record<string, string> = { image: 'images', infrared: 'images', xray: 'images', video: 'clips', hyperspectral: 'spectra', audio: 'fbank' };

/** What each prepared input holds, per modality (for the sidecar). */
const INPUT_DOCS: Record<string, string> = {
  images: 'float32 [B, C, H, W]: pixel values (uint8 / 255) scaled and normalised per channel as the tokenizer config says (scale, mean, std)',
  clips: 'float32 [B, C, T, H, W]: frames (uint8 / 255), normalised per channel as the tokenizer config says',
  spectra: 'float32 [B, bands, p*p*bandPatch]: per band, the p x p neighbourhood values of that band (and of its bandPatch neighbours)',
  fbank: 'float32 [B, frames, melBins]: Kaldi log-Mel filterbank of the mean-removed waveform, zero-padded/cropped to targetLength frames, then (v - normMean) / (2 normStd)',
  grouped: 'float32 [B, C, M, k]: per group (M farthest-point-sampled centres), the k nearest neighbours relative to their centre (xyz, then feature differences)',
  centres: 'float32 [B, M, 3]: group centres',
  x: 'float32 [B, L, C]: the series values (forecasting: standardised per channel with the sidecar\'s mean / std)',
  marks: 'float32 [B, L, d]: time features of the timestamps (TSLib timeF encoding for the run\'s freq)',
  categorical: 'int64 [B, nCat]: per categorical column, 1 + index of the value in the column vocabulary (0 = unknown or missing)',
  numeric: 'float32 [B, nNum]: per numeric column, (value - mean) / std (0 when missing)',
  numericMissing: 'float32 [B, nNum]: 1 where the numeric value is missing, else 0',
  ids: 'int64 [B, L]: sub-word token ids (CLIP BPE or BERT WordPiece), padded to the context length',
  paddingMask: 'bool [B, L]: true = padding',
  nodeFeatures: 'int64 [B, T, F]: node feature indices per token (0 on edge and padding tokens)',
  edgeFeatures: 'int64 [B, T, Fe]: edge feature indices per token (0 on node and padding tokens)',
  eigvec: 'float32 [B, Nmax, k]: Laplacian eigenvectors per graph (rows = nodes, zero padding)',
  index: 'int64 [B, T, 2]: node pair (u, v) of each token',
  tokenType: 'int64 [B, T]: 1 node token, 0 edge or padding token',
};

/** A graph input or output; 'batch' in `shape` is the symbolic batch dimension of a dynamic-batch export. */
export interface TensorSpec { name: string; dtype: DType; shape: (number | string)[]; description?: string }

/** A prepared input tensor, ready for `new ort.Tensor(dtype, data, shape)`. */
export interface PreparedTensor { dtype: DType; shape: number[]; data: AnyTypedArray }

export interface ExportRunOptions {
  /** 'best' (best.safetensors) or 'last' (checkpoint.safetensors); default: best when present, else last. */
  weights?: 'best' | 'last';
  /** The exported model's (static) batch size; default 1. Not with `dynamicBatch`. */
  batchSize?: number;
  /** A symbolic batch dimension ('batch'): the model takes any batch size. */
  dynamicBatch?: boolean;
  /** Always write the weights to OUT.onnx.data (external data); by default only when they exceed 2 GB. */
  externalData?: boolean;
  /**
   * An input file (as `predict --input` takes) that fixes the input shapes, for runs whose config.json does not:
   * point clouds (number of points) and time-series/imu classification or regression (series length).
   */
  example?: string;
  /** 'auto' external-data threshold in bytes (tests). */
  maxInlineBytes?: number;
  /**
   * Load the written file in a fresh onnxruntime session, run it on the traced example and compare with the
   * engine's own outputs (reported as max-abs errors).
   */
  verify?: boolean;
}

export interface ExportSidecar {
  format: 'omniformer-onnx';
  version: 1;
  model: string;
  externalData: string | null;
  opset: number;
  modality: string;
  task: string;
  /** The static batch size, or null when the batch dimension is symbolic ('batch' in the shapes). */
  batchSize: number | null;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  /** Classification: class names in logit order. */
  labels?: string[];
  /** Regression: the target and its training statistics (the graph already de-standardises). */
  target?: { name: string; mean: number; std: number };
  /** Forecasting: channels, the standardisation of the inputs (x = (v - mean) / std per channel) and the horizon. */
  forecast?: { channels: string[]; targetChannels: string[]; mean: number[]; std: number[]; seqLen: number; predLen: number; dateColumn: string | null };
  /** The tokenizer configuration of the run (image normalisation, tabular schema and vocabularies, ...). */
  tokenizer: Record<string, unknown>;
  preprocessing: string;
  source: { run: string; weights: string; encoder: { size: string | null; dim: number; depth: number } };
}

export interface ExportRunResult {
  onnx: string;
  sidecar: string;
  externalData: string | null;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  /** null: dynamic batch. */
  batchSize: number | null;
  weights: string;
  /** Bytes of the .onnx file and of the external data file (0 without). */
  modelBytes: number;
  dataBytes: number;
  /** With `verify`: per output, max |file - engine| on the traced example (dynamic batch: at batch 2 and 3). */
  verified?: Record<string, number>;
}

function runFolder(runDir: string): string {
  if (!existsSync(runDir)) throw new DataError(`--run: '${runDir}' does not exist`);
  if (!statSync(runDir).isDirectory()) throw new DataError(`--run: '${runDir}' is not a folder (give the folder omniformer train --out wrote)`);
  return runDir;
}

function weightsFile(runDir: string, which: 'best' | 'last' | undefined): string {
  if (which !== undefined && which !== 'best' && which !== 'last') throw new DataError(`--weights: must be best or last, got '${String(which)}'`);
  const best = join(runDir, BEST_FILE), last = join(runDir, CHECKPOINT_FILE);
  if (which === 'best') { if (existsSync(best)) return best; throw new DataError(`--weights best: '${runDir}' has no ${BEST_FILE} (no validated epoch yet); use --weights last`); }
  if (which === 'last') { if (existsSync(last)) return last; throw new DataError(`--weights last: '${runDir}' has no ${CHECKPOINT_FILE}`); }
  if (existsSync(best)) return best;
  if (existsSync(last)) return last;
  throw new DataError(`--run: '${runDir}' has no trained weights (${BEST_FILE} or ${CHECKPOINT_FILE}); did training finish its first epoch?`);
}

function checkWritable(outPath: string): void {
  if (existsSync(outPath) && statSync(outPath).isDirectory()) throw new DataError(`--onnx: '${outPath}' is a folder; give a file name such as ${join(outPath, 'model.onnx')}`);
  const dir = dirname(resolve(outPath));
  try { mkdirSync(dir, { recursive: true }); } catch (e) { throw new DataError(`--onnx: cannot create the folder '${dir}' (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`); }
  try { accessSync(dir, constants.W_OK); } catch { throw new DataError(`--onnx: cannot write to the folder '${dir}' (permission denied)`); }
}

/** Text tokenizers that pad to the longest text give batch-dependent shapes; an exported graph needs one. */
function fixShapes(tokenizer: AnyTokenizer): void {
  const t = tokenizer as unknown as { padTo?: string };
  if (tokenizer.modality === 'text' && t.padTo === 'longest') Object.assign(tokenizer, { padTo: 'context' });
}

/** A raw input of the run's shape, from config.json alone; null where the config does not fix the shape. */
function syntheticTraceInput(cfg: RunConfig, tokenizer: AnyTokenizer): unknown {
  const tok = tokenizer as unknown as Record<string, unknown>;
  switch (cfg.modality) {
    case 'image': case 'infrared': case 'xray': {
      const [h, w] = tok.imageSize as [number, number], c = tok.channels as number;
      return { data: new Float32Array(c * h * w), height: h, width: w, channels: c };
    }
    case 'video': {
      const s = tok.imageSize as number, c = tok.channels as number, t = tok.numFrames as number;
      return { data: new Float32Array(c * t * s * s), frames: t, height: s, width: s, channels: c };
    }
    case 'hyperspectral': { const p = tok.patch as number, b = tok.bands as number; return { spectrum: new Float32Array(p * p * b), patch: p, bands: b }; }
    case 'audio': {
      const rate = tok.sampleRate as number;
      return { samples: Float32Array.from({ length: rate }, (_, k) => Math.sin((2 * Math.PI * 440 * k) / rate)), sampleRate: rate };
    }
    case 'text': return 'a';
    case 'tabular': return {};
    case 'graph': {
      const f = tok.numNodeFeatures as number;
      return { numNodes: 1, edges: [], ...(f ? { nodeFeatures: [new Array(f).fill(0)] } : {}) };
    }
    case 'time-series': case 'imu': {
      if (cfg.target.kind !== 'forecasting') return null;
      const L = cfg.target.seqLen, C = cfg.target.channels.length;
      return { values: new Float32Array(L * C), channels: C, ...(tok.embed === 'timeF' ? { timestamps: Array.from({ length: L }, (_, t) => Date.UTC(2020, 0, 1) + t * 3_600_000) } : {}) };
    }
    default: return null;
  }
}

/** Prepared model inputs (a tensor or an object of tensors) -> named tensors. */
function namedInputs(modality: string, prepared: unknown): [string, Tensor][] {
  if (prepared instanceof Tensor) return [[SINGLE_INPUT_NAME[modality] ?? 'input', prepared]];
  if (!prepared || typeof prepared !== 'object') throw new Error(`${modality} tokenizer: prepare() returned ${String(prepared)}, expected a tensor or an object of tensors`);
  return Object.entries(prepared as Record<string, unknown>).filter((e): e is [string, Tensor] => e[1] instanceof Tensor);
}

/** `n` samples: the given ones, padded by repeating the last. */
function padBatch<T>(items: readonly T[], n: number): T[] {
  return Array.from({ length: n }, (_, i) => items[Math.min(i, items.length - 1)]!);
}

function prepareBatch(spec: ModalitySpec, tokenizer: AnyTokenizer, inputs: readonly unknown[]): unknown {
  const conv = spec.toTokenizerInput;
  try { return tokenizer.prepare(conv ? inputs.map((r) => conv(r)) : [...inputs]); } catch (e) { throw new DataError((e as Error).message); }
}

const PREPROCESSING: Record<string, string> = {
  image: 'Read each image as [C, H, W] floats (8-bit pixels / 255), then (v * scale - mean[c]) / std[c] with the tokenizer config\'s normalisation (default scale 1, mean 0, std 1); all images must have the exported H x W.',
  video: 'Read each clip as [C, T, H, W] floats (8-bit / 255) and normalise per channel as the tokenizer config says.',
  hyperspectral: 'Spectra (or p x p x bands cubes) as they were read for training; each band token gathers its neighbourhood (see the spectra input).',
  audio: 'Mono waveform at the run\'s sample rate -> Kaldi log-Mel filterbank (25 ms windows, 10 ms shift, numMelBins bins) of the mean-removed signal, padded/cropped to targetLength frames, normalised (v - normMean) / (2 normStd).',
  'point-cloud': 'Farthest-point sampling of M centres and k-nearest-neighbour groups, coordinates relative to the centre (see the grouped and centres inputs).',
  'time-series': 'Series [L, C] in time order (rows = steps); forecasting runs standardise each channel with the sidecar\'s forecast.mean / std and take the last seqLen steps.',
  tabular: 'Categorical columns -> 1 + index in the fitted vocabulary (tokenizer.schema; 0 = unknown or missing); numeric columns -> (v - mean) / std with a missing flag.',
  graph: 'Node and edge tokens padded to padToTokens with Laplacian eigenvector node identifiers (see the graph inputs).',
  text: 'Sub-word ids (CLIP BPE or BERT WordPiece as tokenizer.vocabulary says) padded to the context length with a padding mask.',
};
PREPROCESSING.infrared = PREPROCESSING.xray = PREPROCESSING.image!;
PREPROCESSING.imu = PREPROCESSING['time-series']!;

/**
 * Export a trained run as one ONNX file (opset 20) that plain onnxruntime runs, with a sidecar `OUT.onnx.json`
 * (inputs, outputs, labels, normalisation). Weights over 2 GB (or with `externalData`) go to `OUT.onnx.data`.
 */
export async function exportRunOnnx(runDir: string, outPath: string, opts: ExportRunOptions = {}): Promise<ExportRunResult> {
  runFolder(runDir);
  const config = readConfig(runDir);
  const weights = weightsFile(runDir, opts.weights);
  const dynamic = opts.dynamicBatch ?? false;
  if (dynamic && opts.batchSize !== undefined) throw new DataError('--batch-size and --dynamic-batch exclude each other (a dynamic-batch model takes any batch size)');
  const B = dynamic ? 2 : opts.batchSize ?? 1;
  if (!Number.isInteger(B) || B < 1) throw new DataError(`--batch-size must be a positive integer, got ${B}`);
  if (!outPath) throw new DataError('--onnx: give the file to write (e.g. model.onnx)');
  checkWritable(outPath);
  const spec = modalitySpec(config.modality);
  const { model } = await buildModel(config);
  await loadWeights(weights, model);
  model.eval();
  if (!model.head) throw new DataError(`${runDir}: the run has no head to export`);
  fixShapes(model.tokenizer);

  let example: unknown;
  if (opts.example !== undefined) {
    const raw = await readInputs(config, spec, [opts.example]);
    if (!raw.length) throw new DataError(`--example: '${opts.example}' holds no sample`);
    example = raw[0]!.input;
  } else {
    example = syntheticTraceInput(config, model.tokenizer);
    if (example === null) {
      const what = config.modality === 'point-cloud' ? 'the number of points of a cloud' : 'the length of a series';
      throw new DataError(`--example: the run's config.json does not fix ${what}, which the exported graph needs; pass --example FILE (one input file as predict --input takes it)`);
    }
  }
  const t = config.target;
  const outDocs: Record<string, string> = {};
  /** Trace the whole model at batch size b: the prepared inputs it reads and its named outputs. */
  const trace = (b: number): { used: [string, Tensor][]; outputs: Record<string, Tensor> } => {
    const prepared = prepareBatch(spec, model.tokenizer, padBatch([example], b));
    const named = namedInputs(config.modality, prepared);
    const head = model.head!.forward(model.encoder.encode(model.tokenizer.forward(prepared as never)));
    const outputs: Record<string, Tensor> = {};
    if (t.kind === 'classification') {
      outputs.logits = head;
      outputs.probabilities = head.softmax(-1);
      outDocs.logits = `float32 [B, ${t.classes.length}]: class scores in the order of labels`;
      outDocs.probabilities = `float32 [B, ${t.classes.length}]: softmax of the logits`;
    } else if (t.kind === 'regression') {
      outputs.prediction = head.mul(t.std).add(t.mean);
      outDocs.prediction = `float32: the predicted ${t.name} in its own units (model output * ${t.std} + ${t.mean})`;
    } else {
      const ks = t.targetChannels.map((c) => t.channels.indexOf(c));
      const std = constant(Float32Array.from(ks, (k) => t.std[k]!), [ks.length]);
      const mean = constant(Float32Array.from(ks, (k) => t.mean[k]!), [ks.length]);
      outputs.forecast = head.mul(std).add(mean);
      outDocs.forecast = `float32 [B, ${t.predLen}, ${ks.length}]: the next ${t.predLen} steps of ${t.targetChannels.join(', ')} in their own units`;
    }
    // only the prepared tensors the graph reads become its inputs
    const reach = plan(Object.values(outputs), () => false).local;
    return { used: named.filter(([, x]) => reach.has(x)), outputs };
  };
  const { used, outputs } = trace(B);
  const other = dynamic ? trace(3) : null;
  const paramNames = new Map<Tensor, string>();
  for (const [n, v] of model.stateDict()) paramNames.set(v, n);
  let res;
  try {
    res = exportOnnxModel({
      inputs: Object.fromEntries(used), outputs, path: outPath, names: paramNames,
      ...(other ? { dynamicBatch: { batch: B, other: { batch: 3, inputs: Object.fromEntries(other.used), outputs: other.outputs } } } : {}),
      externalData: opts.externalData ? true : 'auto', ...(opts.maxInlineBytes !== undefined ? { maxInlineBytes: opts.maxInlineBytes } : {}),
    });
  } catch (e) {
    if (e instanceof DynamicBatchError) throw new DataError(`--dynamic-batch: ${config.modality} ${config.task} run '${runDir}': ${e.message}`);
    throw e;
  }
  // a dim that differs between the two traces is the symbolic batch (the graph rewrite checked it is)
  const dims = (x: Tensor, y: Tensor | undefined): (number | string)[] => x.shape.map((d, j) => (y && y.shape[j] !== d ? (d === B ? 'batch' : `batch*${d / B}`) : d));
  const otherInputs = new Map(other?.used ?? []);

  const inputs: TensorSpec[] = used.map(([n, x]) => ({ name: n, dtype: x.dtype, shape: dims(x, otherInputs.get(n)), ...(INPUT_DOCS[n] ? { description: INPUT_DOCS[n] } : {}) }));
  const outSpecs: TensorSpec[] = Object.entries(outputs).map(([n, x]) => ({ name: n, dtype: x.dtype, shape: dims(x, other?.outputs[n]), description: outDocs[n]! }));
  const sidecar: ExportSidecar = {
    format: 'omniformer-onnx', version: 1, model: basename(outPath), externalData: res.externalData ? basename(res.externalData) : null, opset: OPSET,
    modality: config.modality, task: config.task, batchSize: dynamic ? null : B, inputs, outputs: outSpecs,
    ...(t.kind === 'classification' ? { labels: t.classes } : {}),
    ...(t.kind === 'regression' ? { target: { name: t.name, mean: t.mean, std: t.std } } : {}),
    ...(t.kind === 'forecasting' ? { forecast: { channels: t.channels, targetChannels: t.targetChannels, mean: t.mean, std: t.std, seqLen: t.seqLen, predLen: t.predLen, dateColumn: t.dateColumn } } : {}),
    tokenizer: config.tokenizer, preprocessing: PREPROCESSING[config.modality] ?? '',
    source: { run: resolve(runDir), weights: basename(weights), encoder: { size: config.encoder.size, dim: config.encoder.config.dim, depth: config.encoder.config.depth } },
  };
  const sidecarPath = `${outPath}.json`;
  // indented, with number arrays (shapes, statistics) kept on one line
  const text = JSON.stringify(sidecar, null, 2).replace(/\[\s+(-?[\d.e+-]+(?:,\s+-?[\d.e+-]+)*)\s+\]/g, (_, inner: string) => `[${inner.split(/,\s+/).join(', ')}]`);
  await writeFileAtomic(sidecarPath, new TextEncoder().encode(text + '\n'));
  let verified: Record<string, number> | undefined;
  if (opts.verify) {
    verified = await verifyFile(outPath, used, outputs);
    if (other) for (const [n, e] of Object.entries(await verifyFile(outPath, other.used, other.outputs))) verified[n] = Math.max(verified[n]!, e);
  }
  model.dispose();
  return {
    onnx: outPath, sidecar: sidecarPath, externalData: res.externalData, inputs, outputs: outSpecs, batchSize: dynamic ? null : B, weights,
    modelBytes: res.bytes.byteLength, dataBytes: res.externalData ? statSync(res.externalData).size : 0, ...(verified ? { verified } : {}),
  };
}

/** Run the written file in a fresh ORT session (from its path, so external data resolves) against the engine. */
async function verifyFile(path: string, inputs: [string, Tensor][], outputs: Record<string, Tensor>): Promise<Record<string, number>> {
  const ort = await import('onnxruntime-node');
  await realize(Object.values(outputs));
  const session = await ort.InferenceSession.create(path);
  try {
    const feeds = Object.fromEntries(inputs.map(([n, x]) => [n, new ort.Tensor(x.dtype, x.value as Float32Array, [...x.shape])]));
    const got = await session.run(feeds);
    const errors: Record<string, number> = {};
    for (const [n, x] of Object.entries(outputs)) {
      const a = got[n]!.data as Float32Array, b = x.value as Float32Array;
      let m = 0;
      for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
      errors[n] = m;
    }
    return errors;
  } finally {
    await session.release();
  }
}

export interface PrepareRunInputsOptions {
  /** Samples per batch (default: all in one batch). The last batch is padded by repeating its last sample. */
  batchSize?: number;
  /** An exported model (its sidecar OUT.onnx.json): take its batch size (unless dynamic) and feed only its inputs, checking their shapes. */
  onnx?: string;
}

export interface PreparedBatch {
  /** Input name -> tensor, as the exported model's inputs. */
  feeds: Record<string, PreparedTensor>;
  /** Real samples in this batch (the rest of its rows repeat the last one and are to be dropped). */
  count: number;
  /** Names of the real samples (file, or file:line for CSV rows). */
  names: string[];
}

/**
 * Raw inputs -> the exact tensors an exported run expects. `inputs` are files as `predict --input` takes them
 * (CSV rows of a CSV-trained run, a series CSV for forecasting, one sample per file otherwise), or
 * `{ samples }`: raw inputs as the modality's readers produce them (forecasting series already standardised).
 */
export async function prepareRunInputs(runDir: string, inputs: readonly string[] | { samples: readonly unknown[] }, opts: PrepareRunInputsOptions = {}): Promise<PreparedBatch[]> {
  runFolder(runDir);
  const config = readConfig(runDir);
  const spec = modalitySpec(config.modality);
  let sidecar: ExportSidecar | null = null;
  if (opts.onnx !== undefined) {
    const p = `${opts.onnx}.json`;
    if (!existsSync(p)) throw new DataError(`${opts.onnx}: no sidecar ${basename(p)} next to it (written by omniformer export)`);
    try { sidecar = JSON.parse(readFileSync(p, 'utf8')) as ExportSidecar; } catch (e) { throw new DataError(`${p}: invalid JSON (${(e as Error).message})`); }
    if (sidecar.format !== 'omniformer-onnx') throw new DataError(`${p}: not an omniformer export sidecar`);
    if (sidecar.modality !== config.modality) throw new DataError(`${p}: exported from a ${sidecar.modality} run, but '${runDir}' is a ${config.modality} run`);
  }
  const bs = sidecar?.batchSize ?? opts.batchSize;
  if (bs !== undefined && (!Number.isInteger(bs) || bs < 1)) throw new DataError(`batchSize must be a positive integer, got ${bs}`);
  let raw: RawSample[];
  if (Array.isArray(inputs)) {
    if (!inputs.length) throw new DataError('--input: give at least one input file');
    raw = await readInputs(config, spec, inputs as string[]);
  } else {
    const samples = (inputs as { samples: readonly unknown[] }).samples;
    raw = samples.map((s, i) => ({ input: s, name: `sample ${i}` }));
  }
  if (!raw.length) throw new DataError('no samples to prepare');
  // the tokenizer's host side depends only on its configuration, not on its weights
  const tokenizer = spec.buildTokenizer(config.tokenizer, config.encoder.config.dim, new Generator(config.seed));
  fixShapes(tokenizer);
  const size = bs ?? raw.length;
  const out: PreparedBatch[] = [];
  for (let i = 0; i < raw.length; i += size) {
    const chunk = raw.slice(i, i + size);
    const prepared = prepareBatch(spec, tokenizer, padBatch(chunk.map((s) => s.input), size));
    let named = namedInputs(config.modality, prepared);
    if (sidecar) {
      const got = new Map(named);
      named = sidecar.inputs.map((s) => {
        const x = got.get(s.name);
        if (!x) throw new DataError(`the exported model's input '${s.name}' is not produced by the ${config.modality} tokenizer`);
        if (x.dtype !== s.dtype || x.shape.length !== s.shape.length || s.shape.some((d, j) => typeof d === 'number' && d !== x.shape[j])) {
          throw new DataError(`${chunk[0]!.name}: gives ${s.name} ${x.dtype} ${fmtShape(x.shape)}, but the exported model takes ${s.dtype} [${s.shape.join(', ')}] (inputs must have the shape it was exported with)`);
        }
        return [s.name, x];
      });
    }
    out.push({
      feeds: Object.fromEntries(named.map(([n, x]) => [n, { dtype: x.dtype, shape: [...x.shape], data: x.value }])),
      count: chunk.length, names: chunk.map((s) => s.name),
    });
  }
  return out;
}
