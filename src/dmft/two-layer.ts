import { ConvergenceError } from '../core/errors.js';
import { dormandPrince } from '../core/ode.js';
import { GaussianSampler } from '../core/gaussian.js';
import { dense, type Dense } from '../core/linalg.js';
import { stream } from '../core/rng.js';
import type { Activation } from '../theory/activations.js';
import { lazyCurves } from '../theory/lazy.js';
import { type Schedule } from '../core/schedule.js';
import type { InputCoordinates } from './coordinates.js';
import { preactivationHistogram } from './observables.js';
import { semOf } from '../core/stats.js';
import { haltonNormals } from './qmc.js';

/**
 * Two-layer DMFT (L = 1, THEORY.md section 3) as a population of particles. A hidden unit is the site
 *   h_mu(t) = u_mu + (gamma0/P) int_0^t sum_a K^x_{mu a} Delta_a g_a,   g = phi'(h) w,
 *   w(t)    = r + (gamma0/P) int_0^t sum_a Delta_a phi(h_a),
 *   f_mu    = < w phi(h_mu) > / gamma0, centered,   Delta_a = y_a - f_a  (a over training points).
 * In the coordinates of ./coordinates.ts, u = E xi + u_perp and h = u + gamma0 E chi, so a particle is
 * (chi in R^R, omega = (w - r)/gamma0) with
 *   d chi/dt = (w/P) sum_a Delta_a phi'(h_a) E_a,    d omega/dt = (1/P) sum_a Delta_a phi(h_a),
 *   f_mu - f_mu(0) = < omega phi(h_mu) + r (phi(h_mu) - phi(u_mu)) / gamma0 >,
 * exact for any gamma0 (the difference quotient becomes phi'(u) E.chi at gamma0 = 0). Test points ride
 * along: only training points enter Delta. Variance reduction, exact as the number of particles grows:
 * the sources (xi, u_perp, r) are randomized quasi-Monte Carlo (./qmc.ts); optionally (`controlVariate`)
 * each population's curves get the control variate (exact lazy curves) - (lazy curves of its own sampled
 * NTK at t = 0). It removes the sampling error entirely as gamma0 -> 0 and most of it at early times, but
 * the lazy curves decorrelate from the feature-learning ones as the kernel moves: on the late-time train
 * loss, which sets the relative error, it adds variance from gamma0 ~ 0.5 on, so it is off by default
 * (measured spreads: docs/VALIDATION.md, "Moved from code comments").
 * `replicas` independent populations, each self-consistent with its own Delta, are integrated as one ODE
 * (adaptive Dormand-Prince with dense output; Euler steps of size lr for gradient descent, its exact
 * discrete analogue); their spread is the sampling error. A population of M particles is a width-M network, so it also carries an
 * O(1/M) bias like finite networks do: few large replicas are preferred to many small ones.
 */
export interface TwoLayerProblem {
  coords: InputCoordinates;
  Kx: Dense;
  P: number;
  y: readonly number[];
  ytest?: readonly number[];
  act: Activation;
  gamma0: number;
  schedule: Schedule;
  /** exact NTK at t = 0 over all points (the control variate's mean) */
  ntk0: Dense;
}

export interface TwoLayerOptions {
  /** particles per replica */
  particles: number;
  replicas: number;
  /** root-mean-square (over all particle coordinates) local error per step of the ODE integrator */
  tol: number;
  /** largest ODE step (flow) */
  maxStep?: number;
  seed: number;
  /** correct each replica by (exact lazy curves) - (lazy curves of its own sampled NTK at t = 0) */
  controlVariate: boolean;
  /** measure Phi^1, G^1 and the NTK over all points at every recorded time (else the train NTK at the end) */
  kernels: boolean;
  histograms: boolean;
  onProgress?: (done: number, total: number) => void;
}

/** Per recorded time: replica means of the predictions and losses, and their standard errors. */
export interface TwoLayerSolution {
  t: number[];
  train: number[][];
  test?: number[][];
  trainLoss: number[];
  testLoss?: number[];
  trainLossSem: number[];
  testLossSem?: number[];
  /** Phi^1, G^1 and NTK over all points per recorded time (all times with `kernels`, else only the last) */
  Phi: Dense[];
  G: Dense[];
  ntk: Dense[];
  histograms?: { edges: number[]; initial: number[]; final: number[] };
  /** derivative evaluations (= steps for gradient descent) */
  evaluations: number;
}

