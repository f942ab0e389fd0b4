// `omniformer benchmark-tasks`: the benchmark suite on real data installed from Debian packages.
import { join, resolve } from 'node:path';
import type { Command } from '../cli/main.js';
import { UsageError } from '../cli/args.js';
import { DEFAULT_TASKS } from './datasets.js';
import { runSuite, toMarkdown, writeResults } from './suite.js';

export const benchmarkTasksCommand: Command = {
  name: 'benchmark-tasks',
  summary: 'Benchmark suite on real data sets (Fashion-MNIST, sklearn digits/wine/breast-cancer, Seattle temps, spoken keywords, point clouds) vs baselines.',
  usage: 'omniformer benchmark-tasks [--quick] [--out DIR] [--json] [--tasks NAME...]',
  options: {
    quick: { type: 'boolean', description: 'small subsets and few epochs (a few minutes)' },
    out: { type: 'string', description: 'folder for results.md, results.json and the HTML report', default: 'benchmark-results', valueName: 'DIR' },
    json: { type: 'boolean', description: 'print the results as one JSON object on stdout (instead of the markdown table)' },
    tasks: { type: 'strings', description: `run only these tasks (${DEFAULT_TASKS.map((t) => t.name).join(', ')})`, valueName: 'NAME...' },
    encoder: { type: 'string', description: 'encoder size: tiny, small, base, large', default: 'tiny' },
    seed: { type: 'number', description: 'seed of splits, subsets, generated data and initialisation', default: 0 },
    progress: { type: 'string', description: 'training progress on stderr: auto, tty, plain or silent', default: 'auto', valueName: 'MODE' },
    cache: { type: 'string', description: 'folder for generated data (spoken keywords); default DIR/cache', valueName: 'DIR' },
  },
  examples: ['omniformer benchmark-tasks --quick', 'omniformer benchmark-tasks --out results --json', 'omniformer benchmark-tasks --quick --tasks wine digits'],
  details: [
    'For each task: the omniformer model with the shared encoder frozen, the same with the encoder unfrozen, and',
    'baselines computed in the same run (logistic regression and nearest class mean on standardised raw features;',
    'last value and seasonal naive (24 h) for forecasting), with trainable parameter counts and wall time.',
    'Data: /usr/share/datasets/fashion-mnist (dataset-fashion-mnist), sklearn/datasets/data (python3-sklearn),',
    'vega_datasets seattle-temps.csv (python3-vega-datasets), espeak-ng + sox (synthesised into the cache folder).',
    'A task whose package is missing is reported as skipped with the apt-get install line. Progress goes to stderr.',
  ].join('\n'),
  async run(o) {
    const names = o.tasks as string[] | undefined;
    let tasks = DEFAULT_TASKS;
    if (names) {
      const unknown = names.filter((n) => !DEFAULT_TASKS.some((t) => t.name === n));
      if (unknown.length) throw new UsageError(`--tasks: unknown task(s) ${unknown.join(', ')} (valid: ${DEFAULT_TASKS.map((t) => t.name).join(', ')})`);
      tasks = DEFAULT_TASKS.filter((t) => names.includes(t.name));
    }
    const out = resolve(o.out as string);
    const seed = o.seed as number;
    if (!Number.isInteger(seed) || seed < 0) throw new UsageError(`--seed must be a non-negative integer, got ${seed}`);
    const mode = o.progress as string;
    if (!['auto', 'tty', 'plain', 'silent'].includes(mode)) throw new UsageError(`--progress must be auto, tty, plain or silent, got '${mode}'`);
    const r = await runSuite(tasks, { quick: Boolean(o.quick), seed, progress: { mode: mode as 'auto' }, encoder: o.encoder as string, cacheDir: (o.cache as string | undefined) ?? join(out, 'cache') });
    const paths = await writeResults(r, out);
    if (o.json) console.log(JSON.stringify({ ...r, files: paths }));
    else console.log(toMarkdown(r));
    process.stderr.write(`results: ${paths.markdown}, ${paths.json}; report: ${paths.html}\n`);
    return r.tasks.some((t) => t.status === 'failed') ? 1 : 0;
  },
};
