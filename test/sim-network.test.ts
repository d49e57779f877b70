import { describe, expect, it } from 'vitest';
import type { ActivationName } from '../src/core/config.js';
import { halfMeanSquare } from '../src/core/result.js';
import { initialParams, Network, paramCount, paramViews } from '../src/sim/network.js';
import { EULER, LowRankStepper, RK4 } from '../src/sim/stepper.js';
import { addLowRank, addTransposedProduct, crossDots, pairAxpy, pairDots } from '../src/sim/matrix.js';
import { Arena, simdSupported } from '../src/sim/wasm/arena.js';
import { parsedConfig } from './helpers.js';

function config(depth: number, act: ActivationName, gamma0 = 0.7) {
  return parsedConfig(
    { kind: 'sum', P: 5, Ptest: 3, D: 3, seed: 4 },
    { model: { depth, activation: act, gamma0 }, train: { T: 1, record: 2 } },
  );
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
    const n = paramCount(net.shape),
      U = new Float64Array(net.P * net.shape.N);
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
  for (const [name, tab] of [
    ['RK4', RK4],
    ['Euler (gradient descent)', EULER],
  ] as const)
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

describe('blocked matrix kernels equal the plain loops (every remainder path), scalar and SIMD', () => {
  const rand = (n: number, seed: number) => Float64Array.from({ length: n }, (_, i) => Math.sin(1.7 * i + seed));
  // the SIMD kernels run when all arrays are in one arena (wasm/arena.ts), the scalar loops otherwise
  const paths = [['scalar', (n: number) => new Float64Array(n)] as const];
  if (simdSupported) {
    const arena = new Arena([1 << 16]);
    paths.push(['simd', (n: number) => arena.alloc(n)] as const);
  }
  // same sums in another order: agreement to rounding, 1e-12 of the O(10) magnitudes. Sizes cover odd
  // row lengths (a scalar column), point counts off the blocks of 5 and ranks off the blocks of 4 and 8.
  const sizes = [
    [7, 9, 13, 19],
    [6, 5, 4, 8],
    [3, 11, 1, 3],
    [2, 1, 6, 1],
    [8, 16, 10, 40],
    [4, 2, 0, 0],
  ];
  for (const [path, alloc] of paths)
    for (const [rows, cols, n, R] of sizes)
      it(`${path}: rows ${rows}, cols ${cols}, ${n} points, rank ${R}`, () => {
        const from = (a: Float64Array) => {
          const b = alloc(a.length);
          b.set(a);
          return b;
        };
        const W = from(rand(rows * cols, 1)),
          x = from(rand(n * cols, 2)),
          U = from(rand(R * rows, 3)),
          V = from(rand(R * cols, 4));
        // pair dot products and axpys of rows i and k = last row, and of a row with itself
        for (const [i, k] of [
          [1, rows - 1],
          [rows - 1, rows - 1],
        ]) {
          const s1 = alloc(n),
            s2 = alloc(n),
            acc = from(rand(n * cols, 7));
          const acc0 = Float64Array.from(acc);
          pairDots(W, i * cols, k * cols, cols, x, n, s1, s2);
          pairAxpy(W, i * cols, k * cols, cols, s1, s2, n, acc);
          for (let mu = 0; mu < n; mu++) {
            let a = 0,
              b = 0;
            for (let j = 0; j < cols; j++) {
              a += W[i * cols + j] * x[mu * cols + j];
              b += W[k * cols + j] * x[mu * cols + j];
            }
            expect(s1[mu]).toBeCloseTo(a, 12);
            expect(s2[mu]).toBeCloseTo(b, 12);
            for (let j = 0; j < cols; j++)
              expect(acc[mu * cols + j]).toBeCloseTo(acc0[mu * cols + j] + a * W[i * cols + j] + b * W[k * cols + j], 12);
          }
        }
        // cross dot products of the R rows of V with the n points
        const C = alloc(R * n);
        crossDots(V, R, x, n, cols, C);
        for (let r = 0; r < R; r++)
          for (let mu = 0; mu < n; mu++)
            expect(C[r * n + mu]).toBeCloseTo(
              V.subarray(r * cols, (r + 1) * cols).reduce((acc2, v, j) => acc2 + v * x[mu * cols + j], 0),
              12,
            );
        // rank-R update
        const M = from(rand(rows * cols, 5)),
          want = Float64Array.from(M);
        for (let r = 0; r < R; r++)
          for (let a = 0; a < rows; a++) for (let j = 0; j < cols; j++) want[a * cols + j] += U[r * rows + a] * V[r * cols + j];
        addLowRank(M, rows, cols, U, V, R);
        for (let e = 0; e < M.length; e++) expect(M[e]).toBeCloseTo(want[e], 12);
        // out_mu += sum_r C[r n + mu] V_r, C with room for a row of zeros
        const out = from(rand(n * cols, 8)),
          C2 = from(rand((R + 1) * n, 6));
        const wantOut = Float64Array.from(out);
        for (let mu = 0; mu < n; mu++)
          for (let r = 0; r < R; r++) for (let j = 0; j < cols; j++) wantOut[mu * cols + j] += C2[r * n + mu] * V[r * cols + j];
        addTransposedProduct(V, R, C2, n, cols, out);
        for (let e = 0; e < out.length; e++) expect(out[e]).toBeCloseTo(wantOut[e], 12);
      });
});
