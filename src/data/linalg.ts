// Dense linear algebra on the host (float64): the symmetric eigen-decomposition used for graph Laplacian
// eigenvectors. Householder reduction to tridiagonal form followed by the implicit QL iteration with
// Wilkinson-type shifts; O(n^3) time, O(n^2) memory.

export interface SymmetricEigen {
  n: number;
  /** Eigenvalues in ascending order. */
  values: Float64Array;
  /** n x n row-major; column j (`vectors[i * n + j]`, i = 0..n-1) is the unit eigenvector of `values[j]`. */
  vectors: Float64Array;
}

export interface SymmetricEigenOptions {
  /** Relative asymmetry |a_ij - a_ji| / max|a| above which the input is rejected (default 1e-10). */
  symmetryTol?: number;
  /** QL iterations allowed per eigenvalue before giving up (default 60). */
  maxIterations?: number;
  /**
   * Make each eigenvector's entry of largest magnitude positive (the first such entry on ties), so the
   * output is deterministic (default true). Eigenvectors are only defined up to sign.
   */
  normalizeSigns?: boolean;
}

/**
 * Eigen-decomposition A = V diag(values) V^T of a real symmetric n x n matrix given row-major. Throws on a
 * wrong size, non-finite entries or an asymmetric matrix. Eigenvectors of repeated eigenvalues span the
 * eigenspace (any orthonormal basis of it is valid).
 */
export function symmetricEigen(a: ArrayLike<number>, n: number, opts: SymmetricEigenOptions = {}): SymmetricEigen {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`symmetricEigen: n must be a non-negative integer, got ${n}`);
  if (a.length !== n * n) throw new RangeError(`symmetricEigen: expected ${n} x ${n} = ${n * n} entries, got ${a.length}`);
  const A = new Float64Array(n * n);
  let amax = 0;
  for (let i = 0; i < n * n; i++) {
    const v = Number(a[i]);
    if (!Number.isFinite(v)) throw new RangeError(`symmetricEigen: entry (${Math.floor(i / n)}, ${i % n}) is ${v}; the matrix must be finite`);
    A[i] = v;
    amax = Math.max(amax, Math.abs(v));
  }
  const tol = (opts.symmetryTol ?? 1e-10) * Math.max(amax, Number.MIN_VALUE);
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      if (Math.abs(A[i * n + j] - A[j * n + i]) > tol) {
        throw new RangeError(`symmetricEigen: the matrix is not symmetric: a[${i}][${j}] = ${A[i * n + j]} but a[${j}][${i}] = ${A[j * n + i]}`);
      }
      const m = 0.5 * (A[i * n + j] + A[j * n + i]);
      A[i * n + j] = m;
      A[j * n + i] = m;
    }
  }
  const Q = new Float64Array(n * n);
  for (let i = 0; i < n; i++) Q[i * n + i] = 1;
  const d = new Float64Array(n), e = new Float64Array(n);
  tridiagonalize(A, n, Q, d, e);
  tridiagonalQL(d, e, Q, n, opts.maxIterations ?? 60);

  // Sort ascending (stable), permuting the columns of Q.
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => d[i] - d[j] || i - j);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  for (let c = 0; c < n; c++) {
    const src = order[c];
    values[c] = d[src];
    for (let r = 0; r < n; r++) vectors[r * n + c] = Q[r * n + src];
  }
  if (opts.normalizeSigns ?? true) {
    for (let c = 0; c < n; c++) {
      let best = 0, bestAbs = -1;
      for (let r = 0; r < n; r++) {
        const v = Math.abs(vectors[r * n + c]);
        // a small relative margin makes the choice stable under rounding between near-equal entries
        if (v > bestAbs * (1 + 1e-9)) { bestAbs = v; best = r; }
      }
      if (vectors[best * n + c] < 0) for (let r = 0; r < n; r++) vectors[r * n + c] = -vectors[r * n + c];
    }
  }
  return { n, values, vectors };
}

/**
 * Householder reduction T = Q^T A Q. On exit d holds T's diagonal, e[i] = T[i][i+1] (e[n-1] = 0) and Q
 * has been right-multiplied by the reflections. A is overwritten.
 */
