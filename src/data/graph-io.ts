// Graphs from files, into `GraphTokenizer`'s raw format { numNodes, edges, nodeFeatures, edgeFeatures }.
//
// MDL molfiles (V2000) and SD files (.mol / .sdf): a record is a 3-line header, the counts line
// (atoms in columns 1-3, bonds in 4-6, 'V2000' in 35-39), the atom block (x, y, z, element symbol in
// columns 32-34, charge code in 37-39, hydrogen-count code in 43-45), the bond block (atoms in 1-3 and 4-6,
// type in 7-9: 1 single, 2 double, 3 triple, 4 aromatic; stereo in 10-12), property lines up to 'M  END'
// ('M  CHG' and 'M  RAD' override the atom block's charges and radicals, as the format says), then SD data
// items ('> <NAME>' followed by value lines and a blank line) and '$$$$'.
//
// Molecules become graphs as OGB's smiles2graph does with RDKit's defaults: hydrogens are removed (folded
// into their heavy atom's H count) unless `keepHydrogens`; every bond is listed in both directions
// (u→v then v→u, same features). Categorical features (indices, each column below its vocabulary size):
//   atoms  element   atomic number − 1 in the fixed periodic table order (H 0 ... Og 117), 118 = other
//                    ('*', 'R', 'A', 'Q', 'L', 'R#'); D and T are hydrogen
//          charge    formal charge + 5, clipped to [0, 10]
//          numHs     total hydrogens: H atoms bonded in the file, plus the H-count code's hydrogens when
//                    given, else the implicit ones that fill the element's lowest default valence at or
//                    above its bond orders (C 4, N 3, O 2, S 2/4/6, P 3/5, halogens 1, ...; aromatic
//                    bonds count 1.5; charged atoms use their isoelectronic element), clipped to 8
//          degree    neighbours in the graph (hydrogens excluded when removed), clipped to 10
//          aromatic  1 when the atom has an aromatic (type 4) bond
//          inRing    1 when the atom is on a cycle
//          radical   0 none, 1 singlet, 2 doublet, 3 triplet
//   bonds  bondType  0 single, 1 double, 2 triple, 3 aromatic (OGB's order)
//          stereo    0 none, 1 up (wedge), 2 either, 3 down (hash), 4 cis/trans either (double bonds)
//          inRing    1 when the bond is on a cycle (not a bridge)
// `graphTokenizerOptionsFor(data)` gives the tokenizer's numNodeFeatures / numEdgeFeatures.
// SD data items are targets via `target` (classification or regression, as for tabular targets).
// Implicit hydrogens on aromatic heteroatoms written with aromatic bonds (pyrrole's N-H) cannot be told
// from the bond block alone and come out as 0 unless the file lists the H.
//
// JSON graphs (.json): a list of graphs, `{ "graphs": [...] }` (optionally with "nodeFeatureNames" and
// "edgeFeatureNames"), or one graph. A graph is
//   { "nodes": n | [[f, ...], ...] | [{ "features": [f, ...] }, ...],
//     "edges": [[u, v], ...] | [{ "source": u, "target": v, "features": [f, ...] }, ...],
//     "edgeFeatures": [[f, ...], ...],  (with pair edges; optional)
//     "directed": false,                (default: each listed edge is added in both directions)
//     "name": "...", "label": "cat" | 3, "y": 0.5, ... }  (any other field can be the target)
// Features are categorical: non-negative integers are used as indices, strings are mapped per column to
// their index in the sorted distinct values of the file (`nodeVocab`, `edgeVocab`). Every node (edge) row
// needs the same number of features.
import { BadRecordLog, DataFormatError, checkIndex, type Dataset, type SkipBadOptions } from './dataset.js';
import { compareCategories, readUtf8File } from './tabular-io.js';

/** The raw graph format of `GraphTokenizer.prepare`. */
export interface RawGraph {
  numNodes: number;
  edges: [number, number][];
  nodeFeatures?: number[][];
  edgeFeatures?: number[][];
}

// prettier-ignore
export const PERIODIC_TABLE: readonly string[] = [
  'H', 'He', 'Li', 'Be', 'B', 'C', 'N', 'O', 'F', 'Ne', 'Na', 'Mg', 'Al', 'Si', 'P', 'S', 'Cl', 'Ar', 'K', 'Ca',
  'Sc', 'Ti', 'V', 'Cr', 'Mn', 'Fe', 'Co', 'Ni', 'Cu', 'Zn', 'Ga', 'Ge', 'As', 'Se', 'Br', 'Kr', 'Rb', 'Sr', 'Y', 'Zr',
  'Nb', 'Mo', 'Tc', 'Ru', 'Rh', 'Pd', 'Ag', 'Cd', 'In', 'Sn', 'Sb', 'Te', 'I', 'Xe', 'Cs', 'Ba', 'La', 'Ce', 'Pr', 'Nd',
  'Pm', 'Sm', 'Eu', 'Gd', 'Tb', 'Dy', 'Ho', 'Er', 'Tm', 'Yb', 'Lu', 'Hf', 'Ta', 'W', 'Re', 'Os', 'Ir', 'Pt', 'Au', 'Hg',
  'Tl', 'Pb', 'Bi', 'Po', 'At', 'Rn', 'Fr', 'Ra', 'Ac', 'Th', 'Pa', 'U', 'Np', 'Pu', 'Am', 'Cm', 'Bk', 'Cf', 'Es', 'Fm',
  'Md', 'No', 'Lr', 'Rf', 'Db', 'Sg', 'Bh', 'Hs', 'Mt', 'Ds', 'Rg', 'Cn', 'Nh', 'Fl', 'Mc', 'Lv', 'Ts', 'Og',
];
const ELEMENT_INDEX = new Map(PERIODIC_TABLE.map((s, i) => [s, i]));
const OTHER_ELEMENT = 118;
const QUERY_ATOMS = new Set(['*', 'R', 'A', 'Q', 'L', 'R#', 'LP', 'X', 'M', 'AH', 'QH', 'XH', 'MH']);

