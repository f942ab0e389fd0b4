// Kaldi-style log-Mel filterbank features in plain TypeScript (host side, float64 arithmetic), matching
// `torchaudio.compliance.kaldi.fbank` (itself a port of Kaldi's compute-fbank-feats). AST and
// Meta-Transformer compute their audio input with it:
//   fbank(wav - wav.mean(), htk_compat=True, sample_frequency=sr, use_energy=False, window_type='hanning',
//         num_mel_bins=M, dither=0.0, frame_shift=10)
// Pipeline per frame: [dither] -> remove DC -> (raw energy) -> pre-emphasis -> window -> zero-pad to a power
// of two -> |rFFT|^2 -> triangular Mel filters (Kaldi mel scale 1127 ln(1 + f/700)) -> log(max(., eps)).
import type { Generator } from '../engine/functional/random.js';

export type FbankWindow = 'hanning' | 'hamming' | 'povey' | 'rectangular' | 'blackman';

export interface FbankOptions {
  /** Hz (default 16000). */
  sampleRate?: number;
  /** Number of triangular Mel bins (default 128, as AST / the Data2Seq demo; the released audio recipe uses 224). */
  numMelBins?: number;
  /** Frame length in ms (default 25). */
  frameLengthMs?: number;
  /** Frame shift in ms (default 10). */
  frameShiftMs?: number;
  /**
   * Gaussian dither amplitude (default 0). Non-zero dither draws from `generator`, so it does not reproduce
   * torch's random numbers.
   */
  dither?: number;
  generator?: Generator;
  /** Pre-emphasis coefficient in [0, 1] (default 0.97). */
  preemphasis?: number;
  /** Subtract each frame's mean (default true). */
  removeDcOffset?: boolean;
  /** Window function (default 'hanning' = symmetric Hann, torch.hann_window(periodic=False)). */
  window?: FbankWindow;
  /** Coefficient of the 'blackman' window (default 0.42). */
  blackmanCoeff?: number;
  /** Zero-pad each frame to the next power of two before the FFT (default true; must be true: our FFT is radix-2). */
  roundToPowerOfTwo?: boolean;
  /** Power spectrum (true, default) or magnitude (false). */
  usePower?: boolean;
  /** Lowest Mel filter edge in Hz (default 20). */
  lowFreq?: number;
  /** Highest Mel filter edge in Hz; <= 0 means Nyquist + highFreq (default 0 = Nyquist). */
  highFreq?: number;
  /** With useEnergy: energy goes last (true, default here) or first (false). */
  htkCompat?: boolean;
  /** Append (or prepend, see htkCompat) the frame's log energy as an extra column (default false). */
  useEnergy?: boolean;
  /** Energy computed before pre-emphasis and windowing (default true). */
  rawEnergy?: boolean;
  /** Floor on the energy column (absolute; default 1.0 as torchaudio, 0 = no floor). */
  energyFloor?: number;
  /** Frames that fit completely (true, default) or frames centred on multiples of the shift with reflected edges. */
  snipEdges?: boolean;
  /** Log of the Mel energies (default true); false returns linear energies. */
  useLogFbank?: boolean;
  /** Floor applied before the log (default float32 epsilon 2^-23, as Kaldi/torchaudio). */
  logFloor?: number;
  /** Subtract the per-bin mean over frames (default false). */
  subtractMean?: boolean;
}

export interface FbankResult {
  /** Row-major [frames, bins] (bins = numMelBins + useEnergy). */
  data: Float32Array;
  frames: number;
  bins: number;
}

export const FLOAT32_EPS = 1.1920928955078125e-7;

/** Kaldi mel scale. */
export function melScale(hz: number): number { return 1127 * Math.log(1 + hz / 700); }
export function inverseMelScale(mel: number): number { return 700 * (Math.exp(mel / 1127) - 1); }

