// Finite-difference gradient checks run on ORT itself: compare <grad L, v> with the central difference of
// L = sum(f(x) * R) along a random direction v, separately for each differentiable input.
import assert from 'node:assert/strict';
import { Tensor, Variable, grad } from '../../src/index.js';
import { Rng } from './rng.js';

export interface GradCheckOptions {
  eps?: number;
  /** Allowed relative error of the directional derivative. */
  rtol?: number;
  atol?: number;
  seed?: number;
  /** Indices of inputs to check (default: every float32 input). */
  check?: number[];
  /** Directions tried per input. */
  directions?: number;
}

export type InputSpec = Tensor | { shape: number[]; low?: number; high?: number; values?: Float32Array };

/**
 * Check the VJPs that `f` exercises. Inputs are fresh random tensors unless given as tensors (int64/bool
 * tensors are passed through and never differentiated).
 */
export async function gradcheck(name: string, f: (...xs: Tensor[]) => Tensor, specs: InputSpec[], opts: GradCheckOptions = {}): Promise<void> {
  const rng = new Rng(opts.seed ?? 1234);
  const eps = opts.eps ?? 1e-2, rtol = opts.rtol ?? 2e-3, atol = opts.atol ?? 2e-3;
  const base = specs.map((s) => {
    if (s instanceof Tensor) return s;
    const data = s.values ?? rng.uniform(s.shape.reduce((a, b) => a * b, 1), s.low ?? -1, s.high ?? 1);
    return new Variable(Float32Array.from(data), s.shape);
  });
  const probe = f(...base);
  const R = new Tensor(probe.shape, 'float32', rng.normal(probe.size));
  const loss = (xs: Tensor[]): Tensor => f(...xs).mul(R).sum();
  const checks = opts.check ?? base.flatMap((t, i) => (t instanceof Variable ? [i] : []));
  const grads = grad(loss(base), checks.map((i) => base[i]!));
  const gvals = await Promise.all(grads.map((g) => g.float32()));
  for (let c = 0; c < checks.length; c++) {
    const i = checks[c]!;
    const x = base[i]!;
    const xv = x.value as Float32Array;
    for (let d = 0; d < (opts.directions ?? 1); d++) {
      const v = rng.normal(x.size);
      const at = async (sign: number): Promise<number> => {
        const shifted = Float32Array.from(xv, (a, k) => a + sign * eps * v[k]!);
        const xs = base.map((t, k) => (k === i ? new Tensor(t.shape, 'float32', shifted) : t));
        return loss(xs).item();
      };
      const fd = ((await at(1)) - (await at(-1))) / (2 * eps);
      let analytic = 0;
      const g = gvals[c]!;
      for (let k = 0; k < g.length; k++) analytic += g[k]! * v[k]!;
      const err = Math.abs(fd - analytic);
      assert.ok(err <= atol + rtol * Math.max(Math.abs(fd), Math.abs(analytic)),
        `${name}: input ${i} ${JSON.stringify(x.shape)}: analytic ${analytic} vs finite-difference ${fd} (|diff| ${err})`);
    }
  }
}

export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol = 1e-5, rtol = 1e-5, what = 'value'): void {
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length} vs ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    const a = Number(actual[i]), e = Number(expected[i]);
    if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) assert.fail(`${what}[${i}]: ${a} vs expected ${e}`);
  }
}
