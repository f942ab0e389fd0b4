// Perceiver IO: position encodings, the model core (encoder, decoders, PerceiverModel).
export * from './position.js';
export * from './model.js';
export * from './backbone.js';
