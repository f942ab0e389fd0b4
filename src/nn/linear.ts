// Linear layer (torch.nn.Linear): weight [out, in], bias [out]; y = x @ W^T + b over the last axis.
import { ShapeError, fmtShape } from '../engine/errors.js';
import { defaultGenerator, type Generator } from '../engine/functional/random.js';
import { Variable, type Tensor } from '../engine/tensor.js';
import { torchDefaultInit_, truncNormal_, zeros_ } from './init.js';
import { Module } from './module.js';

export interface LinearOptions {
  bias?: boolean;
  /** Generator for the default (torch) initialisation. */
  generator?: Generator;
}

/** y = x W^T + b, applied over the last axis of x (any leading shape). */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  if (weight.rank !== 2) throw new ShapeError('linear', `weight must be 2-D [out, in], got ${fmtShape(weight.shape)}`);
  if (x.rank < 1 || x.shape[x.rank - 1] !== weight.shape[1]) {
    throw new ShapeError('linear', `input ${fmtShape(x.shape)} must end in in_features = ${weight.shape[1]} (weight ${fmtShape(weight.shape)})`);
  }
  if (bias && (bias.rank !== 1 || bias.shape[0] !== weight.shape[0])) throw new ShapeError('linear', `bias ${fmtShape(bias.shape)} must be [${weight.shape[0]}]`);
  const y = x.matmul(weight.mT);
  return bias ? y.add(bias) : y;
}

export class Linear extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;
  weight: Variable;
  bias: Variable | null;

  constructor(inFeatures: number, outFeatures: number, opts: LinearOptions = {}) {
    super();
    for (const [k, v] of [['inFeatures', inFeatures], ['outFeatures', outFeatures]] as const) {
      if (!Number.isInteger(v) || v < 0) throw new ShapeError('Linear', `${k} must be a non-negative integer, got ${v}`);
    }
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    this.weight = new Variable(new Float32Array(outFeatures * inFeatures), [outFeatures, inFeatures]);
    this.bias = (opts.bias ?? true) ? new Variable(new Float32Array(outFeatures), [outFeatures]) : null;
    this.resetParameters(opts.generator ?? defaultGenerator);
  }

  /** torch's default: kaiming-uniform(a=sqrt(5)) weight, U(±1/sqrt(in)) bias. */
  resetParameters(generator: Generator = defaultGenerator): void { torchDefaultInit_(this.weight, this.bias, generator); }

  initTimm(generator: Generator, std: number): void {
    truncNormal_(this.weight, std, { generator });
    if (this.bias) zeros_(this.bias);
  }

  forward(x: Tensor): Tensor { return linear(x, this.weight, this.bias); }
}
