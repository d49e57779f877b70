import type { ActivationName } from '../core/config.js';
import { dense, type Dense } from '../core/linalg.js';
import { pairExpectation, DEFAULT_QUADRATURE_ORDER } from './expectations.js';

/**
 * Infinite-width kernels at t = 0 (THEORY.md section 2), over all points (train first, then test):
 *   Phi^0 = K^x = X X^T / D,  Phi^l = E[phi(u) phi(u')] over Phi^{l-1},
 *   G^L = Gdot^L,  G^l = G^{l+1} * Gdot^l  with  Gdot^l = E[phi'(u) phi'(u')] over Phi^{l-1},
 *   NTK = sum_{l=0..L} G^{l+1} * Phi^l  (G^{L+1} = 1).
 */
export interface InitialKernels {
  /** K^x = Phi^0. */
  Kx: Dense;
  /** Phi[l] = Phi^l for l = 0..L (Phi[0] = K^x). */
  Phi: Dense[];
  /** G[l] = G^l for l = 1..L+1 (G[L+1] = all ones); G[0] is unused and left empty. */
  G: Dense[];
  ntk: Dense;
}

export function inputKernel(X: readonly (readonly number[])[]): Dense {
  const n = X.length,
    D = X[0].length;
  const K = dense(n, n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let k = 0; k < D; k++) s += X[i][k] * X[j][k];
      K.data[i * n + j] = K.data[j * n + i] = s / D;
    }
  return K;
}

export function initialKernels(
  X: readonly (readonly number[])[],
  depth: number,
  act: ActivationName,
  quadratureOrder = DEFAULT_QUADRATURE_ORDER,
): InitialKernels {
  const n = X.length;
  const E = pairExpectation(act, quadratureOrder);
  const Kx = inputKernel(X);
  const Phi: Dense[] = [Kx];
  const Gdot: Dense[] = [dense(0, 0)];
  for (let l = 1; l <= depth; l++) {
    const prev = Phi[l - 1].data;
    const P = dense(n, n),
      Gd = dense(n, n);
    for (let i = 0; i < n; i++)
      for (let j = 0; j <= i; j++) {
        const m = E(prev[i * n + i], prev[j * n + j], prev[i * n + j]);
        P.data[i * n + j] = P.data[j * n + i] = m.phiphi;
        Gd.data[i * n + j] = Gd.data[j * n + i] = m.dd;
      }
    Phi.push(P);
    Gdot.push(Gd);
  }
  const G: Dense[] = new Array(depth + 2);
  G[0] = dense(0, 0);
  G[depth + 1] = dense(n, n, new Float64Array(n * n).fill(1));
  for (let l = depth; l >= 1; l--) {
    const g = dense(n, n);
    for (let k = 0; k < n * n; k++) g.data[k] = G[l + 1].data[k] * Gdot[l].data[k];
    G[l] = g;
  }
  return { Kx, Phi, G, ntk: ntkFrom(Phi, G) };
}

/** NTK = sum_{l=0..L} G^{l+1} * Phi^l (elementwise), for kernels given as in InitialKernels. */
export function ntkFrom(Phi: readonly Dense[], G: readonly Dense[]): Dense {
  const n = Phi[0].rows;
  const K = dense(n, n);
  for (let l = 0; l < Phi.length; l++) {
    const p = Phi[l].data,
      g = G[l + 1].data;
    for (let k = 0; k < n * n; k++) K.data[k] += g[k] * p[k];
  }
  return K;
}
