import type { ActivationName } from '../core/config.js';
import { activation } from './activations.js';
import { DEFAULT_QUADRATURE_ORDER, weightedHermite } from './expectations.js';
import { normalRule } from './quadrature.js';

/**
 * Two-point Gaussian moments of an activation's derivatives, for the perturbation theory in gamma0
 * (docs/perturbation-theory.md): for (u, v) ~ N(0, [[a, c], [c, b]]) the 4 x 4 table
 *   T[4 i + j] = E[ phi^(i)(u) phi^(j)(v) ],   i, j = 0..3,
 * by Mehler's expansion as in ./expectations.ts hermiteExpectation: with normalized Hermite polynomials h_k and
 * c^(i)_k(a) = E[phi^(i)(sqrt(a) Z) h_k(Z)] (the 1-d Gauss-Hermite rule of `order` points, cached per variance),
 *   E[phi^(i)(u) phi^(j)(v)] = sum_k c^(i)_k(a) c^(j)_k(b) rho^k,   rho = c / sqrt(a b);
 * the diagonal (u = v, the same point) is the 1-d rule itself. Exact for polynomial activations (linear).
 */
export interface DerivativeMoments {
  /** the table for a pair of distinct points */
  pair(a: number, b: number, c: number, out?: Float64Array): Float64Array;
  /** the table for one point with variance a (u = v) */
  diagonal(a: number, out?: Float64Array): Float64Array;
}

/** phi''' of the smooth activations (phi, phi', phi'' are in ./activations.ts); relu has none (its phi'' is a delta). */
const INV_SQRT_PI = 1 / Math.sqrt(Math.PI);
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);
const sigmoid = (x: number) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));
export const THIRD_DERIVATIVE: Partial<Record<ActivationName, (x: number) => number>> = {
  linear: () => 0,
  tanh: (x) => {
    const t = Math.tanh(x);
    return (1 - t * t) * (6 * t * t - 2);
  },
  erf: (x) => (4 * x * x - 2) * 2 * INV_SQRT_PI * Math.exp(-x * x),
  softplus: (x) => {
    const s = sigmoid(x);
    return s * (1 - s) * (1 - 2 * s);
  },
  gelu: (x) => (x * x * x - 4 * x) * INV_SQRT_2PI * Math.exp(-0.5 * x * x),
};

/** phi, phi', phi'', phi''' of a smooth activation (throws for relu). */
export function derivatives(name: ActivationName): ((x: number) => number)[] {
  const d3 = THIRD_DERIVATIVE[name];
  if (!d3) throw new RangeError(`${name} has no third derivative (its phi'' is a delta function)`);
  const { phi, dphi, d2phi } = activation(name);
  return [phi, dphi, d2phi, d3];
}

const clamp1 = (x: number) => (x > 1 ? 1 : x < -1 ? -1 : x);

export function derivativeMoments(name: ActivationName, order = DEFAULT_QUADRATURE_ORDER): DerivativeMoments {
  const f = derivatives(name);
  const { z, w } = normalRule(order);
  const n = order;
  const H = weightedHermite(z, w);
  const cache = new Map<number, Float64Array>();
  /** c^(i)_k(a) at [i * n + k] */
  const coefficients = (a: number) => {
    let hit = cache.get(a);
    if (hit) return hit;
    const s = Math.sqrt(Math.max(a, 0));
    hit = new Float64Array(4 * n);
    for (let i = 0; i < 4; i++) {
      const vals = z.map((x) => f[i](s * x));
      for (let k = 0; k < n; k++) {
        let acc = 0;
        for (let q = 0; q < n; q++) acc += H[k * n + q] * vals[q];
        hit[i * n + k] = acc;
      }
    }
    cache.set(a, hit);
    return hit;
  };
  const diagCache = new Map<number, Float64Array>();
  const diagonal = (a: number, out = new Float64Array(16)) => {
    let hit = diagCache.get(a);
    if (!hit) {
      const s = Math.sqrt(Math.max(a, 0));
      hit = new Float64Array(16);
      for (let q = 0; q < n; q++) {
        const x = s * z[q];
        const v = [f[0](x), f[1](x), f[2](x), f[3](x)];
        for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) hit[4 * i + j] += w[q] * v[i] * v[j];
      }
      diagCache.set(a, hit);
    }
    out.set(hit);
    return out;
  };
  const pair = (a: number, b: number, c: number, out = new Float64Array(16)) => {
    if (a === b && a === c) return diagonal(a, out);
    const ca = coefficients(a),
      cb = coefficients(b);
    const ab = Math.sqrt(a * b);
    const rho = ab > 0 ? clamp1(c / ab) : 0;
    out.fill(0);
    let rk = 1;
    for (let k = 0; k < n; k++) {
      for (let i = 0; i < 4; i++) {
        const x = ca[i * n + k] * rk;
        if (x === 0) continue;
        for (let j = 0; j < 4; j++) out[4 * i + j] += x * cb[j * n + k];
      }
      rk *= rho;
      if (rk === 0) break;
    }
    return out;
  };
  return { pair, diagonal };
}
