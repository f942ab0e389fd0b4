// `omniformer demo` (also `npm start`): the bundled demo, see src/demo/run.ts.
import { UsageError } from './args.js';
import type { Command } from './main.js';
import type { ProgressMode } from '../train/progress.js';

export const DEMO_COMMAND: Command = {
  name: 'demo',
  summary: 'Train on the bundled demo data (image, audio, tabular, time series, point clouds) with the encoder frozen; print a results table and write an HTML report.',
  usage: 'omniformer demo [--out DIR] [--quick] [--only TASK...]',
  options: {
    out: { type: 'string', description: 'output folder: report.html, results.json, runs/<task>/', default: 'runs/demo', valueName: 'DIR' },
    quick: { type: 'boolean', description: 'a smoke run: tiny subsets, one epoch each' },
    only: { type: 'strings', description: 'run only these tasks: image, audio, tabular, time-series, point-cloud', valueName: 'TASK...' },
    data: { type: 'string', description: 'demo data folder (default: data/demo of the package)', valueName: 'DIR' },
    seed: { type: 'number', description: 'seed of the initialisation, splits and shuffling', default: 0, valueName: 'N' },
    progress: { type: 'string', description: 'training progress on stderr: auto | tty | plain | none', default: 'auto', valueName: 'MODE' },
  },
  examples: ['npm start', 'omniformer demo --out /tmp/demo', 'omniformer demo --quick --only image tabular'],
  details: 'The demo data (under 10 MB, sources and licences in data/demo/README.md) is rebuilt by tools/demo/make-demo-data.py.',
  async run(o) {
    const p = o.progress as string;
    if (!['auto', 'tty', 'plain', 'none'].includes(p)) throw new UsageError(`--progress must be auto, tty, plain or none, got '${p}'`);
    const { runDemo } = await import('../demo/run.js');
    await runDemo({
      out: o.out as string, quick: Boolean(o.quick), only: o.only as string[] | undefined, data: o.data as string | undefined,
      seed: o.seed as number, progress: (p === 'none' ? 'silent' : p) as ProgressMode,
    });
    return 0;
  },
};
