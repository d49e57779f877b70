import { ConvergenceError } from '../../core/errors.js';
import { dense, type Dense } from '../../core/linalg.js';
import { BLOWUP, halfMeanSquare } from '../../core/result.js';
import type { Activation } from '../../theory/activations.js';
import { crankNicolsonDelta, isImplicit, memoryWeights, trapezoidTest, type TimeRule } from '../grid.js';
import { CausalFactor } from './factor.js';
import { LayerSamples } from './layer.js';
import { ExactResponses, ibpRiderCorrection, ibpSolve, ibpSums, type ResponseKind } from './responses.js';

/**
 * One self-consistent Monte Carlo solution of the deep DMFT (THEORY.md sections 3-4) on a time grid, marched
 * in time like the deep-linear solver: by causality, row k of every kernel (Phi^l(t_k, t_j), G^l(t_k, t_j),
 * Ar, Bu, j <= k) and Delta(t_k) depend only on the fields at times <= t_k. At each grid step a short
 * fixed-point iteration (contraction O(dt): the only equal-time coupling is the trapezoid endpoint) runs
 *   down l = L..1:  Cz^l row k -> r^l(t_k) from G^{l+1}'s causal factor -> z^l(t_k) -> G^l row k
 *   up   l = 1..L:  Ch^l row k -> u^l(t_k) from Phi^{l-1}'s causal factor -> h^l(t_k) -> Phi^l row k
 *                   -> the responses of layer l, row k (exact forward-mode or integration by parts, ./responses.ts),
 * then
 *   NTK K(t_k) = sum_{l=0..L} G^{l+1}(t_k,t_k) Phi^l(t_k,t_k), and Delta(t_k) = y - f(t_k) with f read off the top layer's
 *   fields (McProblem.output 'fields'), or Delta(t_k) by Crank-Nicolson along the NTK ('ntk'),
 * with the memory operators (trapezoid weights w_i of int_0^{t_k}, Delta(t_i) and gamma0 inside)
 *   Ch^1(k,i) = gamma0 w_i/P K^x diag Delta(i),  Ch^l(k,i) = Ar^{l-1}(k,i) + gamma0 w_i/P Phi^{l-1}(k,i) diag Delta(i),
 *   Cz^L(k,i) = gamma0 w_i/P 1 Delta(i)^T,       Cz^l(k,i) = Bu^{l+1}(k,i) + gamma0 w_i/P G^{l+1}(k,i) diag Delta(i).
 * The sources use fixed per-sample normals, so the solution is a deterministic function of them and needs no
 * damping. Test points ride along after each step has converged (they do not drive the dynamics): their
 * sources at t_k are drawn conditionally on the sample's training normals, then fields, kernel rows, responses
 * up the layers and down again, and f_test by the same Crank-Nicolson rule along the NTK.
 * Gradient descent (McProblem.rule of kind 'gd', THEORY.md section 6) is that march with the strictly causal
 * weights (w_i = lr for i < k, w_k = 0): no equal-time coupling is left but a finite network's own, so each step is
 * one explicit pass, up the layers and then down (Replica.explicitStep), and the outputs are read off the fields.
 */
export interface McProblem {
  Kx: Dense;
  /** factor F_x F_x^T = K^x over all points (sources of layer 1) */
  Fx: Dense;
  P: number;
  y: readonly number[];
  L: number;
  act: Activation;
  gamma0: number;
  /** the grid (t[0] = 0), the grid indices to record (index) and the memory weights (grid.ts) */
  rule: TimeRule;
  /**
   * The exact NTK at t = 0 over all points (THEORY.md section 2), or undefined: control variate of the NTK,
   * K(t) = K_S(t) - K_S(0) + K(0). The sampled kernel's error at t is mostly its error at t = 0 (the same
   * samples, evolving smoothly), so the sampled change K_S(t) - K_S(0) is far less noisy than K_S(t),
   * and the mean is unchanged (E K_S(0) = K(0)). It enters the flow of Delta and f_test and the reported NTK.
   */
  ntkExact0?: Dense;
  /**
   * Kinked activations (relu): per layer l (index l-1), the width over all points of the normal density that
   * stands for the delta(h) in phi'' (LayerSamples.kinkWidth). Without it the responses miss every term in
   * which a perturbation moves a sample across the kink, and deep relu losses come out too low at late times.
   */
  kinkWidth?: Float64Array[];
  /**
   * Where the outputs f come from.
   * 'fields': f(t) = (1/gamma0) <z^L(t) phi(h^L(t)) - r^L phi(h^L(0))> over the batch (THEORY.md section 3: z^L is
   *   the readout w; centered), the network's output itself, as the two-layer particles have it.
   * 'ntk': df/dt = K Delta / P along the sampled NTK (section 2).
   * The two agree at the fixed point when the NTK's Gram form holds at every instant. With relu it does not: a
   * unit held at the kink (sliding, Filippov) chatters across it, and the NTK read at an instant counts its share
   * of df/dt, which is zero since phi(h) stays 0. Networks show it (their loss stays above the flow along their
   * own recorded NTKs), and the relu flow learned too fast (README, Known limits). So the full solution of a
   * kinked activation reads f off the fields. Smooth activations flow along the NTK: its control variate
   * (ntkExact0) makes the late train loss's variance smaller than the fields' f, whose batch moves through its
   * layers' own samples, not through K_S(0). Gradient independence flows along the NTK (its fields leave out the
   * responses, so they do not give its f), and so does gamma0 = 0. Test points (riders) always flow along the
   * NTK: they keep no history of their own sources (each time's innovation is drawn afresh), so their
   * (phi(h(t)) - phi(h(0))) / gamma0 would carry independent noise. Measurements: docs/VALIDATION.md,
   * "Moved from code comments".
   * Gradient descent (THEORY.md section 6): the NTK-Euler step is exact only in the lazy limit, so the full solution
   * reads f off the fields ('fields') for every activation, train and test points alike (Replica.outputs,
   * Replica.testOutputs: the test points' rule is exact too). 'ntk' is then the NTK-Euler step
   * Delta(k+1) = Delta(k) - (lr/P) K(k) Delta(k), f_test likewise: gamma0 = 0, where it is exact, and gradient
   * independence. Gradient independence is an approximation of the kernels (A = B = 0, section 4), not a model
   * whose own outputs the fields give: without the responses, the top layer's fields miss every lower layer's
   * share of the output's change (the G^{l+1} Phi^l, l < L, terms of the NTK enter f through A^{L-1}), so f read off
   * them would not even reach the lazy curve at gamma0 -> 0. Its consistent discrete definition is the one
   * gradient flow has, df/dt = K Delta / P along its kernels (section 2), taken as gradient descent takes it in the
   * lazy limit: the NTK-Euler step along its evolving NTK; it is exact at gamma0 -> 0 and tends to the flow's
   * gradient independence as lr -> 0.
   */
  output: 'fields' | 'ntk';
}

