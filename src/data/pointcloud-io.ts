// Point-cloud files -> point-major Float32Arrays (x, y, z, f_1 .. f_c per point), the form
// PointCloudTokenizer.prepare takes.
//
// Formats (chosen by extension, or `format`):
//   .ply           PLY (http://paulbourke.net/dataformats/ply/): ascii, binary_little_endian and
//                  binary_big_endian; the 'vertex' element must have scalar x, y, z; other elements (and list
//                  properties) are skipped, except 'face' (vertex_indices / vertex_index), kept as triangles
//                  for surface sampling. Property types char/uchar/short/ushort/int/uint/float/double and their
//                  int8 ... float64 aliases.
//   .off           OFF (ModelNet): 'OFF', then 'nv nf ne', nv vertex lines, nf face lines 'n i_1 .. i_n'
//                  (extra values on a face line, e.g. colours, are ignored). ModelNet's defect of the counts on
//                  the magic line ('OFF490 518 0') is accepted. '#' starts a comment.
//   .xyz .txt .pts .csv  one point per line, values separated by whitespace, commas or semicolons
//                  (ModelNet40's resampled 'x,y,z,nx,ny,nz' files are this); blank lines and lines starting with
//                  '#' or '//' are skipped; a first line with no numbers is taken as column names.
//   .npy           a [P, C] array (C >= 3, xyz first), any numeric dtype.
// Extra channels: `features` 'none' (default: xyz only, inChannels 3), 'all' (every other scalar vertex
// property / column) or a list of names (PLY property names; header names of a text file; 'col3', 'col4',
// ... for columns of a headerless text file or an NPY array, 0-based).
// Faces polygons are fan-triangulated. `sampleSurface: n` draws n points uniformly on the surface (triangles
// chosen with probability proportional to their area, uniform barycentric coordinates; features are
// interpolated barycentrically), which is how ModelNet meshes are usually turned into clouds.
// Every malformed file raises PointCloudFormatError naming the file and the problem (line or element).
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { Generator } from '../engine/functional/random.js';
import { decodeNpy, npyToFloat32 } from '../io/npy.js';

export interface PointCloud {
  /** numPoints·channels values, point-major. */
  points: Float32Array;
  numPoints: number;
  /** 3 + extra features. */
  channels: number;
  /** Channel names ('x', 'y', 'z', ...). */
  fields: string[];
  /** Triangles (vertex indices, 3 per face) when the file has faces. */
  faces?: Uint32Array;
}

export type PointCloudFormat = 'ply' | 'off' | 'xyz' | 'npy';

export interface PointCloudReadOptions {
  format?: PointCloudFormat;
  features?: 'none' | 'all' | readonly string[];
  /** Sample this many points on the faces (meshes only). */
  sampleSurface?: number;
  /** Then resample to exactly this many points (random subset, or all points plus random repeats). */
  numPoints?: number;
  /** Then centre on the centroid and scale into the unit sphere. */
  normalize?: boolean;
  /** Seed of the sampling draws (default 0). */
  seed?: number;
}

/** A malformed point-cloud file; the message names the file and the problem. */
export class PointCloudFormatError extends Error {
  override name = 'PointCloudFormatError';
  constructor(readonly file: string, detail: string) { super(`${file}: ${detail}`); }
}

const msg = (e: unknown): string => (e instanceof Error ? e.message : String(e));

// ------------------------------------------------------------------------------------------------
// Feature selection
// ------------------------------------------------------------------------------------------------

function selectFeatures(name: string, available: readonly string[], features: PointCloudReadOptions['features']): string[] {
  const extra = available.filter((f) => f !== 'x' && f !== 'y' && f !== 'z');
  if (features === undefined || features === 'none') return [];
  if (features === 'all') return extra;
  if (!Array.isArray(features)) throw new RangeError(`readPointCloud: features must be 'none', 'all' or a list of names, got ${JSON.stringify(features)}`);
  for (const f of features) {
    if (!extra.includes(f)) throw new PointCloudFormatError(name, `has no feature '${f}' (available: ${extra.length ? extra.join(', ') : 'none besides x, y, z'})`);
  }
  return [...features];
}

