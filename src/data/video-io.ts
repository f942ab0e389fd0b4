// Video clips -> VideoTokenizer.prepare's raw form { data, frames, height, width, channels }.
//
// A clip is either
//   - a folder of frame images (PNG/JPEG/WebP/TIFF/GIF, see image-io.ts), ordered by natural sort of the file
//     names (frame_2 before frame_10); only the sampled frames are decoded; or
//   - an .npy array [T, H, W, C] (or [T, H, W] for grey): uint8 values are scaled by 1/255, uint16 by
//     1/65535, floats are taken as stored, bools as 0/1.
// `frames` frames are sampled uniformly: frame i of the output is source frame floor((i + 0.5) · T / frames)
// (the centre of the i-th of `frames` equal segments, as TSN/VideoMAE's test-time sampling); a clip with
// fewer frames than asked repeats frames the same way. Every frame gets the `image` options (colour, resize,
// crop; for NPY clips resizing is bilinear/bicubic in TypeScript, see `transformPixels`), and all frames must
// end up the same size. `layout` is 'cthw' (default, VideoTokenizer's default) or 'thwc'.
// A missing or empty folder, a frame of another size, a bad frame file or a malformed array raises
// VideoFormatError naming the clip (and the frame file) and the problem.
import { readFile, stat } from 'node:fs/promises';
import { decodeNpy, type NpyArray } from '../io/npy.js';
import type { VideoLayout } from '../data2seq/video.js';
import { listImageFiles, readImage, transformPixels, type ImageReadOptions } from './image-io.js';

export interface VideoReadOptions {
  /** Frames to sample. */
  frames: number;
  /** Per-frame colour / resize / crop options (their `layout` is ignored). */
  image?: Omit<ImageReadOptions, 'layout'>;
  /** Output value order (default 'cthw'). */
  layout?: VideoLayout;
}

export interface DecodedVideo {
  data: Float32Array;
  frames: number;
  height: number;
  width: number;
  channels: number;
  layout: VideoLayout;
  /** Frames in the source clip. */
  sourceFrames: number;
  /** The source frame taken for each output frame. */
  frameIndices: number[];
  /** For frame folders: the file of each output frame. */
  frameFiles?: string[];
}

/** A malformed video clip; the message names the clip (and the frame) and the problem. */
export class VideoFormatError extends Error {
  override name = 'VideoFormatError';
  constructor(readonly file: string, detail: string) { super(`${file}: ${detail}`); }
}

const msg = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** Indices of `count` frames sampled uniformly from `total`: floor((i + 0.5) · total / count). */
export function uniformFrameIndices(total: number, count: number): number[] {
  if (!Number.isInteger(total) || total < 1) throw new RangeError(`uniformFrameIndices: total must be a positive integer, got ${total}`);
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`uniformFrameIndices: count must be a positive integer, got ${count}`);
  return Array.from({ length: count }, (_, i) => Math.min(total - 1, Math.floor(((i + 0.5) * total) / count)));
}

/** Assemble frames (each HWC, same size) into one clip in `layout`. */
function assemble(frames: Float32Array[], H: number, W: number, C: number, layout: VideoLayout): Float32Array {
  const T = frames.length, plane = H * W;
  const out = new Float32Array(T * plane * C);
  if (layout === 'thwc') { frames.forEach((f, t) => out.set(f, t * plane * C)); return out; }
  for (let t = 0; t < T; t++) {
    const f = frames[t]!;
    for (let p = 0; p < plane; p++) for (let c = 0; c < C; c++) out[(c * T + t) * plane + p] = f[p * C + c]!;
  }
  return out;
}

async function readFolder(dir: string, opts: VideoReadOptions, layout: VideoLayout): Promise<DecodedVideo> {
  const files = await listImageFiles(dir).catch((e) => { throw new VideoFormatError(dir, msg(e)); });
  if (!files.length) throw new VideoFormatError(dir, 'the frame folder has no image files (.png, .jpg, .webp, .tif, .gif)');
  const idx = uniformFrameIndices(files.length, opts.frames);
  const unique = [...new Set(idx)];
  const decoded = new Map<number, { data: Float32Array; height: number; width: number; channels: number }>();
  await Promise.all(unique.map(async (i) => {
    try { decoded.set(i, await readImage(files[i]!, { ...opts.image, layout: 'hwc' })); } catch (e) { throw new VideoFormatError(dir, `frame ${i} (${files[i]}): ${msg(e)}`); }
  }));
  const first = decoded.get(idx[0]!)!;
  const { height: H, width: W, channels: C } = first;
  for (const i of unique) {
    const f = decoded.get(i)!;
    if (f.height !== H || f.width !== W || f.channels !== C) {
      throw new VideoFormatError(dir, `frame ${i} (${files[i]}) is ${f.height}x${f.width}x${f.channels} (HxWxC) but frame ${idx[0]} (${files[idx[0]!]}) is ${H}x${W}x${C}; give image.resize to bring the frames to one size`);
    }
  }
  const data = assemble(idx.map((i) => decoded.get(i)!.data), H, W, C, layout);
  return { data, frames: idx.length, height: H, width: W, channels: C, layout, sourceFrames: files.length, frameIndices: idx, frameFiles: idx.map((i) => files[i]!) };
}

