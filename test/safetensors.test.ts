import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Tensor, Variable, SafetensorsError, StateDictError, decodeSafetensors, encodeSafetensors, readSafetensors, writeSafetensors,
  writeFileAtomic, writeFileAtomicSync, saveStateDict, loadStateDict, f16ToF32, bf16ToF32,
} from '../src/index.js';
import { Module } from '../src/nn/module.js';

/** Build a safetensors file by hand: header object + raw data bytes. */
function rawFile(header: unknown, data: Uint8Array, headerText?: string): Uint8Array {
  const json = new TextEncoder().encode(headerText ?? JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}
const u16bytes = (bits: number[]): Uint8Array => new Uint8Array(Uint16Array.from(bits).buffer);

test('safetensors round trip: F32, I64 and BOOL tensors with metadata, aligned layout, file and memory', async () => {
  const w = Float32Array.from({ length: 12 }, (_, i) => Math.sin(i) * 1e3);
  const tensors = new Map<string, Tensor | { shape: number[]; data: Float32Array | BigInt64Array | Uint8Array }>([
    ['mask', { shape: [3], data: Uint8Array.of(1, 0, 1) }],
    ['layer.weight', new Variable(w, [3, 4])],
    ['steps', { shape: [2], data: BigInt64Array.of(-5n, 9007199254740993n) }],
    ['scalar', { shape: [], data: Float32Array.of(Math.PI) }],
    ['empty', { shape: [0, 4], data: new Float32Array(0) }],
  ]);
  const bytes = encodeSafetensors(tensors, { format: 'pt', note: 'héllo' });
  const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal((8 + headerLen) % 8, 0, 'data section starts 8-byte aligned');
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen))) as Record<string, { dtype: string; data_offsets: number[] }>;
  assert.deepEqual(header.steps, { dtype: 'I64', shape: [2], data_offsets: [0, 16] }, 'widest dtype first: no holes, every tensor aligned');
  assert.equal(header.mask!.dtype, 'BOOL');

  const dir = mkdtempSync(join(tmpdir(), 'omni-st-'));
  try {
    const path = join(dir, 'model.safetensors');
    await writeSafetensors(path, tensors, { format: 'pt', note: 'héllo' });
    assert.deepEqual(readFileSync(path), Buffer.from(bytes));
    for (const decoded of [decodeSafetensors(bytes), await readSafetensors(path)]) {
      assert.deepEqual(decoded.metadata, { format: 'pt', note: 'héllo' });
      assert.deepEqual([...decoded.tensors.keys()].sort(), ['empty', 'layer.weight', 'mask', 'scalar', 'steps']);
      const lw = decoded.tensors.get('layer.weight')!;
      assert.deepEqual(lw.shape, [3, 4]);
      assert.equal(lw.storedDtype, 'F32');
      assert.deepEqual(lw.data, w);
      assert.deepEqual(decoded.tensors.get('steps')!.data, BigInt64Array.of(-5n, 9007199254740993n));
      assert.deepEqual(decoded.tensors.get('mask')!.data, Uint8Array.of(1, 0, 1));
      assert.deepEqual(decoded.tensors.get('scalar')!, { shape: [], data: Float32Array.of(Math.PI), storedDtype: 'F32' });
      assert.deepEqual(decoded.tensors.get('empty')!.shape, [0, 4]);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // An unaligned buffer (file bytes at an odd offset) still decodes, by copying.
  const shifted = new Uint8Array(bytes.length + 1);
  shifted.set(bytes, 1);
  assert.deepEqual(decodeSafetensors(shifted.subarray(1)).tensors.get('layer.weight')!.data, w);
  assert.throws(() => encodeSafetensors([['a', { shape: [2, 2], data: new Float32Array(3) }]]), /tensor 'a': shape \[2, 2\] has 4 elements but the data has 3/);
  assert.throws(() => encodeSafetensors([['a', { shape: [1], data: new Float32Array(1) }], ['a', { shape: [1], data: new Float32Array(1) }]]), /duplicate tensor name 'a'/);
});

