// Preprocessing in worker threads, overlapping the main thread's compute (ORT runs, training steps).
//
// A `WorkerPool` starts `workers` threads that each import one ES module and call one of its exported
// functions on the arguments sent to them (typically a batch of dataset indices):
//
//   // my-batches.js (any ES module)
//   export async function init(config) { return await folderDataset(config.root, decodeImage); } // optional, once per thread
//   export async function loadBatch(indices, ctx) {                                             // ctx = init's result (or config)
//     const x = new Float32Array(indices.length * 3 * 224 * 224); ...; return { x, labels };
//   }
//
//   const pool = new WorkerPool({ module: new URL('./my-batches.js', import.meta.url), fn: 'loadBatch', workers: 2, config: { root } });
//   for await (const { indices, result } of prefetchBatches(pool, batchIndices(n, { batchSize: 64, seed: 0 }))) { ... }
//   await pool.close();
//
// Results come back in submission order (`map`, `prefetchBatches`), with up to `depth` tasks in flight, so
// the next batches decode while the current one trains. Typed arrays in a result are transferred, not
// copied (their ArrayBuffers move to the main thread). An error thrown by the function rejects that task
// with a `PrefetchError` carrying the original message (readers name the file in it), name, stack and
// `file`/`line` fields; a module that cannot be loaded, or a thread that dies, fails every pending task
// and the pool. `close()` waits for the tasks in flight and stops the threads; `terminate()` stops them
// at once. Idle threads do not keep the process alive.
//
// This file is also the threads' entry point (it runs `workerMain` when started by a pool), so it imports
// nothing but Node built-ins.
import { availableParallelism } from 'node:os';
import { resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker, isMainThread, parentPort, threadId, workerData } from 'node:worker_threads';

const MARK = '__omniformerPrefetchWorker';

export interface WorkerPoolOptions {
  /** The ES module to run: a path, a file: URL, or a package specifier. */
  module: string | URL;
  /** Exported function called as fn(arg, ctx) for every task (default 'default'). */
  fn?: string;
  /** Threads (default: min(4, available parallelism - 1), at least 1). */
  workers?: number;
  /** Structured-cloneable value given to the module's `init` export (or passed as ctx when there is none). */
  config?: unknown;
  /** Name of the optional per-thread initialiser (default 'init', used when exported). */
  init?: string;
}

interface SerializedError { name: string; message: string; stack?: string; file?: string; line?: number }

/** A task failed in a worker thread (or the pool could not run it). */
export class PrefetchError extends Error {
  override name = 'PrefetchError';
  /** The error's class name in the worker (e.g. 'DataFormatError'). */
  readonly remoteName: string;
  readonly remoteStack?: string;
  /** File and line named by the original error, when it had them. */
  readonly file?: string;
  readonly line?: number;
  constructor(message: string, remote?: SerializedError) {
    super(message);
    this.remoteName = remote?.name ?? 'Error';
    this.remoteStack = remote?.stack;
    this.file = remote?.file;
    this.line = remote?.line;
  }
}

function serializeError(e: unknown): SerializedError {
  if (e instanceof Error) {
    const x = e as Error & { file?: unknown; line?: unknown; path?: unknown };
    const file = typeof x.file === 'string' ? x.file : typeof x.path === 'string' ? x.path : undefined;
    return { name: e.name, message: e.message, stack: e.stack, file, line: typeof x.line === 'number' ? x.line : undefined };
  }
  return { name: 'Error', message: String(e) };
}

/** The ArrayBuffers of the typed arrays (and bare ArrayBuffers) in a value, for a transfer list. */
export function transferablesOf(value: unknown): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  const seen = new Set<object>();
  const walk = (v: unknown, depth: number): void => {
    if (!v || typeof v !== 'object' || depth > 6 || seen.has(v)) return;
    seen.add(v);
    if (v instanceof ArrayBuffer) { out.add(v); return; }
    if (ArrayBuffer.isView(v)) {
      // Node Buffers may live in a shared pool (untransferable); they are copied.
      if (v.buffer instanceof ArrayBuffer && !Buffer.isBuffer(v)) out.add(v.buffer);
      return;
    }
    if (Array.isArray(v)) { for (const x of v) walk(x, depth + 1); return; }
    if (v instanceof Map) { for (const [k, x] of v) { walk(k, depth + 1); walk(x, depth + 1); } return; }
    if (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null) for (const x of Object.values(v)) walk(x, depth + 1);
  };
  walk(value, 0);
  return [...out];
}

function moduleSpecifier(m: string | URL): string {
  if (m instanceof URL) return m.href;
  if (/^[a-z][a-z0-9+.-]*:/i.test(m) && !/^[a-z]:[\\/]/i.test(m)) return m; // file:, node:, data: URLs
  if (m.startsWith('.') || m.startsWith('/') || /^[a-z]:[\\/]/i.test(m)) return pathToFileURL(resolvePath(m)).href;
  return m; // a package specifier
}

