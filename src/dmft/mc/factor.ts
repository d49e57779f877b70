import { dense, symmetricEigen } from '../../core/linalg.js';

/**
 * Causal factor of a Gaussian source over (training point, grid time), THEORY.md section 3: u^l ~ GP(0, Phi^{l-1})
 * or r^l ~ GP(0, G^{l+1}). With the P x P blocks Sigma_kj = Sigma(t_k, t_j), the block lower-triangular
 * L with Sigma = L L^T gives the source at t_k as  u(t_k) = sum_{j<=k} L_kj xi_j  from fixed standard
 * normals xi_j, so row k is known as soon as Sigma(t_k, t_j <= k) is (time marching, section 4).
 * Row k is (re)computed by forward substitution  L_kj = (Sigma_kj - sum_{i<j} L_ki L_ji^T) L_jj^{+T},
 * and the diagonal block from the Schur complement S_k = Sigma_kk - sum_{j<k} L_kj L_kj^T = V Lambda V^T
 * as L_kk = V sqrt(max(Lambda, 0)) (PSD-safe: a source smooth in time, or a sample covariance of rank < P K,
 * has a nearly singular S_k; L^+ is a regularized pseudo-inverse, see psdFactor).
 */
export class CausalFactor {
  /** rows[k]: P x P(k+1), columns (j, b) */
  private readonly rows: Float64Array[] = [];
  /** pinvT[j] = (L_jj^+)^T (P x P), regularized with RIDGE */
  private readonly pinvT: Float64Array[] = [];
  /** the Schur complements S_j (for pseudo-inverses with other regularizations) and their scales */
  private readonly schurs: { S: Float64Array; scale: number }[] = [];

  constructor(readonly P: number) {}

  /** Row k of L from Sigma(t_k, t_j), j <= k: `sigma` is P x P(k+1) with row stride `ld` (>= P(k+1)). */
  extend(k: number, sigma: Float64Array, ld: number): void {
    const { P } = this;
    const row = this.solveRow(P, sigma, ld, k, P * (k + 1));
    const own = (a: number, b: number) => sigma[a * ld + k * P + b];
    const schur = this.schur(row, P, k * P, own);
    const scale = maxDiagonal(own, P);
    const { L, pinvT } = psdFactor(schur, P, scale * RIDGE);
    this.schurs[k] = { S: schur, scale };
    for (let a = 0; a < P; a++) for (let b = 0; b < P; b++) row[a * P * (k + 1) + k * P + b] = L[a * P + b];
    this.rows[k] = row;
    this.pinvT[k] = pinvT;
  }

  /** L_kj (row k, all j <= k), P x P(k+1). */
  row(k: number): Float64Array {
    return this.rows[k];
  }

  /**
   * Riders (test points, section 4 design): m further variables at time t_k, jointly Gaussian with the
   * training sources with cross-covariance `cross` (m x P(k+1), stride ld) and own covariance `own` (m x m):
   * returns M (m x P(k+1)) and F (m x m) with  x = M xi_{<=k} + F eps,  eps ~ N(0, I_m) fresh.
   */
  conditional(k: number, m: number, cross: Float64Array, ld: number, own: Float64Array): { M: Float64Array; F: Float64Array } {
    const M = this.solveRow(m, cross, ld, k + 1, this.P * (k + 1));
    const ownAt = (a: number, b: number) => own[a * m + b];
    const schur = this.schur(M, m, (k + 1) * this.P, ownAt);
    return { M, F: psdFactor(schur, m, maxDiagonal(ownAt, m) * RIDGE).L };
  }

