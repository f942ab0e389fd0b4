export * from './engine/index.js';
export * as F from './engine/functional/index.js';
export * from './nn/index.js';
export * from './optim/index.js';
export * from './io/index.js';
export * from './train/index.js';
