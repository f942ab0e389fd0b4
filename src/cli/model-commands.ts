// The model commands: train, eval, predict, embed, encode (see src/pipeline/run.ts for what they do).
// With --json the last line on stdout is one JSON object; progress goes to stderr (silent with --json).
import { UsageError, type OptionSpecs } from './args.js';
import type { Command } from './main.js';
import type { ProgressMode } from '../train/progress.js';
import type { TaskKind } from '../train/recipes.js';

type Opts = Record<string, unknown>;

const MODALITY_LIST = 'text, image, infrared, xray, hyperspectral, video, audio, point-cloud, time-series, imu, tabular, graph';

function need(o: Opts, name: string): string {
  const v = o[name];
  if (v === undefined || v === '') throw new UsageError(`missing required option --${name}`);
  return v as string;
}

function num(o: Opts, name: string): number | undefined { return o[name] as number | undefined; }

function jsonOption(o: Opts, name: string): Record<string, unknown> | undefined {
  const v = o[name] as string | undefined;
  if (v === undefined) return undefined;
  let parsed: unknown;
  try { parsed = JSON.parse(v); } catch (e) { throw new UsageError(`--${name} expects a JSON object, e.g. '{"numMelBins": 64}' (${(e as Error).message})`); }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new UsageError(`--${name} expects a JSON object, got ${v}`);
  return parsed as Record<string, unknown>;
}

/** --lookback / --horizon are the forecasting names of --seq-len / --pred-len. */
function aliased(o: Opts, name: string, alias: string): number | undefined {
  const a = num(o, name), b = num(o, alias);
  if (a !== undefined && b !== undefined && a !== b) throw new UsageError(`--${alias} is another name for --${name}; they differ (${b} vs ${a})`);
  return a ?? b;
}

const COLUMN_TYPES = ['numeric', 'categorical', 'boolean'];

/** --column-types '{"age": "numeric", "zip": "categorical"}' -> the tabular tokenizer's forced column lists. */
function columnTypes(o: Opts): { numeric?: string[]; categorical?: string[] } | undefined {
  const t = jsonOption(o, 'column-types');
  if (!t) return undefined;
  const numeric: string[] = [], categorical: string[] = [];
  for (const [col, type] of Object.entries(t)) {
    if (typeof type !== 'string' || !COLUMN_TYPES.includes(type)) throw new UsageError(`--column-types: column '${col}' has type ${JSON.stringify(type)}; valid types: ${COLUMN_TYPES.join(', ')}`);
    (type === 'numeric' ? numeric : categorical).push(col); // booleans are two-valued categories
  }
  return { ...(numeric.length ? { numeric } : {}), ...(categorical.length ? { categorical } : {}) };
}

// --backbone perceiver-io and its options (train and embed).
const backboneOptions: OptionSpecs = {
  backbone: { type: 'string', description: 'shared backbone: meta-transformer | perceiver-io (Perceiver IO: N latents cross-attend to the tokens, cost linear in the input length)', default: 'meta-transformer', valueName: 'NAME' },
  latents: { type: 'number', description: 'perceiver-io: number of latents (default 64)', valueName: 'N' },
  'latent-dim': { type: 'number', description: 'perceiver-io: latent width = head input width (default 256)', valueName: 'D' },
  'perceiver-depth': { type: 'number', description: 'perceiver-io: latent self-attention layers (default 4)', valueName: 'L' },
  'token-dim': { type: 'number', description: 'perceiver-io: token width of the tokenizer (default 128)', valueName: 'C' },
  'perceiver-options': { type: 'string', description: 'perceiver-io: more options as JSON: {"numBlocks", "selfHeads", "crossHeads", "selfWidening", "crossWidening", "qkChannels", "output": "latents|inputs", "dropout"}', valueName: 'JSON' },
};

