// File readers for images, IDX, audio resampling, point clouds, video and hyperspectral cubes, on the
// committed fixtures of tools/fixtures/readers_media.py (written by PIL / NumPy / Python's wave and gzip,
// not by the readers under test), including malformed files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { ImageFormatError, decodeImage, listImageFiles, naturalCompare, readImage, sniffImageFormat, transformPixels } from '../src/data/image-io.js';
import { IdxFormatError, IdxImageDataset, IdxReader, decodeIdx, encodeIdx, readIdx, type IdxArray } from '../src/data/idx.js';
import { readAudio, resample } from '../src/data/resample.js';
import { WavFormatError } from '../src/data/wav.js';
import { PointCloudFormatError, normalizePoints, readPointCloud, resamplePoints, sampleSurface, type PointCloud } from '../src/data/pointcloud-io.js';
import { VideoFormatError, readVideo, uniformFrameIndices } from '../src/data/video-io.js';
import { HyperspectralFormatError, readHyperspectral } from '../src/data/hyperspectral-io.js';
import { pixelNeighbourhood, HyperspectralTokenizer } from '../src/data2seq/hyperspectral.js';
import { ImageTokenizer } from '../src/data2seq/image.js';
import { PointCloudTokenizer } from '../src/data2seq/point-cloud.js';
import { VideoTokenizer } from '../src/data2seq/video.js';

const FX = fileURLToPath(new URL('../../test/fixtures/readers/', import.meta.url));
const fx = (rel: string): string => join(FX, rel);

/** `fn` must reject with an error of class `cls` whose message names `file` and matches `re`. */
async function rejectsNaming(fn: () => Promise<unknown>, cls: new (...a: never[]) => Error, file: string, re: RegExp): Promise<void> {
  await assert.rejects(fn, (e: unknown) => {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
    assert.ok(e.message.includes(file), `message should name ${file}: ${e.message}`);
    assert.match(e.message, re);
    return true;
  });
}

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void => {
  assert.equal(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= tol, `${what}[${i}]: ${a[i]} vs ${b[i]} (tol ${tol})`);
};
const u8 = (xs: number[]): number[] => xs.map((v) => v / 255);

// ------------------------------------------------------------------------------------------------
// Images
// ------------------------------------------------------------------------------------------------

test('readImage decodes PNG pixels exactly, in CHW (default) and HWC order', async () => {
  const rgb = [[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30], [255, 255, 255]]; // raster order, 3 wide x 2 high
  const hwc = await readImage(fx('images/rgb_3x2.png'), { layout: 'hwc' });
  assert.deepEqual([hwc.height, hwc.width, hwc.channels, hwc.format, hwc.layout], [2, 3, 3, 'png', 'hwc']);
  close(hwc.data, u8(rgb.flat()), 1e-7, 'hwc');
  const chw = await readImage(fx('images/rgb_3x2.png'));
  assert.equal(chw.layout, 'chw');
  close(chw.data, u8([0, 1, 2].flatMap((c) => rgb.map((p) => p[c]!))), 1e-7, 'chw');
  // grey conversion: BT.601 luma of the RGB values
  const grey = await readImage(fx('images/rgb_3x2.png'), { color: 'grey' });
  assert.equal(grey.channels, 1);
  close(grey.data, rgb.map(([r, g, b]) => (0.299 * r! + 0.587 * g! + 0.114 * b!) / 255), 1e-6, 'luma');
});

test('readImage: grey, alpha and 16-bit PNGs', async () => {
  const g = await readImage(fx('images/grey_4x3.png'), { color: 'grey' });
  assert.deepEqual([g.height, g.width, g.channels], [3, 4, 1]);
  close(g.data, u8(Array.from({ length: 12 }, (_, k) => 20 * k)), 1e-6, 'grey');
  const g3 = await readImage(fx('images/grey_4x3.png'), { layout: 'hwc' }); // default 'rgb' replicates
  assert.equal(g3.channels, 3);
  close(g3.data, u8(Array.from({ length: 12 }, (_, k) => [20 * k, 20 * k, 20 * k]).flat()), 1e-7, 'grey->rgb');

  const alpha = [255, 128, 0, 255];
  const px = (k: number): number[] => [10 * (k + 1), 50, 200];
  const rgba = await readImage(fx('images/rgba_2x2.png'), { color: 'rgba', layout: 'hwc' });
  assert.equal(rgba.channels, 4);
  close(rgba.data, u8([0, 1, 2, 3].flatMap((k) => [...px(k), alpha[k]!])), 1e-7, 'rgba');
  const dropped = await readImage(fx('images/rgba_2x2.png'), { layout: 'hwc' });
  close(dropped.data, u8([0, 1, 2, 3].flatMap(px)), 1e-7, 'alpha dropped');
  const opaque = await readImage(fx('images/rgb_3x2.png'), { color: 'rgba', layout: 'hwc' });
  assert.deepEqual(Array.from({ length: 6 }, (_, p) => opaque.data[4 * p + 3]), [1, 1, 1, 1, 1, 1]);

  const g16 = await readImage(fx('images/grey16_2x2.png'), { color: 'grey' });
  close(g16.data, [0, 1000, 40000, 65535].map((v) => v / 65535), 1e-6, '16-bit');
});

