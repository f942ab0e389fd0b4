// Point-cloud and graph tokenizers (and the host-side geometry / eigen solver they use): values against
// numpy/torch fixtures (tools/fixtures/structures.py), brute-force kNN, shapes, parameter counts, gradients,
// padding, bad input, and a small end-to-end training per tokenizer with a frozen encoder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { AdamW, F, Linear, LayerNorm, Tensor, TrainStep, TransformerBlock, grad } from '../src/index.js';
import { Module } from '../src/nn/module.js';
import { Generator } from '../src/engine/functional/random.js';
import { symmetricEigen, matVec } from '../src/data/linalg.js';
import {
  PointCloudTokenizer, farthestPointSample, knnGroup, knnGroupBruteForce, type PointCloudInput,
} from '../src/data2seq/point-cloud.js';
import { GraphTokenizer, laplacianEigenvectors, type GraphRaw, type GraphInput } from '../src/data2seq/graph.js';
import type { TokenSequence } from '../src/data2seq/types.js';
import { assertClose } from './helpers/gradcheck.js';
import { Rng } from './helpers/rng.js';

interface Enc { shape: number[]; data: number[] }
const fx = JSON.parse(readFileSync(new URL('../../test/fixtures/structures.json', import.meta.url), 'utf8')) as {
  laplacian: Record<string, { n: number; edges: [number, number][]; values: number[]; vectors: number[] }>;
  eigen: { n: number; matrix: number[]; values: number[] }[];
  fps: { n: number; m: number; points: number[]; indices: number[] };
  pointnet: { B: number; C: number; M: number; K: number; channels: [number, number, number]; dim: number; posHidden: number; weights: Record<string, Enc>; grouped: number[]; centres: number[]; tokens: number[]; pos: number[] };
  graph_forward: { dim: number; numNodeFeatures: number; numEdgeFeatures: number; nodeVocabPerColumn: number; edgeVocabPerColumn: number; lapK: number; graphs: GraphRaw[]; weights: Record<string, Enc>; T: number; tokens: number[] };
};

function loadWeights(m: Module, weights: Record<string, Enc>): void {
  const params = new Map(m.namedParameters());
  for (const [name, w] of Object.entries(weights)) {
    const p = params.get(name);
    assert.ok(p, `parameter ${name} exists`);
    assert.deepEqual([...p.shape], w.shape, `${name} shape`);
    p.assignSync(Float32Array.from(w.data));
  }
}

const abssum = (a: ArrayLike<number>): number => { let s = 0; for (let i = 0; i < a.length; i++) s += Math.abs(a[i]); return s; };

// ---------------------------------------------------------------------------------------------------------
// Eigen solver
// ---------------------------------------------------------------------------------------------------------

function checkEigen(a: ArrayLike<number>, n: number, tol: number, what: string): { values: Float64Array; vectors: Float64Array } {
  const { values, vectors } = symmetricEigen(a, n);
  let scale = 1e-300;
  for (let i = 0; i < n * n; i++) scale = Math.max(scale, Math.abs(a[i]));
  for (let c = 0; c < n; c++) {
    if (c > 0) assert.ok(values[c] >= values[c - 1], `${what}: eigenvalues ascending`);
    const v = Float64Array.from({ length: n }, (_, i) => vectors[i * n + c]);
    const av = matVec(a, n, v);
    for (let i = 0; i < n; i++) assert.ok(Math.abs(av[i] - values[c] * v[i]) <= tol * scale, `${what}: (A v - λ v)[${i}] for eigenpair ${c} = ${av[i] - values[c] * v[i]}`);
    for (let c2 = 0; c2 <= c; c2++) {
      let dot = 0;
      for (let i = 0; i < n; i++) dot += vectors[i * n + c] * vectors[i * n + c2];
      assert.ok(Math.abs(dot - (c === c2 ? 1 : 0)) <= tol, `${what}: <v${c}, v${c2}> = ${dot}`);
    }
  }
  return { values, vectors };
}

test('symmetricEigen: random symmetric matrices match numpy eigvalsh; A v = λ v and V^T V = I', () => {
  for (const { n, matrix, values } of fx.eigen) {
    const r = checkEigen(matrix, n, 1e-11, `fixture n=${n}`);
    assertClose(r.values, values, 1e-10, 1e-10, `eigenvalues n=${n}`);
  }
  const rng = new Rng(7);
  for (const n of [4, 25, 64]) {
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) a[i * n + j] = a[j * n + i] = rng.normal(1)[0];
    checkEigen(a, n, 1e-11, `random n=${n}`);
  }
});

