import { describe, expect, it } from 'vitest';
// the compiled modules (npm test builds first): the pool runs dist/workers/mc-worker.js
import { parseConfig } from '../dist/src/core/config.js';
import { solve } from '../dist/src/dmft/solve.js';
import { solveWorkers } from '../dist/workers/solve.js';
import { rawConfig } from './helpers.js';

const config = (method: string, samples: number) =>
  parseConfig(
    rawConfig(
      { P: 4, Ptest: 3, D: 4, seed: 2 },
      {
        model: { depth: 2, activation: 'tanh', gamma0: 1 },
        train: { T: 2, record: 5 },
        solver: { method, samples, replicas: 4, dt: 0.25, seed: 7 },
        output: { predictions: true, kernels: true },
      },
    ),
  );

/** Everything but the wall-clock fields of meta (also those of an accuracy-targeted solve's stages). */
const numbers = (r: Record<string, unknown>) => {
  const { seconds: _s, timing: _t, accuracy, ...meta } = r.meta as Record<string, unknown>;
  if (!accuracy) return { ...r, meta };
  const a = accuracy as { stages: { seconds: number }[] };
  return { ...r, meta: { ...meta, accuracy: { ...a, stages: a.stages.map(({ seconds: _x, ...stage }) => stage) } } };
};

describe('Monte Carlo replicas in workers', () => {
  for (const method of ['gradient-independent', 'monte-carlo'])
    it(`${method}: bit-identical to the in-process solve for pool sizes 2 and 4`, async () => {
      const cfg = config(method, 32);
      const inProcess = numbers(solve(cfg));
      for (const W of [2, 4]) expect(numbers(await solveWorkers(cfg, {}, W))).toEqual(inProcess);
      // and the check can fail: another seed gives other numbers
      const other = numbers(await solveWorkers({ ...cfg, solver: { ...cfg.solver, seed: 8 } }, {}, 2));
      expect(other.trainLoss).not.toEqual(inProcess.trainLoss);
    });

  it('an accuracy-targeted solve (solver.targetError): the pool runs the same solves, bit-identical to the in-process one', async () => {
    const base = config('monte-carlo', 32);
    const cfg = { ...base, solver: { ...base.solver, targetError: 1e-4, maxSamples: 64 } };
    const inProcess = numbers(solve(cfg));
    expect(inProcess.meta.samples).toBe(64);
    expect(numbers(await solveWorkers(cfg, {}, 2))).toEqual(inProcess);
  });

  it('bad options are refused before any worker starts', async () => {
    await expect(solveWorkers(config('monte-carlo', 3), {}, 2)).rejects.toThrow(/^solver\.samples: needs at least 2 samples per replica/);
  });
});