/** Frame length, shift and FFT size in samples, with torchaudio's truncation (int(sr * ms * 0.001)). */
export function frameGeometry(opts: FbankOptions = {}): { windowSize: number; windowShift: number; paddedSize: number } {
  const sr = opts.sampleRate ?? 16000;
  const windowShift = Math.trunc(sr * (opts.frameShiftMs ?? 10) * 0.001);
  const windowSize = Math.trunc(sr * (opts.frameLengthMs ?? 25) * 0.001);
  const round = opts.roundToPowerOfTwo ?? true;
  const paddedSize = round ? nextPowerOfTwo(windowSize) : windowSize;
  return { windowSize, windowShift, paddedSize };
}

/** Number of frames fbank produces for `numSamples` samples. */
export function numFrames(numSamples: number, opts: FbankOptions = {}): number {
  const { windowSize, windowShift } = frameGeometry(opts);
  if (opts.snipEdges ?? true) return numSamples < windowSize ? 0 : 1 + Math.floor((numSamples - windowSize) / windowShift);
  return Math.floor((numSamples + Math.floor(windowShift / 2)) / windowShift);
}

function nextPowerOfTwo(x: number): number {
  let p = 1;
  while (p < x) p *= 2;
  return p;
}

/** Window function of `n` samples as in torchaudio's `_feature_window_function`. */
export function featureWindow(type: FbankWindow, n: number, blackmanCoeff = 0.42): Float64Array {
  const w = new Float64Array(n);
  const a = (2 * Math.PI) / (n - 1);
  for (let i = 0; i < n; i++) {
    const hann = 0.5 - 0.5 * Math.cos(a * i);
    switch (type) {
      case 'hanning': w[i] = hann; break;
      case 'hamming': w[i] = 0.54 - 0.46 * Math.cos(a * i); break;
      case 'povey': w[i] = Math.pow(hann, 0.85); break;
      case 'rectangular': w[i] = 1; break;
      case 'blackman': w[i] = blackmanCoeff - 0.5 * Math.cos(a * i) + (0.5 - blackmanCoeff) * Math.cos(2 * a * i); break;
      default: throw new Error(`fbank: window must be one of 'hanning', 'hamming', 'povey', 'rectangular', 'blackman'; got '${String(type)}'`);
    }
  }
  return w;
}

/**
 * Kaldi triangular Mel filters [numBins, paddedSize/2 + 1] (last column, the Nyquist bin, is zero as in
 * torchaudio). Row-major Float64Array plus each row's non-zero column range.
 */
export function melBanks(numBins: number, paddedSize: number, sampleRate: number, lowFreq = 20, highFreq = 0): { weights: Float64Array; cols: number; ranges: [number, number][] } {
  if (!Number.isInteger(numBins) || numBins <= 3) throw new RangeError(`fbank: numMelBins must be an integer > 3, got ${numBins}`);
  const nyquist = 0.5 * sampleRate;
  const high = highFreq <= 0 ? highFreq + nyquist : highFreq;
  if (!(lowFreq >= 0 && lowFreq < nyquist && high > 0 && high <= nyquist && lowFreq < high)) {
    throw new RangeError(`fbank: bad Mel range lowFreq ${lowFreq} Hz, highFreq ${highFreq} Hz (-> ${high} Hz) for Nyquist ${nyquist} Hz: need 0 <= lowFreq < highFreq <= Nyquist`);
  }
  const numFftBins = paddedSize / 2;
  const cols = numFftBins + 1;
  // torchaudio builds the filters in float32 (as Kaldi's BaseFloat); rounding like it matters for narrow
  // filters, whose few non-zero weights are small differences of mel values.
  const f = Math.fround;
  const melLow = melScale(lowFreq), melHigh = melScale(high);
  const delta = (melHigh - melLow) / (numBins + 1);
  const binWidth = f(sampleRate / paddedSize);
  const weights = new Float64Array(numBins * cols);
  const ranges: [number, number][] = [];
  const mel = Float64Array.from({ length: numFftBins }, (_, k) => f(1127 * f(Math.log(f(1 + f(f(binWidth * k) / 700))))));
  for (let b = 0; b < numBins; b++) {
    const left = f(melLow + f(b * f(delta))), center = f(melLow + f((b + 1) * f(delta))), right = f(melLow + f((b + 2) * f(delta)));
    let lo = cols, hi = 0;
    for (let k = 0; k < numFftBins; k++) {
      const up = f(f(mel[k]! - left) / f(center - left)), down = f(f(right - mel[k]!) / f(right - center));
      const v = Math.max(0, Math.min(up, down));
      if (v > 0) { weights[b * cols + k] = v; lo = Math.min(lo, k); hi = Math.max(hi, k + 1); }
    }
    ranges.push(lo < hi ? [lo, hi] : [0, 0]);
  }
  return { weights, cols, ranges };
}

