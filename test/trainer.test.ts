import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { splitDataset, CHECKPOINT_FILE, BEST_FILE, type TrainReport } from '../src/train/trainer.js';
import { readCheckpoint, loadWeights, frozenChecksum, CheckpointError } from '../src/train/checkpoint.js';
import { ProgressBar, formatDuration, resolveProgressMode } from '../src/train/progress.js';
import { recipeFor, RECIPES } from '../src/train/recipes.js';
import { toySplits, toyTrainer, ToyNet } from './helpers/toy-trainer.js';
import { Generator } from '../src/engine/functional/random.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'trainer-'));

/** The parts of a report that must be reproducible (timings excluded). */
function deterministic(r: TrainReport): unknown {
  return {
    history: r.history.map((e) => ({ epoch: e.epoch, trainLoss: e.trainLoss, losses: e.losses, lr: e.lr, val: e.val })),
    best: r.best, steps: r.steps, epochs: r.epochs, stoppedEarly: r.stoppedEarly, metrics: r.metrics,
  };
}

let reference: TrainReport | null = null;
async function uninterrupted(): Promise<TrainReport> {
  if (!reference) reference = await toyTrainer().trainer.run(toySplits());
  return reference;
}

test('splitDataset: seeded, disjoint, stratified with exact totals; chronological keeps order', () => {
  const labels = Array.from({ length: 50 }, (_, i) => (i < 30 ? 0 : i < 45 ? 1 : 2)); // 30 / 15 / 5
  const s = splitDataset(50, { val: 0.2, test: 0.2, seed: 1, stratify: labels });
  assert.equal(s.val.length, 10);
  assert.equal(s.test.length, 10);
  assert.equal(s.train.length, 30);
  assert.deepEqual([...s.train, ...s.val, ...s.test].sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i));
  const count = (idx: number[], c: number): number => idx.filter((i) => labels[i] === c).length;
  assert.deepEqual([count(s.val, 0), count(s.val, 1), count(s.val, 2)], [6, 3, 1]);
  assert.deepEqual([count(s.test, 0), count(s.test, 1), count(s.test, 2)], [6, 3, 1]);
  assert.deepEqual(splitDataset(50, { val: 0.2, test: 0.2, seed: 1, stratify: labels }), s, 'same seed, same split');
  assert.notDeepEqual(splitDataset(50, { val: 0.2, test: 0.2, seed: 2, stratify: labels }), s);
  const r = splitDataset(10, { val: 0.2, test: 0.1, seed: 4 });
  assert.deepEqual([r.train.length, r.val.length, r.test.length], [7, 2, 1]);
  assert.deepEqual(splitDataset(10, { val: 0.2, test: 0.2, chronological: true }), { train: [0, 1, 2, 3, 4, 5], val: [6, 7], test: [8, 9] });
  assert.throws(() => splitDataset(2, { val: 0.5, test: 0.5 }), /leave no training samples/);
});

test('training lowers the loss and ends well above chance; report has val/test metrics', async () => {
  const r = await uninterrupted();
  assert.equal(r.epochs, 8);
  assert.equal(r.steps, 8 * 6); // 96 training samples / 16
  assert.ok(r.history[7]!.trainLoss < r.history[0]!.trainLoss * 0.8, `loss ${r.history[0]!.trainLoss} -> ${r.history[7]!.trainLoss}`);
  assert.ok(r.metrics.test!.accuracy! > 0.7, `test accuracy ${r.metrics.test!.accuracy}`);
  assert.ok(r.metrics.val!.accuracy! > 0.7);
  assert.deepEqual(Object.keys(r.metrics.test!).sort(), ['accuracy', 'loss', 'macroF1']);
  assert.ok(r.best && r.best.metric === 'accuracy' && r.best.epoch >= 1);
  // the final val metrics are those of the best epoch (its weights were restored)
  assert.equal(r.metrics.val!.accuracy, r.best!.value);
  for (const e of r.history) assert.equal(e.losses.length, 6);
});

test('early stopping triggers after `patience` epochs without improvement', async () => {
  // lr 0: the weights never change, so the validation loss never improves after epoch 1
  const { trainer } = toyTrainer({ lr: 0, epochs: 10, patience: 2, monitor: 'loss', schedule: 'constant' });
  const r = await trainer.run(toySplits());
  assert.equal(r.stoppedEarly, true);
  assert.equal(r.epochs, 3);
  assert.equal(r.best!.epoch, 1);
});

