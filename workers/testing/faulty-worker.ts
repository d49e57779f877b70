import { threadId } from 'node:worker_threads';
import { ConvergenceError } from '../../src/core/errors.js';
import { exposeWorker } from '../expose.js';

/** Test-only worker (test/workers-*.test.ts): fails on demand in each way a pool must survive. */
let last: Float64Array | undefined;

export const api = {
  threadId: () => threadId,
  /** returns x^2 elementwise in a fresh array, which the pool copies back */
  square(x: Float64Array): Float64Array {
    last = x.map((v) => v * v);
    return last;
  },
  length: (x: Float64Array) => x.length,
  /** whether the last returned array's buffer was detached here (it must not be: workers/expose.ts) */
  lastDetached: () => last?.buffer.byteLength === 0,
  /** busy for `ms` milliseconds without yielding */
  spin(ms: number): number {
    const end = performance.now() + ms;
    let n = 0;
    while (performance.now() < end) n++;
    return n;
  },
  exit(code: number): never {
    process.exit(code);
  },
  /** an uncaught exception outside any call: the worker dies */
  throwUncaught(message: string): Promise<never> {
    setTimeout(() => {
      throw new Error(message);
    });
    return new Promise(() => {});
  },
  fail(message: string): never {
    throw new Error(message);
  },
  diverge(message: string): never {
    throw new ConvergenceError(message);
  },
  /** allocates until the heap limit kills the worker */
  hog(): number[][] {
    const kept: number[][] = [];
    for (;;) kept.push(Array.from({ length: 1 << 16 }, (_, i) => i + kept.length));
  },
  /** the first call (counted in a shared counter) kills its worker; later calls succeed */
  crashOnce(counter: SharedArrayBuffer): string {
    if (Atomics.add(new Int32Array(counter), 0, 1) === 0) process.exit(7);
    return 'recovered';
  },
};

export type FaultyApi = typeof api;

await exposeWorker(api);
