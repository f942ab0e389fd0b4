// File-backed data sets stream through the trainer: samples are read by index when a batch needs them
// (decoded in WorkerPool threads for folders of files), and training gives exactly the results of the same
// data held in memory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { Generator } from '../src/engine/functional/random.js';
import { encodeIdx } from '../src/data/idx.js';
import { writeNpySync } from '../src/io/npy.js';
import { trainRun, type TrainRunResult } from '../src/pipeline/run.js';
import { loadDataset } from '../src/pipeline/datasets.js';
import { modalitySpec } from '../src/pipeline/modalities.js';
import { Trainer, type TrainerTask } from '../src/train/trainer.js';
import { Linear } from '../src/nn/linear.js';
import { Tensor } from '../src/engine/tensor.js';
import { mseLoss } from '../src/engine/functional/losses.js';
import type { Dataset } from '../src/data/dataset.js';

const S = 16;

/** Grey 16x16 pictures: class 'left' bright on the left half, 'right' on the right, with noise. */
function picture(g: Generator, cls: number): Uint8Array {
  const px = new Uint8Array(S * S);
  for (let r = 0; r < S; r++) for (let c = 0; c < S; c++) {
    const bright = cls === 0 ? c < S / 2 : c >= S / 2;
    px[r * S + c] = Math.max(0, Math.min(255, Math.round((bright ? 180 : 60) + 40 * (g.next() - 0.5))));
  }
  return px;
}

const common = { modality: 'xray', encoder: 'tiny', epochs: 2, batchSize: 4, seed: 3, val: 0.2, test: 0.2, patchSize: 8, progress: { mode: 'silent' as const } };

/** Samples each part of a run reads: the probe for the tokenizer sizes, every epoch's training and
 * validation samples, then the final validation and test evaluations. */
function expectedGets(r: TrainRunResult): number {
  const { train, val, test: t } = r.report.samples;
  return 1 + r.report.epochs * (train + val) + val + t;
}

function sameRuns(a: TrainRunResult, b: TrainRunResult): void {
  assert.deepEqual(a.report.history.map((h) => h.trainLoss), b.report.history.map((h) => h.trainLoss));
  assert.deepEqual(a.report.metrics, b.report.metrics);
  assert.deepEqual(a.report.samples, b.report.samples);
}

