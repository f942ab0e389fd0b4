// End-to-end tests of the CLI, run as `node bin/omniformer.js ...` child processes on the compiled dist/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Generator } from '../src/engine/functional/random.js';
import { MetaTransformerEncoder } from '../src/encoders/meta-transformer.js';
import { writeSafetensors } from '../src/io/safetensors.js';
import { readNpy, writeNpy } from '../src/io/npy.js';
import { Tensor } from '../src/engine/tensor.js';
import { readCheckpoint } from '../src/train/checkpoint.js';
import { runCli as cli, lastJson } from './support/cli.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = join(root, 'bin', 'omniformer.js');
let dir = '';

/** 240 rows: a numeric, a categorical and a noise column; the class depends on x and color. */
function tabularCsv(): string {
  const g = new Generator(21);
  const rows = ['age,color,x,income'];
  for (let i = 0; i < 240; i++) {
    const c = 'abc'[Math.floor(g.next() * 3)]!;
    const x = g.next() * 2 - 1;
    const age = 20 + Math.floor(g.next() * 50);
    const y = x + (c === 'a' ? 0.6 : c === 'b' ? -0.6 : 0) > 0 ? 'high' : 'low';
    rows.push(`${age},${c},${x.toFixed(3)},${y}`);
  }
  return rows.join('\n') + '\n';
}

/** 180 single-channel series of 24 steps, one row each; the class is the sine's frequency. */
function seriesCsv(): string {
  const g = new Generator(22);
  const rows = ['label,' + Array.from({ length: 24 }, (_, t) => `t${t}`).join(',')];
  for (let i = 0; i < 180; i++) {
    const k = i % 3, f = [0.5, 1.5, 3][k]!, ph = g.next() * 6.28;
    rows.push([`c${k}`, ...Array.from({ length: 24 }, (_, t) => (Math.sin(f * t * 0.5 + ph) + 0.3 * (g.next() - 0.5)).toFixed(3))].join(','));
  }
  return rows.join('\n') + '\n';
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'cli-'));
  writeFileSync(join(dir, 'tab.csv'), tabularCsv());
  writeFileSync(join(dir, 'ts.csv'), seriesCsv());
});
after(() => { rmSync(dir, { recursive: true, force: true }); });

test('--help of every command: usage, options and examples; the top-level help lists them', async () => {
  const top = await cli(['--help']);
  assert.equal(top.code, 0);
  for (const c of ['train', 'eval', 'predict', 'embed', 'encode']) assert.match(top.stdout, new RegExp(`^  ${c} `, 'm'), c);
  for (const c of ['train', 'eval', 'predict', 'embed', 'encode']) {
    const r = await cli([c, '--help']);
    assert.equal(r.code, 0, c);
    assert.match(r.stdout, new RegExp(`^Usage: omniformer ${c} `, 'm'));
    assert.match(r.stdout, /^Options:/m);
    assert.match(r.stdout, new RegExp(`^Examples:\\n  omniformer ${c} `, 'm'));
  }
  const t = await cli(['train', '--help']);
  for (const s of ['--modality M', '--resume', '--unfreeze', '--encoder SIZE|FILE', 'JSON manifest', 'class subfolders', 'inputs.npy', 'forecasting']) assert.ok(t.stdout.includes(s), s);
});

test('train tabular --json: report shape, files, above-chance accuracy; eval and predict on the run', async () => {
  const out = join(dir, 'run-tab');
  const r = await cli(['train', '--modality', 'tabular', '--data', join(dir, 'tab.csv'), '--target', 'income', '--epochs', '12', '--out', out, '--json']);
  const rep = lastJson(r);
  assert.equal(r.stderr, '', 'no progress output with --json');
  assert.equal(rep.modality, 'tabular');
  assert.equal(rep.task, 'classification');
  assert.ok(Number.isInteger(rep.trainableParams) && Number.isInteger(rep.totalParams));
  assert.ok(rep.trainableParams > 0 && rep.trainableParams < rep.totalParams, 'the encoder is frozen');
  assert.deepEqual(rep.classes, ['high', 'low']);
  assert.deepEqual(Object.keys(rep.metrics).sort(), ['test', 'val']);
  for (const split of ['val', 'test']) for (const k of ['loss', 'accuracy', 'macroF1']) assert.equal(typeof rep.metrics[split][k], 'number', `${split}.${k}`);
  assert.ok(rep.metrics.test.accuracy >= 0.7, `test accuracy ${rep.metrics.test.accuracy} (chance 0.5)`);
  assert.ok(rep.history[rep.history.length - 1].trainLoss < rep.history[0].trainLoss, 'the training loss went down');
  for (const f of ['config.json', 'checkpoint.safetensors', 'best.safetensors', 'report.json']) assert.ok(existsSync(join(out, f)), f);
  assert.deepEqual(JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')), rep);
  const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
  assert.equal(cfg.modality, 'tabular');
  assert.deepEqual(cfg.target.classes, ['high', 'low']);

  const ev = lastJson(await cli(['eval', '--run', out, '--data', join(dir, 'tab.csv'), '--json']));
  assert.equal(ev.samples, 240);
  assert.ok(ev.metrics.accuracy >= 0.7, `eval accuracy ${ev.metrics.accuracy}`);

  writeFileSync(join(dir, 'new.csv'), 'x,color,age\n0.9,a,30\n-0.9,b,40\n0.95,c,50\n');
  const p = await cli(['predict', '--run', out, '--input', join(dir, 'new.csv'), '--json']);
  assert.equal(p.code, 0, p.stderr);
  const preds = p.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(preds.length, 3, 'one line per CSV row');
  for (const q of preds) {
    assert.ok(['high', 'low'].includes(q.label));
    const total = Object.values(q.probabilities as Record<string, number>).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(total - 1) < 1e-6);
  }
  assert.deepEqual(preds.map((q) => q.label), ['high', 'low', 'high'], 'clear-cut rows are classified correctly');
  const plain = await cli(['predict', '--run', out, '--input', join(dir, 'new.csv')]);
  assert.equal(plain.stdout.trim().split('\n').length, 3);
  assert.match(plain.stdout, /new\.csv:2\thigh\t0\.\d{4}/);
});