/** The Perceiver options of --latents/--latent-dim/--perceiver-depth/--token-dim/--perceiver-options (undefined when none). */
function perceiverArgs(o: Opts): { backbone: string | undefined; perceiver: Record<string, unknown> | undefined } {
  const extra = jsonOption(o, 'perceiver-options') ?? {};
  const named: Record<string, unknown> = { numLatents: num(o, 'latents'), latentDim: num(o, 'latent-dim'), depth: num(o, 'perceiver-depth'), inputDim: num(o, 'token-dim') };
  for (const [k, v] of Object.entries(named)) if (v !== undefined && extra[k] !== undefined && extra[k] !== v) throw new UsageError(`--perceiver-options sets ${k} = ${JSON.stringify(extra[k])}, but its own option gives ${String(v)}`);
  const merged = { ...extra, ...Object.fromEntries(Object.entries(named).filter(([, v]) => v !== undefined)) };
  return { backbone: o.backbone as string | undefined, perceiver: Object.keys(merged).length ? merged : undefined };
}

const readOptions: OptionSpecs = {
  'skip-bad': { type: 'boolean', description: 'leave malformed samples out (one warning each, then a count) instead of stopping at the first' },
  workers: { type: 'number', description: 'worker threads decoding sample files (default min(4, cores - 1))', valueName: 'N' },
  prefetch: { type: 'number', description: 'batches decoded ahead of the one computing (default 1)', valueName: 'N' },
};

function readingArgs(o: Opts): { skipBad: boolean; workers?: number; prefetch?: number } {
  return { skipBad: Boolean(o['skip-bad']), workers: num(o, 'workers'), prefetch: num(o, 'prefetch') };
}

function progressMode(o: Opts): ProgressMode {
  if (o.json) return 'silent';
  const p = (o.progress as string | undefined) ?? 'auto';
  if (!['auto', 'tty', 'plain', 'none'].includes(p)) throw new UsageError(`--progress must be auto, tty, plain or none, got '${p}'`);
  return p === 'none' ? 'silent' : (p as ProgressMode);
}

function fmtMetrics(m: Record<string, number> | null | undefined): string {
  if (!m) return '-';
  return Object.entries(m).map(([k, v]) => `${k} ${Number.isFinite(v) ? (Math.abs(v) < 1e-3 && v !== 0 ? v.toExponential(3) : v.toFixed(4)) : v}`).join(', ');
}

const DATA_FORMATS = `Data (--data):
  - a folder of class subfolders DATA/<class>/<file> (classification); video clips may be folders of frame
    images (--frames sampled per clip). Files are checked once, then decoded batch by batch in worker threads
    while the model trains (only the batches in flight are in memory);
  - IDX files (MNIST / Fashion-MNIST, gzipped or not): the images file ...-images-idx3-ubyte[.gz] with its
    ...-labels-idx1-ubyte[.gz] next to it, or a folder holding the pair (train-* for train, t10k-* for eval);
  - a JSON manifest DATA.json: [{"path": "file", "label": ...}, {"input": <inline sample>, "label": ...}, ...]
    (paths relative to the manifest; regression labels are numbers; --target picks another field);
  - a NumPy folder DATA/ with inputs.npy (samples stacked on axis 0) and labels.npy / labels.json / labels.txt,
    or an archive DATA.npz with arrays x (or inputs) and y (or labels; --target names another);
  - a CSV or TSV file with a header, one sample per row (tabular; time-series/imu: the other columns are the
    series, --channels values per step; hyperspectral: the band values; text: a text/sentence/review column);
    the target column is --target, else one named label/target/class/y, else the last column; tabular column
    types are inferred (--column-types overrides them);
  - forecasting (time-series/imu): a CSV/TSV of ONE series, rows = time steps, numeric columns = channels, an
    optional date column; windows of --seq-len (--lookback) steps predict the next --pred-len (--horizon),
    chronological 70/10/20 split, per-channel scaling fitted on the training part;
  - graph: an .sdf/.mol file of molecules with --target naming the SD data item, or a JSON graph list
    {"graphs": [{"nodes": ..., "edges": ..., "label": ...}, ...]};
  - hyperspectral: a folder with cube.npy [H, W, bands] and labels.npy [H, W] (0 = unlabelled): every labelled
    pixel is a sample (its spectrum, or its --patch x --patch neighbourhood).
Sample files per modality:
  image, infrared, xray   .png/.jpg/.webp/.tif (grey pictures stay 1 channel), or .npy/.json [C, H, W] or [H, W]
                          (integer pixels are divided by 255)
  video                   a folder of frame images, or .npy/.json [C, T, H, W] or [T, H, W]
  hyperspectral           .npy/.json [bands] or [p, p, bands]
  audio                   .wav (PCM 8/16/24/32-bit or float; mixed down to mono), or .npy/.json waveform at --sample-rate
  point-cloud             .ply/.off/.xyz/.pts, or .npy/.json/.csv/.txt [P, 3 + c] (x, y, z, features)
  time-series, imu        .npy/.json/.csv/.txt [L, C] (rows = time steps)
  graph                   .json {"numNodes", "edges": [[u, v], ...], "nodeFeatures"?, "edgeFeatures"?}
  text                    .txt
All samples of a data set must have one shape; NaN values are rejected (tabular: empty/NA cells are missing values).
A malformed sample (truncated, wrong magic, wrong shape, empty) stops the run with an error naming the file;
with --skip-bad it is left out with a warning, and the number skipped is reported.`;

