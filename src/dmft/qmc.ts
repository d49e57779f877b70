import erfc from '@stdlib/math-base-special-erfc';
import type { Rng } from '../core/rng.js';

/**
 * Randomized quasi-Monte Carlo draws of standard normal vectors, the variance reduction of the two-layer
 * particles (THEORY.md section 5: sampling error): the Halton sequence in `dim` dimensions (one prime base
 * per coordinate), shifted modulo 1 by a uniform vector from `rng` (Cranley-Patterson rotation: each point
 * is uniform on the cube, so averages are unbiased, and independent shifts give independent replicas whose
 * spread estimates the error), mapped coordinate-wise through the standard normal quantile.
 * Returns count x dim, row-major.
 */
export function haltonNormals(count: number, dim: number, rng: Rng): Float64Array {
  const bases = primes(dim);
  const shift = Array.from({ length: dim }, () => rng.uniform());
  const out = new Float64Array(count * dim);
  for (let i = 0; i < count; i++)
    for (let d = 0; d < dim; d++) {
      const x = radicalInverse(i + 1, bases[d]) + shift[d];
      out[i * dim + d] = normalQuantile(x >= 1 ? x - 1 : x);
    }
  return out;
}

function radicalInverse(i: number, base: number): number {
  let x = 0,
    f = 1 / base;
  for (let n = i; n > 0; n = Math.floor(n / base), f /= base) x += (n % base) * f;
  return x;
}

function primes(count: number): number[] {
  const out: number[] = [];
  for (let n = 2; out.length < count; n++) if (out.every((p) => n % p !== 0)) out.push(n);
  return out;
}

// Acklam's rational approximation (relative error 1.2e-9), polished by one Halley step on erfc.
const A = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
const B = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
const C = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758276161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
const Dq = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
const P_LOW = 0.02425;

/** The standard normal quantile Phi^{-1}(p), 0 < p < 1 (p = 0 is nudged to the smallest positive double). */
export function normalQuantile(p: number): number {
  // upper half by symmetry, so the polishing residual below never cancels
  if (p > 0.5) return -normalQuantile(1 - p);
  const q0 = Math.max(p, Number.MIN_VALUE);
  let x: number;
  if (q0 < P_LOW) {
    const q = Math.sqrt(-2 * Math.log(q0));
    x = (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5]) / ((((Dq[0] * q + Dq[1]) * q + Dq[2]) * q + Dq[3]) * q + 1);
  } else {
    const q = q0 - 0.5,
      r = q * q;
    x =
      ((((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q) /
      (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1);
  }
  const e = 0.5 * erfc(-x / Math.SQRT2) - q0;
  const u = e * Math.sqrt(2 * Math.PI) * Math.exp((x * x) / 2);
  return x - u / (1 + (x * u) / 2);
}
