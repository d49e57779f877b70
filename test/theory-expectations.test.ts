import { describe, expect, it } from 'vitest';
import { activation } from '../src/theory/activations.js';
import { normalRule, MAX_ORDER } from '../src/theory/quadrature.js';
import { hermiteExpectation, pairExpectation, quadratureExpectation } from '../src/theory/expectations.js';
import { ACTIVATIONS } from '../src/core/config.js';
import { stream } from '../src/core/rng.js';

// (a, b, rho): variances and correlation, including nearly and exactly degenerate pairs
const CASES: [number, number, number][] = [
  [1, 1, 0.3],
  [0.5, 2, -0.7],
  [2, 0.3, 0.999],
  [1.3, 1.3, 1],
  [0.2, 3, 0],
  [1, 1, -0.999],
  [4, 0.05, 0.5],
];

describe('Gauss-Hermite rule', () => {
  it('integrates polynomials of degree < 2n exactly against N(0,1) (E Z^2k = (2k-1)!!)', () => {
    for (const n of [5, 40, 96, MAX_ORDER]) {
      const { z, w } = normalRule(n);
      for (let k = 0; k <= Math.min(n - 1, 6); k++) {
        let m = 0;
        for (let i = 0; i < n; i++) m += w[i] * z[i] ** (2 * k);
        let dfact = 1;
        for (let j = 2 * k - 1; j > 0; j -= 2) dfact *= j;
        expect(Math.abs(m - dfact)).toBeLessThan(1e-12 * dfact);
      }
    }
  });
  it('refuses orders it cannot compute', () => {
    expect(() => normalRule(MAX_ORDER + 1)).toThrow(/quadrature order/);
  });
});