test('readImage: JPEG (within JPEG rounding), lossless WebP and TIFF (exact)', async () => {
  const QUAD = [[200, 30, 30], [30, 200, 30], [30, 30, 200], [128, 128, 128]];
  const expectQuad = (side: number): number[] => {
    const out: number[] = [];
    for (let y = 0; y < side; y++) for (let x = 0; x < side; x++) out.push(...QUAD[(y < side / 2 ? 0 : 2) + (x < side / 2 ? 0 : 1)]!);
    return u8(out);
  };
  const jpg = await readImage(fx('images/quad_16x16.jpg'), { layout: 'hwc' });
  assert.equal(jpg.format, 'jpeg');
  close(jpg.data, expectQuad(16), 3 / 255, 'jpeg');
  for (const f of ['quad_8x8.webp', 'quad_8x8.tiff']) {
    const im = await readImage(fx(`images/${f}`), { layout: 'hwc' });
    assert.equal(im.format, f.endsWith('webp') ? 'webp' : 'tiff');
    close(im.data, expectQuad(8), 1e-7, f);
  }
});

test('readImage resizing: shorter side + centre crop, exact size', async () => {
  // 12x8 (WxH) stripes red | green | blue, 4 columns each: shorter side 8 (no scaling), centre crop 4 =
  // columns 4..7, rows 2..5 = all green
  const c = await readImage(fx('images/stripes_12x8.png'), { resize: { shorterSide: 8, crop: 4 }, layout: 'hwc' });
  assert.deepEqual([c.height, c.width], [4, 4]);
  close(c.data, Array.from({ length: 16 }, () => [0, 1, 0]).flat(), 1e-7, 'centre crop');
  // shorter side 4: 12x8 -> 6x4 (longer side floor(4 · 12 / 8) = 6); crop [2, 3] (HxW)
  const s = await readImage(fx('images/stripes_12x8.png'), { resize: { shorterSide: 4 } });
  assert.deepEqual([s.height, s.width], [4, 6]);
  const sc = await readImage(fx('images/stripes_12x8.png'), { resize: { shorterSide: 4, crop: [2, 3] } });
  assert.deepEqual([sc.height, sc.width], [2, 3]);
  // exact size, nearest: constant 2x2 blocks halve to one pixel per block, value 30 · block + 10
  const b = await readImage(fx('images/blocks_8x4.png'), { resize: { height: 2, width: 4 }, kernel: 'nearest', color: 'grey' });
  assert.deepEqual([b.height, b.width], [2, 4]);
  close(b.data, u8(Array.from({ length: 8 }, (_, k) => 30 * k + 10)), 1e-7, 'nearest');
  const up = await readImage(fx('images/rgb_3x2.png'), { resize: { height: 4, width: 6 }, kernel: 'nearest', layout: 'hwc' });
  assert.deepEqual([up.height, up.width], [4, 6]);
  close(up.data.subarray(0, 3), [0, 0, 0], 1e-7, 'upsampled corner');
  close(up.data.subarray((3 * 6 + 5) * 3, (3 * 6 + 6) * 3), [1, 1, 1], 1e-7, 'upsampled far corner');
  await rejectsNaming(() => readImage(fx('images/rgb_3x2.png'), { resize: { shorterSide: 2, crop: 3 } }), ImageFormatError, 'rgb_3x2.png', /crop 3x3 .* larger/);
  await assert.rejects(() => readImage(fx('images/rgb_3x2.png'), { resize: { shorterSide: 0 } }), /shorterSide must be a positive integer/);
});

test('decodeImage reads images made in memory; the output feeds ImageTokenizer.prepare', async () => {
  const { readFile } = await import('node:fs/promises');
  const bytes = new Uint8Array(await readFile(fx('images/stripes_12x8.png')));
  assert.equal(sniffImageFormat(bytes), 'png');
  const im = await decodeImage(bytes, { resize: { shorterSide: 8, crop: 8 } });
  const tok = new ImageTokenizer({ dim: 8, patchSize: 4, imageSize: 8 });
  const x = tok.prepare([im, im]);
  assert.deepEqual(x.shape, [2, 3, 8, 8]);
});

test('malformed image files raise ImageFormatError naming the file and the problem', async () => {
  const cases: [string, RegExp][] = [
    ['empty.png', /file is empty/],
    ['not_an_image.png', /not a PNG, JPEG, WebP, TIFF or GIF file/],
    ['truncated.png', /cannot decode the PNG data \(truncated or corrupt\?\)/],
    ['truncated.jpg', /JPEG.*(truncated|corrupt|premature)/],
    ['zero_width.png', /declares a 0x2 \(WxH\) image/],
    ['missing.png', /cannot read the file: ENOENT/],
  ];
  for (const [f, re] of cases) await rejectsNaming(() => readImage(fx(`images/bad/${f}`)), ImageFormatError, f, re);
});

test('transformPixels: bilinear resize (align_corners=False), crop and colour on in-memory pixels', () => {
  // 1-D closed form: [a, b] -> 4 samples at s = max((i + 0.5) / 2 − 0.5, 0) = 0, 0.25, 0.75, 1.25 (edge-clamped)
  const a = 0.2, b = 0.6;
  const img = transformPixels({ data: [a, b, a, b], height: 2, width: 2, channels: 1 }, { resize: { height: 2, width: 4 }, color: 'grey' });
  close(img.data, [a, a + 0.25 * (b - a), a + 0.75 * (b - a), b, a, a + 0.25 * (b - a), a + 0.75 * (b - a), b], 1e-6, 'bilinear');
  const rgb = transformPixels({ data: [0.5], height: 1, width: 1, channels: 1 }, { color: 'rgb' });
  close(rgb.data, [0.5, 0.5, 0.5], 0, 'grey->rgb');
  const luma = transformPixels({ data: [1, 0.5, 0, 0.25], height: 1, width: 1, channels: 4 }, { color: 'grey' });
  close(luma.data, [0.299 + 0.587 * 0.5], 1e-6, 'rgba->grey');
  assert.throws(() => transformPixels({ data: [1, 2, 3], height: 2, width: 2, channels: 1 }, {}, 'frame 3'), /frame 3: pixel array has 3 values, expected 2x2x1/);
});

