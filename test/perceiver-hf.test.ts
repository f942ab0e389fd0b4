// Perceiver IO with Hugging Face checkpoints and pre/post-processors: the four HF task models (language MLM,
// vision learned / fourier / conv) loaded from hub-style folders (config.json + model.safetensors) written by
// tools/fixtures/perceiver_hf.py, with logits and encoder latents compared to the PyTorch reference; the bytes
// tokenizer; the video / audio / one-hot / multimodal preprocessors, strided pixels and both conv geometries
// against torch; postprocessors; and the loader's key reports and errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tensor, StateDictError, readSafetensorsSync, writeSafetensors } from '../src/index.js';
import type { StoredTensor } from '../src/io/safetensors.js';
import { writeTorchCheckpoint } from '../src/io/torch-save.js';
import {
  HF_PERCEIVER_ARCHITECTURES, PerceiverForImageClassification, PerceiverForMaskedLM, buildHfPerceiver, hfNumLabels, loadHfPerceiver,
  perceiverConfigFromHf, type HfPerceiverConfigJson,
} from '../src/encoders/perceiver/hf.js';
import {
  Conv2DDownsample, PERCEIVER_SPECIAL_TOKENS, PERCEIVER_VOCAB_SIZE, PerceiverAudioPostprocessor, PerceiverAudioPreprocessor,
  PerceiverBytesTokenizer, PerceiverClassificationPostprocessor, PerceiverImagePreprocessor, PerceiverMultimodalPostprocessor,
  PerceiverMultimodalPreprocessor, PerceiverOneHotPreprocessor, PerceiverProjectionPostprocessor, depthToSpace, restructure, spaceToDepth,
} from '../src/encoders/perceiver/processors.js';

const FX = fileURLToPath(new URL('../../test/fixtures/perceiver/', import.meta.url));
const MODELS = ['language-perceiver', 'vision-perceiver-learned', 'vision-perceiver-fourier', 'vision-perceiver-conv'] as const;

function io(name: string): Map<string, StoredTensor> { return readSafetensorsSync(join(FX, name, 'io.safetensors')).tensors; }
function extra(name: string): { fourier?: { num_bands: number; max_resolution: number[] } } { return JSON.parse(readFileSync(join(FX, name, 'extra.json'), 'utf8')); }
function tensorOf(t: StoredTensor): Tensor { return new Tensor(t.shape, t.data instanceof Float32Array ? 'float32' : 'int64', t.data); }
function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'lengths');
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

const measured: Record<string, { logits: number; latents: number }> = {};

for (const name of MODELS) {
  test(`${name}: HF checkpoint folder loads strictly and matches torch (logits, latents) within 1e-4`, async () => {
    const ex = extra(name);
    const r = await loadHfPerceiver(join(FX, name), ex.fourier ? { maxResolution: ex.fourier.max_resolution } : {});
    assert.deepEqual([r.missing, r.unexpected, r.mismatched], [[], [], []]);
    const json = JSON.parse(readFileSync(join(FX, name, 'config.json'), 'utf8')) as HfPerceiverConfigJson;
    assert.equal(r.architecture, json.architectures![0]);
    assert.equal(r.model.training, false, 'loaded in eval mode');
    const sd = readSafetensorsSync(join(FX, name, 'model.safetensors')).tensors;
    assert.deepEqual([...r.model.stateDict().keys()].sort(), [...sd.keys()].sort(), 'the module tree has exactly the HF key set');
    const ref = io(name);
    let logits: Tensor, latents: Tensor;
    if (r.model instanceof PerceiverForMaskedLM) {
      const out = r.model.forward(tensorOf(ref.get('inputs')!), { attentionMask: tensorOf(ref.get('attention_mask')!) });
      ({ logits, lastHiddenState: latents } = out);
      assert.deepEqual(logits.shape, [2, json.max_position_embeddings, PERCEIVER_VOCAB_SIZE]);
    } else {
      const out = r.model.forward(tensorOf(ref.get('inputs')!));
      ({ logits, lastHiddenState: latents } = out);
      assert.deepEqual(logits.shape, [2, hfNumLabels(json)]);
    }
    const el = maxAbs(await logits.float32(), ref.get('logits')!.data as Float32Array);
    const ez = maxAbs(await latents.float32(), ref.get('latents')!.data as Float32Array);
    measured[name] = { logits: el, latents: ez };
    console.log(`${name}: max-abs logits ${el.toExponential(2)}, latents ${ez.toExponential(2)}`);
    assert.ok(el <= 1e-4, `logits max-abs ${el}`);
    assert.ok(ez <= 1e-4, `latents max-abs ${ez}`);
    // The reference logits are far from trivial, so the tolerance is meaningful.
    const refMax = Math.max(...Array.from(ref.get('logits')!.data as Float32Array, Math.abs));
    assert.ok(refMax > 1, `reference logits span ${refMax}`);
  });
}

