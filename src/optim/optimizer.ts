// Optimizers as traced graph transforms: `traceUpdate(grads)` records the new value of every parameter and
// state tensor as ops, so forward + backward + update compile into ONE session. Everything that changes
// from step to step (learning rate, bias corrections, first-step switches) is fed as a 0-d data tensor,
// never baked, so the compiled graph (and the session cache key) stays the same across steps. Fixed
// hyperparameters (betas, eps, momentum, weight decay) are baked constants: changing one recompiles.
import { ShapeError, fmtShape } from '../engine/errors.js';
import { realize } from '../engine/runtime.js';
import { Tensor, Variable } from '../engine/tensor.js';
import { readSafetensors, writeSafetensors, type TensorSource } from '../io/safetensors.js';

/** How a caller describes a parameter group. */
export interface ParamGroupOptions {
  params: Variable[];
  /** Multiplies the optimizer's learning rate for this group (layer-wise decay, heads...). Default 1. */
  lrMult?: number;
  /** Weight decay of this group; default: the optimizer's. */
  weightDecay?: number;
  name?: string;
  /** Optional names of `params` (same order), for messages and inspection. */
  paramNames?: string[];
}

export interface ParamGroup {
  params: Variable[];
  lrMult: number;
  weightDecay: number;
  /** Optimizer steps taken by this group (Adam's bias corrections use it). */
  step: number;
  name: string | undefined;
  paramNames: string[] | undefined;
}

export type Hyperparameters = Record<string, number | boolean | number[]>;

/** Serializable optimizer state: exact round trip of moments, step counts and hyperparameters. */
export interface OptimizerStateDict {
  kind: string;
  lr: number;
  hyperparameters: Hyperparameters;
  groups: { lrMult: number; weightDecay: number; step: number; size: number; name?: string }[];
  /** Per-parameter state by `${flatParamIndex}.${slot}` (e.g. `3.exp_avg`). */
  state: Map<string, { shape: number[]; data: Float32Array }>;
}

/** The traced update of one optimizer step. Realize `outputs()` (with the loss etc.), then `commit()`. */
export interface TracedUpdate {
  /** New parameter values, as traced tensors. */
  params: [Variable, Tensor][];
  /** New optimizer-state values. */
  state: [Variable, Tensor][];
  /** Everything to realize for this update. */
  outputs(): Tensor[];
  /** Assign the realized values and advance the step counts. Throws if something is not realized. */
  commit(): void;
}

/** A 0-d float32 tensor fed as data (changes per step without changing the compiled graph). */
export function feedScalar(v: number): Tensor {
  return new Tensor([], 'float32', Float32Array.of(v));
}

function checkFinite(name: string, v: number, min = 0): void {
  if (!(Number.isFinite(v) && v >= min)) throw new RangeError(`invalid ${name}: ${v} (expected a finite number >= ${min})`);
}

export abstract class Optimizer {
  abstract readonly kind: string;
  /** Base learning rate; group i uses `lr * groups[i].lrMult`. Set it each step for a schedule. */
  lr: number;
  /** Default weight decay for groups that do not set their own. */
  weightDecay: number;
  readonly groups: ParamGroup[] = [];
  /** Per-parameter state tensors (buffers, fed to the step graph), by slot name. */
  protected readonly state = new Map<Variable, Map<string, Variable>>();

  constructor(params: Variable[] | ParamGroupOptions[], lr: number, weightDecay: number) {
    checkFinite('learning rate', lr);
    checkFinite('weight decay', weightDecay);
    this.lr = lr;
    this.weightDecay = weightDecay;
    const list = params as (Variable | ParamGroupOptions)[];
    if (list.length === 0) throw new Error(`${new.target.name}: got an empty parameter list`);
    if (list.every((p) => p instanceof Variable)) this.addParamGroup({ params: list as Variable[] });
    else if (list.every((p) => !(p instanceof Variable))) for (const g of list as ParamGroupOptions[]) this.addParamGroup(g);
    else throw new Error(`${new.target.name}: pass either a list of Variables or a list of parameter groups, not a mix`);
  }

