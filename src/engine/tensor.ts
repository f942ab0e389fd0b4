import { allocate, dtypeOfArray, type AnyTypedArray, type DType } from './dtype.js';
import { ShapeError, fmtShape } from './errors.js';
import { opTable, type OpAttrs, type OpName } from './ops/index.js';
import type { Shape } from './ops/types.js';
import { realize } from './runtime.js';

export type { Shape } from './ops/types.js';

/** A recorded application of an op: the edge of the traced graph that produced `outputs`. */
export interface OpNode {
  op: OpName;
  inputs: Tensor[];
  attrs: unknown;
  outputs: Tensor[];
}

let nextTensorId = 0;

export function shapeSize(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function normAxis(axis: number, rank: number, op: string): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank || !Number.isInteger(a)) throw new ShapeError(op, `axis ${axis} out of range for rank ${rank}`);
  return a;
}

export type Scalar = number | boolean;
export type TensorLike = Tensor | Scalar;

/**
 * A traced tensor. Either a leaf that holds data (fed to ORT as an input, or baked into the model as an
 * initializer when `constant`) or the output of an op recorded in the graph. Realizing an output compiles
 * the pending graph into one ONNX model, runs it in one ORT session and cuts the graph above it.
 */
export class Tensor {
  readonly id = nextTensorId++;
  readonly shape: Shape;
  readonly dtype: DType;
  /** Producer node; null for leaves and realized tensors. */
  node: OpNode | null = null;
  outputIndex = 0;
  protected _data: AnyTypedArray | null = null;
  /** Leaf only: bake into the model as an initializer rather than feeding it. */
  constant = false;
  /** True once this tensor was computed from a recorded graph and that graph was cut by realizing it. */
  wasComputed = false;

  constructor(shape: Shape, dtype: DType, data: AnyTypedArray | null = null) {
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    if (data) this.setData(data);
  }

  get rank(): number { return this.shape.length; }
  get size(): number { return shapeSize(this.shape); }
  /** True when the value is known (a leaf or an already realized output). */
  get isRealized(): boolean { return this._data !== null; }
  /** Should the compiler bake this leaf into the model as an initializer? */
  get baked(): boolean { return this.constant; }
  /** Identity used in session-cache keys for baked leaves: changes when the value changes. */
  get bakeKey(): string { return `#${this.id}`; }

  /** The value if already realized; throws otherwise. Use `await t.data()` to compute it. */
  get value(): AnyTypedArray {
    if (!this._data) throw new Error(`tensor ${fmtShape(this.shape)} is not realized yet: await tensor.data() first`);
    return this._data;
  }

  /** @internal set the concrete value and cut the graph above this tensor. */
  setData(data: AnyTypedArray): void {
    if (data.length !== this.size) throw new ShapeError('setData', `got ${data.length} elements for shape ${fmtShape(this.shape)}`);
    if (dtypeOfArray(data) !== this.dtype) throw new ShapeError('setData', `got ${dtypeOfArray(data)} data for a ${this.dtype} tensor`);
    this._data = data;
    if (this.node) this.wasComputed = true;
    this.node = null;
  }

  /** Realize (compile + run the pending graph if needed) and return the values. */
  async data(): Promise<AnyTypedArray> {
    if (!this._data) await realize([this]);
    return this._data!;
  }
  async float32(): Promise<Float32Array> {
    const d = await this.data();
    if (!(d instanceof Float32Array)) throw new Error(`expected a float32 tensor, got ${this.dtype}`);
    return d;
  }
  async item(): Promise<number> {
    if (this.size !== 1) throw new ShapeError('item', `tensor of shape ${fmtShape(this.shape)} has ${this.size} elements, expected 1`);
    const d = await this.data();
    return Number(d[0]);
  }
  async toArray(): Promise<number[]> { return Array.from(await this.data(), Number); }
  /** Release the value (large buffers) and detach from the graph. */
  dispose(): void { this._data = null; this.node = null; }

