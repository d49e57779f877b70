import { parseWith, refuseOutputs, type Config } from '../core/config.js';
import { InputError } from '../core/errors.js';
import { checkDivergence, type Result } from '../core/result.js';
import { scheduleOf, type Schedule } from '../core/schedule.js';
import { checkTimes } from './grid.js';
import { METHOD_REGISTRY, type MethodEntry, type SolverMethod } from './methods.js';

/**
 * `dmft solve`: the infinite-width learning curves of a config (THEORY.md sections 3-4) by the method
 * solver.method names, `auto` picking static-ntk for gamma0 = 0 (or the NTK parameterization, whose
 * infinite-width limit is lazy), deep-linear for a linear activation, two-layer for L = 1 and monte-carlo otherwise.
 */
export interface SolveOptions {
  /** Gradient-flow times to report instead of train.record's evenly spaced ones (e.g. a simulator's grid). */
  times?: readonly number[];
  onProgress?: (done: number, total: number) => void;
  /** Told of what the caller should know but that does not change the result (workers/solve.ts: fewer workers than asked). */
  onWarning?: (note: string) => void;
}

export type { SolverMethod } from './methods.js';

/** The method that will run, or an InputError naming solver.method. */
export function chooseMethod(cfg: Config): SolverMethod {
  const { method } = cfg.solver;
  const { depth, activation: act, gamma0, parameterization } = cfg.model;
  if (method !== 'auto') {
    const why = (METHOD_REGISTRY[method] as MethodEntry).requires?.(cfg);
    if (why) throw new InputError('solver.method', `"${method}" ${why}`);
    return method;
  }
  if (gamma0 === 0 || parameterization === 'ntk') return 'static-ntk';
  if (act === 'linear') return 'deep-linear';
  if (depth === 1) return 'two-layer';
  return 'monte-carlo';
}

/** The method `solve` runs, its validated solver options and the times it reports (or an InputError). */
export function prepareSolve(cfg: Config, opts: SolveOptions = {}) {
  const method = chooseMethod(cfg);
  const entry: MethodEntry = METHOD_REGISTRY[method];
  // solver options the method does not know, or of the wrong type; then its defaults
  for (const key of Object.keys(cfg.solver))
    if (!(key in entry.options.shape))
      throw new InputError(`solver.${key}`, `unknown option for method ${method} (known: ${Object.keys(entry.options.shape).join(', ')})`);
  const options = parseWith(entry.options, cfg.solver, ['solver']);
  if (opts.times) {
    if (cfg.train.kind === 'gd')
      throw new InputError('times', 'explicit times are for gradient flow (train.T), not gradient descent (train.steps)');
    checkTimes(opts.times);
  }
  const schedule: Schedule = opts.times ? { kind: 'flow', t: opts.times } : scheduleOf(cfg.train);
  if (!entry.schedules.includes(schedule.kind))
    throw new InputError(
      'train.steps',
      `the ${method} solver integrates gradient flow (train.T); gradient descent (train.steps, train.lr) is not supported by it`,
    );
  refuseOutputs(cfg.output, entry.label, entry.outputs, entry.why);
  return { method, entry, options, schedule };
}

/** The solution of `cfg`; a diverged one throws DivergenceError with the curves up to the divergence. */
export function solve(cfg: Config, opts: SolveOptions = {}): Result {
  const { entry, options, schedule } = prepareSolve(cfg, opts);
  return checkDivergence(entry.run(cfg, options, schedule, opts), divergenceHint(cfg));
}

/** What to lower when a solution diverges. */
export const divergenceHint = (cfg: Config) => (cfg.train.kind === 'gd' ? 'lower train.lr' : 'lower solver.dt or solver.tol');
