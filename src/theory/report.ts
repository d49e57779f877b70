import type { Config } from '../core/config.js';
import { toRows } from '../core/linalg.js';
import { makeMeta, type KernelsMeta } from '../core/result.js';
import { initialKernels } from './kernels.js';
import { allInputs } from '../core/schedule.js';

/** `dmft kernels`: the t = 0 kernels of every layer over train + test points (train first). */
export function kernelsResult(cfg: Config) {
  const started = performance.now();
  const { depth, activation } = cfg.model;
  const k = initialKernels(allInputs(cfg), depth, activation, cfg.solver.quadrature);
  return {
    points: { train: cfg.data.X.length, test: cfg.data.Xtest?.length ?? 0 },
    Kx: toRows(k.Kx),
    Phi: k.Phi.slice(1).map(toRows),
    G: k.G.slice(1, depth + 1).map(toRows),
    ntk: toRows(k.ntk),
    meta: makeMeta<KernelsMeta>('kernels', started, {
      layout: 'Phi[i] = Phi^{i+1}, G[i] = G^{i+1} (i = 0..L-1); rows/columns: train points, then test points',
    }),
  };
}
