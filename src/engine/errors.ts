/** Raised at trace time when an op's inputs do not fit its shape rule; names the op and the shapes involved. */
export class ShapeError extends Error {
  override name = 'ShapeError';
  constructor(op: string, detail: string) { super(`${op}: ${detail}`); }
}

export function fmtShape(s: readonly number[]): string { return `[${s.join(', ')}]`; }
