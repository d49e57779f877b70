import { describe, expect, it } from 'vitest';
import ode45 from 'ode45-cash-karp';
import { Matrix, solve as linearSolve } from 'ml-matrix';
import type { Config } from '../src/core/config.js';
import { GaussianSampler } from '../src/core/gaussian.js';
import { fromRows } from '../src/core/linalg.js';
import { stream } from '../src/core/rng.js';
import { inputCoordinates } from '../src/dmft/coordinates.js';
import { solveDeepLinear, type DeepLinearSolution } from '../src/dmft/deep-linear.js';
import { memoryWeights, timeRule } from '../src/dmft/grid.js';
import { solve } from '../src/dmft/solve.js';
import { initialKernels, inputKernel } from '../src/theory/kernels.js';
import { solveLazy } from '../src/theory/lazy.js';
import { allInputs } from '../src/core/schedule.js';
import { parsedConfig } from './helpers.js';

const config = (depth: number, gamma0: number, T: number, record: number, solver: Record<string, unknown> = {}): Config =>
  parsedConfig(
    { kind: 'sum', P: 8, Ptest: 6, D: 4, seed: 5 },
    { model: { depth, activation: 'linear', gamma0 }, train: { T, record }, solver: { method: 'deep-linear', ...solver } },
  );

const maxRel = (a: readonly number[], b: readonly number[]) => Math.max(...a.map((v, i) => Math.abs(v / b[i] - 1)));
const loss = (d: readonly number[]) => d.reduce((s, v) => s + v * v, 0) / (2 * d.length);

/**
 * Independent reference for L = 1, linear: the particles (W^0 row zeta in R^D, readout w) move linearly,
 * so their second moments close: with beta = <w zeta>/gamma0, S = <zeta zeta^T>, q = <w^2> and
 * m = X^T Delta / (P sqrt D):  dbeta/dt = q m + S m,  dS/dt = gamma0^2 (beta m^T + m beta^T),
 * dq/dt = 2 gamma0^2 m.beta,  f(x) = beta.x / sqrt(D). Integrated in input space at tolerance 1e-12.
 */
function momentCurves(cfg: Config, times: readonly number[]) {
  const { X, y, Xtest, ytest } = cfg.data;
  const g = cfg.model.gamma0,
    D = X[0].length,
    P = X.length,
    n = D + D * D + 1;
  const f = (x: readonly number[], beta: ArrayLike<number>) => x.reduce((s, v, i) => s + (v * beta[i]) / Math.sqrt(D), 0);
  const state = new Float64Array(n);
  for (let i = 0; i < D; i++) state[D + i * D + i] = 1;
  state[n - 1] = 1;
  const integ = ode45(
    state,
    (dy, s) => {
      const beta = s.subarray(0, D),
        S = s.subarray(D, D + D * D),
        q = s[n - 1];
      const m = new Float64Array(D);
      X.forEach((x, a) => x.forEach((v, i) => (m[i] += (v * (y[a] - f(x, beta))) / (P * Math.sqrt(D)))));
      let mb = 0;
      for (let i = 0; i < D; i++) {
        let sm = 0;
        for (let j = 0; j < D; j++) {
          sm += S[i * D + j] * m[j];
          dy[D + i * D + j] = g * g * (beta[i] * m[j] + m[i] * beta[j]);
        }
        dy[i] = q * m[i] + sm;
        mb += m[i] * beta[i];
      }
      dy[n - 1] = 2 * g * g * mb;
    },
    0,
    1e-3,
    { tol: 1e-12, verbose: false },
  );
  return times.map((t) => {
    while (integ.step(t));
    const beta = integ.y.subarray(0, D);
    return { train: loss(y.map((v, a) => v - f(X[a], beta))), test: loss(ytest!.map((v, a) => v - f(Xtest![a], beta))) };
  });
}

