// The demo (`npm start` = `omniformer demo`): its code path on tiny subsets (--quick) and the HTML report.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runDemo, defaultDemoData, formatResultsTable, type DemoResult } from '../src/demo/run.js';
import { confusionSvg, esc, lineChartSvg } from '../src/demo/report.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
let dir: string;
let res: DemoResult;
const lines: string[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'omni-demo-'));
  res = await runDemo({ out: dir, quick: true, only: ['tabular', 'image', 'time-series'], progress: 'silent', log: (l) => lines.push(l) });
});
after(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

test('the bundled demo data is under 10 MB and documented', () => {
  const data = defaultDemoData();
  let total = 0;
  const walk = (d: string): void => {
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p); else total += statSync(p).size;
    }
  };
  walk(data);
  assert.ok(total > 1e6 && total < 10e6, `data/demo holds ${total} bytes`);
  const readme = readFileSync(join(data, 'README.md'), 'utf8');
  for (const s of ['fashion-mnist/', 'keywords/', 'wine/', 'seattle-temps/', 'shapes/', 'MIT', 'CC BY 4.0', 'make-demo-data']) assert.ok(readme.includes(s), `README mentions ${s}`);
});

test('quick demo: trains each task with the encoder frozen and reports consistent test results', () => {
  assert.deepEqual(res.tasks.map((t) => t.name), ['tabular', 'image', 'time-series']);
  for (const t of res.tasks) {
    assert.ok(Number.isFinite(t.value), `${t.name}: ${t.metric} ${t.value}`);
    assert.ok(t.trainableParams > 0 && t.trainableParams < t.totalParams, `${t.name}: frozen encoder => trainable < total`);
    // the tiny encoder (D 64, 4 blocks) is ~200k parameters, all frozen
    assert.ok(t.totalParams - t.trainableParams >= 190_000, `${t.name}: ${t.totalParams - t.trainableParams} frozen`);
    assert.equal(t.history.length, 1);
    assert.ok(t.seconds > 0);
  }
  for (const t of res.tasks.filter((x) => x.task === 'classification')) {
    const C = t.classes!.length;
    const m = t.confusion!;
    assert.equal(m.length, C);
    const total = m.flat().reduce((a, b) => a + b, 0);
    const diag = m.reduce((a, r, i) => a + r[i]!, 0);
    assert.equal(total, t.samples.test, `${t.name}: confusion matrix counts every test sample`);
    assert.ok(Math.abs(diag / total - t.value) < 1e-9, `${t.name}: accuracy ${t.value} = trace / total ${diag / total}`);
    // best-constant baseline = largest row sum / total
    assert.ok(Math.abs(t.baseline.value - Math.max(...m.map((r) => r.reduce((a, b) => a + b, 0))) / total) < 1e-9);
  }
  const img = res.tasks.find((t) => t.name === 'image')!;
  assert.equal(img.classes!.length, 10);
  assert.equal(img.classes![9], 'Ankle boot');
  assert.equal(img.samples.test, 20); // --quick: 2 test images per class
  const tab = res.tasks.find((t) => t.name === 'tabular')!;
  assert.deepEqual(tab.classes, ['class_0', 'class_1', 'class_2']);
  assert.equal(tab.samples.test, 45);
  const ts = res.tasks.find((t) => t.name === 'time-series')!;
  assert.equal(ts.metric, 'mse');
  assert.ok(ts.metrics.mae! > 0 && ts.value > 0);
  assert.equal(ts.baseline.name, 'last value');
  assert.ok(ts.baseline.value > 0 && Number.isFinite(ts.baseline.value));
  // the printed table and the report location
  const out = lines.join('\n');
  assert.match(out, /modality\s+dataset\s+task\s+metric\s+value/);
  assert.ok(out.includes(`Report: ${res.report}`));
  assert.equal(formatResultsTable(res.tasks).split('\n').length, 2 + res.tasks.length);
  assert.ok(!existsSync(join(dir, 'work')), 'the work folder is removed');
  assert.ok(existsSync(join(dir, 'runs', 'image', 'config.json')), 'each task leaves a run folder usable by omniformer eval/predict');
  const json = JSON.parse(readFileSync(res.json, 'utf8')) as { tasks: unknown[]; quick: boolean };
  assert.equal(json.tasks.length, 3);
  assert.equal(json.quick, true);
});

