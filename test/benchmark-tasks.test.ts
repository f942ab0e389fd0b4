import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runSuite, toMarkdown, writeResults } from '../src/benchmark/suite.js';
import { DEFAULT_TASKS, SHAPES, aptLine, generateShape, missingRequirements, type BenchTask } from '../src/benchmark/datasets.js';
import { Generator } from '../src/engine/functional/random.js';
import { main } from '../src/cli/main.js';

const quiet = { log: () => {} };

/** A tiny tabular task: class = sign of x0 + x1, with a noise column. */
const tinyTabular: BenchTask = {
  name: 'tiny-tabular', description: 'synthetic', requires: [],
  async load() {
    const g = new Generator(5);
    const mk = (i: number) => {
      const a = g.next() * 2 - 1, b = g.next() * 2 - 1, c = g.next();
      return { input: [a.toFixed(3), b.toFixed(3), c.toFixed(3)], name: `row ${i}`, label: a + b > 0 ? 'pos' : 'neg' };
    };
    const all = Array.from({ length: 60 }, (_, i) => mk(i));
    return {
      kind: 'classification', modality: 'tabular', classes: ['neg', 'pos'], header: ['a', 'b', 'c'],
      train: all.slice(0, 40), val: all.slice(40, 50), test: all.slice(50),
      features: (s) => (s.input as string[]).map(Number), featureNote: '3 columns', tokenizerOptions: { numeric: ['a', 'b', 'c'] },
      recipe: { epochs: 2, batchSize: 20 }, note: '60 synthetic rows',
    };
  },
};

/** A tiny forecasting task on an exactly 24-periodic series. */
const tinySeries: BenchTask = {
  name: 'tiny-series', description: 'synthetic daily cycle', requires: [],
  async load() {
    const series = Float32Array.from({ length: 400 }, (_, i) => 10 + 5 * Math.sin((2 * Math.PI * i) / 24));
    return {
      kind: 'forecasting', modality: 'time-series', series, unit: 'u', seqLen: 48, predLen: 24, season: 24,
      windows: { train: [0, 24, 48, 72, 96, 120, 144, 168], val: [200, 224], test: [280, 304, 328] },
      recipe: { epochs: 1, batchSize: 8 }, note: 'synthetic',
    };
  },
};

const missingPkg: BenchTask = {
  name: 'needs-package', description: 'needs files that are not installed',
  requires: [{ package: 'dataset-not-installed', paths: ['/nonexistent/omniformer-benchmark/data.csv'] }, { package: 'sox', paths: [process.execPath] }],
  async load() { throw new Error('must not be loaded'); },
};

test('requirements: missing files are detected and turned into an apt-get install line', () => {
  const m = missingRequirements(missingPkg.requires);
  assert.deepEqual(m.map((r) => r.package), ['dataset-not-installed']);
  assert.equal(aptLine(m), 'apt-get install -y dataset-not-installed');
  assert.equal(aptLine([...m, ...m]), 'apt-get install -y dataset-not-installed');
  for (const t of DEFAULT_TASKS) for (const r of t.requires) for (const p of r.paths) assert.ok(p.startsWith('/'), `${t.name}: ${p} is absolute`);
});