export function solveTwoLayer(pb: TwoLayerProblem, opt: TwoLayerOptions): TwoLayerSolution {
  const pop = new Population(pb, opt);
  const times = pb.schedule.kind === 'flow' ? [...pb.schedule.t] : pb.schedule.steps.map((k) => k * (pb.schedule as { lr: number }).lr);
  const state = new Float64Array(pop.size);
  const records: Snapshot[] = [];
  const initialH = opt.histograms ? pop.trainFields(state) : undefined;
  // returns whether the outputs are finite; gradient descent stops at the first that is not and hands back what
  // it recorded, so that solve() reports the divergence with the curves up to it (THEORY.md section 6)
  const record = (i: number, y: Float64Array = state) => {
    let snap = pop.snapshot(y, opt.kernels || i === times.length - 1);
    const finite = snap.f.every((f) => f.every(Number.isFinite));
    if (!finite && !snap.kernels) snap = pop.snapshot(y, true); // the last record has the kernels
    if (!finite && pb.schedule.kind === 'flow')
      throw new ConvergenceError(
        `two-layer: the particles diverged before t = ${times[i]} (reduce solver.tol)`,
        records.map((r) => r.f[0][0]),
      );
    records.push(snap);
    opt.onProgress?.(i + 1, times.length);
    return finite;
  };
  if (pb.schedule.kind === 'flow') {
    try {
      dormandPrince(
        state,
        (y, dydt) => pop.derivative(y, dydt),
        times,
        opt.tol,
        opt.maxStep ?? Infinity,
        record,
        'two-layer: the particle ODE',
      );
    } catch (e) {
      if (e instanceof ConvergenceError) throw e;
      throw new ConvergenceError(
        `two-layer: the particle ODE failed (${(e as Error).message})`,
        records.map((r) => r.f[0][0]),
      );
    }
  } else {
    const { lr, steps: at } = pb.schedule;
    const v = new Float64Array(pop.size);
    let step = 0;
    for (let i = 0; i < at.length; i++) {
      for (; step < at[i]; step++) {
        pop.derivative(state, v);
        for (let j = 0; j < state.length; j++) state[j] += lr * v[j];
      }
      if (!record(i)) break;
    }
  }
  if (opt.controlVariate) controlVariate(records, pop, pb);
  const sol = summarize(times.slice(0, records.length), records, pb);
  sol.evaluations = pop.evaluations;
  if (initialH) sol.histograms = preactivationHistogram(initialH, pop.trainFields(state));
  return sol;
}

interface Snapshot {
  /** f per replica over all points */
  f: Float64Array[];
  kernels?: { Phi: Dense; G: Dense; ntk: Dense };
}

/** The particles: sources, state layout [chi (R), omega] per particle, replica by replica. */
class Population {
  readonly size: number;
  /** derivative evaluations so far */
  evaluations = 0;
  private readonly R: number;
  private readonly n: number;
  private readonly M: number;
  private readonly reps: number;
  /** per particle: r, and u, phi(u) over all points */
  private readonly r: Float64Array;
  private readonly u: Float64Array;
  private readonly pu: Float64Array;
  /** scratch: phi(h), phi'(h) on training points of one replica */
  private readonly p: Float64Array;
  private readonly q: Float64Array;
  private readonly delta: Float64Array;
  /** phi(x), storing phi'(x) in slope[at] */
  private readonly both: (x: number, slope: Float64Array, at: number) => number;

  constructor(
    private readonly pb: TwoLayerProblem,
    opt: TwoLayerOptions,
  ) {
    const { E, R } = pb.coords;
    const n = E.rows;
    const Fperp = perpFactor(pb.coords.Kperp);
    const Rp = Fperp.cols;
    this.R = R;
    this.n = n;
    this.M = opt.particles;
    this.reps = opt.replicas;
    const total = this.M * this.reps;
    this.size = total * (R + 1);
    this.r = new Float64Array(total);
    this.u = new Float64Array(total * n);
    this.pu = new Float64Array(total * n);
    const dim = 1 + R + Rp;
    for (let rep = 0; rep < this.reps; rep++) {
      const z = haltonNormals(this.M, dim, stream(opt.seed, 'two-layer', rep));
      for (let i = 0; i < this.M; i++) {
        const id = rep * this.M + i,
          zi = i * dim;
        this.r[id] = z[zi];
        for (let mu = 0; mu < n; mu++) {
          let s = 0;
          for (let c = 0; c < R; c++) s += E.data[mu * R + c] * z[zi + 1 + c];
          for (let c = 0; c < Rp; c++) s += Fperp.data[mu * Rp + c] * z[zi + 1 + R + c];
          this.u[id * n + mu] = s;
          this.pu[id * n + mu] = pb.act.phi(s);
        }
      }
    }
    this.p = new Float64Array(this.M * pb.P);
    this.q = new Float64Array(this.M * pb.P);
    this.delta = new Float64Array(pb.P);
    this.both = phiAndSlope(pb.act);
  }

  /** h_mu = u_mu + gamma0 E_mu . chi of particle `id` at point mu */
  private field(y: Float64Array, id: number, mu: number): number {
    const { R } = this;
    const E = this.pb.coords.E.data,
      o = id * (R + 1);
    let s = 0;
    for (let c = 0; c < R; c++) s += E[mu * R + c] * y[o + c];
    return this.u[id * this.n + mu] + this.pb.gamma0 * s;
  }

