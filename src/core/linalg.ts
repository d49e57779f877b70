import { EigenvalueDecomposition, Matrix } from 'ml-matrix';

/** Dense row-major matrices on Float64Array, and the few helpers every module shares. */
export interface Dense {
  rows: number;
  cols: number;
  data: Float64Array;
}

export function dense(rows: number, cols: number, data?: Float64Array): Dense {
  return { rows, cols, data: data ?? new Float64Array(rows * cols) };
}

export function fromRows(a: readonly (readonly number[])[]): Dense {
  const rows = a.length;
  const cols = rows ? a[0].length : 0;
  const m = dense(rows, cols);
  for (let i = 0; i < rows; i++) m.data.set(a[i], i * cols);
  return m;
}

export function toRows(m: Dense): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < m.rows; i++) out.push(Array.from(m.data.subarray(i * m.cols, (i + 1) * m.cols)));
  return out;
}

export function toMatrix(m: Dense): Matrix {
  return new Matrix(toRows(m));
}

/** The sub-block of rows r0..r1-1 and columns c0..c1-1. */
export function block(m: Dense, r0: number, r1: number, c0: number, c1: number): Dense {
  const out = dense(r1 - r0, c1 - c0);
  for (let i = r0; i < r1; i++) out.data.set(m.data.subarray(i * m.cols + c0, i * m.cols + c1), (i - r0) * out.cols);
  return out;
}

/** C = A B (A: n x k, B: k x m). */
export function matmul(a: Dense, b: Dense): Dense {
  const n = a.rows,
    k = a.cols,
    m = b.cols;
  const c = dense(n, m);
  const A = a.data,
    B = b.data,
    C = c.data;
  for (let i = 0; i < n; i++) {
    const ci = i * m;
    for (let p = 0; p < k; p++) {
      const aip = A[i * k + p];
      if (aip === 0) continue;
      const bp = p * m;
      for (let j = 0; j < m; j++) C[ci + j] += aip * B[bp + j];
    }
  }
  return c;
}

/** y = A x. */
export function matvec(a: Dense, x: ArrayLike<number>, y = new Float64Array(a.rows)): Float64Array {
  const { rows, cols, data } = a;
  for (let i = 0; i < rows; i++) {
    let s = 0;
    const o = i * cols;
    for (let j = 0; j < cols; j++) s += data[o + j] * x[j];
    y[i] = s;
  }
  return y;
}

export interface SymmetricEigen {
  /** Eigenvalues, ascending. */
  values: Float64Array;
  /** Eigenvectors as the columns of an n x n row-major matrix. */
  vectors: Dense;
}

/** Eigendecomposition of a symmetric matrix (symmetrized first, so rounding asymmetry is harmless). */
export function symmetricEigen(m: Dense): SymmetricEigen {
  const n = m.rows;
  const s = new Matrix(n, n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) s.set(i, j, 0.5 * (m.data[i * n + j] + m.data[j * n + i]));
  const e = new EigenvalueDecomposition(s, { assumeSymmetric: true });
  const vals = e.realEigenvalues;
  const order = vals.map((_, i) => i).sort((a, b) => vals[a] - vals[b]);
  const V = e.eigenvectorMatrix;
  const vectors = dense(n, n);
  order.forEach((src, dst) => {
    for (let i = 0; i < n; i++) vectors.data[i * n + dst] = V.get(i, src);
  });
  return { values: Float64Array.from(order.map((i) => vals[i])), vectors };
}

/**
 * The largest eigenvalue of a symmetric matrix, scaled to entries of size 1 first so that the huge kernels of a
 * diverging run do not overflow the eigensolver; NaN if an entry is NaN, Infinity if one is infinite.
 */
export function largestEigenvalue(m: Dense): number {
  const scale = Math.max(0, ...m.data.map(Math.abs));
  if (!Number.isFinite(scale)) return m.data.some(Number.isNaN) ? NaN : Infinity;
  if (scale === 0) return 0;
  const { values } = symmetricEigen({ ...m, data: m.data.map((v) => v / scale) });
  return values[values.length - 1] * scale;
}

export function isSymmetric(m: Dense, tol = 1e-12): boolean {
  const n = m.rows;
  for (let i = 0; i < n; i++)
    for (let j = 0; j < i; j++) {
      const a = m.data[i * n + j],
        b = m.data[j * n + i];
      if (Math.abs(a - b) > tol * (1 + Math.abs(a) + Math.abs(b))) return false;
    }
  return true;
}
