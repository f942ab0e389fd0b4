// Tabular, time-series, text, graph and NPZ readers on the committed fixtures in test/fixtures/readers/
// (structured-*; the NPZ archives, the ETT-style CSV and the SD files come from
// tools/fixtures/structured_readers.py, the NPZ ones written by NumPy itself).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DataFormatError, collect } from '../src/data/dataset.js';
import { readTabular, parseTabular } from '../src/data/tabular-io.js';
import {
  readTimeSeries, parseTimeSeries, chronologicalBorders, countWindows, timeSeriesSplits, timeSeriesWindows, StandardScaler, inferFreq, parseTimestamp,
} from '../src/data/timeseries-io.js';
import { readTextCsv, parseTextCsv, textFolderDataset } from '../src/data/text-io.js';
import { readSdf, readGraphJson, readGraphs, loadMolGraph, graphTokenizerOptionsFor, elementIndex, PERIODIC_TABLE, MOL_ATOM_VOCAB, MOL_BOND_VOCAB } from '../src/data/graph-io.js';
import { readNpz, decodeNpz, encodeNpz, npzDataset, crc32 } from '../src/data/npz.js';
import { TabularTokenizer } from '../src/data2seq/tabular.js';
import { GraphTokenizer } from '../src/data2seq/graph.js';
import { TimeSeriesTokenizer, timeFeatures } from '../src/data2seq/time-series.js';
import { Generator } from '../src/engine/functional/random.js';

const fx = (name: string): string => fileURLToPath(new URL(`../../test/fixtures/readers/${name}`, import.meta.url));

/** Run `fn`, expecting a DataFormatError whose message names `file` (and `line` when given) and matches `re`. */
async function rejectsWith(fn: () => unknown, file: string, re: RegExp, line?: number): Promise<DataFormatError> {
  let err: unknown;
  try { await fn(); } catch (e) { err = e; }
  assert.ok(err instanceof DataFormatError, `expected a DataFormatError, got ${String(err)}`);
  assert.ok(err.message.startsWith(line !== undefined ? `${file}:${line}: ` : `${file}`), `message should name ${file}${line !== undefined ? `:${line}` : ''}: ${err.message}`);
  assert.match(err.message, re);
  if (line !== undefined) assert.equal(err.line, line);
  return err;
}

// ---------------------------------------------------------------------------------------------------
// Tabular
// ---------------------------------------------------------------------------------------------------

test('tabular: column types, missing values, quoted fields and a classification target', async () => {
  const file = fx('structured-adult.csv');
  const t = await readTabular(file, { target: 'income' });
  const types = Object.fromEntries(t.columns.map((c) => [c.name, c.type]));
  assert.deepEqual(types, { age: 'numeric', workclass: 'categorical', education: 'categorical', hours_per_week: 'numeric', married: 'boolean', capital_gain: 'numeric' });
  assert.equal(t.rows.length, 13);
  assert.deepEqual(t.classes, ['<=50K', '>50K']);
  assert.deepEqual([...t.labels!], [0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0]);
  assert.deepEqual(t.rows[0], { age: 39, workclass: 'State-gov', education: 'Bachelors', hours_per_week: 40, married: 'false', capital_gain: 2174 });
  assert.equal(t.rows[10]!.workclass, null, "'?' is missing");
  assert.equal(t.rows[12]!.married, null, "'NA' is missing");
  assert.equal(t.rows[12]!.education, 'Bachelors, incomplete', 'quoted field with a comma');
  const wc = t.columns.find((c) => c.name === 'workclass')!;
  assert.equal(wc.missing, 1);
  assert.deepEqual(wc.categories, ['Private', 'Self-emp-not-inc', 'State-gov']);
  const age = t.columns.find((c) => c.name === 'age')!;
  assert.equal(age.min, 23); assert.equal(age.max, 53);
  assert.deepEqual(t.lines.slice(0, 3), [2, 3, 4]);
  assert.deepEqual(t.fitOptions.numeric, ['age', 'hours_per_week', 'capital_gain']);
  assert.deepEqual(t.fitOptions.categorical, ['workclass', 'education', 'married']);
  // The rows feed TabularTokenizer as they are, with the reader's types.
  const tok = TabularTokenizer.fit(t.rows, { dim: 8, ...t.fitOptions, generator: new Generator(0) });
  assert.deepEqual(tok.schema.numeric.map((c) => c.name), ['age', 'hours_per_week', 'capital_gain']);
  assert.deepEqual(tok.schema.categorical.find((c) => c.name === 'married')!.vocab, ['false', 'true']);
  const batch = tok.prepare(t.rows.slice(10, 13));
  assert.deepEqual(batch.categorical!.shape, [3, 3]);
  const cat = batch.categorical!.value as BigInt64Array;
  assert.equal(cat[0], 0n, 'missing workclass -> index 0 (unknown)');
  assert.equal(cat[2 * 3 + 2], 0n, 'missing married -> index 0');
  assert.equal(cat[2 * 3 + 1], BigInt(1 + tok.schema.categorical[1]!.vocab.indexOf('Bachelors, incomplete')));
  const ds = t.dataset();
  assert.equal(ds.length, 13);
  assert.deepEqual(await ds.get(8), { row: t.rows[8], label: 1 });
  assert.equal(ds.source!(8), `${file}:10`);
});