/**
 * In-place iterative radix-2 complex FFT of length n (a power of two) on split real/imaginary arrays.
 * `tw` holds cos/sin of -2*pi*k/n for k < n/2.
 */
function fftComplex(re: Float64Array, im: Float64Array, cosT: Float64Array, sinT: Float64Array): void {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      let t = re[i]!; re[i] = re[j]!; re[j] = t;
      t = im[i]!; im[i] = im[j]!; im[j] = t;
    }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const half = len >> 1, step = n / len;
    for (let i = 0; i < n; i += len) {
      for (let k = 0; k < half; k++) {
        const c = cosT[k * step]!, s = sinT[k * step]!;
        const a = i + k, b = a + half;
        const xr = re[b]! * c - im[b]! * s, xi = re[b]! * s + im[b]! * c;
        re[b] = re[a]! - xr; im[b] = im[a]! - xi;
        re[a] = re[a]! + xr; im[a] = im[a]! + xi;
      }
    }
  }
}

/**
 * Real FFT of power-of-two length n via one complex FFT of length n/2 (even samples as the real part, odd
 * samples as the imaginary part, then the split step). Reusable: allocate once per size.
 */
export class RealFFT {
  readonly n: number;
  private readonly half: number;
  private readonly re: Float64Array;
  private readonly im: Float64Array;
  private readonly cosH: Float64Array;
  private readonly sinH: Float64Array;
  private readonly cosN: Float64Array;
  private readonly sinN: Float64Array;

  constructor(n: number) {
    if (!Number.isInteger(n) || n < 2 || (n & (n - 1)) !== 0) throw new RangeError(`RealFFT: length must be a power of two >= 2, got ${n}`);
    this.n = n;
    this.half = n / 2;
    this.re = new Float64Array(this.half);
    this.im = new Float64Array(this.half);
    // twiddles for the half-length complex FFT and for the split step
    this.cosH = Float64Array.from({ length: Math.max(1, this.half / 2) }, (_, k) => Math.cos((-2 * Math.PI * k) / this.half));
    this.sinH = Float64Array.from({ length: Math.max(1, this.half / 2) }, (_, k) => Math.sin((-2 * Math.PI * k) / this.half));
    this.cosN = Float64Array.from({ length: this.half }, (_, k) => Math.cos((-2 * Math.PI * k) / n));
    this.sinN = Float64Array.from({ length: this.half }, (_, k) => Math.sin((-2 * Math.PI * k) / n));
  }

  /** X[k] for k = 0..n/2 of real input x (length n): writes outRe/outIm (length n/2 + 1). */
  forward(x: ArrayLike<number>, outRe: Float64Array, outIm: Float64Array): void {
    const { half, re, im } = this;
    for (let i = 0; i < half; i++) { re[i] = x[2 * i]!; im[i] = x[2 * i + 1]!; }
    if (half > 1) fftComplex(re, im, this.cosH, this.sinH);
    // X[k] = E[k] + W^k O[k], with E = (Z[k] + conj Z[half-k]) / 2 and O = (Z[k] - conj Z[half-k]) / (2i)
    for (let k = 0; k <= half; k++) {
      const a = k % half, b = (half - k) % half;
      const zr = re[a]!, zi = im[a]!, cr = re[b]!, ci = -im[b]!;
      const er = 0.5 * (zr + cr), ei = 0.5 * (zi + ci);
      const dr = 0.5 * (zr - cr), di = 0.5 * (zi - ci);
      // O = d / i = (di, -dr)
      const or = di, oi = -dr;
      const c = k === half ? -1 : this.cosN[k]!, s = k === half ? 0 : this.sinN[k]!;
      outRe[k] = er + or * c - oi * s;
      outIm[k] = ei + or * s + oi * c;
    }
  }
}

