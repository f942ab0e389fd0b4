// Graph tokenizer (Meta-Transformer §2.9, TokenGT's GraphFeatureTokenizer with Laplacian node identifiers):
// every node and every edge becomes a token, [graph_token, null_token, node_1..node_n, edge_1..edge_m],
// padded to the batch maximum with a key-padding mask.
//
// Input format. `prepare(graphs)` takes a list of graphs
//   { numNodes: n >= 1,
//     edges: [u, v][]             node indices in [0, n); every listed pair is one edge token (OGB lists
//                                 each undirected bond twice, u->v and v->u: do the same to get both);
//     nodeFeatures?: int[][]      n rows of F categorical values in [0, nodeVocabPerColumn) (F = numNodeFeatures),
//     edgeFeatures?: int[][] }    one row of Fe values in [0, edgeVocabPerColumn) per listed edge (Fe = numEdgeFeatures)
// and computes on the host:
//   - embedding indices with per-column offsets as the reference's convert_to_single_emb: column j value v ->
//     1 + j·vocabPerColumn + v, index 0 being the (zero, gradient-free) padding row;
//   - the Laplacian eigenvectors of L = I − D^-1/2 A D^-1/2 with A the symmetrised 0/1 adjacency of the
//     listed pairs and degrees clipped at >= 1 (TokenGT's lap_eig), ascending eigenvalues, the first k = 16
//     as node identifiers (zero columns when n < k);
//   - per token the node pair (u, v) (u = v for a node) and its type (1 node, 0 edge).
// `forward` (traced): token = Σ_j atom_encoder(node index j) + Σ_j edge_encoder(edge index j)
//   + lap_encoder([P_u ‖ P_v]) (Linear 2k -> D, no bias) + order_encoder(type) (Embedding(2, D)),
// padded tokens zeroed, then graph_token and null_token prepended. In training mode each graph's eigenvectors
// get random signs (seeded generator, fed as data: eigenvectors are defined only up to sign).
// Output: tokens [B, 2 + T, D], paddingMask [B, 2 + T] (true = padding), T = max_b (n_b + m_b) or the fixed
// `padToTokens` (with `padToNodes`, one shape for every batch).
//
// Differences from the reference, on purpose: the token type is the explicit node/edge kind (TokenGT uses
// u == v, which types a self-loop edge as a node); edge features are optional (Fe = 0).
import { ShapeError, fmtShape } from '../engine/errors.js';
import { Tensor } from '../engine/tensor.js';
import { cat, gather, narrow, select } from '../engine/functional/indexing.js';
import { defaultGenerator, type Generator } from '../engine/functional/random.js';
import { symmetricEigen } from '../data/linalg.js';
import { Embedding } from '../nn/embedding.js';
import { normal_ } from '../nn/init.js';
import { Linear } from '../nn/linear.js';
import { Data2Seq, type TokenSequence } from './types.js';

export interface GraphRaw {
  numNodes: number;
  edges: readonly (readonly [number, number])[];
  nodeFeatures?: readonly (readonly number[])[];
  edgeFeatures?: readonly (readonly number[])[];
}

export interface GraphInput {
  /** int64 [B, T, F] node feature indices (0 on edge and padding tokens); null when F = 0. */
  nodeFeatures: Tensor | null;
  /** int64 [B, T, Fe] edge feature indices (0 on node and padding tokens); null when Fe = 0. */
  edgeFeatures: Tensor | null;
  /** float32 [B, Nmax, k] Laplacian eigenvectors per graph (rows = nodes; zero rows/columns pad). */
  eigvec: Tensor;
  /** int64 [B, T, 2] node pair (u, v) of each token ((0, 0) on padding). */
  index: Tensor;
  /** int64 [B, T] token type: 1 node, 0 edge (0 on padding). */
  tokenType: Tensor;
  /** bool [B, 2 + T], true = padding. */
  paddingMask: Tensor;
}

