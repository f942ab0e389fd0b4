// A small, dependency-free argument parser: `--name value`, `--name=value`, boolean `--flag`, positionals.

export interface OptionSpec { type: 'string' | 'number' | 'boolean' | 'strings'; description: string; default?: string | number | boolean; valueName?: string }
export type OptionSpecs = Record<string, OptionSpec>;
export type ParsedOptions = Record<string, string | number | boolean | string[] | undefined>;

export class UsageError extends Error { override name = 'UsageError'; }

export function parseArgs(argv: string[], specs: OptionSpecs): { options: ParsedOptions; positionals: string[] } {
  const options: ParsedOptions = {};
  const positionals: string[] = [];
  for (const [k, s] of Object.entries(specs)) if (s.default !== undefined) options[k] = s.default;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) { positionals.push(arg); continue; }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const spec = specs[name];
    if (!spec) throw new UsageError(`unknown option --${name}`);
    if (spec.type === 'boolean') {
      options[name] = eq < 0 ? true : !['false', '0', 'no'].includes(arg.slice(eq + 1));
      continue;
    }
    let value: string | undefined = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined || (eq < 0 && value.startsWith('--'))) throw new UsageError(`option --${name} needs a value`);
    if (spec.type === 'number') {
      const n = Number(value);
      if (!Number.isFinite(n)) throw new UsageError(`option --${name} expects a number, got '${value}'`);
      options[name] = n;
    } else if (spec.type === 'strings') {
      const list = (options[name] as string[] | undefined) ?? [];
      list.push(value);
      // greedily take following non-option values: `--input a.wav b.wav`
      while (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) list.push(argv[++i]!);
      options[name] = list;
    } else options[name] = value;
  }
  return { options, positionals };
}

export function formatHelp(usage: string, summary: string, specs: OptionSpecs, examples: string[]): string {
  const rows = Object.entries(specs).map(([k, s]) => {
    const left = `  --${k}${s.type === 'boolean' ? '' : ` ${s.valueName ?? s.type.toUpperCase().replace('STRINGS', 'VALUE...')}`}`;
    const def = s.default !== undefined && s.type !== 'boolean' ? ` (default: ${s.default})` : '';
    return [left, `${s.description}${def}`] as const;
  });
  const width = Math.max(0, ...rows.map(([l]) => l.length)) + 2;
  const lines = [`Usage: ${usage}`, '', summary, ''];
  if (rows.length) lines.push('Options:', ...rows.map(([l, r]) => l.padEnd(width) + r), '');
  if (examples.length) lines.push('Examples:', ...examples.map((e) => `  ${e}`), '');
  return lines.join('\n');
}