test('tabular: TSV, regression target, type overrides, drop', async () => {
  const t = await readTabular(fx('structured-housing.tsv'), { target: 'price', types: { zip: 'categorical' } });
  assert.equal(t.target!.kind, 'regression');
  assert.ok(!t.labels);
  assert.deepEqual([...t.targets!], [210000.5, 150250.0, 640000.75, 260100.0, 330500.5, 215000.25, 171000.0, 590999.5]);
  const types = Object.fromEntries(t.columns.map((c) => [c.name, c.type]));
  assert.deepEqual(types, { rooms: 'numeric', area: 'numeric', zip: 'categorical', city: 'categorical' });
  assert.equal(t.rows[3]!.area, null);
  assert.equal(t.rows[0]!.zip, '69001');
  const asClasses = await readTabular(fx('structured-housing.tsv'), { target: 'rooms', drop: ['price'], types: { zip: 'ignore' } });
  assert.equal(asClasses.target!.kind, 'classification', 'few distinct integers -> classification');
  assert.deepEqual(asClasses.classes, ['1', '2', '3', '4', '5']);
  assert.deepEqual(asClasses.columns.map((c) => c.name), ['area', 'city']);
  const forced = await readTabular(fx('structured-housing.tsv'), { target: 'rooms', task: 'regression' });
  assert.deepEqual([...forced.targets!], [3, 2, 4, 1, 5, 3, 2, 4]);
  // headerless text with column names given, after a skipped first line (sklearn's CSV layout)
  const sk = parseTabular('150,4,setosa,versicolor\n5.1,3.5,0\n4.9,3.0,0\n7.0,3.2,1\n', 'iris.csv', { skipLines: 1, header: ['a', 'b', 'target'], target: 'target' });
  assert.deepEqual(sk.rows, [{ a: 5.1, b: 3.5 }, { a: 4.9, b: 3.0 }, { a: 7.0, b: 3.2 }]);
  assert.deepEqual([...sk.labels!], [0, 0, 1]);
  assert.deepEqual(sk.lines, [2, 3, 4]);
});

test('tabular: malformed files raise errors naming file, line and problem, or are skipped with a count', async () => {
  const bad = fx('structured-tabular-bad.csv');
  await rejectsWith(() => readTabular(bad, { target: 'label' }), bad, /row has 2 fields, expected 3/, 3);
  const warnings: string[] = [];
  const t = await readTabular(bad, { target: 'label', skipBad: true, onWarning: (m) => warnings.push(m) });
  assert.equal(t.skipped, 2);
  assert.equal(warnings.length, 2);
  assert.match(warnings[0]!, /:3: row has 2 fields/);
  assert.match(warnings[1]!, /:5: target 'label' is missing/);
  assert.deepEqual(t.rows.map((r) => r.a), ['1', '3', 'five', '6'], "'five' makes column a categorical");
  // forcing a numeric column turns 'five' into a bad row
  const t2 = await readTabular(bad, { target: 'label', skipBad: true, onWarning: () => {}, types: { a: 'numeric' } });
  assert.equal(t2.skipped, 3);
  assert.deepEqual(t2.rows.map((r) => r.a), [1, 3, 6]);
  assert.deepEqual(t2.classes, ['no', 'yes']);
  await rejectsWith(() => readTabular(bad, { target: 'label', types: { a: 'numeric' }, skipBad: false, missingValues: ['', 'NA'] }), bad, /row has 2 fields/, 3);
  await rejectsWith(() => readTabular(bad, { target: 'price' }), bad, /target column 'price' is not in the file \(columns: a, b, label\)/);
  await rejectsWith(() => readTabular(bad, { types: { nope: 'numeric' } }), bad, /types: column 'nope'/);
  await rejectsWith(() => readTabular(fx('structured-empty.csv')), fx('structured-empty.csv'), /empty file/);
  await rejectsWith(() => readTabular(fx('structured-header-only.csv')), fx('structured-header-only.csv'), /no data rows/);
  await rejectsWith(() => readTabular(fx('structured-missing-file.csv')), fx('structured-missing-file.csv'), /does not exist/);
  await rejectsWith(() => readTabular(fx('structured-arrays.npz')), fx('structured-arrays.npz'), /not UTF-8 text/);
  await rejectsWith(() => parseTabular('a,b\n1,"open\n', 'q.csv'), 'q.csv', /unterminated quoted field/, 2);
});

