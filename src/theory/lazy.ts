import type { Config } from '../core/config.js';
import { refuseOutputs } from '../core/config.js';
import { allInputs, scheduleOf, type Schedule } from '../core/schedule.js';
import { alignment } from '../dmft/observables.js';
import { block, symmetricEigen, toRows, type Dense } from '../core/linalg.js';
import { DivergenceError } from '../core/errors.js';
import { halfMeanSquare, makeMeta, type Result, type StaticNtkMeta } from '../core/result.js';
import { initialKernels } from './kernels.js';

/**
 * Lazy (static NTK) dynamics of THEORY.md section 2, exact through the eigendecomposition
 * K_train = V Lambda V^T, c = V^T y:
 *   flow:  Delta(t) = V exp(-Lambda t / P) c,
 *          f_test(t) = K_{test,train} V diag((1 - exp(-lambda t / P)) / lambda) c;
 *   gradient descent (step lr, t = k lr): exp(-lambda t / P) -> (1 - lr lambda / P)^k.
 * A zero eigenvalue gives the limit t / P (k lr / P) of the f_test factor, never 0/0.
 */
export interface LazyCurves {
  t: number[];
  trainLoss: number[];
  testLoss?: number[];
  /** predictions at each recorded time */
  train: number[][];
  test?: number[][];
  /** t -> infinity (kernel regression with the pseudo-inverse of a singular NTK). */
  asymptote: { trainLoss: number; testLoss?: number; rank: number };
  /** e.g. a singular NTK */
  warnings: string[];
  /** lr * lambda_max / P (gradient descent only): above 2 the lazy dynamics diverge. */
  stability?: number;
}

/** Relative size below which an NTK eigenvalue counts as zero. */
const RANK_TOL = 1e-12;

export function lazyCurves(
  K: Dense,
  P: number,
  y: readonly number[],
  ytest: readonly number[] | undefined,
  schedule: Schedule,
): LazyCurves {
  const n = K.rows,
    Pt = n - P;
  const Ktt = block(K, 0, P, 0, P);
  const { values, vectors: V } = symmetricEigen(Ktt);
  const lamMax = Math.max(...values);
  const lam = values.map((l) => (l > RANK_TOL * lamMax ? l : 0));
  const rank = lam.filter((l) => l > 0).length;
  const c = new Float64Array(P);
  for (let i = 0; i < P; i++) for (let k = 0; k < P; k++) c[k] += V.data[i * P + k] * y[i];
  // B = K_{test,train} V  (Pt x P)
  const B = new Float64Array(Pt * P);
  for (let s = 0; s < Pt; s++)
    for (let k = 0; k < P; k++) {
      let acc = 0;
      for (let i = 0; i < P; i++) acc += K.data[(P + s) * n + i] * V.data[i * P + k];
      B[s * P + k] = acc;
    }

  const t = schedule.kind === 'flow' ? [...schedule.t] : schedule.steps.map((k) => k * schedule.lr);
  // decay[k] = exp(-lambda_k t/P) (or (1 - lr lambda/P)^steps); gain[k] = (1 - decay[k]) / lambda_k
  const factors = (ti: number, idx: number) => {
    const decay = new Float64Array(P),
      gain = new Float64Array(P);
    for (let k = 0; k < P; k++) {
      if (schedule.kind === 'flow') {
        const x = (lam[k] * ti) / P;
        decay[k] = Math.exp(-x);
        gain[k] = lam[k] > 0 ? -Math.expm1(-x) / lam[k] : ti / P;
      } else {
        const r = (schedule.lr * lam[k]) / P,
          kk = schedule.steps[idx];
        decay[k] = Math.pow(1 - r, kk);
        gain[k] = lam[k] === 0 ? ti / P : r < 1 ? -Math.expm1(kk * Math.log1p(-r)) / lam[k] : (1 - decay[k]) / lam[k];
      }
    }
    return { decay, gain };
  };
  const evaluate = (decay: Float64Array, gain: Float64Array) => {
    const delta = new Float64Array(P),
      ftest = new Float64Array(Pt);
    for (let i = 0; i < P; i++) {
      let acc = 0;
      for (let k = 0; k < P; k++) acc += V.data[i * P + k] * decay[k] * c[k];
      delta[i] = acc;
    }
    for (let s = 0; s < Pt; s++) {
      let acc = 0;
      for (let k = 0; k < P; k++) acc += B[s * P + k] * gain[k] * c[k];
      ftest[s] = acc;
    }
    const f = Array.from(delta, (d, i) => y[i] - d);
    const test = ytest ? Array.from(ftest) : undefined;
    return { delta, f, test, testResid: ytest ? ytest.map((v, s) => v - ftest[s]) : undefined };
  };

  const out: LazyCurves = { t, trainLoss: [], train: [], asymptote: { trainLoss: 0, rank }, warnings: [] };
  if (ytest) {
    out.testLoss = [];
    out.test = [];
  }
  t.forEach((ti, idx) => {
    const { decay, gain } = factors(ti, idx);
    const e = evaluate(decay, gain);
    out.trainLoss.push(halfMeanSquare(e.delta));
    out.train.push(e.f);
    if (ytest) {
      out.testLoss!.push(halfMeanSquare(e.testResid!));
      out.test!.push(e.test!);
    }
  });
  // t -> infinity: learned components vanish from Delta, f_test gains c_k / lambda_k
  const decayInf = lam.map((l) => (l > 0 ? 0 : 1));
  const gainInf = lam.map((l) => (l > 0 ? 1 / l : 0));
  const inf = evaluate(decayInf, gainInf);
  out.asymptote.trainLoss = halfMeanSquare(inf.delta);
  if (ytest) out.asymptote.testLoss = halfMeanSquare(inf.testResid!);
  if (rank < P)
    out.warnings.push(
      `the train NTK is singular (rank ${rank} of ${P}): the part of y in its null space is never learned; the limit uses the pseudo-inverse`,
    );
  if (schedule.kind === 'gd') out.stability = (schedule.lr * lamMax) / P;
  return out;
}

