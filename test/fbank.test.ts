import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { FLOAT32_EPS, RealFFT, fbank, featureWindow, frameGeometry, melBanks, melScale, inverseMelScale, numFrames, type FbankOptions } from '../src/data2seq/fbank.js';
import { AudioTokenizer } from '../src/data2seq/audio.js';
import { decodeWav } from '../src/data/wav.js';
import { Generator } from '../src/engine/functional/random.js';

interface FbankCase { file: string; sampleRate: number; options: FbankOptions; shape: [number, number]; values: number[]; patch64: [number, number][] }
const fx = JSON.parse(readFileSync(new URL('../../test/fixtures/fbank.json', import.meta.url), 'utf8')) as {
  fbank: FbankCase[];
  ast: { file: string; numMelBins: number; targetLength: number; shape: [number, number]; values: number[] };
};
const wav = (name: string) => decodeWav(readFileSync(new URL(`../../test/fixtures/audio/${name}`, import.meta.url)), name);

test('fbank matches torchaudio.compliance.kaldi.fbank on the committed fixtures (AST settings and Kaldi options)', () => {
  assert.ok(fx.fbank.length >= 12);
  const bins = new Set(fx.fbank.map((c) => c.options.numMelBins));
  assert.ok(bins.has(128) && bins.has(224), 'fixtures cover 128 and 224 bins');
  assert.ok(new Set(fx.fbank.map((c) => c.sampleRate)).size === 2, 'fixtures cover 16 kHz and 8 kHz');
  for (const c of fx.fbank) {
    const w = wav(c.file);
    assert.equal(w.sampleRate, c.sampleRate);
    const r = fbank(w.samples, { sampleRate: w.sampleRate, ...c.options });
    const what = `${c.file} ${JSON.stringify(c.options)}`;
    assert.deepEqual([r.frames, r.bins], c.shape, `${what}: shape`);
    // (1) The float64 run of torchaudio's fbank (the float32 output patched where it differs): every value within 1e-3.
    const ref64 = Float64Array.from(c.values);
    for (const [i, v] of c.patch64) ref64[i] = v;
    let max64 = 0;
    for (let i = 0; i < r.data.length; i++) max64 = Math.max(max64, Math.abs(r.data[i]! - ref64[i]!));
    assert.ok(max64 <= 1e-3, `${what}: max |ours - torchaudio(float64)| = ${max64}`);
    // (2) torchaudio's float32 output: within 1e-3 wherever the Mel energy is well above torch's float32
    // rounding noise (log energy > -10, energy > 4.5e-5; the float32 FFT of a frame errs by ~1e-7 in energy).
    // Lower bins, down to the eps floor, carry that rounding (synthetic chirps have many) and agree within 0.02.
    let maxSignal = 0, maxFloor = 0, floorBins = 0;
    const linear = c.options.useLogFbank === false;
    for (let i = 0; i < r.data.length; i++) {
      const d = Math.abs(r.data[i]! - c.values[i]!);
      if (linear || c.values[i]! > -10) maxSignal = Math.max(maxSignal, d);
      else { maxFloor = Math.max(maxFloor, d); floorBins++; }
    }
    assert.ok(maxSignal <= 1e-3, `${what}: max |ours - torchaudio(float32)| above the noise floor = ${maxSignal}`);
    assert.ok(maxFloor <= 0.02, `${what}: max |ours - torchaudio(float32)| at the floor (${floorBins} bins) = ${maxFloor}`);
    if (c.file.startsWith('speech') || c.file.startsWith('noise')) {
      // natural signals have (almost) no floor bins: the whole output is within 1e-3 of the float32 result
      let all = 0;
      for (let i = 0; i < r.data.length; i++) all = Math.max(all, Math.abs(r.data[i]! - c.values[i]!));
      assert.ok(all <= 1e-3, `${what}: max |ours - torchaudio(float32)| = ${all}`);
    }
  }
});

test('AudioTokenizer.prepare reproduces AST preprocessing (mean removal, fbank, zero-pad, (x - mean) / (2 std))', async () => {
  const { ast } = fx;
  const tok = new AudioTokenizer({ dim: 8, numMelBins: ast.numMelBins, targetLength: ast.targetLength, patchSize: 16, stride: 10, generator: new Generator(0) });
  const x = tok.prepare([wav(ast.file)]);
  assert.deepEqual(x.shape, [1, ...ast.shape]);
  const v = await x.float32();
  let max = 0;
  for (let i = 0; i < v.length; i++) max = Math.max(max, Math.abs(v[i]! - ast.values[i]!));
  assert.ok(max <= 1e-3, `max diff ${max}`);
  // the padded frames (zeros before normalisation) hold -mean / (2 std)
  const last = v.subarray((ast.targetLength - 1) * ast.numMelBins, ast.targetLength * ast.numMelBins);
  for (const y of last) assert.ok(Math.abs(y - tok.maskValue) < 1e-6);
  // cropping: a clip longer than targetLength keeps the first frames
  const crop = new AudioTokenizer({ dim: 8, numMelBins: 128, targetLength: 20, patchSize: 16, stride: 10 });
  const c = await crop.prepare([wav(ast.file)]).float32();
  for (let i = 0; i < c.length; i++) assert.ok(Math.abs(c[i]! - ast.values[i]!) <= 1e-3);
});

