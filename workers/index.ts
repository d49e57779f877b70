/**
 * The `dmft-learning/workers` entry: worker pools (Node worker_threads or browser Web Workers) for running the
 * toolkit's tasks, or one's own worker script, in parallel. Close a pool you create: `await pool.close()`.
 */
export { createPool, Pool, TaskError, type PoolOptions } from './pool.js';
export { simPool, mcPool, sweepPool } from './scripts.js';
export { simulateParallel } from './ensemble.js';
export { exposeWorker, type WorkerApi } from './expose.js';