  // ---- elementwise ----
  add(o: TensorLike): Tensor { return binary('Add', this, o); }
  sub(o: TensorLike): Tensor { return binary('Sub', this, o); }
  mul(o: TensorLike): Tensor { return binary('Mul', this, o); }
  div(o: TensorLike): Tensor { return binary('Div', this, o); }
  pow(o: TensorLike): Tensor { return binary('Pow', this, o); }
  maximum(o: TensorLike): Tensor { return binary('Max', this, o); }
  minimum(o: TensorLike): Tensor { return binary('Min', this, o); }
  neg(): Tensor { return unary('Neg', this); }
  exp(): Tensor { return unary('Exp', this); }
  log(): Tensor { return unary('Log', this); }
  sqrt(): Tensor { return unary('Sqrt', this); }
  rsqrt(): Tensor { return unary('Reciprocal', unary('Sqrt', this)); }
  reciprocal(): Tensor { return unary('Reciprocal', this); }
  abs(): Tensor { return unary('Abs', this); }
  sign(): Tensor { return unary('Sign', this); }
  tanh(): Tensor { return unary('Tanh', this); }
  sigmoid(): Tensor { return unary('Sigmoid', this); }
  erf(): Tensor { return unary('Erf', this); }
  relu(): Tensor { return unary('Relu', this); }
  sin(): Tensor { return unary('Sin', this); }
  cos(): Tensor { return unary('Cos', this); }
  /** GELU; `approximate: 'tanh'` for the tanh form (as torch.nn.functional.gelu). */
  gelu(approximate: 'none' | 'tanh' = 'none'): Tensor { return apply('Gelu', [this], { approximate })[0]!; }
  /** x * sigmoid(1.702 x), as in OpenAI CLIP. */
  quickGelu(): Tensor { return this.mul(this.mul(1.702).sigmoid()); }
  silu(): Tensor { return this.mul(this.sigmoid()); }
  clamp(min?: number, max?: number): Tensor { return apply('Clip', [this], { min, max })[0]!; }
  cast(dtype: DType): Tensor { return dtype === this.dtype ? this : apply('Cast', [this], { to: dtype })[0]!; }

  // ---- comparisons (no gradient) ----
  eq(o: TensorLike): Tensor { return binary('Equal', this, o); }
  lt(o: TensorLike): Tensor { return binary('Less', this, o); }
  le(o: TensorLike): Tensor { return binary('LessOrEqual', this, o); }
  gt(o: TensorLike): Tensor { return binary('Greater', this, o); }
  ge(o: TensorLike): Tensor { return binary('GreaterOrEqual', this, o); }
  ne(o: TensorLike): Tensor { return apply('Not', [binary('Equal', this, o)], {})[0]!; }
  logicalNot(): Tensor { return apply('Not', [this], {})[0]!; }
  logicalAnd(o: Tensor): Tensor { return apply('And', [this, o], {})[0]!; }
  logicalOr(o: Tensor): Tensor { return apply('Or', [this, o], {})[0]!; }

  /** The same values, cut from the gradient graph (torch's detach()). */
  detach(): Tensor { return apply('StopGradient', [this], {})[0]!; }

  // ---- linear algebra ----
  matmul(o: Tensor): Tensor { return apply('MatMul', [this, o], {})[0]!; }