test('symmetricEigen: degenerate spectra (identity, zero, repeated, already diagonal/tridiagonal) and bad input', () => {
  const id = new Float64Array(16); for (let i = 0; i < 4; i++) id[i * 5] = 1;
  assert.deepEqual([...checkEigen(id, 4, 1e-14, 'identity').values], [1, 1, 1, 1]);
  assert.deepEqual([...checkEigen(new Float64Array(9), 3, 1e-14, 'zero').values], [0, 0, 0]);
  // Q diag(2, 2, 2, -1, 5) Q^T from a fixed rotation: repeated eigenvalue 2 (multiplicity 3).
  const n = 5, rng = new Rng(3);
  const M = Float64Array.from(rng.normal(n * n));
  const { vectors: Q } = symmetricEigen(Float64Array.from({ length: n * n }, (_, k) => M[k] + M[(k % n) * n + Math.floor(k / n)]), n);
  const lam = [2, 2, 2, -1, 5];
  const A = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let c = 0; c < n; c++) A[i * n + j] += Q[i * n + c] * lam[c] * Q[j * n + c];
  assertClose(checkEigen(A, n, 1e-12, 'repeated').values, [-1, 2, 2, 2, 5], 1e-12, 0, 'repeated eigenvalues');
  assertClose(checkEigen([3, 1, 0, 1, 3, 1, 0, 1, 3], 3, 1e-14, 'tridiagonal').values, [3 - Math.SQRT2, 3, 3 + Math.SQRT2], 1e-14, 0, 'tridiagonal');
  assertClose(checkEigen([5, 0, 0, -2], 2, 1e-15, 'diagonal').values, [-2, 5], 0, 0, 'diagonal');
  assert.throws(() => symmetricEigen([1, 2, 3, 4], 2), /not symmetric: a\[0\]\[1\] = 2 but a\[1\]\[0\] = 3/);
  assert.throws(() => symmetricEigen([1, NaN, NaN, 1], 2), /entry \(0, 1\) is NaN/);
  assert.throws(() => symmetricEigen([1, 2, 3], 2), /expected 2 x 2 = 4 entries, got 3/);
});

test('laplacianEigenvectors match TokenGT lap_eig (numpy eigh) up to sign, eigenspace projectors when repeated', () => {
  for (const [name, g] of Object.entries(fx.laplacian)) {
    const { n } = g;
    const k = n + 3; // more than n: the extra columns are zero padding
    const lap = laplacianEigenvectors(n, g.edges, k);
    assertClose(lap.values, g.values, 1e-10, 0, `${name} eigenvalues`);
    const ours = (i: number, c: number): number => lap.vectors[i * k + c];
    const ref = (i: number, c: number): number => g.vectors[i * n + c];
    for (let i = 0; i < n; i++) for (let c = n; c < k; c++) assert.equal(ours(i, c), 0, `${name}: padding column ${c}`);
    // Group equal eigenvalues; compare the projector onto each eigenspace (sign- and basis-free).
    let c0 = 0;
    while (c0 < n) {
      let c1 = c0 + 1;
      while (c1 < n && Math.abs(g.values[c1] - g.values[c0]) < 1e-8) c1++;
      if (c1 - c0 === 1) {
        let dot = 0;
        for (let i = 0; i < n; i++) dot += ours(i, c0) * ref(i, c0);
        assert.ok(Math.abs(Math.abs(dot) - 1) < 1e-6, `${name}: eigenvector ${c0} equals numpy's up to sign (|dot| = ${Math.abs(dot)})`);
      } else {
        for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
          let po = 0, pr = 0;
          for (let c = c0; c < c1; c++) { po += ours(i, c) * ours(j, c); pr += ref(i, c) * ref(j, c); }
          assert.ok(Math.abs(po - pr) < 1e-6, `${name}: eigenspace ${c0}..${c1 - 1} projector (${i}, ${j}) ${po} vs ${pr}`);
        }
      }
      c0 = c1;
    }
  }
  assert.throws(() => laplacianEigenvectors(3, [[0, 3]], 2), /edge 0 \(0, 3\) has a node outside \[0, 3\)/);
});

// ---------------------------------------------------------------------------------------------------------
// FPS and kNN
// ---------------------------------------------------------------------------------------------------------

function sphereCloud(n: number, rng: Rng): Float32Array {
  const out = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) {
    const [a, b, c] = rng.normal(3);
    const r = Math.hypot(a, b, c) || 1;
    out[3 * i] = a / r; out[3 * i + 1] = b / r; out[3 * i + 2] = c / r;
  }
  return out;
}

test('farthestPointSample matches a numpy reference exactly and spreads samples', () => {
  const { n, m, points, indices } = fx.fps;
  const pts = Float32Array.from(points);
  assert.deepEqual([...farthestPointSample(pts, n, m)], indices);
  // A different start index and stride-4 storage give the same geometry.
  const strided = new Float32Array(n * 4);
  for (let i = 0; i < n; i++) strided.set(pts.subarray(3 * i, 3 * i + 3), 4 * i);
  assert.deepEqual([...farthestPointSample(strided, n, m, { stride: 4 })], indices);
  const s5 = farthestPointSample(pts, n, m, { start: 5 });
  assert.equal(s5[0], 5);
  assert.equal(new Set(s5).size, m, 'distinct samples');
  assert.throws(() => farthestPointSample(pts, n, n + 1), /m \(samples\) must be an integer in \[1, n = 300\], got 301/);
  const bad = pts.slice(); bad[7] = NaN;
  assert.throws(() => farthestPointSample(bad, n, 4), /point 2 has a non-finite coordinate/);
});