test('RealFFT equals a direct DFT for power-of-two sizes', () => {
  const g = new Generator(3);
  for (const n of [2, 4, 8, 64, 512]) {
    const x = Float64Array.from(g.normalData(n));
    const fft = new RealFFT(n);
    const re = new Float64Array(n / 2 + 1), im = new Float64Array(n / 2 + 1);
    fft.forward(x, re, im);
    for (let k = 0; k <= n / 2; k++) {
      let sr = 0, si = 0;
      for (let t = 0; t < n; t++) { sr += x[t]! * Math.cos((2 * Math.PI * k * t) / n); si -= x[t]! * Math.sin((2 * Math.PI * k * t) / n); }
      assert.ok(Math.abs(re[k]! - sr) < 1e-9 * n && Math.abs(im[k]! - si) < 1e-9 * n, `n=${n} k=${k}: (${re[k]}, ${im[k]}) vs (${sr}, ${si})`);
    }
  }
  assert.throws(() => new RealFFT(400), /power of two/);
});

test('frame geometry, windows and Mel filters follow Kaldi', () => {
  assert.deepEqual(frameGeometry({}), { windowSize: 400, windowShift: 160, paddedSize: 512 });
  assert.deepEqual(frameGeometry({ sampleRate: 8000 }), { windowSize: 200, windowShift: 80, paddedSize: 256 });
  assert.equal(numFrames(16000), 1 + Math.floor((16000 - 400) / 160)); // 98
  assert.equal(numFrames(399), 0);
  assert.equal(numFrames(16000, { snipEdges: false }), 100);
  const h = featureWindow('hanning', 5);
  assert.deepEqual([...h].map((v) => +v.toFixed(12)), [0, 0.5, 1, 0.5, 0]); // symmetric Hann
  assert.ok(Math.abs(melScale(700) - 1127 * Math.log(2)) < 1e-9);
  assert.ok(Math.abs(inverseMelScale(melScale(1234.5)) - 1234.5) < 1e-9);
  const { weights, cols, ranges } = melBanks(23, 512, 16000);
  assert.equal(cols, 257);
  for (let b = 0; b < 23; b++) {
    const row = weights.subarray(b * cols, (b + 1) * cols);
    assert.equal(row[256], 0, 'Nyquist column is zero');
    assert.ok(Math.max(...row) <= 1 && Math.max(...row) > 0.5, `bin ${b} peaks near 1`);
    assert.ok(ranges[b]![1] > ranges[b]![0]);
    if (b > 0) assert.ok(ranges[b]![0] >= ranges[b - 1]![0], 'filters move up in frequency');
  }
  // filters start above lowFreq = 20 Hz: bin 0 (0 Hz) and bin 1 (31.25 Hz, below the first centre) weigh little
  assert.equal(weights[0], 0);
});

test('fbank: log floor, energy column and option errors', () => {
  const silent = new Float32Array(1600);
  const r = fbank(silent, { numMelBins: 40 });
  assert.equal(r.frames, 8);
  for (const v of r.data) assert.ok(Math.abs(v - Math.log(FLOAT32_EPS)) < 1e-6, 'silence sits on the log(eps) floor');
  const e = fbank(Float32Array.from({ length: 800 }, (_, i) => Math.sin(i)), { numMelBins: 40, useEnergy: true, htkCompat: true, energyFloor: 0 });
  assert.equal(e.bins, 41);
  assert.equal(fbank(new Float32Array(300), { numMelBins: 40 }).frames, 0, 'shorter than one frame: no frames (snipEdges)');
  assert.throws(() => fbank(Float32Array.of(0, NaN, ...new Float32Array(500))), /sample 1 is NaN/);
  assert.throws(() => fbank(new Float32Array(800), { numMelBins: 3 }), /numMelBins must be an integer > 3/);
  assert.throws(() => fbank(new Float32Array(800), { lowFreq: 9000 }), /bad Mel range/);
  assert.throws(() => fbank(new Float32Array(800), { preemphasis: 1.5 }), /preemphasis/);
  assert.throws(() => fbank(new Float32Array(800), { roundToPowerOfTwo: false }), /power-of-two/);
  assert.throws(() => fbank(new Float32Array(800), { dither: 1 }), /generator/);
  assert.throws(() => fbank(new Float32Array(800), { window: 'kaiser' as never }), /window must be one of/);
  // seeded dither is reproducible
  const a = fbank(new Float32Array(800), { dither: 1, generator: new Generator(5) });
  const b = fbank(new Float32Array(800), { dither: 1, generator: new Generator(5) });
  assert.deepEqual(a.data, b.data);
  assert.ok(a.data.some((v) => Math.abs(v - Math.log(FLOAT32_EPS)) > 1), 'dither lifts silence above the floor');
});