function tridiagonalize(A: Float64Array, n: number, Q: Float64Array, d: Float64Array, e: Float64Array): void {
  const v = new Float64Array(n), p = new Float64Array(n);
  for (let k = 0; k + 2 < n; k++) {
    const m = n - k - 1; // length of the column below the diagonal
    let alpha2 = 0;
    for (let j = 0; j < m; j++) { const x = A[(k + 1 + j) * n + k]; v[j] = x; alpha2 += x * x; }
    const x0 = v[0];
    // Already tridiagonal in this column (everything below the subdiagonal is zero): nothing to reflect.
    let below = 0;
    for (let j = 1; j < m; j++) below += v[j] * v[j];
    if (below === 0) continue;
    const alpha = Math.sqrt(alpha2);
    const sign = x0 >= 0 ? 1 : -1;
    v[0] = x0 + sign * alpha; // H x = -sign * alpha * e1 with H = I - beta v v^T
    let vn2 = 0;
    for (let j = 0; j < m; j++) vn2 += v[j] * v[j];
    const beta = 2 / vn2;
    // Trailing block B = A[k+1.., k+1..] <- H B H = B - v w^T - w v^T, with p = beta B v, w = p - (beta/2)(v.p) v.
    let vp = 0;
    for (let i = 0; i < m; i++) {
      let s = 0;
      const row = (k + 1 + i) * n + k + 1;
      for (let j = 0; j < m; j++) s += A[row + j] * v[j];
      p[i] = beta * s;
      vp += v[i] * p[i];
    }
    const K = 0.5 * beta * vp;
    for (let i = 0; i < m; i++) p[i] -= K * v[i]; // p is now w
    for (let i = 0; i < m; i++) {
      const row = (k + 1 + i) * n + k + 1;
      const vi = v[i], wi = p[i];
      for (let j = 0; j < m; j++) A[row + j] -= vi * p[j] + wi * v[j];
    }
    A[(k + 1) * n + k] = A[k * n + k + 1] = -sign * alpha;
    for (let j = 1; j < m; j++) A[(k + 1 + j) * n + k] = A[k * n + k + 1 + j] = 0;
    // Q <- Q H on columns k+1..n-1.
    for (let r = 0; r < n; r++) {
      const row = r * n + k + 1;
      let s = 0;
      for (let j = 0; j < m; j++) s += Q[row + j] * v[j];
      s *= beta;
      if (s !== 0) for (let j = 0; j < m; j++) Q[row + j] -= s * v[j];
    }
  }
  for (let i = 0; i < n; i++) {
    d[i] = A[i * n + i];
    e[i] = i + 1 < n ? A[i * n + i + 1] : 0;
  }
}

/**
 * Implicit QL iteration on the symmetric tridiagonal (d, e), e[i] coupling i and i+1. Eigenvalues replace
 * d; the plane rotations are applied to the columns of Z (n x n, row-major).
 */
function tridiagonalQL(d: Float64Array, e: Float64Array, Z: Float64Array, n: number, maxIterations: number): void {
  const eps = Number.EPSILON;
  for (let l = 0; l < n; l++) {
    let iter = 0;
    for (;;) {
      // Find the first negligible off-diagonal element at or after l: the block l..m is unreduced.
      let m = l;
      for (; m < n - 1; m++) {
        const dd = Math.abs(d[m]) + Math.abs(d[m + 1]);
        if (Math.abs(e[m]) <= eps * dd) break;
      }
      if (m === l) break;
      if (++iter > maxIterations) throw new Error(`symmetricEigen: the QL iteration did not converge for eigenvalue ${l} after ${maxIterations} iterations`);
      // Shift from the leading 2x2 block (the eigenvalue of it closer to d[l]).
      let g = (d[l + 1] - d[l]) / (2 * e[l]);
      let r = Math.hypot(g, 1);
      g = d[m] - d[l] + e[l] / (g + (g >= 0 ? r : -r));
      let s = 1, c = 1, p = 0;
      let i = m - 1;
      let underflow = false;
      for (; i >= l; i--) {
        const f = s * e[i], b = c * e[i];
        r = Math.hypot(f, g);
        e[i + 1] = r;
        if (r === 0) {
          // The rotation would be undefined: deflate and restart the sweep.
          d[i + 1] -= p;
          e[m] = 0;
          underflow = true;
          break;
        }
        s = f / r;
        c = g / r;
        g = d[i + 1] - p;
        r = (d[i] - g) * s + 2 * c * b;
        p = s * r;
        d[i + 1] = g + p;
        g = c * r - b;
        for (let k = 0; k < n; k++) {
          const zi = Z[k * n + i], zi1 = Z[k * n + i + 1];
          Z[k * n + i + 1] = s * zi + c * zi1;
          Z[k * n + i] = c * zi - s * zi1;
        }
      }
      if (underflow) continue;
      d[l] -= p;
      e[l] = g;
      e[m] = 0;
    }
  }
}

/** y = A x for a row-major n x n matrix (helper for checks). */
export function matVec(a: ArrayLike<number>, n: number, x: ArrayLike<number>): Float64Array {
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += a[i * n + j] * x[j];
    y[i] = s;
  }
  return y;
}
