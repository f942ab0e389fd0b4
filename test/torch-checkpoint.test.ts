// PyTorch checkpoint reading and writing (src/io/pickle.ts, torch-checkpoint.ts, torch-save.ts, zip.ts) against
// files torch.save wrote (tools/fixtures/pth_fixtures.py, torch 1.13) and against malicious / broken files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Linear, PickleError, TorchCheckpointError, loadStateDict, readTorchCheckpoint, readTorchCheckpointInfo, readTorchCheckpointInfoSync,
  readTorchCheckpointSync, unpickle, writeTorchCheckpoint, writeTorchCheckpointSync, type StoredTensor,
} from '../src/index.js';
import { Generator } from '../src/engine/functional/random.js';
import { torchArchiveEntries } from '../src/io/torch-save.js';
import { parseCentralDirectory, writeZipSync } from '../src/io/zip.js';
import { readEncoderFile } from '../src/pipeline/model.js';
import { MetaTransformerEncoder, loadEncoderWeights } from '../src/encoders/meta-transformer.js';

const dir = new URL('../../test/fixtures/pth/', import.meta.url).pathname;
interface Expected {
  tensors: Record<string, { shape: number[]; torch_dtype: string; f32_bits?: number[]; int?: string[]; bool?: number[] }>;
  skipped: string[];
  parameters: number;
  errors: Record<string, string>;
}
const fx = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as Expected;
const PWNED = '/tmp/omniformer-pwned';

const STORED: Record<string, string> = { float32: 'F32', float16: 'F16', bfloat16: 'BF16', float64: 'F64', int64: 'I64', int32: 'I32', int16: 'I16', int8: 'I8', uint8: 'U8', bool: 'BOOL' };

/** Every expected tensor is present with torch's shape and exactly torch's values (float32 bit patterns). */
function assertMatchesTorch(tensors: Map<string, StoredTensor>, file: string): void {
  assert.deepEqual([...tensors.keys()], Object.keys(fx.tensors), `${file}: keys in state-dict order`);
  for (const [k, e] of Object.entries(fx.tensors)) {
    const t = tensors.get(k)!;
    assert.deepEqual(t.shape, e.shape, `${file} '${k}' shape`);
    assert.equal(t.storedDtype, STORED[e.torch_dtype], `${file} '${k}' stored dtype`);
    if (e.f32_bits) {
      assert.ok(t.data instanceof Float32Array, `${file} '${k}' float32`);
      assert.deepEqual([...new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length)], e.f32_bits, `${file} '${k}' values (bit-exact)`);
    } else if (e.int) {
      assert.ok(t.data instanceof BigInt64Array, `${file} '${k}' int64`);
      assert.deepEqual([...t.data].map(String), e.int, `${file} '${k}' values`);
    } else {
      assert.ok(t.data instanceof Uint8Array, `${file} '${k}' bool`);
      assert.deepEqual([...t.data], e.bool, `${file} '${k}' values`);
    }
  }
}

test('torch.save zip and legacy files: every dtype, views, shared storages, parameters, numpy scalars match torch exactly (sync and async)', async () => {
  for (const file of ['zip.pth', 'legacy.pth']) {
    const p = join(dir, file);
    const info = await readTorchCheckpointInfo(p);
    assert.equal(info.format, file === 'zip.pth' ? 'zip' : 'legacy');
    assertMatchesTorch(info.tensors, file);
    assert.deepEqual(info.skipped, fx.skipped, 'numpy scalars are parsed (numpy.core.multiarray.scalar) and reported as non-tensors');
    assert.equal(info.parameters, fx.parameters, 'one nn.Parameter (_rebuild_parameter)');
    assert.deepEqual(info.unwrapped, []);
    assert.equal(info.strippedPrefix, null);
    assert.deepEqual(info.dtypeCounts, { F32: 8, F16: 1, BF16: 1, F64: 1, I64: 1, I32: 1, I16: 1, I8: 1, U8: 1, BOOL: 1 });
    assertMatchesTorch(readTorchCheckpointSync(p), `${file} (sync)`);
    assertMatchesTorch(await readTorchCheckpoint(p), `${file} (async)`);
    // shared storage: two tensors, two independent arrays
    const t = readTorchCheckpointSync(p);
    assert.notEqual(t.get('shared.a')!.data.buffer, t.get('shared.b')!.data.buffer);
  }
});

