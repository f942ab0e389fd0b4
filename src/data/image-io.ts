// Image files -> float32 pixel arrays for the image tokenizers (ImageTokenizer.prepare's `{ data, height,
// width, channels }` form). Decoding, orientation and resizing are done by `sharp` (libvips), which works on
// libuv's thread pool, so decoding overlaps with whatever the main thread (or ORT) is doing.
//
// Formats: PNG, JPEG, WebP, TIFF and GIF (first page/frame), recognised by their magic bytes, not by the file
// name. Samples are scaled to [0, 1]: 8-bit images by 1/255, 16-bit PNG/TIFF by 1/65535; float TIFFs are
// taken as stored (assumed to be in [0, 1] already).
//
// Options (all optional):
//   color  'rgb' (default; alpha is dropped, grey images are replicated to 3 channels),
//          'grey' (1 channel, ITU-R BT.601 luma Y = 0.299 R + 0.587 G + 0.114 B computed from the RGB values,
//          the formula of PIL's convert('L') and torchvision's Grayscale, kept as float) or
//          'rgba' (4 channels; opaque images get alpha 1).
//   resize { shorterSide: s, crop?: c | [h, w] }: scale so the shorter side is s (longer side
//          floor(s · long / short), as torchvision's Resize(int)), then cut the centre crop (top =
//          round((H − h) / 2), left = round((W − w) / 2), as torchvision's CenterCrop);
//          { height, width }: scale to exactly that size (aspect ratio not kept).
//   kernel libvips interpolation kernel for resizing (default 'lanczos3'; 'linear', 'cubic', 'nearest', ...).
//   layout 'chw' (default; channel planes, what ImageTokenizer expects by default) or 'hwc' (interleaved).
//   autoOrient apply the EXIF orientation (default true).
// A file that is empty, not one of the formats, truncated or otherwise corrupt raises ImageFormatError
// naming the file and the problem (libvips is run with failOn 'warning', so truncated data is an error,
// not a half-grey image).
import { readFile, readdir } from 'node:fs/promises';
import { extname, join } from 'node:path';
import sharp, { type Metadata, type OutputInfo } from 'sharp';
import { interpolationMatrix, type ImageLayout } from '../data2seq/image.js';

export type ImageColor = 'rgb' | 'grey' | 'rgba';
export type ImageKernel = 'nearest' | 'linear' | 'cubic' | 'mitchell' | 'lanczos2' | 'lanczos3' | 'mks2013' | 'mks2021';
export type ImageResize = { shorterSide: number; crop?: number | readonly [number, number] } | { height: number; width: number };

export interface ImageReadOptions {
  color?: ImageColor;
  resize?: ImageResize;
  kernel?: ImageKernel;
  layout?: ImageLayout;
  autoOrient?: boolean;
}

/** A decoded image: values in [0, 1], `channels`·`height`·`width` of them in `layout` order. */
export interface DecodedImage {
  data: Float32Array;
  height: number;
  width: number;
  channels: number;
  layout: ImageLayout;
  /** The container format found in the file. */
  format: ImageFormat;
}

export type ImageFormat = 'png' | 'jpeg' | 'webp' | 'tiff' | 'gif';

/** A malformed, unsupported or undecodable image file; the message names the file and the problem. */
export class ImageFormatError extends Error {
  override name = 'ImageFormatError';
  constructor(readonly file: string, detail: string) { super(`${file}: ${detail}`); }
}

/** Lower-case file extensions treated as images when listing folders. */
export const IMAGE_EXTENSIONS: readonly string[] = ['.png', '.jpg', '.jpeg', '.jpe', '.jfif', '.webp', '.tif', '.tiff', '.gif'];

export function isImageFile(name: string): boolean { return IMAGE_EXTENSIONS.includes(extname(name).toLowerCase()); }

const hex = (b: Uint8Array, n: number): string => Array.from(b.subarray(0, n), (x) => x.toString(16).padStart(2, '0')).join(' ');

