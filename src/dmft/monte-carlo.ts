import * as z from 'zod';
import type { Config } from '../core/config.js';
import { InputError } from '../core/errors.js';
import { availableMemory, formatBytes } from '../core/memory.js';
import { GaussianSampler } from '../core/gaussian.js';
import { dense, toRows, type Dense } from '../core/linalg.js';
import { addWarning, BLOWUP, halfMeanSquare, makeMeta, type MonteCarloMeta, type Result } from '../core/result.js';
import { pointwiseSem } from '../core/stats.js';
import { activation } from '../theory/activations.js';
import { initialKernels, inputKernel } from '../theory/kernels.js';
import { allInputs, type Schedule } from '../core/schedule.js';
import { timeRule, type TimeRule } from './grid.js';
import { COMMON_OPTIONS } from './options.js';
import { marchReplica, replicaBytes, replicaShape, type McProblem, type McRecord, type McRun, type ReplicaShape } from './mc/march.js';
import { alignment, lossCurve, lrStability, preactivationHistogram, relativeLossError, trainBlock } from './observables.js';

/**
 * `dmft solve` for deep nonlinear networks (THEORY.md sections 3-4): the Monte Carlo single-site solver of
 * ./mc/march.ts, run as `replicas` independent self-consistent solutions of `samples / replicas` samples each
 * (replica r uses samples r M .. (r+1) M - 1 of the fixed per-sample streams). Reported curves are the replica
 * means; their standard errors estimate the O(1/sqrt(S)) sampling error of THEORY.md section 5. Methods:
 *   monte-carlo           the full self-consistent solution, responses A, B exact (forward-mode) or by
 *                         Gaussian integration by parts (solver.responses = "ibp");
 *   gradient-independent  A = B = 0, kernels evolve.
 * Control variate (solver.controlVariate, default on): each replica's NTK is K_S(t) - K_S(0) + K(0) with the
 * exact K(0) of section 2 (./mc/march.ts, McProblem.ntkExact0).
 */
/** solver.* options of the two methods besides the common ones (method, seed, samples, dt, tol, quadrature). */
const GRADIENT_INDEPENDENT_OPTIONS = {
  replicas: z.number().int().min(2).optional(),
  maxIterations: z.number().int().positive().optional(),
  controlVariate: z.boolean().optional(),
  targetError: z.number().positive().optional(),
  maxSamples: z.number().int().positive().optional(),
};
const MONTE_CARLO_OPTIONS = {
  ...GRADIENT_INDEPENDENT_OPTIONS,
  responses: z.enum(['exact', 'ibp']).optional(),
  responseSamples: z.number().int().positive().optional(),
  responseSamplesB: z.number().int().positive().optional(),
  ibpRidge: z.number().positive().optional(),
  kinkWidth: z.number().positive().optional(),
};

/**
 * The methods' option schemas (src/dmft/methods.ts). No zod defaults: an unset solver.samples means "grow the
 * samples to the accuracy target", so the defaults (MC_DEFAULTS) are applied where each option is read.
 */
export const GRADIENT_INDEPENDENT_SCHEMA = z.strictObject({ ...COMMON_OPTIONS, ...GRADIENT_INDEPENDENT_OPTIONS });
export const MONTE_CARLO_SCHEMA = z.strictObject({ ...COMMON_OPTIONS, ...MONTE_CARLO_OPTIONS });
export type McSolverOptions = z.infer<typeof MONTE_CARLO_SCHEMA>;

/**
 * Defaults, chosen against the 5% standard of THEORY.md section 5 (test/dmft-mc-fixture.test.ts, bench/mc.ts,
 * examples/validate-mc.ts): 8 replicas of 1024 samples, for a first solve; unless solver.samples is fixed, more
 * follow until the accuracy target is met (targetError, maxSamples: accuracyTarget below); the late losses'
 * sampling error falls like 1/sqrt(S). Exact responses come from 16 samples per replica, enough that the
 * O(1/Sr) bias of noisy responses is small next to the sampling error. dt = T / 36 gives one grid step per
 * interval of the usual 41 recorded times, also when they are snapped to a simulator's RK4 grid.
 * The per-step tolerance is 1e-6: 1e-5 moved late losses by 0.4%.
 * kinkWidth (relu's delta(h), relative to the preactivation scale) trades noise against bias: narrower widths are
 * noisier, and noisy responses bias the losses (O(1/Sr)); wider ones smooth the kink away. Kinked activations need
 * more response samples, above all for B (responses w.r.t. u, where delta(h) enters at zeroth order), so relu
 * takes 16 for A and 256 for B (solver.responseSamplesB). The measurements behind these defaults:
 * docs/VALIDATION.md and docs/RELU.md, "Moved from code comments".
 */
