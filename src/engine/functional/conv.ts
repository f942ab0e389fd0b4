// Convolution and pooling with torch.nn.functional semantics and argument names. Inputs are [N, C, ...spatial]
// (or unbatched [C, ...spatial], as torch accepts); geometry arguments take a number (every axis) or one
// number per spatial axis.
import { ShapeError, fmtShape } from '../errors.js';
import { apply, constant, type Tensor } from '../tensor.js';

export type Padding = number | number[] | 'same' | 'valid';
export type PerAxis = number | readonly number[];

export interface ConvOptions {
  stride?: PerAxis;
  /** Zero padding per side; 'valid' = none, 'same' = output size equals input size (stride 1 only). */
  padding?: Padding;
  dilation?: PerAxis;
  groups?: number;
}
export interface ConvTransposeOptions {
  stride?: PerAxis;
  /** Implicit zero padding removed from each side of the output: dilation * (kernel - 1) - padding is added to the input. */
  padding?: PerAxis;
  /** Extra size added to one side of each output axis (smaller than stride or dilation). */
  outputPadding?: PerAxis;
  groups?: number;
  dilation?: PerAxis;
}
export interface MaxPoolOptions {
  /** Default: the kernel size. */
  stride?: PerAxis | null;
  padding?: PerAxis;
  dilation?: PerAxis;
  ceilMode?: boolean;
}
export interface AvgPoolOptions {
  /** Default: the kernel size. */
  stride?: PerAxis | null;
  padding?: PerAxis;
  ceilMode?: boolean;
  /** Count the zero padding in the divisor (torch's default). */
  countIncludePad?: boolean;
}

/** Expand an int-or-tuple argument to `nd` integers >= `min`, or throw naming the function and argument. */
export function perAxis(fn: string, name: string, v: PerAxis, nd: number, min: number): number[] {
  const arr = typeof v === 'number' ? new Array<number>(nd).fill(v) : [...v];
  if (arr.length !== nd || arr.some((x) => !Number.isInteger(x) || x < min)) {
    throw new ShapeError(fn, `${name} must be an integer >= ${min} or ${nd} of them, got ${JSON.stringify(v)}`);
  }
  return arr;
}

/** Accept [N, C, ...] or unbatched [C, ...]; returns the batched input and a function restoring the layout. */
function batched(fn: string, x: Tensor, nd: number, what: string): [Tensor, (y: Tensor) => Tensor] {
  if (x.rank === nd + 2) return [x, (y) => y];
  if (x.rank === nd + 1) return [x.unsqueeze(0), (y) => y.squeeze(0)];
  throw new ShapeError(fn, `input ${fmtShape(x.shape)} must be [N, C, ${what}] or unbatched [C, ${what}]`);
}

const SPATIAL = ['L', 'H, W', 'D, H, W'];

function addBias(fn: string, y: Tensor, bias: Tensor | null | undefined): Tensor {
  if (!bias) return y;
  const c = y.shape[1]!;
  if (bias.rank !== 1 || bias.shape[0] !== c) throw new ShapeError(fn, `bias has shape ${fmtShape(bias.shape)}, expected [${c}] (one per output channel)`);
  return y.add(bias.reshape([c, ...y.shape.slice(2).map(() => 1)]));
}

