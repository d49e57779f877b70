import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfig, type Config } from '../src/core/config.js';
import { simulateNetwork } from '../src/sim/train.js';
import { kernelPath, type KernelPath } from '../src/sim/wasm/arena.js';

/**
 * Simulator speed: L = 2 tanh and relu, N = 1000, P = 10 training (+ 20 test) points, RK4 dt = 0.05 for
 * 100 steps, one thread, with the WebAssembly SIMD kernels (src/sim/wasm) and the scalar JS ones. FLOPs
 * counted as the dominant N^2 terms of one RK4 step done naively:
 * 4 stages x (forward W^1 phi + backward W^1T g + gradient outer products, 2 N^2 P each) = 24 N^2 P;
 * the same count is used for the numpy reference (bench/sim_numpy.py), which does exactly those steps.
 * Then the case of issue 29, `dmft simulate CONFIG --width 4000 --seeds 8` of an L = 1 network at T = 20
 * with each activation's default integrator (relu: fixed-step RK4, src/sim/train.ts defaultIntegrator).
 */
const N = 1000,
  P = 10,
  PTEST = 20,
  D = 8,
  DT = 0.05,
  STEPS = 100;
const data = { synthetic: { kind: 'single-index', P, Ptest: PTEST, D, seed: 0 } };

export const benchConfig = {
  data,
  model: { depth: 2, activation: 'tanh', gamma0: 1 },
  train: { T: DT * STEPS, record: 2 },
};
const withActivation = (activation: string) => ({ ...benchConfig, model: { ...benchConfig.model, activation } });

/** Issue 29: two-layer (L = 1) network, gamma0 = 1.5, T = 20 with 41 records, width 4000, 8 seeds. */
const ISSUE = { width: 4000, seeds: 8, T: 20, record: 41, gamma0: 1.5 };
export const issueConfig = (activation: string) => ({
  data,
  model: { depth: 1, activation, gamma0: ISSUE.gamma0 },
  train: { T: ISSUE.T, record: ISSUE.record },
});

const GFLOP = (24 * N * N * P * STEPS) / 1e9;

const scratch = () => mkdtempSync(join(tmpdir(), 'dmft-bench-'));

/**
 * Seconds of bench/sim_numpy.py on `raw` (best of `repeat`) with `run` (N, dt, steps, depth, activation,
 * gamma0, seeds), with `threads` BLAS threads (default: OpenBLAS's choice).
 */
function numpyReference(raw: object, run: Record<string, number | string>, repeat: number, threads?: number): number | string {
  // next to this file in the source tree, or two levels up from the compiled dist/bench/sim.js
  const script = [new URL('./sim_numpy.py', import.meta.url), new URL('../../bench/sim_numpy.py', import.meta.url)]
    .map((u) => fileURLToPath(u))
    .find(existsSync);
  if (!script) return 'skipped (bench/sim_numpy.py not found)';
  const cfgFile = join(scratch(), 'config.json');
  const cfg = parseConfig(raw);
  writeFileSync(cfgFile, JSON.stringify({ X: cfg.data.X, y: cfg.data.y, Xtest: cfg.data.Xtest, ...run }));
  const env = threads ? { ...process.env, OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads) } : process.env;
  let best = Infinity;
  for (let k = 0; k < repeat; k++) {
    const r = spawnSync('python3', [script, cfgFile], { encoding: 'utf8', env });
    if (r.error || r.status !== 0)
      return `skipped (python3 with numpy not available: ${(r.error?.message ?? r.stderr).trim().split('\n').pop()})`;
    best = Math.min(best, (JSON.parse(r.stdout) as { seconds: number }).seconds);
  }
  return best;
}

/** Seconds of the benchmark run (best of 2; the machine may be shared) with the given kernels, one thread. */
function timeRun(cfg: Config, kernels: KernelPath): number {
  const saved = process.env.DMFT_SIM_KERNELS;
  process.env.DMFT_SIM_KERNELS = kernels;
  try {
    simulateNetwork(cfg, { width: 200, seed: 0, integrator: 'rk4', dt: DT }); // warm-up (JIT)
    let seconds = Infinity;
    for (let k = 0; k < 2; k++) {
      const started = performance.now();
      const run = simulateNetwork(cfg, { width: N, seed: 0, integrator: 'rk4', dt: DT });
      seconds = Math.min(seconds, (performance.now() - started) / 1000);
      if (run.steps !== STEPS) throw new Error(`expected ${STEPS} steps, took ${run.steps}`);
    }
    return seconds;
  } finally {
    if (saved === undefined) delete process.env.DMFT_SIM_KERNELS;
    else process.env.DMFT_SIM_KERNELS = saved;
  }
}

