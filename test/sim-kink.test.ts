import { describe, expect, it } from 'vitest';
import { InputError } from '../src/core/errors.js';
import { simulate } from '../src/sim/ensemble.js';
import { DEFAULT_DT, defaultIntegrator, simulateNetwork } from '../src/sim/train.js';
import { parsedConfig } from './helpers.js';

/** The standard problem (P = 10 + 20 test points, D = 8) with a kinked or smooth activation. */
function config(activation: string, depth = 1, train: object = { T: 5, record: 11 }) {
  return parsedConfig({ P: 10, Ptest: 20, D: 8, seed: 0 }, { model: { depth, activation, gamma0: 1.5 }, train });
}

const maxRel = (a: number[], b: number[]) => Math.max(...a.map((x, k) => Math.abs(x - b[k]) / b[k]));

describe('kinked activations: fixed-step RK4 by default (train.ts defaultIntegrator)', () => {
  it('relu defaults to rk4 at DEFAULT_DT, the smooth activations to ck; the meta says which', () => {
    expect(defaultIntegrator(config('relu'))).toBe('rk4');
    for (const a of ['linear', 'tanh', 'erf', 'softplus', 'gelu']) expect(defaultIntegrator(config(a))).toBe('ck');
    const relu = simulate(config('relu', 1, { T: 1, record: 3 }), { width: 16, seeds: 2 });
    expect(relu.meta).toMatchObject({ integrator: 'rk4', dt: DEFAULT_DT, steps: Math.round(1 / DEFAULT_DT) });
    expect(relu.meta.tol).toBeUndefined();
    const tanh = simulate(config('tanh', 1, { T: 1, record: 3 }), { width: 16, seeds: 2 });
    expect(tanh.meta).toMatchObject({ integrator: 'ck', tol: 1e-7 });
  });

  it('ck stays available for relu (explicitly, or by giving tol), dt alone selects rk4; gradient descent is unaffected', () => {
    const cfg = config('relu', 1, { T: 1, record: 3 });
    const ck = simulate(cfg, { width: 8, seeds: 1, integrator: 'ck' });
    expect(ck.meta).toMatchObject({ integrator: 'ck', tol: 1e-7 });
    expect(simulateNetwork(cfg, { width: 8, seed: 0, tol: 1e-6 }).integrator).toBe('ck');
    expect(simulate(cfg, { width: 8, seeds: 1, dt: 0.1 }).meta).toMatchObject({ integrator: 'rk4', dt: 0.1 });
    // both integrators converge to the same flow: at this size (few crossings) they agree to RK4's smooth error
    const rk4 = simulate(cfg, { width: 8, seeds: 1 });
    expect(maxRel(rk4.trainLoss, ck.trainLoss)).toBeLessThan(1e-3);
    expect(() => simulateNetwork(cfg, { width: 8, seed: 0, integrator: 'rk4', tol: 1e-6 })).toThrow(InputError);
    const gd = simulate(config('relu', 1, { steps: 10, lr: 0.5, record: 3 }), { width: 8, seeds: 1 });
    expect(gd.meta).toMatchObject({ integrator: 'gd', steps: 10 });
  });

  // Where the flow is smooth RK4's global error is O(h^4), ~1e-6 at h = 0.05. A step in which a
  // preactivation h_{i mu} crosses the kink errs instead by O(h J) in neuron i's weights, J the jump of their
  // velocity when phi'(h_{i mu}) jumps by 1 (THEORY.md section 1: J ~ rate / P), with the sign set by where in
  // the step the crossing falls (RMS ~ 0.1 h J). Over the n_c ~ N P / 4 (per layer) crossings up to T = 5
  // these add in quadrature: relative loss error ~ 0.2 h sqrt(n_c) / (N P), ~1e-4 for L = 1 at N = 400 and
  // ~2e-4 for L = 2 at N = 200; the run at h/4 carries a quarter of it. We require 2e-3 at every time, an
  // order of magnitude above the estimate and well below 1%. (A tight-tolerance ck is no reference here:
  // its step collapses at the crossings.)
  for (const [depth, width] of [
    [1, 400],
    [2, 200],
  ])
    it(`relu L = ${depth}, N = ${width}: rk4 at the default dt agrees with rk4 at dt/4 to 0.2%`, () => {
      const cfg = config('relu', depth);
      const a = simulateNetwork(cfg, { width, seed: 0 });
      const b = simulateNetwork(cfg, { width, seed: 0, dt: DEFAULT_DT / 4 });
      expect(a.integrator).toBe('rk4');
      expect(a.steps).toBe(Math.round(5 / DEFAULT_DT));
      const train = maxRel(a.trainLoss, b.trainLoss),
        test = maxRel(a.testLoss!, b.testLoss!);
      console.log(
        `relu L=${depth} N=${width}: rk4 dt=${DEFAULT_DT} vs dt/4, max rel train ${train.toExponential(2)}, test ${test.toExponential(2)}`,
      );
      expect(train).toBeLessThan(2e-3);
      expect(test).toBeLessThan(2e-3);
      // the losses moved by far more than the tolerance, so the comparison can fail
      expect(a.trainLoss[0] / a.trainLoss.at(-1)!).toBeGreaterThan(2);
    });
});
