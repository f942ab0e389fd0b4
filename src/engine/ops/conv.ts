import type { OpTableFor } from './types.js';

// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface ConvAttrs {}

export const convOps: OpTableFor<ConvAttrs> = {};