test('HF sizes are read from the checkpoint (learned width, conv width, Fourier bands) and HF defaults otherwise', () => {
  const json = (n: string): HfPerceiverConfigJson => JSON.parse(readFileSync(join(FX, n, 'config.json'), 'utf8'));
  const learned = buildHfPerceiver('PerceiverForImageClassificationLearned', json('vision-perceiver-learned'),
    readSafetensorsSync(join(FX, 'vision-perceiver-learned', 'model.safetensors')).tensors) as PerceiverForImageClassification;
  const pre = learned.perceiver.input_preprocessor as PerceiverImagePreprocessor;
  assert.deepEqual([pre.outChannels, pre.numChannels], [16, 32]);
  const conv = buildHfPerceiver('PerceiverForImageClassificationConvProcessing', json('vision-perceiver-conv'),
    readSafetensorsSync(join(FX, 'vision-perceiver-conv', 'model.safetensors')).tensors, { maxResolution: [8, 8] }) as PerceiverForImageClassification;
  assert.equal((conv.perceiver.input_preprocessor as PerceiverImagePreprocessor).numChannels, 16 + 2 + 4 * 6);
  // Without weights: HF's hard-coded sizes (conv 64 + 2-D FF with 64 bands = 322; learned 256 + 256 = 512).
  const cfg = { ...json('vision-perceiver-conv'), d_latents: 32, num_latents: 4 };
  const bare = buildHfPerceiver('PerceiverForImageClassificationConvProcessing', cfg) as PerceiverForImageClassification;
  assert.equal((bare.perceiver.input_preprocessor as PerceiverImagePreprocessor).numChannels, 322);
  const bareL = buildHfPerceiver('PerceiverForImageClassificationLearned', { ...cfg, image_size: 8 }) as PerceiverForImageClassification;
  assert.equal((bareL.perceiver.input_preprocessor as PerceiverImagePreprocessor).numChannels, 512);
  const bareF = buildHfPerceiver('PerceiverForImageClassificationFourier', cfg) as PerceiverForImageClassification;
  assert.equal((bareF.perceiver.input_preprocessor as PerceiverImagePreprocessor).numChannels, 261);
  // config.json mapping: layer_norm_eps is ignored (1e-5, as HF), labels from id2label.
  const c = perceiverConfigFromHf(json('language-perceiver'));
  assert.deepEqual([c.layerNormEps, c.hiddenAct, c.qkChannels, c.vChannels, c.dModel, c.maxPositionEmbeddings], [1e-5, 'gelu', 16, 48, 32, 32]);
  assert.equal(hfNumLabels(json('vision-perceiver-conv')), 10);
  assert.equal(hfNumLabels({ num_labels: 7 }), 7);
  assert.deepEqual([...HF_PERCEIVER_ARCHITECTURES], ['PerceiverForMaskedLM', 'PerceiverForImageClassificationLearned', 'PerceiverForImageClassificationFourier', 'PerceiverForImageClassificationConvProcessing']);
});

