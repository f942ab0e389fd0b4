// Malformed files in a data set: without --skip-bad the first one stops the run with an error naming the
// file and the problem; with it every bad file is left out with one warning naming it, and a final count.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { Generator } from '../src/engine/functional/random.js';
import { encodeWav } from '../src/data/wav.js';
import { DataError } from '../src/pipeline/files.js';
import { loadDataset } from '../src/pipeline/datasets.js';
import { modalitySpec } from '../src/pipeline/modalities.js';
import { evalRun, predictRun, trainRun } from '../src/pipeline/run.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const fixtures = join(root, 'test', 'fixtures', 'readers');
const bin = join(root, 'bin', 'omniformer.js');

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [bin, ...args], { cwd: root, env: { ...process.env, CI: 'true' } });
    let stdout = '', stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const S = 16;

async function imageFolder(dir: string): Promise<{ truncated: string; wrongMagic: string; good: string }> {
  const g = new Generator(9);
  for (const [k, cls] of ['a', 'b'].entries()) {
    mkdirSync(join(dir, cls), { recursive: true });
    for (let i = 0; i < 8; i++) {
      const px = Buffer.alloc(S * S);
      for (let p = 0; p < S * S; p++) px[p] = Math.round((((p % S) < S / 2) === (k === 0) ? 180 : 60) + 40 * (g.next() - 0.5));
      await sharp(px, { raw: { width: S, height: S, channels: 1 } }).png().toFile(join(dir, cls, `${i}.png`));
    }
  }
  const truncated = join(dir, 'a', 'truncated.png'), wrongMagic = join(dir, 'b', 'not_an_image.png');
  copyFileSync(join(fixtures, 'images', 'bad', 'truncated.png'), truncated);
  copyFileSync(join(fixtures, 'images', 'bad', 'not_an_image.png'), wrongMagic);
  return { truncated, wrongMagic, good: join(dir, 'a', '0.png') };
}

