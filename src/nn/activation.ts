// Activation modules (parameter-free) and the name -> module factory used by Mlp and TransformerBlock.
import type { Tensor } from '../engine/tensor.js';
import { Module } from './module.js';

export class GELU extends Module {
  readonly approximate: 'none' | 'tanh';
  constructor(opts: { approximate?: 'none' | 'tanh' } = {}) {
    super();
    this.approximate = opts.approximate ?? 'none';
  }
  forward(x: Tensor): Tensor { return x.gelu(this.approximate); }
}

/** x * sigmoid(1.702 x) (OpenAI CLIP). */
export class QuickGELU extends Module {
  forward(x: Tensor): Tensor { return x.quickGelu(); }
}

export class ReLU extends Module {
  forward(x: Tensor): Tensor { return x.relu(); }
}

export class SiLU extends Module {
  forward(x: Tensor): Tensor { return x.silu(); }
}

export class Tanh extends Module {
  forward(x: Tensor): Tensor { return x.tanh(); }
}

export class Sigmoid extends Module {
  forward(x: Tensor): Tensor { return x.sigmoid(); }
}

/** A module mapping one tensor to one tensor (activations, Linear, norms, ...). */
export interface UnaryModule extends Module { forward(x: Tensor): Tensor }

export type ActivationName = 'gelu' | 'gelu_tanh' | 'quick_gelu' | 'relu' | 'silu' | 'swish' | 'tanh' | 'sigmoid';
/** An activation by name, or a factory returning a fresh module. */
export type ActivationSpec = ActivationName | (() => UnaryModule);

export function makeActivation(spec: ActivationSpec): UnaryModule {
  if (typeof spec === 'function') return spec();
  switch (spec) {
    case 'gelu': return new GELU();
    case 'gelu_tanh': return new GELU({ approximate: 'tanh' });
    case 'quick_gelu': return new QuickGELU();
    case 'relu': return new ReLU();
    case 'silu': case 'swish': return new SiLU();
    case 'tanh': return new Tanh();
    case 'sigmoid': return new Sigmoid();
    default: throw new Error(`unknown activation '${String(spec)}': expected one of gelu, gelu_tanh, quick_gelu, relu, silu, swish, tanh, sigmoid, or a factory`);
  }
}