/** Rows of a [n, C] table (columns named `cols`) -> a cloud with xyz + `keep`. */
function fromColumns(name: string, table: Float32Array | Float64Array, n: number, cols: readonly string[], keep: readonly string[]): PointCloud {
  const idx = ['x', 'y', 'z', ...keep].map((f) => cols.indexOf(f));
  idx.forEach((k, j) => { if (k < 0) throw new PointCloudFormatError(name, `has no '${['x', 'y', 'z', ...keep][j]}' column`); });
  const C = idx.length, W = cols.length;
  const points = new Float32Array(n * C);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < C; c++) {
      const v = table[i * W + idx[c]!]!;
      if (!Number.isFinite(v)) throw new PointCloudFormatError(name, `point ${i}, ${cols[idx[c]!]} is ${v} (not finite)`);
      points[i * C + c] = v;
    }
  }
  return { points, numPoints: n, channels: C, fields: ['x', 'y', 'z', ...keep] };
}

// ------------------------------------------------------------------------------------------------
// PLY
// ------------------------------------------------------------------------------------------------

type PlyType = 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'float32' | 'float64';
const PLY_TYPES: Record<string, PlyType> = {
  char: 'int8', uchar: 'uint8', short: 'int16', ushort: 'uint16', int: 'int32', uint: 'uint32', float: 'float32', double: 'float64',
  int8: 'int8', uint8: 'uint8', int16: 'int16', uint16: 'uint16', int32: 'int32', uint32: 'uint32', float32: 'float32', float64: 'float64',
};
const PLY_BYTES: Record<PlyType, number> = { int8: 1, uint8: 1, int16: 2, uint16: 2, int32: 4, uint32: 4, float32: 4, float64: 8 };
const INTEGER = (t: PlyType): boolean => t !== 'float32' && t !== 'float64';

interface PlyProperty { name: string; type: PlyType; list?: { countType: PlyType } }
interface PlyElement { name: string; count: number; props: PlyProperty[] }

function readBinary(view: DataView, off: number, t: PlyType, le: boolean): number {
  switch (t) {
    case 'int8': return view.getInt8(off);
    case 'uint8': return view.getUint8(off);
    case 'int16': return view.getInt16(off, le);
    case 'uint16': return view.getUint16(off, le);
    case 'int32': return view.getInt32(off, le);
    case 'uint32': return view.getUint32(off, le);
    case 'float32': return view.getFloat32(off, le);
    case 'float64': return view.getFloat64(off, le);
  }
}

