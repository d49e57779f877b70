import type { Config } from '../src/core/config.js';
import type { Result } from '../src/core/result.js';
import { checkEnsemble, ensembleResult, simulate, type EnsembleOptions } from '../src/sim/ensemble.js';
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
  checkEnsemble(cfg, opts, pool.size);
  const perSeed = times?.length ?? cfg.train.record;
  const runs = await pool.runAll(
    seeds,
    (seed) => `seed ${seed}`,
    (w, seed) => w.simulateNetwork(cfg, { width, seed, integrator, dt, tol, times }),
    {
      signal,
      onDone: (finished) => opts.onProgress?.(finished * perSeed, seeds * perSeed),
    },
  );
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