const trainOptions: OptionSpecs = {
  modality: { type: 'string', description: `modality: ${MODALITY_LIST}`, valueName: 'M' },
  data: { type: 'string', description: 'training data (formats below)', valueName: 'PATH' },
  task: { type: 'string', description: 'classification | regression | forecasting', default: 'classification', valueName: 'TASK' },
  target: { type: 'string', description: 'target column / manifest field (forecasting: the one channel to predict)', valueName: 'NAME' },
  encoder: { type: 'string', description: 'shared encoder: tiny | small | base | large (seeded random init) or a weights FILE (.safetensors / .pth: a Meta-Transformer encoder, or the blocks of a timm ViT or an OpenAI / HF CLIP vision tower)', default: 'tiny', valueName: 'SIZE|FILE' },
  heads: { type: 'number', description: 'attention heads of an --encoder FILE (default: its HF config.json\'s, else width / 64 as in every published model)', valueName: 'N' },
  unfreeze: { type: 'boolean', description: 'train the encoder too (default: frozen, the paper\'s "F" setting)' },
  ...backboneOptions,
  epochs: { type: 'number', description: 'epochs (default: the modality\'s recipe)', valueName: 'N' },
  'batch-size': { type: 'number', description: 'batch size (default: the recipe)', valueName: 'N' },
  lr: { type: 'number', description: 'peak learning rate of AdamW (default: the recipe)', valueName: 'X' },
  'weight-decay': { type: 'number', description: 'AdamW weight decay (default: the recipe)', valueName: 'X' },
  patience: { type: 'number', description: 'early stopping after N epochs without validation improvement (0 = off)', valueName: 'N' },
  seed: { type: 'number', description: 'seed of the initialisation, split, shuffling and dropout', default: 0, valueName: 'N' },
  out: { type: 'string', description: 'run folder: config.json, checkpoint.safetensors, best.safetensors, report.json', valueName: 'DIR' },
  resume: { type: 'boolean', description: 'continue the run in --out from its last checkpoint (same results as an uninterrupted run)' },
  val: { type: 'number', description: 'validation fraction (default 0.1)', valueName: 'F' },
  test: { type: 'number', description: 'test fraction (default 0.1; forecasting 0.2)', valueName: 'F' },
  'patch-size': { type: 'number', description: 'patch size of image/video/audio tokenizers (default 16; 14 with --encoder large)', valueName: 'N' },
  'sample-rate': { type: 'number', description: 'audio sample rate: WAV files are resampled to it, arrays are taken to be at it (default 16000)', valueName: 'HZ' },
  channels: { type: 'number', description: 'time-series CSV rows: values per time step (default 1)', valueName: 'C' },
  'seq-len': { type: 'number', description: 'forecasting: input window (default 96)', valueName: 'N' },
  lookback: { type: 'number', description: 'forecasting: the same as --seq-len', valueName: 'N' },
  'pred-len': { type: 'number', description: 'forecasting: horizon (default 96)', valueName: 'N' },
  horizon: { type: 'number', description: 'forecasting: the same as --pred-len', valueName: 'N' },
  'date-column': { type: 'string', description: 'forecasting: date column for calendar features (default: date/time/timestamp if present)', valueName: 'NAME' },
  freq: { type: 'string', description: 'forecasting: calendar feature frequency h|t|s|d|b|w|m|a (default h)', valueName: 'F' },
  'column-types': { type: 'string', description: 'tabular: column types as JSON, e.g. \'{"age": "numeric", "zip": "categorical"}\' (numeric | categorical | boolean; others inferred)', valueName: 'JSON' },
  frames: { type: 'number', description: 'video: frames sampled uniformly per clip (frame folders: default 8; .npy clips [T, H, W, C] or [C, T, H, W]: default all)', valueName: 'N' },
  patch: { type: 'number', description: 'hyperspectral scenes (cube.npy + labels.npy): odd neighbourhood side of a pixel sample (default 1)', valueName: 'P' },
  ...readOptions,
  'tokenizer-options': { type: 'string', description: 'extra tokenizer options as JSON, e.g. \'{"numMelBins": 64, "targetLength": 100}\'', valueName: 'JSON' },
  'head-options': { type: 'string', description: 'head overrides as JSON: {"pool": "cls|mean|max|concat", "norm": true, "hidden": [256], "dropout": 0.5}', valueName: 'JSON' },
  progress: { type: 'string', description: 'progress display on stderr: auto | tty | plain | none', default: 'auto', valueName: 'MODE' },
  json: { type: 'boolean', description: 'print the final report as one JSON object (last line of stdout); no progress' },
};

