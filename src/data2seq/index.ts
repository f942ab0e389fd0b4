// Data-to-Sequence tokenizers, one file per modality.
export * from './types.js';
export * from './sinusoid.js';
export * from './image.js';
export * from './video.js';
export * from './hyperspectral.js';
export * from './audio.js';
export * from './fbank.js';
export * from './time-series.js';
export * from './tabular.js';
export * from './point-cloud.js';
export * from './graph.js';
export * from './text.js';
