import { describe, expect, it } from 'vitest';
import { ConvergenceError } from '../src/core/errors.js';
import { simulate } from '../src/sim/ensemble.js';
import { simulateNetwork, SimulationDiverged } from '../src/sim/train.js';
import { parsedConfig, refusal } from './helpers.js';

function config(extra: { model?: object; train?: object; output?: object } = {}) {
  return parsedConfig(
    { kind: 'sum', P: 8, Ptest: 5, D: 6, seed: 2 },
    {
      model: { depth: 2, activation: 'tanh', gamma0: 1.5, ...extra.model },
      train: extra.train ?? { T: 2, record: 5 },
      ...(extra.output ? { output: extra.output } : {}),
    },
  );
}

const maxAbs = (a: number[]) => Math.max(...a.map(Math.abs));

describe('df/dt = (1/P) K(t) Delta(t) with the empirical NTK, at any width (THEORY.md section 2)', () => {
  // df/dt at t* from the recorded trajectory by the 5-point stencil D(h) = [f(-2h) - 8f(-h) + 8f(h) - f(2h)] / 12h.
  // Error budget: truncation c h^4, estimated from the same data as |D(2h) - D(h)| / 15 (doubled for the
  // next order); integrator: Cash-Karp tol 1e-10 per step on every weight, ~40 steps, times 1.5/h from
  // the stencil: 5e-7 of the scale. A wrong factor in any gradient or kernel is O(1) off.
  const h = 0.0125,
    tStar = 0.5;
  for (const N of [64, 1024])
    it(`N = ${N}, L = 2, train and test points`, () => {
      const cfg = config({ output: { kernels: true } });
      const times = [-4, -3, -2, -1, 0, 1, 2, 3, 4].map((k) => tStar + k * h);
      const run = simulateNetwork(cfg, { width: N, seed: 0, tol: 1e-10, times });
      const P = cfg.data.X.length;
      const f = (k: number) => [...run.predictions.train[k + 4], ...run.predictions.test![k + 4]];
      const D = (m: number) => f(0).map((_, mu) => (f(-2 * m)[mu] - 8 * f(-m)[mu] + 8 * f(m)[mu] - f(2 * m)[mu]) / (12 * m * h));
      const D1 = D(1),
        D2 = D(2);
      const K = run.kernels![4].ntk;
      const delta = cfg.data.y.map((y, a) => y - f(0)[a]);
      const KDelta = K.map((row) => row.slice(0, P).reduce((s, k, a) => s + k * delta[a], 0) / P);
      const scale = maxAbs(KDelta);
      const err = maxAbs(D1.map((d, mu) => d - KDelta[mu])) / scale;
      const truncation = maxAbs(D1.map((d, mu) => d - D2[mu])) / 15 / scale;
      console.log(
        `identity N=${N}: max |df/dt - K Delta/P| / max |K Delta/P| = ${err.toExponential(2)} (truncation estimate ${truncation.toExponential(2)})`,
      );
      expect(scale).toBeGreaterThan(0.05);
      expect(err).toBeLessThan(2 * truncation + 5e-7);
    });
});

