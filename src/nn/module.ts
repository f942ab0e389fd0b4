// Module base in the PyTorch mould. Parameters, buffers and children are discovered from the instance's own
// fields, in declaration order, so `this.blocks = [...]; this.blocks[0].attn.qkv.weight` is named
// `blocks.0.attn.qkv.weight` exactly as in a PyTorch state dict. Fields starting with `_` are skipped.
import { Variable } from '../engine/tensor.js';

export type NamedVariable = [name: string, v: Variable];

export abstract class Module {
  /** Train mode (dropout active, batch norm uses batch statistics). */
  training = true;

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
