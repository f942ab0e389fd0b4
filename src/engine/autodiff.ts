// Graph-level reverse-mode autodiff: walks the traced graph backwards and records the VJP of every node as
// more traced ops, so the backward pass compiles into the same ONNX graph as the forward pass.
import { ShapeError, fmtShape } from './errors.js';
import { opTable } from './ops/index.js';
import { sumTo } from './ops/shape.js';
import type { VjpRule } from './ops/types.js';
import { scalar, type OpNode, type Tensor } from './tensor.js';

/** Nodes behind `root` in topological order, and whether a realized (cut) intermediate was met on the way. */
function topoNodes(root: Tensor): { order: OpNode[]; cut: Tensor | null } {
  const order: OpNode[] = [];
  let cut: Tensor | null = null;
  if (!root.node) return { order, cut };
  const seen = new Set<OpNode>([root.node]);
  const stack: [OpNode, number][] = [[root.node, 0]];
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    const [node, i] = top;
    if (i < node.inputs.length) {
      top[1]++;
      const input = node.inputs[i]!;
      const p = input.node;
      if (p && !seen.has(p)) { seen.add(p); stack.push([p, 0]); }
      else if (!p && input.wasComputed && node.op !== 'StopGradient') cut ??= input;
      continue;
    }
    stack.pop();
    order.push(node);
  }
  return { order, cut };
}

/**
 * Gradients of `output` with respect to each tensor in `wrt`. `output` must be a scalar unless a cotangent
 * `seed` of its shape is given. Only nodes on a path from `wrt` to `output` get VJPs, and each rule is told
 * which of its inputs need a gradient, so frozen weights never get one. Inputs unreachable from `output`
 * get zeros.
 */
export function grad(output: Tensor, wrt: Tensor[], seed?: Tensor): Tensor[] {
  if (!seed && output.size !== 1) throw new ShapeError('grad', `output has shape ${fmtShape(output.shape)}; pass a seed cotangent for non-scalar outputs`);
  if (seed && seed.shape.join() !== output.shape.join()) throw new ShapeError('grad', `seed shape ${fmtShape(seed.shape)} differs from output ${fmtShape(output.shape)}`);
  if (!output.node && !wrt.includes(output)) {
    throw new Error('grad: the output has no recorded graph (it was already realized, or is a leaf): call grad() before awaiting its value, then realize the output and the gradients together');
  }
  for (const w of wrt) if (w.dtype !== 'float32') throw new ShapeError('grad', `cannot differentiate with respect to a ${w.dtype} tensor`);

  const { order, cut } = topoNodes(output);
  const targets = new Set(wrt);
  const depends = new Set<Tensor>(wrt);
  for (const node of order) {
    if (node.inputs.some((t) => depends.has(t))) for (const o of node.outputs) if (o.dtype === 'float32') depends.add(o);
  }
  const grads = new Map<Tensor, Tensor>();
  grads.set(output, seed ?? scalar(1).expand(output.shape));

  for (let k = order.length - 1; k >= 0; k--) {
    const node = order[k]!;
    const outGrads = node.outputs.map((o) => grads.get(o) ?? null);
    if (outGrads.every((g) => g === null)) continue;
    const needs = node.inputs.map((t) => depends.has(t) && t.dtype === 'float32');
    if (!needs.some(Boolean)) continue;
    const rule = opTable()[node.op].vjp as VjpRule<unknown> | 'none';
    if (rule === 'none') continue;
    const inGrads = rule({ inputs: node.inputs, outputs: node.outputs, attrs: node.attrs, needs }, outGrads);
    node.inputs.forEach((t, i) => {
      const g = inGrads[i];
      if (!needs[i] || !g) return;
      const shaped = sumTo(g, t.shape);
      const prev = grads.get(t);
      grads.set(t, prev ? prev.add(shaped) : shaped);
    });
    // Free intermediate cotangents early: nothing upstream reads an output's gradient again.
    for (const o of node.outputs) if (!targets.has(o)) grads.delete(o);
  }
  if (cut) {
    const missing = wrt.findIndex((w) => !grads.has(w));
    if (missing >= 0) {
      throw new Error(`grad: input ${missing} (${fmtShape(wrt[missing]!.shape)}) gets no gradient, and the graph reads a value that was already realized (${fmtShape(cut.shape)}), which cuts its history: call grad() before awaiting intermediate values, or detach() them to stop gradients on purpose`);
    }
  }
  return wrt.map((w) => grads.get(w) ?? scalar(0).expand(w.shape));
}