describe('2-d Gaussian expectations', () => {
  it('quadrature reproduces the erf and linear closed forms to 1e-9', () => {
    for (const name of ['erf', 'linear'] as const) {
      const Q = quadratureExpectation(name, 96),
        C = pairExpectation(name);
      for (const [a, b, r] of CASES) {
        const c = r * Math.sqrt(a * b);
        const q = Q(a, b, c),
          e = C(a, b, c);
        expect(Math.abs(q.phiphi - e.phiphi)).toBeLessThan(1e-9);
        expect(Math.abs(q.dd - e.dd)).toBeLessThan(1e-9);
      }
    }
  });

  it('quadrature approaches the relu closed form (slowly: the kink limits Gauss-Hermite to algebraic convergence)', () => {
    const Q = quadratureExpectation('relu', 96),
      C = pairExpectation('relu');
    for (const [a, b, r] of CASES) {
      const c = r * Math.sqrt(a * b);
      // measured error at order 96 is <= 1.1e-3 (phiphi) and 2.1e-2 (step functions, a jump)
      expect(Math.abs(Q(a, b, c).phiphi - C(a, b, c).phiphi)).toBeLessThan(2e-3);
      expect(Math.abs(Q(a, b, c).dd - C(a, b, c).dd)).toBeLessThan(3e-2);
    }
  });

  it('known values: relu diagonal a/2 and 1/2, erf arcsine, orthogonal relu 1/(2 pi)', () => {
    const relu = pairExpectation('relu'),
      erfE = pairExpectation('erf');
    expect(relu(1.7, 1.7, 1.7).phiphi).toBeCloseTo(1.7 / 2, 14);
    expect(relu(1.7, 1.7, 1.7).dd).toBeCloseTo(0.5, 14);
    // uncorrelated: E[relu(u)] E[relu(v)] = sqrt(a/2pi) sqrt(b/2pi)
    expect(relu(2, 3, 0).phiphi).toBeCloseTo(Math.sqrt(6) / (2 * Math.PI), 14);
    expect(relu(2, 3, 0).dd).toBeCloseTo(0.25, 14);
    // E[erf(u)^2] = (2/pi) asin(2a / (1 + 2a))
    expect(erfE(0.8, 0.8, 0.8).phiphi).toBeCloseTo((2 / Math.PI) * Math.asin(1.6 / 2.6), 14);
  });

  it('the Hermite (Mehler) series used by the kernels agrees with the erf closed form to 1e-12', () => {
    const H = hermiteExpectation('erf'),
      C = pairExpectation('erf');
    for (const [a, b, r] of CASES) {
      const c = r * Math.sqrt(a * b);
      expect(Math.abs(H(a, b, c).phiphi - C(a, b, c).phiphi)).toBeLessThan(1e-12);
      expect(Math.abs(H(a, b, c).dd - C(a, b, c).dd)).toBeLessThan(1e-12);
    }
  });

  it('the Hermite series agrees with the independent 2-d product rule (180 points) to 1e-10 for tanh, gelu, softplus', () => {
    // measured: <= 1.3e-11 (tanh, variances up to 4, |rho| up to 1 - 1e-9)
    const cases: [number, number, number][] = [...CASES, [1, 1, 1 - 1e-9], [0.7, 0.7, 0.99999]];
    for (const name of ['tanh', 'gelu', 'softplus'] as const) {
      const H = pairExpectation(name),
        Q = quadratureExpectation(name, MAX_ORDER);
      for (const [a, b, r] of cases) {
        const c = r * Math.sqrt(a * b);
        expect(Math.abs(H(a, b, c).phiphi - Q(a, b, c).phiphi)).toBeLessThan(1e-10);
        expect(Math.abs(H(a, b, c).dd - Q(a, b, c).dd)).toBeLessThan(1e-10);
      }
    }
  });

  it('tanh product-rule quadrature at 96 points is converged to 2e-8 for variances <= 1.3', () => {
    // Error grows with the variance (the poles of sech^2 at +-i pi/2 narrow the analytic strip as
    // sigma grows); measured vs 180 points: <= 1.4e-8 here, ~6e-6 at variance 4 (raise solver.quadrature).
    const q96 = quadratureExpectation('tanh', 96),
      q180 = quadratureExpectation('tanh', 180);
    for (const [a, b, r] of CASES.filter(([a, b]) => Math.max(a, b) <= 1.3)) {
      const c = r * Math.sqrt(a * b);
      expect(Math.abs(q96(a, b, c).phiphi - q180(a, b, c).phiphi)).toBeLessThan(2e-8);
      expect(Math.abs(q96(a, b, c).dd - q180(a, b, c).dd)).toBeLessThan(2e-8);
    }
  });

  it('quadrature agrees with Monte Carlo for every activation (4 standard errors)', () => {
    const rng = stream(7, 'test', 'mc-expectation');
    const [a, b, r] = [1.2, 0.7, 0.6];
    const c = r * Math.sqrt(a * b);
    const n = 200_000;
    for (const name of ACTIVATIONS) {
      const { phi, dphi } = activation(name);
      const E = pairExpectation(name)(a, b, c);
      let s = 0,
        s2 = 0,
        d = 0,
        d2 = 0;
      for (let i = 0; i < n; i++) {
        const z1 = rng.normal(),
          z2 = rng.normal();
        const u = Math.sqrt(a) * z1,
          v = (c / Math.sqrt(a)) * z1 + Math.sqrt(b - (c * c) / a) * z2;
        const x = phi(u) * phi(v),
          y = dphi(u) * dphi(v);
        s += x;
        s2 += x * x;
        d += y;
        d2 += y * y;
      }
      const se = (m: number, m2: number) => Math.sqrt((m2 / n - (m / n) ** 2) / n);
      expect(Math.abs(s / n - E.phiphi)).toBeLessThan(4 * se(s, s2) + 1e-12);
      expect(Math.abs(d / n - E.dd)).toBeLessThan(4 * se(d, d2) + 1e-12);
    }
  });
});

describe('activations', () => {
  it("phi' and phi'' match central differences", () => {
    const h = 1e-5;
    for (const name of ACTIVATIONS) {
      const f = activation(name);
      for (const x of [-2.3, -0.4, 0.37, 1.9]) {
        expect(f.dphi(x)).toBeCloseTo((f.phi(x + h) - f.phi(x - h)) / (2 * h), 8);
        expect(f.d2phi(x)).toBeCloseTo((f.dphi(x + h) - f.dphi(x - h)) / (2 * h), 7);
      }
    }
  });
  it('softplus does not overflow', () => {
    expect(activation('softplus').phi(1000)).toBe(1000);
    expect(activation('softplus').phi(-1000)).toBe(0);
  });
});
