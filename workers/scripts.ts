import { createPool, type Pool, type PoolOptions } from './pool.js';
import type { McApi } from './mc-worker.js';
import type { SimApi } from './sim-worker.js';
import type { SweepApi } from './sweep-worker.js';

/** Pools of the toolkit's worker scripts, resolved next to this (compiled) module. */
export function simPool(options?: PoolOptions): Promise<Pool<SimApi>> {
  return createPool<SimApi>(new URL('./sim-worker.js', import.meta.url), options);
}

export function sweepPool(options?: PoolOptions): Promise<Pool<SweepApi>> {
  return createPool<SweepApi>(new URL('./sweep-worker.js', import.meta.url), options);
}

export function mcPool(options?: PoolOptions): Promise<Pool<McApi>> {
  return createPool<McApi>(new URL('./mc-worker.js', import.meta.url), options);
}
