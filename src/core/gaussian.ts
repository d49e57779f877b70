import type { Rng } from './rng.js';
import { dense, symmetricEigen, type Dense } from './linalg.js';

/**
 * Sampler of N(0, Sigma) for a symmetric positive semi-definite, possibly singular Sigma:
 * x = F z with F = V sqrt(max(Lambda, 0)) from the eigendecomposition Sigma = V Lambda V^T.
 * Eigenvalues below -tol * max|lambda| mean Sigma is not PSD and are refused.
 */
export class GaussianSampler {
  readonly n: number;
  /** F, n x n row-major, with F F^T = Sigma (up to the clipped rounding-level negative eigenvalues). */
  readonly factor: Dense;
  /** Number of eigenvalues kept (numerical rank). */
  readonly rank: number;
  private readonly z: Float64Array;

  constructor(sigma: Dense, tol = 1e-10) {
    const n = sigma.rows;
    this.n = n;
    const { values, vectors } = symmetricEigen(sigma);
    const scale = Math.max(1e-300, ...Array.from(values, Math.abs));
    if (values[0] < -tol * scale * n)
      throw new RangeError(`covariance is not positive semi-definite (eigenvalue ${values[0].toExponential(3)})`);
    this.factor = dense(n, n);
    let rank = 0;
    for (let k = 0; k < n; k++) {
      const lam = values[k];
      if (lam <= tol * scale) continue;
      rank++;
      const s = Math.sqrt(lam);
      for (let i = 0; i < n; i++) this.factor.data[i * n + k] = vectors.data[i * n + k] * s;
    }
    this.rank = rank;
    this.z = new Float64Array(n);
  }

  /** One draw into `out`. */
  sample(rng: Rng, out = new Float64Array(this.n)): Float64Array {
    const { n, z } = this;
    const F = this.factor.data;
    rng.fillNormal(z);
    for (let i = 0; i < n; i++) {
      let s = 0;
      const o = i * n;
      for (let k = 0; k < n; k++) s += F[o + k] * z[k];
      out[i] = s;
    }
    return out;
  }
}