test('listImageFiles sorts naturally and skips non-images', async () => {
  assert.ok(naturalCompare('frame_2.png', 'frame_10.png') < 0);
  assert.ok(naturalCompare('a10', 'a9') > 0);
  const files = await listImageFiles(fx('video/clip_frames'));
  assert.deepEqual(files.map((f) => f.split('/').pop()), Array.from({ length: 10 }, (_, k) => `frame_${k + 1}.png`));
});

// ------------------------------------------------------------------------------------------------
// IDX
// ------------------------------------------------------------------------------------------------

const IDX_IMG = (n: number): number[] => Array.from({ length: 12 }, (_, j) => (n * 37 + Math.floor(j / 3) * 3 + (j % 3) * 11) % 256);
const IDX_LABELS = [3, 1, 4, 1, 5];

test('IDX: whole-file decode and streaming reader agree with the closed form, plain and gzipped', async () => {
  for (const gz of ['', '.gz']) {
    const whole = await readIdx(fx(`idx/images-idx3-ubyte${gz}`));
    assert.deepEqual([whole.dtype, whole.shape], ['uint8', [5, 4, 3]]);
    assert.deepEqual(Array.from(whole.data), [0, 1, 2, 3, 4].flatMap(IDX_IMG));
    const r = await IdxReader.open(fx(`idx/images-idx3-ubyte${gz}`));
    try {
      assert.equal(r.gzipped, gz === '.gz');
      assert.deepEqual([r.length, r.itemShape, r.itemSize], [5, [4, 3], 12]);
      // streaming pass (gzipped: through the decompressor), then random access, then a range
      const seen: number[] = [];
      for await (const { index, data } of r.items()) { seen.push(index); assert.deepEqual(Array.from(data), IDX_IMG(index)); }
      assert.deepEqual(seen, [0, 1, 2, 3, 4]);
      for (const i of [4, 0, 2]) assert.deepEqual(Array.from(await r.get(i)), IDX_IMG(i));
      assert.deepEqual(Array.from(await r.getRange(1, 2)), [...IDX_IMG(1), ...IDX_IMG(2)]);
      const tail: number[] = [];
      for await (const { index } of r.items(3)) tail.push(index);
      assert.deepEqual(tail, [3, 4]);
      await assert.rejects(() => r.get(5), /index 5 is out of range \[0, 5\)/);
    } finally { await r.close(); }
    const labels = await IdxReader.open(fx(`idx/labels-idx1-ubyte${gz}`));
    assert.deepEqual(labels.itemShape, []);
    assert.deepEqual(await Promise.all([0, 1, 2, 3, 4].map(async (i) => (await labels.get(i))[0])), IDX_LABELS);
    await labels.close();
  }
  const i16 = await readIdx(fx('idx/int16-idx2'));
  assert.deepEqual([i16.dtype, i16.shape, Array.from(i16.data)], ['int16', [2, 3], [-300, 0, 7, 32767, -32768, 1]]);
  const f32 = await IdxReader.open(fx('idx/float32-idx1.gz'));
  assert.deepEqual([f32.dtype, Array.from(await f32.getRange(0, 3))], ['float32', [0.5, -1.25, Math.fround(3e10)]]);
});

test('IDX: encodeIdx matches an independent writer byte for byte and round-trips every dtype', async () => {
  const { readFile } = await import('node:fs/promises');
  const py = new Uint8Array(await readFile(fx('idx/images-idx3-ubyte')));
  const ours = encodeIdx({ shape: [5, 4, 3], data: Uint8Array.from([0, 1, 2, 3, 4].flatMap(IDX_IMG)) });
  assert.deepEqual(Buffer.from(ours), Buffer.from(py));
  const arrays: IdxArray[] = [
    Uint8Array.from([0, 7, 255, 128, 1, 2]), Int8Array.from([-128, -1, 0, 1, 127, 5]), Int16Array.from([-32768, -2, 0, 3, 32767, 9]),
    Int32Array.from([-(2 ** 31), -5, 0, 6, 2 ** 31 - 1, 11]), Float32Array.from([0.1, -2.5, 1e-30, 3e38, -0, 7]), Float64Array.from([Math.PI, -1e300, 5e-324, 0, 1, 2]),
  ];
  const dir = await mkdtemp(join(tmpdir(), 'idx-'));
  try {
    for (const data of arrays) {
      const bytes = encodeIdx({ shape: [3, 2], data });
      const back = decodeIdx(bytes);
      assert.deepEqual([back.shape, back.data.constructor, Array.from(back.data)], [[3, 2], data.constructor, Array.from(data)]);
      const back2 = decodeIdx(gzipSync(bytes));
      assert.deepEqual(Array.from(back2.data), Array.from(data));
      const p = join(dir, `${data.constructor.name}.gz`);
      await writeFile(p, gzipSync(bytes));
      const r = await IdxReader.open(p);
      assert.deepEqual(Array.from(await r.get(2)), Array.from(data.subarray(4, 6)));
      await r.close();
    }
  } finally { await rm(dir, { recursive: true }); }
  assert.throws(() => encodeIdx({ shape: [4], data: new Uint8Array(3) }), /shape \[4\] has 4 elements, the data 3/);
});

