import type { CausalFactor } from './factor.js';
import { gemmAcc } from './blas.js';
import { axpy, type LayerSamples } from './layer.js';

/**
 * Response functions of THEORY.md section 3 as discrete operators on the grid (trapezoid weights inside,
 * as in the deep-linear solver), times gamma0 so that gamma0 -> 0 needs no division:
 *   Ar^l(k, j)_{mu a} = gamma0 A^l = < d phi(h^l_mu(t_k)) / d r^l_a(t_j) >       (l < L)
 *   Bu^l(k, j)_{mu a} = gamma0 B^{l-1} = < d g^l_mu(t_k) / d u^l_a(t_j) >      (l >= 2)
 * (derivatives w.r.t. the discrete source values; j <= k by causality; the equal-time j = k block includes
 * the phi''(h) z term of g(t) = phi'(h(t)) z(t) w.r.t. u(t), exactly as a finite network has it).
 */
export type ResponseKind = 'r' | 'u';

/**
 * Exact responses by forward-mode differentiation of each sample's causal recursion. For the first Sr
 * samples of a layer, the Jacobians w.r.t. the chosen source on training points obey the linearized
 * site equations, marched row by row with the fields:
 *   dh(k;j) = [u] delta_kj I + sum_{i=j..k} Ch(k,i) dg(i;j),   dz(k;j) = [r] delta_kj I + sum_{i=j..k} Cz(k,i) dphi(i;j),
 *   dphi = phi'(h) dh,   dg = phi''(h) z dh + phi'(h) dz
 * (the i = k term uses the previous sweep's row, converging with the fields' fixed point at t_k). Only the
 * blocks dg(i;.), dphi(i;.) of training points are stored: P x P(i+1) per time, cost ~ P^3 K^3 / 3 per sample.
 * Riders (test rows) need no storage of their own: dh_test(k;.) = sum_i Ch_test(k,i) dg(i;.), etc.
 */
export class ExactResponses {
  private readonly dg: Float64Array;
  private readonly dphi: Float64Array;
  private readonly tri: number;
  private readonly mh: Float64Array;
  private readonly mz: Float64Array;
  /** row's control variate: kind u's phi''(h) z of every sample (S x W), slope sums (P x W) and <c(t_k)> sums */
  private readonly c: Float64Array;
  private readonly d1Row: Float64Array;
  private readonly cRow: Float64Array;
  private readonly cDiag: Float64Array;
  /** riders' dh(k; .) per sample (kind u), kept from riderUp for riderDown */
  private readonly dhX: Float64Array;
  /** gradient descent: each response sample's dh(k; .) on training points (Sr x P x W), kept from up for down */
  private dhKeep = new Float64Array(0);

  constructor(
    private readonly site: LayerSamples,
    readonly kind: ResponseKind,
    readonly Sr: number,
    /** use row's control variate (kinked activations) */
    readonly controlVariate = false,
  ) {
    const { P, K1, Pt } = site;
    this.tri = (P * P * K1 * (K1 + 1)) / 2;
    this.dg = new Float64Array(Sr * this.tri);
    this.dphi = new Float64Array(Sr * this.tri);
    this.mh = new Float64Array(Math.max(P, Pt) * P * K1);
    this.mz = new Float64Array(Math.max(P, Pt) * P * K1);
    this.dhX = new Float64Array(kind === 'u' ? Sr * Pt * P * K1 : 0);
    this.c = new Float64Array(controlVariate && kind === 'u' ? site.S * P * K1 : 0);
    this.d1Row = new Float64Array(controlVariate ? P * P * K1 : 0);
    this.cRow = new Float64Array(controlVariate && kind === 'u' ? P * P * K1 : 0);
    this.cDiag = new Float64Array(P);
  }

