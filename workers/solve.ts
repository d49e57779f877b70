import type { Config } from '../src/core/config.js';
import type { Result } from '../src/core/result.js';
import { combineReplicas, planMonteCarlo, type McSolverOptions } from '../src/dmft/monte-carlo.js';
import { prepareSolve, solve, type SolveOptions } from '../src/dmft/solve.js';
import { mcPool } from './scripts.js';

/**
 * `dmft solve --workers W`: the Monte Carlo methods run their replicas in a pool of W workers (default:
 * all cores), one task per replica, reduced in replica order, so the result equals the in-process `solve`
 * to the bit whatever W. Other methods, and W = 1, run in this thread. The first replica to fail (or
 * `signal`) stops the others.
 */
export async function solveWorkers(cfg: Config, opts: SolveOptions = {}, workers?: number, signal?: AbortSignal): Promise<Result> {
  const { method, options, schedule } = prepareSolve(cfg, opts);
  if (workers === 1 || (method !== 'monte-carlo' && method !== 'gradient-independent')) return solve(cfg, opts);
  const started = performance.now();
  const mcOptions = options as McSolverOptions;
  const plan = planMonteCarlo(cfg, schedule, mcOptions, method);
  const perReplica = plan.pb.t.length, total = plan.replicas * perReplica;
  const pool = await mcPool({ size: workers });
  try {
    const runs = await pool.runAll(plan.replicas, (r) => `replica ${r}`, (w, r) => w.replica(cfg, schedule, mcOptions, method, r), {
      signal,
      onDone: (finished) => opts.onProgress?.(finished * perReplica, total),
    });
    return combineReplicas(cfg, plan, runs, started);
  } finally {
    await pool.close();
  }
}
