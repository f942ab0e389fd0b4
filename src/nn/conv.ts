// Convolution layers (torch.nn.Conv1d/2d/3d): weight [out, in / groups, *kernel], bias [out].
import { ShapeError, fmtShape } from '../engine/errors.js';
import { conv1d, conv2d, conv3d, perAxis } from '../engine/functional/conv.js';
import { defaultGenerator, type Generator } from '../engine/functional/random.js';
import { Variable, type Tensor } from '../engine/tensor.js';
import { torchDefaultInit_ } from './init.js';
import { Module } from './module.js';

type IntOrTuple = number | readonly number[];

export interface ConvOptions {
  stride?: IntOrTuple;
  /** Zero padding per side, or 'valid' (none) / 'same' (stride 1 only). */
  padding?: IntOrTuple | 'valid' | 'same';
  dilation?: IntOrTuple;
  groups?: number;
  bias?: boolean;
  generator?: Generator;
}

abstract class ConvNd extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: readonly number[];
  readonly stride: readonly number[];
  readonly padding: readonly number[] | 'valid' | 'same';
  readonly dilation: readonly number[];
  readonly groups: number;
  weight: Variable;
  bias: Variable | null;

  protected abstract conv(x: Tensor, w: Tensor, b: Tensor | null): Tensor;

  constructor(nd: number, inChannels: number, outChannels: number, kernelSize: IntOrTuple, opts: ConvOptions) {
    super();
    const name = this.constructor.name;
    const groups = opts.groups ?? 1;
    if (!Number.isInteger(groups) || groups < 1) throw new ShapeError(name, `groups must be a positive integer, got ${groups}`);
    if (!Number.isInteger(inChannels) || inChannels < 1 || inChannels % groups) throw new ShapeError(name, `in_channels (${inChannels}) must be a positive multiple of groups (${groups})`);
    if (!Number.isInteger(outChannels) || outChannels < 1 || outChannels % groups) throw new ShapeError(name, `out_channels (${outChannels}) must be a positive multiple of groups (${groups})`);
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.groups = groups;
    this.kernelSize = perAxis(name, 'kernel_size', kernelSize, nd, 1);
    this.stride = perAxis(name, 'stride', opts.stride ?? 1, nd, 1);
    this.dilation = perAxis(name, 'dilation', opts.dilation ?? 1, nd, 1);
    const pad = opts.padding ?? 0;
    if (pad === 'same' && this.stride.some((s) => s !== 1)) throw new ShapeError(name, `padding='same' needs stride 1, got stride ${fmtShape(this.stride)}`);
    this.padding = pad === 'valid' || pad === 'same' ? pad : perAxis(name, 'padding', pad, nd, 0);
    const wShape = [outChannels, inChannels / groups, ...this.kernelSize];
    this.weight = new Variable(new Float32Array(wShape.reduce((a, b) => a * b, 1)), wShape);
    this.bias = (opts.bias ?? true) ? new Variable(new Float32Array(outChannels), [outChannels]) : null;
    this.resetParameters(opts.generator ?? defaultGenerator);
  }

  /** torch's default: kaiming-uniform(a=sqrt(5)) weight, U(±1/sqrt(fan_in)) bias. */
  resetParameters(generator: Generator = defaultGenerator): void { torchDefaultInit_(this.weight, this.bias, generator); }

  protected get convOptions(): { stride: number[]; padding: number[] | 'valid' | 'same'; dilation: number[]; groups: number } {
    return { stride: [...this.stride], padding: typeof this.padding === 'string' ? this.padding : [...this.padding], dilation: [...this.dilation], groups: this.groups };
  }

  forward(x: Tensor): Tensor { return this.conv(x, this.weight, this.bias); }
}

/** 1-D convolution over [N, C, L] (or unbatched [C, L]) inputs. */
export class Conv1d extends ConvNd {
  constructor(inChannels: number, outChannels: number, kernelSize: IntOrTuple, opts: ConvOptions = {}) { super(1, inChannels, outChannels, kernelSize, opts); }
  protected conv(x: Tensor, w: Tensor, b: Tensor | null): Tensor { return conv1d(x, w, b, this.convOptions); }
}

/** 2-D convolution over [N, C, H, W] (or unbatched [C, H, W]) inputs. */
export class Conv2d extends ConvNd {
  constructor(inChannels: number, outChannels: number, kernelSize: IntOrTuple, opts: ConvOptions = {}) { super(2, inChannels, outChannels, kernelSize, opts); }
  protected conv(x: Tensor, w: Tensor, b: Tensor | null): Tensor { return conv2d(x, w, b, this.convOptions); }
}

/** 3-D convolution over [N, C, D, H, W] (or unbatched [C, D, H, W]) inputs. */
export class Conv3d extends ConvNd {
  constructor(inChannels: number, outChannels: number, kernelSize: IntOrTuple, opts: ConvOptions = {}) { super(3, inChannels, outChannels, kernelSize, opts); }
  protected conv(x: Tensor, w: Tensor, b: Tensor | null): Tensor { return conv3d(x, w, b, this.convOptions); }
}
