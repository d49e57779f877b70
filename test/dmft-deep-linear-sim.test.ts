import { describe, expect, it } from 'vitest';
import { solve } from '../src/dmft/solve.js';
import { simulate } from '../src/sim/ensemble.js';
import { parsedConfig } from './helpers.js';

/**
 * Reduced version of examples/validate-dmft.ts: deep linear L = 2 DMFT against simulated networks.
 * THEORY.md section 5: a width-N ensemble differs from the DMFT by b/N + O(1/N^2) plus its seeds'
 * scatter, so the 1/N term is removed by Richardson in 1/N, 2 mean(2N) - mean(N), whose standard error
 * is sqrt(4 SEM(2N)^2 + SEM(N)^2); required: within 4 of those standard errors plus the DMFT's own
 * discretization error (meta.errorEstimate) at every recorded time.
 */
describe('deep-linear DMFT against simulated networks (reduced)', () => {
  it('L = 2, gamma0 = 1: the 1/N-extrapolated ensemble agrees at every recorded time', () => {
    const cfg = parsedConfig(
      { P: 6, Ptest: 4, D: 4, seed: 1 },
      { model: { depth: 2, activation: 'linear', gamma0: 1 }, train: { T: 1.5, record: 4 } },
    );
    const small = simulate(cfg, { width: 500, seeds: 8, integrator: 'rk4', dt: 0.05 });
    const large = simulate(cfg, { width: 1000, seeds: 8, integrator: 'rk4', dt: 0.05 });
    const theory = solve(cfg, { times: large.t });
    const est = theory.meta.errorEstimate as number;
    for (const [loss, sem] of [
      ['trainLoss', 'trainLossSem'],
      ['testLoss', 'testLossSem'],
    ] as const)
      large.t.forEach((_, i) => {
        const extrapolated = 2 * large[loss]![i] - small[loss]![i];
        const se = Math.hypot(2 * large[sem]![i], small[sem]![i]);
        expect(Math.abs(theory[loss]![i] - extrapolated)).toBeLessThanOrEqual(4 * se + est * theory[loss]![i] + 1e-12);
      });
  });
});