function checkWave(wave: ArrayLike<number>): void {
  for (let i = 0; i < wave.length; i++) {
    if (!Number.isFinite(wave[i]!)) throw new RangeError(`fbank: sample ${i} is ${wave[i]} (NaN or infinite samples are not allowed)`);
  }
}

/** Frame start offsets into the (possibly edge-reflected) signal and that signal. */
function framedSignal(wave: ArrayLike<number>, windowSize: number, windowShift: number, snipEdges: boolean): { signal: ArrayLike<number>; m: number } {
  const n = wave.length;
  if (snipEdges) return { signal: wave, m: n < windowSize ? 0 : 1 + Math.floor((n - windowSize) / windowShift) };
  // As torchaudio: m = (n + shift/2) / shift frames over [reversed head, wave, reversed wave].
  const m = Math.floor((n + Math.floor(windowShift / 2)) / windowShift);
  const pad = Math.floor(windowSize / 2) - Math.floor(windowShift / 2);
  const out: number[] = [];
  if (pad > 0) {
    for (let i = pad - 1; i >= 0; i--) out.push(wave[i]!);
    for (let i = 0; i < n; i++) out.push(wave[i]!);
  } else {
    for (let i = -pad; i < n; i++) out.push(wave[i]!);
  }
  for (let i = n - 1; i >= 0; i--) out.push(wave[i]!);
  return { signal: out, m };
}

/**
 * Kaldi filterbank features of a mono waveform, as `torchaudio.compliance.kaldi.fbank(wave[None], ...)`
 * with `window_type='hanning'`, `htk_compat=True`, `dither=0` (AST's settings) unless overridden.
 * Returns [frames, bins] row-major; zero frames when the signal is shorter than one frame (snipEdges).
 */
