import { describe, expect, it } from 'vitest';
import ode45 from 'ode45-cash-karp';
import { dormandPrince } from '../src/core/ode.js';
import { ConvergenceError } from '../src/core/errors.js';

/** Dense-output states at `times`, copied. */
function solveAt(y0: number[], f: (y: Float64Array, d: Float64Array) => void, times: number[], tol: number): number[][] {
  const out: number[][] = [];
  dormandPrince(Float64Array.from(y0), f, times, tol, Infinity, (_, y) => out.push(Array.from(y)));
  return out;
}

describe('Dormand-Prince 5(4) with dense output', () => {
  // times off any step grid, including t = 0 and repeated small gaps
  const times = [0, 0.013, 0.4, 1.7, 1.71, 3.3, 7.77, 10];

  it('harmonic oscillator: the closed form at every requested time, error shrinking with tol', () => {
    const f = (y: Float64Array, d: Float64Array) => ((d[0] = y[1]), (d[1] = -y[0]));
    const errorAt = (tol: number) =>
      Math.max(...solveAt([1, 0], f, times, tol).map((y, i) => Math.hypot(y[0] - Math.cos(times[i]), y[1] + Math.sin(times[i]))));
    const e6 = errorAt(1e-6),
      e9 = errorAt(1e-9);
    // local error per unit step <= tol: a global error of a few tol over 10 time units; 4th-order dense output
    expect(e6).toBeLessThan(1e-4);
    expect(e9).toBeLessThan(1e-7);
    expect(e9).toBeLessThan(e6 / 30);
  });

  it('van der Pol: agrees with ode45-cash-karp at tight tolerance', () => {
    const mu = 2;
    const f = (y: Float64Array | number[], d: Float64Array | number[]) => ((d[0] = y[1]), (d[1] = mu * (1 - y[0] * y[0]) * y[1] - y[0]));
    const ours = solveAt([2, 0], f, times, 1e-10);
    const ref = ode45([2, 0], (d, y) => f(y, d), 0, 1e-4, { tol: 1e-12, verbose: false });
    times.forEach((t, i) => {
      while (ref.step(t));
      expect(Math.abs(ours[i][0] - ref.y[0])).toBeLessThan(1e-7);
      expect(Math.abs(ours[i][1] - ref.y[1])).toBeLessThan(1e-7);
    });
  });

  it('a blow-up is reported as non-convergence, not a silent number', () => {
    const f = (y: Float64Array, d: Float64Array) => void (d[0] = y[0] * y[0]);
    // y' = y^2, y(0) = 1 blows up at t = 1
    expect(() => solveAt([1], f, [0, 2], 1e-8)).toThrow(ConvergenceError);
  });
});
