import type { Config } from '../src/core/config.js';
import { simulateNetwork, type NetworkOptions } from '../src/sim/train.js';
import { exposeWorker } from './expose.js';

/** Worker script of simulation ensembles: one seed of one config (onRecord stays in the worker). */
export const api = {
  simulateNetwork: (cfg: Config, opts: Omit<NetworkOptions, 'onRecord'>) => simulateNetwork(cfg, opts),
};

export type SimApi = typeof api;

await exposeWorker(api);
