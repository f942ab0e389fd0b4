// Containers. Sequential and ModuleList name their children '0', '1', ... exactly as in PyTorch, so
// `head.0.weight` loads from a torch state dict. (A plain array field of modules is named the same way.)
import type { Tensor } from '../engine/tensor.js';
import { Module } from './module.js';

/** Passes its input through unchanged (torch.nn.Identity). */
export class Identity extends Module {
  forward(x: Tensor): Tensor { return x; }
}

/** Indexed list of submodules (torch.nn.ModuleList): children are fields '0', '1', ... */
export class ModuleList<M extends Module = Module> extends Module {
  [index: number]: M;
  private _length = 0;

  constructor(modules: Iterable<M> = []) {
    super();
    for (const m of modules) this.append(m);
  }
  get length(): number { return this._length; }
  append(m: M): this {
    if (!(m instanceof Module)) throw new Error(`${this.constructor.name}.append: expected a Module, got ${String(m)}`);
    (this as Record<number, M>)[this._length++] = m;
    return this;
  }
  at(i: number): M {
    const k = i < 0 ? i + this._length : i;
    if (!Number.isInteger(k) || k < 0 || k >= this._length) throw new RangeError(`index ${i} out of range for ${this.constructor.name} of length ${this._length}`);
    return this[k]!;
  }
  *[Symbol.iterator](): Iterator<M> { for (let i = 0; i < this._length; i++) yield this[i]!; }
  toArray(): M[] { return [...this]; }
}

/** Applies its children in order (torch.nn.Sequential). Every child must have `forward(x): Tensor`. */
export class Sequential extends ModuleList<Module & { forward(x: Tensor): Tensor }> {
  constructor(...modules: (Module & { forward(x: Tensor): Tensor })[]) { super(modules); }
  forward(x: Tensor): Tensor {
    let y = x;
    for (const m of this) y = m.forward(y);
    return y;
  }
}