export const MC_DEFAULTS = {
  samples: 8192,
  replicas: 8,
  responseSamples: 16,
  steps: 36,
  tol: 1e-6,
  maxIterations: 40,
  ibpRidge: 1,
  kinkWidth: 0.25,
  kinkResponseSamplesB: 256,
  targetError: 0.025,
  maxSamples: 32768,
};

/**
 * The accuracy target of a solve whose samples are not fixed (solver.samples unset, or solver.targetError set):
 * meta.errorEstimate, the largest relative sampling error of the losses (THEORY.md section 5), at most
 * `target`, with at most `maxSamples` samples. The default target, 2.5%, is half the 5% agreement standard, so
 * the DMFT's own sampling error takes at most half of it at 2 standard errors. Undefined: samples fixed.
 */
export function accuracyTarget(o: McSolverOptions): { target: number; maxSamples: number } | undefined {
  if (o.samples !== undefined && o.targetError === undefined) {
    if (o.maxSamples !== undefined)
      throw new InputError(
        'solver.maxSamples',
        'caps the samples that solver.targetError asks for; with solver.samples fixed it needs solver.targetError',
      );
    return undefined;
  }
  const first = o.samples ?? MC_DEFAULTS.samples;
  const maxSamples = o.maxSamples ?? Math.max(MC_DEFAULTS.maxSamples, first);
  if (maxSamples < first) throw new InputError('solver.maxSamples', `must be >= solver.samples (${first}), got ${maxSamples}`);
  return { target: o.targetError ?? MC_DEFAULTS.targetError, maxSamples };
}

/**
 * Samples of the next solve when one of `samples` (in `replicas`) missed the target, or undefined. The sampling
 * error falls like 1/sqrt(S) (for relu faster, since the response samples grow with S), so the next solve takes
 * 1.2 (error / target)^2 times the samples (1.2 for the scatter of the estimate from few replicas), at least
 * twice, in whole 256-sample blocks per replica, and at most maxSamples.
 */
export function nextSamples(
  samples: number,
  replicas: number,
  errorEstimate: number,
  acc: { target: number; maxSamples: number },
): number | undefined {
  if (!(errorEstimate > acc.target) || samples >= acc.maxSamples) return undefined;
  const grow = Math.max(2, 1.2 * (errorEstimate / acc.target) ** 2);
  return Math.min(acc.maxSamples, Math.ceil((grow * samples) / replicas / 256) * 256 * replicas);
}

/**
 * Response samples per replica for A and B, unless set: at least the defaults above (16; relu's B 256), and
 * 1/64 (relu's B 1/4) of the replica's M samples beyond 1024. So the O(1/Sr) bias of noisy responses falls with
 * `samples` like the sampling error does, and raising `samples` alone buys precision (measurements: docs/RELU.md,
 * "Moved from code comments").
 */
function defaultResponseSamples(
  M: number,
  kink: boolean,
  o: Pick<McSolverOptions, 'responseSamples' | 'responseSamplesB'>,
): { A: number; B: number } {
  const share = (min: number, fraction: number) => Math.max(min, Math.floor(M * fraction));
  const A = o.responseSamples ?? share(MC_DEFAULTS.responseSamples, MC_DEFAULTS.responseSamples / 1024);
  const B = o.responseSamplesB ?? (kink ? share(MC_DEFAULTS.kinkResponseSamplesB, MC_DEFAULTS.kinkResponseSamplesB / 1024) : A);
  return { A: Math.min(M, A), B: Math.min(M, B) };
}

/**
 * Everything the replicas share, from the config: the problem of ./mc/march.ts and each replica's options.
 * A pure function of its arguments, so a worker rebuilds the same plan from the same (cloneable) inputs.
 */
export interface McPlan {
  method: 'monte-carlo' | 'gradient-independent';
  pb: McProblem;
  times: readonly number[];
  replicas: number;
  /** samples per replica */
  M: number;
  responses: 'exact' | 'ibp' | 'none';
  /** per replica, for A and for B */
  responseSamples: { A: number; B: number };
  maxStep: number;
  options: McSolverOptions;
}

