import ode45 from 'ode45-cash-karp';
import { recordTimes, type Config } from '../core/config.js';
import { ConvergenceError, InputError } from '../core/errors.js';
import { BLOWUP, halfMeanSquare } from '../core/result.js';
import { activation } from '../theory/activations.js';
import { inputKernel } from '../theory/kernels.js';
import { allInputs } from '../core/schedule.js';
import { initialParams, Network, paramViews, type Params } from './network.js';
import { Recorder, type Curves } from './record.js';
import { EULER, LowRankStepper, RK4 } from './stepper.js';

/**
 * Training one network of width N (THEORY.md section 1): gradient flow by adaptive Cash-Karp ('ck',
 * tolerance `tol` on the relative per-step error of every weight) or fixed-step RK4 ('rk4', step `dt`,
 * the last step before a record time shortened to land on it), or gradient descent when the config has
 * train.steps / train.lr. Outputs are centered, f - f(0). The default integrator is flowIntegrator's.
 */
export type Integrator = 'ck' | 'rk4';

export interface NetworkOptions {
  width: number;
  /** seed index s: weights from stream(cfg.solver.seed, 'sim', s, ...) */
  seed: number;
  /** default: rk4 if `dt` is given, ck if `tol` is, else defaultIntegrator(cfg) */
  integrator?: Integrator;
  /** RK4 step */
  dt?: number;
  /** Cash-Karp tolerance */
  tol?: number;
  /** record at these times instead of those of cfg.train (gradient descent: multiples of train.lr) */
  times?: readonly number[];
  /** called after each recorded time */
  onRecord?: () => void;
}

export interface NetworkRun extends Curves {
  width: number;
  seed: number;
  /** gamma0 of the network (differs from model.gamma0 in NTK parameterization) */
  gamma0: number;
  integrator: Integrator | 'gd';
  /** integrator steps (gradient descent steps) taken */
  steps: number;
}

export const DEFAULT_DT = 0.05;
export const DEFAULT_TOL = 1e-7;

/** Divergence: the run stops; `partial` holds everything recorded before it. */
export class SimulationDiverged extends ConvergenceError {
  constructor(
    message: string,
    readonly partial: NetworkRun,
  ) {
    super(message, partial.trainLoss);
    this.name = 'SimulationDiverged';
  }
}

function positive(field: string, v: number | undefined): void {
  if (v !== undefined && !(Number.isFinite(v) && v > 0)) throw new InputError(field, `expected a positive number, got ${v}`);
}

/**
 * Fixed-step RK4 for an activation with a kink (relu): there phi' jumps, so the velocity of THEORY.md
 * section 1 jumps whenever a preactivation crosses 0 and an adaptive step shrinks to nothing at each of
 * the ~N P crossings. Otherwise adaptive Cash-Karp.
 */
export function defaultIntegrator(cfg: Config): Integrator {
  return activation(cfg.model.activation).kink ? 'rk4' : 'ck';
}

/** The gradient-flow integrator `opts` select for `cfg`: explicit, else implied by dt (rk4) or tol (ck), else the default. */
export function flowIntegrator(cfg: Config, o: Pick<NetworkOptions, 'integrator' | 'dt' | 'tol'>): Integrator {
  return o.integrator ?? (o.dt !== undefined ? 'rk4' : o.tol !== undefined ? 'ck' : defaultIntegrator(cfg));
}

/** Validate options against the config; returns the record times. */
function checkOptions(cfg: Config, o: NetworkOptions): number[] {
  if (!Number.isInteger(o.width) || o.width < 1) throw new InputError('width', `expected an integer >= 1, got ${o.width}`);
  if (!Number.isInteger(o.seed) || o.seed < 0) throw new InputError('seed', `expected an integer >= 0, got ${o.seed}`);
  if (o.integrator !== undefined && o.integrator !== 'ck' && o.integrator !== 'rk4')
    throw new InputError('integrator', `expected ck or rk4, got ${JSON.stringify(o.integrator)}`);
  positive('dt', o.dt);
  positive('tol', o.tol);
  if (o.dt !== undefined && flowIntegrator(cfg, o) !== 'rk4') throw new InputError('dt', 'is the step of the rk4 integrator, not of ck');
  if (o.tol !== undefined && flowIntegrator(cfg, o) !== 'ck') throw new InputError('tol', 'is the tolerance of the ck integrator, not rk4');
  if (cfg.train.kind === 'gd' && (o.integrator ?? o.dt ?? o.tol) !== undefined)
    throw new InputError('integrator', 'the config trains by gradient descent (train.steps, train.lr); integrators are for gradient flow');
  if (!o.times) return recordTimes(cfg.train).t;
  const t = [...o.times];
  if (t.length === 0) throw new InputError('times', 'needs at least 1 entries');
  t.forEach((ti, i) => {
    if (!Number.isFinite(ti) || ti < 0) throw new InputError(`times[${i}]`, `expected a finite time >= 0, got ${ti}`);
    if (i > 0 && ti < t[i - 1]) throw new InputError(`times[${i}]`, 'times must be non-decreasing');
  });
  return t;
}

