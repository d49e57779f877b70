import { describe, expect, it } from 'vitest';
import { block, fromRows, toRows } from '../src/core/linalg.js';
import { lossAlongNtk, lrStability } from '../src/dmft/observables.js';
import { solve } from '../src/dmft/solve.js';
import { swapCurves } from '../examples/kernel-swap.js';
import { initialKernels } from '../src/theory/kernels.js';
import { lazyCurves } from '../src/theory/lazy.js';
import { allInputs } from '../src/core/schedule.js';
import { parsedConfig } from './helpers.js';

const cfg = parsedConfig(
  { P: 8, Ptest: 3, D: 5, seed: 4 },
  { model: { depth: 2, activation: 'tanh', gamma0: 1 }, train: { T: 6, record: 7 } },
);
const P = cfg.data.X.length;
const K0 = initialKernels(allInputs(cfg), 2, 'tanh').ntk;
const t = [0, 0.5, 1, 2, 3.5, 5, 6];

describe('lossAlongNtk (gradient flow along a recorded NTK path)', () => {
  // RK4 with 50 steps per interval (h <= 0.03, lambda_max / P ~ 1): global error ~ (h lambda / P)^4 ~ 1e-6 relative at most
  it('a constant path is the static-NTK curve (closed form by eigendecomposition)', () => {
    const lazy = lazyCurves(K0, P, cfg.data.y, undefined, { kind: 'flow', t }).trainLoss;
    const path = lossAlongNtk(
      t,
      t.map(() => toRows(block(K0, 0, P, 0, P))),
      cfg.data.y,
    );
    for (let k = 0; k < t.length; k++) expect(Math.abs(path[k] / lazy[k] - 1)).toBeLessThan(1e-6);
  });

  it('K(t) = s(t) K0 with s piecewise linear is the static curve at the time int_0^t s (the path is linear between records)', () => {
    const s = [1, 2, 0.5, 1.5, 3, 1, 2];
    const tau = t.map((_, k) => t.slice(1, k + 1).reduce((acc, tk, j) => acc + ((tk - t[j]) * (s[j] + s[j + 1])) / 2, 0));
    const lazy = lazyCurves(K0, P, cfg.data.y, undefined, { kind: 'flow', t: tau }).trainLoss;
    const Ktt = toRows(block(K0, 0, P, 0, P));
    const path = lossAlongNtk(
      t,
      s.map((v) => Ktt.map((row) => row.map((x) => v * x))),
      cfg.data.y,
    );
    for (let k = 0; k < t.length; k++) expect(Math.abs(path[k] / lazy[k] - 1)).toBeLessThan(1e-6);
    // and it is not the static curve at t itself
    expect(Math.abs(path[6] / lazyCurves(K0, P, cfg.data.y, undefined, { kind: 'flow', t }).trainLoss[6] - 1)).toBeGreaterThan(0.1);
  });
});

describe('kernel swap (examples/kernel-swap.ts): which kernel carries a gap', () => {
  const c = parsedConfig(
    { P: 8, Ptest: 3, D: 5, seed: 4 },
    { model: { depth: 2, activation: 'linear', gamma0: 1.5 }, train: { T: 6, record: 13 }, output: { kernels: true } },
  );
  const reference = solve(c);
  type Kernels = { Phi: number[][][][]; G: number[][][][]; ntk: number[][][] };
  const close = (a: number[], b: number[], tol: number) => a.forEach((v, k) => expect(Math.abs(v - b[k])).toBeLessThan(tol * b[0]));

  it('against itself: every path is the reference path (the NTK rebuilt from the kernels is the reported one)', () => {
    const { simPath, dmftPath, swapped } = swapCurves(c, reference, reference);
    expect(Object.keys(swapped)).toEqual(['G^1', 'G^2', 'Phi^1', 'Phi^2']);
    close(dmftPath, simPath, 1e-10);
    for (const curve of Object.values(swapped)) close(curve, simPath, 1e-12);
  });

  it('a theory that differs only in the change of G^1 moves the G^1 swap, and the others not at all', () => {
    const K = reference.kernels as Kernels;
    // G^1(t) -> G^1(0) + 1.5 (G^1(t) - G^1(0)): only the G^1 swap sees it
    const G1 = K.G[0].map((Gk) => Gk.map((row, a) => row.map((v, b) => K.G[0][0][a][b] + 1.5 * (v - K.G[0][0][a][b]))));
    const other = { ...reference, kernels: { ...K, G: [G1, K.G[1]] } };
    const { simPath, swapped } = swapCurves(c, reference, other);
    for (const name of ['G^2', 'Phi^1', 'Phi^2']) close(swapped[name], simPath, 1e-12);
    // independently: the reported NTK plus 0.5 (G^1(t) - G^1(0)) o K^x on the train block
    const P = c.data.X.length,
      Kx = initialKernels(allInputs(c), 2, 'linear').Phi[0];
    const moved = K.ntk.map((Kk, k) =>
      Array.from({ length: P }, (_, a) =>
        Array.from({ length: P }, (_, b) => Kk[a][b] + 0.5 * (K.G[0][k][a][b] - K.G[0][0][a][b]) * Kx.data[a * Kx.cols + b]),
      ),
    );
    close(swapped['G^1'], lossAlongNtk(reference.t, moved, c.data.y), 1e-10);
    const last = simPath.length - 1;
    expect(Math.abs(swapped['G^1'][last] / simPath[last] - 1)).toBeGreaterThan(0.005);
  });
});

describe('lrStability', () => {
  it('is lr lambda_max(K_train) / P, also for the huge kernels of a diverging run; NaN stays NaN', () => {
    // train block [[2, 1], [1, 2]] (eigenvalues 1 and 3) of a 3 x 3 kernel, P = 2
    const K = fromRows([
      [2, 1, 5],
      [1, 2, 5],
      [5, 5, 9],
    ]);
    expect(lrStability([K], 0.5, 2)[0]).toBeCloseTo(0.75, 12);
    const huge = fromRows([
      [2e300, 1e300],
      [1e300, 2e300],
    ]);
    expect(lrStability([huge], 0.5, 2)[0] / 0.75e300).toBeCloseTo(1, 12);
    expect(
      lrStability(
        [
          fromRows([
            [NaN, 0],
            [0, 1],
          ]),
        ],
        0.5,
        2,
      )[0],
    ).toBeNaN();
  });
});