test('a hub folder with pytorch_model.bin (pickle weights) loads through the safe reader and matches the safetensors load', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'omni-perceiver-bin-'));
  try {
    const src = join(FX, 'vision-perceiver-learned');
    const sd = readSafetensorsSync(join(src, 'model.safetensors')).tensors;
    await writeTorchCheckpoint(join(dir, 'pytorch_model.bin'), [...sd].map(([k, v]) => [k, { shape: v.shape, data: v.data }] as [string, { shape: number[]; data: StoredTensor['data'] }]));
    writeFileSync(join(dir, 'config.json'), readFileSync(join(src, 'config.json')));
    const a = await loadHfPerceiver(dir), b = await loadHfPerceiver(src);
    assert.deepEqual([a.missing, a.unexpected, a.mismatched], [[], [], []]);
    const x = tensorOf(io('vision-perceiver-learned').get('inputs')!);
    const la = await (a.model as PerceiverForImageClassification).forward(x).logits.float32();
    const lb = await (b.model as PerceiverForImageClassification).forward(x).logits.float32();
    assert.equal(maxAbs(la, lb), 0);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('loader reports missing / unexpected / mis-shaped keys (strict throws and loads nothing; non-strict loads the rest)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'omni-perceiver-'));
  try {
    const src = join(FX, 'vision-perceiver-fourier');
    const sd = readSafetensorsSync(join(src, 'model.safetensors')).tensors;
    const bad = new Map(sd);
    bad.delete('perceiver.embeddings.latents');
    bad.set('perceiver.extra.weight', { shape: [2], data: new Float32Array(2), storedDtype: 'F32' });
    const fl = sd.get('perceiver.decoder.decoder.final_layer.bias')!;
    bad.set('perceiver.decoder.decoder.final_layer.bias', { shape: [fl.shape[0]! + 1], data: new Float32Array(fl.shape[0]! + 1), storedDtype: 'F32' });
    await writeSafetensors(join(dir, 'model.safetensors'), [...bad].map(([k, v]) => [k, { shape: v.shape, data: v.data }]));
    writeFileSync(join(dir, 'config.json'), readFileSync(join(src, 'config.json')));
    const opts = { maxResolution: [24, 24] };
    await assert.rejects(loadHfPerceiver(dir, opts), (e: unknown) => {
      assert.ok(e instanceof StateDictError);
      assert.match(e.message, /1 missing, 1 unexpected, 1 mismatched/);
      assert.match(e.message, /missing keys: perceiver\.embeddings\.latents/);
      assert.match(e.message, /unexpected keys: perceiver\.extra\.weight/);
      assert.match(e.message, /mismatched 'perceiver\.decoder\.decoder\.final_layer\.bias': checkpoint float32 \[11\] vs model float32 \[10\]/);
      return true;
    });
    const r = await loadHfPerceiver(dir, { ...opts, strict: false });
    assert.deepEqual([r.missing, r.unexpected, r.mismatched.map((m) => m.key)], [['perceiver.embeddings.latents'], ['perceiver.extra.weight'], ['perceiver.decoder.decoder.final_layer.bias']]);
    const q = r.model.stateDict().get('perceiver.encoder.cross_attention.attention.self.query.weight')!;
    assert.deepEqual(Array.from(q.value as Float32Array), Array.from(sd.get('perceiver.encoder.cross_attention.attention.self.query.weight')!.data as Float32Array), 'matching keys loaded');
    // A BatchNorm without num_batches_tracked (older torch) loads, as torch's own loader allows.
    const conv = readSafetensorsSync(join(FX, 'vision-perceiver-conv', 'model.safetensors')).tensors;
    conv.delete('perceiver.input_preprocessor.convnet.batchnorm.num_batches_tracked');
    const rc = await loadHfPerceiver({ config: join(FX, 'vision-perceiver-conv', 'config.json'), weights: conv }, { maxResolution: [8, 8] });
    assert.deepEqual([rc.missing, rc.unexpected, rc.mismatched], [[], [], []]);
    // Clear errors: unknown architecture, no weights, bad JSON, Fourier band count that does not fit.
    await assert.rejects(loadHfPerceiver({ config: { architectures: ['PerceiverForOpticalFlow'] }, weights: new Map() }), /architecture 'PerceiverForOpticalFlow' is not supported/);
    await assert.rejects(loadHfPerceiver({ config: {}, weights: new Map() }), /names no architecture/);
    await assert.rejects(loadHfPerceiver(join(dir, 'nope')), /is not a folder/);
    writeFileSync(join(dir, 'config.json'), '{ nope');
    await assert.rejects(loadHfPerceiver(dir), /config\.json' is not valid JSON/);
    const odd = new Map(sd);
    odd.set('perceiver.encoder.cross_attention.attention.self.key.weight', { shape: [30, 30], data: new Float32Array(900), storedDtype: 'F32' });
    await assert.rejects(loadHfPerceiver({ config: JSON.parse(readFileSync(join(src, 'config.json'), 'utf8')), weights: odd }), /cannot read the number of Fourier bands: the encoder's key input width 30/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bytes tokenizer: UTF-8 bytes + 6, [PAD]=0 [BOS]=1 [EOS]=2 [MASK]=3 [CLS]=4 [SEP]=5, vocab 262, HF CLS/SEP wrapping and padding', () => {
  const tok = new PerceiverBytesTokenizer();
  assert.deepEqual(PERCEIVER_SPECIAL_TOKENS, { pad: 0, bos: 1, eos: 2, mask: 3, cls: 4, sep: 5 });
  assert.equal(tok.vocabSize, 262);
  assert.deepEqual(tok.encode('hi'), [4, 104 + 6, 105 + 6, 5]);
  assert.deepEqual(tok.encode('é€😀', { addSpecialTokens: false }), [0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80].map((b) => b + 6));
  assert.deepEqual(tok.encodePair('a', 'b'), [4, 97 + 6, 5, 98 + 6, 5]);
  assert.equal(tok.decode(tok.encode('Grüße, 世界')), '[CLS]Grüße, 世界[SEP]');
  assert.equal(tok.decode(tok.encode('Grüße, 世界'), { skipSpecialTokens: true }), 'Grüße, 世界');
  assert.equal(tok.decode([3, 3, 104 + 6]), '[MASK][MASK]h');
  assert.equal(tok.decode([0xff + 6, 104 + 6]), '\uFFFDh', 'invalid UTF-8 -> U+FFFD');
  assert.equal(tok.decode([0xe2 + 6, 0x82 + 6, 3, 0xac + 6]), '\uFFFD[MASK]\uFFFD', 'a special token splits a multi-byte character');
  assert.throws(() => tok.decode([262]), /outside the vocabulary \[0, 262\)/);
  // The fixture's first text, as HF's tokenizer with padding='max_length' produced it in torch.
  const ref = io('language-perceiver');
  const b = tok.batch(['Perceiver reads bytes: héllo!', 'short [MASK] text'], { padding: 'max_length', maxLength: 32 });
  const ids = Array.from(b.inputIds.value as BigInt64Array, Number);
  const want = Array.from(ref.get('inputs')!.data as BigInt64Array, Number);
  assert.deepEqual(ids.slice(0, 32), want.slice(0, 32));
  assert.deepEqual(ids.slice(32).map((v, i) => (i >= 7 && i < 11 ? 3 : v)), want.slice(32), 'row 2 equals the reference after masking bytes 6..9');
  assert.deepEqual(Array.from(b.attentionMask.value as Float32Array), Array.from(ref.get('attention_mask')!.data as Float32Array));
  assert.deepEqual(b.lengths, [32, 19]);
  const longest = tok.batch(['a', 'abc']);
  assert.deepEqual(longest.inputIds.shape, [2, 5]);
  assert.throws(() => tok.batch(['abcdef'], { maxLength: 4 }), /8 tokens long, more than maxLength 4/);
  assert.deepEqual(Array.from(tok.batch(['abcdef'], { maxLength: 4, truncation: true }).inputIds.value as BigInt64Array, Number), [4, 97 + 6, 98 + 6, 5]);
});

test('preprocessors match torch: video patches + 3-D FF, audio patches + 1-D FF, one-hot, multimodal padding/mask/sorted order', async () => {
  const p = readSafetensorsSync(join(FX, 'processors.safetensors')).tensors;
  const t = (k: string): Tensor => tensorOf(p.get(k)!);
  const image = new PerceiverImagePreprocessor({ prepType: 'patches', spatialDownsample: 4, temporalDownsample: 1, positionEncoding: { type: 'fourier', numBands: 3, maxResolution: [4, 2, 2] } });
  const audio = new PerceiverAudioPreprocessor({ samplesPerPatch: 8, positionEncoding: { type: 'fourier', numBands: 5, maxResolution: [64] } });
  const label = new PerceiverOneHotPreprocessor(5);
  assert.deepEqual([image.numChannels, audio.numChannels, label.numChannels], [69, 19, 5]);
  const vi = image.forward(t('video'));
  assert.ok(maxAbs(await vi.inputs.float32(), p.get('image_only')!.data as Float32Array) < 1e-5, 'video preprocessor');
  assert.deepEqual((vi.inputsWithoutPos as Tensor).shape, [2, 16, 48]);
  const ai = audio.forward(t('audio'));
  assert.ok(maxAbs(await ai.inputs.float32(), p.get('audio_only')!.data as Float32Array) < 1e-5, 'audio preprocessor');
  const mm = new PerceiverMultimodalPreprocessor({ image, audio, label }, { minPaddingSize: 4, maskProbs: { label: 1 } });
  assert.equal(mm.numChannels, 73);
  assert.deepEqual(mm.namedParameters().map(([k, v]) => [k, [...v.shape]]), [['padding.image', [1, 4]], ['padding.audio', [1, 54]], ['padding.label', [1, 68]], ['mask.label', [1, 73]]]);
  for (const k of ['padding.audio', 'padding.image', 'padding.label', 'mask.label']) mm.stateDict().get(k)!.assignSync(Float32Array.from(p.get(k)!.data as Float32Array));
  const out = mm.forward({ image: t('video'), audio: t('audio'), label: t('label') });
  assert.deepEqual(out.modalitySizes, { image: 16, audio: 8, label: 1 });
  assert.deepEqual(out.inputs.shape, [2, 25, 73]);
  assert.ok(maxAbs(await out.inputs.float32(), p.get('multimodal')!.data as Float32Array) < 1e-5, 'multimodal = audio | image | label (sorted), padded, label masked');
  // restructure splits it back in sorted order.
  const parts = restructure(out.modalitySizes!, out.inputs);
  assert.deepEqual(Object.keys(parts), ['audio', 'image', 'label']);
  assert.ok(maxAbs(await parts.image!.float32(), narrowRef(p.get('multimodal')!, 8, 16)) < 1e-5, 'restructure: the image rows 8..23');
  // A mask probability in (0, 1) swaps a random subset of tokens for the mask token.
  const partial = new PerceiverMultimodalPreprocessor({ audio: new PerceiverAudioPreprocessor({ samplesPerPatch: 8, positionEncoding: { type: 'fourier', numBands: 5, maxResolution: [64] } }) }, { maskProbs: { audio: 0.5 } });
  const y = await partial.forward({ audio: t('audio') }).inputs.float32();
  const tok = partial.stateDict().get('mask.audio')!.value as Float32Array;
  let masked = 0;
  for (let i = 0; i < 16; i++) if (Array.from(tok).every((v, c) => y[i * tok.length + c] === v)) masked++;
  assert.ok(masked > 0 && masked < 16, `${masked}/16 tokens masked at p = 0.5`);
});

function narrowRef(t: StoredTensor, start: number, len: number): Float32Array {
  const [B, N, C] = t.shape as [number, number, number];
  const out = new Float32Array(B * len * C);
  const d = t.data as Float32Array;
  for (let b = 0; b < B; b++) out.set(d.subarray((b * N + start) * C, (b * N + start + len) * C), b * len * C);
  return out;
}

test('pixels with a real spatial stride, and the conv front end in HF and TF-SAME geometry, match torch', async () => {
  const p = readSafetensorsSync(join(FX, 'processors.safetensors')).tensors;
  const pix = new PerceiverImagePreprocessor({ prepType: 'pixels', spatialDownsample: 2, positionEncoding: { type: 'fourier', numBands: 4, maxResolution: [10, 10] } });
  const o = pix.forward(tensorOf(p.get('pixels_in')!));
  assert.deepEqual(o.inputs.shape, [2, 25, 3 + 18]);
  assert.ok(maxAbs(await o.inputs.float32(), p.get('pixels_out')!.data as Float32Array) < 1e-5);
  // concat_or_add_pos 'add': conv1x1 features + learned positions, same width.
  const added = new PerceiverImagePreprocessor({ prepType: 'conv1x1', spatialDownsample: 1, outChannels: 4, positionEncoding: { type: 'trainable', indexDims: [3, 3], numChannels: 4 }, concatOrAddPos: 'add' });
  assert.equal(added.numChannels, 4);
  const img = new Tensor([1, 3, 3, 3], 'float32', Float32Array.from({ length: 27 }, (_, i) => Math.cos(i)));
  const ao = added.forward(img);
  const feats = await (ao.inputsWithoutPos as Tensor).float32(), pos = added.position_embeddings.stateDict().get('position_embeddings')!.value as Float32Array;
  assert.ok(maxAbs(await ao.inputs.float32(), feats.map((v, i) => v + pos[i]!)) < 1e-6, "'add' = features + positions");
  // Spectrogram patches: [B, T, F] in (2 x 3) patches, row-major over (T/2, F/3), 2-D positions.
  const spec = new PerceiverAudioPreprocessor({ prepType: 'spectrogram', patchSize: [2, 3], positionEncoding: { type: 'fourier', numBands: 2, maxResolution: [4, 2] } });
  const sx = new Tensor([1, 8, 6], 'float32', Float32Array.from({ length: 48 }, (_, i) => i));
  const so = spec.forward(sx);
  assert.deepEqual([so.inputs.shape, spec.numChannels], [[1, 8, 6 + 10], 16]);
  const sw = await (so.inputsWithoutPos as Tensor).float32();
  assert.deepEqual(Array.from(sw.subarray(6 * 3, 6 * 4)), [15, 16, 17, 21, 22, 23], 'token (1, 1) = frames 2-3, bins 3-5 (x[t, f] = 6t + f)');
  for (const [geom, key, side] of [['hf', 'conv_hf', 3], ['tf-same', 'conv_tf_same', 4]] as const) {
    const ds = new Conv2DDownsample(3, 8, { padding: geom });
    for (const [k, v] of ds.stateDict()) if (p.has(`downsample.${k}`)) v.assignSync(Float32Array.from(p.get(`downsample.${k}`)!.data as Float32Array));
    ds.eval();
    const y = ds.forward(tensorOf(p.get('conv_in')!));
    assert.deepEqual(y.shape, [2, 8, side, side], geom);
    assert.ok(maxAbs(await y.float32(), p.get(key)!.data as Float32Array) < 1e-4, geom);
  }
});

test('space-to-depth round trip, postprocessors (classification, projection, audio, multimodal split)', async () => {
  const x = new Tensor([2, 3, 4, 6], 'float32', Float32Array.from({ length: 144 }, (_, i) => i));
  const s = spaceToDepth(x, 1, 2);
  assert.deepEqual(s.shape, [2, 2, 3, 12]);
  // b, (h dh), (w dw) -> b h w (dh dw c): element [0, 0, 1, (dh=1, dw=0, c=2)] is x[0, 2, 1, 2]
  assert.equal((await s.float32())[1 * 12 + (1 * 2 + 0) * 3 + 2], 2 * 24 + 1 * 6 + 2);
  assert.deepEqual(Array.from(await depthToSpace(s, 1, 2).float32()), Array.from(x.value as Float32Array));
  const v = new Tensor([1, 4, 3, 2, 2], 'float32', Float32Array.from({ length: 48 }, (_, i) => i));
  assert.deepEqual(Array.from(await depthToSpace(spaceToDepth(v, 2, 2), 2, 2).float32()), Array.from(v.value as Float32Array));

  const h = new Tensor([2, 5, 6], 'float32', Float32Array.from({ length: 60 }, (_, i) => Math.sin(i)));
  const cls = new PerceiverClassificationPostprocessor(6, 3);
  const logits = cls.forward(h);
  assert.deepEqual(logits.shape, [2, 3]);
  const W = cls.classifier.weight.value as Float32Array, bb = cls.classifier.bias!.value as Float32Array, hv = h.value as Float32Array;
  const want = [0, 1].flatMap((b) => [0, 1, 2].map((o) => bb[o]! + [0, 1, 2, 3, 4, 5].reduce((a, c) => a + W[o * 6 + c]! * hv[b * 30 + c]!, 0)));
  assert.ok(maxAbs(await logits.float32(), want) < 1e-5, 'classification = Linear at position 0');
  assert.deepEqual(new PerceiverProjectionPostprocessor(6, 4).forward(h).shape, [2, 5, 4]);
  assert.deepEqual(new PerceiverAudioPostprocessor(6, 16).forward(h).shape, [2, 80]);
  const mm = new PerceiverMultimodalPostprocessor({ audio: new PerceiverAudioPostprocessor(6, 4), image: new PerceiverProjectionPostprocessor(6, 3), label: new PerceiverClassificationPostprocessor(6, 7) });
  assert.deepEqual(mm.namedParameters().map(([k]) => k), ['modalities.audio.classifier.weight', 'modalities.audio.classifier.bias', 'modalities.image.classifier.weight', 'modalities.image.classifier.bias', 'modalities.label.classifier.weight', 'modalities.label.classifier.bias']);
  const out = mm.forward(h, { modalitySizes: { label: 1, image: 2, audio: 2 } });
  assert.deepEqual([out.audio!.shape, out.image!.shape, out.label!.shape], [[2, 8], [2, 2, 3], [2, 7]]);
  assert.throws(() => restructure({ a: 2, b: 2 }, h), /has 5 positions, the modality sizes \(a 2, b 2\) add up to 4/);
  assert.throws(() => new PerceiverImagePreprocessor({ prepType: 'conv', spatialDownsample: 2, positionEncoding: { type: 'fourier', numBands: 2, maxResolution: [4, 4] } }), /power-of-4 spatial_downsample/);
  assert.throws(() => new PerceiverImagePreprocessor({ prepType: 'pixels', positionEncoding: { type: 'none' } }), /'fourier' or 'trainable'/);
});
