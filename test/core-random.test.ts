import { describe, expect, it } from 'vitest';
import { stream } from '../src/core/rng.js';
import { GaussianSampler } from '../src/core/gaussian.js';
import { dense } from '../src/core/linalg.js';
import { synthesize, SYNTHETIC_KINDS } from '../src/core/synthetic.js';

const draw = (n: number, ...keys: (string | number)[]) => stream(5, ...keys).fillNormal(new Float64Array(n));

describe('seeded streams', () => {
  it('a named stream draws the same numbers whatever ran before it', () => {
    const first = draw(100, 'mc', 3, 2, 17);
    draw(1000, 'mc', 3, 2, 16); // other streams in between
    stream(5, 'other').uniform();
    expect(draw(100, 'mc', 3, 2, 17)).toEqual(first);
  });

  it('different seeds and keys give different, uncorrelated streams (|corr| < 4 / sqrt(n))', () => {
    const n = 20_000;
    const a = draw(n, 'mc', 1),
      b = draw(n, 'mc', 2),
      c = stream(6, 'mc', 1).fillNormal(new Float64Array(n));
    const corr = (x: Float64Array, y: Float64Array) => x.reduce((s, v, i) => s + v * y[i], 0) / n;
    expect(Math.abs(corr(a, b))).toBeLessThan(4 / Math.sqrt(n));
    expect(Math.abs(corr(a, c))).toBeLessThan(4 / Math.sqrt(n));
    // keys are not confused by concatenation: ('mc', 12) differs from ('mc1', 2)
    expect(draw(5, 'mc', 12)).not.toEqual(draw(5, 'mc1', 2));
  });

  it('normals have mean 0, variance 1, kurtosis 3 within 5 standard errors', () => {
    const n = 200_000;
    const z = draw(n, 'moments');
    const m = z.reduce((s, v) => s + v, 0) / n;
    const v = z.reduce((s, x) => s + x * x, 0) / n;
    const k = z.reduce((s, x) => s + x ** 4, 0) / n;
    expect(Math.abs(m)).toBeLessThan(5 / Math.sqrt(n));
    expect(Math.abs(v - 1)).toBeLessThan(5 * Math.sqrt(2 / n));
    expect(Math.abs(k - 3)).toBeLessThan(5 * Math.sqrt(96 / n));
    const u = stream(5, 'uniform');
    for (let i = 0; i < 1000; i++) {
      const x = u.uniform();
      expect(x >= 0 && x < 1).toBe(true);
    }
  });
});

describe('GaussianSampler', () => {
  it('sample covariance converges to a singular Sigma, and samples stay in its range', () => {
    // Sigma = B B^T, rank 2 in 4 dimensions
    const B = [
      [1, 0.5],
      [0.3, -1],
      [2, 0.1],
      [-0.4, 0.8],
    ];
    const n = 4,
      S = dense(n, n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) S.data[i * n + j] = B[i][0] * B[j][0] + B[i][1] * B[j][1];
    const g = new GaussianSampler(S);
    expect(g.rank).toBe(2);
    const rng = stream(1, 'gauss');
    const m = 50_000,
      C = new Float64Array(n * n),
      x = new Float64Array(n);
    // samples are B z in the column space of B: any 3 of them are linearly dependent (det = 0)
    const first: number[][] = [];
    for (let s = 0; s < m; s++) {
      g.sample(rng, x);
      if (s < 3) first.push(Array.from(x.subarray(0, 3)));
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) C[i * n + j] += (x[i] * x[j]) / m;
    }
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        const sij = S.data[i * n + j];
        const se = Math.sqrt((S.data[i * n + i] * S.data[j * n + j] + sij * sij) / m);
        expect(Math.abs(C[i * n + j] - sij)).toBeLessThan(5 * se);
      }
    const [p, q, r] = first;
    const det3 = p[0] * (q[1] * r[2] - q[2] * r[1]) - p[1] * (q[0] * r[2] - q[2] * r[0]) + p[2] * (q[0] * r[1] - q[1] * r[0]);
    expect(Math.abs(det3)).toBeLessThan(1e-10);
  });

  it('refuses a covariance that is not positive semi-definite', () => {
    const S = dense(2, 2, Float64Array.from([1, 2, 2, 1]));
    expect(() => new GaussianSampler(S)).toThrow(/not positive semi-definite/);
  });
});

describe('synthetic data', () => {
  it('inputs lie on the sphere |x|^2 = D, reproducibly per seed', () => {
    for (const kind of SYNTHETIC_KINDS) {
      const spec = { kind, P: 20, D: 7, Ptest: 5, noise: 0, seed: 4 };
      const d = synthesize(spec);
      for (const x of [...d.X, ...d.Xtest!]) expect(x.reduce((s, v) => s + v * v, 0)).toBeCloseTo(7, 10);
      expect(synthesize(spec)).toEqual(d);
      expect(synthesize({ ...spec, seed: 5 }).y).not.toEqual(d.y);
    }
  });

  it('linear targets are exactly linear in x; label noise has the requested variance', () => {
    const d = synthesize({ kind: 'linear', P: 30, D: 3, Ptest: 0, noise: 0, seed: 2 });
    // y = beta . x with |beta| = 1: recover beta from 3 points and predict the rest
    const [a, b, c] = d.X;
    const det = (m: number[][]) =>
      m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
      m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
      m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    const M = [a, b, c],
      D0 = det(M);
    const beta = [0, 1, 2].map((k) => det(M.map((row, i) => row.map((v, j) => (j === k ? d.y[i] : v)))) / D0);
    expect(Math.hypot(...beta)).toBeCloseTo(1, 10);
    d.X.forEach((x, i) => expect(x.reduce((s, v, j) => s + v * beta[j], 0)).toBeCloseTo(d.y[i], 10));
    const clean = synthesize({ kind: 'sum', P: 4000, D: 5, Ptest: 0, noise: 0, seed: 9 });
    const noisy = synthesize({ kind: 'sum', P: 4000, D: 5, Ptest: 0, noise: 0.5, seed: 9 });
    const v = clean.y.reduce((s, y, i) => s + (noisy.y[i] - y) ** 2, 0) / 4000;
    expect(Math.abs(v - 0.25)).toBeLessThan(5 * 0.25 * Math.sqrt(2 / 4000));
  });
});
