// Module base in the PyTorch mould. Parameters, buffers and children are discovered from the instance's own
// fields, in declaration order, so `this.blocks = [...]; this.blocks[0].attn.qkv.weight` is named
// `blocks.0.attn.qkv.weight` exactly as in a PyTorch state dict. Fields starting with `_` are skipped.
import { realize } from '../engine/runtime.js';
import { Variable, type Tensor } from '../engine/tensor.js';

export type NamedVariable = [name: string, v: Variable];

/**
 * A buffer's next value, computed (lazily) by a forward pass: e.g. BatchNorm's running statistics in
 * training mode.
 *
 * Contract. The engine is lazy, so a module cannot write a buffer during `forward`. Instead it records the
 * new value as a pending tensor (`recordBufferUpdate`); several forwards in one step chain (the second one
 * starts from the first one's pending value, as the sequential in-place updates of PyTorch do). The training
 * step takes them with `model.collectBufferUpdates()` after tracing the loss and realizes them in the SAME
 * `realize([...])` call as the loss, gradients and new parameters (one session, no recomputation), then
 * assigns them: `applyBufferUpdates(updates, otherTargets)` does exactly that. Updates that are never
 * collected are dropped (with a one-time warning) once more than `MAX_PENDING_FORWARDS` forwards pile up,
 * so a model left in train mode for inference does not hold every past input alive.
 */
export type BufferUpdate = [buffer: Variable, value: Tensor];

const MAX_PENDING_FORWARDS = 32;
let warnedUncollected = false;

/** Realize the new buffer values together with `alsoRealize` in one session run, then assign them. */
export async function applyBufferUpdates(updates: BufferUpdate[], alsoRealize: Tensor[] = []): Promise<void> {
  await realize([...alsoRealize, ...updates.map(([, v]) => v)]);
  for (const [b, v] of updates) b.assignSync(v.value);
}

export abstract class Module {
  /** Train mode (dropout active, batch norm uses batch statistics). */
  training = true;
  /** Pending buffer updates recorded by this module's forwards, with how many forwards chained each. */
  private _bufferUpdates = new Map<Variable, { value: Tensor; depth: number }>();

  /** Record `value` as the next value of `buffer` (one of this module's buffers); see `BufferUpdate`. */
  protected recordBufferUpdate(buffer: Variable, value: Tensor): void {
    if (buffer.role !== 'buffer') throw new Error(`recordBufferUpdate: expected a buffer, got a ${buffer.role}`);
    if (value.dtype !== buffer.dtype || value.shape.join() !== buffer.shape.join()) {
      throw new Error(`recordBufferUpdate: new value ${value.dtype}[${value.shape.join(', ')}] does not match buffer ${buffer.dtype}[${buffer.shape.join(', ')}]`);
    }
    const depth = (this._bufferUpdates.get(buffer)?.depth ?? 0) + 1;
    this._bufferUpdates.set(buffer, { value, depth });
  }

  /** The value a forward should start from: the pending update of `buffer` if any, else the buffer. */
  protected currentBufferValue(buffer: Variable): Tensor {
    const p = this._bufferUpdates.get(buffer);
    if (!p) return buffer;
    if (p.depth >= MAX_PENDING_FORWARDS) {
      if (!warnedUncollected) {
        warnedUncollected = true;
        console.warn(`omniformer: ${this.constructor.name} recorded ${p.depth} buffer updates that nobody collected; dropping them (call model.collectBufferUpdates() in the training step, or model.eval() for inference)`);
      }
      this._bufferUpdates.delete(buffer);
      return buffer;
    }
    return p.value;
  }

  /** Take (and clear) the pending buffer updates of this module and all descendants. */
  collectBufferUpdates(): BufferUpdate[] {
    const out: BufferUpdate[] = [];
    for (const [, m] of this.namedModules()) {
      for (const [b, { value }] of m._bufferUpdates) out.push([b, value]);
      m._bufferUpdates.clear();
    }
    return out;
  }

  /** Are there buffer updates waiting to be collected in this subtree? */
  hasPendingBufferUpdates(): boolean { return this.namedModules().some(([, m]) => m._bufferUpdates.size > 0); }

  /** Direct children with their field names (arrays of modules become `name.i`). */
  namedChildren(): [string, Module][] {
    const out: [string, Module][] = [];
    for (const [k, v] of Object.entries(this)) {
      if (k.startsWith('_')) continue;
      if (v instanceof Module) out.push([k, v]);
      else if (Array.isArray(v) && v.length > 0 && v.every((m) => m instanceof Module)) v.forEach((m: Module, i) => out.push([`${k}.${i}`, m]));
    }
    return out;
  }

  /** This module and every descendant, with dotted names ('' for this one). */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [k, m] of this.namedChildren()) out.push(...m.namedModules(prefix ? `${prefix}.${k}` : k));
    return out;
  }

  private ownVariables(role: 'parameter' | 'buffer'): NamedVariable[] {
    const out: NamedVariable[] = [];
    for (const [k, v] of Object.entries(this)) if (!k.startsWith('_') && v instanceof Variable && v.role === role) out.push([k, v]);
    return out;
  }

  private collect(role: 'parameter' | 'buffer'): NamedVariable[] {
    const out: NamedVariable[] = [];
    const seen = new Set<Variable>();
    for (const [prefix, m] of this.namedModules()) {
      for (const [k, v] of m.ownVariables(role)) {
        if (seen.has(v)) continue; // shared (tied) variables are listed once, under their first name
        seen.add(v);
        out.push([prefix ? `${prefix}.${k}` : k, v]);
      }
    }
    return out;
  }

  namedParameters(): NamedVariable[] { return this.collect('parameter'); }
  namedBuffers(): NamedVariable[] { return this.collect('buffer'); }
  parameters(): Variable[] { return this.namedParameters().map(([, v]) => v); }
  /** Parameters that will receive gradients. */
  trainableParameters(): Variable[] { return this.parameters().filter((p) => p.requiresGrad); }
  namedTrainableParameters(): NamedVariable[] { return this.namedParameters().filter(([, p]) => p.requiresGrad); }

  /** Parameters and buffers by PyTorch dotted name, as in `model.state_dict()`. */
  stateDict(): Map<string, Variable> {
    return new Map([...this.namedParameters(), ...this.namedBuffers()]);
  }

  numParams(opts: { trainableOnly?: boolean } = {}): number {
    return this.parameters().filter((p) => !opts.trainableOnly || p.requiresGrad).reduce((s, p) => s + p.size, 0);
  }

  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }
  eval(): this { return this.train(false); }

  /** Stop gradients to every parameter of this subtree (frozen weights are baked into compiled graphs). */
  freeze(): this { for (const p of this.parameters()) p.requiresGrad = false; return this; }
  unfreeze(): this { for (const p of this.parameters()) p.requiresGrad = true; return this; }

  /** Look a submodule up by dotted path (`blocks.0.attn`). */
  getSubmodule(path: string): Module {
    if (!path) return this;
    const found = this.namedModules().find(([n]) => n === path);
    if (!found) throw new Error(`no submodule named '${path}' in ${this.constructor.name}`);
    return found[1];
  }

  /** Drop parameter and buffer values (large buffers) so they can be collected now. */
  dispose(): void { for (const v of [...this.parameters(), ...this.namedBuffers().map(([, b]) => b)]) v.dispose(); }
}