test('the HTML report renders offline: SVG charts and the results table', () => {
  const html = readFileSync(res.report, 'utf8');
  assert.ok(html.startsWith('<!DOCTYPE html>'));
  assert.ok(!/<script/i.test(html), 'no scripts');
  assert.ok(!/\b(?:src|href)\s*=/i.test(html), 'no external resources');
  assert.ok(!/url\(/i.test(html), 'no CSS urls');
  const svgs = html.match(/<svg\b[^>]*>[\s\S]*?<\/svg>/g) ?? [];
  const lineCharts = svgs.filter((s) => s.includes('class="chart line-chart"'));
  const confusions = svgs.filter((s) => s.includes('class="chart confusion"'));
  assert.ok(lineCharts.length >= 2 * res.tasks.length, `${lineCharts.length} learning-curve charts`);
  assert.equal(confusions.length, 2, 'one confusion matrix per classification task');
  for (const s of lineCharts) assert.match(s, /<polyline class="series"[^>]*points="[\d.,\s]+"/);
  // the image confusion matrix has 10 x 10 cells
  const imgCm = confusions.find((s) => s.includes('image: test confusion matrix'))!;
  assert.equal((imgCm.match(/<rect /g) ?? []).length, 100);
  const table = html.match(/<table class="results">([\s\S]*?)<\/table>/);
  assert.ok(table, 'results table present');
  const rows = table[1]!.match(/<tr>/g)!.length;
  assert.equal(rows, 1 + res.tasks.length);
  for (const h of ['modality', 'dataset', 'task', 'value', 'trainable params', 'seconds']) assert.ok(table[1]!.includes(`<th>${h}</th>`), h);
  for (const t of res.tasks) assert.ok(table[1]!.includes(`<td>${esc(t.dataset)}</td>`), t.dataset);
});

test('report pieces: escaping, NaN points skipped, malformed confusion matrix rejected', () => {
  assert.equal(esc('<a href="x">&\''), '&lt;a href=&quot;x&quot;&gt;&amp;&#39;');
  const svg = lineChartSvg('t <x>', 'epoch', 'loss', [{ name: 'a', color: '#000', points: [[1, 2], [2, NaN], [3, 1]] }]);
  assert.ok(svg.includes('t &lt;x&gt;'));
  assert.equal((svg.match(/<circle /g) ?? []).length, 2);
  assert.throws(() => confusionSvg('c', ['a', 'b'], [[1, 2]]), /2x2/);
  const cm = confusionSvg('c', ['a', 'b'], [[3, 1], [0, 4]]);
  assert.equal((cm.match(/<rect /g) ?? []).length, 4);
});

test('omniformer demo --help and a bad task name', () => {
  const help = spawnSync(process.execPath, [join(ROOT, 'bin', 'omniformer.js'), 'demo', '--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0);
  for (const s of ['--out', '--quick', '--only', 'npm start']) assert.ok(help.stdout.includes(s), s);
  const top = spawnSync(process.execPath, [join(ROOT, 'bin', 'omniformer.js'), '--help'], { encoding: 'utf8' });
  assert.match(top.stdout, /\bdemo\b/);
  const bad = spawnSync(process.execPath, [join(ROOT, 'bin', 'omniformer.js'), 'demo', '--quick', '--only', 'smell', '--out', join(dir, 'bad')], { encoding: 'utf8' });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /unknown demo task 'smell' \(valid: image, audio, tabular, time-series, point-cloud\)/);
});

test('package.json: npm start runs the demo', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string>; files: string[] };
  assert.match(pkg.scripts.start!, /omniformer\.js demo/);
});