export interface LaplacianEigen {
  /** [n·k] row-major: row i = node i's identifier (the i-th entries of the first k eigenvectors). */
  vectors: Float32Array;
  /** The first min(n, k) eigenvalues, ascending. */
  values: Float64Array;
}

/**
 * The first k eigenvectors of the normalised Laplacian L = I − D^-1/2 A D^-1/2 (A: the symmetrised 0/1
 * adjacency of `edges`, degrees clipped at >= 1), ascending eigenvalues, zero columns when n < k.
 */
export function laplacianEigenvectors(numNodes: number, edges: readonly (readonly [number, number])[], k: number): LaplacianEigen {
  const n = numNodes;
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`laplacianEigenvectors: numNodes must be a positive integer, got ${n}`);
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`laplacianEigenvectors: k must be a positive integer, got ${k}`);
  const A = new Float64Array(n * n);
  edges.forEach(([u, v], e) => {
    if (!Number.isInteger(u) || !Number.isInteger(v) || u < 0 || v < 0 || u >= n || v >= n) throw new RangeError(`laplacianEigenvectors: edge ${e} (${u}, ${v}) has a node outside [0, ${n})`);
    A[u * n + v] = 1;
    A[v * n + u] = 1;
  });
  const dinv = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let d = 0;
    for (let j = 0; j < n; j++) d += A[i * n + j];
    dinv[i] = 1 / Math.sqrt(Math.max(d, 1));
  }
  const L = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) L[i * n + j] = (i === j ? 1 : 0) - dinv[i] * A[i * n + j] * dinv[j];
  const { values, vectors } = symmetricEigen(L, n);
  const kk = Math.min(n, k);
  const out = new Float32Array(n * k);
  for (let i = 0; i < n; i++) for (let c = 0; c < kk; c++) out[i * k + c] = vectors[i * n + c];
  return { vectors: out, values: values.slice(0, kk) };
}

export interface GraphTokenizerOptions {
  /** Token width D. */
  dim: number;
  /** Categorical node feature columns F (default 9, OGB atoms); 0 for none. */
  numNodeFeatures?: number;
  /** Categorical edge feature columns Fe (default 3, OGB bonds); 0 for none. */
  numEdgeFeatures?: number;
  /** Values per node column (default 512, the reference's offset). */
  nodeVocabPerColumn?: number;
  /** Values per edge column (default 512). */
  edgeVocabPerColumn?: number;
  /** Laplacian eigenvectors per node identifier (default 16). */
  lapK?: number;
  /** Random eigenvector signs in training (default true). */
  signFlip?: boolean;
  /** Encoder depth, for the lap_encoder init std 0.02/sqrt(layers) (default 12). */
  numEncoderLayers?: number;
  /**
   * Pad every batch to this many node/edge tokens T (default: the batch maximum). A fixed T (and
   * `padToNodes`) gives every batch the same shapes, so a training step compiles once.
   */
  padToTokens?: number;
  /** Pad the eigenvector table to this many nodes Nmax (default: the batch maximum). */
  padToNodes?: number;
  /** Seed source for initialisation and sign flips. */
  generator?: Generator;
}

export class GraphTokenizer extends Data2Seq<GraphInput, GraphRaw> {
  readonly modality = 'graph' as const;
  readonly dim: number;
  readonly numNodeFeatures: number;
  readonly numEdgeFeatures: number;
  readonly nodeVocabPerColumn: number;
  readonly edgeVocabPerColumn: number;
  readonly lapK: number;
  readonly signFlip: boolean;
  readonly padToTokens: number | undefined;
  readonly padToNodes: number | undefined;
  atom_encoder: Embedding | null;
  edge_encoder: Embedding | null;
  graph_token: Embedding;
  null_token: Embedding;
  lap_encoder: Linear;
  order_encoder: Embedding;
  private _generator: Generator;