  derivative(y: Float64Array, dydt: Float64Array): void {
    this.evaluations++;
    const { R, M, n, p, q, delta, r, u, pu, both } = this;
    const { P, act, gamma0 } = this.pb;
    const E = this.pb.coords.E.data,
      target = this.pb.y;
    const S = R + 1,
      lazy = gamma0 === 0,
      inv = lazy ? 0 : 1 / gamma0;
    for (let rep = 0; rep < this.reps; rep++) {
      // f - f(0) on training points, hence Delta, for this replica
      delta.fill(0);
      for (let i = 0; i < M; i++) {
        const id = rep * M + i,
          o = id * S,
          ou = id * n,
          op = i * P;
        const omega = y[o + R],
          ri = r[id];
        for (let a = 0, e = 0; a < P; a++) {
          let s = 0;
          for (let c = 0; c < R; c++, e++) s += E[e] * y[o + c];
          const h = u[ou + a] + gamma0 * s;
          const ph = both(h, q, op + a);
          p[op + a] = ph;
          delta[a] += omega * ph + ri * (lazy ? act.dphi(u[ou + a]) * s : (ph - pu[ou + a]) * inv);
        }
      }
      for (let a = 0; a < P; a++) delta[a] = target[a] - delta[a] / M;
      for (let i = 0; i < M; i++) {
        const id = rep * M + i,
          o = id * S,
          op = i * P;
        const w = (r[id] + gamma0 * y[o + R]) / P;
        for (let c = 0; c < R; c++) dydt[o + c] = 0;
        let dOmega = 0;
        for (let a = 0, e = 0; a < P; a++) {
          const s = delta[a] * q[op + a] * w;
          for (let c = 0; c < R; c++, e++) dydt[o + c] += s * E[e];
          dOmega += delta[a] * p[op + a];
        }
        dydt[o + R] = dOmega / P;
      }
    }
  }

  snapshot(y: Float64Array, withKernels: boolean): Snapshot {
    const { n, M, R } = this;
    const { act, gamma0, Kx } = this.pb;
    const f = Array.from({ length: this.reps }, () => new Float64Array(n));
    const Phi = dense(n, n),
      G = dense(n, n);
    const ph = new Float64Array(n),
      dh = new Float64Array(n);
    const { r, u, pu, both } = this;
    const E = this.pb.coords.E.data,
      S = R + 1,
      lazy = gamma0 === 0,
      inv = lazy ? 0 : 1 / gamma0;
    for (let rep = 0; rep < this.reps; rep++) {
      const fr = f[rep];
      for (let i = 0; i < M; i++) {
        const id = rep * M + i,
          o = id * S,
          ou = id * n;
        const omega = y[o + R],
          ri = r[id],
          w = ri + gamma0 * omega;
        // the particle's contribution omega phi(h) + r (phi(h) - phi(u)) / gamma0 to f_mu - f_mu(0)
        for (let mu = 0, e = 0; mu < n; mu++) {
          let s = 0;
          for (let c = 0; c < R; c++, e++) s += E[e] * y[o + c];
          const h = u[ou + mu] + gamma0 * s;
          const p = both(h, dh, mu);
          ph[mu] = p;
          fr[mu] += omega * p + ri * (lazy ? act.dphi(u[ou + mu]) * s : (p - pu[ou + mu]) * inv);
        }
        if (withKernels) {
          for (let mu = 0; mu < n; mu++) dh[mu] *= w;
          accumulateGram(Phi.data, G.data, ph, dh, n);
        }
      }
      for (let mu = 0; mu < n; mu++) fr[mu] /= M;
    }
    if (!withKernels) return { f };
    const total = M * this.reps;
    const ntk = dense(n, n);
    for (let k = 0; k < n * n; k++) {
      Phi.data[k] /= total;
      G.data[k] /= total;
      ntk.data[k] = Phi.data[k] + G.data[k] * Kx.data[k];
    }
    return { f, kernels: { Phi, G, ntk } };
  }

  /** The sampled NTK of replica `rep` at t = 0 over all points: <phi(u) phi(u)> + <r^2 phi'(u) phi'(u)> K^x. */
  initialNtk(rep: number): Dense {
    const { n, M } = this;
    const { act, Kx } = this.pb;
    const Phi = dense(n, n),
      G = dense(n, n),
      K = dense(n, n);
    const ph = new Float64Array(n),
      dh = new Float64Array(n);
    for (let i = 0; i < M; i++) {
      const id = rep * M + i;
      for (let mu = 0; mu < n; mu++) {
        ph[mu] = this.pu[id * n + mu];
        dh[mu] = act.dphi(this.u[id * n + mu]) * this.r[id];
      }
      accumulateGram(Phi.data, G.data, ph, dh, n);
    }
    for (let k = 0; k < n * n; k++) K.data[k] = (Phi.data[k] + G.data[k] * Kx.data[k]) / M;
    return K;
  }