  addParamGroup(g: ParamGroupOptions): void {
    const lrMult = g.lrMult ?? 1, weightDecay = g.weightDecay ?? this.weightDecay;
    checkFinite('lrMult', lrMult);
    checkFinite('weight decay', weightDecay);
    if (g.paramNames && g.paramNames.length !== g.params.length) throw new Error(`param group '${g.name ?? this.groups.length}': ${g.paramNames.length} names for ${g.params.length} params`);
    const seen = new Set(this.params);
    g.params.forEach((p, i) => {
      const label = g.paramNames?.[i] ?? `#${i} ${fmtShape(p.shape)}`;
      if (!(p instanceof Variable) || p.role !== 'parameter') throw new Error(`param group '${g.name ?? this.groups.length}': ${label} is not a parameter Variable`);
      if (p.dtype !== 'float32') throw new Error(`param group '${g.name ?? this.groups.length}': ${label} is ${p.dtype}; only float32 parameters can be optimized`);
      if (seen.has(p)) throw new Error(`param group '${g.name ?? this.groups.length}': ${label} appears in more than one parameter group`);
      seen.add(p);
    });
    this.groups.push({ params: [...g.params], lrMult, weightDecay, step: 0, name: g.name, paramNames: g.paramNames ? [...g.paramNames] : undefined });
  }

  /** All parameters, group by group (the order of `step(grads[])` and of state-dict indices). */
  get params(): Variable[] { return this.groups.flatMap((g) => g.params); }
  /** Steps taken (the largest group step count). */
  get stepCount(): number { return this.groups.reduce((m, g) => Math.max(m, g.step), 0); }
  /** Effective learning rate of a group. */
  groupLr(group: ParamGroup): number { return this.lr * group.lrMult; }

  /** Names of the per-parameter state slots. */
  protected abstract slotNames(): string[];
  /** Per-group scalars for the coming step (group.step is the number of steps already taken); fed as data. */
  protected abstract stepScalars(group: ParamGroup): Record<string, number>;
  /** Trace one parameter's update. */
  protected abstract updateParam(p: Variable, grad: Tensor, state: Record<string, Tensor>, feeds: Record<string, Tensor>, group: ParamGroup): { param: Tensor; state: Record<string, Tensor> };
  /** Fixed hyperparameters (besides lr and the groups), for state dicts. */
  abstract hyperparameters(): Hyperparameters;
  protected abstract setHyperparameters(h: Hyperparameters): void;

  /** The state tensors of `p` (created as zeros on first use). */
  stateOf(p: Variable): Map<string, Variable> {
    let s = this.state.get(p);
    if (!s) {
      s = new Map();
      for (const slot of this.slotNames()) s.set(slot, new Variable(new Float32Array(p.size), p.shape, 'buffer'));
      this.state.set(p, s);
    } else {
      for (const slot of this.slotNames()) if (!s.has(slot)) s.set(slot, new Variable(new Float32Array(p.size), p.shape, 'buffer'));
    }
    return s;
  }

  /**
   * Trace one update step. `grads` maps parameters to their (traced) gradients; parameters without an entry
   * are left alone (as torch skips parameters whose grad is None). Nothing changes until `commit()`.
   */
  traceUpdate(grads: Map<Variable, Tensor>): TracedUpdate {
    const params: [Variable, Tensor][] = [];
    const state: [Variable, Tensor][] = [];
    const stepped: ParamGroup[] = [];
    for (const group of this.groups) {
      const live = group.params.filter((p) => grads.has(p));
      if (!live.length) continue;
      const feeds: Record<string, Tensor> = {};
      for (const [k, v] of Object.entries(this.stepScalars(group))) feeds[k] = feedScalar(v);
      for (const p of live) {
        const g = grads.get(p)!;
        if (g.dtype !== 'float32' || g.shape.join() !== p.shape.join()) {
          throw new ShapeError(`${this.kind}.step`, `gradient ${g.dtype} ${fmtShape(g.shape)} does not match parameter ${fmtShape(p.shape)}`);
        }
        const slots = this.stateOf(p);
        const r = this.updateParam(p, g, Object.fromEntries(slots), feeds, group);
        params.push([p, r.param]);
        for (const [slot, v] of Object.entries(r.state)) state.push([slots.get(slot)!, v]);
      }
      stepped.push(group);
    }
    return {
      params,
      state,
      outputs: () => [...params.map(([, t]) => t), ...state.map(([, t]) => t)],
      commit: () => {
        for (const [, t] of [...params, ...state]) if (!t.isRealized) throw new Error(`${this.kind}: commit() before the update was realized`);
        for (const [v, t] of params) v.assignSync(t.value);
        for (const [v, t] of state) v.assignSync(t.value);
        for (const g of stepped) g.step++;
      },
    };
  }

