// `omniformer export` / exportRunOnnx: trained runs as standalone ONNX files, run by a FRESH onnxruntime
// session straight from onnxruntime-node (no omniformer code in the loop besides preparing the inputs), and
// compared with omniformer's own predictions. Also ONNX external data (forced on small models).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { Generator } from '../src/engine/functional/random.js';
import { Tensor, Variable } from '../src/engine/tensor.js';
import { exportOnnx, exportOnnxModel } from '../src/engine/export.js';
import { writeNpy } from '../src/io/npy.js';
import { exportRunOnnx, prepareRunInputs, type PreparedBatch } from '../src/pipeline/export.js';
import { loadRun, predictRun, readInputs, trainRun } from '../src/pipeline/run.js';
import { modalitySpec } from '../src/pipeline/modalities.js';
import { runCli as cli } from './support/cli.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
let dir = '';

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'lengths');
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Run every prepared batch through a fresh session; concatenate each output's rows of real samples. */
async function runFile(path: string, batches: PreparedBatch[]): Promise<Record<string, number[]>> {
  const session = await ort.InferenceSession.create(path);
  try {
    const out: Record<string, number[]> = {};
    for (const b of batches) {
      const feeds = Object.fromEntries(Object.entries(b.feeds).map(([n, t]) => [n, new ort.Tensor(t.dtype, t.data as Float32Array, t.shape)]));
      const res = await session.run(feeds);
      for (const name of session.outputNames) {
        const v = res[name]!;
        const per = v.data.length / v.dims[0]!;
        (out[name] ??= []).push(...Array.from(v.data as Float32Array).slice(0, b.count * per));
      }
    }
    return out;
  } finally {
    await session.release();
  }
}

function tabularCsv(): string {
  const g = new Generator(31);
  const rows = ['age,color,x,income'];
  for (let i = 0; i < 60; i++) {
    const c = 'abc'[Math.floor(g.next() * 3)]!;
    const x = g.next() * 2 - 1;
    rows.push(`${20 + Math.floor(g.next() * 50)},${c},${x.toFixed(3)},${x + (c === 'a' ? 0.6 : c === 'b' ? -0.6 : 0) > 0 ? 'high' : 'low'}`);
  }
  return rows.join('\n') + '\n';
}

/** An hourly two-channel series with a daily cycle. */
function seriesCsv(steps: number): string {
  const g = new Generator(32);
  const rows = ['date,load,temp'];
  for (let i = 0; i < steps; i++) {
    const d = new Date(Date.UTC(2021, 0, 1) + i * 3_600_000).toISOString().replace('T', ' ').slice(0, 19);
    rows.push(`${d},${(10 + 3 * Math.sin((2 * Math.PI * i) / 24) + 0.2 * (g.next() - 0.5)).toFixed(3)},${(20 + 5 * Math.cos((2 * Math.PI * i) / 24)).toFixed(3)}`);
  }
  return rows.join('\n') + '\n';
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'export-onnx-'));
  writeFileSync(join(dir, 'tab.csv'), tabularCsv());
  writeFileSync(join(dir, 'new.csv'), 'x,color,age\n0.9,a,30\n-0.9,b,40\n0.2,c,50\n-0.1,,61\n0.5,zzz,33\n');
  writeFileSync(join(dir, 'fc.csv'), seriesCsv(160));
  // two classes of 3x32x32 images (dark / light) as .npy class folders
  const g = new Generator(33);
  for (const [c, base] of [['dark', 0.25], ['light', 0.75]] as const) {
    mkdirSync(join(dir, 'img', c), { recursive: true });
    for (let k = 0; k < 12; k++) {
      await writeNpy(join(dir, 'img', c, `${k}.npy`), { shape: [3, 32, 32], data: Float32Array.from({ length: 3 * 32 * 32 }, () => base + 0.2 * (g.next() - 0.5)) });
    }
  }
});
after(() => { rmSync(dir, { recursive: true, force: true }); });