  constructor(opts: GraphTokenizerOptions) {
    super();
    const op = 'GraphTokenizer';
    const int = (name: string, v: number, min: number): number => {
      if (!Number.isInteger(v) || v < min) throw new ShapeError(op, `${name} must be an integer >= ${min}, got ${v}`);
      return v;
    };
    this.dim = int('dim', opts.dim, 1);
    this.numNodeFeatures = int('numNodeFeatures', opts.numNodeFeatures ?? 9, 0);
    this.numEdgeFeatures = int('numEdgeFeatures', opts.numEdgeFeatures ?? 3, 0);
    this.nodeVocabPerColumn = int('nodeVocabPerColumn', opts.nodeVocabPerColumn ?? 512, 1);
    this.edgeVocabPerColumn = int('edgeVocabPerColumn', opts.edgeVocabPerColumn ?? 512, 1);
    this.lapK = int('lapK', opts.lapK ?? 16, 1);
    this.signFlip = opts.signFlip ?? true;
    this.padToTokens = opts.padToTokens === undefined ? undefined : int('padToTokens', opts.padToTokens, 1);
    this.padToNodes = opts.padToNodes === undefined ? undefined : int('padToNodes', opts.padToNodes, 1);
    const layers = int('numEncoderLayers', opts.numEncoderLayers ?? 12, 1);
    const g = (this._generator = opts.generator ?? defaultGenerator);
    const D = this.dim;
    const emb = (rows: number, pad: boolean): Embedding => {
      const e = new Embedding(rows, D, { paddingIdx: pad ? 0 : undefined, generator: g });
      e.initTimm(g, 0.02); // N(0, 0.02) (truncated at ±2, a no-op at this std), padding row zero
      return e;
    };
    this.atom_encoder = this.numNodeFeatures > 0 ? emb(1 + this.numNodeFeatures * this.nodeVocabPerColumn, true) : null;
    this.edge_encoder = this.numEdgeFeatures > 0 ? emb(1 + this.numEdgeFeatures * this.edgeVocabPerColumn, true) : null;
    this.graph_token = emb(1, false);
    this.null_token = emb(1, false);
    this.lap_encoder = new Linear(2 * this.lapK, D, { bias: false, generator: g });
    normal_(this.lap_encoder.weight, 0, 0.02 / Math.sqrt(layers), g);
    this.order_encoder = emb(2, false);
  }

