// Data-to-Sequence: every modality's tokenizer maps raw data to tokens [B, N, D] in the shared space.
// Host-side preprocessing (decoding, fbank, FPS/kNN, eigenvectors, BPE) happens in `prepare`, in
// TypeScript; the trainable part is a Module whose `forward` is traced into the step graph.
import type { Tensor } from '../engine/tensor.js';
import { Module } from '../nn/module.js';

export const MODALITIES = ['text', 'image', 'infrared', 'xray', 'hyperspectral', 'video', 'audio', 'point-cloud', 'time-series', 'imu', 'tabular', 'graph'] as const;
export type Modality = (typeof MODALITIES)[number];

/** A tokenized batch, ready for the shared encoder. */
export interface TokenSequence {
  /** [B, N, D] */
  tokens: Tensor;
  /** [B, N] bool, true = padding (ignored as attention keys and by pooling). */
  paddingMask?: Tensor | null;
  /** [B, N, D] positions re-added before every encoder block (point clouds, as in the reference). */
  perBlockPos?: Tensor | null;
}

/**
 * Base of every tokenizer. `I` is the model-side input (tensors produced by `prepare`), `R` the raw input a
 * user has (arrays, strings, point sets, graphs...).
 */
export abstract class Data2Seq<I, R = I> extends Module {
  abstract readonly modality: Modality;
  /** Token width D. */
  abstract readonly dim: number;
  /** Raw data -> model inputs (host side; no graph). */
  abstract prepare(raw: R[]): I;
  /** Model inputs -> tokens (traced). */
  abstract forward(input: I): TokenSequence;
}
