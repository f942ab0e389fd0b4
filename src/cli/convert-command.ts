// `omniformer convert IN OUT`: PyTorch checkpoints (.pth/.pt/.bin/.ckpt) <-> safetensors, read without running
// the pickle (src/io/torch-checkpoint.ts) and written atomically.
import { existsSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { UsageError } from './args.js';
import type { Command } from './main.js';

const TORCH_EXTS = ['pth', 'pt', 'bin', 'ckpt'];
const extOf = (p: string): string => /\.([^./\\]+)$/.exec(p)?.[1]?.toLowerCase() ?? '';
const mb = (n: number): string => `${(n / 2 ** 20).toFixed(1)} MB`;

function kind(path: string, role: string): 'torch' | 'safetensors' {
  const e = extOf(path);
  if (e === 'safetensors') return 'safetensors';
  if (TORCH_EXTS.includes(e)) return 'torch';
  throw new UsageError(`${role} '${path}': unknown extension '.${e}' (use .safetensors or one of ${TORCH_EXTS.map((x) => `.${x}`).join(', ')})`);
}

/** Progress on stderr for big files: a percentage every 10% (or in place on a terminal). */
function progress(label: string, quiet: boolean): ((done: number, total: number) => void) | undefined {
  if (quiet) return undefined;
  let shown = -1;
  return (done, total) => {
    if (total < 64 * 2 ** 20) return;
    const pct = Math.floor((done / total) * 100);
    if (process.stderr.isTTY) { process.stderr.write(`\r${label} ${pct}% of ${mb(total)}${done >= total ? '\n' : ''}`); return; }
    const step = Math.floor(pct / 10);
    if (step > shown) { shown = step; process.stderr.write(`${label} ${pct}% of ${mb(total)}\n`); }
  };
}

export const CONVERT_COMMAND: Command = {
  name: 'convert',
  summary: 'Convert weights between PyTorch checkpoints (.pth/.pt/.bin/.ckpt) and safetensors, without running pickled code.',
  usage: 'omniformer convert IN OUT [--key KEY] [--keep-prefix] [--inert-globals] [--force] [--json]',
  options: {
    key: { type: 'string', description: "wrapper key holding the state dict (default: the first of state_dict, model, module, ... that holds tensors)", valueName: 'KEY' },
    'keep-prefix': { type: 'boolean', description: "keep a DataParallel 'module.' prefix (stripped by default when every key has it)" },
    'inert-globals': { type: 'boolean', description: 'turn Python classes off the allowlist into inert records (never imported or run) instead of refusing the file, e.g. for a Lightning .ckpt; they are listed on stderr' },
    force: { type: 'boolean', description: 'overwrite OUT if it exists' },
    quiet: { type: 'boolean', description: 'no progress on stderr' },
    json: { type: 'boolean', description: 'print one JSON object (the summary) on stdout' },
  },
  examples: [
    'omniformer convert Meta-Transformer_base_patch16_encoder.pth encoder.safetensors',
    'omniformer convert checkpoint.pth weights.safetensors --key state_dict_ema',
    'omniformer convert encoder.safetensors encoder.pth',
    'omniformer convert lightning.ckpt weights.safetensors --inert-globals',
  ],
  details: [
    'PyTorch files are read without executing them: only tensors, storages, dtypes, plain containers and numpy',
    'scalars may appear in the pickle; any other Python global (os.system, builtins.eval, a pickled nn.Module, ...)',
    'is refused (or, with --inert-globals, kept as an inert record and listed). Both torch.save formats are read (zip, and the legacy one of _use_new_zipfile_serialization=False).',
    'Tensors are written as float32 (float16 / bfloat16 / float64 widen or round to it), int64 (all integer types)',
    'and bool; the .pth written is the zip format torch.load reads. Entries that are not tensors are left out.',
  ].join('\n'),
  async run(o, positionals) {
    if (positionals.length !== 2) throw new UsageError(`expected IN and OUT, got ${positionals.length} argument(s)`);
    const [input, output] = positionals as [string, string];
    const from = kind(input, 'IN'), to = kind(output, 'OUT');
    if (resolve(input) === resolve(output)) throw new UsageError('IN and OUT are the same file');
    if (!existsSync(input)) { console.error(`omniformer convert: '${input}' does not exist`); return 1; }
    if (existsSync(output) && !o.force) { console.error(`omniformer convert: '${output}' exists; pass --force to overwrite it`); return 1; }
    const quiet = Boolean(o.quiet || o.json);
    const io = await import('../io/index.js');
    const t0 = performance.now();
    const summary: Record<string, unknown> = { input, output };
    try {
      let tensors: Map<string, { shape: number[]; data: Float32Array | BigInt64Array | Uint8Array }>;
      if (from === 'torch') {
        const info = await io.readTorchCheckpointInfo(input, {
          key: o.key as string | undefined, stripPrefix: !o['keep-prefix'], onProgress: progress('reading', quiet), unknownGlobals: o['inert-globals'] ? 'inert' : 'refuse',
        });
        tensors = info.tensors;
        if (info.inertGlobals.length) console.error(`omniformer convert: warning: '${input}' names Python globals off the allowlist, kept as inert records (not imported, not run): ${info.inertGlobals.join(', ')}`);
        Object.assign(summary, { format: info.format, unwrapped: info.unwrapped, strippedPrefix: info.strippedPrefix, dtypeCounts: info.dtypeCounts, skipped: info.skipped, inertGlobals: info.inertGlobals });
      } else {
        if (o.key !== undefined) throw new UsageError('--key applies to PyTorch inputs only');
        const c = await io.readSafetensors(input);
        tensors = c.tensors;
        const dtypeCounts: Record<string, number> = {};
        for (const t of c.tensors.values()) dtypeCounts[t.storedDtype] = (dtypeCounts[t.storedDtype] ?? 0) + 1;
        Object.assign(summary, { format: 'safetensors', dtypeCounts });
      }
      if (to === 'safetensors') await io.writeSafetensors(output, tensors, { format: 'pt' });
      else await io.writeTorchCheckpoint(output, tensors, { onProgress: progress('writing', quiet) });
      const params = [...tensors.values()].reduce((a, t) => a + t.data.length, 0);
      Object.assign(summary, { tensors: tensors.size, values: params, bytes: statSync(output).size, seconds: +((performance.now() - t0) / 1e3).toFixed(3) });
    } catch (e) {
      if (e instanceof UsageError) throw e;
      const known = e instanceof io.TorchCheckpointError || e instanceof io.SafetensorsError || e instanceof io.PickleError;
      console.error(`omniformer convert: ${known ? '' : `failed to convert '${input}': `}${(e as Error).message}`);
      return 1;
    }
    if (o.json) console.log(JSON.stringify(summary));
    else {
      const s = summary as { format: string; tensors: number; values: number; bytes: number; seconds: number; unwrapped?: string[]; strippedPrefix?: string | null; skipped?: string[]; dtypeCounts: Record<string, number> };
      const notes = [
        `${s.format}, ${s.tensors} tensors, ${s.values.toLocaleString('en-US')} values (${Object.entries(s.dtypeCounts).map(([k, v]) => `${k} x${v}`).join(', ')})`,
        ...(s.unwrapped?.length ? [`unwrapped '${s.unwrapped.join('.')}'`] : []),
        ...(s.strippedPrefix ? [`stripped '${s.strippedPrefix}'`] : []),
        ...(s.skipped?.length ? [`left out ${s.skipped.length} non-tensor entr${s.skipped.length === 1 ? 'y' : 'ies'}: ${s.skipped.slice(0, 5).join(', ')}${s.skipped.length > 5 ? ', ...' : ''}`] : []),
      ];
      console.log(`${basename(input)} -> ${output} (${mb(s.bytes)}) in ${s.seconds.toFixed(2)} s: ${notes.join('; ')}`);
    }
    return 0;
  },
};