test('train time-series --json: classification of series rows ends well above chance', async () => {
  const out = join(dir, 'run-ts');
  const rep = lastJson(await cli(['train', '--modality', 'time-series', '--data', join(dir, 'ts.csv'), '--epochs', '10', '--out', out, '--json']));
  assert.equal(rep.modality, 'time-series');
  assert.deepEqual(rep.classes, ['c0', 'c1', 'c2']);
  assert.deepEqual(rep.samples, { train: 144, val: 18, test: 18 });
  assert.ok(rep.metrics.val.accuracy >= 0.55 && rep.metrics.test.accuracy >= 0.55, `val ${rep.metrics.val.accuracy}, test ${rep.metrics.test.accuracy} (chance 0.33)`);
});

test('a killed `train` resumed with --resume gives the uninterrupted run\'s losses and metrics', async () => {
  const args = (out: string): string[] => ['train', '--modality', 'tabular', '--data', join(dir, 'tab.csv'), '--target', 'income', '--epochs', '14', '--patience', '0', '--seed', '3', '--out', out, '--json'];
  const ref = lastJson(await cli(args(join(dir, 'run-ref'))));
  const out = join(dir, 'run-killed');
  const child = spawn(process.execPath, [bin, ...args(out)], { cwd: root, stdio: 'ignore' });
  const exited = new Promise((r) => child.on('exit', r));
  const t0 = Date.now();
  let killedAfter = -1;
  for (;;) {
    const p = join(out, 'checkpoint.safetensors');
    if (existsSync(p)) {
      try { killedAfter = (await readCheckpoint<{ epoch: number }>(p)).state.epoch; } catch { /* being replaced */ }
      if (killedAfter >= 2) break;
    }
    if (Date.now() - t0 > 60_000) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  child.kill('SIGKILL');
  await exited;
  const ck = await readCheckpoint<{ epoch: number }>(join(out, 'checkpoint.safetensors'));
  assert.ok(ck.state.epoch >= 2 && ck.state.epoch < 14, `the run was killed mid-training (after epoch ${ck.state.epoch})`);
  const again = await cli(args(out).filter((a) => a !== '--json'));
  assert.equal(again.code, 1, 'refuses to overwrite a run without --resume');
  assert.match(again.stderr, /already holds a training run .* pass --resume/);
  const res = lastJson(await cli([...args(out), '--resume']));
  assert.equal(res.resumedFrom, ck.state.epoch);
  assert.deepEqual(res.history.map((h: any) => [h.trainLoss, h.val]), ref.history.map((h: any) => [h.trainLoss, h.val]));
  assert.deepEqual(res.metrics, ref.metrics);
  assert.equal(res.bestEpoch, ref.bestEpoch);
  const changed = await cli([...args(out).map((a) => (a === '14' ? '15' : a)), '--resume']);
  assert.equal(changed.code, 1);
  assert.match(changed.stderr, /--resume: the options or data differ .*\n.*training\.epochs: 14 vs 15/);
});

test('encode runs the shared encoder on raw tokens exactly as the library does (keys with or without blocks.)', async () => {
  const g = new Generator(9);
  const enc = new MetaTransformerEncoder('tiny', { generator: g });
  const ck = join(dir, 'enc.safetensors'), ckPlain = join(dir, 'enc-plain.safetensors');
  await writeSafetensors(ck, [...enc.stateDict()].map(([k, v]) => [`blocks.${k}`, v] as [string, Tensor]));
  await writeSafetensors(ckPlain, [...enc.stateDict()]);
  const tokens = g.normalData(2 * 7 * 64);
  await writeNpy(join(dir, 'tok.npy'), { shape: [2, 7, 64], data: tokens });
  const want = await enc.forward(new Tensor([2, 7, 64], 'float32', tokens)).float32();
  for (const [file, extra] of [[ck, []], [ckPlain, ['--size', 'tiny', '--batch-size', '1']]] as const) {
    const outFile = join(dir, 'enc-out.npy');
    const r = await cli(['encode', '--checkpoint', file, '--input', join(dir, 'tok.npy'), '--output', outFile, ...extra, '--json']);
    const info = lastJson(r);
    assert.deepEqual(info.shape, [2, 7, 64]);
    const got = await readNpy(outFile);
    assert.deepEqual(got.shape, [2, 7, 64]);
    assert.equal(got.dtype, 'float32');
    let maxErr = 0;
    got.data.forEach((v, i) => { maxErr = Math.max(maxErr, Math.abs(Number(v) - want[i]!)); });
    assert.ok(maxErr < 1e-5, `max |diff| ${maxErr}`);
  }
  await writeNpy(join(dir, 'tok60.npy'), { shape: [2, 7, 60], data: new Float32Array(2 * 7 * 60) });
  const bad = await cli(['encode', '--checkpoint', ck, '--input', join(dir, 'tok60.npy'), '--output', join(dir, 'x.npy')]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /tok60\.npy' has token width D = 60, but the tiny encoder in '.*enc\.safetensors' expects D = 64/);
  const size = await cli(['encode', '--checkpoint', ck, '--input', join(dir, 'tok.npy'), '--output', join(dir, 'x.npy'), '--size', 'base']);
  assert.match(size.stderr, /enc\.safetensors: holds a 4-block encoder of width D=64, but --size base is 12 blocks of D=768/);
  await writeNpy(join(dir, 'tok2d.npy'), { shape: [7, 64], data: new Float32Array(7 * 64) });
  const rank = await cli(['encode', '--checkpoint', ck, '--input', join(dir, 'tok2d.npy'), '--output', join(dir, 'x.npy')]);
  assert.match(rank.stderr, /tok2d\.npy' has shape \[7, 64\]; tokens must be \[B, N, D\]/);
});

test('bad arguments and bad data give clear errors naming the argument, file or field', async () => {
  const tab = join(dir, 'tab.csv');
  const cases: [string[], number, RegExp][] = [
    [['train', '--modality', 'smell', '--data', tab, '--out', join(dir, 'e1')], 1, /--modality: unknown modality 'smell' \(valid: text, image, infrared, xray, hyperspectral, video, audio, point-cloud, time-series, imu, tabular, graph\)/],
    [['train', '--modality', 'tabular', '--data', tab, '--target', 'salary', '--out', join(dir, 'e2')], 1, /--target: column 'salary' is not in .*tab\.csv \(columns: age, color, x, income\)/],
    [['train', '--modality', 'tabular', '--data', join(dir, 'missing.csv'), '--out', join(dir, 'e3')], 1, /--data: '.*missing\.csv' does not exist/],
    [['train', '--modality', 'time-series', '--data', join(dir, 'ts.csv'), '--channels', '5', '--out', join(dir, 'e4')], 1, /ts\.csv:2: 24 value columns are not a multiple of --channels 5/],
    [['train', '--modality', 'tabular', '--data', tab, '--task', 'forecasting', '--out', join(dir, 'e5')], 1, /--task: tabular supports classification, regression, not forecasting/],
    [['train', '--modality', 'tabular', '--data', tab], 2, /omniformer train: missing required option --out\n\nUsage: omniformer train/],
    [['train', '--modality', 'tabular', '--data', tab, '--out', join(dir, 'e6'), '--epochz', '3'], 2, /unknown option --epochz/],
    [['train', '--modality', 'tabular', '--data', tab, '--out', join(dir, 'e7'), '--lr', 'fast'], 2, /option --lr expects a number, got 'fast'/],
    [['predict', '--run', join(dir, 'nowhere'), '--input', tab], 1, /--run: '.*nowhere' is not a run folder \(no config\.json/],
    [['frobnicate'], 2, /unknown command 'frobnicate'/],
  ];
  writeFileSync(join(dir, 'nan.csv'), 'label,t0,t1,t2\na,1,2,3\nb,4,NaN,6\n');
  cases.push([['train', '--modality', 'time-series', '--data', join(dir, 'nan.csv'), '--out', join(dir, 'e8')], 1, /nan\.csv:3, column 't1': 'NaN' is not a finite number; time series must be complete/]);
  for (const [args, code, re] of cases) {
    const r = await cli(args);
    assert.equal(r.code, code, `${args.join(' ')}: exit ${r.code} (${r.stderr})`);
    assert.match(r.stderr, re, args.join(' '));
  }
});
