// `omniformer convert` end to end: bin/omniformer.js child processes on the compiled dist/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readNpy, readSafetensors, readTorchCheckpoint, writeNpy, writeTorchCheckpointSync, type StoredTensor } from '../src/index.js';
import { Generator } from '../src/engine/functional/random.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = join(root, 'bin', 'omniformer.js');
const fixtures = join(root, 'test', 'fixtures', 'pth');

interface Result { code: number | null; stdout: string; stderr: string }
function cli(args: string[], command = 'convert'): Promise<Result> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [bin, command, ...args], { cwd: root, env: { ...process.env, CI: 'true' } });
    let stdout = '', stderr = '';
    p.stdout.on('data', (d) => { stdout += String(d); });
    p.stderr.on('data', (d) => { stderr += String(d); });
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const bytesOf = (t: StoredTensor): Buffer => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
function assertSameTensors(a: Map<string, StoredTensor>, b: Map<string, StoredTensor>, what: string): void {
  assert.deepEqual([...b.keys()].sort(), [...a.keys()].sort(), `${what}: keys`);
  for (const [k, t] of a) {
    const u = b.get(k)!;
    assert.deepEqual(u.shape, t.shape, `${what}: '${k}' shape`);
    assert.equal(u.data.constructor, t.data.constructor, `${what}: '${k}' element type`);
    assert.ok(bytesOf(u).equals(bytesOf(t)), `${what}: '${k}' bytes`);
  }
}