test('exportOnnxModel with forced external data: small .onnx + .data that a fresh session loads from its path, also after moving both', async () => {
  const g = new Generator(5);
  const w1 = new Variable(Float32Array.from({ length: 48 * 64 }, () => g.next() - 0.5), [48, 64]);
  const b1 = new Variable(Float32Array.from({ length: 64 }, () => g.next() - 0.5), [64]);
  const w2 = new Variable(Float32Array.from({ length: 64 * 10 }, () => g.next() - 0.5), [64, 10]);
  const x = new Tensor([3, 48], 'float32', Float32Array.from({ length: 3 * 48 }, () => g.next() * 2 - 1));
  const trace = (): Tensor => x.matmul(w1).add(b1).gelu().matmul(w2).softmax(-1);
  const names = new Map<Tensor, string>([[w1, 'fc1.weight'], [b1, 'fc1.bias'], [w2, 'fc2.weight']]);
  const inline = exportOnnx({ inputs: { x }, outputs: { y: trace() }, names });
  const path = join(dir, 'ext', 'mlp.onnx');
  mkdirSync(join(dir, 'ext'));
  const r = exportOnnxModel({ inputs: { x }, outputs: { y: trace() }, path, names, externalData: true });
  assert.equal(r.externalData, `${path}.data`);
  // w1 and w2 (12288 + 2560 bytes) go out; the 256-byte bias stays under the 1024-byte threshold
  assert.equal(r.externalBytes, (48 * 64 + 64 * 10) * 4);
  assert.ok(r.inlineBytes >= 256 && r.inlineBytes < 1024, `inline ${r.inlineBytes}`);
  assert.ok(statSync(path).size < inline.byteLength - r.externalBytes + 256, `model ${statSync(path).size} bytes vs inline ${inline.byteLength}`);
  assert.ok(statSync(`${path}.data`).size >= r.externalBytes);
  const expected = await trace().float32();

  const run = async (p: string): Promise<Float32Array> => {
    const s = await ort.InferenceSession.create(p);
    try { return (await s.run({ x: new ort.Tensor('float32', x.value as Float32Array, [3, 48]) })).y!.data as Float32Array; } finally { await s.release(); }
  };
  const fromInline = await (async () => {
    const s = await ort.InferenceSession.create(inline);
    try { return (await s.run({ x: new ort.Tensor('float32', x.value as Float32Array, [3, 48]) })).y!.data as Float32Array; } finally { await s.release(); }
  })();
  const ext = await run(path);
  assert.equal(maxAbs(ext, fromInline), 0, 'external data gives the inline model\'s outputs exactly');
  assert.ok(maxAbs(ext, expected) < 1e-6, `vs the engine: ${maxAbs(ext, expected)}`);

  // the pair moved to another folder still runs; the .onnx alone does not (its weights really are outside)
  mkdirSync(join(dir, 'moved'));
  renameSync(path, join(dir, 'moved', 'mlp.onnx'));
  renameSync(`${path}.data`, join(dir, 'moved', 'mlp.onnx.data'));
  assert.equal(maxAbs(await run(join(dir, 'moved', 'mlp.onnx')), fromInline), 0);
  mkdirSync(join(dir, 'alone'));
  renameSync(join(dir, 'moved', 'mlp.onnx'), join(dir, 'alone', 'mlp.onnx'));
  await assert.rejects(run(join(dir, 'alone', 'mlp.onnx')), /external data.*mlp\.onnx\.data/i);

  // 'auto' switches to external data above the inline limit (2 GB by default; lowered here)
  const auto = exportOnnxModel({ inputs: { x }, outputs: { y: trace() }, path: join(dir, 'ext', 'auto.onnx'), maxInlineBytes: 8192 });
  assert.equal(auto.externalData, join(dir, 'ext', 'auto.onnx.data'));
  const below = exportOnnxModel({ inputs: { x }, outputs: { y: trace() }, path: join(dir, 'ext', 'below.onnx') });
  assert.equal(below.externalData, null);
  assert.ok(!existsSync(join(dir, 'ext', 'below.onnx.data')));
  assert.throws(() => exportOnnxModel({ inputs: { x }, outputs: { y: trace() }, externalData: true }), /external data needs a 'path'/);
  assert.throws(() => exportOnnxModel({ inputs: { x }, outputs: { y: trace() }, names: new Map([[w1, 'x']]) }), /name 'x' is used twice/);
});