test('train / eval / predict on a PNG folder with a truncated and a wrong-magic file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'omni-skipbad-'));
  try {
    const data = join(dir, 'data');
    const { truncated, wrongMagic, good } = await imageFolder(data);
    const opts = { modality: 'xray', data, encoder: 'tiny', epochs: 1, batchSize: 4, seed: 1, patchSize: 8, progress: { mode: 'silent' as const } };

    // without --skip-bad: the first bad file (in file order) stops the run, named, with the problem
    await assert.rejects(trainRun({ ...opts, out: join(dir, 'strict') }), (e: unknown) => {
      assert.ok(e instanceof DataError, String(e));
      assert.match((e as Error).message, new RegExp(`^${truncated.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: cannot decode the PNG data \\(truncated or corrupt\\?\\)`));
      return true;
    });

    // with it: one warning per bad file, then the count; training uses the 16 good files
    const warnings: string[] = [];
    const r = await trainRun({ ...opts, out: join(dir, 'run'), skipBad: true, warn: (m) => warnings.push(m) });
    const skips = warnings.filter((w) => w.startsWith('omniformer: skipping '));
    assert.equal(skips.length, 2, warnings.join('\n'));
    assert.ok(skips.some((w) => w.includes(truncated) && /truncated or corrupt/.test(w)), warnings.join('\n'));
    assert.ok(skips.some((w) => w.includes(wrongMagic) && /not a PNG, JPEG, WebP, TIFF or GIF file/.test(w)), warnings.join('\n'));
    assert.ok(warnings.some((w) => /skipped 2 bad samples of .* \(--skip-bad\)/.test(w)), warnings.join('\n'));
    const n = r.report.samples;
    assert.equal(n.train + n.val + n.test, 16);
    assert.equal(r.data.skipped, 2);

    // eval: the same policy
    await assert.rejects(evalRun({ run: join(dir, 'run'), data }), new RegExp(truncated.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')));
    const evalWarnings: string[] = [];
    const ev = await evalRun({ run: join(dir, 'run'), data, skipBad: true, warn: (m) => evalWarnings.push(m) });
    assert.equal(ev.samples, 16);
    assert.equal(evalWarnings.filter((w) => w.startsWith('omniformer: skipping ')).length, 2);

    // predict: bad inputs are skipped, the good one predicted
    await assert.rejects(predictRun({ run: join(dir, 'run'), inputs: [good, wrongMagic] }), /not_an_image\.png: not a PNG/);
    const predWarnings: string[] = [];
    const preds = await predictRun({ run: join(dir, 'run'), inputs: [good, wrongMagic, truncated], skipBad: true, warn: (m) => predWarnings.push(m) });
    assert.deepEqual(preds.map((p) => p.input), [good]);
    assert.equal(predWarnings.filter((w) => w.startsWith('omniformer: skipping ')).length, 2);

    // the CLI flag
    const ok = await cli(['predict', '--run', join(dir, 'run'), '--input', good, wrongMagic, '--skip-bad', '--json']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout.trim().split('\n').length, 1);
    assert.match(ok.stderr, /skipping .*not_an_image\.png: not a PNG/);
    assert.match(ok.stderr, /skipped 1 bad sample of --input/);
    const strict = await cli(['predict', '--run', join(dir, 'run'), '--input', good, wrongMagic]);
    assert.notEqual(strict.code, 0);
    assert.match(strict.stderr, /not_an_image\.png: not a PNG/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('audio folder with an empty WAV and a wrong-magic WAV; CSV rows with a bad value', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'omni-skipbad-wav-'));
  try {
    for (const [k, cls] of ['low', 'high'].entries()) {
      mkdirSync(join(dir, 'wav', cls), { recursive: true });
      for (let i = 0; i < 3; i++) {
        const x = Float32Array.from({ length: 1600 }, (_, t) => 0.5 * Math.sin((2 * Math.PI * (k ? 2000 : 300) * t) / 16000));
        writeFileSync(join(dir, 'wav', cls, `${i}.wav`), encodeWav(x, 16000));
      }
    }
    const empty = join(dir, 'wav', 'high', 'empty.wav'), magic = join(dir, 'wav', 'low', 'text.wav');
    copyFileSync(join(fixtures, 'audio', 'bad', 'empty.wav'), empty);
    writeFileSync(magic, 'this is not a RIFF file at all, just text');
    const spec = modalitySpec('audio');
    await assert.rejects(loadDataset(join(dir, 'wav'), { spec, task: 'classification', read: {}, workers: 1 }),
      (e: unknown) => e instanceof DataError && e.message.includes(empty) && /0 bytes, too short for a RIFF\/WAVE header/.test(e.message));
    const warnings: string[] = [];
    const ds = await loadDataset(join(dir, 'wav'), { spec, task: 'classification', read: {}, workers: 1, skipBad: true, warn: (m) => warnings.push(m) });
    try {
      assert.equal(ds.length, 6);
      assert.equal(ds.skipped, 2);
      assert.equal(warnings.length, 2);
      assert.ok(warnings.some((w) => w.includes(empty)) && warnings.some((w) => w.includes(magic)), warnings.join('\n'));
      const s = await ds.get(0);
      assert.equal((s.input as { samples: Float32Array }).samples.length, 1600);
    } finally { await ds.close(); }

    // CSV rows (time-series rows): a non-number stops the load, or is skipped
    const csv = join(dir, 'rows.csv');
    writeFileSync(csv, 'a,b,c,label\n1,2,3,x\n4,oops,6,y\n7,8,9,x\n1,1,1,y\n');
    await assert.rejects(loadDataset(csv, { spec: modalitySpec('time-series'), task: 'classification', read: {} }), /rows\.csv:3, column 'b': 'oops' is not a finite number/);
    const w2: string[] = [];
    const rows = await loadDataset(csv, { spec: modalitySpec('time-series'), task: 'classification', read: {}, skipBad: true, warn: (m) => w2.push(m) });
    assert.equal(rows.length, 3);
    assert.equal(rows.skipped, 1);
    assert.match(w2[0]!, /rows\.csv:3, column 'b'/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