test('wrapper dicts are unwrapped and a DataParallel module. prefix stripped; key and stripPrefix options', async () => {
  for (const file of ['wrapped.pth', 'wrapped_legacy.pth']) {
    const p = join(dir, file);
    const info = readTorchCheckpointInfoSync(p);
    assertMatchesTorch(info.tensors, file);
    assert.deepEqual(info.unwrapped, ['state_dict']);
    assert.equal(info.strippedPrefix, 'module.');
    assert.deepEqual(info.topLevelKeys, ['epoch', 'state_dict', 'optimizer', 'args']);
    const kept = await readTorchCheckpoint(p, { stripPrefix: false });
    assert.ok([...kept.keys()].every((k) => k.startsWith('module.')));
    assert.throws(() => readTorchCheckpointSync(p, { key: 'optimizer' }), /no tensors found under 'optimizer'/);
    assert.throws(() => readTorchCheckpointSync(p, { key: 'nope' }), /key 'nope' is not in the file; top-level keys: epoch, state_dict, optimizer, args/);
  }
});

test('malicious and broken files are refused with a clear error, and nothing runs', async () => {
  if (existsSync(PWNED)) unlinkSync(PWNED); // our own marker from an earlier run of some other tool
  assert.ok(Object.keys(fx.errors).length >= 10);
  for (const [file, message] of Object.entries(fx.errors)) {
    const p = join(dir, file);
    assert.throws(() => readTorchCheckpointSync(p), (e: unknown) => {
      assert.ok(e instanceof TorchCheckpointError, `${file}: ${String(e)}`);
      assert.ok(e.message.includes(message), `${file}: '${e.message}' should mention '${message}'`);
      assert.ok(e.message.includes(file), `${file}: the error names the file`);
      return true;
    });
    await assert.rejects(readTorchCheckpoint(p), (e: unknown) => e instanceof TorchCheckpointError && e.message.includes(message));
  }
  assert.ok(!existsSync(PWNED), `${PWNED} must never be created`);
});

test("unknownGlobals: 'inert' reads tensors next to custom classes without importing or calling anything", async () => {
  const ckpt = join(dir, 'custom_class.ckpt');
  assert.throws(() => readTorchCheckpointSync(ckpt), /refusing to load global '__main__\.HParams'/, 'refused by default');
  const info = await readTorchCheckpointInfo(ckpt, { unknownGlobals: 'inert' });
  assert.deepEqual(info.inertGlobals, ['__main__.HParams']);
  assert.deepEqual(info.unwrapped, ['state_dict']);
  assert.deepEqual(info.tensors.get('w')!.shape, [2, 3]);
  assert.deepEqual([...info.tensors.get('w')!.data as Float32Array], [0, 1, 2, 3, 4, 5]);
  // the same mode on the malicious files: still nothing runs; inert records in the state dict are skipped
  if (existsSync(PWNED)) unlinkSync(PWNED);
  const nested = readTorchCheckpointInfoSync(join(dir, 'evil_nested.pth'), { unknownGlobals: 'inert' });
  assert.deepEqual(nested.inertGlobals, ['subprocess.call']);
  assert.deepEqual([...nested.tensors.keys()], ['a']);
  assert.deepEqual(nested.skipped, ['extra']);
  assert.throws(() => readTorchCheckpointSync(join(dir, 'evil_os_system.pth'), { unknownGlobals: 'inert' }), /top-level object is not a dict \(got <os\.system object>\)/);
  assert.throws(() => readTorchCheckpointSync(join(dir, 'evil_posix_reduce.pth'), { unknownGlobals: 'inert' }), /storage keys: pickle truncated/, 'parses as an inert record, then the file ends');
  assert.ok(!existsSync(PWNED));
});

