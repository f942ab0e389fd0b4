// Checkpoint loading: time and peak memory of reading an 85M-parameter Meta-Transformer-B16 encoder checkpoint
// (12 timm blocks, D=768, the released file's keys `0.norm1.weight` ... `11.mlp.fc2.bias`, float32, 340 MB)
// with readTorchCheckpoint. The file is written by writeTorchCheckpoint in one child process and read in
// another, so the reader's peak resident memory (VmHWM of /proc/self/status) holds only the Node runtime and
// the loaded tensors. Best time and largest peak over `runs` fresh readers.
//   node dist/bench/load.js [--runs N] [--json]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface CheckpointLoadResult {
  /** Values in the checkpoint. */
  params: number;
  /** File size. */
  bytes: number;
  /** Best wall time of one readTorchCheckpoint call. */
  seconds: number;
  /** Largest peak resident set of a reader process, in MiB. */
  peakRssMb: number;
  /** Peak resident set over the file size. */
  ratio: number;
}

const self = fileURLToPath(import.meta.url);

function vmHwmBytes(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : process.resourceUsage().maxRSS * 1024;
}

/** The encoder's state dict, filled block by block with cheap deterministic values. */
function b16StateDict(): [string, { shape: number[]; data: Float32Array }][] {
  const D = 768, H = 3072, out: [string, { shape: number[]; data: Float32Array }][] = [];
  let seed = 1;
  const fill = (shape: number[]): { shape: number[]; data: Float32Array } => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) { seed = (seed * 1664525 + 1013904223) >>> 0; data[i] = (seed / 2 ** 32 - 0.5) * 0.04; }
    return { shape, data };
  };
  for (let i = 0; i < 12; i++) {
    const spec: [string, number[]][] = [
      ['norm1.weight', [D]], ['norm1.bias', [D]], ['attn.qkv.weight', [3 * D, D]], ['attn.qkv.bias', [3 * D]],
      ['attn.proj.weight', [D, D]], ['attn.proj.bias', [D]], ['norm2.weight', [D]], ['norm2.bias', [D]],
      ['mlp.fc1.weight', [H, D]], ['mlp.fc1.bias', [H]], ['mlp.fc2.weight', [D, H]], ['mlp.fc2.bias', [D]],
    ];
    for (const [k, s] of spec) out.push([`${i}.${k}`, fill(s)]);
  }
  return out;
}

async function child(mode: string, path: string): Promise<void> {
  if (mode === '--write') {
    const { writeTorchCheckpoint } = await import('../src/io/torch-save.js');
    await writeTorchCheckpoint(path, b16StateDict());
    return;
  }
  const { readTorchCheckpoint } = await import('../src/io/torch-checkpoint.js');
  const baseline = vmHwmBytes();
  const t0 = performance.now();
  const tensors = await readTorchCheckpoint(path);
  const seconds = (performance.now() - t0) / 1e3;
  let params = 0;
  for (const t of tensors.values()) params += t.data.length;
  console.log(JSON.stringify({ seconds, peak: vmHwmBytes(), baseline, params, tensors: tensors.size }));
}

function spawnChild(args: string[]): string {
  const r = spawnSync(process.execPath, [self, ...args], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`checkpoint bench child ${args[0]} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** Write the B16 checkpoint to a temp folder and read it `runs` times, each in a fresh process. */
export function checkpointLoadBench(runs = 2): CheckpointLoadResult {
  const dir = mkdtempSync(join(tmpdir(), 'omni-load-bench-'));
  try {
    const path = join(dir, 'Meta-Transformer_base_patch16_encoder.pth');
    spawnChild(['--write', path]);
    const bytes = statSync(path).size;
    let seconds = Infinity, peak = 0, params = 0;
    for (let i = 0; i < runs; i++) {
      const r = JSON.parse(spawnChild(['--read', path]).trim().split('\n').pop()!) as { seconds: number; peak: number; params: number; tensors: number };
      if (r.tensors !== 144) throw new Error(`checkpoint bench: read ${r.tensors} tensors, expected 144`);
      seconds = Math.min(seconds, r.seconds);
      peak = Math.max(peak, r.peak);
      params = r.params;
    }
    return { params, bytes, seconds: +seconds.toFixed(3), peakRssMb: +(peak / 2 ** 20).toFixed(0), ratio: +(peak / bytes).toFixed(2) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [mode, path] = process.argv.slice(2);
  if (mode === '--write' || mode === '--read') await child(mode, path!);
  else {
    const args = process.argv.slice(2);
    const runs = args.includes('--runs') ? Number(args[args.indexOf('--runs') + 1]) : 2;
    const r = checkpointLoadBench(runs);
    if (args.includes('--json')) console.log(JSON.stringify(r));
    else console.log(`checkpoint load: ${r.params.toLocaleString('en-US')} params, ${(r.bytes / 2 ** 20).toFixed(0)} MiB in ${r.seconds.toFixed(2)} s, peak RSS ${r.peakRssMb} MiB (${r.ratio}x the file)`);
  }
}
