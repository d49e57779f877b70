import { parseConfig, type Config } from '../src/core/config.js';
import type { MonteCarloMeta, Result } from '../src/core/result.js';
import { relativeLossError } from '../src/dmft/observables.js';
import { simulateWorkers } from '../workers/ensemble.js';
import { solveWorkers } from '../workers/solve.js';

/**
 * Validation of the deep nonlinear Monte Carlo DMFT (src/dmft/monte-carlo.ts) against wide simulated networks
 * (THEORY.md section 5): L = 2 and 3, tanh and relu, gamma0 in {0.5, 1, 1.5}, P = 10 + 20 test points, T = 10,
 * 21 recorded times. Per case: the mean over SEEDS centered networks of width WIDTH (RK4, step 0.05) and the
 * DMFT (solver defaults with their accuracy target, method auto = monte-carlo) at the simulator's times, both in a pool of the available
 * cores (results do not depend on the pool size).
 * Agreement (the issue's standard): |DMFT - sim| <= 5% of max(sim, 1% of the loss at t = 0) at every recorded
 * time, train and test. The difference also holds the width-N mean's O(1/N) bias and both sides' sampling
 * errors (section 5), so the table gives the simulator's largest relative standard error and the DMFT's
 * (meta.errorEstimate) beside the largest deviations, and the seconds of each.
 */
// 30 seeds: the simulations' relative SEM is then of the order of the DMFT's accuracy target (2.5%), small enough
// to test the 5% standard (measured SEMs: docs/VALIDATION.md, "Moved from code comments").
const WIDTH = 1500,
  SEEDS = 30,
  TOLERANCE = 0.05;

/** max over times of |a - b| / max(b, 1% of b(0)) */
const deviation = (a: readonly number[], b: readonly number[]) =>
  relativeLossError(
    a.map((v, i) => v - b[i]),
    b,
  );

const cases = [1, 0.5, 1.5].flatMap((gamma0) =>
  [2, 3].flatMap((depth) =>
    ['tanh', 'relu'].map((activation) => ({ name: `L = ${depth} ${activation}, gamma0 = ${gamma0}`, depth, activation, gamma0 })),
  ),
);

/**
 * The high-precision checks (`npm run validate -- mc-precise`): 32768 samples against 30 seeds, where both
 * sampling errors are small enough to test the 5% standard at late times. 4096 samples per replica take 64
 * response samples for A and tanh's B, 1024 for relu's B (src/dmft/monte-carlo.ts). Timings: docs/PERFORMANCE.md,
 * "Moved from code comments".
 */
const PRECISE = {
  cases: [
    { name: 'L = 2 tanh, gamma0 = 1', depth: 2, activation: 'tanh', gamma0: 1 },
    { name: 'L = 3 tanh, gamma0 = 1.5', depth: 3, activation: 'tanh', gamma0: 1.5 },
    { name: 'L = 2 relu, gamma0 = 1', depth: 2, activation: 'relu', gamma0: 1 },
    { name: 'L = 3 relu, gamma0 = 1.5', depth: 3, activation: 'relu', gamma0: 1.5 },
  ],
  samples: 32768,
  seeds: 30,
};

function monteCarloMeta(theory: Result): MonteCarloMeta {
  if (theory.meta.method !== 'monte-carlo') throw new Error(`expected a monte-carlo result, got ${theory.meta.method}`);
  return theory.meta;
}

/** meta.consistency of a Monte Carlo result: the fields' train loss against the NTK flow's, and in standard errors. */
function selfCheck(theory: Result): string {
  const c = monteCarloMeta(theory).consistency;
  const warned = theory.meta.warnings?.some((w) => w.startsWith('the train loss read off the fields'));
  return `${(100 * c.deviation).toFixed(1)}% (${c.standardErrors?.toFixed(1) ?? '-'})${warned ? ' note' : ''}`;
}