test('pickle VM: allowlist, protocol 0 INST, malformed streams and a mutation fuzz that never hangs', () => {
  const b = (s: string): Uint8Array => new Uint8Array([...s].map((c) => c.charCodeAt(0)));
  // protocol 0 INST of os.system, GLOBAL of builtins.exec / getattr / posix.system via STACK_GLOBAL
  assert.throws(() => unpickle(b("(S'touch /tmp/omniformer-pwned'\nios\nsystem\n.")), /refusing to load global 'os.system'/);
  assert.throws(() => unpickle(b('\x80\x02c__builtin__\nexec\n.')), /refusing to load global 'builtins.exec'/, 'Python 2 names are mapped then checked');
  assert.throws(() => unpickle(b('\x80\x02cbuiltins\ngetattr\n.')), /refusing to load global 'builtins.getattr'/);
  assert.throws(() => unpickle(b('\x80\x04\x8c\x05posix\x8c\x06system\x93.')), /refusing to load global 'posix.system'/);
  assert.throws(() => unpickle(b('\x80\x02ctorch\nFloatStorage\n)R.')), /allowed only as a type tag/);
  assert.throws(() => unpickle(b('\x80\x02K\x01')), /without a STOP/);
  assert.throws(() => unpickle(b('\x80\x02X\x05\x00\x00\x00ab')), /truncated/);
  assert.throws(() => unpickle(b('\x80\x02K\x01K\x02.')), /left on the stack/);
  assert.throws(() => unpickle(b('\x80\x02h\x07.')), /memo key 7 was never stored/);
  assert.throws(() => unpickle(b('\x80\x02u.')), /no MARK/);
  assert.throws(() => unpickle(b('\x80\x09.')), /unsupported pickle protocol 9/);
  assert.throws(() => unpickle(b('\x80\x02\x95\xff\xff\xff\xff\xff\xff\xff\x7f.')), /truncated/, 'a huge FRAME length');
  // plain containers, protocol 0-4
  const v = unpickle(b('\x80\x02}q\x00(X\x01\x00\x00\x00a]q\x01(K\x01G?\xf8\x00\x00\x00\x00\x00\x00\x88eX\x01\x00\x00\x00bNu.')).value as Map<string, unknown>;
  assert.deepEqual(v.get('a'), [1, 1.5, true]);
  assert.equal(v.get('b'), null);
  assert.deepEqual(unpickle(b("(lp0\nI5\naS'x'\na.")).value, [5, 'x']);
  assert.equal(unpickle(b('\x80\x02\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01.')).value, 1n << 64n);
  assert.deepEqual(unpickle(b('\x80\x02c_codecs\nencode\nX\x02\x00\x00\x00\xc3\xbfX\x06\x00\x00\x00latin1\x86R.')).value, Uint8Array.of(0xff));

  // mutation fuzz over a real torch data.pkl: every mutant either parses or raises PickleError, quickly
  const zip = readFileSync(join(dir, 'zip.pth'));
  const start = zip.indexOf(Buffer.from([0x80, 0x02])), stop = zip.indexOf(Buffer.from('PK\x03\x04'), start);
  const pkl = new Uint8Array(zip.subarray(start, stop));
  const g = new Generator(1);
  const rnd = g.intData(20000, 0, 1 << 30);
  const t0 = performance.now();
  let parsed = 0, refused = 0;
  for (let i = 0; i < 2000; i++) {
    const m = pkl.slice(0, Number(rnd[i * 4]! % BigInt(pkl.length)) + 1 + (i % 2 ? pkl.length : 0));
    for (let j = 0; j < 3; j++) m[Number(rnd[i * 4 + 1 + j]! % BigInt(m.length))] = Number(rnd[(i * 4 + 2 + j) % 20000]! % 256n);
    try {
      unpickle(m, { persistentLoad: (pid) => pid, globals: { 'torch._utils._rebuild_tensor_v2': () => 't', 'torch._utils._rebuild_parameter': () => 'p' } });
      parsed++;
    } catch (e) {
      assert.ok(e instanceof PickleError, `mutant ${i}: ${String(e)}`);
      refused++;
    }
  }
  assert.equal(parsed + refused, 2000);
  assert.ok(refused > 1000, `most mutants are refused (${refused})`);
  assert.ok(performance.now() - t0 < 20000, 'the fuzz finishes quickly');
});

