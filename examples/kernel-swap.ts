import type { Config } from '../src/core/config.js';
import { block, dense, fromRows, toRows, type Dense } from '../src/core/linalg.js';
import type { Result } from '../src/core/result.js';
import { LOSS_FLOOR, lossAlongNtk } from '../src/dmft/observables.js';
import { initialKernels, ntkFrom } from '../src/theory/kernels.js';
import { allInputs } from '../src/core/schedule.js';
import { simulateWorkers } from '../workers/ensemble.js';
import { solveWorkers } from '../workers/solve.js';
import { validationConfig } from './validate-mc.js';

/**
 * Which kernel carries a gap between the DMFT and simulated networks (`npm run validate -- mc-kernel-swap`, or
 * `node dist/examples/kernel-swap.js [depth activation gamma0 width seeds samples]`; default L = 2 relu,
 * gamma0 = 1.5, the relu case of the README's "Known limits", width 1500, 10 seeds).
 * Both record their kernels over time (output.kernels). The train loss is then integrated along each one's NTK
 * path (dDelta/dt = -K Delta / P, K linear between the records: lossAlongNtk), which reproduces the two direct
 * curves up to the interpolation where the NTK's Gram form holds. With relu it does not: the flow along the
 * networks' own NTKs learns faster than they do, and so does the DMFT's, whose relu outputs are read off the
 * fields (README, Monte Carlo). Then the simulations' path is rebuilt from its kernels
 * (THEORY.md section 2: K = G^1 o K^x + sum_l G^{l+1} o Phi^l) with one kernel's change since t = 0 taken from
 * the DMFT instead, X(t) = X_sim(0) + X_DMFT(t) - X_DMFT(0): the kernel whose swap moves the loss as much as
 * the whole DMFT path does is where the gap comes from.
 */
type Kernels = { Phi: number[][][][]; G: number[][][][]; ntk: number[][][] };

export async function kernelSwap(cfg: Config, run: { width: number; seeds: number }): Promise<string> {
  const withKernels: Config = { ...cfg, output: { ...cfg.output, kernels: true } };
  const sim = await simulateWorkers(withKernels, { width: run.width, seeds: run.seeds, integrator: 'rk4', dt: 0.05 });
  const theory = await solveWorkers(withKernels, { times: sim.t });
  return swapTable(withKernels, sim, theory);
}

/**
 * The train-loss curves of kernelSwap from the two results (both with kernels at the same times): along the
 * simulations' NTKs, along the DMFT's, and along the simulations' with one kernel's change swapped (by name).
 */
export function swapCurves(
  cfg: Config,
  sim: Result,
  theory: Result,
): { simPath: number[]; dmftPath: number[]; swapped: Record<string, number[]> } {
  const L = cfg.model.depth,
    P = cfg.data.X.length,
    y = cfg.data.y,
    t = sim.t;
  const S = sim.kernels as Kernels,
    D = theory.kernels as Kernels;
  const trainRows = (rows: number[][]) => rows.slice(0, P).map((r) => r.slice(0, P));
  const train = (rows: number[][]): Dense => fromRows(trainRows(rows));
  const Kx = block(initialKernels(allInputs(cfg), L, cfg.model.activation).Phi[0], 0, P, 0, P);
  const ones = dense(P, P, new Float64Array(P * P).fill(1));
  // the simulations' kernel `which`^l at time k, or (swapped) with its change since t = 0 from the DMFT
  const kernel = (which: 'Phi' | 'G', l: number, k: number, swap: string): Dense => {
    const s = train(S[which][l - 1][k]);
    if (swap !== `${which}^${l}`) return s;
    const s0 = train(S[which][l - 1][0]),
      d = train(D[which][l - 1][k]),
      d0 = train(D[which][l - 1][0]);
    return dense(
      P,
      P,
      s0.data.map((v, i) => v + d.data[i] - d0.data[i]),
    );
  };
  const path = (swap: string) =>
    t.map((_, k) => {
      const Phi = [Kx, ...Array.from({ length: L }, (_, i) => kernel('Phi', i + 1, k, swap))];
      const G = [dense(0, 0), ...Array.from({ length: L }, (_, i) => kernel('G', i + 1, k, swap)), ones];
      return toRows(ntkFrom(Phi, G));
    });
  const names = [...Array.from({ length: L }, (_, i) => `G^${i + 1}`), ...Array.from({ length: L }, (_, i) => `Phi^${i + 1}`)];
  return {
    simPath: lossAlongNtk(t, path('none'), y),
    dmftPath: lossAlongNtk(t, D.ntk.map(trainRows), y),
    swapped: Object.fromEntries(names.map((name) => [name, lossAlongNtk(t, path(name), y)])),
  };
}

/** kernelSwap's table: losses at mid and final time, deviations relative to max(loss, 1% of its start). */
export function swapTable(cfg: Config, sim: Result, theory: Result): string {
  const { simPath, dmftPath, swapped } = swapCurves(cfg, sim, theory);
  const t = sim.t,
    floor = LOSS_FLOOR * sim.trainLoss[0];
  const columns = [Math.round((t.length - 1) / 2), t.length - 1];
  const losses = (c: number[]) => columns.map((k) => c[k].toPrecision(4)).join(' | ');
  const dev = (a: number[], b: number[]) =>
    columns.map((k) => `${((100 * (a[k] - b[k])) / Math.max(b[k], floor)).toFixed(1)}%`).join(' | ');
  const head = columns.map((k) => `t = ${t[k]}`);
  const rows = [
    `| train loss | ${head.join(' | ')} | deviation at ${head.join(' | at ')} |`,
    `| --- | --- | --- | --- | --- |`,
    `| simulated networks | ${losses(sim.trainLoss)} | reference | reference |`,
    `| DMFT | ${losses(theory.trainLoss)} | ${dev(theory.trainLoss, sim.trainLoss)} |`,
    `| flow along the simulations' NTKs | ${losses(simPath)} | reference | reference |`,
    `| flow along the DMFT's NTKs | ${losses(dmftPath)} | ${dev(dmftPath, simPath)} |`,
    ...Object.entries(swapped).map(
      ([name, c]) => `| simulations' NTKs with the DMFT's change of ${name} | ${losses(c)} | ${dev(c, simPath)} |`,
    ),
  ];
  const name = `L = ${cfg.model.depth} ${cfg.model.activation}, gamma0 = ${cfg.model.gamma0}`;
  return [
    `Kernel swap, ${name}: DMFT vs width ${sim.width} (${sim.seeds} seeds); deviations relative to max(loss, 1% of its start):`,
    '',
    ...rows,
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [depth, activation, gamma0, width, seeds, samples] = process.argv.slice(2);
  const cfg = validationConfig(+(depth ?? 2), activation ?? 'relu', +(gamma0 ?? 1.5), samples ? +samples : undefined);
  console.log(await kernelSwap(cfg, { width: +(width ?? 1500), seeds: +(seeds ?? 10) }));
}