describe('integrators', () => {
  it('RK4 and Cash-Karp agree; RK4 lands exactly on record times off its grid', () => {
    // RK4 global error ~ dt^4 |f^(5)| T ~ 1e-5 * 2 at dt = 0.05 for O(1) rates; CK at 1e-9 is far closer.
    const cfg = config();
    const times = [0, 0.33, 1.01, 2];
    const a = simulateNetwork(cfg, { width: 48, seed: 1, integrator: 'rk4', dt: 0.05, times });
    const b = simulateNetwork(cfg, { width: 48, seed: 1, tol: 1e-9, times });
    expect(a.t).toEqual(times);
    for (let k = 0; k < times.length; k++) expect(Math.abs(a.trainLoss[k] - b.trainLoss[k])).toBeLessThan(1e-5 * a.trainLoss[0]);
    // stepping past 0.33 by a whole step (to 0.35) would move the loss by ~ 0.02 * dLoss/dt, far above 1e-5
    expect(Math.abs(a.trainLoss[1] - a.trainLoss[0])).toBeGreaterThan(1e-2 * a.trainLoss[0]);
  });

  it('gradient descent approaches gradient flow with error O(lr)', () => {
    // Euler's global error is c lr + O(lr^2): halving lr halves the gap to the flow (ratio 0.5 + O(lr)).
    const flow = simulateNetwork(config(), { width: 32, seed: 2, tol: 1e-10, times: [0, 0.5, 1, 1.5, 2] });
    const gap = (lr: number) => {
      const gd = simulateNetwork(config({ train: { steps: Math.round(2 / lr), lr, record: 5 } }), { width: 32, seed: 2 });
      expect(gd.t.map((t) => +t.toFixed(12))).toEqual(flow.t);
      return maxAbs(gd.trainLoss.map((l, k) => l - flow.trainLoss[k]));
    };
    const g1 = gap(0.02),
      g2 = gap(0.01);
    expect(g1).toBeGreaterThan(0);
    expect(g2 / g1).toBeGreaterThan(0.4);
    expect(g2 / g1).toBeLessThan(0.6);
    expect(g2).toBeLessThan(0.02 * flow.trainLoss[0]);
  });

  it('a too large learning rate stops with a ConvergenceError keeping what was recorded', () => {
    const cfg = config({ train: { steps: 400, lr: 50, record: 401 } });
    let caught: unknown;
    try {
      simulateNetwork(cfg, { width: 16, seed: 0 });
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ConvergenceError);
    const e = caught as SimulationDiverged;
    expect(e.message).toMatch(/diverged at t = .*lower train\.lr/);
    expect(e.partial.t.length).toBeGreaterThan(0);
    expect(e.partial.t.length).toBeLessThan(401);
    expect(e.partial.trainLoss.every(Number.isFinite)).toBe(true);
  });
});

