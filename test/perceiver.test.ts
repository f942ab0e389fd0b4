// Perceiver IO core: Fourier position features against hand-computed tables, linear/subsampled position grids,
// HF state-dict names and shapes, channel-default rules, weight sharing, masks, finite-difference gradients,
// and training (a TrainStep + AdamW run that learns a toy task).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdamW, F, Tensor, TrainStep, Variable } from '../src/index.js';
import { Generator } from '../src/engine/functional/random.js';
import {
  FourierPositionEncoding, TrainablePositionEncoding, buildLinearPositions, fourierFeatureSize, fourierGridFeatures, generateFourierFeatures,
  linspaceF32, subsampledPositions,
} from '../src/encoders/perceiver/position.js';
import {
  PerceiverBasicDecoder, PerceiverClassificationDecoder, PerceiverEncoder, PerceiverModel, PerceiverMultimodalDecoder, inputMaskBias,
  perceiverEncoderParamCount, resolvePerceiverConfig, type PerceiverConfig,
} from '../src/encoders/perceiver/model.js';
import { assertClose, gradcheck } from './helpers/gradcheck.js';

const S = Math.SQRT1_2;

test('Fourier features: hand-computed 1-D table [pos, sin(π·pos·f), cos(π·pos·f)], f = linspace(1, R/2, K)', () => {
  // 5 positions linspace(-1, 1) = -1, -0.5, 0, 0.5, 1; K = 3 bands, R = 8 -> f = 1, 2.5, 4.
  const t = fourierGridFeatures([5], { numBands: 3, maxResolution: [8] });
  assert.equal(t.length, 5 * 7);
  const expected = [
    //  pos   sin f=1  sin 2.5  sin 4   cos 1  cos 2.5  cos 4
    [-1, 0, -1, 0, -1, 0, 1],
    [-0.5, -1, S, 0, 0, -S, 1],
    [0, 0, 0, 0, 1, 1, 1],
    [0.5, 1, -S, 0, 0, -S, 1],
    [1, 0, 1, 0, -1, 0, 1],
  ].flat();
  assertClose(t, expected, 2e-6, 0, '1-D table');
  // sine_only drops the cosines, concat_pos false drops the positions
  assertClose(fourierGridFeatures([5], { numBands: 3, maxResolution: [8], sineOnly: true }), [[-1, 0, -1, 0], [-0.5, -1, S, 0], [0, 0, 0, 0], [0.5, 1, -S, 0], [1, 0, 1, 0]].flat(), 2e-6, 0, 'sine only');
  assertClose(fourierGridFeatures([5], { numBands: 3, maxResolution: [8], concatPos: false, sineOnly: true }), [[0, -1, 0], [-1, S, 0], [0, 0, 0], [1, -S, 0], [0, 1, 0]].flat(), 2e-6, 0, 'no pos, sine only');
});

test('Fourier features: 2-D grid is row-major (y slowest), per point [y, x, sin(d-major, k-minor), cos(...)]', () => {
  // index dims [2, 3]: y in {-1, 1}, x in {-1, 0, 1}; K = 2; R = (2, 6) -> f_y = [1, 1], f_x = [1, 3].
  const t = fourierGridFeatures([2, 3], { numBands: 2, maxResolution: [2, 6] });
  assert.equal(fourierFeatureSize(2, { numBands: 2 }), 2 + 2 * 2 * 2);
  const row = (y: number, x: number): number[] => {
    const args = [y * 1, y * 1, x * 1, x * 3].map((a) => Math.PI * a);
    return [y, x, ...args.map(Math.sin), ...args.map(Math.cos)];
  };
  // hand-evaluated: (y=-1, x=0) -> [-1, 0, sin(-π)=0, 0, 0, 0, cos(-π)=-1, -1, 1, 1]
  assertClose(t.subarray(10, 20), [-1, 0, 0, 0, 0, 0, -1, -1, 1, 1], 2e-6, 0, 'point (y=-1, x=0)');
  const expected = [row(-1, -1), row(-1, 0), row(-1, 1), row(1, -1), row(1, 0), row(1, 1)].flat();
  assertClose(t, expected, 2e-6, 0, '2-D table');
  // max_resolution defaults to the index dims
  assertClose(fourierGridFeatures([4], { numBands: 2 }), fourierGridFeatures([4], { numBands: 2, maxResolution: [4] }), 0, 0, 'default R');
});

