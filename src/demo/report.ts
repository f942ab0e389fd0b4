// A self-contained HTML report of the demo's results: a results table, learning curves (training loss and
// the validation metric per epoch) and confusion matrices, drawn as inline SVG. No scripts, no external
// resources: the file opens offline in any browser.
import type { DemoTaskResult } from './run.js';

export interface ReportMeta { date: string; seconds: number; quick: boolean; seed: number; encoder: string; node: string }

/** Escape text for HTML element content and attribute values. */
export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

function num(v: number, digits = 4): string {
  if (!Number.isFinite(v)) return String(v);
  return Math.abs(v) >= 1000 ? v.toFixed(0) : Math.abs(v) >= 100 ? v.toFixed(1) : v.toFixed(digits);
}

/** Round tick values covering [lo, hi]. */
function ticks(lo: number, hi: number, n = 4): number[] {
  if (!(hi > lo)) { const d = Math.abs(lo) * 0.1 || 1; lo -= d; hi += d; }
  const raw = (hi - lo) / n, mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let v = Math.floor(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  if (out[0]! > lo) out.unshift(out[0]! - step);
  return out;
}

export interface Series { name: string; color: string; points: [number, number][] }

/** A line chart (x: epoch) of one or more series, as an SVG element. */
/** Start of a self-contained report page: doctype, title and the shared style sheet (no external resources). */
export function htmlHead(title: string): string {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1300px}
table.results{border-collapse:collapse;font-size:14px}table.results th,table.results td{border:1px solid #ccc;padding:4px 8px;text-align:left}
table.results th{background:#f3f3f3}.charts{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
svg.chart{background:#fff;border:1px solid #e4e4e4}svg.chart text{font-size:11px;fill:#333}svg.chart text.t{font-size:13px;font-weight:600}
svg.chart .grid{stroke:#eee}svg.chart .axis{stroke:#888}.note{color:#555;font-size:14px}
</style></head><body>`;
}

export function lineChartSvg(title: string, xLabel: string, yLabel: string, series: readonly Series[], w = 360, h = 220): string {
  const pad = { l: 52, r: 12, t: 26, b: 38 };
  const pts = series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y));
  const xs = pts.map(([x]) => x), ys = pts.map(([, y]) => y);
  const x0 = Math.min(...xs, 1), x1 = Math.max(...xs, x0 + 1);
  const yt = ticks(Math.min(...ys, Infinity), Math.max(...ys, -Infinity));
  const y0 = yt[0]!, y1 = yt[yt.length - 1]!;
  const X = (x: number): number => pad.l + ((x - x0) / (x1 - x0 || 1)) * (w - pad.l - pad.r);
  const Y = (y: number): number => h - pad.b - ((y - y0) / (y1 - y0 || 1)) * (h - pad.t - pad.b);
  const parts: string[] = [`<svg class="chart line-chart" xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img" aria-label="${esc(title)}">`];
  parts.push(`<title>${esc(title)}</title><text x="${w / 2}" y="16" text-anchor="middle" class="t">${esc(title)}</text>`);
  for (const v of yt) parts.push(`<line x1="${pad.l}" x2="${w - pad.r}" y1="${Y(v).toFixed(1)}" y2="${Y(v).toFixed(1)}" class="grid"/><text x="${pad.l - 4}" y="${(Y(v) + 4).toFixed(1)}" text-anchor="end">${esc(num(v, 3))}</text>`);
  const xt = x1 - x0 <= 10 ? Array.from({ length: x1 - x0 + 1 }, (_, i) => x0 + i) : ticks(x0, x1, 5).filter((v) => v >= x0 && v <= x1);
  for (const v of xt) parts.push(`<text x="${X(v).toFixed(1)}" y="${h - pad.b + 14}" text-anchor="middle">${esc(String(v))}</text>`);
  parts.push(`<line x1="${pad.l}" x2="${w - pad.r}" y1="${h - pad.b}" y2="${h - pad.b}" class="axis"/><line x1="${pad.l}" x2="${pad.l}" y1="${pad.t}" y2="${h - pad.b}" class="axis"/>`);
  parts.push(`<text x="${(pad.l + w - pad.r) / 2}" y="${h - 6}" text-anchor="middle">${esc(xLabel)}</text><text transform="translate(12 ${(pad.t + h - pad.b) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`);
  series.forEach((s, k) => {
    const p = s.points.filter(([, y]) => Number.isFinite(y));
    if (!p.length) return;
    parts.push(`<polyline class="series" fill="none" stroke="${s.color}" stroke-width="2" points="${p.map(([x, y]) => `${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join(' ')}"/>`);
    for (const [x, y] of p) parts.push(`<circle cx="${X(x).toFixed(1)}" cy="${Y(y).toFixed(1)}" r="2.5" fill="${s.color}"/>`);
    parts.push(`<rect x="${w - pad.r - 110}" y="${pad.t + 2 + k * 14}" width="10" height="3" fill="${s.color}"/><text x="${w - pad.r - 96}" y="${pad.t + 7 + k * 14}">${esc(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

/** A confusion matrix (rows = true class, columns = predicted) as an SVG heat map with counts. */
export function confusionSvg(title: string, classes: readonly string[], m: readonly (readonly number[])[]): string {
  const C = classes.length;
  if (m.length !== C || m.some((r) => r.length !== C)) throw new RangeError(`confusionSvg: matrix must be ${C}x${C} for ${C} classes`);
  const cell = C > 8 ? 26 : 34, lab = Math.min(96, 7 * Math.max(...classes.map((c) => c.length)) + 8);
  const w = lab + C * cell + 12, h = 30 + C * cell + lab;
  const rowMax = m.map((r) => Math.max(1, r.reduce((a, b) => a + b, 0)));
  const parts = [`<svg class="chart confusion" xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img" aria-label="${esc(title)}">`];
  parts.push(`<title>${esc(title)}</title><text x="${w / 2}" y="16" text-anchor="middle" class="t">${esc(title)}</text>`);
  for (let i = 0; i < C; i++) {
    parts.push(`<text x="${lab - 4}" y="${30 + i * cell + cell / 2 + 4}" text-anchor="end">${esc(classes[i]!.slice(0, 14))}</text>`);
    parts.push(`<text transform="translate(${lab + i * cell + cell / 2 + 4} ${30 + C * cell + 4}) rotate(-60)" text-anchor="end">${esc(classes[i]!.slice(0, 14))}</text>`);
    for (let j = 0; j < C; j++) {
      const v = m[i]![j]!, f = v / rowMax[i]!;
      const fill = i === j ? `rgba(31,119,180,${(0.08 + 0.92 * f).toFixed(3)})` : `rgba(214,39,40,${(f === 0 ? 0 : 0.08 + 0.92 * f).toFixed(3)})`;
      parts.push(`<rect x="${lab + j * cell}" y="${30 + i * cell}" width="${cell - 1}" height="${cell - 1}" fill="${fill}" stroke="#ddd"><title>true ${esc(classes[i]!)}, predicted ${esc(classes[j]!)}: ${v}</title></rect>`);
      if (v) parts.push(`<text x="${lab + j * cell + cell / 2}" y="${30 + i * cell + cell / 2 + 4}" text-anchor="middle" fill="${f > 0.55 ? '#fff' : '#222'}">${v}</text>`);
    }
  }
  parts.push('</svg>');
  return parts.join('');
}

/** The results table as HTML. */
export function resultsTableHtml(tasks: readonly DemoTaskResult[]): string {
  const head = ['modality', 'dataset', 'task', 'test metric', 'value', 'baseline', 'other test metrics', 'trainable params', 'total params', 'train / val / test', 'epochs', 'seconds'];
  const rows = tasks.map((t) => {
    const other = Object.entries(t.metrics).filter(([k]) => k !== t.metric).map(([k, v]) => `${k} ${num(v)}`).join(', ');
    return [t.modality, t.dataset, t.task, t.metric, num(t.value), `${num(t.baseline.value)} (${t.baseline.name})`, other,
      t.trainableParams.toLocaleString('en-US'), t.totalParams.toLocaleString('en-US'), `${t.samples.train} / ${t.samples.val} / ${t.samples.test}`, String(t.epochs), t.seconds.toFixed(1)];
  });
  return `<table class="results"><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
}

/** The whole report as one HTML document. */
export function writeReport(tasks: readonly DemoTaskResult[], meta: ReportMeta): string {
  const sections = tasks.map((t) => {
    const loss: Series = { name: 'train loss', color: '#1f77b4', points: t.history.map((h) => [h.epoch, h.trainLoss]) };
    const vloss: Series = { name: 'val loss', color: '#ff7f0e', points: t.history.map((h) => [h.epoch, h.val?.loss ?? NaN]) };
    const charts = [lineChartSvg(`${t.modality}: loss`, 'epoch', 'loss', [loss, vloss])];
    const vm = t.task === 'classification' ? 'accuracy' : 'mae';
    if (t.history.some((h) => h.val?.[vm] !== undefined)) {
      charts.push(lineChartSvg(`${t.modality}: validation ${vm}`, 'epoch', vm, [{ name: `val ${vm}`, color: '#2ca02c', points: t.history.map((h) => [h.epoch, h.val?.[vm] ?? NaN]) }]));
    }
    if (t.confusion && t.classes) charts.push(confusionSvg(`${t.modality}: test confusion matrix`, t.classes, t.confusion));
    return `<section><h2>${esc(t.modality)}: ${esc(t.dataset)}</h2><p>${esc(t.task)}; test ${esc(t.metric)} <b>${esc(num(t.value))}</b> (${esc(t.baseline.name)} baseline ${esc(num(t.baseline.value))}); ${esc(t.trainableParams.toLocaleString('en-US'))} trainable parameters; ${esc(t.seconds.toFixed(1))} s.</p><div class="charts">${charts.join('\n')}</div></section>`;
  });
  return `${htmlHead('omniformer demo report')}
<h1>omniformer demo report</h1>
<p class="note">${esc(meta.date)}; ${meta.quick ? 'quick run (tiny subsets, 1 epoch); ' : ''}encoder: ${esc(meta.encoder)}; seed ${meta.seed}; total ${esc(meta.seconds.toFixed(1))} s; Node ${esc(meta.node)}.
Tokenizers and heads are trained, the shared encoder stays frozen at a seeded random initialisation, so these numbers are
what a frozen random tiny encoder gets, not what a pretrained one would. Classification metrics are on each set's held-out
test split; forecasting MSE/MAE are on the chronologically last 20 % of the series in standardised units (as TSLib reports them).</p>
<h2>Results</h2>
${resultsTableHtml(tasks)}
${sections.join('\n')}
</body></html>
`;
}
