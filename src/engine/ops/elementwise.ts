// Elementwise ops with numpy broadcasting. VJPs return broadcast-shaped cotangents; the autodiff walker
// sums them back to each input's shape.
import type { DType } from '../dtype.js';
import { ShapeError } from '../errors.js';
import { Tensor, scalar, where } from '../tensor.js';
import { broadcastShapes } from './broadcast.js';
import type { OpDef, OpTableFor, OutSpec, VjpRule } from './types.js';

type None = Record<string, never>;
export interface ElementwiseAttrs {
  Add: None; Sub: None; Mul: None; Div: None; Pow: None; Max: None; Min: None;
  Neg: None; Exp: None; Log: None; Sqrt: None; Reciprocal: None; Abs: None; Sign: None;
  Tanh: None; Sigmoid: None; Erf: None; Relu: None; Sin: None; Cos: None;
  Gelu: { approximate: 'none' | 'tanh' };
  Clip: { min?: number | undefined; max?: number | undefined };
  Cast: { to: DType };
  Equal: None; Less: None; LessOrEqual: None; Greater: None; GreaterOrEqual: None;
  And: None; Or: None; Not: None;
  Where: None;
}

function sameDtype(op: string, inputs: Tensor[], allowed: DType[]): DType {
  const d = inputs[0]!.dtype;
  for (const t of inputs) if (t.dtype !== d) throw new ShapeError(op, `dtype mismatch: ${inputs.map((x) => x.dtype).join(' vs ')}`);
  if (!allowed.includes(d)) throw new ShapeError(op, `expected ${allowed.join(' or ')} inputs, got ${d}`);
  return d;
}

function binaryDef(onnx: string, vjp: VjpRule<None> | 'none', allowed: DType[] = ['float32', 'int64'], outDtype?: DType): OpDef<None> {
  return {
    infer: (inputs) => {
      const d = sameDtype(onnx, inputs, allowed);
      return [{ shape: broadcastShapes(onnx, inputs[0]!.shape, inputs[1]!.shape), dtype: outDtype ?? d }];
    },
    emit: (e, ins, outs) => { e.node(onnx, ins, outs); },
    vjp,
  };
}

