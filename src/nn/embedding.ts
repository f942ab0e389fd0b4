// Embedding table (torch.nn.Embedding): weight [num_embeddings, embedding_dim], looked up by int64 indices.
import { ShapeError, fmtShape } from '../engine/errors.js';
import { embedding } from '../engine/functional/indexing.js';
import { defaultGenerator, type Generator } from '../engine/functional/random.js';
import { Variable, where, type Tensor } from '../engine/tensor.js';
import { normal_, truncNormal_ } from './init.js';
import { Module } from './module.js';

export interface EmbeddingOptions {
  /** Row that is zero at init and never receives a gradient (negative counts from the end). */
  paddingIdx?: number;
  generator?: Generator;
}

export class Embedding extends Module {
  readonly numEmbeddings: number;
  readonly embeddingDim: number;
  readonly paddingIdx: number | null;
  weight: Variable;

  constructor(numEmbeddings: number, embeddingDim: number, opts: EmbeddingOptions = {}) {
    super();
    if (!Number.isInteger(numEmbeddings) || numEmbeddings < 1) throw new ShapeError('Embedding', `num_embeddings must be a positive integer, got ${numEmbeddings}`);
    if (!Number.isInteger(embeddingDim) || embeddingDim < 1) throw new ShapeError('Embedding', `embedding_dim must be a positive integer, got ${embeddingDim}`);
    this.numEmbeddings = numEmbeddings;
    this.embeddingDim = embeddingDim;
    let pad: number | null = null;
    if (opts.paddingIdx !== undefined) {
      const p = opts.paddingIdx;
      if (!Number.isInteger(p) || p >= numEmbeddings || p < -numEmbeddings) throw new ShapeError('Embedding', `padding_idx ${p} must be within num_embeddings (${numEmbeddings})`);
      pad = p < 0 ? p + numEmbeddings : p;
    }
    this.paddingIdx = pad;
    this.weight = new Variable(new Float32Array(numEmbeddings * embeddingDim), [numEmbeddings, embeddingDim]);
    this.resetParameters(opts.generator ?? defaultGenerator);
  }

  /** torch's default: N(0, 1), padding row zeroed. */
  resetParameters(generator: Generator = defaultGenerator): void {
    normal_(this.weight, 0, 1, generator);
    this.zeroPaddingRow();
  }

  initTimm(generator: Generator, std: number): void {
    truncNormal_(this.weight, std, { generator });
    this.zeroPaddingRow();
  }

  private zeroPaddingRow(): void {
    if (this.paddingIdx === null) return;
    const w = Float32Array.from(this.weight.value as Float32Array);
    w.fill(0, this.paddingIdx * this.embeddingDim, (this.paddingIdx + 1) * this.embeddingDim);
    this.weight.assignSync(w);
  }

  /** indices: int64 of any shape -> [...indices.shape, embedding_dim]. */
  forward(indices: Tensor): Tensor {
    if (indices.dtype !== 'int64') throw new ShapeError('Embedding', `indices must be int64, got ${indices.dtype} ${fmtShape(indices.shape)}`);
    const out = embedding(indices, this.weight);
    if (this.paddingIdx === null || !this.weight.requiresGrad) return out;
    // As torch: positions holding padding_idx output the padding row but send it no gradient.
    return where(indices.eq(this.paddingIdx).unsqueeze(-1), out.detach(), out);
  }
}