/** The opt-in outputs the static NTK produces (and why not the others), for solveLazy and the method registry. */
export const LAZY_OUTPUTS = {
  label: 'the static NTK',
  produced: ['predictions', 'kernels', 'alignment'] as const,
  why: 'its preactivations stay Gaussian at their t = 0 variances, the diagonals of Phi',
};

/** `dmft lazy`: the static-NTK learning curves of a config as an INTERFACE result (at `schedule`, default train's). */
export function solveLazy(cfg: Config, schedule: Schedule = scheduleOf(cfg.train)): Result {
  const started = performance.now();
  const { data, model, output } = cfg;
  refuseOutputs(output, LAZY_OUTPUTS.label, LAZY_OUTPUTS.produced, LAZY_OUTPUTS.why);
  const P = data.X.length;
  const k = initialKernels(allInputs(cfg), model.depth, model.activation, cfg.solver.quadrature);
  const curves = lazyCurves(k.ntk, P, data.y, data.ytest, schedule);
  const result: Result = {
    t: curves.t,
    trainLoss: curves.trainLoss,
    ...(curves.testLoss ? { testLoss: curves.testLoss } : {}),
    ntkFinal: toRows(block(k.ntk, 0, P, 0, P)),
    asymptote: curves.asymptote,
    meta: makeMeta<StaticNtkMeta>('static-ntk', started, {
      ...(curves.stability !== undefined ? { lrStability: curves.t.map(() => curves.stability!) } : {}),
      ...(curves.warnings.length ? { warnings: curves.warnings } : {}),
    }),
  };
  if (output.predictions) result.predictions = { train: curves.train, ...(curves.test ? { test: curves.test } : {}) };
  // the kernels do not move: every recorded time has those of t = 0, in the solvers' layout (kernels.Phi[l - 1][k])
  const each = <T>(v: T) => curves.t.map(() => v);
  if (output.kernels)
    result.kernels = {
      Phi: k.Phi.slice(1).map((Phi) => each(toRows(Phi))),
      G: k.G.slice(1, model.depth + 1).map((G) => each(toRows(G))),
      ntk: each(toRows(k.ntk)),
    };
  if (output.alignment) result.alignment = each(alignment(k.ntk, data.y));
  // exact even when it diverges: the whole result goes with the error
  if (curves.stability !== undefined && curves.stability > 2)
    throw new DivergenceError(
      `static-ntk: train.lr * lambda_max / P = ${curves.stability.toPrecision(4)} > 2: gradient descent diverges in the lazy limit (lower train.lr below 2 P / lambda_max = ${((2 * (cfg.train as { lr: number }).lr) / curves.stability).toPrecision(4)})`,
      result,
    );
  return result;
}
