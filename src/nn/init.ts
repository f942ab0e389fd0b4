// Parameter initialisers (torch.nn.init / timm). Each one overwrites the value of a Variable in place (bumping
// its version) with draws from a seeded Generator, `defaultGenerator` unless one is given, and returns it.
import { ShapeError, fmtShape } from '../engine/errors.js';
import { defaultGenerator, type Generator } from '../engine/functional/random.js';
import type { Variable } from '../engine/tensor.js';
import { Module } from './module.js';

function floatParam(p: Variable, fn: string): void {
  if (p.dtype !== 'float32') throw new ShapeError(fn, `expects a float32 variable, got ${p.dtype} ${fmtShape(p.shape)}`);
}

/** fan_in / fan_out as torch computes them: dims 1 and 0 times the receptive field (conv kernels). */
export function calculateFanInAndFanOut(p: Variable): { fanIn: number; fanOut: number } {
  if (p.rank < 2) throw new ShapeError('init', `fan in and fan out need a tensor of rank >= 2, got ${fmtShape(p.shape)}`);
  const receptive = p.shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: p.shape[1]! * receptive, fanOut: p.shape[0]! * receptive };
}

export type Nonlinearity = 'linear' | 'conv1d' | 'conv2d' | 'conv3d' | 'sigmoid' | 'tanh' | 'relu' | 'leaky_relu' | 'selu';

/** torch.nn.init.calculate_gain. */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case 'linear': case 'conv1d': case 'conv2d': case 'conv3d': case 'sigmoid': return 1;
    case 'tanh': return 5 / 3;
    case 'relu': return Math.SQRT2;
    case 'leaky_relu': { const s = param ?? 0.01; return Math.sqrt(2 / (1 + s * s)); }
    case 'selu': return 3 / 4;
  }
}

export function constant_(p: Variable, value: number): Variable {
  floatParam(p, 'constant_');
  p.assignSync(new Float32Array(p.size).fill(value));
  return p;
}
export function zeros_(p: Variable): Variable { return constant_(p, 0); }
export function ones_(p: Variable): Variable { return constant_(p, 1); }

export function uniform_(p: Variable, low = 0, high = 1, generator: Generator = defaultGenerator): Variable {
  floatParam(p, 'uniform_');
  p.assignSync(generator.uniformData(p.size, low, high));
  return p;
}

export function normal_(p: Variable, mean = 0, std = 1, generator: Generator = defaultGenerator): Variable {
  floatParam(p, 'normal_');
  p.assignSync(generator.normalData(p.size, mean, std));
  return p;
}

/**
 * Normal(mean, std) truncated to [a, b] (timm `trunc_normal_`: the bounds are absolute values, so the
 * default ±2 is a no-op truncation for std 0.02).
 */
export function truncNormal_(p: Variable, std = 0.02, opts: { mean?: number; a?: number; b?: number; generator?: Generator } = {}): Variable {
  floatParam(p, 'truncNormal_');
  const mean = opts.mean ?? 0, a = opts.a ?? -2, b = opts.b ?? 2;
  if (!(a < b)) throw new ShapeError('truncNormal_', `lower bound a (${a}) must be below upper bound b (${b})`);
  if (!(std > 0)) throw new ShapeError('truncNormal_', `std must be positive, got ${std}`);
  p.assignSync((opts.generator ?? defaultGenerator).truncNormalData(p.size, std, a, b, mean));
  return p;
}

/** Glorot uniform: U(-g·sqrt(6/(fan_in+fan_out)), +...). */
export function xavierUniform_(p: Variable, gain = 1, generator: Generator = defaultGenerator): Variable {
  const { fanIn, fanOut } = calculateFanInAndFanOut(p);
  const bound = gain * Math.sqrt(6 / (fanIn + fanOut));
  return uniform_(p, -bound, bound, generator);
}

export function xavierNormal_(p: Variable, gain = 1, generator: Generator = defaultGenerator): Variable {
  const { fanIn, fanOut } = calculateFanInAndFanOut(p);
  return normal_(p, 0, gain * Math.sqrt(2 / (fanIn + fanOut)), generator);
}

export interface KaimingOptions {
  /** Negative slope of the rectifier (leaky_relu); torch's Linear/Conv default init uses sqrt(5). */
  a?: number;
  mode?: 'fan_in' | 'fan_out';
  nonlinearity?: Nonlinearity;
  generator?: Generator;
}

function kaimingStd(p: Variable, o: KaimingOptions): number {
  const { fanIn, fanOut } = calculateFanInAndFanOut(p);
  const fan = (o.mode ?? 'fan_in') === 'fan_in' ? fanIn : fanOut;
  return calculateGain(o.nonlinearity ?? 'leaky_relu', o.a ?? 0) / Math.sqrt(fan);
}

/** He uniform: U(-b, b) with b = gain·sqrt(3/fan). */
export function kaimingUniform_(p: Variable, opts: KaimingOptions = {}): Variable {
  const bound = Math.sqrt(3) * kaimingStd(p, opts);
  return uniform_(p, -bound, bound, opts.generator);
}

export function kaimingNormal_(p: Variable, opts: KaimingOptions = {}): Variable {
  return normal_(p, 0, kaimingStd(p, opts), opts.generator);
}

/**
 * torch's default init for Linear and Conv layers: weight kaiming-uniform with a = sqrt(5) (bound
 * 1/sqrt(fan_in)), bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
 */
export function torchDefaultInit_(weight: Variable, bias: Variable | null, generator: Generator = defaultGenerator): void {
  kaimingUniform_(weight, { a: Math.sqrt(5), generator });
  if (bias) {
    const { fanIn } = calculateFanInAndFanOut(weight);
    const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
    uniform_(bias, -bound, bound, generator);
  }
}

/** Modules that `initWeightsTimm` knows how to reinitialise. */
export interface TimmInitializable {
  /** Reinitialise this module's own parameters the timm way (children are visited separately). */
  initTimm(generator: Generator, std: number): void;
}

function isTimmInitializable(m: Module): m is Module & TimmInitializable {
  return typeof (m as Partial<TimmInitializable>).initTimm === 'function';
}

/**
 * timm's `_init_weights` for ViT-style models, applied to every submodule that defines `initTimm`: Linear
 * and Embedding weights trunc-normal (std 0.02, absolute bounds ±2) with zero bias; LayerNorm / BatchNorm /
 * GroupNorm weight 1, bias 0; LayerScale keeps its init value; Conv keeps torch's default. Returns the module.
 */
export function initWeightsTimm<M extends Module>(module: M, opts: { std?: number; generator?: Generator } = {}): M {
  const generator = opts.generator ?? defaultGenerator;
  const std = opts.std ?? 0.02;
  for (const [, m] of module.namedModules()) if (isTimmInitializable(m)) m.initTimm(generator, std);
  return module;
}