test('Fourier feature sizes of the released models: 258 (ImageNet/flow 2-D, 64 bands), 195 (video 3-D, 32), 385 (audio 1-D, 192)', () => {
  assert.equal(fourierFeatureSize(2, { numBands: 64 }), 258);
  assert.equal(fourierFeatureSize(3, { numBands: 32 }), 195);
  assert.equal(fourierFeatureSize(1, { numBands: 192 }), 385);
  assert.equal(fourierFeatureSize(2, { numBands: 64, sineOnly: true, concatPos: false }), 128);
  const pe = new FourierPositionEncoding({ numBands: 64, maxResolution: [224, 224] });
  assert.equal(pe.outputSize(), 258);
  const t = pe.forward([4, 5], 3);
  assert.deepEqual([...t.shape], [3, 20, 258]);
  // highest frequency is Nyquist R/2 = 112 at band 63; lowest 1
  const f = linspaceF32(1, 112, 64);
  assert.equal(f[0], 1);
  assert.equal(f[63], 112);
});

test('position grids: linspace(-1, 1) with both endpoints (n = 1 gives -1); subsampled points use -1 + 2i/n', () => {
  assert.deepEqual([...linspaceF32(-1, 1, 5)], [-1, -0.5, 0, 0.5, 1]);
  assert.deepEqual([...linspaceF32(-1, 1, 1)], [-1]);
  assert.deepEqual([...buildLinearPositions([2, 3])], [-1, -1, -1, 0, -1, 1, 1, -1, 1, 0, 1, 1]);
  // dims [2, 4]: point 5 = (1, 1) -> (0, -0.5); point 7 = (1, 3) -> (0, 0.5), NOT the grid's x = 1
  assert.deepEqual([...subsampledPositions([0, 5, 7], [2, 4])], [-1, -1, 0, -0.5, 0, 0.5]);
  assert.throws(() => subsampledPositions([8], [2, 4]), /point 8 .* outside the 8 positions/);
  // explicit positions through the encoding module
  const pe = new FourierPositionEncoding({ numBands: 3, maxResolution: [8] });
  const pos = subsampledPositions([1, 3], [4]); // -0.5, 0.5
  assertClose(generateFourierFeatures(pos, 1, { numBands: 3, maxResolution: [8] }), [[-0.5, -1, S, 0, 0, -S, 1], [0.5, 1, -S, 0, 0, -S, 1]].flat(), 2e-6, 0, 'subsampled features');
  assert.deepEqual([...pe.forward([4], 2, pos).shape], [2, 2, 7]);
  const tp = new TrainablePositionEncoding([2, 3], 5);
  assert.deepEqual([...tp.position_embeddings.shape], [6, 5]);
  assert.deepEqual([...tp.forward(4).shape], [4, 6, 5]);
});

const tiny = (o: Partial<PerceiverConfig> = {}): PerceiverConfig => resolvePerceiverConfig({
  numLatents: 4, dLatents: 8, dModel: 6, numBlocks: 2, numSelfAttendsPerBlock: 2, numSelfAttentionHeads: 2, numCrossAttentionHeads: 1, ...o,
});