test('a PNG class folder streams through worker threads and trains exactly like the in-memory path', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'omni-stream-'));
  try {
    const g = new Generator(11);
    for (const [k, cls] of ['left', 'right'].entries()) {
      mkdirSync(join(dir, 'data', cls), { recursive: true });
      for (let i = 0; i < 12; i++) {
        await sharp(Buffer.from(picture(g, k)), { raw: { width: S, height: S, channels: 1 } }).png().toFile(join(dir, 'data', cls, `${i}.png`));
      }
    }
    const data = join(dir, 'data');
    const lazy = await trainRun({ ...common, data, out: join(dir, 'lazy'), workers: 1 });
    const memory = await trainRun({ ...common, data, out: join(dir, 'memory'), stream: false });
    // (a) the same results for the same seed
    sameRuns(lazy, memory);
    assert.equal(lazy.report.samples.train + lazy.report.samples.val + lazy.report.samples.test, 24);
    // (b) lazily read: every sample is decoded when its batch needs it, and at no other time
    assert.equal(lazy.data.lazy, true);
    assert.equal(memory.data.lazy, false);
    assert.equal(lazy.data.gets, expectedGets(lazy));
    // (c) decoded in a worker thread, not on the main thread
    assert.ok(lazy.data.workerThreads.length >= 1, 'no worker thread decoded a sample');
    assert.ok(!lazy.data.workerThreads.includes(threadId), 'a sample was decoded on the main thread');
    assert.deepEqual(memory.data.workerThreads, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('gzipped IDX files train item by item, with the results of the same pixels in an inputs.npy folder', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'omni-idx-'));
  try {
    const g = new Generator(4);
    const N = 20;
    const pixels = new Uint8Array(N * S * S), labels = new Uint8Array(N);
    for (let i = 0; i < N; i++) { labels[i] = i % 2; pixels.set(picture(g, i % 2), i * S * S); }
    mkdirSync(join(dir, 'idx'));
    writeFileSync(join(dir, 'idx', 'train-images-idx3-ubyte.gz'), gzipSync(encodeIdx({ shape: [N, S, S], data: pixels })));
    writeFileSync(join(dir, 'idx', 'train-labels-idx1-ubyte.gz'), gzipSync(encodeIdx({ shape: [N], data: labels })));
    mkdirSync(join(dir, 'npy'));
    writeNpySync(join(dir, 'npy', 'inputs.npy'), { shape: [N, S, S], data: pixels });
    writeNpySync(join(dir, 'npy', 'labels.npy'), { shape: [N], data: labels });

    // the labels file is found next to the images file, and a folder holding the pair works too
    const ds = await loadDataset(join(dir, 'idx'), { spec: modalitySpec('xray'), task: 'classification', read: {} });
    assert.equal(ds.format, 'idx');
    assert.equal(ds.length, N);
    assert.equal(ds.samples, undefined);
    assert.deepEqual(ds.labels, Array.from(labels, String));
    assert.equal(ds.stats.gets, 0); // nothing decoded yet
    const s3 = await ds.get(3);
    assert.deepEqual(Array.from((s3.input as { data: Float32Array }).data.slice(0, 4)), Array.from(pixels.subarray(3 * S * S, 3 * S * S + 4), (v) => Math.fround(v / 255)));
    await ds.close();

    const idx = await trainRun({ ...common, data: join(dir, 'idx', 'train-images-idx3-ubyte.gz'), out: join(dir, 'run-idx') });
    const npy = await trainRun({ ...common, data: join(dir, 'npy'), out: join(dir, 'run-npy') });
    assert.equal(idx.data.format, 'idx');
    sameRuns(idx, npy);
    assert.equal(idx.data.gets, expectedGets(idx));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the Trainer reads a Dataset batch by batch: never more than the current and the prefetched batch ahead', async () => {
  const g = new Generator(2);
  const n = 40, B = 4;
  const xs = Array.from({ length: n }, () => Float32Array.from({ length: 3 }, () => g.next() - 0.5));
  let gets = 0;
  const ds: Dataset<Float32Array> = { length: n, get: async (i) => { gets++; await new Promise((r) => setImmediate(r)); return xs[i]!; } };
  const model = new Linear(3, 1, { generator: new Generator(1) });
  const task: TrainerTask<Float32Array> = {
    kind: 'regression', model,
    forward: (batch) => {
      const x = new Tensor([batch.length, 3], 'float32', Float32Array.from(batch.flatMap((v) => Array.from(v))));
      const output = model.forward(x);
      const y = new Tensor([batch.length, 1], 'float32', Float32Array.from(batch, (v) => v[0]! + v[1]!));
      return { output, loss: mseLoss(output, y) };
    },
    targets: (batch) => batch.map((v) => v[0]! + v[1]!),
  };
  const seenAtStep: number[] = [];
  const opts = { epochs: 1, batchSize: B, lr: 0.05, seed: 0, progress: { mode: 'silent' as const } };
  const trainer = new Trainer(task, { ...opts, prefetch: 1, hooks: { afterStep: () => { seenAtStep.push(gets); } } });
  await trainer.fit(ds);
  assert.equal(seenAtStep.length, n / B);
  // at step k (1-based) at most batches k and k + 1 have been requested
  seenAtStep.forEach((v, k) => assert.ok(v <= (k + 2) * B, `step ${k + 1}: ${v} samples read, more than ${(k + 2) * B}`));
  assert.equal(gets, n);
  // the same run over the array gives the same weights
  const model2 = new Linear(3, 1, { generator: new Generator(1) });
  const task2: TrainerTask<Float32Array> = { ...task, model: model2, forward: (batch) => {
    const x = new Tensor([batch.length, 3], 'float32', Float32Array.from(batch.flatMap((v) => Array.from(v))));
    const output = model2.forward(x);
    const y = new Tensor([batch.length, 1], 'float32', Float32Array.from(batch, (v) => v[0]! + v[1]!));
    return { output, loss: mseLoss(output, y) };
  } };
  await new Trainer(task2, opts).fit(xs);
  assert.deepEqual(Array.from(model2.weight.value as Float32Array), Array.from(model.weight.value as Float32Array));
});