// ---------------------------------------------------------------------------------------------------
// Time series
// ---------------------------------------------------------------------------------------------------

test('time series: ETT-style CSV, time features, inferred frequency, target channel last', async () => {
  const file = fx('structured-ett-small.csv');
  const ts = await readTimeSeries(file);
  assert.equal(ts.length, 200);
  assert.deepEqual(ts.channels, ['HUFL', 'HULL', 'OT']);
  assert.equal(ts.freq, 'h');
  assert.equal(ts.timestamps[25], '2016-07-02 01:00:00');
  for (const t of [0, 7, 199]) {
    assert.ok(Math.abs(ts.values[t * 3]! - (5 + 2 * Math.sin((2 * Math.PI * t) / 24))) < 1e-5);
    assert.ok(Math.abs(ts.values[t * 3 + 1]! - (1 + 0.01 * t)) < 1e-5);
    assert.ok(Math.abs(ts.values[t * 3 + 2]! - (30 + 0.1 * t + Math.cos((2 * Math.PI * t) / 24))) < 1e-4);
  }
  const moved = await readTimeSeries(file, { target: 'HUFL', columns: ['HUFL', 'OT'] });
  assert.deepEqual(moved.channels, ['OT', 'HUFL']);
  assert.equal(moved.values[1], ts.values[0]);
  // slash dates, seconds, minutes, days
  assert.deepEqual(parseTimestamp('2010/01/01 00:00:00'), { text: '2010-01-01 00:00:00', ms: Date.UTC(2010, 0, 1) });
  assert.match(parseTimestamp('2021-02-29') as string, /not a valid date/);
  const ms = (s: string[]): number[] => s.map((x) => (parseTimestamp(x) as { ms: number }).ms);
  assert.equal(inferFreq(ms(['2016-07-01 00:00', '2016-07-01 00:15', '2016-07-01 00:30'])), 't');
  assert.equal(inferFreq(ms(['2016-07-01', '2016-07-02', '2016-07-03'])), 'd');
  assert.equal(inferFreq(ms(['2016-01-01', '2016-02-01', '2016-03-01'])), 'm');
});