export const MOL_ATOM_FEATURES = ['element', 'charge', 'numHs', 'degree', 'aromatic', 'inRing', 'radical'] as const;
export const MOL_BOND_FEATURES = ['bondType', 'stereo', 'inRing'] as const;
/** Vocabulary size of each atom / bond feature column. */
export const MOL_ATOM_VOCAB: readonly number[] = [119, 11, 9, 11, 2, 2, 4];
export const MOL_BOND_VOCAB: readonly number[] = [4, 5, 2];

/** Element index in the periodic-table order (H = 0), 118 for query atoms, undefined for unknown symbols. */
export function elementIndex(symbol: string): number | undefined {
  if (symbol === 'D' || symbol === 'T') return 0;
  if (QUERY_ATOMS.has(symbol)) return OTHER_ELEMENT;
  return ELEMENT_INDEX.get(symbol);
}

// Default valences (RDKit's lists for the common elements); charged atoms use their isoelectronic element.
const VALENCES: Record<number, readonly number[]> = {
  1: [1], 2: [0], 3: [1], 4: [2], 5: [3], 6: [4], 7: [3], 8: [2], 9: [1], 10: [0], 11: [1], 12: [2], 13: [3], 14: [4],
  15: [3, 5], 16: [2, 4, 6], 17: [1], 18: [0], 19: [1], 20: [2], 33: [3, 5], 34: [2, 4, 6], 35: [1], 36: [0], 52: [2, 4, 6], 53: [1, 3, 5], 54: [0],
};

export interface MolAtom {
  symbol: string;
  x: number; y: number; z: number;
  charge: number;
  /** 0 none, 1 singlet, 2 doublet, 3 triplet. */
  radical: number;
  /** Mass difference from the atom block (isotopes). */
  massDiff: number;
  /** The H-count query code (0 = not given, else hydrogens + 1). */
  hCode: number;
}

export interface MolBond { a: number; b: number; type: 1 | 2 | 3 | 4; stereo: number }

export interface Molecule {
  name: string;
  atoms: MolAtom[];
  bonds: MolBond[];
  /** SD data items. */
  properties: Record<string, string>;
  /** First line of the record in its file. */
  line: number;
}

const CHARGE_CODE: Record<number, number> = { 0: 0, 1: 3, 2: 2, 3: 1, 4: 0, 5: -1, 6: -2, 7: -3 };
const STEREO_INDEX: Record<number, number> = { 0: 0, 1: 1, 4: 2, 6: 3, 3: 4 };

function field(line: string, start: number, end: number): string { return line.slice(start, end).trim(); }
function intField(line: string, start: number, end: number): number {
  const s = field(line, start, end);
  return s === '' ? 0 : /^[+-]?\d+$/.test(s) ? Number(s) : NaN;
}

