// A tiny classification run for the Trainer tests, shared by the test process and a child process that the
// tests kill mid-training (run this file with a checkpoint folder as argument).
//   model: frozen Linear(4, 4) -> Linear(4, 16, no bias) -> BatchNorm1d -> ReLU -> Dropout(0.3) -> Linear(16, 3)
//   data : three Gaussian blobs in 4-D (seeded), 96 train / 24 val / 24 test samples.
import { fileURLToPath } from 'node:url';
import { Generator } from '../../src/engine/functional/random.js';
import { crossEntropy } from '../../src/engine/functional/losses.js';
import { Tensor } from '../../src/engine/tensor.js';
import { Module } from '../../src/nn/module.js';
import { Linear } from '../../src/nn/linear.js';
import { BatchNorm1d } from '../../src/nn/norm.js';
import { Dropout } from '../../src/nn/dropout.js';
import { Trainer, splitDataset, type TrainerOptions, type TrainerTask, type TaskBatchOutput } from '../../src/train/trainer.js';

export interface ToySample { x: Float32Array; y: number }

export class ToyNet extends Module {
  frozen: Linear;
  fc1: Linear;
  bn: BatchNorm1d;
  drop: Dropout;
  fc2: Linear;
  constructor(g: Generator) {
    super();
    this.frozen = new Linear(4, 4, { generator: g });
    this.frozen.freeze();
    this.fc1 = new Linear(4, 16, { bias: false, generator: g });
    this.bn = new BatchNorm1d(16);
    this.drop = new Dropout(0.3, { generator: g });
    this.fc2 = new Linear(16, 3, { generator: g });
  }
  forward(x: Tensor): Tensor { return this.fc2.forward(this.drop.forward(this.bn.forward(this.fc1.forward(this.frozen.forward(x))).relu())); }
}

export function toyData(seed = 7, n = 144): ToySample[] {
  const g = new Generator(seed);
  const centres = [[2, 0, 0, -1], [-1, 2, 0, 1], [0, -2, 1.5, 0]];
  return Array.from({ length: n }, (_, i) => {
    const y = i % 3;
    const noise = g.normalData(4, 0, 1.2);
    return { x: Float32Array.from(centres[y]!, (c, k) => c + noise[k]!), y };
  });
}

export class ToyTask implements TrainerTask<ToySample> {
  readonly kind = 'classification' as const;
  readonly numClasses = 3;
  constructor(readonly model: ToyNet, readonly labelSmoothing = 0.1) {}
  forward(batch: readonly ToySample[]): TaskBatchOutput {
    const x = new Tensor([batch.length, 4], 'float32', Float32Array.from(batch.flatMap((s) => Array.from(s.x))));
    const y = new Tensor([batch.length], 'int64', BigInt64Array.from(batch, (s) => BigInt(s.y)));
    const output = this.model.forward(x);
    return { output, loss: crossEntropy(output, y, { labelSmoothing: this.labelSmoothing }) };
  }
  targets(batch: readonly ToySample[]): number[] { return batch.map((s) => s.y); }
}

export function toySplits(): { train: ToySample[]; val: ToySample[]; test: ToySample[] } {
  const data = toyData();
  const s = splitDataset(data.length, { val: 1 / 6, test: 1 / 6, seed: 3, stratify: data.map((d) => d.y) });
  return { train: s.train.map((i) => data[i]!), val: s.val.map((i) => data[i]!), test: s.test.map((i) => data[i]!) };
}

/** A fresh model + trainer (model init seeded by `seed`). */
export function toyTrainer(opts: Partial<TrainerOptions> = {}, seed = 11): { trainer: Trainer<ToySample>; model: ToyNet; generator: Generator } {
  const g = new Generator(seed);
  const model = new ToyNet(g);
  const task = new ToyTask(model);
  const trainer = new Trainer(task, {
    epochs: 8, batchSize: 16, lr: 0.02, weightDecay: 0.01, warmupEpochs: 1, minLr: 1e-4, seed: 5, clipGradNorm: 5,
    generators: { model: g }, progress: { mode: 'silent' }, ...opts,
  });
  return { trainer, model, generator: g };
}

// Child mode (`node toy-trainer.js --child DIR`): train with checkpoints in DIR, slowly, until killed. Without
// the flag (e.g. when the test runner loads this file) nothing runs.
if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === '--child' && process.argv[3]) {
  const dir = process.argv[3];
  const { trainer } = toyTrainer({
    checkpointDir: dir,
    hooks: { afterStep: () => new Promise((r) => setTimeout(r, 15)) },
  });
  const s = toySplits();
  await trainer.run(s);
  process.stdout.write('finished\n');
}
