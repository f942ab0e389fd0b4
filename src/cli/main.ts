// omniformer command-line entry point. Each command lives in its own module with its own --help.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { UsageError, formatHelp, parseArgs, type OptionSpecs } from './args.js';

export interface Command {
  name: string;
  summary: string;
  usage: string;
  options: OptionSpecs;
  examples: string[];
  /** More help text printed after the examples (input formats, ...). */
  details?: string;
  run(options: Record<string, unknown>, positionals: string[]): Promise<number>;
}

function packageVersion(file: string): string {
  return (JSON.parse(readFileSync(new URL(file, import.meta.url), 'utf8')) as { version: string }).version;
}

function ortVersion(): string {
  try {
    const require = createRequire(import.meta.url);
    return (require('onnxruntime-node') as { env: { versions: { node?: string; common: string } } }).env.versions.common;
  } catch { return 'unknown'; }
}

const info: Command = {
  name: 'info',
  summary: 'Show the omniformer and onnxruntime versions, the execution providers and the thread count.',
  usage: 'omniformer info [--json]',
  options: { json: { type: 'boolean', description: 'print one JSON object' } },
  examples: ['omniformer info', 'OMNIFORMER_THREADS=1 omniformer info --json'],
  async run(o) {
    const { runtimeConfig } = await import('../engine/index.js');
    const data = {
      omniformer: packageVersion('../../../package.json'),
      onnxruntime: ortVersion(),
      node: process.versions.node,
      providers: runtimeConfig.providers,
      threads: runtimeConfig.threads,
      cores: availableParallelism(),
    };
    if (o.json) console.log(JSON.stringify(data));
    else for (const [k, v] of Object.entries(data)) console.log(`${k.padEnd(12)} ${Array.isArray(v) ? v.join(', ') : v}`);
    return 0;
  },
};

const commands: Command[] = [info];

/** Commands added by other modules (model commands register themselves here). */
export function registerCommand(c: Command): void { commands.push(c); }

function topHelp(): string {
  const width = Math.max(...commands.map((c) => c.name.length)) + 4;
  return [
    'Usage: omniformer <command> [options]',
    '',
    'omniformer: multimodal models written in TypeScript, traced to ONNX and run and trained on onnxruntime.',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    '',
    'Run `omniformer <command> --help` for a command\'s options and examples.',
    'Environment: OMNIFORMER_THREADS (intra-op threads, default all cores), OMNIFORMER_PROVIDERS (e.g. cuda,cpu),',
    '             OMNIFORMER_DUMP_ONNX (folder to write every compiled graph to).',
    '',
  ].join('\n');
}

function commandHelp(cmd: Command): string {
  const help = formatHelp(cmd.usage, cmd.summary, cmd.options, cmd.examples);
  return cmd.details ? `${help}\n${cmd.details}\n` : help;
}

export async function main(argv: string[]): Promise<number> {
  await import('./commands.js');
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') { console.log(topHelp()); return 0; }
  if (name === '--version' || name === '-v') { console.log(packageVersion('../../../package.json')); return 0; }
  const cmd = commands.find((c) => c.name === name);
  if (!cmd) { console.error(`omniformer: unknown command '${name}'\n\n${topHelp()}`); return 2; }
  if (rest.includes('--help') || rest.includes('-h')) { console.log(commandHelp(cmd)); return 0; }
  try {
    const { options, positionals } = parseArgs(rest, cmd.options);
    return await cmd.run(options, positionals);
  } catch (err) {
    if (err instanceof UsageError) { console.error(`omniformer ${cmd.name}: ${err.message}\n\n${commandHelp(cmd)}`); return 2; }
    throw err;
  }
}