/** Decode a PLY file held in memory. */
export function decodePly(bytes: Uint8Array, name = '<buffer>', opts: Pick<PointCloudReadOptions, 'features'> = {}): PointCloud {
  const fail = (d: string): never => { throw new PointCloudFormatError(name, d); };
  if (bytes.length === 0) fail('file is empty');
  const magic = new TextDecoder('latin1').decode(bytes.subarray(0, 4));
  if (!/^ply[\r\n]/.test(magic)) fail(`not a PLY file (expected the 'ply' magic line, got ${JSON.stringify(magic)})`);
  const headEnd = (() => {
    const limit = Math.min(bytes.length, 1 << 20);
    const text = new TextDecoder('latin1').decode(bytes.subarray(0, limit));
    const m = /(^|\n)end_header[ \t]*\r?\n/.exec(text) ?? /(^|\n)end_header[ \t]*$/.exec(text);
    if (!m) return fail("no 'end_header' line (truncated header?)");
    return { text: text.slice(0, m.index), dataStart: m.index + m[0].length };
  })();
  type PlyFormat = 'ascii' | 'binary_little_endian' | 'binary_big_endian';
  let format = null as PlyFormat | null;
  const elements: PlyElement[] = [];
  const lines = headEnd.text.split(/\r?\n/);
  for (let li = 1; li < lines.length; li++) {
    const line = lines[li]!.trim();
    const at = `header line ${li + 1}`;
    if (!line || line.startsWith('comment') || line.startsWith('obj_info')) continue;
    const t = line.split(/\s+/);
    if (t[0] === 'format') {
      if (t[1] !== 'ascii' && t[1] !== 'binary_little_endian' && t[1] !== 'binary_big_endian') fail(`${at}: unknown format '${t[1]}' (expected ascii, binary_little_endian or binary_big_endian)`);
      format = t[1] as PlyFormat;
    } else if (t[0] === 'element') {
      const count = Number(t[2]);
      if (t.length !== 3 || !Number.isSafeInteger(count) || count < 0) fail(`${at}: expected 'element <name> <count>', got ${JSON.stringify(line)}`);
      elements.push({ name: t[1]!, count, props: [] });
    } else if (t[0] === 'property') {
      const el = elements[elements.length - 1];
      if (!el) fail(`${at}: property before any element`);
      if (t[1] === 'list') {
        const ct = PLY_TYPES[t[2]!], it = PLY_TYPES[t[3]!];
        if (t.length !== 5 || !ct || !it) fail(`${at}: expected 'property list <count type> <item type> <name>', got ${JSON.stringify(line)}`);
        if (!INTEGER(ct!)) fail(`${at}: list count type must be an integer type, got '${t[2]}'`);
        el!.props.push({ name: t[4]!, type: it!, list: { countType: ct! } });
      } else {
        const ty = PLY_TYPES[t[1]!];
        if (t.length !== 3 || !ty) fail(`${at}: expected 'property <type> <name>' with a known type, got ${JSON.stringify(line)}`);
        el!.props.push({ name: t[2]!, type: ty! });
      }
    } else fail(`${at}: unexpected ${JSON.stringify(line)}`);
  }
  if (!format) fail("header has no 'format' line");
  const vertex = elements.find((e) => e.name === 'vertex');
  if (!vertex) fail("header has no 'vertex' element");
  const scalarNames = vertex!.props.filter((p) => !p.list).map((p) => p.name);
  for (const c of ['x', 'y', 'z']) if (!scalarNames.includes(c)) fail(`'vertex' element has no scalar '${c}' property (properties: ${vertex!.props.map((p) => p.name).join(', ')})`);
  const keep = selectFeatures(name, scalarNames, opts.features);
  const wanted = ['x', 'y', 'z', ...keep];
  const vslot = vertex!.props.map((p) => (p.list ? -1 : wanted.indexOf(p.name)));
  const C = wanted.length;
  const points = new Float32Array(vertex!.count * C);
  const faceEl = elements.find((e) => e.name === 'face');
  const faceProp = faceEl?.props.findIndex((p) => p.list && (p.name === 'vertex_indices' || p.name === 'vertex_index')) ?? -1;
  const tris: number[] = [];
  const body = bytes.subarray(headEnd.dataStart);

  const addFace = (poly: number[], f: number): void => {
    if (poly.length < 3) fail(`face ${f} has ${poly.length} vertices (a face needs at least 3)`);
    for (const v of poly) if (!Number.isInteger(v) || v < 0 || v >= vertex!.count) fail(`face ${f} refers to vertex ${v}, outside [0, ${vertex!.count})`);
    for (let k = 1; k + 1 < poly.length; k++) tris.push(poly[0]!, poly[k]!, poly[k + 1]!);
  };

  if (format === 'ascii') {
    const text = new TextDecoder('latin1').decode(body);
    const re = /\S+/g;
    const next = (what: () => string): number => {
      const m = re.exec(text);
      if (!m) return fail(`ascii data ends early, at ${what()} (truncated file, or counts in the header too large?)`);
      const v = Number(m[0]);
      if (Number.isNaN(v) && m[0] !== 'nan' && m[0] !== 'NaN') fail(`${what()}: ${JSON.stringify(m[0])} is not a number`);
      return v;
    };
    for (const el of elements) {
      const isV = el === vertex, isF = el === faceEl;
      for (let i = 0; i < el.count; i++) {
        el.props.forEach((p, pi) => {
          const what = (): string => `element '${el.name}' ${i}, property '${p.name}'`;
          if (p.list) {
            const n = next(what);
            if (!Number.isInteger(n) || n < 0) fail(`${what()}: list length ${n} is not a non-negative integer`);
            const items: number[] = [];
            for (let k = 0; k < n; k++) items.push(next(what));
            if (isF && pi === faceProp) addFace(items, i);
          } else {
            const v = next(what);
            if (isV && vslot[pi]! >= 0) points[i * C + vslot[pi]!] = v;
          }
        });
      }
    }
    const rest = re.exec(text);
    if (rest) fail(`unexpected value ${JSON.stringify(rest[0])} after the last element (counts in the header too small?)`);
  } else {
    const le = format === 'binary_little_endian';
    const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
    // fixed-size elements can be size-checked up front (a wrong count fails before allocating anything)
    let minBytes = 0;
    for (const el of elements) minBytes += el.count * el.props.reduce((a, p) => a + (p.list ? PLY_BYTES[p.list.countType] : PLY_BYTES[p.type]), 0);
    if (minBytes > body.length) fail(`binary data is truncated: the header's elements need at least ${minBytes} bytes, the file has ${body.length} after the header`);
    let off = 0;
    const need = (n: number, where: () => string): void => { if (off + n > body.length) fail(`binary data is truncated at ${where()} (byte ${off} of ${body.length} after the header)`); };
    for (const el of elements) {
      const isV = el === vertex, isF = el === faceEl;
      for (let i = 0; i < el.count; i++) {
        for (let pi = 0; pi < el.props.length; pi++) {
          const p = el.props[pi]!;
          const where = (): string => `element '${el.name}' ${i}, property '${p.name}'`;
          if (p.list) {
            const cb = PLY_BYTES[p.list.countType];
            need(cb, where);
            const n = readBinary(view, off, p.list.countType, le);
            off += cb;
            if (n < 0) fail(`${where()}: negative list length ${n}`);
            const ib = PLY_BYTES[p.type];
            need(n * ib, where);
            if (isF && pi === faceProp) {
              const poly: number[] = [];
              for (let k = 0; k < n; k++) poly.push(readBinary(view, off + k * ib, p.type, le));
              addFace(poly, i);
            }
            off += n * ib;
          } else {
            const b = PLY_BYTES[p.type];
            need(b, where);
            if (isV && vslot[pi]! >= 0) points[i * C + vslot[pi]!] = readBinary(view, off, p.type, le);
            off += b;
          }
        }
      }
    }
    for (let k = off; k < body.length; k++) {
      const c = body[k]!;
      if (c !== 0x0a && c !== 0x0d && c !== 0x20) fail(`${body.length - off} bytes after the last element (counts in the header too small?)`);
    }
  }
  for (let j = 0; j < points.length; j++) {
    if (!Number.isFinite(points[j]!)) fail(`vertex ${Math.floor(j / C)}, ${wanted[j % C]} is ${points[j]} (not finite)`);
  }
  const out: PointCloud = { points, numPoints: vertex!.count, channels: C, fields: wanted };
  if (tris.length) out.faces = Uint32Array.from(tris);
  return out;
}

