import { describe, expect, it } from 'vitest';
import { parseConfig, type ActivationName } from '../src/core/config.js';
import { halfMeanSquare } from '../src/core/result.js';
import { initialParams, Network, paramCount, paramViews } from '../src/sim/network.js';
import { EULER, LowRankStepper, RK4 } from '../src/sim/stepper.js';

function config(depth: number, act: ActivationName, gamma0 = 0.7) {
  return parseConfig({
    data: { synthetic: { kind: 'sum', P: 5, Ptest: 3, D: 3, seed: 4 } },
    model: { depth, activation: act, gamma0 },
    train: { T: 1, record: 2 },
  });
}

/** A small network with f(0) centering and its parameter vector. */
function setup(depth: number, act: ActivationName, N = 7) {
  const net = new Network(config(depth, act), N);
  const theta = initialParams(net.shape, 0, 3);
  net.evaluate(paramViews(theta, net.shape), net.n, net.n);
  net.f0.set(net.f);
  // move away from the centering point so that Delta != y
  for (let k = 0; k < theta.length; k++) theta[k] += 0.05 * Math.sin(3 * k);
  return { net, theta };
}

function loss(net: Network, theta: Float64Array): number {
  net.evaluate(paramViews(theta, net.shape), net.P, net.P);
  return halfMeanSquare(net.delta);
}

describe('network gradients (THEORY.md section 1)', () => {
  // Central differences of the loss with step e: truncation e^2/6 |Loss'''| ~ 1e-11 and rounding
  // ~ 1e-16 / e ~ 1e-11 for O(1) weights and losses, so 1e-7 of the largest velocity is far above both.
  const e = 1e-5;
  for (const act of ['tanh', 'erf', 'softplus', 'gelu', 'linear', 'relu'] as const)
    for (const depth of [1, 2, 3])
      it(`d theta/dt = -gamma0^2 N dLoss/d theta, ${act}, L = ${depth}`, () => {
        const { net, theta } = setup(depth, act);
        const { N } = net.shape;
        const v = new Float64Array(theta.length);
        net.velocity(paramViews(theta, net.shape), paramViews(v, net.shape), new Float64Array(net.P * N));
        const vmax = Math.max(...Array.from(v, Math.abs));
        expect(vmax).toBeGreaterThan(1e-3);
        for (let k = 0; k < theta.length; k++) {
          const t0 = theta[k];
          theta[k] = t0 + e;
          const lp = loss(net, theta);
          theta[k] = t0 - e;
          const lm = loss(net, theta);
          theta[k] = t0;
          const fd = (-(net.gamma0 ** 2) * N * (lp - lm)) / (2 * e);
          expect(Math.abs(v[k] - fd)).toBeLessThan(1e-7 * vmax);
        }
      });
});

describe('low-rank Runge-Kutta step', () => {
  /** One step of the textbook scheme on the dense velocity: theta + h sum b_s k_s, k_s = F(theta + h a_s k_{s-1}). */
  function denseStep(net: Network, theta: Float64Array, h: number, tab: typeof RK4): Float64Array {
    const n = paramCount(net.shape), U = new Float64Array(net.P * net.shape.N);
    const F = (x: Float64Array) => {
      const v = new Float64Array(n);
      net.velocity(paramViews(x, net.shape), paramViews(v, net.shape), U);
      return v;
    };
    let k = new Float64Array(n);
    const out = Float64Array.from(theta);
    tab.a.forEach((a, s) => {
      k = F(theta.map((x, i) => x + h * a * k[i]));
      for (let i = 0; i < n; i++) out[i] += h * tab.b[s] * k[i];
    });
    return out;
  }

  // Both compute the same arithmetic up to the order of summation: agreement to ~1e-13 of the
  // increment; 1e-10 leaves room for cancellation, while any wrong stage or factor is O(h) off.
  for (const [name, tab] of [['RK4', RK4], ['Euler (gradient descent)', EULER]] as const)
    for (const depth of [1, 2, 3])
      it(`${name}, L = ${depth}: equals the dense step`, () => {
        const { net, theta } = setup(depth, 'tanh', 9);
        const h = 0.3;
        const want = denseStep(net, theta, h, tab);
        let inc = 0;
        for (let i = 0; i < theta.length; i++) inc = Math.max(inc, Math.abs(want[i] - theta[i]));
        expect(inc).toBeGreaterThan(1e-3);
        const stepper = new LowRankStepper(net, theta, tab);
        stepper.firstStage(net.P, net.P);
        stepper.finish(h);
        for (let i = 0; i < theta.length; i++) expect(Math.abs(theta[i] - want[i])).toBeLessThan(1e-10 * inc);
      });
});