/** The plan without its problem's matrices: what the memory check needs, cheap at any P (no kernels, no eigendecompositions). */
type McSizes = Omit<McPlan, 'pb'> & { shape: ReplicaShape; grid: TimeRule };

function planSizes(cfg: Config, schedule: Schedule, o: McSolverOptions, method: 'monte-carlo' | 'gradient-independent'): McSizes {
  const { data, model } = cfg;
  if (schedule.kind === 'gd') refuseFlowOptions(o);
  const replicas = o.replicas ?? MC_DEFAULTS.replicas;
  const samples = o.samples ?? MC_DEFAULTS.samples;
  const M = Math.ceil(samples / replicas);
  if (M < 2) throw new InputError('solver.samples', `needs at least 2 samples per replica (replicas = ${replicas}), got ${samples}`);
  const responses = method === 'gradient-independent' ? 'none' : (o.responses ?? 'exact');
  const act = activation(model.activation);
  if (o.kinkWidth !== undefined && !act.kink)
    throw new InputError('solver.kinkWidth', `smooths the delta(h) of a kinked activation (relu); ${model.activation} has none`);
  const responseSamples = defaultResponseSamples(M, act.kink === true, o);
  // gradient descent: the grid is t_k = k lr, every step (grid.ts timeRule); gradient flow: steps of at most solver.dt
  const maxStep = schedule.kind === 'gd' ? schedule.lr : (o.dt ?? schedule.t[schedule.t.length - 1] / MC_DEFAULTS.steps);
  const grid = timeRule(schedule, maxStep);
  const times = schedule.kind === 'gd' ? grid.index.map((k) => grid.t[k]) : schedule.t;
  const P = data.X.length,
    n = P + (data.Xtest?.length ?? 0);
  const explicit = schedule.kind === 'gd';
  const shape = {
    P,
    n,
    L: model.depth,
    K1: grid.t.length,
    records: grid.index.length,
    kink: act.kink === true,
    explicit,
    tangent: explicit && outputOf(method, act.kink === true, schedule, gamma0Of(cfg)) === 'fields',
  };
  return { method, times, replicas, M, responses, responseSamples, maxStep, options: o, shape, grid };
}

/**
 * Gradient descent steps on its own grid, t_k = k train.lr, one explicit pass per step (THEORY.md section 6;
 * ./mc/march.ts): the options of gradient flow's grid and per-step fixed point have nothing to set, and are refused
 * rather than ignored.
 */
function refuseFlowOptions(o: McSolverOptions): void {
  const why = {
    dt: 'gradient descent steps on its own grid, t_k = k train.lr (solver.dt is the grid step of gradient flow, train.T)',
    tol: 'gradient descent solves each step in one explicit pass, with no fixed point to converge (solver.tol is for gradient flow, train.T)',
    maxIterations:
      'gradient descent solves each step in one explicit pass, with no fixed point to iterate (solver.maxIterations is for gradient flow, train.T)',
  } as const;
  for (const key of ['dt', 'tol', 'maxIterations'] as const) if (o[key] !== undefined) throw new InputError(`solver.${key}`, why[key]);
}

const gamma0Of = (cfg: Config) => (cfg.model.parameterization === 'ntk' ? 0 : cfg.model.gamma0);

/**
 * Where the outputs come from (McProblem.output): read off the fields for the full solution of a kinked activation
 * (gradient flow) and for the full solution under gradient descent (any activation: the NTK-Euler step is exact only
 * in the lazy limit, THEORY.md section 6); along the NTK otherwise (gradient flow of smooth activations, gradient
 * independence, gamma0 = 0).
 */
function outputOf(method: McPlan['method'], kink: boolean, schedule: Schedule, gamma0: number): McProblem['output'] {
  return method === 'monte-carlo' && (kink || schedule.kind === 'gd') && gamma0 > 0 ? 'fields' : 'ntk';
}

