// Runs the real `omniformer` executable (bin/omniformer.js) in a child process for the CLI tests.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (tests run from dist/test/). */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const cliBin = join(repoRoot, 'bin', 'omniformer.js');

export interface CliResult { code: number | null; stdout: string; stderr: string }

/** Run `omniformer ARGS...` with CI=true (plain progress) and collect its exit code and output. */
export function runCli(args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [cliBin, ...args], { cwd: repoRoot, env: { ...process.env, CI: 'true' } });
    let stdout = '', stderr = '';
    p.stdout.on('data', (d) => { stdout += String(d); });
    p.stderr.on('data', (d) => { stderr += String(d); });
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The last stdout line of a successful `--json` command, parsed. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function lastJson(r: CliResult): Record<string, any> {
  assert.equal(r.code, 0, `exit code ${r.code}: ${r.stderr}`);
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!);
}
