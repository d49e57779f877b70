import type { Config } from '../core/config.js';
import { InputError } from '../core/errors.js';
import { makeMeta, type Result } from '../core/result.js';
import type { KernelSnapshot } from './record.js';
import { DEFAULT_DT, DEFAULT_TOL, simulateNetwork, type Integrator, type NetworkRun } from './train.js';

/**
 * `seeds` independent networks of one width (seed s draws from stream(cfg.solver.seed, 'sim', s, ...),
 * so its numbers do not depend on the other seeds) -> mean and standard error over seeds of every
 * recorded curve, as the INTERFACE result with width, seeds, trainLossSem, testLossSem.
 */
export interface EnsembleOptions {
  width: number;
  seeds: number;
  integrator?: Integrator;
  dt?: number;
  tol?: number;
  times?: readonly number[];
  /** progress in recorded times over all seeds */
  onProgress?: (done: number, total: number) => void;
}

type Nested = number | Nested[];

/** Elementwise mean of equally shaped nested arrays. */
function mean(xs: readonly Nested[]): Nested {
  if (typeof xs[0] === 'number') return (xs as number[]).reduce((a, b) => a + b, 0) / xs.length;
  return (xs[0] as Nested[]).map((_, i) => mean(xs.map((x) => (x as Nested[])[i])));
}

/** Standard error of the mean over runs, pointwise: sample standard deviation / sqrt(S); 0 for one run. */
function sem(curves: readonly number[][]): number[] {
  const S = curves.length;
  return curves[0].map((_, k) => {
    if (S < 2) return 0;
    const m = curves.reduce((a, c) => a + c[k], 0) / S;
    const v = curves.reduce((a, c) => a + (c[k] - m) ** 2, 0) / (S - 1);
    return Math.sqrt(v / S);
  });
}

export function simulate(cfg: Config, opts: EnsembleOptions): Result {
  const started = performance.now();
  const { seeds, width } = opts;
  if (!Number.isInteger(seeds) || seeds < 1) throw new InputError('seeds', `expected an integer >= 1, got ${seeds}`);
  const total = seeds * (opts.times?.length ?? cfg.train.record);
  let done = 0;
  const runs: NetworkRun[] = [];
  for (let s = 0; s < seeds; s++)
    runs.push(
      simulateNetwork(cfg, {
        width,
        seed: s,
        integrator: opts.integrator,
        dt: opts.dt,
        tol: opts.tol,
        times: opts.times,
        onRecord: () => opts.onProgress?.(++done, total),
      }),
    );
  return ensembleResult(cfg, opts, runs, started);
}

/** The INTERFACE result of the runs of seeds 0..S-1 (in seed order); `started` from performance.now(). */
export function ensembleResult(cfg: Config, opts: EnsembleOptions, runs: readonly NetworkRun[], started: number): Result {
  const r0 = runs[0], seeds = runs.length;
  const testLoss = r0.testLoss ? runs.map((r) => r.testLoss!) : undefined;
  const integrator = r0.integrator;
  const result: Result = {
    t: r0.t,
    trainLoss: mean(runs.map((r) => r.trainLoss)) as number[],
    ...(testLoss ? { testLoss: mean(testLoss) as number[] } : {}),
    ntkFinal: mean(runs.map((r) => r.ntkFinal)) as number[][],
    width: opts.width,
    seeds,
    trainLossSem: sem(runs.map((r) => r.trainLoss)),
    ...(testLoss ? { testLossSem: sem(testLoss) } : {}),
    meta: makeMeta('simulate', started, {
      integrator,
      ...(integrator === 'rk4' ? { dt: opts.dt ?? DEFAULT_DT } : integrator === 'ck' ? { tol: opts.tol ?? DEFAULT_TOL } : {}),
      gamma0: r0.gamma0,
      steps: r0.steps,
      ...(seeds === 1 ? { note: 'one seed: the standard errors are not estimated (reported as 0)' } : {}),
    }),
  };
  if (cfg.output.predictions)
    result.predictions = {
      train: mean(runs.map((r) => r.predictions.train)) as number[][],
      ...(r0.predictions.test ? { test: mean(runs.map((r) => r.predictions.test!)) as number[][] } : {}),
    };
  if (cfg.output.kernels) {
    const over = (pick: (k: KernelSnapshot) => Nested) => mean(runs.map((r) => r.kernels!.map(pick)));
    // layer-major like the solvers' results: kernels.Phi[l - 1][k] = Phi^l at t[k] over train then test points
    // (l = 1..L); likewise G; ntk[k]
    const perLayer = (perTime: Nested) => (perTime as Nested[][])[0].map((_, l) => (perTime as Nested[][]).map((layers) => layers[l]));
    result.kernels = { Phi: perLayer(over((k) => k.Phi)), G: perLayer(over((k) => k.G)), ntk: over((k) => k.ntk) };
  }
  return result;
}
