// Text tokenizer (Meta-Transformer §2.1, the TS port's recommended form): sub-word ids -> learned token
// embedding (vocab x D) + learned positions (context x D) -> tokens [B, L, D] with a key-padding mask.
//
// Sub-word tokenization runs on the host with `@huggingface/tokenizers` from a standard `tokenizer.json`
// (`SubwordTokenizer.fromTokenizerJson` / `fromFile` take any such file). Two real vocabularies ship in
// `assets/tokenizers/` (no download at run time; sources, hashes and licences in its README):
//   - CLIP BPE (`SubwordTokenizer.clip()`): OpenAI's `bpe_simple_vocab_16e6.txt.gz`, 49,408 ids, context 77,
//     <|startoftext|> = 49406, <|endoftext|> = 49407, lower-cased and whitespace-collapsed as CLIP (ftfy and
//     HTML unescaping are not applied, as in Hugging Face's CLIPTokenizerFast); padded with 0 as
//     `clip.tokenize` does (the mask, not the id, marks padding).
//   - BERT WordPiece (`SubwordTokenizer.bertBaseUncased()`): bert-base-uncased `vocab.txt`, 30,522 ids,
//     [CLS] 101 ... [SEP] 102, [PAD] 0, context 512 by default.
// The tokenizer.json of each is built in memory from the vocabulary file (`buildClipTokenizerJson`,
// `buildBertTokenizerJson`, the same structure as Hugging Face's files); `assets/tokenizers/build-tokenizer-json.mjs`
// writes them to disk.
//
// Truncation keeps the special tokens: [SOT] + the first L − 2 sub-words + [EOT] (exactly CLIP's
// `tokenize(..., truncate=True)` and BERT's longest-first truncation of one sequence).
//
// `TextTokenizer.prepare(texts)` gives { ids: int64 [B, L], paddingMask: bool [B, L] (true = padding) } with
// L = the context length (default: one compiled shape for every batch) or the batch's longest sequence
// (`padTo: 'longest'`). `forward` adds `positional_embedding[:L]` and zeroes padded positions. Parameter
// names follow CLIP's text tower (`token_embedding.weight`, `positional_embedding`).
import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { Tokenizer } from '@huggingface/tokenizers';
import { ShapeError, fmtShape } from '../engine/errors.js';
import { Tensor, Variable } from '../engine/tensor.js';
import { narrow } from '../engine/functional/indexing.js';
import { defaultGenerator, type Generator } from '../engine/functional/random.js';
import { Embedding } from '../nn/embedding.js';
import { normal_ } from '../nn/init.js';
import { Data2Seq, type TokenSequence } from './types.js';

/** A parsed `tokenizer.json` (the Hugging Face tokenizers format). */
export type TokenizerJson = Record<string, unknown>;

// ---------------------------------------------------------------------------------------------------
// Bundled vocabularies
// ---------------------------------------------------------------------------------------------------

/** The directory of the bundled vocabularies (`assets/tokenizers` at the package root). */
export function tokenizerAssetsDir(): string {
  for (const rel of ['../../../assets/tokenizers/', '../../assets/tokenizers/']) {
    const url = new URL(rel, import.meta.url);
    if (existsSync(url)) return url.pathname;
  }
  throw new Error('omniformer: the bundled tokenizer vocabularies (assets/tokenizers) were not found next to the package');
}

/** CLIP's BPE merges file (`bpe_simple_vocab_16e6.txt`), as text. */
export function readClipBpeText(path = `${tokenizerAssetsDir()}clip/bpe_simple_vocab_16e6.txt.gz`): string {
  const raw = readFileSync(path);
  return (path.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8');
}

/** bert-base-uncased `vocab.txt`, as text. */
export function readBertVocabText(path = `${tokenizerAssetsDir()}bert-base-uncased/vocab.txt`): string {
  return readFileSync(path, 'utf8');
}

// ---------------------------------------------------------------------------------------------------
// tokenizer.json builders
// ---------------------------------------------------------------------------------------------------

/** GPT-2/CLIP's reversible byte -> printable character table (bytes that print as themselves keep their code). */
export function bytesToUnicode(): string[] {
  const keep: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) keep.push(b);
  for (let b = 0xa1; b <= 0xac; b++) keep.push(b);
  for (let b = 0xae; b <= 0xff; b++) keep.push(b);
  const table = new Array<string>(256);
  const kept = new Set(keep);
  for (const b of keep) table[b] = String.fromCharCode(b);
  let extra = 0;
  for (let b = 0; b < 256; b++) if (!kept.has(b)) table[b] = String.fromCharCode(256 + extra++);
  return table;
}