test('tabular run through the CLI: export --batch-size 4, fresh ORT session on prepared CSV rows = omniformer predict', async () => {
  const run = join(dir, 'run-tab');
  const tr = await cli(['train', '--modality', 'tabular', '--data', join(dir, 'tab.csv'), '--target', 'income', '--epochs', '4', '--out', run, '--json']);
  assert.equal(tr.code, 0, tr.stderr);
  const onnx = join(dir, 'out', 'tab.onnx');
  const ex = await cli(['export', '--run', run, '--onnx', onnx, '--batch-size', '4', '--json']);
  assert.equal(ex.code, 0, ex.stderr);
  const r = JSON.parse(ex.stdout.trim().split('\n').at(-1)!);
  assert.equal(r.externalData, null);
  assert.deepEqual(r.inputs.map((i: { name: string; dtype: string; shape: number[] }) => [i.name, i.dtype, i.shape]), [['categorical', 'int64', [4, 1]], ['numeric', 'float32', [4, 2]], ['numericMissing', 'float32', [4, 2]]]);
  const side = JSON.parse(readFileSync(`${onnx}.json`, 'utf8'));
  assert.equal(side.format, 'omniformer-onnx');
  assert.deepEqual(side.labels, ['high', 'low']);
  assert.deepEqual(side.outputs.map((o: { name: string; shape: number[] }) => [o.name, o.shape]), [['logits', [4, 2]], ['probabilities', [4, 2]]]);
  assert.equal(side.source.weights, 'best.safetensors');
  assert.ok(side.tokenizer.schema, 'the sidecar carries the fitted tabular schema (vocabularies, means, stds)');

  // 5 rows -> batches of 4 + 1 (padded by repeating the last row); incl. a missing and an unseen category
  const batches = await prepareRunInputs(run, [join(dir, 'new.csv')], { onnx });
  assert.deepEqual(batches.map((b) => b.count), [4, 1]);
  assert.deepEqual(batches[1]!.feeds.numeric!.shape, [4, 2]);
  const got = await runFile(onnx, batches);
  const pred = await predictRun({ run, inputs: [join(dir, 'new.csv')] });
  const probs = pred.flatMap((p) => side.labels.map((l: string) => p.probabilities![l]!));
  const err = maxAbs(got.probabilities!, probs);
  console.log(`tabular: max |ORT - predict| probabilities ${err.toExponential(2)}`);
  assert.ok(err < 1e-5, `probabilities differ by ${err}`);
  const labels = pred.map((_, i) => side.labels[got.probabilities![2 * i]! > got.probabilities![2 * i + 1]! ? 0 : 1]);
  assert.deepEqual(labels, pred.map((p) => p.label));

  // logits against the library's forward on the same rows
  const { config, model } = await loadRun(run);
  const raw = await readInputs(config, modalitySpec('tabular'), [join(dir, 'new.csv')]);
  const ref = await model.forwardRaw(raw.map((s) => s.input)).float32();
  const errLogits = maxAbs(got.logits!, ref);
  console.log(`tabular: max |ORT - library| logits ${errLogits.toExponential(2)}`);
  assert.ok(errLogits < 1e-5, `logits differ by ${errLogits}`);
});

