import type { Dense } from '../../core/linalg.js';
import { stream } from '../../core/rng.js';
import { haltonNormals } from '../qmc.js';
import { gemmAcc, gemmNT } from './blas.js';
import type { Activation } from '../../theory/activations.js';

/**
 * The single-site samples of one layer l (THEORY.md section 3) for a batch of samples [s0, s0 + S): the
 * forward field h^l and backward field z^l at every grid time, g = phi'(h) z, and their sources
 *   u^1 = F_x xi (F_x F_x^T = K^x, constant),  u^l(t_k) = sum_{j<=k} L_kj xi_j  (l >= 2, ./factor.ts),
 *   r^L (one scalar),                          r^l(t_k) = sum_{j<=k} L_kj zeta_j (l < L),
 * from standard normals that are fixed per sample (common random numbers): sample s draws them from
 * stream(seed, 'mc', l, s) in a fixed order (training normals first), except those of t = 0, which form a
 * randomized quasi-random point set over the batch (quasiRandomStart). Everything a batch hands back is a partial
 * sum over its samples (kernelRow, riderGram, riderSelf; ./responses.ts likewise), a pure function of
 * (operator rows, Delta, seed, sample range): batches summed in a fixed order give the same bits whichever
 * process runs them (the solver currently runs one batch per replica and layer).
 * Training fields are kept for all times (the memory integrals run over training points); test points
 * are riders whose fields are only needed at the current time.
 * Layouts: training arrays S x (K1 P), index s K1 P + k P + a; rider arrays S x Pt.
 */
export class LayerSamples {
  readonly hT: Float64Array;
  readonly zT: Float64Array;
  readonly phT: Float64Array;
  readonly gT: Float64Array;
  readonly d1T: Float64Array;
  readonly d2T: Float64Array;
  readonly hX: Float64Array;
  readonly zX: Float64Array;
  readonly phX: Float64Array;
  readonly gX: Float64Array;
  readonly d1X: Float64Array;
  readonly d2X: Float64Array;
  /** u^1 over all points (l = 1): S x n, and its normals (u^1 = F_x zx) */
  readonly u1: Float64Array;
  private readonly zx: Float64Array;
  /** normals of u^l (l >= 2) and r^l (l < L) on training points: S x (K1 P); riders: S x (K1 Pt) */
  readonly xiU: Float64Array;
  readonly xiR: Float64Array;
  readonly epsU: Float64Array;
  readonly epsR: Float64Array;
  /** r^L (l = L): S */
  readonly rL: Float64Array;
  private readonly W: number;
  /**
   * Keep phi'(h) and phi''(h) at the current time as they are (set by the Monte Carlo march for kinked
   * activations: the predictor's, or the first sweep's at t_0 and t_1, ./march.ts): h, phi(h) and g still update.
   */
  slopeFrozen = false;
  /**
   * Kinked activations (relu): the delta(h) in phi'' is taken as a normal density of standard deviation
   * kinkWidth[mu] for point mu (training points, then riders); see McProblem.kinkWidth.
   */
  kinkWidth?: Float64Array;
  /** scratch, S x max(P, Pt) */
  private readonly tmp: Float64Array;
  private readonly tmp2: Float64Array;

  constructor(
    readonly l: number,
    readonly L: number,
    readonly S: number,
    readonly P: number,
    readonly Pt: number,
    readonly K1: number,
    private readonly act: Activation,
    Fx: Dense,
    seed: number,
    s0: number,
  ) {
    const W = K1 * P;
    this.W = W;
    const n = P + Pt;
    const arr = (len: number) => new Float64Array(len);
    [this.hT, this.zT, this.phT, this.gT, this.d1T, this.d2T] = [0, 0, 0, 0, 0, 0].map(() => arr(S * W));
    [this.hX, this.zX, this.phX, this.gX, this.d1X, this.d2X] = [0, 0, 0, 0, 0, 0].map(() => arr(S * Pt));
    this.u1 = arr(l === 1 ? S * n : 0);
    this.zx = arr(l === 1 ? S * n : 0);
    this.xiU = arr(l >= 2 ? S * W : 0);
    this.epsU = arr(l >= 2 ? S * K1 * Pt : 0);
    this.xiR = arr(l < L ? S * W : 0);
    this.epsR = arr(l < L ? S * K1 * Pt : 0);
    this.rL = arr(l === L ? S : 0);
    this.tmp = arr(S * n);
    this.tmp2 = arr(S * n);
    for (let s = 0; s < S; s++) {
      const rng = stream(seed, 'mc', l, s0 + s);
      if (l === 1) rng.fillNormal(this.zx.subarray(s * n, (s + 1) * n));
      else rng.fillNormal(this.xiU.subarray(s * W, (s + 1) * W));
      if (l < L) rng.fillNormal(this.xiR.subarray(s * W, (s + 1) * W));
      else this.rL[s] = rng.normal();
      if (l >= 2) rng.fillNormal(this.epsU.subarray(s * K1 * Pt, (s + 1) * K1 * Pt));
      if (l < L) rng.fillNormal(this.epsR.subarray(s * K1 * Pt, (s + 1) * K1 * Pt));
    }
    this.quasiRandomStart(Fx, seed, s0);
    if (l === 1) for (let s = 0; s < S; s++) for (let mu = 0; mu < n; mu++) this.u1[s * n + mu] = dot(Fx.data, mu * n, this.zx, s * n, n);
  }