export interface McOptions {
  samples: number;
  /** samples whose Jacobians give the exact responses (<= samples): Ar (A) and Bu (B) */
  responseSamples: { A: number; B: number };
  responses: 'exact' | 'ibp' | 'none';
  /** Tikhonov regularization of the integration-by-parts inverse, relative to each block's largest variance */
  ibpRidge: number;
  seed: number;
  /** index of the first sample (replica r uses samples r M .. r M + M - 1) */
  first: number;
  tol: number;
  maxIterations: number;
}

/** Per recorded time: Delta (train), f_test, and the equal-time kernels over all points. */
export interface McRecord {
  /** y - f on the training points (McProblem.output) */
  delta: number[];
  /** Delta of the NTK flow along the replica's sampled NTKs (the same as delta when McProblem.output is 'ntk') */
  deltaNtk: number[];
  /**
   * The network's output on the training points read off the fields, (1/gamma0) <z^L(t) phi(h^L(t)) - r^L phi(h^L(0))>
   * (THEORY.md section 3: z^L is the readout; centered), and y - deltaNtk its value from the NTK flow. The two
   * agree at the DMFT fixed point when the NTK's Gram form holds; they differ when the responses are wrong (with
   * A = B = 0 by far) and where units slide along relu's kink (McProblem.output), so their difference checks the
   * solution without a simulation (monte-carlo.ts, meta.consistency).
   */
  fFields: number[];
  ftest: number[];
  ntk: Dense;
  Phi: Dense[];
  G: Dense[];
}

export interface McRun {
  records: McRecord[];
  /** largest final residual over the steps, total and max iterations per step, residual history of the worst step */
  residual: number;
  iterations: number;
  maxStepIterations: number;
  history: number[];
  /** training preactivations of every layer at the first and last time: per layer S x P */
  h0: Float64Array[];
  h1: Float64Array[];
  /**
   * Gradient descent whose train loss passed the divergence limit (BLOWUP max(Loss(0), 1), the simulator's) or
   * whose outputs stopped being finite at grid step `step` (its train loss there): the march ended there, and
   * `records` hold only the recorded steps before it (h1: the preactivations at that step).
   */
  stopped?: { step: number; trainLoss: number };
  seconds: { fields: number; kernels: number; factors: number; responses: number; riders: number };
}

export function marchReplica(pb: McProblem, opt: McOptions, onStep?: (k: number) => void): McRun {
  return new Replica(pb, opt).run(onStep);
}

/**
 * Bytes one replica holds at its peak (memory check, ../monte-carlo.ts): every layer's samples (LayerSamples),
 * the exact responses' Jacobians (ExactResponses), and the replica's own kernel and operator rows, causal
 * factors and records.
 */
export function replicaBytes(shape: ReplicaShape, opt: Pick<McOptions, 'samples' | 'responseSamples' | 'responses'>): number {
  const { P, L, n, K1, records, kink, explicit = false, tangent = false } = shape;
  const Pt = n - P,
    W = P * K1,
    S = opt.samples;
  let bytes =
    8 * (6 * L * n * W + 2 * L * Pt * Pt + ((2 * L - 2) * (P * P * K1 * (K1 + 3))) / 2 + records * (2 * L + 1) * n * n + 2 * L * S * P);
  if (tangent) bytes += LayerSamples.tangentBytes(S, P, K1);
  for (let l = 1; l <= L; l++) {
    bytes += LayerSamples.bytes(l, L, S, P, Pt, K1);
    if (opt.responses !== 'exact') continue;
    const cv = responseControlVariate(kink, explicit);
    if (l < L) bytes += ExactResponses.bytes('r', S, P, Pt, K1, Math.min(opt.responseSamples.A, S), cv, explicit);
    if (l >= 2) bytes += ExactResponses.bytes('u', S, P, Pt, K1, Math.min(opt.responseSamples.B, S), cv, explicit);
  }
  return bytes;
}

/**
 * Whether the exact responses use their control variate (ExactResponses.row: the first memory link's mean over all
 * samples): for kinked activations, and under gradient descent for every activation. There the outputs are read off
 * the fields, so every layer below the top reaches f through the responses A^{L-1} (the G^{l+1} Phi^l, l < L - 1,
 * terms of the NTK): the responses' noise enters f at leading order, and its O(1/Sr) bias with it (measured at
 * gamma0 = 1e-3, L = 3 tanh: losses 15-27% above the lazy curve with 16 response samples per replica). The first link
 * is all of the response at leading order in gamma0, so with it averaged over every sample the response samples only
 * estimate the O(gamma0^2) rest. Gradient flow of smooth activations flows along the NTK, where response noise is a
 * negligible part of the losses' error and the control variate would cost 8% of the solve (./responses.ts).
 */
const responseControlVariate = (kink: boolean, explicit: boolean): boolean => kink || explicit;

export const replicaShape = (pb: McProblem): ReplicaShape => ({
  P: pb.P,
  n: pb.Kx.rows,
  L: pb.L,
  K1: pb.rule.t.length,
  records: pb.rule.index.length,
  kink: pb.act.kink === true,
  explicit: !isImplicit(pb.rule),
  tangent: !isImplicit(pb.rule) && pb.output === 'fields',
});

/**
 * The sizes replicaBytes needs: P training and n points in all, depth L, K1 grid times, records recorded, a kinked
 * activation; gradient descent (`explicit`) and its outputs read off the fields (`tangent`, the readout tangent).
 */
