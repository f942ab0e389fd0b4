// `omniformer embed` on video: a folder of PNG frames and a .npy clip [T, H, W, C] holding the same frames give the
// same features once both are sampled to --frames; --frames changes what is read; bad --frames is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { readNpy, writeNpy } from '../src/io/npy.js';
import { Generator } from '../src/engine/functional/random.js';
import { runCli, lastJson } from './support/cli.js';

test('embed --modality video: frame folder and .npy clip agree under --frames; --frames 0 is refused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'omni-embed-video-'));
  try {
    const T = 8, S = 16, C = 3;
    const g = new Generator(5);
    const clip = Uint8Array.from({ length: T * S * S * C }, () => Math.floor(g.next() * 256));
    const npy = join(dir, 'clip.npy');
    await writeNpy(npy, { shape: [T, S, S, C], data: clip });
    const frames = join(dir, 'clip_frames');
    mkdirSync(frames);
    for (let t = 0; t < T; t++) {
      await sharp(Buffer.from(clip.subarray(t * S * S * C, (t + 1) * S * S * C)), { raw: { width: S, height: S, channels: C } })
        .png().toFile(join(frames, `frame_${String(t).padStart(3, '0')}.png`));
    }
    const out = join(dir, 'emb.npy');
    const r = lastJson(await runCli(['embed', '--modality', 'video', '--input', npy, frames, '--frames', '4', '--output', out, '--json']));
    assert.deepEqual(r.shape, [2, 64]);
    const e = await readNpy(out);
    const a = Array.from(e.data as Float32Array).slice(0, 64), b = Array.from(e.data as Float32Array).slice(64);
    const diff = Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));
    assert.ok(diff < 1e-5, `frame folder vs .npy clip differ by ${diff}`);
    assert.ok(Math.max(...a.map(Math.abs)) > 1e-3, 'features are not all zero');

    // all 8 frames of the .npy clip (no --frames) are not the 4 sampled ones: different features
    const all = join(dir, 'all.npy');
    lastJson(await runCli(['embed', '--modality', 'video', '--input', npy, '--output', all, '--json']));
    const f = Array.from((await readNpy(all)).data as Float32Array);
    assert.ok(Math.max(...f.map((v, i) => Math.abs(v - a[i]!))) > 1e-4, 'sampling to 4 frames changed nothing');

    const bad = await runCli(['embed', '--modality', 'video', '--input', npy, '--frames', '0', '--output', join(dir, 'x.npy')]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /--frames must be a positive integer, got 0/);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});
