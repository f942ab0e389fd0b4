export * from './engine/index.js';
export * as F from './engine/functional/index.js';
export * from './nn/index.js';