test('time series: chronological borders (ETT 12/4/4 months and 0.7/0.1/0.2), window counts and contents', async () => {
  // TSLib Dataset_ETT_hour: border1s [0, 8640-L, 11520-L], border2s [8640, 11520, 14400]
  assert.deepEqual(chronologicalBorders(17420, 96, 'ett-hour'), { train: [0, 8640], val: [8544, 11520], test: [11424, 14400] });
  assert.deepEqual(chronologicalBorders(69680, 96, 'ett-minute'), { train: [0, 34560], val: [34464, 46080], test: [45984, 57600] });
  assert.throws(() => chronologicalBorders(10000, 96, 'ett-hour'), /needs 14400 rows; the series has 10000/);
  // Dataset_Custom: n_train = floor(0.7 T), n_test = floor(0.2 T), val = rest
  assert.deepEqual(chronologicalBorders(8759, 96), { train: [0, 6131], val: [6035, 7008], test: [6912, 8759] });
  assert.deepEqual(chronologicalBorders(1000, 10, { train: 0.6, val: 0.2, test: 0.2 }), { train: [0, 600], val: [590, 800], test: [790, 1000] });
  assert.throws(() => chronologicalBorders(1000, 10, { train: 0.6, val: 0.2, test: 0.3 }), /add up to 1/);
  assert.equal(countWindows(0, 700, 96, 24), 700 - 96 - 24 + 1);
  assert.equal(countWindows(0, 700, 96, 24, 5), Math.floor((700 - 96 - 24) / 5) + 1);
  assert.equal(countWindows(0, 100, 96, 24), 0);

  const ts = await readTimeSeries(fx('structured-ett-small.csv'));
  const L = 24, H = 6;
  const s = timeSeriesSplits(ts, { lookback: L, horizon: H, stride: 2, labelLen: 4 });
  assert.deepEqual(s.borders, { train: [0, 140], val: [116, 160], test: [136, 200] });
  assert.equal(s.train.length, Math.floor((140 - L - H) / 2) + 1);
  assert.equal(s.val.length, Math.floor((160 - 116 - L - H) / 2) + 1);
  assert.equal(s.test.length, Math.floor((200 - 136 - L - H) / 2) + 1);
  // scaler fitted on the training rows only
  const C = 3;
  for (let c = 0; c < C; c++) {
    let m = 0;
    for (let t = 0; t < 140; t++) m += ts.values[t * C + c]!;
    m /= 140;
    let v = 0;
    for (let t = 0; t < 140; t++) v += (ts.values[t * C + c]! - m) ** 2;
    assert.ok(Math.abs(s.scaler!.mean[c]! - m) < 1e-9);
    assert.ok(Math.abs(s.scaler!.std[c]! - Math.sqrt(v / 140)) < 1e-9);
  }
  const full = StandardScaler.fit(ts.values, C);
  assert.ok(Math.abs(full.mean[2]! - s.scaler!.mean[2]!) > 1, 'the trend makes train-only statistics differ from full-series ones');
  // window 3 of the validation part: input rows [116 + 6, 116 + 6 + 24), target rows [start + L - 4, start + L + 6)
  const w = await s.val.get(3);
  assert.equal(w.start, 122);
  assert.equal(w.input.values.length, L * C);
  assert.equal(w.target.length, (4 + H) * C);
  const scaled = (t: number, c: number): number => (ts.values[t * C + c]! - s.scaler!.mean[c]!) / s.scaler!.std[c]!;
  assert.ok(Math.abs(w.input.values[5 * C + 1]! - scaled(127, 1)) < 1e-6);
  assert.ok(Math.abs(w.target[0 * C + 2]! - scaled(122 + L - 4, 2)) < 1e-6);
  assert.ok(Math.abs(w.target[9 * C + 0]! - scaled(122 + L + H - 1, 0)) < 1e-6);
  // inverse transform for reporting gives the data's units back
  const back = s.scaler!.inverse(w.target);
  assert.ok(Math.abs(back[9 * C]! - ts.values[(122 + L + H - 1) * C]!) < 1e-4);
  // time features = TSLib timeF of the window's timestamps
  const marks = timeFeatures(ts.timestamps.slice(122, 122 + L), 'h');
  assert.equal(w.input.marks!.length, L);
  assert.deepEqual(w.input.marks![7], Array.from(marks.data.subarray(7 * 4, 8 * 4)));
  // the last test window ends at the last row
  const last = await s.test.get(s.test.length - 1);
  assert.ok(last.start + L + H <= 200 && last.start + L + H > 200 - 2);
  // 'MS'-style target channel and its scaler
  const ms = timeSeriesSplits(ts, { lookback: L, horizon: H, targetChannels: ['OT'], timeFeatures: false });
  const wm = await ms.train.get(0);
  assert.equal(wm.target.length, H);
  assert.equal(wm.input.marks, undefined);
  assert.ok(Math.abs(ms.targetScaler!.inverse(wm.target)[0]! - ts.values[L * C + 2]!) < 1e-4);
  // the windows feed TimeSeriesTokenizer.prepare
  const tok = new TimeSeriesTokenizer({ dim: 8, channels: 3, freq: 'h', generator: new Generator(0) });
  const batch = tok.prepare([(await s.train.get(0)).input, (await s.train.get(1)).input]);
  assert.deepEqual(batch.x.shape, [2, L, 3]);
  assert.deepEqual(batch.marks!.shape, [2, L, 4]);
  // unscaled windows over a chosen range
  const raw = timeSeriesWindows(ts, [10, 60], { lookback: 20, horizon: 5, timeFeatures: false });
  assert.equal(raw.length, 60 - 10 - 25 + 1);
  assert.equal((await raw.get(0)).input.values[0], ts.values[30]);
  assert.throws(() => timeSeriesSplits(ts, { lookback: 40, horizon: 25 }), /the val part \(rows 100..160\) is too short for one window of lookback 40 \+ horizon 25/);
});

