// The op table: every primitive defined once (shape rule, ONNX emission, VJP). Each category file is an
// exhaustive mapped type over its op names, so an op without a VJP entry fails to compile.
import { convOps, type ConvAttrs } from './conv.js';
import { elementwiseOps, type ElementwiseAttrs } from './elementwise.js';
import { indexingOps, type IndexingAttrs } from './indexing.js';
import { linalgOps, type LinalgAttrs } from './linalg.js';
import { normalizationOps, type NormalizationAttrs } from './normalization.js';
import { reduceOps, type ReduceAttrs } from './reduce.js';
import { shapeOps, type ShapeAttrs } from './shape.js';
import type { OpTableFor } from './types.js';

export type OpAttrs = ElementwiseAttrs & LinalgAttrs & ShapeAttrs & ReduceAttrs & NormalizationAttrs & IndexingAttrs & ConvAttrs;
export type OpName = keyof OpAttrs;

// Built on first use, not at module load: the category files import the tensor module, which imports this
// one, so whichever module a program imports first, the tables exist by the time an op is applied.
let table: OpTableFor<OpAttrs> | undefined;

/** The op table (every primitive's shape rule, ONNX emission and VJP). */
export function opTable(): OpTableFor<OpAttrs> {
  return (table ??= buildTable());
}

const buildTable = (): OpTableFor<OpAttrs> => ({
  ...elementwiseOps,
  ...linalgOps,
  ...shapeOps,
  ...reduceOps,
  ...normalizationOps,
  ...indexingOps,
  ...convOps,
});
