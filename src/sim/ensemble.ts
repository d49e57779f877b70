import { refuseOutputs, type Config } from '../core/config.js';
import { fromRows } from '../core/linalg.js';
import { pointwiseSem } from '../core/stats.js';
import { availableMemory, formatBytes } from '../core/memory.js';
import { kernelPath } from './wasm/arena.js';
import { MAX_ARENA_BYTES, networkBytes } from './network.js';
import { alignment } from '../dmft/observables.js';
import { InputError } from '../core/errors.js';
import { makeMeta, type Result, type SimulateMeta } from '../core/result.js';
import type { KernelSnapshot } from './record.js';
import { DEFAULT_DT, DEFAULT_TOL, flowIntegrator, simulateNetwork, type Integrator, type NetworkRun } from './train.js';

/**
 * `seeds` independent networks of one width (seed s draws from stream(cfg.solver.seed, 'sim', s, ...),
 * so its numbers do not depend on the other seeds) -> mean and standard error over seeds of every
 * recorded curve, as the INTERFACE result with width, seeds, trainLossSem, testLossSem.
 */
export interface EnsembleOptions {
  width: number;
  seeds: number;
  integrator?: Integrator;
  dt?: number;
  tol?: number;
  times?: readonly number[];
  /** progress in recorded times over all seeds */
  onProgress?: (done: number, total: number) => void;
}

type Nested = number | Nested[];

/** Elementwise mean of equally shaped nested arrays. */
function mean(xs: readonly Nested[]): Nested {
  if (typeof xs[0] === 'number') return (xs as number[]).reduce((a, b) => a + b, 0) / xs.length;
  return (xs[0] as Nested[]).map((_, i) => mean(xs.map((x) => (x as Nested[])[i])));
}

/**
 * Refuse, before anything is allocated, what `simulate` cannot do: bad seeds or width, outputs it does not
 * produce, and networks too large for memory (`concurrent` of them at once) or for the SIMD kernels' arena.
 */
export function checkEnsemble(cfg: Config, opts: EnsembleOptions, concurrent = 1): void {
  const { seeds, width } = opts;
  if (!Number.isInteger(seeds) || seeds < 1) throw new InputError('seeds', `expected an integer >= 1, got ${seeds}`);
  if (!Number.isInteger(width) || width < 1) throw new InputError('width', `expected an integer >= 1, got ${width}`);
  refuseOutputs(cfg.output, 'simulate', SIMULATED_OUTPUTS);
  const integrator = cfg.train.kind === 'gd' ? 'gd' : flowIntegrator(cfg, opts);
  const at = Math.min(concurrent, seeds);
  const free = availableMemory();
  const fits = (N: number) => {
    const b = networkBytes(cfg, N, integrator);
    return (kernelPath() !== 'simd' || b.arena <= MAX_ARENA_BYTES) && (free === undefined || at * b.total <= 0.8 * free);
  };
  if (fits(width)) return;
  let lo = 0,
    hi = width; // fits(lo), not fits(hi)
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid;
  }
  const b = networkBytes(cfg, width, integrator);
  const limit =
    kernelPath() === 'simd' && b.arena > MAX_ARENA_BYTES
      ? `its arrays (${formatBytes(b.arena)}) exceed the 4 GB WebAssembly memory of the SIMD kernels (DMFT_SIM_KERNELS=scalar lifts that limit)`
      : `${at} at once need ${formatBytes(at * b.total)}, more than 80% of the ${formatBytes(free!)} of free memory`;
  throw new InputError(
    'width',
    `a depth-${cfg.model.depth} network of width ${width} needs ${formatBytes(b.total)} (${integrator}): ${limit}; the largest width that fits is ${lo}`,
  );
}

export function simulate(cfg: Config, opts: EnsembleOptions): Result {
  const started = performance.now();
  checkEnsemble(cfg, opts);
  const { seeds, width } = opts;
  const total = seeds * (opts.times?.length ?? cfg.train.record);
  let done = 0;
  const runs: NetworkRun[] = [];
  for (let s = 0; s < seeds; s++)
    runs.push(
      simulateNetwork(cfg, {
        width,
        seed: s,
        integrator: opts.integrator,
        dt: opts.dt,
        tol: opts.tol,
        times: opts.times,
        onRecord: () => opts.onProgress?.(++done, total),
      }),
    );
  return ensembleResult(cfg, opts, runs, started);
}

/** The opt-in outputs (config.output) simulations produce. */
export const SIMULATED_OUTPUTS = ['predictions', 'kernels', 'alignment'] as const;

/** The INTERFACE result of the runs of seeds 0..S-1 (in seed order); `started` from performance.now(). */
export function ensembleResult(cfg: Config, opts: EnsembleOptions, runs: readonly NetworkRun[], started: number): Result {
  const r0 = runs[0],
    seeds = runs.length;
  const testLoss = r0.testLoss ? runs.map((r) => r.testLoss!) : undefined;
  const integrator = r0.integrator;
  const result: Result = {
    t: r0.t,
    trainLoss: mean(runs.map((r) => r.trainLoss)) as number[],
    ...(testLoss ? { testLoss: mean(testLoss) as number[] } : {}),
    ntkFinal: mean(runs.map((r) => r.ntkFinal)) as number[][],
    width: opts.width,
    seeds,
    trainLossSem: pointwiseSem(runs.map((r) => r.trainLoss)),
    ...(testLoss ? { testLossSem: pointwiseSem(testLoss) } : {}),
    meta: makeMeta<SimulateMeta>('simulate', started, {
      integrator,
      ...(integrator === 'rk4' ? { dt: opts.dt ?? DEFAULT_DT } : integrator === 'ck' ? { tol: opts.tol ?? DEFAULT_TOL } : {}),
      gamma0: r0.gamma0,
      steps: r0.steps,
      ...(r0.lrStability
        ? { lrStability: mean(runs.map((r) => r.lrStability!)) as number[], lrStabilitySem: pointwiseSem(runs.map((r) => r.lrStability!)) }
        : {}),
      ...(seeds === 1 ? { warnings: ['one seed: the standard errors are not estimated (reported as 0)'] } : {}),
    }),
  };
  if (cfg.output.predictions)
    result.predictions = {
      train: mean(runs.map((r) => r.predictions.train)) as number[][],
      ...(r0.predictions.test ? { test: mean(runs.map((r) => r.predictions.test!)) as number[][] } : {}),
    };
  if (cfg.output.kernels) {
    const over = (pick: (k: KernelSnapshot) => Nested) => mean(runs.map((r) => r.kernels!.map(pick)));
    // layer-major like the solvers' results: kernels.Phi[l - 1][k] = Phi^l at t[k] over train then test points
    // (l = 1..L); likewise G; ntk[k]
    const perLayer = (perTime: Nested) =>
      (perTime as number[][][][])[0].map((_, l) => (perTime as number[][][][]).map((layers) => layers[l]));
    result.kernels = { Phi: perLayer(over((k) => k.Phi)), G: perLayer(over((k) => k.G)), ntk: over((k) => k.ntk) as number[][][] };
  }
  // each network's kernel-target alignment, averaged over seeds (as the Monte Carlo solver averages over replicas)
  if (cfg.output.alignment)
    result.alignment = mean(runs.map((r) => r.kernels!.map((k) => alignment(fromRows(k.ntk), cfg.data.y)))) as number[];
  return result;
}
