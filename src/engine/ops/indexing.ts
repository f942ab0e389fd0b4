import type { OpTableFor } from './types.js';

// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface IndexingAttrs {}

export const indexingOps: OpTableFor<IndexingAttrs> = {};