// ------------------------------------------------------------------------------------------------
// OFF
// ------------------------------------------------------------------------------------------------

/** Decode an OFF mesh held in memory: its vertices (xyz) and triangulated faces. */
export function decodeOff(bytes: Uint8Array, name = '<buffer>'): PointCloud {
  const fail = (d: string): never => { throw new PointCloudFormatError(name, d); };
  if (bytes.length === 0) fail('file is empty');
  const lines: { no: number; t: string[] }[] = [];
  new TextDecoder('latin1').decode(bytes).split(/\r?\n|\r/).forEach((raw, i) => {
    const s = raw.replace(/#.*/, '').trim();
    if (s) lines.push({ no: i + 1, t: s.split(/\s+/) });
  });
  if (!lines.length) fail('file has no content (only comments or blank lines)');
  const first = lines[0]!;
  const m = /^OFF(.*)$/.exec(first.t[0]!);
  if (!m) fail(`not an OFF file (expected the 'OFF' magic on line ${first.no}, got ${JSON.stringify(first.t[0])})`);
  // counts: after the magic on the same line (ModelNet's 'OFF490 518 0'), or on the next line
  let counts = [m![1]!, ...first.t.slice(1)].filter((s) => s !== '');
  let li = 1;
  if (!counts.length) {
    if (li >= lines.length) fail("no 'vertices faces edges' counts line after 'OFF'");
    counts = lines[li]!.t; li++;
  }
  const countsLine = li === 1 ? first.no : lines[li - 1]!.no;
  const [nv, nf] = counts.slice(0, 2).map(Number);
  if (counts.length < 2 || !Number.isSafeInteger(nv) || !Number.isSafeInteger(nf) || nv! < 0 || nf! < 0) fail(`line ${countsLine}: expected 'vertices faces edges' counts, got ${JSON.stringify(counts.join(' '))}`);
  if (li + nv! > lines.length) fail(`header declares ${nv} vertices but the file has ${lines.length - li} data lines left (truncated?)`);
  const points = new Float32Array(nv! * 3);
  for (let i = 0; i < nv!; i++) {
    const { no, t } = lines[li + i]!;
    if (t.length < 3) fail(`line ${no}: vertex ${i} has ${t.length} values, expected 3`);
    for (let c = 0; c < 3; c++) {
      const v = Number(t[c]);
      if (!Number.isFinite(v)) fail(`line ${no}: vertex ${i}: ${JSON.stringify(t[c])} is not a finite number`);
      points[i * 3 + c] = v;
    }
  }
  li += nv!;
  if (li + nf! > lines.length) fail(`header declares ${nf} faces but only ${lines.length - li} face lines follow the vertices (truncated?)`);
  const tris: number[] = [];
  for (let f = 0; f < nf!; f++) {
    const { no, t } = lines[li + f]!;
    const n = Number(t[0]);
    if (!Number.isInteger(n) || n < 3) fail(`line ${no}: face ${f} starts with ${JSON.stringify(t[0])}; expected a vertex count >= 3`);
    if (t.length < 1 + n) fail(`line ${no}: face ${f} declares ${n} vertices but lists ${t.length - 1}`);
    const poly = t.slice(1, 1 + n).map(Number);
    for (const v of poly) if (!Number.isInteger(v) || v < 0 || v >= nv!) fail(`line ${no}: face ${f} refers to vertex ${v}, outside [0, ${nv})`);
    for (let k = 1; k + 1 < n; k++) tris.push(poly[0]!, poly[k]!, poly[k + 1]!);
  }
  li += nf!;
  if (li < lines.length) fail(`line ${lines[li]!.no}: unexpected data after the ${nv} vertices and ${nf} faces the header declares`);
  const out: PointCloud = { points, numPoints: nv!, channels: 3, fields: ['x', 'y', 'z'] };
  if (tris.length) out.faces = Uint32Array.from(tris);
  return out;
}

// ------------------------------------------------------------------------------------------------
// XYZ / TXT
// ------------------------------------------------------------------------------------------------

/** Decode a text point list (one point per line). */
export function decodeXyz(bytes: Uint8Array, name = '<buffer>', opts: Pick<PointCloudReadOptions, 'features'> = {}): PointCloud {
  const fail = (d: string): never => { throw new PointCloudFormatError(name, d); };
  if (bytes.length === 0) fail('file is empty');
  const text = new TextDecoder('utf-8').decode(bytes);
  let cols: string[] | null = null;
  let W = 0, n = 0;
  let values = new Float64Array(1024);
  let lineNo = 0;
  for (const raw of text.split(/\r?\n|\r/)) {
    lineNo++;
    const s = raw.trim();
    if (!s || s.startsWith('#') || s.startsWith('//')) continue;
    const t = s.split(/[\s,;]+/);
    const nums = t.map(Number);
    if (!cols && n === 0 && nums.every((v, k) => Number.isNaN(v) && !/^nan$/i.test(t[k]!))) {
      cols = t; W = t.length;
      if (W < 3) fail(`line ${lineNo}: header names ${W} columns, a point needs at least 3 (x, y, z)`);
      continue;
    }
    if (W === 0) {
      W = t.length;
      if (W < 3) fail(`line ${lineNo}: ${W} value(s), a point needs at least 3 (x, y, z)`);
    }
    if (t.length !== W) fail(`line ${lineNo}: ${t.length} values, expected ${W} as on the ${cols ? 'header' : 'first data'} line`);
    const bad = nums.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) fail(`line ${lineNo}, column ${bad + 1}: ${JSON.stringify(t[bad])} is not a finite number`);
    if ((n + 1) * W > values.length) { const g = new Float64Array(values.length * 2 + W); g.set(values); values = g; }
    values.set(nums, n * W);
    n++;
  }
  if (n === 0) fail('no points (only blank lines, comments or a header)');
  const names = cols ?? ['x', 'y', 'z', ...Array.from({ length: W - 3 }, (_, k) => `col${k + 3}`)];
  if (cols) for (const c of ['x', 'y', 'z']) if (!cols.includes(c)) fail(`header line names no '${c}' column (columns: ${cols.join(', ')})`);
  const keep = selectFeatures(name, names, opts.features);
  return fromColumns(name, values, n, names, keep);
}

