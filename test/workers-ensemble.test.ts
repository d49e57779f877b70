import { afterAll, describe, expect, it } from 'vitest';
// the compiled modules (npm test builds first): the pool runs dist/workers/sim-worker.js
import { parseConfig } from '../dist/src/core/config.js';
import { ConvergenceError } from '../dist/src/core/errors.js';
import type { Result } from '../dist/src/core/result.js';
import { simulate } from '../dist/src/sim/ensemble.js';
import { simulateParallel } from '../dist/workers/ensemble.js';
import type { Pool } from '../dist/workers/pool.js';
import { simPool } from '../dist/workers/scripts.js';
import type { SimApi } from '../dist/workers/sim-worker.js';
import { rawConfig, runCli, tempDir, writeIn } from './helpers.js';

const raw = rawConfig(
  { kind: 'sum', P: 6, Ptest: 4, D: 5, seed: 3 },
  { model: { depth: 2, activation: 'tanh', gamma0: 1.5 }, train: { T: 4, record: 5 }, output: { predictions: true, kernels: true } },
);
const cfg = parseConfig(raw);
const opts = { width: 48, seeds: 5 };

const pools: Pool<SimApi>[] = [];
afterAll(() => Promise.all(pools.map((p) => p.close())));
async function pool(size: number) {
  const p = await simPool({ size });
  pools.push(p);
  return p;
}

/** Everything but the wall-clock time and the command line. */
function timeless(r: Result) {
  return { ...r, meta: { ...r.meta, seconds: 0, command: '' } };
}

describe('simulation ensembles in workers', () => {
  it('are bit-identical for pool sizes 1, 2, 4 and equal to the in-process simulate', async () => {
    const reference = timeless(simulate(cfg, opts));
    expect(reference.kernels).toBeDefined();
    for (const size of [1, 2, 4]) {
      const progress: number[] = [];
      const r = await simulateParallel(cfg, { ...opts, onProgress: (done) => progress.push(done) }, await pool(size));
      expect(timeless(r)).toEqual(reference);
      expect(progress).toEqual([5, 10, 15, 20, 25]);
    }
  });

  it('a diverging seed fails the ensemble with a ConvergenceError naming the seed', async () => {
    const bad = parseConfig({
      ...raw,
      output: undefined,
      model: { depth: 1, activation: 'tanh', gamma0: 0.5 },
      train: { steps: 10, lr: 1000, record: 6 },
    });
    const err = await simulateParallel(bad, { width: 16, seeds: 2 }, await pool(2)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConvergenceError);
    expect((err as Error).message).toMatch(/^seed [01]: simulation diverged at t = /);
  });

  it('stops promptly when aborted', async () => {
    const big = parseConfig({ ...raw, output: undefined, train: { T: 50, record: 5 } });
    const ac = new AbortController();
    const run = simulateParallel(big, { width: 1500, seeds: 4 }, await pool(2), ac.signal).catch((e: Error) => ({
      name: e.name,
      at: performance.now(),
    }));
    await new Promise((r) => setTimeout(r, 300));
    const abortedAt = performance.now();
    ac.abort();
    const outcome = await run;
    expect(outcome).toMatchObject({ name: 'AbortError' });
    expect((outcome as { at: number }).at - abortedAt).toBeLessThan(50);
  });

  it('dmft simulate --workers W: the same result for W = 1, 2, 4; divergence exits 3 naming the seed', () => {
    const dir = tempDir('simw');
    const file = writeIn(dir, 'c.json', { ...raw, output: undefined });
    const run = (w: string) => runCli(['simulate', file, '--width', '32', '--seeds', '4', '--workers', w]);
    const [one, two, four] = ['1', '2', '4'].map(run);
    expect(one.status, one.stderr).toBe(0);
    const results = [one, two, four].map((r) => timeless(JSON.parse(r.stdout)));
    expect(results[1]).toEqual(results[0]);
    expect(results[2]).toEqual(results[0]);
    writeIn(dir, 'c.json', {
      ...raw,
      output: undefined,
      model: { depth: 1, activation: 'tanh', gamma0: 0.5 },
      train: { steps: 10, lr: 1000, record: 6 },
    });
    const bad = run('2');
    expect(bad.status).toBe(3);
    expect(bad.stderr).toMatch(/^dmft: seed [0-3]: simulation diverged at t = /);
  });
});