function convNd(fn: string, nd: number, x: Tensor, weight: Tensor, bias: Tensor | null | undefined, opts: ConvOptions): Tensor {
  if (weight.rank !== nd + 2) throw new ShapeError(fn, `weight ${fmtShape(weight.shape)} must be [Cout, Cin/groups, ${SPATIAL[nd - 1]}] (rank ${nd + 2})`);
  const [xb, restore] = batched(fn, x, nd, SPATIAL[nd - 1]!);
  const strides = perAxis(fn, 'stride', opts.stride ?? 1, nd, 1);
  const dilations = perAxis(fn, 'dilation', opts.dilation ?? 1, nd, 1);
  const group = opts.groups ?? 1;
  if (!Number.isInteger(group) || group < 1) throw new ShapeError(fn, `groups must be a positive integer, got ${group}`);
  const k = weight.shape.slice(2);
  const padding = opts.padding ?? 0;
  let pads: number[];
  if (padding === 'valid') pads = new Array<number>(2 * nd).fill(0);
  else if (padding === 'same') {
    if (strides.some((s) => s !== 1)) throw new ShapeError(fn, `padding='same' is not supported for strided convolutions (stride ${fmtShape(strides)})`);
    // torch puts the odd extra element on the end side
    const total = k.map((kk, i) => dilations[i]! * (kk - 1));
    pads = [...total.map((t) => Math.floor(t / 2)), ...total.map((t) => t - Math.floor(t / 2))];
  } else {
    const p = perAxis(fn, 'padding', padding, nd, 0);
    pads = [...p, ...p];
  }
  const y = apply('Conv', [xb, weight], { strides, pads, dilations, group })[0]!;
  return restore(addBias(fn, y, bias));
}

function convTransposeNd(fn: string, nd: number, x: Tensor, weight: Tensor, bias: Tensor | null | undefined, opts: ConvTransposeOptions): Tensor {
  if (weight.rank !== nd + 2) throw new ShapeError(fn, `weight ${fmtShape(weight.shape)} must be [Cin, Cout/groups, ${SPATIAL[nd - 1]}] (rank ${nd + 2})`);
  const [xb, restore] = batched(fn, x, nd, SPATIAL[nd - 1]!);
  const strides = perAxis(fn, 'stride', opts.stride ?? 1, nd, 1);
  const dilations = perAxis(fn, 'dilation', opts.dilation ?? 1, nd, 1);
  const p = perAxis(fn, 'padding', opts.padding ?? 0, nd, 0);
  const outputPadding = perAxis(fn, 'outputPadding', opts.outputPadding ?? 0, nd, 0);
  const group = opts.groups ?? 1;
  if (!Number.isInteger(group) || group < 1) throw new ShapeError(fn, `groups must be a positive integer, got ${group}`);
  const y = apply('ConvTranspose', [xb, weight], { strides, pads: [...p, ...p], dilations, group, outputPadding })[0]!;
  return restore(addBias(fn, y, bias));
}

/** 1-D convolution: x [N, Cin, L], weight [Cout, Cin/groups, k], bias [Cout]. */
export function conv1d(x: Tensor, weight: Tensor, bias?: Tensor | null, opts: ConvOptions = {}): Tensor { return convNd('conv1d', 1, x, weight, bias, opts); }
/** 2-D convolution: x [N, Cin, H, W], weight [Cout, Cin/groups, kH, kW], bias [Cout]. */
export function conv2d(x: Tensor, weight: Tensor, bias?: Tensor | null, opts: ConvOptions = {}): Tensor { return convNd('conv2d', 2, x, weight, bias, opts); }
/** 3-D convolution: x [N, Cin, D, H, W], weight [Cout, Cin/groups, kD, kH, kW], bias [Cout]. */
export function conv3d(x: Tensor, weight: Tensor, bias?: Tensor | null, opts: ConvOptions = {}): Tensor { return convNd('conv3d', 3, x, weight, bias, opts); }

/** 1-D transposed convolution: x [N, Cin, L], weight [Cin, Cout/groups, k] (torch layout), bias [Cout]. */
export function convTranspose1d(x: Tensor, weight: Tensor, bias?: Tensor | null, opts: ConvTransposeOptions = {}): Tensor { return convTransposeNd('convTranspose1d', 1, x, weight, bias, opts); }
/** 2-D transposed convolution: x [N, Cin, H, W], weight [Cin, Cout/groups, kH, kW], bias [Cout]. */
export function convTranspose2d(x: Tensor, weight: Tensor, bias?: Tensor | null, opts: ConvTransposeOptions = {}): Tensor { return convTransposeNd('convTranspose2d', 2, x, weight, bias, opts); }
/** 3-D transposed convolution: x [N, Cin, D, H, W], weight [Cin, Cout/groups, kD, kH, kW], bias [Cout]. */
export function convTranspose3d(x: Tensor, weight: Tensor, bias?: Tensor | null, opts: ConvTransposeOptions = {}): Tensor { return convTransposeNd('convTranspose3d', 3, x, weight, bias, opts); }

