import { VERSION } from './version.js';

/** The result of shared/INTERFACE.md; solvers and the simulator fill the optional parts they have. */
export interface Meta {
  method: string;
  seconds: number;
  version: string;
  iterations?: number;
  residual?: number;
  [key: string]: unknown;
}

export interface Result {
  t: number[];
  trainLoss: number[];
  testLoss?: number[];
  ntkFinal: number[][];
  meta: Meta;
  width?: number;
  seeds?: number;
  trainLossSem?: number[];
  testLossSem?: number[];
  /** Opt-in (config.output.predictions): predictions[k][mu] at time t[k]. */
  predictions?: { train: number[][]; test?: number[][] };
  [key: string]: unknown;
}

export function makeMeta(method: string, started: number, extra: Record<string, unknown> = {}): Meta {
  return { method, seconds: (performance.now() - started) / 1000, version: VERSION, ...extra };
}

/** Loss 1/(2n) sum (y - f)^2 of THEORY.md section 1, from residuals. */
export function halfMeanSquare(residual: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < residual.length; i++) s += residual[i] * residual[i];
  return s / (2 * residual.length);
}
