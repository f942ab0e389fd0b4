// Dynamic-batch ONNX export: a graph traced at batch 2 and 3 whose difference makes the batch dimension
// symbolic. The written files are run by a fresh onnxruntime session at batch sizes that were never traced
// (1, 4, 5) and compared with omniformer's own outputs; a graph that depends on the batch in another way is
// refused with the constant named.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { Generator } from '../src/engine/functional/random.js';
import { Tensor, Variable, constant } from '../src/engine/tensor.js';
import { cat } from '../src/engine/functional/indexing.js';
import { realize } from '../src/engine/runtime.js';
import { exportOnnxModel } from '../src/engine/export.js';
import { DynamicBatchError } from '../src/engine/dynamic-batch.js';
import { writeNpy } from '../src/io/npy.js';
import { exportRunOnnx, prepareRunInputs } from '../src/pipeline/export.js';
import { predictRun, trainRun } from '../src/pipeline/run.js';
import { runCli, lastJson } from './support/cli.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
let dir = '';
before(() => { dir = mkdtempSync(join(tmpdir(), 'export-dyn-')); });
after(() => { rmSync(dir, { recursive: true, force: true }); });

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'lengths');
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** A computation whose shapes involve the batch: [B, 4, 3] -> [B*4, 3] · W -> [B, 4, 2], a CLS row expanded to [B, 1, 2] and concatenated, mean over tokens. */
function model(x: Tensor, w: Variable, cls: Variable): Tensor {
  const B = x.shape[0]!;
  const h = x.reshape([B * 4, 3]).matmul(w).reshape([B, 4, 2]);
  return cat([cls.expand([B, 1, 2]), h], 1).gelu().mean(1);
}

test('engine: a graph traced at batch 2 and 3 runs at batch 1, 4 and 5 in a fresh ORT session = the engine', async () => {
  const g = new Generator(3);
  const w = new Variable(Float32Array.from({ length: 6 }, () => g.next() - 0.5), [3, 2]);
  const cls = new Variable(Float32Array.from({ length: 2 }, () => g.next()), [1, 1, 2]);
  const input = (b: number): Tensor => new Tensor([b, 4, 3], 'float32', Float32Array.from({ length: b * 12 }, () => g.next() * 2 - 1));
  const x2 = input(2), x3 = input(3);
  const path = join(dir, 'toy.onnx');
  exportOnnxModel({ inputs: { x: x2 }, outputs: { y: model(x2, w, cls) }, path, dynamicBatch: { batch: 2, other: { batch: 3, inputs: { x: x3 }, outputs: { y: model(x3, w, cls) } } } });
  const session = await ort.InferenceSession.create(path);
  try {
    for (const b of [1, 4, 5]) {
      const x = input(b);
      const want = model(x, w, cls);
      await realize([want]);
      const got = await session.run({ x: new ort.Tensor('float32', x.value as Float32Array, [b, 4, 3]) });
      assert.deepEqual(got.y!.dims, [b, 2]);
      assert.ok(maxAbs(got.y!.data as Float32Array, want.value as Float32Array) < 1e-6, `batch ${b}`);
    }
  } finally { await session.release(); }

  // a constant that is batch-sized but not a repeated row (a per-sample offset) cannot be made dynamic
  const offset = (b: number): Tensor => constant(Float32Array.from({ length: b * 2 }, (_, i) => i), [b, 2]);
  assert.throws(
    () => exportOnnxModel({ inputs: { x: x2 }, outputs: { y: model(x2, w, cls).add(offset(2)) }, dynamicBatch: { batch: 2, other: { batch: 3, inputs: { x: x3 }, outputs: { y: model(x3, w, cls).add(offset(3)) } } } }),
    (e: unknown) => e instanceof DynamicBatchError && /constant 't\d+' \(float32 \[2, 2\]\) has different rows along its batch axis/.test((e as Error).message),
  );
});

