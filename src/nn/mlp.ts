// timm's Mlp: fc1 -> act -> drop1 -> norm (identity) -> fc2 -> drop2.
import { ShapeError } from '../engine/errors.js';
import { defaultGenerator, type Generator } from '../engine/functional/random.js';
import type { Tensor } from '../engine/tensor.js';
import { makeActivation, type ActivationSpec, type UnaryModule } from './activation.js';
import { Identity } from './container.js';
import { Dropout } from './dropout.js';
import { Linear } from './linear.js';
import { Module } from './module.js';

export interface MlpOptions {
  act?: ActivationSpec;
  drop?: number;
  bias?: boolean;
  generator?: Generator;
}

export class Mlp extends Module {
  fc1: Linear;
  act: UnaryModule;
  drop1: Dropout;
  norm: Identity;
  fc2: Linear;
  drop2: Dropout;

  constructor(inFeatures: number, hiddenFeatures: number = inFeatures, outFeatures: number = inFeatures, opts: MlpOptions = {}) {
    super();
    if (![inFeatures, hiddenFeatures, outFeatures].every((d) => Number.isInteger(d) && d > 0)) {
      throw new ShapeError('Mlp', `feature sizes must be positive integers, got in ${inFeatures}, hidden ${hiddenFeatures}, out ${outFeatures}`);
    }
    const g = opts.generator ?? defaultGenerator;
    const bias = opts.bias ?? true;
    this.fc1 = new Linear(inFeatures, hiddenFeatures, { bias, generator: g });
    this.act = makeActivation(opts.act ?? 'gelu');
    this.drop1 = new Dropout(opts.drop ?? 0, { generator: g });
    this.norm = new Identity();
    this.fc2 = new Linear(hiddenFeatures, outFeatures, { bias, generator: g });
    this.drop2 = new Dropout(opts.drop ?? 0, { generator: g });
  }

  forward(x: Tensor): Tensor {
    return this.drop2.forward(this.fc2.forward(this.norm.forward(this.drop1.forward(this.act.forward(this.fc1.forward(x))))));
  }
}
