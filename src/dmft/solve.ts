import * as z from 'zod';
import { parseWith, refuseOutputs, type Config } from '../core/config.js';
import { InputError } from '../core/errors.js';
import { dense, toRows, type Dense } from '../core/linalg.js';
import { checkDivergence, makeMeta, type Result } from '../core/result.js';
import { activation } from '../theory/activations.js';
import { initialKernels, inputKernel } from '../theory/kernels.js';
import { solveLazy } from '../theory/lazy.js';
import { allInputs, scheduleOf, type Schedule } from '../core/schedule.js';
import { inputCoordinates } from './coordinates.js';
import { solveDeepLinear, type DeepLinearSolution } from './deep-linear.js';
import { GRADIENT_INDEPENDENT_OPTIONS, MONTE_CARLO_OPTIONS, solveMonteCarlo } from './monte-carlo.js';
import { checkTimes, timeGrid } from './grid.js';
import { availableMemory, formatBytes } from '../core/memory.js';
import { alignment, lossCurve, relativeLossError, trainBlock } from './observables.js';
import { solveTwoLayer } from './two-layer.js';

/**
 * `dmft solve`: the infinite-width learning curves of a config (THEORY.md sections 3-4) by the method
 * solver.method names, `auto` picking static-ntk for gamma0 = 0 (or the NTK parameterization, whose
 * infinite-width limit is lazy), deep-linear for a linear activation, two-layer for L = 1 and monte-carlo otherwise.
 */
export interface SolveOptions {
  /** Gradient-flow times to report instead of train.record's evenly spaced ones (e.g. a simulator's grid). */
  times?: readonly number[];
  onProgress?: (done: number, total: number) => void;
  /** Told of what the caller should know but that does not change the result (workers/solve.ts: fewer workers than asked). */
  onWarning?: (note: string) => void;
}

export type SolverMethod = 'two-layer' | 'deep-linear' | 'static-ntk' | 'monte-carlo' | 'gradient-independent';

/** The method that will run, or an InputError naming solver.method. */
export function chooseMethod(cfg: Config): SolverMethod {
  const { method } = cfg.solver;
  const { depth, activation: act, gamma0, parameterization } = cfg.model;
  if (method === 'static-ntk' || method === 'monte-carlo' || method === 'gradient-independent') return method;
  if (method === 'two-layer') {
    if (depth !== 1) throw new InputError('solver.method', `"two-layer" needs model.depth = 1, got ${depth}`);
    return 'two-layer';
  }
  if (method === 'deep-linear') {
    if (act !== 'linear') throw new InputError('solver.method', `"deep-linear" needs model.activation = "linear", got "${act}"`);
    return 'deep-linear';
  }
  if (gamma0 === 0 || parameterization === 'ntk') return 'static-ntk';
  if (act === 'linear') return 'deep-linear';
  if (depth === 1) return 'two-layer';
  return 'monte-carlo';
}

const common = { method: z.string(), seed: z.number(), samples: z.number(), dt: z.number(), tol: z.number(), quadrature: z.number() };
const optionSchemas = {
  'static-ntk': z.strictObject({ ...common }),
  'two-layer': z.strictObject({ ...common, replicas: z.number().int().min(2).optional(), controlVariate: z.boolean().optional() }),
  'deep-linear': z.strictObject({ ...common, maxIterations: z.number().int().positive().optional(), errorEstimate: z.boolean().optional() }),
  'monte-carlo': z.strictObject({ ...common, ...MONTE_CARLO_OPTIONS }),
  'gradient-independent': z.strictObject({ ...common, ...GRADIENT_INDEPENDENT_OPTIONS }),
};

/** Refuse solver options the chosen method does not know, or of the wrong type. */
function methodOptions(cfg: Config, method: SolverMethod) {
  const schema = optionSchemas[method];
  for (const key of Object.keys(cfg.solver))
    if (!(key in schema.shape)) throw new InputError(`solver.${key}`, `unknown option for method ${method} (known: ${Object.keys(schema.shape).join(', ')})`);
  return parseWith(schema.partial(), cfg.solver, ['solver']);
}

/** The method `solve` runs, its validated solver options and the times it reports (or an InputError). */
export function prepareSolve(cfg: Config, opts: SolveOptions = {}) {
  const method = chooseMethod(cfg);
  const options = methodOptions(cfg, method);
  if (opts.times) {
    if (cfg.train.kind === 'gd') throw new InputError('times', 'explicit times are for gradient flow (train.T), not gradient descent (train.steps)');
    checkTimes(opts.times);
  }
  const schedule: Schedule = opts.times ? { kind: 'flow', t: opts.times } : scheduleOf(cfg.train);
  return { method, options, schedule };
}

