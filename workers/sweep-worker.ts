import type { Config } from '../src/core/config.js';
import { exposeWorker } from './expose.js';
import { KINDS, type Kind, type RunOptions } from './kinds.js';

/** Worker script of `dmft sweep`: runs one point of a sweep. */
export const api = {
  runPoint: (kind: Kind, cfg: Config, options: RunOptions) => KINDS[kind].run(cfg, options),
};

export type SweepApi = typeof api;

await exposeWorker(api);