test('knnGroup (grid search) equals brute force on varied clouds, with exact (distance, index) ordering', () => {
  const rng = new Rng(11);
  const cases: [string, Float32Array, number][] = [];
  cases.push(['sphere 2000', sphereCloud(2000, rng), 3]);
  cases.push(['cube 1500', Float32Array.from(rng.uniform(4500, -2, 3)), 3]);
  // Planar (z = 0) and a lattice full of exact distance ties.
  const plane = new Float32Array(3 * 800);
  for (let i = 0; i < 800; i++) { plane[3 * i] = rng.uniform(1, -1, 1)[0]; plane[3 * i + 1] = rng.uniform(1, -1, 1)[0]; plane[3 * i + 2] = 0; }
  cases.push(['plane 800', plane, 3]);
  const lattice: number[] = [];
  for (let x = 0; x < 10; x++) for (let y = 0; y < 10; y++) for (let z = 0; z < 6; z++) lattice.push(x, y, z, x * y);
  cases.push(['lattice 600 (stride 4, ties)', Float32Array.from(lattice), 4]);
  const dup = new Float32Array(3 * 100).fill(0.5);
  cases.push(['identical points', dup, 3]);
  for (const [name, pts, stride] of cases) {
    const n = pts.length / stride;
    for (const k of [1, 8, 32]) {
      const centres = farthestPointSample(pts, n, Math.max(1, Math.floor(n / 4)), { stride });
      const grid = knnGroup(pts, centres, k, { stride });
      const brute = knnGroupBruteForce(pts, centres, k, { stride });
      assert.deepEqual([...grid], [...brute], `${name}, k=${k}`);
      for (let g = 0; g < centres.length; g++) if (name !== 'identical points') assert.equal(grid[g * k], centres[g], `${name}: the centre is its own first neighbour`);
    }
  }
  // Coordinate queries (inside and far outside the cloud), with distances.
  const pts = cases[0][1];
  const q = Float32Array.from([0, 0, 0, 0.5, 0.5, 0.5, 10, -3, 2]);
  const r = knnGroup(pts, q, 16, { withDistances: true });
  assert.deepEqual([...r.indices], [...knnGroupBruteForce(pts, q, 16)]);
  for (let j = 0; j < 16; j++) {
    const i = r.indices[j];
    assert.ok(Math.abs(r.sqDistances![j] - (pts[3 * i] ** 2 + pts[3 * i + 1] ** 2 + pts[3 * i + 2] ** 2)) < 1e-6);
    assert.ok(Math.abs(r.sqDistances![j] - 1) < 1e-5, 'every sphere point is at distance 1 from the origin');
  }
  assert.throws(() => knnGroup(pts.subarray(0, 30), Int32Array.of(0), 11), /the cloud has 10 points, fewer than k = 11 neighbours/);
  assert.throws(() => knnGroup(pts, Int32Array.of(5000), 4), /centre 0 is point index 5000, outside \[0, 2000\)/);
});

test('FPS + kNN timing for 1024, 4096 and 8192 points (ratio 1/4, k = 32; logged, not asserted)', (t) => {
  const rng = new Rng(5);
  for (const n of [1024, 4096, 8192]) {
    const pts = sphereCloud(n, rng);
    const reps = 3;
    let fps = Infinity, knn = Infinity;
    for (let r = 0; r < reps; r++) {
      const t0 = performance.now();
      const idx = farthestPointSample(pts, n, n / 4);
      const t1 = performance.now();
      knnGroup(pts, idx, 32);
      const t2 = performance.now();
      fps = Math.min(fps, t1 - t0); knn = Math.min(knn, t2 - t1);
    }
    const msg = `points ${n}, centres ${n / 4}, k 32: FPS ${fps.toFixed(1)} ms, kNN ${knn.toFixed(1)} ms (best of ${reps})`;
    t.diagnostic(msg);
  }
});

// ---------------------------------------------------------------------------------------------------------
// Point-cloud tokenizer
// ---------------------------------------------------------------------------------------------------------

test('PointCloudTokenizer: reference parameter count, 257 tokens for 1024 points, perBlockPos with cls_pos', async () => {
  const ref = new PointCloudTokenizer({ dim: 768 });
  // conv1a 3·128, bn1 2·128, conv1b 128·256, conv2a 512·512, bn2 2·512, conv2b 512·768 + 768, cls_token,
  // cls_pos, pos_embed (3·128 + 128) + (128·768 + 768); conv1b's inert bias omitted.
  const expect = 3 * 128 + 2 * 128 + 128 * 256 + 512 * 512 + 2 * 512 + (512 * 768 + 768) + 768 + 768 + (3 * 128 + 128) + (128 * 768 + 768);
  assert.equal(ref.numParams(), expect);
  assert.equal(expect, 791_680);
  assert.deepEqual(ref.namedBuffers().map(([n]) => n), ['bn1.running_mean', 'bn1.running_var', 'bn1.num_batches_tracked', 'bn2.running_mean', 'bn2.running_var', 'bn2.num_batches_tracked']);

  const tok = new PointCloudTokenizer({ dim: 24, channels: [8, 16, 16], generator: new Generator(1) });
  const rng = new Rng(2);
  const clouds = [sphereCloud(1024, rng), sphereCloud(1024, rng)];
  const inp = tok.prepare(clouds);
  assert.deepEqual([...inp.grouped.shape], [2, 3, 256, 32]);
  assert.deepEqual([...inp.centres.shape], [2, 256, 3]);
  const seq = tok.forward(inp);
  tok.collectBufferUpdates();
  assert.deepEqual([...seq.tokens.shape], [2, 257, 24]);
  assert.deepEqual([...seq.perBlockPos!.shape], [2, 257, 24]);
  assert.equal(seq.paddingMask, null);
  const [tokens, pos] = await Promise.all([seq.tokens.float32(), seq.perBlockPos!.float32()]);
  const cls = tok.cls_token.value as Float32Array, clsPos = tok.cls_pos.value as Float32Array;
  for (let b = 0; b < 2; b++) {
    assertClose(tokens.subarray(b * 257 * 24, b * 257 * 24 + 24), cls, 0, 0, `cls token of cloud ${b}`);
    assertClose(pos.subarray(b * 257 * 24, b * 257 * 24 + 24), clsPos, 0, 0, `cls_pos of cloud ${b}`);
  }
});