  /**
   * Bytes of the arrays the constructor allocates (memory check, ../monte-carlo.ts): the stored Jacobian blocks,
   * 2 Sr P^2 K1 (K1 + 1) / 2 numbers, are most of a solve's memory once Sr is in the hundreds; `explicit`:
   * gradient descent's kept dh rows (up, down).
   */
  static bytes(
    kind: ResponseKind,
    S: number,
    P: number,
    Pt: number,
    K1: number,
    Sr: number,
    controlVariate: boolean,
    explicit = false,
  ): number {
    const tri = (P * P * K1 * (K1 + 1)) / 2,
      W = P * K1;
    const cv = controlVariate ? P * W + (kind === 'u' ? S * W + P * W : 0) : 0;
    return 8 * (2 * Sr * tri + 2 * Math.max(P, Pt) * W + (kind === 'u' ? Sr * Pt * W : 0) + cv + P + (explicit ? Sr * P * W : 0));
  }

  /**
   * Training rows of the response at t_k into out (rows 0..P-1, stride W; overwritten up to column q): the
   * mean over the Sr samples, with a control variate over all S samples of the batch (THEORY.md section 5,
   * sampling error). J1, the terms of the Jacobian up to one memory link, needs only each sample's slopes at
   * two times,
   *   kind r:  dphi1(k;j)_ab = phi'_a(t_k) Ch(k,j)_ab phi'_b(t_j),
   *   kind u:  dg1(k;j)_ab   = delta_kj delta_ab c_a(t_k) + c_a(t_k) Ch(k,j)_ab c_b(t_j) + phi'_a(t_k) Cz(k,j)_ab phi'_b(t_j),
   * with c = phi''(h) z, so its mean over all S samples costs a kernel row; the estimate is
   * mean_S(J1) + mean_Sr(J - J1), unbiased. It is used for kinked activations (`controlVariate`), where c holds
   * the smoothed delta(h), the noisiest part of the responses; with tanh, response noise is a negligible part of
   * the losses' sampling error (16 or 64 response samples per replica give the same spread), and the control
   * variate would cost 8% of the solve.
   */
  row(k: number, Ch: Float64Array, Cz: Float64Array, out: Float64Array): void {
    const { P, K1, S, d1T, d2T, zT } = this.site;
    const W = P * K1,
      q = P * (k + 1),
      blk = this.block(k),
      Sr = this.Sr;
    // mean over all S of J1, from the slope rows <phi'_a(t_k) phi'_b(t_j)> (and <c_a(t_k) c_b(t_j)>, <c_a(t_k)>)
    const { d1Row, cRow, cDiag } = this;
    // with the control variate, out starts at mean_S(J1), and J1 of each response sample is subtracted below
    for (let a = 0; a < P; a++) out.fill(0, a * W, a * W + q);
    if (this.controlVariate) {
      this.site.productRow(k, d1T, d1Row, cDiag); // its diag (sums of phi') is not needed: overwritten or unused
      if (this.kind === 'u') this.site.productRow(k, this.curvature(k), cRow, cDiag);
      for (let a = 0; a < P; a++)
        for (let x = 0; x < q; x++) {
          const i = a * W + x;
          out[i] = (this.kind === 'r' ? Ch[i] * d1Row[a * q + x] : Ch[i] * cRow[a * q + x] + Cz[i] * d1Row[a * q + x]) / S;
        }
      if (this.kind === 'u') for (let a = 0; a < P; a++) out[a * W + k * P + a] += cDiag[a] / S;
    }
    for (let s = 0; s < Sr; s++) {
      this.history(s, k, Ch, 0, P, this.dg, this.mh);
      this.history(s, k, Cz, 0, P, this.dphi, this.mz);
      const base = s * this.tri + blk;
      for (let a = 0; a < P; a++) {
        const f = s * W + k * P + a,
          d1a = d1T[f],
          ca = d2T[f] * zT[f];
        if (this.kind === 'u') this.mh[a * W + k * P + a] += 1;
        else this.mz[a * W + k * P + a] += 1;
        for (let x = 0; x < q; x++) {
          const dh = this.mh[a * W + x],
            dz = this.mz[a * W + x];
          this.dphi[base + a * q + x] = d1a * dh;
          this.dg[base + a * q + x] = ca * dh + d1a * dz;
        }
        // out += (J - J1) / Sr
        const o = a * W,
          row = s * W;
        axpy(1 / Sr, this.kind === 'r' ? this.dphi : this.dg, base + a * q, out, o, q);
        if (!this.controlVariate) continue;
        if (this.kind === 'r') for (let x = 0; x < q; x++) out[o + x] -= (d1a * Ch[o + x] * d1T[row + x]) / Sr;
        else {
          for (let x = 0; x < q; x++) out[o + x] -= (ca * Ch[o + x] * d2T[row + x] * zT[row + x] + d1a * Cz[o + x] * d1T[row + x]) / Sr;
          out[o + k * P + a] -= ca / Sr;
        }
      }
    }
  }

