// `--heads` on train and embed: the attention head count of an --encoder FILE whose width is not a multiple of 64
// (test/fixtures/checkpoints/vit.safetensors: a timm ViT of width 32 with 2 heads). Without it such a file is
// refused; with it the head count reaches the encoder (1 and 2 heads give different features) and the run's
// config.json, so predict rebuilds the same model.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Generator } from '../src/engine/functional/random.js';
import { readNpy, writeNpy } from '../src/io/npy.js';
import { runCli, lastJson, repoRoot } from './support/cli.js';

const VIT = join(repoRoot, 'test', 'fixtures', 'checkpoints', 'vit.safetensors');
let dir = '';
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'omni-heads-'));
  const g = new Generator(12);
  for (const [c, base] of [['dark', 0.2], ['light', 0.8]] as const) {
    mkdirSync(join(dir, 'img', c), { recursive: true });
    for (let k = 0; k < 6; k++) await writeNpy(join(dir, 'img', c, `${k}.npy`), { shape: [3, 32, 32], data: Float32Array.from({ length: 3 * 32 * 32 }, () => base + 0.2 * (g.next() - 0.5)) });
  }
});
after(() => { rmSync(dir, { recursive: true, force: true }); });

test('embed --encoder FILE --heads N: refused without, applied with (1 vs 2 heads differ), bad counts named', async () => {
  const inputs = [join(dir, 'img', 'dark', '0.npy'), join(dir, 'img', 'light', '0.npy')];
  const base = ['embed', '--modality', 'image', '--input', ...inputs, '--encoder', VIT];
  const none = await runCli([...base, '--output', join(dir, 'x.npy')]);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /cannot infer the head count of width 32 \(not a multiple of 64\); pass the number of heads \(--heads N\)/);

  const feats: Float32Array[] = [];
  for (const h of ['1', '2']) {
    const out = join(dir, `h${h}.npy`);
    assert.deepEqual(lastJson(await runCli([...base, '--heads', h, '--output', out, '--json'])).shape, [2, 32]);
    feats.push((await readNpy(out)).data as Float32Array);
  }
  const diff = Math.max(...Array.from(feats[0]!, (v, i) => Math.abs(v - feats[1]![i]!)));
  assert.ok(diff > 1e-4, `1 and 2 heads give the same features (max diff ${diff})`);

  const three = await runCli([...base, '--heads', '3', '--output', join(dir, 'x.npy')]);
  assert.equal(three.code, 1);
  assert.match(three.stderr, /3 heads do not divide the width 32/);
  const sized = await runCli(['embed', '--modality', 'image', '--input', inputs[0]!, '--encoder', 'tiny', '--heads', '2', '--output', join(dir, 'x.npy')]);
  assert.equal(sized.code, 1);
  assert.match(sized.stderr, /--heads 2: applies to an --encoder FILE; the tiny encoder has 4 heads/);
});

test('train --encoder FILE --heads 2 records the heads in config.json; predict rebuilds the run', async () => {
  const run = join(dir, 'run');
  lastJson(await runCli(['train', '--modality', 'image', '--data', join(dir, 'img'), '--encoder', VIT, '--heads', '2', '--epochs', '1', '--out', run, '--json']));
  const config = JSON.parse(readFileSync(join(run, 'config.json'), 'utf8')) as { encoder: { file: string; config: { dim: number; numHeads: number } } };
  assert.deepEqual([config.encoder.config.dim, config.encoder.config.numHeads], [32, 2]);
  const p = await runCli(['predict', '--run', run, '--input', join(dir, 'img', 'light', '1.npy'), '--json']);
  assert.equal(p.code, 0, p.stderr);
  const pred = JSON.parse(p.stdout.trim().split('\n').pop()!) as { probabilities: Record<string, number> };
  assert.ok(Math.abs(Object.values(pred.probabilities).reduce((a, b) => a + b, 0) - 1) < 1e-5);
  const withRun = await runCli(['embed', '--run', run, '--input', join(dir, 'img', 'light', '1.npy'), '--heads', '2', '--output', join(dir, 'x.npy')]);
  assert.equal(withRun.code, 1);
  assert.match(withRun.stderr, /--heads: a run's encoder is fixed by its config.json/);
});