test("HF state-dict names and shapes (language-perceiver channel layout, scaled down): qk 16, v = D, decoder qk 16 / v = query width", () => {
  // language-perceiver layout: N=256 D=1280 C=768 qk=256 v=1280, 8/8 heads; here N=4 D=20 C=12 qk=16 v=20, heads 4/4.
  const cfg = resolvePerceiverConfig({ numLatents: 4, dLatents: 20, dModel: 12, numBlocks: 1, numSelfAttendsPerBlock: 2, numSelfAttentionHeads: 4, numCrossAttentionHeads: 4, qkChannels: 16, vChannels: 20 });
  const dec = new PerceiverBasicDecoder(cfg, { outputNumChannels: 20, positionEncodingType: 'trainable', outputIndexDims: 10, numChannels: 12, qkChannels: 16, vChannels: 12, numHeads: 4, useQueryResidual: false, finalProject: false });
  const model = new PerceiverModel(cfg, { decoder: dec });
  const shapes = Object.fromEntries([...model.stateDict()].map(([k, v]) => [k, v.shape.join('x')]));
  const layer = (p: string, q: number, kv: number, qk: number, v: number, cross: boolean): Record<string, string> => ({
    [`${p}.attention.self.layernorm1.weight`]: `${q}`, [`${p}.attention.self.layernorm1.bias`]: `${q}`,
    ...(cross ? { [`${p}.attention.self.layernorm2.weight`]: `${kv}`, [`${p}.attention.self.layernorm2.bias`]: `${kv}` } : {}),
    [`${p}.attention.self.query.weight`]: `${qk}x${q}`, [`${p}.attention.self.query.bias`]: `${qk}`,
    [`${p}.attention.self.key.weight`]: `${qk}x${kv}`, [`${p}.attention.self.key.bias`]: `${qk}`,
    [`${p}.attention.self.value.weight`]: `${v}x${kv}`, [`${p}.attention.self.value.bias`]: `${v}`,
    [`${p}.attention.output.dense.weight`]: `${q}x${v}`, [`${p}.attention.output.dense.bias`]: `${q}`,
    [`${p}.layernorm.weight`]: `${q}`, [`${p}.layernorm.bias`]: `${q}`,
    [`${p}.mlp.dense1.weight`]: `${q}x${q}`, [`${p}.mlp.dense1.bias`]: `${q}`, [`${p}.mlp.dense2.weight`]: `${q}x${q}`, [`${p}.mlp.dense2.bias`]: `${q}`,
  });
  const expected = {
    'embeddings.latents': '4x20',
    ...layer('encoder.cross_attention', 20, 12, 16, 20, true),
    ...layer('encoder.self_attends.0', 20, 20, 16, 20, false),
    ...layer('encoder.self_attends.1', 20, 20, 16, 20, false),
    'decoder.output_position_encodings.position_embeddings': '10x12',
    ...layer('decoder.decoding_cross_attention', 12, 20, 16, 12, true),
  };
  assert.deepEqual(Object.keys(shapes).sort(), Object.keys(expected).sort());
  assert.deepEqual(shapes, expected);
  assert.equal(perceiverEncoderParamCount(cfg) + dec.numParams(), model.numParams());
  // eps 1e-5 everywhere
  for (const [n, m] of model.namedModules()) if ('eps' in m && n.endsWith('layernorm')) assert.equal((m as unknown as { eps: number }).eps, 1e-5, n);
});

test('language-perceiver size: ~201M parameters (26 self layers, N=256, D=1280, qk 256, v 1280; decoder [2048, 768])', () => {
  const cfg = { qkChannels: 256, vChannels: 1280 };
  const enc = perceiverEncoderParamCount(cfg); // PERCEIVER_DEFAULTS are the language model
  const c = resolvePerceiverConfig(cfg);
  const dec = new PerceiverBasicDecoder(c, { outputNumChannels: 1280, positionEncodingType: 'trainable', outputIndexDims: 2048, numChannels: 768, qkChannels: 256, vChannels: 768, numHeads: 8, useQueryResidual: false, finalProject: false });
  const embeds = 262 * 768 + 2048 * 768 + 262; // byte embedding, input positions, embedding-decoder bias
  const total = enc + dec.numParams() + embeds;
  assert.ok(Math.abs(total - 200.9e6) / 200.9e6 < 0.005, `total ${total}`);
  assert.equal(dec.numParams(), 2048 * 768 + (2 * 768 + 2 * 1280) + (256 * 768 + 256) + (256 * 1280 + 256) + (768 * 1280 + 768) + (768 * 768 + 768) + 2 * 768 + 2 * (768 * 768 + 768));
});