function maxPoolNd(fn: string, nd: number, x: Tensor, kernelSize: PerAxis, opts: MaxPoolOptions): Tensor {
  const [xb, restore] = batched(fn, x, nd, SPATIAL[nd - 1]!);
  const kernel = perAxis(fn, 'kernelSize', kernelSize, nd, 1);
  const strides = perAxis(fn, 'stride', opts.stride ?? kernel, nd, 1);
  const p = perAxis(fn, 'padding', opts.padding ?? 0, nd, 0);
  const dilations = perAxis(fn, 'dilation', opts.dilation ?? 1, nd, 1);
  p.forEach((pp, i) => {
    if (2 * pp > dilations[i]! * (kernel[i]! - 1) + 1) {
      throw new ShapeError(fn, `padding ${fmtShape(p)} should be at most half of the effective kernel size (kernel ${fmtShape(kernel)}, dilation ${fmtShape(dilations)})`);
    }
  });
  const [y] = apply('MaxPool', [xb], { kernel, strides, pads: [...p, ...p], dilations, ceilMode: opts.ceilMode ?? false });
  return restore(y!);
}

function avgPoolNd(fn: string, nd: number, x: Tensor, kernelSize: PerAxis, opts: AvgPoolOptions): Tensor {
  const [xb, restore] = batched(fn, x, nd, SPATIAL[nd - 1]!);
  const kernel = perAxis(fn, 'kernelSize', kernelSize, nd, 1);
  const strides = perAxis(fn, 'stride', opts.stride ?? kernel, nd, 1);
  const p = perAxis(fn, 'padding', opts.padding ?? 0, nd, 0);
  p.forEach((pp, i) => {
    if (2 * pp > kernel[i]!) throw new ShapeError(fn, `padding ${fmtShape(p)} should be at most half of the kernel size ${fmtShape(kernel)}`);
  });
  const y = apply('AveragePool', [xb], { kernel, strides, pads: [...p, ...p], countIncludePad: opts.countIncludePad ?? true, ceilMode: opts.ceilMode ?? false })[0]!;
  return restore(y);
}

/** Max pooling over [N, C, L]. */
export function maxPool1d(x: Tensor, kernelSize: PerAxis, opts: MaxPoolOptions = {}): Tensor { return maxPoolNd('maxPool1d', 1, x, kernelSize, opts); }
/** Max pooling over [N, C, H, W]. */
export function maxPool2d(x: Tensor, kernelSize: PerAxis, opts: MaxPoolOptions = {}): Tensor { return maxPoolNd('maxPool2d', 2, x, kernelSize, opts); }
/** Max pooling over [N, C, D, H, W]. */
export function maxPool3d(x: Tensor, kernelSize: PerAxis, opts: MaxPoolOptions = {}): Tensor { return maxPoolNd('maxPool3d', 3, x, kernelSize, opts); }
/** Average pooling over [N, C, L]. */
export function avgPool1d(x: Tensor, kernelSize: PerAxis, opts: AvgPoolOptions = {}): Tensor { return avgPoolNd('avgPool1d', 1, x, kernelSize, opts); }
/** Average pooling over [N, C, H, W]. */
export function avgPool2d(x: Tensor, kernelSize: PerAxis, opts: AvgPoolOptions = {}): Tensor { return avgPoolNd('avgPool2d', 2, x, kernelSize, opts); }
/** Average pooling over [N, C, D, H, W]. */
export function avgPool3d(x: Tensor, kernelSize: PerAxis, opts: AvgPoolOptions = {}): Tensor { return avgPoolNd('avgPool3d', 3, x, kernelSize, opts); }

