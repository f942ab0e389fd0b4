// Point-cloud tokenizer (Meta-Transformer §2.5, implementation (i): OpenPoints' PointPatchEmbed as used for
// ModelNet-40): farthest point sampling of M = P/4 group centres, kNN grouping (k = 32) with relative
// coordinates, a mini-PointNet per group, one token per group, a CLS token, and an MLP position embedding of
// the centres that the encoder re-adds before every block (`perBlockPos`, x = block(x + pos)).
//
// Input format. `prepare(clouds)` takes a list of B point clouds with the same number of points P, each
//   - a Float32Array of P·C values, point-major (x, y, z, f_1 .. f_c for point 0, then point 1, ...), or
//   - an array of P rows [x, y, z, f_1 .. f_c],
// where C = `inChannels` = 3 (xyz only) or 3 + c (xyz followed by c per-point features such as rgb or
// normals). The host side (TypeScript, typed arrays) runs FPS (start index 0, or a seeded random start) and
// kNN, and builds
//   grouped: float32 [B, C, M, k] with channels (p_j − p_centre) for xyz and (f_j − f_centre) for features,
//   centres: float32 [B, M, 3].
// `forward({ grouped, centres })` is the trainable part:
//   conv1: 1×1 Conv C→c0 (no bias) + BatchNorm + ReLU, 1×1 Conv c0→c1 (no bias)  (per-point features)
//   concat(max over the group (broadcast over k), per-point features)          → 2·c1 channels
//   conv2: 1×1 Conv 2·c1→c2 (no bias) + BatchNorm + ReLU, 1×1 Conv c2→D, max over k → one token per group
//   tokens [B, 1 + M, D] = [cls_token, group tokens]; positions [B, 1 + M, D] = [cls_pos, pos_embed(centres)]
// with channels [c0, c1, c2] = [128, 256, 512] as in the reference, pos_embed = Linear(3, 128) + GELU +
// Linear(128, D). There is no padding (every cloud gives M groups), so paddingMask is null.
import { ShapeError, fmtShape } from '../engine/errors.js';
import { Tensor, Variable } from '../engine/tensor.js';
import { cat } from '../engine/functional/indexing.js';
import { defaultGenerator, type Generator } from '../engine/functional/random.js';
import { Conv2d } from '../nn/conv.js';
import { truncNormal_ } from '../nn/init.js';
import { Mlp } from '../nn/mlp.js';
import { BatchNorm2d } from '../nn/norm.js';
import { Data2Seq, type TokenSequence } from './types.js';

// ---------------------------------------------------------------------------------------------------
// Host-side geometry: farthest point sampling and k-nearest-neighbour grouping on flat typed arrays.
// ---------------------------------------------------------------------------------------------------

export interface FpsOptions {
  /** Values per point in `points` (xyz are the first three); default 3. */
  stride?: number;
  /** Index of the first sample (default 0, as the reference CUDA kernel). */
  start?: number;
}

function checkStride(op: string, stride: number): void {
  if (!Number.isInteger(stride) || stride < 3) throw new RangeError(`${op}: stride must be an integer >= 3 (xyz first), got ${stride}`);
}

/**
 * Farthest point sampling: `m` indices into the `n` points of `points` (n·stride values, xyz first), the
 * first at `start`, each next one the point farthest (Euclidean) from those chosen so far; ties go to the
 * lowest index. O(n·m).
 */