  // ---- shape ----
  reshape(shape: readonly number[]): Tensor {
    const target = resolveReshape(this.shape, shape);
    if (target.length === this.rank && target.every((d, i) => d === this.shape[i])) return this;
    return apply('Reshape', [this], { shape: target })[0]!;
  }
  view(...shape: number[]): Tensor { return this.reshape(shape); }
  flatten(startDim = 0, endDim = -1): Tensor {
    if (this.rank === 0) return this.reshape([1]);
    const s = normAxis(startDim, this.rank, 'flatten'), e = normAxis(endDim, this.rank, 'flatten');
    const mid = this.shape.slice(s, e + 1).reduce((a, b) => a * b, 1);
    return this.reshape([...this.shape.slice(0, s), mid, ...this.shape.slice(e + 1)]);
  }
  permute(...perm: number[]): Tensor {
    const p = perm.map((a) => normAxis(a, this.rank, 'permute'));
    if (p.every((a, i) => a === i)) return this;
    return apply('Transpose', [this], { perm: p })[0]!;
  }
  transpose(d0 = -2, d1 = -1): Tensor {
    const perm = [...Array(this.rank).keys()];
    const a = normAxis(d0, this.rank, 'transpose'), b = normAxis(d1, this.rank, 'transpose');
    perm[a] = b; perm[b] = a;
    return this.permute(...perm);
  }
  /** Matrix transpose of the last two axes. */
  get mT(): Tensor { return this.transpose(-2, -1); }
  expand(shape: readonly number[]): Tensor {
    const full = shape.map((d, i) => (d === -1 ? this.shape[i - (shape.length - this.rank)]! : d));
    if (full.length === this.rank && full.every((d, i) => d === this.shape[i])) return this;
    return apply('Expand', [this], { shape: full })[0]!;
  }
  unsqueeze(dim: number): Tensor {
    const d = normAxis(dim, this.rank + 1, 'unsqueeze');
    return this.reshape([...this.shape.slice(0, d), 1, ...this.shape.slice(d)]);
  }
  squeeze(dim?: number | number[]): Tensor {
    const dims = dim === undefined ? this.shape.flatMap((d, i) => (d === 1 ? [i] : [])) : (Array.isArray(dim) ? dim : [dim]).map((a) => normAxis(a, this.rank, 'squeeze'));
    for (const a of dims) if (this.shape[a] !== 1) throw new ShapeError('squeeze', `dim ${a} of ${fmtShape(this.shape)} has size ${this.shape[a]}, not 1`);
    return this.reshape(this.shape.filter((_, i) => !dims.includes(i)));
  }

  // ---- reductions ----
  sum(dims?: number | number[], keepdim = false): Tensor { return reduce('ReduceSum', this, dims, keepdim); }
  mean(dims?: number | number[], keepdim = false): Tensor { return reduce('ReduceMean', this, dims, keepdim); }
  max(dims?: number | number[], keepdim = false): Tensor { return reduce('ReduceMax', this, dims, keepdim); }
  min(dims?: number | number[], keepdim = false): Tensor { return reduce('ReduceMin', this, dims, keepdim); }
  /** Variance with Bessel's correction by default (as torch.var). */
  var(dims?: number | number[], keepdim = false, correction = 1): Tensor {
    const axes = reduceAxes(this, dims, 'var');
    const n = axes.reduce((s, a) => s * this.shape[a]!, 1);
    const centered = this.sub(this.mean(axes, true));
    const ss = centered.mul(centered).sum(axes, keepdim);
    return ss.div(Math.max(n - correction, 0));
  }
  argmax(dim = -1, keepdim = false): Tensor { return apply('ArgMax', [this], { axis: normAxis(dim, this.rank, 'argmax'), keepdims: keepdim })[0]!; }
  argmin(dim = -1, keepdim = false): Tensor { return apply('ArgMin', [this], { axis: normAxis(dim, this.rank, 'argmin'), keepdims: keepdim })[0]!; }

  // ---- normalisation-type ----
  softmax(dim = -1): Tensor { return apply('Softmax', [this], { axis: normAxis(dim, this.rank, 'softmax') })[0]!; }
  logSoftmax(dim = -1): Tensor { return apply('LogSoftmax', [this], { axis: normAxis(dim, this.rank, 'logSoftmax') })[0]!; }

  toString(): string { return `Tensor(${fmtShape(this.shape)}, ${this.dtype}${this.isRealized ? '' : ', pending'})`; }
}

/**
 * A persistent, mutable leaf: a model parameter or buffer. Its value is replaced (not the object) by
 * optimizers and loaders, so a traced step graph refers to it across iterations.
 * Frozen parameters are baked into compiled models as initializers (ORT prepacks them); trainable ones
 * and buffers are fed as inputs.
 */