/** The solution of `cfg`; a diverged one throws DivergenceError with the curves up to the divergence. */
export function solve(cfg: Config, opts: SolveOptions = {}): Result {
  const { method, options, schedule } = prepareSolve(cfg, opts);
  return checkDivergence(run(cfg, method, options, schedule, opts), divergenceHint(cfg));
}

function run(cfg: Config, method: SolverMethod, options: ReturnType<typeof methodOptions>, schedule: Schedule, opts: SolveOptions): Result {
  if (method === 'static-ntk') return solveLazy(cfg, schedule);
  if (method === 'two-layer') return twoLayer(cfg, schedule, options as z.infer<(typeof optionSchemas)['two-layer']>, opts);
  if (method === 'monte-carlo' || method === 'gradient-independent') return solveMonteCarlo(cfg, schedule, options, method, opts.onProgress);
  return deepLinear(cfg, schedule, options as z.infer<(typeof optionSchemas)['deep-linear']>, opts);
}

/** What to lower when a solution diverges. */
export const divergenceHint = (cfg: Config) => (cfg.train.kind === 'gd' ? 'lower train.lr' : 'lower solver.dt or solver.tol');

/** Defaults: accurate to well under the 3% agreement standard of THEORY.md section 5 (see test/dmft-*). */
export const TWO_LAYER_DEFAULTS = { samples: 16384, replicas: 4, tol: 1e-4, controlVariate: false };
export const DEEP_LINEAR_DEFAULTS = { steps: 100, tol: 1e-8, maxIterations: 50 };

function problem(cfg: Config) {
  const Kx = inputKernel(allInputs(cfg));
  const P = cfg.data.X.length;
  return { Kx, P, coords: inputCoordinates(Kx, P) };
}

function twoLayer(cfg: Config, schedule: Schedule, o: { samples?: number; replicas?: number; tol?: number; dt?: number; controlVariate?: boolean }, opts: SolveOptions): Result {
  const started = performance.now();
  const { data, model, solver, output } = cfg;
  const gamma0 = model.parameterization === 'ntk' ? 0 : model.gamma0;
  const replicas = o.replicas ?? TWO_LAYER_DEFAULTS.replicas;
  const particles = Math.ceil((o.samples ?? TWO_LAYER_DEFAULTS.samples) / replicas);
  const tol = o.tol ?? TWO_LAYER_DEFAULTS.tol;
  const controlVariate = o.controlVariate ?? TWO_LAYER_DEFAULTS.controlVariate;
  const k0 = initialKernels(allInputs(cfg), 1, model.activation, solver.quadrature);
  const pb = { ...problem(cfg), y: data.y, ytest: data.ytest, act: activation(model.activation), gamma0, schedule, ntk0: k0.ntk };
  const withKernels = output.kernels || output.alignment;
  const s = solveTwoLayer(pb, { particles, replicas, tol, maxStep: o.dt, controlVariate, seed: solver.seed, kernels: withKernels, histograms: output.histograms, onProgress: opts.onProgress });
  const maxRelative = Math.max(relativeLossError(s.trainLossSem, s.trainLoss), s.testLoss ? relativeLossError(s.testLossSem!, s.testLoss) : 0);
  const result: Result = {
    t: s.t,
    trainLoss: s.trainLoss,
    ...(s.testLoss ? { testLoss: s.testLoss } : {}),
    trainLossSem: s.trainLossSem,
    ...(s.testLossSem ? { testLossSem: s.testLossSem } : {}),
    ntkFinal: trainBlock(s.ntk[s.ntk.length - 1], pb.P),
    meta: makeMeta('two-layer', started, {
      particles: particles * replicas,
      replicas,
      controlVariate,
      grid: schedule.kind === 'flow' ? { integrator: 'dormand-prince (adaptive)', tol, evaluations: s.evaluations } : { integrator: 'gradient descent', steps: s.evaluations },
      errorEstimate: maxRelative,
      seed: solver.seed,
    }),
  };
  if (output.predictions) result.predictions = { train: s.train, ...(s.test ? { test: s.test } : {}) };
  if (output.kernels) result.kernels = { Phi: [s.Phi.map(toRows)], G: [s.G.map(toRows)], ntk: s.ntk.map(toRows) };
  if (output.alignment) result.alignment = s.ntk.map((K) => alignment(K, data.y));
  if (s.histograms) result.histograms = s.histograms;
  return result;
}

/**
 * Refuse before anything is allocated a deep-linear solve whose per-layer two-time arrays (the covariance H^l and
 * the source coefficients, each about (R K1)^2 numbers for rank R <= min(P, D) and K1 grid times,
 * src/dmft/deep-linear.ts) do not fit in 80% of the free memory.
 */