export function planMonteCarlo(
  cfg: Config,
  schedule: Schedule,
  o: McSolverOptions,
  method: 'monte-carlo' | 'gradient-independent',
): McPlan {
  const { shape, grid, ...plan } = planSizes(cfg, schedule, o, method);
  const { data, model, solver } = cfg;
  const X = allInputs(cfg);
  const Kx = inputKernel(X);
  const act = activation(model.activation);
  const gamma0 = gamma0Of(cfg);
  const init = initialKernels(X, model.depth, model.activation, solver.quadrature);
  const ntkExact0 = o.controlVariate === false ? undefined : init.ntk;
  // relu's delta(h): width kinkWidth x the point's preactivation scale at t = 0, sqrt(Phi^{l-1}_{mu mu}) (Phi^0 = K^x)
  const width = o.kinkWidth ?? MC_DEFAULTS.kinkWidth;
  const kinkWidth = act.kink
    ? init.Phi.slice(0, model.depth).map((Phi) =>
        Float64Array.from({ length: Phi.rows }, (_, mu) => width * Math.sqrt(Phi.data[mu * Phi.rows + mu])),
      )
    : undefined;
  const output = outputOf(method, act.kink === true, schedule, gamma0);
  const pb: McProblem = {
    Kx,
    Fx: new GaussianSampler(Kx).factor,
    P: data.X.length,
    y: data.y,
    L: model.depth,
    act,
    gamma0,
    rule: grid,
    ntkExact0,
    kinkWidth,
    output,
  };
  return { ...plan, pb };
}

/** Replica r: samples r M .. (r + 1) M - 1 of the fixed per-sample streams of solver.seed. */
export function runReplica(plan: McPlan, seed: number, r: number, onStep?: (k: number) => void): McRun {
  const { pb, M, responseSamples, responses, options: o } = plan;
  return marchReplica(
    pb,
    {
      samples: M,
      responseSamples,
      responses,
      ibpRidge: o.ibpRidge ?? MC_DEFAULTS.ibpRidge,
      seed,
      first: r * M,
      tol: o.tol ?? MC_DEFAULTS.tol,
      maxIterations: o.maxIterations ?? MC_DEFAULTS.maxIterations,
    },
    onStep,
  );
}

/** Share of the free memory the replicas running at once may take (the rest: the runtime, the results, other work). */
const MEMORY_SHARE = 0.8;

/**
 * How many replicas of the largest solve of this config (with an accuracy target, the one at solver.maxSamples)
 * fit in memory at once, at most `wanted`, checked before any of them runs: a replica holds all its samples'
 * fields at every grid time and, for the exact responses, each response sample's Jacobian blocks
 * (P^2 K1^2 numbers, K1 grid times), so a large solver.samples would otherwise run out of memory part way
 * through and be killed. An InputError naming the option if not even one fits; `available` in bytes
 * (undefined: the platform does not say, no check).
 */
export function replicasInMemory(
  cfg: Config,
  schedule: Schedule,
  o: McSolverOptions,
  method: 'monte-carlo' | 'gradient-independent',
  wanted: number,
  available = availableMemory(),
): { concurrent: number; bytesPerReplica: number } {
  const acc = accuracyTarget(o);
  const planAt = (samples: number) => planSizes(cfg, schedule, { ...o, samples }, method);
  const bytes = (plan: McSizes, responses = plan.responses) =>
    replicaBytes(plan.shape, { samples: plan.M, responseSamples: plan.responseSamples, responses });
  const plan = acc ? planAt(acc.maxSamples) : planSizes(cfg, schedule, o, method);
  const bytesPerReplica = bytes(plan);
  if (available === undefined) return { concurrent: wanted, bytesPerReplica };
  const budget = MEMORY_SHARE * available;
  const concurrent = Math.min(wanted, Math.floor(budget / bytesPerReplica));
  if (concurrent >= 1) return { concurrent, bytesPerReplica };
  // the largest samples per replica that fit (bisection: the bytes grow with them)
  let lo = 1,
    hi = plan.M;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (bytes(planAt(mid * plan.replicas)) <= budget) lo = mid;
    else hi = mid;
  }
  const field = acc ? 'solver.maxSamples' : 'solver.samples';
  const jacobians = bytesPerReplica - bytes(plan, 'none');
  const share =
    jacobians > 0
      ? `, ${formatBytes(jacobians)} of it the Jacobians of ${plan.responseSamples.A} / ${plan.responseSamples.B} response samples for A / B`
      : '';
  throw new InputError(
    field,
    `one replica of ${plan.M} samples (${plan.M * plan.replicas} in ${plan.replicas} replicas) needs ${formatBytes(bytesPerReplica)}${share}; ` +
      `${formatBytes(budget)} is free for it (${Math.round(100 * MEMORY_SHARE)}% of the ${formatBytes(available)} available): ` +
      (lo < 2
        ? `even 2 samples per replica do not fit: ${plan.shape.P} training points on ${plan.shape.K1} grid times are too many for this machine (the memory grows as P^2 K^2; lower data P or raise solver.dt)`
        : acc && lo * plan.replicas < (o.samples ?? MC_DEFAULTS.samples)
          ? `set solver.samples and solver.maxSamples <= ${lo * plan.replicas}`
          : `set ${field} <= ${lo * plan.replicas}`) +
      `${jacobians > 0 ? ', lower solver.responseSamples / responseSamplesB' : ''}, or raise solver.replicas (fewer samples each)`,
  );
}

