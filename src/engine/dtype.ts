import type { OnnxTypeName } from './onnx-proto.js';

/** Element types a traced tensor can have. float32 is the compute type; int64 and bool serve indices and masks. */
export type DType = 'float32' | 'int64' | 'bool';
export type TypedArrayFor<D extends DType> = D extends 'float32' ? Float32Array : D extends 'int64' ? BigInt64Array : Uint8Array;
export type AnyTypedArray = Float32Array | BigInt64Array | Uint8Array;

export const onnxType: Record<DType, OnnxTypeName> = { float32: 'float32', int64: 'int64', bool: 'bool' };
export const bytesPerElement: Record<DType, number> = { float32: 4, int64: 8, bool: 1 };

export function allocate(dtype: DType, size: number): AnyTypedArray {
  switch (dtype) {
    case 'float32': return new Float32Array(size);
    case 'int64': return new BigInt64Array(size);
    case 'bool': return new Uint8Array(size);
  }
}

export function dtypeOfArray(a: AnyTypedArray): DType {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof BigInt64Array) return 'int64';
  return 'bool';
}

export function asBytes(a: AnyTypedArray): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}
