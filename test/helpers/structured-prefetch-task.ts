// Worker-side functions for the WorkerPool tests in test/dataset.test.ts (loaded in worker threads, and
// in the main thread for the in-thread reference results).
import { threadId } from 'node:worker_threads';
import { readTabular } from '../../src/data/tabular-io.js';

export interface TaskConfig {
  /** Int32 counters shared with the main thread: [0] tasks finished, [1] tasks started, [2] running, [3] max running. */
  counters?: SharedArrayBuffer;
  /** Tasks that wait until this many tasks have started (a barrier proving concurrency). */
  barrier?: number;
  badFile?: string;
  scale: number;
}

export interface TaskContext extends TaskConfig { initialisedIn: number }

export function init(config: TaskConfig): TaskContext {
  return { ...config, initialisedIn: threadId };
}

/** A deterministic "preprocessing" of a batch of indices: features x[k, j] = scale · sin(i_k + j), labels i_k mod 7. */
export function loadBatch(indices: Uint32Array, ctx: TaskContext): { x: Float32Array; labels: Int32Array; threadId: number; initialisedIn: number } {
  const c = ctx.counters ? new Int32Array(ctx.counters) : null;
  if (c) {
    Atomics.add(c, 1, 1);
    const running = Atomics.add(c, 2, 1) + 1;
    let max = Atomics.load(c, 3);
    while (running > max) { Atomics.compareExchange(c, 3, max, running); max = Atomics.load(c, 3); }
    if (ctx.barrier) {
      // wait (up to 20 s) until `barrier` tasks have started somewhere in the pool
      const t0 = Date.now();
      while (Atomics.load(c, 1) < ctx.barrier && Date.now() - t0 < 20000) Atomics.wait(c, 1, Atomics.load(c, 1), 50);
    }
  }
  const D = 4;
  const x = new Float32Array(indices.length * D);
  const labels = new Int32Array(indices.length);
  indices.forEach((i, k) => {
    for (let j = 0; j < D; j++) x[k * D + j] = ctx.scale * Math.sin(i + j);
    labels[k] = i % 7;
  });
  if (c) {
    Atomics.sub(c, 2, 1);
    Atomics.add(c, 0, 1);
    Atomics.notify(c, 0);
  }
  return { x, labels, threadId, initialisedIn: ctx.initialisedIn };
}

/** Reads a malformed file: the reader's error (naming the file) must reach the main thread. */
export async function readBad(_indices: Uint32Array, ctx: TaskContext): Promise<number> {
  const t = await readTabular(ctx.badFile!, { target: 'label' });
  return t.rows.length;
}

/** Ends the worker thread abruptly. */
export function crash(): never {
  process.exit(3);
}
