import type { Config } from '../src/core/config.js';
import { DivergenceError } from '../src/core/errors.js';
import type { Result } from '../src/core/result.js';
import { solve } from '../src/dmft/solve.js';
import { planMonteCarlo, runReplica, type McSolverOptions } from '../src/dmft/monte-carlo.js';
import type { Schedule } from '../src/core/schedule.js';
import { exposeWorker } from './expose.js';

/**
 * Worker script of `dmft solve`: one Monte Carlo replica (a pure function of its arguments), or a whole solve of
 * another method, so that the calling thread stays free (progress, signals). A divergence comes back as a value,
 * since an error crossing the boundary keeps only its message, not the partial result.
 */
export const api = {
  replica: (cfg: Config, schedule: Schedule, options: McSolverOptions, method: 'monte-carlo' | 'gradient-independent', r: number) =>
    runReplica(planMonteCarlo(cfg, schedule, options, method), cfg.solver.seed, r),
  solve: (cfg: Config, times: readonly number[] | undefined, onProgress?: (done: number, total: number) => void): SolveOutcome => {
    try {
      return { result: solve(cfg, { times, onProgress: (done, total) => void onProgress?.(done, total) }) };
    } catch (e) {
      if (e instanceof DivergenceError) return { diverged: e.message, partial: e.partial };
      throw e;
    }
  },
};

/** A solve's result, or the message and partial result of its divergence. */
export interface SolveOutcome {
  result?: Result;
  diverged?: string;
  partial?: unknown;
}

export type McApi = typeof api;

await exposeWorker(api);