export interface ReplicaShape {
  P: number;
  n: number;
  L: number;
  K1: number;
  records: number;
  kink: boolean;
  explicit?: boolean;
  tangent?: boolean;
}

class Replica {
  private readonly P: number;
  private readonly Pt: number;
  private readonly n: number;
  private readonly K1: number;
  private readonly W: number;
  private readonly layers: LayerSamples[];
  /** per layer index l-1: kernel rows (n x W), riders' equal-time blocks (Pt x Pt), operators, responses */
  private readonly PhiRow: Float64Array[];
  private readonly GRow: Float64Array[];
  private readonly PhiXX: Float64Array[];
  private readonly GXX: Float64Array[];
  private readonly Ch: Float64Array[];
  private readonly Cz: Float64Array[];
  private readonly Ar: Float64Array[];
  private readonly Bu: Float64Array[];
  private readonly fU: (CausalFactor | undefined)[];
  private readonly fR: (CausalFactor | undefined)[];
  private readonly exact: Map<string, ExactResponses> = new Map();
  /** the riders' conditional sources u^l(t_k) = M xi + F eps of the current step, per layer index */
  private readonly upCond: ({ M: Float64Array; F: Float64Array } | undefined)[] = [];
  private readonly delta: Float64Array;
  /** the NTK flow's Delta when it does not drive (output 'fields'; else the same array as delta) */
  private readonly deltaNtk: Float64Array;
  private readonly ftest: Float64Array;
  private readonly fFields: Float64Array;
  /** gradient descent's Stein sums of the outputs (outputs(), testOutputs()): training points, riders */
  private readonly fTangent: Float64Array;
  private readonly fTangentX: Float64Array;
  private Kprev: Float64Array;
  private Kcur: Float64Array;
  private w: Float64Array = new Float64Array(1);
  /** control variate of the NTK (McProblem.ntkExact0), n x n, zero until t_0 is solved */
  private readonly shift: Float64Array;
  private readonly clock = { fields: 0, kernels: 0, factors: 0, responses: 0, riders: 0 };
  /** gradient descent (McProblem.rule of kind 'gd'): explicitStep instead of the per-step fixed point */
  private readonly explicit: boolean;
  /** gradient descent's control variate of the outputs (steinControl), n x P, unset until t_0 is solved */
  private steinShift?: Float64Array;

  constructor(
    private readonly pb: McProblem,
    private readonly opt: McOptions,
  ) {
    const { P, L } = pb;
    const { t } = pb.rule;
    this.P = P;
    this.n = pb.Kx.rows;
    this.Pt = this.n - P;
    this.K1 = t.length;
    this.W = P * this.K1;
    this.explicit = !isImplicit(pb.rule);
    const { n, W, Pt } = this;
    const S = opt.samples;
    this.layers = Array.from({ length: L }, (_, i) => new LayerSamples(i + 1, L, S, P, Pt, this.K1, pb.act, pb.Fx, opt.seed, opt.first));
    this.layers.forEach((x, i) => ((x.kinkWidth = pb.kinkWidth?.[i]), (x.fixedRiderInnovation = !isImplicit(pb.rule))));
    const rows = () => Array.from({ length: L }, () => new Float64Array(n * W));
    [this.PhiRow, this.GRow, this.Ch, this.Cz, this.Ar, this.Bu] = [rows(), rows(), rows(), rows(), rows(), rows()];
    this.PhiXX = Array.from({ length: L }, () => new Float64Array(Pt * Pt));
    this.GXX = Array.from({ length: L }, () => new Float64Array(Pt * Pt));
    this.fU = this.layers.map((x) => (x.l >= 2 ? new CausalFactor(P) : undefined));
    this.fR = this.layers.map((x) => (x.l < L ? new CausalFactor(P) : undefined));
    if (opt.responses === 'exact')
      for (const site of this.layers)
        for (const kind of this.kinds(site.l))
          this.exact.set(
            `${site.l}${kind}`,
            new ExactResponses(
              site,
              kind,
              Math.min(kind === 'r' ? opt.responseSamples.A : opt.responseSamples.B, S),
              responseControlVariate(pb.act.kink === true, !isImplicit(pb.rule)),
            ),
          );
    this.delta = new Float64Array(this.K1 * P);
    this.deltaNtk = pb.output === 'fields' ? new Float64Array(this.K1 * P) : this.delta;
    this.ftest = new Float64Array(this.K1 * Pt);
    this.fFields = new Float64Array(P);
    this.fTangent = new Float64Array(P);
    this.fTangentX = new Float64Array(Pt);
    if (!isImplicit(pb.rule) && pb.output === 'fields') this.layers[L - 1].readoutTangent();
    this.Kprev = new Float64Array(n * P);
    this.Kcur = new Float64Array(n * P);
    this.shift = new Float64Array(n * n);
  }

  /** The responses layer l measures: Ar^l (w.r.t. r^l, l < L) and Bu^l (w.r.t. u^l, l >= 2). */
  private kinds(l: number): ResponseKind[] {
    const out: ResponseKind[] = [];
    if (l < this.pb.L) out.push('r');
    if (l >= 2) out.push('u');
    return out;
  }