describe('deep-linear DMFT', () => {
  for (const gamma0 of [0.5, 1.5])
    it(`L = 1, gamma0 = ${gamma0}: equals the independent second-moment ODE within its O(dt^2) error`, () => {
      const cfg = config(1, gamma0, 8, 9, { dt: 0.04 });
      const r = solve(cfg);
      const ref = momentCurves(cfg, r.t);
      const err = Math.max(
        maxRel(
          r.trainLoss,
          ref.map((c) => c.train),
        ),
        maxRel(
          r.testLoss!,
          ref.map((c) => c.test),
        ),
      );
      // THEORY.md section 5: the only error is the time discretization (trapezoid + Crank-Nicolson, O(dt^2)),
      // which meta.errorEstimate measures by Richardson (dt vs 2 dt); the reference is exact to 1e-10.
      const est = r.meta.errorEstimate as number;
      expect(est).toBeLessThan(2e-3);
      expect(err).toBeLessThan(2 * est + 1e-9);
      expect(err).toBeGreaterThan(0.25 * est); // the estimate is not wildly pessimistic either
    });

  for (const depth of [2, 3])
    it(`L = ${depth}, gamma0 -> 0: the static-NTK dynamics, exactly as discretized and within O(dt^2) of solveLazy`, () => {
      const cfg = config(depth, 1e-6, 4, 5, { dt: 0.1 });
      const P = cfg.data.X.length;
      const r = solve(cfg, {});
      // independent: Crank-Nicolson (and trapezoid for f_test) with the t = 0 NTK on the uniform grid h = 0.1
      const K = initialKernels(allInputs(cfg), depth, 'linear').ntk;
      const n = K.rows,
        h = 0.1,
        s = h / (2 * P);
      const lhs = new Matrix(P, P);
      for (let a = 0; a < P; a++) for (let b = 0; b < P; b++) lhs.set(a, b, (a === b ? 1 : 0) + s * K.data[a * n + b]);
      let delta = [...cfg.data.y];
      const ftest = new Array(n - P).fill(0);
      const cn: { train: number; test: number }[] = [];
      for (let k = 0; k <= 40; k++) {
        if (k > 0) {
          const rhs = Matrix.columnVector(delta.map((d, a) => d - s * delta.reduce((acc, v, b) => acc + K.data[a * n + b] * v, 0)));
          const next = linearSolve(lhs, rhs).getColumn(0);
          for (let i = 0; i < n - P; i++) for (let b = 0; b < P; b++) ftest[i] += s * K.data[(P + i) * n + b] * (delta[b] + next[b]);
          delta = next;
        }
        if (k % 10 === 0) cn.push({ train: loss(delta), test: loss(cfg.data.ytest!.map((v, i) => v - ftest[i])) });
      }
      // kernels move by O(gamma0^2) = 1e-12: the two agree to rounding
      expect(
        maxRel(
          r.trainLoss,
          cn.map((c) => c.train),
        ),
      ).toBeLessThan(1e-8);
      expect(
        maxRel(
          r.testLoss!,
          cn.map((c) => c.test),
        ),
      ).toBeLessThan(1e-8);
      // and solveLazy (exact exponentials) is within the Richardson estimate of the O(dt^2) error
      const lazy = solveLazy(cfg);
      const est = r.meta.errorEstimate as number;
      expect(est).toBeLessThan(1e-3);
      expect(Math.max(maxRel(r.trainLoss, lazy.trainLoss), maxRel(r.testLoss!, lazy.testLoss!))).toBeLessThan(2 * est);
    });

  for (const depth of [2, 3])
    it(`L = ${depth}: halving the default time step changes the curves by < 0.5%`, () => {
      const coarse = solve(config(depth, 1, 10, 11, { errorEstimate: false }));
      const fine = solve(config(depth, 1, 10, 11, { errorEstimate: false, dt: 0.05 }));
      expect((coarse.meta.grid as { maxStep: number }).maxStep).toBeCloseTo(0.1, 12);
      // second order: the change is 3/4 of the coarse error, required below 0.5% (issue #2)
      expect(maxRel(coarse.trainLoss, fine.trainLoss)).toBeLessThan(5e-3);
      expect(maxRel(coarse.testLoss!, fine.testLoss!)).toBeLessThan(5e-3);
    });

  it('a step too coarse for the fixed point is a ConvergenceError with the residual history', () => {
    const cfg = config(3, 1, 10, 3, { dt: 1, maxIterations: 3 });
    expect(() => solve(cfg)).toThrowError(/did not converge in 3 iterations/);
    try {
      solve(cfg);
    } catch (e) {
      expect((e as { history: number[] }).history.length).toBe(2);
    }
  });
});

