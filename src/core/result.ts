import { DivergenceError } from './errors.js';
import { VERSION } from './version.js';

/**
 * meta of every result (docs/INTERFACE.md). `success`, `status` and `message` say how the run ended, as scipy's
 * solve_ivp results do: 'completed' (every requested time), or 'diverged' (the partial result a DivergenceError
 * carries, cut before `diverged.t`). What the user should know about a result that stands is in `warnings`
 * (the CLI prints each on stderr).
 */
export interface MetaCommon {
  seconds: number;
  version: string;
  success: boolean;
  status: 'completed' | 'diverged';
  message: string;
  warnings?: string[];
  /** the first diverged time and how many recorded times precede it (status 'diverged') */
  diverged?: { t: number; recorded: number };
  /** gradient descent: lr lambda_max(K(t_k)) / P at each recorded step (the lazy dynamics diverge above 2) */
  lrStability?: number[];
  /** the command line that wrote the file (the CLI) */
  command?: string;
}

/** The lazy limit (theory/lazy.ts). */
export interface StaticNtkMeta extends MetaCommon {
  method: 'static-ntk';
}

/** The particle solver (dmft/two-layer.ts); errorEstimate is the largest relative sampling error of the losses. */
export interface TwoLayerMeta extends MetaCommon {
  method: 'two-layer';
  particles: number;
  replicas: number;
  controlVariate: boolean;
  grid: { integrator: 'dormand-prince (adaptive)'; tol: number; evaluations: number } | { integrator: 'gradient descent'; steps: number };
  errorEstimate: number;
  seed: number;
}

/** The algebraic solver (dmft/deep-linear.ts); errorEstimate is the Richardson estimate of the time discretization. */
export interface DeepLinearMeta extends MetaCommon {
  method: 'deep-linear';
  grid: { points: number; maxStep: number };
  iterations: number;
  maxStepIterations: number;
  residual: number;
  errorEstimate?: number;
}

/** The Monte Carlo solvers (dmft/monte-carlo.ts): the full solution, or gradient independence (responses 'none'). */
export interface MonteCarloMeta extends MetaCommon {
  method: 'monte-carlo' | 'gradient-independent';
  responses: 'exact' | 'ibp' | 'none';
  samples: number;
  replicas: number;
  responseSamples?: { A: number; B: number };
  grid: { points: number; maxStep: number };
  bytesPerReplica: number;
  iterations: number;
  maxStepIterations: number;
  residual: number;
  residualHistory: number[][];
  /** standard errors of the opt-in outputs (those of the losses are top-level) */
  samplingError?: { predictionsSem?: { train: number[][]; test?: number[][] }; alignmentSem?: number[] };
  errorEstimate: number;
  /** the self-check: the train loss read off the fields against that of the NTK flow */
  consistency: { trainLossFromFields: number[]; trainLossFromNtk: number[]; deviation: number; standardErrors?: number };
  /** the solves of an accuracy-targeted run (solver.targetError) */
  accuracy?: { targetError: number; maxSamples: number; stages: { samples: number; errorEstimate: number; seconds: number }[] };
  /** seconds spent in each phase of the march, summed over replicas */
  timing: Record<string, number>;
  seed: number;
  controlVariate?: false;
}

/**
 * Perturbation theory in gamma0 to O(gamma0^2) (dmft/perturbative.ts): K_2 by closed forms (linear) or by randomized
 * quasi-Monte Carlo over the t = 0 Gaussian sources (samples, replicas; errorEstimate the largest relative sampling
 * error of the losses), on a grid of K_2 evaluations (points 0: evaluated wherever the integrator asks); the flow by
 * `ode`; lossCoefficient: the gamma0^2 coefficient of the train (test) loss at each recorded time.
 */
export interface PerturbativeMeta extends MetaCommon {
  method: 'perturbative';
  expansion: 'kernel' | 'linear';
  expectations: 'closed-form' | 'quasi-monte-carlo';
  samples?: number;
  replicas?: number;
  seed?: number;
  grid: { points: number; maxStep: number };
  ode: { integrator: 'dormand-prince (adaptive)'; tol: number; evaluations: number };
  lossCoefficient: { train: number[]; test?: number[] };
  lossCoefficientSem?: { train: number[]; test?: number[] };
  errorEstimate?: number;
}