test('time series: gaps, disorder and bad values raise or are skipped; gaps can be filled', async () => {
  const gaps = fx('structured-ts-gaps.csv');
  await rejectsWith(() => readTimeSeries(gaps), gaps, /column 'temp' is missing \("NA"\); pass fillMissing/, 3);
  const ff = await readTimeSeries(gaps, { fillMissing: 'ffill' });
  assert.deepEqual([...ff.values], [39.4, 3, 39.4, 4, 38.6, 4, 38.2, 6].map(Math.fround));
  assert.equal(ff.filled, 2);
  const lin = await readTimeSeries(gaps, { fillMissing: 'linear' });
  assert.ok(Math.abs(lin.values[2]! - 39.0) < 1e-5);
  assert.equal(lin.values[5], 5);
  assert.equal(lin.timestamps[0], '2010-01-01 00:00:00');
  const un = fx('structured-ts-unordered.csv');
  await rejectsWith(() => readTimeSeries(un), un, /timestamps must increase: 2020-01-01 00:30:00 follows 2020-01-01 01:00:00 \(line 3\)/, 4);
  const warnings: string[] = [];
  const ok = await readTimeSeries(un, { skipBad: true, onWarning: (m) => warnings.push(m) });
  assert.equal(ok.length, 3);
  assert.equal(ok.skipped, 3);
  assert.deepEqual([...ok.values], [1, 2, 4]);
  assert.match(warnings[1]!, /:6: column 'date': timestamp "2020-02-30 03:00" is not a valid date/);
  assert.match(warnings[2]!, /:7: column 'value' has "x", expected a number/);
  await rejectsWith(() => readTimeSeries(gaps, { timestampColumn: 'time' }), gaps, /timestamp column 'time' is not in the file/);
  await rejectsWith(() => parseTimeSeries('date\n2020-01-01\n', 'one.csv'), 'one.csv', /no value columns/);
});

// ---------------------------------------------------------------------------------------------------
// Text
// ---------------------------------------------------------------------------------------------------

test('text: CSV with quoted fields and embedded newlines, TSV, a folder per class', async () => {
  const file = fx('structured-reviews.csv');
  const t = await readTextCsv(file);
  assert.deepEqual(t.texts, ['Great movie, loved it', 'Terrible.\nWould not watch again', 'He said "wow" at the end', 'plain text without quotes', 'Okay, I guess']);
  assert.deepEqual(t.classes, ['neg', 'neu', 'pos']);
  assert.deepEqual([...t.labels], [2, 0, 2, 0, 1]);
  assert.deepEqual(t.lines, [2, 3, 5, 6, 7]);
  assert.deepEqual(await t.dataset().get(1), { text: 'Terrible.\nWould not watch again', label: 0 });
  const tsv = await readTextCsv(fx('structured-reviews.tsv'));
  assert.deepEqual(tsv.texts, ['the first review', 'the second, with a comma', 'a quoted\ttab']);
  assert.deepEqual([...tsv.labels], [1, 0, 1]);
  const fixed = parseTextCsv('text,label\nhello,b\n', 'x.csv', { classes: ['a', 'b', 'c'] });
  assert.deepEqual([...fixed.labels], [1]);
  assert.deepEqual(fixed.classes, ['a', 'b', 'c']);

  const folder = await textFolderDataset(fx('structured-textfolder'));
  assert.deepEqual(folder.classes, ['neg', 'pos']);
  assert.equal(folder.length, 5, 'notes.md is not a .txt file; nested files are found');
  assert.deepEqual([...folder.labels], [0, 0, 1, 1, 1]);
  const items = await collect(folder);
  assert.deepEqual(items.items.map((s) => s.input.trim()), ['A dull and slow film.', 'I want my evening back.', 'Wonderful acting.', 'A joy from start to finish — café scenes included.', 'Nested files count too.']);
  assert.ok(items.items[4]!.path.endsWith('pos/more/c.txt'));
});

test('text: malformed rows name file and line or are skipped', async () => {
  const bad = fx('structured-reviews-bad.csv');
  await rejectsWith(() => readTextCsv(bad), bad, /row has 3 fields, expected 2/, 5);
  const t = await readTextCsv(bad, { skipBad: true, onWarning: () => {} });
  assert.deepEqual(t.texts, ['fine', 'ok']);
  assert.equal(t.skipped, 3);
  assert.deepEqual(t.classes, ['0', '1']);
  const noWidth = 'sentence,sentiment\n"fine",1\n"",0\n';
  await rejectsWith(() => parseTextCsv(noWidth, 'b.csv'), 'b.csv', /text column 'sentence' is empty/, 3);
  await rejectsWith(() => parseTextCsv('sentence,sentiment\n"x",\n', 'c.csv'), 'c.csv', /label column 'sentiment' is missing/, 2);
  await rejectsWith(() => parseTextCsv('body,label\nx,1\n', 'd.csv'), 'd.csv', /no text column: none of text\/sentence/);
  await rejectsWith(() => readTextCsv(fx('structured-reviews.csv'), { labelColumn: 'stars' }), fx('structured-reviews.csv'), /label column 'stars' is not in the file/);
});

