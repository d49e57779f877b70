/**
 * Dense kernels on row-major Float64Array matrices, register-blocked for the simulator's hot loops
 * (THEORY.md section 1: forward products W phi, backward products W^T g, rank-R weight increments).
 *
 * Every gradient of a hidden matrix W^l is a sum over training points of outer products:
 * dW^l/dt = gamma0/(P sqrt(N)) sum_mu Delta_mu g^{l+1}_mu phi(h^l_mu)^T, so a pending increment
 * a * sum_r U_r V_r^T is kept as its factors (LowRank) and applied in one pass.
 *
 * crossDots, addTransposedProduct and addLowRank run their WebAssembly SIMD versions (wasm/kernels.wat)
 * when all their arrays lie in one Arena (wasm/arena.ts), and the scalar loops below otherwise.
 */
import { simdFor } from './wasm/arena.js';

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
  const simd = simdFor(M, U, V);
  if (simd) return simd.addLowRank(M.byteOffset, rows, cols, U.byteOffset, V.byteOffset, R);
  let i = 0;
  for (; i + 1 < rows; i += 2) {
    const o = i * cols,
      q = o + cols;
    let r = 0;
    for (; r + 7 < R; r += 8) {
      const u = r * rows + i;
      const a0 = U[u],
        a1 = U[u + rows],
        a2 = U[u + 2 * rows],
        a3 = U[u + 3 * rows];
      const a4 = U[u + 4 * rows],
        a5 = U[u + 5 * rows],
        a6 = U[u + 6 * rows],
        a7 = U[u + 7 * rows];
      const b0 = U[u + 1],
        b1 = U[u + rows + 1],
        b2 = U[u + 2 * rows + 1],
        b3 = U[u + 3 * rows + 1];
      const b4 = U[u + 4 * rows + 1],
        b5 = U[u + 5 * rows + 1],
        b6 = U[u + 6 * rows + 1],
        b7 = U[u + 7 * rows + 1];
      const v0 = r * cols,
        v1 = v0 + cols,
        v2 = v1 + cols,
        v3 = v2 + cols,
        v4 = v3 + cols,
        v5 = v4 + cols,
        v6 = v5 + cols,
        v7 = v6 + cols;
      for (let j = 0; j < cols; j++) {
        const x0 = V[v0 + j],
          x1 = V[v1 + j],
          x2 = V[v2 + j],
          x3 = V[v3 + j],
          x4 = V[v4 + j],
          x5 = V[v5 + j],
          x6 = V[v6 + j],
          x7 = V[v7 + j];
        M[o + j] += a0 * x0 + a1 * x1 + a2 * x2 + a3 * x3 + a4 * x4 + a5 * x5 + a6 * x6 + a7 * x7;
        M[q + j] += b0 * x0 + b1 * x1 + b2 * x2 + b3 * x3 + b4 * x4 + b5 * x5 + b6 * x6 + b7 * x7;
      }
    }
    for (; r < R; r++) {
      const a = U[r * rows + i],
        b = U[r * rows + i + 1],
        v = r * cols;
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
      const a = U[r * rows + i],
        v = r * cols;
      for (let j = 0; j < cols; j++) M[o + j] += a * V[v + j];
    }
  }
}

/** C[r * n + mu] = A_r . X_mu for rows A_r (r < R) and X_mu (mu < n), all of length N. */
export function crossDots(A: Float64Array, R: number, X: Float64Array, n: number, N: number, C: Float64Array): void {
  const simd = simdFor(A, X, C);
  if (simd) return simd.crossDots(A.byteOffset, R, X.byteOffset, n, N, C.byteOffset);
  // rows r and r + 1 of A per pass, an odd last row with itself
  for (let r = 0; r < R; r += 2) {
    const k = Math.min(r + 1, R - 1);
    pairDots(A, r * N, k * N, N, X, n, C.subarray(r * n, (r + 1) * n), C.subarray(k * n, (k + 1) * n));
  }
}

/**
 * out_mu += sum_{r < R} C[r n + mu] A_r for mu < n (rows A_r and out_mu of length N): C^T A added to out,
 * two rows of A per pairAxpy. For odd R the last row is paired with itself, its second coefficients
 * being a row of zeros that this sets at C[R n ..]: C needs room for R + 1 rows then.
 */
