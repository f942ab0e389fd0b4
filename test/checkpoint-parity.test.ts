// Published checkpoint layouts vs PyTorch (tools/fixtures/checkpoint_parity.py): format detection, config
// inference, key mapping (OpenAI in_proj, HF q/k/v concatenation and transposed projections), the
// missing / unexpected / mis-shaped report, strict mode, pos_embed resampling, and `encode --checkpoint` on a
// timm and a CLIP file. Every file exists as safetensors and as a torch.save (zip) archive.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tensor } from '../src/engine/tensor.js';
import {
  detectCheckpointFormat, inferClipConfig, loadClip, loadEncoderCheckpoint, loadVit, readCheckpointFile, loadMappedCheckpoint, type TensorMap,
} from '../src/io/checkpoint-formats.js';
import { StateDictError } from '../src/io/state-dict.js';
import { readNpy, writeNpy } from '../src/io/npy.js';
import { resamplePosEmbed, VisionTransformer } from '../src/encoders/vit.js';
import { CLIP } from '../src/encoders/clip.js';
import { MetaTransformerEncoder, loadEncoderWeights } from '../src/encoders/meta-transformer.js';
import { readEncoderFile } from '../src/pipeline/model.js';
import { runCli as cli } from './support/cli.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const FX = join(root, 'test', 'fixtures', 'checkpoints');
const ref = JSON.parse(readFileSync(join(FX, 'reference.json'), 'utf8'));
const TOL = 1e-4;

/** Files of each model: safetensors and torch.save zip archives (the OpenAI .pth in float16, as released). */
const FILES = {
  meta: ['meta.safetensors', 'meta.pth'],
  vit: ['vit.safetensors', 'vit.pth'],
  openai: ['openai_clip.safetensors', 'openai_clip.pth', 'openai_clip_jit.pt'],
  hf: ['hf_clip/model.safetensors', 'hf_clip/pytorch_model.bin'],
};

function maxAbs(got: ArrayLike<number>, want: ArrayLike<number>, what: string): number {
  assert.equal(got.length, want.length, `${what}: ${got.length} values, expected ${want.length}`);
  let m = 0;
  for (let i = 0; i < got.length; i++) m = Math.max(m, Math.abs(got[i]! - want[i]!));
  return m;
}
const measured: Record<string, number> = {};
function close(got: ArrayLike<number>, want: ArrayLike<number>, what: string, tol = TOL): void {
  const e = maxAbs(got, want, what);
  measured[what] = Math.max(measured[what] ?? 0, e);
  assert.ok(e <= tol, `${what}: max |diff| ${e} > ${tol}`);
}
const f32 = (shape: number[], data: number[]): Tensor => new Tensor(shape, 'float32', Float32Array.from(data));
const i64 = (shape: number[], data: number[]): Tensor => new Tensor(shape, 'int64', BigInt64Array.from(data, (v) => BigInt(v)));
const tokens = (): Tensor => f32([2, 5, 32], ref.meta.tokens);

let dir = '';
before(() => { dir = mkdtempSync(join(tmpdir(), 'omni-ckpt-')); });
after(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });
after(() => { console.log(`checkpoint parity max-abs errors: ${JSON.stringify(measured)}`); });

test('formats are detected from key names', async () => {
  const want = { meta: 'meta-transformer', vit: 'timm-vit', openai: 'openai-clip', hf: 'hf-clip' } as const;
  for (const [m, files] of Object.entries(FILES)) {
    for (const f of files) assert.equal((await readCheckpointFile(join(FX, f))).format, want[m as keyof typeof want], f);
  }
  assert.equal(detectCheckpointFormat(['blocks.0.attn.qkv.weight', 'blocks.0.norm1.weight']), 'meta-transformer');
  // The float16 .pth widens to the same float32 values as the float32 safetensors copy.
  const [a, b] = await Promise.all(FILES.openai.map((f) => readCheckpointFile(join(FX, f))));
  assert.equal(a!.tensors.size, b!.tensors.size);
  for (const [k, t] of a!.tensors) assert.deepEqual((b!.tensors.get(k) as { data: Float32Array }).data, (t as { data: Float32Array }).data, k);
  assert.throws(() => detectCheckpointFormat(['encoder.layer.0.attention.self.query.weight']), /unrecognised key layout \(keys: encoder\.layer\.0\.attention\.self\.query\.weight\)\. Known layouts: Meta-Transformer/);
});

