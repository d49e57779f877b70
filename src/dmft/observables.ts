import { block, largestEigenvalue, toRows, type Dense } from '../core/linalg.js';
import { halfMeanSquare } from '../core/result.js';

/** Observables of a solved DMFT (opt-in outputs of INTERFACE.md), from kernels over all points (train first). */

/** Kernel-target alignment A = y^T K y / (|K|_F |y|^2) of the train x train block of K. */
export function alignment(K: Dense, y: readonly number[]): number {
  const P = y.length,
    n = K.cols;
  let quad = 0,
    frob = 0,
    yy = 0;
  for (let a = 0; a < P; a++) {
    yy += y[a] * y[a];
    for (let b = 0; b < P; b++) {
      const k = K.data[a * n + b];
      quad += y[a] * k * y[b];
      frob += k * k;
    }
  }
  return quad / (Math.sqrt(frob) * yy);
}

/**
 * lr lambda_max(K_train(t_k)) / P at each recorded time of gradient descent (meta.lrStability, THEORY.md
 * section 6): the lazy dynamics diverge above 2, the "edge of stability" is where the moving kernel reaches it.
 */
export function lrStability(ntk: readonly Dense[], lr: number, P: number): number[] {
  return ntk.map((K) => (lr * largestEigenvalue(block(K, 0, P, 0, P))) / P);
}

/** The train x train block as rows (ntkFinal). */
export function trainBlock(K: Dense, P: number): number[][] {
  return toRows(block(K, 0, P, 0, P));
}

/** Loss 1/(2n) sum (target - prediction)^2 per recorded time. */
export function lossCurve(predictions: readonly (readonly number[])[], targets: readonly number[]): number[] {
  return predictions.map((f) => halfMeanSquare(targets.map((v, i) => v - f[i])));
}

/** Largest relative difference max_t |a_t - b_t| / |b_t| of two curves. */
export function maxRelativeDifference(a: readonly number[], b: readonly number[]): number {
  return Math.max(...a.map((v, i) => Math.abs(v - b[i]) / Math.abs(b[i])));
}

/**
 * A solver's reported relative error of a loss curve (meta.errorEstimate): max over times of err / loss,
 * where a loss below 1% of its value at t = 0 counts as that floor. This is the agreement standard of the
 * validations: once the loss has fallen 100-fold, an absolute error is compared with that floor.
 */
export function relativeLossError(err: readonly number[], loss: readonly number[]): number {
  const floor = LOSS_FLOOR * Math.abs(loss[0]);
  return Math.max(0, ...err.map((e, i) => Math.abs(e) / Math.max(Math.abs(loss[i]), floor, 1e-300)));
}

export const LOSS_FLOOR = 0.01;

const BINS = 40;

/** Densities of preactivation samples at the first (h0) and last (h1) time, on 40 common bins. */
export function preactivationHistogram(h0: Float64Array, h1: Float64Array) {
  let lo = Infinity,
    hi = -Infinity;
  for (const h of [h0, h1]) for (const v of h) ((lo = Math.min(lo, v)), (hi = Math.max(hi, v)));
  const width = (hi - lo) / BINS || 1;
  const density = (h: Float64Array) => {
    const c = new Array<number>(BINS).fill(0);
    for (const v of h) c[Math.min(BINS - 1, Math.floor((v - lo) / width))]++;
    return c.map((x) => x / (h.length * width));
  };
  return { edges: Array.from({ length: BINS + 1 }, (_, i) => lo + i * width), initial: density(h0), final: density(h1) };
}

/**
 * The train loss of gradient flow along a recorded NTK path (THEORY.md section 2): dDelta/dt = -(1/P) K(t) Delta
 * from Delta(t_0) = y, with K(t) = the train blocks `K[k]` at the times `t[k]`, linear in between, by RK4 with
 * `substeps` steps per interval. Used to attribute a gap between two loss curves to the kernels that drive it
 * (examples/kernel-swap.ts); with a constant path it is the static-NTK curve.
 */
export function lossAlongNtk(
  t: readonly number[],
  K: readonly (readonly (readonly number[])[])[],
  y: readonly number[],
  substeps = 50,
): number[] {
  const P = y.length;
  let d = Float64Array.from(y);
  const out = [halfMeanSquare(d)];
  const rate = (k: number, a: number, x: Float64Array) =>
    Float64Array.from({ length: P }, (_, i) => {
      let s = 0;
      for (let j = 0; j < P; j++) s += ((1 - a) * K[k - 1][i][j] + a * K[k][i][j]) * x[j];
      return -s / P;
    });
  const step = (x: Float64Array, c: number, v: Float64Array) => x.map((xi, i) => xi + c * v[i]);
  for (let k = 1; k < t.length; k++) {
    const h = (t[k] - t[k - 1]) / substeps;
    for (let j = 0; j < substeps; j++) {
      const [a0, a1, a2] = [j / substeps, (j + 0.5) / substeps, (j + 1) / substeps];
      const k1 = rate(k, a0, d),
        k2 = rate(k, a1, step(d, h / 2, k1)),
        k3 = rate(k, a1, step(d, h / 2, k2)),
        k4 = rate(k, a2, step(d, h, k3));
      d = d.map((v, i) => v + (h / 6) * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]));
    }
    out.push(halfMeanSquare(d));
  }
  return out;
}
