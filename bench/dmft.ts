import { parseConfig } from '../src/core/config.js';
import { errorEstimateOf, type Result } from '../src/core/result.js';
import { solve } from '../src/dmft/solve.js';

/**
 * DMFT solver speed (one thread). Two-layer: P = 10 training + 20 test points, D = 8, tanh, T = 20, 41
 * recorded times, default accuracy (samples, tolerance); cost ~ particles x (P x R x ODE evaluations +
 * (P + Ptest) x R x recorded times). Wall and CPU (process.cpuUsage) seconds: other jobs inflate the wall.
 * Deep linear: L = 3, P = 10, T = 20 (41 recorded times, which are grid points) at grids whose discretization
 * error meta.errorEstimate (Richardson against a grid of twice the step, included in the time) is < 1%; cost
 * ~ L R^2 K^3 with R = rank of the training inputs (<= min(P, D)) and K grid times, so P enters through R.
 */
const problem = (P: number, D: number, depth: number, activation: string, solver: Record<string, unknown> = {}) =>
  parseConfig({
    data: { synthetic: { kind: 'single-index', P, Ptest: 20, D, seed: 0 } },
    model: { depth, activation, gamma0: 1 },
    train: { T: 20, record: 41 },
    solver,
  });

function timed(label: string, run: () => Result): string {
  const started = performance.now(),
    cpu0 = process.cpuUsage();
  const r = run();
  const s = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const m = r.meta;
  const detail =
    m.method === 'two-layer'
      ? `${m.particles} particles, ${'evaluations' in m.grid ? m.grid.evaluations : m.grid.steps} evaluations`
      : m.method === 'deep-linear' || m.method === 'monte-carlo'
        ? `${m.grid.points} grid times, ${m.iterations} iterations`
        : '';
  return `| ${label} | ${s.toFixed(2)} | ${((cpu.user + cpu.system) / 1e6).toFixed(2)} | ${detail} | ${((errorEstimateOf(m) ?? NaN) * 100).toFixed(2)}% |`;
}

export async function benchDmft(): Promise<string> {
  const rows = [
    timed('two-layer, P = 10, D = 8 (default)', () => solve(problem(10, 8, 1, 'tanh'))),
    timed('two-layer, P = 20, D = 8', () => solve(problem(20, 8, 1, 'tanh'))),
    timed('two-layer, P = 10, D = 8, half the particles', () => solve(problem(10, 8, 1, 'tanh', { samples: 8192 }))),
    timed('two-layer, P = 10, D = 8, control variate', () => solve(problem(10, 8, 1, 'tanh', { controlVariate: true }))),
    timed('deep linear L = 3, P = 10, D = 8 (default grid, dt <= T/100)', () => solve(problem(10, 8, 3, 'linear'))),
    timed('deep linear L = 3, P = 10, D = 8, dt <= T/50', () => solve(problem(10, 8, 3, 'linear', { dt: 20 / 50 }))),
    timed('deep linear L = 3, P = 10, D = 8, dt <= T/200', () => solve(problem(10, 8, 3, 'linear', { dt: 20 / 200 }))),
    timed('deep linear L = 3, P = 20, D = 16 (R = 16)', () => solve(problem(20, 16, 3, 'linear'))),
  ];
  return ['| case | seconds (wall) | seconds (CPU) | work | estimated error |', '| --- | --- | --- | --- | --- |', ...rows].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await benchDmft());
