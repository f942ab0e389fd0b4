// WAV (RIFF/WAVE) reading and writing. Reads PCM 8-bit (unsigned), 16/24/32-bit (signed) integers and IEEE
// float 32/64, plain or WAVE_FORMAT_EXTENSIBLE, any channel count; samples are scaled to [-1, 1) as
// torchaudio.load(normalize=True) does (int / 2^(bits-1), 8-bit as (u - 128) / 128) and mixed down to mono
// by averaging the channels.
import { readFile } from 'node:fs/promises';

export type WavEncoding = 'pcm' | 'float';

export interface WavData {
  sampleRate: number;
  /** Channel count of the file. */
  numChannels: number;
  bitsPerSample: number;
  encoding: WavEncoding;
  /** Mono mixdown (mean over channels), length = frames. */
  samples: Float32Array;
  /** Each channel, de-interleaved. */
  channelData: Float32Array[];
  /** Seconds. */
  duration: number;
}

/** A malformed or unsupported WAV file; the message names the file and the offending field. */
export class WavFormatError extends Error {
  override name = 'WavFormatError';
  constructor(readonly file: string, readonly field: string, detail: string) { super(`${file}: ${field}: ${detail}`); }
}

const WAVE_FORMAT_PCM = 1;
const WAVE_FORMAT_IEEE_FLOAT = 3;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;

function fourcc(b: Uint8Array, off: number): string {
  return String.fromCharCode(b[off]!, b[off + 1]!, b[off + 2]!, b[off + 3]!);
}