test('TorchScript archive (torch.jit.save, OpenAI\'s release format): read as its module tree\'s state dict', async () => {
  const jit = await readCheckpointFile(join(FX, 'openai_clip_jit.pt'));
  assert.equal(jit.format, 'openai-clip');
  const sd = (await readCheckpointFile(join(FX, 'openai_clip.safetensors'))).tensors;
  // Same tensors as the state-dict copy (float16 in the archive), plus the JIT-only int buffers.
  assert.deepEqual([...jit.tensors.keys()].filter((k) => !sd.has(k)).sort(), ['context_length', 'input_resolution', 'vocab_size']);
  for (const [k, t] of sd) assert.deepEqual((jit.tensors.get(k) as { data: Float32Array }).data, (t as { data: Float32Array }).data, k);
  assert.equal((jit.tensors.get('input_resolution') as { data: BigInt64Array }).data[0], 16n);
  const { model, report } = await loadClip(join(FX, 'openai_clip_jit.pt'), { heads: 2 });
  assert.deepEqual([report.missing, report.unexpected, report.unused.sort()], [[], [], ['context_length', 'input_resolution', 'vocab_size']]);
  await checkClip(model, ref.openai_clip, ref.openai_clip, 'OpenAI CLIP (openai_clip_jit.pt, TorchScript)');
  const enc = await readEncoderFile(join(FX, 'openai_clip_jit.pt'), undefined, { heads: 2 });
  assert.deepEqual([enc.format, enc.config.act, enc.tensors.size], ['openai-clip', 'quick_gelu', 24]);
});

test('a TorchScript archive whose data.pkl names os.system is refused before anything runs', async () => {
  const { writeZipSync } = await import('../src/io/zip.js');
  const evil = join(dir, 'evil_jit.pt');
  const pkl = Uint8Array.from(Buffer.from('\x80\x02cos\nsystem\nX\x1b\x00\x00\x00touch /tmp/omniformer-pwned\x85R.', 'latin1'));
  writeZipSync(evil, [
    { name: 'm/data.pkl', chunks: [pkl] }, { name: 'm/constants.pkl', chunks: [Uint8Array.of(0x80, 0x02, 0x29, 0x2e)] },
    { name: 'm/code/__torch__.py', chunks: [new TextEncoder().encode('class M(Module):\n  pass\n')] }, { name: 'm/version', chunks: [new TextEncoder().encode('3\n')] },
  ]);
  await assert.rejects(readCheckpointFile(evil), /TorchScript archive '.*evil_jit\.pt': .*refusing to load global 'os\.system'/);
});