test('channel defaults: cross qk = Ckv (shape_for_attn kv) or Cq (q), v = qk, output = Cq; self output = v', () => {
  const kv = new PerceiverEncoder(tiny(), 6);
  assert.deepEqual([...kv.cross_attention.attention.self.query.weight.shape], [6, 8]);
  assert.deepEqual([...kv.cross_attention.attention.self.value.weight.shape], [6, 6]);
  assert.deepEqual([...kv.cross_attention.attention.output.dense.weight.shape], [8, 6]);
  assert.deepEqual([...kv.self_attends[0]!.attention.self.key.weight.shape], [8, 8]);
  const q = new PerceiverEncoder(tiny({ crossAttentionShapeForAttention: 'q' }), 6);
  assert.deepEqual([...q.cross_attention.attention.self.key.weight.shape], [8, 6]);
  assert.deepEqual([...q.cross_attention.attention.self.value.weight.shape], [8, 6]);
  // widening factors apply to the MLP over the query width
  const w = new PerceiverEncoder(tiny({ crossAttentionWideningFactor: 2, selfAttentionWideningFactor: 4 }), 6);
  assert.deepEqual([...w.cross_attention.mlp.dense1.weight.shape], [16, 8]);
  assert.deepEqual([...w.self_attends[1]!.mlp.dense1.weight.shape], [32, 8]);
  assert.throws(() => resolvePerceiverConfig({ dLatents: 10, numSelfAttentionHeads: 4 }), /dLatents \(10\) must be divisible by numSelfAttentionHeads \(4\)/);
  assert.throws(() => new PerceiverEncoder(tiny({ vChannels: 4 }), 6), /needs v_channels \(4\) = the query width \(8\)/);
  assert.throws(() => new PerceiverEncoder(tiny({ qkChannels: 5 }), 6), /qk_channels \(5\) must be divisible by num_heads \(2\)/);
});

test('weight sharing: 8 blocks x 6 layers = 48 applications of 6 layers; the encoder equals applying the block numBlocks times', async () => {
  assert.equal(new PerceiverEncoder(tiny({ numBlocks: 8, numSelfAttendsPerBlock: 6 }), 6).numSelfAttentionApplications, 48);
  const g = new Generator(3);
  const model = new PerceiverModel(tiny({ numBlocks: 3 }), { generator: g });
  const x = new Tensor([2, 7, 6], 'float32', g.normalData(2 * 7 * 6, 0, 1));
  const got = await model.encode(x).float32();
  let z = model.encoder.cross_attention.forward(model.embeddings.forward(2), x);
  for (let r = 0; r < 3; r++) for (const l of model.encoder.self_attends) z = l.forward(z);
  assertClose(got, await z.float32(), 0, 0, 'shared block x3');
  // numBlocks 1 gives a different output (the block really is repeated)
  let z1 = model.encoder.cross_attention.forward(model.embeddings.forward(2), x);
  for (const l of model.encoder.self_attends) z1 = l.forward(z1);
  const d1 = await z1.float32();
  assert.ok(d1.some((v, i) => Math.abs(v - got[i]!) > 1e-4));
});