/** Parse one molfile record: `lines[start]` is its first header line. Returns the molecule and the line after 'M  END'. */
function parseMolBlock(lines: readonly string[], start: number, source: string): { mol: Molecule; next: number } {
  const ln = (k: number): number => start + k + 1; // 1-based file line of record line k
  const fail = (k: number, what: string): never => { throw new DataFormatError(source, ln(k), what); };
  if (start + 3 >= lines.length) fail(Math.min(3, lines.length - start - 1), `file ends inside the molfile header (a record needs 3 header lines and a counts line)`);
  const counts = lines[start + 3]!;
  if (/V3000/.test(counts)) fail(3, 'V3000 molfiles are not supported (save as V2000)');
  const nAtoms = intField(counts, 0, 3), nBonds = intField(counts, 3, 6);
  if (!Number.isInteger(nAtoms) || !Number.isInteger(nBonds) || nAtoms < 0 || nBonds < 0 || counts.trim() === '') {
    fail(3, `malformed counts line ${JSON.stringify(counts)} (expected the atom count in columns 1-3 and the bond count in 4-6, then 'V2000')`);
  }
  const version = field(counts, 33, 39);
  if (version && version !== 'V2000') fail(3, `unsupported molfile version '${version}' (expected V2000)`);
  if (nAtoms === 0) fail(3, 'the molecule has no atoms');
  const atoms: MolAtom[] = [];
  for (let i = 0; i < nAtoms; i++) {
    const k = 4 + i;
    if (start + k >= lines.length) fail(k - 1, `file ends inside the atom block: ${nAtoms} atoms declared, ${i} found`);
    const l = lines[start + k]!;
    if (l.startsWith('M  ') || l.startsWith('$$$$')) fail(k, `atom block ends early: ${nAtoms} atoms declared, ${i} found`);
    const x = Number(field(l, 0, 10)), y = Number(field(l, 10, 20)), z = Number(field(l, 20, 30));
    const symbol = field(l, 31, 34);
    if (l.length < 34 || !Number.isFinite(x) || !Number.isFinite(y) || !Number.isFinite(z) || !symbol) fail(k, `malformed atom line ${JSON.stringify(l)} (expected x, y, z in columns 1-30 and the element symbol in 32-34)`);
    if (elementIndex(symbol) === undefined) fail(k, `unknown element symbol '${symbol}'`);
    const massDiff = intField(l, 34, 36), chg = intField(l, 36, 39), hCode = intField(l, 42, 45);
    if (!Number.isInteger(massDiff) || !Number.isInteger(chg) || !Number.isInteger(hCode)) fail(k, `malformed atom line ${JSON.stringify(l)} (mass difference, charge and H count must be integers)`);
    if (!(chg in CHARGE_CODE)) fail(k, `charge code ${chg} is not 0-7`);
    atoms.push({ symbol, x, y, z, charge: CHARGE_CODE[chg]!, radical: chg === 4 ? 2 : 0, massDiff, hCode });
  }
  const bonds: MolBond[] = [];
  for (let i = 0; i < nBonds; i++) {
    const k = 4 + nAtoms + i;
    if (start + k >= lines.length) fail(k - 1, `file ends inside the bond block: ${nBonds} bonds declared, ${i} found`);
    const l = lines[start + k]!;
    if (l.startsWith('M  ') || l.startsWith('$$$$')) fail(k, `bond block ends early: ${nBonds} bonds declared, ${i} found`);
    const a = intField(l, 0, 3), b = intField(l, 3, 6), type = intField(l, 6, 9), stereo = intField(l, 9, 12);
    if (!Number.isInteger(a) || !Number.isInteger(b) || !Number.isInteger(type) || l.trim() === '') fail(k, `malformed bond line ${JSON.stringify(l)} (expected two atom numbers and a bond type in columns 1-9)`);
    for (const v of [a, b]) if (v < 1 || v > nAtoms) fail(k, `bond refers to atom ${v}; the molecule has atoms 1-${nAtoms}`);
    if (a === b) fail(k, `bond joins atom ${a} to itself`);
    if (type < 1 || type > 4) fail(k, type >= 5 && type <= 8 ? `query bond type ${type} is not supported (only 1 single, 2 double, 3 triple, 4 aromatic)` : `bond type ${type} is not 1-4`);
    bonds.push({ a: a - 1, b: b - 1, type: type as 1 | 2 | 3 | 4, stereo: Number.isInteger(stereo) && stereo in STEREO_INDEX ? stereo : 0 });
  }
  // Properties block up to 'M  END'.
  let k = 4 + nAtoms + nBonds;
  let chgSeen = false, radSeen = false;
  for (;; k++) {
    if (start + k >= lines.length) fail(k - 1, "file ends before 'M  END' (truncated record)");
    const l = lines[start + k]!;
    if (l.startsWith('M  END')) break;
    if (l.startsWith('$$$$')) fail(k, "record ends without 'M  END'");
    const isChg = l.startsWith('M  CHG'), isRad = l.startsWith('M  RAD');
    if (isChg || isRad) {
      // The first CHG / RAD line resets every atom's charge / radical from the atom block.
      if (isChg && !chgSeen) { chgSeen = true; for (const at of atoms) at.charge = 0; }
      if (isRad && !radSeen) { radSeen = true; for (const at of atoms) at.radical = 0; }
      const nums = l.slice(6).trim().split(/\s+/).map(Number);
      const n = nums[0]!;
      if (!Number.isInteger(n) || n < 1 || n > 8 || nums.length < 1 + 2 * n || nums.some((v) => !Number.isInteger(v))) fail(k, `malformed ${isChg ? 'M  CHG' : 'M  RAD'} line ${JSON.stringify(l)}`);
      for (let e = 0; e < n; e++) {
        const at = nums[1 + 2 * e]!, v = nums[2 + 2 * e]!;
        if (at < 1 || at > nAtoms) fail(k, `${isChg ? 'M  CHG' : 'M  RAD'} refers to atom ${at}; the molecule has atoms 1-${nAtoms}`);
        if (isChg) atoms[at - 1]!.charge = v;
        else {
          if (v < 0 || v > 3) fail(k, `radical value ${v} is not 0-3`);
          atoms[at - 1]!.radical = v;
        }
      }
    }
  }
  const name = lines[start]!.trim();
  return { mol: { name, atoms, bonds, properties: {}, line: start + 1 }, next: start + k + 1 };
}

export interface SdfParseOptions extends SkipBadOptions {}