test('runs exported with --dynamic-batch (every modality, Perceiver IO, tabular via the CLI): any batch size = omniformer predict', async () => {
  const g = new Generator(8);
  // class folders of .npy samples for the array modalities
  const arrays: Record<string, number[]> = { 'point-cloud': [128, 3], video: [6, 16, 16, 3], hyperspectral: [30], imu: [64, 6] };
  for (const [m, shape] of Object.entries(arrays)) {
    for (const [c, base] of [['a', 0], ['b', 1]] as const) {
      mkdirSync(join(dir, m, c), { recursive: true });
      for (let k = 0; k < 4; k++) await writeNpy(join(dir, m, c, `${k}.npy`), { shape, data: Float32Array.from({ length: shape.reduce((x, y) => x * y, 1) }, () => base + g.next()) });
    }
  }
  const npys = (m: string): string[] => ['a/0.npy', 'b/1.npy', 'a/2.npy'].map((f) => join(dir, m, f));
  const texts = ['text,label'];
  for (let i = 0; i < 16; i++) texts.push(`"${i % 2 ? 'good fine nice' : 'bad awful poor'} number ${i}",${i % 2 ? 'pos' : 'neg'}`);
  writeFileSync(join(dir, 'text.csv'), texts.join('\n') + '\n');
  writeFileSync(join(dir, 'a.txt'), 'good fine nice day');
  writeFileSync(join(dir, 'b.txt'), 'bad awful');
  for (const c of ['ring', 'star']) {
    mkdirSync(join(dir, 'graph', c), { recursive: true });
    for (let k = 0; k < 4; k++) {
      const n = 4 + (k % 3);
      const edges = c === 'ring' ? Array.from({ length: n }, (_, i) => [i, (i + 1) % n]) : Array.from({ length: n - 1 }, (_, i) => [0, i + 1]);
      writeFileSync(join(dir, 'graph', c, `${k}.json`), JSON.stringify({ numNodes: n, edges, nodeFeatures: Array.from({ length: n }, () => [k % 3]) }));
    }
  }
  for (const [c, base] of [['dark', 0.25], ['light', 0.75]] as const) {
    mkdirSync(join(dir, 'img', c), { recursive: true });
    for (let k = 0; k < 6; k++) await writeNpy(join(dir, 'img', c, `${k}.npy`), { shape: [3, 32, 32], data: Float32Array.from({ length: 3 * 32 * 32 }, () => base + 0.2 * (g.next() - 0.5)) });
  }
  for (const c of ['yes', 'no']) {
    mkdirSync(join(dir, 'audio', c), { recursive: true });
    const src = join(root, 'data', 'demo', 'keywords', 'train', c);
    for (const f of readdirSync(src).filter((f) => f.endsWith('.wav')).sort().slice(0, 4)) copyFileSync(join(src, f), join(dir, 'audio', c, f));
  }
  const rows = ['age,color,x,label'];
  for (let i = 0; i < 40; i++) rows.push(`${20 + Math.floor(g.next() * 50)},${'abc'[Math.floor(g.next() * 3)]},${(g.next() * 2 - 1).toFixed(3)},${g.next() < 0.5 ? 'p' : 'q'}`);
  writeFileSync(join(dir, 'tab.csv'), rows.join('\n') + '\n');
  writeFileSync(join(dir, 'tab_in.csv'), rows.slice(0, 6).join('\n') + '\n'); // 5 rows
  const series = ['date,load'];
  for (let i = 0; i < 120; i++) series.push(`${new Date(Date.UTC(2021, 0, 1) + i * 3_600_000).toISOString().slice(0, 19).replace('T', ' ')},${(10 + 3 * Math.sin((2 * Math.PI * i) / 24)).toFixed(3)}`);
  writeFileSync(join(dir, 'fc.csv'), series.join('\n') + '\n');
  const series2 = series.slice(0, 1).concat(series.slice(40, 80));
  writeFileSync(join(dir, 'fc_in.csv'), series2.join('\n') + '\n');

  const imgFiles = ['dark/0.npy', 'light/1.npy', 'dark/2.npy', 'light/3.npy', 'dark/4.npy'].map((f) => join(dir, 'img', f));
  const wavs = ['yes', 'no'].flatMap((c) => readdirSync(join(dir, 'audio', c)).sort().slice(0, 2).map((f) => join(dir, 'audio', c, f)));
  const cases: { name: string; train: Record<string, unknown>; inputs: string[]; output: string; cli?: boolean; example?: string }[] = [
    { name: 'point-cloud', train: { modality: 'point-cloud', data: join(dir, 'point-cloud') }, inputs: npys('point-cloud'), output: 'probabilities', example: npys('point-cloud')[0]! },
    { name: 'video', train: { modality: 'video', data: join(dir, 'video') }, inputs: npys('video'), output: 'probabilities' },
    { name: 'video-perceiver', train: { modality: 'video', data: join(dir, 'video'), backbone: 'perceiver-io', perceiver: { numLatents: 8, latentDim: 32, depth: 1, inputDim: 32 } }, inputs: npys('video'), output: 'probabilities' },
    { name: 'hyperspectral', train: { modality: 'hyperspectral', data: join(dir, 'hyperspectral') }, inputs: npys('hyperspectral'), output: 'probabilities' },
    { name: 'imu', train: { modality: 'imu', data: join(dir, 'imu') }, inputs: npys('imu'), output: 'probabilities', example: npys('imu')[0]! },
    { name: 'text', train: { modality: 'text', data: join(dir, 'text.csv'), target: 'label' }, inputs: [join(dir, 'a.txt'), join(dir, 'b.txt')], output: 'probabilities' },
    { name: 'graph', train: { modality: 'graph', data: join(dir, 'graph') }, inputs: ['ring/0.json', 'star/1.json', 'star/2.json'].map((f) => join(dir, 'graph', f)), output: 'probabilities' },
    { name: 'image', train: { modality: 'image', data: join(dir, 'img'), patchSize: 16 }, inputs: imgFiles, output: 'probabilities' },
    { name: 'tabular', train: {}, inputs: [join(dir, 'tab_in.csv')], output: 'probabilities', cli: true },
    { name: 'audio', train: { modality: 'audio', data: join(dir, 'audio') }, inputs: wavs, output: 'probabilities' },
    { name: 'forecast', train: { modality: 'time-series', task: 'forecasting', data: join(dir, 'fc.csv'), seqLen: 24, predLen: 6 }, inputs: [join(dir, 'fc_in.csv'), join(dir, 'fc.csv')], output: 'forecast' },
  ];
  for (const c of cases) {
    const run = join(dir, `run-${c.name}`), onnx = join(dir, `${c.name}.onnx`);
    if (c.cli) {
      lastJson(await runCli(['train', '--modality', 'tabular', '--data', join(dir, 'tab.csv'), '--target', 'label', '--epochs', '1', '--out', run, '--json']));
      const r = lastJson(await runCli(['export', '--run', run, '--onnx', onnx, '--dynamic-batch', '--verify', '--json']));
      assert.equal(r.batchSize, null);
      for (const [n, e] of Object.entries(r.verified as Record<string, number>)) assert.ok(e < 1e-5, `${c.name} verify ${n}: ${e}`);
    } else {
      await trainRun({ ...(c.train as { modality: string; data: string }), epochs: 1, out: run, progress: { mode: 'silent' } });
      const r = await exportRunOnnx(run, onnx, { dynamicBatch: true, verify: true, ...(c.example ? { example: c.example } : {}) });
      assert.equal(r.batchSize, null);
      for (const [n, e] of Object.entries(r.verified!)) assert.ok(e < 1e-5, `${c.name} verify ${n}: ${e}`);
    }
    const sidecar = JSON.parse(readFileSync(`${onnx}.json`, 'utf8')) as { batchSize: number | null; inputs: { shape: (number | string)[] }[]; outputs: { shape: (number | string)[] }[] };
    assert.equal(sidecar.batchSize, null);
    for (const s of [...sidecar.inputs, ...sidecar.outputs]) assert.equal(s.shape[0], 'batch', `${c.name}: ${JSON.stringify(s.shape)}`);

    const pred = await predictRun({ run, inputs: c.inputs });
    const want = pred.flatMap((p) => (p.probabilities ? Object.values(p.probabilities) : p.forecast!.load!));
    const n = pred.length;
    const session = await ort.InferenceSession.create(onnx);
    try {
      // all samples in one batch, then one at a time: batch sizes the graph was not traced at
      for (const bs of [n, 1]) {
        const got: number[] = [];
        for (const b of await prepareRunInputs(run, c.inputs, { onnx, batchSize: bs })) {
          const feeds = Object.fromEntries(Object.entries(b.feeds).map(([k, t]) => [k, new ort.Tensor(t.dtype, t.data as Float32Array, t.shape)]));
          const out = (await session.run(feeds))[c.output]!;
          assert.equal(out.dims[0], b.count, `${c.name}: batch ${bs}`);
          got.push(...Array.from(out.data as Float32Array));
        }
        const err = maxAbs(got, want);
        assert.ok(err < (c.name === 'forecast' ? 1e-4 : 1e-5), `${c.name} at batch size ${bs}: ${err}`);
      }
    } finally { await session.release(); }
  }
});

test('export --dynamic-batch with --batch-size is a usage error', async () => {
  const r = await runCli(['export', '--run', join(dir, 'nowhere'), '--onnx', join(dir, 'x.onnx'), '--dynamic-batch', '--batch-size', '4']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /--batch-size and --dynamic-batch exclude each other/);
});