test('F16 and BF16 decode to the known float32 values (normal, subnormal, extremes, inf, nan, -0)', () => {
  const f16 = [0x3c00, 0xc000, 0x3555, 0x7bff, 0x0001, 0x03ff, 0x0400, 0x7c00, 0xfc00, 0x7e00, 0x8000, 0x3800];
  const f16Expected = [1, -2, 0.333251953125, 65504, 2 ** -24, 1023 * 2 ** -24, 2 ** -14, Infinity, -Infinity, NaN, -0, 0.5];
  const bf16 = [0x3f80, 0xc040, 0x3e80, 0x4049, 0x7f80, 0x0001, 0x7f7f, 0xff80, 0x7fc0];
  const bf16Expected = [1, -3, 0.25, 3.140625, Infinity, 2 ** -133, 3.3895313892515355e38, -Infinity, NaN];
  assert.deepEqual(Array.from(f16ToF32(Uint16Array.from(f16))), f16Expected);
  assert.deepEqual(Array.from(bf16ToF32(Uint16Array.from(bf16))), bf16Expected);
  // Through a file with F16, BF16 and F64 entries.
  const f64 = new Uint8Array(Float64Array.of(0.1, -1e300).buffer);
  const data = new Uint8Array(f16.length * 2 + bf16.length * 2 + 16);
  data.set(f64, 0);
  data.set(u16bytes(f16), 16);
  data.set(u16bytes(bf16), 16 + f16.length * 2);
  const file = rawFile({
    d: { dtype: 'F64', shape: [2], data_offsets: [0, 16] },
    h: { dtype: 'F16', shape: [3, 4], data_offsets: [16, 16 + f16.length * 2] },
    b: { dtype: 'BF16', shape: [bf16.length], data_offsets: [16 + f16.length * 2, data.length] },
  }, data);
  const { tensors } = decodeSafetensors(file);
  assert.deepEqual(Array.from(tensors.get('h')!.data as Float32Array), f16Expected);
  assert.deepEqual(tensors.get('h')!.shape, [3, 4]);
  assert.equal(tensors.get('h')!.storedDtype, 'F16');
  assert.deepEqual(Array.from(tensors.get('b')!.data as Float32Array), bf16Expected);
  assert.deepEqual(Array.from(tensors.get('d')!.data as Float32Array), [Math.fround(0.1), -Infinity]);
  // Other integer types widen to int64.
  const ints = rawFile({ i: { dtype: 'I32', shape: [2], data_offsets: [0, 8] }, u: { dtype: 'U8', shape: [2], data_offsets: [8, 10] } },
    Uint8Array.from([...new Uint8Array(Int32Array.of(-7, 123456).buffer), 255, 3]));
  const it = decodeSafetensors(ints).tensors;
  assert.deepEqual(it.get('i')!.data, BigInt64Array.of(-7n, 123456n));
  assert.deepEqual(it.get('u')!.data, BigInt64Array.of(255n, 3n));
});