test('full-size layouts: ViT-B/16 CLIP, timm vit_base_patch16_224 and the Meta-Transformer B16 / L14 configs inferred from shapes', async () => {
  const { CLIP_VIT_B16 } = await import('../src/encoders/clip.js');
  const { VIT_CONFIGS } = await import('../src/encoders/vit.js');
  const { inferEncoderConfig, inferVitConfig } = await import('../src/io/checkpoint-formats.js');
  const shapes = (entries: [string, number[]][]): TensorMap => new Map(entries.map(([k, shape]) => [k, { shape, data: new Float32Array(0) }]));
  const block = (p: string, w: number): [string, number[]][] => [
    [`${p}attn.in_proj_weight`, [3 * w, w]], [`${p}attn.in_proj_bias`, [3 * w]], [`${p}attn.out_proj.weight`, [w, w]], [`${p}ln_1.weight`, [w]],
    [`${p}mlp.c_fc.weight`, [4 * w, w]], [`${p}mlp.c_proj.weight`, [w, 4 * w]], [`${p}ln_2.weight`, [w]],
  ];
  const range = (n: number): number[] => [...Array(n).keys()];
  const openai = shapes([ // spec: OpenAI CLIP ViT-B/16 state dict
    ['positional_embedding', [77, 512]], ['text_projection', [512, 512]], ['logit_scale', []], ['token_embedding.weight', [49408, 512]], ['ln_final.weight', [512]],
    ['visual.class_embedding', [768]], ['visual.positional_embedding', [197, 768]], ['visual.proj', [768, 512]], ['visual.conv1.weight', [768, 3, 16, 16]],
    ['input_resolution', []], ['context_length', []], ['vocab_size', []],
    ...range(12).flatMap((i) => block(`transformer.resblocks.${i}.`, 512)), ...range(12).flatMap((i) => block(`visual.transformer.resblocks.${i}.`, 768)),
  ]);
  assert.equal(detectCheckpointFormat(openai), 'openai-clip');
  assert.deepEqual(inferClipConfig(openai, 'openai-clip'), { ...CLIP_VIT_B16, vision: { ...CLIP_VIT_B16.vision, inChannels: 3 } });
  assert.deepEqual(inferEncoderConfig(openai, 'openai-clip'), { dim: 768, depth: 12, numHeads: 12, mlpRatio: 4, eps: 1e-5, qkvBias: true, act: 'quick_gelu' });
  const timm = shapes([
    ['cls_token', [1, 1, 768]], ['pos_embed', [1, 197, 768]], ['patch_embed.proj.weight', [768, 3, 16, 16]], ['norm.weight', [768]], ['head.weight', [1000, 768]],
    ...range(12).flatMap((i): [string, number[]][] => [[`blocks.${i}.attn.qkv.weight`, [2304, 768]], [`blocks.${i}.attn.qkv.bias`, [2304]], [`blocks.${i}.mlp.fc1.weight`, [3072, 768]]]),
  ]);
  assert.deepEqual(inferVitConfig(timm), { ...VIT_CONFIGS['vit-base-patch16-224'], numClasses: 1000 });
  for (const [D, depth] of [[768, 12], [1024, 24]] as const) {
    const meta = shapes(range(depth).flatMap((i): [string, number[]][] => [[`${i}.attn.qkv.weight`, [3 * D, D]], [`${i}.attn.qkv.bias`, [3 * D]], [`${i}.mlp.fc1.weight`, [4 * D, D]]]));
    assert.equal(detectCheckpointFormat(meta), 'meta-transformer');
    assert.deepEqual(inferEncoderConfig(meta, 'meta-transformer'), { dim: D, depth, numHeads: D / 64, mlpRatio: 4, eps: 1e-5, qkvBias: true });
  }
});

test('Meta-Transformer encoder file: config inferred, forward matches torch', async () => {
  for (const f of FILES.meta) {
    const { encoder, config, report } = await loadEncoderCheckpoint(join(FX, f), { heads: 2 });
    assert.deepEqual([config.dim, config.depth, config.numHeads, config.mlpRatio, config.eps], [32, 2, 2, 4, 1e-5]);
    assert.equal(report.loaded, 24);
    close(await encoder.eval().forward(tokens()).float32(), ref.meta.out, `meta encoder (${f})`);
    // The encoder's own loader reads the same files (.pth included).
    const enc = new MetaTransformerEncoder(config);
    await loadEncoderWeights(enc, join(FX, f));
    close(await enc.eval().forward(tokens()).float32(), ref.meta.out, `meta encoder via loadEncoderWeights (${f})`);
  }
});

