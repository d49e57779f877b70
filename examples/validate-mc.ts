import { parseConfig } from '../src/core/config.js';
import { relativeLossError } from '../src/dmft/observables.js';
import { solve } from '../src/dmft/solve.js';
import { simulate } from '../src/sim/ensemble.js';

/**
 * Validation of the deep nonlinear Monte Carlo DMFT (src/dmft/monte-carlo.ts) against wide simulated networks
 * (THEORY.md section 5): L = 2 and 3, tanh and relu, gamma0 in {0.5, 1, 1.5}; the mean over SEEDS centered
 * networks of width WIDTH (RK4, step 0.05) and the DMFT (solver defaults, method auto = monte-carlo) at the
 * simulator's recorded times. Agreement: |DMFT - sim| <= 5% of max(sim, 1% of the loss at t = 0) at every
 * recorded time, train and test. Reported per case: the largest such deviations, the simulator's and the
 * DMFT's largest relative standard errors (O(1/sqrt(seeds)) and O(1/sqrt(S))), the seconds of each.
 */
const WIDTH = 1500, SEEDS = 6, TOLERANCE = 0.05;

/** max over times of |a - b| / max(b, 1% of b(0)) */
const deviation = (a: readonly number[], b: readonly number[]) => relativeLossError(a.map((v, i) => v - b[i]), b);

const cases = [2, 3].flatMap((depth) =>
  ['tanh', 'relu'].flatMap((activation) => [0.5, 1, 1.5].map((gamma0) => ({ name: `L = ${depth} ${activation}, gamma0 = ${gamma0}`, depth, activation, gamma0 }))),
);

/** `onRow` sees each table row as soon as its case is done (the matrix takes a long time at full width). */
export async function validateMc(onRow?: (row: string) => void): Promise<string> {
  const rows = [
    '| case | max dev. train | max dev. test | sim. rel. SEM | DMFT rel. SEM | sim. s | DMFT s | within 5% |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const c of cases) {
    const cfg = parseConfig({
      data: { synthetic: { kind: 'single-index', P: 10, Ptest: 20, D: 8, seed: 1 } },
      model: { depth: c.depth, activation: c.activation, gamma0: c.gamma0 },
      train: { T: 10, record: 21 },
    });
    const sim = simulate(cfg, { width: WIDTH, seeds: SEEDS, integrator: 'rk4', dt: 0.05 });
    let theory;
    try {
      theory = solve(cfg, { times: sim.t });
    } catch (e) {
      // e.g. ConvergenceError: reported in the table, the other cases still run
      rows.push(`| ${c.name} | - | - | - | - | ${sim.meta.seconds.toFixed(0)} | - | NO: ${(e as Error).message} |`);
      onRow?.(rows[rows.length - 1]);
      continue;
    }
    const train = deviation(theory.trainLoss, sim.trainLoss);
    const test = deviation(theory.testLoss!, sim.testLoss!);
    const simSem = Math.max(relativeLossError(sim.trainLossSem!, sim.trainLoss), relativeLossError(sim.testLossSem!, sim.testLoss!));
    const mcSem = theory.meta.errorEstimate as number;
    const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
    rows.push(
      `| ${c.name} | ${pct(train)} | ${pct(test)} | ${pct(simSem)} | ${pct(mcSem)} | ${sim.meta.seconds.toFixed(0)} | ${theory.meta.seconds.toFixed(0)} | ${Math.max(train, test) <= TOLERANCE ? 'yes' : 'NO'} |`,
    );
    onRow?.(rows[rows.length - 1]);
  }
  return [`Monte Carlo DMFT vs simulated networks (width ${WIDTH}, ${SEEDS} seeds), max over recorded times:`, '', ...rows].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await validateMc((row) => process.stderr.write(row + '\n')));
