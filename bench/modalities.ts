// Per-modality tokenization throughput for the benchmark: host-side preprocessing (`prepare`: fbank, FPS/kNN,
// Laplacian eigenvectors, BPE, ...) and the traced tokenizer forward, each for one batch at the base width
// (D 768). The caller divides by a training step's time to show preprocessing does not dominate a step.
import { Generator } from '../src/engine/functional/random.js';
import type { Tensor } from '../src/engine/tensor.js';
import { realize } from '../src/engine/runtime.js';
import { AudioTokenizer } from '../src/data2seq/audio.js';
import { GraphTokenizer, type GraphRaw } from '../src/data2seq/graph.js';
import { HyperspectralTokenizer } from '../src/data2seq/hyperspectral.js';
import { ImageTokenizer } from '../src/data2seq/image.js';
import { PointCloudTokenizer } from '../src/data2seq/point-cloud.js';
import { TabularTokenizer } from '../src/data2seq/tabular.js';
import { TextTokenizer } from '../src/data2seq/text.js';
import { TimeSeriesTokenizer } from '../src/data2seq/time-series.js';
import type { Data2Seq, TokenSequence } from '../src/data2seq/types.js';
import { VideoTokenizer } from '../src/data2seq/video.js';

export interface ModalityTiming {
  modality: string;
  batch: number;
  input: string;
  tokens: number;
  /** Host preprocessing of one batch (ms). */
  prepareMs: number;
  /** Tokenizer forward of one batch, compiled session reused (ms). */
  tokenizeMs: number;
}

const D = 768;

function median(xs: number[]): number { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]!; }

async function measure<R, I>(modality: string, input: string, tok: Data2Seq<I, R>, raw: R[], runs = 3): Promise<ModalityTiming> {
  tok.eval();
  const prep: number[] = [], fwd: number[] = [];
  let tokens = 0;
  for (let i = 0; i < runs + 1; i++) {
    let t = performance.now();
    const x = tok.prepare(raw);
    const p = performance.now() - t;
    t = performance.now();
    const seq: TokenSequence = tok.forward(x);
    await realize([seq.tokens, ...(seq.perBlockPos ? [seq.perBlockPos] : [])] as Tensor[]);
    const f = performance.now() - t;
    tokens = seq.tokens.shape[1]!;
    if (i > 0) { prep.push(p); fwd.push(f); } // the first call compiles
  }
  tok.dispose();
  return { modality, batch: raw.length, input, tokens, prepareMs: median(prep), tokenizeMs: median(fwd) };
}

function ring(n: number): GraphRaw {
  const edges: [number, number][] = [];
  for (let i = 0; i < n; i++) { edges.push([i, (i + 1) % n]); edges.push([(i + 1) % n, i]); }
  return { numNodes: n, edges, nodeFeatures: Array.from({ length: n }, (_, i) => Array.from({ length: 9 }, (_, j) => (i + j) % 7)), edgeFeatures: edges.map((_, i) => [i % 3, 0, 1]) };
}

export async function tokenizationThroughput(): Promise<ModalityTiming[]> {
  const g = new Generator(11);
  const out: ModalityTiming[] = [];
  const B = 8;
  out.push(await measure('image', '8 × 3×224×224', new ImageTokenizer({ dim: D, patchSize: 16, imageSize: 224, generator: g }),
    Array.from({ length: B }, () => g.uniformData(3 * 224 * 224))));
  out.push(await measure('xray', '8 × 1×224×224 (grey)', new ImageTokenizer({ dim: D, patchSize: 16, imageSize: 224, channels: 1, kernelChannels: 3, modality: 'xray', generator: g }),
    Array.from({ length: B }, () => g.uniformData(224 * 224))));
  out.push(await measure('hyperspectral', '8 pixels × 200 bands', new HyperspectralTokenizer({ dim: D, bands: 200, generator: g }),
    Array.from({ length: B }, () => g.uniformData(200))));
  out.push(await measure('video', '2 × 3×16×224×224', new VideoTokenizer({ dim: D, generator: g }),
    Array.from({ length: 2 }, () => g.uniformData(3 * 16 * 224 * 224))));
  out.push(await measure('audio', '8 × 2.25 s at 16 kHz (fbank 128)', new AudioTokenizer({ dim: D, generator: g }),
    Array.from({ length: B }, () => ({ samples: g.normalData(36000, 0, 0.1), sampleRate: 16000 }))));
  // 8192 points give 2048 groups of 32: the mini-PointNet's 512-channel activations are 1 GB per cloud at
  // batch 8, so the large case runs at batch 2
  for (const [points, batch] of [[1024, B], [8192, 2]] as const) {
    out.push(await measure('point-cloud', `${batch} × ${points} points (FPS + kNN 32)`, new PointCloudTokenizer({ dim: D, generator: g }),
      Array.from({ length: batch }, () => g.normalData(points * 3))));
  }
  out.push(await measure('time-series', '8 × 96 steps × 7 channels', new TimeSeriesTokenizer({ dim: D, channels: 7, embed: 'none', generator: g }),
    Array.from({ length: B }, () => Array.from({ length: 96 }, () => Array.from(g.normalData(7))))));
  const rows = Array.from({ length: 128 }, (_, i) => ({ colour: ['red', 'green', 'blue'][i % 3]!, size: String(i % 5), age: (20 + (i % 50)).toString(), income: (1000 * (i % 17)).toString(), label: String(i % 2) }));
  out.push(await measure('tabular', '128 rows × 4 columns', TabularTokenizer.fit(rows, { dim: D, target: 'label', generator: g }), rows));
  out.push(await measure('graph', '8 graphs × 30 nodes, 60 edges (Laplacian k 16)', new GraphTokenizer({ dim: D, generator: g }),
    Array.from({ length: B }, () => ring(30))));
  const sentences = Array.from({ length: B }, (_, i) => `a photo of ${i} cats sitting on a sunny windowsill, looking at the birds outside`);
  out.push(await measure('text', '8 sentences (CLIP BPE, context 77)', new TextTokenizer({ dim: D, generator: g }), sentences));
  return out;
}