  /**
   * One standalone update from given gradients (one session): `grads` aligned with `params`, or a map.
   * Training loops should prefer `TrainStep`, which fuses the update with forward and backward.
   */
  async step(grads: Tensor[] | Map<Variable, Tensor>): Promise<void> {
    let map: Map<Variable, Tensor>;
    if (grads instanceof Map) map = grads;
    else {
      const ps = this.params;
      if (grads.length !== ps.length) throw new Error(`${this.kind}.step: got ${grads.length} gradients for ${ps.length} parameters`);
      map = new Map(ps.map((p, i) => [p, grads[i]!]));
    }
    const u = this.traceUpdate(map);
    await realize(u.outputs());
    u.commit();
  }

  // ---- state dicts ----

  stateDict(): OptimizerStateDict {
    const state = new Map<string, { shape: number[]; data: Float32Array }>();
    this.params.forEach((p, i) => {
      const s = this.state.get(p);
      if (s) for (const [slot, v] of s) state.set(`${i}.${slot}`, { shape: [...v.shape], data: v.value as Float32Array });
    });
    return {
      kind: this.kind,
      lr: this.lr,
      hyperparameters: this.hyperparameters(),
      groups: this.groups.map((g) => ({ lrMult: g.lrMult, weightDecay: g.weightDecay, step: g.step, size: g.params.length, ...(g.name !== undefined ? { name: g.name } : {}) })),
      state,
    };
  }

  /** Restore a state dict taken from an optimizer of the same kind over parameters of the same shapes. */
  loadStateDict(sd: OptimizerStateDict): void {
    const where = `${this.kind}.loadStateDict`;
    if (sd.kind !== this.kind) throw new Error(`${where}: state dict is for ${sd.kind}`);
    if (sd.groups.length !== this.groups.length) throw new Error(`${where}: state dict has ${sd.groups.length} parameter groups, optimizer has ${this.groups.length}`);
    sd.groups.forEach((g, i) => {
      if (g.size !== this.groups[i]!.params.length) throw new Error(`${where}: group ${i} has ${g.size} parameters in the state dict, ${this.groups[i]!.params.length} here`);
    });
    const params = this.params;
    const staged = new Map<Variable, Map<string, Variable>>();
    for (const [key, t] of sd.state) {
      const m = /^(\d+)\.(\w+)$/.exec(key);
      const i = m ? Number(m[1]) : -1;
      if (!m || i >= params.length) throw new Error(`${where}: unexpected state key '${key}'`);
      const p = params[i]!;
      if (t.shape.join() !== p.shape.join() || t.data.length !== p.size) throw new Error(`${where}: state '${key}' has shape ${fmtShape(t.shape)}, parameter ${i} is ${fmtShape(p.shape)}`);
      let s = staged.get(p);
      if (!s) staged.set(p, (s = new Map()));
      s.set(m[2]!, new Variable(Float32Array.from(t.data), p.shape, 'buffer'));
    }
    this.setHyperparameters(sd.hyperparameters);
    checkFinite('learning rate', sd.lr);
    this.lr = sd.lr;
    sd.groups.forEach((g, i) => Object.assign(this.groups[i]!, { lrMult: g.lrMult, weightDecay: g.weightDecay, step: g.step }));
    this.state.clear();
    for (const [p, s] of staged) this.state.set(p, s);
  }

  /** Save the state dict to a safetensors file (tensors `state.<i>.<slot>`, the rest as JSON metadata). */
  async save(path: string): Promise<void> {
    const sd = this.stateDict();
    const tensors: [string, TensorSource][] = [...sd.state].map(([k, v]) => [`state.${k}`, v]);
    const meta = { kind: sd.kind, lr: sd.lr, hyperparameters: sd.hyperparameters, groups: sd.groups };
    await writeSafetensors(path, tensors, { format: 'omniformer-optimizer', version: '1', optimizer: JSON.stringify(meta) });
  }

  /** Load a file written by `save`. */
  async load(path: string): Promise<void> {
    const { tensors, metadata } = await readSafetensors(path);
    if (metadata.format !== 'omniformer-optimizer' || !metadata.optimizer) throw new Error(`${this.kind}.load: '${path}' is not an omniformer optimizer state file`);
    const meta = JSON.parse(metadata.optimizer) as Omit<OptimizerStateDict, 'state'>;
    const state = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const [k, t] of tensors) {
      if (!k.startsWith('state.') || !(t.data instanceof Float32Array)) throw new Error(`${this.kind}.load: unexpected tensor '${k}' in '${path}'`);
      state.set(k.slice(6), { shape: t.shape, data: t.data });
    }
    this.loadStateDict({ ...meta, state });
  }
}
