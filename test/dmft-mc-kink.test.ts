import { describe, expect, it } from 'vitest';
import { dense } from '../src/core/linalg.js';
import { CausalFactor } from '../src/dmft/mc/factor.js';
import { LayerSamples } from '../src/dmft/mc/layer.js';
import { ExactResponses } from '../src/dmft/mc/responses.js';
import { activation } from '../src/theory/activations.js';
import type { ActivationName } from '../src/core/config.js';
import { solve } from '../src/dmft/solve.js';
import { parsedConfig } from './helpers.js';

/**
 * The exact (forward-mode) response Bu = <dg(t_k)/du(t_j)> of ./src/dmft/mc/responses.ts against Stein's lemma,
 * an independent estimate from the same samples: with u = L xi Gaussian, <g(t_k) xi^T> = <dg(t_k)/du> L, so
 * <dg/du> = <g xi^T> L^{-1} (THEORY.md section 4) — exact also across relu's kink, where the pathwise derivative
 * misses the delta(h) of phi''. One top layer (l = L = 2): h = u + Ch g, z = r^L + Cz phi(h) with fixed causal
 * operators (no equal-time coupling, so every step is one pass), P = 2 points, 3 times, a well-conditioned
 * source covariance. Error sources (section 5): sampling, as the scatter of the difference over 16 batches of
 * 4000 samples (required: within 4 standard errors per entry), and for relu the smoothing of delta(h) by a normal
 * density of width 0.05 (relative bias ~ width^2 / 2 ~ 1e-3, far inside that).
 */
const P = 2,
  K1 = 3,
  W = P * K1,
  S = 4000,
  BATCHES = 16;
const k = K1 - 1,
  q = P * (k + 1);
/** Sigma((t_i, a), (t_j, b)) = exp(-(i - j)^2 / 2) (1 if a = b else 0.3) */
const sigma = (i: number, a: number, j: number, b: number) => Math.exp(-0.5 * (i - j) ** 2) * (a === b ? 1 : 0.3);
/** the same row for every t_k: C(k, i)_{ab} = scale (1 + 0.5 a - 0.3 b + 0.2 i) for i < k (rowOf cuts it at k) */
const op = (scale: number) => {
  const C = new Float64Array(P * W);
  for (let a = 0; a < P; a++)
    for (let i = 0; i < K1 - 1; i++) for (let b = 0; b < P; b++) C[a * W + i * P + b] = scale * (1 + 0.5 * a - 0.3 * b + 0.2 * i);
  return C;
};

/**
 * One layer marched to t_k with the fixed operators; the exact response row at t_k from its first Sr of S
 * samples (P x q), the samples and the source's causal factor.
 */
function responseRow(act: ActivationName, kinkWidth: number | undefined, S: number, Sr: number, first: number) {
  const site = new LayerSamples(2, 2, S, P, 0, K1, activation(act), dense(P, P), 7, first);
  if (kinkWidth) site.kinkWidth = new Float64Array(P).fill(kinkWidth);
  const factor = new CausalFactor(P);
  const exact = new ExactResponses(site, 'u', Sr, true);
  const Ch = op(0.4),
    Cz = op(0.8);
  const out = new Float64Array(P * W);
  for (let kk = 0; kk <= k; kk++) {
    // operators only couple to earlier times, so row kk of Ch and Cz is their row for t_kk
    const rowOf = (C: Float64Array) => C.map((v, c) => (c % W < P * kk ? v : 0));
    const sig = new Float64Array(P * W);
    for (let a = 0; a < P; a++) for (let j = 0; j <= kk; j++) for (let b = 0; b < P; b++) sig[a * W + j * P + b] = sigma(kk, a, j, b);
    factor.extend(kk, sig, W);
    site.backward(kk, rowOf(Cz), undefined);
    site.forward(kk, rowOf(Ch), factor.row(kk));
    exact.row(kk, rowOf(Ch), rowOf(Cz), out);
  }
  return { row: Float64Array.from({ length: P * q }, (_, i) => out[Math.floor(i / q) * W + (i % q)]), site, factor };
}

/** exact - Stein at t_k over one batch of samples (P x q) */
function difference(act: ActivationName, kinkWidth: number | undefined, first: number): Float64Array {
  const { row, site, factor } = responseRow(act, kinkWidth, S, S, first);
  const stein = new Float64Array(P * q);
  for (let s = 0; s < S; s++)
    for (let a = 0; a < P; a++) for (let c = 0; c < q; c++) stein[a * q + c] += (site.gT[s * W + k * P + a] * site.xiU[s * W + c]) / S;
  const X = factor.solveRight(k, P, stein, 1e-12);
  return row.map((v, i) => v - X[i]);
}