test('PointCloudTokenizer.prepare: FPS centres, kNN groups, relative coordinates and feature differences', async () => {
  const rng = new Rng(4);
  const P = 96, C = 5, k = 8;
  const tok = new PointCloudTokenizer({ dim: 8, inChannels: C, groupSize: k, channels: [4, 4, 4] });
  const rows = Array.from({ length: P }, () => [...rng.uniform(3, -1, 1), ...rng.uniform(2, 0, 1)]);
  const flat = Float32Array.from(rows.flat());
  const inp = tok.prepare([rows, flat]);
  const M = P / 4;
  assert.deepEqual([...inp.grouped.shape], [2, C, M, k]);
  const grouped = inp.grouped.value as Float32Array, centres = inp.centres.value as Float32Array;
  const idx = farthestPointSample(flat, P, M, { stride: C });
  const nbr = knnGroup(flat, idx, k, { stride: C });
  for (let b = 0; b < 2; b++) for (let g = 0; g < M; g++) {
    for (let a = 0; a < 3; a++) assert.equal(centres[(b * M + g) * 3 + a], flat[idx[g] * C + a]);
    for (let ch = 0; ch < C; ch++) for (let j = 0; j < k; j++) {
      const want = Math.fround(flat[nbr[g * k + j] * C + ch] - flat[idx[g] * C + ch]);
      assert.equal(grouped[((b * C + ch) * M + g) * k + j], want, `cloud ${b}, channel ${ch}, group ${g}, neighbour ${j}`);
    }
    for (let ch = 0; ch < C; ch++) assert.equal(grouped[((b * C + ch) * M + g) * k], 0, 'the centre itself is neighbour 0 (dp = df = 0)');
  }
  // numGroups overrides the ratio; a seeded random FPS start is reproducible.
  const t2 = new PointCloudTokenizer({ dim: 8, groupSize: 4, numGroups: 10, channels: [4, 4, 4], fpsStart: 'random', generator: new Generator(9) });
  const t3 = new PointCloudTokenizer({ dim: 8, groupSize: 4, numGroups: 10, channels: [4, 4, 4], fpsStart: 'random', generator: new Generator(9) });
  const cloud = sphereCloud(50, rng);
  const c2 = t2.prepare([cloud]).centres.value as Float32Array, c3 = t3.prepare([cloud]).centres.value as Float32Array;
  assert.equal(c2.length, 30);
  assert.deepEqual([...c2], [...c3]);
});

test('PointCloudTokenizer.forward matches the torch mini-PointNet (train-mode BatchNorm)', async () => {
  const p = fx.pointnet;
  const tok = new PointCloudTokenizer({ dim: p.dim, inChannels: p.C, groupSize: p.K, channels: p.channels, posHidden: p.posHidden });
  loadWeights(tok, p.weights);
  assert.equal(tok.numParams(), Object.values(p.weights).reduce((s, w) => s + w.data.length, 0), 'every parameter is in the fixture');
  const input: PointCloudInput = {
    grouped: new Tensor([p.B, p.C, p.M, p.K], 'float32', Float32Array.from(p.grouped)),
    centres: new Tensor([p.B, p.M, 3], 'float32', Float32Array.from(p.centres)),
  };
  const seq = tok.forward(input);
  const updates = tok.collectBufferUpdates();
  assert.equal(updates.length, 6, 'both BatchNorms record running statistics');
  assertClose(await seq.tokens.float32(), p.tokens, 2e-5, 2e-4, 'tokens');
  assertClose(await seq.perBlockPos!.float32(), p.pos, 2e-5, 2e-4, 'positions');
});

test('PointCloudTokenizer: gradients reach every trainable parameter', async () => {
  const tok = new PointCloudTokenizer({ dim: 12, inChannels: 4, groupSize: 8, channels: [8, 8, 16], generator: new Generator(3) });
  const rng = new Rng(8);
  const inp = tok.prepare([0, 1, 2].map(() => Float32Array.from(rng.uniform(64 * 4, -1, 1))));
  const seq = tok.forward(inp);
  tok.collectBufferUpdates();
  const R1 = new Tensor(seq.tokens.shape, 'float32', Float32Array.from(rng.normal(seq.tokens.size)));
  const R2 = new Tensor(seq.tokens.shape, 'float32', Float32Array.from(rng.normal(seq.tokens.size)));
  const loss = seq.tokens.mul(R1).sum().add(seq.perBlockPos!.mul(R2).sum());
  const named = tok.namedTrainableParameters();
  const gs = await Promise.all(grad(loss, named.map(([, v]) => v)).map((g) => g.float32()));
  named.forEach(([name], i) => assert.ok(abssum(gs[i]) > 0 && gs[i].every(Number.isFinite), `gradient of ${name} is nonzero and finite`));
});