/** Wall-clock seconds and meta of the compiled `dmft simulate CONFIG --width 4000 --seeds 8` (default workers). */
function timeCli(raw: object): { seconds: number; meta: Record<string, unknown> } {
  const cli = fileURLToPath(new URL('../src/cli.js', import.meta.url));
  const dir = scratch(),
    cfgFile = join(dir, 'config.json'),
    out = join(dir, 'result.json');
  writeFileSync(cfgFile, JSON.stringify(raw));
  const started = performance.now();
  const r = spawnSync(
    process.execPath,
    [cli, 'simulate', cfgFile, '--width', String(ISSUE.width), '--seeds', String(ISSUE.seeds), '--out', out],
    { encoding: 'utf8' },
  );
  const seconds = (performance.now() - started) / 1000;
  if (r.error || r.status !== 0) throw new Error(`dmft simulate failed: ${(r.error?.message ?? r.stderr).trim()}`);
  return { seconds, meta: (JSON.parse(readFileSync(out, 'utf8')) as { meta: Record<string, unknown> }).meta };
}

/** Ours with the default kernels (WebAssembly SIMD where supported) and with the scalar JS ones, and numpy; then issue 29's case. */
export async function benchSim(): Promise<string> {
  const path = kernelPath();
  const rate = (s: number) => `${s.toFixed(2)} s, ${(GFLOP / s).toFixed(2)} GFLOP/s`;
  const lines: string[] = [];
  for (const activation of ['tanh', 'relu']) {
    const raw = withActivation(activation);
    const seconds = timeRun(parseConfig(raw), path);
    lines.push(
      `simulate: L=2 ${activation} N=${N} P=${P}+${PTEST} RK4 dt=${DT} x ${STEPS} steps (${GFLOP.toFixed(1)} GFLOP, incl. weight init), one thread, ${path} kernels: ${rate(seconds)}`,
    );
    if (path === 'simd') {
      const scalar = timeRun(parseConfig(raw), 'scalar');
      lines.push(`  scalar kernels: ${rate(scalar)}; simd speedup ${(scalar / seconds).toFixed(2)}x`);
    }
    for (const [label, threads] of [
      ['default BLAS threads', undefined],
      ['1 BLAS thread', 1],
    ] as const) {
      const ref = numpyReference(raw, { N, dt: DT, steps: STEPS, activation }, 2, threads);
      if (typeof ref === 'string') {
        lines.push(`  numpy reference: ${ref}`);
        break;
      }
      lines.push(
        `  numpy reference (bench/sim_numpy.py, ${label}): ${rate(ref)}; ours (${path}) / numpy time = ${(seconds / ref).toFixed(2)}`,
      );
    }
  }
  const { width, seeds, T } = ISSUE;
  lines.push(
    `issue 29: dmft simulate CONFIG --width ${width} --seeds ${seeds}, L=1 gamma0=${ISSUE.gamma0} P=${P}+${PTEST} T=${T}, default integrator and workers:`,
  );
  const cli: Record<string, number> = {};
  for (const activation of ['tanh', 'relu']) {
    const { seconds, meta } = timeCli(issueConfig(activation));
    cli[activation] = seconds;
    const how = meta.integrator === 'rk4' ? `rk4 dt=${meta.dt as number}` : `ck tol=${meta.tol as number}`;
    lines.push(`  ${activation}: ${seconds.toFixed(1)} s (${how}, ${meta.steps as number} steps per seed)`);
  }
  lines.push(`  relu / tanh time = ${(cli.relu / cli.tanh).toFixed(2)} (issue 29 asks <= 2)`);
  const refs = ['tanh', 'relu'].map(
    (activation) =>
      [
        activation,
        numpyReference(
          issueConfig(activation),
          { N: width, dt: DT, steps: Math.round(T / DT), depth: 1, activation, gamma0: ISSUE.gamma0, seeds },
          1,
        ),
      ] as const,
  );
  lines.push(
    `  numpy reference (bench/sim_numpy.py, RK4 dt=${DT}, ${seeds} seeds in turn, default BLAS threads): ${refs.map(([a, r]) => `${a} ${typeof r === 'string' ? r : `${r.toFixed(1)} s`}`).join(', ')}`,
  );
  return lines.join('\n');
}
