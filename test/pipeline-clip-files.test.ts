// The CLI's per-file readers for video arrays ([T, H, W, C] and [C, T, H, W], sampled to --frames) and WAV files
// (resampled to --sample-rate).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MODALITY_SPECS } from '../src/pipeline/modalities.js';
import { writeNpySync } from '../src/io/npy.js';
import { encodeWav } from '../src/data/wav.js';

type Clip = { data: Float32Array; frames: number; height: number; width: number; channels: number };

test('video .npy [T, H, W, C] uint8 is transposed to [C, T, H, W], scaled by 1/255 and sampled to --frames', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'omni-clip-'));
  try {
    const T = 6, H = 2, W = 3, C = 3;
    const data = new Uint8Array(T * H * W * C);
    for (let t = 0; t < T; t++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let c = 0; c < C; c++) data[((t * H + y) * W + x) * C + c] = t * 40 + c * 10 + y * 3 + x;
    const path = join(dir, 'clip.npy');
    writeNpySync(path, { shape: [T, H, W, C], data });
    const all = await MODALITY_SPECS.video.readSample(path, {}) as Clip;
    assert.deepEqual([all.channels, all.frames, all.height, all.width], [3, 6, 2, 3]);
    const v = await MODALITY_SPECS.video.readSample(path, { frames: 3 }) as Clip;
    assert.deepEqual([v.channels, v.frames, v.height, v.width], [3, 3, 2, 3]);
    // frame i <- source floor((i + 0.5) * 6 / 3) = 1, 3, 5
    for (let c = 0; c < C; c++) for (let i = 0; i < 3; i++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
      const src = [1, 3, 5][i]!;
      assert.ok(Math.abs(v.data[((c * 3 + i) * H + y) * W + x]! - (src * 40 + c * 10 + y * 3 + x) / 255) < 1e-7);
    }
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('video .npy [C, T, H, W] float keeps its order and values', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'omni-clip-'));
  try {
    const data = Float32Array.from({ length: 1 * 8 * 2 * 2 }, (_, i) => i / 10);
    const path = join(dir, 'clip.npy');
    writeNpySync(path, { shape: [1, 8, 2, 2], data });
    const v = await MODALITY_SPECS.video.readSample(path, {}) as Clip;
    assert.deepEqual([v.channels, v.frames, v.height, v.width], [1, 8, 2, 2]);
    assert.deepEqual(Array.from(v.data), Array.from(data));
    const s = await MODALITY_SPECS.video.readSample(path, { frames: 2 }) as Clip; // source frames 2 and 6
    assert.deepEqual(Array.from(s.data), [...Array.from(data.subarray(8, 12)), ...Array.from(data.subarray(24, 28))]);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('WAV files are resampled to the sample rate (default 16 kHz); a 16 kHz file is passed through', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'omni-wav-'));
  try {
    const n = 8000, f = 440;
    const tone = Float32Array.from({ length: n }, (_, i) => 0.5 * Math.sin((2 * Math.PI * f * i) / 8000));
    writeFileSync(join(dir, 'a.wav'), encodeWav(tone, 8000));
    const a = await MODALITY_SPECS.audio.readSample(join(dir, 'a.wav'), {}) as { samples: Float32Array; sampleRate: number };
    assert.equal(a.sampleRate, 16000);
    assert.equal(a.samples.length, 2 * n);
    // away from the edges the resampled tone matches the analytic 440 Hz sine at 16 kHz
    let err = 0;
    for (let i = 2000; i < 14000; i++) err = Math.max(err, Math.abs(a.samples[i]! - 0.5 * Math.sin((2 * Math.PI * f * i) / 16000)));
    assert.ok(err < 0.02, `max error ${err}`);
    const b = await MODALITY_SPECS.audio.readSample(join(dir, 'a.wav'), { sampleRate: 8000 }) as { samples: Float32Array; sampleRate: number };
    assert.equal(b.sampleRate, 8000);
    assert.equal(b.samples.length, n);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});
