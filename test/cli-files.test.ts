// The CLI on ordinary files: PNG images in class folders (decoded with sharp) and PLY point clouds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { Generator } from '../src/engine/functional/random.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
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

test('train on a folder of grey PNG X-rays (class subfolders), then predict a PNG', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'omni-png-'));
  try {
    const g = new Generator(5);
    const S = 16;
    for (const cls of ['left', 'right']) {
      mkdirSync(join(dir, 'data', cls), { recursive: true });
      for (let i = 0; i < 50; i++) {
        const px = Buffer.alloc(S * S);
        for (let r = 0; r < S; r++) for (let c = 0; c < S; c++) {
          const bright = cls === 'left' ? c < S / 2 : c >= S / 2;
          px[r * S + c] = Math.max(0, Math.min(255, Math.round((bright ? 180 : 60) + 30 * (g.next() - 0.5))));
        }
        await sharp(px, { raw: { width: S, height: S, channels: 1 } }).png().toFile(join(dir, 'data', cls, `${i}.png`));
      }
    }
    const out = join(dir, 'run');
    const r = await cli(['train', '--modality', 'xray', '--data', join(dir, 'data'), '--patch-size', '4', '--epochs', '8', '--lr', '0.003', '--test', '0.2', '--head-options', '{"pool": "concat"}', '--out', out, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout.trim().split('\n').pop()!) as { modality: string; metrics: { test: { accuracy: number } } };
    assert.equal(report.modality, 'xray');
    assert.ok(report.metrics.test.accuracy >= 0.75, `test accuracy ${report.metrics.test.accuracy} (chance 0.5)`);
    const p = await cli(['predict', '--run', out, '--input', join(dir, 'data', 'left', '0.png'), '--json']);
    assert.equal(p.code, 0, p.stderr);
    assert.match(p.stdout, /left|right/);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('a corrupt PNG is a clear error naming the file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'omni-badpng-'));
  try {
    for (const cls of ['a', 'b']) {
      mkdirSync(join(dir, cls), { recursive: true });
      writeFileSync(join(dir, cls, 'x.png'), Buffer.from('\x89PNG\r\n\x1a\n not really a png'));
    }
    const r = await cli(['train', '--modality', 'image', '--data', dir, '--epochs', '1', '--out', join(dir, 'run')]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /x\.png/);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});