function unaryDef(onnx: string, vjp: VjpRule<None> | 'none', allowed: DType[] = ['float32']): OpDef<None> {
  return {
    infer: (inputs): OutSpec[] => [{ shape: inputs[0]!.shape, dtype: sameDtype(onnx, inputs, allowed) }],
    emit: (e, ins, outs) => { e.node(onnx, ins, outs); },
    vjp,
  };
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const LN_2_OVER_SQRT_PI = Math.log(2 / Math.sqrt(Math.PI));

/** Elementwise Max/Min: the gradient goes to the selected input; ties share it equally. */
const selectVjp = (pick: 'gt' | 'lt'): VjpRule<None> => ({ inputs: [a, b] }, [g]) => {
  const wins = pick === 'gt' ? a!.gt(b!) : a!.lt(b!);
  const tie = a!.eq(b!);
  const share = where(tie, 0.5, where(wins, 1, 0));
  return [g!.mul(share), g!.mul(share.neg().add(1))];
};

const comparison = (onnx: string): OpDef<None> => binaryDef(onnx, 'none', ['float32', 'int64', 'bool'], 'bool');

export const elementwiseOps: OpTableFor<ElementwiseAttrs> = {
  Add: binaryDef('Add', (_c, [g]) => [g!, g!]),
  Sub: binaryDef('Sub', (_c, [g]) => [g!, g!.neg()]),
  Mul: binaryDef('Mul', ({ inputs: [a, b], needs }, [g]) => [needs[0] ? g!.mul(b!) : null, needs[1] ? g!.mul(a!) : null]),
  Div: binaryDef('Div', ({ inputs: [a, b], outputs: [y], needs }, [g]) => {
    const ga = g!.div(b!);
    return [needs[0] ? ga : null, needs[1] ? ga.mul(y!).neg() : null];
  }),
  Pow: binaryDef('Pow', ({ inputs: [a, b], outputs: [y], needs }, [g]) => [
    needs[0] ? g!.mul(b!).mul(a!.pow(b!.sub(1))) : null,
    needs[1] ? g!.mul(y!).mul(a!.log()) : null,
  ], ['float32']),
  Max: binaryDef('Max', selectVjp('gt')),
  Min: binaryDef('Min', selectVjp('lt')),
  Neg: unaryDef('Neg', (_c, [g]) => [g!.neg()], ['float32', 'int64']),
  Exp: unaryDef('Exp', ({ outputs: [y] }, [g]) => [g!.mul(y!)]),
  Log: unaryDef('Log', ({ inputs: [x] }, [g]) => [g!.div(x!)]),
  Sqrt: unaryDef('Sqrt', ({ outputs: [y] }, [g]) => [g!.mul(0.5).div(y!)]),
  Reciprocal: unaryDef('Reciprocal', ({ outputs: [y] }, [g]) => [g!.mul(y!).mul(y!).neg()]),
  Abs: unaryDef('Abs', ({ inputs: [x] }, [g]) => [g!.mul(x!.sign())], ['float32', 'int64']),
  Sign: unaryDef('Sign', 'none', ['float32', 'int64']),
  Tanh: unaryDef('Tanh', ({ outputs: [y] }, [g]) => [g!.mul(y!.mul(y!).neg().add(1))]),
  Sigmoid: unaryDef('Sigmoid', ({ outputs: [y] }, [g]) => [g!.mul(y!).mul(y!.neg().add(1))]),
  Erf: unaryDef('Erf', ({ inputs: [x] }, [g]) => [g!.mul(x!.mul(x!).neg().exp().mul(2 / Math.sqrt(Math.PI)))]),
  Relu: unaryDef('Relu', ({ inputs: [x] }, [g]) => [where(x!.gt(0), g!, 0)]),
  Sin: unaryDef('Sin', ({ inputs: [x] }, [g]) => [g!.mul(x!.cos())]),
  Cos: unaryDef('Cos', ({ inputs: [x] }, [g]) => [g!.mul(x!.sin()).neg()]),
  Gelu: {
    infer: (inputs) => [{ shape: inputs[0]!.shape, dtype: sameDtype('Gelu', inputs, ['float32']) }],
    emit: (e, ins, outs, a) => { e.node('Gelu', ins, outs, { approximate: a.approximate }); },
    vjp: ({ inputs: [x], attrs }, [g]) => {
      if (attrs.approximate === 'tanh') {
        const x2 = x!.mul(x!);
        const t = x!.add(x2.mul(x!).mul(0.044715)).mul(SQRT_2_OVER_PI).tanh();
        const dt = t.mul(t).neg().add(1).mul(x2.mul(3 * 0.044715).add(1)).mul(SQRT_2_OVER_PI);
        return [g!.mul(t.add(1).mul(0.5).add(x!.mul(0.5).mul(dt)))];
      }
      // gelu'(x) = Φ(x) + x φ(x) = 0.5 (1 + erf(u) + u exp(ln(2/√π) - u²)), u = x/√2: constants folded
      // into the exponent so the largest activation of a transformer is read as few times as possible.
      const u = x!.mul(Math.SQRT1_2);
      const h = u.erf().add(u.mul(scalar(LN_2_OVER_SQRT_PI).sub(u.mul(u)).exp()));
      const half = g!.mul(0.5);
      return [half.mul(h).add(half)];
    },
  },
  Clip: {
    infer: (inputs, a) => {
      if (a.min !== undefined && a.max !== undefined && a.min > a.max) throw new ShapeError('Clip', `min ${a.min} > max ${a.max}`);
      return [{ shape: inputs[0]!.shape, dtype: sameDtype('Clip', inputs, ['float32']) }];
    },
    emit: (e, ins, outs, a) => { e.node('Clip', [ins[0]!, a.min === undefined ? '' : e.f32(a.min), a.max === undefined ? '' : e.f32(a.max)], outs); },
    vjp: ({ inputs: [x], attrs }, [g]) => {
      let inside: Tensor | null = null;
      if (attrs.min !== undefined) inside = x!.ge(attrs.min);
      if (attrs.max !== undefined) { const le = x!.le(attrs.max); inside = inside ? inside.logicalAnd(le) : le; }
      return [inside ? where(inside, g!, 0) : g!];
    },
  },
  Cast: {
    infer: (inputs, a) => [{ shape: inputs[0]!.shape, dtype: a.to }],
    emit: (e, ins, outs, a) => { e.node('Cast', ins, outs, { to: ({ float32: 1, int64: 7, bool: 9 } as const)[a.to] }); },
    vjp: ({ inputs: [x] }, [g]) => [x!.dtype === 'float32' ? g!.cast('float32') : null],
  },
  Equal: comparison('Equal'),
  Less: comparison('Less'),
  LessOrEqual: comparison('LessOrEqual'),
  Greater: comparison('Greater'),
  GreaterOrEqual: comparison('GreaterOrEqual'),
  And: binaryDef('And', 'none', ['bool']),
  Or: binaryDef('Or', 'none', ['bool']),
  Not: unaryDef('Not', 'none', ['bool']),
  Where: {
    infer: ([c, a, b]) => {
      if (c!.dtype !== 'bool') throw new ShapeError('Where', `condition must be bool, got ${c!.dtype}`);
      if (a!.dtype !== b!.dtype) throw new ShapeError('Where', `branch dtype mismatch: ${a!.dtype} vs ${b!.dtype}`);
      return [{ shape: broadcastShapes('Where', c!.shape, a!.shape, b!.shape), dtype: a!.dtype }];
    },
    emit: (e, ins, outs) => { e.node('Where', ins, outs); },
    vjp: ({ inputs: [c], needs }, [g]) => [null, needs[1] ? where(c!, g!, 0) : null, needs[2] ? where(c!, 0, g!) : null],
  },
};
