/**
 * Rank-R weight increments. Every gradient of a hidden matrix W^l is a sum over training points of
 * outer products (THEORY.md section 1): dW^l/dt = gamma0/(P sqrt(N)) sum_mu Delta_mu g^{l+1}_mu phi(h^l_mu)^T.
 * A pending increment a * sum_r U_r V_r^T is kept as its factors and applied in one pass.
 */
export interface LowRank {
  /** Scale of the increment. */
  a: number;
  /** U_r (rows of length `rows`) and V_r (rows of length `cols`), r = 0..R-1, row-major. */
  U: Float64Array;
  V: Float64Array;
  R: number;
}

/**
 * M += sum_r U_r V_r^T for M rows x cols row-major. Register-blocked: 2 rows of M by 8 rank terms per
 * pass, so each loaded V element serves 2 rows and each element of M is loaded and stored once per 8
 * terms; the rows stay in L1 across the passes.
 */
export function addLowRank(M: Float64Array, rows: number, cols: number, U: Float64Array, V: Float64Array, R: number): void {
  let i = 0;
  for (; i + 1 < rows; i += 2) {
    const o = i * cols, q = o + cols;
    let r = 0;
    for (; r + 7 < R; r += 8) {
      const u = r * rows + i;
      const a0 = U[u], a1 = U[u + rows], a2 = U[u + 2 * rows], a3 = U[u + 3 * rows];
      const a4 = U[u + 4 * rows], a5 = U[u + 5 * rows], a6 = U[u + 6 * rows], a7 = U[u + 7 * rows];
      const b0 = U[u + 1], b1 = U[u + rows + 1], b2 = U[u + 2 * rows + 1], b3 = U[u + 3 * rows + 1];
      const b4 = U[u + 4 * rows + 1], b5 = U[u + 5 * rows + 1], b6 = U[u + 6 * rows + 1], b7 = U[u + 7 * rows + 1];
      const v0 = r * cols, v1 = v0 + cols, v2 = v1 + cols, v3 = v2 + cols, v4 = v3 + cols, v5 = v4 + cols, v6 = v5 + cols, v7 = v6 + cols;
      for (let j = 0; j < cols; j++) {
        const x0 = V[v0 + j], x1 = V[v1 + j], x2 = V[v2 + j], x3 = V[v3 + j], x4 = V[v4 + j], x5 = V[v5 + j], x6 = V[v6 + j], x7 = V[v7 + j];
        M[o + j] += a0 * x0 + a1 * x1 + a2 * x2 + a3 * x3 + a4 * x4 + a5 * x5 + a6 * x6 + a7 * x7;
        M[q + j] += b0 * x0 + b1 * x1 + b2 * x2 + b3 * x3 + b4 * x4 + b5 * x5 + b6 * x6 + b7 * x7;
      }
    }
    for (; r < R; r++) {
      const a = U[r * rows + i], b = U[r * rows + i + 1], v = r * cols;
      for (let j = 0; j < cols; j++) {
        const x = V[v + j];
        M[o + j] += a * x;
        M[q + j] += b * x;
      }
    }
  }
  if (i < rows) {
    // the last row of an odd count
    const o = i * cols;
    for (let r = 0; r < R; r++) {
      const a = U[r * rows + i], v = r * cols;
      for (let j = 0; j < cols; j++) M[o + j] += a * V[v + j];
    }
  }
}

/** C[r * n + mu] = A_r . X_mu for rows A_r (r < R) and X_mu (mu < n), all of length N. */
export function crossDots(A: Float64Array, R: number, X: Float64Array, n: number, N: number, C: Float64Array): void {
  for (let r = 0; r < R; r++)
    for (let mu = 0; mu < n; mu++) {
      let s = 0;
      const a = r * N, x = mu * N;
      for (let j = 0; j < N; j++) s += A[a + j] * X[x + j];
      C[r * n + mu] = s;
    }
}

/**
 * out[o + i] = sum_{k < m} c[k] A[k N + i], i < N: a combination of m rows of A, 4 rows per pass so that
 * out is stored once per 4 terms.
 */
export function combineRows(A: Float64Array, c: ArrayLike<number>, m: number, N: number, out: Float64Array, o = 0): void {
  out.fill(0, o, o + N);
  let k = 0;
  for (; k + 3 < m; k += 4) {
    const c0 = c[k], c1 = c[k + 1], c2 = c[k + 2], c3 = c[k + 3];
    const a0 = k * N, a1 = a0 + N, a2 = a1 + N, a3 = a2 + N;
    for (let i = 0; i < N; i++) out[o + i] += c0 * A[a0 + i] + c1 * A[a1 + i] + c2 * A[a2 + i] + c3 * A[a3 + i];
  }
  for (; k < m; k++) {
    const ck = c[k], a = k * N;
    for (let i = 0; i < N; i++) out[o + i] += ck * A[a + i];
  }
}
