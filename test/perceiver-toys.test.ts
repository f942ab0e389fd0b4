// Perceiver IO toy trainings, each a full TrainStep + AdamW run on synthetic data:
//  (a) masked byte-level language modelling with the HF PerceiverForMaskedLM tree: the masked-byte loss on
//      held-out windows must end far below the unigram entropy of the corpus bytes (what a context-free
//      predictor gets at best);
//  (b) multimodal autoencoding (video frames + audio + label, the Kinetics setup in miniature): video and audio
//      are reconstructed through the latent bottleneck better than by predicting the training mean, and the
//      label, masked at the input as in the released model, is predicted from video and audio.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdamW, F, Tensor, TrainStep, configure, cosineWithWarmup } from '../src/index.js';
import { Generator } from '../src/engine/functional/random.js';
import { Module } from '../src/nn/module.js';
import { normal_ } from '../src/nn/init.js';
import { PerceiverForMaskedLM } from '../src/encoders/perceiver/hf.js';
import { PerceiverBasicDecoder, PerceiverClassificationDecoder, PerceiverModel, PerceiverMultimodalDecoder, resolvePerceiverConfig } from '../src/encoders/perceiver/model.js';
import {
  PERCEIVER_NUM_SPECIAL_TOKENS, PERCEIVER_SPECIAL_TOKENS, PerceiverAudioPostprocessor, PerceiverAudioPreprocessor, PerceiverBytesTokenizer,
  PerceiverClassificationPostprocessor, PerceiverImagePreprocessor, PerceiverMultimodalPostprocessor, PerceiverMultimodalPreprocessor,
  PerceiverOneHotPreprocessor, PerceiverProjectionPostprocessor, depthToSpace,
} from '../src/encoders/perceiver/processors.js';

// Tiny graphs: one intra-op thread avoids thread hand-offs that cost more than they save (and a loaded CI box).
configure({ threads: 1 });

// ---------------------------------------------------------------- (a) masked byte LM

const SUBJECTS = ['the cat', 'a dog', 'my friend', 'the old man', 'a little bird', 'her sister', 'the farmer'];
const VERBS = ['sees', 'likes', 'chases', 'finds', 'paints', 'follows'];
const OBJECTS = ['the red ball', 'a green tree', 'the river', 'some bread', 'a small house', 'the moon'];
const ENDS = ['.', '!', ' today.', ' again.'];

function corpus(g: Generator, sentences: number): string {
  const pick = <T>(a: readonly T[]): T => a[Math.floor(g.next() * a.length)]!;
  return Array.from({ length: sentences }, () => `${pick(SUBJECTS)} ${pick(VERBS)} ${pick(OBJECTS)}${pick(ENDS)}`).join(' ');
}

interface MlmBatch {
  ids: Tensor;
  /** Original ids at the masked positions, -100 elsewhere. */
  maskedLabels: Tensor;
  /** Original ids everywhere (the HF MLM example's labels). */
  allLabels: Tensor;
  masked: number;
}

/** Random T-byte windows; a fraction `p` of the positions (and at least one per row) become [MASK]. */
function mlmBatch(bytes: number[], g: Generator, batch: number, T: number, p: number): MlmBatch {
  const ids = new BigInt64Array(batch * T), all = new BigInt64Array(batch * T), maskedLabels = new BigInt64Array(batch * T).fill(-100n);
  let masked = 0;
  for (let b = 0; b < batch; b++) {
    const start = Math.floor(g.next() * (bytes.length - T));
    const forced = Math.floor(g.next() * T);
    for (let t = 0; t < T; t++) {
      const id = BigInt(bytes[start + t]!);
      const m = t === forced || g.next() < p;
      ids[b * T + t] = m ? BigInt(PERCEIVER_SPECIAL_TOKENS.mask) : id;
      all[b * T + t] = id;
      if (m) { maskedLabels[b * T + t] = id; masked++; }
    }
  }
  return { ids: new Tensor([batch, T], 'int64', ids), maskedLabels: new Tensor([batch * T], 'int64', maskedLabels), allLabels: new Tensor([batch * T], 'int64', all), masked };
}