/** Decode a WAV file held in memory. `name` is used in error messages (a path or '<buffer>'). */
export function decodeWav(bytes: Uint8Array, name = '<buffer>'): WavData {
  const fail = (field: string, detail: string): never => { throw new WavFormatError(name, field, detail); };
  if (bytes.length < 12) fail('header', `file is ${bytes.length} bytes, too short for a RIFF/WAVE header (12 bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const riff = fourcc(bytes, 0);
  if (riff === 'RIFX' || riff === 'RF64') fail('RIFF id', `'${riff}' files are not supported (only little-endian 'RIFF')`);
  if (riff !== 'RIFF') fail('RIFF id', `expected 'RIFF', got ${JSON.stringify(riff)} (not a WAV file)`);
  if (fourcc(bytes, 8) !== 'WAVE') fail('WAVE id', `expected 'WAVE', got ${JSON.stringify(fourcc(bytes, 8))}`);

  let fmt: { format: number; channels: number; sampleRate: number; blockAlign: number; bits: number } | null = null;
  let data: Uint8Array | null = null;
  let off = 12;
  while (off + 8 <= bytes.length) {
    const id = fourcc(bytes, off);
    const size = view.getUint32(off + 4, true);
    const body = off + 8;
    if (id === 'fmt ') {
      if (size < 16) fail('fmt chunk size', `is ${size}, expected at least 16`);
      if (body + size > bytes.length) fail('fmt chunk size', `declares ${size} bytes but only ${bytes.length - body} remain`);
      let format = view.getUint16(body, true);
      const channels = view.getUint16(body + 2, true);
      const sampleRate = view.getUint32(body + 4, true);
      const blockAlign = view.getUint16(body + 12, true);
      const bits = view.getUint16(body + 14, true);
      if (format === WAVE_FORMAT_EXTENSIBLE) {
        if (size < 40) fail('fmt chunk size', `is ${size}; WAVE_FORMAT_EXTENSIBLE needs 40`);
        format = view.getUint16(body + 24, true); // first two bytes of the SubFormat GUID
      }
      fmt = { format, channels, sampleRate, blockAlign, bits };
    } else if (id === 'data') {
      if (!fmt) fail('data chunk', "comes before the 'fmt ' chunk");
      const avail = bytes.length - body;
      // Streaming writers leave 0 or 0xFFFFFFFF; anything else beyond the file end is truncation.
      if (size > avail && size !== 0xffffffff) fail('data chunk size', `declares ${size} bytes but only ${avail} remain (truncated file?)`);
      data = bytes.subarray(body, body + Math.min(size, avail));
      break;
    }
    off = body + size + (size & 1); // chunks are word aligned
  }
  if (!fmt) fail('fmt chunk', "missing (no 'fmt ' chunk before the end of the file)");
  if (!data) fail('data chunk', 'missing (no audio data)');
  const { format, channels, sampleRate, blockAlign, bits } = fmt!;
  if (channels < 1) fail('fmt.numChannels', `is ${channels}, expected >= 1`);
  if (sampleRate < 1) fail('fmt.sampleRate', `is ${sampleRate}, expected > 0`);
  let encoding: WavEncoding;
  if (format === WAVE_FORMAT_PCM) {
    if (![8, 16, 24, 32].includes(bits)) fail('fmt.bitsPerSample', `is ${bits}; PCM supports 8, 16, 24 or 32`);
    encoding = 'pcm';
  } else if (format === WAVE_FORMAT_IEEE_FLOAT) {
    if (bits !== 32 && bits !== 64) fail('fmt.bitsPerSample', `is ${bits}; IEEE float supports 32 or 64`);
    encoding = 'float';
  } else {
    return fail('fmt.audioFormat', `is ${format} (0x${format.toString(16)}); supported: 1 (PCM) and 3 (IEEE float), also inside WAVE_FORMAT_EXTENSIBLE`);
  }
  const bytesPer = bits / 8;
  if (blockAlign !== bytesPer * channels) fail('fmt.blockAlign', `is ${blockAlign}, expected ${bytesPer * channels} (${channels} channels x ${bytesPer} bytes)`);
  const d = data!;
  const frames = Math.floor(d.length / blockAlign);
  const dv = new DataView(d.buffer, d.byteOffset, d.byteLength);
  const channelData = Array.from({ length: channels }, () => new Float32Array(frames));
  for (let f = 0; f < frames; f++) {
    for (let c = 0; c < channels; c++) {
      const p = f * blockAlign + c * bytesPer;
      let v: number;
      if (encoding === 'float') v = bits === 32 ? dv.getFloat32(p, true) : dv.getFloat64(p, true);
      else if (bits === 8) v = (dv.getUint8(p) - 128) / 128;
      else if (bits === 16) v = dv.getInt16(p, true) / 32768;
      else if (bits === 24) v = ((dv.getUint8(p) | (dv.getUint8(p + 1) << 8) | (dv.getInt8(p + 2) << 16))) / 8388608;
      else v = dv.getInt32(p, true) / 2147483648;
      channelData[c]![f] = v;
    }
  }
  let samples: Float32Array;
  if (channels === 1) samples = channelData[0]!;
  else {
    samples = new Float32Array(frames);
    for (let f = 0; f < frames; f++) {
      let s = 0;
      for (let c = 0; c < channels; c++) s += channelData[c]![f]!;
      samples[f] = s / channels;
    }
  }
  return { sampleRate, numChannels: channels, bitsPerSample: bits, encoding, samples, channelData, duration: frames / sampleRate };
}

/** Read and decode a WAV file. */
export async function readWav(path: string): Promise<WavData> {
  return decodeWav(new Uint8Array(await readFile(path)), path);
}

export interface EncodeWavOptions {
  /** 'pcm' (default) or 'float'. */
  encoding?: WavEncoding;
  /** 8, 16 (default), 24 or 32 for PCM; 32 or 64 for float. */
  bitsPerSample?: number;
}

/**
 * Encode channels (each a [-1, 1] signal of the same length) as a WAV file. PCM values are rounded and
 * clipped to the integer range (x * 2^(bits-1)).
 */
export function encodeWav(channels: Float32Array | Float32Array[], sampleRate: number, opts: EncodeWavOptions = {}): Uint8Array {
  const chans = Array.isArray(channels) ? channels : [channels];
  const encoding = opts.encoding ?? 'pcm';
  const bits = opts.bitsPerSample ?? (encoding === 'float' ? 32 : 16);
  if (chans.length < 1) throw new RangeError('encodeWav: need at least one channel');
  const frames = chans[0]!.length;
  chans.forEach((c, i) => { if (c.length !== frames) throw new RangeError(`encodeWav: channel ${i} has ${c.length} samples, channel 0 has ${frames}`); });
  if (!Number.isInteger(sampleRate) || sampleRate < 1) throw new RangeError(`encodeWav: sampleRate must be a positive integer, got ${sampleRate}`);
  if (encoding === 'pcm' ? ![8, 16, 24, 32].includes(bits) : bits !== 32 && bits !== 64) {
    throw new RangeError(`encodeWav: bitsPerSample ${bits} is not supported for ${encoding} (pcm: 8/16/24/32, float: 32/64)`);
  }
  const bytesPer = bits / 8, blockAlign = bytesPer * chans.length, dataSize = frames * blockAlign;
  const out = new Uint8Array(44 + dataSize + (dataSize & 1));
  const v = new DataView(out.buffer);
  const put = (off: number, s: string): void => { for (let i = 0; i < 4; i++) out[off + i] = s.charCodeAt(i); };
  put(0, 'RIFF'); v.setUint32(4, out.length - 8, true); put(8, 'WAVE');
  put(12, 'fmt '); v.setUint32(16, 16, true);
  v.setUint16(20, encoding === 'pcm' ? WAVE_FORMAT_PCM : WAVE_FORMAT_IEEE_FLOAT, true);
  v.setUint16(22, chans.length, true); v.setUint32(24, sampleRate, true);
  v.setUint32(28, sampleRate * blockAlign, true); v.setUint16(32, blockAlign, true); v.setUint16(34, bits, true);
  put(36, 'data'); v.setUint32(40, dataSize, true);
  for (let f = 0; f < frames; f++) {
    for (let c = 0; c < chans.length; c++) {
      const p = 44 + f * blockAlign + c * bytesPer;
      const x = chans[c]![f]!;
      if (encoding === 'float') { if (bits === 32) v.setFloat32(p, x, true); else v.setFloat64(p, x, true); continue; }
      const scale = 2 ** (bits - 1);
      const q = Math.max(-scale, Math.min(scale - 1, Math.round(x * scale)));
      if (bits === 8) v.setUint8(p, q + 128);
      else if (bits === 16) v.setInt16(p, q, true);
      else if (bits === 24) { v.setUint8(p, q & 0xff); v.setUint8(p + 1, (q >> 8) & 0xff); v.setInt8(p + 2, q >> 16); }
      else v.setInt32(p, q, true);
    }
  }
  return out;
}
