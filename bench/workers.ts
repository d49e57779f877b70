import { cpus } from 'node:os';
import { parseConfig } from '../src/core/config.js';
import { simulateWorkers } from '../workers/ensemble.js';
import { solveWorkers } from '../workers/solve.js';

/**
 * Parallel speed-up of the worker pool (issue: >= 1.7x for W = 2 on this 2-core machine): the Monte Carlo
 * DMFT solver (8 replicas) and an 8-seed simulation ensemble, W = 1 (in this thread) against W = 2,
 * best of two runs each. Results are bit-identical across W (test/workers-*.test.ts); times include
 * starting the workers.
 */
const base = {
  data: { synthetic: { kind: 'single-index', P: 10, Ptest: 20, D: 8, seed: 1 } },
  model: { depth: 2, activation: 'tanh', gamma0: 1 },
};
// the Monte Carlo speed problem of bench/mc.ts: solver defaults (8 replicas x 1024 samples), T = 20, 37 grid times
const mcConfig = parseConfig({ ...base, train: { T: 20, record: 41 }, solver: { method: 'monte-carlo' } });
const simConfig = parseConfig({ ...base, train: { T: 10, record: 11 } });

async function best(run: () => Promise<unknown>): Promise<number> {
  let t = Infinity;
  for (let i = 0; i < 2; i++) {
    const started = performance.now();
    await run();
    t = Math.min(t, (performance.now() - started) / 1000);
  }
  return t;
}

export async function benchWorkers(): Promise<string> {
  const rows = ['| task | W = 1 (s) | W = 2 (s) | speed-up |', '| --- | --- | --- | --- |'];
  const cases: [string, (W: number) => Promise<unknown>][] = [
    [
      'Monte Carlo DMFT, L = 2 tanh, P = 10 + 20, T = 20, solver defaults (8 replicas x 1024 samples)',
      (W) => solveWorkers(mcConfig, {}, W),
    ],
    [
      'simulate, L = 2 tanh, N = 500, 8 seeds, RK4 dt = 0.05, T = 10',
      (W) => simulateWorkers(simConfig, { width: 500, seeds: 8, integrator: 'rk4', dt: 0.05 }, W),
    ],
  ];
  for (const [name, run] of cases) {
    const one = await best(() => run(1));
    const two = await best(() => run(2));
    rows.push(`| ${name} | ${one.toFixed(2)} | ${two.toFixed(2)} | ${(one / two).toFixed(2)}x |`);
  }
  return [`${cpus().length} cores`, '', ...rows].join('\n');
}