// ------------------------------------------------------------------------------------------------
// NPY
// ------------------------------------------------------------------------------------------------

/** Decode a [P, C] .npy array (C >= 3, xyz first). */
export function decodePointsNpy(bytes: Uint8Array, name = '<buffer>', opts: Pick<PointCloudReadOptions, 'features'> = {}): PointCloud {
  if (bytes.length === 0) throw new PointCloudFormatError(name, 'file is empty');
  const a = decodeNpy(bytes, name);
  if (a.shape.length !== 2 || a.shape[1]! < 3) throw new PointCloudFormatError(name, `a point cloud array must be [P, C] with C >= 3 (xyz first), got shape [${a.shape.join(', ')}]`);
  const [P, W] = a.shape as [number, number];
  if (P === 0) throw new PointCloudFormatError(name, 'array has no points (shape [0, C])');
  const names = ['x', 'y', 'z', ...Array.from({ length: W - 3 }, (_, k) => `col${k + 3}`)];
  return fromColumns(name, npyToFloat32(a), P, names, selectFeatures(name, names, opts.features));
}

// ------------------------------------------------------------------------------------------------
// Sampling and normalisation
// ------------------------------------------------------------------------------------------------

const genOf = (seed: number | Generator | undefined): Generator => (seed instanceof Generator ? seed : new Generator(seed ?? 0));

