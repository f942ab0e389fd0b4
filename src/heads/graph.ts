// Graph-level regression head of the graph reference (TokenGT / fairseq, PCQM4Mv2 HOMO-LUMO gap):
//   token 0 (the graph token) -> Linear(D, D) -> GELU -> LayerNorm(D) -> Linear(D, out, no bias) + learned bias.
// Parameter names are the reference's (`lm_head_transform_weight`, `layer_norm`, `embed_out`,
// `lm_output_learned_bias`). The reference applies the transform to every token and then keeps token 0; only
// token 0 is computed here (same output). Train with an L1 loss (the reference's objective).
import { ShapeError } from '../engine/errors.js';
import { select } from '../engine/functional/indexing.js';
import { defaultGenerator, type Generator } from '../engine/functional/random.js';
import { Variable, type Tensor } from '../engine/tensor.js';
import type { TokenSequence } from '../data2seq/types.js';
import { Linear } from '../nn/linear.js';
import { Module } from '../nn/module.js';
import { LayerNorm } from '../nn/norm.js';
import { headInput } from './pooling.js';

export class GraphRegressionHead extends Module {
  readonly dim: number;
  readonly numOutputs: number;
  lm_head_transform_weight: Linear;
  layer_norm: LayerNorm;
  embed_out: Linear;
  lm_output_learned_bias: Variable;

  constructor(dim: number, numOutputs = 1, opts: { generator?: Generator } = {}) {
    super();
    for (const [k, v] of [['dim', dim], ['numOutputs', numOutputs]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new ShapeError('GraphRegressionHead', `${k} must be a positive integer, got ${v}`);
    }
    this.dim = dim;
    this.numOutputs = numOutputs;
    const g = opts.generator ?? defaultGenerator;
    this.lm_head_transform_weight = new Linear(dim, dim, { generator: g });
    this.layer_norm = new LayerNorm(dim);
    this.embed_out = new Linear(dim, numOutputs, { bias: false, generator: g });
    this.lm_output_learned_bias = new Variable(new Float32Array(numOutputs), [numOutputs]);
  }

  /** tokens [B, N, D] (token 0 = graph token) -> [B, numOutputs]. */
  forward(input: Tensor | TokenSequence): Tensor {
    const { x } = headInput('GraphRegressionHead', input, null, this.dim);
    const g = select(x, 1, 0);
    const h = this.layer_norm.forward(this.lm_head_transform_weight.forward(g).gelu());
    return this.embed_out.forward(h).add(this.lm_output_learned_bias);
  }
}
