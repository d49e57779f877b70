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

export const DEFAULT_QUADRATURE_ORDER = 96;

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
  const pu = new Float64Array(n), du = new Float64Array(n);
  return (a, b, c) => {
    const sa = Math.sqrt(Math.max(a, 0));
    if (sa === 0) {
      // u = 0 exactly: expectations factor
      let p = 0, d = 0;
      const sb = Math.sqrt(Math.max(b, 0));
      for (let j = 0; j < n; j++) {
        p += w[j] * phi(sb * z[j]);
        d += w[j] * dphi(sb * z[j]);
      }
      return { phiphi: phi(0) * p, dd: dphi(0) * d };
    }
    if (a === b && a === c) {
      let p = 0, d = 0;
      for (let i = 0; i < n; i++) {
        const x = sa * z[i], f = phi(x), g = dphi(x);
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
    let p = 0, d = 0;
    for (let i = 0; i < n; i++) {
      const base = alpha * z[i];
      let pi = 0, di = 0;
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

/** The expectation used by the kernels: closed form where one exists, else quadrature of `order`. */
export function pairExpectation(name: ActivationName, order = DEFAULT_QUADRATURE_ORDER): PairExpectation {
  return closedForms[name] ?? quadratureExpectation(name, order);
}

export function hasClosedForm(name: ActivationName): boolean {
  return name in closedForms;
}