// ---------------------------------------------------------------------------------------------------
// Graphs
// ---------------------------------------------------------------------------------------------------

test('SDF: water, ethanol, benzene and ammonium as OGB-style graphs with SD targets', async () => {
  const file = fx('structured-molecules.sdf');
  const g = await readSdf(file, { target: 'class' });
  assert.deepEqual(g.names, ['water', 'ethanol', 'benzene', 'ammonium']);
  assert.deepEqual(g.classes, ['ion', 'nonpolar', 'polar']);
  assert.deepEqual([...g.labels!], [2, 2, 1, 0]);
  assert.deepEqual(g.lines, [1, 18, 35, 59]);
  const [water, ethanol, benzene, ammonium] = g.graphs as [typeof g.graphs[0], typeof g.graphs[0], typeof g.graphs[0], typeof g.graphs[0]];
  const O = elementIndex('O')!, C = elementIndex('C')!, N = elementIndex('N')!;
  assert.deepEqual([O, C, N, elementIndex('H'), elementIndex('Og'), elementIndex('*'), elementIndex('D')], [7, 5, 6, 0, 117, 118, 0]);
  // [element, charge + 5, numHs, degree, aromatic, inRing, radical]
  assert.deepEqual(water, { numNodes: 1, edges: [], nodeFeatures: [[O, 5, 2, 0, 0, 0, 0]], edgeFeatures: [] }, 'explicit H atoms folded into the oxygen');
  assert.deepEqual(ethanol.nodeFeatures, [[C, 5, 3, 1, 0, 0, 0], [C, 5, 2, 2, 0, 0, 0], [O, 5, 1, 1, 0, 0, 0]]);
  assert.deepEqual(ethanol.edges, [[0, 1], [1, 0], [1, 2], [2, 1]], 'both directions, as OGB');
  assert.deepEqual(ethanol.edgeFeatures, [[0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0]]);
  assert.equal(benzene.numNodes, 6);
  assert.equal(benzene.edges.length, 12);
  for (const f of benzene.nodeFeatures!) assert.deepEqual(f, [C, 5, 1, 2, 1, 1, 0]);
  for (const f of benzene.edgeFeatures!) assert.deepEqual(f, [3, 0, 1]);
  assert.deepEqual(ammonium.nodeFeatures, [[N, 6, 4, 0, 0, 0, 0]], 'M  CHG +1; N+ takes 4 hydrogens');
  assert.equal(g.molecules[3]!.atoms[0]!.charge, 1);
  assert.equal(g.molecules[0]!.properties.mw, '18.015');
  // regression target
  const r = await readSdf(file, { target: 'mw' });
  assert.deepEqual([...r.targets!], [18.015, 46.069, 78.114, 18.038].map(Math.fround));
  // hydrogens kept as nodes
  const keep = await readSdf(file, { keepHydrogens: true });
  assert.equal(keep.graphs[0]!.numNodes, 3);
  assert.deepEqual(keep.graphs[0]!.nodeFeatures, [[O, 5, 2, 2, 0, 0, 0], [0, 5, 0, 1, 0, 0, 0], [0, 5, 0, 1, 0, 0, 0]]);
  assert.equal(keep.graphs[0]!.edges.length, 4);
  // a single .mol file as a per-file loader
  assert.deepEqual(await loadMolGraph(fx('structured-water.mol')), water);
  // every value below the vocabulary sizes, and the graphs tokenize
  for (const gr of g.graphs) {
    gr.nodeFeatures!.forEach((row) => row.forEach((v, j) => assert.ok(v < MOL_ATOM_VOCAB[j]!)));
    gr.edgeFeatures!.forEach((row) => row.forEach((v, j) => assert.ok(v < MOL_BOND_VOCAB[j]!)));
  }
  assert.equal(PERIODIC_TABLE.length, 118);
  const tok = new GraphTokenizer({ dim: 8, ...graphTokenizerOptionsFor(g), lapK: 4, generator: new Generator(0) });
  const batch = tok.prepare(g.graphs);
  assert.deepEqual(batch.index.shape, [4, 6 + 12, 2]);
  assert.deepEqual(batch.nodeFeatures!.shape, [4, 18, 7]);
});