/** Finite-width networks averaged over seeds (sim/ensemble.ts). */
export interface SimulateMeta extends MetaCommon {
  method: 'simulate';
  /** gradient descent: the standard error over seeds of lrStability (the mean over seeds of each network's) */
  lrStabilitySem?: number[];
  integrator: string;
  dt?: number;
  tol?: number;
  gamma0: number;
  steps: number;
}

/** `dmft kernels` (theory/report.ts). */
export interface KernelsMeta extends MetaCommon {
  method: 'kernels';
  layout: string;
}

/** meta of a result, by its method. */
export type Meta = StaticNtkMeta | TwoLayerMeta | DeepLinearMeta | MonteCarloMeta | PerturbativeMeta | SimulateMeta | KernelsMeta;
export type MethodName = Meta['method'];

/** Per recorded time k and layer l = 1..L: Phi[l - 1][k], G[l - 1][k] over train then test points; ntk[k]. */
export interface KernelsOutput {
  Phi: number[][][][];
  G: number[][][][];
  ntk: number[][][];
}

/** Preactivation densities of each layer at t = 0 and at the end (output.histograms). */
export interface Histogram {
  layer: number;
  edges: number[];
  initial: number[];
  final: number[];
}

/** The result of docs/INTERFACE.md; solvers and the simulator fill the optional parts they have. */
export interface Result<M extends Meta = Meta> {
  t: number[];
  trainLoss: number[];
  testLoss?: number[];
  ntkFinal: number[][];
  meta: M;
  width?: number;
  seeds?: number;
  trainLossSem?: number[];
  testLossSem?: number[];
  /** Opt-in (config.output.predictions): predictions[k][mu] at time t[k]. */
  predictions?: { train: number[][]; test?: number[][] };
  kernels?: KernelsOutput;
  alignment?: number[];
  histograms?: Histogram[];
  /** the lazy limit's t -> infinity (static-ntk) */
  asymptote?: { trainLoss: number; testLoss?: number; rank: number };
  /** the config that produced it (core/provenance.ts configRecord; the CLI adds it) */
  config?: unknown;
}

const COMPLETED = 'the run reached every requested time';

/** meta of a completed run of `method`, with its own fields. */
export function makeMeta<M extends Meta>(
  method: M['method'],
  started: number,
  extra: Omit<M, keyof MetaCommon | 'method'> & Partial<Pick<MetaCommon, 'warnings'>>,
): M {
  return {
    method,
    seconds: (performance.now() - started) / 1000,
    version: VERSION,
    success: true,
    status: 'completed',
    message: COMPLETED,
    ...extra,
  } as M;
}

/** The method's own estimate of the losses' largest relative error (meta.errorEstimate), where it gives one. */
export function errorEstimateOf(meta: Meta): number | undefined {
  return 'errorEstimate' in meta ? meta.errorEstimate : undefined;
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
  const { kernels, meta } = result;
  if (meta.lrStability) out.meta = { ...meta, lrStability: meta.lrStability.slice(0, k) };
  if (kernels)
    out.kernels = { Phi: kernels.Phi.map((l) => l.slice(0, k)), G: kernels.G.map((l) => l.slice(0, k)), ntk: kernels.ntk.slice(0, k) };
  if ('samplingError' in meta && meta.samplingError) {
    const { predictionsSem, alignmentSem } = meta.samplingError;
    out.meta = {
      ...meta,
      ...(meta.lrStability ? { lrStability: meta.lrStability.slice(0, k) } : {}),
      samplingError: {
        ...(predictionsSem
          ? {
              predictionsSem: {
                train: predictionsSem.train.slice(0, k),
                ...(predictionsSem.test ? { test: predictionsSem.test.slice(0, k) } : {}),
              },
            }
          : {}),
        ...(alignmentSem ? { alignmentSem: alignmentSem.slice(0, k) } : {}),
      },
    };
  }
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
  const message = `${result.meta.method}: diverged at t = ${+result.t[k].toPrecision(6)}: ${why}; ${hint} (the partial result has the ${k} recorded time${k === 1 ? '' : 's'} before it)`;
  partial.meta = { ...partial.meta, success: false, status: 'diverged', message, diverged: { t: result.t[k], recorded: k } };
  throw new DivergenceError(message, partial);
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