  prepare(graphs: GraphRaw[]): GraphInput {
    const op = `${this.constructor.name}.prepare`;
    if (!Array.isArray(graphs) || graphs.length === 0) throw new ShapeError(op, 'expected a non-empty array of graphs');
    const F = this.numNodeFeatures, Fe = this.numEdgeFeatures, k = this.lapK;
    graphs.forEach((g, b) => validateGraph(op, g, b, F, Fe, this.nodeVocabPerColumn, this.edgeVocabPerColumn));
    const B = graphs.length;
    const maxT = Math.max(...graphs.map((g) => g.numNodes + g.edges.length));
    const maxN = Math.max(...graphs.map((g) => g.numNodes));
    if (this.padToTokens !== undefined && maxT > this.padToTokens) {
      const b = graphs.findIndex((g) => g.numNodes + g.edges.length === maxT);
      throw new ShapeError(op, `graph ${b} has ${maxT} node + edge tokens, more than padToTokens = ${this.padToTokens}`);
    }
    if (this.padToNodes !== undefined && maxN > this.padToNodes) {
      const b = graphs.findIndex((g) => g.numNodes === maxN);
      throw new ShapeError(op, `graph ${b} has ${maxN} nodes, more than padToNodes = ${this.padToNodes}`);
    }
    const T = this.padToTokens ?? maxT;
    const Nmax = this.padToNodes ?? maxN;
    const nodeF = F > 0 ? new BigInt64Array(B * T * F) : null;
    const edgeF = Fe > 0 ? new BigInt64Array(B * T * Fe) : null;
    const eig = new Float32Array(B * Nmax * k);
    const index = new BigInt64Array(B * T * 2);
    const type = new BigInt64Array(B * T);
    const pad = new Uint8Array(B * (2 + T));
    graphs.forEach((g, b) => {
      const n = g.numNodes, m = g.edges.length;
      const lap = laplacianEigenvectors(n, g.edges, k);
      eig.set(lap.vectors, b * Nmax * k);
      for (let i = 0; i < n; i++) {
        const t = b * T + i;
        index[2 * t] = index[2 * t + 1] = BigInt(i);
        type[t] = 1n;
        for (let j = 0; j < F; j++) nodeF![t * F + j] = BigInt(1 + j * this.nodeVocabPerColumn + g.nodeFeatures![i][j]);
      }
      for (let e = 0; e < m; e++) {
        const t = b * T + n + e;
        index[2 * t] = BigInt(g.edges[e][0]);
        index[2 * t + 1] = BigInt(g.edges[e][1]);
        for (let j = 0; j < Fe; j++) edgeF![t * Fe + j] = BigInt(1 + j * this.edgeVocabPerColumn + g.edgeFeatures![e][j]);
      }
      for (let t = n + m; t < T; t++) pad[b * (2 + T) + 2 + t] = 1;
    });
    return {
      nodeFeatures: nodeF ? new Tensor([B, T, F], 'int64', nodeF) : null,
      edgeFeatures: edgeF ? new Tensor([B, T, Fe], 'int64', edgeF) : null,
      eigvec: new Tensor([B, Nmax, k], 'float32', eig),
      index: new Tensor([B, T, 2], 'int64', index),
      tokenType: new Tensor([B, T], 'int64', type),
      paddingMask: new Tensor([B, 2 + T], 'bool', pad),
    };
  }

  forward(input: GraphInput): TokenSequence {
    const op = this.constructor.name;
    const { index, tokenType, eigvec, paddingMask } = input;
    const desc = (t: unknown): string => (t instanceof Tensor ? `${t.dtype} ${fmtShape(t.shape)}` : String(t));
    if (!(index instanceof Tensor) || index.dtype !== 'int64' || index.rank !== 3 || index.shape[2] !== 2) throw new ShapeError(op, `index must be int64 [B, T, 2], got ${desc(index)}`);
    const [B, T] = index.shape as [number, number, number];
    const k = this.lapK, D = this.dim;
    if (!(tokenType instanceof Tensor) || tokenType.dtype !== 'int64' || tokenType.rank !== 2 || tokenType.shape[0] !== B || tokenType.shape[1] !== T) throw new ShapeError(op, `tokenType must be int64 [B, T] = [${B}, ${T}], got ${desc(tokenType)}`);
    if (!(eigvec instanceof Tensor) || eigvec.dtype !== 'float32' || eigvec.rank !== 3 || eigvec.shape[0] !== B || eigvec.shape[2] !== k) throw new ShapeError(op, `eigvec must be float32 [B, Nmax, ${k}] with B = ${B}, got ${desc(eigvec)}`);
    if (!(paddingMask instanceof Tensor) || paddingMask.dtype !== 'bool' || paddingMask.rank !== 2 || paddingMask.shape[0] !== B || paddingMask.shape[1] !== 2 + T) throw new ShapeError(op, `paddingMask must be bool [B, 2 + T] = [${B}, ${2 + T}], got ${desc(paddingMask)}`);
    const checkFeat = (t: Tensor | null, cols: number, what: string): void => {
      if (cols === 0) { if (t) throw new ShapeError(op, `${what} given but the tokenizer has 0 ${what} columns`); return; }
      if (!(t instanceof Tensor) || t.dtype !== 'int64' || t.rank !== 3 || t.shape[0] !== B || t.shape[1] !== T || t.shape[2] !== cols) throw new ShapeError(op, `${what} must be int64 [B, T, ${cols}] = [${B}, ${T}, ${cols}], got ${desc(t)}`);
    };
    checkFeat(input.nodeFeatures, this.numNodeFeatures, 'nodeFeatures');
    checkFeat(input.edgeFeatures, this.numEdgeFeatures, 'edgeFeatures');

    let tok = this.order_encoder.forward(tokenType); // [B, T, D]
    if (this.atom_encoder) tok = tok.add(this.atom_encoder.forward(input.nodeFeatures!).sum(2));
    if (this.edge_encoder) tok = tok.add(this.edge_encoder.forward(input.edgeFeatures!).sum(2));
    let eig: Tensor = eigvec;
    if (this.training && this.signFlip) {
      const s = this._generator.uniformData(B * k).map((u) => (u < 0.5 ? -1 : 1));
      eig = eig.mul(new Tensor([B, 1, k], 'float32', s));
    }
    const pu = gather(eig, 1, select(index, 2, 0).unsqueeze(-1).expand([B, T, k]));
    const pv = gather(eig, 1, select(index, 2, 1).unsqueeze(-1).expand([B, T, k]));
    tok = tok.add(this.lap_encoder.forward(cat([pu, pv], 2)));
    // Zero the padded token positions (the reference zero-fills them).
    const keep = narrow(paddingMask, 1, 2, T).logicalNot().cast('float32').unsqueeze(-1); // [B, T, 1]
    const body = tok.mul(keep);
    const special = cat([this.graph_token.weight, this.null_token.weight], 0).unsqueeze(0).expand([B, 2, D]);
    return { tokens: cat([special, body], 1), paddingMask };
  }
}

