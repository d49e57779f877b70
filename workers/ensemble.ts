import type { Config } from '../src/core/config.js';
import { InputError } from '../src/core/errors.js';
import { makeMeta, type Result } from '../src/core/result.js';
import { simulate, type EnsembleOptions } from '../src/sim/ensemble.js';
import { DEFAULT_DT, DEFAULT_TOL, type NetworkRun } from '../src/sim/train.js';
import type { Pool } from './pool.js';
import { simPool } from './scripts.js';
import type { SimApi } from './sim-worker.js';

/**
 * `simulate` of src/sim/ensemble.ts with its seeds run in a pool: seed s is one task ("seed s"), and the
 * runs are reduced in seed order, so the result is the same to the bit whatever the pool size (and equal
 * to the in-process `simulate`). Progress counts recorded times as each seed finishes. The first seed
 * to fail (or `signal`) stops the others.
 */
export async function simulateParallel(cfg: Config, opts: EnsembleOptions, pool: Pool<SimApi>, signal?: AbortSignal): Promise<Result> {
  const started = performance.now();
  const { seeds, width, integrator, dt, tol, times } = opts;
  if (!Number.isInteger(seeds) || seeds < 1) throw new InputError('seeds', `expected an integer >= 1, got ${seeds}`);
  const perSeed = times?.length ?? cfg.train.record;
  let done = 0;
  // the first failure stops the other seeds
  const failed = new AbortController();
  const stop = signal ? AbortSignal.any([signal, failed.signal]) : failed.signal;
  const runs = await Promise.all(
    Array.from({ length: seeds }, (_, seed) =>
      pool.run(`seed ${seed}`, (w) => w.simulateNetwork(cfg, { width, seed, integrator, dt, tol, times }), { signal: stop }).then((run) => {
        done += perSeed;
        opts.onProgress?.(done, seeds * perSeed);
        return run;
      }),
    ),
  ).catch((e: unknown) => {
    failed.abort();
    throw e;
  });
  return ensembleResult(cfg, opts, runs, started);
}

/** `dmft simulate --workers W`: 1 runs in this thread; otherwise a pool of W (default: all cores) workers. */
export async function simulateWorkers(cfg: Config, opts: EnsembleOptions, workers?: number): Promise<Result> {
  if (workers === 1) return simulate(cfg, opts);
  const pool = await simPool({ size: workers });
  try {
    return await simulateParallel(cfg, opts, pool);
  } finally {
    await pool.close();
  }
}

type Nested = number | Nested[];

function mean(xs: readonly Nested[]): Nested {
  if (typeof xs[0] === 'number') return (xs as number[]).reduce((a, b) => a + b, 0) / xs.length;
  return (xs[0] as Nested[]).map((_, i) => mean(xs.map((x) => (x as Nested[])[i])));
}

function sem(curves: readonly number[][]): number[] {
  const S = curves.length;
  return curves[0].map((_, k) => {
    if (S < 2) return 0;
    const m = curves.reduce((a, c) => a + c[k], 0) / S;
    const v = curves.reduce((a, c) => a + (c[k] - m) ** 2, 0) / (S - 1);
    return Math.sqrt(v / S);
  });
}

/**
 * TEMPORARY copy of the reduction inside `simulate` (src/sim/ensemble.ts), which does not export it yet;
 * test/workers-ensemble.test.ts holds the two equal to the bit. To be replaced by an import.
 */
function ensembleResult(cfg: Config, opts: EnsembleOptions, runs: NetworkRun[], started: number): Result {
  const r0 = runs[0];
  const testLoss = r0.testLoss ? runs.map((r) => r.testLoss!) : undefined;
  const integrator = r0.integrator;
  const result: Result = {
    t: r0.t,
    trainLoss: mean(runs.map((r) => r.trainLoss)) as number[],
    ...(testLoss ? { testLoss: mean(testLoss) as number[] } : {}),
    ntkFinal: mean(runs.map((r) => r.ntkFinal)) as number[][],
    width: opts.width,
    seeds: opts.seeds,
    trainLossSem: sem(runs.map((r) => r.trainLoss)),
    ...(testLoss ? { testLossSem: sem(testLoss) } : {}),
    meta: makeMeta('simulate', started, {
      integrator,
      ...(integrator === 'rk4' ? { dt: opts.dt ?? DEFAULT_DT } : integrator === 'ck' ? { tol: opts.tol ?? DEFAULT_TOL } : {}),
      gamma0: r0.gamma0,
      steps: r0.steps,
      ...(opts.seeds === 1 ? { note: 'one seed: the standard errors are not estimated (reported as 0)' } : {}),
    }),
  };
  if (cfg.output.predictions)
    result.predictions = {
      train: mean(runs.map((r) => r.predictions.train)) as number[][],
      ...(r0.predictions.test ? { test: mean(runs.map((r) => r.predictions.test!)) as number[][] } : {}),
    };
  if (cfg.output.kernels) {
    const over = (pick: (k: NonNullable<NetworkRun['kernels']>[number]) => Nested) => mean(runs.map((r) => r.kernels!.map(pick)));
    result.kernels = { Phi: over((k) => k.Phi), G: over((k) => k.G), ntk: over((k) => k.ntk) };
  }
  return result;
}
