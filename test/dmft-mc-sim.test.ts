import { describe, expect, it } from 'vitest';
import { solve } from '../src/dmft/solve.js';
import { simulate } from '../src/sim/ensemble.js';
import { parsedConfig } from './helpers.js';

/**
 * Reduced version of examples/validate-mc.ts for the kinked activation: deep relu Monte Carlo DMFT against
 * simulated networks (the tanh case is test/dmft-mc-fixture.test.ts). THEORY.md section 5: a width-N
 * ensemble differs from the DMFT by b/N + O(1/N^2) plus its seeds' scatter; Richardson in 1/N,
 * 2 mean(2N) - mean(N), removes b/N and has standard error sqrt(4 SEM(2N)^2 + SEM(N)^2). Required at every
 * recorded time: within 4 combined standard errors (that one and the DMFT's sampling error over replicas).
 * The grid's O(dt^2) error at dt = 0.125 is far inside that band (below 0.2% for L = 1,
 * test/dmft-mc-consistency.test.ts). The same check rejects gradient independence (A = B = 0), so it can fail
 * (measured values: docs/VALIDATION.md, "Moved from code comments").
 */
const config = (method: string) =>
  parsedConfig(
    { P: 6, Ptest: 4, D: 4, seed: 1 },
    { model: { depth: 2, activation: 'relu', gamma0: 1 }, train: { T: 3, record: 7 }, solver: { method, samples: 2048, dt: 0.125 } },
  );

describe('monte-carlo vs simulated networks, relu (reduced)', () => {
  const sims = { seeds: 16, integrator: 'rk4', dt: 0.05 } as const;
  const small = simulate(config('auto'), { width: 400, ...sims });
  const large = simulate(config('auto'), { width: 800, ...sims });

  /** largest |DMFT - extrapolated ensemble| over recorded times, in combined standard errors */
  function sigmas(method: string): number {
    const theory = solve(config(method), { times: large.t });
    const se = { trainLossSem: theory.trainLossSem!, testLossSem: theory.testLossSem! };
    let worst = 0;
    for (const [loss, sem] of [
      ['trainLoss', 'trainLossSem'],
      ['testLoss', 'testLossSem'],
    ] as const)
      large.t.forEach((_, i) => {
        const extrapolated = 2 * large[loss]![i] - small[loss]![i];
        const band = Math.hypot(2 * large[sem]![i], small[sem]![i], se[sem][i]);
        if (i > 0) worst = Math.max(worst, Math.abs(theory[loss]![i] - extrapolated) / band);
      });
    return worst;
  }

  it('L = 2 relu, gamma0 = 1: the full solution is within 4 standard errors at every recorded time', () => {
    expect(sigmas('monte-carlo')).toBeLessThan(4);
  });

  it('gradient independence is resolved as a different curve (more than 4 standard errors off)', () => {
    expect(sigmas('gradient-independent')).toBeGreaterThan(4);
  });
});