  run(onStep?: (k: number) => void): McRun {
    const { K1, P } = this;
    const out: McRun = { records: [], residual: 0, iterations: 0, maxStepIterations: 0, history: [], h0: [], h1: [], seconds: this.clock };
    const yScale = Math.max(1e-300, ...this.pb.y.map(Math.abs));
    const lossLimit = BLOWUP * Math.max(halfMeanSquare(this.pb.y), 1);
    let last = K1 - 1;
    for (let k = 0; k < K1; k++) {
      this.w = memoryWeights(this.pb.rule, k);
      if (!isImplicit(this.pb.rule)) {
        // gradient descent: one explicit pass per step (explicitStep); a loss past the divergence limit ends the march
        this.explicitStep(k);
        out.iterations++;
        out.maxStepIterations = 1;
        const trainLoss = halfMeanSquare(this.delta.subarray(k * P, (k + 1) * P));
        if (k === 0 && this.pb.ntkExact0) this.controlVariate(this.pb.ntkExact0);
        if (k === 0 && this.pb.ntkExact0 && this.pb.output === 'fields') this.steinControl(this.pb.ntkExact0);
        if (!(trainLoss <= lossLimit) || !this.ftest.subarray(k * this.Pt, (k + 1) * this.Pt).every(Number.isFinite)) {
          out.stopped = { step: k, trainLoss };
          last = k;
          onStep?.(K1 - 1);
          break;
        }
        this.record(k, out);
        onStep?.(k);
        continue;
      }
      const r = k >= 2 ? (this.pb.rule.t[k] - this.pb.rule.t[k - 1]) / (this.pb.rule.t[k - 1] - this.pb.rule.t[k - 2]) : 1;
      for (let a = 0; a < P; a++) {
        const i = k * P + a;
        this.delta[i] =
          k === 0 ? this.pb.y[a] : k === 1 ? this.delta[i - P] : this.delta[i - P] + r * (this.delta[i - P] - this.delta[i - 2 * P]);
      }
      // relu: phi'(h(t_k)) (and the smoothed phi'') from the predictor, see below
      const kinkSlopes = this.pb.act.kink === true && k > 1;
      this.time('fields', () => this.layers.forEach((x) => ((x.slopeFrozen = false), x.predict(k, r), (x.slopeFrozen = kinkSlopes))));
      const history: number[] = [];
      let res = Infinity;
      for (let it = 1; ; it++) {
        const before = this.delta.slice(k * P, (k + 1) * P),
          Kbefore = this.Kcur.slice(0, P * P);
        this.sweep(k, res > RESPONSE_FREEZE);
        // With a kink in phi' (relu), h(t_k) = ... + Ch(k,k) phi'(h(t_k)) z(t_k) has no solution for a sample whose
        // |h| is below the O(dt) equal-time term (the self term pushes it back across the kink from either side):
        // it would flip at every sweep. phi'(h(t_k)) is therefore the slope at the predictor's h(t_k), linearly
        // extrapolated from t_{k-1}, t_{k-2}: off by O(dt^2), it picks the wrong side only for samples that close
        // to the kink, and the march stays second order in dt (THEORY.md section 5, discretization error; the
        // measured orders: docs/RELU.md, "Moved from code comments"). At t_0 and t_1, with no trend to extrapolate, the
        // slope is the first sweep's (test/dmft-mc-kink.test.ts checks the order).
        if (it === 1 && k < 2 && this.pb.act.kink) for (const x of this.layers) x.slopeFrozen = true;
        res =
          it === 1
            ? Infinity
            : Math.max(
                maxAbsDiff(before, this.delta.subarray(k * P, (k + 1) * P)) / yScale,
                relDiff(Kbefore, this.Kcur.subarray(0, P * P)),
              );
        if (it > 1) history.push(res);
        if (res < this.opt.tol) {
          out.iterations += it;
          if (it > out.maxStepIterations) out.history = history;
          out.maxStepIterations = Math.max(out.maxStepIterations, it);
          out.residual = Math.max(out.residual, res);
          break;
        }
        if (it >= this.opt.maxIterations)
          throw new ConvergenceError(
            `monte-carlo: the fixed point at t = ${this.pb.rule.t[k].toPrecision(4)} did not converge in ${it} iterations (residual ${res.toExponential(2)} > solver.tol ${this.opt.tol}); raise solver.maxIterations or reduce solver.dt`,
            history,
          );
      }
      if (this.pb.output === 'fields') {
        if (k === 0) this.deltaNtk.set(this.pb.y);
        else this.stepFlow(k, this.deltaNtk);
      }
      if (this.Pt > 0) this.time('riders', () => this.riders(k));
      if (k > 0 && this.Pt > 0) this.stepTest(k);
      if (k === 0 && this.pb.ntkExact0) this.controlVariate(this.pb.ntkExact0);
      this.record(k, out);
      onStep?.(k);
    }
    for (const x of this.layers) {
      const pick = (k: number) => Float64Array.from({ length: x.S * P }, (_, i) => x.hT[Math.floor(i / P) * this.W + k * P + (i % P)]);
      out.h0.push(pick(0));
      out.h1.push(pick(last));
    }
    return out;
  }

  /** The records of t_k (as often as it is requested), then the NTK rows of t_k become the previous step's. */
  private record(k: number, out: McRun): void {
    const copies = this.pb.rule.index.filter((i) => i === k).length;
    for (let c = 0; c < copies; c++) out.records.push(this.equalTime(k));
    [this.Kprev, this.Kcur] = [this.Kcur, this.Kprev];
    this.Kcur.set(this.Kprev);
  }

  /**
   * Gradient descent, step k (THEORY.md section 6): every memory sum is strictly causal (memoryWeights: lr for
   * j < k, 0 at j = k), so Ch(k,k) = 0 and the fields at t_k follow from the steps before in one pass, no fixed
   * point: up l = 1..L (sources u^l(t_k) from Phi^{l-1}'s row k, h^l(t_k), Phi^l's row k, the upward half of the
   * responses: Ar^l's row k, which the layer above needs), then down l = L..1 (r^l(t_k) from G^{l+1}'s row k,
   * z^l(t_k) with the equal-time response Bu^{l+1}(k,k) of this step, G^l's row k, Bu^l's row k). The only
   * equal-time terms left are those of a finite network's own step: g(t_k) = phi'(h(t_k)) z(t_k) and
   * z^l(t_k) = W^l(t_k)^T g^{l+1}(t_k) / sqrt(N) (Bu(k,k)). Then the outputs (outputs()), Delta(t_k), and the riders.
   */
  private explicitStep(k: number): void {
    const { L } = this.pb;
    const { P } = this;
    // Delta(t_k) has memory weight 0 at t_k; until the outputs give it, a finite placeholder keeps 0 * Delta(t_k) = 0
    this.delta.fill(0, k * P, (k + 1) * P);
    const responses = this.opt.responses !== 'none';
    for (let i = 0; i < L; i++) {
      this.forwardLayer(k, i);
      if (responses) this.time('responses', () => this.explicitResponses(k, i, 'up'));
    }
    for (let i = L - 1; i >= 0; i--) {
      this.backwardLayer(k, i);
      if (responses) this.time('responses', () => this.explicitResponses(k, i, 'down'));
    }
    this.ntkRows(k, 0, P);
    this.outputs(k);
    if (this.Pt > 0) this.time('riders', () => this.riders(k));
    if (this.Pt > 0) this.testOutputs(k);
  }

