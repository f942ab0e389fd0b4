export { Module, applyBufferUpdates, type NamedVariable, type BufferUpdate } from './module.js';
export { Linear, linear, type LinearOptions } from './linear.js';
export { Embedding, type EmbeddingOptions } from './embedding.js';
export { LayerNorm, BatchNorm1d, BatchNorm2d, BatchNorm3d, GroupNorm, type BatchNormOptions } from './norm.js';
export { Conv1d, Conv2d, Conv3d, type ConvOptions } from './conv.js';
export { Dropout, DropPath } from './dropout.js';
export { Identity, ModuleList, Sequential } from './container.js';
export { GELU, QuickGELU, ReLU, SiLU, Tanh, Sigmoid, makeActivation, type ActivationName, type ActivationSpec, type UnaryModule } from './activation.js';
export {
  MultiHeadAttention, attentionBias, scaledDotProductAttention, MASK_VALUE,
  type MultiHeadAttentionOptions, type AttentionCallOptions, type SdpaOptions,
} from './attention.js';
export { Mlp, type MlpOptions } from './mlp.js';
export { TransformerBlock, TransformerEncoder, LayerScale, type TransformerBlockOptions, type TransformerEncoderOptions } from './transformer.js';
export * as init from './init.js';
export { initWeightsTimm } from './init.js';
