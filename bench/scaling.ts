// Input-length scaling: Perceiver IO vs a ViT encoder, forward time and peak memory per input length.
//   Perceiver IO  512 latents x 512, inputs [1, M, 256]; 1 cross-attention (1 head, qk = v = 256) + 2 latent
//                 self-attention layers (8 heads, MLP x1): spec config A's layer shapes at 2 self layers.
//                 Lengths 1k, 4k, 16k, 64k tokens.
//   ViT           3 pre-LN transformer blocks (the Meta-Transformer / timm block: dim 256, 4 heads, MLP x4) over the
//                 same [1, M, 256] tokens: full self-attention, quadratic in M. Lengths 1k, 4k, 8k; capped at 8k
//                 because at 16k one [1, 4, 16k, 16k] float32 score tensor is 4 GiB and the forward holds several
//                 (scores, softmax output, workspace), beyond what this shared machine can give.
// Each (model, length) runs in a fresh child process: build, one untimed forward (compiles the session), then the
// best of 3 timed forwards; the child reports VmHWM (peak resident set) from /proc/self/status, so every length's
// memory is its own. Time and memory ratios are reported per doubling of the input length:
// (value(M2) / value(M1)) ^ (1 / log2(M2 / M1)).
//
// `node dist/bench/scaling.js [--json] [--quick]` runs it alone; `npm run bench` includes it (perceiverScaling,
// vitScaling in the --json object) unless --no-scaling.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Tensor } from '../src/engine/tensor.js';
import { Generator } from '../src/engine/functional/random.js';
import { realize, disposeSessions } from '../src/engine/runtime.js';
import { PerceiverModel } from '../src/encoders/perceiver/model.js';
import { TransformerEncoder } from '../src/nn/transformer.js';

export const INPUT_CHANNELS = 256;
export const PERCEIVER_LENGTHS = [1024, 4096, 16384, 65536];
export const VIT_LENGTHS = [1024, 4096, 8192];

export interface ScalingPoint { tokens: number; ms: number; peakRssMb: number }
export interface ScalingResult {
  perceiverScaling: ScalingPoint[];
  vitScaling: ScalingPoint[];
  /** Per-doubling ratios between consecutive lengths. */
  perceiverPerDoubling: { from: number; to: number; time: number; memory: number }[];
  vitPerDoubling: { from: number; to: number; time: number; memory: number }[];
  setup: string;
}

function peakRssMb(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : process.resourceUsage().maxRSS / 1024;
}

/** Child side: one model at one length; prints {ms, peakRssMb} as JSON. */
async function child(kind: 'perceiver' | 'vit', tokens: number): Promise<void> {
  const g = new Generator(1);
  const x = new Tensor([1, tokens, INPUT_CHANNELS], 'float32', g.normalData(tokens * INPUT_CHANNELS, 0, 1));
  let forward: () => Tensor;
  if (kind === 'perceiver') {
    const m = new PerceiverModel({
      numLatents: 512, dLatents: 512, dModel: INPUT_CHANNELS, numBlocks: 1, numSelfAttendsPerBlock: 2,
      numSelfAttentionHeads: 8, numCrossAttentionHeads: 1, selfAttentionWideningFactor: 1, crossAttentionWideningFactor: 1,
    }, { generator: g }).eval();
    m.freeze(); // weights baked into the session, as a deployed encoder
    forward = () => m.encode(x);
  } else {
    const m = new TransformerEncoder(INPUT_CHANNELS, 3, 4, { mlpRatio: 4, eps: 1e-5, finalNorm: false }).eval();
    m.freeze();
    forward = () => m.forward(x);
  }
  await realize([forward()]); // compile + first run
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    await realize([forward()]);
    best = Math.min(best, performance.now() - t);
  }
  disposeSessions();
  console.log(JSON.stringify({ ms: best, peakRssMb: peakRssMb() }));
}

function runChild(kind: 'perceiver' | 'vit', tokens: number): Promise<ScalingPoint> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', kind, String(tokens)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    p.stdout.on('data', (d) => { out += String(d); });
    p.stderr.on('data', (d) => { err += String(d); });
    p.on('close', (code) => {
      if (code !== 0) { reject(new Error(`scaling child ${kind} ${tokens} failed (exit ${code}): ${err.slice(-800)}`)); return; }
      const r = JSON.parse(out.trim().split('\n').pop()!) as { ms: number; peakRssMb: number };
      resolve({ tokens, ms: +r.ms.toFixed(1), peakRssMb: +r.peakRssMb.toFixed(0) });
    });
  });
}