test('PointCloudTokenizer: bad input errors name the problem', () => {
  const tok = new PointCloudTokenizer({ dim: 8, groupSize: 32, channels: [4, 4, 4] });
  const rng = new Rng(1);
  assert.throws(() => tok.prepare([sphereCloud(20, rng)]), /point cloud 0 has 20 points, fewer than the group size k = 32/);
  const nan = sphereCloud(64, rng); nan[3 * 7 + 1] = NaN;
  assert.throws(() => tok.prepare([sphereCloud(64, rng), nan]), /point cloud 1, point 7 has a non-finite y coordinate \(NaN\)/);
  assert.throws(() => tok.prepare([[[0, 0, 0, 1], [1, 1, 1, 1]]]), /point cloud 0, point 0 has 4 values; expected 3 per point/);
  assert.throws(() => tok.prepare([new Float32Array(100)]), /point cloud 0 has 100 values, not a multiple of 3 channels per point/);
  assert.throws(() => tok.prepare([sphereCloud(64, rng), sphereCloud(80, rng)]), /cloud 0 has 64, cloud 1 has 80/);
  assert.throws(() => tok.prepare([]), /non-empty array of point clouds/);
  const feat = new PointCloudTokenizer({ dim: 8, inChannels: 6, groupSize: 4, channels: [4, 4, 4] });
  assert.throws(() => feat.prepare([[[0, 0, 0], [1, 1, 1]]]), /point 0 has 3 values; expected 6 per point \(\[x, y, z, 3 features\]\)/);
  const inp = tok.prepare([sphereCloud(128, rng)]);
  assert.throws(() => feat.forward(inp), /grouped must be float32 \[B, 6, M, k\], got float32 \[1, 3, 32, 32\]/);
  assert.throws(() => tok.forward({ grouped: inp.grouped, centres: new Tensor([1, 31, 3], 'float32', new Float32Array(93)) }), /centres must be float32 \[B, M, 3\] = \[1, 32, 3\]/);
  assert.throws(() => new PointCloudTokenizer({ dim: 8, inChannels: 2 }), /inChannels must be an integer >= 3/);
});

// ---------------------------------------------------------------------------------------------------------
// Graph tokenizer
// ---------------------------------------------------------------------------------------------------------