  /**
   * Gradient descent (THEORY.md section 6; ../mc/march.ts): row k in the two halves of the explicit step, each once.
   * Under the strictly causal rule Ch(k,k) = 0, so dh(k;.) needs only the blocks of times < t_k: `up`, right after
   * the layer's forward fields at t_k, finds dh(k;.) (kept for `down`) and dphi(k;.) = phi'(h) dh, and for kind r
   * writes the training rows of Ar at t_k into `out` (what the layer above needs in the same upward pass).
   * `down`, after the backward fields at t_k (Cz row k, whose equal-time block Bu^{l+1}(k,k) meets this step's
   * dphi(k;.)), finds dz(k;.) and dg(k;.) = phi''(h) z dh + phi'(h) dz, and for kind u writes Bu at t_k. The same
   * control variate as row()'s (kinked activations). Both halves together are row()'s recursion, without its
   * per-sweep lag (row() uses the previous sweep's blocks at t_k).
   */
  up(k: number, Ch: Float64Array, out: Float64Array | undefined): void {
    const { P, K1, S, d1T } = this.site;
    const W = P * K1,
      q = P * (k + 1),
      blk = this.block(k),
      Sr = this.Sr;
    const write = this.kind === 'r' && out !== undefined;
    if (write) {
      for (let a = 0; a < P; a++) out.fill(0, a * W, a * W + q);
      if (this.controlVariate) {
        this.site.productRow(k, d1T, this.d1Row, this.cDiag);
        for (let a = 0; a < P; a++) for (let x = 0; x < q; x++) out[a * W + x] = (Ch[a * W + x] * this.d1Row[a * q + x]) / S;
      }
    }
    if (this.dhKeep.length === 0) this.dhKeep = new Float64Array(Sr * P * W);
    for (let s = 0; s < Sr; s++) {
      this.history(s, k, Ch, 0, P, this.dg, this.mh);
      const base = s * this.tri + blk;
      for (let a = 0; a < P; a++) {
        const f = s * W + k * P + a,
          d1a = d1T[f];
        if (this.kind === 'u') this.mh[a * W + k * P + a] += 1;
        this.dhKeep.set(this.mh.subarray(a * W, a * W + q), (s * P + a) * W);
        for (let x = 0; x < q; x++) this.dphi[base + a * q + x] = d1a * this.mh[a * W + x];
        if (!write) continue;
        const o = a * W,
          row = s * W;
        axpy(1 / Sr, this.dphi, base + a * q, out, o, q);
        if (this.controlVariate) for (let x = 0; x < q; x++) out[o + x] -= (d1a * Ch[o + x] * d1T[row + x]) / Sr;
      }
    }
  }

  /** The downward half of gradient descent's row k (see up); Ch is row k of the forward operator, as up had it. */
  down(k: number, Ch: Float64Array, Cz: Float64Array, out: Float64Array | undefined): void {
    const { P, K1, S, d1T, d2T, zT } = this.site;
    const W = P * K1,
      q = P * (k + 1),
      blk = this.block(k),
      Sr = this.Sr;
    const write = this.kind === 'u' && out !== undefined;
    const { d1Row, cRow, cDiag } = this;
    if (write) {
      for (let a = 0; a < P; a++) out.fill(0, a * W, a * W + q);
      if (this.controlVariate) {
        this.site.productRow(k, d1T, d1Row, cDiag);
        this.site.productRow(k, this.curvature(k), cRow, cDiag);
        for (let a = 0; a < P; a++)
          for (let x = 0; x < q; x++) {
            const i = a * W + x;
            out[i] = (Ch[i] * cRow[a * q + x] + Cz[i] * d1Row[a * q + x]) / S;
          }
        for (let a = 0; a < P; a++) out[a * W + k * P + a] += cDiag[a] / S;
      }
    }
    for (let s = 0; s < Sr; s++) {
      this.history(s, k, Cz, 0, P, this.dphi, this.mz);
      const base = s * this.tri + blk;
      for (let a = 0; a < P; a++) {
        const f = s * W + k * P + a,
          d1a = d1T[f],
          ca = d2T[f] * zT[f],
          dh = (s * P + a) * W;
        if (this.kind === 'r') this.mz[a * W + k * P + a] += 1;
        for (let x = 0; x < q; x++) this.dg[base + a * q + x] = ca * this.dhKeep[dh + x] + d1a * this.mz[a * W + x];
        if (!write) continue;
        const o = a * W,
          row = s * W;
        axpy(1 / Sr, this.dg, base + a * q, out, o, q);
        if (this.controlVariate) {
          for (let x = 0; x < q; x++) out[o + x] -= (ca * Ch[o + x] * d2T[row + x] * zT[row + x] + d1a * Cz[o + x] * d1T[row + x]) / Sr;
          out[o + k * P + a] -= ca / Sr;
        }
      }
    }
  }