/** Parse the molecules of an SD file (or one molfile). Bad records raise, or are skipped under skipBad. */
export function parseSdf(text: string, source: string, opts: SdfParseOptions = {}): { molecules: Molecule[]; skipped: number } {
  const log = new BadRecordLog(source, opts);
  const lines = text.replace(/^\ufeff/, '').split(/\r?\n/);
  while (lines.length && lines[lines.length - 1]!.trim() === '') lines.pop();
  if (!lines.length) throw new DataFormatError(source, undefined, 'empty file');
  const molecules: Molecule[] = [];
  let p = 0;
  while (p < lines.length) {
    const recStart = p;
    try {
      const { mol, next } = parseMolBlock(lines, p, source);
      p = next;
      // SD data items until '$$$$' (or the end of the file).
      while (p < lines.length && !lines[p]!.startsWith('$$$$')) {
        const l = lines[p]!;
        const m = /^>.*?<([^>]*)>/.exec(l);
        if (m) {
          const key = m[1]!;
          const value: string[] = [];
          p++;
          while (p < lines.length && lines[p]!.trim() !== '' && !lines[p]!.startsWith('$$$$')) value.push(lines[p++]!);
          mol.properties[key] = value.join('\n').trim();
        } else if (l.trim() === '') p++;
        else throw new DataFormatError(source, p + 1, `unexpected line ${JSON.stringify(l)} after 'M  END' (expected SD data items '> <NAME>' or '$$$$')`);
      }
      p++; // past '$$$$'
      molecules.push(mol);
    } catch (e) {
      if (!(e instanceof DataFormatError)) throw e;
      log.handle(e);
      // resume after the next '$$$$'
      p = Math.max(p, recStart);
      while (p < lines.length && !lines[p]!.startsWith('$$$$')) p++;
      p++;
    }
  }
  log.finish();
  if (!molecules.length) throw new DataFormatError(source, undefined, log.skipped ? `no valid molecules (${log.skipped} skipped; first: ${log.messages[0]})` : 'no molecules');
  return { molecules, skipped: log.skipped };
}

function isotopeOrCharged(at: MolAtom): boolean { return at.charge !== 0 || at.massDiff !== 0 || at.symbol === 'D' || at.symbol === 'T' || at.radical !== 0; }

/** Bonds on a cycle (not bridges), by an iterative DFS over the undirected bond graph. */
function ringBonds(n: number, bonds: readonly { a: number; b: number }[]): Uint8Array {
  const adj: { to: number; id: number }[][] = Array.from({ length: n }, () => []);
  bonds.forEach((bd, id) => { adj[bd.a]!.push({ to: bd.b, id }); adj[bd.b]!.push({ to: bd.a, id }); });
  const disc = new Int32Array(n).fill(-1), low = new Int32Array(n);
  const bridge = new Uint8Array(bonds.length);
  let time = 0;
  for (let r = 0; r < n; r++) {
    if (disc[r] !== -1) continue;
    const stack: { v: number; parentEdge: number; k: number }[] = [{ v: r, parentEdge: -1, k: 0 }];
    disc[r] = low[r] = time++;
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      if (top.k < adj[top.v]!.length) {
        const { to, id } = adj[top.v]![top.k++]!;
        if (id === top.parentEdge) continue;
        if (disc[to] === -1) { disc[to] = low[to] = time++; stack.push({ v: to, parentEdge: id, k: 0 }); } else low[top.v] = Math.min(low[top.v]!, disc[to]!);
      } else {
        stack.pop();
        if (stack.length) {
          const parent = stack[stack.length - 1]!.v;
          low[parent] = Math.min(low[parent]!, low[top.v]!);
          if (low[top.v]! > disc[parent]!) bridge[top.parentEdge] = 1;
        }
      }
    }
  }
  return bridge.map((b) => 1 - b);
}

export interface MolGraphOptions {
  /** Keep hydrogen atoms as nodes (default false: folded into numHs, as RDKit / OGB). */
  keepHydrogens?: boolean;
}

