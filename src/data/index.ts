export * from './csv.js';
export * from './wav.js';
export * from './linalg.js';