/** The pre-tokenization pattern of CLIP's SimpleTokenizer (contractions, letter runs, single digits, other runs). */
export const CLIP_SPLIT_PATTERN = "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+";

/**
 * The tokenizer.json of CLIP's tokenizer from the text of `bpe_simple_vocab_16e6.txt`. As CLIP's
 * SimpleTokenizer: the first line is a header, the next 49152 − 256 − 2 = 48,894 lines are merges; the
 * vocabulary is the 256 byte characters, the same with the end-of-word suffix `</w>`, one entry per merge,
 * then <|startoftext|> and <|endoftext|> (49,408 ids).
 */
export function buildClipTokenizerJson(bpeText: string, opts: { numMerges?: number } = {}): TokenizerJson {
  const numMerges = opts.numMerges ?? 49152 - 256 - 2;
  const lines = bpeText.split('\n');
  if (lines.length < numMerges + 1) throw new Error(`buildClipTokenizerJson: the merges file has ${lines.length - 1} merge lines, expected at least ${numMerges}`);
  const merges = lines.slice(1, numMerges + 1).map((l, i) => {
    const parts = l.split(' ');
    if (parts.length !== 2 || !parts[0] || !parts[1]) throw new Error(`buildClipTokenizerJson: merge line ${i + 2} ('${l}') is not two space-separated symbols`);
    return parts as [string, string];
  });
  const bytes = bytesToUnicode();
  // CLIP orders the byte characters by byte value after the printable ones: bytes_to_unicode().values().
  const order: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) order.push(b);
  for (let b = 0xa1; b <= 0xac; b++) order.push(b);
  for (let b = 0xae; b <= 0xff; b++) order.push(b);
  for (let b = 0; b < 256; b++) if (!order.includes(b)) order.push(b);
  const symbols = order.map((b) => bytes[b]);
  const vocabList = [...symbols, ...symbols.map((s) => `${s}</w>`), ...merges.map(([a, b]) => a + b), '<|startoftext|>', '<|endoftext|>'];
  const vocab: Record<string, number> = {};
  vocabList.forEach((t, i) => {
    if (t in vocab) throw new Error(`buildClipTokenizerJson: duplicate vocabulary entry '${t}' at ${i} (first at ${vocab[t]})`);
    vocab[t] = i;
  });
  const sot = vocab['<|startoftext|>'], eot = vocab['<|endoftext|>'];
  const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(sot, '<|startoftext|>'), special(eot, '<|endoftext|>')],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'NFC' }, { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }, { type: 'Lowercase' }] },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: CLIP_SPLIT_PATTERN }, behavior: 'Removed', invert: true },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: { type: 'RobertaProcessing', sep: ['<|endoftext|>', eot], cls: ['<|startoftext|>', sot], trim_offsets: false, add_prefix_space: false },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE', dropout: null, unk_token: '<|endoftext|>', continuing_subword_prefix: '', end_of_word_suffix: '</w>',
      fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges,
    },
  };
}

/**
 * The tokenizer.json of a BERT WordPiece tokenizer from `vocab.txt` (one token per line, the line number is
 * the id): BertNormalizer (clean text, CJK spacing, lower-case + strip accents when `lowercase`),
 * BertPreTokenizer, WordPiece with `##` continuations and [UNK], post-processing [CLS] $A [SEP].
 */