function checkDeepLinearMemory(cfg: Config, K1: number): void {
  const R = Math.min(cfg.data.X.length, cfg.data.X[0].length), L = cfg.model.depth;
  const bytes = 8 * L * (2 * (R * K1) ** 2 + 6 * K1 * K1 * R);
  const free = availableMemory();
  if (free !== undefined && bytes > 0.8 * free)
    throw new InputError(
      cfg.solver.dt !== undefined ? 'solver.dt' : 'train.T',
      `the deep-linear solve needs about ${formatBytes(bytes)} (depth ${L}, input rank up to ${R}, ${K1} grid times), more than 80% of the ${formatBytes(free)} free: raise solver.dt (memory grows as 1/dt^2) or use fewer points or input dimensions`,
    );
}

function deepLinear(cfg: Config, schedule: Schedule, o: { dt?: number; tol?: number; maxIterations?: number; errorEstimate?: boolean }, opts: SolveOptions): Result {
  const started = performance.now();
  if (schedule.kind === 'gd')
    throw new InputError('train.steps', 'the deep-linear solver integrates gradient flow (train.T); gradient descent (train.steps, train.lr) is not supported by it');
  const { data, model, output } = cfg;
  refuseOutputs(output, 'the deep-linear method', ['predictions', 'kernels', 'alignment'], 'its preactivations are Gaussian, with variances the diagonals of kernels.Phi');
  const times = schedule.t;
  const dt = o.dt ?? times[times.length - 1] / DEEP_LINEAR_DEFAULTS.steps;
  checkDeepLinearMemory(cfg, timeGrid(times, dt).t.length);
  const gamma0 = model.parameterization === 'ntk' ? 0 : model.gamma0;
  const pb = { ...problem(cfg), y: data.y, L: model.depth, gamma0, times };
  const run = (step: number, onProgress?: SolveOptions['onProgress']) =>
    solveDeepLinear(pb, { dt: step, tol: o.tol ?? DEEP_LINEAR_DEFAULTS.tol, maxIterations: o.maxIterations ?? DEEP_LINEAR_DEFAULTS.maxIterations, onProgress });
  const s = run(dt, opts.onProgress);
  const curves = (sol: DeepLinearSolution) => ({
    train: sol.delta.map((d) => d.map((v, a) => data.y[a] - v)),
    test: data.ytest ? sol.ftest : undefined,
  });
  const c = curves(s);
  const trainLoss = lossCurve(c.train, data.y);
  const testLoss = data.ytest ? lossCurve(c.test!, data.ytest) : undefined;
  // Richardson: the trapezoid / Crank-Nicolson error is O(h^2), so with steps h (fine) and H (coarse)
  // the fine curve's error is (coarse - fine) / ((H/h)^2 - 1)
  let errorEstimate: number | undefined;
  if (o.errorEstimate ?? true) {
    const coarse = run(2 * dt);
    const cc = curves(coarse);
    const rel = (fine: number[], c2: number[]) => relativeLossError(c2.map((v, i) => (v - fine[i]) / ((coarse.maxStep / s.maxStep) ** 2 - 1)), fine);
    errorEstimate = Math.max(rel(trainLoss, lossCurve(cc.train, data.y)), testLoss ? rel(testLoss, lossCurve(cc.test!, data.ytest!)) : 0);
  }
  const result: Result = {
    t: [...times],
    trainLoss,
    ...(testLoss ? { testLoss } : {}),
    ntkFinal: trainBlock(s.ntk[s.ntk.length - 1], pb.P),
    meta: makeMeta('deep-linear', started, {
      grid: { points: s.gridSize, maxStep: s.maxStep },
      iterations: s.iterations,
      maxStepIterations: s.maxStepIterations,
      residual: s.residual,
      ...(errorEstimate !== undefined ? { errorEstimate } : {}),
    }),
  };
  if (output.predictions) result.predictions = { train: c.train, ...(c.test ? { test: c.test } : {}) };
  if (output.kernels) {
    const n = pb.Kx.rows;
    const constant = (v: number): Dense => dense(n, n, new Float64Array(n * n).fill(v));
    result.kernels = {
      Phi: s.Phi[0].map((_, l) => s.Phi.map((perTime) => toRows(perTime[l]))),
      G: s.G[0].map((_, l) => s.G.map((perTime) => toRows(constant(perTime[l])))),
      ntk: s.ntk.map(toRows),
    };
  }
  if (output.alignment) result.alignment = s.ntk.map((K) => alignment(K, data.y));
  return result;
}