test('input padding mask: padded inputs do not change the latents; HF attention_mask (1 = keep) is equivalent', async () => {
  const g = new Generator(5);
  const model = new PerceiverModel(tiny(), { generator: g });
  for (const p of model.parameters()) if (p.rank === 2) p.assignSync(Float32Array.from(p.value as Float32Array, (v) => v * 10));
  const real = g.normalData(5 * 6, 0, 1);
  const padded = new Float32Array(8 * 6);
  padded.set(real);
  padded.set(g.normalData(3 * 6, 3, 2), 5 * 6); // garbage in the padding
  const ref = await model.encode(new Tensor([1, 5, 6], 'float32', real)).float32();
  const mask = new Tensor([1, 8], 'bool', Uint8Array.from([0, 0, 0, 0, 0, 1, 1, 1]));
  const x = new Tensor([1, 8, 6], 'float32', padded);
  assertClose(await model.encode(x, { paddingMask: mask }).float32(), ref, 1e-5, 1e-5, 'paddingMask');
  const am = new Tensor([1, 8], 'float32', Float32Array.from([1, 1, 1, 1, 1, 0, 0, 0]));
  assertClose(await model.encode(x, { attentionMask: am }).float32(), ref, 1e-5, 1e-5, 'attentionMask');
  const unmasked = await model.encode(x).float32();
  assert.ok(unmasked.some((v, i) => Math.abs(v - ref[i]!) > 1e-3), 'without the mask the padding leaks in');
  assert.equal(inputMaskBias(1, 8, {}), null);
});

test('decoders: classification [B, classes]; basic with Fourier queries and subsampling; multimodal padding in sorted order', async () => {
  const g = new Generator(7);
  const cfg = tiny();
  const cls = new PerceiverClassificationDecoder(cfg, { numLabels: 3, generator: g });
  const model = new PerceiverModel(cfg, { decoder: cls, generator: g });
  assert.deepEqual(Object.keys(Object.fromEntries(model.stateDict())).filter((k) => k.startsWith('decoder.')).slice(0, 2), ['decoder.decoder.output_position_encodings.position_embeddings', 'decoder.decoder.decoding_cross_attention.attention.self.layernorm1.weight']);
  assert.ok(model.stateDict().has('decoder.decoder.final_layer.weight'));
  const x = new Tensor([2, 9, 6], 'float32', g.normalData(2 * 9 * 6, 0, 1));
  const out = model.forward(x);
  assert.deepEqual([...(out.logits as Tensor).shape], [2, 3]);
  assert.deepEqual([...out.lastHiddenState.shape], [2, 4, 8]);

  // Fourier queries over a 4x4 grid (2-D, 3 bands -> 14 ch), subsampled points decode only those positions.
  const four = new PerceiverBasicDecoder(cfg, { outputNumChannels: 2, positionEncodingType: 'fourier', outputIndexDims: [4, 4], fourier: { numBands: 3 }, generator: g });
  assert.equal(four.numChannels, 14);
  const z = model.encode(x);
  const full = await four.forward(four.decoderQuery({ batch: 2 }), z).float32();
  assert.equal(full.length, 2 * 16 * 2);
  const sub = four.forward(four.decoderQuery({ batch: 2, subsampledPoints: [0, 5] }), z);
  assert.deepEqual([...sub.shape], [2, 2, 2]);
  // point 0 is (-1, -1) on both conventions, so its output matches the full-grid decode
  const s = await sub.float32();
  assertClose([s[0]!, s[1]!], [full[0]!, full[1]!], 1e-5, 1e-5, 'point 0');
  const proj = new PerceiverBasicDecoder(cfg, { outputNumChannels: 2, positionEncodingType: 'fourier', outputIndexDims: [4, 4], fourier: { numBands: 3 }, projectPosDim: 5, generator: g });
  assert.deepEqual([...proj.positions_projection!.stateDict().get('weight')!.shape], [5, 14]);
  assert.equal(proj.numChannels, 5);

  // multimodal: audio (1-D Fourier, 3 bands -> 7 ch), label (trainable 1 x 9): common width 9 + 2 = 11
  const mm = new PerceiverMultimodalDecoder(cfg, {
    modalities: {
      label: new PerceiverClassificationDecoder(cfg, { numLabels: 3, positionEncodingOnly: true, trainableChannels: 9, useQueryResidual: false, generator: g }),
      audio: new PerceiverBasicDecoder(cfg, { outputNumChannels: 4, positionEncodingType: 'fourier', outputIndexDims: [6], fourier: { numBands: 3 }, positionEncodingOnly: true, generator: g }),
    },
    outputNumChannels: 5, generator: g,
  });
  assert.equal(mm.numQueryChannels, 11);
  const keys = [...mm.stateDict()].map(([k, v]) => `${k}:${v.shape.join('x')}`);
  for (const k of ['padding.audio:1x4', 'padding.label:1x2', 'modalities.label.decoder.output_position_encodings.position_embeddings:1x9', 'decoder.final_layer.weight:5x11', 'decoder.decoding_cross_attention.attention.self.query.weight:8x11']) assert.ok(keys.includes(k), `${k} in ${keys.join(', ')}`);
  const q = mm.decoderQuery({ batch: 2 });
  assert.deepEqual([...q.shape], [2, 7, 11]); // 6 audio + 1 label, audio first (sorted)
  const qv = await q.float32();
  const pad = mm.padding.get('audio').value as Float32Array;
  assertClose(qv.subarray(7, 11), pad, 0, 0, 'audio row 0 padding');
  const lab = mm.padding.get('label').value as Float32Array;
  assertClose(qv.subarray(6 * 11 + 9, 7 * 11), lab, 0, 0, 'label row padding');
  assert.deepEqual([...mm.forward(q, z).shape], [2, 7, 5]);
  const qs = mm.decoderQuery({ batch: 2, subsampledPoints: { audio: [1, 2] } });
  assert.deepEqual([...qs.shape], [2, 3, 11]);
});