test('the best epoch\'s weights are restored for the final evaluation', async () => {
  // minDelta 2: only the first epoch counts as an improvement, so epoch 1 stays the best
  const { trainer } = toyTrainer({ epochs: 3, monitor: 'loss', minDelta: 2 });
  const r = await trainer.run(toySplits());
  assert.equal(r.best!.epoch, 1);
  assert.notEqual(r.history[2]!.val!.loss, r.history[0]!.val!.loss);
  assert.deepEqual(r.metrics.val, r.history[0]!.val);
});

test('checkpoints every epoch; a crash between epochs leaves a valid checkpoint and resume reproduces the run exactly', async () => {
  const ref = await uninterrupted();
  const dir = tmp();
  try {
    const crash = new Error('simulated crash');
    const { trainer } = toyTrainer({ checkpointDir: dir, hooks: { afterEpoch: (rec) => { if (rec.epoch === 3) throw crash; } } });
    await assert.rejects(trainer.run(toySplits()), (e) => e === crash);
    assert.deepEqual(readdirSync(dir).sort(), [BEST_FILE, CHECKPOINT_FILE], 'only complete files, no temp files');
    const ck = await readCheckpoint<{ epoch: number; step: number }>(join(dir, CHECKPOINT_FILE));
    assert.equal(ck.state.epoch, 3);
    assert.equal(ck.state.step, 18);
    // frozen weights are not stored, trainable ones and the batch-norm statistics are; AdamW moments too
    const keys = [...ck.tensors.keys()];
    assert.ok(!keys.some((k) => k.startsWith('model.frozen.')));
    for (const k of ['model.fc1.weight', 'model.bn.running_mean', 'model.fc2.bias']) assert.ok(keys.includes(k), k);
    assert.ok(keys.some((k) => /^optimizer\.\d+\.exp_avg_sq$/.test(k)));

    // a fresh process-equivalent: new model (same seed), new trainer, resume
    const resumed = await toyTrainer({ checkpointDir: dir, resume: true }).trainer.run(toySplits());
    assert.equal(resumed.resumedFrom, 3);
    assert.deepEqual(deterministic(resumed), deterministic(ref), 'resumed run == uninterrupted run (losses, metrics, best epoch)');

    // resuming a finished run only re-evaluates
    const again = await toyTrainer({ checkpointDir: dir, resume: true }).trainer.run(toySplits());
    assert.deepEqual(deterministic(again), deterministic(ref));

    // changed settings are refused, naming what changed
    await assert.rejects(toyTrainer({ checkpointDir: dir, resume: true, batchSize: 8 }).trainer.run(toySplits()),
      (e: Error) => e instanceof CheckpointError && /batchSize: checkpoint 16, now 8/.test(e.message));
    // different frozen weights (another init seed) are refused
    await assert.rejects(toyTrainer({ checkpointDir: dir, resume: true }, 12).trainer.run(toySplits()), /frozen weights differ/);
    // best.safetensors loads into a fresh model
    const m = new ToyNet(new Generator(11));
    const info = await loadWeights(join(dir, BEST_FILE), m);
    assert.equal(info.epoch, ref.best!.epoch);
    assert.equal(frozenChecksum(m), frozenChecksum(new ToyNet(new Generator(11))));
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('a training process killed at a random moment leaves a complete checkpoint; resume matches the uninterrupted run', async () => {
  const ref = await uninterrupted();
  const dir = tmp();
  try {
    const script = fileURLToPath(new URL('./helpers/toy-trainer.js', import.meta.url));
    const child = spawn(process.execPath, [script, '--child', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += String(d); });
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    // wait for the checkpoint of epoch >= 2, then kill without warning
    const t0 = Date.now();
    for (;;) {
      const p = join(dir, CHECKPOINT_FILE);
      if (existsSync(p)) {
        try { if ((await readCheckpoint<{ epoch: number }>(p)).state.epoch >= 2) break; } catch { /* being replaced: retry */ }
      }
      if (Date.now() - t0 > 60_000) { child.kill('SIGKILL'); assert.fail(`child made no checkpoint in 60 s: ${stderr}`); }
      await new Promise((r) => setTimeout(r, 5));
    }
    child.kill('SIGKILL');
    await exited;
    const ck = await readCheckpoint<{ epoch: number }>(join(dir, CHECKPOINT_FILE)); // parses completely
    assert.ok(ck.state.epoch >= 2 && ck.state.epoch < 8, `killed after epoch ${ck.state.epoch}`);
    // a temp file of an interrupted write (as a kill during saving leaves) is cleaned up on resume
    writeFileSync(join(dir, `.${CHECKPOINT_FILE}.999999.abcdef012345.tmp`), 'partial');
    const resumed = await toyTrainer({ checkpointDir: dir, resume: true }).trainer.run(toySplits());
    assert.equal(resumed.resumedFrom, ck.state.epoch);
    assert.deepEqual(deterministic(resumed), deterministic(ref));
    assert.ok(!readdirSync(dir).some((f) => f.endsWith('.tmp')), 'stale temp files removed');
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('progress: TTY line with loss, throughput and ETA; plain lines throttled; silent prints nothing', () => {
  const out: string[] = [];
  const stream = { isTTY: true, columns: 200, write: (s: string) => { out.push(s); return true; } } as never;
  let now = 0;
  const bar = new ProgressBar({ mode: 'auto', stream, env: {}, now: () => now });
  assert.equal(bar.mode, 'tty');
  bar.startEpoch(1, 2);
  now = 2000;
  bar.step({ step: 5, steps: 10, samples: 80, loss: 0.5, lr: 1e-3 });
  assert.match(out.at(-1)!, /^\r\x1b\[2Kepoch 1\/2 \[=========> {10}\] 5\/10 loss 0\.5000 lr 1\.000e-3 40\.0 samples\/s ETA 0:06$/);
  bar.endEpoch('loss 0.4');
  assert.match(out.at(-1)!, /^epoch 1\/2 loss 0\.4 \(0:02, ETA 0:02\)\n$/);
  assert.equal(resolveProgressMode('auto', { isTTY: true }, { CI: 'true' }), 'plain');
  assert.equal(resolveProgressMode('auto', { isTTY: false }, {}), 'plain');
  const lines: string[] = [];
  now = 0;
  const plain = new ProgressBar({ mode: 'plain', intervalMs: 1000, stream: { write: (s: string) => { lines.push(s); return true; } } as never, now: () => now });
  plain.startEpoch(1, 1);
  for (let s = 1; s <= 10; s++) { now = s * 300; plain.step({ step: s, steps: 10, samples: s, loss: 1 }); }
  assert.equal(lines.length, 2, 'at most one line per second (at 1.2 s and 2.4 s)');
  const silent: string[] = [];
  const quiet = new ProgressBar({ mode: 'silent', stream: { write: (s: string) => { silent.push(s); return true; } } as never });
  quiet.startEpoch(1, 1); quiet.step({ step: 1, steps: 1, samples: 1, loss: 1 }); quiet.endEpoch('x'); quiet.log('y');
  assert.equal(silent.length, 0);
  assert.equal(formatDuration(3725), '1:02:05');
});

test('recipes: the spec values per modality, task adjustments', () => {
  const pc = recipeFor('point-cloud');
  assert.equal(pc.labelSmoothing, 0.2);
  assert.equal(pc.clipGradNorm, 1);
  assert.equal(pc.weightDecay, 0.05);
  assert.deepEqual(pc.head, { pool: 'concat', norm: false, hidden: [256, 256], dropout: 0.5 });
  assert.equal(recipeFor('video').labelSmoothing, 0.1);
  assert.deepEqual(recipeFor('audio').betas, [0.95, 0.999]);
  assert.equal(recipeFor('graph', 'regression').regressionLoss, 'l1');
  const ts = recipeFor('time-series', 'forecasting');
  assert.equal(ts.patience, 3);
  assert.equal(ts.monitor, 'loss');
  assert.equal(recipeFor('tabular').monitor, 'loss');
  assert.equal(recipeFor('image', 'classification', { lr: 0.1 }).lr, 0.1);
  for (const m of ['text', 'image', 'infrared', 'xray', 'hyperspectral', 'video', 'audio', 'point-cloud', 'time-series', 'imu', 'tabular', 'graph']) assert.ok(RECIPES[m], m);
  assert.throws(() => recipeFor('smell'), /no training recipe for modality 'smell'/);
});
