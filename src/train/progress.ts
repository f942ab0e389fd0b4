// Training progress on stderr.
//   'tty'    one line rewritten in place ("\r" + clear line): epoch, a bar, steps, loss, throughput, ETA;
//   'plain'  a line at most every `intervalMs` (and at the end of each epoch): for logs, pipes and CI;
//   'silent' nothing (the CLI's --json mode).
// 'auto' picks 'tty' when the stream is a terminal and CI is not set, else 'plain'.
import type { Writable } from 'node:stream';

export type ProgressMode = 'auto' | 'tty' | 'plain' | 'silent';

export interface ProgressOptions {
  mode?: ProgressMode;
  /** Default process.stderr. */
  stream?: Writable & { isTTY?: boolean; columns?: number };
  /** Minimum time between plain lines (default 10 s). */
  intervalMs?: number;
  /** Clock in ms (tests). */
  now?: () => number;
  /** Environment used by 'auto' (default process.env). */
  env?: Record<string, string | undefined>;
}

export function resolveProgressMode(mode: ProgressMode, stream: { isTTY?: boolean }, env: Record<string, string | undefined> = process.env): Exclude<ProgressMode, 'auto'> {
  if (mode !== 'auto') return mode;
  const ci = env.CI !== undefined && env.CI !== '' && env.CI !== '0' && env.CI.toLowerCase() !== 'false';
  return stream.isTTY && !ci ? 'tty' : 'plain';
}

/** "1:05", "1:02:03" */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return h ? `${h}:${String(m).padStart(2, '0')}:${String(r).padStart(2, '0')}` : `${m}:${String(r).padStart(2, '0')}`;
}

function fmtNum(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-2 || a >= 1e5) ? v.toExponential(3) : v.toFixed(4);
}

export interface StepInfo {
  /** Steps done in this epoch and steps per epoch. */
  step: number;
  steps: number;
  /** Samples processed in this epoch so far. */
  samples: number;
  /** Running mean training loss of the epoch. */
  loss: number;
  lr?: number;
}

export class ProgressBar {
  readonly mode: Exclude<ProgressMode, 'auto'>;
  private readonly stream: Writable & { isTTY?: boolean; columns?: number };
  private readonly intervalMs: number;
  private readonly now: () => number;
  private epoch = 0;
  private epochs = 0;
  private epochStart = 0;
  private lastLine = -Infinity;
  private lineOpen = false;
  /** Seconds of all finished epochs, for the run's ETA. */
  private finishedSeconds: number[] = [];

  constructor(opts: ProgressOptions = {}) {
    this.stream = opts.stream ?? process.stderr;
    this.mode = resolveProgressMode(opts.mode ?? 'auto', this.stream, opts.env);
    this.intervalMs = opts.intervalMs ?? 10_000;
    this.now = opts.now ?? (() => performance.now());
  }

  private write(s: string): void { if (this.mode !== 'silent') this.stream.write(s); }

  /** A free-form message line (keeps the progress line intact in TTY mode). */
  log(message: string): void {
    if (this.mode === 'silent') return;
    if (this.lineOpen) { this.write('\r\x1b[2K'); this.lineOpen = false; }
    this.write(`${message}\n`);
  }

  startEpoch(epoch: number, epochs: number): void {
    this.epoch = epoch;
    this.epochs = epochs;
    this.epochStart = this.now();
    this.lastLine = this.mode === 'tty' ? -Infinity : this.epochStart;
  }

  /** The text of the progress line for `info` (exposed for tests). */
  render(info: StepInfo): string {
    const elapsed = (this.now() - this.epochStart) / 1000;
    const rate = elapsed > 0 ? info.samples / elapsed : 0;
    const perStep = info.step > 0 ? elapsed / info.step : NaN;
    const epochLeft = perStep * (info.steps - info.step);
    // ETA for the whole run: this epoch's rest plus the remaining epochs at the mean epoch time.
    const epochTime = this.finishedSeconds.length ? this.finishedSeconds.reduce((a, b) => a + b, 0) / this.finishedSeconds.length : perStep * info.steps;
    const runLeft = epochLeft + epochTime * (this.epochs - this.epoch);
    const width = 20;
    const filled = info.steps ? Math.round((width * info.step) / info.steps) : width;
    const bar = '='.repeat(Math.max(0, filled - 1)) + (filled ? (filled === width ? '=' : '>') : '') + ' '.repeat(width - filled);
    const lr = info.lr !== undefined ? ` lr ${fmtNum(info.lr)}` : '';
    return `epoch ${this.epoch}/${this.epochs} [${bar}] ${info.step}/${info.steps} loss ${fmtNum(info.loss)}${lr} ${rate.toFixed(1)} samples/s ETA ${formatDuration(runLeft)}`;
  }

  step(info: StepInfo): void {
    if (this.mode === 'silent') return;
    const t = this.now();
    if (this.mode === 'tty') {
      // at most ~20 redraws a second (and always the epoch's last step)
      if (t - this.lastLine < 50 && info.step < info.steps) return;
      this.lastLine = t;
      let line = this.render(info);
      const cols = this.stream.columns;
      if (cols && line.length > cols - 1) line = line.slice(0, cols - 1);
      this.write(`\r\x1b[2K${line}`);
      this.lineOpen = true;
    } else if (t - this.lastLine >= this.intervalMs) {
      this.lastLine = t;
      this.write(`${this.render(info)}\n`);
    }
  }

  /** End of an epoch: one summary line (replaces the progress line in TTY mode). */
  endEpoch(summary: string): void {
    const seconds = (this.now() - this.epochStart) / 1000;
    this.finishedSeconds.push(seconds);
    const mean = this.finishedSeconds.reduce((a, b) => a + b, 0) / this.finishedSeconds.length;
    const left = this.epochs - this.epoch;
    this.log(`epoch ${this.epoch}/${this.epochs} ${summary} (${formatDuration(seconds)}${left > 0 ? `, ETA ${formatDuration(mean * left)}` : ''})`);
  }
}
