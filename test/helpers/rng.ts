/** Small seeded PRNG (mulberry32) for reproducible test inputs. */
export class Rng {
  private s: number;
  constructor(seed: number) { this.s = seed >>> 0; }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  uniform(n: number, lo = 0, hi = 1): Float32Array { return Float32Array.from({ length: n }, () => lo + (hi - lo) * this.next()); }
  normal(n: number): Float32Array {
    return Float32Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(1 - this.next())) * Math.cos(2 * Math.PI * this.next()));
  }
}
