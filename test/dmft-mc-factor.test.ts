import { describe, expect, it } from 'vitest';
import { stream } from '../src/core/rng.js';
import { CausalFactor } from '../src/dmft/mc/factor.js';

/**
 * The causal factor of the Monte Carlo sources (src/dmft/mc/factor.ts), checked against direct matrix
 * products: L L^T = Sigma, the riders' conditional reproduces the joint covariance, and solveRight inverts L.
 * Sigma is a sample Gram matrix (as in the solver) of smooth random curves over P points x K times, full rank;
 * the only error is the 1e-10 relative regularization of the pseudo-inverse, so 1e-6 is a loose bound.
 */
const P = 3,
  K = 6,
  S = 400,
  m = 2;

function gram() {
  const rng = stream(7, 'factor-test');
  // curves x_s(point, t) = a + b t + c sin(0.6 t + point) + small independent innovations: strongly correlated
  // in time like the DMFT fields, but of full rank
  const X = new Float64Array(S * (P + m) * K);
  for (let s = 0; s < S; s++) {
    const [a, b, c] = [rng.normal(), rng.normal(), rng.normal()];
    for (let p = 0; p < P + m; p++)
      for (let k = 0; k < K; k++)
        X[(s * (P + m) + p) * K + k] = a * (1 + 0.3 * p) + b * k * 0.2 + c * Math.sin(0.6 * k + p) + 0.1 * rng.normal();
  }
  const cov = (p: number, k: number, q: number, j: number) => {
    let v = 0;
    for (let s = 0; s < S; s++) v += X[(s * (P + m) + p) * K + k] * X[(s * (P + m) + q) * K + j];
    return v / S;
  };
  return cov;
}

describe('CausalFactor', () => {
  const cov = gram();
  const W = P * K;
  const sigmaRow = (k: number) => {
    const out = new Float64Array(P * W);
    for (let a = 0; a < P; a++) for (let j = 0; j <= k; j++) for (let b = 0; b < P; b++) out[a * W + j * P + b] = cov(a, k, b, j);
    return out;
  };
  const f = new CausalFactor(P);
  for (let k = 0; k < K; k++) f.extend(k, sigmaRow(k), W);
  const Lentry = (k: number, a: number, j: number, b: number) => (j > k ? 0 : f.row(k)[a * P * (k + 1) + j * P + b]);

  it('L L^T reproduces Sigma(t_k, t_j) block by block', () => {
    let worst = 0;
    for (let k = 0; k < K; k++)
      for (let j = 0; j <= k; j++)
        for (let a = 0; a < P; a++)
          for (let b = 0; b < P; b++) {
            let v = 0;
            for (let i = 0; i <= j; i++) for (let c = 0; c < P; c++) v += Lentry(k, a, i, c) * Lentry(j, b, i, c);
            worst = Math.max(worst, Math.abs(v - cov(a, k, b, j)) / Math.abs(cov(a, k, a, k)));
          }
    expect(worst).toBeLessThan(1e-6);
  });

  it('riders: M xi + F eps has the joint covariance with the training sources and its own covariance', () => {
    const k = K - 1,
      q = P * K;
    const cross = new Float64Array(m * W),
      own = new Float64Array(m * m);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j <= k; j++) for (let b = 0; b < P; b++) cross[i * W + j * P + b] = cov(P + i, k, b, j);
      for (let i2 = 0; i2 < m; i2++) own[i * m + i2] = cov(P + i, k, P + i2, k);
    }
    const { M, F } = f.conditional(k, m, cross, W, own);
    let worst = 0;
    for (let i = 0; i < m; i++) {
      // Cov(x_i, u_b(t_j)) = sum_c M[i, c] L[(j,b), c]
      for (let j = 0; j <= k; j++)
        for (let b = 0; b < P; b++) {
          let v = 0;
          for (let i2 = 0; i2 <= j; i2++) for (let c = 0; c < P; c++) v += M[i * q + i2 * P + c] * Lentry(j, b, i2, c);
          worst = Math.max(worst, Math.abs(v - cross[i * W + j * P + b]));
        }
      for (let i2 = 0; i2 < m; i2++) {
        let v = 0;
        for (let c = 0; c < q; c++) v += M[i * q + c] * M[i2 * q + c];
        for (let c = 0; c < m; c++) v += F[i * m + c] * F[i2 * m + c];
        worst = Math.max(worst, Math.abs(v - own[i * m + i2]));
      }
    }
    expect(worst).toBeLessThan(1e-6 * own[0]);
  });

  it('solveRight inverts L from the right (X L = C), the integration-by-parts step', () => {
    const k = K - 1,
      q = P * K,
      rows = 2;
    const rng = stream(3, 'factor-test-rhs');
    const X0 = rng.fillNormal(new Float64Array(rows * q));
    const C = new Float64Array(rows * q);
    for (let r = 0; r < rows; r++)
      for (let i = 0; i <= k; i++)
        for (let c = 0; c < P; c++) {
          let v = 0;
          for (let j = i; j <= k; j++) for (let b = 0; b < P; b++) v += X0[r * q + j * P + b] * Lentry(j, b, i, c);
          C[r * q + i * P + c] = v;
        }
    const X = f.solveRight(k, rows, C, 1e-12);
    const err = Math.max(...X.map((v, i) => Math.abs(v - X0[i])));
    expect(err).toBeLessThan(1e-4);
  });
});