describe('seeds', () => {
  it('the same seed gives the same numbers, other seeds differ', () => {
    const cfg = config();
    const a = simulateNetwork(cfg, { width: 24, seed: 3, integrator: 'rk4' });
    const b = simulateNetwork(cfg, { width: 24, seed: 3, integrator: 'rk4' });
    const c = simulateNetwork(cfg, { width: 24, seed: 4, integrator: 'rk4' });
    expect(b).toEqual(a);
    expect(c.trainLoss[4]).not.toBe(a.trainLoss[4]);
  });

  it("a seed's result does not depend on how many others run; mean and SEM over seeds", () => {
    const cfg = config();
    const single = [0, 1, 2].map((seed) => simulateNetwork(cfg, { width: 24, seed, integrator: 'rk4' }));
    const ens = simulate(cfg, { width: 24, seeds: 3, integrator: 'rk4' });
    const one = simulate(cfg, { width: 24, seeds: 1, integrator: 'rk4' });
    expect(one.trainLoss).toEqual(single[0].trainLoss);
    expect(ens.width).toBe(24);
    expect(ens.seeds).toBe(3);
    expect(ens.meta.method).toBe('simulate');
    ens.t.forEach((_, k) => {
      const x = single.map((r) => r.trainLoss[k]);
      const m = (x[0] + x[1] + x[2]) / 3;
      const sd = Math.sqrt(x.reduce((s, v) => s + (v - m) ** 2, 0) / 2);
      expect(ens.trainLoss[k]).toBeCloseTo(m, 14);
      expect(ens.trainLossSem![k]).toBeCloseTo(sd / Math.sqrt(3), 14);
      const xt = single.map((r) => r.testLoss![k]);
      expect(ens.testLoss![k]).toBeCloseTo((xt[0] + xt[1] + xt[2]) / 3, 14);
    });
    expect(ens.trainLossSem![0]).toBe(0); // centered: every seed starts at f = 0
    expect(ens.ntkFinal).toHaveLength(8);
  });

  it('opt-in predictions and kernels are the means over seeds, train then test points', () => {
    const cfg = config({ output: { kernels: true, predictions: true } });
    const ens = simulate(cfg, { width: 16, seeds: 2, integrator: 'rk4' });
    const runs = [0, 1].map((seed) => simulateNetwork(cfg, { width: 16, seed, integrator: 'rk4' }));
    const k = ens.kernels as { Phi: number[][][][]; G: number[][][][]; ntk: number[][][] };
    // layer-major, as the solvers report them: Phi[l - 1][k] = Phi^l at t[k]
    expect(k.Phi).toHaveLength(2); // Phi^1, Phi^2
    expect(k.Phi[1]).toHaveLength(5); // recorded times
    expect(k.G[1][4]).toHaveLength(13); // G^2 over 8 train + 5 test points
    expect(k.G[1][4][12][3]).toBeCloseTo((runs[0].kernels![4].G[1][12][3] + runs[1].kernels![4].G[1][12][3]) / 2, 14);
    expect(k.Phi[0][3][2][7]).toBeCloseTo((runs[0].kernels![3].Phi[0][2][7] + runs[1].kernels![3].Phi[0][2][7]) / 2, 14);
    expect(k.ntk[4][12][3]).toBeCloseTo((runs[0].kernels![4].ntk[12][3] + runs[1].kernels![4].ntk[12][3]) / 2, 14);
    // the train block of the last NTK is ntkFinal
    expect(ens.ntkFinal[2][5]).toBeCloseTo(k.ntk[4][2][5], 14);
    expect(ens.predictions!.test![3][4]).toBeCloseTo((runs[0].predictions.test![3][4] + runs[1].predictions.test![3][4]) / 2, 14);
    expect(ens.predictions!.train[0]).toEqual(new Array(8).fill(0)); // centered
  });

  it('NTK parameterization is the network with gamma0 = gamma0_ntk / sqrt(N)', () => {
    const a = simulateNetwork(config({ model: { gamma0: 2, parameterization: 'ntk' } }), { width: 64, seed: 0, integrator: 'rk4' });
    const b = simulateNetwork(config({ model: { gamma0: 2 / 8 } }), { width: 64, seed: 0, integrator: 'rk4' });
    expect(a.gamma0).toBe(0.25);
    expect(a.trainLoss).toEqual(b.trainLoss);
  });
});

describe('bad input', () => {
  const refused = (f: () => unknown, field: string) => expect(refusal(f).field).toBe(field);
  it('names the field', () => {
    const cfg = config();
    refused(() => simulateNetwork(config({ model: { gamma0: 0 } }), { width: 8, seed: 0 }), 'model.gamma0');
    refused(() => simulateNetwork(cfg, { width: 0, seed: 0 }), 'width');
    refused(() => simulateNetwork(cfg, { width: 2.5, seed: 0 }), 'width');
    refused(() => simulateNetwork(cfg, { width: 8, seed: -1 }), 'seed');
    refused(() => simulateNetwork(cfg, { width: 8, seed: 0, integrator: 'rk4', dt: 0 }), 'dt');
    refused(() => simulateNetwork(cfg, { width: 8, seed: 0, tol: NaN }), 'tol');
    refused(() => simulateNetwork(cfg, { width: 8, seed: 0, integrator: 'euler' as 'ck' }), 'integrator');
    refused(() => simulateNetwork(cfg, { width: 8, seed: 0, times: [1, 0.5] }), 'times[1]');
    refused(() => simulateNetwork(config({ train: { steps: 10, lr: 0.1, record: 2 } }), { width: 8, seed: 0, times: [0.15] }), 'times[0]');
    refused(() => simulate(cfg, { width: 8, seeds: 0 }), 'seeds');
  });
});