  /** h over all particles and training points (for histograms). */
  trainFields(y: Float64Array): Float64Array {
    const out = new Float64Array(this.M * this.reps * this.pb.P);
    for (let id = 0; id < this.M * this.reps; id++) for (let a = 0; a < this.pb.P; a++) out[id * this.pb.P + a] = this.field(y, id, a);
    return out;
  }
}

/** phi(x), storing phi'(x) in slope[at]; tanh shares its one evaluation (phi' = 1 - phi^2). */
function phiAndSlope(act: Activation): (x: number, slope: Float64Array, at: number) => number {
  if (act.name === 'tanh')
    return (x, slope, at) => {
      const p = Math.tanh(x);
      slope[at] = 1 - p * p;
      return p;
    };
  return (x, slope, at) => {
    slope[at] = act.dphi(x);
    return act.phi(x);
  };
}

/** Phi += ph ph^T, G += dh dh^T (lower triangle mirrored). */
function accumulateGram(Phi: Float64Array, G: Float64Array, ph: Float64Array, dh: Float64Array, n: number): void {
  for (let mu = 0; mu < n; mu++)
    for (let nu = 0; nu <= mu; nu++) {
      const a = ph[mu] * ph[nu],
        b = dh[mu] * dh[nu];
      Phi[mu * n + nu] += a;
      G[mu * n + nu] += b;
      if (nu !== mu) {
        Phi[nu * n + mu] += a;
        G[nu * n + mu] += b;
      }
    }
}

/** F with F F^T = Kperp, only its non-zero columns (none when the test inputs lie in the training span). */
function perpFactor(Kperp: Dense): Dense {
  const n = Kperp.rows;
  if (Kperp.data.every((v) => v === 0)) return dense(n, 0);
  const F = new GaussianSampler(Kperp).factor;
  const cols = [...Array(n).keys()].filter((c) => F.data.some((_, k) => k % n === c && F.data[k] !== 0));
  const out = dense(n, cols.length);
  for (let i = 0; i < n; i++) cols.forEach((c, j) => (out.data[i * cols.length + j] = F.data[i * n + c]));
  return out;
}

/**
 * Control variate exact in the limit: each replica's sampling error of the NTK at t = 0 drives most of its
 * error, so subtract the lazy curves of its own sampled NTK and add the exact lazy curves (section 2).
 */
function controlVariate(records: Snapshot[], pop: Population, pb: TwoLayerProblem): void {
  const exact = lazyCurves(pb.ntk0, pb.P, pb.y, pb.ytest, pb.schedule);
  records[0].f.forEach((_, rep) => {
    const own = lazyCurves(pop.initialNtk(rep), pb.P, pb.y, pb.ytest, pb.schedule);
    records.forEach((rec, i) => {
      const f = rec.f[rep];
      for (let a = 0; a < pb.P; a++) f[a] += exact.train[i][a] - own.train[i][a];
      for (let s = 0; s < f.length - pb.P; s++) f[pb.P + s] += exact.test![i][s] - own.test![i][s];
    });
  });
}

function summarize(t: number[], records: Snapshot[], pb: TwoLayerProblem): TwoLayerSolution {
  const { P, y, ytest } = pb;
  const reps = records[0].f.length;
  const loss = (f: Float64Array | number[], targets: readonly number[], off: number) =>
    targets.reduce((s, v, i) => s + (v - f[off + i]) ** 2, 0) / (2 * targets.length);
  const sol: TwoLayerSolution = { t, train: [], trainLoss: [], trainLossSem: [], Phi: [], G: [], ntk: [], evaluations: 0 };
  if (ytest) Object.assign(sol, { test: [], testLoss: [], testLossSem: [] });
  for (const rec of records) {
    const n = rec.f[0].length;
    const mean = Array.from({ length: n }, (_, mu) => rec.f.reduce((s, f) => s + f[mu], 0) / reps);
    sol.train.push(mean.slice(0, P));
    sol.trainLoss.push(loss(mean, y, 0));
    sol.trainLossSem.push(semOf(rec.f.map((f) => loss(f, y, 0))));
    if (ytest) {
      sol.test!.push(mean.slice(P));
      sol.testLoss!.push(loss(mean, ytest, P));
      sol.testLossSem!.push(semOf(rec.f.map((f) => loss(f, ytest, P))));
    }
    if (rec.kernels) {
      sol.Phi.push(rec.kernels.Phi);
      sol.G.push(rec.kernels.G);
      sol.ntk.push(rec.kernels.ntk);
    }
  }
  return sol;
}