/** Per solve of an accuracy-targeted run (meta.accuracy.stages). */
interface Stage {
  samples: number;
  errorEstimate: number;
  seconds: number;
}

/**
 * One solve of a run: its plan, and `progress(k)`, the run's (done, total) once `k` of this solve's replica
 * steps (replicas x grid times) are done; `total` grows when an accuracy-targeted run adds a solve.
 */
export interface McStage {
  plan: McPlan;
  progress: (k: number) => [done: number, total: number];
}

/**
 * The Monte Carlo driver of one `dmft solve`: yields each solve's stage, takes back its replicas' runs (in
 * replica order, from this thread or a worker pool: `runMonteCarlo` and workers/solve.ts) and returns the result.
 * With samples fixed that is one solve; with an accuracy target (accuracyTarget) the solve is repeated with more
 * samples (nextSamples) until its meta.errorEstimate meets the target or maxSamples is reached, and the last solve
 * is the result, with the stages in meta.accuracy and a warning if the target was missed. Every solve is a pure
 * function of the config and its samples, so the result does not depend on where the replicas run.
 */
export function* monteCarloSolves(
  cfg: Config,
  schedule: Schedule,
  o: McSolverOptions,
  method: 'monte-carlo' | 'gradient-independent',
  started: number,
): Generator<McStage, Result<MonteCarloMeta>, McRun[]> {
  const acc = accuracyTarget(o);
  const stages: Stage[] = [];
  let offset = 0;
  for (let options = o; ;) {
    const plan = planMonteCarlo(cfg, schedule, options, method);
    const done = offset,
      total = plan.replicas * plan.pb.rule.t.length;
    const result = combineReplicas(cfg, plan, yield { plan, progress: (k) => [done + k, done + total] }, started);
    offset += total;
    if (!acc) return result;
    const samples = plan.M * plan.replicas,
      errorEstimate = result.meta.errorEstimate;
    stages.push({ samples, errorEstimate, seconds: result.meta.seconds - stages.reduce((s, x) => s + x.seconds, 0) });
    const next = nextSamples(samples, plan.replicas, errorEstimate, acc);
    if (next === undefined) {
      result.meta.accuracy = { targetError: acc.target, maxSamples: acc.maxSamples, stages };
      if (errorEstimate > acc.target)
        addWarning(
          result.meta,
          `the sampling error of the losses, ${percent(errorEstimate)}, is above solver.targetError (${percent(acc.target)}) at solver.maxSamples = ${acc.maxSamples}; raise solver.maxSamples (time grows linearly with the samples)`,
        );
      return result;
    }
    options = { ...o, samples: next };
  }
}

/** Drive monteCarloSolves to its result, each stage's replicas run by `runReplicas` (in replica order). */
export function runMonteCarlo(
  solves: Generator<McStage, Result<MonteCarloMeta>, McRun[]>,
  runReplicas: (stage: McStage) => McRun[],
): Result<MonteCarloMeta>;
export function runMonteCarlo(
  solves: Generator<McStage, Result<MonteCarloMeta>, McRun[]>,
  runReplicas: (stage: McStage) => Promise<McRun[]>,
): Promise<Result<MonteCarloMeta>>;
export function runMonteCarlo(
  solves: Generator<McStage, Result<MonteCarloMeta>, McRun[]>,
  runReplicas: (stage: McStage) => McRun[] | Promise<McRun[]>,
): Result<MonteCarloMeta> | Promise<Result<MonteCarloMeta>> {
  const drive = (step: IteratorResult<McStage, Result<MonteCarloMeta>>): Result<MonteCarloMeta> | Promise<Result<MonteCarloMeta>> => {
    while (!step.done) {
      const runs = runReplicas(step.value);
      if (runs instanceof Promise) return runs.then((r) => drive(solves.next(r)));
      step = solves.next(runs);
    }
    return step.value;
  };
  return drive(solves.next());
}