test('timm ViT: tokens and logits match torch; its blocks as the encoder too', async () => {
  const r = ref.vit;
  for (const f of FILES.vit) {
    const { model, config, report } = await loadVit(join(FX, f), { heads: 2 });
    assert.deepEqual([config.imageSize, config.patchSize, config.dim, config.depth, config.numClasses, config.eps, config.classToken], [16, 4, 32, 2, 5, 1e-6, true]);
    assert.deepEqual([report.missing, report.unexpected, report.mismatched], [[], [], []]);
    model.eval();
    const toks = model.forward(f32(r.images_shape, r.images));
    const [t, logits] = await Promise.all([toks.float32(), model.forwardHead(toks).float32()]);
    close(t, r.tokens, `timm ViT tokens (${f})`);
    close(logits, r.logits, `timm ViT logits (${f})`);
    const enc = await loadEncoderCheckpoint(join(FX, f), { heads: 2 });
    assert.equal(enc.config.eps, 1e-6);
    assert.deepEqual(enc.report.unused.sort(), ['cls_token', 'head.bias', 'head.weight', 'norm.bias', 'norm.weight', 'patch_embed.proj.bias', 'patch_embed.proj.weight', 'pos_embed']);
    close(await enc.encoder.eval().forward(tokens()).float32(), r.encode_out, `timm ViT blocks as encoder (${f})`);
  }
});

test('timm ViT at another image size: pos_embed resampled bicubically (class row kept) as torch F.interpolate', async () => {
  const r = ref.vit;
  const f = await readCheckpointFile(join(FX, 'vit.safetensors'));
  const pos = f.tensors.get('pos_embed')!;
  const res = resamplePosEmbed({ shape: [...pos.shape], data: (pos as { data: Float32Array }).data }, [6, 6]);
  assert.deepEqual(res.shape, [1, 37, 32]);
  close(res.data, r.pos_embed24, 'resamplePosEmbed 4x4 -> 6x6', 1e-5);
  assert.deepEqual([...res.data.subarray(0, 32)], [...(pos as { data: Float32Array }).data.subarray(0, 32)], 'class-token row unchanged');
  const { model, config } = await loadVit(f, { heads: 2, imageSize: 24 });
  assert.equal(config.imageSize, 24);
  model.eval();
  const toks = model.forward(f32(r.images24_shape, r.images24));
  close(await toks.float32(), r.tokens24, 'timm ViT tokens at 24px (resampled)');
  close(await model.forwardHead(toks).float32(), r.logits24, 'timm ViT logits at 24px (resampled)');
});

async function checkClip(model: CLIP, r: any, images: any, what: string): Promise<void> {
  model.eval();
  const img = f32(images.images_shape, images.images), ids = i64(r.ids_shape, r.ids);
  close(await model.encodeImage(img).float32(), r.image_features, `${what} image features`);
  close(await model.encodeText(ids).float32(), r.text_features, `${what} text features`);
  const out = model.forward(img, ids);
  close(await out.logitsPerImage.float32(), r.logits_per_image, `${what} logits`);
  close(await out.logitsPerText.float32(), r.logits_per_text, `${what} logits`);
}

test('OpenAI CLIP: image / text features and logits match model.py (QuickGELU, in_proj, EOT argmax)', async () => {
  const r = ref.openai_clip;
  for (const f of FILES.openai) {
    const { model, config, report } = await loadClip(join(FX, f), { heads: 2 });
    assert.deepEqual(config, {
      embedDim: 16, vision: { imageSize: 16, patchSize: 4, width: 32, layers: 2, heads: 2, inChannels: 3 },
      text: { contextLength: 8, vocabSize: 64, width: 24, layers: 2, heads: 2 }, act: 'quick_gelu', eps: 1e-5,
    });
    assert.deepEqual([report.missing, report.unexpected, report.mismatched], [[], [], []]);
    await checkClip(model, r, r, `OpenAI CLIP (${f})`);
    const enc = await loadEncoderCheckpoint(join(FX, f), { heads: 2 });
    assert.equal(enc.config.act, 'quick_gelu');
    close(await enc.encoder.eval().forward(tokens()).float32(), r.encode_out, `OpenAI CLIP vision blocks as encoder (${f})`);
  }
});

test('open_clip CustomTextCLIP layout (text tower under text.) loads as OpenAI CLIP', async () => {
  const { tensors } = await readCheckpointFile(join(FX, 'openai_clip.safetensors'));
  const custom: TensorMap = new Map([...tensors].map(([k, v]) => [/^(token_embedding|positional_embedding|transformer|ln_final|text_projection)/.test(k) ? `text.${k}` : k, v]));
  assert.ok(custom.has('text.transformer.resblocks.0.attn.in_proj_weight') && custom.has('text.text_projection'));
  const { model, report } = await loadClip(custom, { heads: 2 });
  assert.deepEqual([report.missing, report.unexpected], [[], []]);
  close(await model.eval().encodeText(i64(ref.openai_clip.ids_shape, ref.openai_clip.ids)).float32(), ref.openai_clip.text_features, 'open_clip text. layout text features');
});