test('runSuite on a tiny task list: baselines, frozen and unfrozen rows, a skipped task with its install line', async () => {
  const out = mkdtempSync(join(tmpdir(), 'omni-bench-'));
  const logs: string[] = [];
  const r = await runSuite([missingPkg, tinyTabular, tinySeries], { quick: true, cacheDir: join(out, 'cache'), log: (m) => logs.push(m) });
  assert.equal(r.tasks.length, 3);
  const [skip, tab, ser] = r.tasks as [typeof r.tasks[0], typeof r.tasks[0], typeof r.tasks[0]];
  assert.equal(skip.status, 'skipped');
  assert.equal(skip.install, 'apt-get install -y dataset-not-installed');
  assert.ok(logs.some((l) => l.includes('needs-package: skipped') && l.includes('apt-get install -y dataset-not-installed')));

  assert.equal(tab.status, 'ok', tab.reason);
  const methods = tab.rows.map((x) => x.method);
  assert.equal(methods.length, 4);
  assert.match(methods[0]!, /^logistic regression/);
  assert.match(methods[1]!, /^nearest class mean/);
  assert.match(methods[2]!, /encoder frozen$/);
  assert.match(methods[3]!, /encoder unfrozen$/);
  for (const row of tab.rows) {
    assert.ok(row.metrics.accuracy! >= 0 && row.metrics.accuracy! <= 1);
    assert.ok(row.seconds >= 0);
  }
  // the sign of a + b is linear in the raw features: logistic regression gets the 10 test rows right
  assert.equal(tab.rows[0]!.metrics.accuracy, 1);
  assert.equal(tab.rows[0]!.trainableParams, 2 * 3 + 2);
  assert.equal(tab.rows[1]!.trainableParams, 2 * 3);
  assert.ok(tab.rows[2]!.trainableParams < tab.rows[3]!.trainableParams, 'unfreezing adds the encoder parameters');

  assert.equal(ser.status, 'ok', ser.reason);
  const byMethod = Object.fromEntries(ser.rows.map((x) => [x.method, x]));
  assert.equal(byMethod['seasonal naive (24 h)']!.metrics.mse, 0);
  assert.ok(byMethod['last value']!.metrics.mae! > 1);
  assert.equal(byMethod['last value']!.trainableParams, 0);
  assert.ok(Number.isFinite(byMethod['omniformer tiny, encoder frozen']!.metrics.mse));

  const md = toMarkdown(r);
  assert.match(md, /\| task \| method \| test metric \| trainable params \| wall time \(s\) \| settings \|/);
  // the omniformer rows say how they were trained; the confusion matrices count every test row once
  assert.match(tab.rows[2]!.settings!, /^\d+ ep, batch \d+, lr [\d.e-]+, wd [\d.e-]+, \w+ pool/);
  assert.deepEqual(tab.classes, ['neg', 'pos']);
  for (const row of [tab.rows[0]!, tab.rows[2]!, tab.rows[3]!]) {
    const m = row.confusion!;
    assert.equal(m.length, tab.classes!.length);
    const total = m.flat().reduce((a, b) => a + b, 0), correct = m.reduce((a, r, i) => a + r[i]!, 0);
    assert.equal(total, 10, `${row.method}: confusion matrix over the 10 test rows`);
    assert.ok(Math.abs(correct / total - row.metrics.accuracy!) < 1e-9, `${row.method}: diagonal / total = accuracy`);
  }
  assert.match(md, /\| tiny-tabular \| logistic regression \(3 columns, standardised\) \| accuracy 100\.0% \| 8 \|/);
  assert.match(md, /needs-package: missing dataset-not-installed .*install with `apt-get install -y dataset-not-installed`/);
  const paths = await writeResults(r, out);
  assert.ok(existsSync(paths.markdown));
  const html = readFileSync(paths.html, 'utf8');
  assert.match(html, /<table class="results">/);
  assert.match(html, /<td>tiny-tabular<\/td><td>nearest class mean \(3 columns, standardised\)<\/td>/);
  assert.ok((html.match(/<svg/g) ?? []).length >= 7, 'learning curves of the two trained tasks and three confusion matrices');
  assert.equal((html.match(/class="chart confusion"/g) ?? []).length, 3, 'confusion matrices: logistic regression, frozen, unfrozen');
  assert.match(html, /needs-package: skipped, missing dataset-not-installed.*apt-get install -y dataset-not-installed/);
  const j = JSON.parse(readFileSync(paths.json, 'utf8'));
  assert.equal(j.tasks[1].rows.length, 4);
});

test('a task that throws is recorded as failed with its message, and the suite goes on', async () => {
  const broken: BenchTask = { name: 'broken', description: 'x', requires: [], async load() { throw new Error('bad file /x/y.csv: line 3'); } };
  const r = await runSuite([broken, tinyTabular], { quick: true, cacheDir: tmpdir(), methods: ['ncm'], ...quiet });
  assert.equal(r.tasks[0]!.status, 'failed');
  assert.match(r.tasks[0]!.reason!, /bad file \/x\/y\.csv: line 3/);
  assert.equal(r.tasks[1]!.status, 'ok');
  assert.deepEqual(r.tasks[1]!.rows.map((x) => x.method), ['nearest class mean (3 columns, standardised)']);
  assert.match(toMarkdown(r), /Failed:\n- broken: bad file/);
});

test('point-cloud generator: >= 8 shapes, finite points, pose/scale vary with the seed', () => {
  assert.ok(SHAPES.length >= 8);
  const g = new Generator(1);
  for (const s of SHAPES) {
    const p = generateShape(s, 64, g);
    assert.equal(p.length, 64 * 3);
    assert.ok(p.every(Number.isFinite), s);
  }
  const a = generateShape('cube', 32, new Generator(1)), b = generateShape('cube', 32, new Generator(2));
  assert.notDeepEqual(Array.from(a), Array.from(b));
  assert.deepEqual(Array.from(generateShape('torus', 16, new Generator(3))), Array.from(generateShape('torus', 16, new Generator(3))));
  assert.throws(() => generateShape('blob', 4, g), /unknown shape 'blob'/);
});

test('CLI: benchmark-tasks --help and an unknown task name', async () => {
  const lines: string[] = [];
  const orig = console.log, origErr = console.error;
  console.log = (s: string) => lines.push(s);
  console.error = (s: string) => lines.push(s);
  try {
    assert.equal(await main(['benchmark-tasks', '--help']), 0);
    assert.match(lines.join('\n'), /Usage: omniformer benchmark-tasks \[--quick\] \[--out DIR\] \[--json\]/);
    assert.match(lines.join('\n'), /apt-get install line/);
    lines.length = 0;
    assert.equal(await main(['benchmark-tasks', '--tasks', 'nope']), 2);
    assert.match(lines.join('\n'), /--tasks: unknown task\(s\) nope \(valid: fashion-mnist, digits/);
  } finally {
    console.log = orig;
    console.error = origErr;
  }
});
