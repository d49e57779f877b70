import { InputError } from '../core/errors.js';

/**
 * Time grid of THEORY.md section 4 for the deep-linear solver: every requested time is a grid point, and
 * each interval between consecutive requested times (starting at 0) is split into equal steps of at most
 * `dt`, so non-uniform requested times (e.g. snapped to a simulator's grid) are solved without interpolation.
 */
export interface TimeGrid {
  t: Float64Array;
  /** index[i] = grid index of requested time i */
  index: number[];
}

export function timeGrid(times: readonly number[], dt: number): TimeGrid {
  checkTimes(times);
  const t = [0];
  const index: number[] = [];
  for (const target of times) {
    const last = t[t.length - 1];
    const n = Math.ceil((target - last) / dt - 1e-9);
    for (let i = 1; i <= n; i++) t.push(i === n ? target : last + ((target - last) * i) / n);
    index.push(t.length - 1);
  }
  return { t: Float64Array.from(t), index };
}

/** Requested times must be finite, >= 0 and strictly increasing. */
export function checkTimes(times: readonly number[]): void {
  if (times.length === 0) throw new InputError('times', 'needs at least 1 entries');
  times.forEach((v, i) => {
    if (!Number.isFinite(v) || v < 0) throw new InputError(`times[${i}]`, `expected a finite time >= 0, got ${v}`);
    if (i > 0 && v <= times[i - 1]) throw new InputError(`times[${i}]`, `times must increase, got ${v} after ${times[i - 1]}`);
  });
}

/** Trapezoid weights w_j (j = 0..k) of int_0^{t_k} ds on the grid; all zero for k = 0. */
export function trapezoidWeights(t: Float64Array, k: number): Float64Array {
  const w = new Float64Array(k + 1);
  for (let j = 0; j < k; j++) {
    const h = (t[j + 1] - t[j]) / 2;
    w[j] += h;
    w[j + 1] += h;
  }
  return w;
}
