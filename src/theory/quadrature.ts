/**
 * Gauss-Hermite nodes and weights for the weight exp(-x^2) (Golub-Welsch-free Newton iteration on the
 * orthonormal recurrence, as in Numerical Recipes' gauher), converted to the standard normal:
 * E[f(Z)] ~= sum_i w_i f(z_i), Z ~ N(0,1), sum_i w_i = 1.
 */
export interface NormalRule {
  z: Float64Array;
  w: Float64Array;
}

/** The recurrence underflows beyond this order (nodes collapse at n = 200). */
export const MAX_ORDER = 180;

const cache = new Map<number, NormalRule>();

export function normalRule(n: number): NormalRule {
  const hit = cache.get(n);
  if (hit) return hit;
  if (!Number.isInteger(n) || n < 1 || n > MAX_ORDER) throw new RangeError(`quadrature order must be 1..${MAX_ORDER}, got ${n}`);
  const x = new Float64Array(n),
    w = new Float64Array(n);
  const PIM4 = Math.pow(Math.PI, -0.25);
  const m = Math.floor((n + 1) / 2);
  let z = 0;
  for (let i = 0; i < m; i++) {
    if (i === 0) z = Math.sqrt(2 * n + 1) - 1.85575 * Math.pow(2 * n + 1, -0.16667);
    else if (i === 1) z -= (1.14 * Math.pow(n, 0.426)) / z;
    else if (i === 2) z = 1.86 * z - 0.86 * x[0];
    else if (i === 3) z = 1.91 * z - 0.91 * x[1];
    else z = 2 * z - x[i - 2];
    let pp = 0;
    for (let it = 0; it < 100; it++) {
      let p1 = PIM4,
        p2 = 0;
      for (let j = 1; j <= n; j++) {
        const p3 = p2;
        p2 = p1;
        p1 = z * Math.sqrt(2 / j) * p2 - Math.sqrt((j - 1) / j) * p3;
      }
      pp = Math.sqrt(2 * n) * p2;
      const z1 = z;
      z = z1 - p1 / pp;
      if (Math.abs(z - z1) <= 1e-15 * Math.max(1, Math.abs(z))) break;
    }
    x[i] = z;
    x[n - 1 - i] = -z;
    w[i] = 2 / (pp * pp);
    w[n - 1 - i] = w[i];
  }
  // exp(-x^2) weights -> N(0,1): z = sqrt(2) x, w / sqrt(pi)
  const rule: NormalRule = { z: x.map((v) => v * Math.SQRT2), w: w.map((v) => v / Math.sqrt(Math.PI)) };
  cache.set(n, rule);
  return rule;
}