  /** Bytes of the arrays the constructor allocates for a batch of S samples (memory check, ../monte-carlo.ts). */
  static bytes(l: number, L: number, S: number, P: number, Pt: number, K1: number): number {
    const W = K1 * P,
      n = P + Pt;
    const sources = (l === 1 ? 2 * S * n : 0) + (l >= 2 ? S * W + S * K1 * Pt : 0) + (l < L ? S * W + S * K1 * Pt : 0) + (l === L ? S : 0);
    return 8 * (6 * S * W + 6 * S * Pt + sources + 2 * S * n);
  }

  /**
   * Variance reduction (THEORY.md section 5, sampling error), as for the two-layer particles (../qmc.ts): the
   * normals that set every source at t = 0, where the sources carry most of their variance, are replaced by a
   * randomized Halton sequence over the batch, in order of importance: r^L; u^1's directions by decreasing
   * eigenvalue of K^x (u^1 is constant in time), or the t = 0 normals of u^l on training points, then riders;
   * those of r^l likewise. Each sample's normals stay exactly standard normal and independent, so averages are
   * unbiased; the Halton points spread the batch evenly in these directions. The shift comes from
   * stream(seed, 'mc-qmc', l, s0): one batch is one randomized point set, and independent batches (replicas)
   * give independent errors.
   */
  private quasiRandomStart(Fx: Dense, seed: number, s0: number): void {
    const { l, L, S, P, Pt, K1, W } = this;
    const n = P + Pt;
    // each coordinate: (array, offset of sample 0, stride between samples)
    const coords: [Float64Array, number, number][] = [];
    if (l === L) coords.push([this.rL, 0, 1]);
    if (l === 1) {
      const norm = Array.from({ length: n }, (_, c) =>
        Array.from({ length: n }, (_, mu) => Fx.data[mu * n + c] ** 2).reduce((a, b) => a + b, 0),
      );
      const cols = Array.from({ length: n }, (_, c) => c)
        .filter((c) => norm[c] > 0)
        .sort((a, b) => norm[b] - norm[a]);
      coords.push(...cols.map((c): [Float64Array, number, number] => [this.zx, c, n]));
    }
    const source = (xi: Float64Array, eps: Float64Array) => {
      for (let a = 0; a < P; a++) coords.push([xi, a, W]);
      for (let i = 0; i < Pt; i++) coords.push([eps, i, K1 * Pt]);
    };
    if (l >= 2) source(this.xiU, this.epsU);
    if (l < L) source(this.xiR, this.epsR);
    const dim = coords.length;
    const z = haltonNormals(S, dim, stream(seed, 'mc-qmc', l, s0));
    for (let s = 0; s < S; s++) coords.forEach(([arr, o, stride], d) => (arr[o + s * stride] = z[s * dim + d]));
  }

  /** Initial guess of the training fields at t_k: linear extrapolation in time (r = step ratio). */
  predict(k: number, r: number): void {
    const { S, P, W } = this;
    for (let s = 0; s < S; s++)
      for (let a = 0; a < P; a++) {
        const i = s * W + k * P + a;
        for (const f of [this.hT, this.zT]) f[i] = k === 0 ? 0 : k === 1 ? f[i - P] : f[i - P] + r * (f[i - P] - f[i - 2 * P]);
        this.derive(i);
      }
  }

