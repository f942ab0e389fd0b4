// The benchmark suite's HTML report: the results table and, per task, learning curves of the omniformer runs
// (training loss and the validation metric per epoch, frozen vs unfrozen encoder), drawn as inline SVG with the
// demo report's chart code (src/demo/report.ts). No scripts or external resources: it opens offline.
import { confusionSvg, esc, lineChartSvg, type Series, htmlHead } from '../demo/report.js';
import type { SuiteResult } from './suite.js';

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728'];

function metricText(k: string, v: number): string {
  if (!Number.isFinite(v)) return String(v);
  return k === 'accuracy' || k === 'macroF1' ? `${(v * 100).toFixed(1)}%` : v.toFixed(3);
}

export function benchmarkReportHtml(r: SuiteResult): string {
  const head = ['task', 'method', 'test metric', 'trainable params', 'wall time (s)', 'settings'];
  const body = r.tasks.flatMap((t) => t.rows.map((row) => [row.task, row.method,
    Object.entries(row.metrics).filter(([k]) => k !== 'macroF1').map(([k, v]) => `${k} ${metricText(k, v)}`).join(', '),
    row.trainableParams.toLocaleString('en-US'), row.seconds.toFixed(1), row.settings ?? '']));
  const table = `<table class="results"><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${body.map((c) => `<tr>${c.map((x) => `<td>${esc(x)}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
  const sections = r.tasks.filter((t) => t.status === 'ok').map((t) => {
    const runs = t.rows.filter((row) => row.history?.length);
    const charts: string[] = [];
    if (runs.length) {
      const loss: Series[] = runs.map((row, i) => ({ name: row.method.replace(/^omniformer \S+, /, ''), color: COLORS[i % COLORS.length]!, points: row.history!.map((h) => [h.epoch, h.trainLoss]) }));
      charts.push(lineChartSvg(`${t.task}: training loss`, 'epoch', 'loss', loss));
      const vm = runs[0]!.history!.some((h) => h.val?.accuracy !== undefined) ? 'accuracy' : 'loss';
      const val: Series[] = runs.map((row, i) => ({ name: row.method.replace(/^omniformer \S+, /, ''), color: COLORS[i % COLORS.length]!, points: row.history!.map((h) => [h.epoch, h.val?.[vm] ?? NaN]) }));
      charts.push(lineChartSvg(`${t.task}: validation ${vm}`, 'epoch', vm, val));
    }
    // test confusion matrices of the omniformer runs and the logistic-regression baseline
    if (t.classes) for (const row of t.rows) if (row.confusion) charts.push(confusionSvg(`${t.task}: ${row.method}, test confusion`, t.classes, row.confusion));
    return `<section><h2>${esc(t.task)}</h2><p class="note">${esc(t.description)}. ${esc(t.note ?? '')}</p><div class="charts">${charts.join('\n')}</div></section>`;
  });
  const skipped = r.tasks.filter((t) => t.status !== 'ok').map((t) => `<li>${esc(t.task)}: ${esc(t.status)}, ${esc(t.reason ?? '')}${t.install ? `; install with <code>${esc(t.install)}</code>` : ''}</li>`);
  return `${htmlHead('omniformer benchmark-tasks')}
<h1>omniformer benchmark-tasks${r.quick ? ' (quick)' : ''}</h1>
<p class="note">${esc(r.date)}; ${esc(r.machine)}; encoder ${esc(r.encoder)}, randomly initialised (no pretrained weights), so the frozen-encoder rows
show what a frozen random encoder gets; baselines are computed in the same run on the same splits; total ${esc(r.seconds.toFixed(0))} s.</p>
<h2>Results</h2>
${table}
${skipped.length ? `<h2>Skipped or failed</h2><ul>${skipped.join('')}</ul>` : ''}
${sections.join('\n')}
</body></html>
`;
}
