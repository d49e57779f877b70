import { ConvergenceError } from '../../core/errors.js';
import { dense, type Dense } from '../../core/linalg.js';
import type { Activation } from '../../theory/activations.js';
import { crankNicolsonDelta, memoryWeights, trapezoidTest, type TimeRule } from '../grid.js';
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
  const { P, L, n, K1, records, kink } = shape;
  const Pt = n - P,
    W = P * K1,
    S = opt.samples;
  let bytes =
    8 * (6 * L * n * W + 2 * L * Pt * Pt + ((2 * L - 2) * (P * P * K1 * (K1 + 3))) / 2 + records * (2 * L + 1) * n * n + 2 * L * S * P);
  for (let l = 1; l <= L; l++) {
    bytes += LayerSamples.bytes(l, L, S, P, Pt, K1);
    if (opt.responses !== 'exact') continue;
    if (l < L) bytes += ExactResponses.bytes('r', S, P, Pt, K1, Math.min(opt.responseSamples.A, S), kink);
    if (l >= 2) bytes += ExactResponses.bytes('u', S, P, Pt, K1, Math.min(opt.responseSamples.B, S), kink);
  }
  return bytes;
}

export const replicaShape = (pb: McProblem): ReplicaShape => ({
  P: pb.P,
  n: pb.Kx.rows,
  L: pb.L,
  K1: pb.rule.t.length,
  records: pb.rule.index.length,
  kink: pb.act.kink === true,
});

/** The sizes replicaBytes needs: P training and n points in all, depth L, K1 grid times, records recorded, a kinked activation. */
export interface ReplicaShape {
  P: number;
  n: number;
  L: number;
  K1: number;
  records: number;
  kink: boolean;
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
  private Kprev: Float64Array;
  private Kcur: Float64Array;
  private w: Float64Array = new Float64Array(1);
  /** control variate of the NTK (McProblem.ntkExact0), n x n, zero until t_0 is solved */
  private readonly shift: Float64Array;
  private readonly clock = { fields: 0, kernels: 0, factors: 0, responses: 0, riders: 0 };

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
    const { n, W, Pt } = this;
    const S = opt.samples;
    this.layers = Array.from({ length: L }, (_, i) => new LayerSamples(i + 1, L, S, P, Pt, this.K1, pb.act, pb.Fx, opt.seed, opt.first));
    this.layers.forEach((x, i) => (x.kinkWidth = pb.kinkWidth?.[i]));
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
            new ExactResponses(site, kind, Math.min(kind === 'r' ? opt.responseSamples.A : opt.responseSamples.B, S), pb.act.kink),
          );
    this.delta = new Float64Array(this.K1 * P);
    this.deltaNtk = pb.output === 'fields' ? new Float64Array(this.K1 * P) : this.delta;
    this.ftest = new Float64Array(this.K1 * Pt);
    this.fFields = new Float64Array(P);
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
    for (let k = 0; k < K1; k++) {
      this.w = memoryWeights(this.pb.rule, k);
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
      const copies = this.pb.rule.index.filter((i) => i === k).length;
      for (let c = 0; c < copies; c++) out.records.push(this.equalTime(k));
      [this.Kprev, this.Kcur] = [this.Kcur, this.Kprev];
      this.Kcur.set(this.Kprev);
      onStep?.(k);
    }
    for (const x of this.layers) {
      const pick = (k: number) => Float64Array.from({ length: x.S * P }, (_, i) => x.hT[Math.floor(i / P) * this.W + k * P + (i % P)]);
      out.h0.push(pick(0));
      out.h1.push(pick(K1 - 1));
    }
    return out;
  }

  /** One fixed-point sweep at t_k over the training points (see the class comment); `responses`: update their rows. */
  private sweep(k: number, responses: boolean): void {
    const { L } = this.pb;
    const { P, W } = this;
    const S = this.opt.samples,
      q = P * (k + 1);
    for (let i = L - 1; i >= 0; i--) {
      const site = this.layers[i];
      this.operatorRows(k, i, 'z', 0, P);
      const Lr = site.l < L ? this.time('factors', () => (this.fR[i]!.extend(k, this.GRow[i + 1], W), this.fR[i]!.row(k))) : undefined;
      this.time('fields', () => site.backward(k, this.Cz[i], Lr));
      this.time('kernels', () => this.measure(k, i, 'g', false, S, q));
    }
    for (let i = 0; i < L; i++) {
      const site = this.layers[i];
      this.operatorRows(k, i, 'h', 0, P);
      const Lu = site.l >= 2 ? this.time('factors', () => (this.fU[i]!.extend(k, this.PhiRow[i - 1], W), this.fU[i]!.row(k))) : undefined;
      this.time('fields', () => site.forward(k, this.Ch[i], Lu));
      this.time('kernels', () => this.measure(k, i, 'phi', false, S, q));
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
          if (kind === 'r') scaleRows(this.Ar[i], P, Pt, W, q, 1 / ex.Sr);
        }
      if (ibp && site.l < L) {
        ibpSums(site, 'r', k, true, this.Ar[i]);
        scaleRows(this.Ar[i], P, Pt, W, q, 1 / S);
        ibpSolve(this.fR[i]!, k, this.Ar[i], P, Pt, W, this.opt.ibpRidge);
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
