// Sample-rate conversion by band-limited (windowed-sinc) interpolation, computed polyphase, and `readAudio`
// = WAV decode + mixdown + resample, giving what AudioTokenizer.prepare takes ({ samples, sampleRate }).
//
// Output sample j sits at input time t = j · from / to and is
//   y[j] = Σ_k x[k] · h(t − k),   h(d) = fc · sinc(fc · d) · kaiser(d / W),  |d| < W,
// with sinc(u) = sin(πu) / (πu), fc = rolloff · min(1, to / from) (the cutoff as a fraction of the input
// Nyquist frequency: below the output Nyquist when downsampling, so what cannot be represented is filtered
// out instead of aliasing), W = zeroCrossings / fc the half-width in input samples, and kaiser(u) =
// I0(β·√(1 − u²)) / I0(β). Samples outside the signal are zero (as torchaudio.functional.resample). With
// integer rates reduced by their gcd to L/M, t − k takes only L distinct fractional parts, so L filters are
// tabulated once (the polyphase form). The output has ceil(n · to / from) samples.
//
// Defaults: 16 zero crossings, rolloff 0.945, β = 8.555 (≈ 86 dB stop-band attenuation); the pass band
// (up to 0.945 of the lower Nyquist frequency) is flat to about 1e-4.
import { readWav } from './wav.js';

export interface ResampleOptions {
  /** Zero crossings of the sinc on each side (filter half-length in units of the cutoff period); default 16. */
  zeroCrossings?: number;
  /** Cutoff as a fraction of the lower Nyquist frequency, in (0, 1]; default 0.945. */
  rolloff?: number;
  /** Kaiser window β; default 8.555. */
  beta?: number;
}

function gcd(a: number, b: number): number { while (b) [a, b] = [b, a % b]; return a; }

/** Modified Bessel function of the first kind, order 0 (power series; converges for every real x). */
function besselI0(x: number): number {
  const q = (x * x) / 4;
  let sum = 1, term = 1;
  for (let k = 1; k < 500; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

/** Resample `samples` from `fromRate` to `toRate` Hz (positive integers). Returns a new Float32Array. */
export function resample(samples: Float32Array | ArrayLike<number>, fromRate: number, toRate: number, opts: ResampleOptions = {}): Float32Array {
  for (const [k, v] of [['fromRate', fromRate], ['toRate', toRate]] as const) {
    if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`resample: ${k} must be a positive integer (Hz), got ${v}`);
  }
  const zc = opts.zeroCrossings ?? 16, rolloff = opts.rolloff ?? 0.945, beta = opts.beta ?? 8.555;
  if (!Number.isInteger(zc) || zc < 1) throw new RangeError(`resample: zeroCrossings must be a positive integer, got ${zc}`);
  if (!(rolloff > 0 && rolloff <= 1)) throw new RangeError(`resample: rolloff must be in (0, 1], got ${rolloff}`);
  if (!(beta >= 0) || !Number.isFinite(beta)) throw new RangeError(`resample: beta must be a finite number >= 0, got ${beta}`);
  const x = samples instanceof Float32Array ? samples : Float32Array.from(samples);
  const n = x.length;
  for (let i = 0; i < n; i++) if (!Number.isFinite(x[i]!)) throw new RangeError(`resample: sample ${i} is ${x[i]} (not finite)`);
  if (fromRate === toRate) return x === samples ? x.slice() : x;
  const g = gcd(fromRate, toRate);
  const L = toRate / g, M = fromRate / g;
  const outLen = Math.ceil((n * L) / M);
  const out = new Float32Array(outLen);
  if (n === 0) return out;
  const fc = rolloff * Math.min(1, L / M);
  const W = zc / fc;
  const K = Math.ceil(W);
  const taps = 2 * K + 1;
  const i0b = besselI0(beta);
  const h = (d: number): number => {
    const u = d / W;
    if (u <= -1 || u >= 1) return 0;
    const x = fc * d;
    const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
    return fc * sinc * (besselI0(beta * Math.sqrt(1 - u * u)) / i0b);
  };
  // filter for phase p (fractional offset p / L): weights of x[k0 + m], m = −K .. K
  const filter = (p: number, into: Float64Array, at: number): void => {
    const frac = p / L;
    for (let m = -K; m <= K; m++) into[at + m + K] = h(frac - m);
  };
  const tabulate = L * taps <= 1 << 22;
  const table = new Float64Array(tabulate ? L * taps : taps);
  if (tabulate) for (let p = 0; p < L; p++) filter(p, table, p * taps);
  for (let j = 0; j < outLen; j++) {
    const num = j * M;
    const k0 = Math.floor(num / L);
    const p = num - k0 * L;
    let base = p * taps;
    if (!tabulate) { filter(p, table, 0); base = 0; }
    const lo = Math.max(k0 - K, 0), hi = Math.min(k0 + K, n - 1);
    const shift = base + K - k0; // table index of input sample i
    let acc = 0;
    for (let i = lo; i <= hi; i++) acc += x[i]! * table[shift + i]!;
    out[j] = acc;
  }
  return out;
}

export interface ReadAudioOptions extends ResampleOptions {
  /** Target sample rate in Hz (default 16000); null keeps the file's rate. */
  sampleRate?: number | null;
  /** Take this channel (0-based) instead of the mean of all channels. */
  channel?: number;
}

/** A decoded clip, ready for AudioTokenizer.prepare. */
export interface AudioClip {
  samples: Float32Array;
  sampleRate: number;
  /** The file's own rate. */
  sourceSampleRate: number;
  /** The file's channel count. */
  numChannels: number;
  /** Seconds. */
  duration: number;
}

/** Read a WAV file, mix it down to mono (or take one channel) and resample it (default to 16 kHz). */
export async function readAudio(path: string, opts: ReadAudioOptions = {}): Promise<AudioClip> {
  const target = opts.sampleRate === undefined ? 16000 : opts.sampleRate;
  if (target !== null && (!Number.isSafeInteger(target) || target < 1)) throw new RangeError(`readAudio: sampleRate must be a positive integer or null, got ${target}`);
  const wav = await readWav(path);
  let mono = wav.samples;
  if (opts.channel !== undefined) {
    if (!Number.isInteger(opts.channel) || opts.channel < 0 || opts.channel >= wav.numChannels) throw new RangeError(`readAudio: ${path} has ${wav.numChannels} channel(s); channel ${opts.channel} does not exist`);
    mono = wav.channelData[opts.channel]!;
  }
  const rate = target ?? wav.sampleRate;
  const samples = rate === wav.sampleRate ? mono : resample(mono, wav.sampleRate, rate, opts);
  return { samples, sampleRate: rate, sourceSampleRate: wav.sampleRate, numChannels: wav.numChannels, duration: samples.length / rate };
}