/** The image container format from the first bytes, or null. */
export function sniffImageFormat(b: Uint8Array): ImageFormat | null {
  const at = (off: number, ...xs: number[]): boolean => b.length >= off + xs.length && xs.every((x, i) => b[off + i] === x);
  if (at(0, 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'png';
  if (at(0, 0xff, 0xd8, 0xff)) return 'jpeg';
  if (at(0, 0x52, 0x49, 0x46, 0x46) && at(8, 0x57, 0x45, 0x42, 0x50)) return 'webp';
  if (at(0, 0x49, 0x49, 0x2a, 0x00) || at(0, 0x4d, 0x4d, 0x00, 0x2a) || at(0, 0x49, 0x49, 0x2b, 0x00) || at(0, 0x4d, 0x4d, 0x00, 0x2b)) return 'tiff';
  if (at(0, 0x47, 0x49, 0x46, 0x38)) return 'gif';
  return null;
}

const posInt = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 1;

/** Output geometry: the size to scale to and the crop to cut from it. */
function plan(name: string, W: number, H: number, r: ImageResize | undefined): { rw: number; rh: number; crop: { left: number; top: number; width: number; height: number } } {
  if (!r) return { rw: W, rh: H, crop: { left: 0, top: 0, width: W, height: H } };
  if ('shorterSide' in r) {
    const s = r.shorterSide;
    if (!posInt(s)) throw new RangeError(`readImage: resize.shorterSide must be a positive integer, got ${String(s)}`);
    const [rw, rh] = W <= H ? [s, Math.max(1, Math.floor((s * H) / W))] : [Math.max(1, Math.floor((s * W) / H)), s];
    const c = r.crop;
    if (c === undefined) return { rw, rh, crop: { left: 0, top: 0, width: rw, height: rh } };
    const [ch, cw] = typeof c === 'number' ? [c, c] : [c[0], c[1]];
    if (!posInt(ch) || !posInt(cw)) throw new RangeError(`readImage: resize.crop must be a positive integer or [height, width], got ${JSON.stringify(c)}`);
    if (ch > rh || cw > rw) throw new ImageFormatError(name, `centre crop ${ch}x${cw} (HxW) is larger than the image resized to shorter side ${s} (${rh}x${rw})`);
    return { rw, rh, crop: { left: Math.round((rw - cw) / 2), top: Math.round((rh - ch) / 2), width: cw, height: ch } };
  }
  if ('height' in r && 'width' in r) {
    if (!posInt(r.height) || !posInt(r.width)) throw new RangeError(`readImage: resize { height, width } must be positive integers, got ${r.height}x${r.width}`);
    return { rw: r.width, rh: r.height, crop: { left: 0, top: 0, width: r.width, height: r.height } };
  }
  throw new RangeError(`readImage: resize must be { shorterSide, crop? } or { height, width }, got ${JSON.stringify(r)}`);
}

function describe(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.split('\n').filter((l, i, a) => l && a.indexOf(l) === i).join('; ');
}

/** Decode an image held in memory. `name` is used in error messages (a path or '<buffer>'). */
export async function decodeImage(bytes: Uint8Array, opts: ImageReadOptions = {}, name = '<buffer>'): Promise<DecodedImage> {
  const color = opts.color ?? 'rgb';
  const layout = opts.layout ?? 'chw';
  if (!['rgb', 'grey', 'rgba'].includes(color)) throw new RangeError(`readImage: color must be 'rgb', 'grey' or 'rgba', got ${JSON.stringify(color)}`);
  if (layout !== 'chw' && layout !== 'hwc') throw new RangeError(`readImage: layout must be 'chw' or 'hwc', got ${JSON.stringify(layout)}`);
  if (bytes.length === 0) throw new ImageFormatError(name, 'file is empty');
  const format = sniffImageFormat(bytes);
  if (!format) throw new ImageFormatError(name, `not a PNG, JPEG, WebP, TIFF or GIF file (starts with ${hex(bytes, 8)})`);
  if (format === 'png' && bytes.length >= 24 && String.fromCharCode(...bytes.subarray(12, 16)) === 'IHDR') {
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const w = v.getUint32(16), h = v.getUint32(20);
    if (w === 0 || h === 0) throw new ImageFormatError(name, `PNG header declares a ${w}x${h} (WxH) image; both sides must be at least 1`);
  }
  const input = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const sharpOpts = { failOn: 'warning' as const, autoOrient: opts.autoOrient ?? true };
  let meta: Metadata;
  try { meta = await sharp(input, sharpOpts).metadata(); } catch (e) { throw new ImageFormatError(name, `cannot read the ${format.toUpperCase()} header: ${describe(e)}`); }
  const W = meta.autoOrient?.width ?? meta.width, H = meta.autoOrient?.height ?? meta.height;
  if (!posInt(W) || !posInt(H)) throw new ImageFormatError(name, `invalid image size ${String(W)}x${String(H)}`);
  const depth = meta.depth ?? 'uchar';
  let kind: 'u8' | 'u16' | 'f32';
  if (depth === 'uchar' || depth === 'char') kind = 'u8';
  else if (depth === 'ushort' || depth === 'short') kind = 'u16';
  else if (depth === 'float' || depth === 'double') kind = 'f32';
  else throw new ImageFormatError(name, `unsupported sample format '${depth}' (8- and 16-bit integer or float images only)`);
  const { rw, rh, crop } = plan(name, W!, H!, opts.resize);

  let pipe = sharp(input, sharpOpts);
  if (rw !== W || rh !== H) pipe = pipe.resize(rw, rh, { fit: 'fill', kernel: opts.kernel ?? 'lanczos3' });
  if (crop.width !== rw || crop.height !== rh) pipe = pipe.extract(crop);
  pipe = pipe.toColourspace(kind === 'u16' ? 'rgb16' : 'srgb');
  pipe = color === 'rgba' ? pipe.ensureAlpha(1) : pipe.removeAlpha();
  let raw: { data: Buffer; info: OutputInfo };
  try {
    raw = await pipe.raw({ depth: kind === 'u8' ? 'uchar' : kind === 'u16' ? 'ushort' : 'float' }).toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw new ImageFormatError(name, `cannot decode the ${format.toUpperCase()} data (truncated or corrupt?): ${describe(e)}`);
  }
  const { width: w, height: h, channels: c0 } = raw.info;
  const want = color === 'rgba' ? 4 : 3;
  if (c0 !== want || w !== crop.width || h !== crop.height) {
    throw new ImageFormatError(name, `decoder returned ${h}x${w}x${c0} (HxWxC), expected ${crop.height}x${crop.width}x${want}`);
  }
  const n = w * h * c0;
  const buf = raw.data;
  let src: ArrayLike<number>, scale: number;
  if (kind === 'u8') { src = buf; scale = 1 / 255; }
  else if (kind === 'u16') { src = new Uint16Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + 2 * n)); scale = 1 / 65535; }
  else { src = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + 4 * n)); scale = 1; }
  if (src.length !== n) throw new ImageFormatError(name, `decoder returned ${src.length} samples, expected ${n}`);
  const C = color === 'grey' ? 1 : c0;
  const out = new Float32Array(w * h * C);
  const plane = w * h;
  for (let p = 0; p < plane; p++) {
    if (color === 'grey') {
      out[p] = (0.299 * src[3 * p]! + 0.587 * src[3 * p + 1]! + 0.114 * src[3 * p + 2]!) * scale;
      continue;
    }
    for (let k = 0; k < C; k++) out[layout === 'chw' ? k * plane + p : p * C + k] = src[p * C + k]! * scale;
  }
  return { data: out, height: h, width: w, channels: C, layout, format };
}

