import { ShapeError, fmtShape } from '../errors.js';
import type { Shape } from './types.js';

/** Numpy broadcasting of any number of shapes; the error names the op and every shape. */
export function broadcastShapes(op: string, ...shapes: Shape[]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    let d = 1;
    for (const s of shapes) {
      const k = s.length - rank + i;
      const v = k >= 0 ? s[k]! : 1;
      if (v === 1) continue;
      if (d !== 1 && d !== v) throw new ShapeError(op, `cannot broadcast shapes ${shapes.map(fmtShape).join(' and ')}`);
      d = v;
    }
    out.push(d);
  }
  return out;
}

/** Axes (in `from`'s frame) that broadcasting `to` up to `from` expanded: reduce over these to undo it. */
export function broadcastAxes(from: Shape, to: Shape): { sumAxes: number[]; keep: boolean } {
  const lead = from.length - to.length;
  const axes: number[] = [];
  for (let i = 0; i < from.length; i++) {
    if (i < lead) axes.push(i);
    else if (to[i - lead] === 1 && from[i] !== 1) axes.push(i);
  }
  return { sumAxes: axes, keep: true };
}
