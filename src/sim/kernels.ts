import { block, dense, type Dense } from '../core/linalg.js';
import { ntkFrom } from '../theory/kernels.js';
import type { Network } from './network.js';

/**
 * Empirical kernels of THEORY.md section 2 from the last evaluation of a network, over points mu < m:
 *   Phi^l = phi(h^l) phi(h^l)^T / N,  G^l = g^l g^l^T / N,  NTK = sum_{l=0..L} G^{l+1} * Phi^l,
 * with Phi^0 = K^x and G^{L+1} = 1; indexed as theory/kernels.ts (Phi[l] = Phi^l, G[l] = G^l, G[0] empty).
 */
export interface EmpiricalKernels {
  Phi: Dense[];
  G: Dense[];
  ntk: Dense;
}

/** A A^T / N over the first m rows of A (rows of length N). */
function gram(A: Float64Array, m: number, N: number): Dense {
  const K = dense(m, m);
  for (let i = 0; i < m; i++)
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let k = 0; k < N; k++) s += A[i * N + k] * A[j * N + k];
      K.data[i * m + j] = K.data[j * m + i] = s / N;
    }
  return K;
}

/** `Kx` is K^x over all points of the network; the kernels need g on mu < m (evaluate with nb >= m). */
export function empiricalKernels(net: Network, Kx: Dense, m: number): EmpiricalKernels {
  const { N, L } = net.shape;
  const Phi = [block(Kx, 0, m, 0, m)];
  const G = [dense(0, 0)];
  for (let l = 1; l <= L; l++) {
    Phi.push(gram(net.phi[l - 1], m, N));
    G.push(gram(net.g[l - 1], m, N));
  }
  G.push(dense(m, m, new Float64Array(m * m).fill(1)));
  return { Phi, G, ntk: ntkFrom(Phi, G) };
}