function npyScale(a: NpyArray, name: string): number {
  switch (a.dtype) {
    case 'uint8': return 1 / 255;
    case 'uint16': return 1 / 65535;
    case 'float16': case 'float32': case 'float64': case 'bool': return 1;
    default: throw new VideoFormatError(name, `unsupported dtype ${a.dtype} for a clip (uint8, uint16, float or bool)`);
  }
}

/** Decode an NPY clip [T, H, W, C] / [T, H, W] held in memory. */
export function decodeVideoNpy(bytes: Uint8Array, opts: VideoReadOptions, name = '<buffer>'): DecodedVideo {
  const layout = opts.layout ?? 'cthw';
  if (bytes.length === 0) throw new VideoFormatError(name, 'file is empty');
  const a = decodeNpy(bytes, name);
  if (a.shape.length !== 3 && a.shape.length !== 4) throw new VideoFormatError(name, `a clip array must be [T, H, W, C] or [T, H, W], got shape [${a.shape.join(', ')}]`);
  const [T, H, W] = a.shape as [number, number, number];
  const C = a.shape[3] ?? 1;
  if (T < 1 || H < 1 || W < 1 || C < 1) throw new VideoFormatError(name, `clip array has an empty dimension: shape [${a.shape.join(', ')}]`);
  if (C > 4) throw new VideoFormatError(name, `clip array has ${C} channels in its last dimension; expected 1 to 4 ([T, H, W, C] order)`);
  const scale = npyScale(a, name);
  const idx = uniformFrameIndices(T, opts.frames);
  const fsize = H * W * C;
  const cache = new Map<number, ReturnType<typeof transformPixels>>();
  const frames = idx.map((t) => {
    let f = cache.get(t);
    if (!f) {
      const px = new Float32Array(fsize);
      for (let k = 0; k < fsize; k++) px[k] = Number(a.data[t * fsize + k]!) * scale;
      for (let k = 0; k < fsize; k++) if (!Number.isFinite(px[k]!)) throw new VideoFormatError(name, `frame ${t} has a non-finite value at element ${k}`);
      try { f = transformPixels({ data: px, height: H, width: W, channels: C }, { ...opts.image, layout: 'hwc' }, `${name} frame ${t}`); } catch (e) { throw new VideoFormatError(name, msg(e)); }
      cache.set(t, f);
    }
    return f;
  });
  const { height: oh, width: ow, channels: oc } = frames[0]!;
  return { data: assemble(frames.map((f) => f.data), oh, ow, oc, layout), frames: idx.length, height: oh, width: ow, channels: oc, layout, sourceFrames: T, frameIndices: idx };
}

/** Read a clip: a folder of frames or an .npy array (see the file comment). */
export async function readVideo(path: string, opts: VideoReadOptions): Promise<DecodedVideo> {
  if (!opts || !Number.isInteger(opts.frames) || opts.frames < 1) throw new RangeError(`readVideo: frames must be a positive integer, got ${opts?.frames}`);
  const layout = opts.layout ?? 'cthw';
  if (layout !== 'cthw' && layout !== 'thwc') throw new RangeError(`readVideo: layout must be 'cthw' or 'thwc', got ${JSON.stringify(layout)}`);
  let st;
  try { st = await stat(path); } catch (e) { throw new VideoFormatError(path, `cannot open the clip: ${msg(e)}`); }
  if (st.isDirectory()) return readFolder(path, opts, layout);
  if (!path.toLowerCase().endsWith('.npy')) throw new VideoFormatError(path, 'a clip must be a folder of frame images or an .npy array [T, H, W, C]');
  return decodeVideoNpy(await readFile(path), { ...opts, layout }, path);
}
