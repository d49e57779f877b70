import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/core/config.js';
import type { Result } from '../src/core/result.js';
import { solve } from '../src/dmft/solve.js';
import { solveMonteCarlo, type McSolverOptions } from '../src/dmft/monte-carlo.js';
import { solveLazy } from '../src/theory/lazy.js';
import { syntheticData } from './helpers.js';

/**
 * The Monte Carlo solver against the two exact special cases of THEORY.md section 3, computed by independent
 * solvers: phi linear (src/dmft/deep-linear.ts, no sampling) and L = 1 (src/dmft/two-layer.ts, particles).
 * Error sources (section 5): the MC solver's sampling error, reported as the standard error over replicas;
 * with phi linear both solvers use the same grid, trapezoid rule and Crank-Nicolson step (dt below), so the
 * discretization cancels and the difference is sampling error alone: |MC - exact| <= 4 SEM at every time.
 */
const data = syntheticData({ P: 6, D: 4, Ptest: 4, seed: 1 });
const times = Array.from({ length: 11 }, (_, i) => i * 0.5);

function mc(model: object, o: McSolverOptions, method: 'monte-carlo' | 'gradient-independent' = 'monte-carlo'): Result {
  const cfg = parseConfig({ data, model, train: { T: 5, record: 11 } });
  return solveMonteCarlo(cfg, { kind: 'flow', t: times }, o, method);
}

/** max over times of |a - b| / sem (sem floored at 1e-12 relative: t = 0 is exact in both) */
function sigmas(a: number[], b: number[], sem: number[]): number {
  return Math.max(...a.map((v, i) => Math.abs(v - b[i]) / Math.max(sem[i], 1e-12 * Math.abs(b[i]))));
}

describe('monte-carlo: linear activation = deep-linear solver', () => {
  const model = { depth: 2, activation: 'linear', gamma0: 1 };
  const exact = solve(parseConfig({ data, model, train: { T: 5, record: 11 }, solver: { method: 'deep-linear', dt: 0.5 } }));
  const o = { samples: 1024, replicas: 8, responseSamples: 16, dt: 0.5 };

  it('full solution (exact responses) within 4 SEM of the deep-linear curves', () => {
    const r = mc(model, o);
    const se = { trainLossSem: r.trainLossSem!, testLossSem: r.testLossSem! };
    expect(sigmas(r.trainLoss, exact.trainLoss, se.trainLossSem)).toBeLessThan(4);
    expect(sigmas(r.testLoss!, exact.testLoss!, se.testLossSem)).toBeLessThan(4);
  });

  it('gradient independence (A = B = 0) is resolved as a different curve: the check above can fail', () => {
    const r = mc(model, o, 'gradient-independent');
    const se = { trainLossSem: r.trainLossSem! };
    expect(sigmas(r.trainLoss, exact.trainLoss, se.trainLossSem)).toBeGreaterThan(5);
  });
});

describe('monte-carlo: L = 1 = two-layer solver', () => {
  // relu: phi' jumps at 0, which the march freezes after a step's first sweep (src/dmft/mc/march.ts); without
  // that the per-step fixed point has no solution for samples near the kink and the solver stops (exit 3)
  it.each(['tanh', 'relu'])(
    '%s: within 4 combined SEM plus the O(dt^2) trapezoid error (dt = 0.125: below 0.2 percent, see below)',
    (activation) => {
      const model = { depth: 1, activation, gamma0: 1.5 };
      const two = solve(parseConfig({ data, model, train: { T: 5, record: 11 }, solver: { method: 'two-layer' } }), { times });
      const r = mc(model, { samples: 2048, replicas: 8, dt: 0.125 });
      const coarse = mc(model, { samples: 2048, replicas: 8, dt: 0.25 });
      const se = { trainLossSem: r.trainLossSem!, testLossSem: r.testLossSem! };
      for (const [curve, sem] of [
        ['trainLoss', 'trainLossSem'],
        ['testLoss', 'testLossSem'],
      ] as const) {
        const ours = r[curve] as number[],
          theirs = two[curve] as number[],
          ref = coarse[curve] as number[];
        const semTwo = two[sem] as number[];
        ours.forEach((v, i) => {
          // Richardson: the O(dt^2) error of the fine grid is about (coarse - fine) / 3
          const disc = Math.abs(ref[i] - v) / 3;
          expect(Math.abs(v - theirs[i])).toBeLessThanOrEqual(4 * Math.hypot(se[sem][i], semTwo[i]) + disc + 1e-12 * theirs[i]);
        });
      }
    },
  );
});