test('safetensors errors name the file and the tensor', async () => {
  const ok = { w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
  const data = new Uint8Array(8);
  const e = (re: RegExp) => (err: Error): boolean => err instanceof SafetensorsError && re.test(err.message);
  assert.throws(() => decodeSafetensors(new Uint8Array(5), 'tiny.st'), e(/'tiny\.st'.*truncated file: 5 bytes/));
  const full = rawFile(ok, data);
  assert.throws(() => decodeSafetensors(full.subarray(0, 20), 'cut.st'), e(/'cut\.st'.*truncated file: header claims \d+ bytes but only 12 follow/));
  assert.throws(() => decodeSafetensors(rawFile(null, data, '{"w": {"dtype": "F32",'), 'bad.st'), e(/'bad\.st'.*bad header JSON/));
  assert.throws(() => decodeSafetensors(rawFile(null, data, '[1, 2]'), 'arr.st'), e(/bad header JSON: expected an object/));
  assert.throws(() => decodeSafetensors(rawFile({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, data), 'oob.st'),
    e(/'oob\.st'.*tensor 'w': data_offsets \[0, 16\] out of range for a data section of 8 bytes/));
  assert.throws(() => decodeSafetensors(rawFile({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, data), 'size.st'),
    e(/tensor 'w': F32 shape \[3\] needs 12 bytes but data_offsets \[0, 8\] span 8/));
  assert.throws(() => decodeSafetensors(rawFile({ q: { dtype: 'F8_E4M3', shape: [8], data_offsets: [0, 8] } }, data), 'fp8.st'),
    e(/'fp8\.st'.*tensor 'q': unsupported dtype "F8_E4M3" \(supported: F64, F32, F16, BF16/));
  assert.throws(() => decodeSafetensors(rawFile({ w: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, data)), e(/tensor 'w': bad shape/));
  assert.throws(() => decodeSafetensors(rawFile({ w: { dtype: 'F32', shape: [2], data_offsets: [8, 0] } }, data)), e(/tensor 'w': data_offsets \[8, 0\] out of range/));
  assert.throws(() => decodeSafetensors(rawFile({ __metadata__: { a: 1 } }, data)), e(/__metadata__ entry 'a' must be a string/));
  const dir = mkdtempSync(join(tmpdir(), 'omni-st-err-'));
  try {
    const path = join(dir, 'broken.safetensors');
    writeFileSync(path, rawFile({ w: { dtype: 'U64', shape: [1], data_offsets: [0, 8] } }, data));
    await assert.rejects(readSafetensors(path), e(new RegExp(`'${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}'.*tensor 'w': unsupported dtype "U64"`)));
    await assert.rejects(readSafetensors(join(dir, 'missing.safetensors')), /ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('writeFileAtomic replaces the file whole and leaves no temp files', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'omni-atomic-'));
  try {
    const path = join(dir, 'out.bin');
    writeFileSync(path, 'old contents that are longer than the new ones');
    await writeFileAtomic(path, new TextEncoder().encode('new'));
    assert.equal(readFileSync(path, 'utf8'), 'new');
    writeFileAtomicSync(path, Uint8Array.of(1, 2, 3));
    assert.deepEqual([...readFileSync(path)], [1, 2, 3]);
    const big = new Uint8Array(3 << 20).map((_, i) => i * 7);
    await writeFileAtomic(path, big);
    assert.deepEqual(readFileSync(path), Buffer.from(big));
    assert.deepEqual(readdirSync(dir), ['out.bin']);
    await assert.rejects(writeFileAtomic(join(dir, 'no-such-dir', 'x.bin'), Uint8Array.of(1)), /ENOENT/);
    assert.deepEqual(readdirSync(dir), ['out.bin']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

class Block extends Module {
  weight = new Variable(Float32Array.from({ length: 6 }, (_, i) => i), [2, 3]);
  bias = new Variable(Float32Array.of(0.5, -0.5), [2]);
  count = new Variable(BigInt64Array.of(3n), [], 'buffer');
}
class Net extends Module {
  blocks = [new Block(), new Block()];
  head = new Variable(Float32Array.of(1, 2, 3, 4), [4]);
}

test('saveStateDict / loadStateDict round trip with dotted names, buffers and F16 checkpoints', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'omni-sd-'));
  try {
    const a = new Net();
    a.blocks[1]!.weight.assignSync(Float32Array.of(9, 8, 7, 6, 5, 4));
    a.blocks[0]!.count.assignSync(BigInt64Array.of(42n));
    const path = join(dir, 'net.safetensors');
    await saveStateDict(a, path, { epoch: '3' });
    const file = await readSafetensors(path);
    assert.deepEqual([...file.tensors.keys()].sort(), ['blocks.0.bias', 'blocks.0.count', 'blocks.0.weight', 'blocks.1.bias', 'blocks.1.count', 'blocks.1.weight', 'head']);
    assert.equal(file.metadata.epoch, '3');
    const b = new Net();
    const version = b.blocks[1]!.weight.version;
    const r = await loadStateDict(b, path);
    assert.deepEqual(r, { missing: [], unexpected: [], mismatched: [] });
    assert.deepEqual(b.blocks[1]!.weight.value, Float32Array.of(9, 8, 7, 6, 5, 4));
    assert.deepEqual(b.blocks[0]!.count.value, BigInt64Array.of(42n));
    assert.ok(b.blocks[1]!.weight.version > version, 'assigning bumps the version (baked copies recompile)');

    // A half-precision checkpoint loads into float32 parameters.
    const f16 = new Map([['head', { shape: [4], data: Uint16Array.of(0x3c00, 0x4000, 0x4200, 0x4400) }]]);
    const half = rawFile({ head: { dtype: 'F16', shape: [4], data_offsets: [0, 8] } }, u16bytes([...f16.get('head')!.data]));
    writeFileSync(join(dir, 'half.safetensors'), half);
    const c = new Net();
    const partial = await loadStateDict(c, join(dir, 'half.safetensors'), { strict: false });
    assert.deepEqual(c.head.value, Float32Array.of(1, 2, 3, 4));
    assert.equal(partial.missing.length, 6);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('loadStateDict strict mode lists missing, unexpected and mis-shaped keys with both shapes, and changes nothing', async () => {
  const net = new Net();
  const ck = new Map<string, { shape: number[]; data: Float32Array | BigInt64Array }>([
    ['blocks.0.weight', { shape: [3, 2], data: new Float32Array(6).fill(7) }],
    ['blocks.0.bias', { shape: [2], data: Float32Array.of(1, 1) }],
    ['blocks.0.count', { shape: [], data: Float32Array.of(1) }],
    ['blocks.1.weight', { shape: [2, 3], data: new Float32Array(6).fill(2) }],
    ['blocks.1.bias', { shape: [2], data: Float32Array.of(3, 3) }],
    ['head', { shape: [4], data: Float32Array.of(0, 0, 0, 0) }],
    ['extra.weight', { shape: [1], data: Float32Array.of(1) }],
  ]);
  const before = net.stateDict();
  const snapshot = new Map([...before].map(([k, v]) => [k, v.value]));
  await assert.rejects(loadStateDict(net, ck), (err: Error) => {
    assert.ok(err instanceof StateDictError);
    assert.match(err.message, /1 missing, 1 unexpected, 2 mismatched/);
    assert.match(err.message, /missing keys: blocks\.1\.count/);
    assert.match(err.message, /unexpected keys: extra\.weight/);
    assert.match(err.message, /mismatched 'blocks\.0\.weight': checkpoint float32 \[3, 2\] vs model float32 \[2, 3\]/);
    assert.match(err.message, /mismatched 'blocks\.0\.count': checkpoint float32 \[\] vs model int64 \[\]/);
    assert.deepEqual(err.result.missing, ['blocks.1.count']);
    return true;
  });
  for (const [k, v] of net.stateDict()) assert.equal(v.value, snapshot.get(k), `${k} untouched after a strict failure`);
  const r = await loadStateDict(net, ck, { strict: false });
  assert.deepEqual(r.missing, ['blocks.1.count']);
  assert.deepEqual(r.unexpected, ['extra.weight']);
  assert.deepEqual(r.mismatched.map((m) => [m.key, m.checkpointShape, m.modelShape]), [['blocks.0.weight', [3, 2], [2, 3]], ['blocks.0.count', [], []]]);
  assert.deepEqual(net.blocks[1]!.weight.value, new Float32Array(6).fill(2), 'matching keys load in non-strict mode');
  assert.deepEqual(net.blocks[0]!.weight.value, Float32Array.from({ length: 6 }, (_, i) => i), 'mis-shaped keys are skipped');
});
