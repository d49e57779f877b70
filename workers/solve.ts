import * as Comlink from 'comlink';
import type { Config } from '../src/core/config.js';
import { DivergenceError } from '../src/core/errors.js';
import type { Result } from '../src/core/result.js';
import { formatBytes } from '../src/core/memory.js';
import { monteCarloSolves, replicasInMemory, runMonteCarlo, type McSolverOptions } from '../src/dmft/monte-carlo.js';
import { checkDivergence } from '../src/core/result.js';
import { divergenceHint, prepareSolve, solve, type SolveOptions } from '../src/dmft/solve.js';
import { platform } from './platform.js';
import type { SolveOutcome } from './mc-worker.js';
import { mcPool } from './scripts.js';

/**
 * `dmft solve --workers W`: the Monte Carlo methods run their replicas in a pool of W workers (default:
 * all cores), one task per replica, reduced in replica order, so the result equals the in-process `solve`
 * to the bit whatever W; an accuracy-targeted solve runs its solves one after the other in the same pool
 * (src/dmft/monte-carlo.ts, monteCarloSolves). Other methods run in one worker (the same numbers), W = 1 in this
 * thread. The first replica
 * to fail (or `signal`) stops the others. The pool has no more workers than replicas fit in memory at once
 * (src/dmft/monte-carlo.ts, replicasInMemory; fewer are reported through opts.onWarning).
 */
export async function solveWorkers(cfg: Config, opts: SolveOptions = {}, workers?: number, signal?: AbortSignal): Promise<Result> {
  const { method, options, schedule } = prepareSolve(cfg, opts);
  if (workers === 1) return solve(cfg, opts);
  if (method !== 'monte-carlo' && method !== 'gradient-independent') return solveInWorker(cfg, opts, signal);
  // no more replicas at once than fit in memory (or an InputError if none does), checked first from sizes alone
  const wanted = workers ?? (await platform()).cores;
  const { concurrent, bytesPerReplica } = replicasInMemory(cfg, schedule, options as McSolverOptions, method, wanted);
  if (concurrent < wanted)
    opts.onWarning?.(
      `${concurrent} of ${wanted} workers: each replica needs ${formatBytes(bytesPerReplica)}, and ${concurrent} at once is what fits in this machine's free memory`,
    );
  // the pool starts with the first solve's replicas, after its plan: bad options are refused before any worker starts
  let pool: Awaited<ReturnType<typeof mcPool>> | undefined;
  try {
    const result = await runMonteCarlo(
      monteCarloSolves(cfg, schedule, options as McSolverOptions, method, performance.now()),
      async ({ plan, progress }) => {
        pool ??= await mcPool({ size: concurrent });
        return pool.runAll(
          plan.replicas,
          (r) => `replica ${r}`,
          (w, r) => w.replica(cfg, schedule, plan.options, method, r),
          { signal, onDone: (finished) => opts.onProgress?.(...progress(finished * plan.pb.rule.t.length)) },
        );
      },
    );
    return checkDivergence(result, divergenceHint(cfg));
  } finally {
    await pool?.close();
  }
}

/** The other methods: one solve in one worker, its progress sent back as it goes. */
async function solveInWorker(cfg: Config, opts: SolveOptions, signal?: AbortSignal): Promise<Result> {
  const pool = await mcPool({ size: 1 });
  try {
    const onProgress = opts.onProgress && Comlink.proxy(opts.onProgress);
    const out: SolveOutcome = await pool.run('solve', (w) => w.solve(cfg, opts.times, onProgress), { signal });
    if (out.diverged !== undefined) throw new DivergenceError(out.diverged, out.partial);
    return out.result!;
  } finally {
    await pool.close();
  }
}
