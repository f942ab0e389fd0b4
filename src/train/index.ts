export * from './step.js';
export * from './trainer.js';
export * from './metrics.js';
export * from './progress.js';
export * from './recipes.js';
export * from './checkpoint.js';