test('HF CLIPModel + config.json: q/k/v concatenated, projections transposed, heads and eos from the config', async () => {
  const r = ref.hf_clip;
  for (const f of FILES.hf) {
    const { model, config, report } = await loadClip(join(FX, f));
    assert.deepEqual([config.vision.heads, config.text.heads, config.eosTokenId, config.act, config.embedDim], [2, 2, 62, 'quick_gelu', 16]);
    assert.deepEqual([report.missing, report.unexpected, report.mismatched], [[], [], []]);
    assert.deepEqual(report.unused.sort(), ['text_model.embeddings.position_ids', 'vision_model.embeddings.position_ids']);
    await checkClip(model, r, ref.openai_clip, `HF CLIP (${f})`);
    const short = r.ids.filter((_: number, i: number) => i % 8 < 6);
    close(await model.encodeText(i64([3, 6], short)).float32(), r.text_features_short, `HF CLIP text features, 6 of 8 positions (${f})`);
    const enc = await loadEncoderCheckpoint(join(FX, f));
    close(await enc.encoder.eval().forward(tokens()).float32(), r.encode_out, `HF CLIP vision blocks as encoder (${f})`);
  }
  // Without config.json: heads must be given, and pooling falls back to argmax(ids), which differs for the
  // sequence holding a larger id (63) before its eos (62).
  const { tensors } = await readCheckpointFile(join(FX, 'hf_clip/model.safetensors'));
  assert.throws(() => inferClipConfig(tensors, 'hf-clip'), /cannot infer the head count of width 32 \(not a multiple of 64\); pass the number of heads/);
  const { model } = await loadClip(tensors, { heads: 2 });
  const t = await model.eval().encodeText(i64(r.ids_shape, r.ids)).float32();
  close(t.subarray(0, 16), r.text_features.slice(0, 16), 'HF CLIP argmax pooling, row 0 (eos is the max)');
  assert.ok(maxAbs(t.subarray(16, 32), r.text_features.slice(16, 32), 'row 1') > 1e-2, 'row 1 pools elsewhere under argmax');
});

test('vision-only CLIP files (visual.* / vision_model.*) still serve as the encoder', async () => {
  const oa = (await readCheckpointFile(join(FX, 'openai_clip.safetensors'))).tensors;
  const visual: TensorMap = new Map([...oa].filter(([k]) => k.startsWith('visual.')));
  const a = await loadEncoderCheckpoint(visual, { heads: 2 });
  close(await a.encoder.eval().forward(tokens()).float32(), ref.openai_clip.encode_out, 'OpenAI CLIP visual-only file as encoder');
  const hf = (await readCheckpointFile(join(FX, 'hf_clip/model.safetensors'))).tensors;
  const vision: TensorMap = new Map([...hf].filter(([k]) => k.startsWith('vision_model.')));
  const b = await loadEncoderCheckpoint(vision, { hfConfig: join(FX, 'hf_clip/config.json') });
  assert.equal(b.config.numHeads, 2);
  close(await b.encoder.eval().forward(tokens()).float32(), ref.hf_clip.encode_out, 'HF CLIPVisionModel file as encoder');
});

