import { block, dense, symmetricEigen, type Dense } from '../core/linalg.js';

/**
 * Coordinates of the inputs in the span of the training inputs (THEORY.md section 3). The dynamics only
 * ever move fields along sum_a K^x_{mu a} (...)_a, a over training points, so with
 *   K^x_train = V Lambda V^T (rank R),   E = K^x_{:,train} V Lambda^{-1/2}   (points x R),
 * every K^x_{mu a} with a a training point equals E_mu . E_a, the source u^1 = E xi + u_perp with
 * xi ~ N(0, I_R), and u_perp ~ N(0, Kperp), Kperp = K^x - E E^T, is the part of the test inputs outside
 * the training span: it is zero on training points and never changes.
 */
export interface InputCoordinates {
  R: number;
  /** points x R, train rows first */
  E: Dense;
  /** points x points */
  Kperp: Dense;
}

/** Relative size below which an eigenvalue of K^x_train counts as zero. */
const RANK_TOL = 1e-12;

export function inputCoordinates(Kx: Dense, P: number): InputCoordinates {
  const n = Kx.rows;
  const { values, vectors: V } = symmetricEigen(block(Kx, 0, P, 0, P));
  const top = Math.max(...values);
  // largest eigenvalue first (the quasi-random draws give their best coordinates to the first columns)
  const keep = [...values.keys()].filter((k) => values[k] > RANK_TOL * top).reverse();
  const R = keep.length;
  const E = dense(n, R);
  keep.forEach((k, c) => {
    const s = 1 / Math.sqrt(values[k]);
    for (let mu = 0; mu < n; mu++) {
      let acc = 0;
      for (let a = 0; a < P; a++) acc += Kx.data[mu * n + a] * V.data[a * P + k];
      E.data[mu * R + c] = acc * s;
    }
  });
  const Kperp = dense(n, n);
  for (let mu = 0; mu < n; mu++)
    for (let nu = 0; nu < n; nu++) {
      let acc = 0;
      for (let c = 0; c < R; c++) acc += E.data[mu * R + c] * E.data[nu * R + c];
      Kperp.data[mu * n + nu] = mu < P || nu < P ? 0 : Kx.data[mu * n + nu] - acc;
    }
  // test inputs inside the training span leave only rounding in Kperp: make it exactly zero
  const scale = Math.max(...Array.from({ length: n }, (_, mu) => Kx.data[mu * n + mu]));
  if (Kperp.data.every((v) => Math.abs(v) <= RANK_TOL * 1e2 * scale)) Kperp.data.fill(0);
  return { R, E, Kperp };
}
