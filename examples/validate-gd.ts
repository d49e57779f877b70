import { parseConfig, type Config } from '../src/core/config.js';
import { block, symmetricEigen } from '../src/core/linalg.js';
import { DivergenceError } from '../src/core/errors.js';
import type { Result } from '../src/core/result.js';
import { allInputs } from '../src/core/schedule.js';
import { solve } from '../src/dmft/solve.js';
import { simulate } from '../src/sim/ensemble.js';
import { SimulationDiverged } from '../src/sim/train.js';
import { initialKernels } from '../src/theory/kernels.js';

/**
 * Gradient descent at a finite learning rate (THEORY.md section 6): the DMFT `solve` with train.steps / train.lr
 * against the mean of SEEDS networks of width WIDTH trained by gradient descent at the same lr, for lr
 * lambda_max(K(0)) / P in RATIOS and gamma0 in {0.5, 1, 2}, plus one ratio above the lazy stability limit (2.5).
 * Agreement: max over recorded steps of |theory - networks| / max(networks, 1% of its start) within 3% (two-layer,
 * deep linear) or 5% (Monte Carlo). Each row also gives the largest lr lambda_max(K(t)) / P of the theory (the
 * edge of stability is 2) and the largest |difference| in the networks' standard errors.
 */
export const WIDTH = 2000,
  SEEDS = 8,
  STEPS = 40,
  RECORD = 21,
  RATIOS = [0.5, 1, 1.6, 1.9],
  ABOVE_EDGE = 2.5;

type Model = { depth: number; activation: Config['model']['activation']; gamma0: number };

export const GD_MODELS: { name: string; model: Omit<Model, 'gamma0'>; tolerance: number }[] = [
  { name: 'two-layer tanh', model: { depth: 1, activation: 'tanh' }, tolerance: 0.03 },
  { name: 'two-layer relu', model: { depth: 1, activation: 'relu' }, tolerance: 0.03 },
  { name: 'linear L = 2', model: { depth: 2, activation: 'linear' }, tolerance: 0.03 },
];

/** The validation problem (P = 10 + 20 test points, D = 8) at lr = ratio P / lambda_max(K(0)). */
export function gdConfig(model: Model, ratio: number, solver: Record<string, unknown> = {}): Config {
  const data = { synthetic: { kind: 'single-index', P: 10, Ptest: 20, D: 8, seed: 1 } };
  const probe = parseConfig({ data, model, train: { T: 1 } });
  const P = probe.data.X.length;
  const { values } = symmetricEigen(block(initialKernels(allInputs(probe), model.depth, model.activation).ntk, 0, P, 0, P));
  const lr = (ratio * P) / values[values.length - 1];
  return parseConfig({ data, model, train: { steps: STEPS, lr, record: RECORD }, solver });
}

/** max over steps of |a - b| / max(b, 1% of b's start), and the largest |a - b| / SE(b). */
function deviation(a: readonly number[], b: readonly number[], se: readonly number[]) {
  const n = Math.min(a.length, b.length);
  let rel = 0,
    z = 0;
  for (let k = 0; k < n; k++) {
    rel = Math.max(rel, Math.abs(a[k] - b[k]) / Math.max(b[k], 0.01 * b[0]));
    if (k > 0 && se[k] > 0) z = Math.max(z, Math.abs(a[k] - b[k]) / se[k]);
  }
  return { rel, z };
}

/** The run or, if it diverged, the step where and what was recorded before. */
function attempt(run: () => Result): { result?: Result; diverged?: number } {
  try {
    return { result: run() };
  } catch (e) {
    if (e instanceof DivergenceError) {
      const partial = e.partial as Result;
      return { diverged: partial.meta.diverged?.t };
    }
    if (e instanceof SimulationDiverged) return { diverged: Number(/t = ([\d.e+-]+)/.exec(e.message)?.[1]) };
    throw e;
  }
}

export function gdRow(name: string, model: Model, ratio: number, tolerance: number, solver: Record<string, unknown> = {}): string {
  const cfg = gdConfig(model, ratio, solver);
  const lr = (cfg.train as { lr: number }).lr;
  const t0 = performance.now();
  const theory = attempt(() => solve(cfg));
  const theorySeconds = (performance.now() - t0) / 1000;
  const sim = attempt(() => simulate(cfg, { width: WIDTH, seeds: SEEDS }));
  const head = `| ${name}, gamma0 = ${model.gamma0} | ${ratio} | ${lr.toPrecision(3)}`;
  if (!theory.result || !sim.result) {
    const where = (d?: number) => (d === undefined ? 'converges' : `diverges at step ${Math.round(d / lr)}`);
    // the theory stops at the recorded step whose loss blew up, the networks at the step itself
    const agree = !theory.result && !sim.result ? 'both diverge' : 'NO';
    return `${head} | - | theory ${where(theory.diverged)}, networks ${where(sim.diverged)} | | | ${theorySeconds.toFixed(1)} | ${agree} |`;
  }
  const th = theory.result,
    nets = sim.result;
  const train = deviation(th.trainLoss, nets.trainLoss, nets.trainLossSem!);
  const test = deviation(th.testLoss!, nets.testLoss!, nets.testLossSem!);
  const edge = Math.max(...th.meta.lrStability!);
  const ok = Math.max(train.rel, test.rel) <= tolerance;
  const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
  return `${head} | ${edge.toFixed(2)} | ${pct(train.rel)} / ${pct(test.rel)} | ${Math.max(train.z, test.z).toFixed(1)} | ${th.trainLoss.at(-1)!.toExponential(2)} vs ${nets.trainLoss.at(-1)!.toExponential(2)} | ${theorySeconds.toFixed(1)} | ${ok ? 'yes' : edge > 2 ? 'NO (past the edge)' : 'NO'} |`;
}

export const GD_HEADER = [
  '| case | lr lambda_max(0)/P | lr | max lr lambda_max(t)/P | max rel. dev. train / test | max SE | final train loss theory vs networks | theory s | within tolerance |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
];

/** `onRow` sees each row as soon as it is done. */
export async function validateGd(onRow?: (row: string) => void, models = GD_MODELS): Promise<string> {
  const rows = [...GD_HEADER];
  for (const { name, model, tolerance } of models)
    for (const gamma0 of [0.5, 1, 2])
      for (const ratio of [...RATIOS, ABOVE_EDGE]) {
        rows.push(gdRow(name, { ...model, gamma0 }, ratio, tolerance));
        onRow?.(rows[rows.length - 1]);
      }
  return [
    `Gradient descent: DMFT vs networks (width ${WIDTH}, ${SEEDS} seeds), ${STEPS} steps, ${RECORD} recorded; deviation relative to max(loss, 1% of its start):`,
    '',
    ...rows,
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await validateGd((row) => process.stderr.write(row + '\n')));