  /**
   * Gradient descent's response rows of layer index i at t_k, the half of its pass (explicitStep). Exact: the two
   * halves of ExactResponses (up: Ar^l, down: Bu^l). Integration by parts: Ar^l's row after the forward fields,
   * Bu^l's after the backward ones. phi(h^l(t_k)) depends on r^l only at times < t_k, whose factor rows are all known
   * in the upward pass (G^{l+1}'s row k, hence r^l's factor row k, comes in the downward one): Stein's lemma over
   * the sources r^l(t_0..t_{k-1}) alone is exact, and Ar^l(k,k) = 0 as it is for the exact responses.
   */
  private explicitResponses(k: number, i: number, half: 'up' | 'down'): void {
    const { P, W } = this;
    const site = this.layers[i];
    for (const kind of this.kinds(site.l)) {
      const out = kind === 'r' ? this.Ar[i] : this.Bu[i];
      if (this.opt.responses === 'exact') {
        const ex = this.exact.get(`${site.l}${kind}`)!;
        if (half === 'up') ex.up(k, this.Ch[i], out);
        else ex.down(k, this.Ch[i], this.Cz[i], out);
        continue;
      }
      if ((kind === 'r') !== (half === 'up')) continue;
      const q = P * (k + 1);
      for (let r = 0; r < P; r++) out.fill(0, r * W, r * W + q);
      if (kind === 'r' && k === 0) continue;
      ibpSums(site, kind, k, false, out);
      scaleRows(out, 0, P, W, q, 1 / site.S);
      if (kind === 'r') {
        ibpSolve(this.fR[i]!, k - 1, out, 0, P, W, this.opt.ibpRidge);
        for (let r = 0; r < P; r++) out.fill(0, r * W + k * P, r * W + q);
      } else ibpSolve(this.fU[i]!, k, out, 0, P, W, this.opt.ibpRidge);
    }
  }

  /**
   * Gradient descent: Delta(t_k) on the training points. Output 'fields' (THEORY.md section 6): f(k) read off the
   * fields, f_a(k) = (1/gamma0) <z^L(k) phi(h^L_a(k))>, centered. With z^L(k) = r^L + (gamma0/P) sum_{j<k} lr
   * sum_b Delta_b(j) phi(h^L_b(j)) it is
   *   f_a(k) = sum_{j<k} (lr/P) sum_b Delta_b(j) Phi^L_ab(k,j) + (1/gamma0) <r^L (phi(h^L_a(k)) - phi(h^L_a(0)))>,
   * and by Stein's lemma (r^L ~ N(0,1), independent of every other source of the site) the last average is
   * (1/gamma0) <d phi(h^L_a(k)) / d r^L>, from the forward-mode tangent of the top layer's fields
   * (LayerSamples.tangentForward): the same number in expectation, without the noise of r^L's own fluctuation;
   * with ntkExact0 the outputs' control variate is added (steinControl, inside readoutTerm). outputFromFields keeps
   * the direct average (McRecord.fFields). Output 'ntk' (gradient independence, gamma0 = 0): the
   * NTK-Euler step Delta(k) = Delta(k-1) - (lr/P) K(k-1) Delta(k-1), exact in the lazy limit (see planMonteCarlo).
   * The NTK-Euler step along the sampled NTKs also gives deltaNtk, the self-check's counterpart (monte-carlo.ts).
   */
  private outputs(k: number): void {
    const { P } = this;
    const top = this.layers[this.pb.L - 1];
    if (this.pb.output === 'fields') {
      top.tangentForward(k, this.Ch[this.pb.L - 1]);
      top.tangentBackward(k, this.Cz[this.pb.L - 1]);
    }
    if (k === 0) {
      this.delta.set(this.pb.y);
      this.deltaNtk.set(this.pb.y);
      return;
    }
    this.eulerStep(k, this.deltaNtk, 0, P, this.deltaNtk, -1);
    if (this.pb.output === 'ntk') return;
    const f = this.readoutTerm(k, 0, P);
    this.fTangent.fill(0);
    top.tangentSum(k, this.fTangent);
    for (let a = 0; a < P; a++) this.delta[k * P + a] = this.pb.y[a] - (f[a] + this.fTangent[a] / (top.S * this.pb.gamma0));
  }

  /**
   * Gradient descent's test outputs at t_k, the same rules as outputs(): f_test(k) read off the fields, where the
   * riders' part (1/gamma0) <r^L phi(h^L_i(k))> is Stein's (1/gamma0) <phi'(h^L_i(k)) dh^L_i(k) / dr^L>: a rider's
   * h depends on r^L only through the training fields in its memory terms (LayerSamples.riderTangentSum). This needs
   * no history of the riders' own sources: each f_test(k) is an average at one time t_k, and a rider's fields at
   * t_k are drawn jointly with the sample's training history up to t_k exactly (its source conditional on the
   * training normals), so whatever the riders' innovation normals at other times, every average is exact
   * (LayerSamples.fixedRiderInnovation: gradient descent keeps those of t_0, so a rider's errors are correlated in
   * time and the control variate of steinControl applies to its rows too). The direct
   * (1/gamma0) <r^L (phi(h_i(k)) - phi(h_i(0)))> would be as exact but noisier: it keeps r^L's own fluctuation and
   * the O(1) per-sample change of the riders' sources between times. Output 'ntk': the NTK-Euler step.
   */
  private testOutputs(k: number): void {
    const { P, Pt } = this;
    if (k === 0) return;
    if (this.pb.output === 'ntk') {
      this.eulerStep(k, this.ftest, P, Pt, this.delta, 1);
      return;
    }
    const top = this.layers[this.pb.L - 1];
    const f = this.readoutTerm(k, P, Pt);
    this.fTangentX.fill(0);
    top.riderTangentSum(k, this.Ch[this.pb.L - 1], this.fTangentX);
    for (let i = 0; i < Pt; i++) this.ftest[k * Pt + i] = f[i] + this.fTangentX[i] / (top.S * this.pb.gamma0);
  }