export function validationConfig(depth: number, activation: string, gamma0: number, samples?: number, replicas?: number): Config {
  return parseConfig({
    data: { synthetic: { kind: 'single-index', P: 10, Ptest: 20, D: 8, seed: 1 } },
    model: { depth, activation, gamma0 },
    train: { T: 10, record: 21 },
    ...(samples ? { solver: { samples, ...(replicas ? { replicas } : {}) } } : {}),
  });
}

/** The relu rows of the matrix alone (`npm run validate -- mc-relu`; timings: docs/PERFORMANCE.md, "Moved from code comments"). */
export const validateMcRelu = (onRow?: (row: string) => void) =>
  validateMc(onRow, undefined, { cases: cases.filter((c) => c.activation === 'relu'), seeds: SEEDS });

/**
 * The case whose late-time gap against width 1500 is the networks' O(1/N) bias (`npm run validate -- mc-wide`):
 * L = 3 relu, gamma0 = 1.5 at solver defaults (the accuracy target ends at 32768 samples) against 30 seeds at width
 * 3000 (timings: docs/PERFORMANCE.md, "Moved from code comments").
 */
export const validateMcWide = (onRow?: (row: string) => void) =>
  validateMc(onRow, undefined, {
    cases: cases.filter((c) => c.depth === 3 && c.activation === 'relu' && c.gamma0 === 1.5),
    seeds: 30,
    width: 3000,
  });

/**
 * The matrix's one miss at four times the target's largest solve (`npm run validate -- mc-131072`; timing:
 * docs/PERFORMANCE.md, "Moved from code comments"): L = 3 relu, gamma0 = 1.5 with 131072 samples in 16
 * replicas of 8192 (128 / 2048 response samples for A / B; 6.7 GB per replica, where 8 replicas would need
 * 13.4 GB each, docs/PERFORMANCE.md "Memory of the Monte Carlo methods"), one solve against 30 seeds at width
 * 1500, at width 3000, and their extrapolation to infinite width.
 */
export async function validateMc131072(onRow?: (row: string) => void): Promise<string> {
  const cfg = validationConfig(3, 'relu', 1.5, 131072, 16);
  const sim = (width: number) => simulateWorkers(cfg, { width, seeds: SEEDS, integrator: 'rk4', dt: 0.05 });
  const [n, n2] = [await sim(WIDTH), await sim(2 * WIDTH)];
  const theory = await solveWorkers(cfg, { times: n.t });
  const rows = [...HEADER];
  for (const [name, ref] of [
    [`width ${WIDTH}`, n],
    [`width ${2 * WIDTH}`, n2],
    ['1/N extrapolation of both', extrapolated(n, n2)],
  ] as const) {
    rows.push(tableRow(`L = 3 relu, gamma0 = 1.5, vs ${name}`, ref, theory));
    onRow?.(rows[rows.length - 1]);
  }
  return [
    `Monte Carlo DMFT (131072 samples in 16 replicas) vs simulated networks (${SEEDS} seeds each), max over recorded times:`,
    '',
    ...rows,
  ].join('\n');
}

export const validateMcPrecise = (onRow?: (row: string) => void, onCase?: (name: string, sim: Result, theory: Result) => void) =>
  validateMc(onRow, onCase, PRECISE);

/**
 * `onRow` sees each table row as soon as its case is done (the matrix takes hours; timings: docs/PERFORMANCE.md,
 * "Moved from code comments"), `onCase` the curves behind it.
 */