export function farthestPointSample(points: Float32Array | Float64Array, n: number, m: number, opts: FpsOptions = {}): Int32Array {
  const op = 'farthestPointSample';
  const stride = opts.stride ?? 3;
  checkStride(op, stride);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`${op}: n (number of points) must be a positive integer, got ${n}`);
  if (points.length < n * stride) throw new RangeError(`${op}: points has ${points.length} values, fewer than n·stride = ${n}·${stride}`);
  if (!Number.isInteger(m) || m < 1 || m > n) throw new RangeError(`${op}: m (samples) must be an integer in [1, n = ${n}], got ${m}`);
  const start = opts.start ?? 0;
  if (!Number.isInteger(start) || start < 0 || start >= n) throw new RangeError(`${op}: start must be a point index in [0, ${n}), got ${start}`);
  // Packed xyz copy: one cache line holds several points.
  const xyz = new Float64Array(3 * n);
  for (let i = 0; i < n; i++) {
    const x = points[i * stride], y = points[i * stride + 1], z = points[i * stride + 2];
    if (!Number.isFinite(x) || !Number.isFinite(y) || !Number.isFinite(z)) throw new RangeError(`${op}: point ${i} has a non-finite coordinate (${x}, ${y}, ${z})`);
    xyz[3 * i] = x; xyz[3 * i + 1] = y; xyz[3 * i + 2] = z;
  }
  const dist = new Float64Array(n).fill(Infinity);
  const out = new Int32Array(m);
  let last = start;
  out[0] = last;
  for (let s = 1; s < m; s++) {
    const cx = xyz[3 * last], cy = xyz[3 * last + 1], cz = xyz[3 * last + 2];
    let best = -1, bestIdx = 0;
    for (let i = 0; i < n; i++) {
      const dx = xyz[3 * i] - cx, dy = xyz[3 * i + 1] - cy, dz = xyz[3 * i + 2] - cz;
      const d = dx * dx + dy * dy + dz * dz;
      const di = d < dist[i] ? (dist[i] = d) : dist[i];
      if (di > best) { best = di; bestIdx = i; }
    }
    last = bestIdx;
    out[s] = last;
  }
  return out;
}

export interface KnnOptions {
  /** Values per point in `points` (xyz first); default 3. */
  stride?: number;
  /** Also return the squared distances. */
  withDistances?: boolean;
}

export interface KnnResult {
  /** [M·k] neighbour indices, each group sorted by (distance, index) ascending. */
  indices: Int32Array;
  /** [M·k] squared distances (only with `withDistances`). */
  sqDistances?: Float64Array;
}

/** Bounded max-heap of (d², index) pairs ordered lexicographically, so ties resolve to the lower index. */
class KBest {
  readonly d: Float64Array;
  readonly i: Int32Array;
  size = 0;
  constructor(readonly k: number) { this.d = new Float64Array(k); this.i = new Int32Array(k); }
  reset(): void { this.size = 0; }
  /** Is (d, i) worse than the current worst? */
  private greater(d1: number, i1: number, d2: number, i2: number): boolean { return d1 > d2 || (d1 === d2 && i1 > i2); }
  get full(): boolean { return this.size === this.k; }
  get worst(): number { return this.d[0]; }
  push(dv: number, iv: number): void {
    const { d, i } = this;
    if (this.size < this.k) {
      let c = this.size++;
      while (c > 0) {
        const p = (c - 1) >> 1;
        if (!this.greater(dv, iv, d[p], i[p])) break;
        d[c] = d[p]; i[c] = i[p]; c = p;
      }
      d[c] = dv; i[c] = iv;
      return;
    }
    if (!this.greater(d[0], i[0], dv, iv)) return; // not better than the worst kept
    let c = 0;
    const n = this.size;
    for (;;) {
      const l = 2 * c + 1;
      if (l >= n) break;
      const r = l + 1;
      const m = r < n && this.greater(d[r], i[r], d[l], i[l]) ? r : l;
      if (!this.greater(d[m], i[m], dv, iv)) break;
      d[c] = d[m]; i[c] = i[m]; c = m;
    }
    d[c] = dv; i[c] = iv;
  }
  /** Write the kept pairs sorted ascending into out[off..off+k). */
  drain(outI: Int32Array, outD: Float64Array | null, off: number): void {
    const n = this.size;
    const order = Array.from({ length: n }, (_, j) => j).sort((a, b) => this.d[a] - this.d[b] || this.i[a] - this.i[b]);
    for (let j = 0; j < n; j++) {
      outI[off + j] = this.i[order[j]];
      if (outD) outD[off + j] = this.d[order[j]];
    }
  }
}