interface Task {
  id: number;
  arg: unknown;
  transfer: readonly ArrayBuffer[];
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

interface Slot { worker: Worker; task: Task | null; exited: boolean }

/** A fixed set of worker threads running one module's exported function. */
export class WorkerPool<A = Uint32Array, T = unknown> {
  readonly size: number;
  readonly module: string;
  readonly fn: string;
  private slots: Slot[] = [];
  private queue: Task[] = [];
  private nextId = 0;
  private broken: PrefetchError | null = null;
  private closing = false;
  private closed = false;

  constructor(opts: WorkerPoolOptions) {
    if (!opts || (typeof opts.module !== 'string' && !(opts.module instanceof URL))) throw new TypeError('WorkerPool: module must be a path, a URL or a package specifier');
    const n = opts.workers ?? Math.max(1, Math.min(4, availableParallelism() - 1));
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`WorkerPool: workers must be a positive integer, got ${n}`);
    this.size = n;
    this.module = moduleSpecifier(opts.module);
    this.fn = opts.fn ?? 'default';
    const data = { [MARK]: true, module: this.module, fn: this.fn, init: opts.init, config: opts.config };
    for (let k = 0; k < n; k++) {
      const worker = new Worker(new URL(import.meta.url), { workerData: data });
      const slot: Slot = { worker, task: null, exited: false };
      worker.unref();
      worker.on('message', (msg: { type: string; id?: number; ok?: boolean; value?: unknown; error?: SerializedError }) => this.onMessage(slot, msg));
      worker.on('error', (err) => this.fail(new PrefetchError(`WorkerPool(${this.module}): a worker thread crashed: ${err.message}`, serializeError(err))));
      worker.on('exit', (code) => {
        slot.exited = true;
        if (!this.closing && !this.closed) this.fail(new PrefetchError(`WorkerPool(${this.module}): a worker thread exited unexpectedly (code ${code})`));
      });
      this.slots.push(slot);
    }
  }

  /** Thread ids of the pool's workers. */
  get threadIds(): number[] { return this.slots.map((s) => s.worker.threadId); }

  private onMessage(slot: Slot, msg: { type: string; id?: number; ok?: boolean; value?: unknown; error?: SerializedError }): void {
    if (msg.type === 'fatal') {
      this.fail(new PrefetchError(`WorkerPool(${this.module}): cannot start: ${msg.error?.message}`, msg.error));
      return;
    }
    if (msg.type !== 'result') return;
    const task = slot.task;
    if (!task || task.id !== msg.id) return;
    slot.task = null;
    slot.worker.unref();
    if (msg.ok) task.resolve(msg.value);
    else {
      const e = msg.error!;
      task.reject(new PrefetchError(`${e.message} (in worker: ${this.fn} of ${this.module}, task ${task.id})`, e));
    }
    this.dispatch();
  }