/**
 * `n` points drawn uniformly on the triangles of a mesh (area-weighted triangle choice, uniform barycentric
 * coordinates u = 1 − √r1, v = √r1·(1 − r2), w = √r1·r2); every channel is interpolated barycentrically.
 */
export function sampleSurface(cloud: PointCloud, n: number, seed: number | Generator = 0): PointCloud {
  const op = 'sampleSurface';
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`${op}: number of points must be a positive integer, got ${n}`);
  const f = cloud.faces;
  if (!f || f.length === 0) throw new RangeError(`${op}: the cloud has no faces to sample on`);
  const C = cloud.channels, P = cloud.points;
  const nt = f.length / 3;
  const cum = new Float64Array(nt);
  let total = 0;
  for (let t = 0; t < nt; t++) {
    const a = f[3 * t]! * C, b = f[3 * t + 1]! * C, c = f[3 * t + 2]! * C;
    const ux = P[b]! - P[a]!, uy = P[b + 1]! - P[a + 1]!, uz = P[b + 2]! - P[a + 2]!;
    const vx = P[c]! - P[a]!, vy = P[c + 1]! - P[a + 1]!, vz = P[c + 2]! - P[a + 2]!;
    const cx = uy * vz - uz * vy, cy = uz * vx - ux * vz, cz = ux * vy - uy * vx;
    total += 0.5 * Math.sqrt(cx * cx + cy * cy + cz * cz);
    cum[t] = total;
  }
  if (!(total > 0)) throw new RangeError(`${op}: the mesh's faces have zero total area`);
  const g = genOf(seed);
  const out = new Float32Array(n * C);
  for (let i = 0; i < n; i++) {
    const r = g.next() * total;
    let lo = 0, hi = nt - 1;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (cum[mid]! > r) hi = mid; else lo = mid + 1; }
    const s = Math.sqrt(g.next()), r2 = g.next();
    const wa = 1 - s, wb = s * (1 - r2), wc = s * r2;
    const a = f[3 * lo]! * C, b = f[3 * lo + 1]! * C, c = f[3 * lo + 2]! * C;
    for (let k = 0; k < C; k++) out[i * C + k] = wa * P[a + k]! + wb * P[b + k]! + wc * P[c + k]!;
  }
  return { points: out, numPoints: n, channels: C, fields: [...cloud.fields] };
}

/**
 * Exactly `n` points: a random subset without replacement when the cloud has more (kept in file order), or
 * every point plus random repeats when it has fewer. Seeded.
 */
export function resamplePoints(cloud: PointCloud, n: number, seed: number | Generator = 0): PointCloud {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`resamplePoints: number of points must be a positive integer, got ${n}`);
  const P = cloud.numPoints, C = cloud.channels;
  if (P < 1) throw new RangeError('resamplePoints: the cloud has no points');
  const g = genOf(seed);
  let idx: number[];
  if (P >= n) {
    // partial Fisher-Yates: the first n of a random permutation
    const perm = Int32Array.from({ length: P }, (_, i) => i);
    for (let i = 0; i < n; i++) { const j = i + Math.floor(g.next() * (P - i)); const t = perm[i]!; perm[i] = perm[j]!; perm[j] = t; }
    idx = Array.from(perm.subarray(0, n)).sort((a, b) => a - b);
  } else {
    idx = Array.from({ length: P }, (_, i) => i);
    for (let i = P; i < n; i++) idx.push(Math.floor(g.next() * P));
  }
  const out = new Float32Array(n * C);
  idx.forEach((s, i) => out.set(cloud.points.subarray(s * C, (s + 1) * C), i * C));
  return { points: out, numPoints: n, channels: C, fields: [...cloud.fields] };
}