/**
 * k nearest neighbours (Euclidean, xyz) among the n = points.length / stride points, for each centre: the
 * centres are point indices (Int32Array / Uint32Array, e.g. from `farthestPointSample`) or coordinates
 * (Float32Array / Float64Array, M·3 values). Returns [M·k] indices, each group sorted by (distance,
 * index), so results are exact and deterministic (a centre that is one of the points comes first).
 *
 * Algorithm: points are bucketed in a uniform grid (about 4 points per cell along the bounding box) and each
 * query visits cell shells of growing Chebyshev radius, keeping the k best in a bounded heap, until the k-th
 * distance is below the distance to the unvisited region. Typical cost O((n + M·k) · const) instead of the
 * O(n·M) of brute force (8192 points, 2048 centres, k 32: tens of ms); a cloud whose points crowd into a few
 * cells of its bounding box (one dense cluster plus far outliers) degrades towards brute-force cost but stays
 * exact. `knnGroupBruteForce` is the reference.
 */
export function knnGroup(points: Float32Array | Float64Array, centres: Int32Array | Uint32Array | Float32Array | Float64Array, k: number, opts: KnnOptions & { withDistances: true }): KnnResult;
export function knnGroup(points: Float32Array | Float64Array, centres: Int32Array | Uint32Array | Float32Array | Float64Array, k: number, opts?: KnnOptions): Int32Array;
export function knnGroup(points: Float32Array | Float64Array, centres: Int32Array | Uint32Array | Float32Array | Float64Array, k: number, opts: KnnOptions = {}): Int32Array | KnnResult {
  const op = 'knnGroup';
  const stride = opts.stride ?? 3;
  checkStride(op, stride);
  if (points.length % stride) throw new RangeError(`${op}: points has ${points.length} values, not a multiple of stride ${stride}`);
  const n = points.length / stride;
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`${op}: k must be a positive integer, got ${k}`);
  if (n < k) throw new RangeError(`${op}: the cloud has ${n} points, fewer than k = ${k} neighbours`);
  const q = queryCoordinates(op, points, n, stride, centres);
  const M = q.length / 3;
  const xyz = new Float64Array(3 * n);
  let minX = Infinity, minY = Infinity, minZ = Infinity, maxX = -Infinity, maxY = -Infinity, maxZ = -Infinity;
  for (let i = 0; i < n; i++) {
    const x = points[i * stride], y = points[i * stride + 1], z = points[i * stride + 2];
    if (!Number.isFinite(x) || !Number.isFinite(y) || !Number.isFinite(z)) throw new RangeError(`${op}: point ${i} has a non-finite coordinate (${x}, ${y}, ${z})`);
    xyz[3 * i] = x; xyz[3 * i + 1] = y; xyz[3 * i + 2] = z;
    if (x < minX) minX = x; if (x > maxX) maxX = x;
    if (y < minY) minY = y; if (y > maxY) maxY = y;
    if (z < minZ) minZ = z; if (z > maxZ) maxZ = z;
  }
  const outI = new Int32Array(M * k);
  const outD = opts.withDistances ? new Float64Array(M * k) : null;
  const heap = new KBest(k);

  // Grid: cubic cells of side h, about n/4 cells along the bounding box's longest side cubed.
  const ext = Math.max(maxX - minX, maxY - minY, maxZ - minZ);
  const perAxis = Math.max(1, Math.ceil(Math.cbrt(n / 4)));
  const h = ext > 0 ? ext / perAxis : 1;
  const gx = Math.max(1, Math.min(perAxis, Math.ceil((maxX - minX) / h) || 1));
  const gy = Math.max(1, Math.min(perAxis, Math.ceil((maxY - minY) / h) || 1));
  const gz = Math.max(1, Math.min(perAxis, Math.ceil((maxZ - minZ) / h) || 1));
  const cellOf = (v: number, lo: number, g: number): number => Math.min(g - 1, Math.max(0, Math.floor((v - lo) / h)));
  const nCells = gx * gy * gz;
  const cellStart = new Int32Array(nCells + 1);
  const cellIdx = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = (cellOf(xyz[3 * i], minX, gx) * gy + cellOf(xyz[3 * i + 1], minY, gy)) * gz + cellOf(xyz[3 * i + 2], minZ, gz);
    cellIdx[i] = c;
    cellStart[c + 1]++;
  }
  for (let c = 0; c < nCells; c++) cellStart[c + 1] += cellStart[c];
  const fill = cellStart.slice(0, nCells);
  const cellPts = new Int32Array(n);
  for (let i = 0; i < n; i++) cellPts[fill[cellIdx[i]]++] = i;

  for (let g = 0; g < M; g++) {
    const qx = q[3 * g], qy = q[3 * g + 1], qz = q[3 * g + 2];
    const cx = cellOf(qx, minX, gx), cy = cellOf(qy, minY, gy), cz = cellOf(qz, minZ, gz);
    heap.reset();
    const maxR = Math.max(cx, gx - 1 - cx, cy, gy - 1 - cy, cz, gz - 1 - cz);
    for (let r = 0; r <= maxR; r++) {
      const x0 = Math.max(0, cx - r), x1 = Math.min(gx - 1, cx + r);
      const y0 = Math.max(0, cy - r), y1 = Math.min(gy - 1, cy + r);
      const z0 = Math.max(0, cz - r), z1 = Math.min(gz - 1, cz + r);
      for (let ix = x0; ix <= x1; ix++) {
        const onX = ix === cx - r || ix === cx + r;
        for (let iy = y0; iy <= y1; iy++) {
          const onXY = onX || iy === cy - r || iy === cy + r;
          const base = (ix * gy + iy) * gz;
          for (let iz = z0; iz <= z1; iz++) {
            // Only the shell: cells at Chebyshev distance exactly r.
            if (!onXY && iz !== cz - r && iz !== cz + r) continue;
            const c = base + iz;
            for (let p = cellStart[c], e = cellStart[c + 1]; p < e; p++) {
              const i = cellPts[p];
              const dx = xyz[3 * i] - qx, dy = xyz[3 * i + 1] - qy, dz = xyz[3 * i + 2] - qz;
              heap.push(dx * dx + dy * dy + dz * dz, i);
            }
          }
        }
      }
      if (!heap.full) continue;
      // Distance from q to the region outside the visited block; sides at the grid boundary hold no points.
      let bound = Infinity;
      if (cx - r > 0) bound = Math.min(bound, qx - (minX + (cx - r) * h));
      if (cx + r < gx - 1) bound = Math.min(bound, minX + (cx + r + 1) * h - qx);
      if (cy - r > 0) bound = Math.min(bound, qy - (minY + (cy - r) * h));
      if (cy + r < gy - 1) bound = Math.min(bound, minY + (cy + r + 1) * h - qy);
      if (cz - r > 0) bound = Math.min(bound, qz - (minZ + (cz - r) * h));
      if (cz + r < gz - 1) bound = Math.min(bound, minZ + (cz + r + 1) * h - qz);
      if (bound === Infinity || (bound > 0 && heap.worst < bound * bound)) break;
    }
    heap.drain(outI, outD, g * k);
  }
  return opts.withDistances ? { indices: outI, sqDistances: outD! } : outI;
}

