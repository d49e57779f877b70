import * as z from 'zod';
import type { Config, Method, Output } from '../core/config.js';
import { InputError } from '../core/errors.js';
import { dense, toRows, type Dense } from '../core/linalg.js';
import { availableMemory, formatBytes } from '../core/memory.js';
import { makeMeta, type DeepLinearMeta, type Result, type TwoLayerMeta } from '../core/result.js';
import { allInputs, type Schedule } from '../core/schedule.js';
import { activation } from '../theory/activations.js';
import { initialKernels, inputKernel } from '../theory/kernels.js';
import { LAZY_OUTPUTS, solveLazy } from '../theory/lazy.js';
import { inputCoordinates } from './coordinates.js';
import { solveDeepLinear, type DeepLinearSolution } from './deep-linear.js';
import { timeRule } from './grid.js';
import { GRADIENT_INDEPENDENT_SCHEMA, MONTE_CARLO_SCHEMA, solveMonteCarlo } from './monte-carlo.js';
import { alignment, lossCurve, lrStability, relativeLossError, trainBlock } from './observables.js';
import { COMMON_OPTIONS } from './options.js';
import { PERTURBATIVE_SCHEMA, perturbativeRequires, solvePerturbative } from './perturbative.js';
import type { SolveOptions } from './solve.js';
import { solveTwoLayer } from './two-layer.js';

/**
 * The methods of `dmft solve`, one entry each: its solver.* options (a strict zod object, defaults included, so
 * its option types are z.infer of it), the schedules it integrates (gradient flow, gradient descent), the opt-in
 * outputs it produces, and run(cfg, options, schedule, opts) -> Result. src/dmft/solve.ts checks all of that once,
 * refusing what a method cannot do by the field, then runs the entry. A new method is one more entry (and its
 * module).
 */
export interface MethodEntry<S extends z.ZodObject = z.ZodObject> {
  /** how messages name it */
  label: string;
  options: S;
  schedules: readonly Schedule['kind'][];
  outputs: readonly (keyof Output)[];
  /** why it does not produce the other outputs */
  why?: string;
  /** what a config needs for this method, as the reason it is refused (e.g. a depth), or undefined if it qualifies */
  requires?: (cfg: Config) => string | undefined;
  run: (cfg: Config, options: z.infer<S>, schedule: Schedule, opts: SolveOptions) => Result;
}

const entry = <S extends z.ZodObject>(e: MethodEntry<S>): MethodEntry<S> => e;

const ALL_OUTPUTS = ['predictions', 'kernels', 'alignment', 'histograms'] as const;

/** Defaults accurate to well under the agreement standard of THEORY.md section 5 (test/dmft-two-layer.test.ts). */
const TWO_LAYER_OPTIONS = z.strictObject({
  ...COMMON_OPTIONS,
  samples: z.number().int().positive().default(16384),
  tol: z.number().positive().default(1e-4),
  replicas: z.number().int().min(2).default(4),
  controlVariate: z.boolean().default(false),
});

/** Defaults (test/dmft-deep-linear.test.ts): dt = T / DEEP_LINEAR_STEPS unless solver.dt. */
const DEEP_LINEAR_OPTIONS = z.strictObject({
  ...COMMON_OPTIONS,
  tol: z.number().positive().default(1e-8),
  maxIterations: z.number().int().positive().default(50),
  errorEstimate: z.boolean().default(true),
});
const DEEP_LINEAR_STEPS = 100;