test('gradients match finite differences (inputs, latents) through cross-attention, shared self-attention and a decoder', async () => {
  const g = new Generator(11);
  const cfg = tiny({ numBlocks: 2, numSelfAttendsPerBlock: 1 });
  const model = new PerceiverModel(cfg, { decoder: new PerceiverClassificationDecoder(cfg, { numLabels: 3, generator: g }), generator: g });
  // larger-than-init weights so the check is not dominated by near-zero attention logits
  for (const p of model.parameters()) if (p.rank === 2) p.assignSync(Float32Array.from(p.value as Float32Array, (v) => v * 10));
  const mask = new Tensor([2, 5], 'bool', Uint8Array.from([0, 0, 0, 0, 1, 0, 0, 0, 0, 0]));
  const dec = model.decoder as PerceiverClassificationDecoder;
  const f = (x: Tensor, lat: Tensor): Tensor => {
    const z = model.encoder.forward(lat.unsqueeze(0).expand([2, 4, 8]), x, inputMaskBias(2, 5, { paddingMask: mask }));
    return dec.forward(dec.decoderQuery({ batch: 2 }), z);
  };
  await gradcheck('perceiver', f, [{ shape: [2, 5, 6] }, { shape: [4, 8] }], { eps: 1e-2, rtol: 1e-2, atol: 1e-3, directions: 2 });
});

test('training: TrainStep + AdamW learns a toy task (which input token carries the signal) to > 90% train accuracy', async () => {
  const g = new Generator(13);
  const cfg = tiny({ numLatents: 4, dLatents: 16, dModel: 6, numBlocks: 1, numSelfAttendsPerBlock: 1, numCrossAttentionHeads: 1, numSelfAttentionHeads: 2 });
  const model = new PerceiverModel(cfg, { decoder: new PerceiverClassificationDecoder(cfg, { numLabels: 2, generator: g }), generator: g });
  const B = 32, M = 6;
  const data = g.normalData(B * M * 6, 0, 1);
  const labels = new BigInt64Array(B);
  for (let b = 0; b < B; b++) {
    // class = sign of the mean of channel 0 over the tokens, made clear-cut
    const y = b % 2;
    labels[b] = BigInt(y);
    for (let t = 0; t < M; t++) data[(b * M + t) * 6] = (y ? 1 : -1) * (0.5 + Math.abs(data[(b * M + t) * 6]!));
  }
  const x = new Tensor([B, M, 6], 'float32', data);
  const y = new Tensor([B], 'int64', labels);
  const opt = new AdamW(model.parameters(), { lr: 3e-3, weightDecay: 0 });
  const step = new TrainStep(model, () => F.crossEntropy(model.forward(x).logits as Tensor, y), opt);
  const first = (await step.step(null)).loss;
  let last = first;
  for (let i = 0; i < 40; i++) last = (await step.step(null)).loss;
  assert.ok(last < first * 0.3, `loss ${first} -> ${last}`);
  const pred = await (model.forward(x).logits as Tensor).argmax(-1).toArray();
  const acc = pred.filter((p, i) => p === Number(labels[i])).length / B;
  assert.ok(acc > 0.9, `accuracy ${acc}`);
  assert.ok(model.parameters().every((p) => p instanceof Variable));
});