test('image run: exported with forced external data, run from its path and after moving the pair; = predictRun and the library logits', async () => {
  const run = join(dir, 'run-img');
  await trainRun({ modality: 'image', data: join(dir, 'img'), epochs: 2, patchSize: 16, out: run, progress: { mode: 'silent' } });
  const onnx = join(dir, 'img-out', 'img.onnx');
  const r = await exportRunOnnx(run, onnx, { batchSize: 3, externalData: true, verify: true });
  assert.deepEqual(r.inputs.map((i) => [i.name, i.dtype, i.shape]), [['images', 'float32', [3, 3, 32, 32]]]);
  assert.equal(r.externalData, `${onnx}.data`);
  assert.ok(r.dataBytes > 5 * r.modelBytes, `weights are in the .data file (${r.dataBytes} vs ${r.modelBytes} bytes)`);
  for (const [k, v] of Object.entries(r.verified!)) assert.ok(v < 1e-5, `verify ${k}: ${v}`);

  const files = ['dark/0.npy', 'light/1.npy', 'dark/5.npy', 'light/7.npy', 'light/11.npy'].map((f) => join(dir, 'img', f));
  const batches = await prepareRunInputs(run, files, { onnx });
  assert.deepEqual(batches.map((b) => b.count), [3, 2]);
  const pred = await predictRun({ run, inputs: files });
  const labels = JSON.parse(readFileSync(`${onnx}.json`, 'utf8')).labels as string[];
  const probs = pred.flatMap((p) => labels.map((l) => p.probabilities![l]!));
  const { model } = await loadRun(run);
  const raw = await readInputs((await loadRun(run)).config, modalitySpec('image'), files);
  const logits = await model.forwardRaw(raw.map((s) => s.input)).float32();

  // move the model and its data to another folder: still one self-contained pair
  const moved = join(dir, 'img-moved');
  mkdirSync(moved);
  renameSync(onnx, join(moved, 'img.onnx'));
  renameSync(`${onnx}.data`, join(moved, 'img.onnx.data'));
  const got = await runFile(join(moved, 'img.onnx'), batches);
  const errP = maxAbs(got.probabilities!, probs), errL = maxAbs(got.logits!, logits);
  console.log(`image (external data, moved): max |ORT - predict| probabilities ${errP.toExponential(2)}, max |ORT - library| logits ${errL.toExponential(2)}`);
  assert.ok(errP < 1e-5 && errL < 1e-5, `probabilities ${errP}, logits ${errL}`);
});

test('forecasting run: the forecast output is in the series units (de-standardised in the graph) = predictRun', async () => {
  const run = join(dir, 'run-fc');
  await trainRun({ modality: 'time-series', task: 'forecasting', data: join(dir, 'fc.csv'), seqLen: 24, predLen: 6, epochs: 1, out: run, progress: { mode: 'silent' } });
  const onnx = join(dir, 'fc.onnx');
  const r = await exportRunOnnx(run, onnx, { weights: 'last' });
  assert.deepEqual(r.inputs.map((i) => [i.name, i.shape]), [['x', [1, 24, 2]], ['marks', [1, 24, 4]]]);
  assert.deepEqual(r.outputs.map((o) => [o.name, o.shape]), [['forecast', [1, 6, 2]]]);
  writeFileSync(join(dir, 'fc_in.csv'), seriesCsv(40));
  const batches = await prepareRunInputs(run, [join(dir, 'fc_in.csv')], { onnx });
  const got = await runFile(onnx, batches);
  const [p] = await predictRun({ run, inputs: [join(dir, 'fc_in.csv')] });
  const want = Array.from({ length: 6 }, (_, s) => [p!.forecast!.load![s]!, p!.forecast!.temp![s]!]).flat();
  const err = maxAbs(got.forecast!, want);
  console.log(`forecast: max |ORT - predict| ${err.toExponential(2)} (values ~${want[0]!.toFixed(1)})`);
  assert.ok(err < 2e-5, `forecast differs by ${err}`);
  assert.ok(Math.abs(want[1]! - 20) < 15, 'values are in the temperature units, not standardised');
});