export const METHOD_REGISTRY = {
  'static-ntk': entry({
    label: LAZY_OUTPUTS.label,
    options: z.strictObject({ ...COMMON_OPTIONS }),
    schedules: ['flow', 'gd'],
    outputs: LAZY_OUTPUTS.produced,
    why: LAZY_OUTPUTS.why,
    run: (cfg, _o, schedule) => solveLazy(cfg, schedule),
  }),
  'two-layer': entry({
    label: 'the two-layer method',
    requires: (cfg) => (cfg.model.depth !== 1 ? `needs model.depth = 1, got ${cfg.model.depth}` : undefined),
    options: TWO_LAYER_OPTIONS,
    schedules: ['flow', 'gd'],
    outputs: ALL_OUTPUTS,
    run: twoLayer,
  }),
  'deep-linear': entry({
    label: 'the deep-linear method',
    requires: (cfg) => (cfg.model.activation !== 'linear' ? `needs model.activation = "linear", got "${cfg.model.activation}"` : undefined),
    options: DEEP_LINEAR_OPTIONS,
    schedules: ['flow', 'gd'],
    outputs: ['predictions', 'kernels', 'alignment'],
    why: 'its preactivations are Gaussian, with variances the diagonals of kernels.Phi',
    run: deepLinear,
  }),
  'monte-carlo': entry({
    label: 'the monte-carlo method',
    options: MONTE_CARLO_SCHEMA,
    schedules: ['flow', 'gd'],
    outputs: ALL_OUTPUTS,
    run: (cfg, o, schedule, opts) => solveMonteCarlo(cfg, schedule, o, 'monte-carlo', opts.onProgress),
  }),
  'gradient-independent': entry({
    label: 'the gradient-independent method',
    options: GRADIENT_INDEPENDENT_SCHEMA,
    schedules: ['flow', 'gd'],
    outputs: ALL_OUTPUTS,
    run: (cfg, o, schedule, opts) => solveMonteCarlo(cfg, schedule, o, 'gradient-independent', opts.onProgress),
  }),
  perturbative: entry({
    label: 'the perturbative method',
    requires: perturbativeRequires,
    options: PERTURBATIVE_SCHEMA,
    schedules: ['flow'],
    outputs: ['predictions', 'kernels', 'alignment'],
    why: 'its preactivation densities are not computed (the expansion gives kernels, not densities)',
    run: (cfg, o, schedule, opts) => solvePerturbative(cfg, o, schedule, opts.onProgress),
  }),
} satisfies Record<Exclude<Method, 'auto'>, unknown>; // an entry for every solver.method (entry() types each)

export type SolverMethod = keyof typeof METHOD_REGISTRY;

function problem(cfg: Config) {
  const Kx = inputKernel(allInputs(cfg));
  const P = cfg.data.X.length;
  return { Kx, P, coords: inputCoordinates(Kx, P) };
}

function twoLayer(cfg: Config, o: z.infer<typeof TWO_LAYER_OPTIONS>, schedule: Schedule, opts: SolveOptions): Result {
  const started = performance.now();
  const { data, model, solver, output } = cfg;
  const gamma0 = model.parameterization === 'ntk' ? 0 : model.gamma0;
  const { replicas, tol, controlVariate } = o;
  const particles = Math.ceil(o.samples / replicas);
  const k0 = initialKernels(allInputs(cfg), 1, model.activation, solver.quadrature);
  const pb = { ...problem(cfg), y: data.y, ytest: data.ytest, act: activation(model.activation), gamma0, schedule, ntk0: k0.ntk };
  // gradient descent reports lr lambda_max(K(t_k)) / P, so it needs the NTK at every recorded step
  const withKernels = output.kernels || output.alignment || schedule.kind === 'gd';
  const s = solveTwoLayer(pb, {
    particles,
    replicas,
    tol,
    maxStep: o.dt,
    controlVariate,
    seed: solver.seed,
    kernels: withKernels,
    histograms: output.histograms,
    onProgress: opts.onProgress,
  });
  const maxRelative = Math.max(
    relativeLossError(s.trainLossSem, s.trainLoss),
    s.testLoss ? relativeLossError(s.testLossSem!, s.testLoss) : 0,
  );
  const result: Result = {
    t: s.t,
    trainLoss: s.trainLoss,
    ...(s.testLoss ? { testLoss: s.testLoss } : {}),
    trainLossSem: s.trainLossSem,
    ...(s.testLossSem ? { testLossSem: s.testLossSem } : {}),
    ntkFinal: trainBlock(s.ntk[s.ntk.length - 1], pb.P),
    meta: makeMeta<TwoLayerMeta>('two-layer', started, {
      particles: particles * replicas,
      replicas,
      controlVariate,
      grid:
        schedule.kind === 'flow'
          ? { integrator: 'dormand-prince (adaptive)', tol, evaluations: s.evaluations }
          : { integrator: 'gradient descent', steps: s.evaluations },
      errorEstimate: maxRelative,
      seed: solver.seed,
      ...(schedule.kind === 'gd' ? { lrStability: lrStability(s.ntk, schedule.lr, pb.P) } : {}),
    }),
  };
  if (output.predictions) result.predictions = { train: s.train, ...(s.test ? { test: s.test } : {}) };
  if (output.kernels) result.kernels = { Phi: [s.Phi.map(toRows)], G: [s.G.map(toRows)], ntk: s.ntk.map(toRows) };
  if (output.alignment) result.alignment = s.ntk.map((K) => alignment(K, data.y));
  if (s.histograms) result.histograms = [{ layer: 1, ...s.histograms }];
  return result;
}