/** Brute-force kNN with the same ordering as `knnGroup` (O(n·M)); the reference for tests. */
export function knnGroupBruteForce(points: Float32Array | Float64Array, centres: Int32Array | Uint32Array | Float32Array | Float64Array, k: number, opts: { stride?: number } = {}): Int32Array {
  const op = 'knnGroupBruteForce';
  const stride = opts.stride ?? 3;
  checkStride(op, stride);
  const n = points.length / stride;
  if (!Number.isInteger(n) || n < k) throw new RangeError(`${op}: need at least k = ${k} points, got ${points.length / stride}`);
  const q = queryCoordinates(op, points, n, stride, centres);
  const M = q.length / 3;
  const out = new Int32Array(M * k);
  const heap = new KBest(k);
  for (let g = 0; g < M; g++) {
    heap.reset();
    for (let i = 0; i < n; i++) {
      const dx = points[i * stride] - q[3 * g], dy = points[i * stride + 1] - q[3 * g + 1], dz = points[i * stride + 2] - q[3 * g + 2];
      heap.push(dx * dx + dy * dy + dz * dz, i);
    }
    heap.drain(out, null, g * k);
  }
  return out;
}

function queryCoordinates(op: string, points: Float32Array | Float64Array, n: number, stride: number, centres: Int32Array | Uint32Array | Float32Array | Float64Array): Float64Array {
  if (centres instanceof Int32Array || centres instanceof Uint32Array) {
    const q = new Float64Array(3 * centres.length);
    centres.forEach((c, g) => {
      if (!Number.isInteger(c) || c < 0 || c >= n) throw new RangeError(`${op}: centre ${g} is point index ${c}, outside [0, ${n})`);
      q[3 * g] = points[c * stride]; q[3 * g + 1] = points[c * stride + 1]; q[3 * g + 2] = points[c * stride + 2];
    });
    return q;
  }
  if (centres.length % 3) throw new RangeError(`${op}: centre coordinates must be M·3 values, got ${centres.length}`);
  for (let i = 0; i < centres.length; i++) if (!Number.isFinite(centres[i])) throw new RangeError(`${op}: centre ${Math.floor(i / 3)} has a non-finite coordinate`);
  return Float64Array.from(centres);
}