test('loadDataset reads TSV, NPZ, SDF with --target, JSON graph lists, text CSV/TSV, hyperspectral scenes and video frame folders', async () => {
  const fx = join(fileURLToPath(new URL('../../', import.meta.url)), 'test', 'fixtures', 'readers');
  const load = (path: string, modality: string, extra: Record<string, unknown> = {}) => loadDataset(path, { spec: modalitySpec(modality), task: 'classification', read: {}, ...extra });

  const tsv = await load(join(fx, 'structured-housing.tsv'), 'tabular', { task: 'regression', target: 'price' });
  assert.equal(tsv.format, 'csv-rows');
  assert.deepEqual(tsv.header, ['rooms', 'area', 'zip', 'city']);
  assert.equal(tsv.values![0], 210000.5);

  const npz = await load(join(fx, 'structured-arrays.npz'), 'time-series');
  assert.equal(npz.format, 'npz');
  assert.equal(npz.length, 6);
  assert.equal(((await npz.get(0)).input as { channels: number }).channels, 3);

  await assert.rejects(load(join(fx, 'structured-molecules.sdf'), 'graph'), /--target: name the SD data item/);
  const sdf = await load(join(fx, 'structured-molecules.sdf'), 'graph', { target: 'class' });
  assert.equal(sdf.format, 'sdf');
  assert.equal(sdf.length, 4);
  assert.ok((sdf.samples![0]!.input as { numNodes: number }).numNodes > 0);
  const mw = await load(join(fx, 'structured-molecules.sdf'), 'graph', { target: 'mw', task: 'regression' });
  assert.ok(Number.isFinite(mw.values![0]));

  const graphs = await load(join(fx, 'structured-graphs.json'), 'graph');
  assert.equal(graphs.format, 'graph-json');
  assert.ok(graphs.labels!.includes('cycle'));

  const reviews = await load(join(fx, 'structured-reviews.tsv'), 'text');
  assert.deepEqual(reviews.header, ['text']);
  assert.equal(reviews.samples![1]!.input, 'the second, with a comma');
  const reviewsCsv = await load(join(fx, 'structured-reviews.csv'), 'text');
  assert.equal(reviewsCsv.samples![0]!.input, 'Great movie, loved it');

  const scene = mkdtempSync(join(tmpdir(), 'omni-hsi-'));
  const clips = mkdtempSync(join(tmpdir(), 'omni-clips-'));
  try {
    for (const f of ['cube.npy', 'labels.npy']) writeFileSync(join(scene, f), readFileSync(join(fx, 'hyperspectral', f)));
    const hsi = await load(scene, 'hyperspectral', { patch: 3 });
    assert.equal(hsi.format, 'hyperspectral');
    assert.equal(hsi.length, 15); // labels 1..3 in 5 rows; 0 is unlabelled
    const px = (await hsi.get(0)).input as { spectrum: Float32Array; patch: number; bands: number };
    assert.deepEqual([px.patch, px.bands, px.spectrum.length], [3, 6, 54]);

    for (const cls of ['x', 'y']) {
      mkdirSync(join(clips, cls), { recursive: true });
      cpSync(join(fx, 'video', 'clip_frames'), join(clips, cls, 'clip1'), { recursive: true });
    }
    const video = await load(clips, 'video', { frames: 4, workers: 1 });
    try {
      assert.equal(video.length, 2);
      const v = (await video.get(1)).input as { frames: number; channels: number; data: Float32Array; height: number; width: number };
      assert.equal(v.frames, 4);
      assert.equal(v.data.length, v.channels * 4 * v.height * v.width);
    } finally { await video.close(); }
  } finally {
    rmSync(scene, { recursive: true, force: true });
    rmSync(clips, { recursive: true, force: true });
  }
});
