import type { ActivationName } from '../core/config.js';
import { activation } from './activations.js';
import { normalRule } from './quadrature.js';

/**
 * Two-dimensional Gaussian expectations of THEORY.md section 2: for (u, v) ~ N(0, [[a, c], [c, b]]),
 *   phiphi = E[phi(u) phi(v)],   dd = E[phi'(u) phi'(v)].
 * Closed forms for linear, relu (arc-cosine) and erf (arcsine); Gauss-Hermite product quadrature otherwise.
 */
export interface PairMoments {
  phiphi: number;
  dd: number;
}

export type PairExpectation = (a: number, b: number, c: number) => PairMoments;

export const DEFAULT_QUADRATURE_ORDER = 180;

const clamp1 = (x: number) => (x > 1 ? 1 : x < -1 ? -1 : x);

const closedForms: Partial<Record<ActivationName, PairExpectation>> = {
  linear: (_a, _b, c) => ({ phiphi: c, dd: 1 }),
  relu: (a, b, c) => {
    const s = Math.sqrt(a * b);
    if (s === 0) return { phiphi: 0, dd: 0 }; // relu(0) = relu'(0) = 0
    const theta = Math.acos(clamp1(c / s));
    return {
      phiphi: (s * (Math.sin(theta) + (Math.PI - theta) * Math.cos(theta))) / (2 * Math.PI),
      dd: (Math.PI - theta) / (2 * Math.PI),
    };
  },
  erf: (a, b, c) => {
    const q = (1 + 2 * a) * (1 + 2 * b);
    return {
      phiphi: (2 / Math.PI) * Math.asin(clamp1((2 * c) / Math.sqrt(q))),
      dd: 4 / Math.PI / Math.sqrt(q - 4 * c * c),
    };
  },
};

/** Product Gauss-Hermite rule of `order` points per axis: u = sqrt(a) z1, v = (c/sqrt(a)) z1 + sqrt(b - c^2/a) z2. */
export function quadratureExpectation(name: ActivationName, order = DEFAULT_QUADRATURE_ORDER): PairExpectation {
  const { phi, dphi } = activation(name);
  const { z, w } = normalRule(order);
  const n = order;
  const pu = new Float64Array(n),
    du = new Float64Array(n);
  return (a, b, c) => {
    const sa = Math.sqrt(Math.max(a, 0));
    if (sa === 0) {
      // u = 0 exactly: expectations factor
      let p = 0,
        d = 0;
      const sb = Math.sqrt(Math.max(b, 0));
      for (let j = 0; j < n; j++) {
        p += w[j] * phi(sb * z[j]);
        d += w[j] * dphi(sb * z[j]);
      }
      return { phiphi: phi(0) * p, dd: dphi(0) * d };
    }
    if (a === b && a === c) {
      let p = 0,
        d = 0;
      for (let i = 0; i < n; i++) {
        const x = sa * z[i],
          f = phi(x),
          g = dphi(x);
        p += w[i] * f * f;
        d += w[i] * g * g;
      }
      return { phiphi: p, dd: d };
    }
    const alpha = c / sa;
    const beta = Math.sqrt(Math.max(b - alpha * alpha, 0));
    for (let i = 0; i < n; i++) {
      pu[i] = phi(sa * z[i]);
      du[i] = dphi(sa * z[i]);
    }
    let p = 0,
      d = 0;
    for (let i = 0; i < n; i++) {
      const base = alpha * z[i];
      let pi = 0,
        di = 0;
      for (let j = 0; j < n; j++) {
        const v = base + beta * z[j];
        pi += w[j] * phi(v);
        di += w[j] * dphi(v);
      }
      p += w[i] * pu[i] * pi;
      d += w[i] * du[i] * di;
    }
    return { phiphi: p, dd: d };
  };
}

/**
 * Mehler's expansion: with normalized Hermite polynomials h_k and c_k(a) = E[phi(sqrt(a) Z) h_k(Z)],
 *   E[phi(u) phi(v)] = sum_k c_k(a) c_k(b) rho^k,   rho = c / sqrt(a b),
 * and the same with phi'. The coefficients come from the 1-d Gauss-Hermite rule of `order` points
 * (a discrete transform, exact for k < order up to aliasing of the tail), cached per variance, so a
 * pair costs O(order) instead of the O(order^2) of the product rule. The diagonal (rho = 1) is the
 * 1-d rule itself.
 */
/**
 * H[k * n + q] = w_q h_k(z_q) for the n-point normal rule (z, w) and the normalized Hermite polynomials h_k,
 * k < n, by the recurrence h_{k+1} = (z h_k - sqrt(k) h_{k-1}) / sqrt(k + 1).
 */
export function weightedHermite(z: ArrayLike<number>, w: ArrayLike<number>): Float64Array {
  const n = z.length;
  const H = new Float64Array(n * n);
  for (let q = 0; q < n; q++) {
    let prev = 0,
      cur = 1;
    for (let k = 0; k < n; k++) {
      H[k * n + q] = w[q] * cur;
      const next = (z[q] * cur - Math.sqrt(k) * prev) / Math.sqrt(k + 1);
      prev = cur;
      cur = next;
    }
  }
  return H;
}

export function hermiteExpectation(name: ActivationName, order = DEFAULT_QUADRATURE_ORDER): PairExpectation {
  const { phi, dphi } = activation(name);
  const { z, w } = normalRule(order);
  const n = order;
  const H = weightedHermite(z, w);
  const cache = new Map<number, { p: Float64Array; d: Float64Array }>();
  const coefficients = (a: number) => {
    let hit = cache.get(a);
    if (hit) return hit;
    const s = Math.sqrt(Math.max(a, 0));
    const fp = z.map((x) => phi(s * x)),
      fd = z.map((x) => dphi(s * x));
    const p = new Float64Array(n),
      d = new Float64Array(n);
    for (let k = 0; k < n; k++) {
      let sp = 0,
        sd = 0;
      for (let q = 0; q < n; q++) {
        sp += H[k * n + q] * fp[q];
        sd += H[k * n + q] * fd[q];
      }
      p[k] = sp;
      d[k] = sd;
    }
    hit = { p, d };
    cache.set(a, hit);
    return hit;
  };
  const diagonal = (a: number): PairMoments => {
    const s = Math.sqrt(Math.max(a, 0));
    let p = 0,
      d = 0;
    for (let q = 0; q < n; q++) {
      const f = phi(s * z[q]),
        g = dphi(s * z[q]);
      p += w[q] * f * f;
      d += w[q] * g * g;
    }
    return { phiphi: p, dd: d };
  };
  return (a, b, c) => {
    if (a === b && a === c) return diagonal(a);
    const ca = coefficients(a),
      cb = coefficients(b);
    const ab = Math.sqrt(a * b);
    const rho = ab > 0 ? clamp1(c / ab) : 0;
    let p = 0,
      d = 0,
      rk = 1;
    for (let k = 0; k < n; k++) {
      p += ca.p[k] * cb.p[k] * rk;
      d += ca.d[k] * cb.d[k] * rk;
      rk *= rho;
      if (rk === 0) break;
    }
    return { phiphi: p, dd: d };
  };
}

/** The expectation used by the kernels: closed form where one exists, else the Hermite series of `order`. */
export function pairExpectation(name: ActivationName, order = DEFAULT_QUADRATURE_ORDER): PairExpectation {
  return closedForms[name] ?? hermiteExpectation(name, order);
}

export function hasClosedForm(name: ActivationName): boolean {
  return name in closedForms;
}
