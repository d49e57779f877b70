// solver.method "perturbative" (docs/perturbation-theory.md): the O(gamma0^2) theory against the lazy limit, its own closed
// form, the deep-linear DMFT (no sampling error: the difference must scale as gamma0^4), the two-layer and Monte Carlo
// solvers (the gamma0^2 coefficient of the loss) and gradient independence. Every tolerance names its error source.
import { describe, expect, it } from 'vitest';
import type { Result } from '../src/core/result.js';
import { solve } from '../src/dmft/solve.js';
import { LazySignal, linearSecondOrder, sampledSecondOrder } from '../src/dmft/perturbative.js';
import { initialKernels } from '../src/theory/kernels.js';
import { solveLazy } from '../src/theory/lazy.js';
import { allInputs } from '../src/core/schedule.js';
import { parsedConfig, refusal } from './helpers.js';

type Solver = Record<string, unknown>;
const config = (
  data: { kind: 'linear' | 'single-index'; P: number; Ptest: number; seed: number },
  model: { depth: number; activation: string; gamma0: number },
  train: { T: number; record: number },
  solver: Solver,
  output: Record<string, boolean> = {},
) => parsedConfig({ ...data, D: 8 }, { model, train, solver, output });

const last = (r: Result) => r.trainLoss[r.trainLoss.length - 1];
const coefficient = (r: Result) => (r.meta.method === 'perturbative' ? r.meta.lossCoefficient : undefined)!;
const coefficientSem = (r: Result) => (r.meta.method === 'perturbative' ? r.meta.lossCoefficientSem : undefined)!;

/** Least-squares slope of log|y| against log x. */
function logSlope(x: number[], y: number[]): number {
  const lx = x.map(Math.log),
    ly = y.map((v) => Math.log(Math.abs(v)));
  const mx = lx.reduce((a, b) => a + b) / lx.length,
    my = ly.reduce((a, b) => a + b) / ly.length;
  let num = 0,
    den = 0;
  lx.forEach((v, i) => ((num += (v - mx) * (ly[i] - my)), (den += (v - mx) ** 2)));
  return num / den;
}

describe('perturbative: the lazy limit and the closed form', () => {
  it('gamma0 = 0 gives the static-NTK curves and predictions (linear depth 3, tanh depth 2; both expansions)', () => {
    for (const [activation, depth] of [
      ['linear', 3],
      ['tanh', 2],
    ] as const)
      for (const expansion of ['kernel', 'linear']) {
        const data = { kind: 'single-index' as const, P: 6, Ptest: 4, seed: 2 };
        const train = { T: 10, record: 11 };
        const model = { depth, activation, gamma0: 0 };
        const out = { predictions: true };
        const lazy = solveLazy(config(data, model, train, { method: 'static-ntk' }, out));
        const pert = solve(config(data, model, train, { method: 'perturbative', expansion, samples: 256 }, out));
        // 'linear': Delta = Delta_0 + 0, the lazy formula in other floating-point order (rounding, 1e-12);
        // 'kernel': Dormand-Prince on dDelta/dt = -K_0 Delta / P with RMS local error tol = 1e-11 per step
        // (a few hundred steps): 1e-8 is far above that bound
        const tol = expansion === 'linear' ? 1e-12 : 1e-8;
        pert.trainLoss.forEach((v, k) => expect(Math.abs(v - lazy.trainLoss[k])).toBeLessThan(tol * lazy.trainLoss[0]));
        pert.testLoss!.forEach((v, k) => expect(Math.abs(v - lazy.testLoss![k])).toBeLessThan(tol * lazy.testLoss![0]));
        pert.predictions!.test!.forEach((f, k) =>
          f.forEach((v, j) => expect(Math.abs(v - lazy.predictions!.test![k][j])).toBeLessThan(tol)),
        );
        expect(pert.meta.method).toBe('perturbative');
      }
  });

  it('the sampled expectations reproduce the deep-linear closed form K_2 = c_L [(m^T K m) K + K m m^T K] within their sampling error', () => {
    const cfg = config(
      { kind: 'linear', P: 5, Ptest: 3, seed: 1 },
      { depth: 2, activation: 'linear', gamma0: 0.5 },
      { T: 4, record: 3 },
      {},
    );
    const X = allInputs(cfg);
    const k0 = initialKernels(X, 2, 'linear');
    const lazy = new LazySignal(k0.ntk, 5, cfg.data.y);
    const t = Float64Array.from([0, 1, 2, 4]);
    const replicas = 8;
    const { sums, perReplica } = sampledSecondOrder(k0, 'linear', undefined, lazy, t, 5, false, 2048, replicas, 3);
    const n = X.length;
    for (let k = 1; k < t.length; k++) {
      const closed = linearSecondOrder(k0.Kx, 5, 2, lazy.m(t[k]), 5, false).ntk;
      for (let x = 0; x < n * 5; x++) {
        const reps = perReplica.map((r) => r[k][x]);
        const mean = reps.reduce((a, b) => a + b) / replicas;
        const sem = Math.sqrt(reps.reduce((a, b) => a + (b - mean) ** 2, 0) / (replicas - 1) / replicas);
        expect(Math.abs(sums[k].ntk[x] - mean)).toBeLessThan(1e-12 * (1 + Math.abs(mean)));
        // the replica mean against the exact value: 5 standard errors (40 entries x 3 times checked), plus rounding
        expect(Math.abs(mean - closed[x])).toBeLessThanOrEqual(5 * sem + 1e-10 * (1 + Math.abs(closed[x])));
      }
    }
  });

  it('refuses relu (phi is differentiated three times) and gradient descent, and names its options', () => {
    const data = { kind: 'single-index' as const, P: 4, Ptest: 0, seed: 1 };
    expect(
      refusal(() => solve(config(data, { depth: 1, activation: 'relu', gamma0: 1 }, { T: 1, record: 2 }, { method: 'perturbative' })))
        .field,
    ).toBe('solver.method');
    const gd = parsedConfig(
      { ...data, D: 8 },
      { model: { depth: 1, activation: 'tanh', gamma0: 1 }, train: { steps: 10, lr: 0.1, record: 5 }, solver: { method: 'perturbative' } },
    );
    expect(refusal(() => solve(gd)).field).toBe('train.steps');
    expect(
      refusal(() =>
        solve(config(data, { depth: 1, activation: 'tanh', gamma0: 1 }, { T: 1, record: 2 }, { method: 'perturbative', replica: 3 })),
      ).field,
    ).toBe('solver.replica');
  });
});