/** largest |mean difference| over the entries, in standard errors of the mean over the batches */
function worst(act: ActivationName, kinkWidth?: number): number {
  const runs = Array.from({ length: BATCHES }, (_, b) => difference(act, kinkWidth, b * S));
  let m = 0;
  for (let i = 0; i < P * q; i++) {
    const xs = runs.map((r) => r[i]);
    const mean = xs.reduce((a, b) => a + b, 0) / BATCHES;
    const se = Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (BATCHES - 1) / BATCHES);
    m = Math.max(m, Math.abs(mean) / se);
  }
  return m;
}

describe('exact responses vs Stein', () => {
  it('tanh: within 4 standard errors', () => expect(worst('tanh')).toBeLessThan(4));
  it('relu with the smoothed delta(h) (kinkWidth): within 4 standard errors', () => expect(worst('relu', 0.05)).toBeLessThan(4));
  it('relu without it: the kink terms are missing (more than 4 standard errors off)', () => expect(worst('relu')).toBeGreaterThan(4));
});

/**
 * The control variate of ExactResponses.row: with Sr < S response samples, mean_S(J1) + mean_Sr(J - J1) against
 * the plain mean of J over the same Sr samples (a batch of only those samples: the Halton points and streams of
 * its first Sr samples are the same). Both are unbiased estimates of the all-S exact response; the test asserts
 * that the control variate's is (within 4 standard errors over 16 batches per entry) and that its spread over
 * the batches, summed over the entries, is smaller.
 */
function controlVariate(act: ActivationName, kinkWidth?: number): { bias: number; spread: number } {
  const Sr = S / 8;
  const runs = Array.from({ length: BATCHES }, (_, b) => {
    const all = responseRow(act, kinkWidth, S, S, b * S).row;
    const cv = responseRow(act, kinkWidth, S, Sr, b * S).row,
      plain = responseRow(act, kinkWidth, Sr, Sr, b * S).row;
    return { cv: cv.map((v, i) => v - all[i]), plain: plain.map((v, i) => v - all[i]), all };
  });
  const scale = Math.max(...runs.flatMap((r) => Array.from(r.all, Math.abs)));
  let bias = 0,
    varCv = 0,
    varPlain = 0;
  for (let i = 0; i < P * q; i++) {
    const stats = (xs: number[]) => {
      const mean = xs.reduce((a, x) => a + x, 0) / BATCHES;
      return { mean, v: xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (BATCHES - 1) };
    };
    const cv = stats(runs.map((r) => r.cv[i])),
      plain = stats(runs.map((r) => r.plain[i]));
    // entries the control variate gets exactly (J = J1 there: the equal-time block, whose operators vanish) differ
    // from the all-sample value by rounding only, so their spread is no sampling error: they must be 0 to rounding
    const exact = Math.sqrt(cv.v) < 1e-12 * scale;
    bias = Math.max(bias, !exact ? Math.abs(cv.mean) / Math.sqrt(cv.v / BATCHES) : Math.abs(cv.mean) < 1e-12 * scale ? 0 : Infinity);
    varCv += cv.v;
    varPlain += plain.v;
  }
  return { bias, spread: varCv / varPlain };
}

describe('control variate of the exact responses (Sr = S / 8)', () => {
  for (const [act, width] of [
    ['tanh', undefined],
    ['relu', 0.25],
  ] as const)
    it(`${act}: unbiased within 4 standard errors, smaller spread than the plain mean`, () => {
      const { bias, spread } = controlVariate(act, width);
      console.log(`${act}: control variate bias ${bias.toFixed(2)} SE, variance ratio to the plain mean ${spread.toFixed(3)}`);
      expect(bias).toBeLessThan(4);
      expect(spread).toBeLessThan(1);
    });
});

/**
 * The march across relu's kink (./src/dmft/mc/march.ts): phi'(h(t_k)) from the predictor keeps the time
 * discretization second order (THEORY.md section 5, discretization error). Gradient-independent (no responses,
 * so only the fields' march), L = 2, gamma0 = 1.5, T = 2, 32768 samples; at the first record t = 0.5, with
 * dt = 0.5, 0.25, 0.125 the second change of the train loss over the first is 1/4 for a second-order march and
 * 1/2 for a first-order one. Required: below 1/3 (measured ratios: docs/RELU.md, "Moved from code comments").
 */
describe('relu march: second order in dt', () => {
  it('halving dt twice: the second change is below 1/3 of the first', () => {
    const loss = (dt: number) =>
      solve(
        parsedConfig(
          { P: 4, D: 3, Ptest: 2, seed: 2 },
          {
            model: { depth: 2, activation: 'relu', gamma0: 1.5 },
            train: { T: 2, record: 5 },
            solver: { method: 'gradient-independent', samples: 32768, replicas: 4, dt },
          },
        ),
      ).trainLoss[1];
    const [a, b, c] = [0.5, 0.25, 0.125].map(loss);
    console.log(`relu march: changes ${(b - a).toExponential(2)}, ${(c - b).toExponential(2)}, ratio ${((c - b) / (b - a)).toFixed(2)}`);
    expect(Math.abs(c - b)).toBeLessThan(Math.abs(b - a) / 3);
  });
});
