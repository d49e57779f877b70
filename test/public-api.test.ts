import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as api from '../dist/src/index.js';
import * as workers from '../dist/workers/index.js';
import { rawConfig } from './helpers.js';

// The package's public entry (README, "Library"): what users call is there by name, internals are not, and a
// problem solves end to end through it alone. The compiled entry, as a user imports it (npm test builds first).
const ROOT = fileURLToPath(new URL('..', import.meta.url));

describe('public API', () => {
  it('exports what users call and not the internals', () => {
    for (const name of [
      'parseConfig',
      'solve',
      'solveLazy',
      'solveWorkers',
      'simulate',
      'simulateWorkers',
      'initialKernels',
      'plotSpec',
      'sweepSpec',
      'stream',
      'InputError',
      'DivergenceError',
      'configRecord',
      'curvesCsv',
    ])
      expect(typeof (api as Record<string, unknown>)[name], name).toBe('function');
    for (const name of [
      'marchReplica',
      'replicaBytes',
      'CausalFactor',
      'trapezoidWeights',
      'combineReplicas',
      'planMonteCarlo',
      'Network',
      'LowRankStepper',
      'crossDots',
      'createPool',
    ])
      expect((api as Record<string, unknown>)[name], name).toBeUndefined();
    expect(Object.keys(workers).sort()).toEqual([
      'Pool',
      'TaskError',
      'createPool',
      'exposeWorker',
      'mcPool',
      'simPool',
      'simulateParallel',
      'sweepPool',
    ]);
  });

  it('solves, simulates and closes a pool through the entry alone', async () => {
    const cfg = api.parseConfig(
      rawConfig(
        { kind: 'linear', P: 6, D: 4, Ptest: 2, seed: 1 },
        { model: { depth: 1, activation: 'tanh', gamma0: 0.5 }, train: { T: 2, record: 3 } },
      ),
    );
    const theory = api.solve(cfg);
    const lazy = api.solveLazy(cfg);
    expect(theory.meta.method).toBe('two-layer');
    expect(theory.trainLoss[2]).toBeLessThan(lazy.trainLoss[0]);
    const pool = await workers.simPool({ size: 1 });
    try {
      const nets = await workers.simulateParallel(cfg, { width: 64, seeds: 2 }, pool);
      expect(nets.trainLoss).toEqual(api.simulate(cfg, { width: 64, seeds: 2 }).trainLoss);
    } finally {
      await pool.close();
    }
  });

  it('resolves by package name, as an installed package does (the exports map)', () => {
    const code =
      "const m = await import('dmft-learning'); const w = await import('dmft-learning/workers'); console.log(typeof m.solve, typeof w.createPool)";
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { cwd: ROOT, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('function function');
  });
});