  /**
   * z^l(t_k) = r^l(t_k) + sum_{i<=k} sum_b Cz_{ab}(k,i) phi(h^l_b(t_i)) on training points (THEORY.md section 3,
   * weights and gamma0 inside Cz); `Lr` = row k of r's causal factor (l < L).
   */
  backward(k: number, Cz: Float64Array, Lr: Float64Array | undefined): void {
    const { S, P, W, rL, xiR, tmp, tmp2 } = this;
    const q = P * (k + 1);
    if (Lr) gemmNT(xiR, 0, W, Lr, 0, q, tmp, 0, P, S, P, q);
    gemmNT(this.phT, 0, W, Cz, 0, W, tmp2, 0, P, S, P, q);
    for (let s = 0; s < S; s++)
      for (let a = 0; a < P; a++) {
        const i = s * W + k * P + a;
        const v = (Lr ? tmp[s * P + a] : rL[s]) + tmp2[s * P + a];
        this.zT[i] = v;
        this.gT[i] = this.d1T[i] * v;
      }
  }

  /** h^l(t_k) = u^l(t_k) + sum_{i<=k} sum_b Ch_{ab}(k,i) g^l_b(t_i) on training points; `Lu` = row k of u's factor (l >= 2). */
  forward(k: number, Ch: Float64Array, Lu: Float64Array | undefined): void {
    const { S, P, W, xiU, tmp, tmp2 } = this;
    const q = P * (k + 1),
      n = P + this.Pt;
    if (Lu) gemmNT(xiU, 0, W, Lu, 0, q, tmp, 0, P, S, P, q);
    gemmNT(this.gT, 0, W, Ch, 0, W, tmp2, 0, P, S, P, q);
    for (let s = 0; s < S; s++)
      for (let a = 0; a < P; a++) {
        const i = s * W + k * P + a;
        this.hT[i] = (Lu ? tmp[s * P + a] : this.u1[s * n + a]) + tmp2[s * P + a];
        this.derive(i);
      }
  }

  /** Riders' h at t_k: own source (conditional on the sample's training normals: M xi + F eps) plus memory (ChX: rows P.. of Ch). */
  riderForward(k: number, ChX: Float64Array, cond: { M: Float64Array; F: Float64Array } | undefined): void {
    const { S, P, Pt, W, tmp, tmp2 } = this;
    const q = P * (k + 1),
      n = P + Pt;
    this.riderSources(k, cond, this.xiU, this.epsU, (s, i) => this.u1[s * n + P + i]);
    gemmNT(this.gT, 0, W, ChX, P * W, W, tmp2, 0, Pt, S, Pt, q);
    for (let x = 0; x < S * Pt; x++) {
      const v = tmp[x] + tmp2[x];
      this.hX[x] = v;
      this.phX[x] = this.act.phi(v);
      this.d1X[x] = this.act.dphi(v);
      this.d2X[x] = this.kinkWidth ? this.kinkD2phi(v, P + (x % Pt)) : this.act.d2phi(v);
    }
  }

  /**
   * Riders' z (and g) at t_k (CzX: rows P.. of Cz). `self[i]` = <phi''(h^{l+1}_i) z^{l+1}_i>(t_k): a rider's
   * g^{l+1}(t_k) depends on its own source u^{l+1}(t_k) directly, the equal-time response B^l_{ii}(t,t) that
   * a training point has inside Cz (section 3 responses; ../mc/responses.ts), for l < L.
   */
  riderBackward(
    k: number,
    CzX: Float64Array,
    cond: { M: Float64Array; F: Float64Array } | undefined,
    self: Float64Array | undefined,
  ): void {
    const { S, P, Pt, W, tmp, tmp2 } = this;
    const q = P * (k + 1);
    this.riderSources(k, cond, this.xiR, this.epsR, (s) => this.rL[s]);
    gemmNT(this.phT, 0, W, CzX, P * W, W, tmp2, 0, Pt, S, Pt, q);
    for (let x = 0; x < S * Pt; x++) {
      const v = tmp[x] + tmp2[x] + (self ? self[x % Pt] * this.phX[x] : 0);
      this.zX[x] = v;
      this.gX[x] = this.d1X[x] * v;
    }
  }

  /**
   * The riders' innovation normals eps_k: fresh at every grid time (false), or those of t_0 at every time (true,
   * gradient descent: ../mc/march.ts). Either is exact: a rider enters only averages at one time t_k, jointly with
   * the training history up to t_k (kernel rows, responses, f_test), for which eps_k need only be standard normal
   * and independent of the training normals. With eps fixed, a rider's fields move smoothly from step to step as a
   * training point's do, so their errors are correlated in time instead of drawn afresh at each step, and at
   * gamma0 -> 0 every time sees the same rider sample (what the outputs' control variate needs).
   */
  fixedRiderInnovation = false;