test('SDF: truncated, bad bonds, V3000 and missing targets raise with file and line, or are skipped', async () => {
  const tr = fx('structured-truncated.sdf');
  await rejectsWith(() => readSdf(tr), tr, /file ends inside the atom block: 3 atoms declared, 2 found/, 6);
  const bad = fx('structured-badrecords.sdf');
  await rejectsWith(() => readSdf(bad), bad, /bond refers to atom 5; the molecule has atoms 1-3/, 9);
  const warnings: string[] = [];
  const g = await readSdf(bad, { skipBad: true, onWarning: (m) => warnings.push(m) });
  assert.deepEqual(g.names, ['lone-oxygen', 'no-class']);
  assert.equal(g.skipped, 2);
  assert.match(warnings[1]!, /:28: V3000 molfiles are not supported/);
  assert.deepEqual(g.graphs[0]!.nodeFeatures, [[7, 5, 2, 0, 0, 0, 0]], 'a lone O gets 2 implicit hydrogens');
  const t = await readSdf(bad, { skipBad: true, onWarning: () => {}, target: 'class' });
  assert.deepEqual(t.names, ['lone-oxygen']);
  assert.equal(t.skipped, 3);
  await rejectsWith(() => readSdf(fx('structured-molecules.sdf'), { target: 'logP' }), fx('structured-molecules.sdf'), /molecule 'water' has no SD item 'logP' \(it has class, mw\)/, 1);
  await rejectsWith(() => readSdf(fx('structured-empty.csv')), fx('structured-empty.csv'), /empty file/);
  await rejectsWith(() => readGraphs(fx('structured-adult.csv')), fx('structured-adult.csv'), /unsupported graph file type/);
});

test('JSON graphs: string and integer features, directed/undirected edges, labels; malformed graphs', async () => {
  const file = fx('structured-graphs.json');
  const g = await readGraphJson(file);
  assert.deepEqual(g.names, ['triangle', 'path', 'star', 'directed-pair']);
  assert.deepEqual(g.classes, ['cycle', 'path', 'tree']);
  assert.deepEqual([...g.labels!], [0, 1, 2, 1]);
  assert.deepEqual(g.nodeFeatureNames, ['color', 'size']);
  assert.deepEqual(g.nodeVocab, [['blue', 'green', 'red'], null]);
  assert.deepEqual(g.nodeVocabSizes, [3, 4]);
  assert.deepEqual(g.edgeVocab, [['dashed', 'solid']]);
  const tri = g.graphs[0]!;
  assert.deepEqual(tri.nodeFeatures, [[2, 0], [1, 1], [0, 2]]);
  assert.deepEqual(tri.edges, [[0, 1], [1, 0], [1, 2], [2, 1], [2, 0], [0, 2]]);
  assert.deepEqual(tri.edgeFeatures, [[1], [1], [1], [1], [0], [0]]);
  assert.deepEqual(g.graphs[1]!.edges, [[0, 1], [1, 0]]);
  assert.deepEqual(g.graphs[1]!.edgeFeatures, [[0], [0]]);
  assert.deepEqual(g.graphs[3]!.edges, [[0, 1]], 'directed: as listed');
  const tok = new GraphTokenizer({ dim: 8, ...graphTokenizerOptionsFor(g), lapK: 2, generator: new Generator(0) });
  assert.deepEqual(tok.prepare(g.graphs).nodeFeatures!.shape, [4, 4 + 6, 2]);
  const ds = g.dataset();
  assert.deepEqual((await ds.get(2)).label, 2);

  const bad = fx('structured-graphs-bad.json');
  await rejectsWith(() => readGraphJson(bad), bad, /graph 1: edges\[0\] refers to node 5; the graph has nodes 0-1/);
  const warnings: string[] = [];
  const b = await readGraphJson(bad, { skipBad: true, onWarning: (m) => warnings.push(m) });
  assert.deepEqual(b.names, ['ok', 'ok2']);
  assert.equal(b.skipped, 3);
  assert.deepEqual([...b.targets!], [0.25, -0.75]);
  assert.ok(warnings.some((w) => /graph 3: has no target field 'y'/.test(w)));
  assert.ok(warnings.some((w) => /graph 2: 2 node features, earlier graphs have 1/.test(w)));
  const none = await readGraphJson(bad, { skipBad: true, onWarning: () => {}, target: null });
  assert.equal(none.graphs.length, 3, 'without a target the unlabelled graph is kept');
  assert.equal(none.targets, undefined);
  const trunc = fx('structured-graphs-truncated.json');
  await rejectsWith(() => readGraphJson(trunc), trunc, /invalid JSON/);
});

// ---------------------------------------------------------------------------------------------------
// NPZ
// ---------------------------------------------------------------------------------------------------

