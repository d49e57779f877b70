import type { Config } from '../src/core/config.js';
import { planMonteCarlo, runReplica, type McSolverOptions } from '../src/dmft/monte-carlo.js';
import type { Schedule } from '../src/theory/lazy.js';
import { exposeWorker } from './expose.js';

/** Worker script of the Monte Carlo DMFT solver: one replica (a pure function of its arguments). */
export const api = {
  replica: (cfg: Config, schedule: Schedule, options: McSolverOptions, method: 'monte-carlo' | 'gradient-independent', r: number) =>
    runReplica(planMonteCarlo(cfg, schedule, options, method), cfg.solver.seed, r),
};

export type McApi = typeof api;

await exposeWorker(api);
