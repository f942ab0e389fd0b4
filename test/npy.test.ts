import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeNpy, encodeNpy, readNpy, writeNpy, npyToFloat32, NpyError, type NpyData } from '../src/io/npy.js';

const dir = new URL('../../test/fixtures/npy/', import.meta.url);
const index = JSON.parse(readFileSync(new URL('index.json', dir), 'utf8')) as Record<string, { shape: number[]; dtype: string; values: (number | boolean)[] }>;

test('reads every fixture written by NumPy (dtypes, byte orders, Fortran order, versions 1-3, 0-d, empty)', async () => {
  assert.ok(Object.keys(index).length >= 16);
  for (const [name, want] of Object.entries(index)) {
    const a = await readNpy(new URL(`${name}.npy`, dir).pathname);
    assert.deepEqual(a.shape, want.shape, `${name}: shape`);
    const dtypeName = want.dtype === 'bool' ? 'bool' : want.dtype;
    assert.equal(a.dtype, dtypeName, `${name}: dtype`);
    const got = Array.from(a.data as ArrayLike<number | bigint>, (v) => (typeof v === 'bigint' ? Number(v) : v));
    const exp = want.values.map((v) => (typeof v === 'boolean' ? Number(v) : v));
    assert.deepEqual(got, exp, `${name}: values`);
  }
});

test('float16 is widened exactly, and int64 values beyond 2^31 survive', async () => {
  const h = await readNpy(new URL('f2.npy', dir).pathname);
  assert.ok(h.data instanceof Float32Array);
  assert.deepEqual(Array.from(h.data), [-3, -2.5, -2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2, 2.5]);
  const i = await readNpy(new URL('i8.npy', dir).pathname);
  assert.ok(i.data instanceof BigInt64Array);
  assert.equal(i.data[0], -6n * 1000003n);
});

test('encode -> decode round trip for every writable typed array, headers 64-byte aligned', () => {
  const arrays: [NpyData, number[]][] = [
    [Float32Array.from([1.5, -2, 3.25, 0, 1e-30, -7]), [2, 3]],
    [Float64Array.from([Math.PI, -Math.E]), [2]],
    [BigInt64Array.from([-(2n ** 62n), 5n]), [2, 1]],
    [BigUint64Array.from([2n ** 63n]), [1]],
    [Int32Array.from([-1, 2, -3]), [3]],
    [Uint32Array.from([4e9]), [1]],
    [Int16Array.from([-32768, 7]), [2]],
    [Uint16Array.from([65535]), [1, 1]],
    [Int8Array.from([-128, 127]), [2]],
    [Uint8Array.from([0, 255, 9]), [3]],
    [new Float32Array(0), [0, 4]],
    [Float32Array.of(2), []],
  ];
  for (const [data, shape] of arrays) {
    const bytes = encodeNpy({ shape, data });
    const headerLen = new DataView(bytes.buffer).getUint16(8, true);
    assert.equal((10 + headerLen) % 64, 0, 'data offset is a multiple of 64');
    assert.equal(bytes[9 + headerLen], 0x0a, 'header ends with a newline');
    const back = decodeNpy(bytes);
    assert.deepEqual(back.shape, shape);
    assert.equal(back.data.constructor, data.constructor);
    assert.deepEqual(Array.from(back.data as ArrayLike<unknown>), Array.from(data as ArrayLike<unknown>));
  }
  const b = decodeNpy(encodeNpy({ shape: [3], data: Uint8Array.from([1, 0, 1]) }, { bool: true }));
  assert.equal(b.dtype, 'bool');
  // header text is what NumPy writes for a 1-D array: a one-element tuple with a trailing comma
  const text = new TextDecoder().decode(encodeNpy({ shape: [5], data: new Float32Array(5) }).subarray(10, 70));
  assert.match(text, /^\{'descr': '<f4', 'fortran_order': False, 'shape': \(5,\), \}/);
});

test('writeNpy writes atomically (no temp file left) and readNpy reads it back', async () => {
  const d = mkdtempSync(join(tmpdir(), 'npy-'));
  try {
    const path = join(d, 'x.npy');
    await writeNpy(path, { shape: [2, 2], data: Float32Array.from([1, 2, 3, 4]) });
    assert.deepEqual(readdirSync(d), ['x.npy']);
    const a = await readNpy(path);
    assert.deepEqual(Array.from(npyToFloat32(a)), [1, 2, 3, 4]);
    assert.deepEqual(Array.from(npyToFloat32({ shape: [2], dtype: 'int64', data: BigInt64Array.from([3n, -4n]) })), [3, -4]);
  } finally { rmSync(d, { recursive: true, force: true }); }
});

test('bad files give errors naming the file and the problem', () => {
  assert.throws(() => decodeNpy(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]), 'a.npy'), (e: Error) => e instanceof NpyError && /a\.npy: not a \.npy file/.test(e.message));
  const good = encodeNpy({ shape: [4], data: new Float32Array(4) });
  assert.throws(() => decodeNpy(good.subarray(0, good.length - 3), 'cut.npy'), /cut\.npy: data is truncated: shape \[4\] of float32 needs 16 bytes, the file has 13/);
  const structured = new TextEncoder().encode("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }");
  const bytes = new Uint8Array(10 + structured.length + 4);
  bytes.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(bytes.buffer).setUint16(8, structured.length, true);
  bytes.set(structured, 10);
  assert.throws(() => decodeNpy(bytes, 'rec.npy'), /rec\.npy: structured dtypes are not supported/);
  const complex = new TextEncoder().encode("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }");
  bytes.fill(0, 10);
  bytes.set(complex, 10);
  new DataView(bytes.buffer).setUint16(8, complex.length, true);
  assert.throws(() => decodeNpy(bytes.subarray(0, 10 + complex.length + 8), 'c.npy'), /c\.npy: unsupported dtype '<c8'/);
  assert.throws(() => encodeNpy({ shape: [3], data: new Float32Array(2) }), /shape \[3\] has 3 elements, the data 2/);
});
