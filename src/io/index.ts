export * from './atomic.js';
export * from './safetensors.js';
export * from './state-dict.js';
export * from './npy.js';
export { unpickle, PickleError, PickleTruncatedError, PyGlobal, type UnpickleOptions, type UnpickleResult, type GlobalHandler } from './pickle.js';
export * from './torch-checkpoint.js';
export * from './torch-save.js';
export { ZipError } from './zip.js';
export * from './checkpoint-formats.js';
