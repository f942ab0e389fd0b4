// Randomness is generated in TypeScript from a seeded generator and fed to the graph as data, so a traced
// step has the same structure every iteration (one compiled session) while its random draws change.
import { ShapeError } from '../errors.js';
import { Tensor, shapeSize, type Shape } from '../tensor.js';

/** Seeded PRNG (xoshiro128**), reproducible across runs and platforms. */
export class Generator {
  private s = new Uint32Array(4);
  constructor(seed = 0) { this.manualSeed(seed); }

  manualSeed(seed: number): this {
    // splitmix32 expands the seed into the 128-bit state
    let x = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.s[i] = (z ^ (z >>> 16)) >>> 0;
    }
    if (this.s.every((v) => v === 0)) this.s[0] = 1;
    return this;
  }

  /** Internal state, for checkpoints (resume gives the same draws). */
  getState(): number[] { return Array.from(this.s); }
  setState(state: readonly number[]): void {
    if (state.length !== 4) throw new Error(`generator state must have 4 words, got ${state.length}`);
    if (state.some((w) => !Number.isInteger(w) || w < 0 || w > 0xffffffff)) throw new Error(`generator state words must be uint32 integers, got [${state.join(', ')}]`);
    if (state.every((w) => w === 0)) throw new Error('generator state must not be all zeros (xoshiro would only produce zeros)');
    this.s.set(state);
  }

  nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1]! << 9) >>> 0;
    s[2]! ^= s[0]!; s[3]! ^= s[1]!; s[1]! ^= s[2]!; s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return result;
  }
  /** Uniform in [0, 1) with 32 random bits (a float64). */
  next(): number { return this.nextU32() / 4294967296; }

  /**
   * Uniform float32 values in [low, high). The unit draws use 24 random bits, so they are exact float32
   * values below 1: rounding a 32-bit draw to float32 would return exactly 1.0 about once in 2^25 draws.
   */
  uniformData(n: number, low = 0, high = 1): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = low + (high - low) * ((this.nextU32() >>> 8) / 16777216);
    return out;
  }
  normalData(n: number, mean = 0, std = 1): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i += 2) {
      const u = 1 - this.next(), v = this.next();
      const r = Math.sqrt(-2 * Math.log(u));
      out[i] = mean + std * r * Math.cos(2 * Math.PI * v);
      if (i + 1 < n) out[i + 1] = mean + std * r * Math.sin(2 * Math.PI * v);
    }
    return out;
  }
  /** Normal(mean, std) truncated to [a, b] by rejection (as timm's trunc_normal_, whose bounds are absolute). */
  truncNormalData(n: number, std = 1, a = -2, b = 2, mean = 0): Float32Array {
    if (!(b > a)) throw new Error(`truncNormal: lower bound a (${a}) must be below upper bound b (${b})`);
    if (!(std >= 0)) throw new Error(`truncNormal: std must be >= 0, got ${std}`);
    const out = new Float32Array(n);
    if (std === 0) return out.fill(Math.min(Math.max(mean, a), b));
    let i = 0;
    while (i < n) {
      const draw = this.normalData(2, mean, std);
      for (const d of draw) if (i < n && d >= a && d <= b) out[i++] = d;
    }
    return out;
  }
  /** Integers uniform in [low, high). */
  intData(n: number, low: number, high: number): BigInt64Array {
    if (!(high > low)) throw new Error(`randint: high (${high}) must exceed low (${low})`);
    const out = new BigInt64Array(n);
    for (let i = 0; i < n; i++) out[i] = BigInt(low + Math.floor(this.next() * (high - low)));
    return out;
  }
  /** A random permutation of 0..n-1 (Fisher-Yates). */
  permutation(n: number): number[] {
    const p = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) { const j = Math.floor(this.next() * (i + 1)); [p[i], p[j]] = [p[j]!, p[i]!]; }
    return p;
  }
}

function rotl(x: number, k: number): number { return ((x << k) | (x >>> (32 - k))) >>> 0; }

/** The process-wide default generator; `manualSeed(n)` makes runs reproducible. */
export const defaultGenerator = new Generator(0);
export function manualSeed(seed: number): void { defaultGenerator.manualSeed(seed); }

export function randn(shape: Shape, generator: Generator = defaultGenerator): Tensor {
  return new Tensor(shape, 'float32', generator.normalData(shapeSize(shape)));
}
export function rand(shape: Shape, generator: Generator = defaultGenerator): Tensor {
  return new Tensor(shape, 'float32', generator.uniformData(shapeSize(shape)));
}
export function randint(low: number, high: number, shape: Shape, generator: Generator = defaultGenerator): Tensor {
  return new Tensor(shape, 'int64', generator.intData(shapeSize(shape), low, high));
}

/** Inverted dropout: zero with probability p and scale the rest by 1/(1-p); identity when not training. */
export function dropout(x: Tensor, p: number, training: boolean, generator: Generator = defaultGenerator): Tensor {
  if (!(p >= 0 && p < 1)) throw new ShapeError('dropout', `p must be in [0, 1), got ${p}`);
  if (!training || p === 0) return x;
  const keep = generator.uniformData(x.size).map((u) => (u >= p ? 1 / (1 - p) : 0));
  return x.mul(new Tensor(x.shape, 'float32', keep));
}

/** Stochastic depth: drop whole samples (axis 0) of a residual branch with probability p. */
export function dropPath(x: Tensor, p: number, training: boolean, generator: Generator = defaultGenerator): Tensor {
  if (!(p >= 0 && p < 1)) throw new ShapeError('dropPath', `p must be in [0, 1), got ${p}`);
  if (!training || p === 0) return x;
  if (x.rank === 0) throw new ShapeError('dropPath', 'input must have a batch axis (rank >= 1), got a scalar');
  const b = x.shape[0]!;
  const keep = generator.uniformData(b).map((u) => (u >= p ? 1 / (1 - p) : 0));
  return x.mul(new Tensor([b, ...x.shape.slice(1).map(() => 1)], 'float32', keep));
}