export function addTransposedProduct(A: Float64Array, R: number, C: Float64Array, n: number, N: number, out: Float64Array): void {
  if (R % 2 === 1) C.fill(0, R * n, (R + 1) * n);
  const simd = simdFor(A, C, out);
  if (simd) return simd.addTransposedProduct(A.byteOffset, R, C.byteOffset, n, N, out.byteOffset);
  for (let r = 0; r < R; r += 2) {
    const k = Math.min(r + 1, R - 1);
    pairAxpy(A, r * N, k * N, N, C.subarray(r * n, (r + 1) * n), C.subarray((r + 1) * n, (r + 2) * n), n, out);
  }
}

/**
 * s1[mu] = W_i . x_mu and s2[mu] = W_k . x_mu for mu < n, rows i and k of W starting at o1 and o2:
 * two rows by 5 points per pass, so each loaded x serves two rows and each loaded W five points.
 */
export function pairDots(
  W: Float64Array,
  o1: number,
  o2: number,
  N: number,
  x: Float64Array,
  n: number,
  s1: Float64Array,
  s2: Float64Array,
): void {
  let mu = 0;
  for (; mu + 4 < n; mu += 5) {
    const p0 = mu * N,
      p1 = p0 + N,
      p2 = p1 + N,
      p3 = p2 + N,
      p4 = p3 + N;
    let a0 = 0,
      a1 = 0,
      a2 = 0,
      a3 = 0,
      a4 = 0,
      b0 = 0,
      b1 = 0,
      b2 = 0,
      b3 = 0,
      b4 = 0;
    for (let j = 0; j < N; j++) {
      const u = W[o1 + j],
        v = W[o2 + j];
      const x0 = x[p0 + j],
        x1 = x[p1 + j],
        x2 = x[p2 + j],
        x3 = x[p3 + j],
        x4 = x[p4 + j];
      a0 += u * x0;
      a1 += u * x1;
      a2 += u * x2;
      a3 += u * x3;
      a4 += u * x4;
      b0 += v * x0;
      b1 += v * x1;
      b2 += v * x2;
      b3 += v * x3;
      b4 += v * x4;
    }
    s1[mu] = a0;
    s1[mu + 1] = a1;
    s1[mu + 2] = a2;
    s1[mu + 3] = a3;
    s1[mu + 4] = a4;
    s2[mu] = b0;
    s2[mu + 1] = b1;
    s2[mu + 2] = b2;
    s2[mu + 3] = b3;
    s2[mu + 4] = b4;
  }
  for (; mu < n; mu++) {
    let a = 0,
      b = 0;
    const p = mu * N;
    for (let j = 0; j < N; j++) {
      a += W[o1 + j] * x[p + j];
      b += W[o2 + j] * x[p + j];
    }
    s1[mu] = a;
    s2[mu] = b;
  }
}

/** acc_mu += c1[mu] W_i + c2[mu] W_k for mu < n (rows starting at o1, o2); 5 points per pass. */
export function pairAxpy(
  W: Float64Array,
  o1: number,
  o2: number,
  N: number,
  c1: Float64Array,
  c2: Float64Array,
  n: number,
  acc: Float64Array,
): void {
  let mu = 0;
  for (; mu + 4 < n; mu += 5) {
    const p0 = mu * N,
      p1 = p0 + N,
      p2 = p1 + N,
      p3 = p2 + N,
      p4 = p3 + N;
    const a0 = c1[mu],
      a1 = c1[mu + 1],
      a2 = c1[mu + 2],
      a3 = c1[mu + 3],
      a4 = c1[mu + 4];
    const b0 = c2[mu],
      b1 = c2[mu + 1],
      b2 = c2[mu + 2],
      b3 = c2[mu + 3],
      b4 = c2[mu + 4];
    for (let j = 0; j < N; j++) {
      const u = W[o1 + j],
        v = W[o2 + j];
      acc[p0 + j] += u * a0 + v * b0;
      acc[p1 + j] += u * a1 + v * b1;
      acc[p2 + j] += u * a2 + v * b2;
      acc[p3 + j] += u * a3 + v * b3;
      acc[p4 + j] += u * a4 + v * b4;
    }
  }
  for (; mu < n; mu++) {
    const p = mu * N,
      a = c1[mu],
      b = c2[mu];
    for (let j = 0; j < N; j++) acc[p + j] += W[o1 + j] * a + W[o2 + j] * b;
  }
}

/** out (cols x rows) = A^T for A rows x cols, row-major. */
export function transpose(A: Float64Array, rows: number, cols: number, out: Float64Array): void {
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = A[i * cols + j];
}