/** A molecule as a raw graph with the atom/bond features of the file comment. */
export function moleculeToGraph(mol: Molecule, opts: MolGraphOptions = {}): RawGraph & { atomIndex: number[] } {
  const n0 = mol.atoms.length;
  const isH = mol.atoms.map((a) => elementIndex(a.symbol) === 0);
  const nbrs: number[][] = Array.from({ length: n0 }, () => []);
  for (const b of mol.bonds) { nbrs[b.a]!.push(b.b); nbrs[b.b]!.push(b.a); }
  // RDKit's RemoveHs: drop neutral, non-isotopic hydrogens with exactly one neighbour that is not a hydrogen.
  const drop = mol.atoms.map((a, i) => !opts.keepHydrogens && isH[i]! && !isotopeOrCharged(a) && nbrs[i]!.length === 1 && !isH[nbrs[i]![0]!]);
  // Explicit valence (aromatic bonds 1.5) and explicit H neighbours, over all atoms of the file.
  const valence = new Float64Array(n0), explicitH = new Int32Array(n0), aromatic = new Uint8Array(n0);
  for (const b of mol.bonds) {
    const order = b.type === 4 ? 1.5 : b.type;
    valence[b.a]! += order; valence[b.b]! += order;
    if (b.type === 4) { aromatic[b.a] = 1; aromatic[b.b] = 1; }
    if (isH[b.b]) explicitH[b.a]!++;
    if (isH[b.a]) explicitH[b.b]!++;
  }
  const keep: number[] = [];
  const newIndex = new Int32Array(n0).fill(-1);
  mol.atoms.forEach((_, i) => { if (!drop[i]) { newIndex[i] = keep.length; keep.push(i); } });
  const bonds = mol.bonds.filter((b) => !drop[b.a] && !drop[b.b]).map((b) => ({ ...b, a: newIndex[b.a]!, b: newIndex[b.b]! }));
  const n = keep.length;
  const inRing = ringBonds(n, bonds);
  const atomInRing = new Uint8Array(n);
  bonds.forEach((b, id) => { if (inRing[id]) { atomInRing[b.a] = 1; atomInRing[b.b] = 1; } });
  const degree = new Int32Array(n);
  for (const b of bonds) { degree[b.a]!++; degree[b.b]!++; }
  const clip = (v: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, v));
  const nodeFeatures = keep.map((i, j) => {
    const at = mol.atoms[i]!;
    const el = elementIndex(at.symbol)!;
    let extra = 0;
    if (at.hCode > 0) extra = at.hCode - 1; // the H-count code: hydrogens beyond the drawn ones
    else if (el !== OTHER_ELEMENT) {
      const allowed = VALENCES[el + 1 - at.charge]; // isoelectronic element for charged atoms (N+ like C, O- like F)
      if (allowed) {
        const ev = Math.ceil(valence[i]! - 1e-9) + (at.radical === 2 ? 1 : at.radical ? 2 : 0);
        const fill = allowed.find((v) => v >= ev);
        if (fill !== undefined) extra = fill - ev;
      }
    }
    const hs = explicitH[i]! + extra;
    return [el, clip(at.charge + 5, 0, 10), clip(hs, 0, 8), clip(degree[j]!, 0, 10), aromatic[i]!, atomInRing[j]!, clip(at.radical, 0, 3)];
  });
  const edges: [number, number][] = [];
  const edgeFeatures: number[][] = [];
  bonds.forEach((b, id) => {
    const f = [b.type === 4 ? 3 : b.type - 1, STEREO_INDEX[b.stereo] ?? 0, inRing[id]!];
    edges.push([b.a, b.b], [b.b, b.a]);
    edgeFeatures.push(f, [...f]);
  });
  return { numNodes: n, edges, nodeFeatures, edgeFeatures, atomIndex: keep };
}

// ---------------------------------------------------------------------------------------------------
// Graph datasets
// ---------------------------------------------------------------------------------------------------

export interface GraphItem {
  graph: RawGraph;
  /** Class index (classification) or value (regression), when there is a target. */
  label?: number;
  name: string;
}

export interface GraphData {
  file: string;
  graphs: RawGraph[];
  names: string[];
  /** Source line of each graph's record (SDF) or its index in the list (JSON). */
  lines: number[];
  labels?: Int32Array;
  classes?: string[];
  targets?: Float32Array;
  /** Feature column names and vocabulary sizes (values are < size). */
  nodeFeatureNames: string[];
  edgeFeatureNames: string[];
  nodeVocabSizes: number[];
  edgeVocabSizes: number[];
  /** JSON graphs: the string values of each categorical column (index = value), when the file used strings. */
  nodeVocab?: (string[] | null)[];
  edgeVocab?: (string[] | null)[];
  skipped: number;
  dataset(): Dataset<GraphItem>;
}

/** `GraphTokenizer` options matching a graph file's features. */
export function graphTokenizerOptionsFor(data: Pick<GraphData, 'nodeFeatureNames' | 'edgeFeatureNames' | 'nodeVocabSizes' | 'edgeVocabSizes'>): { numNodeFeatures: number; numEdgeFeatures: number; nodeVocabPerColumn: number; edgeVocabPerColumn: number } {
  return {
    numNodeFeatures: data.nodeFeatureNames.length,
    numEdgeFeatures: data.edgeFeatureNames.length,
    nodeVocabPerColumn: Math.max(512, ...data.nodeVocabSizes),
    edgeVocabPerColumn: Math.max(512, ...data.edgeVocabSizes),
  };
}

const NUMBER_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** Targets from per-graph raw values: classification (class indices) or regression (floats). */
function buildTargets(raw: readonly string[], task: 'classification' | 'regression' | undefined, name: string, source: string, where: (k: number) => number | undefined): { labels?: Int32Array; classes?: string[]; targets?: Float32Array } {
  const allNum = raw.every((v) => NUMBER_RE.test(v));
  const distinct = new Set(raw);
  const kind = task ?? (!allNum || (raw.every((v) => Number.isInteger(Number(v))) && distinct.size <= 20) ? 'classification' : 'regression');
  if (kind === 'classification') {
    const keyOf = (v: string): string => (allNum ? String(Number(v)) : v);
    const classes = [...new Set(raw.map(keyOf))].sort(compareCategories);
    const index = new Map(classes.map((c, i) => [c, i]));
    return { labels: Int32Array.from(raw, (v) => index.get(keyOf(v))!), classes };
  }
  const bad = raw.findIndex((v) => !NUMBER_RE.test(v));
  if (bad >= 0) throw new DataFormatError(source, where(bad), `regression target '${name}' has a non-numeric value ${JSON.stringify(raw[bad])}`);
  return { targets: Float32Array.from(raw, Number) };
}