test('IdxImageDataset yields [0, 1] images and labels, and checks the pair', async () => {
  const ds = await IdxImageDataset.open(fx('idx/images-idx3-ubyte.gz'), fx('idx/labels-idx1-ubyte.gz'));
  try {
    assert.deepEqual([ds.length, ds.height, ds.width, ds.channels], [5, 4, 3, 1]);
    const { image, label } = await ds.get(3);
    assert.equal(label, 1);
    assert.deepEqual([image.height, image.width, image.channels], [4, 3, 1]);
    close(image.data, IDX_IMG(3).map((v) => v / 255), 1e-7, 'image 3');
    assert.deepEqual(Array.from(await ds.allLabels()), IDX_LABELS);
  } finally { await ds.close(); }
  await rejectsNaming(() => IdxImageDataset.open(fx('idx/images-idx3-ubyte'), fx('idx/bad/four-labels-idx1-ubyte')), IdxFormatError, 'four-labels-idx1-ubyte', /has 4 labels but .* has 5 images/);
  await rejectsNaming(() => IdxImageDataset.open(fx('idx/labels-idx1-ubyte')), IdxFormatError, 'labels-idx1-ubyte', /must be \[N, H, W\]/);
});

test('malformed IDX files raise IdxFormatError naming the file and the problem (open and whole-file read)', async () => {
  const cases: [string, RegExp, RegExp?][] = [
    ['empty-idx1-ubyte', /file is empty/],
    ['bad-magic-idx3-ubyte', /not an IDX file: magic bytes are 50 4b 03 04/],
    ['bad-type-idx1-ubyte', /unknown IDX element type 0x07/],
    ['header-truncated-idx3-ubyte', /header is truncated: 3 dimensions need 16 header bytes, the file has 10/],
    ['truncated-idx3-ubyte', /data is truncated: shape \[5, 4, 3\] of uint8 needs 60 bytes, the file has 55/],
    ['extra-data-idx3-ubyte', /12 bytes after the data: .*wrong dimensions/],
    ['truncated-idx3-ubyte.gz', /gzip trailer records \d+ uncompressed bytes .* needs 76 \(truncated/, /corrupt or truncated gzip data/],
  ];
  for (const [f, reOpen, reRead] of cases) {
    await rejectsNaming(() => IdxReader.open(fx(`idx/bad/${f}`)), IdxFormatError, f, reOpen);
    await rejectsNaming(() => readIdx(fx(`idx/bad/${f}`)), IdxFormatError, f, reRead ?? reOpen);
  }
  await rejectsNaming(() => IdxReader.open(fx('idx/bad/missing')), IdxFormatError, 'missing', /cannot open the file/);
});

const FASHION = '/usr/share/datasets/fashion-mnist';
const haveFashion = existsSync(join(FASHION, 'train-images-idx3-ubyte.gz'));
test('Fashion-MNIST from the Debian package: 60k/10k, balanced classes, streamed', { skip: haveFashion ? false : 'dataset-fashion-mnist is not installed (apt-get install -y dataset-fashion-mnist)' }, async () => {
  const train = await IdxImageDataset.open(join(FASHION, 'train-images-idx3-ubyte.gz'), join(FASHION, 'train-labels-idx1-ubyte.gz'));
  const t10k = await IdxImageDataset.open(join(FASHION, 't10k-images-idx3-ubyte.gz'), join(FASHION, 't10k-labels-idx1-ubyte.gz'));
  try {
    assert.deepEqual([train.length, train.height, train.width, t10k.length], [60000, 28, 28, 10000]);
    const counts = new Array(10).fill(0);
    for await (const { data } of train.labels!.items()) counts[data[0]!]++;
    assert.deepEqual(counts, new Array(10).fill(6000));
    // the first training image is an ankle boot (class 9); a streamed pass and random access agree
    assert.equal(await train.label(0), 9);
    let first: IdxArray | null = null;
    for await (const { data } of train.images.items(0, 1)) first = data;
    const img = await train.image(0);
    close(img.data, Array.from(first!, (v) => Math.fround(v / 255)), 0, 'image 0');
    const last = await train.image(59999);
    assert.ok(last.data.every((v) => v >= 0 && v <= 1) && last.data.some((v) => v > 0));
  } finally { await train.close(); await t10k.close(); }
});

// ------------------------------------------------------------------------------------------------
// Audio resampling
// ------------------------------------------------------------------------------------------------

const tone = (f: number, rate: number, n: number, amp = 1): Float32Array => Float32Array.from({ length: n }, (_, i) => amp * Math.sin((2 * Math.PI * f * i) / rate));
/** Largest |y − closed form| over the interior (away from the zero-padded edges). */
function maxInteriorError(y: Float32Array, f: number, rate: number, amp: number, margin: number): number {
  let e = 0;
  for (let j = margin; j < y.length - margin; j++) e = Math.max(e, Math.abs(y[j]! - amp * Math.sin((2 * Math.PI * f * j) / rate)));
  return e;
}

test('resample keeps a 1 kHz tone a 1 kHz tone (closed form), down and up', () => {
  const y = resample(tone(1000, 44100, 44100), 44100, 16000);
  assert.equal(y.length, 16000);
  const eDown = maxInteriorError(y, 1000, 16000, 1, 200);
  assert.ok(eDown < 2e-4, `44.1k -> 16k error ${eDown}`);
  const up = resample(tone(1000, 8000, 8000), 8000, 16000);
  assert.equal(up.length, 16000);
  const eUp = maxInteriorError(up, 1000, 16000, 1, 200);
  assert.ok(eUp < 2e-4, `8k -> 16k error ${eUp}`);
  const odd = resample(tone(1000, 22050, 2205), 22050, 16000);
  assert.equal(odd.length, Math.ceil((2205 * 16000) / 22050));
  assert.ok(maxInteriorError(odd, 1000, 16000, 1, 200) < 2e-4);
  // DC passes with unit gain
  const dc = resample(new Float32Array(4410).fill(1), 44100, 16000);
  assert.ok(maxInteriorError(dc, 0, 16000, 0, 200) > 0.99 && Math.abs(dc[800]! - 1) < 1e-4);
});

test('resample removes content above the new Nyquist frequency instead of aliasing it', () => {
  // a 10 kHz tone cannot exist at 16 kHz (Nyquist 8 kHz); naive decimation would fold it to 6 kHz at full level
  const y = resample(tone(10000, 44100, 44100), 44100, 16000);
  let rms = 0, n = 0;
  for (let j = 200; j < y.length - 200; j++, n++) rms += y[j]! * y[j]!;
  rms = Math.sqrt(rms / n);
  assert.ok(rms < 1e-3, `residual RMS ${rms} (full-scale tone RMS 0.707)`);
});

test('resample: identity at equal rates, argument checks', () => {
  const x = Float32Array.from([0.1, -0.2, 0.3]);
  assert.deepEqual(Array.from(resample(x, 16000, 16000)), Array.from(x));
  assert.notEqual(resample(x, 16000, 16000), x);
  assert.equal(resample(new Float32Array(0), 44100, 16000).length, 0);
  assert.throws(() => resample(x, 0, 16000), /fromRate must be a positive integer/);
  assert.throws(() => resample(x, 44100, 16000.5), /toRate must be a positive integer/);
  assert.throws(() => resample([0, NaN], 2, 1), /sample 1 is NaN/);
});

test('readAudio: WAV decode + mixdown + resample to 16 kHz', async () => {
  const a = await readAudio(fx('audio/tone_1k_stereo_44100.wav'));
  assert.deepEqual([a.sampleRate, a.sourceSampleRate, a.numChannels, a.samples.length], [16000, 44100, 2, 800]);
  assert.ok(Math.abs(a.duration - 0.05) < 1e-9);
  // mix of 0.5 sin and 0.25 sin = 0.375 sin (16-bit quantisation: 1/32768 per channel)
  const e = maxInteriorError(a.samples, 1000, 16000, 0.375, 150);
  assert.ok(e < 3e-4, `mixdown error ${e}`);
  const left = await readAudio(fx('audio/tone_1k_stereo_44100.wav'), { channel: 0 });
  assert.ok(maxInteriorError(left.samples, 1000, 16000, 0.5, 150) < 3e-4);
  const native = await readAudio(fx('audio/tone_1k_stereo_44100.wav'), { sampleRate: null });
  assert.deepEqual([native.sampleRate, native.samples.length], [44100, 2205]);
  await assert.rejects(() => readAudio(fx('audio/tone_1k_stereo_44100.wav'), { channel: 2 }), /has 2 channel\(s\); channel 2 does not exist/);
  await rejectsNaming(() => readAudio(fx('audio/bad/empty.wav')), WavFormatError, 'empty.wav', /too short for a RIFF\/WAVE header/);
});

// ------------------------------------------------------------------------------------------------
// Point clouds
// ------------------------------------------------------------------------------------------------

const CUBE = Array.from({ length: 8 }, (_, k) => [k & 1, (k >> 1) & 1, (k >> 2) & 1]);
const CUBE_ALL = CUBE.map((v, k) => [...v, ...v.map((c) => (c - 0.5) * 2), k * 30, 255 - k * 30, k]);
const PTS = Array.from({ length: 5 }, (_, k) => [k / 4 + 0.5, (2 * k) / 4 + 0.5, -k / 4 + 0.5]);

test('PLY ascii, binary little- and big-endian give the same cloud; features by name; faces', async () => {
  for (const f of ['cube_ascii.ply', 'cube_le.ply', 'cube_be.ply']) {
    const xyz = await readPointCloud(fx(`points/${f}`));
    assert.deepEqual([xyz.numPoints, xyz.channels, xyz.fields], [8, 3, ['x', 'y', 'z']], f);
    assert.deepEqual(Array.from(xyz.points), CUBE.flat(), f);
    assert.equal(xyz.faces!.length, 6 * 2 * 3, `${f}: 6 quads -> 12 triangles`);
    const all = await readPointCloud(fx(`points/${f}`), { features: 'all' });
    assert.deepEqual(all.fields, ['x', 'y', 'z', 'nx', 'ny', 'nz', 'red', 'green', 'blue']);
    assert.deepEqual(Array.from(all.points), CUBE_ALL.flat(), f);
    const rgb = await readPointCloud(fx(`points/${f}`), { features: ['blue', 'red'] });
    assert.deepEqual(Array.from(rgb.points.subarray(5 * 5, 6 * 5)), [1, 0, 1, 5, 150], f);
  }
  await rejectsNaming(() => readPointCloud(fx('points/cube_le.ply'), { features: ['alpha'] }), PointCloudFormatError, 'cube_le.ply', /no feature 'alpha' \(available: nx, ny, nz, red, green, blue\)/);
});

test('OFF (incl. ModelNet\'s counts-on-the-magic-line) and surface sampling by area', async () => {
  for (const f of ['cube.off', 'cube_modelnet.off']) {
    const c = await readPointCloud(fx(`points/${f}`));
    assert.deepEqual(Array.from(c.points), CUBE.flat(), f);
    assert.equal(c.faces!.length, 36);
  }
  const s = await readPointCloud(fx('points/cube.off'), { sampleSurface: 3000, seed: 7 });
  assert.equal(s.numPoints, 3000);
  const perFace = new Array(6).fill(0);
  for (let i = 0; i < 3000; i++) {
    const p = Array.from(s.points.subarray(3 * i, 3 * i + 3));
    assert.ok(p.every((v) => v >= -1e-6 && v <= 1 + 1e-6), `point ${i} inside the cube`);
    const onFace = p.flatMap((v, axis) => [Math.abs(v) < 1e-6 ? 2 * axis : -1, Math.abs(v - 1) < 1e-6 ? 2 * axis + 1 : -1]).filter((k) => k >= 0);
    assert.ok(onFace.length >= 1, `point ${i} (${p}) lies on a face`);
    perFace[onFace[0]!]++;
  }
  // equal areas: each face gets 500 ± a few standard deviations (sd ≈ 20)
  for (const n of perFace) assert.ok(n > 400 && n < 600, `face counts ${perFace}`);
  const again = await readPointCloud(fx('points/cube.off'), { sampleSurface: 3000, seed: 7 });
  assert.deepEqual(again.points, s.points, 'seeded');
  const other = await readPointCloud(fx('points/cube.off'), { sampleSurface: 3000, seed: 8 });
  assert.notDeepEqual(other.points, s.points);
  // features are interpolated barycentrically: the normal x of a point is 2·x − 1 (linear on the cube)
  const withN = sampleSurface(await readPointCloud(fx('points/cube_ascii.ply'), { features: ['nx'] }), 200, 1);
  for (let i = 0; i < 200; i++) assert.ok(Math.abs(withN.points[4 * i + 3]! - (2 * withN.points[4 * i]! - 1)) < 1e-5);
  await rejectsNaming(() => readPointCloud(fx('points/points.xyz'), { sampleSurface: 10 }), PointCloudFormatError, 'points.xyz', /has no faces/);
});

test('XYZ / TXT / CSV point lists and NPY arrays', async () => {
  const xyz = await readPointCloud(fx('points/points.xyz'));
  assert.deepEqual(Array.from(xyz.points), PTS.flat().map(Math.fround));
  const txt = await readPointCloud(fx('points/points_normals.txt'), { features: 'all' });
  assert.deepEqual(txt.fields, ['x', 'y', 'z', 'col3', 'col4', 'col5']);
  assert.deepEqual(Array.from(txt.points), PTS.flatMap((p, k) => [...p, 10 * k, k % 2, 0.5]));
  const csv = await readPointCloud(fx('points/points_header.csv'), { features: ['intensity'] });
  assert.deepEqual([csv.fields, Array.from(csv.points)], [['x', 'y', 'z', 'intensity'], PTS.flatMap((p, k) => [...p, 10 * k])]);
  const npy = await readPointCloud(fx('points/points.npy'), { features: 'all' });
  assert.deepEqual([npy.channels, Array.from(npy.points)], [4, PTS.flatMap((p, k) => [...p, 10 * k])]);
  const f64 = await readPointCloud(fx('points/points_f64.npy'));
  assert.deepEqual(Array.from(f64.points), PTS.flat());
});

test('resamplePoints (seeded subset / repeats), normalizePoints, and the result feeds PointCloudTokenizer', async () => {
  const cloud = await readPointCloud(fx('points/cube_ascii.ply'), { features: ['red'] });
  const rows = (c: PointCloud): string[] => Array.from({ length: c.numPoints }, (_, i) => Array.from(c.points.subarray(i * c.channels, (i + 1) * c.channels)).join(','));
  const orig = rows(cloud);
  const sub = resamplePoints(cloud, 5, 3);
  const subRows = rows(sub);
  assert.equal(new Set(subRows).size, 5, 'without replacement');
  assert.ok(subRows.every((r) => orig.includes(r)));
  assert.deepEqual(subRows, [...subRows].sort((a, b) => orig.indexOf(a) - orig.indexOf(b)), 'file order kept');
  assert.deepEqual(resamplePoints(cloud, 5, 3).points, sub.points);
  const more = resamplePoints(cloud, 20, 3);
  const moreRows = rows(more);
  assert.deepEqual(moreRows.slice(0, 8), orig, 'every point, then repeats');
  assert.ok(moreRows.slice(8).every((r) => orig.includes(r)));

  const n = normalizePoints(cloud);
  let maxR = 0;
  const mean = [0, 0, 0];
  for (let i = 0; i < 8; i++) {
    let r = 0;
    for (let k = 0; k < 3; k++) { mean[k] += n.points[4 * i + k]! / 8; r += n.points[4 * i + k]! ** 2; }
    maxR = Math.max(maxR, Math.sqrt(r));
    assert.equal(n.points[4 * i + 3], cloud.points[4 * i + 3], 'features untouched');
  }
  mean.forEach((m) => assert.ok(Math.abs(m) < 1e-6));
  assert.ok(Math.abs(maxR - 1) < 1e-6);
  close(n.points.subarray(0, 3), [-1 / Math.sqrt(3), -1 / Math.sqrt(3), -1 / Math.sqrt(3)], 1e-6, 'corner');

  const ready = await readPointCloud(fx('points/cube.off'), { sampleSurface: 100, numPoints: 64, normalize: true, seed: 1 });
  assert.equal(ready.numPoints, 64);
  const tok = new PointCloudTokenizer({ dim: 8, groupSize: 8, numGroups: 4, channels: [8, 8, 8] });
  const input = tok.prepare([ready.points, ready.points]);
  assert.deepEqual([input.grouped.shape, input.centres.shape], [[2, 3, 4, 8], [2, 4, 3]]);
});

test('malformed point-cloud files raise an error naming the file and the problem', async () => {
  const cases: [string, RegExp][] = [
    ['empty.ply', /file is empty/],
    ['bad_magic.ply', /not a PLY file/],
    ['truncated_le.ply', /binary data is truncated at element 'face' 2/],
    ['ascii_short.ply', /ascii data ends early, at element 'vertex' 5, property 'nx'/],
    ['no_end_header.ply', /no 'end_header' line/],
    ['no_xyz.ply', /no scalar 'x' property \(properties: a, b, c\)/],
    ['bad_type.ply', /header line 4: expected 'property <type> <name>' with a known type/],
    ['counts_too_small.ply', /after the last element \(counts in the header too small\?\)/],
    ['bad_face.ply', /face 0 refers to vertex 9, outside \[0, 3\)/],
    ['not_a_number.ply', /element 'vertex' 1, property 'y': "five" is not a number/],
    ['bad_magic.off', /not an OFF file/],
    ['truncated.off', /truncated/],
    ['bad_face.off', /line 6: face 0 refers to vertex 99/],
    ['empty.off', /file is empty/],
    ['ragged.xyz', /line 3: 2 values, expected 3/],
    ['not_a_number.txt', /line 2, column 2: "abc" is not a finite number/],
    ['two_columns.xyz', /a point needs at least 3/],
    ['empty.xyz', /file is empty/],
    ['two_columns.npy', /must be \[P, C\] with C >= 3 .* got shape \[5, 2\]/],
    ['vector.npy', /got shape \[6\]/],
    ['truncated.npy', /data is truncated/],
  ];
  for (const [f, re] of cases) {
    await assert.rejects(() => readPointCloud(fx(`points/bad/${f}`)), (e: Error) => {
      assert.ok(e.message.includes(f), `message should name ${f}: ${e.message}`);
      assert.match(e.message, re);
      return true;
    });
  }
  await rejectsNaming(() => readPointCloud(fx('points/cube.stl')), PointCloudFormatError, 'cube.stl', /unknown point-cloud extension '.stl'/);
});

// ------------------------------------------------------------------------------------------------
// Video
// ------------------------------------------------------------------------------------------------

test('readVideo: a frame folder sampled uniformly (natural order), CTHW and THWC', async () => {
  assert.deepEqual(uniformFrameIndices(10, 4), [1, 3, 6, 8]);
  assert.deepEqual(uniformFrameIndices(3, 6), [0, 0, 1, 1, 2, 2]);
  const frame = (k: number): number[] => [20 * k, 255 - 20 * k, k].map((v) => v / 255); // file frame_k.png
  const v = await readVideo(fx('video/clip_frames'), { frames: 4 });
  assert.deepEqual([v.frames, v.height, v.width, v.channels, v.layout, v.sourceFrames, v.frameIndices], [4, 4, 4, 3, 'cthw', 10, [1, 3, 6, 8]]);
  assert.deepEqual(v.frameFiles!.map((f) => f.split('/').pop()), ['frame_2.png', 'frame_4.png', 'frame_7.png', 'frame_9.png']);
  const ks = [2, 4, 7, 9];
  const cthw = [0, 1, 2].flatMap((c) => ks.flatMap((k) => new Array(16).fill(frame(k)[c]!)));
  close(v.data, cthw, 1e-7, 'cthw');
  const t = await readVideo(fx('video/clip_frames'), { frames: 4, layout: 'thwc', image: { resize: { height: 2, width: 2 }, color: 'grey' } });
  assert.deepEqual([t.height, t.width, t.channels], [2, 2, 1]);
  close(t.data, ks.flatMap((k) => { const [r, g, b] = frame(k); return new Array(4).fill(0.299 * r! + 0.587 * g! + 0.114 * b!); }), 1e-5, 'thwc grey');
  const rep = await readVideo(fx('video/clip_frames'), { frames: 16 });
  assert.equal(rep.frames, 16);
  const tok = new VideoTokenizer({ dim: 8, patchSize: 2, tubeletSize: 2, numFrames: 4, imageSize: 4 });
  assert.deepEqual(tok.prepare([v, v]).shape, [2, 3, 4, 4, 4]);
});

test('readVideo: NPY clips [T, H, W, C] (uint8 scaled) and [T, H, W] (float as stored)', async () => {
  const v = await readVideo(fx('video/clip.npy'), { frames: 3, layout: 'thwc' });
  assert.deepEqual([v.frames, v.height, v.width, v.channels, v.frameIndices], [3, 2, 3, 3, [1, 3, 5]]);
  const exp: number[] = [];
  for (const tt of [1, 3, 5]) for (let y = 0; y < 2; y++) for (let x = 0; x < 3; x++) for (let c = 0; c < 3; c++) exp.push((tt * 40 + y * 10 + x * 3 + c) / 255);
  close(v.data, exp, 1e-7, 'npy thwc');
  const g = await readVideo(fx('video/clip_grey.npy'), { frames: 2, image: { color: 'grey' } });
  assert.deepEqual([g.channels, g.frameIndices], [1, [1, 3]]);
  const ge: number[] = [];
  for (const tt of [1, 3]) for (let y = 0; y < 2; y++) for (let x = 0; x < 2; x++) ge.push(tt / 4 + y / 8 + x / 16);
  close(g.data, ge, 1e-7, 'grey npy');
  const rgb = await readVideo(fx('video/clip_grey.npy'), { frames: 2, image: { resize: { height: 4, width: 4 } } });
  assert.deepEqual([rgb.channels, rgb.height, rgb.width], [3, 4, 4]);
  close(rgb.data.subarray(0, 1), [0.25], 1e-6, 'resized corner (edge-clamped bilinear)');
});

test('malformed clips raise VideoFormatError naming the clip and the problem', async () => {
  const cases: [string, RegExp][] = [
    ['mixed_sizes', /frame 1 \(.*frame_2.png\) is 5x4x3 \(HxWxC\) but frame 0 .* is 4x4x3/],
    ['no_frames', /has no image files/],
    ['bad_frame', /frame 1 \(.*frame_2.png\): .*cannot decode the PNG data/],
    ['clip_5d.npy', /must be \[T, H, W, C\] or \[T, H, W\], got shape \[1, 2, 2, 2, 3\]/],
    ['clip_7_channels.npy', /7 channels in its last dimension/],
    ['clip_int32.npy', /unsupported dtype int32/],
    ['empty.npy', /file is empty/],
    ['missing_clip', /cannot open the clip: ENOENT/],
  ];
  for (const [f, re] of cases) await rejectsNaming(() => readVideo(fx(`video/bad/${f}`), { frames: 2 }), VideoFormatError, f, re);
  await assert.rejects(() => readVideo(fx('video/clip.npy'), { frames: 0 }), /frames must be a positive integer/);
});

// ------------------------------------------------------------------------------------------------
// Hyperspectral
// ------------------------------------------------------------------------------------------------

/** The fixture cube's value at (y, x, band) and its per-band min-max normalisation. */
const cubeAt = (y: number, x: number, b: number): number => (b === 5 ? 7 : Math.fround((y + 1) * (b + 1) + 0.1 * x * b));
const normAt = (y: number, x: number, b: number): number => {
  if (b === 5) return 0; // constant band
  const lo = cubeAt(0, 0, b), hi = cubeAt(4, 3, b);
  return (cubeAt(y, x, b) - lo) / (hi - lo);
};

test('readHyperspectral: labelled pixels (0 skipped), band min-max, spectra and patches', async () => {
  const s = await readHyperspectral(fx('hyperspectral/cube.npy'), fx('hyperspectral/labels.npy'));
  assert.deepEqual([s.height, s.width, s.bands, s.length, s.classes], [5, 4, 6, 15, [1, 2, 3]]);
  const first = s.sample(0); // pixel (0, 1), label 1
  assert.deepEqual([first.row, first.col, first.label, s.classIndexOf(0)], [0, 1, 1, 0]);
  close(first.data, [0, 1, 2, 3, 4, 5].map((b) => normAt(0, 1, b)), 1e-6, 'spectrum');
  const labels = Array.from(s, (x) => x.label);
  assert.deepEqual(labels, Array.from({ length: 20 }, (_, p) => p % 4).filter((l) => l > 0));
  for (const f of [['cube_chw.npy', { layout: 'chw' as const }], ['cube.npy', {}]] as const) {
    const alt = await readHyperspectral(fx(`hyperspectral/${f[0]}`), fx('hyperspectral/labels_f32.npy'), f[1]);
    assert.deepEqual(alt.cube, s.cube, f[0]);
  }
  const all = await readHyperspectral(fx('hyperspectral/cube.npy'), fx('hyperspectral/labels.npy'), { includeUnlabelled: true, normalize: 'none' });
  assert.equal(all.length, 20);
  close(all.sample(19).data, [0, 1, 2, 3, 4, 5].map((b) => cubeAt(4, 3, b)), 1e-6, 'raw spectrum');
  const p3 = await readHyperspectral(fx('hyperspectral/cube.npy'), fx('hyperspectral/labels.npy'), { patch: 3 });
  const smp = p3.sample(4);
  assert.deepEqual(smp.data, pixelNeighbourhood(s.cube, { height: 5, width: 4, bands: 6 }, smp.row, smp.col, 3));
  const tok = new HyperspectralTokenizer({ dim: 8, bands: 6, patch: 3 });
  assert.deepEqual(tok.prepare([p3.sample(0).data, smp.data]).shape, [2, 6, 9]);
  const noLabels = await readHyperspectral(fx('hyperspectral/cube.npy'), null);
  assert.equal(noLabels.length, 20);
});

test('malformed hyperspectral files raise HyperspectralFormatError naming the file and the problem', async () => {
  const cube = fx('hyperspectral/cube.npy'), labels = fx('hyperspectral/labels.npy');
  const cases: [string, string, string, RegExp][] = [
    [cube, fx('hyperspectral/bad/labels_wrong_size.npy'), 'labels_wrong_size.npy', /label map is 4x5 but the cube .* is 5x4/],
    [cube, fx('hyperspectral/bad/labels_negative.npy'), 'labels_negative.npy', /label at \(0, 0\) is -1; labels must be non-negative integers/],
    [cube, fx('hyperspectral/bad/labels_fraction.npy'), 'labels_fraction.npy', /label at \(0, 0\) is 0.5/],
    [cube, fx('hyperspectral/bad/labels_all_zero.npy'), 'labels_all_zero.npy', /has no labelled pixels/],
    [cube, fx('hyperspectral/bad/labels_3d.npy'), 'labels_3d.npy', /label map must be 2-D \[H, W\], got shape \[5, 4, 1\]/],
    [fx('hyperspectral/bad/cube_2d.npy'), labels, 'cube_2d.npy', /a cube must be 3-D \[H, W, bands\], got shape \[20, 6\]/],
    [fx('hyperspectral/bad/cube_nan.npy'), labels, 'cube_nan.npy', /pixel \(2, 1\), band 3 is NaN/],
    [fx('hyperspectral/bad/empty.npy'), labels, 'empty.npy', /file is empty/],
  ];
  for (const [c, l, f, re] of cases) await rejectsNaming(() => readHyperspectral(c, l), HyperspectralFormatError, f, re);
});