/** Read and decode an image file (see the file comment for the options). */
export async function readImage(path: string, opts: ImageReadOptions = {}): Promise<DecodedImage> {
  let bytes: Uint8Array;
  try { bytes = await readFile(path); } catch (e) { throw new ImageFormatError(path, `cannot read the file: ${describe(e)}`); }
  return decodeImage(bytes, opts, path);
}

/**
 * The image files of a folder (by extension, case-insensitive), sorted in natural order (frame_2 before
 * frame_10), as full paths. Sub-folders and other files are ignored.
 */
export async function listImageFiles(dir: string): Promise<string[]> {
  let entries;
  try { entries = await readdir(dir, { withFileTypes: true }); } catch (e) { throw new ImageFormatError(dir, `cannot list the folder: ${describe(e)}`); }
  return entries
    .filter((d) => d.isFile() && isImageFile(d.name))
    .map((d) => d.name)
    .sort(naturalCompare)
    .map((f) => join(dir, f));
}

/** Natural ordering: runs of digits compare by value ('f2' < 'f10'), the rest by code point. */
export function naturalCompare(a: string, b: string): number {
  const ta = a.match(/\d+|\D+/g) ?? [], tb = b.match(/\d+|\D+/g) ?? [];
  for (let i = 0; i < Math.min(ta.length, tb.length); i++) {
    const x = ta[i]!, y = tb[i]!;
    const dx = /^\d/.test(x), dy = /^\d/.test(y);
    if (dx && dy) {
      const bx = BigInt(x), by = BigInt(y);
      if (bx !== by) return bx < by ? -1 : 1;
      if (x.length !== y.length) return x.length - y.length; // '01' after '1'
    } else if (x !== y) return x < y ? -1 : 1;
  }
  return ta.length - tb.length || (a < b ? -1 : a > b ? 1 : 0);
}