/** The Monte Carlo methods in this thread: every replica one after the other. */
export function solveMonteCarlo(
  cfg: Config,
  schedule: Schedule,
  o: McSolverOptions,
  method: 'monte-carlo' | 'gradient-independent',
  onProgress?: (done: number, total: number) => void,
): Result<MonteCarloMeta> {
  // the memory check first: it needs only sizes, the first plan's kernels take long at large P
  replicasInMemory(cfg, schedule, o, method, 1);
  return runMonteCarlo(monteCarloSolves(cfg, schedule, o, method, performance.now()), ({ plan, progress }) => {
    const steps = plan.pb.rule.t.length;
    return Array.from({ length: plan.replicas }, (_, r) =>
      runReplica(plan, cfg.solver.seed, r, (k) => onProgress?.(...progress(r * steps + k + 1))),
    );
  });
}

/** The INTERFACE result from the replicas' runs (in replica order); `started` from performance.now(). */
export function combineReplicas(cfg: Config, plan: McPlan, runs: readonly McRun[], started: number): Result<MonteCarloMeta> {
  const { data, model, solver, output } = cfg;
  const { method, replicas, M, responses, responseSamples, maxStep, options: o } = plan;
  const P = plan.pb.P;
  const gd = plan.pb.rule.kind === 'gd';
  // gradient descent that diverged (McRun.stopped): the recorded steps before the first replica's stop, as the
  // simulator's ensemble stops at its first diverging seed; that step is appended below for checkDivergence
  const stops = runs.flatMap((run, r) => (run.stopped ? [{ r, ...run.stopped }] : []));
  const stop = stops.length ? stops.reduce((a, b) => (b.step < a.step ? b : a)) : undefined;
  const times = stop ? plan.times.slice(0, plan.pb.rule.index.filter((k) => k < stop.step).length) : plan.times;
  const records = runs.map((run) => run.records.slice(0, times.length));
  // per replica and recorded time: predictions (train: y - Delta, test: f_test)
  const preds = records.map((recs) => recs.map((rec) => ({ train: rec.delta.map((d, a) => data.y[a] - d), test: rec.ftest })));
  const meanOf = (pick: (run: number, i: number) => number[]) => times.map((_, i) => average(runs.map((_, r) => pick(r, i))));
  const train = meanOf((r, i) => preds[r][i].train);
  const test = meanOf((r, i) => preds[r][i].test);
  const trainLoss = lossCurve(train, data.y);
  const testLoss = data.ytest ? lossCurve(test, data.ytest) : undefined;
  const sem = (curve: (r: number) => number[]) => pointwiseSem(runs.map((_, r) => curve(r)));
  const trainLossSem = sem((r) =>
    lossCurve(
      preds[r].map((p) => p.train),
      data.y,
    ),
  );
  const testLossSem = data.ytest
    ? sem((r) =>
        lossCurve(
          preds[r].map((p) => p.test),
          data.ytest!,
        ),
      )
    : undefined;
  const ntk = times.map((_, i) => averageDense(records.map((recs) => recs[i].ntk)));

  // the self-check's statistics stay in meta.consistency, its warning goes with the others
  const { warning, ...checked } = consistency(records, data.y, trainLoss, method, plan.pb.output, gd);
  const result: Result<MonteCarloMeta> = {
    t: [...times],
    trainLoss,
    ...(testLoss ? { testLoss } : {}),
    trainLossSem,
    ...(testLossSem ? { testLossSem } : {}),
    ntkFinal: trainBlock(ntk[ntk.length - 1], P),
    meta: makeMeta<MonteCarloMeta>(method, started, {
      responses,
      samples: M * replicas,
      replicas,
      ...(responses === 'exact' ? { responseSamples: { A: responseSamples.A * replicas, B: responseSamples.B * replicas } } : {}),
      // gradient descent: every step t_k = k lr is a grid point (maxStep = lr), one explicit pass each (iterations)
      grid: { points: plan.pb.rule.t.length, maxStep },
      // peak bytes of one replica's arrays (replicasInMemory): what a larger solve would need, per replica at once
      bytesPerReplica: replicaBytes(replicaShape(plan.pb), { samples: M, responseSamples, responses }),
      iterations: Math.max(...runs.map((x) => x.iterations)),
      maxStepIterations: Math.max(...runs.map((x) => x.maxStepIterations)),
      residual: Math.max(...runs.map((x) => x.residual)),
      residualHistory: runs.map((x) => x.history),
      // the losses' standard errors are top-level (trainLossSem, testLossSem); those of the opt-in outputs here
      ...(output.predictions || output.alignment
        ? {
            samplingError: {
              ...(output.predictions
                ? {
                    predictionsSem: {
                      train: times.map((_, i) => pointwiseSem(preds.map((p) => p[i].train))),
                      ...(data.ytest ? { test: times.map((_, i) => pointwiseSem(preds.map((p) => p[i].test))) } : {}),
                    },
                  }
                : {}),
              ...(output.alignment ? { alignmentSem: sem((r) => records[r].map((rec) => alignment(rec.ntk, data.y))) } : {}),
            },
          }
        : {}),
      errorEstimate: Math.max(relativeLossError(trainLossSem, trainLoss), testLossSem ? relativeLossError(testLossSem, testLoss!) : 0),
      consistency: checked,
      timing: sumTimes(runs),
      seed: solver.seed,
      ...(o.controlVariate === false ? { controlVariate: false } : {}),
      ...(plan.pb.rule.kind === 'gd' ? { lrStability: lrStability(ntk, plan.pb.rule.lr, P) } : {}),
    }),
  };
  if (warning) addWarning(result.meta, warning);
  if (stop) {
    // the step where the first replica's loss passed the limit, its own loss (firstDiverged flags it; solve throws)
    const limit = BLOWUP * Math.max(halfMeanSquare(data.y), 1);
    result.t.push(plan.pb.rule.t[stop.step]);
    result.trainLoss.push(stop.trainLoss > limit ? stop.trainLoss : NaN);
    result.trainLossSem!.push(NaN);
    if (result.testLoss) (result.testLoss.push(NaN), result.testLossSem!.push(NaN));
    addWarning(
      result.meta,
      `replica ${stop.r} of ${replicas} stopped at step ${stop.step} (t = ${+plan.pb.rule.t[stop.step].toPrecision(6)}): ` +
        (Number.isFinite(stop.trainLoss)
          ? stop.trainLoss > limit
            ? `its train loss, ${stop.trainLoss.toExponential(3)}, passed the divergence limit ${limit.toExponential(3)} (${BLOWUP.toExponential(0)} max(Loss(0), 1), as the simulator's)`
            : 'its test outputs became NaN/Infinity'
          : 'its outputs became NaN/Infinity') +
        (stops.length > 1 ? `; ${stops.length} of the ${replicas} replicas stopped before the last step` : ''),
    );
  }
  if (output.predictions) result.predictions = { train, ...(data.ytest ? { test } : {}) };
  if (output.kernels)
    result.kernels = {
      Phi: Array.from({ length: model.depth }, (_, l) =>
        times.map((_, i) => toRows(averageDense(runs.map((run) => run.records[i].Phi[l])))),
      ),
      G: Array.from({ length: model.depth }, (_, l) => times.map((_, i) => toRows(averageDense(runs.map((run) => run.records[i].G[l]))))),
      ntk: ntk.map(toRows),
    };
  if (output.alignment) result.alignment = ntk.map((K) => alignment(K, data.y));
  if (output.histograms)
    result.histograms = runs[0].h0.map((_, l) => ({
      layer: l + 1,
      ...preactivationHistogram(concat(runs.map((x) => x.h0[l])), concat(runs.map((x) => x.h1[l]))),
    }));
  return result;
}

