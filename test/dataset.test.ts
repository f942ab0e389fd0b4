// The Dataset abstraction (folder-per-class sets, seeded stratified splits, index-based streaming batches)
// and the worker-thread prefetch pool.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  DataFormatError, DataLoader, arrayDataset, batchIndices, collect, concatDatasets, folderDataset, iterateBatches, mapDataset, numBatches,
  permutation, splitDataset, splitIndices, subsetDataset, type Dataset,
} from '../src/data/dataset.js';
import { PrefetchError, WorkerPool, prefetchBatches, transferablesOf } from '../src/data/prefetch.js';
import { splitDataset as trainerSplit } from '../src/train/trainer.js';
import * as rootExports from '../src/index.js';
import { init, loadBatch, type TaskConfig } from './helpers/structured-prefetch-task.js';

const fx = (name: string): string => fileURLToPath(new URL(`../../test/fixtures/readers/${name}`, import.meta.url));
const taskModule = new URL('./helpers/structured-prefetch-task.js', import.meta.url);

function tempTree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'omniformer-ds-'));
  for (const [p, content] of Object.entries(files)) {
    const full = join(root, p);
    mkdirSync(join(full, '..'), { recursive: true });
    if (p.endsWith('/')) mkdirSync(full, { recursive: true }); else writeFileSync(full, content);
  }
  return root;
}

test('arrayDataset, mapDataset, subsetDataset, concatDatasets keep labels and sources', async () => {
  const ds = arrayDataset(['a', 'b', 'c', 'd'], { labels: Int32Array.from([0, 1, 1, 0]), classes: ['x', 'y'], sources: ['f0', 'f1', 'f2', 'f3'] });
  const up = mapDataset(ds, async (s, i) => `${s.toUpperCase()}${i}`);
  assert.equal(await up.get(2), 'C2');
  assert.equal(up.source!(3), 'f3');
  const sub = subsetDataset(up, [3, 1]);
  assert.deepEqual(Array.from(sub.labels!), [0, 1]);
  assert.equal(await sub.get(0), 'D3');
  assert.equal(sub.source!(1), 'f1');
  const cat = concatDatasets([ds, subsetDataset(ds, [2])]);
  assert.equal(cat.length, 5);
  assert.equal(await cat.get(4), 'c');
  assert.deepEqual(Array.from(cat.labels!), [0, 1, 1, 0, 1]);
  assert.throws(() => ds.get(4), /index 4 is outside \[0, 4\)/);
  assert.throws(() => subsetDataset(ds, [0, 7]), /index 7/);
  assert.throws(() => arrayDataset([1, 2], { labels: [0, 2], classes: ['a', 'b'] }), /label 2 of sample 1 is outside \[0, 2\)/);
});