  /** tmp[s Pt + i] = the riders' source at t_k: M xi_{<=k} + F eps_k, or the constant one (u^1, r^L). */
  private riderSources(
    k: number,
    cond: { M: Float64Array; F: Float64Array } | undefined,
    xi: Float64Array,
    eps: Float64Array,
    constant: (s: number, i: number) => number,
  ): void {
    const { S, P, Pt, W, K1, tmp } = this;
    const q = P * (k + 1);
    if (!cond) {
      for (let s = 0; s < S; s++) for (let i = 0; i < Pt; i++) tmp[s * Pt + i] = constant(s, i);
      return;
    }
    gemmNT(xi, 0, W, cond.M, 0, q, tmp, 0, Pt, S, Pt, q);
    const ke = this.fixedRiderInnovation ? 0 : k;
    for (let s = 0; s < S; s++) for (let i = 0; i < Pt; i++) tmp[s * Pt + i] += dot(cond.F, i * Pt, eps, (s * K1 + ke) * Pt, Pt);
  }

  /**
   * Partial sums of a kernel row (THEORY.md section 2): out[mu, (j,b)] += sum_s F_mu(t_k) F_b(t_j), j <= k,
   * for F = phi(h) ('phi') or g ('g'); rows 0..P-1 training points, P.. riders (`riders`), stride W.
   */
  kernelRow(k: number, which: 'phi' | 'g', out: Float64Array, riders: boolean): void {
    const { S, P, Pt, W, tmp } = this;
    const T = which === 'phi' ? this.phT : this.gT,
      X = which === 'phi' ? this.phX : this.gX;
    const q = P * (k + 1),
      rows = riders ? Pt : P;
    // tmp = F(t_k)^T (rows x S), then out += tmp F_{<=k}
    for (let s = 0; s < S; s++) for (let a = 0; a < rows; a++) tmp[a * S + s] = riders ? X[s * Pt + a] : T[s * W + k * P + a];
    gemmAcc(tmp, 0, S, T, 0, W, out, (riders ? P : 0) * W, W, rows, S, q);
  }

  /**
   * Sums over the samples of F_a(t_k) F_b(t_j), j <= k, for a per-sample field F on training points (S x W),
   * into row (P x q, row-major; overwritten) and diag[a] = sum_s F_a(t_k) (./responses.ts control variate).
   */
  productRow(k: number, F: Float64Array, row: Float64Array, diag: Float64Array): void {
    const { S, P, W, tmp } = this;
    const q = P * (k + 1);
    row.fill(0, 0, P * q);
    diag.fill(0);
    for (let s = 0; s < S; s++)
      for (let a = 0; a < P; a++) {
        tmp[a * S + s] = F[s * W + k * P + a];
        diag[a] += tmp[a * S + s];
      }
    gemmAcc(tmp, 0, S, F, 0, W, row, 0, q, P, S, q);
  }

  /** Partial sums over the samples of phi''(h_i) z_i for each rider i at the current time. */
  riderSelf(out: Float64Array): void {
    const { S, Pt } = this;
    for (let s = 0; s < S; s++) for (let i = 0; i < Pt; i++) out[i] += this.d2X[s * Pt + i] * this.zX[s * Pt + i];
  }

  /** Partial sums of the riders' equal-time block sum_s F_i F_j (Pt x Pt). */
  riderGram(which: 'phi' | 'g', out: Float64Array): void {
    const { S, Pt } = this;
    const X = which === 'phi' ? this.phX : this.gX;
    for (let s = 0; s < S; s++) for (let i = 0; i < Pt; i++) axpy(X[s * Pt + i], X, s * Pt, out, i * Pt, Pt);
  }

  /**
   * Gradient descent's outputs (../mc/march.ts, McProblem.output 'fields'): the forward-mode tangent of the top
   * layer's training fields with respect to its scalar source r^L (the readout at t = 0), per sample,
   *   dz(k) = 1 + sum_{j<=k} Cz(k,j) phi'(h(j)) dh(j),   dh(k) = sum_{j<=k} Ch(k,j) dg(j),
   *   dg = phi''(h) z dh + phi'(h) dz,
   * (Ch(k,k) = 0 under the strictly causal rule), so that Stein's lemma <r^L F> = <dF/dr^L> gives the outputs'
   * r^L-part without the noise of r^L's own fluctuation. Allocated by readoutTangent (3 S x (K1 P) numbers).
   */
  private dhR = new Float64Array(0);
  private dphiR = new Float64Array(0);
  private dgR = new Float64Array(0);

