import { DivergenceError } from './errors.js';
import { VERSION } from './version.js';

/** The result of docs/INTERFACE.md; solvers and the simulator fill the optional parts they have. */
export interface Meta {
  method: string;
  seconds: number;
  version: string;
  iterations?: number;
  residual?: number;
  /** What the user should know about this result, which stands (the CLI prints each on stderr). */
  warnings?: string[];
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

/** Add `text` to meta.warnings. */
export function addWarning(meta: Meta, text: string): void {
  (meta.warnings ??= []).push(text);
}

/** Loss 1/(2n) sum (y - f)^2 of THEORY.md section 1, from residuals. */
export function halfMeanSquare(residual: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < residual.length; i++) s += residual[i] * residual[i];
  return s / (2 * residual.length);
}

/** A loss above this many times max(Loss(0), 1), or not finite, has diverged (the simulator and checkDivergence). */
export const BLOWUP = 1e8;

/** Index of the first recorded time whose train or test loss has diverged, or -1. */
export function firstDiverged(result: Pick<Result, 'trainLoss' | 'testLoss'>): number {
  const bad = (curve?: number[]) => {
    if (!curve?.length) return -1;
    const limit = BLOWUP * Math.max(curve[0], 1);
    return curve.findIndex((v) => !Number.isFinite(v) || v > limit);
  };
  const k = [bad(result.trainLoss), bad(result.testLoss)].filter((i) => i >= 0);
  return k.length ? Math.min(...k) : -1;
}

/** Per-time arrays of a result (and of its meta.samplingError) cut to the first `k` times; ntkFinal emptied. */
export function truncateResult(result: Result, k: number): Result {
  const cut = (v: unknown) => (Array.isArray(v) ? v.slice(0, k) : v);
  const out: Result = { ...result, t: result.t.slice(0, k), trainLoss: result.trainLoss.slice(0, k) };
  for (const key of ['testLoss', 'trainLossSem', 'testLossSem', 'alignment'] as const)
    if (result[key] !== undefined) out[key] = cut(result[key]) as never;
  if (result.predictions)
    out.predictions = {
      train: result.predictions.train.slice(0, k),
      ...(result.predictions.test ? { test: result.predictions.test.slice(0, k) } : {}),
    };
  const kernels = result.kernels as { Phi: unknown[][]; G: unknown[][]; ntk: unknown[] } | undefined;
  if (kernels) out.kernels = { Phi: kernels.Phi.map(cut), G: kernels.G.map(cut), ntk: cut(kernels.ntk) };
  const se = result.meta.samplingError as Record<string, unknown> | undefined;
  if (se) out.meta = { ...result.meta, samplingError: Object.fromEntries(Object.entries(se).map(([key, v]) => [key, cut(v)])) };
  out.ntkFinal = []; // it was taken at the last time, which is cut
  return out;
}

/**
 * Throw DivergenceError if a loss of `result` diverged (firstDiverged), with the result up to that time as
 * `partial` and `hint` (what to lower) in the message; otherwise return the result unchanged.
 */
export function checkDivergence(result: Result, hint: string): Result {
  const k = firstDiverged(result);
  if (k < 0) return result;
  const loss = result.trainLoss[k];
  const why = Number.isFinite(loss) ? `the train loss reached ${loss.toExponential(3)}` : 'the outputs became NaN/Infinity';
  const partial = truncateResult(result, k);
  partial.meta = { ...partial.meta, diverged: { t: result.t[k], recorded: k } };
  throw new DivergenceError(
    `${result.meta.method}: diverged at t = ${+result.t[k].toPrecision(6)}: ${why}; ${hint} (the partial result has the ${k} recorded time${k === 1 ? '' : 's'} before it)`,
    partial,
  );
}

/** The per-time curves of a result as named columns: t, trainLoss, trainLossSem, testLoss, testLossSem (those it has). */
export function curveColumns(result: Result): [string, number[]][] {
  const cols: [string, number[] | undefined][] = [
    ['t', result.t],
    ['trainLoss', result.trainLoss],
    ['trainLossSem', result.trainLossSem],
    ['testLoss', result.testLoss],
    ['testLossSem', result.testLossSem],
  ];
  return cols.filter((c): c is [string, number[]] => c[1] !== undefined);
}

/** The curves as CSV (docs/INTERFACE.md `--format csv`): a header line, then one row per recorded time. */
export function curvesCsv(result: Result): string {
  const cols = curveColumns(result);
  const rows = result.t.map((_, k) => cols.map(([, v]) => String(v[k])).join(','));
  return [cols.map(([name]) => name).join(','), ...rows].join('\n') + '\n';
}