test('export errors: missing run folder, no weights, --weights best without best, unwritable path, a shape the config does not fix; --help', async () => {
  const e1 = await cli(['export', '--run', join(dir, 'nope'), '--onnx', join(dir, 'x.onnx')]);
  assert.equal(e1.code, 1);
  assert.match(e1.stderr, /--run: '.*nope' does not exist/);
  mkdirSync(join(dir, 'empty-run'));
  writeFileSync(join(dir, 'empty-run', 'config.json'), readFileSync(join(dir, 'run-tab', 'config.json')));
  const e2 = await cli(['export', '--run', join(dir, 'empty-run'), '--onnx', join(dir, 'x.onnx')]);
  assert.match(e2.stderr, /has no trained weights \(best\.safetensors or checkpoint\.safetensors\)/);
  writeFileSync(join(dir, 'empty-run', 'checkpoint.safetensors'), readFileSync(join(dir, 'run-tab', 'checkpoint.safetensors')));
  const e3 = await cli(['export', '--run', join(dir, 'empty-run'), '--onnx', join(dir, 'x.onnx'), '--weights', 'best']);
  assert.match(e3.stderr, /--weights best: .* has no best\.safetensors/);
  const e4 = await cli(['export', '--run', join(dir, 'run-tab'), '--onnx', join(dir, 'tab.csv', 'model.onnx')]);
  assert.equal(e4.code, 1);
  assert.match(e4.stderr, /--onnx: cannot create the folder '.*tab\.csv'/);
  const e5 = await cli(['export', '--run', join(dir, 'run-tab'), '--onnx', dir]);
  assert.match(e5.stderr, /--onnx: '.*' is a folder/);
  const e6 = await cli(['export', '--run', join(dir, 'run-tab')]);
  assert.equal(e6.code, 2);
  assert.match(e6.stderr, /missing required option --onnx/);
  const e7 = await cli(['export', '--run', join(dir, 'run-tab'), '--onnx', join(dir, 'y.onnx'), '--weights', 'first']);
  assert.match(e7.stderr, /--weights must be best or last, got 'first'/);
  assert.ok(!existsSync(join(dir, 'x.onnx')) && !existsSync(join(dir, 'y.onnx')), 'nothing written on errors');

  // a time-series classifier accepts any length; the export needs an example to fix it
  const ts = ['label,' + Array.from({ length: 12 }, (_, t) => `t${t}`).join(',')];
  for (let i = 0; i < 30; i++) ts.push([`c${i % 2}`, ...Array.from({ length: 12 }, (_, t) => Math.sin((1 + (i % 2)) * t + i).toFixed(3))].join(','));
  writeFileSync(join(dir, 'ts.csv'), ts.join('\n') + '\n');
  writeFileSync(join(dir, 'ts_in.csv'), [ts[0], ts[1], ts[2]].join('\n') + '\n');
  const tsRun = join(dir, 'run-ts');
  await trainRun({ modality: 'time-series', data: join(dir, 'ts.csv'), epochs: 1, out: tsRun, progress: { mode: 'silent' } });
  await assert.rejects(exportRunOnnx(tsRun, join(dir, 'ts.onnx')), /does not fix the length of a series.*pass --example FILE/);
  const r = await exportRunOnnx(tsRun, join(dir, 'ts.onnx'), { example: join(dir, 'ts_in.csv'), verify: true });
  assert.deepEqual(r.inputs.map((i) => [i.name, i.shape]), [['x', [1, 12, 1]]]);
  for (const [k, v] of Object.entries(r.verified!)) assert.ok(v < 1e-5, `verify ${k}: ${v}`);
  const short = { values: Float32Array.of(1, 2, 3), channels: 1 };
  await assert.rejects(prepareRunInputs(tsRun, { samples: [short] }, { onnx: join(dir, 'ts.onnx') }), /sample 0: gives x float32 \[1, 3, 1\], but the exported model takes float32 \[1, 12, 1\]/);

  const h = await cli(['export', '--help']);
  assert.equal(h.code, 0);
  assert.match(h.stdout, /^Usage: omniformer export --run DIR --onnx OUT\.onnx/m);
  for (const s of ['--weights best|last', '--external-data', '--batch-size N', '--example FILE', 'Examples:\n  omniformer export ']) assert.ok(h.stdout.includes(s), s);
  const top = await cli(['--help']);
  assert.match(top.stdout, /^  export /m);
});