/**
 * Kinked activations read the training outputs off the top layer's fields, f = (1/gamma0) <z^L phi(h^L) - r^L phi(h^L(0))>
 * (McProblem.output in src/dmft/mc/march.ts); L = 1 relu above checks it against the two-layer particles. At depth 2
 * its limit gamma0 -> 0 is the static NTK of THEORY.md section 2, whose closed form (arc-cosine kernels) is
 * independent of the sampler. At gamma0 = 0.01 the feature-learning change of the losses is O(gamma0^2), about 1e-4
 * relative (it is O(1) at gamma0 = 1.5), far below the sampling error, which is the only tolerance: 4 SEM at every
 * time. 8 x 4096 samples make the SEM small enough that a 5% error in the output's scale fails the check (the
 * measured sensitivity: docs/VALIDATION.md, "Moved from code comments").
 */
describe('monte-carlo, relu: outputs read off the fields', () => {
  it('L = 2, gamma0 = 0.01: train and test losses within 4 SEM of the static-NTK curves', () => {
    const model = { depth: 2, activation: 'relu', gamma0: 0.01 };
    const lazy = solveLazy(parseConfig({ data, model, train: { T: 5, record: 11 } }), { kind: 'flow', t: times });
    // the responses are O(gamma0) here: the response samples of 1024 per replica (16 / 256) suffice, not the 64 / 1024 of 4096
    const r = mc(model, { samples: 32768, replicas: 8, dt: 0.25, responseSamples: 16, responseSamplesB: 256 });
    const se = { trainLossSem: r.trainLossSem!, testLossSem: r.testLossSem! };
    expect(sigmas(r.trainLoss, lazy.trainLoss, se.trainLossSem)).toBeLessThan(4);
    expect(sigmas(r.testLoss!, lazy.testLoss!, se.testLossSem)).toBeLessThan(4);
    // the curve moves: the check is not passed by a solution stuck at t = 0
    expect(r.trainLoss[10]).toBeLessThan(0.5 * r.trainLoss[0]);
  });
});

/**
 * meta.consistency: the train loss of the output read off the fields, (1/gamma0) <z^L phi(h^L) - r^L phi(h^L(0))>,
 * equals the NTK flow's at the DMFT fixed point (up to the O(dt^2) of the march; sampling error from the
 * jackknife over replicas), and does not without the responses (gradient independence is no fixed point of the
 * full equations), which the note must flag.
 */
describe('monte-carlo: self-consistency of the output (meta.consistency)', () => {
  type Consistency = { trainLossFromFields: number[]; deviation: number; standardErrors: number; note?: string };
  const model = { depth: 2, activation: 'tanh', gamma0: 1.5 };
  const o = { samples: 512, replicas: 6, responseSamples: 16, dt: 0.25 };

  it('tanh with exact responses: within 4 standard errors, no warning', () => {
    const r = mc(model, o);
    const c = r.meta.consistency as Consistency;
    expect(c.trainLossFromFields).toHaveLength(11);
    expect(c.standardErrors).toBeLessThan(4);
    expect(r.meta.warnings).toBeUndefined();
  });

  it('gradient-independent (A = B = 0): far outside, with the warning', () => {
    const r = mc(model, { samples: 512, replicas: 6, dt: 0.25 }, 'gradient-independent');
    const c = r.meta.consistency as Consistency;
    expect(c.standardErrors).toBeGreaterThan(6); // the exact responses stay below 4 (test above); measured values: docs/VALIDATION.md
    expect(c.deviation).toBeGreaterThan(0.2);
    expect(r.meta.warnings).toHaveLength(1);
    expect(r.meta.warnings![0]).toMatch(/differs from the NTK flow's by up to .*as expected of gradient independence/);
  });
});
