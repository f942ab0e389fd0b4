// Perceiver IO core vs a PyTorch oracle written from the spec (tools/fixtures/perceiver.py): HF-named state dicts
// load strictly (every key, no extras) and the latents, classification logits and Fourier-query decodes (full
// grid and subsampled points) match.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Tensor } from '../src/engine/tensor.js';
import { applyStateDict } from '../src/io/state-dict.js';
import { PerceiverBasicDecoder, PerceiverClassificationDecoder, PerceiverModel, resolvePerceiverConfig } from '../src/encoders/perceiver/model.js';
import { assertClose } from './helpers/gradcheck.js';

interface Sd { [k: string]: { shape: number[]; data: number[] } }
interface Fx {
  config: { B: number; M: number; C: number; N: number; D: number };
  input: number[]; mask: number[];
  a: { state_dict: Sd; fourier_state_dict: Sd; latents: number[]; logits: number[]; fourier_full: number[]; fourier_sub: number[]; fourier_query: number[] };
  b: { state_dict: Sd; latents: number[] };
}
const fx = JSON.parse(readFileSync(new URL('../../test/fixtures/perceiver.json', import.meta.url), 'utf8')) as Fx;
const toMap = (sd: Sd): Map<string, { shape: number[]; data: Float32Array }> => new Map(Object.entries(sd).map(([k, v]) => [k, { shape: v.shape, data: Float32Array.from(v.data) }]));
const { B, M, C, N, D } = fx.config;
const x = new Tensor([B, M, C], 'float32', Float32Array.from(fx.input));
const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>): number => { let m = 0; for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!)); return m; };

test('torch parity (a): masked encoder with shared blocks, classification decoder, Fourier-query decoder (full and subsampled)', async () => {
  const cfg = resolvePerceiverConfig({ numLatents: N, dLatents: D, dModel: C, numBlocks: 2, numSelfAttendsPerBlock: 2, numSelfAttentionHeads: 2, numCrossAttentionHeads: 2, crossAttentionWideningFactor: 2, selfAttentionWideningFactor: 3 });
  const model = new PerceiverModel(cfg, { decoder: new PerceiverClassificationDecoder(cfg, { numLabels: 3 }) }).eval();
  const r = applyStateDict(model, toMap(fx.a.state_dict), { strict: true });
  assert.deepEqual([r.missing, r.unexpected, r.mismatched], [[], [], []]);
  const am = new Tensor([B, M], 'float32', Float32Array.from(fx.mask));
  const out = model.forward(x, { attentionMask: am });
  const z = await out.lastHiddenState.float32();
  assertClose(z, fx.a.latents, 2e-5, 1e-4, 'latents');
  assertClose(await (out.logits as Tensor).float32(), fx.a.logits, 2e-5, 1e-4, 'logits');

  const four = new PerceiverBasicDecoder(cfg, { outputNumChannels: 5, positionEncodingType: 'fourier', outputIndexDims: [3, 4], fourier: { numBands: 2, maxResolution: [3, 4] } }).eval();
  const rf = applyStateDict(four, toMap(fx.a.fourier_state_dict), { strict: true });
  assert.deepEqual([rf.missing, rf.unexpected, rf.mismatched], [[], [], []]);
  assertClose(await four.decoderQuery({ batch: 1 }).float32(), fx.a.fourier_query, 1e-6, 0, 'Fourier queries');
  const full = await four.forward(four.decoderQuery({ batch: B }), out.lastHiddenState).float32();
  const sub = await four.forward(four.decoderQuery({ batch: B, subsampledPoints: [0, 5, 11] }), out.lastHiddenState).float32();
  assertClose(full, fx.a.fourier_full, 2e-5, 1e-4, 'Fourier decode, full grid');
  assertClose(sub, fx.a.fourier_sub, 2e-5, 1e-4, 'Fourier decode, subsampled');
  console.log(`perceiver torch parity max-abs: latents ${maxAbs(z, fx.a.latents).toExponential(2)}, full ${maxAbs(full, fx.a.fourier_full).toExponential(2)}, sub ${maxAbs(sub, fx.a.fourier_sub).toExponential(2)}`);
  // the same with the project's padding mask convention
  const pm = new Tensor([B, M], 'bool', Uint8Array.from(fx.mask, (v) => (v ? 0 : 1)));
  assertClose(await model.encode(x, { paddingMask: pm }).float32(), fx.a.latents, 2e-5, 1e-4, 'latents (paddingMask)');
});

test('torch parity (b): explicit qk_channels 4 / v_channels 8 with 2 heads', async () => {
  const cfg = resolvePerceiverConfig({ numLatents: N, dLatents: D, dModel: C, numBlocks: 1, numSelfAttendsPerBlock: 1, numSelfAttentionHeads: 2, numCrossAttentionHeads: 2, qkChannels: 4, vChannels: 8 });
  const model = new PerceiverModel(cfg).eval();
  const r = applyStateDict(model, toMap(fx.b.state_dict), { strict: true });
  assert.deepEqual([r.missing, r.unexpected, r.mismatched], [[], [], []]);
  assert.deepEqual([...model.encoder.cross_attention.attention.self.key.weight.shape], [4, C]);
  assertClose(await model.encode(x).float32(), fx.b.latents, 2e-5, 1e-4, 'latents');
});
