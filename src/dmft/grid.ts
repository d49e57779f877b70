import { InputError } from '../core/errors.js';
import type { Schedule } from '../core/schedule.js';
import { Matrix, solve as linearSolve } from 'ml-matrix';

/**
 * How a grid solver steps in time, one rule per schedule kind (THEORY.md sections 4 and 6): the grid t_0 = 0 <
 * t_1 < ..., the grid index of each requested time, and the weights of the memory sums int_0^{t_k} ds F(s) ->
 * sum_j w_kj F(t_j) (memoryWeights). Gradient flow ('flow') uses the trapezoid rule on timeGrid, whose endpoint
 * weight couples step k to itself (a per-step fixed point); gradient descent ('gd', t_k = k lr) the strictly
 * causal sum lr sum_{j<k}, exact for the network's own steps, so step k needs only steps j < k.
 */
export type TimeRule = (TimeGrid & { kind: 'flow' }) | (TimeGrid & { kind: 'gd'; lr: number });

/** The rule of a schedule: its requested times on a grid of steps <= dt (flow), or every step k lr (gd). */
export function timeRule(schedule: Schedule, dt: number): TimeRule {
  if (schedule.kind === 'flow') return { kind: 'flow', ...timeGrid(schedule.t, dt) };
  const { lr, steps } = schedule;
  const last = steps[steps.length - 1];
  return { kind: 'gd', lr, t: Float64Array.from({ length: last + 1 }, (_, k) => k * lr), index: [...steps] };
}

/** Whether step k of the rule depends on itself (w_kk != 0), so that it is solved as a fixed point. */
export const isImplicit = (rule: TimeRule): boolean => rule.kind === 'flow';

/** The weights w_kj (j = 0..k) of int_0^{t_k} ds F(s) under the rule: trapezoid (flow), lr for j < k and 0 at j = k (gd). */
export function memoryWeights(rule: TimeRule, k: number): Float64Array {
  if (rule.kind === 'flow') return trapezoidWeights(rule.t, k);
  const w = new Float64Array(k + 1).fill(rule.lr);
  w[k] = 0;
  return w;
}

/** The largest step of the grid. */
export const maxGridStep = (t: Float64Array): number => Math.max(0, ...t.subarray(1).map((v, i) => v - t[i]));

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
function trapezoidWeights(t: Float64Array, k: number): Float64Array {
  const w = new Float64Array(k + 1);
  for (let j = 0; j < k; j++) {
    const h = (t[j + 1] - t[j]) / 2;
    w[j] += h;
    w[j + 1] += h;
  }
  return w;
}

/**
 * Crank-Nicolson step of dDelta/dt = -(1/P) K Delta (THEORY.md section 2) from t_{k-1} to t_k, h = t_k - t_{k-1}:
 * Delta(t_k) from Delta(t_{k-1}) = `prev`, with K0, K1 the NTK rows (n x P, row-major, train rows first) at t_{k-1}, t_k.
 */
export function crankNicolsonDelta(h: number, P: number, K0: ArrayLike<number>, K1: ArrayLike<number>, prev: ArrayLike<number>): number[] {
  const s = h / (2 * P);
  const lhs = new Matrix(P, P),
    rhs = new Matrix(P, 1);
  for (let a = 0; a < P; a++) {
    let v = prev[a];
    for (let b = 0; b < P; b++) {
      v -= s * K0[a * P + b] * prev[b];
      lhs.set(a, b, (a === b ? 1 : 0) + s * K1[a * P + b]);
    }
    rhs.set(a, 0, v);
  }
  return linearSolve(lhs, rhs).getColumn(0);
}

/**
 * The trapezoid step of df_test/dt = (1/P) K_{test,train} Delta along with crankNicolsonDelta: f_test(t_k) into
 * `out` from f_test(t_{k-1}) = `prev`, Delta at both ends and the NTK rows K0, K1 (test rows after the P train rows).
 */
export function trapezoidTest(
  h: number,
  P: number,
  K0: ArrayLike<number>,
  K1: ArrayLike<number>,
  deltaPrev: ArrayLike<number>,
  deltaNext: ArrayLike<number>,
  prev: ArrayLike<number>,
  out: Float64Array,
): void {
  const s = h / (2 * P);
  for (let i = 0; i < out.length; i++) {
    let v = 0;
    for (let b = 0; b < P; b++) v += K0[(P + i) * P + b] * deltaPrev[b] + K1[(P + i) * P + b] * deltaNext[b];
    out[i] = prev[i] + s * v;
  }
}