  /**
   * sum_{j<k} (lr/P) sum_b Delta_b(j) (Phi^L_{mu b}(k,j) + steinShift_{mu b}) for rows mu = r0..r0+rows: the readout's own
   * steps (outputs()), and the outputs' control variate (steinControl) once it is set.
   */
  private readoutTerm(k: number, r0: number, rows: number): Float64Array {
    const { P, W } = this;
    const Phi = this.PhiRow[this.pb.L - 1];
    const shift = this.steinShift;
    const out = new Float64Array(rows);
    for (let m = 0; m < rows; m++) {
      let v = 0;
      for (let j = 0; j < k; j++) {
        const s = this.w[j] / P;
        for (let b = 0; b < P; b++)
          v += s * this.delta[j * P + b] * (Phi[(r0 + m) * W + j * P + b] + (shift ? shift[(r0 + m) * P + b] : 0));
      }
      out[m] = v;
    }
    return out;
  }

  /**
   * Control variate of gradient descent's outputs (McProblem.ntkExact0; outputs() reads f off the fields): at
   * leading order in gamma0 the outputs of the sample set are exactly the NTK-Euler sums
   * f(k) = sum_{j<k} (lr/P) Kt_S Delta(j) of the kernel the estimator itself builds, at t = 0
   *   Kt_S = Phi^L + D^L (Phi^{L-1} + D^{L-1} (... (Phi^1 + D^1 K^x))),   D^l = <phi'(h^l) phi'(h^l)>, elementwise,
   * every factor a mean over the same samples (the readout term's Phi^L, the tangent's slopes, the responses' first
   * memory link with its control variate over all samples: ExactResponses.up, riderUpControl). Its mean is K(0)
   * (each average is over one layer's samples, independent of the others'), so adding
   * sum_{j<k} (lr/P) (K(0) - Kt_S) Delta(j) to f changes the mean only by O(1/S), as the NTK's control variate of
   * gradient flow does, and takes out the error of the sampled kernel at t = 0 that makes most of f's: at
   * gamma0 -> 0 the outputs are then the lazy gradient-descent rule with the exact K(0). steinShift = K(0) - Kt_S over
   * all rows (training points, riders) against the training columns, n x P.
   */
  private steinControl(exact: Dense): void {
    const { L, Kx } = this.pb;
    const { P, Pt, n, W } = this;
    const acc = new Float64Array(n * P);
    for (let mu = 0; mu < n; mu++) for (let b = 0; b < P; b++) acc[mu * P + b] = Kx.data[mu * n + b];
    for (let i = 0; i < L; i++) {
      const { S, d1T, d1X } = this.layers[i];
      const Phi = this.PhiRow[i];
      for (let mu = 0; mu < n; mu++)
        for (let b = 0; b < P; b++) {
          let d = 0;
          for (let s = 0; s < S; s++) d += (mu < P ? d1T[s * W + mu] : d1X[s * Pt + mu - P]) * d1T[s * W + b];
          acc[mu * P + b] = Phi[mu * W + b] + (d / S) * acc[mu * P + b];
        }
    }
    this.steinShift = new Float64Array(n * P);
    for (let mu = 0; mu < n; mu++) for (let b = 0; b < P; b++) this.steinShift[mu * P + b] = exact.data[mu * n + b] - acc[mu * P + b];
  }

  /**
   * The NTK-Euler step of rows r0..r0+rows (train rows: Delta, sign -1; riders: f_test, sign +1):
   * out(k) = out(k-1) + sign (lr/P) K(t_{k-1}) d(t_{k-1}), with the previous step's NTK rows (Kprev) and d's Delta.
   */
  private eulerStep(k: number, out: Float64Array, r0: number, rows: number, d: Float64Array, sign: 1 | -1): void {
    const { P } = this;
    const s = (sign * this.w[k - 1]) / P;
    for (let m = 0; m < rows; m++) {
      let v = 0;
      for (let b = 0; b < P; b++) v += this.Kprev[(r0 + m) * P + b] * d[(k - 1) * P + b];
      out[k * rows + m] = out[(k - 1) * rows + m] + s * v;
    }
  }

  /** Layer i's forward fields at t_k over the training points, then its Phi rows (memory operators and factor first). */
  private forwardLayer(k: number, i: number): void {
    const { P, W } = this;
    const site = this.layers[i];
    this.operatorRows(k, i, 'h', 0, P);
    const Lu = site.l >= 2 ? this.time('factors', () => (this.fU[i]!.extend(k, this.PhiRow[i - 1], W), this.fU[i]!.row(k))) : undefined;
    this.time('fields', () => site.forward(k, this.Ch[i], Lu));
    this.time('kernels', () => this.measure(k, i, 'phi', false, this.opt.samples, P * (k + 1)));
  }

  /** Layer i's backward fields at t_k over the training points, then its G rows. */
  private backwardLayer(k: number, i: number): void {
    const { P, W } = this;
    const site = this.layers[i];
    this.operatorRows(k, i, 'z', 0, P);
    const Lr =
      site.l < this.pb.L ? this.time('factors', () => (this.fR[i]!.extend(k, this.GRow[i + 1], W), this.fR[i]!.row(k))) : undefined;
    this.time('fields', () => site.backward(k, this.Cz[i], Lr));
    this.time('kernels', () => this.measure(k, i, 'g', false, this.opt.samples, P * (k + 1)));
  }

  /** One fixed-point sweep at t_k over the training points (see the class comment); `responses`: update their rows. */
  private sweep(k: number, responses: boolean): void {
    const { L } = this.pb;
    const { P } = this;
    for (let i = L - 1; i >= 0; i--) this.backwardLayer(k, i);
    for (let i = 0; i < L; i++) {
      this.forwardLayer(k, i);
      // Gauss-Seidel: the layer above sees this layer's new response row in the same sweep
      if (responses && this.opt.responses !== 'none') this.time('responses', () => this.responseRows(k, i));
    }
    this.ntkRows(k, 0, P);
    if (this.pb.output === 'ntk') this.stepFlow(k, this.delta);
    else if (k > 0) {
      this.outputFromFields(k);
      for (let a = 0; a < P; a++) this.delta[k * P + a] = this.pb.y[a] - this.fFields[a];
    }
  }