function tokenizerOptions(o: Opts): Record<string, unknown> | undefined {
  const user = jsonOption(o, 'tokenizer-options');
  const types = columnTypes(o);
  if (!types) return user;
  if (o.modality !== 'tabular') throw new UsageError('--column-types applies to --modality tabular');
  const merged: Record<string, unknown> = { ...(user ?? {}) };
  for (const [k, cols] of Object.entries(types)) merged[k] = [...new Set([...((user?.[k] as string[] | undefined) ?? []), ...cols])];
  return merged;
}

const train: Command = {
  name: 'train',
  summary: 'Train a tokenizer + head (and optionally the encoder) on a data set of one modality.',
  usage: 'omniformer train --modality M --data PATH --out DIR [options]',
  options: trainOptions,
  examples: [
    'omniformer train --modality tabular --data adult.csv --target income --out runs/adult',
    'omniformer train --modality time-series --data ETTh1.csv --task forecasting --seq-len 96 --pred-len 24 --out runs/etth1',
    'omniformer train --modality image --data images/ --encoder Meta-Transformer_base_patch16_encoder.safetensors --epochs 5 --out runs/img --json',
    'omniformer train --modality tabular --data adult.csv --out runs/adult --resume        # after a crash',
    'omniformer train --modality image --data /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz --patch-size 14 --out runs/fmnist',
    'omniformer train --modality graph --data molecules.sdf --target activity --out runs/mol --skip-bad',
    'omniformer train --modality audio --data clips/ --backbone perceiver-io --latents 64 --latent-dim 256 --out runs/audio-pio',
  ],
  details: DATA_FORMATS,
  async run(o) {
    const { trainRun } = await import('../pipeline/run.js');
    const task = o.task as TaskKind;
    const progress = progressMode(o);
    const { report } = await trainRun({
      modality: need(o, 'modality'), data: need(o, 'data'), out: need(o, 'out'), task, target: o.target as string | undefined,
      encoder: o.encoder as string, heads: num(o, 'heads'), unfreeze: Boolean(o.unfreeze), epochs: num(o, 'epochs'), batchSize: num(o, 'batch-size'), lr: num(o, 'lr'),
      weightDecay: num(o, 'weight-decay'), patience: num(o, 'patience'), seed: num(o, 'seed'), resume: Boolean(o.resume), val: num(o, 'val'), test: num(o, 'test'),
      patchSize: num(o, 'patch-size'), sampleRate: num(o, 'sample-rate'), channels: num(o, 'channels'), seqLen: aliased(o, 'seq-len', 'lookback'), predLen: aliased(o, 'pred-len', 'horizon'),
      dateColumn: o['date-column'] as string | undefined, freq: o.freq as string | undefined, tokenizerOptions: tokenizerOptions(o),
      headOptions: jsonOption(o, 'head-options'), progress: { mode: progress }, frames: num(o, 'frames'), patch: num(o, 'patch'), ...readingArgs(o),
      ...perceiverArgs(o),
    });
    if (o.json) { console.log(JSON.stringify(report)); return 0; }
    console.log(`${report.modality} ${report.task}: ${report.trainableParams.toLocaleString('en-US')} trainable of ${report.totalParams.toLocaleString('en-US')} parameters; ${report.epochs} epochs${report.stoppedEarly ? ' (early stop)' : ''}, best epoch ${report.bestEpoch ?? '-'}`);
    console.log(`val:  ${fmtMetrics(report.metrics.val)}`);
    console.log(`test: ${fmtMetrics(report.metrics.test)}`);
    console.log(`run saved to ${report.out}`);
    return 0;
  },
};