function graphDataset(data: Omit<GraphData, 'dataset'>): Dataset<GraphItem> {
  const { graphs, names, labels, classes, targets, file, lines } = data;
  return {
    length: graphs.length, labels, classes,
    source: (i) => `${file}:${lines[i]}`,
    get: (i) => {
      checkIndex('graph dataset', i, graphs.length);
      const label = labels ? labels[i] : targets ? targets[i] : undefined;
      return label === undefined ? { graph: graphs[i]!, name: names[i]! } : { graph: graphs[i]!, name: names[i]!, label };
    },
  };
}

export interface SdfReadOptions extends SkipBadOptions, MolGraphOptions {
  /** SD data item used as the target. */
  target?: string;
  task?: 'classification' | 'regression';
}

/** Molecules of SD text as graphs (see the file comment). */
export function parseSdfGraphs(text: string, source: string, opts: SdfReadOptions = {}): GraphData & { molecules: Molecule[] } {
  const parsed = parseSdf(text, source, { skipBad: opts.skipBad, onWarning: opts.onWarning });
  let molecules = parsed.molecules;
  let skipped = parsed.skipped;
  const raw: string[] = [];
  if (opts.target !== undefined) {
    const log = new BadRecordLog(source, opts);
    const keep: Molecule[] = [];
    for (const m of molecules) {
      const v = m.properties[opts.target];
      if (v === undefined || v === '') {
        const have = Object.keys(m.properties);
        log.handle(new DataFormatError(source, m.line, `molecule '${m.name}' has no SD item '${opts.target}'${have.length ? ` (it has ${have.join(', ')})` : ' (it has no SD data items)'}`));
        continue;
      }
      keep.push(m);
      raw.push(v);
    }
    log.finish();
    skipped += log.skipped;
    molecules = keep;
    if (!molecules.length) throw new DataFormatError(source, undefined, `no molecule has the target '${opts.target}'`);
  }
  const graphs = molecules.map((m) => { const { atomIndex: _, ...g } = moleculeToGraph(m, opts); return g; });
  const lines = molecules.map((m) => m.line);
  const t = opts.target !== undefined ? buildTargets(raw, opts.task, opts.target, source, (k) => lines[k]) : {};
  const data: Omit<GraphData, 'dataset'> & { molecules: Molecule[] } = {
    file: source, graphs, names: molecules.map((m) => m.name), lines, ...t,
    nodeFeatureNames: [...MOL_ATOM_FEATURES], edgeFeatureNames: [...MOL_BOND_FEATURES],
    nodeVocabSizes: [...MOL_ATOM_VOCAB], edgeVocabSizes: [...MOL_BOND_VOCAB],
    skipped, molecules,
  };
  return { ...data, dataset: () => graphDataset(data) };
}

/** Read an .sdf / .mol file as graphs. */
export async function readSdf(path: string, opts: SdfReadOptions = {}): Promise<GraphData & { molecules: Molecule[] }> {
  return parseSdfGraphs(await readUtf8File(path), path, opts);
}

/** One .mol file (the first record) as a graph: a per-file loader for `folderDataset`. */
export async function loadMolGraph(path: string, opts: MolGraphOptions = {}): Promise<RawGraph> {
  const { molecules } = parseSdf(await readUtf8File(path), path);
  const { atomIndex: _, ...g } = moleculeToGraph(molecules[0]!, opts);
  return g;
}

// ---------------------------------------------------------------------------------------------------
// JSON graphs
// ---------------------------------------------------------------------------------------------------

export interface GraphJsonOptions extends SkipBadOptions {
  /** Graph field used as the target (default 'label', else 'y', when present in the graphs). */
  target?: string | null;
  task?: 'classification' | 'regression';
}

type Feature = number | string;