test('convert .pth -> .safetensors -> .pth keeps every tensor byte-identical; safetensors -> pth -> safetensors is a fixed point', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'omni-convert-'));
  try {
    for (const src of ['zip.pth', 'legacy.pth', 'wrapped.pth']) {
      const st = join(dir, `${src}.safetensors`), back = join(dir, `${src}.back.pth`);
      const r1 = await cli([join(fixtures, src), st, '--json']);
      assert.equal(r1.code, 0, r1.stderr);
      const s1 = JSON.parse(r1.stdout.trim()) as { tensors: number; format: string; skipped: string[]; unwrapped: string[] };
      assert.equal(s1.tensors, 17);
      assert.equal(s1.format, src === 'legacy.pth' ? 'legacy' : 'zip');
      assert.deepEqual(s1.unwrapped, src === 'wrapped.pth' ? ['state_dict'] : []);
      if (src !== 'wrapped.pth') assert.deepEqual(s1.skipped, ['np_float', 'np_int']);
      const r2 = await cli([st, back]);
      assert.equal(r2.code, 0, r2.stderr);
      assert.match(r2.stdout, /safetensors, 17 tensors/);
      const original = await readTorchCheckpoint(join(fixtures, src));
      assertSameTensors(original, (await readSafetensors(st)).tensors, `${src} -> safetensors`);
      assertSameTensors(original, await readTorchCheckpoint(back), `${src} -> safetensors -> pth`);
      // and the other way round: the safetensors file comes back bit for bit
      const st2 = join(dir, `${src}.again.safetensors`);
      assert.equal((await cli([back, st2, '--quiet'])).code, 0);
      assert.ok(readFileSync(st2).equals(readFileSync(st)), `${src}: safetensors -> pth -> safetensors is byte-identical`);
    }
    // --keep-prefix and --key on a wrapped checkpoint
    const kept = join(dir, 'kept.safetensors');
    assert.equal((await cli([join(fixtures, 'wrapped.pth'), kept, '--keep-prefix', '--key', 'state_dict'])).code, 0);
    assert.ok([...(await readSafetensors(kept)).tensors.keys()].every((k) => k.startsWith('module.')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('convert refuses malicious and broken files with a clear error and writes nothing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'omni-convert-bad-'));
  try {
    const out = join(dir, 'out.safetensors');
    const evil = await cli([join(fixtures, 'evil_os_system.pth'), out]);
    assert.equal(evil.code, 1);
    assert.match(evil.stderr, /omniformer convert: torch checkpoint '.*evil_os_system\.pth': .*refusing to load global 'os\.system'/);
    assert.ok(!existsSync(out));
    assert.ok(!existsSync('/tmp/omniformer-pwned'));
    const junk = join(dir, 'junk.pt');
    writeFileSync(junk, 'PK\x03\x04 this is no zip at all');
    const bad = await cli([junk, out]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /junk\.pt'.*no end-of-central-directory record/);
    const trunc = await cli([join(fixtures, 'truncated_legacy.pth'), out]);
    assert.equal(trunc.code, 1);
    assert.match(trunc.stderr, /extend beyond the end of the file/);
    assert.ok(!existsSync(out));
    // usage errors: wrong extension, missing input, existing output without --force
    const ext = await cli([junk, join(dir, 'out.txt')]);
    assert.equal(ext.code, 2);
    assert.match(ext.stderr, /unknown extension '\.txt'/);
    const missing = await cli([join(dir, 'nope.pth'), out]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /nope\.pth' does not exist/);
    writeFileSync(out, 'x');
    const exists = await cli([join(fixtures, 'zip.pth'), out]);
    assert.equal(exists.code, 1);
    assert.match(exists.stderr, /exists; pass --force/);
    assert.equal((await cli([join(fixtures, 'zip.pth'), out, '--force'])).code, 0);
    // a custom class next to the weights: refused, or read with --inert-globals and a warning naming it
    const ck = await cli([join(fixtures, 'custom_class.ckpt'), out, '--force']);
    assert.equal(ck.code, 1);
    assert.match(ck.stderr, /refusing to load global '__main__\.HParams'/);
    const inert = await cli([join(fixtures, 'custom_class.ckpt'), out, '--force', '--inert-globals']);
    assert.equal(inert.code, 0, inert.stderr);
    assert.match(inert.stderr, /warning: .* kept as inert records \(not imported, not run\): __main__\.HParams/);
    assert.deepEqual([...(await readSafetensors(out)).tensors.keys()], ['w']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('encode --checkpoint takes the .pth directly and gives the same tokens as its safetensors conversion', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'omni-convert-enc-'));
  try {
    const D = 64, H = 4 * D, g = new Generator(11);
    const sd: [string, { shape: number[]; data: Float32Array }][] = [];
    for (let i = 0; i < 2; i++) {
      for (const [k, shape] of [['norm1.weight', [D]], ['norm1.bias', [D]], ['attn.qkv.weight', [3 * D, D]], ['attn.qkv.bias', [3 * D]], ['attn.proj.weight', [D, D]],
        ['attn.proj.bias', [D]], ['norm2.weight', [D]], ['norm2.bias', [D]], ['mlp.fc1.weight', [H, D]], ['mlp.fc1.bias', [H]], ['mlp.fc2.weight', [D, H]], ['mlp.fc2.bias', [D]]] as [string, number[]][]) {
        const n = shape.reduce((a, b) => a * b, 1);
        sd.push([`module.${i}.${k}`, { shape, data: k.startsWith('norm') && k.endsWith('weight') ? new Float32Array(n).fill(1) : g.normalData(n).map((v) => v * 0.05) }]);
      }
    }
    const pth = join(dir, 'enc.pth'), st = join(dir, 'enc.safetensors'), tokens = join(dir, 'tokens.npy');
    writeTorchCheckpointSync(pth, sd);
    await writeNpy(tokens, { shape: [2, 5, D], data: g.normalData(2 * 5 * D) });
    assert.equal((await cli([pth, st, '--quiet'])).code, 0);
    const a = await cli(['--checkpoint', pth, '--input', tokens, '--output', join(dir, 'a.npy')], 'encode');
    assert.equal(a.code, 0, a.stderr);
    const b = await cli(['--checkpoint', st, '--input', tokens, '--output', join(dir, 'b.npy')], 'encode');
    assert.equal(b.code, 0, b.stderr);
    const ya = await readNpy(join(dir, 'a.npy')), yb = await readNpy(join(dir, 'b.npy'));
    assert.deepEqual(ya.shape, [2, 5, D]);
    assert.ok(Buffer.from((ya.data as Float32Array).buffer).equals(Buffer.from((yb.data as Float32Array).buffer)), 'identical encoder outputs');
    const x = (await readNpy(tokens)).data as Float32Array;
    assert.ok((ya.data as Float32Array).some((v, i) => Math.abs(v - x[i]!) > 1e-3), 'the blocks changed the tokens');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
