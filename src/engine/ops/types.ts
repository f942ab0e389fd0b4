import type { DType } from '../dtype.js';
import type { AttrValue } from '../onnx-proto.js';
import type { Tensor } from '../tensor.js';

export type Shape = readonly number[];

/** Output of an op's shape rule: one entry per output. */
export interface OutSpec { shape: Shape; dtype: DType }

/** What an op's `emit` uses to write ONNX nodes. */
export interface Emitter {
  /** Append one ONNX node; `outputs` are names, or a count for fresh names. Returns output names. */
  node(op: string, inputs: string[], outputs: string[] | number, attrs?: Record<string, AttrValue | undefined>, domain?: string): string[];
  /** A 1-D int64 initializer (deduplicated); for axes, shapes, pads, starts, ... */
  i64(values: readonly number[]): string;
  /** A float32 scalar (dims []) or vector initializer (deduplicated). */
  f32(values: number | readonly number[]): string;
}

/** Arguments handed to a VJP rule. */
export interface VjpContext<A> {
  inputs: Tensor[];
  outputs: Tensor[];
  attrs: A;
  /** needs[i]: does input i need a gradient? Rules may return null for inputs that do not. */
  needs: boolean[];
}

/**
 * Reverse-mode rule: given cotangents of the outputs (null where none flows), return cotangents of the
 * inputs. Returned gradients may have a broadcast shape; the walker sums them back to the input's shape.
 */
export type VjpRule<A> = (ctx: VjpContext<A>, grads: (Tensor | null)[]) => (Tensor | null)[];

export interface OpDef<A> {
  /** Shape/dtype rule, checked at trace time. Throws ShapeError naming the op and the shapes. */
  infer(inputs: Tensor[], attrs: A): OutSpec[];
  /** Write the ONNX node(s) computing `outs` from `ins`. */
  emit(e: Emitter, ins: string[], outs: string[], attrs: A, inputs: Tensor[]): void;
  /** The VJP, or 'none' for ops without a gradient (indices, comparisons, random). */
  vjp: VjpRule<A> | 'none';
}

/** An exhaustive op table for a set of op names: a missing op or VJP entry fails to compile. */
export type OpTableFor<Attrs> = { [K in keyof Attrs]: OpDef<Attrs[K]> };