export class Variable extends Tensor {
  requiresGrad: boolean;
  readonly role: 'parameter' | 'buffer';
  /** Bumped on every assign; baked copies in cached sessions are keyed by it. */
  version = 0;
  constructor(data: AnyTypedArray, shape: Shape, role: 'parameter' | 'buffer' = 'parameter', requiresGrad = role === 'parameter') {
    super(shape, dtypeOfArray(data), data);
    this.role = role;
    this.requiresGrad = requiresGrad;
  }
  override get baked(): boolean { return this.role === 'parameter' && !this.requiresGrad && runtimeFlags.bakeFrozen; }
  override get bakeKey(): string { return `#${this.id}.${this.version}`; }
  /** Replace the value (same shape and dtype). A pending tensor is realized first. */
  async assign(v: Tensor | AnyTypedArray): Promise<void> {
    const data = v instanceof Tensor ? await v.data() : v;
    this.assignSync(data);
  }
  assignSync(data: AnyTypedArray): void {
    this.setData(data);
    this.version++;
  }
}

/** Global switches read by the compiler. */
export const runtimeFlags = { bakeFrozen: true };

// ---- tracing ----

export function apply<K extends OpName>(op: K, inputs: Tensor[], attrs: OpAttrs[K]): Tensor[] {
  const def = opTable()[op];
  const specs = def.infer(inputs, attrs);
  const node: OpNode = { op, inputs, attrs, outputs: [] };
  node.outputs = specs.map((s, i) => {
    const t = new Tensor(s.shape, s.dtype);
    t.node = node;
    t.outputIndex = i;
    return t;
  });
  return node.outputs;
}

/** A constant baked into the graph (small literals, masks, index tables). */
export function constant(data: AnyTypedArray | number[], shape?: Shape, dtype: DType = 'float32'): Tensor {
  const arr = Array.isArray(data) ? fromNumbers(data, dtype) : data;
  const t = new Tensor(shape ?? [arr.length], dtypeOfArray(arr), arr);
  t.constant = true;
  return t;
}

export function scalar(v: Scalar, dtype: DType = 'float32'): Tensor {
  return constant(fromNumbers([typeof v === 'boolean' ? Number(v) : v], dtype), []);
}

export function fromNumbers(values: readonly number[], dtype: DType): AnyTypedArray {
  const a = allocate(dtype, values.length);
  if (a instanceof BigInt64Array) values.forEach((v, i) => { a[i] = BigInt(Math.trunc(v)); });
  else values.forEach((v, i) => { a[i] = Number(v); });
  return a;
}

function lift(x: TensorLike, like: Tensor): Tensor {
  if (x instanceof Tensor) return x;
  return scalar(x, like.dtype === 'bool' ? 'float32' : like.dtype);
}

function binary(op: OpName, a: Tensor, b: TensorLike): Tensor {
  return apply(op, [a, lift(b, a)], {} as never)[0]!;
}
function unary(op: OpName, a: Tensor): Tensor { return apply(op, [a], {} as never)[0]!; }

function reduceAxes(t: Tensor, dims: number | number[] | undefined, op: string): number[] {
  if (dims === undefined) return [...Array(t.rank).keys()];
  const list = Array.isArray(dims) ? dims : [dims];
  return [...new Set(list.map((d) => normAxis(d, t.rank, op)))].sort((a, b) => a - b);
}

function reduce(op: 'ReduceSum' | 'ReduceMean' | 'ReduceMax' | 'ReduceMin', t: Tensor, dims: number | number[] | undefined, keepdim: boolean): Tensor {
  const axes = reduceAxes(t, dims, op);
  if (axes.length === 0) return t;
  return apply(op, [t], { axes, keepdims: keepdim })[0]!;
}

export function resolveReshape(from: Shape, to: readonly number[]): number[] {
  const size = shapeSize(from);
  const unknown = to.filter((d) => d === -1).length;
  if (unknown > 1) throw new ShapeError('reshape', `only one -1 allowed in ${fmtShape(to)}`);
  const known = to.reduce((p, d) => (d === -1 ? p : p * d), 1);
  const out = to.map((d) => (d === -1 ? (known === 0 ? 0 : size / known) : d));
  if (shapeSize(out) !== size || out.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new ShapeError('reshape', `cannot reshape ${fmtShape(from)} (${size} elements) to ${fmtShape(to)}`);
  }
  return out;
}

/** Select `a` where `cond` is true, else `b` (broadcasting). */
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  const like = a instanceof Tensor ? a : b instanceof Tensor ? b : scalar(0);
  return apply('Where', [cond, lift(a, like), lift(b, like)], {})[0]!;
}
