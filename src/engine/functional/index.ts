// Functional API (torch.nn.functional style): composites written once from the primitives in ops/.
export * from './indexing.js';
export * from './conv.js';
export * from './norm.js';
export * from './losses.js';
export * from './random.js';
