import { describe, expect, it } from 'vitest';
import { initialKernels, inputKernel } from '../src/theory/kernels.js';
import { ACTIVATIONS } from '../src/core/config.js';
import { isSymmetric, symmetricEigen } from '../src/core/linalg.js';
import { synthesize } from '../src/core/synthetic.js';

const { X } = synthesize({ kind: 'linear', P: 12, D: 5, Ptest: 0, noise: 0, seed: 3 });
// a few points off the sphere, and a duplicate, to exercise unequal norms and singular kernels
const points = [...X, X[0].map((v) => 0.3 * v), X[1].map((v) => 2 * v), [...X[2]]];

describe('infinite-width kernels', () => {
  it('are symmetric and positive semi-definite for every activation at depth 3', () => {
    for (const act of ACTIVATIONS) {
      const k = initialKernels(points, 3, act);
      for (const m of [...k.Phi, ...k.G.slice(1), k.ntk]) {
        expect(isSymmetric(m)).toBe(true);
        const { values } = symmetricEigen(m);
        expect(values[0]).toBeGreaterThan(-1e-10 * values[values.length - 1]);
      }
    }
  });

  it('linear: Phi^l = K^x = X X^T / D, G^l = 1, NTK = (L + 1) K^x', () => {
    const k = initialKernels(points, 3, 'linear');
    const n = points.length,
      D = points[0].length;
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        const kx = points[i].reduce((s, v, d) => s + v * points[j][d], 0) / D;
        for (let l = 0; l <= 3; l++) expect(k.Phi[l].data[i * n + j]).toBeCloseTo(kx, 13);
        for (let l = 1; l <= 4; l++) expect(k.G[l].data[i * n + j]).toBe(1);
        expect(k.ntk.data[i * n + j]).toBeCloseTo(4 * kx, 12);
      }
  });

  it('relu NTK equals the textbook recursion Theta^l = Theta^{l-1} Sigmadot^l + Sigma^l (independent code)', () => {
    const L = 3;
    const k = initialKernels(points, L, 'relu');
    const n = points.length;
    let Sigma = inputKernel(points).data.slice();
    let Theta = Sigma.slice();
    for (let l = 1; l <= L; l++) {
      const S = new Float64Array(n * n),
        Sd = new Float64Array(n * n);
      for (let i = 0; i < n; i++)
        for (let j = 0; j < n; j++) {
          const nn = Math.sqrt(Sigma[i * n + i] * Sigma[j * n + j]);
          const th = Math.acos(Math.min(1, Math.max(-1, Sigma[i * n + j] / nn)));
          S[i * n + j] = (nn / (2 * Math.PI)) * (Math.sin(th) + (Math.PI - th) * Math.cos(th));
          Sd[i * n + j] = (Math.PI - th) / (2 * Math.PI);
        }
      Theta = Theta.map((t, idx) => t * Sd[idx] + S[idx]);
      Sigma = S;
    }
    for (let idx = 0; idx < n * n; idx++) expect(k.ntk.data[idx]).toBeCloseTo(Theta[idx], 12);
  });

  it('relu diagonal halves each layer: Phi^l_ii = K^x_ii / 2^l', () => {
    const k = initialKernels(points, 3, 'relu');
    const n = points.length;
    for (let i = 0; i < n; i++)
      for (let l = 1; l <= 3; l++) expect(k.Phi[l].data[i * n + i]).toBeCloseTo(k.Kx.data[i * n + i] / 2 ** l, 13);
  });
});