describe('perturbative against the full DMFT', () => {
  it('deep linear (L = 2, 3): |deep-linear - perturbative| in the loss scales as gamma0^4 over [0.05, 0.3]', () => {
    // The deep-linear solver (trapezoid / Crank-Nicolson) has an O(dt^2) time-step error. Its gamma0-independent part
    // cancels in full(gamma0) - full(0) at the same dt, the rest (O(dt^2 gamma0^2)) by Richardson over dt and dt/2,
    // leaving O(dt^4) (measured: ~1e-12 here, against differences >= 5e-8 at gamma0 = 0.05); its per-step fixed point
    // runs to tol 1e-13. The perturbative side is the closed form with the flow integrated to tol 1e-13.
    const data = { kind: 'linear' as const, P: 4, Ptest: 2, seed: 3 };
    const train = { T: 1, record: 3 };
    const gammas = [0.05, 0.0866, 0.15, 0.3];
    for (const depth of [2, 3]) {
      const model = (gamma0: number) => ({ depth, activation: 'linear', gamma0 });
      const full = (g: number, dt: number) =>
        last(solve(config(data, model(g), train, { method: 'deep-linear', dt, tol: 1e-13, maxIterations: 200, errorEstimate: false })));
      const dt = 0.025;
      const f0 = [full(0, dt), full(0, dt / 2)];
      const lazy = last(solveLazy(config(data, model(0), train, { method: 'static-ntk' })));
      const diffs = gammas.map((g) => {
        const coarse = full(g, dt) - f0[0],
          fine = full(g, dt / 2) - f0[1];
        const extrapolated = fine + (fine - coarse) / 3;
        const pert = last(solve(config(data, model(g), train, { method: 'perturbative', tol: 1e-13 }))) - lazy;
        // the extrapolation's own size (fine - coarse) bounds the step error left after it by far
        expect(Math.abs(fine - coarse) * (dt / 2) ** 2).toBeLessThan(0.01 * Math.abs(extrapolated - pert));
        return extrapolated - pert;
      });
      const slope = logSlope(gammas, diffs);
      expect(Math.abs(slope - 4)).toBeLessThan(0.3);
      // and towards gamma0 -> 0 the local slope tends to 4 (the O(gamma0^6) terms bend it at the large end)
      expect(Math.abs(logSlope(gammas.slice(0, 2), diffs.slice(0, 2)) - 4)).toBeLessThan(0.1);
    }
  }, 60_000);

  const tanhData = { kind: 'single-index' as const, P: 4, Ptest: 0, seed: 1 };
  const tanhTrain = { T: 5, record: 6 };

  /**
   * The gamma0^2 coefficient of the loss from solves at gamma0 = 0, g, 2g with one seed (common random numbers):
   * D(gamma) = (Loss(gamma) - Loss(0)) / gamma^2 = c2 + c4 gamma^2 + ..., so c2 = (4 D(g) - D(2g)) / 3 removes the c4
   * term; its sampling error from the solver's trainLossSem (that of each loss, an upper bound for the difference's).
   */
  const richardson = (run: (g: number) => Result, g: number) => {
    const r0 = run(0),
      r1 = run(g),
      r2 = run(2 * g);
    return r0.trainLoss.map((l0, k) => {
      const d1 = (r1.trainLoss[k] - l0) / g ** 2,
        d2 = (r2.trainLoss[k] - l0) / (2 * g) ** 2;
      const s1 = r1.trainLossSem![k] / g ** 2,
        s2 = r2.trainLossSem![k] / (2 * g) ** 2;
      return { c2: (4 * d1 - d2) / 3, sem: Math.sqrt(16 * s1 * s1 + s2 * s2) / 3 };
    });
  };

  it('tanh L = 1: the gamma0^2 loss coefficient equals the two-layer solver`s within its sampling error', () => {
    // The two-layer particles' reported trainLossSem includes their O(1) NTK noise, which cancels between solves of one
    // seed; the coefficient's actual error is measured from the spread over 4 seeds (each seed's Richardson estimate).
    // Two replicas of 8192 keep the particles' O(1/M) bias (a population is a width-M network) at about 1% of c2.
    const data = { kind: 'single-index' as const, P: 6, Ptest: 4, seed: 1 };
    const model = (gamma0: number) => ({ depth: 1, activation: 'tanh', gamma0 });
    const perSeed = [0, 1, 2, 3].map((seed) =>
      richardson((g) => solve(config(data, model(g), tanhTrain, { method: 'two-layer', samples: 16384, replicas: 2, seed })), 0.1),
    );
    const pert = solve(config(data, model(0.1), tanhTrain, { method: 'perturbative', samples: 65536 }));
    const c = coefficient(pert).train,
      cs = coefficientSem(pert).train;
    for (let k = 1; k < c.length; k++) {
      const v = perSeed.map((s) => s[k].c2);
      const mean = v.reduce((a, b) => a + b) / v.length;
      const sem = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1) / v.length);
      expect(Math.abs(mean - c[k])).toBeLessThan(3 * Math.hypot(sem, cs[k]));
    }
  }, 60_000);

  it('tanh L = 2: the gamma0^2 loss coefficient equals the Monte Carlo solver`s within its sampling error', () => {
    const model = (gamma0: number) => ({ depth: 2, activation: 'tanh', gamma0 });
    const mc = richardson((g) => solve(config(tanhData, model(g), tanhTrain, { method: 'monte-carlo', samples: 4096, seed: 0 })), 0.1);
    const pert = solve(config(tanhData, model(0.1), tanhTrain, { method: 'perturbative', samples: 32768 }));
    const c = coefficient(pert).train,
      cs = coefficientSem(pert).train;
    for (let k = 1; k < c.length; k++) expect(Math.abs(mc[k].c2 - c[k])).toBeLessThan(3 * Math.hypot(mc[k].sem, cs[k]));
  }, 60_000);

  it('gradient independence (A = B = 0) and perturbation theory are different curves (tanh L = 2)', () => {
    // At L >= 2 the responses enter K_2 (M^l, N^l, the equal-time term): gradient independence drops them, so at
    // O(gamma0^2) the two differ; at gamma0 = 0.5 by far more than both curves' sampling errors.
    const model = { depth: 2, activation: 'tanh', gamma0: 0.5 };
    const gi = solve(config(tanhData, model, tanhTrain, { method: 'gradient-independent', samples: 4096, seed: 1 }));
    const pert = solve(config(tanhData, model, tanhTrain, { method: 'perturbative' }));
    const k = gi.trainLoss.length - 1;
    const gap = Math.abs(gi.trainLoss[k] - pert.trainLoss[k]);
    expect(gap).toBeGreaterThan(5 * (gi.trainLossSem![k] + pert.trainLossSem![k]));
  }, 60_000);
});
