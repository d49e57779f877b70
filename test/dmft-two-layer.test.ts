import { describe, expect, it } from 'vitest';
import type { Result } from '../src/core/result.js';
import { solve } from '../src/dmft/solve.js';
import { solveLazy } from '../src/theory/lazy.js';
import { parsedConfig } from './helpers.js';

const config = (activation: string, gamma0: number, train: Record<string, number>, solver: Record<string, unknown> = {}) =>
  parsedConfig(
    { kind: 'sum', P: 8, Ptest: 6, D: 4, seed: 5 },
    { model: { depth: 1, activation, gamma0 }, train, solver: { method: 'two-layer', ...solver } },
  );

const relDev = (a: readonly number[], b: readonly number[]) => a.map((v, i) => Math.abs(v / b[i] - 1));
const sem = (r: Result, key: 'trainLossSem' | 'testLossSem') => r[key]!;

describe('two-layer DMFT (particles)', () => {
  it('linear activation: agrees with the deep-linear solver within the sampling error', () => {
    const particles = solve(config('linear', 1, { T: 6, record: 7 }));
    const exact = solve(config('linear', 1, { T: 6, record: 7 }, { method: 'deep-linear', dt: 0.02 }));
    expect(exact.meta.errorEstimate as number).toBeLessThan(1e-4);
    // THEORY.md section 5: sampling error O(1/sqrt(S)) (replica standard error, 4 sigma), plus the
    // deep-linear discretization error (< 1e-4 above); measured deviation ~0.1%, well inside.
    for (const [key, semKey] of [
      ['trainLoss', 'trainLossSem'],
      ['testLoss', 'testLossSem'],
    ] as const) {
      const s = sem(particles, semKey);
      particles[key]!.forEach((v, i) => expect(Math.abs(v - exact[key]![i])).toBeLessThanOrEqual(4 * s[i] + 1e-4 * exact[key]![i]));
    }
    expect(particles.meta.errorEstimate as number).toBeLessThan(0.01);
  });

  it('gamma0 -> 0 (tanh): reproduces the static-NTK curves to the ODE tolerance', () => {
    const cfg = config('tanh', 1e-6, { T: 6, record: 7 }, { tol: 1e-9, samples: 2048, controlVariate: true });
    const r = solve(cfg);
    const lazy = solveLazy(cfg);
    // the particles' own lazy dynamics minus its exact solution (the control variate) leaves the
    // ODE error (tol 1e-9 per step) and the O(gamma0) feature learning: 1e-6 relative
    expect(Math.max(...relDev(r.trainLoss, lazy.trainLoss), ...relDev(r.testLoss!, lazy.testLoss!))).toBeLessThan(1e-6);
  });

  it('gradient descent at gamma0 -> 0 equals the lazy gradient-descent curves (Euler steps are exact)', () => {
    const cfg = config('erf', 1e-7, { steps: 40, lr: 0.5, record: 5 }, { samples: 2048, controlVariate: true });
    const r = solve(cfg);
    const lazy = solveLazy(cfg);
    expect(r.t).toEqual(lazy.t);
    expect(Math.max(...relDev(r.trainLoss, lazy.trainLoss), ...relDev(r.testLoss!, lazy.testLoss!))).toBeLessThan(1e-6);
  });

  it('control variate (solver.controlVariate): near the lazy limit it shrinks the replica spread >= 2x, same curves', () => {
    // gamma0 = 0.1: the sampled-NTK lazy curves carry most of each replica's sampling error (the gain fades as
    // gamma0 grows, hence off by default; measured ratios: docs/VALIDATION.md). Both estimate the same limit from the same particle
    // trajectories: their difference is the correction alone, within the combined sampling error (4 sigma,
    // THEORY.md section 5).
    const cfg = (controlVariate: boolean) => config('tanh', 0.1, { T: 6, record: 7 }, { samples: 8192, replicas: 8, controlVariate });
    const plain = solve(cfg(false)),
      cv = solve(cfg(true));
    expect(plain.meta.controlVariate).toBe(false);
    expect(cv.meta.controlVariate).toBe(true);
    expect(cv.meta.errorEstimate as number).toBeLessThan((plain.meta.errorEstimate as number) / 2);
    for (const [key, semKey] of [
      ['trainLoss', 'trainLossSem'],
      ['testLoss', 'testLossSem'],
    ] as const) {
      const sp = sem(plain, semKey),
        sc = sem(cv, semKey);
      cv[key]!.forEach((v, i) => expect(Math.abs(v - plain[key]![i])).toBeLessThanOrEqual(4 * Math.hypot(sp[i], sc[i])));
    }
  });

  it('is reproducible: same seed, same numbers; another seed differs within the sampling error', () => {
    const cfg = (seed: number) => config('relu', 1, { T: 4, record: 5 }, { seed, samples: 4096 });
    const a = solve(cfg(3)),
      b = solve(cfg(3)),
      c = solve(cfg(4));
    expect(a.trainLoss).toEqual(b.trainLoss);
    expect(a.testLoss).toEqual(b.testLoss);
    expect(c.trainLoss[4]).not.toEqual(a.trainLoss[4]);
    const sa = sem(a, 'trainLossSem'),
      sc = sem(c, 'trainLossSem');
    a.trainLoss.forEach((v, i) => expect(Math.abs(v - c.trainLoss[i])).toBeLessThanOrEqual(5 * Math.hypot(sa[i], sc[i]) + 1e-12));
  });
});

describe('two-layer DMFT divergence', () => {
  it('gradient descent with a step far beyond stability is a ConvergenceError, not a silent result', () => {
    const cfg = config('linear', 1, { steps: 400, lr: 50, record: 3 }, { samples: 256 });
    expect(() => solve(cfg)).toThrowError(/two-layer: diverged at t = \d+: the (train loss reached|outputs became NaN)/);
  });
});
