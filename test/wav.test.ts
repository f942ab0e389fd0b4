import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { WavFormatError, decodeWav, encodeWav, readWav } from '../src/data/wav.js';

const fx = JSON.parse(readFileSync(new URL('../../test/fixtures/fbank.json', import.meta.url), 'utf8')) as {
  wav: { file: string; sampleRate: number; channels: number; bitsPerSample: number; encoding: string; samples: number[][] }[];
};
const fixturePath = (name: string): string => fileURLToPath(new URL(`../../test/fixtures/audio/${name}`, import.meta.url));

test('readWav decodes 8/16/24/32-bit PCM and 32-bit float files exactly as torchaudio.load', async () => {
  const seen = new Set<string>();
  for (const ref of fx.wav) {
    const w = await readWav(fixturePath(ref.file));
    seen.add(`${w.encoding}${w.bitsPerSample}`);
    assert.equal(w.sampleRate, ref.sampleRate, ref.file);
    assert.equal(w.numChannels, ref.channels, ref.file);
    assert.equal(w.bitsPerSample, ref.bitsPerSample, ref.file);
    assert.equal(w.encoding, ref.encoding === 'PCM_F' ? 'float' : 'pcm', ref.file);
    assert.equal(w.channelData.length, ref.channels);
    // torchaudio's sox backend rounds 32-bit integers to a multiple of 128 LSB before scaling (sox's
    // SOX_SAMPLE_TO_FLOAT_32BIT), so it is 64 / 2^31 away at most; we keep every bit (checked below).
    const tol = w.encoding === 'pcm' && w.bitsPerSample === 32 ? 64 / 2 ** 31 + 1e-9 : 1e-8;
    for (let c = 0; c < ref.channels; c++) {
      const got = w.channelData[c]!, exp = ref.samples[c]!;
      assert.equal(got.length, exp.length);
      for (let i = 0; i < exp.length; i++) assert.ok(Math.abs(got[i]! - exp[i]!) <= tol, `${ref.file} ch${c}[${i}]: ${got[i]} vs ${exp[i]}`);
      if (w.encoding === 'pcm') {
        const bytes = readFileSync(fixturePath(ref.file));
        const dataAt = bytes.indexOf(Buffer.from('data')) + 8, bps = w.bitsPerSample / 8;
        for (let i = 0; i < got.length; i++) {
          const p = dataAt + (i * ref.channels + c) * bps;
          const int = bps === 1 ? bytes.readUInt8(p) - 128 : bps === 2 ? bytes.readInt16LE(p) : bps === 3 ? bytes.readIntLE(p, 3) : bytes.readInt32LE(p);
          assert.equal(got[i], Math.fround(int / 2 ** (w.bitsPerSample - 1)), `${ref.file} ch${c}[${i}] is the stored integer / 2^${w.bitsPerSample - 1}`);
        }
      }
    }
    // mono mixdown = mean of the channels
    for (let i = 0; i < w.samples.length; i++) {
      const mean = ref.samples.reduce((s, ch) => s + ch[i]!, 0) / ref.channels;
      assert.ok(Math.abs(w.samples[i]! - mean) <= 1e-7);
    }
    assert.ok(Math.abs(w.duration - w.samples.length / w.sampleRate) < 1e-12);
  }
  assert.deepEqual([...seen].sort(), ['float32', 'pcm16', 'pcm24', 'pcm32', 'pcm8']);
});

test('encodeWav / decodeWav round trip in every format, quantised as expected', () => {
  const n = 50;
  const left = Float32Array.from({ length: n }, (_, i) => 0.9 * Math.sin(i * 0.3));
  const right = Float32Array.from({ length: n }, (_, i) => -0.5 * Math.cos(i * 0.17));
  for (const [encoding, bits] of [['pcm', 8], ['pcm', 16], ['pcm', 24], ['pcm', 32], ['float', 32], ['float', 64]] as const) {
    const bytes = encodeWav([left, right], 22050, { encoding, bitsPerSample: bits });
    const w = decodeWav(bytes, 'roundtrip.wav');
    assert.equal(w.sampleRate, 22050);
    assert.equal(w.numChannels, 2);
    const tol = encoding === 'float' ? 1e-7 : 1 / 2 ** (bits - 1);
    for (let i = 0; i < n; i++) {
      assert.ok(Math.abs(w.channelData[0]![i]! - left[i]!) <= tol, `${encoding}${bits} L[${i}]`);
      assert.ok(Math.abs(w.channelData[1]![i]! - right[i]!) <= tol, `${encoding}${bits} R[${i}]`);
    }
  }
  // clipping at full scale
  const clipped = decodeWav(encodeWav(Float32Array.of(1.5, -1.5, 1), 8000, { bitsPerSample: 16 }));
  assert.deepEqual([...clipped.samples], [32767 / 32768, -1, 32767 / 32768]);
});