/** Train one network of the config and record its curves. Throws SimulationDiverged on NaN/Inf or blow-up. */
export function simulateNetwork(cfg: Config, opts: NetworkOptions): NetworkRun {
  const times = checkOptions(cfg, opts);
  const N = opts.width;
  const net = new Network(cfg, N);
  const theta = initialParams(net.shape, cfg.solver.seed, opts.seed, net.alloc);
  const p = paramViews(theta, net.shape);
  const lr = cfg.train.kind === 'gd' ? cfg.train.lr : undefined;
  const recorder = new Recorder(net, inputKernel(allInputs(cfg)), cfg.output.kernels || cfg.output.alignment, cfg.data.ytest, lr);
  const integrator: NetworkRun['integrator'] = cfg.train.kind === 'gd' ? 'gd' : flowIntegrator(cfg, opts);
  const run: NetworkRun = Object.assign(recorder.curves, { width: N, seed: opts.seed, gamma0: net.gamma0, integrator, steps: 0 });
  // centering: f(0) over all points
  net.evaluate(p, net.n, net.n);
  net.f0.set(net.f);
  const limit = BLOWUP * Math.max(halfMeanSquare(net.delta), 1);
  const check = (t: number) => {
    const loss = halfMeanSquare(net.delta);
    if (Number.isFinite(loss) && loss <= limit) return;
    const why = Number.isFinite(loss) ? `the train loss reached ${loss.toExponential(3)}` : 'the outputs became NaN/Infinity';
    const hint = integrator === 'gd' ? 'lower train.lr' : integrator === 'rk4' ? 'lower dt' : 'lower tol';
    throw new SimulationDiverged(`simulation diverged at t = ${t.toPrecision(6)} (width ${N}, seed ${opts.seed}): ${why}; ${hint}`, run);
  };
  const record = (t: number, k: number) => {
    recorder.record(t, k === times.length - 1);
    opts.onRecord?.();
  };
  if (integrator === 'ck') run.steps = cashKarp(net, theta, times, opts.tol ?? DEFAULT_TOL, recorder, record, check);
  else if (integrator === 'rk4') run.steps = fixedStep(net, theta, times, opts.dt ?? DEFAULT_DT, recorder, record, check, false);
  else run.steps = fixedStep(net, theta, gdTimes(cfg, times), (cfg.train as { lr: number }).lr, recorder, record, check, true);
  return run;
}

/** Gradient descent records at whole steps: times must be multiples of train.lr. */
function gdTimes(cfg: Config, times: number[]): number[] {
  const lr = (cfg.train as { lr: number }).lr;
  return times.map((t, i) => {
    const k = Math.round(t / lr);
    if (Math.abs(k * lr - t) > 1e-9 * Math.max(t, lr))
      throw new InputError(`times[${i}]`, `gradient descent records at multiples of train.lr = ${lr}, got ${t}`);
    return k;
  });
}

type RecordFn = (t: number, k: number) => void;

/**
 * RK4 with step h (exact landing on each record time) or, if `discrete`, gradient descent: Euler steps of
 * exactly h = lr, `targets` then being step counts. A recording evaluation is RK4's first stage.
 */
function fixedStep(
  net: Network,
  theta: Float64Array,
  targets: number[],
  h: number,
  recorder: Recorder,
  record: RecordFn,
  check: (t: number) => void,
  discrete: boolean,
): number {
  const stepper = new LowRankStepper(net, theta, discrete ? EULER : RK4);
  const nbRecord = recorder.backPoints();
  let t = 0,
    k = 0,
    steps = 0;
  // t: time (flow) or step count (gd); times within `eps` of a target count as on it
  const eps = discrete ? 0 : 1e-9 * h;
  for (;;) {
    const at = targets[k] - t <= eps;
    stepper.firstStage(at ? net.n : net.P, at ? nbRecord : net.P);
    check(discrete ? t * h : t);
    while (k < targets.length && targets[k] - t <= eps) record(discrete ? targets[k] * h : targets[k], k++);
    if (k === targets.length) return steps;
    if (discrete) {
      stepper.finish(h);
      t++;
    } else {
      const last = targets[k] - t <= h * (1 + 1e-9);
      stepper.finish(last ? targets[k] - t : h);
      t = last ? targets[k] : t + h;
    }
    steps++;
  }
}

/** Adaptive Cash-Karp on the dense velocity; lands on each record time through step(tLimit). */
function cashKarp(
  net: Network,
  theta: Float64Array,
  times: number[],
  tol: number,
  recorder: Recorder,
  record: RecordFn,
  check: (t: number) => void,
): number {
  const { shape, P, n } = net;
  const U = new Float64Array(P * shape.N);
  // the integrator hands a few fixed buffers (y, its scratch, k1..k6) to deriv: views are made once per buffer
  const views = new Map<Float64Array, Params>();
  const view = (a: Float64Array) => {
    let v = views.get(a);
    if (!v) views.set(a, (v = paramViews(a, shape)));
    return v;
  };
  let tNow = 0;
  const deriv = (dydt: Float64Array, y: Float64Array, t: number) => {
    net.velocity(view(y), view(dydt), U);
    tNow = t;
    check(t);
  };
  const dt0 = Math.min(DEFAULT_DT, Math.max(...times, 1) / 10);
  const ck = ode45(theta, deriv as (d: Float64Array | number[], y: Float64Array | number[], t: number) => void, 0, dt0, {
    tol,
    verbose: false,
  });
  const p = view(theta);
  let steps = 0;
  for (let k = 0; k < times.length; k++) {
    try {
      for (let more = true; more;) {
        const before = ck.t;
        more = ck.step(times[k]);
        if (ck.t !== before) steps++;
      }
    } catch (e) {
      if (e instanceof ConvergenceError) throw e;
      // the integrator's own NaN error
      check(tNow);
      throw e;
    }
    net.evaluate(p, n, recorder.backPoints());
    check(times[k]);
    record(times[k], k);
  }
  return steps;
}