  private fail(err: PrefetchError): void {
    if (this.broken) return;
    this.broken = err;
    const tasks = [...this.queue, ...this.slots.map((s) => s.task).filter((t): t is Task => t !== null)];
    this.queue = [];
    for (const s of this.slots) s.task = null;
    for (const t of tasks) t.reject(err);
    void this.stopThreads();
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (!this.queue.length) return;
      if (slot.task || slot.exited) continue;
      const task = this.queue.shift()!;
      slot.task = task;
      slot.worker.ref();
      try {
        slot.worker.postMessage({ type: 'task', id: task.id, arg: task.arg }, task.transfer as ArrayBuffer[]);
      } catch (e) {
        slot.task = null;
        slot.worker.unref();
        task.reject(new PrefetchError(`WorkerPool(${this.module}): cannot send task ${task.id} to a worker: ${(e as Error).message}`));
      }
    }
  }

  /** Run fn(arg, ctx) in a free worker; `transfer` lists ArrayBuffers of `arg` to move instead of copy. */
  run(arg: A, transfer: readonly ArrayBuffer[] = []): Promise<T> {
    if (this.broken) return Promise.reject(this.broken);
    if (this.closing || this.closed) return Promise.reject(new PrefetchError(`WorkerPool(${this.module}): the pool is closed`));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ id: this.nextId++, arg, transfer, resolve: resolve as (v: unknown) => void, reject });
      this.dispatch();
    });
  }

  /** Results of fn over `args`, in order, with up to `depth` tasks in flight (default 2 per worker). */
  async *map(args: Iterable<A> | AsyncIterable<A>, opts: { depth?: number } = {}): AsyncGenerator<T> {
    const depth = opts.depth ?? 2 * this.size;
    if (!Number.isInteger(depth) || depth < 1) throw new RangeError(`WorkerPool.map: depth must be a positive integer, got ${depth}`);
    const it: Iterator<A> | AsyncIterator<A> = Symbol.asyncIterator in args ? (args as AsyncIterable<A>)[Symbol.asyncIterator]() : (args as Iterable<A>)[Symbol.iterator]();
    const inFlight: Promise<T>[] = [];
    let done = false;
    const fill = async (): Promise<void> => {
      while (!done && inFlight.length < depth) {
        const n = await it.next();
        if (n.done) { done = true; break; }
        const p = this.run(n.value);
        p.catch(() => undefined); // awaited in order below
        inFlight.push(p);
      }
    };
    try {
      await fill();
      while (inFlight.length) {
        const v = await inFlight.shift()!;
        yield v;
        await fill();
      }
    } finally {
      if (!done) await it.return?.();
    }
  }

  private async stopThreads(): Promise<void> {
    await Promise.all(this.slots.map(async (s) => { if (!s.exited) await s.worker.terminate(); }));
  }

  /** Wait for queued and running tasks, then stop the threads. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closing = true;
    while (!this.broken && (this.queue.length || this.slots.some((s) => s.task))) {
      const pending = [...this.queue, ...this.slots.map((s) => s.task).filter((t): t is Task => t !== null)];
      await new Promise<void>((res) => {
        let left = pending.length;
        const done = (): void => { if (--left === 0) res(); };
        for (const t of pending) {
          const { resolve, reject } = t;
          t.resolve = (v) => { resolve(v); done(); };
          t.reject = (e) => { reject(e); done(); };
        }
      });
    }
    this.closed = true;
    await this.stopThreads();
  }

  /** Stop the threads now; pending tasks are rejected. */
  async terminate(): Promise<void> {
    this.closing = true;
    const err = new PrefetchError(`WorkerPool(${this.module}): terminated`);
    const tasks = [...this.queue, ...this.slots.map((s) => s.task).filter((t): t is Task => t !== null)];
    this.queue = [];
    for (const s of this.slots) s.task = null;
    for (const t of tasks) t.reject(err);
    this.closed = true;
    await this.stopThreads();
  }
}

/**
 * Batches of indices processed by a pool, in order, `depth` ahead: yields { indices, result } where
 * result = fn(indices, ctx). Index subarrays are copied so only the batch's indices travel.
 */
export async function* prefetchBatches<T>(pool: WorkerPool<Uint32Array, T>, batches: Iterable<Uint32Array>, opts: { depth?: number } = {}): AsyncGenerator<{ indices: Uint32Array; result: T }> {
  const sent: Uint32Array[] = [];
  const args = (function* () {
    for (const b of batches) { const copy = Uint32Array.from(b); sent.push(copy); yield copy; }
  })();
  for await (const result of pool.map(args, opts)) yield { indices: sent.shift()!, result };
}

// ---------------------------------------------------------------------------------------------------
// The thread side
// ---------------------------------------------------------------------------------------------------

async function workerMain(data: { module: string; fn: string; init?: string; config: unknown }): Promise<void> {
  const port = parentPort!;
  let fn: (arg: unknown, ctx: unknown) => unknown;
  let ctx: unknown;
  try {
    const mod = (await import(data.module)) as Record<string, unknown>;
    const f = mod[data.fn];
    if (typeof f !== 'function') throw new Error(`module ${data.module} exports no function '${data.fn}' (exports: ${Object.keys(mod).join(', ') || 'none'})`);
    fn = f as typeof fn;
    const initName = data.init ?? 'init';
    const init = mod[initName];
    if (typeof init === 'function') ctx = await (init as (c: unknown) => unknown)(data.config);
    else if (data.init) throw new Error(`module ${data.module} exports no init function '${data.init}'`);
    else ctx = data.config;
  } catch (e) {
    port.postMessage({ type: 'fatal', error: serializeError(e) });
    port.close();
    return;
  }
  port.on('message', async (msg: { type: string; id: number; arg: unknown }) => {
    if (msg.type !== 'task') return;
    let value: unknown;
    try {
      value = await fn(msg.arg, ctx);
    } catch (e) {
      port.postMessage({ type: 'result', id: msg.id, ok: false, error: serializeError(e) });
      return;
    }
    try {
      port.postMessage({ type: 'result', id: msg.id, ok: true, value }, transferablesOf(value));
    } catch {
      try { port.postMessage({ type: 'result', id: msg.id, ok: true, value }); } catch (e2) {
        port.postMessage({ type: 'result', id: msg.id, ok: false, error: serializeError(new Error(`the result of task ${msg.id} cannot be sent to the main thread (${(e2 as Error).message}); return plain objects, arrays and typed arrays`)) });
      }
    }
  });
  port.postMessage({ type: 'ready', threadId });
}

if (!isMainThread && workerData && typeof workerData === 'object' && (workerData as Record<string, unknown>)[MARK] === true) {
  void workerMain(workerData as { module: string; fn: string; init?: string; config: unknown });
}
