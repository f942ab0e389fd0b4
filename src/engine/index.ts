export { Tensor, Variable, apply, constant, scalar, where, shapeSize, runtimeFlags } from './tensor.js';
export type { Shape, TensorLike, OpNode } from './tensor.js';
export type { DType, AnyTypedArray } from './dtype.js';
export { ShapeError } from './errors.js';
export { grad } from './autodiff.js';
export { realize, configure, config as runtimeConfig, stats as runtimeStats, disposeSessions, cachedSessionCount } from './runtime.js';
export { opTable, type OpName, type OpAttrs } from './ops/index.js';
export { exportOnnx, exportOnnxModel, MAX_INLINE_INITIALIZER_BYTES, type ExportOptions, type ExportResult } from './export.js';
export { dynamicBatchGraph, DynamicBatchError } from './dynamic-batch.js';