/**
 * Self-consistency check of the solution (meta.consistency): the train loss of the output read off the fields
 * (McRecord.fFields) against that of the NTK flow (McRecord.deltaNtk); one of them is the solution's own
 * (McProblem.output), the other the check. Both are the cross-replica estimate
 * sum_{r != r'} (y - f_r) . (y - f_r') / (2 P R (R - 1)), free of the replicas' sampling variance (R >= 2 replicas), so
 * their difference has mean zero at the DMFT fixed point up to the O(dt^2) of the march (where the NTK's Gram form
 * holds; with relu, sliding units make the flow faster, as in networks: McProblem.output); its standard error is
 * the jackknife over replicas (R >= 3). `deviation`: max over times of |difference| / max(loss, 1% of its start),
 * as the validation standard; `standardErrors`: the largest |difference| / SE over times t > 0.
 * Gradient descent (`gd`): the same statistics, but not a check, and never a warning: the counterpart is the
 * NTK-Euler step along the sampled NTKs (McRecord.deltaNtk), which misses the O(lr^2 gamma0^2) terms of each step
 * that survive at infinite width (THEORY.md section 6), so the two differ by O(lr gamma0^2) at the exact solution
 * (with gradient independence also by the missing responses). `deviation` then measures how far the exact
 * discrete dynamics are from the NTK-Euler ones, and tends to gradient flow's check as lr -> 0.
 */