export function fbank(wave: ArrayLike<number>, opts: FbankOptions = {}): FbankResult {
  const sampleRate = opts.sampleRate ?? 16000;
  const numMelBins = opts.numMelBins ?? 128;
  const preemph = opts.preemphasis ?? 0.97;
  const dither = opts.dither ?? 0;
  const removeDc = opts.removeDcOffset ?? true;
  const usePower = opts.usePower ?? true;
  const useEnergy = opts.useEnergy ?? false;
  const rawEnergy = opts.rawEnergy ?? true;
  const energyFloor = opts.energyFloor ?? 1.0;
  const snipEdges = opts.snipEdges ?? true;
  const useLog = opts.useLogFbank ?? true;
  const floor = opts.logFloor ?? FLOAT32_EPS;
  if (!(sampleRate > 0)) throw new RangeError(`fbank: sampleRate must be positive, got ${sampleRate}`);
  if (!(preemph >= 0 && preemph <= 1)) throw new RangeError(`fbank: preemphasis must be in [0, 1], got ${preemph}`);
  if (!(dither >= 0)) throw new RangeError(`fbank: dither must be >= 0, got ${dither}`);
  if (dither > 0 && !opts.generator) throw new RangeError('fbank: dither > 0 needs a seeded `generator`');
  if (!(floor > 0)) throw new RangeError(`fbank: logFloor must be positive, got ${floor}`);
  const { windowSize, windowShift, paddedSize } = frameGeometry(opts);
  if (windowShift < 1) throw new RangeError(`fbank: frame shift ${opts.frameShiftMs ?? 10} ms is less than one sample at ${sampleRate} Hz`);
  if (windowSize < 2) throw new RangeError(`fbank: frame length ${opts.frameLengthMs ?? 25} ms gives ${windowSize} samples at ${sampleRate} Hz; need at least 2`);
  if ((paddedSize & (paddedSize - 1)) !== 0) {
    throw new RangeError(`fbank: roundToPowerOfTwo=false needs a power-of-two frame length (got ${windowSize} samples); this FFT is radix-2`);
  }
  checkWave(wave);

  const { signal, m } = framedSignal(wave, windowSize, windowShift, snipEdges);
  const window = featureWindow(opts.window ?? 'hanning', windowSize, opts.blackmanCoeff ?? 0.42);
  const banks = melBanks(numMelBins, paddedSize, sampleRate, opts.lowFreq ?? 20, opts.highFreq ?? 0);
  const bins = numMelBins + (useEnergy ? 1 : 0);
  const htk = opts.htkCompat ?? true;
  const melOffset = useEnergy && !htk ? 1 : 0;
  const energyCol = useEnergy ? (htk ? numMelBins : 0) : -1;
  const out = new Float32Array(m * bins);
  const fft = new RealFFT(paddedSize);
  const frame = new Float64Array(paddedSize);
  const specRe = new Float64Array(paddedSize / 2 + 1), specIm = new Float64Array(paddedSize / 2 + 1);
  const spec = new Float64Array(paddedSize / 2 + 1);
  const logEnergy = (x: Float64Array, n: number): number => {
    let e = 0;
    for (let i = 0; i < n; i++) e += x[i]! * x[i]!;
    const le = Math.log(Math.max(e, FLOAT32_EPS));
    return energyFloor === 0 ? le : Math.max(le, Math.log(energyFloor));
  };
  const means = opts.subtractMean ? new Float64Array(bins) : null;
  const rows = opts.subtractMean ? new Float64Array(m * bins) : null;

  for (let f = 0; f < m; f++) {
    const start = f * windowShift;
    for (let i = 0; i < windowSize; i++) frame[i] = signal[start + i]!;
    if (dither > 0) {
      const noise = opts.generator!.normalData(windowSize);
      for (let i = 0; i < windowSize; i++) frame[i] = frame[i]! + dither * noise[i]!;
    }
    if (removeDc) {
      let mean = 0;
      for (let i = 0; i < windowSize; i++) mean += frame[i]!;
      mean /= windowSize;
      for (let i = 0; i < windowSize; i++) frame[i] = frame[i]! - mean;
    }
    let energy = 0;
    if (useEnergy && rawEnergy) energy = logEnergy(frame, windowSize);
    if (preemph !== 0) {
      for (let i = windowSize - 1; i > 0; i--) frame[i] = frame[i]! - preemph * frame[i - 1]!;
      frame[0] = frame[0]! - preemph * frame[0]!;
    }
    for (let i = 0; i < windowSize; i++) frame[i] = frame[i]! * window[i]!;
    frame.fill(0, windowSize);
    if (useEnergy && !rawEnergy) energy = logEnergy(frame, paddedSize);
    fft.forward(frame, specRe, specIm);
    for (let k = 0; k < spec.length; k++) {
      const p = specRe[k]! * specRe[k]! + specIm[k]! * specIm[k]!;
      spec[k] = usePower ? p : Math.sqrt(p);
    }
    for (let b = 0; b < numMelBins; b++) {
      const [lo, hi] = banks.ranges[b]!;
      let e = 0;
      for (let k = lo; k < hi; k++) e += spec[k]! * banks.weights[b * banks.cols + k]!;
      const v = useLog ? Math.log(Math.max(e, floor)) : e;
      if (rows) rows[f * bins + melOffset + b] = v;
      else out[f * bins + melOffset + b] = v;
    }
    if (energyCol >= 0) {
      if (rows) rows[f * bins + energyCol] = energy;
      else out[f * bins + energyCol] = energy;
    }
  }
  if (rows && means) {
    for (let f = 0; f < m; f++) for (let b = 0; b < bins; b++) means[b] = means[b]! + rows[f * bins + b]! / m;
    for (let f = 0; f < m; f++) for (let b = 0; b < bins; b++) out[f * bins + b] = rows[f * bins + b]! - means[b]!;
  }
  return { data: out, frames: m, bins };
}
