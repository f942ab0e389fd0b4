// Published checkpoint layouts -> omniformer modules: format detection, config inference from shapes (and an
// HF config.json), key mapping with a missing / unexpected / mis-shaped report, strict and non-strict loads.
//
// Formats (state-dict key names):
//   'meta-transformer'  the released Meta-Transformer encoders: `0.attn.qkv.weight` ... (or `blocks.0...`), no stem;
//   'timm-vit'          timm VisionTransformer: patch_embed.proj, cls_token, pos_embed, blocks.N.*, norm, head;
//   'openai-clip'       OpenAI / open_clip CLIP: visual.conv1, visual.class_embedding, visual.transformer.resblocks.N
//                       (attn.in_proj_weight, attn.out_proj, ln_1, mlp.c_fc, mlp.c_proj, ln_2), ln_pre/ln_post,
//                       visual.proj [W, E]; token_embedding, positional_embedding, transformer.resblocks.N,
//                       ln_final, text_projection [W, E], logit_scale;
//   'hf-clip'           HF CLIPModel: vision_model.embeddings.*, vision_model.pre_layrnorm (sic),
//                       *.encoder.layers.N.self_attn.{q,k,v,out}_proj, layer_norm1/2, mlp.fc1/fc2,
//                       text_model.final_layer_norm, visual_projection.weight / text_projection.weight [E, W]
//                       (nn.Linear: the transpose of OpenAI's), logit_scale.
// Targets: 'clip' (src/encoders/clip.ts, OpenAI names: OpenAI files load 1:1, HF q/k/v are concatenated into
// in_proj and the projections transposed), 'vit' (src/encoders/vit.ts, timm names) and 'encoder' (the
// Meta-Transformer encoder, timm block names `{i}.norm1...`: from any format, a file's blocks, for CLIP the
// vision tower's resblocks; the rest of the file is reported as `unused`).
// Files: safetensors, torch.save archives (src/io/torch-checkpoint.ts) and TorchScript archives (src/io/torchscript.ts).
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { AnyTypedArray } from '../engine/dtype.js';
import { dtypeOfArray } from '../engine/dtype.js';
import { Tensor } from '../engine/tensor.js';
import type { Module } from '../nn/module.js';
import { CLIP, type ClipActivation, type ClipConfig } from '../encoders/clip.js';
import { MetaTransformerEncoder, type MetaEncoderConfig } from '../encoders/meta-transformer.js';
import { VisionTransformer, resamplePosEmbed, type VitConfig } from '../encoders/vit.js';
import { readSafetensors, type StoredTensor, type TensorSource } from './safetensors.js';
import { readTorchCheckpoint } from './torch-checkpoint.js';
import { isTorchScriptZip, readTorchScriptArchive } from './torchscript.js';
import { ZIP_TAIL_BYTES, parseCentralDirectory, parseZip64End, parseZipTail } from './zip.js';
import { StateDictError, applyStateDict, type LoadStateDictResult, type MismatchedKey } from './state-dict.js';

export type CheckpointFormat = 'meta-transformer' | 'timm-vit' | 'openai-clip' | 'hf-clip';
export type CheckpointTarget = 'clip' | 'vit' | 'encoder';
export const CHECKPOINT_FORMATS: readonly CheckpointFormat[] = ['meta-transformer', 'timm-vit', 'openai-clip', 'hf-clip'];

type AnyTensor = TensorSource | StoredTensor;
export type TensorMap = Map<string, AnyTensor>;

export class CheckpointFormatError extends Error {
  override name = 'CheckpointFormatError';
}

const shapeOf = (t: AnyTensor): number[] => [...t.shape];
const dataOf = (t: AnyTensor): AnyTypedArray => (t instanceof Tensor ? t.value : t.data);
const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;
const where = (name?: string): string => (name ? ` '${name}'` : '');
function keyList(keys: Iterable<string>, n = 6): string {
  const all = [...keys];
  return all.slice(0, n).join(', ') + (all.length > n ? `, ... (${all.length} keys)` : '');
}

// ---------------------------------------------------------------------------------------------------
// Detection
// ---------------------------------------------------------------------------------------------------

const META_BLOCK = /^(?:blocks\.)?\d+\.attn\.qkv\.weight$/;

/**
 * The layout of a state dict, from its key names. Throws a CheckpointFormatError naming the keys it saw
 * when none matches.
 */
export function detectCheckpointFormat(tensors: Iterable<string> | ReadonlyMap<string, unknown>, sourceName?: string): CheckpointFormat {
  const keys = tensors instanceof Map ? [...tensors.keys()] as string[] : [...(tensors as Iterable<string>)];
  const has = (k: string): boolean => keys.includes(k);
  const some = (re: RegExp): boolean => keys.some((k) => re.test(k));
  if (some(/^(vision_model|text_model)\.(embeddings|encoder)\./) || has('visual_projection.weight')) return 'hf-clip';
  if (has('visual.conv1.weight') || some(/^visual\.transformer\.resblocks\.\d+\./) || ((has('token_embedding.weight') || has('text.token_embedding.weight')) && some(/^(text\.)?transformer\.resblocks\.\d+\./))) return 'openai-clip';
  if (has('patch_embed.proj.weight') || has('cls_token') || has('pos_embed')) return 'timm-vit';
  if (some(META_BLOCK)) return 'meta-transformer';
  throw new CheckpointFormatError(`checkpoint${where(sourceName)}: unrecognised key layout (keys: ${keyList(keys)}). Known layouts: ` +
    `Meta-Transformer encoder ('0.attn.qkv.weight' or 'blocks.0.attn.qkv.weight'), timm ViT ('patch_embed.proj.weight', 'cls_token', 'pos_embed', 'blocks.N.*'), ` +
    `OpenAI CLIP ('visual.conv1.weight', 'visual.transformer.resblocks.N.*', 'token_embedding.weight'), HF CLIPModel ('vision_model.embeddings.*', 'text_model.*')`);
}