  readoutTangent(): void {
    const n = this.S * this.W;
    [this.dhR, this.dphiR, this.dgR] = [new Float64Array(n), new Float64Array(n), new Float64Array(n)];
  }

  /** Bytes readoutTangent allocates. */
  static tangentBytes(S: number, P: number, K1: number): number {
    return 8 * 3 * S * P * K1;
  }

  /** dh and phi'(h) dh at t_k (training points; Ch row k, after forward). */
  tangentForward(k: number, Ch: Float64Array): void {
    const { S, P, W, tmp2 } = this;
    const q = P * (k + 1);
    gemmNT(this.dgR, 0, W, Ch, 0, W, tmp2, 0, P, S, P, q);
    for (let s = 0; s < S; s++)
      for (let a = 0; a < P; a++) {
        const i = s * W + k * P + a;
        this.dhR[i] = tmp2[s * P + a];
        this.dphiR[i] = this.d1T[i] * this.dhR[i];
      }
  }

  /** dz and dg at t_k (training points; Cz row k, after backward). */
  tangentBackward(k: number, Cz: Float64Array): void {
    const { S, P, W, tmp2 } = this;
    const q = P * (k + 1);
    gemmNT(this.dphiR, 0, W, Cz, 0, W, tmp2, 0, P, S, P, q);
    for (let s = 0; s < S; s++)
      for (let a = 0; a < P; a++) {
        const i = s * W + k * P + a;
        this.dgR[i] = this.d2T[i] * this.zT[i] * this.dhR[i] + this.d1T[i] * (1 + tmp2[s * P + a]);
      }
  }

  /** Partial sums over the samples of d phi(h_a(t_k)) / d r^L for each training point a. */
  tangentSum(k: number, out: Float64Array): void {
    const { S, P, W } = this;
    for (let s = 0; s < S; s++) for (let a = 0; a < P; a++) out[a] += this.dphiR[s * W + k * P + a];
  }

  /**
   * Partial sums over the samples of d phi(h_i(t_k)) / d r^L for each rider i: its h depends on r^L only through
   * the training fields in its memory terms (ChX: rows P.. of Ch), dh_i = sum_{j<=k} Ch_i(k,j) dg(j).
   */
  riderTangentSum(k: number, ChX: Float64Array, out: Float64Array): void {
    const { S, P, Pt, W, tmp2 } = this;
    const q = P * (k + 1);
    gemmNT(this.dgR, 0, W, ChX, P * W, W, tmp2, 0, Pt, S, Pt, q);
    for (let s = 0; s < S; s++) for (let i = 0; i < Pt; i++) out[i] += this.d1X[s * Pt + i] * tmp2[s * Pt + i];
  }

  /** phi(h), phi'(h), phi''(h) (unless slopeFrozen) and g at training index i. */
  private derive(i: number): void {
    const h = this.hT[i];
    this.phT[i] = this.act.phi(h);
    if (!this.slopeFrozen) {
      this.d1T[i] = this.act.dphi(h);
      this.d2T[i] = this.kinkWidth ? this.kinkD2phi(h, i % this.P) : this.act.d2phi(h);
    }
    this.gT[i] = this.d1T[i] * this.zT[i];
  }

  /** phi''(h) at point mu of a kinked activation: its regular part (0 for relu) plus the smoothed delta (kinkWidth). */
  private kinkD2phi(h: number, mu: number): number {
    const e = this.kinkWidth![mu];
    return this.act.d2phi(h) + Math.exp((-0.5 * h * h) / (e * e)) / (e * SQRT_2PI);
  }
}

const SQRT_2PI = Math.sqrt(2 * Math.PI);

/** sum_{c<len} x[xo + c] y[yo + c] */
export function dot(x: Float64Array, xo: number, y: Float64Array, yo: number, len: number): number {
  let s = 0;
  for (let c = 0; c < len; c++) s += x[xo + c] * y[yo + c];
  return s;
}

/** out[oo + c] += alpha x[xo + c], c < len */
export function axpy(alpha: number, x: Float64Array, xo: number, out: Float64Array, oo: number, len: number): void {
  if (alpha === 0) return;
  for (let c = 0; c < len; c++) out[oo + c] += alpha * x[xo + c];
}