  /** fFields = f on the training points at t_k read off the top layer's fields (McRecord.fFields). */
  private outputFromFields(k: number): void {
    const { P, W, fFields } = this;
    const top = this.layers[this.pb.L - 1];
    fFields.fill(0);
    for (let x = 0; x < top.S; x++)
      for (let a = 0; a < P; a++) fFields[a] += top.zT[x * W + k * P + a] * top.phT[x * W + k * P + a] - top.rL[x] * top.phT[x * W + a];
    for (let a = 0; a < P; a++) fFields[a] /= top.S * this.pb.gamma0;
  }

  /** Kernel row k of layer index i (rows of training points or of riders), averaged over the samples. */
  private measure(k: number, i: number, which: 'phi' | 'g', riders: boolean, S: number, q: number): void {
    const out = which === 'phi' ? this.PhiRow[i] : this.GRow[i];
    const { P, Pt, W } = this;
    const r0 = riders ? P : 0,
      rows = riders ? Pt : P;
    for (let r = r0; r < r0 + rows; r++) out.fill(0, r * W, r * W + q);
    this.layers[i].kernelRow(k, which, out, riders);
    for (let r = r0; r < r0 + rows; r++) for (let c = 0; c < q; c++) out[r * W + c] /= S;
    if (riders) {
      const xx = which === 'phi' ? this.PhiXX[i] : this.GXX[i];
      xx.fill(0);
      this.layers[i].riderGram(which, xx);
      for (let c = 0; c < xx.length; c++) xx[c] /= S;
    }
  }

  /** Rows r0..r0+rows of Ch^l or Cz^l at t_k (layer index i; see the class comment). */
  private operatorRows(k: number, i: number, which: 'h' | 'z', r0: number, rows: number): void {
    const { L, gamma0, Kx } = this.pb;
    const { P, W, n, w, delta } = this;
    const out = which === 'h' ? this.Ch[i] : this.Cz[i];
    const resp = which === 'h' ? (i > 0 ? this.Ar[i - 1] : undefined) : i < L - 1 ? this.Bu[i + 1] : undefined;
    const kern = which === 'h' ? (i > 0 ? this.PhiRow[i - 1] : undefined) : i < L - 1 ? this.GRow[i + 1] : undefined;
    for (let mu = r0; mu < r0 + rows; mu++)
      for (let j = 0; j <= k; j++) {
        const s = (gamma0 * w[j]) / P;
        for (let b = 0; b < P; b++) {
          const c = mu * W + j * P + b;
          const base = kern ? kern[c] : which === 'h' ? Kx.data[mu * n + b] : 1;
          out[c] = (resp ? resp[c] : 0) + s * base * delta[j * P + b];
        }
      }
  }

  /** Response rows of layer index i at t_k (training rows; rider rows are done in riders()). */
  private responseRows(k: number, i: number): void {
    const { P, W } = this;
    const q = P * (k + 1),
      site = this.layers[i];
    for (const kind of this.kinds(site.l)) {
      const out = kind === 'r' ? this.Ar[i] : this.Bu[i];
      for (let r = 0; r < P; r++) out.fill(0, r * W, r * W + q);
      if (this.opt.responses === 'exact') {
        const ex = this.exact.get(`${site.l}${kind}`)!;
        ex.row(k, this.Ch[i], this.Cz[i], out);
      } else {
        ibpSums(site, kind, k, false, out);
        scaleRows(out, 0, P, W, q, 1 / site.S);
        ibpSolve(kind === 'r' ? this.fR[i]! : this.fU[i]!, k, out, 0, P, W, this.opt.ibpRidge);
      }
    }
  }

  /**
   * Riders at t_k, after the training fixed point: up the layers (sources conditional on the training normals,
   * h, Phi rows, Ar rows / dh), then down (r, z, G rows, Bu rows).
   */
  private riders(k: number): void {
    const { L } = this.pb;
    const { P, Pt, W } = this;
    const S = this.opt.samples,
      q = P * (k + 1);
    const exact = this.opt.responses === 'exact',
      ibp = this.opt.responses === 'ibp';
    const clear = (a: Float64Array) => a.fill(0, P * W, (P + Pt) * W);
    for (let i = 0; i < L; i++) {
      const site = this.layers[i];
      this.operatorRows(k, i, 'h', P, Pt);
      const cond = site.l >= 2 ? this.fU[i]!.conditional(k, Pt, this.PhiRow[i - 1].subarray(P * W), W, this.PhiXX[i - 1]) : undefined;
      site.riderForward(k, this.Ch[i], cond);
      this.measure(k, i, 'phi', true, S, q);
      if (site.l < L) clear(this.Ar[i]);
      if (site.l >= 2) clear(this.Bu[i]);
      if (exact)
        for (const kind of this.kinds(site.l)) {
          const ex = this.exact.get(`${site.l}${kind}`)!;
          ex.riderUp(k, this.Ch[i], this.Ar[i]);
          if (kind === 'r' && this.explicit && ex.controlVariate) ex.riderUpControl(k, this.Ch[i], this.Ar[i]);
          if (kind === 'r') scaleRows(this.Ar[i], P, Pt, W, q, 1 / ex.Sr);
        }
      if (ibp && site.l < L) {
        ibpSums(site, 'r', k, true, this.Ar[i]);
        scaleRows(this.Ar[i], P, Pt, W, q, 1 / S);
        if (!this.explicit) ibpSolve(this.fR[i]!, k, this.Ar[i], P, Pt, W, this.opt.ibpRidge);
        else {
          // gradient descent: as for the training rows (explicitResponses), over the sources before t_k only
          if (k > 0) ibpSolve(this.fR[i]!, k - 1, this.Ar[i], P, Pt, W, this.opt.ibpRidge);
          for (let r = P; r < P + Pt; r++) this.Ar[i].fill(0, r * W + (k > 0 ? k * P : 0), r * W + q);
        }
      }
      this.upCond[i] = cond;
    }
    let self: Float64Array | undefined;
    for (let i = L - 1; i >= 0; i--) {
      const site = this.layers[i];
      // <phi''(h^{l+1}) z^{l+1}> of each rider (the layer above, done just before), see LayerSamples.riderBackward
      if (i < L - 1) {
        self = new Float64Array(Pt);
        this.layers[i + 1].riderSelf(self);
        for (let c = 0; c < Pt; c++) self[c] /= S;
      }
      this.operatorRows(k, i, 'z', P, Pt);
      const cond = site.l < L ? this.fR[i]!.conditional(k, Pt, this.GRow[i + 1].subarray(P * W), W, this.GXX[i + 1]) : undefined;
      site.riderBackward(k, this.Cz[i], cond, self);
      this.measure(k, i, 'g', true, S, q);
      if (site.l >= 2 && exact) {
        const ex = this.exact.get(`${site.l}u`)!;
        ex.riderDown(k, this.Cz[i], self, this.Bu[i]);
        scaleRows(this.Bu[i], P, Pt, W, q, 1 / ex.Sr);
      }
      if (site.l >= 2 && ibp) {
        ibpSums(site, 'u', k, true, this.Bu[i]);
        ibpRiderCorrection(site, this.upCond[i]!.M, self, k, this.Bu[i]);
        scaleRows(this.Bu[i], P, Pt, W, q, 1 / S);
        ibpSolve(this.fU[i]!, k, this.Bu[i], P, Pt, W, this.opt.ibpRidge);
      }
    }
    this.ntkRows(k, P, this.Pt);
  }