test('folderDataset: ImageFolder layout for any per-file loader, sorted classes, clear errors', async () => {
  const ds = await folderDataset(fx('structured-textfolder'), async (p) => (await import('node:fs/promises')).readFile(p, 'utf8'), { extensions: ['txt'] });
  assert.deepEqual(ds.classes, ['neg', 'pos']);
  assert.deepEqual(ds.paths.map((p) => p.slice(p.indexOf('structured-textfolder/') + 22)), ['neg/a.txt', 'neg/b.txt', 'pos/a.txt', 'pos/b.txt', 'pos/more/c.txt']);
  const s = await ds.get(2);
  assert.equal(s.label, 1);
  assert.equal(s.input, 'Wonderful acting.\n');
  const all = await folderDataset(fx('structured-textfolder'), (p) => p.length);
  assert.equal(all.length, 6, 'without an extension filter every file counts');

  const root = tempTree({ 'b/1.bin': 'x', 'B/1.bin': 'y', 'a/.hidden': 'h', 'a/2.bin': 'z', '.git/x': 'no', 'a/bad.bin': 'bad' });
  const loader = (p: string): string => { if (p.endsWith('bad.bin')) throw new Error('cannot decode'); return p; };
  const f = await folderDataset(root, loader);
  assert.deepEqual(f.classes, ['B', 'a', 'b'], 'code-point order, as Python sorted()');
  assert.equal(f.length, 4);
  await assert.rejects(async () => f.get(f.paths.findIndex((p) => p.endsWith('bad.bin'))), (e: Error) => e instanceof DataFormatError && e.message === `${join(root, 'a', 'bad.bin')}: cannot decode`);
  const empty = tempTree({ 'cats/': '' });
  await assert.rejects(folderDataset(empty, loader), /no files in class folder 'cats'/);
  const withEmpty = await folderDataset(empty.replace(/$/, ''), loader, { allowEmpty: true }).catch((e: Error) => e);
  assert.ok(withEmpty instanceof DataFormatError && /no files in any class folder/.test(withEmpty.message));
  const loose = tempTree({ 'x.png': '1', 'y.png': '2' });
  await assert.rejects(folderDataset(loose, loader), /no class folders \(expected one subfolder per class, as torchvision's ImageFolder; found 2 loose files and no subfolders\)/);
  const nothing = mkdtempSync(join(tmpdir(), 'omniformer-ds-'));
  await assert.rejects(folderDataset(nothing, loader), new RegExp(`^DataFormatError: ${nothing}: no class folders .*the folder is empty`));
  await assert.rejects(folderDataset(join(nothing, 'missing'), loader), /missing: dataset folder does not exist/);
  await assert.rejects(folderDataset(join(root, 'b', '1.bin'), loader), /1.bin: is a file; expected a folder/);
  await assert.rejects(folderDataset(root, loader, { extensions: ['.png'] }), /no files in class folders 'B', 'a', 'b' \(accepted extensions: .png\)/);
  for (const d of [root, empty, loose, nothing]) rmSync(d, { recursive: true, force: true });
});

test('splits: seeded, disjoint, stratified in proportion, same as the trainer', () => {
  const labels = Int32Array.from({ length: 1000 }, (_, i) => (i < 600 ? 0 : i < 900 ? 1 : 2));
  // shuffle the label order so classes are interleaved
  const perm = permutation(1000, 7);
  const shuffled = Int32Array.from(perm, (i) => labels[i]!);
  const s = splitIndices(1000, { val: 0.1, test: 0.2, seed: 3, stratify: shuffled });
  const count = (idx: number[], c: number): number => idx.filter((i) => shuffled[i] === c).length;
  assert.deepEqual([0, 1, 2].map((c) => count(s.val, c)), [60, 30, 10]);
  assert.deepEqual([0, 1, 2].map((c) => count(s.test, c)), [120, 60, 20]);
  assert.deepEqual([0, 1, 2].map((c) => count(s.train, c)), [420, 210, 70]);
  const seen = new Uint8Array(1000);
  for (const i of [...s.train, ...s.val, ...s.test]) seen[i]!++;
  assert.ok(seen.every((v) => v === 1), 'a partition');
  assert.deepEqual(splitIndices(1000, { val: 0.1, test: 0.2, seed: 3, stratify: shuffled }), s, 'seeded');
  assert.notDeepEqual(splitIndices(1000, { val: 0.1, test: 0.2, seed: 4, stratify: shuffled }).test, s.test);
  // uneven class sizes: largest-remainder rounding, every class keeps a training sample
  const odd = Int32Array.from([0, 0, 0, 1, 1, 2, 2, 2, 2, 2, 2]);
  const so = splitIndices(11, { val: 0.2, test: 0.2, seed: 1, stratify: odd });
  assert.equal(so.val.length, 2); assert.equal(so.test.length, 2);
  for (const c of [0, 1, 2]) assert.ok(so.train.some((i) => odd[i] === c));
  // identical to the trainer's splitDataset (one algorithm, two entry points)
  for (const opts of [{ seed: 0 }, { seed: 5, val: 0.15, test: 0.25 }, { seed: 2, stratify: shuffled }, { chronological: true, val: 0.3 }]) {
    assert.deepEqual(splitIndices(1000, opts), trainerSplit(1000, opts));
  }
  assert.equal(rootExports.splitDataset, splitDataset, 'the package root exports the data version');
  assert.deepEqual(rootExports.splitDataset(50, { seed: 1 }), trainerSplit(50, { seed: 1 }));
  // dataset-level: stratified by the set's labels by default
  const ds = arrayDataset(Array.from({ length: 1000 }, (_, i) => i), { labels: shuffled, classes: ['a', 'b', 'c'] });
  const parts = splitDataset(ds, { val: 0.1, test: 0.2, seed: 3 });
  assert.deepEqual([...parts.test.indices], s.test);
  assert.deepEqual([0, 1, 2].map((c) => Array.from(parts.val.labels!).filter((l) => l === c).length), [60, 30, 10]);
  assert.equal(parts.train.classes, ds.classes);
  const plain = splitDataset(ds, { val: 0.1, test: 0.2, seed: 3, stratify: false });
  assert.deepEqual([...plain.test.indices], splitIndices(1000, { val: 0.1, test: 0.2, seed: 3 }).test);
  assert.throws(() => splitDataset(arrayDataset([1, 2, 3]), { stratify: true }), /has no labels/);
  assert.throws(() => splitIndices(3, { val: 0.5, test: 0.5 }), /leave no training samples/);
});

test('batchIndices: every index once per epoch, seeded per epoch, dropLast, no shuffle', () => {
  const n = 1003, bs = 50;
  const once = (epoch: number, opts: { shuffle?: boolean; dropLast?: boolean } = {}): number[] => {
    const out: number[] = [];
    for (const b of batchIndices(n, { batchSize: bs, seed: 11, epoch, ...opts })) {
      assert.ok(b instanceof Uint32Array);
      out.push(...b);
    }
    return out;
  };
  const e0 = once(0);
  assert.equal(e0.length, n);
  assert.deepEqual([...e0].sort((a, b) => a - b), Array.from({ length: n }, (_, i) => i));
  assert.deepEqual(once(0), e0, 'same seed and epoch, same order');
  assert.notDeepEqual(once(1), e0, 'a new permutation every epoch');
  assert.deepEqual(once(0, { shuffle: false }), Array.from({ length: n }, (_, i) => i));
  assert.equal(once(0, { dropLast: true }).length, 1000);
  assert.equal(numBatches(n, bs), 21);
  assert.equal(numBatches(n, bs, true), 20);
  assert.throws(() => batchIndices(10, { batchSize: 0 }).next(), /batchSize must be a positive integer/);
});

test('streaming: 60,000 indexed samples, never more than (prefetch + 1) batches alive, each seen once', async () => {
  const N = 60000, bs = 256, prefetch = 2;
  let gets = 0, alive = 0, maxAlive = 0;
  const labels = Int32Array.from({ length: N }, (_, i) => i % 10);
  const ds: Dataset<{ i: number; x: Float32Array }> = {
    length: N,
    labels,
    classes: Array.from({ length: 10 }, (_, k) => String(k)),
    get: async (i) => {
      gets++;
      alive++;
      maxAlive = Math.max(maxAlive, alive);
      return { i, x: new Float32Array(16).fill(i) };
    },
  };
  const loader = new DataLoader(ds, { batchSize: bs, seed: 5, prefetch });
  assert.equal(gets, 0, 'nothing is loaded before iterating');
  assert.equal(loader.length, Math.ceil(N / bs));
  for (let epoch = 0; epoch < 2; epoch++) {
    const seen = new Uint8Array(N);
    let batches = 0, first = -1;
    for await (const b of loader) {
      assert.equal(b.epoch, epoch);
      assert.equal(b.batch, batches++);
      if (first < 0) first = b.indices[0]!;
      assert.equal(b.items.length, b.indices.length);
      b.items.forEach((it, k) => {
        assert.equal(it.i, b.indices[k]);
        assert.equal(b.labels![k], it.i % 10);
        seen[it.i]!++;
      });
      alive -= b.items.length; // the consumer is done with this batch
    }
    assert.equal(batches, Math.ceil(N / bs));
    assert.ok(seen.every((v) => v === 1), `epoch ${epoch}: every sample exactly once`);
    assert.equal(gets, N * (epoch + 1));
    assert.equal(loader.epoch, epoch + 1);
  }
  assert.ok(maxAlive <= (prefetch + 1) * bs, `at most ${(prefetch + 1) * bs} samples alive, saw ${maxAlive}`);
  assert.ok(maxAlive > bs, 'batches are loaded ahead');
});

test('loader and collect: a failing sample raises with its source, or is skipped and counted', async () => {
  const base = arrayDataset(Array.from({ length: 100 }, (_, i) => i), { sources: Array.from({ length: 100 }, (_, i) => `file${i}.png`) });
  const flaky = mapDataset(base, (v) => { if (v % 25 === 3) throw new Error('corrupt pixels'); return v * 2; });
  await assert.rejects(async () => { for await (const _ of iterateBatches(flaky, { batchSize: 10, shuffle: false })) { /* consume */ } }, /^DataFormatError: file3.png: corrupt pixels$/);
  const warnings: string[] = [];
  let total = 0, skipped = 0;
  for await (const b of iterateBatches(flaky, { batchSize: 10, seed: 1, skipBad: true, onWarning: (m) => warnings.push(m) })) {
    total += b.items.length; skipped += b.skipped;
    b.items.forEach((v, k) => assert.equal(v, b.indices[k]! * 2));
  }
  assert.equal(total, 96); assert.equal(skipped, 4);
  assert.deepEqual(warnings.sort(), ['skipped: file28.png: corrupt pixels', 'skipped: file3.png: corrupt pixels', 'skipped: file53.png: corrupt pixels', 'skipped: file78.png: corrupt pixels']);
  const c = await collect(flaky, { skipBad: true, onWarning: () => {} });
  assert.equal(c.items.length, 96);
  assert.equal(c.skipped, 4);
  assert.equal(c.indices[3], 4);
  await assert.rejects(collect(flaky), /file3.png: corrupt pixels/);
});

test('WorkerPool: results identical to in-thread, ordered, worker count respected', async () => {
  const counters = new SharedArrayBuffer(16);
  const config: TaskConfig = { scale: 2, counters, barrier: 3 };
  const pool = new WorkerPool<Uint32Array, ReturnType<typeof loadBatch>>({ module: taskModule, fn: 'loadBatch', workers: 3, config });
  assert.equal(pool.size, 3);
  try {
    const batches = [...batchIndices(200, { batchSize: 16, seed: 9 })];
    const got: { indices: Uint32Array; result: ReturnType<typeof loadBatch> }[] = [];
    for await (const r of prefetchBatches(pool, batches, { depth: 6 })) got.push(r);
    assert.equal(got.length, batches.length);
    const ref = init({ scale: 2 });
    got.forEach((g, k) => {
      assert.deepEqual([...g.indices], [...batches[k]!], 'results come back in order');
      const exp = loadBatch(batches[k]!, ref);
      assert.deepEqual(g.result.x, exp.x);
      assert.deepEqual(g.result.labels, exp.labels);
      assert.ok(g.result.x instanceof Float32Array);
      assert.equal(g.result.initialisedIn, g.result.threadId, 'init ran in the worker');
    });
    const threads = new Set(got.map((g) => g.result.threadId));
    assert.equal(threads.size, 3, 'all three workers ran tasks');
    for (const t of threads) assert.ok(pool.threadIds.includes(t));
    const c = new Int32Array(counters);
    assert.equal(Atomics.load(c, 0), batches.length);
    assert.equal(Atomics.load(c, 3), 3, 'three tasks ran at once (the barrier needs it), never more');
  } finally {
    await pool.close();
  }
  await assert.rejects(pool.run(new Uint32Array([1])), /the pool is closed/);
  assert.deepEqual(transferablesOf({ a: new Float32Array(2), b: [new Int32Array(1)], c: Buffer.alloc(4) }).length, 2);
});

test('WorkerPool: workers compute while the main thread is busy (overlap)', async () => {
  const counters = new SharedArrayBuffer(16);
  const pool = new WorkerPool<Uint32Array, ReturnType<typeof loadBatch>>({ module: taskModule, fn: 'loadBatch', workers: 2, config: { scale: 1, counters } satisfies TaskConfig });
  try {
    const pending = [pool.run(Uint32Array.from([1, 2, 3])), pool.run(Uint32Array.from([4, 5]))];
    // Block the main thread (no event-loop turn) until both tasks have finished in the workers.
    const c = new Int32Array(counters);
    const t0 = Date.now();
    while (Atomics.load(c, 0) < 2 && Date.now() - t0 < 30000) Atomics.wait(c, 0, Atomics.load(c, 0), 100);
    assert.equal(Atomics.load(c, 0), 2, 'both tasks completed while the main thread was blocked');
    const [a, b] = await Promise.all(pending);
    assert.deepEqual([...a.labels], [1, 2, 3]);
    assert.deepEqual([...b.labels], [4, 5]);
  } finally {
    await pool.close();
  }
});

test('WorkerPool: errors carry the file name; crashes and bad modules fail cleanly', async () => {
  const bad = fx('structured-tabular-bad.csv');
  const pool = new WorkerPool<Uint32Array, number>({ module: taskModule, fn: 'readBad', workers: 1, config: { scale: 1, badFile: bad } satisfies TaskConfig });
  try {
    const err = await pool.run(new Uint32Array([0])).catch((e: unknown) => e);
    assert.ok(err instanceof PrefetchError);
    assert.equal(err.remoteName, 'DataFormatError');
    assert.equal(err.file, bad);
    assert.equal(err.line, 3);
    assert.ok(err.message.startsWith(`${bad}:3: row has 2 fields`), err.message);
    assert.match(err.message, /in worker: readBad of file:.*structured-prefetch-task.js/);
    // a task error does not break the pool
    const again = await pool.run(new Uint32Array([0])).catch((e: unknown) => e);
    assert.ok(again instanceof PrefetchError);
  } finally {
    await pool.close();
  }
  const crashing = new WorkerPool({ module: taskModule, fn: 'crash', workers: 1 });
  await assert.rejects(crashing.run(new Uint32Array([0])), /a worker thread exited unexpectedly \(code 3\)/);
  await assert.rejects(crashing.run(new Uint32Array([0])), /exited unexpectedly/);
  await crashing.close();
  const missing = new WorkerPool({ module: taskModule, fn: 'nope', workers: 2 });
  await assert.rejects(missing.run(new Uint32Array([0])), /cannot start: module .* exports no function 'nope' \(exports: .*loadBatch/);
  await missing.terminate();
  const noModule = new WorkerPool({ module: fx('structured-no-such-module.js'), workers: 1 });
  await assert.rejects(noModule.run(new Uint32Array([0])), /cannot start: .*structured-no-such-module.js/);
  await noModule.terminate();
});