function validateGraph(op: string, g: GraphRaw, b: number, F: number, Fe: number, nodeVocab: number, edgeVocab: number): void {
  if (!g || typeof g !== 'object') throw new ShapeError(op, `graph ${b} must be an object { numNodes, edges, nodeFeatures?, edgeFeatures? }`);
  const n = g.numNodes;
  if (!Number.isInteger(n) || n < 1) throw new ShapeError(op, `graph ${b}: numNodes must be a positive integer, got ${n}`);
  if (!Array.isArray(g.edges)) throw new ShapeError(op, `graph ${b}: edges must be an array of [u, v] pairs`);
  g.edges.forEach((e, i) => {
    if (!Array.isArray(e) || e.length !== 2) throw new ShapeError(op, `graph ${b}: edge ${i} must be a [u, v] pair, got ${JSON.stringify(e)}`);
    for (const x of e) if (!Number.isInteger(x) || x < 0 || x >= n) throw new ShapeError(op, `graph ${b}: edge ${i} (${e[0]}, ${e[1]}) refers to node ${x}, outside [0, ${n}) (numNodes ${n})`);
  });
  const checkRows = (rows: readonly (readonly number[])[] | undefined, count: number, cols: number, vocab: number, what: string, unit: string): void => {
    if (cols === 0) return;
    if (!Array.isArray(rows)) throw new ShapeError(op, `graph ${b}: ${what} is required (${count} rows of ${cols} categorical values)`);
    if (rows.length !== count) throw new ShapeError(op, `graph ${b}: ${what} has ${rows.length} rows, expected one per ${unit} (${count})`);
    rows.forEach((r, i) => {
      if (!Array.isArray(r) || r.length !== cols) throw new ShapeError(op, `graph ${b}: ${what} row ${i} has ${Array.isArray(r) ? r.length : 0} values, expected ${cols}`);
      r.forEach((v, j) => {
        if (!Number.isInteger(v) || v < 0 || v >= vocab) throw new ShapeError(op, `graph ${b}: ${what}[${i}][${j}] = ${v} must be an integer in [0, ${vocab}) (the per-column vocabulary)`);
      });
    });
  };
  checkRows(g.nodeFeatures, n, F, nodeVocab, 'nodeFeatures', 'node');
  checkRows(g.edgeFeatures, g.edges.length, Fe, edgeVocab, 'edgeFeatures', 'edge');
}