export async function validateMc(
  onRow?: (row: string) => void,
  onCase?: (name: string, sim: Result, theory: Result) => void,
  run: { cases: typeof cases; samples?: number; seeds: number; width?: number } = { cases, seeds: SEEDS },
): Promise<string> {
  const width = run.width ?? WIDTH;
  const rows = [...HEADER];
  for (const c of run.cases) {
    const cfg = validationConfig(c.depth, c.activation, c.gamma0, run.samples);
    const sim = await simulateWorkers(cfg, { width, seeds: run.seeds, integrator: 'rk4', dt: 0.05 });
    let theory: Result;
    try {
      theory = await solveWorkers(cfg, { times: sim.t });
    } catch (e) {
      // e.g. ConvergenceError: reported in the table, the other cases still run
      rows.push(`| ${c.name} | - | - | - | - | - | - | ${sim.meta.seconds.toFixed(0)} | - | NO: ${(e as Error).message} | - |`);
      onRow?.(rows[rows.length - 1]);
      continue;
    }
    onCase?.(c.name, sim, theory);
    rows.push(tableRow(c.name, sim, theory));
    onRow?.(rows[rows.length - 1]);
  }
  const samples = run.samples ? `${run.samples} samples` : 'default samples';
  return [
    `Monte Carlo DMFT (${samples}) vs simulated networks (width ${width}, ${run.seeds} seeds), max over recorded times:`,
    '',
    ...rows,
  ].join('\n');
}

const HEADER = [
  '| case | max dev. train | max dev. test | sim. rel. SEM | DMFT rel. SEM | DMFT samples | max dev. / combined SE | sim. s | DMFT s | within 5% | self-check (SE) |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
];

/** One row of the table: the DMFT against the simulations' mean, at the simulations' times. */
function tableRow(name: string, sim: Result, theory: Result): string {
  const train = deviation(theory.trainLoss, sim.trainLoss),
    test = deviation(theory.testLoss!, sim.testLoss!);
  const se = { trainLossSem: theory.trainLossSem!, testLossSem: theory.testLossSem! };
  // |DMFT - sim| in standard errors of the difference (seeds' scatter and replicas' scatter), t > 0
  const z = (['trainLoss', 'testLoss'] as const).map((curve) => {
    const sem = curve === 'trainLoss' ? [sim.trainLossSem!, se.trainLossSem] : [sim.testLossSem!, se.testLossSem];
    return Math.max(
      ...sim.t.slice(1).map((_, j) => Math.abs(theory[curve]![j + 1] - sim[curve]![j + 1]) / Math.hypot(sem[0][j + 1], sem[1][j + 1])),
    );
  });
  const simSem = Math.max(relativeLossError(sim.trainLossSem!, sim.trainLoss), relativeLossError(sim.testLossSem!, sim.testLoss!));
  const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
  return `| ${name} | ${pct(train)} | ${pct(test)} | ${pct(simSem)} | ${pct(monteCarloMeta(theory).errorEstimate)} | ${monteCarloMeta(theory).samples} | ${Math.max(...z).toFixed(2)} | ${sim.meta.seconds.toFixed(0)} | ${theory.meta.seconds.toFixed(0)} | ${Math.max(train, test) <= TOLERANCE ? 'yes' : 'NO'} | ${selfCheck(theory)} |`;
}

/**
 * The simulations' means at widths N and 2N extrapolated linearly in 1/N to infinite width, 2 f(2N) - f(N)
 * (THEORY.md section 5: the width-N mean is off by O(1/N)), with its standard error; seconds are both runs'.
 */
function extrapolated(n: Result, n2: Result): Result {
  const ext = (a: number[], b: number[]) => b.map((v, i) => 2 * v - a[i]);
  const sem = (a: number[], b: number[]) => b.map((v, i) => Math.hypot(2 * v, a[i]));
  return {
    ...n2,
    trainLoss: ext(n.trainLoss, n2.trainLoss),
    testLoss: ext(n.testLoss!, n2.testLoss!),
    trainLossSem: sem(n.trainLossSem!, n2.trainLossSem!),
    testLossSem: sem(n.testLossSem!, n2.testLossSem!),
    meta: { ...n2.meta, seconds: n.meta.seconds + n2.meta.seconds },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await validateMc((row) => process.stderr.write(row + '\n')));
