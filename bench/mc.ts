import { parseConfig } from '../src/core/config.js';
import type { MonteCarloMeta, Result } from '../src/core/result.js';
import { MC_DEFAULTS, solveMonteCarlo, type McSolverOptions } from '../src/dmft/monte-carlo.js';
import { scheduleOf } from '../src/core/schedule.js';

/**
 * Speed of the Monte Carlo DMFT (src/dmft/monte-carlo.ts), one thread: L = 2 tanh, P = 10 training and 20 test
 * points, T = 20 (41 recorded times), solver defaults; then how the time grows with the number of samples S,
 * the grid size K and P, and where it goes (meta.timing: fields, kernel rows, source factors, responses,
 * riders = test points). Expected orders per replica (S samples, Sr of them with Jacobians, K grid points,
 * about 5 fixed-point sweeps per step): fields and kernels ~ S P^2 K^2, factors ~ P^3 K^3, exact responses
 * ~ Sr P^3 K^3 (training) + Sr Pt P^2 K^3 (riders).
 */
const base = (P: number, T: number, record: number) => ({
  data: { synthetic: { kind: 'single-index', P, Ptest: 20, D: 8, seed: 0 } },
  model: { depth: 2, activation: 'tanh', gamma0: 1 },
  train: { T, record },
});

function run(
  P: number,
  o: McSolverOptions,
  method: 'monte-carlo' | 'gradient-independent' = 'monte-carlo',
  T = 20,
  record = 41,
): Result<MonteCarloMeta> {
  const cfg = parseConfig(base(P, T, record));
  return solveMonteCarlo(cfg, scheduleOf(cfg.train), o, method);
}

const fmt = (r: Result<MonteCarloMeta>) => {
  const t = r.meta.timing;
  return `${r.meta.seconds.toFixed(1)} s (${Object.entries(t)
    .map(([k, v]) => `${k} ${v.toFixed(1)}`)
    .join(', ')})`;
};

export async function benchMc(): Promise<string> {
  const lines = ['Monte Carlo DMFT, one thread (L = 2 tanh, 20 test points, gamma0 = 1):', ''];
  const main = run(10, {});
  lines.push(
    `- defaults (samples ${MC_DEFAULTS.samples}, replicas ${MC_DEFAULTS.replicas}, responseSamples ${MC_DEFAULTS.responseSamples}/replica, ${MC_DEFAULTS.steps} steps), P = 10, T = 20: ${fmt(main)}; est. rel. sampling error ${(100 * main.meta.errorEstimate).toFixed(1)}%`,
  );
  lines.push('', 'Scaling (T = 10, 11 recorded times, K = 21 grid points unless stated):', '');
  const short = (P: number, o: McSolverOptions, method?: 'monte-carlo' | 'gradient-independent') =>
    run(P, { dt: 0.5, ...o }, method, 10, 11);
  for (const samples of [256, 512, 1024])
    lines.push(`- gradient-independent, S = ${samples}: ${fmt(short(10, { samples, replicas: 4 }, 'gradient-independent'))}`);
  for (const responseSamples of [4, 8, 16])
    lines.push(
      `- monte-carlo, S = 512, Sr = ${responseSamples}/replica: ${fmt(short(10, { samples: 512, replicas: 4, responseSamples }))}`,
    );
  for (const dt of [1, 0.5, 0.25])
    lines.push(
      `- monte-carlo, S = 512, Sr = 8/replica, K = ${10 / dt + 1}: ${fmt(short(10, { samples: 512, replicas: 4, responseSamples: 8, dt }))}`,
    );
  for (const P of [5, 10, 20])
    lines.push(`- monte-carlo, S = 512, Sr = 8/replica, P = ${P}: ${fmt(short(P, { samples: 512, replicas: 4, responseSamples: 8 }))}`);
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await benchMc());