// Adaptive pooling matrices are constants, memoised so re-tracing a step reuses the same tensor.
const adaptiveCache = new Map<string, Tensor>();

/** [inSize, outSize] averaging matrix of torch's adaptive windows [floor(o*in/out), ceil((o+1)*in/out)). */
function adaptiveMatrix(inSize: number, outSize: number): Tensor {
  const key = `${inSize}->${outSize}`;
  let m = adaptiveCache.get(key);
  if (!m) {
    const data = new Float32Array(inSize * outSize);
    for (let o = 0; o < outSize; o++) {
      const start = Math.floor((o * inSize) / outSize), end = Math.ceil(((o + 1) * inSize) / outSize);
      for (let j = start; j < end; j++) data[j * outSize + o] = 1 / (end - start);
    }
    m = constant(data, [inSize, outSize]);
    adaptiveCache.set(key, m);
  }
  return m;
}

function adaptiveAvgPoolNd(fn: string, nd: number, x: Tensor, outputSize: number | (number | null)[]): Tensor {
  const [xb, restore] = batched(fn, x, nd, SPATIAL[nd - 1]!);
  const inSp = xb.shape.slice(2);
  const raw = typeof outputSize === 'number' ? new Array<number>(nd).fill(outputSize) : outputSize;
  if (raw.length !== nd) throw new ShapeError(fn, `outputSize must be a number or ${nd} numbers, got ${JSON.stringify(outputSize)}`);
  const out = raw.map((o, i) => o ?? inSp[i]!);
  if (out.some((o) => !Number.isInteger(o) || o < 1)) throw new ShapeError(fn, `outputSize must be positive integers, got ${JSON.stringify(outputSize)}`);
  if (inSp.every((d, i) => d % out[i]! === 0)) {
    // equal, non-overlapping windows: a plain average pool
    const kernel = inSp.map((d, i) => d / out[i]!);
    if (kernel.every((k) => k === 1)) return restore(xb);
    return restore(apply('AveragePool', [xb], { kernel, strides: kernel, pads: new Array<number>(2 * nd).fill(0), countIncludePad: true, ceilMode: false })[0]!);
  }
  // General case: the pooling is separable, one averaging matrix per axis, applied to the last axis and
  // rotated into place.
  let y = xb;
  const rank = xb.rank;
  for (let i = nd - 1; i >= 0; i--) {
    const axis = 2 + i;
    const moved = axis === rank - 1 ? y : y.transpose(axis, rank - 1);
    const pooled = moved.matmul(adaptiveMatrix(inSp[i]!, out[i]!));
    y = axis === rank - 1 ? pooled : pooled.transpose(axis, rank - 1);
  }
  return restore(y);
}

/** torch.nn.functional.adaptive_avg_pool1d: [N, C, L] -> [N, C, outputSize]. */
export function adaptiveAvgPool1d(x: Tensor, outputSize: number | (number | null)[]): Tensor { return adaptiveAvgPoolNd('adaptiveAvgPool1d', 1, x, outputSize); }
/** torch.nn.functional.adaptive_avg_pool2d: [N, C, H, W] -> [N, C, oH, oW] (null keeps an axis). */
export function adaptiveAvgPool2d(x: Tensor, outputSize: number | (number | null)[]): Tensor { return adaptiveAvgPoolNd('adaptiveAvgPool2d', 2, x, outputSize); }
/** torch.nn.functional.adaptive_avg_pool3d: [N, C, D, H, W] -> [N, C, oD, oH, oW]. */
export function adaptiveAvgPool3d(x: Tensor, outputSize: number | (number | null)[]): Tensor { return adaptiveAvgPoolNd('adaptiveAvgPool3d', 3, x, outputSize); }
