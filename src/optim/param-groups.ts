// timm-style parameter groups: no weight decay on biases, normalisation weights and other 1-D parameters,
// nor on embeddings listed by name (position embeddings, class tokens, ...).
import type { Variable } from '../engine/tensor.js';
import type { Module, NamedVariable } from '../nn/module.js';
import type { ParamGroupOptions } from './optimizer.js';

/** Parameter names (last path component) that timm models exclude from weight decay. */
export const DEFAULT_NO_DECAY_NAMES: readonly string[] = [
  'pos_embed', 'cls_token', 'dist_token', 'reg_token', 'mask_token', 'absolute_pos_embed', 'relative_position_bias_table',
];

export interface NoDecayOptions {
  /** Extra names excluded from decay: a full dotted name or a last path component. */
  noDecayNames?: readonly string[];
  /** Replace the default name list instead of extending it. */
  replaceDefaults?: boolean;
  /** Learning-rate multiplier for both groups. */
  lrMult?: number;
}

/** Is a parameter exempt from weight decay (1-D, a bias, or a listed embedding)? */
export function isNoDecay(name: string, p: Variable, names: ReadonlySet<string>): boolean {
  const last = name.slice(name.lastIndexOf('.') + 1);
  return p.rank <= 1 || last === 'bias' || names.has(name) || names.has(last);
}

/**
 * Split trainable parameters into `[noDecay (weightDecay 0), decay (weightDecay)]`, as timm's
 * `param_groups_weight_decay`. Frozen parameters (requiresGrad false) are left out.
 */
export function paramGroupsNoDecay(source: Module | readonly NamedVariable[], weightDecay: number, opts: NoDecayOptions = {}): ParamGroupOptions[] {
  const named = Array.isArray(source) ? (source as readonly NamedVariable[]) : (source as Module).namedParameters();
  const names = new Set([...(opts.replaceDefaults ? [] : DEFAULT_NO_DECAY_NAMES), ...(opts.noDecayNames ?? [])]);
  const decay: NamedVariable[] = [], noDecay: NamedVariable[] = [];
  for (const [name, p] of named) {
    if (!p.requiresGrad) continue;
    (isNoDecay(name, p, names) ? noDecay : decay).push([name, p]);
  }
  const lrMult = opts.lrMult ?? 1;
  return [
    { name: 'no_decay', params: noDecay.map(([, p]) => p), paramNames: noDecay.map(([n]) => n), weightDecay: 0, lrMult },
    { name: 'decay', params: decay.map(([, p]) => p), paramNames: decay.map(([n]) => n), weightDecay, lrMult },
  ];
}