export function buildBertTokenizerJson(vocabText: string, opts: { lowercase?: boolean } = {}): TokenizerJson {
  const lowercase = opts.lowercase ?? true;
  const tokens = vocabText.split('\n');
  if (tokens[tokens.length - 1] === '') tokens.pop();
  const vocab: Record<string, number> = {};
  tokens.forEach((t, i) => {
    if (t in vocab) throw new Error(`buildBertTokenizerJson: duplicate token '${t}' on lines ${vocab[t] + 1} and ${i + 1}`);
    vocab[t] = i;
  });
  for (const s of ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']) if (!(s in vocab)) throw new Error(`buildBertTokenizerJson: the vocabulary has no ${s} token`);
  const special = (content: string) => ({ id: vocab[content], content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'].map(special),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }, { SpecialToken: { id: '[SEP]', type_id: 1 } }],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [vocab['[CLS]']], tokens: ['[CLS]'] },
        '[SEP]': { id: '[SEP]', ids: [vocab['[SEP]']], tokens: ['[SEP]'] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
  };
}

// ---------------------------------------------------------------------------------------------------
// Host-side sub-word tokenizer
// ---------------------------------------------------------------------------------------------------

export interface SubwordTokenizerOptions {
  /** Maximum sequence length L, special tokens included. */
  contextLength: number;
  /** Id written into padded positions (default 0). The padding mask, not this id, marks padding. */
  padId?: number;
  /** tokenizer_config.json contents, if any (e.g. `clean_up_tokenization_spaces`). */
  config?: Record<string, unknown>;
  /** A name for messages. */
  name?: string;
}

export interface EncodedBatch {
  /** [B, L] ids, row-major. */
  ids: BigInt64Array;
  /** [B, L] 1 = real token, 0 = padding (an attention mask). */
  attentionMask: Uint8Array;
  /** Sequence length L of the batch. */
  length: number;
  /** Real tokens per row (special tokens included, after truncation). */
  lengths: number[];
  /** Did row b lose sub-words to truncation? */
  truncated: boolean[];
}

/** A `tokenizer.json` tokenizer with fixed-length batching (truncation that keeps the special tokens, padding). */
export class SubwordTokenizer {
  readonly name: string;
  readonly contextLength: number;
  readonly padId: number;
  /** Largest id + 1 (added tokens included): the embedding table size. */
  readonly vocabSize: number;
  readonly tokenizer: Tokenizer;

  constructor(json: TokenizerJson, opts: SubwordTokenizerOptions) {
    this.name = opts.name ?? 'tokenizer';
    if (!Number.isInteger(opts.contextLength) || opts.contextLength < 1) throw new RangeError(`SubwordTokenizer(${this.name}): contextLength must be a positive integer, got ${opts.contextLength}`);
    this.contextLength = opts.contextLength;
    this.padId = opts.padId ?? 0;
    this.tokenizer = new Tokenizer(json, opts.config ?? {});
    let max = -1;
    for (const id of this.tokenizer.get_vocab(true).values()) if (id > max) max = id;
    this.vocabSize = max + 1;
    if (!Number.isInteger(this.padId) || this.padId < 0 || this.padId >= this.vocabSize) throw new RangeError(`SubwordTokenizer(${this.name}): padId ${this.padId} is outside the vocabulary [0, ${this.vocabSize})`);
  }

  /** From a tokenizer.json object or its JSON text. */
  static fromTokenizerJson(json: TokenizerJson | string, opts: SubwordTokenizerOptions): SubwordTokenizer {
    return new SubwordTokenizer(typeof json === 'string' ? (JSON.parse(json) as TokenizerJson) : json, opts);
  }

  /** From a tokenizer.json file (and, optionally, its tokenizer_config.json). */
  static fromFile(path: string, opts: Omit<SubwordTokenizerOptions, 'config'> & { configPath?: string }): SubwordTokenizer {
    const config = opts.configPath ? (JSON.parse(readFileSync(opts.configPath, 'utf8')) as Record<string, unknown>) : {};
    return new SubwordTokenizer(JSON.parse(readFileSync(path, 'utf8')) as TokenizerJson, { ...opts, config, name: opts.name ?? path });
  }

  private static cache = new Map<string, TokenizerJson>();

  /** OpenAI CLIP's BPE tokenizer (bundled vocabulary), context 77, padded with 0. */
  static clip(opts: { contextLength?: number } = {}): SubwordTokenizer {
    let json = SubwordTokenizer.cache.get('clip');
    if (!json) SubwordTokenizer.cache.set('clip', (json = buildClipTokenizerJson(readClipBpeText())));
    return new SubwordTokenizer(json, { contextLength: opts.contextLength ?? 77, padId: 0, name: 'clip-bpe', config: { clean_up_tokenization_spaces: false } });
  }

  /** bert-base-uncased WordPiece (bundled vocabulary), context 512, [PAD] = 0. */
  static bertBaseUncased(opts: { contextLength?: number } = {}): SubwordTokenizer {
    let json = SubwordTokenizer.cache.get('bert');
    if (!json) SubwordTokenizer.cache.set('bert', (json = buildBertTokenizerJson(readBertVocabText())));
    return new SubwordTokenizer(json, { contextLength: opts.contextLength ?? 512, padId: 0, name: 'bert-base-uncased', config: { clean_up_tokenization_spaces: true } });
  }

  /** Sub-word strings of `text` (no special tokens). */
  tokenize(text: string): string[] { return this.tokenizer.tokenize(text); }

  /** Id of a token string, if in the vocabulary. */
  tokenToId(token: string): number | undefined { return this.tokenizer.token_to_id(token); }

  /**
   * Ids of one text with the special tokens, truncated to `contextLength` keeping them (no padding);
   * `truncated` tells whether sub-words were dropped.
   */
  encodeWithInfo(text: string): { ids: number[]; truncated: boolean } {
    if (typeof text !== 'string') throw new TypeError(`SubwordTokenizer(${this.name}): expected a string, got ${typeof text}`);
    const full: number[] = this.tokenizer.encode(text, { add_special_tokens: true }).ids;
    const L = this.contextLength;
    if (full.length <= L) return { ids: full, truncated: false };
    // Locate the content inside the special tokens so truncation keeps the prefix and the suffix.
    const body: number[] = this.tokenizer.encode(text, { add_special_tokens: false }).ids;
    const pre = full.length - body.length;
    let start = -1;
    for (let s = 0; s <= pre && start < 0; s++) if (body.every((id, i) => full[s + i] === id)) start = s;
    if (start < 0) return { ids: full.slice(0, L), truncated: true };
    const prefix = full.slice(0, start), suffix = full.slice(start + body.length);
    const room = L - prefix.length - suffix.length;
    if (room < 0) throw new RangeError(`SubwordTokenizer(${this.name}): contextLength ${L} cannot hold the ${prefix.length + suffix.length} special tokens`);
    return { ids: [...prefix, ...body.slice(0, room), ...suffix], truncated: true };
  }

  /** Ids of one text (special tokens included, truncated to the context length). */
  encode(text: string): number[] { return this.encodeWithInfo(text).ids; }

  /** A padded batch: L = contextLength (`padTo: 'context'`, default) or the longest row (`'longest'`). */
  encodeBatch(texts: readonly string[], opts: { padTo?: 'context' | 'longest' } = {}): EncodedBatch {
    if (!Array.isArray(texts) || texts.length === 0) throw new TypeError(`SubwordTokenizer(${this.name}): expected a non-empty array of strings`);
    const rows = texts.map((t, b) => {
      if (typeof t !== 'string') throw new TypeError(`SubwordTokenizer(${this.name}): text ${b} is ${typeof t}, expected a string`);
      return this.encodeWithInfo(t);
    });
    const L = (opts.padTo ?? 'context') === 'longest' ? Math.max(...rows.map((r) => r.ids.length)) : this.contextLength;
    const B = rows.length;
    const ids = new BigInt64Array(B * L).fill(BigInt(this.padId));
    const attentionMask = new Uint8Array(B * L);
    rows.forEach((r, b) => r.ids.forEach((id, i) => { ids[b * L + i] = BigInt(id); attentionMask[b * L + i] = 1; }));
    return { ids, attentionMask, length: L, lengths: rows.map((r) => r.ids.length), truncated: rows.map((r) => r.truncated) };
  }

  decode(ids: readonly number[], opts: { skipSpecialTokens?: boolean } = {}): string {
    if (ids.length === 0) return '';
    return this.tokenizer.decode([...ids], { skip_special_tokens: opts.skipSpecialTokens ?? true });
  }
}

// ---------------------------------------------------------------------------------------------------
// The trainable tokenizer
// ---------------------------------------------------------------------------------------------------

export interface TextInput {
  /** int64 [B, L] token ids, L <= contextLength. */
  ids: Tensor;
  /** bool [B, L], true = padding (optional: no padding). */
  paddingMask?: Tensor | null;
}

export interface TextTokenizerOptions {
  /** Token width D. */
  dim: number;
  /** Host-side sub-word tokenizer (default `SubwordTokenizer.clip()`). */
  tokenizer?: SubwordTokenizer;
  /** Embedding rows (default: the tokenizer's vocabulary size). */
  vocabSize?: number;
  /** Learned positions (default: the tokenizer's context length). */
  contextLength?: number;
  /** Batch length of `prepare`: the context length (default, one shape) or the longest text. */
  padTo?: 'context' | 'longest';
  /** Init std of the token table (default 0.02, CLIP) and of the positions (default 0.01, CLIP). */
  tokenStd?: number;
  posStd?: number;
  generator?: Generator;
}

export class TextTokenizer extends Data2Seq<TextInput, string> {
  readonly modality = 'text' as const;
  readonly dim: number;
  readonly vocabSize: number;
  readonly contextLength: number;
  readonly padTo: 'context' | 'longest';
  token_embedding: Embedding;
  positional_embedding: Variable;
  private _tokenizer: SubwordTokenizer | null;

  constructor(opts: TextTokenizerOptions) {
    super();
    const op = 'TextTokenizer';
    if (!Number.isInteger(opts.dim) || opts.dim < 1) throw new ShapeError(op, `dim must be a positive integer, got ${opts.dim}`);
    this.dim = opts.dim;
    this._tokenizer = opts.tokenizer ?? (opts.vocabSize !== undefined && opts.contextLength !== undefined ? null : SubwordTokenizer.clip());
    this.vocabSize = opts.vocabSize ?? this._tokenizer!.vocabSize;
    this.contextLength = opts.contextLength ?? this._tokenizer!.contextLength;
    for (const [k, v] of [['vocabSize', this.vocabSize], ['contextLength', this.contextLength]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new ShapeError(op, `${k} must be a positive integer, got ${v}`);
    }
    if (this._tokenizer && this._tokenizer.vocabSize > this.vocabSize) throw new ShapeError(op, `vocabSize ${this.vocabSize} is smaller than the tokenizer's ${this._tokenizer.vocabSize} ids`);
    if (this._tokenizer && this._tokenizer.contextLength > this.contextLength) throw new ShapeError(op, `contextLength ${this.contextLength} is shorter than the tokenizer's ${this._tokenizer.contextLength}`);
    this.padTo = opts.padTo ?? 'context';
    const g = opts.generator ?? defaultGenerator;
    this.token_embedding = new Embedding(this.vocabSize, this.dim, { generator: g });
    normal_(this.token_embedding.weight, 0, opts.tokenStd ?? 0.02, g);
    this.positional_embedding = new Variable(new Float32Array(this.contextLength * this.dim), [this.contextLength, this.dim]);
    normal_(this.positional_embedding, 0, opts.posStd ?? 0.01, g);
  }

  /** The host-side sub-word tokenizer. */
  get tokenizer(): SubwordTokenizer {
    if (!this._tokenizer) throw new Error('TextTokenizer: constructed without a sub-word tokenizer; feed ids to forward() directly');
    return this._tokenizer;
  }

  prepare(texts: string[]): TextInput {
    const enc = this.tokenizer.encodeBatch(texts, { padTo: this.padTo === 'longest' ? 'longest' : 'context' });
    const B = texts.length, L = enc.length;
    const pad = new Uint8Array(B * L);
    for (let i = 0; i < pad.length; i++) pad[i] = enc.attentionMask[i] ? 0 : 1;
    return { ids: new Tensor([B, L], 'int64', enc.ids), paddingMask: new Tensor([B, L], 'bool', pad) };
  }

  forward(input: TextInput): TokenSequence {
    const op = this.constructor.name;
    const { ids } = input;
    if (!(ids instanceof Tensor) || ids.dtype !== 'int64' || ids.rank !== 2) {
      throw new ShapeError(op, `ids must be int64 [B, L], got ${ids instanceof Tensor ? `${ids.dtype} ${fmtShape(ids.shape)}` : String(ids)}`);
    }
    const [B, L] = ids.shape as [number, number];
    if (L < 1 || L > this.contextLength) throw new ShapeError(op, `ids ${fmtShape(ids.shape)} have length ${L}; expected 1..${this.contextLength} (the context length)`);
    if (ids.isRealized) {
      const v = ids.value as BigInt64Array;
      for (let i = 0; i < v.length; i++) {
        if (v[i] < 0n || v[i] >= BigInt(this.vocabSize)) throw new ShapeError(op, `token id ${v[i]} at [${Math.floor(i / L)}, ${i % L}] is outside the vocabulary [0, ${this.vocabSize})`);
      }
    }
    const mask = input.paddingMask ?? null;
    if (mask && (!(mask instanceof Tensor) || mask.dtype !== 'bool' || mask.rank !== 2 || mask.shape[0] !== B || mask.shape[1] !== L)) {
      throw new ShapeError(op, `paddingMask must be bool [B, L] = [${B}, ${L}] (true = padding), got ${mask instanceof Tensor ? `${mask.dtype} ${fmtShape(mask.shape)}` : String(mask)}`);
    }
    const pos = L === this.contextLength ? this.positional_embedding : narrow(this.positional_embedding, 0, 0, L);
    let tokens = this.token_embedding.forward(ids).add(pos);
    if (mask) tokens = tokens.mul(mask.logicalNot().cast('float32').unsqueeze(-1));
    return { tokens, paddingMask: mask };
  }
}