test('file fuzz: corrupted and cut checkpoints fail with TorchCheckpointError only', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'omni-pth-fuzz-'));
  try {
    const g = new Generator(2);
    const r = g.intData(4 * 4 * 400 * 6, 0, 1 << 30);
    let n = 0, failed = 0;
    const next = (): number => Number(r[n++]!);
    const p = join(tmp, 'f.pth');
    for (const file of ['zip.pth', 'legacy.pth', 'wrapped.pth', 'wrapped_legacy.pth']) {
      const orig = readFileSync(join(dir, file));
      for (let i = 0; i < 250; i++) {
        const m = Buffer.from(orig);
        for (let j = 0; j < 3; j++) m[next() % m.length] = next() & 255;
        writeFileSync(p, i % 4 === 0 ? m.subarray(0, next() % m.length) : m);
        try { readTorchCheckpointSync(p); } catch (e) {
          assert.ok(e instanceof TorchCheckpointError, `${file} mutant ${i}: ${String(e)}`);
          failed++;
        }
      }
    }
    assert.ok(failed > 250, `many mutants are refused (${failed} of 1000)`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('writeTorchCheckpoint round trip (sync and async), 64-byte aligned stored entries, loadStateDict from a .pth path', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'omni-pth-'));
  try {
    const tensors = new Map<string, { shape: number[]; data: Float32Array | BigInt64Array | Uint8Array }>([
      ['w', { shape: [2, 3], data: Float32Array.of(1, -2, 3.5, NaN, -0, Infinity) }],
      ['steps', { shape: [2], data: BigInt64Array.of(-(2n ** 63n), 2n ** 62n + 1n) }],
      ['mask', { shape: [3], data: Uint8Array.of(1, 0, 1) }],
      ['scalar', { shape: [], data: Float32Array.of(0.1) }],
      ['empty', { shape: [0, 7], data: new Float32Array(0) }],
      ['big.dims', { shape: [1, 70000], data: new Float32Array(70000).map((_, i) => i) }],
    ]);
    const a = join(tmp, 'a.pth'), b = join(tmp, 'b.pt');
    writeTorchCheckpointSync(a, tensors);
    let progress = 0;
    await writeTorchCheckpoint(b, tensors, { onProgress: (d, t) => { assert.ok(d <= t); progress++; } });
    assert.ok(progress >= tensors.size);
    assert.deepEqual(readFileSync(a), readFileSync(b), 'sync and async writers produce the same bytes');
    for (const p of [a, b]) {
      const back = await readTorchCheckpoint(p);
      assert.deepEqual([...back.keys()], [...tensors.keys()]);
      for (const [k, t] of tensors) {
        const r = back.get(k)!;
        assert.deepEqual(r.shape, t.shape);
        assert.deepEqual(Buffer.from(r.data.buffer, r.data.byteOffset, r.data.byteLength), Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength), `'${k}' bytes`);
      }
    }
    // torch's layout: storages are stored entries whose data starts on a 64-byte boundary
    const bytes = readFileSync(a);
    for (let i = bytes.indexOf('PK\x03\x04'); i >= 0; i = bytes.indexOf('PK\x03\x04', i + 4)) {
      const nameLen = bytes.readUInt16LE(i + 26), extraLen = bytes.readUInt16LE(i + 28);
      assert.equal(bytes.readUInt16LE(i + 8), 0, 'stored');
      if (bytes.subarray(i + 30, i + 30 + nameLen).toString().includes('/data/')) assert.equal((i + 30 + nameLen + extraLen) % 64, 0, 'aligned data');
    }
    // loadStateDict accepts a .pth path
    const lin = new Linear(4, 3, { generator: new Generator(3) });
    const w = new Float32Array(12).map((_, i) => i / 8 - 0.5), bias = Float32Array.of(0.25, -1, 2);
    const p = join(tmp, 'linear.pth');
    writeTorchCheckpointSync(p, new Map([['weight', { shape: [3, 4], data: w }], ['bias', { shape: [3], data: bias }]]));
    await loadStateDict(lin, p);
    assert.deepEqual([...lin.weight.value as Float32Array], [...w]);
    assert.deepEqual([...lin.bias!.value as Float32Array], [...bias]);
    lin.dispose();
    // not a checkpoint
    const junk = join(tmp, 'junk.pth');
    writeFileSync(junk, 'hello world, not a checkpoint');
    assert.throws(() => readTorchCheckpointSync(junk), /not a PyTorch checkpoint: starts with "hello wo"/);
    assert.throws(() => readTorchCheckpointSync(join(tmp, 'missing.pth')), (e: unknown) => e instanceof TorchCheckpointError && /missing\.pth/.test(e.message));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('ZIP64 and positional reads past 4 GiB: an archive placed 5 GiB into a sparse file', async (t) => {
  // The archive's entries start 5 GiB into the file (a hole, so nothing is written there): every local-header
  // offset and the central directory offset overflow 32 bits, so the writer emits ZIP64 extra fields and the
  // ZIP64 end record, and the reader must parse them and read each storage by position beyond 4 GiB.
  const tmp = mkdtempSync(join(tmpdir(), 'omni-pth64-'));
  try {
    const w = new Float32Array(1000).map((_, i) => Math.sin(i));
    const steps = BigInt64Array.of(1n, -2n, 3n);
    const p = join(tmp, 'far.pth');
    const offset = 5 * 2 ** 30;
    try {
      writeZipSync(p, torchArchiveEntries([['w', { shape: [10, 100], data: w }], ['steps', { shape: [3], data: steps }]]), { offset });
    } catch (e) {
      t.skip(`cannot write a sparse 5 GiB file here: ${(e as Error).message}`);
      return;
    }
    assert.ok(statSync(p).size > offset, 'the file is larger than 5 GiB');
    const tail = Buffer.alloc(98);
    const fd = openSync(p, 'r');
    readSync(fd, tail, 0, 98, statSync(p).size - 98);
    closeSync(fd);
    assert.equal(tail.readUInt32LE(0), 0x06064b50, 'ZIP64 end record present');
    assert.equal(tail.readUInt32LE(76 + 16), 0xffffffff, 'the 32-bit central directory offset is saturated');
    for (const info of [readTorchCheckpointInfoSync(p), await readTorchCheckpointInfo(p)]) {
      assert.equal(info.format, 'zip');
      assert.deepEqual(info.tensors.get('w')!.shape, [10, 100]);
      assert.deepEqual([...info.tensors.get('w')!.data as Float32Array], [...w]);
      assert.deepEqual([...info.tensors.get('steps')!.data as BigInt64Array], [1n, -2n, 3n]);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('ZIP64 central records (sizes and offsets past 4 GiB), big-endian archives refused, read progress', () => {
  // a central record whose size, compressed size and header offset are all 0xFFFFFFFF, resolved by the ZIP64 extra
  const name = Buffer.from('archive/data/0');
  const rec = Buffer.alloc(46 + name.length + 4 + 24);
  rec.writeUInt32LE(0x02014b50, 0);
  rec.writeUInt32LE(0xffffffff, 20); rec.writeUInt32LE(0xffffffff, 24); rec.writeUInt32LE(0xffffffff, 42);
  rec.writeUInt16LE(name.length, 28); rec.writeUInt16LE(28, 30);
  name.copy(rec, 46);
  rec.writeUInt16LE(1, 46 + name.length); rec.writeUInt16LE(24, 48 + name.length);
  rec.writeBigUInt64LE(5n * 2n ** 32n + 7n, 50 + name.length);
  rec.writeBigUInt64LE(5n * 2n ** 32n + 7n, 58 + name.length);
  rec.writeBigUInt64LE(6n * 2n ** 32n, 66 + name.length);
  const [e] = parseCentralDirectory(rec, 1);
  assert.deepEqual(e, { name: 'archive/data/0', method: 0, compressedSize: 5 * 2 ** 32 + 7, size: 5 * 2 ** 32 + 7, crc32: 0, localHeaderOffset: 6 * 2 ** 32 });
  assert.throws(() => parseCentralDirectory(rec, 2), /holds 1 records, the end record says 2/);

  const tmp = mkdtempSync(join(tmpdir(), 'omni-pth-be-'));
  try {
    const entries = torchArchiveEntries([['w', { shape: [2], data: Float32Array.of(1, 2) }]]);
    entries.find((x) => x.name.endsWith('byteorder'))!.chunks = [Buffer.from('big')];
    const p = join(tmp, 'big.pth');
    writeZipSync(p, entries);
    assert.throws(() => readTorchCheckpointSync(p), /byte order 'big' is not supported/);
    // progress: called per storage, ending at the total
    const q = join(tmp, 'progress.pth');
    writeTorchCheckpointSync(q, [['a', { shape: [100], data: new Float32Array(100) }], ['b', { shape: [10], data: new BigInt64Array(10) }]]);
    const calls: [number, number][] = [];
    readTorchCheckpointSync(q, { onProgress: (d, t) => calls.push([d, t]) });
    assert.deepEqual(calls, [[400, 480], [480, 480]]);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('the pipeline reads a .pth encoder file and infers its configuration', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'omni-pth-enc-'));
  try {
    const D = 64, H = 4 * D, g = new Generator(5);
    const sd: [string, { shape: number[]; data: Float32Array }][] = [];
    for (let i = 0; i < 2; i++) {
      const add = (k: string, shape: number[]): void => { sd.push([`module.${i}.${k}`, { shape, data: g.normalData(shape.reduce((a, b) => a * b, 1)) }]); };
      add('norm1.weight', [D]); add('norm1.bias', [D]); add('attn.qkv.weight', [3 * D, D]); add('attn.qkv.bias', [3 * D]);
      add('attn.proj.weight', [D, D]); add('attn.proj.bias', [D]); add('norm2.weight', [D]); add('norm2.bias', [D]);
      add('mlp.fc1.weight', [H, D]); add('mlp.fc1.bias', [H]); add('mlp.fc2.weight', [D, H]); add('mlp.fc2.bias', [D]);
    }
    const p = join(tmp, 'encoder.pth');
    writeTorchCheckpointSync(p, sd);
    const r = await readEncoderFile(p);
    assert.equal(r.config.dim, D);
    assert.equal(r.config.depth, 2);
    assert.equal(r.config.numHeads, 1);
    assert.deepEqual([...r.tensors.get('1.mlp.fc2.bias')!.data as Float32Array], [...sd[23]![1].data]);
    // and loadEncoderWeights takes the .pth path directly
    const enc = new MetaTransformerEncoder(r.config, { generator: new Generator(9) });
    const res = await loadEncoderWeights(enc, p);
    assert.equal(res.loaded, 24);
    assert.deepEqual([...enc.stateDict().get('0.attn.qkv.weight')!.value as Float32Array], [...sd[2]![1].data]);
    enc.dispose();
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
