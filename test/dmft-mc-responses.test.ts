import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/core/config.js';
import { ConvergenceError } from '../src/core/errors.js';
import { solve } from '../src/dmft/solve.js';
import { solveMonteCarlo, type McSolverOptions } from '../src/dmft/monte-carlo.js';
import { syntheticData } from './helpers.js';

/**
 * Response functions A, B two ways (THEORY.md section 4): exact forward-mode Jacobians (the default) and the
 * Gaussian integration-by-parts estimate <F xi^T> L^+ (solver.responses = "ibp", Tikhonov-regularized by
 * solver.ibpRidge). Sampling error: the standard error over replicas (section 5); all runs share the seed,
 * so their curves use common random numbers.
 */
const data = syntheticData({ P: 6, D: 4, Ptest: 4, seed: 1 });
const times = Array.from({ length: 11 }, (_, i) => i * 0.5);
const base = { samples: 1024, replicas: 8, responseSamples: 16, dt: 0.5 };

function run(model: object, o: McSolverOptions, method: 'monte-carlo' | 'gradient-independent' = 'monte-carlo') {
  const cfg = parseConfig({ data, model, train: { T: 5, record: 11 } });
  return solveMonteCarlo(cfg, { kind: 'flow', t: times }, { ...base, ...o }, method);
}

describe('integration by parts vs exact responses', () => {
  it('agree where the responses do not fluctuate (phi linear): ibp within 4 SEM of the deep-linear solver', () => {
    const model = { depth: 2, activation: 'linear', gamma0: 1 };
    const exact = solve(parseConfig({ data, model, train: { T: 5, record: 11 }, solver: { method: 'deep-linear', dt: 0.5 } }));
    const r = run(model, { responses: 'ibp' });
    const se = { trainLossSem: r.trainLossSem!, testLossSem: r.testLossSem! };
    r.trainLoss.forEach((v, i) => expect(Math.abs(v - exact.trainLoss[i])).toBeLessThanOrEqual(4 * se.trainLossSem[i] + 1e-12));
    r.testLoss!.forEach((v, i) => expect(Math.abs(v - exact.testLoss![i])).toBeLessThanOrEqual(4 * se.testLossSem[i] + 1e-12));
  });

  it('do not where they fluctuate (tanh, gamma0 = 2): weakly regularized ibp has no fixed point, regularized ibp is biased toward A = B = 0', () => {
    const model = { depth: 2, activation: 'tanh', gamma0: 2 };
    // the O(1/sqrt(S)) noise of <F xi^T>, divided by innovations of size O(dt), breaks the step's contraction
    expect(() => run(model, { responses: 'ibp', ibpRidge: 0.1 })).toThrow(ConvergenceError);
    const exact = run(model, {});
    const ibp = run(model, { responses: 'ibp' });
    const gi = run(model, {}, 'gradient-independent');
    // common random numbers: the ordering exact < ibp < gradient-independent of the test loss holds at every t >= 1
    for (let i = 2; i < times.length; i++) {
      expect(ibp.testLoss![i]).toBeGreaterThan(exact.testLoss![i]);
      expect(gi.testLoss![i]).toBeGreaterThan(ibp.testLoss![i]);
    }
  });
});
