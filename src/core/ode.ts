import { ConvergenceError } from './errors.js';

/**
 * Adaptive Dormand-Prince 5(4) for dy/dt = f(y) from t = 0 over `times` (ascending, >= 0), with its 4th-order continuous
 * extension (Hairer, Norsett & Wanner, Solving ODEs I, II.6): steps are chosen by the error control alone,
 * not clipped to the recorded times, and the state at a recorded time is interpolated (record(i, y)).
 * Error control on the root-mean-square (over all components) absolute local error: the population averages
 * are what matter, and a max norm would let single particles crossing a kink of relu stall the steps.
 * y is advanced in place to the last time.
 */
export function dormandPrince(
  y: Float64Array,
  f: (y: Float64Array, dydt: Float64Array) => void,
  times: readonly number[],
  tol: number,
  maxStep: number,
  record: (i: number, y: Float64Array) => void,
  what = 'the ODE integration',
): void {
  const n = y.length;
  const k = Array.from({ length: 7 }, () => new Float64Array(n));
  const [k1, k2, k3, k4, k5, k6, k7] = k;
  const z = new Float64Array(n),
    y1 = new Float64Array(n),
    out = new Float64Array(n);
  const end = times[times.length - 1];
  let t = 0,
    h = Math.min(1e-2, maxStep),
    next = 0;
  while (next < times.length && times[next] <= t) record(next++, y);
  if (next === times.length) return;
  f(y, k1);
  const stage = (dst: Float64Array, c: number[]) => {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let m = 0; m < c.length; m++) s += c[m] * k[m][j];
      z[j] = y[j] + h * s;
    }
    f(z, dst);
  };
  while (next < times.length) {
    h = Math.min(h, maxStep, end - t);
    stage(k2, [1 / 5]);
    stage(k3, [3 / 40, 9 / 40]);
    stage(k4, [44 / 45, -56 / 15, 32 / 9]);
    stage(k5, [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729]);
    stage(k6, [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656]);
    const b = [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84];
    for (let j = 0; j < n; j++) y1[j] = y[j] + h * (b[0] * k1[j] + b[2] * k3[j] + b[3] * k4[j] + b[4] * k5[j] + b[5] * k6[j]);
    f(y1, k7);
    let sq = 0;
    for (let j = 0; j < n; j++) {
      const e =
        h *
        ((71 / 57600) * k1[j] -
          (71 / 16695) * k3[j] +
          (71 / 1920) * k4[j] -
          (17253 / 339200) * k5[j] +
          (22 / 525) * k6[j] -
          (1 / 40) * k7[j]);
      sq += e * e;
    }
    const err = Math.sqrt(sq / n) / tol;
    if (!(err <= 1)) {
      if (!Number.isFinite(err) || h < 1e-12 * Math.max(1, end))
        throw new ConvergenceError(`${what} failed at t = ${t} (step size underflow)`, []);
      h *= Math.max(0.2, 0.9 * err ** -0.2);
      continue;
    }
    const t1 = t + h;
    while (next < times.length && times[next] < t1) {
      // y(t + theta h) = y + theta (dy + (1 - theta) (hk1 - dy + theta (dy - hk7 - (hk1 - dy) + (1 - theta) d)))
      const th = (times[next] - t) / h,
        th1 = 1 - th;
      for (let j = 0; j < n; j++) {
        const dy = y1[j] - y[j],
          r3 = h * k1[j] - dy,
          r4 = dy - h * k7[j] - r3;
        const d =
          h *
          ((-12715105075 / 11282082432) * k1[j] +
            (87487479700 / 32700410799) * k3[j] +
            (-10690763975 / 1880347072) * k4[j] +
            (701980252875 / 199316789632) * k5[j] +
            (-1453857185 / 822651844) * k6[j] +
            (69997945 / 29380423) * k7[j]);
        out[j] = y[j] + th * (dy + th1 * (r3 + th * (r4 + th1 * d)));
      }
      record(next++, out);
    }
    y.set(y1);
    k1.set(k7);
    t = t1;
    while (next < times.length && times[next] <= t) record(next++, y);
    h *= Math.min(5, 0.9 * Math.max(err, 1e-10) ** -0.2);
  }
}