const evalCmd: Command = {
  name: 'eval',
  summary: 'Evaluate a trained run on a labelled data set (same formats as train).',
  usage: 'omniformer eval --run DIR --data PATH [--json]',
  options: {
    run: { type: 'string', description: 'run folder written by omniformer train', valueName: 'DIR' },
    data: { type: 'string', description: 'labelled data in a format of the run\'s modality (see omniformer train --help)', valueName: 'PATH' },
    target: { type: 'string', description: 'target column / manifest field (default: the one the run was trained with)', valueName: 'NAME' },
    'batch-size': { type: 'number', description: 'batch size (default: the run\'s)', valueName: 'N' },
    ...readOptions,
    json: { type: 'boolean', description: 'print one JSON object' },
  },
  examples: ['omniformer eval --run runs/adult --data adult_test.csv', 'omniformer eval --run runs/img --data images_test/ --json'],
  async run(o) {
    const { evalRun } = await import('../pipeline/run.js');
    const r = await evalRun({ run: need(o, 'run'), data: need(o, 'data'), batchSize: num(o, 'batch-size'), target: o.target as string | undefined, ...readingArgs(o) });
    if (o.json) console.log(JSON.stringify(r));
    else console.log(`${r.modality} ${r.task} on ${r.samples} samples: ${fmtMetrics(r.metrics)}`);
    return 0;
  },
};