test('decodeWav skips unknown chunks, handles odd chunk padding and WAVE_FORMAT_EXTENSIBLE', () => {
  const base = encodeWav(Float32Array.of(0.25, -0.5, 0.75), 16000);
  // insert a 3-byte 'LIST' chunk (padded to 4) between fmt and data
  const extra = Uint8Array.from([...'LIST'].map((c) => c.charCodeAt(0)).concat([3, 0, 0, 0, 1, 2, 3, 0]));
  const withList = new Uint8Array(base.length + extra.length);
  withList.set(base.subarray(0, 36)); withList.set(extra, 36); withList.set(base.subarray(36), 36 + extra.length);
  assert.deepEqual([...decodeWav(withList).samples], [0.25, -0.5, 0.75]);
  // extensible: fmt chunk of 40 bytes with sub-format PCM
  const fmt = new Uint8Array(48);
  const v = new DataView(fmt.buffer);
  fmt.set([...'fmt '].map((c) => c.charCodeAt(0)), 0);
  v.setUint32(4, 40, true); v.setUint16(8, 0xfffe, true); v.setUint16(10, 1, true); v.setUint32(12, 16000, true);
  v.setUint32(16, 32000, true); v.setUint16(20, 2, true); v.setUint16(22, 16, true); v.setUint16(24, 22, true);
  v.setUint16(26, 16, true); v.setUint32(28, 4, true); v.setUint16(32, 1, true); // SubFormat GUID starts with 0x0001 (PCM)
  const data = base.subarray(36);
  const ext = new Uint8Array(12 + fmt.length + data.length);
  ext.set(base.subarray(0, 12)); ext.set(fmt, 12); ext.set(data, 12 + fmt.length);
  new DataView(ext.buffer).setUint32(4, ext.length - 8, true);
  assert.deepEqual([...decodeWav(ext).samples], [0.25, -0.5, 0.75]);
});

test('decodeWav errors name the file and the field', () => {
  const good = encodeWav(Float32Array.of(0.1, 0.2), 8000);
  const mutate = (f: (b: Uint8Array, v: DataView) => void): Uint8Array => { const b = Uint8Array.from(good); f(b, new DataView(b.buffer)); return b; };
  const cases: [Uint8Array, RegExp][] = [
    [good.subarray(0, 8), /bad\.wav: header: file is 8 bytes/],
    [mutate((b) => b.set([0x4f, 0x67, 0x67, 0x53], 0)), /bad\.wav: RIFF id: expected 'RIFF', got "OggS"/],
    [mutate((b) => b.set([0x52, 0x49, 0x46, 0x58], 0)), /RIFF id: 'RIFX' files are not supported/],
    [mutate((b) => b.set([0x41, 0x56, 0x49, 0x20], 8)), /WAVE id: expected 'WAVE'/],
    [mutate((_, v) => v.setUint16(34, 12, true)), /bad\.wav: fmt\.bitsPerSample: is 12; PCM supports 8, 16, 24 or 32/],
    [mutate((_, v) => v.setUint16(20, 2, true)), /fmt\.audioFormat: is 2 \(0x2\)/],
    [mutate((_, v) => { v.setUint16(20, 3, true); }), /fmt\.bitsPerSample: is 16; IEEE float supports 32 or 64/],
    [mutate((_, v) => v.setUint16(32, 3, true)), /fmt\.blockAlign: is 3, expected 2/],
    [mutate((_, v) => v.setUint16(22, 0, true)), /fmt\.numChannels: is 0/],
    [mutate((_, v) => v.setUint32(40, 1000, true)), /data chunk size: declares 1000 bytes but only 4 remain/],
    [mutate((b) => b.set([0x6a, 0x75, 0x6e, 0x6b], 36)), /data chunk: missing/],
    [mutate((b) => b.set([0x6a, 0x75, 0x6e, 0x6b], 12)), /data chunk: comes before the 'fmt ' chunk/],
  ];
  for (const [bytes, re] of cases) {
    assert.throws(() => decodeWav(bytes, 'bad.wav'), (err: unknown) => err instanceof WavFormatError && re.test(err.message), `expected ${re}`);
  }
  assert.throws(() => encodeWav(Float32Array.of(0), 8000, { bitsPerSample: 12 }), /bitsPerSample 12 is not supported/);
  assert.throws(() => encodeWav([Float32Array.of(0), Float32Array.of(0, 1)], 8000), /channel 1 has 2 samples/);
});
