// Dropout and stochastic depth. Random masks are drawn in TypeScript from a seeded Generator and fed as data,
// so the compiled graph is the same every step. Both are the identity in eval mode.
import { ShapeError } from '../engine/errors.js';
import { defaultGenerator, dropPath, dropout, type Generator } from '../engine/functional/random.js';
import type { Tensor } from '../engine/tensor.js';
import { Module } from './module.js';

function checkP(op: string, p: number): void {
  if (!(p >= 0 && p < 1)) throw new ShapeError(op, `p must be in [0, 1), got ${p}`);
}

/** Inverted dropout (torch.nn.Dropout). */
export class Dropout extends Module {
  readonly p: number;
  private _generator: Generator;
  constructor(p = 0.5, opts: { generator?: Generator } = {}) {
    super();
    checkP('Dropout', p);
    this.p = p;
    this._generator = opts.generator ?? defaultGenerator;
  }
  forward(x: Tensor): Tensor { return dropout(x, this.p, this.training, this._generator); }
}

/** Stochastic depth per sample (timm DropPath): drops the whole residual branch of a sample. */
export class DropPath extends Module {
  readonly p: number;
  private _generator: Generator;
  constructor(p = 0, opts: { generator?: Generator } = {}) {
    super();
    checkP('DropPath', p);
    this.p = p;
    this._generator = opts.generator ?? defaultGenerator;
  }
  forward(x: Tensor): Tensor { return dropPath(x, this.p, this.training, this._generator); }
}