// ---------------------------------------------------------------------------------------------------
// The tokenizer.
// ---------------------------------------------------------------------------------------------------

export type PointCloudRaw = Float32Array | Float64Array | readonly (readonly number[])[];

export interface PointCloudInput {
  /** [B, C, M, k]: relative coordinates (and feature differences) of each group's neighbours. */
  grouped: Tensor;
  /** [B, M, 3] group centres. */
  centres: Tensor;
}

export interface PointCloudTokenizerOptions {
  /** Token width D. */
  dim: number;
  /** Values per point: 3 (xyz) or 3 + c (xyz then c features). Default 3. */
  inChannels?: number;
  /** Neighbours per group (default 32). */
  groupSize?: number;
  /** Fraction of points used as group centres (default 1/4); ignored when `numGroups` is given. */
  sampleRatio?: number;
  /** Number of groups M (default floor(P · sampleRatio)). */
  numGroups?: number;
  /** Widths [c0, c1, c2] of the mini-PointNet (default [128, 256, 512]). */
  channels?: readonly [number, number, number];
  /** Hidden width of the position MLP (default 128). */
  posHidden?: number;
  /** FPS start: 'first' (index 0, default, deterministic) or 'random' (drawn from `generator`). */
  fpsStart?: 'first' | 'random';
  /** Seed source for initialisation and random FPS starts. */
  generator?: Generator;
}

export class PointCloudTokenizer extends Data2Seq<PointCloudInput, PointCloudRaw> {
  readonly modality = 'point-cloud' as const;
  readonly dim: number;
  readonly inChannels: number;
  readonly groupSize: number;
  readonly sampleRatio: number;
  readonly numGroups: number | undefined;
  readonly channels: readonly [number, number, number];
  readonly fpsStart: 'first' | 'random';
  conv1a: Conv2d;
  bn1: BatchNorm2d;
  conv1b: Conv2d;
  conv2a: Conv2d;
  bn2: BatchNorm2d;
  conv2b: Conv2d;
  cls_token: Variable;
  cls_pos: Variable;
  pos_embed: Mlp;
  private _generator: Generator;