test('masked byte LM toy (HF PerceiverForMaskedLM tree): held-out masked-byte loss falls far below the unigram entropy', async () => {
  const t0 = Date.now();
  const g = new Generator(1);
  const tok = new PerceiverBytesTokenizer();
  const train = tok.encode(corpus(g, 400), { addSpecialTokens: false });
  const heldOut = tok.encode(corpus(new Generator(99), 60), { addSpecialTokens: false });
  // Unigram entropy (nats) of the corpus bytes: the masked-byte loss of the best context-free predictor.
  const counts = new Map<number, number>();
  for (const b of train) counts.set(b, (counts.get(b) ?? 0) + 1);
  let entropy = 0;
  for (const c of counts.values()) { const p = c / train.length; entropy -= p * Math.log(p); }

  const T = 8, B = 64, steps = 500, lr = 2e-2;
  const model = new PerceiverForMaskedLM({
    numLatents: 16, dLatents: 64, dModel: 32, numBlocks: 1, numSelfAttendsPerBlock: 2, numSelfAttentionHeads: 4, numCrossAttentionHeads: 4,
    maxPositionEmbeddings: T, attentionProbsDropoutProb: 0, initializerRange: 0.1,
  }, { generator: new Generator(3) });
  // HF's N(0, 0.02) tables leave the latents' routing to input positions stuck for hundreds of steps;
  // unit-variance embeddings, latents and queries (torch's nn.Embedding default), a high learning rate and
  // no gradient clipping get it going within this budget.
  const sd = model.stateDict();
  const ig = new Generator(9);
  for (const k of ['perceiver.input_preprocessor.embeddings.weight', 'perceiver.input_preprocessor.position_embeddings.weight', 'perceiver.embeddings.latents', 'perceiver.decoder.output_position_encodings.position_embeddings']) normal_(sd.get(k)!, 0, 1, ig);
  // Loss: the masked bytes plus every byte (the HF MLM example scores all positions; copying the visible
  // bytes is what teaches the routing first). Evaluation scores masked bytes only.
  const lossFn = (b: MlmBatch): Tensor => {
    const logits = model.forward(b.ids).logits.reshape([-1, tok.vocabSize]);
    return F.crossEntropy(logits, b.maskedLabels, { ignoreIndex: -100 }).add(F.crossEntropy(logits, b.allLabels));
  };
  const opt = new AdamW(model.trainableParameters(), { lr, weightDecay: 0.01 });
  const step = new TrainStep(model, lossFn, opt, { lrSchedule: cosineWithWarmup({ baseLr: lr, warmupSteps: 10, totalSteps: steps, minLr: lr / 10 }) });
  const dg = new Generator(5);
  for (let i = 0; i < steps; i++) await step.step(mlmBatch(train, dg, B, T, 0.25));
  model.eval();
  const heldOutLoss = async (m: PerceiverForMaskedLM): Promise<number> => {
    const eg = new Generator(7);
    let nll = 0, n = 0;
    for (let i = 0; i < 8; i++) {
      const b = mlmBatch(heldOut, eg, 32, T, 0.15);
      nll += await F.crossEntropy(m.forward(b.ids).logits.reshape([-1, tok.vocabSize]), b.maskedLabels, { ignoreIndex: -100, reduction: 'sum' }).item();
      n += b.masked;
    }
    return nll / n;
  };
  const evalLoss = await heldOutLoss(model);
  const untrained = new PerceiverForMaskedLM(model.config, { generator: new Generator(3) }).eval();
  const startLoss = await heldOutLoss(untrained);
  console.log(`byte MLM: unigram entropy ${entropy.toFixed(3)} nats; held-out masked-byte loss untrained ${startLoss.toFixed(3)}, trained ${evalLoss.toFixed(3)}; ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  assert.ok(startLoss > 0.9 * Math.log(tok.vocabSize), `untrained: near uniform over 262 ids (${startLoss})`);
  assert.ok(evalLoss < 0.6 * entropy, `held-out masked-byte loss ${evalLoss} must be well below the unigram entropy ${entropy}`);
  // Predictions decode back to text.
  const probe = tok.encode('a little', { addSpecialTokens: false });
  const ids = probe.map((v, i) => (i >= 3 && i < 5 ? PERCEIVER_SPECIAL_TOKENS.mask : v));
  const pred = await model.forward(new Tensor([1, T], 'int64', BigInt64Array.from(ids, BigInt))).logits.argmax(-1).toArray();
  console.log(`byte MLM: '${tok.decode(ids)}' -> '${tok.decode(pred.map((v, i) => (ids[i] === PERCEIVER_SPECIAL_TOKENS.mask ? Math.max(v, PERCEIVER_NUM_SPECIAL_TOKENS) : ids[i]!)))}'`);
});

// ---------------------------------------------------------------- (b) multimodal autoencoding

const K = 4, TF = 4, HW = 8, SPP = 8, SAMPLES = 64;
const FREQS = [2, 3, 5, 7];

interface AvSample { video: Float32Array; audio: Float32Array; label: number }

/** A 3x3 bright square moving one pixel per frame in the class's direction; a tone of the class's frequency. */
function avSample(g: Generator, label: number): AvSample {
  const [dy, dx] = [[0, 1], [0, -1], [1, 0], [-1, 0]][label]!;
  const y0 = 1 + Math.floor(g.next() * 3) + (dy < 0 ? 3 : 0), x0 = 1 + Math.floor(g.next() * 3) + (dx < 0 ? 3 : 0);
  const video = new Float32Array(TF * HW * HW);
  for (let t = 0; t < TF; t++) {
    const cy = y0 + dy * t, cx = x0 + dx * t;
    for (let y = cy - 1; y <= cy + 1; y++) for (let x = cx - 1; x <= cx + 1; x++) if (y >= 0 && y < HW && x >= 0 && x < HW) video[t * HW * HW + y * HW + x] = 1;
  }
  // The tone's phase follows where the square starts (the sound comes from the object); its loudness is free.
  const phase = (2 * Math.PI * ((x0 % 3) + 3 * (y0 % 3))) / 9, amp = 0.6 + 0.4 * g.next();
  const audio = Float32Array.from({ length: SAMPLES }, (_, i) => amp * Math.sin((2 * Math.PI * FREQS[label]! * i) / SAMPLES + phase));
  return { video, audio, label };
}

function avBatch(samples: readonly AvSample[]): { video: Tensor; audio: Tensor; label: Tensor; labelIdx: Tensor } {
  const B = samples.length;
  const video = new Float32Array(B * TF * HW * HW), audio = new Float32Array(B * SAMPLES);
  samples.forEach((s, i) => { video.set(s.video, i * s.video.length); audio.set(s.audio, i * SAMPLES); });
  return {
    video: new Tensor([B, TF, 1, HW, HW], 'float32', video),
    audio: new Tensor([B, SAMPLES], 'float32', audio),
    // The label enters as zeros: it is replaced by the learned mask token anyway (mask probability 1).
    label: new Tensor([B, K], 'float32', new Float32Array(B * K)),
    labelIdx: new Tensor([B], 'int64', BigInt64Array.from(samples, (s) => BigInt(s.label))),
  };
}

/** Video + audio + label Perceiver autoencoder: per-modality queries (Fourier / learned) over a shared decoder. */
class AvAutoencoder extends Module {
  perceiver: PerceiverModel;
  constructor(g: Generator) {
    super();
    const config = resolvePerceiverConfig({ numLatents: 32, dLatents: 64, dModel: 64, numBlocks: 1, numSelfAttendsPerBlock: 2, numSelfAttentionHeads: 4, numCrossAttentionHeads: 4, attentionProbsDropoutProb: 0, initializerRange: 0.1 });
    const video = { type: 'fourier' as const, numBands: 4, maxResolution: [TF, HW / 2, HW / 2] };
    const sound = { type: 'fourier' as const, numBands: 8, maxResolution: [SAMPLES / SPP] };
    const pre = new PerceiverMultimodalPreprocessor({
      audio: new PerceiverAudioPreprocessor({ samplesPerPatch: SPP, positionEncoding: sound, generator: g }),
      image: new PerceiverImagePreprocessor({ prepType: 'patches', spatialDownsample: 2, temporalDownsample: 1, inChannels: 1, positionEncoding: video, generator: g }),
      label: new PerceiverOneHotPreprocessor(K),
    }, { minPaddingSize: 5, maskProbs: { label: 1 }, initStd: 1, generator: g }); // 31 + 5 = 36 channels: 4 cross-attention heads of 9
    // Queries: Fourier features of the same grids (one query per audio patch and per 2x2 video patch), a learned label query.
    const out = 64;
    const decoder = new PerceiverMultimodalDecoder(config, {
      modalities: {
        audio: new PerceiverBasicDecoder(config, { outputNumChannels: out, positionEncodingType: 'fourier', outputIndexDims: [SAMPLES / SPP], fourier: sound, positionEncodingOnly: true, generator: g }),
        image: new PerceiverBasicDecoder(config, { outputNumChannels: out, positionEncodingType: 'fourier', outputIndexDims: [TF, HW / 2, HW / 2], fourier: video, positionEncodingOnly: true, generator: g }),
        label: new PerceiverClassificationDecoder(config, { numLabels: K, positionEncodingOnly: true, trainableChannels: 32, useQueryResidual: false, generator: g }),
      },
      outputNumChannels: out, numHeads: 4, useQueryResidual: false, generator: g,
    });
    const post = new PerceiverMultimodalPostprocessor({
      audio: new PerceiverAudioPostprocessor(out, SPP, { generator: g }),
      image: new PerceiverProjectionPostprocessor(out, 2 * 2 * 1, { generator: g }),
      label: new PerceiverClassificationPostprocessor(out, K, { generator: g }),
    });
    this.perceiver = new PerceiverModel(config, { inputPreprocessor: pre, decoder, outputPostprocessor: post, generator: g });
  }
  forward(b: { video: Tensor; audio: Tensor; label: Tensor }): { video: Tensor; audio: Tensor; label: Tensor } {
    const o = this.perceiver.forward({ audio: b.audio, image: b.video, label: b.label }).logits as Record<string, Tensor>;
    const B = b.video.shape[0]!;
    // per 2x2 patch -> pixels: [B, T*h*w, 4] -> [B, T, h, w, 4] -> [B, T, 1, H, W]
    const video = depthToSpace(o.image!.reshape([B, TF, HW / 2, HW / 2, 4]), 1, 2);
    return { video, audio: o.audio!, label: o.label! };
  }
}

test('multimodal autoencoding toy (video + audio + label): reconstructs above the mean-prediction baseline, predicts the masked label', async () => {
  const t0 = Date.now();
  const g = new Generator(11);
  const train = Array.from({ length: 512 }, (_, i) => avSample(g, i % K));
  const testSet = Array.from({ length: 128 }, (_, i) => avSample(new Generator(1000 + i), i % K));
  const model = new AvAutoencoder(new Generator(13));
  // As in the MLM toy: unit-variance latents, query/padding/mask vectors and a high learning rate.
  const ig = new Generator(9);
  for (const [k, v] of model.namedParameters()) if (/latents|position_embeddings|padding\.|mask\./.test(k)) normal_(v, 0, 1, ig);
  // Video MSE weighted up: its pixels are mostly 0, so its raw MSE is small next to the audio's.
  const lossOf = (b: ReturnType<typeof avBatch>): Tensor => {
    const o = model.forward(b);
    return F.mseLoss(o.video, b.video).mul(4).add(F.mseLoss(o.audio, b.audio)).add(F.crossEntropy(o.label, b.labelIdx).mul(0.1));
  };
  const steps = 300, B = 32, lr = 1e-2;
  const opt = new AdamW(model.trainableParameters(), { lr, weightDecay: 0.01 });
  const step = new TrainStep(model, lossOf, opt, { clipGradNorm: 1, lrSchedule: cosineWithWarmup({ baseLr: lr, warmupSteps: 10, totalSteps: steps, minLr: lr / 10 }) });
  const dg = new Generator(17);
  for (let i = 0; i < steps; i++) {
    const batch = Array.from({ length: B }, () => train[Math.floor(dg.next() * train.length)]!);
    await step.step(avBatch(batch));
  }
  model.eval();
  // Mean-prediction baselines: the per-position training mean, scored on the test set.
  const meanOf = (pick: (s: AvSample) => Float32Array, n: number): Float32Array => {
    const m = new Float32Array(n);
    for (const s of train) pick(s).forEach((v, i) => { m[i]! += v / train.length; });
    return m;
  };
  const mv = meanOf((s) => s.video, TF * HW * HW), ma = meanOf((s) => s.audio, SAMPLES);
  let vErr = 0, aErr = 0, vBase = 0, aBase = 0, correct = 0;
  for (let i = 0; i < testSet.length; i += 32) {
    const part = testSet.slice(i, i + 32);
    const o = model.forward(avBatch(part));
    const [v, a, l] = [await o.video.float32(), await o.audio.float32(), await o.label.argmax(-1).toArray()];
    part.forEach((s, j) => {
      s.video.forEach((x, k) => { vErr += (v[j * s.video.length + k]! - x) ** 2; vBase += (mv[k]! - x) ** 2; });
      s.audio.forEach((x, k) => { aErr += (a[j * SAMPLES + k]! - x) ** 2; aBase += (ma[k]! - x) ** 2; });
      if (l[j] === s.label) correct++;
    });
  }
  const nv = testSet.length * TF * HW * HW, na = testSet.length * SAMPLES;
  const [videoMse, videoBase, audioMse, audioBase, acc] = [vErr / nv, vBase / nv, aErr / na, aBase / na, correct / testSet.length];
  console.log(`AV autoencoding: video MSE ${videoMse.toFixed(4)} vs mean baseline ${videoBase.toFixed(4)}; audio MSE ${audioMse.toFixed(4)} vs ${audioBase.toFixed(4)}; label accuracy ${(acc * 100).toFixed(1)}% (chance 25%), ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  assert.ok(videoMse < 0.5 * videoBase, `video MSE ${videoMse} must be under half the mean-prediction MSE ${videoBase}`);
  assert.ok(audioMse < 0.5 * audioBase, `audio MSE ${audioMse} must be under half the mean-prediction MSE ${audioBase}`);
  assert.ok(acc >= 0.9, `label accuracy ${acc} from video + audio (label masked at the input)`);
});