const predict: Command = {
  name: 'predict',
  summary: 'Predict with a trained run: one line per input (per row for CSV inputs of a CSV-trained run).',
  usage: 'omniformer predict --run DIR --input FILE... [--json]',
  options: {
    run: { type: 'string', description: 'run folder written by omniformer train', valueName: 'DIR' },
    input: { type: 'strings', description: 'input files (sample files of the modality; CSV rows for tabular; a CSV of >= --seq-len steps for forecasting)', valueName: 'FILE...' },
    'batch-size': { type: 'number', description: 'batch size (default: the run\'s)', valueName: 'N' },
    'skip-bad': readOptions['skip-bad']!,
    json: { type: 'boolean', description: 'one JSON object per line' },
  },
  examples: ['omniformer predict --run runs/img --input cat.npy dog.npy', 'omniformer predict --run runs/adult --input new_rows.csv --json'],
  async run(o) {
    const { predictRun } = await import('../pipeline/run.js');
    const inputs = (o.input as string[] | undefined) ?? [];
    if (!inputs.length) throw new UsageError('missing required option --input');
    const preds = await predictRun({ run: need(o, 'run'), inputs, batchSize: num(o, 'batch-size'), skipBad: Boolean(o['skip-bad']) });
    for (const p of preds) {
      if (o.json) { console.log(JSON.stringify(p)); continue; }
      if (p.label !== undefined) console.log(`${p.input}\t${p.label}\t${p.probabilities![p.label]!.toFixed(4)}`);
      else if (p.value !== undefined) console.log(`${p.input}\t${p.value}`);
      else console.log(`${p.input}\t${Object.entries(p.forecast!).map(([c, v]) => `${c}: ${v.map((x) => x.toPrecision(5)).join(' ')}`).join('\t')}`);
    }
    return 0;
  },
};

const embed: Command = {
  name: 'embed',
  summary: 'Encode input files with a tokenizer and the shared encoder; write the features to a float32 .npy ([B, D] pooled, [B, N, D] with --pool none).',
  usage: 'omniformer embed --modality M --input FILE... --output OUT.npy [--pool cls|mean|none] [--encoder SIZE|FILE] [--run DIR]',
  options: {
    modality: { type: 'string', description: `modality: ${MODALITY_LIST} (taken from --run when given)`, valueName: 'M' },
    input: { type: 'strings', description: 'sample files of the modality, all of one shape (video: also folders of frames)', valueName: 'FILE...' },
    output: { type: 'string', description: '.npy file to write', valueName: 'OUT.npy' },
    pool: { type: 'string', description: 'cls (token 0) | mean (over tokens, padding excluded) | none (all tokens)', default: 'mean', valueName: 'MODE' },
    encoder: { type: 'string', description: 'tiny | small | base | large or an encoder FILE: Meta-Transformer, timm ViT or CLIP weights, .safetensors / .pth (ignored with --run)', default: 'tiny', valueName: 'SIZE|FILE' },
    heads: { type: 'number', description: 'attention heads of an --encoder FILE (default: its HF config.json\'s, else width / 64 as in every published model)', valueName: 'N' },
    run: { type: 'string', description: 'use the trained tokenizer and encoder of a run folder instead of a seeded random tokenizer', valueName: 'DIR' },
    ...backboneOptions,
    seed: { type: 'number', description: 'seed of the random tokenizer (without --run)', default: 0, valueName: 'N' },
    'patch-size': { type: 'number', description: 'patch size of image/video/audio tokenizers', valueName: 'N' },
    'sample-rate': { type: 'number', description: 'audio sample rate: WAV files are resampled to it, arrays are taken to be at it (default 16000)', valueName: 'HZ' },
    channels: { type: 'number', description: 'time-series CSV rows: values per step', valueName: 'C' },
    frames: { type: 'number', description: 'video: frames sampled uniformly per clip (frame folders: default 8; .npy clips: default all; with --run: the run\'s)', valueName: 'N' },
    'tokenizer-options': { type: 'string', description: 'extra tokenizer options as JSON', valueName: 'JSON' },
    'batch-size': { type: 'number', description: 'batch size (default 16)', valueName: 'N' },
    json: { type: 'boolean', description: 'print one JSON object (output shape, inputs)' },
  },
  examples: [
    'omniformer embed --modality audio --input a.wav b.wav --output emb.npy',
    'omniformer embed --modality image --input x.npy --output tokens.npy --pool none --encoder Meta-Transformer_base_patch16_encoder.safetensors',
    'omniformer embed --run runs/img --input cat.npy --output cat.npy --pool cls',
    'omniformer embed --modality video --input clips/walk_01 clips/run_02 --frames 8 --output video.npy   # folders of frames',
  ],
  async run(o) {
    const { embedRun } = await import('../pipeline/run.js');
    const inputs = (o.input as string[] | undefined) ?? [];
    if (!inputs.length) throw new UsageError('missing required option --input');
    if (!o.run && !o.modality) throw new UsageError('missing required option --modality (or --run)');
    const r = await embedRun({
      inputs, output: need(o, 'output'), pool: o.pool as 'cls' | 'mean' | 'none', run: o.run as string | undefined, modality: o.modality as string | undefined,
      encoder: o.encoder as string, heads: num(o, 'heads'), seed: num(o, 'seed'), patchSize: num(o, 'patch-size'), sampleRate: num(o, 'sample-rate'), channels: num(o, 'channels'), frames: num(o, 'frames'),
      tokenizerOptions: jsonOption(o, 'tokenizer-options'), batchSize: num(o, 'batch-size'), ...perceiverArgs(o),
    });
    if (o.json) console.log(JSON.stringify(r));
    else console.log(`wrote ${r.output}: float32 [${r.shape.join(', ')}] for ${r.inputs.length} input(s)`);
    return 0;
  },
};

