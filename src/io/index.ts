export * from './atomic.js';
export * from './safetensors.js';
export * from './state-dict.js';
export * from './npy.js';
export * from './checkpoint-formats.js';