  /** c = phi''(h) z of every sample at times <= t_k on training points (S x W, columns < q filled). */
  private curvature(k: number): Float64Array {
    const { S, P, K1, d2T, zT } = this.site;
    const W = P * K1,
      q = P * (k + 1);
    for (let s = 0; s < S; s++) for (let x = 0; x < q; x++) this.c[s * W + x] = d2T[s * W + x] * zT[s * W + x];
    return this.c;
  }

  /** Riders, upward pass: dh_test; kind r adds phi'(h_test) dh_test to out's rider rows. */
  riderUp(k: number, Ch: Float64Array, out: Float64Array): void {
    const { P, Pt, K1, d1X } = this.site;
    const W = P * K1,
      q = P * (k + 1);
    for (let s = 0; s < this.Sr; s++) {
      this.history(s, k, Ch, P, Pt, this.dg, this.mh);
      for (let i = 0; i < Pt; i++) {
        if (this.kind === 'r') axpy(d1X[s * Pt + i], this.mh, i * W, out, (P + i) * W, q);
        else this.dhX.set(this.mh.subarray(i * W, i * W + q), (s * Pt + i) * W);
      }
    }
  }

  /**
   * Gradient descent, kind r: riderUp's control variate, as up() has it for the training rows. Adds to the riders'
   * rows of `out`, in riderUp's convention (sums over the Sr samples, scaled by 1/Sr afterwards),
   * (Sr/S) sum_S J1 - sum_Sr J1 with the first memory link J1 = phi'_i(t_k) Ch_i(k,j)_b phi'_b(t_j), so that the
   * scaled rows are mean_S(J1) + mean_Sr(J - J1). Without it the riders' share of the lower layers' learning, which
   * reaches f_test through these rows at leading order, would rest on the Sr response samples alone.
   */
  riderUpControl(k: number, Ch: Float64Array, out: Float64Array): void {
    const { P, Pt, K1, S, d1X, d1T } = this.site;
    const W = P * K1,
      q = P * (k + 1),
      Sr = this.Sr;
    const xt = new Float64Array(Pt * S);
    for (let s = 0; s < S; s++) for (let i = 0; i < Pt; i++) xt[i * S + s] = d1X[s * Pt + i];
    const all = new Float64Array(Pt * q),
      some = new Float64Array(Pt * q);
    gemmAcc(xt, 0, S, d1T, 0, W, all, 0, q, Pt, S, q);
    gemmAcc(xt, 0, S, d1T, 0, W, some, 0, q, Pt, Sr, q);
    for (let i = 0; i < Pt; i++)
      for (let x = 0; x < q; x++) out[(P + i) * W + x] += Ch[(P + i) * W + x] * ((Sr / S) * all[i * q + x] - some[i * q + x]);
  }

