// Manual check of the real > 2 GB path of exportOnnxModel (too big for the test suite: ~6.5 GB RAM, ~1 min):
// a 2.16 GB weight goes to external data in 'auto' mode, the .onnx stays tiny, and a fresh onnxruntime session
// loads the pair from its path and matches a float64 reference.
//   npx tsc -p . && node --max-old-space-size=8000 dist/tools/export/large-external-data.js [DIR]
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { MAX_INLINE_INITIALIZER_BYTES, exportOnnxModel } from '../../src/engine/export.js';
import { Tensor, Variable } from '../../src/engine/tensor.js';

const K = 16384, N = 33000;
const dir = mkdtempSync(join(process.argv[2] ?? tmpdir(), 'omniformer-large-'));
try {
  const w = new Float32Array(K * N);
  for (let i = 0; i < w.length; i++) w[i] = (Math.imul(i, 0x9e3779b1) >>> 20) / 4096 - 0.5;
  const W = new Variable(w, [K, N]);
  const xd = Float32Array.from({ length: K }, (_, k) => Math.sin(k));
  const x = new Tensor([1, K], 'float32', xd);
  console.log(`weights ${w.byteLength} bytes (inline limit ${MAX_INLINE_INITIALIZER_BYTES})`);
  let t0 = performance.now();
  const path = join(dir, 'big.onnx');
  const r = exportOnnxModel({ inputs: { x }, outputs: { y: x.matmul(W).tanh() }, path, names: new Map([[W, 'W']]) });
  if (!r.externalData) throw new Error('expected external data in auto mode');
  console.log(`export ${(performance.now() - t0).toFixed(0)} ms: ${path} ${statSync(path).size} bytes, ${r.externalData} ${statSync(r.externalData).size} bytes`);
  t0 = performance.now();
  const s = await ort.InferenceSession.create(path);
  const y = (await s.run({ x: new ort.Tensor('float32', xd, [1, K]) })).y!.data as Float32Array;
  console.log(`onnxruntime load + run ${(performance.now() - t0).toFixed(0)} ms`);
  let m = 0;
  for (const j of [0, 1, 777, 16383, N - 1]) {
    let acc = 0;
    for (let k = 0; k < K; k++) acc += xd[k]! * w[k * N + j]!;
    m = Math.max(m, Math.abs(Math.tanh(acc) - y[j]!));
  }
  console.log(`max |onnxruntime - float64 reference| over 5 columns: ${m.toExponential(2)}`);
  await s.release();
  if (!(m < 1e-4)) process.exitCode = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
