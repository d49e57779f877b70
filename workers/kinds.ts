import type { Config } from '../src/core/config.js';
import type { Result } from '../src/core/result.js';
import { solve } from '../src/dmft/solve.js';
import { simulate, type EnsembleOptions } from '../src/sim/ensemble.js';
import { solveLazy } from '../src/theory/lazy.js';

/**
 * What a sweep point can run: one line per kind. `needs` are the run options the kind requires
 * (checked before a sweep starts); the function runs in a worker (workers/sweep-worker.ts).
 */
export type RunOptions = Partial<Omit<EnsembleOptions, 'times' | 'onProgress'>>;

interface KindSpec {
  needs: readonly (keyof RunOptions)[];
  run: (cfg: Config, options: RunOptions) => Result;
}

export const KINDS = {
  lazy: { needs: [], run: (cfg) => solveLazy(cfg) },
  solve: { needs: [], run: (cfg) => solve(cfg) },
  simulate: { needs: ['width', 'seeds'], run: (cfg, o) => simulate(cfg, o as EnsembleOptions) },
} satisfies Record<string, KindSpec>;

export type Kind = keyof typeof KINDS;
export const KIND_NAMES = Object.keys(KINDS) as [Kind, ...Kind[]];