const encode: Command = {
  name: 'encode',
  summary: 'Run the shared Meta-Transformer encoder alone on raw tokens [B, N, D] from a float32 .npy file.',
  usage: 'omniformer encode --checkpoint FILE --input TOKENS.npy --output OUT.npy [--size base|large|small|tiny] [--heads N]',
  options: {
    checkpoint: { type: 'string', description: 'encoder weights: a Meta-Transformer encoder (keys 0.attn.qkv.weight ..., optionally blocks.), a timm ViT (its blocks), or an OpenAI / HF CLIP (its vision tower\'s blocks); safetensors, PyTorch .pth/.pt/.bin or TorchScript, read without running them', valueName: 'FILE' },
    input: { type: 'string', description: 'tokens [B, N, D] as a float .npy file', valueName: 'TOKENS.npy' },
    output: { type: 'string', description: 'where to write the encoded tokens (float32 [B, N, D])', valueName: 'OUT.npy' },
    size: { type: 'string', description: 'encoder size: base | large | small | tiny (default: inferred from the checkpoint)', valueName: 'SIZE' },
    heads: { type: 'number', description: 'attention heads (default: an HF config.json\'s, else width / 64 as in every published model)', valueName: 'N' },
    'batch-size': { type: 'number', description: 'samples per run (default: all at once)', valueName: 'N' },
    json: { type: 'boolean', description: 'print one JSON object' },
  },
  examples: [
    'omniformer encode --checkpoint Meta-Transformer_base_patch16_encoder.safetensors --input tokens.npy --output encoded.npy',
    'omniformer encode --checkpoint large.safetensors --size large --input tokens.npy --output out.npy --batch-size 4',
    'omniformer encode --checkpoint vit_base_patch16_224.safetensors --input tokens.npy --output out.npy   # timm ViT blocks',
  ],
  async run(o) {
    const { encodeRun } = await import('../pipeline/run.js');
    const r = await encodeRun({ checkpoint: need(o, 'checkpoint'), input: need(o, 'input'), output: need(o, 'output'), size: o.size as string | undefined, batchSize: num(o, 'batch-size'), heads: num(o, 'heads') });
    if (o.json) console.log(JSON.stringify({ ...r, output: o.output }));
    else console.log(`wrote ${String(o.output)}: float32 [${r.shape.join(', ')}] (${r.size ?? 'custom'} encoder, ${r.depth} blocks, D = ${r.dim})`);
    return 0;
  },
};

export const MODEL_COMMANDS: Command[] = [train, evalCmd, predict, embed, encode];