test('NPZ: np.savez (stored) and np.savez_compressed (deflate) archives, and a dataset over axis 0', async () => {
  const a = await readNpz(fx('structured-arrays.npz'));
  assert.deepEqual([...a.keys()], ['x', 'y']);
  assert.deepEqual(a.get('x')!.shape, [6, 2, 3]);
  assert.equal(a.get('x')!.dtype, 'float32');
  assert.deepEqual([...a.get('x')!.data as Float32Array], Array.from({ length: 36 }, (_, k) => 0.5 * k));
  assert.deepEqual([...a.get('y')!.data as BigInt64Array], [0n, 1n, 2n, 0n, 1n, 2n]);
  const c = await readNpz(fx('structured-arrays-compressed.npz'));
  assert.deepEqual([...c.keys()], ['x', 'y', 't', 'mask']);
  const xc = c.get('x')!;
  assert.equal(xc.dtype, 'float64');
  assert.deepEqual(xc.shape, [10, 4]);
  for (let k = 0; k < 40; k++) assert.ok(Math.abs((xc.data as Float64Array)[k]! - (-1 + (2 * k) / 39)) < 1e-12);
  assert.deepEqual([...c.get('y')!.data as Uint8Array], [0, 1, 1, 0, 2, 2, 1, 0, 1, 2]);
  assert.equal(c.get('mask')!.dtype, 'bool');
  assert.deepEqual([...c.get('mask')!.data as Uint8Array], [1, 0, 0, 1]);

  const ds = await npzDataset(fx('structured-arrays.npz'));
  assert.equal(ds.length, 6);
  assert.deepEqual(ds.sampleShape, [2, 3]);
  assert.deepEqual(ds.classes, ['0', '1', '2']);
  const s4 = await ds.get(4);
  assert.deepEqual([...s4.input as Float32Array], [12, 12.5, 13, 13.5, 14, 14.5]);
  assert.equal(s4.label, 1);
  const reg = await npzDataset(fx('structured-arrays-compressed.npz'), { labels: 't' });
  assert.equal(reg.labels, undefined);
  assert.equal((await reg.get(3)).label, 0.5);

  // our writer round-trips, and NumPy's CRC matches ours
  const bytes = encodeNpz({ a: { shape: [2, 2], data: new Int32Array([1, -2, 3, 4]) }, b: { shape: [3], data: new Float32Array([0.5, 1.5, 2.5]) } }, { compress: true });
  const back = decodeNpz(bytes);
  assert.deepEqual([...back.get('a')!.data as Int32Array], [1, -2, 3, 4]);
  assert.deepEqual(back.get('b')!.shape, [3]);
  assert.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
});

test('NPZ: truncated, not a ZIP, corrupt data, mismatched dimensions', async () => {
  for (const [name, re] of [
    ['structured-arrays-truncated.npz', /no end-of-central-directory record \(the archive is truncated or corrupt\)/],
    ['structured-notzip.npz', /not a ZIP archive/],
    ['structured-arrays-corrupt.npz', /member 'x.npy': CRC-32 mismatch/],
    ['structured-empty.csv', /empty file/],
  ] as const) await rejectsWith(() => readNpz(fx(name)), fx(name), re);
  const mm = fx('structured-arrays-mismatch.npz');
  await rejectsWith(() => npzDataset(mm), mm, /label array 'y' has shape \[5\]; expected \[6\]/);
  await rejectsWith(() => npzDataset(fx('structured-arrays.npz'), { inputs: 'z' }), fx('structured-arrays.npz'), /no array 'z' \(arrays: x, y\)/);
  // a member that is not .npy
  const zip = encodeNpz({ a: { shape: [1], data: new Float32Array([1]) } });
  const renamed = new Uint8Array(zip);
  const at = Buffer.from(renamed).lastIndexOf('a.npy');
  renamed.set(new TextEncoder().encode('a.txt'), at);
  assert.throws(() => decodeNpz(renamed, 'r.npz'), /r.npz: member 'a.txt' is not an .npy array/);
  // an .npy member with a broken magic but a matching CRC: the .npy decoder's error, with the archive and member
  const broken = new Uint8Array(zip);
  const p = Buffer.from(broken).indexOf('NUMPY');
  broken[p] = 0x58;
  const view = new DataView(broken.buffer);
  const member = broken.subarray(p - 1, p - 1 + view.getUint32(22, true));
  const crc = crc32(member);
  view.setUint32(14, crc, true);
  view.setUint32(Buffer.from(broken).indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02])) + 16, crc, true);
  assert.throws(() => decodeNpz(broken, 'h.npz'), /^DataFormatError: h.npz: array 'a': not a .npy file/);
  assert.ok(readFileSync(fx('structured-arrays.npz')).length > 0);
});