function consistency(
  runs: readonly McRecord[][],
  y: readonly number[],
  trainLoss: number[],
  method: string,
  output: McProblem['output'],
  gd: boolean,
) {
  const R = runs.length,
    P = y.length;
  const cross = (e: number[][]) => {
    let s = 0;
    for (let a = 0; a < P; a++) {
      let sum = 0,
        sq = 0;
      for (const er of e) ((sum += er[a]), (sq += er[a] * er[a]));
      s += sum * sum - sq;
    }
    return s / (2 * P * e.length * (e.length - 1));
  };
  const residuals = (i: number, fields: boolean, skip = -1) =>
    runs.filter((_, r) => r !== skip).map((recs) => (fields ? recs[i].fFields.map((f, a) => y[a] - f) : recs[i].deltaNtk));
  const loss = (i: number, fields: boolean, skip = -1) => cross(residuals(i, fields, skip));
  const times = trainLoss.map((_, i) => i);
  const fromFields = times.map((i) => loss(i, true));
  const fromNtk = times.map((i) => loss(i, false));
  const difference = times.map((i) => fromFields[i] - fromNtk[i]);
  const out: { trainLossFromFields: number[]; trainLossFromNtk: number[]; deviation: number; standardErrors?: number; warning?: string } = {
    trainLossFromFields: fromFields,
    trainLossFromNtk: fromNtk,
    deviation: relativeLossError(difference, trainLoss),
  };
  if (R >= 3) {
    const se = times.map((i) => {
      const loo = runs.map((_, r) => loss(i, true, r) - loss(i, false, r));
      const m = loo.reduce((s, v) => s + v, 0) / R;
      return Math.sqrt(((R - 1) / R) * loo.reduce((s, v) => s + (v - m) ** 2, 0));
    });
    out.standardErrors = Math.max(...times.slice(1).map((i) => Math.abs(difference[i]) / Math.max(se[i], 1e-300)));
    if (!gd && out.deviation > CONSISTENCY_NOTE.deviation && out.standardErrors > CONSISTENCY_NOTE.standardErrors)
      out.warning =
        `the train loss read off the fields differs from the NTK flow's by up to ${(100 * out.deviation).toFixed(1)}% ` +
        `(${out.standardErrors.toFixed(1)} standard errors): ` +
        (method === 'gradient-independent'
          ? 'as expected of gradient independence, which leaves out the response functions'
          : output === 'fields'
            ? 'with relu, units sliding along the kink make the NTK flow learn faster than the network itself (simulated ' +
              'networks show 1.8 / 4.4 / 5.8% at gamma0 = 0.5 / 1 / 1.5); beyond that, the response functions are not accurate here, ' +
              'and the losses may be biased (README, Known limits)'
            : 'the response functions are not accurate here, and the losses may be biased (README, Known limits)');
  }
  return out;
}

const percent = (v: number) => `${Number((100 * v).toPrecision(3))}%`;

/** The self-check warns (meta.warnings) at a difference above 5% (the validation standard) and 4 standard errors. */
const CONSISTENCY_NOTE = { deviation: 0.05, standardErrors: 4 };

function average(rows: number[][]): number[] {
  return rows[0].map((_, j) => rows.reduce((s, r) => s + r[j], 0) / rows.length);
}

function averageDense(ms: Dense[]): Dense {
  const out = dense(ms[0].rows, ms[0].cols);
  for (const m of ms) for (let c = 0; c < m.data.length; c++) out.data[c] += m.data[c] / ms.length;
  return out;
}

function sumTimes(runs: readonly McRun[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const run of runs) for (const [k, v] of Object.entries(run.seconds)) out[k] = (out[k] ?? 0) + v;
  return out;
}

function concat(parts: Float64Array[]): Float64Array {
  const out = new Float64Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) (out.set(p, o), (o += p.length));
  return out;
}