test('more modalities (fresh ORT session vs predictRun): audio (fbank), graph (int64 + bool inputs), tabular regression (prediction in target units)', async () => {
  const g = new Generator(34);
  // audio: 2 keywords x 5 clips of the bundled demo data
  for (const c of ['yes', 'no']) {
    mkdirSync(join(dir, 'audio', c), { recursive: true });
    const src = join(root, 'data', 'demo', 'keywords', 'train', c);
    for (const f of readdirSync(src).filter((f) => f.endsWith('.wav')).sort().slice(0, 5)) copyFileSync(join(src, f), join(dir, 'audio', c, f));
  }
  // graphs: rings vs stars with one node feature column
  for (const c of ['ring', 'star']) {
    mkdirSync(join(dir, 'graph', c), { recursive: true });
    for (let k = 0; k < 8; k++) {
      const n = 4 + (k % 3);
      const edges = c === 'ring' ? Array.from({ length: n }, (_, i) => [i, (i + 1) % n]) : Array.from({ length: n - 1 }, (_, i) => [0, i + 1]);
      writeFileSync(join(dir, 'graph', c, `${k}.json`), JSON.stringify({ numNodes: n, edges, nodeFeatures: Array.from({ length: n }, () => [Math.floor(g.next() * 3)]) }));
    }
  }
  const reg = ['a,b,y'];
  for (let i = 0; i < 50; i++) { const a = g.next(), b = g.next() < 0.5 ? 'u' : 'v'; reg.push(`${a.toFixed(3)},${b},${(3 * a + (b === 'u' ? 1 : 0) + 100).toFixed(3)}`); }
  writeFileSync(join(dir, 'reg.csv'), reg.join('\n') + '\n');
  writeFileSync(join(dir, 'reg_in.csv'), reg.slice(0, 6).join('\n') + '\n');
  const firstWav = (c: string): string => join(dir, 'audio', c, readdirSync(join(dir, 'audio', c)).sort()[0]!);

  const cases: [string, Record<string, unknown>, string[], string[]][] = [
    ['audio', { modality: 'audio', data: join(dir, 'audio') }, [firstWav('yes'), firstWav('no'), firstWav('yes')], ['fbank float32 [2, 224, 128]']],
    ['graph', { modality: 'graph', data: join(dir, 'graph') }, ['ring/0.json', 'star/1.json', 'star/5.json'].map((f) => join(dir, 'graph', f)),
      ['nodeFeatures int64 [2, 12, 1]', 'eigvec float32 [2, 6, 16]', 'index int64 [2, 12, 2]', 'tokenType int64 [2, 12]', 'paddingMask bool [2, 14]']],
    ['reg', { modality: 'tabular', task: 'regression', data: join(dir, 'reg.csv'), target: 'y' }, [join(dir, 'reg_in.csv')], ['categorical int64 [2, 1]', 'numeric float32 [2, 1]', 'numericMissing float32 [2, 1]']],
  ];
  for (const [name, o, inputs, sig] of cases) {
    const run = join(dir, `run-${name}`), onnx = join(dir, `${name}.onnx`);
    await trainRun({ ...(o as { modality: string; data: string }), epochs: 1, out: run, progress: { mode: 'silent' } });
    const r = await exportRunOnnx(run, onnx, { batchSize: 2 });
    assert.deepEqual(r.inputs.map((i) => `${i.name} ${i.dtype} [${i.shape.join(', ')}]`), sig, name);
    const got = await runFile(onnx, await prepareRunInputs(run, inputs, { onnx }));
    const pred = await predictRun({ run, inputs });
    const want = pred.flatMap((p) => (p.probabilities ? Object.values(p.probabilities) : [p.value!]));
    const out = got[name === 'reg' ? 'prediction' : 'probabilities']!;
    const err = maxAbs(out, want);
    console.log(`${name}: max |ORT - predict| ${err.toExponential(2)} over ${want.length} values`);
    // regression values are ~100: float32 resolution there is ~8e-6
    assert.ok(err < (name === 'reg' ? 5e-5 : 1e-5), `${name}: ${err}`);
    if (name === 'reg') assert.ok(want.every((v) => v > 90 && v < 110) && out.every((v) => v > 90 && v < 110), 'predictions in the target units');
  }
});