/** Graphs of a JSON document (see the file comment). `source` names it in messages. */
export function parseGraphJson(doc: unknown, source: string, opts: GraphJsonOptions = {}): GraphData {
  const log = new BadRecordLog(source, opts);
  let list: unknown[];
  let nodeNames: string[] | undefined, edgeNames: string[] | undefined;
  if (Array.isArray(doc)) list = doc;
  else if (doc && typeof doc === 'object' && Array.isArray((doc as Record<string, unknown>).graphs)) {
    const d = doc as Record<string, unknown>;
    list = d.graphs as unknown[];
    if (d.nodeFeatureNames !== undefined) { if (!Array.isArray(d.nodeFeatureNames) || d.nodeFeatureNames.some((x) => typeof x !== 'string')) throw new DataFormatError(source, undefined, 'nodeFeatureNames must be a list of strings'); nodeNames = d.nodeFeatureNames as string[]; }
    if (d.edgeFeatureNames !== undefined) { if (!Array.isArray(d.edgeFeatureNames) || d.edgeFeatureNames.some((x) => typeof x !== 'string')) throw new DataFormatError(source, undefined, 'edgeFeatureNames must be a list of strings'); edgeNames = d.edgeFeatureNames as string[]; }
  } else if (doc && typeof doc === 'object' && 'edges' in doc) list = [doc];
  else throw new DataFormatError(source, undefined, 'expected a list of graphs, { "graphs": [...] } or one graph { "nodes", "edges" }');
  if (!list.length) throw new DataFormatError(source, undefined, 'no graphs');

  interface Parsed { numNodes: number; edges: [number, number][]; nodeRows: Feature[][] | null; edgeRows: Feature[][] | null; name: string; target?: unknown; index: number }
  const targetKey = opts.target === null ? undefined : opts.target ?? (list.some((g) => g && typeof g === 'object' && 'label' in g) ? 'label' : list.some((g) => g && typeof g === 'object' && 'y' in g) ? 'y' : undefined);
  const parsed: Parsed[] = [];
  const checkRow = (row: unknown, what: string): Feature[] => {
    if (!Array.isArray(row)) throw new Error(`${what} must be a list of categorical values`);
    return row.map((v, j) => {
      if (typeof v === 'string') return v;
      if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
      if (typeof v === 'boolean') return v ? 1 : 0;
      throw new Error(`${what}[${j}] = ${JSON.stringify(v)}: features must be non-negative integers (indices) or strings (categories)`);
    });
  };
  list.forEach((g, index) => {
    try {
      if (!g || typeof g !== 'object' || Array.isArray(g)) throw new Error('must be an object { nodes, edges, ... }');
      const o = g as Record<string, unknown>;
      let numNodes: number;
      let nodeRows: Feature[][] | null = null;
      if (typeof o.nodes === 'number' || (o.nodes === undefined && typeof o.numNodes === 'number')) {
        numNodes = (o.nodes ?? o.numNodes) as number;
        if (!Number.isInteger(numNodes) || numNodes < 1) throw new Error(`nodes must be a positive integer count, got ${numNodes}`);
      } else if (Array.isArray(o.nodes)) {
        numNodes = o.nodes.length;
        if (!numNodes) throw new Error('has no nodes');
        nodeRows = o.nodes.map((nd, i) => checkRow(nd && typeof nd === 'object' && !Array.isArray(nd) ? (nd as Record<string, unknown>).features : nd, `nodes[${i}]${nd && typeof nd === 'object' && !Array.isArray(nd) ? '.features' : ''}`));
      } else throw new Error('needs "nodes" (a count or a list of feature rows)');
      if (!Array.isArray(o.edges)) throw new Error('needs "edges" (a list of [u, v] pairs or { source, target } objects)');
      const directed = o.directed === true;
      const edges: [number, number][] = [];
      let edgeRows: Feature[][] | null = null;
      const fromList = o.edgeFeatures !== undefined ? o.edgeFeatures : undefined;
      if (fromList !== undefined && (!Array.isArray(fromList) || fromList.length !== o.edges.length)) throw new Error(`edgeFeatures must have one row per edge (${o.edges.length})`);
      o.edges.forEach((e, k) => {
        let u: unknown, v: unknown, feats: unknown;
        if (Array.isArray(e)) { if (e.length !== 2) throw new Error(`edges[${k}] must be a [u, v] pair`); [u, v] = e; feats = fromList?.[k]; }
        else if (e && typeof e === 'object') { const eo = e as Record<string, unknown>; u = eo.source; v = eo.target; feats = eo.features ?? fromList?.[k]; }
        else throw new Error(`edges[${k}] must be a [u, v] pair or { source, target }`);
        for (const x of [u, v]) if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x >= numNodes) throw new Error(`edges[${k}] refers to node ${JSON.stringify(x)}; the graph has nodes 0-${numNodes - 1}`);
        const row = feats === undefined ? null : checkRow(feats, `edges[${k}] features`);
        if (k === 0) edgeRows = row ? [] : null;
        if ((row === null) !== (edgeRows === null)) throw new Error(`edges[${k}]: either every edge or none has features`);
        edges.push([u as number, v as number]);
        if (row) edgeRows!.push(row);
        if (!directed && u !== v) { edges.push([v as number, u as number]); if (row) edgeRows!.push([...row]); }
      });
      const name = typeof o.name === 'string' ? o.name : typeof o.id === 'string' || typeof o.id === 'number' ? String(o.id) : `graph ${index}`;
      if (targetKey !== undefined && (o[targetKey] === undefined || o[targetKey] === null || o[targetKey] === '')) throw new Error(`has no target field '${targetKey}'`);
      parsed.push({ numNodes, edges, nodeRows, edgeRows, name, target: targetKey !== undefined ? o[targetKey] : undefined, index });
    } catch (e) {
      log.handle(new DataFormatError(source, undefined, `graph ${index}: ${(e as Error).message}`));
    }
  });
  if (!parsed.length) { log.finish(); throw new DataFormatError(source, undefined, `no valid graphs (${log.skipped} skipped; first: ${log.messages[0]})`); }

  // Feature widths must agree; string columns get sorted vocabularies.
  const widthOf = (rows: Feature[][] | null): number | null => (rows && rows.length ? rows[0]!.length : null);
  const encodeColumns = (kind: 'node' | 'edge'): { vocab: (string[] | null)[]; sizes: number[]; width: number } => {
    let width: number | null = null;
    const good: Parsed[] = [];
    for (const p of parsed) {
      const rows = kind === 'node' ? p.nodeRows : p.edgeRows;
      if (kind === 'edge' && p.edges.length === 0) { good.push(p); continue; }
      const w = rows ? widthOf(rows) : 0;
      const bad = rows?.findIndex((r) => r.length !== w) ?? -1;
      if (bad >= 0) { log.handle(new DataFormatError(source, undefined, `graph ${p.index}: ${kind} ${bad} has ${rows![bad]!.length} features, ${kind} 0 has ${w}`)); continue; }
      if (width === null) width = w;
      else if (w !== width) { log.handle(new DataFormatError(source, undefined, `graph ${p.index}: ${w} ${kind} features, earlier graphs have ${width}`)); continue; }
      good.push(p);
    }
    parsed.splice(0, parsed.length, ...good);
    const W = width ?? 0;
    const vocab: (string[] | null)[] = [];
    const sizes: number[] = [];
    for (let j = 0; j < W; j++) {
      let anyString = false, max = 0;
      const values = new Set<string>();
      for (const p of parsed) for (const r of (kind === 'node' ? p.nodeRows : p.edgeRows) ?? []) {
        const v = r[j]!;
        if (typeof v === 'string') anyString = true; else max = Math.max(max, v);
        values.add(String(v));
      }
      if (anyString) { const v = [...values].sort(compareCategories); vocab.push(v); sizes.push(v.length); } else { vocab.push(null); sizes.push(max + 1); }
    }
    return { vocab, sizes, width: W };
  };
  const nodeEnc = encodeColumns('node');
  const edgeEnc = encodeColumns('edge');
  log.finish();
  if (!parsed.length) throw new DataFormatError(source, undefined, `no valid graphs (${log.skipped} skipped; first: ${log.messages[0]})`);
  const encodeRows = (rows: Feature[][] | null, enc: { vocab: (string[] | null)[] }, count: number, width: number): number[][] | undefined => {
    if (!width) return undefined;
    const maps = enc.vocab.map((v) => (v ? new Map(v.map((s, i) => [s, i])) : null));
    return (rows ?? Array.from({ length: count }, () => [])).map((r) => r.map((v, j) => (maps[j] ? maps[j]!.get(String(v))! : (v as number))));
  };
  const graphs: RawGraph[] = parsed.map((p) => ({
    numNodes: p.numNodes,
    edges: p.edges,
    ...(nodeEnc.width ? { nodeFeatures: encodeRows(p.nodeRows, nodeEnc, p.numNodes, nodeEnc.width) } : {}),
    ...(edgeEnc.width ? { edgeFeatures: encodeRows(p.edgeRows, edgeEnc, p.edges.length, edgeEnc.width) } : {}),
  }));
  const names = parsed.map((p) => p.name);
  const lines = parsed.map((p) => p.index);
  const nodeFeatureNames = nodeNames ?? Array.from({ length: nodeEnc.width }, (_, j) => `node${j}`);
  const edgeFeatureNames = edgeNames ?? Array.from({ length: edgeEnc.width }, (_, j) => `edge${j}`);
  if (nodeFeatureNames.length !== nodeEnc.width) throw new DataFormatError(source, undefined, `nodeFeatureNames has ${nodeFeatureNames.length} names for ${nodeEnc.width} node features`);
  if (edgeFeatureNames.length !== edgeEnc.width) throw new DataFormatError(source, undefined, `edgeFeatureNames has ${edgeFeatureNames.length} names for ${edgeEnc.width} edge features`);
  let t: { labels?: Int32Array; classes?: string[]; targets?: Float32Array } = {};
  if (targetKey !== undefined) {
    const raw = parsed.map((p) => {
      if (typeof p.target === 'string' || typeof p.target === 'number' || typeof p.target === 'boolean') return String(p.target);
      throw new DataFormatError(source, undefined, `graph ${p.index}: target '${targetKey}' must be a string or a number, got ${JSON.stringify(p.target)}`);
    });
    t = buildTargets(raw, opts.task, targetKey, source, () => undefined);
  }
  const data: Omit<GraphData, 'dataset'> = {
    file: source, graphs, names, lines, ...t,
    nodeFeatureNames, edgeFeatureNames, nodeVocabSizes: nodeEnc.sizes, edgeVocabSizes: edgeEnc.sizes,
    nodeVocab: nodeEnc.vocab, edgeVocab: edgeEnc.vocab,
    skipped: log.skipped,
  };
  return { ...data, dataset: () => graphDataset(data) };
}

/** Read a JSON graph file (see the file comment). */
export async function readGraphJson(path: string, opts: GraphJsonOptions = {}): Promise<GraphData> {
  const text = await readUtf8File(path);
  if (!text.trim()) throw new DataFormatError(path, undefined, 'empty file');
  let doc: unknown;
  try { doc = JSON.parse(text); } catch (e) {
    const msg = (e as Error).message;
    const pos = /position (\d+)/.exec(msg);
    const line = pos ? text.slice(0, Number(pos[1])).split('\n').length : undefined;
    throw new DataFormatError(path, line, `invalid JSON (${msg})`);
  }
  return parseGraphJson(doc, path, opts);
}

/** Read graphs from .sdf/.sd/.mol or .json by extension. */
export async function readGraphs(path: string, opts: SdfReadOptions & GraphJsonOptions = {}): Promise<GraphData> {
  if (/\.(sdf|sd|mol)$/i.test(path)) return readSdf(path, { ...opts, target: opts.target ?? undefined });
  if (/\.json$/i.test(path)) return readGraphJson(path, opts);
  throw new DataFormatError(path, undefined, 'unsupported graph file type (expected .sdf, .sd, .mol or .json)');
}
