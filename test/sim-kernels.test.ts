import { describe, expect, it } from 'vitest';
import { initialKernels } from '../src/theory/kernels.js';
import { allInputs } from '../src/core/schedule.js';
import { simulateNetwork } from '../src/sim/train.js';
import { parsedConfig } from './helpers.js';

/**
 * At t = 0 the empirical kernels are averages over N units (of products of O(1) fields), so they scatter
 * around the infinite-width kernels of src/theory with standard deviation ~ c / sqrt(N) (THEORY.md
 * section 5), bias O(1/N). We measure the RMS deviation over all entries of Phi^l, G^l and the NTK and
 * over S seeds for N = 64 .. 4096 and fit the exponent: -1/2 within 0.15, about 3 standard errors of the
 * fit (the RMS over S seeds of correlated entries scatters by ~ 30% / sqrt(S / 2) per N, i.e. ~ 12%;
 * the least-squares slope over ln N spread sqrt(sum (ln N - mean)^2) = 3.1 then has error 0.12 / 3.1 = 0.04).
 * A missing 1/sqrt(N) or a wrong scale in any layer gives an O(1) plateau (exponent ~ 0).
 */
describe('empirical kernels at t = 0 approach the infinite-width kernels like 1/sqrt(N)', () => {
  const cfg = parsedConfig(
    { P: 5, Ptest: 2, D: 4, seed: 3 },
    { model: { depth: 2, activation: 'tanh', gamma0: 1 }, train: { T: 1, record: 2 }, output: { kernels: true } },
  );
  const theory = initialKernels(allInputs(cfg), 2, 'tanh');
  const want = [...theory.Phi.slice(1), ...theory.G.slice(1, 3), theory.ntk].map((k) => Array.from(k.data));

  function rms(N: number, seeds: number): number {
    let s = 0,
      n = 0;
    for (let seed = 0; seed < seeds; seed++) {
      const k = simulateNetwork(cfg, { width: N, seed, times: [0] }).kernels![0];
      const got = [...k.Phi, ...k.G, k.ntk].map((m) => m.flat());
      got.forEach((g, i) =>
        g.forEach((v, j) => {
          s += (v - want[i][j]) ** 2;
          n++;
        }),
      );
    }
    return Math.sqrt(s / n);
  }

  it('RMS error ~ N^(-1/2), tanh, L = 2, train and test points', () => {
    const Ns = [64, 256, 1024, 4096];
    const errs = Ns.map((N) => rms(N, N === 4096 ? 4 : 12));
    const x = Ns.map(Math.log),
      y = errs.map(Math.log);
    const mx = x.reduce((a, b) => a + b) / x.length,
      my = y.reduce((a, b) => a + b) / y.length;
    const slope = x.reduce((a, xi, i) => a + (xi - mx) * (y[i] - my), 0) / x.reduce((a, xi) => a + (xi - mx) ** 2, 0);
    console.log(
      `kernel RMS error: ${Ns.map((N, i) => `N=${N}: ${errs[i].toExponential(2)} (x sqrt N = ${(errs[i] * Math.sqrt(N)).toFixed(3)})`).join(', ')}; slope ${slope.toFixed(3)}`,
    );
    expect(slope).toBeGreaterThan(-0.65);
    expect(slope).toBeLessThan(-0.35);
    expect(errs[3]).toBeLessThan(0.05);
  });
});