/**
 * Brute-force Monte Carlo of the same site equations (L = 2, THEORY.md section 3 in the coordinates of
 * src/dmft/coordinates.ts): draw the sources from the solved kernels, solve each sample forward in time
 * with the solver's C, D operators, and measure H^l = <zeta zeta^T>, G^l = <z z> and the responses
 * A^1 = (1/gamma0) d zeta^1 / d r^1, B^1 = (1/gamma0) d z^2 / d eta^2 (exact by linearity: unit perturbations).
 */
describe('deep-linear closed-form site averages', () => {
  const cfg = config(2, 1.2, 3, 4, { dt: 0.25 });
  const Kx = inputKernel(allInputs(cfg));
  const P = cfg.data.X.length;
  const coords = inputCoordinates(Kx, P);
  const sol: DeepLinearSolution = solveDeepLinear(
    { coords, Kx, P, y: cfg.data.y, L: 2, gamma0: 1.2, rule: timeRule({ kind: 'flow', t: [1, 2, 3] }, 0.25) },
    { tol: 1e-12, maxIterations: 50 },
  );
  const { t, m, layers } = sol.twoTime;
  const R = coords.R,
    K1 = t.length,
    g0 = 1.2;
  const [l1, l2] = layers;

  /** Forward solve of one site: zeta_k = eta_k + g0 sum_j C_kj z_j, z_k = r_k + g0 sum_j D_kj . zeta_j. */
  function site(
    eta: (k: number) => number[],
    r: (k: number) => number,
    C: (k: number, j: number) => number[],
    D: (k: number, j: number) => number[],
  ) {
    const zeta: number[][] = [],
      z: number[] = [];
    for (let k = 0; k < K1; k++) {
      const a = eta(k).slice();
      let b = r(k);
      for (let j = 0; j < k; j++) {
        const c = C(k, j),
          d = D(k, j);
        for (let i = 0; i < R; i++) {
          a[i] += g0 * c[i] * z[j];
          b += g0 * d[i] * zeta[j][i];
        }
      }
      const c = C(k, k),
        d = D(k, k);
      const dc = d.reduce((s, v, i) => s + v * c[i], 0),
        da = d.reduce((s, v, i) => s + v * a[i], 0);
      const zk = (b + g0 * da) / (1 - g0 * g0 * dc);
      z.push(zk);
      zeta.push(a.map((v, i) => v + g0 * c[i] * zk));
    }
    return { zeta, z };
  }
  const rule = timeRule({ kind: 'flow', t: [1, 2, 3] }, 0.25);
  const W = Array.from({ length: K1 }, (_, k) => memoryWeights(rule, k));
  const w = (k: number) => W[k];
  /** tabulated operator rows, op(k, j) for j <= k */
  const table = (op: (k: number, j: number) => number[]) => {
    const rows = Array.from({ length: K1 }, (_, k) => Array.from({ length: k + 1 }, (_, j) => op(k, j)));
    return (k: number, j: number) => rows[k][j];
  };
  const vec = (arr: Float64Array, k: number, j: number) => Array.from(arr.subarray((k * K1 + j) * R, (k * K1 + j + 1) * R));
  const mj = (j: number) => Array.from(m.subarray(j * R, (j + 1) * R));
  // layer 1: C = w m, D = B^1 + w G^2 m; layer 2: C = A^1 + w H^1 m, D = w m
  const C1 = table((k, j) => mj(j).map((v) => w(k)[j] * v));
  const D1 = table((k, j) => vec(l2.B, k, j).map((v, i) => v + w(k)[j] * l2.G[k * K1 + j] * mj(j)[i]));
  const H1 = (k: number, j: number, a: number, b: number) => l1.H[(k * R + a) * R * K1 + j * R + b];
  const C2 = table((k, j) => vec(l1.A, k, j).map((v, a) => v + w(k)[j] * mj(j).reduce((s, mb, b) => s + H1(k, j, a, b) * mb, 0)));
  const D2 = C1;
  const S = 20000;

  it('sampled <zeta zeta>, <z z> of both layers equal the solver kernels within 5 standard errors', () => {
    const G2 = new GaussianSampler(fromRows(Array.from({ length: K1 }, (_, k) => Array.from(l2.G.subarray(k * K1, (k + 1) * K1)))));
    const H1s = new GaussianSampler(
      fromRows(Array.from({ length: R * K1 }, (_, i) => Array.from(l1.H.subarray(i * R * K1, (i + 1) * R * K1)))),
    );
    const rng = stream(7, 'site-mc');
    const pairs = [
      [K1 - 1, K1 - 1],
      [K1 - 1, 3],
      [6, 2],
    ];
    const check = (layer: typeof l1, draw: () => ReturnType<typeof site>) => {
      const acc = pairs.map(() => ({ h: [] as number[], g: [] as number[] }));
      for (let s = 0; s < S; s++) {
        const { zeta, z } = draw();
        pairs.forEach(([k, j], p) => {
          acc[p].h.push(zeta[k][0] * zeta[j][1]);
          acc[p].g.push(z[k] * z[j]);
        });
      }
      pairs.forEach(([k, j], p) => {
        for (const [xs, exact] of [
          [acc[p].h, layer.H[(k * R + 0) * R * K1 + j * R + 1]],
          [acc[p].g, layer.G[k * K1 + j]],
        ] as const) {
          const mean = xs.reduce((a, b) => a + b, 0) / S;
          const se = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (S - 1) / S);
          // Monte Carlo error only (same discretization): 5 standard errors
          expect(Math.abs(mean - exact)).toBeLessThan(5 * se);
        }
      });
    };
    check(l1, () => {
      const xi = rng.fillNormal(new Float64Array(R));
      const r = G2.sample(rng);
      return site(
        () => Array.from(xi),
        (k) => r[k],
        C1,
        D1,
      );
    });
    check(l2, () => {
      const eta = H1s.sample(rng);
      const r = rng.normal();
      return site(
        (k) => Array.from(eta.subarray(k * R, (k + 1) * R)),
        () => r,
        C2,
        D2,
      );
    });
  });

  it('the responses A^1 and B^1 equal unit-perturbation derivatives of the site', () => {
    const zero = () => new Array(R).fill(0);
    for (const j of [0, 4, K1 - 1]) {
      // A^1(t_k, t_j) = (1/g0) d zeta^1(t_k) / d r^1(t_j)
      const a = site(zero, (k) => (k === j ? 1 : 0), C1, D1);
      // B^1(t_k, t_j)_i = (1/g0) d z^2(t_k) / d eta^2_i(t_j)
      const b = Array.from({ length: R }, (_, i) =>
        site(
          (k) => (k === j ? zero().map((_, c) => (c === i ? 1 : 0)) : zero()),
          () => 0,
          C2,
          D2,
        ),
      );
      for (const k of [j, K1 - 1]) {
        vec(l1.A, k, j).forEach((v, i) => expect(v).toBeCloseTo(a.zeta[k][i] / g0, 10));
        vec(l2.B, k, j).forEach((v, i) => expect(v).toBeCloseTo(b[i].z[k] / g0, 10));
      }
    }
  });
});