test('GraphTokenizer: parameter count, token layout [graph, null, nodes, edges], padding mask and indices', async () => {
  const ref = new GraphTokenizer({ dim: 768 });
  // atom (1 + 9·512)·D, bond (1 + 3·512)·D, graph and null tokens, lap_encoder 32·D (no bias), order 2·D.
  assert.equal(ref.numParams(), (1 + 9 * 512) * 768 + (1 + 3 * 512) * 768 + 768 + 768 + 32 * 768 + 2 * 768);
  const tok = new GraphTokenizer({ dim: 8, numNodeFeatures: 2, numEdgeFeatures: 1, nodeVocabPerColumn: 4, edgeVocabPerColumn: 3, lapK: 3 });
  const graphs: GraphRaw[] = [
    { numNodes: 2, edges: [[0, 1]], nodeFeatures: [[0, 3], [1, 2]], edgeFeatures: [[2]] },
    { numNodes: 4, edges: [[0, 1], [1, 2], [2, 3]], nodeFeatures: [[0, 0], [1, 1], [2, 2], [3, 3]], edgeFeatures: [[0], [1], [2]] },
  ];
  const inp = tok.prepare(graphs);
  const T = 7;
  assert.deepEqual([...inp.index.shape], [2, T, 2]);
  assert.deepEqual([...inp.eigvec.shape], [2, 4, 3]);
  assert.deepEqual([...inp.paddingMask.shape], [2, 2 + T]);
  assert.deepEqual(await inp.paddingMask.toArray(), [0, 0, 0, 0, 0, 1, 1, 1, 1, /**/ 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(await inp.tokenType.toArray(), [1, 1, 0, 0, 0, 0, 0, /**/ 1, 1, 1, 1, 0, 0, 0]);
  assert.deepEqual(await inp.index.toArray(), [0, 0, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, /**/ 0, 0, 1, 1, 2, 2, 3, 3, 0, 1, 1, 2, 2, 3]);
  // convert_to_single_emb offsets: column j value v -> 1 + j·vocab + v; 0 elsewhere.
  assert.deepEqual(await inp.nodeFeatures!.toArray(), [1, 8, 2, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /**/ 1, 5, 2, 6, 3, 7, 4, 8, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(await inp.edgeFeatures!.toArray(), [0, 0, 3, 0, 0, 0, 0, /**/ 0, 0, 0, 0, 1, 2, 3]);
  tok.eval();
  const seq = tok.forward(inp);
  assert.deepEqual([...seq.tokens.shape], [2, 2 + T, 8]);
  const out = await seq.tokens.float32();
  for (let t = 5; t < 9; t++) assert.ok(out.subarray(t * 8, t * 8 + 8).every((v) => v === 0), `padded token ${t} of graph 0 is zero`);
  assertClose(out.subarray(0, 8), tok.graph_token.weight.value as Float32Array, 0, 0, 'graph token');
  assertClose(out.subarray(8, 16), tok.null_token.weight.value as Float32Array, 0, 0, 'null token');
  // Fixed padding: one shape for every batch.
  const fixed = new GraphTokenizer({ dim: 8, numNodeFeatures: 2, numEdgeFeatures: 1, nodeVocabPerColumn: 4, edgeVocabPerColumn: 3, lapK: 3, padToTokens: 10, padToNodes: 6 });
  const fi = fixed.prepare(graphs.slice(0, 1));
  assert.deepEqual([...fi.index.shape], [1, 10, 2]);
  assert.deepEqual([...fi.eigvec.shape], [1, 6, 3]);
  assert.throws(() => new GraphTokenizer({ dim: 8, numNodeFeatures: 2, numEdgeFeatures: 1, nodeVocabPerColumn: 4, edgeVocabPerColumn: 3, padToTokens: 5 }).prepare(graphs), /graph 1 has 7 node \+ edge tokens, more than padToTokens = 5/);
});

function graphTokenizerFromFixture(extra: { generator?: Generator } = {}): { tok: GraphTokenizer; inp: GraphInput } {
  const g = fx.graph_forward;
  const tok = new GraphTokenizer({ dim: g.dim, numNodeFeatures: g.numNodeFeatures, numEdgeFeatures: g.numEdgeFeatures, nodeVocabPerColumn: g.nodeVocabPerColumn, edgeVocabPerColumn: g.edgeVocabPerColumn, lapK: g.lapK, ...extra });
  loadWeights(tok, g.weights);
  return { tok, inp: tok.prepare(g.graphs) };
}

test('GraphTokenizer.forward matches the TokenGT computation (numpy eigh eigenvectors, eval mode)', async () => {
  const g = fx.graph_forward;
  const { tok, inp } = graphTokenizerFromFixture();
  assert.equal(tok.numParams(), Object.values(g.weights).reduce((s, w) => s + w.data.length, 0));
  tok.eval();
  const want = g.tokens;
  // Eigenvectors are defined up to sign: per graph, one of the 2^k sign patterns of its k eigenvectors must
  // reproduce the reference tokens exactly.
  const B = g.graphs.length, T = g.T, D = g.dim, k = g.lapK;
  const eig = inp.eigvec.value as Float32Array;
  const Nmax = inp.eigvec.shape[1]!;
  for (let b = 0; b < B; b++) {
    let matched = false;
    for (let mask = 0; mask < 1 << k && !matched; mask++) {
      const flipped = Float32Array.from(eig);
      for (let i = 0; i < Nmax; i++) for (let c = 0; c < k; c++) if (mask & (1 << c)) flipped[(b * Nmax + i) * k + c] *= -1;
      const o = await tok.forward({ ...inp, eigvec: new Tensor(inp.eigvec.shape, 'float32', flipped) }).tokens.float32();
      const got = o.subarray(b * (2 + T) * D, (b + 1) * (2 + T) * D), exp = want.slice(b * (2 + T) * D, (b + 1) * (2 + T) * D);
      matched = got.every((v, i) => Math.abs(v - exp[i]) <= 1e-5 + 1e-4 * Math.abs(exp[i]));
    }
    assert.ok(matched, `graph ${b}: tokens match the reference for some eigenvector sign pattern`);
  }
});

test('GraphTokenizer: seeded random eigenvector sign flips in training, gradients reach every parameter', async () => {
  const gen = new Generator(0);
  const { tok, inp } = graphTokenizerFromFixture({ generator: gen });
  gen.manualSeed(42); // initialisation consumed draws; restart the tokenizer's stream
  const g = fx.graph_forward;
  const B = g.graphs.length, k = g.lapK;
  // Training forward draws B·k signs from the tokenizer's generator; predict them with a twin generator.
  const twin = new Generator(42);
  const signs = twin.uniformData(B * k).map((u) => (u < 0.5 ? -1 : 1));
  assert.ok(signs.some((s) => s < 0), 'the draw flips at least one eigenvector');
  tok.train();
  const trainOut = tok.forward(inp);
  const eig = Float32Array.from(inp.eigvec.value as Float32Array);
  const Nmax = inp.eigvec.shape[1]!;
  for (let b = 0; b < B; b++) for (let i = 0; i < Nmax; i++) for (let c = 0; c < k; c++) eig[(b * Nmax + i) * k + c] *= signs[b * k + c];
  tok.eval();
  const evalFlipped = tok.forward({ ...inp, eigvec: new Tensor(inp.eigvec.shape, 'float32', eig) });
  assertClose(await trainOut.tokens.float32(), await evalFlipped.tokens.float32(), 1e-6, 1e-6, 'training tokens = eval tokens with the drawn signs');
  tok.train();
  const seq = tok.forward(inp);
  const rng = new Rng(6);
  const R = new Tensor(seq.tokens.shape, 'float32', Float32Array.from(rng.normal(seq.tokens.size)));
  const named = tok.namedTrainableParameters();
  const gs = await Promise.all(grad(seq.tokens.mul(R).sum(), named.map(([, v]) => v)).map((x) => x.float32()));
  named.forEach(([name], i) => assert.ok(abssum(gs[i]) > 0, `gradient of ${name} is nonzero`));
  const atom = gs[named.findIndex(([n]) => n === 'atom_encoder.weight')];
  assert.ok(atom.subarray(0, g.dim).every((v) => v === 0), 'the padding row 0 gets no gradient');
});

test('GraphTokenizer: bad input errors name the graph, the element and the expected form', () => {
  const tok = new GraphTokenizer({ dim: 8, numNodeFeatures: 1, numEdgeFeatures: 1, nodeVocabPerColumn: 4, edgeVocabPerColumn: 2, lapK: 2 });
  const ok: GraphRaw = { numNodes: 2, edges: [[0, 1]], nodeFeatures: [[0], [1]], edgeFeatures: [[0]] };
  assert.throws(() => tok.prepare([ok, { ...ok, edges: [[0, 2]] }]), /graph 1: edge 0 \(0, 2\) refers to node 2, outside \[0, 2\) \(numNodes 2\)/);
  assert.throws(() => tok.prepare([{ ...ok, nodeFeatures: [[0], [4]] }]), /graph 0: nodeFeatures\[1\]\[0\] = 4 must be an integer in \[0, 4\)/);
  assert.throws(() => tok.prepare([{ ...ok, nodeFeatures: [[0]] }]), /graph 0: nodeFeatures has 1 rows, expected one per node \(2\)/);
  assert.throws(() => tok.prepare([{ ...ok, edgeFeatures: undefined }]), /graph 0: edgeFeatures is required \(1 rows of 1 categorical values\)/);
  assert.throws(() => tok.prepare([{ ...ok, edgeFeatures: [[0, 1]] }]), /graph 0: edgeFeatures row 0 has 2 values, expected 1/);
  assert.throws(() => tok.prepare([{ ...ok, numNodes: 0 }]), /graph 0: numNodes must be a positive integer, got 0/);
  assert.throws(() => tok.prepare([{ ...ok, edges: [[0, 1, 1] as unknown as [number, number]] }]), /graph 0: edge 0 must be a \[u, v\] pair/);
  const inp = tok.prepare([ok]);
  assert.throws(() => tok.forward({ ...inp, nodeFeatures: null }), /nodeFeatures must be int64 \[B, T, 1\] = \[1, 3, 1\]/);
  assert.throws(() => tok.forward({ ...inp, paddingMask: new Tensor([1, 3], 'bool', new Uint8Array(3)) }), /paddingMask must be bool \[B, 2 \+ T\] = \[1, 5\]/);
});

// ---------------------------------------------------------------------------------------------------------
// End-to-end: tokenizer (trained) -> frozen encoder -> linear head
// ---------------------------------------------------------------------------------------------------------

/** A tiny frozen encoder: pre-LN blocks with the key-padding mask, positions re-added before every block. */
class TinyEncoder extends Module {
  blocks: TransformerBlock[];
  norm: LayerNorm;
  constructor(dim: number, depth: number, heads: number, g: Generator) {
    super();
    this.blocks = Array.from({ length: depth }, () => new TransformerBlock(dim, heads, { generator: g, eps: 1e-5 }));
    this.norm = new LayerNorm(dim);
    this.freeze();
  }
  forward(seq: TokenSequence): Tensor {
    let x = seq.tokens;
    for (const b of this.blocks) x = b.forward(seq.perBlockPos ? x.add(seq.perBlockPos) : x, { keyPaddingMask: seq.paddingMask ?? null });
    return this.norm.forward(x);
  }
}

class Classifier<I> extends Module {
  constructor(public tokenizer: Module & { forward(i: I): TokenSequence }, public encoder: TinyEncoder, public head: Linear) { super(); }
  logits(input: I): Tensor {
    const h = this.encoder.forward(this.tokenizer.forward(input));
    return this.head.forward(F.select(h, 1, 0)); // the special token at position 0 (CLS / graph token)
  }
}

async function trainAndEvaluate<I>(name: string, model: Classifier<I>, batches: { input: I; y: number[] }[], test: { input: I; y: number[] }, steps: number, lr: number): Promise<{ first: number; last: number; acc: number }> {
  const opt = new AdamW(model.trainableParameters(), { lr, weightDecay: 0 });
  const step = new TrainStep(model, (b: { input: I; y: number[] }) => F.crossEntropy(model.logits(b.input), new Tensor([b.y.length], 'int64', BigInt64Array.from(b.y.map(BigInt)))), opt);
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) losses.push((await step.step(batches[s % batches.length])).loss);
  model.eval();
  const logits = await model.logits(test.input).float32();
  model.train();
  const C = logits.length / test.y.length;
  let correct = 0;
  test.y.forEach((y, i) => {
    const row = logits.subarray(i * C, (i + 1) * C);
    if (row.indexOf(Math.max(...row)) === y) correct++;
  });
  const mean = (a: number[]): number => a.reduce((s, v) => s + v, 0) / a.length;
  return { first: mean(losses.slice(0, 3)), last: mean(losses.slice(-3)), acc: correct / test.y.length };
}

function shapeCloud(kind: number, P: number, rng: Rng): Float32Array {
  const out = new Float32Array(3 * P);
  const s = 0.7 + 0.6 * rng.uniform(1, 0, 1)[0];
  for (let i = 0; i < P; i++) {
    let x: number, y: number, z: number;
    const [u, v, w] = rng.uniform(3, -1, 1);
    if (kind === 0) { // sphere surface
      const [a, b, c] = rng.normal(3); const r = Math.hypot(a, b, c) || 1; x = a / r; y = b / r; z = c / r;
    } else if (kind === 1) { // cube surface
      const face = Math.floor((w + 1) * 3) % 3, side = u < 0 ? -1 : 1;
      const [p, q] = rng.uniform(2, -1, 1);
      [x, y, z] = face === 0 ? [side, p, q] : face === 1 ? [p, side, q] : [p, q, side];
    } else { // cylinder side (radius 1, height 2)
      const th = Math.PI * u; x = Math.cos(th); y = Math.sin(th); z = v;
    }
    out[3 * i] = s * x + 0.01 * w; out[3 * i + 1] = s * y; out[3 * i + 2] = s * z;
  }
  return out;
}

test('end to end: point-cloud tokenizer + frozen encoder + linear head learns sphere / cube / cylinder', async (t) => {
  const g = new Generator(100);
  const rng = new Rng(100);
  const D = 32;
  const tok = new PointCloudTokenizer({ dim: D, groupSize: 16, channels: [16, 32, 64], posHidden: 32, generator: g });
  const model = new Classifier<PointCloudInput>(tok, new TinyEncoder(D, 2, 4, g), new Linear(D, 3, { generator: g }));
  const make = (n: number): { input: PointCloudInput; y: number[] } => {
    const y = Array.from({ length: n }, (_, i) => i % 3);
    return { input: tok.prepare(y.map((c) => shapeCloud(c, 128, rng))), y };
  };
  const batches = Array.from({ length: 4 }, () => make(12));
  const held = make(30);
  // 60 steps: the held-out check runs in eval mode on BatchNorm running statistics (momentum 0.1), whose
  // initial variance 1 must decay (0.9^60) below the true, small variances of the relative coordinates.
  const r = await trainAndEvaluate('point cloud', model, batches, held, 60, 3e-3);
  t.diagnostic(`point cloud: loss ${r.first.toFixed(3)} -> ${r.last.toFixed(3)}, held-out accuracy ${(100 * r.acc).toFixed(0)}% (chance 33%)`);
  assert.ok(r.last < 0.5 * r.first, `loss fell: ${r.first} -> ${r.last}`);
  assert.ok(r.acc >= 0.8, `held-out accuracy ${r.acc}`);
  assert.ok(model.encoder.parameters().every((p) => !p.requiresGrad), 'the encoder stayed frozen');
});

function structureGraph(kind: number, n: number): GraphRaw {
  const und: [number, number][] = kind === 0 ? Array.from({ length: n }, (_, i) => [i, (i + 1) % n]) // cycle
    : kind === 1 ? Array.from({ length: n - 1 }, (_, i) => [i, i + 1]) //                               path
      : Array.from({ length: n - 1 }, (_, i) => [0, i + 1]); //                                           star
  const edges = und.flatMap(([u, v]) => [[u, v], [v, u]] as [number, number][]);
  const deg = new Array<number>(n).fill(0);
  for (const [u] of edges) deg[u]++;
  // Shuffle node ids so position in the sequence carries no label information.
  const perm = Array.from({ length: n }, (_, i) => i).sort((a, b) => ((a * 7919 + n * 31) % 101) - ((b * 7919 + n * 31) % 101));
  return {
    numNodes: n,
    edges: edges.map(([u, v]) => [perm[u], perm[v]]),
    nodeFeatures: Array.from({ length: n }, (_, i) => [Math.min(deg[perm.indexOf(i)], 7)]),
    edgeFeatures: edges.map(() => [0]),
  };
}

test('end to end: graph tokenizer + frozen encoder + linear head learns cycle / path / star', async (t) => {
  const g = new Generator(200);
  const rng = new Rng(200);
  const D = 32;
  const tok = new GraphTokenizer({ dim: D, numNodeFeatures: 1, numEdgeFeatures: 1, nodeVocabPerColumn: 8, edgeVocabPerColumn: 1, lapK: 8, numEncoderLayers: 2, padToTokens: 3 * 9, padToNodes: 9, generator: g });
  const model = new Classifier<GraphInput>(tok, new TinyEncoder(D, 2, 4, g), new Linear(D, 3, { generator: g }));
  const make = (n: number): { input: GraphInput; y: number[] } => {
    const y = Array.from({ length: n }, (_, i) => i % 3);
    return { input: tok.prepare(y.map((c) => structureGraph(c, 4 + Math.floor(rng.uniform(1, 0, 1)[0] * 6)))), y };
  };
  const batches = Array.from({ length: 4 }, () => make(12));
  const held = make(30);
  const r = await trainAndEvaluate('graph', model, batches, held, 30, 3e-3);
  t.diagnostic(`graph: loss ${r.first.toFixed(3)} -> ${r.last.toFixed(3)}, held-out accuracy ${(100 * r.acc).toFixed(0)}% (chance 33%)`);
  assert.ok(r.last < 0.5 * r.first, `loss fell: ${r.first} -> ${r.last}`);
  assert.ok(r.acc >= 0.8, `held-out accuracy ${r.acc}`);
});
