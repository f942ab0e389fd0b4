export * from './engine/index.js';
export * as F from './engine/functional/index.js';
export * from './nn/index.js';
export * from './optim/index.js';
export * from './io/index.js';
export * from './train/index.js';
export { VisionTransformer, PatchEmbed, VIT_CONFIGS, resamplePosEmbed, type VitConfig, type ResamplePosEmbedOptions } from './encoders/vit.js';
export * from './encoders/clip.js';
export * from './encoders/meta-transformer.js';
export * from './encoders/perceiver/index.js';
export * from './encoders/perceiver/processors.js';
export * from './encoders/perceiver/hf.js';
export * from './heads/index.js';
export * from './data2seq/index.js';
export * from './data/index.js';
// train/ re-exports the index form of splitDataset; the data/ one also splits Dataset objects.
export { splitDataset } from './data/dataset.js';
export * from './pipeline/index.js';