test('mapping report: missing / unexpected / mis-shaped keys on a broken file; strict throws and loads nothing', async () => {
  const { tensors } = await readCheckpointFile(join(FX, 'vit.safetensors'));
  const broken: TensorMap = new Map(tensors);
  broken.delete('blocks.1.mlp.fc2.bias');
  broken.set('blocks.0.attn.extra_scale', { shape: [32], data: new Float32Array(32) });
  broken.set('blocks.0.attn.proj.weight', { shape: [16, 64], data: new Float32Array(1024) });
  const model = new VisionTransformer({ imageSize: 16, patchSize: 4, inChannels: 3, dim: 32, depth: 2, numHeads: 2, mlpRatio: 4, eps: 1e-6, finalNorm: true, classToken: true, numClasses: 5 });
  const before = Float32Array.from(model.blocks[0]!.norm1.weight!.value as Float32Array);
  assert.throws(() => loadMappedCheckpoint(model, broken, 'timm-vit', 'vit', { sourceName: 'broken.safetensors' }), (e: unknown) => {
    assert.ok(e instanceof StateDictError);
    assert.match(e.message, /timm-vit checkpoint 'broken\.safetensors' does not match the VisionTransformer \(1 missing, 1 unexpected, 1 mis-shaped\); nothing was loaded/);
    assert.match(e.message, /missing: blocks\.1\.mlp\.fc2\.bias/);
    assert.match(e.message, /unexpected checkpoint keys: blocks\.0\.attn\.extra_scale/);
    assert.match(e.message, /mis-shaped 'blocks\.0\.attn\.proj\.weight' \(from blocks\.0\.attn\.proj\.weight\): checkpoint float32 \[16, 64\] vs model float32 \[32, 32\]/);
    return true;
  });
  assert.deepEqual(model.blocks[0]!.norm1.weight!.value, before, 'strict failure changed nothing');
  const rep = loadMappedCheckpoint(model, broken, 'timm-vit', 'vit', { strict: false });
  assert.deepEqual([rep.missing, rep.unexpected, rep.mismatched.map((m) => [m.key, m.checkpointShape, m.modelShape])],
    [['blocks.1.mlp.fc2.bias'], ['blocks.0.attn.extra_scale'], [['blocks.0.attn.proj.weight', [16, 64], [32, 32]]]]);
  assert.equal(rep.loaded, model.stateDict().size - 2);
  assert.deepEqual(model.blocks[0]!.norm1.weight!.value, (tensors.get('blocks.0.norm1.weight') as { data: Float32Array }).data);

  // HF: a missing k_proj leaves in_proj incomplete; reported by module and checkpoint name.
  const hf = new Map((await readCheckpointFile(join(FX, 'hf_clip/model.safetensors'))).tensors as TensorMap);
  hf.delete('text_model.encoder.layers.1.self_attn.k_proj.weight');
  hf.set('vision_model.encoder.layers.0.self_attn.v_proj.bias', { shape: [31], data: new Float32Array(31) });
  await assert.rejects(loadClip(hf, { heads: 2 }), /missing: transformer\.resblocks\.1\.attn\.in_proj_weight\n {4}\(checkpoint keys: text_model\.encoder\.layers\.1\.self_attn\.k_proj\.weight\)[^]*mis-shaped 'visual\.transformer\.resblocks\.0\.attn\.in_proj_bias'/);
  const { report } = await loadClip(hf, { heads: 2, strict: false });
  assert.deepEqual([report.missing, report.missingCheckpointKeys, report.mismatched.map((m) => m.key)],
    [['transformer.resblocks.1.attn.in_proj_weight'], ['text_model.encoder.layers.1.self_attn.k_proj.weight'], ['visual.transformer.resblocks.0.attn.in_proj_bias']]);
});

test('readEncoderFile maps timm / CLIP blocks to encoder keys (eps and activation from the format)', async () => {
  const vit = await readEncoderFile(join(FX, 'vit.safetensors'), undefined, { heads: 2 });
  assert.deepEqual([vit.format, vit.config.eps, vit.config.act ?? 'gelu', [...vit.tensors.keys()].slice(0, 3)], ['timm-vit', 1e-6, 'gelu', ['0.norm1.weight', '0.norm1.bias', '0.attn.qkv.weight']]);
  const clip = await readEncoderFile(join(FX, 'openai_clip.safetensors'), undefined, { heads: 2 });
  assert.deepEqual([clip.format, clip.config.eps, clip.config.act, clip.tensors.size], ['openai-clip', 1e-5, 'quick_gelu', 24]);
  await assert.rejects(readEncoderFile(join(FX, 'vit.safetensors')), /cannot infer the head count of width 32/);
});