/** Pixels in memory, interleaved (HWC). */
export interface PixelArray { data: Float32Array | ArrayLike<number>; height: number; width: number; channels: number }

/**
 * The same geometry and colour options as `readImage`, applied to pixels already in memory (HWC values, e.g.
 * frames of an NPY clip). Resizing here is separable bilinear (kernel 'linear', default) or bicubic
 * ('cubic'), with torch.nn.functional.interpolate's align_corners=False sampling and no antialiasing.
 * Colour: 1 channel -> 'rgb' replicates it; 3 or 4 -> 'grey' is BT.601 luma; alpha (a 2nd or 4th channel)
 * is dropped for 'rgb'/'grey' and added as 1 for 'rgba'.
 */
export function transformPixels(img: PixelArray, opts: ImageReadOptions = {}, name = '<pixels>'): Omit<DecodedImage, 'format'> {
  const { height: H, width: W, channels: C } = img;
  const color = opts.color ?? 'rgb', layout = opts.layout ?? 'chw';
  if (![H, W, C].every(posInt) || C > 4) throw new ImageFormatError(name, `invalid pixel array size ${H}x${W}x${C} (HxWxC, 1 to 4 channels)`);
  if (img.data.length !== H * W * C) throw new ImageFormatError(name, `pixel array has ${img.data.length} values, expected ${H}x${W}x${C} = ${H * W * C}`);
  if (!['rgb', 'grey', 'rgba'].includes(color)) throw new RangeError(`transformPixels: color must be 'rgb', 'grey' or 'rgba', got ${JSON.stringify(color)}`);
  if (layout !== 'chw' && layout !== 'hwc') throw new RangeError(`transformPixels: layout must be 'chw' or 'hwc', got ${JSON.stringify(layout)}`);
  const kernel = opts.kernel ?? 'linear';
  if (kernel !== 'linear' && kernel !== 'cubic') throw new RangeError(`transformPixels: kernel must be 'linear' or 'cubic' for in-memory pixels, got ${JSON.stringify(kernel)}`);
  const { rw, rh, crop } = plan(name, W, H, opts.resize);
  // separable resize: rows of the output sample the input through two interpolation matrices
  let src: ArrayLike<number> = img.data, sw = W;
  if (rw !== W || rh !== H) {
    const mode = kernel === 'cubic' ? 'bicubic' : 'bilinear';
    const mw = interpolationMatrix(W, rw, mode), mh = interpolationMatrix(H, rh, mode);
    const tmp = new Float64Array(H * rw * C);
    for (let y = 0; y < H; y++) for (let x = 0; x < rw; x++) for (let k = 0; k < W; k++) {
      const w = mw[x * W + k]!;
      if (w !== 0) for (let c = 0; c < C; c++) tmp[(y * rw + x) * C + c] += w * Number(img.data[(y * W + k) * C + c]);
    }
    const res = new Float64Array(rh * rw * C);
    for (let y = 0; y < rh; y++) for (let k = 0; k < H; k++) {
      const w = mh[y * H + k]!;
      if (w !== 0) for (let j = 0; j < rw * C; j++) res[y * rw * C + j] += w * tmp[k * rw * C + j]!;
    }
    src = res; sw = rw;
  }
  const oh = crop.height, ow = crop.width, plane = oh * ow;
  const OC = color === 'grey' ? 1 : color === 'rgb' ? 3 : 4;
  const out = new Float32Array(plane * OC);
  const hasAlpha = C === 2 || C === 4, colorC = hasAlpha ? C - 1 : C;
  for (let y = 0; y < oh; y++) for (let x = 0; x < ow; x++) {
    const s = ((y + crop.top) * sw + (x + crop.left)) * C, p = y * ow + x;
    const v = (k: number): number => Number(src[s + k]);
    let rgb: [number, number, number];
    if (colorC === 1) rgb = [v(0), v(0), v(0)]; else rgb = [v(0), v(1), v(2)];
    const vals = color === 'grey' ? [colorC === 1 ? v(0) : 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]]
      : color === 'rgb' ? rgb : [...rgb, hasAlpha ? v(C - 1) : 1];
    for (let k = 0; k < OC; k++) out[layout === 'chw' ? k * plane + p : p * OC + k] = vals[k]!;
  }
  return { data: out, height: oh, width: ow, channels: OC, layout };
}