/** open_clip's CustomTextCLIP keeps the text tower under `text.`; its keys are OpenAI's otherwise. */
const OPEN_CLIP_TEXT = /^text\.(token_embedding\.|positional_embedding$|transformer\.|ln_final\.|text_projection$)/;

/** Rename layout variants onto the canonical keys of `format` (open_clip `text.*` -> OpenAI top-level names). */
export function normalizeLayout(tensors: TensorMap, format: CheckpointFormat): TensorMap {
  if (format !== 'openai-clip' || ![...tensors.keys()].some((k) => OPEN_CLIP_TEXT.test(k))) return tensors;
  return new Map([...tensors].map(([k, v]) => [OPEN_CLIP_TEXT.test(k) ? k.slice('text.'.length) : k, v]));
}

/** Strip a prefix every key shares: 'module.' (DistributedDataParallel) or 'model.' wrappers. */
export function stripWrapperPrefix(tensors: TensorMap): TensorMap {
  for (const p of ['module.', 'model.']) {
    if (tensors.size && [...tensors.keys()].every((k) => k.startsWith(p))) return new Map([...tensors].map(([k, v]) => [k.slice(p.length), v]));
  }
  return tensors;
}

// ---------------------------------------------------------------------------------------------------
// HF config.json
// ---------------------------------------------------------------------------------------------------

/** The fields of an HF CLIPConfig that the loader uses (others are ignored). */
export interface HfClipConfigJson {
  projection_dim?: number;
  text_config?: { hidden_size?: number; num_attention_heads?: number; num_hidden_layers?: number; max_position_embeddings?: number; vocab_size?: number; hidden_act?: string; layer_norm_eps?: number; eos_token_id?: number; intermediate_size?: number };
  vision_config?: { hidden_size?: number; num_attention_heads?: number; num_hidden_layers?: number; image_size?: number; patch_size?: number; hidden_act?: string; layer_norm_eps?: number; num_channels?: number; intermediate_size?: number };
}

export function readHfConfig(path: string): HfClipConfigJson {
  let parsed: unknown;
  try { parsed = JSON.parse(readFileSync(path, 'utf8')); } catch (e) { throw new CheckpointFormatError(`HF config '${path}': ${(e as Error).message}`); }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new CheckpointFormatError(`HF config '${path}': expected a JSON object (CLIPConfig with text_config and vision_config)`);
  return parsed as HfClipConfigJson;
}

function hfAct(act: string | undefined, where: string): ClipActivation {
  if (act === undefined || act === 'quick_gelu') return 'quick_gelu';
  if (act === 'gelu') return 'gelu';
  throw new CheckpointFormatError(`HF config ${where}.hidden_act '${act}' is not supported (expected quick_gelu or gelu)`);
}

// ---------------------------------------------------------------------------------------------------
// Config inference
// ---------------------------------------------------------------------------------------------------

function need(t: TensorMap, key: string, rank: number, fmtName: string, sourceName?: string): number[] {
  const v = t.get(key);
  if (!v) throw new CheckpointFormatError(`${fmtName} checkpoint${where(sourceName)}: key '${key}' is missing, needed to infer the configuration`);
  const s = shapeOf(v);
  if (s.length !== rank) throw new CheckpointFormatError(`${fmtName} checkpoint${where(sourceName)}: '${key}' has shape ${fmt(s)}, expected rank ${rank}`);
  return s;
}

function countIndexed(t: TensorMap, re: RegExp): number {
  let n = 0;
  for (const k of t.keys()) { const m = re.exec(k); if (m) n = Math.max(n, Number(m[1]) + 1); }
  return n;
}

function headsFor(width: number, override: number | undefined, what: string, sourceName?: string): number {
  if (override !== undefined) {
    if (!Number.isInteger(override) || override < 1 || width % override) throw new CheckpointFormatError(`${what}: ${override} heads do not divide the width ${width}`);
    return override;
  }
  // Every published ViT / CLIP tower has 64-wide heads (OpenAI's build_model uses the same rule).
  if (width % 64) throw new CheckpointFormatError(`${what}${where(sourceName)}: cannot infer the head count of width ${width} (not a multiple of 64); pass the number of heads (--heads N)`);
  return width / 64;
}

function squareGrid(rows: number, what: string): number {
  const g = Math.round(Math.sqrt(rows));
  if (g * g !== rows) throw new CheckpointFormatError(`${what}: ${rows} position rows are not a square grid`);
  return g;
}

export interface InferOptions {
  /** Attention heads (default width / 64, or the HF config's). For CLIP: both towers unless split below. */
  heads?: number;
  visionHeads?: number;
  textHeads?: number;
  /** HF CLIPConfig (config.json contents or its path). */
  hfConfig?: HfClipConfigJson | string;
  sourceName?: string;
}

