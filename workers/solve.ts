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
  const failed = new AbortController();
  const stop = signal ? AbortSignal.any([signal, failed.signal]) : failed.signal;
  let done = 0;
  try {
    const runs = await Promise.all(
      Array.from({ length: plan.replicas }, (_, r) =>
        pool.run(`replica ${r}`, (w) => w.replica(cfg, schedule, mcOptions, method, r), { signal: stop }).then((run) => {
          done += perReplica;
          opts.onProgress?.(done, total);
          return run;
        }),
      ),
    ).catch((e: unknown) => {
      failed.abort();
      throw e;
    });
    return combineReplicas(cfg, plan, runs, started);
  } finally {
    await pool.close();
  }
}