  constructor(opts: PointCloudTokenizerOptions) {
    super();
    const op = 'PointCloudTokenizer';
    const posInt = (name: string, v: number, min = 1): number => {
      if (!Number.isInteger(v) || v < min) throw new ShapeError(op, `${name} must be an integer >= ${min}, got ${v}`);
      return v;
    };
    this.dim = posInt('dim', opts.dim);
    this.inChannels = posInt('inChannels', opts.inChannels ?? 3, 3);
    this.groupSize = posInt('groupSize', opts.groupSize ?? 32);
    this.sampleRatio = opts.sampleRatio ?? 0.25;
    if (!(this.sampleRatio > 0 && this.sampleRatio <= 1)) throw new ShapeError(op, `sampleRatio must be in (0, 1], got ${this.sampleRatio}`);
    this.numGroups = opts.numGroups === undefined ? undefined : posInt('numGroups', opts.numGroups);
    const ch = opts.channels ?? [128, 256, 512];
    if (ch.length !== 3) throw new ShapeError(op, `channels must be three widths [c0, c1, c2], got [${ch.join(', ')}]`);
    ch.forEach((c, i) => posInt(`channels[${i}]`, c));
    this.channels = [ch[0], ch[1], ch[2]];
    this.fpsStart = opts.fpsStart ?? 'first';
    const g = (this._generator = opts.generator ?? defaultGenerator);
    const [c0, c1, c2] = this.channels;
    // 1x1 convolutions; those followed by BatchNorm have no bias (OpenPoints' create_convblock2d).
    this.conv1a = new Conv2d(this.inChannels, c0, 1, { bias: false, generator: g });
    this.bn1 = new BatchNorm2d(c0);
    // The reference's conv1b has a bias; it is inert (its gradient is identically zero in training): the
    // channel-constant it adds passes linearly through conv2a and is removed by bn2's batch mean. Omitted.
    this.conv1b = new Conv2d(c0, c1, 1, { bias: false, generator: g });
    this.conv2a = new Conv2d(2 * c1, c2, 1, { bias: false, generator: g });
    this.bn2 = new BatchNorm2d(c2);
    this.conv2b = new Conv2d(c2, this.dim, 1, { generator: g });
    this.cls_token = new Variable(new Float32Array(this.dim), [1, 1, this.dim]);
    this.cls_pos = new Variable(new Float32Array(this.dim), [1, 1, this.dim]);
    truncNormal_(this.cls_token, 0.02, { generator: g });
    truncNormal_(this.cls_pos, 0.02, { generator: g });
    this.pos_embed = new Mlp(3, posInt('posHidden', opts.posHidden ?? 128), this.dim, { act: 'gelu', generator: g });
  }

  /** Groups M for clouds of P points. */
  groupsFor(numPoints: number): number {
    const m = this.numGroups ?? Math.floor(numPoints * this.sampleRatio);
    if (m < 1) throw new ShapeError(`${this.constructor.name}.prepare`, `a cloud of ${numPoints} points gives ${m} groups at sampleRatio ${this.sampleRatio}; use more points or set numGroups`);
    if (m > numPoints) throw new ShapeError(`${this.constructor.name}.prepare`, `numGroups (${m}) exceeds the number of points (${numPoints})`);
    return m;
  }

  /** Host side: FPS + kNN + relative features for B clouds of equal size (see the file comment). */
  prepare(clouds: PointCloudRaw[]): PointCloudInput {
    const op = `${this.constructor.name}.prepare`;
    if (!Array.isArray(clouds) || clouds.length === 0) throw new ShapeError(op, 'expected a non-empty array of point clouds');
    const C = this.inChannels, k = this.groupSize;
    const flat = clouds.map((c, b) => flattenCloud(op, c, b, C));
    const P = flat[0].length / C;
    flat.forEach((f, b) => {
      const p = f.length / C;
      if (p !== P) throw new ShapeError(op, `all clouds of a batch must have the same number of points: cloud 0 has ${P}, cloud ${b} has ${p}`);
      if (p < k) throw new ShapeError(op, `point cloud ${b} has ${p} points, fewer than the group size k = ${k}`);
    });
    const M = this.groupsFor(P);
    const B = flat.length;
    const grouped = new Float32Array(B * C * M * k);
    const centres = new Float32Array(B * M * 3);
    for (let b = 0; b < B; b++) {
      const pts = flat[b];
      const start = this.fpsStart === 'random' ? Math.floor(this._generator.next() * P) : 0;
      const idx = farthestPointSample(pts, P, M, { stride: C, start });
      const nbr = knnGroup(pts, idx, k, { stride: C });
      for (let g = 0; g < M; g++) {
        const c = idx[g];
        for (let a = 0; a < 3; a++) centres[(b * M + g) * 3 + a] = pts[c * C + a];
        for (let ch = 0; ch < C; ch++) {
          const cv = pts[c * C + ch];
          const row = ((b * C + ch) * M + g) * k;
          for (let j = 0; j < k; j++) grouped[row + j] = pts[nbr[g * k + j] * C + ch] - cv;
        }
      }
    }
    return { grouped: new Tensor([B, C, M, k], 'float32', grouped), centres: new Tensor([B, M, 3], 'float32', centres) };
  }