test('README / docs example: PerceiverModel with a classification decoder', async () => {
  const { PerceiverModel: PM, PerceiverClassificationDecoder: PCD, resolvePerceiverConfig: rpc, Tensor: T } = await import('../src/index.js');
  const config = rpc({ numLatents: 32, dLatents: 64, dModel: 16, numBlocks: 2, numSelfAttendsPerBlock: 2,
    numSelfAttentionHeads: 4, numCrossAttentionHeads: 1 });
  const model = new PM(config, { decoder: new PCD(config, { numLabels: 10 }) });
  const { logits, lastHiddenState } = model.forward(new T([2, 500, 16], 'float32', new Float32Array(2 * 500 * 16)));
  assert.deepEqual([...(logits as Tensor).shape], [2, 10]);
  assert.deepEqual([...lastHiddenState.shape], [2, 32, 64]);
  assert.equal((await (logits as Tensor).float32()).length, 20);
  assert.ok(model.stateDict().has('embeddings.latents'));
});

test('flow decoder (queries = inputs, /100, [B, H, W, 2]) and video-autoencoding decoder ([B, T, H, W, C]; as a multimodal modality)', async () => {
  const { PerceiverOpticalFlowDecoder, PerceiverBasicVideoAutoencodingDecoder } = await import('../src/encoders/perceiver/model.js');
  const g = new Generator(17);
  const cfg = tiny();
  const flow = new PerceiverOpticalFlowDecoder(cfg, { outputImageShape: [2, 3], numChannels: 6, generator: g });
  const model = new PerceiverModel(cfg, { decoder: flow, generator: g });
  assert.ok(model.stateDict().has('decoder.decoder.final_layer.weight'));
  assert.deepEqual([...model.stateDict().get('decoder.decoder.final_layer.weight')!.shape], [2, 6]);
  const x = new Tensor([2, 6, 6], 'float32', g.normalData(72, 0, 1));
  const out = model.forward(x).logits as Tensor;
  assert.deepEqual([...out.shape], [2, 2, 3, 2]);
  // = the inner decoder's output / 100 with the inputs as queries
  const ref = await flow.decoder.forward(x, model.encode(x)).float32();
  assertClose(await out.float32(), ref.map((v) => v / 100), 1e-7, 1e-5, 'flow /100');

  const video = new PerceiverBasicVideoAutoencodingDecoder(cfg, { outputShape: [2, 2, 3, 4], outputNumChannels: 3, positionEncodingType: 'fourier', fourier: { numBands: 2 }, generator: g });
  const z = model.encode(x);
  assert.deepEqual([...video.forward(video.decoderQuery({ batch: 2 }), z).shape], [2, 2, 3, 4, 3]);
  const mm = new PerceiverMultimodalDecoder(cfg, {
    modalities: { image: new PerceiverBasicVideoAutoencodingDecoder(cfg, { outputShape: [2, 2, 3, 4], outputNumChannels: 3, positionEncodingType: 'fourier', fourier: { numBands: 2 }, positionEncodingOnly: true, generator: g }) },
    outputNumChannels: 4, generator: g,
  });
  assert.equal(mm.numQueryChannels, 3 + 3 * 2 * 2 + 2); // 3-D Fourier (15) + min padding 2
  assert.deepEqual([...mm.decoderQuery({ batch: 2, subsampledPoints: { image: [0, 7, 23] } }).shape], [2, 3, 17]);
});