function perDoubling(pts: ScalingPoint[]): ScalingResult['perceiverPerDoubling'] {
  const out: ScalingResult['perceiverPerDoubling'] = [];
  for (let i = 1; i < pts.length; i++) {
    const a = pts[i - 1]!, b = pts[i]!;
    const k = Math.log2(b.tokens / a.tokens);
    out.push({ from: a.tokens, to: b.tokens, time: +((b.ms / a.ms) ** (1 / k)).toFixed(3), memory: +((b.peakRssMb / a.peakRssMb) ** (1 / k)).toFixed(3) });
  }
  return out;
}

/** Run every (model, length) in its own child process. `quick`: 1k and 4k only. */
export async function scalingBench(opts: { quick?: boolean; log?: (s: string) => void } = {}): Promise<ScalingResult> {
  const log = opts.log ?? ((s: string) => console.log(s));
  const pl = opts.quick ? PERCEIVER_LENGTHS.slice(0, 2) : PERCEIVER_LENGTHS;
  const vl = opts.quick ? VIT_LENGTHS.slice(0, 2) : VIT_LENGTHS;
  const perceiverScaling: ScalingPoint[] = [], vitScaling: ScalingPoint[] = [];
  for (const n of pl) { const r = await runChild('perceiver', n); perceiverScaling.push(r); log(`perceiver ${String(n).padStart(6)} tokens: ${r.ms.toFixed(1)} ms, peak RSS ${r.peakRssMb} MB`); }
  for (const n of vl) { const r = await runChild('vit', n); vitScaling.push(r); log(`vit       ${String(n).padStart(6)} tokens: ${r.ms.toFixed(1)} ms, peak RSS ${r.peakRssMb} MB`); }
  return {
    perceiverScaling, vitScaling, perceiverPerDoubling: perDoubling(perceiverScaling), vitPerDoubling: perDoubling(vitScaling),
    setup: `inputs [1, M, ${INPUT_CHANNELS}]; Perceiver IO 512x512 latents, 1 cross-attention + 2 self-attention layers; ViT 3 blocks dim ${INPUT_CHANNELS}, 4 heads (capped at ${VIT_LENGTHS[VIT_LENGTHS.length - 1]} tokens); forward best of 3, peak RSS = VmHWM of a fresh process per point`,
  };
}

/** The markdown table of a result (time, memory, per-doubling ratios). */
export function scalingTable(r: ScalingResult): string {
  const rows = ['| tokens | Perceiver IO ms | x/doubling | peak RSS MB | x/doubling | ViT ms | x/doubling | peak RSS MB | x/doubling |', '|---:|---:|---:|---:|---:|---:|---:|---:|---:|'];
  const all = [...new Set([...r.perceiverScaling, ...r.vitScaling].map((p) => p.tokens))].sort((a, b) => a - b);
  const cell = (pts: ScalingPoint[], dbl: ScalingResult['perceiverPerDoubling'], n: number): string[] => {
    const p = pts.find((q) => q.tokens === n);
    if (!p) return ['-', '-', '-', '-'];
    const d = dbl.find((q) => q.to === n);
    return [p.ms.toFixed(1), d ? d.time.toFixed(2) : '', String(p.peakRssMb), d ? d.memory.toFixed(2) : ''];
  };
  for (const n of all) rows.push(`| ${n} | ${[...cell(r.perceiverScaling, r.perceiverPerDoubling, n), ...cell(r.vitScaling, r.vitPerDoubling, n)].join(' | ')} |`);
  return rows.join('\n');
}

const isMain = process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1];
if (isMain) {
  const argv = process.argv.slice(2);
  if (argv[0] === '--child') {
    child(argv[1] as 'perceiver' | 'vit', Number(argv[2])).catch((e: unknown) => { console.error(e instanceof Error ? e.stack : e); process.exit(1); });
  } else {
    const json = argv.includes('--json');
    scalingBench({ quick: argv.includes('--quick'), log: json ? (s) => console.error(s) : undefined }).then((r) => {
      if (json) console.log(JSON.stringify(r));
      else console.log(`\n${r.setup}\n\n${scalingTable(r)}`);
    }).catch((e: unknown) => { console.error(e instanceof Error ? e.stack : e); process.exit(1); });
  }
}