/** Centre xyz on their centroid and scale so the farthest point is at distance 1 (features untouched). */
export function normalizePoints(cloud: PointCloud): PointCloud {
  const { numPoints: P, channels: C } = cloud;
  if (P < 1) throw new RangeError('normalizePoints: the cloud has no points');
  const src = cloud.points, out = Float32Array.from(src);
  const m = [0, 0, 0];
  for (let i = 0; i < P; i++) for (let k = 0; k < 3; k++) m[k] += src[i * C + k]!;
  for (let k = 0; k < 3; k++) m[k] /= P;
  let r = 0;
  for (let i = 0; i < P; i++) {
    let d = 0;
    for (let k = 0; k < 3; k++) { const v = src[i * C + k]! - m[k]!; d += v * v; }
    r = Math.max(r, d);
  }
  const s = r > 0 ? 1 / Math.sqrt(r) : 1;
  for (let i = 0; i < P; i++) for (let k = 0; k < 3; k++) out[i * C + k] = (src[i * C + k]! - m[k]!) * s;
  const res: PointCloud = { points: out, numPoints: P, channels: C, fields: [...cloud.fields] };
  if (cloud.faces) res.faces = cloud.faces;
  return res;
}

// ------------------------------------------------------------------------------------------------
// Entry point
// ------------------------------------------------------------------------------------------------

const EXT: Record<string, PointCloudFormat> = { '.ply': 'ply', '.off': 'off', '.xyz': 'xyz', '.txt': 'xyz', '.pts': 'xyz', '.csv': 'xyz', '.npy': 'npy' };

/** The format for a file name, or null. */
export function pointCloudFormatOf(path: string): PointCloudFormat | null { return EXT[extname(path).toLowerCase()] ?? null; }

/** Decode a point cloud held in memory. */
export function decodePointCloud(bytes: Uint8Array, format: PointCloudFormat, name = '<buffer>', opts: PointCloudReadOptions = {}): PointCloud {
  let cloud: PointCloud;
  switch (format) {
    case 'ply': cloud = decodePly(bytes, name, opts); break;
    case 'off':
      if (opts.features !== undefined && opts.features !== 'none' && !(Array.isArray(opts.features) && opts.features.length === 0) && opts.features !== 'all') {
        throw new PointCloudFormatError(name, `OFF files have no per-vertex features (asked for ${JSON.stringify(opts.features)})`);
      }
      cloud = decodeOff(bytes, name);
      break;
    case 'xyz': cloud = decodeXyz(bytes, name, opts); break;
    case 'npy': cloud = decodePointsNpy(bytes, name, opts); break;
    default: throw new RangeError(`readPointCloud: unknown format ${JSON.stringify(format)} (ply, off, xyz or npy)`);
  }
  const seed = opts.seed ?? 0;
  if (opts.sampleSurface !== undefined) {
    if (!cloud.faces) throw new PointCloudFormatError(name, `has no faces to sample ${opts.sampleSurface} points on (sampleSurface needs a mesh)`);
    cloud = sampleSurface(cloud, opts.sampleSurface, new Generator(seed));
  } else if (cloud.numPoints === 0) {
    throw new PointCloudFormatError(name, 'has no points');
  }
  if (opts.numPoints !== undefined) cloud = resamplePoints(cloud, opts.numPoints, new Generator(seed + 1));
  if (opts.normalize) cloud = normalizePoints(cloud);
  return cloud;
}

/** Read a point-cloud file (see the file comment for formats and options). */
export async function readPointCloud(path: string, opts: PointCloudReadOptions = {}): Promise<PointCloud> {
  const format = opts.format ?? pointCloudFormatOf(path);
  if (!format) throw new PointCloudFormatError(path, `unknown point-cloud extension '${extname(path)}' (.ply, .off, .xyz, .txt, .pts, .csv, .npy; or pass format)`);
  let bytes: Uint8Array;
  try { bytes = await readFile(path); } catch (e) { throw new PointCloudFormatError(path, `cannot read the file: ${msg(e)}`); }
  return decodePointCloud(bytes, format, path, opts);
}