  /**
   * Riders, downward pass (kind u): dz_test (with the riders' equal-time self term self_i phi(h_i), see
   * LayerSamples.riderBackward), and dg_test = phi''(h) z dh + phi'(h) dz into out's rider rows.
   */
  riderDown(k: number, Cz: Float64Array, self: Float64Array | undefined, out: Float64Array): void {
    const { P, Pt, K1, d1X, d2X, zX } = this.site;
    const W = P * K1,
      q = P * (k + 1);
    for (let s = 0; s < this.Sr; s++) {
      this.history(s, k, Cz, P, Pt, this.dphi, this.mz);
      for (let i = 0; i < Pt; i++) {
        const x = s * Pt + i;
        if (self) axpy(self[i] * d1X[x], this.dhX, x * W, this.mz, i * W, q);
        axpy(d2X[x] * zX[x], this.dhX, x * W, out, (P + i) * W, q);
        axpy(d1X[x], this.mz, i * W, out, (P + i) * W, q);
      }
    }
  }

  /** m[r, (j,b)] = sum_{i<=k} sum_c C[r0 + r, (i,c)] D_s(i)[c, (j,b)] for rows r < rows (stride W). */
  private history(s: number, k: number, C: Float64Array, r0: number, rows: number, D: Float64Array, m: Float64Array): void {
    const { P, K1 } = this.site;
    const W = P * K1;
    m.fill(0, 0, rows * W);
    for (let i = 0; i <= k; i++) gemmAcc(C, r0 * W + i * P, W, D, s * this.tri + this.block(i), P * (i + 1), m, 0, W, rows, P, P * (i + 1));
  }

  private block(i: number): number {
    const { P } = this.site;
    return (P * P * i * (i + 1)) / 2;
  }
}

/**
 * Gaussian integration by parts (section 4): with the source = L xi, Stein's lemma gives <F xi^T> = <dF/dsource> L,
 * so <dF/dsource> = <F xi^T> L^+ (the pseudo-inverse of ./factor.ts regularizes the directions without
 * innovation). Partial sums of <F xi^T> over the batch: training rows of F = phi(h) (kind r) or g (kind u).
 */
export function ibpSums(site: LayerSamples, kind: ResponseKind, k: number, riders: boolean, out: Float64Array): void {
  const { S, P, Pt, K1 } = site;
  const W = P * K1,
    q = P * (k + 1);
  const xi = kind === 'r' ? site.xiR : site.xiU;
  for (let s = 0; s < S; s++)
    if (!riders) {
      const F = kind === 'r' ? site.phT : site.gT;
      for (let a = 0; a < P; a++) axpy(F[s * W + k * P + a], xi, s * W, out, a * W, q);
    } else {
      const F = kind === 'r' ? site.phX : site.gX;
      for (let i = 0; i < Pt; i++) axpy(F[s * Pt + i], xi, s * W, out, (P + i) * W, q);
    }
}

/**
 * Riders of kind u: g_test(t_k) also depends on xi through its own source u_test(t_k) = M xi + F eps,
 * which the response (w.r.t. training sources only) must not count: subtract <dg/du_test> M, with
 * dg/du_test = phi''(h) z + phi'(h)^2 self (self: the equal-time term of LayerSamples.riderBackward).
 */
export function ibpRiderCorrection(
  site: LayerSamples,
  M: Float64Array,
  self: Float64Array | undefined,
  k: number,
  out: Float64Array,
): void {
  const { S, P, Pt, K1 } = site;
  const W = P * K1,
    q = P * (k + 1);
  for (let i = 0; i < Pt; i++) {
    let m = 0;
    for (let s = 0; s < S; s++) {
      const x = s * Pt + i;
      m += site.d2X[x] * site.zX[x] + (self ? self[i] * site.d1X[x] * site.d1X[x] : 0);
    }
    axpy(-m, M, i * q, out, (P + i) * W, q);
  }
}

/** <F xi^T> (rows r0..r0+rows, stride W, already averaged) -> <dF/dsource> via the causal factor, in place. */
export function ibpSolve(factor: CausalFactor, k: number, sums: Float64Array, r0: number, rows: number, W: number, ridge: number): void {
  const q = factor.P * (k + 1);
  const C = new Float64Array(rows * q);
  for (let r = 0; r < rows; r++) C.set(sums.subarray((r0 + r) * W, (r0 + r) * W + q), r * q);
  const X = factor.solveRight(k, rows, C, ridge);
  for (let r = 0; r < rows; r++) sums.set(X.subarray(r * q, (r + 1) * q), (r0 + r) * W);
}