  /** NTK rows r0.. at t_k against training points: K = G^1 K^x + sum_{l=1..L} G^{l+1} Phi^l (G^{L+1} = 1). */
  private ntkRows(k: number, r0: number, rows: number): void {
    const { L, Kx } = this.pb;
    const { P, W, n } = this;
    for (let mu = r0; mu < r0 + rows; mu++)
      for (let b = 0; b < P; b++) {
        const c = mu * W + k * P + b;
        let s = this.GRow[0][c] * Kx.data[mu * n + b];
        for (let i = 0; i < L; i++) s += (i < L - 1 ? this.GRow[i + 1][c] : 1) * this.PhiRow[i][c];
        this.Kcur[mu * P + b] = s + this.shift[mu * n + b];
      }
  }

  /** shift = K(0) - K_S(0) over all points (see McProblem.ntkExact0), and the NTK rows at t_0 with it. */
  private controlVariate(exact: Dense): void {
    const sampled = this.equalTime(0).ntk;
    for (let c = 0; c < this.shift.length; c++) this.shift[c] = exact.data[c] - sampled.data[c];
    this.ntkRows(0, 0, this.n);
  }

  /** Crank-Nicolson for dDelta/dt = -(1/P) K Delta from t_{k-1} to t_k (THEORY.md section 2, grid.ts), in `delta`. */
  private stepFlow(k: number, delta: Float64Array): void {
    if (k === 0) return;
    const { P } = this;
    delta.set(
      crankNicolsonDelta(this.pb.rule.t[k] - this.pb.rule.t[k - 1], P, this.Kprev, this.Kcur, delta.subarray((k - 1) * P, k * P)),
      k * P,
    );
  }

  /** f_test(t_k) = f_test(t_{k-1}) + (h/2P) (K_test(t_{k-1}) Delta(t_{k-1}) + K_test(t_k) Delta(t_k)). */
  private stepTest(k: number): void {
    const { P, Pt, delta, ftest } = this;
    const at = (a: Float64Array, i: number, w: number) => a.subarray(i * w, (i + 1) * w);
    trapezoidTest(
      this.pb.rule.t[k] - this.pb.rule.t[k - 1],
      P,
      this.Kprev,
      this.Kcur,
      at(delta, k - 1, P),
      at(delta, k, P),
      at(ftest, k - 1, Pt),
      at(ftest, k, Pt),
    );
  }

  /** Equal-time kernels over all points at t_k (train rows and riders' rows of the kernel rows, riders' blocks). */
  private equalTime(k: number): McRecord {
    const { L, Kx } = this.pb;
    const { P, Pt, n, W } = this;
    const full = (row: Float64Array, xx: Float64Array): Dense => {
      const m = dense(n, n);
      for (let mu = 0; mu < n; mu++) for (let b = 0; b < P; b++) m.data[mu * n + b] = m.data[b * n + mu] = row[mu * W + k * P + b];
      for (let i = 0; i < Pt; i++) for (let j = 0; j < Pt; j++) m.data[(P + i) * n + P + j] = xx[i * Pt + j];
      return m;
    };
    const Phi = this.PhiRow.map((row, i) => full(row, this.PhiXX[i]));
    const G = this.GRow.map((row, i) => full(row, this.GXX[i]));
    const ntk = dense(n, n);
    for (let c = 0; c < n * n; c++) {
      let s = G[0].data[c] * Kx.data[c];
      for (let i = 0; i < L; i++) s += (i < L - 1 ? G[i + 1].data[c] : 1) * Phi[i].data[c];
      ntk.data[c] = s + this.shift[c];
    }
    this.outputFromFields(k);
    return {
      delta: Array.from(this.delta.subarray(k * P, (k + 1) * P)),
      deltaNtk: Array.from(this.deltaNtk.subarray(k * P, (k + 1) * P)),
      fFields: Array.from(this.fFields),
      ftest: Array.from(this.ftest.subarray(k * Pt, (k + 1) * Pt)),
      ntk,
      Phi,
      G,
    };
  }

  private time<T>(what: keyof Replica['clock'], fn: () => T): T {
    const t0 = performance.now();
    const v = fn();
    this.clock[what] += (performance.now() - t0) / 1000;
    return v;
  }
}

/**
 * Residual of the step's fixed point below which the response rows are frozen for the remaining sweeps: they
 * are then computed from fields within ~1e-3 of converged, a relative error far below their sampling error
 * (O(1/sqrt(Sr)), ~10%), and the fields still converge to solver.tol with them. It saves most of the Jacobian
 * work at a change in the losses well inside their sampling error (measured: docs/PERFORMANCE.md, "Moved from code comments").
 */
const RESPONSE_FREEZE = 1e-3;

function scaleRows(a: Float64Array, r0: number, rows: number, W: number, q: number, f: number): void {
  for (let r = r0; r < r0 + rows; r++) for (let c = 0; c < q; c++) a[r * W + c] *= f;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 1e-300;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  return maxAbsDiff(a, b) / scale;
}