/** timm VisionTransformer config from a timm state dict (eps 1e-6, exact GELU). */
export function inferVitConfig(t: TensorMap, opts: InferOptions = {}): VitConfig {
  const src = opts.sourceName;
  const [dim, inChannels, patch] = need(t, 'patch_embed.proj.weight', 4, 'timm ViT', src) as [number, number, number, number];
  const depth = countIndexed(t, /^blocks\.(\d+)\.attn\.qkv\.weight$/);
  if (!depth) throw new CheckpointFormatError(`timm ViT checkpoint${where(src)}: no 'blocks.N.attn.qkv.weight' keys`);
  const hidden = need(t, 'blocks.0.mlp.fc1.weight', 2, 'timm ViT', src)[0]!;
  const classToken = t.has('cls_token');
  const posRows = need(t, 'pos_embed', 3, 'timm ViT', src)[1]!;
  const grid = squareGrid(posRows - (classToken ? 1 : 0), `timm ViT checkpoint${where(src)} pos_embed`);
  const head = t.get('head.weight');
  return {
    imageSize: grid * patch, patchSize: patch, inChannels, dim, depth, numHeads: headsFor(dim, opts.heads, 'timm ViT', src),
    mlpRatio: hidden / dim, eps: 1e-6, finalNorm: t.has('norm.weight'), classToken, numClasses: head ? shapeOf(head)[0]! : 0,
  };
}

/** CLIP config from an OpenAI or HF CLIP state dict (as OpenAI's build_model: widths, layers, patch, grid, context, vocab from shapes). */
export function inferClipConfig(t: TensorMap, format: 'openai-clip' | 'hf-clip', opts: InferOptions = {}): ClipConfig {
  const src = opts.sourceName;
  if (format === 'openai-clip') {
    const name = 'OpenAI CLIP';
    const [vw, inChannels, patch] = need(t, 'visual.conv1.weight', 4, name, src) as [number, number, number, number];
    const grid = squareGrid(need(t, 'visual.positional_embedding', 2, name, src)[0]! - 1, `${name} checkpoint${where(src)} visual.positional_embedding`);
    const [contextLength, tw] = need(t, 'positional_embedding', 2, name, src) as [number, number];
    return {
      embedDim: need(t, 'text_projection', 2, name, src)[1]!,
      vision: { imageSize: grid * patch, patchSize: patch, width: vw, layers: countIndexed(t, /^visual\.transformer\.resblocks\.(\d+)\.attn\.in_proj_weight$/), heads: headsFor(vw, opts.visionHeads ?? opts.heads, `${name} vision tower`, src), inChannels },
      text: { contextLength, vocabSize: need(t, 'token_embedding.weight', 2, name, src)[0]!, width: tw, layers: countIndexed(t, /^transformer\.resblocks\.(\d+)\.attn\.in_proj_weight$/), heads: headsFor(tw, opts.textHeads ?? opts.heads, `${name} text tower`, src) },
      act: 'quick_gelu', eps: 1e-5,
    };
  }
  const name = 'HF CLIP';
  const cfg = typeof opts.hfConfig === 'string' ? readHfConfig(opts.hfConfig) : opts.hfConfig;
  const vc = cfg?.vision_config ?? {}, tc = cfg?.text_config ?? {};
  const [vw, inChannels, patch] = need(t, 'vision_model.embeddings.patch_embedding.weight', 4, name, src) as [number, number, number, number];
  const grid = squareGrid(need(t, 'vision_model.embeddings.position_embedding.weight', 2, name, src)[0]! - 1, `${name} checkpoint${where(src)} vision position_embedding`);
  const [contextLength, tw] = need(t, 'text_model.embeddings.position_embedding.weight', 2, name, src) as [number, number];
  const vAct = hfAct(vc.hidden_act, 'vision_config'), tAct = hfAct(tc.hidden_act, 'text_config');
  if (vAct !== tAct) throw new CheckpointFormatError(`HF config: the towers use different activations (${vAct} / ${tAct}); omniformer's CLIP has one`);
  const veps = vc.layer_norm_eps ?? 1e-5, teps = tc.layer_norm_eps ?? 1e-5;
  if (veps !== teps) throw new CheckpointFormatError(`HF config: the towers use different layer_norm_eps (${veps} / ${teps}); omniformer's CLIP has one`);
  // HF pools at argmax(ids) when eos_token_id is the legacy 2, else at the first eos_token_id.
  const eos = tc.eos_token_id === undefined || tc.eos_token_id === 2 ? null : tc.eos_token_id;
  return {
    embedDim: need(t, 'visual_projection.weight', 2, name, src)[0]!,
    vision: { imageSize: grid * patch, patchSize: patch, width: vw, layers: countIndexed(t, /^vision_model\.encoder\.layers\.(\d+)\.self_attn\.q_proj\.weight$/), heads: headsFor(vw, opts.visionHeads ?? opts.heads ?? vc.num_attention_heads, `${name} vision tower`, src), inChannels },
    text: { contextLength, vocabSize: need(t, 'text_model.embeddings.token_embedding.weight', 2, name, src)[0]!, width: tw, layers: countIndexed(t, /^text_model\.encoder\.layers\.(\d+)\.self_attn\.q_proj\.weight$/), heads: headsFor(tw, opts.textHeads ?? opts.heads ?? tc.num_attention_heads, `${name} text tower`, src) },
    act: vAct, eps: veps, eosTokenId: eos,
  };
}

