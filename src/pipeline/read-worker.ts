// Sample-file reading for the CLI's file-backed data sets, run in WorkerPool threads (src/data/prefetch.ts):
// a worker decodes files (sharp image decoding, WAV decoding, point-cloud parsing, frame folders of video
// clips) and converts them to the modality's raw sample form while the main thread trains on the previous
// batch. The same `readSampleAt` is used on the main thread for data sets held in memory, so both paths
// give the same samples.
//
// Worker protocol (`readSamples`): { paths, shapes? } -> { threadId, results: per path { ok, input | shape }
// or { ok: false, error } }. With `shapes` only each sample's shape description travels back (the data set's
// validation scan); otherwise the decoded samples (their typed arrays are transferred, not copied).
import { statSync } from 'node:fs';
import { threadId } from 'node:worker_threads';
import { readVideo } from '../data/video-io.js';
import { modalitySpec, type ModalitySpec, type ReadOptions } from './modalities.js';

export interface SampleReadOptions extends ReadOptions {
  /** Video clips stored as folders of frames: frames sampled per clip (default 8). */
  frames?: number;
}

function isDirectory(p: string): boolean { try { return statSync(p).isDirectory(); } catch { return false; } }

/** Read one sample file (or a video clip folder) as the modality's raw input. */
export async function readSampleAt(spec: ModalitySpec, path: string, opts: SampleReadOptions): Promise<unknown> {
  if (spec.name === 'video' && isDirectory(path)) {
    const v = await readVideo(path, { frames: opts.frames ?? 8, layout: 'cthw' });
    return { data: v.data, frames: v.frames, height: v.height, width: v.width, channels: v.channels };
  }
  return spec.readSample(path, opts);
}

export interface ReadWorkerConfig { modality: string; read: SampleReadOptions }
export interface ReadTask { paths: string[]; shapes?: boolean }
export type ReadResult = { ok: true; input?: unknown; shape?: string } | { ok: false; error: string };

interface Ctx { spec: ModalitySpec; read: SampleReadOptions }

export function init(cfg: ReadWorkerConfig): Ctx { return { spec: modalitySpec(cfg.modality), read: cfg.read }; }

export async function readSamples(task: ReadTask, ctx: Ctx): Promise<{ threadId: number; results: ReadResult[] }> {
  const results = await Promise.all(task.paths.map(async (p): Promise<ReadResult> => {
    try {
      const input = await readSampleAt(ctx.spec, p, ctx.read);
      return task.shapes ? { ok: true, shape: ctx.spec.shapeOf(input) } : { ok: true, input };
    } catch (e) {
      return { ok: false, error: e instanceof Error ? e.message : String(e) };
    }
  }));
  return { threadId, results };
}