  forward(input: PointCloudInput): TokenSequence {
    const op = this.constructor.name;
    const { grouped, centres } = input;
    if (!(grouped instanceof Tensor) || grouped.dtype !== 'float32' || grouped.rank !== 4 || grouped.shape[1] !== this.inChannels) {
      throw new ShapeError(op, `grouped must be float32 [B, ${this.inChannels}, M, k], got ${grouped instanceof Tensor ? `${grouped.dtype} ${fmtShape(grouped.shape)}` : String(grouped)}`);
    }
    const [B, , M, k] = grouped.shape as [number, number, number, number];
    if (!(centres instanceof Tensor) || centres.dtype !== 'float32' || centres.rank !== 3 || centres.shape[0] !== B || centres.shape[1] !== M || centres.shape[2] !== 3) {
      throw new ShapeError(op, `centres must be float32 [B, M, 3] = [${B}, ${M}, 3] to match grouped ${fmtShape(grouped.shape)}, got ${centres instanceof Tensor ? `${centres.dtype} ${fmtShape(centres.shape)}` : String(centres)}`);
    }
    const D = this.dim, c1 = this.channels[1];
    let f = this.conv1b.forward(this.bn1.forward(this.conv1a.forward(grouped)).relu()); // [B, c1, M, k]
    const pooled = f.max(3, true).expand([B, c1, M, k]);
    f = cat([pooled, f], 1); //                                                              [B, 2c1, M, k]
    f = this.conv2b.forward(this.bn2.forward(this.conv2a.forward(f)).relu()); //              [B, D, M, k]
    const groupTokens = f.max(3).transpose(1, 2); //                                           [B, M, D]
    const tokens = cat([this.cls_token.expand([B, 1, D]), groupTokens], 1);
    const pos = cat([this.cls_pos.expand([B, 1, D]), this.pos_embed.forward(centres)], 1);
    return { tokens, paddingMask: null, perBlockPos: pos };
  }
}

function flattenCloud(op: string, cloud: PointCloudRaw, b: number, C: number): Float32Array | Float64Array {
  let flat: Float32Array | Float64Array;
  if (cloud instanceof Float32Array || cloud instanceof Float64Array) {
    if (cloud.length % C) throw new ShapeError(op, `point cloud ${b} has ${cloud.length} values, not a multiple of ${C} channels per point (inChannels)`);
    flat = cloud;
  } else if (Array.isArray(cloud)) {
    flat = new Float32Array(cloud.length * C);
    cloud.forEach((row, i) => {
      if (!row || row.length !== C) throw new ShapeError(op, `point cloud ${b}, point ${i} has ${row ? row.length : 0} values; expected ${C} per point ([x, y, z${C > 3 ? `, ${C - 3} features` : ''}])`);
      for (let c = 0; c < C; c++) flat[i * C + c] = row[c];
    });
  } else {
    throw new ShapeError(op, `point cloud ${b} must be a Float32Array of P·${C} values or an array of [x, y, z${C > 3 ? ', ...features' : ''}] rows`);
  }
  for (let i = 0; i < flat.length; i++) {
    if (!Number.isFinite(flat[i])) {
      const p = Math.floor(i / C), c = i % C;
      throw new ShapeError(op, `point cloud ${b}, point ${p} has a non-finite ${c < 3 ? 'xyz'[c] + ' coordinate' : `feature ${c - 3}`} (${flat[i]})`);
    }
  }
  return flat;
}