/** The Meta-Transformer encoder config of a file's blocks (for CLIP: the vision tower's). */
export function inferEncoderConfig(t: TensorMap, format: CheckpointFormat, opts: InferOptions = {}): MetaEncoderConfig {
  const src = opts.sourceName;
  switch (format) {
    case 'meta-transformer': {
      const prefix = [...t.keys()].some((k) => k.startsWith('blocks.')) ? 'blocks.' : '';
      const depth = countIndexed(t, new RegExp(`^${prefix.replace('.', '\\.')}(\\d+)\\.attn\\.qkv\\.weight$`));
      const dim = need(t, `${prefix}0.attn.qkv.weight`, 2, 'Meta-Transformer encoder', src)[1]!;
      const hidden = need(t, `${prefix}0.mlp.fc1.weight`, 2, 'Meta-Transformer encoder', src)[0]!;
      return { dim, depth, numHeads: headsFor(dim, opts.heads, 'Meta-Transformer encoder', src), mlpRatio: hidden / dim, eps: 1e-5, qkvBias: t.has(`${prefix}0.attn.qkv.bias`) };
    }
    case 'timm-vit': {
      const c = inferVitConfig(t, opts);
      return { dim: c.dim, depth: c.depth, numHeads: c.numHeads, mlpRatio: c.mlpRatio, eps: 1e-6, qkvBias: t.has('blocks.0.attn.qkv.bias') };
    }
    case 'openai-clip': {
      // From the vision tower's blocks alone (a visual-only file works too).
      const name = 'OpenAI CLIP vision tower';
      const dim = need(t, 'visual.transformer.resblocks.0.attn.in_proj_weight', 2, name, src)[1]!;
      const hidden = need(t, 'visual.transformer.resblocks.0.mlp.c_fc.weight', 2, name, src)[0]!;
      return { dim, depth: countIndexed(t, /^visual\.transformer\.resblocks\.(\d+)\.attn\.in_proj_weight$/), numHeads: headsFor(dim, opts.visionHeads ?? opts.heads, name, src), mlpRatio: hidden / dim, eps: 1e-5, qkvBias: true, act: 'quick_gelu' };
    }
    case 'hf-clip': {
      const name = 'HF CLIP vision tower';
      const cfg = typeof opts.hfConfig === 'string' ? readHfConfig(opts.hfConfig) : opts.hfConfig;
      const vc = cfg?.vision_config ?? {};
      const dim = need(t, 'vision_model.encoder.layers.0.self_attn.q_proj.weight', 2, name, src)[1]!;
      const hidden = need(t, 'vision_model.encoder.layers.0.mlp.fc1.weight', 2, name, src)[0]!;
      return {
        dim, depth: countIndexed(t, /^vision_model\.encoder\.layers\.(\d+)\.self_attn\.q_proj\.weight$/), numHeads: headsFor(dim, opts.visionHeads ?? opts.heads ?? vc.num_attention_heads, name, src),
        mlpRatio: hidden / dim, eps: vc.layer_norm_eps ?? 1e-5, qkvBias: true, act: hfAct(vc.hidden_act, 'vision_config'),
      };
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Key rules: checkpoint key template <-> module key template ({i} = a layer index), with an optional
// part of a concatenation along dim 0 (HF q/k/v -> in_proj) and an optional 2-D transpose.
// ---------------------------------------------------------------------------------------------------

interface Rule { ckpt: string; module: string; part?: [index: number, count: number]; transpose?: boolean }
interface CompiledRule extends Rule { ckptRe: RegExp; moduleRe: RegExp }

const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace('\\{i\\}', '(\\d+)');
const compile = (rules: Rule[]): CompiledRule[] => rules.map((r) => ({ ...r, ckptRe: new RegExp(`^${esc(r.ckpt)}$`), moduleRe: new RegExp(`^${esc(r.module)}$`) }));
const fill = (tpl: string, i: string | undefined): string => (i === undefined ? tpl : tpl.replace('{i}', i));

/** OpenAI residual block sub-keys -> names in another block layout. */
function blockRules(ckptPrefix: string, modulePrefix: string, map: [string, string, Partial<Rule>?][]): Rule[] {
  return map.map(([c, m, extra]) => ({ ckpt: ckptPrefix + c, module: modulePrefix + m, ...extra }));
}

const LN_WB = (a: string, b: string): [string, string][] => [[`${a}.weight`, `${b}.weight`], [`${a}.bias`, `${b}.bias`]];
/** OpenAI block -> OpenAI block (identity) */
const OPENAI_BLOCK: [string, string][] = [
  ...LN_WB('ln_1', 'ln_1'), ['attn.in_proj_weight', 'attn.in_proj_weight'], ['attn.in_proj_bias', 'attn.in_proj_bias'], ...LN_WB('attn.out_proj', 'attn.out_proj'),
  ...LN_WB('ln_2', 'ln_2'), ...LN_WB('mlp.c_fc', 'mlp.c_fc'), ...LN_WB('mlp.c_proj', 'mlp.c_proj'),
];
/** OpenAI block -> timm block */
const OPENAI_TO_TIMM: Record<string, string> = {
  'ln_1.weight': 'norm1.weight', 'ln_1.bias': 'norm1.bias', 'attn.in_proj_weight': 'attn.qkv.weight', 'attn.in_proj_bias': 'attn.qkv.bias',
  'attn.out_proj.weight': 'attn.proj.weight', 'attn.out_proj.bias': 'attn.proj.bias', 'ln_2.weight': 'norm2.weight', 'ln_2.bias': 'norm2.bias',
  'mlp.c_fc.weight': 'mlp.fc1.weight', 'mlp.c_fc.bias': 'mlp.fc1.bias', 'mlp.c_proj.weight': 'mlp.fc2.weight', 'mlp.c_proj.bias': 'mlp.fc2.bias',
};
/** HF layer -> OpenAI block */
const HF_BLOCK: [string, string, Partial<Rule>?][] = [
  ...LN_WB('layer_norm1', 'ln_1'),
  ['self_attn.q_proj.weight', 'attn.in_proj_weight', { part: [0, 3] }], ['self_attn.k_proj.weight', 'attn.in_proj_weight', { part: [1, 3] }], ['self_attn.v_proj.weight', 'attn.in_proj_weight', { part: [2, 3] }],
  ['self_attn.q_proj.bias', 'attn.in_proj_bias', { part: [0, 3] }], ['self_attn.k_proj.bias', 'attn.in_proj_bias', { part: [1, 3] }], ['self_attn.v_proj.bias', 'attn.in_proj_bias', { part: [2, 3] }],
  ...LN_WB('self_attn.out_proj', 'attn.out_proj'), ...LN_WB('layer_norm2', 'ln_2'), ...LN_WB('mlp.fc1', 'mlp.c_fc'), ...LN_WB('mlp.fc2', 'mlp.c_proj'),
];
const TIMM_BLOCK = Object.values(OPENAI_TO_TIMM);

const RULES = {
  'openai-clip:clip': compile([
    ...['visual.conv1.weight', 'visual.class_embedding', 'visual.positional_embedding', 'visual.ln_pre.weight', 'visual.ln_pre.bias', 'visual.ln_post.weight', 'visual.ln_post.bias', 'visual.proj',
      'token_embedding.weight', 'positional_embedding', 'ln_final.weight', 'ln_final.bias', 'text_projection', 'logit_scale'].map((k) => ({ ckpt: k, module: k })),
    ...blockRules('visual.transformer.resblocks.{i}.', 'visual.transformer.resblocks.{i}.', OPENAI_BLOCK),
    ...blockRules('transformer.resblocks.{i}.', 'transformer.resblocks.{i}.', OPENAI_BLOCK),
  ]),
  'hf-clip:clip': compile([
    { ckpt: 'vision_model.embeddings.class_embedding', module: 'visual.class_embedding' },
    { ckpt: 'vision_model.embeddings.patch_embedding.weight', module: 'visual.conv1.weight' },
    { ckpt: 'vision_model.embeddings.position_embedding.weight', module: 'visual.positional_embedding' },
    ...LN_WB('vision_model.pre_layrnorm', 'visual.ln_pre').map(([ckpt, module]) => ({ ckpt, module })),
    ...LN_WB('vision_model.post_layernorm', 'visual.ln_post').map(([ckpt, module]) => ({ ckpt, module })),
    { ckpt: 'visual_projection.weight', module: 'visual.proj', transpose: true },
    { ckpt: 'text_model.embeddings.token_embedding.weight', module: 'token_embedding.weight' },
    { ckpt: 'text_model.embeddings.position_embedding.weight', module: 'positional_embedding' },
    ...LN_WB('text_model.final_layer_norm', 'ln_final').map(([ckpt, module]) => ({ ckpt, module })),
    { ckpt: 'text_projection.weight', module: 'text_projection', transpose: true },
    { ckpt: 'logit_scale', module: 'logit_scale' },
    ...blockRules('vision_model.encoder.layers.{i}.', 'visual.transformer.resblocks.{i}.', HF_BLOCK),
    ...blockRules('text_model.encoder.layers.{i}.', 'transformer.resblocks.{i}.', HF_BLOCK),
  ]),
  'meta-transformer:encoder': compile(TIMM_BLOCK.map((k) => ({ ckpt: `{i}.${k}`, module: `{i}.${k}` }))),
  'meta-transformer-blocks:encoder': compile(TIMM_BLOCK.map((k) => ({ ckpt: `blocks.{i}.${k}`, module: `{i}.${k}` }))),
  'timm-vit:encoder': compile(TIMM_BLOCK.map((k) => ({ ckpt: `blocks.{i}.${k}`, module: `{i}.${k}` }))),
  'openai-clip:encoder': compile(Object.entries(OPENAI_TO_TIMM).map(([c, m]) => ({ ckpt: `visual.transformer.resblocks.{i}.${c}`, module: `{i}.${m}` }))),
  'hf-clip:encoder': compile(HF_BLOCK.map(([c, m, extra]) => ({ ckpt: `vision_model.encoder.layers.{i}.${c}`, module: `{i}.${OPENAI_TO_TIMM[m]!}`, ...extra }))),
} satisfies Record<string, CompiledRule[]>;

/** Keys that are known and harmless but not loaded: JIT metadata, HF position_ids buffers. */
const IGNORED: Record<CheckpointFormat, RegExp> = {
  'meta-transformer': /^$/,
  'timm-vit': /^$/,
  'openai-clip': /^(input_resolution|context_length|vocab_size)$/,
  'hf-clip': /^(text_model|vision_model)\.embeddings\.position_ids$/,
};
/** Keys of the rest of a known layout (not part of an 'encoder' target). */
const TIMM_STEM = /^(cls_token|pos_embed|reg_token|dist_token|patch_embed\..*|norm\..*|fc_norm\..*|head\..*|head_dist\..*|norm_pre\..*)$/;

function rulesFor(format: CheckpointFormat, target: CheckpointTarget, tensors: TensorMap): CompiledRule[] | 'identity' {
  if (target === 'encoder') {
    if (format === 'meta-transformer') return [...tensors.keys()].some((k) => k.startsWith('blocks.')) ? RULES['meta-transformer-blocks:encoder'] : RULES['meta-transformer:encoder'];
    return RULES[`${format}:encoder`];
  }
  if (target === 'vit' && format === 'timm-vit') return 'identity';
  if (target === 'clip' && (format === 'openai-clip' || format === 'hf-clip')) return RULES[`${format}:clip`];
  throw new CheckpointFormatError(`a ${format} checkpoint cannot be loaded as a '${target}' model (${target === 'clip' ? 'expected an OpenAI or HF CLIP file' : target === 'vit' ? 'expected a timm ViT file' : ''})`);
}

// ---------------------------------------------------------------------------------------------------
// Mapping and loading
// ---------------------------------------------------------------------------------------------------

export interface MappedMismatch extends MismatchedKey {
  /** The checkpoint key(s) the value came from. */
  checkpointKeys: string[];
}

export interface CheckpointReport extends LoadStateDictResult {
  format: CheckpointFormat;
  target: CheckpointTarget;
  /** Module keys the checkpoint does not (fully) supply are in `missing`; these are the checkpoint keys that would. */
  missingCheckpointKeys: string[];
  /** Checkpoint keys no rule maps (typos, other architectures): `unexpected`. Keys mapped to a module key the model lacks are there too. */
  mismatched: MappedMismatch[];
  /** Recognised keys not used by this target (e.g. a ViT's stem when only its blocks are the encoder; JIT metadata). */
  unused: string[];
  /** Number of module tensors loaded. */
  loaded: number;
}

export interface MapOptions {
  /** Throw (changing nothing) unless every module key is supplied with its shape and no key is unexpected. Default true. */
  strict?: boolean;
  sourceName?: string;
}

/** Rename (and concatenate / transpose) checkpoint tensors into module keys; returns the map and the bookkeeping. */
export function mapCheckpointKeys(tensors: TensorMap, format: CheckpointFormat, target: CheckpointTarget): {
  mapped: Map<string, { shape: number[]; data: AnyTypedArray }>; sources: Map<string, string[]>; unexpected: string[]; unused: string[];
  incomplete: Map<string, string[]>; badParts: MappedMismatch[];
} {
  const rules = rulesFor(format, target, tensors);
  const mapped = new Map<string, { shape: number[]; data: AnyTypedArray }>();
  const sources = new Map<string, string[]>();
  const unexpected: string[] = [], unused: string[] = [];
  const incomplete = new Map<string, string[]>();
  const badParts: MappedMismatch[] = [];
  if (rules === 'identity') {
    for (const [k, v] of tensors) { mapped.set(k, { shape: shapeOf(v), data: dataOf(v) }); sources.set(k, [k]); }
    return { mapped, sources, unexpected, unused, incomplete, badParts };
  }
  const parts = new Map<string, { rule: CompiledRule; key: string; t: AnyTensor }[]>();
  const clipRules = target === 'encoder' && (format === 'openai-clip' || format === 'hf-clip') ? RULES[`${format}:clip`] : null;
  for (const [k, t] of tensors) {
    let hit = false;
    for (const r of rules) {
      const m = r.ckptRe.exec(k);
      if (!m) continue;
      const mk = fill(r.module, m[1]);
      const list = parts.get(mk) ?? [];
      list.push({ rule: r, key: k, t });
      parts.set(mk, list);
      hit = true;
      break;
    }
    if (hit) continue;
    if (IGNORED[format].test(k)) unused.push(k);
    else if (target === 'encoder' && format === 'timm-vit' && TIMM_STEM.test(k)) unused.push(k);
    else if (clipRules && clipRules.some((r) => r.ckptRe.test(k))) unused.push(k);
    else unexpected.push(k);
  }
  for (const [mk, list] of parts) {
    const r0 = list[0]!.rule;
    sources.set(mk, list.map((p) => p.key));
    if (!r0.part) {
      const { t } = list[0]!;
      let shape = shapeOf(t), data = dataOf(t);
      if (r0.transpose) {
        if (shape.length !== 2) { badParts.push({ key: mk, checkpointKeys: [list[0]!.key], checkpointShape: shape, checkpointDtype: dtypeOfArray(data), modelShape: [], modelDtype: 'float32' }); continue; }
        const [a, b] = shape as [number, number];
        const src = data as Float32Array, out = new Float32Array(a * b);
        for (let i = 0; i < a; i++) for (let j = 0; j < b; j++) out[j * a + i] = src[i * b + j]!;
        shape = [b, a]; data = out;
      }
      mapped.set(mk, { shape, data });
      continue;
    }
    // A concatenation along dim 0 of `count` parts of equal shape (HF q/k/v -> in_proj).
    const count = r0.part[1];
    const byIndex = new Map(list.map((p) => [p.rule.part![0], p]));
    const absent: string[] = [];
    for (let i = 0; i < count; i++) if (!byIndex.has(i)) {
      const rule = (rules as CompiledRule[]).find((r) => r.part && r.part[0] === i && r.module === r0.module)!;
      const idx = r0.moduleRe.exec(mk)?.[1];
      absent.push(fill(rule.ckpt, idx));
    }
    if (absent.length) { incomplete.set(mk, absent); continue; }
    const ordered = [...Array(count).keys()].map((i) => byIndex.get(i)!);
    const s0 = shapeOf(ordered[0]!.t);
    if (ordered.some((p) => shapeOf(p.t).join() !== s0.join()) || s0.length < 1) {
      badParts.push({ key: mk, checkpointKeys: ordered.map((p) => `${p.key} ${fmt(shapeOf(p.t))}`), checkpointShape: s0, checkpointDtype: 'float32', modelShape: [], modelDtype: 'float32' });
      continue;
    }
    const n = ordered.reduce((s, p) => s + dataOf(p.t).length, 0);
    const out = new Float32Array(n);
    let off = 0;
    for (const p of ordered) { out.set(dataOf(p.t) as Float32Array, off); off += dataOf(p.t).length; }
    mapped.set(mk, { shape: [s0[0]! * count, ...s0.slice(1)], data: out });
  }
  return { mapped, sources, unexpected, unused, incomplete, badParts };
}

/** The checkpoint key(s) a module key would come from (for reporting missing keys). */
function expectedSources(mk: string, format: CheckpointFormat, target: CheckpointTarget, tensors: TensorMap): string[] {
  const rules = rulesFor(format, target, tensors);
  if (rules === 'identity') return [mk];
  const out: string[] = [];
  for (const r of rules) { const m = r.moduleRe.exec(mk); if (m) out.push(fill(r.ckpt, m[1])); }
  return out.length ? out : [mk];
}

/**
 * Load a checkpoint of `format` into `module` (a CLIP, VisionTransformer or MetaTransformerEncoder, per
 * `target`). Strict (default): any missing, unexpected or mis-shaped key raises a StateDictError whose message
 * lists all of them (in module and checkpoint names) and nothing is loaded. Non-strict: the matching tensors
 * are loaded and the report returned.
 */
export function loadMappedCheckpoint(module: Module, tensors: TensorMap, format: CheckpointFormat, target: CheckpointTarget, opts: MapOptions = {}): CheckpointReport {
  const strict = opts.strict ?? true;
  const m = mapCheckpointKeys(tensors, format, target);
  const own = module.stateDict();
  const report: CheckpointReport = { format, target, missing: [], missingCheckpointKeys: [], unexpected: [...m.unexpected], mismatched: [], unused: m.unused, loaded: 0 };
  const good = new Map<string, { shape: number[]; data: AnyTypedArray }>();
  for (const [key, v] of own) {
    if (m.incomplete.has(key)) { report.missing.push(key); report.missingCheckpointKeys.push(...m.incomplete.get(key)!); continue; }
    const bad = m.badParts.find((b) => b.key === key);
    if (bad) { report.mismatched.push({ ...bad, modelShape: [...v.shape], modelDtype: v.dtype }); continue; }
    const e = m.mapped.get(key);
    if (!e) { report.missing.push(key); report.missingCheckpointKeys.push(...expectedSources(key, format, target, tensors)); continue; }
    const dtype = dtypeOfArray(e.data);
    if (dtype !== v.dtype || e.shape.length !== v.rank || e.shape.some((d, i) => d !== v.shape[i])) {
      report.mismatched.push({ key, checkpointKeys: m.sources.get(key) ?? [key], checkpointShape: e.shape, checkpointDtype: dtype, modelShape: [...v.shape], modelDtype: v.dtype });
      continue;
    }
    good.set(key, e);
  }
  // Mapped keys the module does not have (e.g. a head when the model has none) are unexpected, by checkpoint name.
  for (const mk of m.mapped.keys()) if (!own.has(mk)) report.unexpected.push(...(m.sources.get(mk) ?? [mk]));
  if (strict && (report.missing.length || report.unexpected.length || report.mismatched.length)) {
    throw new StateDictError(formatReport(report, module, opts.sourceName), report);
  }
  applyStateDict(module, good, { strict: false }, opts.sourceName);
  report.loaded = good.size;
  return report;
}

/** A readable, multi-line account of a report (the strict-mode error message). */
export function formatReport(r: CheckpointReport, module?: Module, sourceName?: string): string {
  const lines = [`${r.format} checkpoint${where(sourceName)} does not match the ${module ? module.constructor.name : r.target} ` +
    `(${r.missing.length} missing, ${r.unexpected.length} unexpected, ${r.mismatched.length} mis-shaped); nothing was loaded`];
  if (r.missing.length) lines.push(`  missing: ${r.missing.join(', ')}`, `    (checkpoint keys: ${r.missingCheckpointKeys.join(', ')})`);
  if (r.unexpected.length) lines.push(`  unexpected checkpoint keys: ${r.unexpected.join(', ')}`);
  for (const x of r.mismatched) {
    lines.push(`  mis-shaped '${x.key}' (from ${x.checkpointKeys.join(' + ')}): checkpoint ${x.checkpointDtype} ${fmt(x.checkpointShape)} vs model ${x.modelDtype} ${fmt(x.modelShape)}`);
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------------

export interface CheckpointFile {
  tensors: TensorMap;
  format: CheckpointFormat;
  /** The HF config.json found next to the file (HF CLIP), if any. */
  hfConfig?: HfClipConfigJson;
  path: string;
}

const PICKLE_EXTS = ['pth', 'pt', 'bin', 'ckpt'];

function readHead(path: string, len: number): { head: Uint8Array; size: number } {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const head = new Uint8Array(Math.min(len, size));
    readSync(fd, head, 0, head.length, 0);
    return { head, size };
  } finally { closeSync(fd); }
}

function looksLikeSafetensors(head: Uint8Array, size: number): boolean {
  if (head.length < 9) return false;
  const n = Number(new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true));
  return n > 0 && n <= size - 8 && head[8] === 0x7b; // '{'
}

/** Entry names of a zip archive (central directory only). */
function zipEntryNames(path: string): string[] {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const read = (pos: number, len: number): Uint8Array => { const b = new Uint8Array(len); readSync(fd, b, 0, len, pos); return b; };
    const tailLen = Math.min(size, ZIP_TAIL_BYTES);
    let dir = parseZipTail(read(size - tailLen, tailLen), size);
    if ('eocd64Offset' in dir) dir = parseZip64End(read(dir.eocd64Offset, 56));
    return parseCentralDirectory(read(dir.cdOffset, dir.cdSize), dir.entries).map((e) => e.name);
  } finally { closeSync(fd); }
}

/** torch.jit.save archives hold code/ and constants.pkl next to data.pkl (torch.save archives do not). */
export function isTorchScriptArchive(path: string): boolean {
  try { return isTorchScriptZip(zipEntryNames(path)); } catch { return false; }
}

/**
 * Read a checkpoint file: safetensors, or a PyTorch torch.save file (.pth / .pt / .bin / .ckpt, zip or legacy;
 * read by src/io/torch-checkpoint.ts without executing the pickle, wrappers such as {'state_dict': ...}
 * unwrapped). A 'module.' / 'model.' prefix shared by every key is stripped and the format detected. For an HF
 * CLIP file, a `config.json` in the same folder is read too. TorchScript archives (torch.jit.save, e.g.
 * OpenAI's released `ViT-B-16.pt`) are read as the state dict of their module tree (src/io/torchscript.ts).
 */
export async function readCheckpointFile(path: string): Promise<CheckpointFile> {
  if (!existsSync(path)) throw new CheckpointFormatError(`checkpoint '${path}' does not exist`);
  const { head, size } = readHead(path, 16);
  const ext = path.toLowerCase().split('.').pop() ?? '';
  const isZip = head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04;
  let tensors: TensorMap;
  if (isZip || head[0] === 0x80 || (PICKLE_EXTS.includes(ext) && !looksLikeSafetensors(head, size))) {
    // TorchScript archives (torch.jit.save: OpenAI's released CLIP .pt files) hold a module tree, not a state dict.
    tensors = isZip && isTorchScriptArchive(path) ? readTorchScriptArchive(path) : await readTorchCheckpoint(path);
  } else {
    tensors = (await readSafetensors(path)).tensors;
  }
  tensors = stripWrapperPrefix(tensors);
  const format = detectCheckpointFormat(tensors, path);
  const out: CheckpointFile = { tensors: normalizeLayout(tensors, format), format, path };
  if (format === 'hf-clip') {
    const cfg = join(dirname(path), 'config.json');
    if (existsSync(cfg)) out.hfConfig = readHfConfig(cfg);
  }
  return out;
}

export interface LoadModelOptions extends InferOptions {
  strict?: boolean;
}

type Source = string | CheckpointFile | TensorMap;

async function open(source: Source): Promise<CheckpointFile> {
  if (typeof source === 'string') return readCheckpointFile(source);
  if (source instanceof Map) {
    const tensors = stripWrapperPrefix(source), format = detectCheckpointFormat(tensors);
    return { tensors: normalizeLayout(tensors, format), format, path: '<memory>' };
  }
  return source;
}

/** Build a CLIP from an OpenAI or HF CLIP checkpoint (config inferred from shapes and config.json) and load it. */
export async function loadClip(source: Source, opts: LoadModelOptions = {}): Promise<{ model: CLIP; report: CheckpointReport; config: ClipConfig }> {
  const f = await open(source);
  if (f.format !== 'openai-clip' && f.format !== 'hf-clip') throw new CheckpointFormatError(`'${f.path}' is a ${f.format} checkpoint, not a CLIP (OpenAI or HF CLIPModel) one`);
  const config = inferClipConfig(f.tensors, f.format, { ...opts, hfConfig: opts.hfConfig ?? f.hfConfig, sourceName: f.path });
  const model = new CLIP(config);
  const report = loadMappedCheckpoint(model, f.tensors, f.format, 'clip', { strict: opts.strict, sourceName: f.path });
  return { model, report, config };
}

export interface LoadVitOptions extends LoadModelOptions {
  /** Build the model for this image size, resampling pos_embed (bicubic, class token kept) when the grid differs. */
  imageSize?: number;
}

/** Build a timm VisionTransformer from a timm checkpoint and load it (optionally at another image size). */
export async function loadVit(source: Source, opts: LoadVitOptions = {}): Promise<{ model: VisionTransformer; report: CheckpointReport; config: VitConfig }> {
  const f = await open(source);
  if (f.format !== 'timm-vit') throw new CheckpointFormatError(`'${f.path}' is a ${f.format} checkpoint, not a timm ViT one`);
  const config = inferVitConfig(f.tensors, { ...opts, sourceName: f.path });
  let tensors = f.tensors;
  if (opts.imageSize !== undefined && opts.imageSize !== config.imageSize) {
    if (!Number.isInteger(opts.imageSize) || opts.imageSize % config.patchSize) throw new CheckpointFormatError(`imageSize ${opts.imageSize} is not a multiple of the patch size ${config.patchSize}`);
    const g = opts.imageSize / config.patchSize;
    const pos = f.tensors.get('pos_embed')!;
    const resampled = resamplePosEmbed({ shape: shapeOf(pos), data: dataOf(pos) as Float32Array }, [g, g], { prefixTokens: config.classToken ? 1 : 0 });
    tensors = new Map(f.tensors);
    tensors.set('pos_embed', resampled);
    config.imageSize = opts.imageSize;
  }
  const model = new VisionTransformer(config);
  const report = loadMappedCheckpoint(model, tensors, f.format, 'vit', { strict: opts.strict, sourceName: f.path });
  return { model, report, config };
}

/** A Meta-Transformer encoder from any supported file: its blocks (a CLIP's vision tower's), config inferred. */
export async function loadEncoderCheckpoint(source: Source, opts: LoadModelOptions & { frozen?: boolean; config?: MetaEncoderConfig } = {}): Promise<{ encoder: MetaTransformerEncoder; report: CheckpointReport; config: MetaEncoderConfig; format: CheckpointFormat }> {
  const f = await open(source);
  const config = opts.config ?? inferEncoderConfig(f.tensors, f.format, { ...opts, hfConfig: opts.hfConfig ?? f.hfConfig, sourceName: f.path });
  const encoder = new MetaTransformerEncoder(config, { frozen: opts.frozen ?? true });
  const report = loadMappedCheckpoint(encoder, f.tensors, f.format, 'encoder', { strict: opts.strict, sourceName: f.path });
  return { encoder, report, config, format: f.format };
}