  /**
   * X with X L = C over times 0..k (X, C: m x P(k+1), stride P(k+1)), by back substitution with the
   * pseudo-inverse diagonal blocks regularized by `ridge` (relative to each block's largest variance):
   * the Gaussian integration-by-parts step <dF/dsource> = <F xi^T> L^{-1}.
   */
  solveRight(k: number, m: number, C: Float64Array, ridge: number): Float64Array {
    const { P } = this;
    const pinv = this.schurs.slice(0, k + 1).map(({ S, scale }) => psdFactor(S, P, ridge * scale).pinvT);
    const w = P * (k + 1);
    const X = new Float64Array(m * w);
    const tmp = new Float64Array(P);
    for (let i = k; i >= 0; i--)
      for (let a = 0; a < m; a++) {
        // r = C_i - sum_{j>i} X_j L_ji, then X_i = r L_ii^+ = r (pinvT)^T
        for (let b = 0; b < P; b++) {
          let s = C[a * w + i * P + b];
          for (let j = i + 1; j <= k; j++) {
            const Lj = this.rows[j],
              lw = P * (j + 1);
            for (let c = 0; c < P; c++) s -= X[a * w + j * P + c] * Lj[c * lw + i * P + b];
          }
          tmp[b] = s;
        }
        const pi = pinv[i];
        for (let c = 0; c < P; c++) {
          let s = 0;
          for (let b = 0; b < P; b++) s += tmp[b] * pi[c * P + b];
          X[a * w + i * P + c] = s;
        }
      }
    return X;
  }

  /** Forward substitution of `m` rows of sigma against blocks 0..jEnd-1 into an m x w array. */
  private solveRow(m: number, sigma: Float64Array, ld: number, jEnd: number, w: number): Float64Array {
    const { P } = this;
    const out = new Float64Array(m * w);
    const tmp = new Float64Array(P);
    for (let j = 0; j < jEnd; j++) {
      const Lj = this.rows[j],
        lw = P * (j + 1),
        pt = this.pinvT[j];
      for (let a = 0; a < m; a++) {
        for (let b = 0; b < P; b++) {
          let s = sigma[a * ld + j * P + b];
          const ob = b * lw;
          for (let q = 0; q < j * P; q++) s -= out[a * w + q] * Lj[ob + q];
          tmp[b] = s;
        }
        for (let c = 0; c < P; c++) {
          let s = 0;
          for (let b = 0; b < P; b++) s += tmp[b] * pt[b * P + c];
          out[a * w + j * P + c] = s;
        }
      }
    }
    return out;
  }

  /** own - X X^T over the first q columns of X (m rows), symmetrized. */
  private schur(X: Float64Array, m: number, q: number, own: (a: number, b: number) => number): Float64Array {
    const w = X.length / m;
    const S = new Float64Array(m * m);
    for (let a = 0; a < m; a++)
      for (let b = 0; b <= a; b++) {
        let s = 0.5 * (own(a, b) + own(b, a));
        for (let c = 0; c < q; c++) s -= X[a * w + c] * X[b * w + c];
        S[a * m + b] = S[b * m + a] = s;
      }
    return S;
  }
}

/** Regularization of the innovations, relative to the largest variance of the block (see psdFactor). */
const RIDGE = 1e-10;

/**
 * The symmetric square root L = V sqrt(Lambda+) V^T and (L^+)^T = V (sqrt(Lambda+) / (Lambda+ + delta)) V^T of a
 * symmetric m x m Schur complement, Lambda+ = max(Lambda, 0), delta = RIDGE * scale (forward draws): both are continuous in S
 * (unlike V sqrt(Lambda), whose eigenvector signs and order are arbitrary), so the fixed-point iteration at t_k
 * sees the same draws for the same covariance; the Tikhonov pseudo-inverse never flips a direction between
 * kept and dropped. A direction whose innovation
 * variance is ~delta or less then loses its (noise-dominated) coefficient in later rows; the variance it
 * carried moves into their own Schur complements, so every factored covariance stays PSD.
 */
function psdFactor(S: Float64Array, m: number, delta: number): { L: Float64Array; pinvT: Float64Array } {
  const { values, vectors } = symmetricEigen(dense(m, m, S));
  const L = new Float64Array(m * m),
    pinvT = new Float64Array(m * m);
  const V = vectors.data;
  for (let c = 0; c < m; c++) {
    const lam = Math.max(values[c], 0);
    if (lam === 0) continue;
    const s = Math.sqrt(lam),
      inv = s / (lam + delta);
    for (let a = 0; a < m; a++)
      for (let b = 0; b < m; b++) {
        const vv = V[a * m + c] * V[b * m + c];
        L[a * m + b] += vv * s;
        pinvT[a * m + b] += vv * inv;
      }
  }
  return { L, pinvT };
}

function maxDiagonal(own: (a: number, b: number) => number, m: number): number {
  let s = 0;
  for (let a = 0; a < m; a++) s = Math.max(s, Math.abs(own(a, a)));
  return s;
}