// ---- CLI ----


test('CLI encode --checkpoint on a timm ViT and a CLIP file reproduces torch', async () => {
  const tok = join(dir, 'tokens.npy');
  await writeNpy(tok, { shape: [2, 5, 32], data: Float32Array.from(ref.meta.tokens) });
  const cases: [string, number[], string][] = [
    ...FILES.vit.map((f) => [f, ref.vit.encode_out, 'timm-vit'] as [string, number[], string]),
    ...FILES.openai.map((f) => [f, ref.openai_clip.encode_out, 'openai-clip'] as [string, number[], string]),
    ...FILES.hf.map((f) => [f, ref.hf_clip.encode_out, 'hf-clip'] as [string, number[], string]),
  ];
  for (const [f, want, format] of cases) {
    const out = join(dir, 'out.npy');
    const heads = format === 'hf-clip' ? [] : ['--heads', '2']; // HF: from config.json
    const r = await cli(['encode', '--checkpoint', join(FX, f), '--input', tok, '--output', out, ...heads, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const info = JSON.parse(r.stdout.trim().split('\n').pop()!);
    assert.deepEqual([info.shape, info.format, info.depth, info.dim], [[2, 5, 32], format, 2, 32]);
    const got = await readNpy(out);
    close(Float32Array.from(got.data as Float32Array), want, `CLI encode ${format} (${f})`);
  }
  const noHeads = await cli(['encode', '--checkpoint', join(FX, 'vit.safetensors'), '--input', tok, '--output', join(dir, 'x.npy')]);
  assert.equal(noHeads.code, 1);
  assert.match(noHeads.stderr, /vit\.safetensors: timm ViT.*cannot infer the head count of width 32 \(not a multiple of 64\); pass the number of heads/);
});

test('train --encoder FILE path: resolveEncoder + buildModel take a timm ViT or a CLIP file (heads = D/64)', async () => {
  const { resolveEncoder, buildModel } = await import('../src/pipeline/model.js');
  const { saveStateDict } = await import('../src/io/state-dict.js');
  const vit = new VisionTransformer({ imageSize: 32, patchSize: 16, inChannels: 3, dim: 64, depth: 2, numHeads: 1, mlpRatio: 4, eps: 1e-6, finalNorm: true, classToken: true, numClasses: 3 });
  const clip = new CLIP({ embedDim: 8, vision: { imageSize: 32, patchSize: 16, width: 64, layers: 1, heads: 1 }, text: { contextLength: 4, vocabSize: 10, width: 64, layers: 1, heads: 1 }, act: 'quick_gelu', eps: 1e-5 });
  const vitFile = join(dir, 'vit64.safetensors'), clipFile = join(dir, 'clip64.safetensors');
  await saveStateDict(vit, vitFile);
  await saveStateDict(clip, clipFile);
  for (const [file, eps, act, block0] of [
    [vitFile, 1e-6, undefined, vit.blocks[0]!.attn.qkv!.weight],
    [clipFile, 1e-5, 'quick_gelu', clip.visual.transformer.resblocks[0]!.attn.in_proj_weight],
  ] as const) {
    const { spec, tensors } = await resolveEncoder(file, false);
    assert.deepEqual([spec.config.dim, spec.config.numHeads, spec.config.eps, spec.config.act], [64, 1, eps, act]);
    const { model } = await buildModel({ modality: 'image', seed: 0, encoder: spec, tokenizer: { imageSize: 32, patchSize: 16 }, head: null }, tensors);
    assert.ok(model.encoder instanceof MetaTransformerEncoder);
    assert.deepEqual(model.encoder[0]!.attn.qkv!.weight.value, block0.value, `${file}: block 0 qkv loaded`);
    assert.equal(model.encoder.depth, file === vitFile ? 2 : 1);
    assert.equal(model.encoder[0]!.mlp.act.constructor.name, act === 'quick_gelu' ? 'QuickGELU' : 'GELU');
    assert.equal(model.encoder[0]!.norm1.eps, eps);
  }
});
