import { afterAll, describe, expect, it } from 'vitest';
import { availableParallelism } from 'node:os';
// the compiled pool and worker scripts (npm test builds first): workers run as JS
import { createPool, TaskError, transfer, type Pool } from '../dist/workers/pool.js';
import type { FaultyApi } from '../dist/workers/testing/faulty-worker.js';
import { ConvergenceError } from '../dist/src/core/errors.js';

const FAULTY = new URL('../dist/workers/testing/faulty-worker.js', import.meta.url);
const pools: Pool<FaultyApi>[] = [];

async function faultyPool(size: number) {
  const crashes: [string, string, boolean][] = [];
  const pool = await createPool<FaultyApi>(FAULTY, { size, onCrash: (...c) => crashes.push(c) });
  pools.push(pool);
  return { pool, crashes };
}

afterAll(() => Promise.all(pools.map((p) => p.close())));

describe('worker pool', () => {
  it("defaults to the available cores; returns Float64Arrays by copy, never detaching the worker's buffers", async () => {
    const pool = await createPool<FaultyApi>(FAULTY);
    pools.push(pool);
    expect(pool.size).toBe(availableParallelism());
    const { pool: one } = await faultyPool(1);
    const x = Float64Array.from({ length: 100_000 }, (_, i) => i);
    const y = await one.run('square', (w) => w.square(x));
    expect(y).toBeInstanceOf(Float64Array);
    expect(y[99_999]).toBe(99_999 ** 2);
    expect(x.length).toBe(100_000); // arguments are copied: the caller keeps its array
    // a detached buffer would slow all later typed-array code of the worker (workers/expose.ts)
    expect(await one.run('detached?', (w) => w.lastDetached())).toBe(false);
    // an argument is moved only when asked
    expect(await one.run('length', (w) => w.length(transfer(x, [x.buffer])))).toBe(100_000);
    expect(x.length).toBe(0);
  });

  it('a worker that exits or throws uncaught is replaced, its task retried once, then failed by name', async () => {
    const { pool, crashes } = await faultyPool(2);
    const before = await pool.run('id', (w) => w.threadId());
    await expect(pool.run('seed 3', (w) => w.exit(3))).rejects.toThrow(
      new TaskError('seed 3', 'worker died (exited with code 3), also on the retry'),
    );
    expect(crashes).toEqual([
      ['seed 3', 'exited with code 3', true],
      ['seed 3', 'exited with code 3', false],
    ]);
    await expect(pool.run('batch 7', (w) => w.throwUncaught('boom'))).rejects.toThrow(
      'batch 7: worker died (uncaught Error: boom), also on the retry',
    );
    // the pool keeps working on fresh workers
    const ids = await Promise.all([0, 1, 2, 3].map((i) => pool.run(`id ${i}`, (w) => w.threadId())));
    expect(ids).not.toContain(before);
    expect(await pool.run('square', (w) => w.square(new Float64Array([3])))).toEqual(new Float64Array([9]));
  });

  it('a worker out of memory dies alone: the task fails by name, the pool goes on', async () => {
    const crashes: string[] = [];
    const pool = await createPool<FaultyApi>(FAULTY, { size: 1, maxMemoryMb: 32, onCrash: (_, reason) => crashes.push(reason) });
    pools.push(pool);
    await expect(pool.run('batch 2', (w) => w.hog())).rejects.toThrow(
      /^batch 2: worker died \(uncaught Error: .*memory limit.*\), also on the retry$/,
    );
    expect(crashes).toHaveLength(2);
    expect(await pool.run('square', (w) => w.square(new Float64Array([2])))).toEqual(new Float64Array([4]));
  });

  it('a worker that dies once succeeds on the retry', async () => {
    const { pool, crashes } = await faultyPool(1);
    const counter = new SharedArrayBuffer(4);
    expect(await pool.run('flaky', (w) => w.crashOnce(counter))).toBe('recovered');
    expect(new Int32Array(counter)[0]).toBe(2);
    expect(crashes).toEqual([['flaky', 'exited with code 7', true]]);
  });

  it('an error thrown by the task fails it by name at once, without a retry, and keeps its class', async () => {
    const { pool, crashes } = await faultyPool(1);
    const id = await pool.run('id', (w) => w.threadId());
    const err = await pool.run('point 4', (w) => w.fail('bad input')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TaskError);
    expect((err as TaskError).message).toBe('point 4: bad input');
    const div = await pool.run('seed 1', (w) => w.diverge('diverged at t = 3')).catch((e: unknown) => e);
    expect(div).toBeInstanceOf(ConvergenceError);
    expect((div as Error).message).toBe('seed 1: diverged at t = 3');
    expect(crashes).toEqual([]);
    expect(await pool.run('id', (w) => w.threadId())).toBe(id);
  });

  it('aborting stops running and queued tasks promptly and terminates their workers', async () => {
    const { pool } = await faultyPool(2);
    const ids = await Promise.all([pool.run('a', (w) => w.threadId()), pool.run('b', (w) => w.threadId())]);
    const ac = new AbortController();
    let abortedAt = Infinity;
    const tasks = [0, 1, 2, 3].map((i) =>
      pool.run(`spin ${i}`, (w) => w.spin(20_000), { signal: ac.signal }).catch((e: Error) => ({ name: e.name, at: performance.now() })),
    );
    setTimeout(() => {
      abortedAt = performance.now();
      ac.abort();
    }, 200);
    const outcomes = await Promise.all(tasks);
    for (const o of outcomes) {
      expect(o).toMatchObject({ name: 'AbortError' });
      // rejected within 50 ms of the abort (the spins would take 20 s)
      expect((o as { at: number }).at - abortedAt).toBeLessThan(50);
    }
    await expect(pool.run('late', (w) => w.threadId(), { signal: ac.signal })).rejects.toMatchObject({ name: 'AbortError' });
    // the spinning workers were terminated: new tasks run on new threads, at once
    const t0 = performance.now();
    const after = await Promise.all([pool.run('c', (w) => w.threadId()), pool.run('d', (w) => w.threadId())]);
    expect(performance.now() - t0).toBeLessThan(2000);
    for (const id of after) expect(ids).not.toContain(id);
  });

  it('closing fails queued tasks by name and refuses new ones', async () => {
    const { pool } = await faultyPool(1);
    const settled = Promise.allSettled([pool.run('long', (w) => w.spin(20_000)), pool.run('next', (w) => w.threadId())]);
    await pool.close();
    expect((await settled).map((s) => s.status === 'rejected' && (s.reason as Error).message)).toEqual([
      'long: the pool was closed',
      'next: the pool was closed',
    ]);
    await expect(pool.run('after', (w) => w.threadId())).rejects.toThrow('after: the pool is closed');
  });

  it('runAll: many tasks (here 24) in task order, without a listener-leak warning on the shared stop signal', async () => {
    const { pool } = await faultyPool(2);
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const ids = await pool.runAll(
        24,
        (i) => `task ${i}`,
        (w, i) => w.length(new Float64Array(i)),
      );
      expect(ids).toEqual(Array.from({ length: 24 }, (_, i) => i));
      await new Promise((r) => setTimeout(r, 10)); // warnings are emitted on a later tick
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings).not.toContain('MaxListenersExceededWarning');
  });
});