/**
 * Refuse before anything is allocated a deep-linear solve whose per-layer two-time arrays (the covariance H^l and
 * the source coefficients, each about (R K1)^2 numbers for rank R <= min(P, D) and K1 grid times,
 * src/dmft/deep-linear.ts) do not fit in 80% of the free memory.
 */
function checkDeepLinearMemory(cfg: Config, K1: number): void {
  const R = Math.min(cfg.data.X.length, cfg.data.X[0].length),
    L = cfg.model.depth;
  const bytes = 8 * L * (2 * (R * K1) ** 2 + 6 * K1 * K1 * R);
  const free = availableMemory();
  if (free !== undefined && bytes > 0.8 * free)
    throw new InputError(
      cfg.train.kind === 'gd' ? 'train.steps' : cfg.solver.dt !== undefined ? 'solver.dt' : 'train.T',
      `the deep-linear solve needs about ${formatBytes(bytes)} (depth ${L}, input rank up to ${R}, ${K1} grid times), more than 80% of the ${formatBytes(free)} free: ` +
        (cfg.train.kind === 'gd'
          ? 'use fewer train.steps (memory grows as steps^2; a larger train.lr covers the same time)'
          : 'raise solver.dt (memory grows as 1/dt^2)') +
        ' or use fewer points or input dimensions',
    );
}

function deepLinear(cfg: Config, o: z.infer<typeof DEEP_LINEAR_OPTIONS>, schedule: Schedule, opts: SolveOptions): Result {
  const started = performance.now();
  const { data, model, output } = cfg;
  if (schedule.kind === 'gd' && o.dt !== undefined)
    throw new InputError('solver.dt', 'gradient descent steps by train.lr: its equations have no time step to choose (drop solver.dt)');
  const dt = schedule.kind === 'flow' ? (o.dt ?? schedule.t[schedule.t.length - 1] / DEEP_LINEAR_STEPS) : 0;
  checkDeepLinearMemory(cfg, timeRule(schedule, dt).t.length);
  const gamma0 = model.parameterization === 'ntk' ? 0 : model.gamma0;
  const pb = { ...problem(cfg), y: data.y, L: model.depth, gamma0 };
  const run = (step: number, onProgress?: SolveOptions['onProgress']) =>
    solveDeepLinear({ ...pb, rule: timeRule(schedule, step) }, { tol: o.tol, maxIterations: o.maxIterations, onProgress });
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
  // gradient descent has no discretization error to estimate: its discrete equations are exact (THEORY.md section 6)
  let errorEstimate: number | undefined;
  if (o.errorEstimate && schedule.kind === 'flow') {
    const coarse = run(2 * dt);
    const cc = curves(coarse);
    const rel = (fine: number[], c2: number[]) =>
      relativeLossError(
        c2.map((v, i) => (v - fine[i]) / ((coarse.maxStep / s.maxStep) ** 2 - 1)),
        fine,
      );
    errorEstimate = Math.max(rel(trainLoss, lossCurve(cc.train, data.y)), testLoss ? rel(testLoss, lossCurve(cc.test!, data.ytest!)) : 0);
  }
  const result: Result = {
    t: s.t,
    trainLoss,
    ...(testLoss ? { testLoss } : {}),
    ntkFinal: trainBlock(s.ntk[s.ntk.length - 1], pb.P),
    meta: makeMeta<DeepLinearMeta>('deep-linear', started, {
      grid: { points: s.gridSize, maxStep: s.maxStep },
      iterations: s.iterations,
      maxStepIterations: s.maxStepIterations,
      residual: s.residual,
      ...(errorEstimate !== undefined ? { errorEstimate } : {}),
      ...(schedule.kind === 'gd' ? { lrStability: lrStability(s.ntk, schedule.lr, pb.P) } : {}),
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
