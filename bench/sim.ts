import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfig, type Config } from '../src/core/config.js';
import { simulateNetwork } from '../src/sim/train.js';
import { kernelPath, type KernelPath } from '../src/sim/wasm/arena.js';

/**
 * Simulator speed: L = 2 tanh, N = 1000, P = 10 training (+ 20 test) points, RK4 dt = 0.05 for 100 steps,
 * one thread, with the WebAssembly SIMD kernels (src/sim/wasm) and the scalar JS ones. FLOPs counted
 * as the dominant N^2 terms of one RK4 step done naively:
 * 4 stages x (forward W^1 phi + backward W^1T g + gradient outer products, 2 N^2 P each) = 24 N^2 P;
 * the same count is used for the numpy reference (bench/sim_numpy.py), which does exactly those steps.
 */
const N = 1000, P = 10, PTEST = 20, D = 8, DT = 0.05, STEPS = 100;

export const benchConfig = {
  data: { synthetic: { kind: 'single-index', P, Ptest: PTEST, D, seed: 0 } },
  model: { depth: 2, activation: 'tanh', gamma0: 1 },
  train: { T: DT * STEPS, record: 2 },
};

const GFLOP = (24 * N * N * P * STEPS) / 1e9;

/** Seconds of bench/sim_numpy.py (best of `repeat`), with `threads` BLAS threads (default: OpenBLAS's choice). */
function numpyReference(repeat: number, threads?: number): number | string {
  // next to this file in the source tree, or two levels up from the compiled dist/bench/sim.js
  const script = [new URL('./sim_numpy.py', import.meta.url), new URL('../../bench/sim_numpy.py', import.meta.url)].map((u) => fileURLToPath(u)).find(existsSync);
  if (!script) return 'skipped (bench/sim_numpy.py not found)';
  const cfgFile = join(mkdtempSync(join(tmpdir(), 'dmft-bench-')), 'config.json');
  const cfg = parseConfig(benchConfig);
  writeFileSync(cfgFile, JSON.stringify({ X: cfg.data.X, y: cfg.data.y, Xtest: cfg.data.Xtest, N, dt: DT, steps: STEPS }));
  const env = threads ? { ...process.env, OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads) } : process.env;
  let best = Infinity;
  for (let k = 0; k < repeat; k++) {
    const r = spawnSync('python3', [script, cfgFile], { encoding: 'utf8', env });
    if (r.error || r.status !== 0) return `skipped (python3 with numpy not available: ${(r.error?.message ?? r.stderr).trim().split('\n').pop()})`;
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

/** Ours with the default kernels (WebAssembly SIMD where supported) and with the scalar JS ones, and numpy. */
export async function benchSim(): Promise<string> {
  const cfg = parseConfig(benchConfig);
  const path = kernelPath();
  const seconds = timeRun(cfg, path);
  const rate = (s: number) => `${s.toFixed(2)} s, ${(GFLOP / s).toFixed(2)} GFLOP/s`;
  const lines = [`simulate: L=2 tanh N=${N} P=${P}+${PTEST} RK4 dt=${DT} x ${STEPS} steps (${GFLOP.toFixed(1)} GFLOP, incl. weight init), one thread, ${path} kernels: ${rate(seconds)}`];
  if (path === 'simd') {
    const scalar = timeRun(cfg, 'scalar');
    lines.push(`  scalar kernels: ${rate(scalar)}; simd speedup ${(scalar / seconds).toFixed(2)}x`);
  }
  for (const [label, threads] of [['default BLAS threads', undefined], ['1 BLAS thread', 1]] as const) {
    const ref = numpyReference(2, threads);
    if (typeof ref === 'string') {
      lines.push(`numpy reference: ${ref}`);
      break;
    }
    lines.push(`numpy reference (bench/sim_numpy.py, ${label}): ${rate(ref)}; ours (${path}) / numpy time = ${(seconds / ref).toFixed(2)}`);
  }
  return lines.join('\n');
}
