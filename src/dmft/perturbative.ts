import * as z from 'zod';
import type { Config } from '../core/config.js';
import { dense, symmetricEigen, toRows, block, type Dense } from '../core/linalg.js';
import { dormandPrince } from '../core/ode.js';
import { makeMeta, halfMeanSquare, type PerturbativeMeta, type Result } from '../core/result.js';
import { stream } from '../core/rng.js';
import { allInputs, type Schedule } from '../core/schedule.js';
import { pointwiseSem } from '../core/stats.js';
import { derivativeMoments, derivatives, THIRD_DERIVATIVE } from '../theory/derivative-moments.js';
import { initialKernels, type InitialKernels } from '../theory/kernels.js';
import { lazyCurves } from '../theory/lazy.js';
import { timeGrid, maxGridStep } from './grid.js';
import { alignment, relativeLossError, trainBlock } from './observables.js';
import { COMMON_OPTIONS } from './options.js';
import { haltonNormals } from './qmc.js';

/**
 * Leading-order perturbation theory in gamma0 (THEORY.md section 7; the derivation, its cost and its limits:
 * docs/perturbation-theory.md). Every kernel is K(t) = K(0) + gamma0^2 K_2(t) + O(gamma0^4), with K_2 a sum of
 * Gaussian expectations over the t = 0 kernels, linear in the lazy signal's integrals
 *   m(t) = (1/P) int_0^t Delta_0(s) ds   (through m m^T)   and   Q_ab(t) = (1/P) int_0^t Delta_0,a(s) m_b(s) ds.
 * Deep linear nets have the closed form K_2 = c_L [(m^T K^x m) K^x + (K^x m)(K^x m)^T], c_L = L (L+1)^2 (L+2) / 6;
 * other (smooth) activations take the 2-point moments by Gauss-Hermite (Mehler) quadrature and the 4-point ones by
 * randomized quasi-Monte Carlo over the t = 0 Gaussian sources of each layer (replicas give the sampling error).
 * The flow dDelta/dt = -(1/P) (K(0) + gamma0^2 K_2(t)) Delta is then integrated ('kernel', the default) or expanded
 * consistently, Delta = Delta_0 + gamma0^2 Delta_2 with dDelta_2/dt = -(1/P) (K(0) Delta_2 + K_2 Delta_0) ('linear').
 * The gamma0^2 coefficient of the losses (the same for both) is meta.lossCoefficient.
 */
export const PERTURBATIVE_SCHEMA = z.strictObject({
  ...COMMON_OPTIONS,
  /** Gaussian samples per layer for the 4-point expectations (smooth nonlinear activations) */
  samples: z.number().int().positive().default(16384),
  replicas: z.number().int().min(2).default(8),
  /** root-mean-square local error per step of the flow's Dormand-Prince integration */
  tol: z.number().positive().default(1e-11),
  expansion: z.enum(['kernel', 'linear']).default('kernel'),
});
export type PerturbativeOptions = z.infer<typeof PERTURBATIVE_SCHEMA>;

/** Why a config cannot use the method, or undefined. */
export function perturbativeRequires(cfg: Config): string | undefined {
  if (!THIRD_DERIVATIVE[cfg.model.activation])
    return `needs a smooth activation (the expansion differentiates phi three times; ${cfg.model.activation}'s phi'' is a delta function), got "${cfg.model.activation}"`;
  return undefined;
}

/** The lazy signal of section 2 in the eigenbasis K_train(0) = V diag(lambda) V^T, c = V^T y. */
export class LazySignal {
  readonly lam: Float64Array;
  readonly V: Float64Array;
  readonly c: Float64Array;
  constructor(
    K0: Dense,
    readonly P: number,
    y: readonly number[],
  ) {
    const { values, vectors } = symmetricEigen(block(K0, 0, P, 0, P));
    const top = Math.max(...values);
    this.lam = values.map((l) => (l > 1e-12 * top ? l : 0));
    this.V = vectors.data;
    this.c = new Float64Array(P);
    for (let i = 0; i < P; i++) for (let k = 0; k < P; k++) this.c[k] += this.V[i * P + k] * y[i];
  }
  private combine(coef: (k: number) => number, out: Float64Array): Float64Array {
    const { P, V, c } = this;
    out.fill(0);
    for (let k = 0; k < P; k++) {
      const s = coef(k) * c[k];
      if (s === 0) continue;
      for (let i = 0; i < P; i++) out[i] += V[i * P + k] * s;
    }
    return out;
  }
  /** Delta_0(t) = V exp(-lambda t / P) c */
  delta(t: number, out = new Float64Array(this.P)): Float64Array {
    return this.combine((k) => Math.exp((-this.lam[k] * t) / this.P), out);
  }
  /** m(t) = (1/P) int_0^t Delta_0 = V diag((1 - exp(-lambda t/P)) / lambda) c */
  m(t: number, out = new Float64Array(this.P)): Float64Array {
    return this.combine((k) => (this.lam[k] > 0 ? -Math.expm1((-this.lam[k] * t) / this.P) / this.lam[k] : t / this.P), out);
  }
  /** largest eigenvalue of K_train(0) */
  get lamMax(): number {
    return Math.max(...this.lam);
  }
}

/** Gauss-Legendre nodes and weights on [0, 1]. */
function gaussLegendre(n: number): { x: number[]; w: number[] } {
  const x: number[] = [],
    w: number[] = [];
  for (let i = 0; i < n; i++) {
    let t = Math.cos((Math.PI * (i + 0.75)) / (n + 0.5)),
      dp = 0;
    for (let it = 0; it < 100; it++) {
      let p0 = 1,
        p1 = t;
      for (let k = 2; k <= n; k++) [p0, p1] = [p1, ((2 * k - 1) * t * p1 - (k - 1) * p0) / k];
      dp = (n * (t * p1 - p0)) / (t * t - 1);
      const dt = p1 / dp;
      t -= dt;
      if (Math.abs(dt) < 1e-16) break;
    }
    x.push((1 - t) / 2);
    w.push(1 / ((1 - t * t) * dp * dp));
  }
  return { x, w };
}

/** m(t_k) (P) and Q(t_k) (P x P, row a column b) on a grid, Q by 10-point Gauss-Legendre per interval (exact to rounding). */
export function timeFunctions(lazy: LazySignal, t: Float64Array) {
  const P = lazy.P;
  const gl = gaussLegendre(10);
  const m: Float64Array[] = [],
    Q: Float64Array[] = [];
  let q = new Float64Array(P * P);
  const d = new Float64Array(P),
    mm = new Float64Array(P);
  for (let k = 0; k < t.length; k++) {
    if (k > 0) {
      q = Float64Array.from(q);
      const h = t[k] - t[k - 1];
      for (let g = 0; g < gl.x.length; g++) {
        const s = t[k - 1] + h * gl.x[g];
        lazy.delta(s, d);
        lazy.m(s, mm);
        const wgt = (h * gl.w[g]) / P;
        for (let a = 0; a < P; a++) for (let b = 0; b < P; b++) q[a * P + b] += wgt * d[a] * mm[b];
      }
    }
    m.push(lazy.m(t[k]));
    Q.push(q);
  }
  return { m, Q };
}

/** K_2 and the per-layer Phi_2^l, G_2^l at one time: rows over all n points, columns over the first C points. */
export interface SecondOrder {
  ntk: Float64Array;
  Phi: Float64Array[];
  G: Float64Array[];
}

/** Deep linear: the closed forms of docs/perturbation-theory.md (every kernel over all points). */
export function linearSecondOrder(Kx: Dense, P: number, L: number, m: Float64Array, C: number, withLayers: boolean): SecondOrder {
  const n = Kx.rows;
  const v = new Float64Array(n); // (K^x m)_mu
  for (let mu = 0; mu < n; mu++) {
    let s = 0;
    for (let a = 0; a < P; a++) s += Kx.data[mu * n + a] * m[a];
    v[mu] = s;
  }
  let mKm = 0;
  for (let a = 0; a < P; a++) mKm += m[a] * v[a];
  const cL = (L * (L + 1) * (L + 1) * (L + 2)) / 6;
  const ntk = new Float64Array(n * C);
  for (let mu = 0; mu < n; mu++) for (let nu = 0; nu < C; nu++) ntk[mu * C + nu] = cL * (mKm * Kx.data[mu * n + nu] + v[mu] * v[nu]);
  const Phi: Float64Array[] = [],
    G: Float64Array[] = [];
  if (withLayers)
    for (let l = 1; l <= L; l++) {
      const p = new Float64Array(n * C),
        g = new Float64Array(n * C);
      const cp = ((L + 1) * l * (l + 1)) / 2,
        cg = (((L + 1) * (L - l + 1) * (L - l + 2)) / 2) * mKm;
      for (let mu = 0; mu < n; mu++)
        for (let nu = 0; nu < C; nu++) {
          p[mu * C + nu] = cp * v[mu] * v[nu];
          g[mu * C + nu] = cg;
        }
      Phi.push(p);
      G.push(g);
    }
  return { ntk, Phi, G };
}

/**
 * One layer's deterministic coefficients (n x P: rows all points, columns training points), its 2-point moment
 * tables over u^l ~ N(0, Phi_0^{l-1}) (n x C x 16 and n x 16 on the diagonal) and its source factors.
 */
interface LayerCoefficients {
  M: Float64Array;
  N: Float64Array;
  B: Float64Array;
  mom: Float64Array;
  diag: Float64Array;
  Fu: Dense;
  Fr: Dense;
}

/** F (n x rank) with F F^T = S, columns by decreasing eigenvalue (the quasi-random draws give their best coordinates to the first). */
function factor(S: Dense): Dense {
  const n = S.rows;
  const { values, vectors } = symmetricEigen(S);
  const top = Math.max(1e-300, ...Array.from(values, Math.abs));
  const keep = [...values.keys()].filter((k) => values[k] > 1e-10 * top).reverse();
  const F = dense(n, keep.length);
  keep.forEach((k, c) => {
    const s = Math.sqrt(values[k]);
    for (let i = 0; i < n; i++) F.data[i * keep.length + c] = vectors.data[i * n + k] * s;
  });
  return F;
}

const ones = (n: number): Dense => dense(n, n, new Float64Array(n * n).fill(1));

function layerCoefficients(k0: InitialKernels, L: number, P: number, C: number, act: Config['model']['activation'], order?: number) {
  const n = k0.Kx.rows;
  const moments = derivativeMoments(act, order);
  const G0 = (l: number) => (l >= L + 1 ? ones(n) : k0.G[l]);
  const mom: Float64Array[] = [new Float64Array(0)],
    diag: Float64Array[] = [new Float64Array(0)];
  const tab = new Float64Array(16);
  for (let l = 1; l <= L; l++) {
    const S = k0.Phi[l - 1].data;
    const mo = new Float64Array(n * C * 16),
      di = new Float64Array(n * 16);
    for (let mu = 0; mu < n; mu++) {
      di.set(moments.diagonal(S[mu * n + mu], tab), mu * 16);
      for (let nu = 0; nu < C; nu++)
        mo.set(
          mu === nu ? moments.diagonal(S[mu * n + mu], tab) : moments.pair(S[mu * n + mu], S[nu * n + nu], S[mu * n + nu], tab),
          (mu * C + nu) * 16,
        );
    }
    mom.push(mo);
    diag.push(di);
  }
  const at = (l: number, mu: number, a: number, i: number, j: number) => mom[l][(mu * C + a) * 16 + 4 * i + j];
  const M: Float64Array[] = new Array(L + 2),
    N: Float64Array[] = new Array(L + 2),
    B: Float64Array[] = new Array(L + 2);
  for (let l = 1; l <= L; l++) {
    const x = new Float64Array(n * P);
    for (let mu = 0; mu < n; mu++)
      for (let a = 0; a < P; a++)
        x[mu * P + a] = l === 1 ? k0.Kx.data[mu * n + a] : M[l - 1][mu * P + a] * at(l - 1, mu, a, 1, 1) + k0.Phi[l - 1].data[mu * n + a];
    M[l] = x;
  }
  for (let l = L; l >= 1; l--) {
    const x = new Float64Array(n * P),
      b = new Float64Array(n * P);
    if (l === L) x.fill(1);
    else {
      const g1 = G0(l + 1).data,
        g2 = G0(l + 2).data;
      for (let mu = 0; mu < n; mu++)
        for (let a = 0; a < P; a++) {
          const q = mu * P + a,
            qn = mu * n + a;
          x[q] = g1[qn] + M[l + 1][q] * at(l + 1, mu, a, 2, 2) * g2[qn] + N[l + 1][q] * at(l + 1, mu, a, 1, 1);
          b[q] =
            M[l + 1][q] * at(l + 1, mu, a, 3, 1) * g2[qn] +
            N[l + 1][q] * at(l + 1, mu, a, 2, 0) +
            B[l + 1][q] * (diag[l + 1][mu * 16 + 8] + diag[l + 1][mu * 16 + 5]);
        }
    }
    N[l] = x;
    B[l] = b;
  }
  const layers: LayerCoefficients[] = [];
  for (let l = 1; l <= L; l++)
    layers.push({ M: M[l], N: N[l], B: B[l], mom: mom[l], diag: diag[l], Fu: factor(k0.Phi[l - 1]), Fr: factor(G0(l + 1)) });
  return { layers, G0 };
}

/** Sample means of one layer's direct O(gamma0^2) terms per grid time: Phi and G (n x C) and their diagonals (n). */
interface DirectTerms {
  Phi: Float64Array[];
  PhiDiag: Float64Array[];
  G: Float64Array[];
  GDiag: Float64Array[];
}

/**
 * The direct terms of layer l (docs/perturbation-theory.md, eqs. (D)): for each Gaussian draw of the sources
 * (u, r) the fields' first and second orders h1, z1, h2, z2 at every grid time, then
 *   Phi_2 <- F0 F2 + F1 F1 + F2 F0,  F = phi(h) = F0 + gamma0 F1 + gamma0^2 F2,
 *   G_2   <- g0 g2 + g1 g1 + g2 g0,  g = phi'(h) z likewise.
 */
function directTerms(
  co: LayerCoefficients,
  f: ((x: number) => number)[],
  P: number,
  C: number,
  m: Float64Array[],
  Q: Float64Array[],
  samples: number,
  draws: Float64Array,
): DirectTerms {
  const { M, N, B, Fu, Fr } = co;
  const n = Fu.rows,
    ru = Fu.cols,
    rr = Fr.cols,
    dim = ru + rr,
    T = m.length;
  const out: DirectTerms = {
    Phi: m.map(() => new Float64Array(n * C)),
    PhiDiag: m.map(() => new Float64Array(n)),
    G: m.map(() => new Float64Array(n * C)),
    GDiag: m.map(() => new Float64Array(n)),
  };
  // beta(t) = B m(t): the equal-time response's strength, deterministic
  const beta = m.map((mk) => {
    const b = new Float64Array(n);
    for (let mu = 0; mu < n; mu++) {
      let s = 0;
      for (let a = 0; a < P; a++) s += B[mu * P + a] * mk[a];
      b[mu] = s;
    }
    return b;
  });
  const u = new Float64Array(n),
    r = new Float64Array(n),
    p0 = new Float64Array(n),
    p1 = new Float64Array(n),
    p2 = new Float64Array(n),
    p3 = new Float64Array(n);
  const J = new Float64Array(P * P),
    Jz = new Float64Array(P * P);
  const w = new Float64Array(P),
    pm = new Float64Array(P),
    v = new Float64Array(P),
    vz = new Float64Array(P);
  const F1 = new Float64Array(n),
    F2 = new Float64Array(n),
    g0 = new Float64Array(n),
    g1 = new Float64Array(n),
    g2 = new Float64Array(n);
  for (let s = 0; s < samples; s++) {
    const o = s * dim;
    for (let i = 0; i < n; i++) {
      let x = 0,
        y = 0;
      for (let k = 0; k < ru; k++) x += Fu.data[i * ru + k] * draws[o + k];
      for (let k = 0; k < rr; k++) y += Fr.data[i * rr + k] * draws[o + ru + k];
      u[i] = x;
      r[i] = y;
      p0[i] = f[0](x);
      p1[i] = f[1](x);
      p2[i] = f[2](x);
      p3[i] = f[3](x);
      g0[i] = p1[i] * y;
    }
    // g1_a(s) = sum_b J_ab m_b(s); the Q-part of z2 through Jz
    for (let a = 0; a < P; a++)
      for (let b = 0; b < P; b++) {
        const q = a * P + b;
        J[q] = p2[a] * r[a] * M[q] * p1[b] * r[b] + p1[a] * (B[q] * p0[a] + N[q] * p0[b]);
        Jz[q] = p1[a] * M[q] * p1[b] * r[b];
      }
    for (let k = 0; k < T; k++) {
      const mk = m[k],
        Qk = Q[k],
        bk = beta[k];
      for (let a = 0; a < P; a++) {
        w[a] = p1[a] * r[a] * mk[a];
        pm[a] = p0[a] * mk[a];
        let x = 0,
          y = 0;
        for (let b = 0; b < P; b++) {
          x += J[a * P + b] * Qk[a * P + b];
          y += Jz[a * P + b] * Qk[a * P + b];
        }
        v[a] = x;
        vz[a] = y;
      }
      for (let mu = 0; mu < n; mu++) {
        let h1 = 0,
          h2 = 0,
          n1 = 0,
          n2 = 0;
        const row = mu * P;
        for (let a = 0; a < P; a++) {
          const Ma = M[row + a],
            Na = N[row + a];
          h1 += Ma * w[a];
          h2 += Ma * v[a];
          n1 += Na * pm[a];
          n2 += Na * vz[a];
        }
        const z1 = bk[mu] * p0[mu] + n1;
        const z2 = n2 + bk[mu] * p1[mu] * h1;
        F1[mu] = p1[mu] * h1;
        F2[mu] = p1[mu] * h2 + 0.5 * p2[mu] * h1 * h1;
        g1[mu] = p2[mu] * h1 * r[mu] + p1[mu] * z1;
        g2[mu] = (p2[mu] * h2 + 0.5 * p3[mu] * h1 * h1) * r[mu] + p2[mu] * h1 * z1 + p1[mu] * z2;
      }
      const Ph = out.Phi[k],
        Gk = out.G[k],
        Pd = out.PhiDiag[k],
        Gd = out.GDiag[k];
      for (let mu = 0; mu < n; mu++) {
        const a0 = p0[mu],
          a1 = F1[mu],
          a2 = F2[mu],
          c0 = g0[mu],
          c1 = g1[mu],
          c2 = g2[mu];
        const row = mu * C;
        for (let nu = 0; nu < C; nu++) {
          Ph[row + nu] += a0 * F2[nu] + a1 * F1[nu] + a2 * p0[nu];
          Gk[row + nu] += c0 * g2[nu] + c1 * g1[nu] + c2 * g0[nu];
        }
        Pd[mu] += 2 * a0 * a2 + a1 * a1;
        Gd[mu] += 2 * c0 * c2 + c1 * c1;
      }
    }
  }
  for (const arr of [out.Phi, out.PhiDiag, out.G, out.GDiag]) for (const x of arr) for (let i = 0; i < x.length; i++) x[i] /= samples;
  return out;
}

/**
 * The layers' direct terms combined (docs/perturbation-theory.md, eqs. (P)): Phi_2^l = Price_Phi[Phi_2^{l-1}] + D_Phi^l
 * upwards, G_2^l = Price_G[Phi_2^{l-1}] + Gdot^l G_2^{l+1} + D_G^l downwards, K_2 = sum_l G_2^{l+1} Phi_0^l + G_0^{l+1} Phi_2^l.
 */
function combine(
  direct: DirectTerms[],
  co: LayerCoefficients[],
  k0: InitialKernels,
  G0: (l: number) => Dense,
  k: number,
  C: number,
  withLayers: boolean,
): SecondOrder {
  const L = co.length,
    n = k0.Kx.rows;
  const Phi: Float64Array[] = [new Float64Array(n * C)],
    PhiD: Float64Array[] = [new Float64Array(n)];
  for (let l = 1; l <= L; l++) {
    const { mom, diag } = co[l - 1];
    const X = Phi[l - 1],
      Xd = PhiD[l - 1];
    const D = direct[l - 1];
    const p = Float64Array.from(D.Phi[k]),
      pd = Float64Array.from(D.PhiDiag[k]);
    for (let mu = 0; mu < n; mu++) {
      for (let nu = 0; nu < C; nu++) {
        const t = (mu * C + nu) * 16;
        p[mu * C + nu] += 0.5 * Xd[mu] * mom[t + 8] + 0.5 * Xd[nu] * mom[t + 2] + X[mu * C + nu] * mom[t + 5];
      }
      pd[mu] += Xd[mu] * (diag[mu * 16 + 8] + diag[mu * 16 + 5]);
    }
    Phi.push(p);
    PhiD.push(pd);
  }
  const G: Float64Array[] = new Array(L + 2),
    GD: Float64Array[] = new Array(L + 2);
  G[L + 1] = new Float64Array(n * C);
  GD[L + 1] = new Float64Array(n);
  for (let l = L; l >= 1; l--) {
    const { mom, diag } = co[l - 1];
    const X = Phi[l - 1],
      Xd = PhiD[l - 1];
    const Gam = G0(l + 1).data;
    const D = direct[l - 1];
    const g = Float64Array.from(D.G[k]),
      gd = Float64Array.from(D.GDiag[k]);
    for (let mu = 0; mu < n; mu++) {
      for (let nu = 0; nu < C; nu++) {
        const t = (mu * C + nu) * 16,
          q = mu * C + nu;
        g[q] += Gam[mu * n + nu] * (0.5 * Xd[mu] * mom[t + 13] + 0.5 * Xd[nu] * mom[t + 7] + X[q] * mom[t + 10]) + mom[t + 5] * G[l + 1][q];
      }
      gd[mu] += Gam[mu * n + mu] * Xd[mu] * (diag[mu * 16 + 13] + diag[mu * 16 + 10]) + diag[mu * 16 + 5] * GD[l + 1][mu];
    }
    G[l] = g;
    GD[l] = gd;
  }
  const ntk = new Float64Array(n * C);
  for (let l = 0; l <= L; l++) {
    const ph0 = k0.Phi[l].data,
      g0 = G0(l + 1).data;
    for (let mu = 0; mu < n; mu++)
      for (let nu = 0; nu < C; nu++) ntk[mu * C + nu] += G[l + 1][mu * C + nu] * ph0[mu * n + nu] + g0[mu * n + nu] * Phi[l][mu * C + nu];
  }
  return withLayers ? { ntk, Phi: Phi.slice(1), G: G.slice(1, L + 1) } : { ntk, Phi: [], G: [] };
}

/**
 * K_2 and (withLayers) Phi_2^l, G_2^l at the grid times `t` by the sampled direct terms: the replica mean
 * (`sums`, columns over the first C points) and each replica's K_2 on the training columns (`perReplica`).
 * Exported for the tests (it runs for linear activations too, against the closed form).
 */
export function sampledSecondOrder(
  k0: InitialKernels,
  act: Config['model']['activation'],
  quadrature: number | undefined,
  lazy: LazySignal,
  t: Float64Array,
  C: number,
  withLayers: boolean,
  per: number,
  replicas: number,
  seed: number,
  onProgress?: (done: number, total: number) => void,
): { sums: SecondOrder[]; perReplica: Float64Array[][] } {
  const n = k0.Kx.rows,
    P = lazy.P,
    L = k0.Phi.length - 1;
  const grid = { t };
  const { m, Q } = timeFunctions(lazy, grid.t);
  const { layers, G0 } = layerCoefficients(k0, L, P, C, act, quadrature);
  const f = derivatives(act);
  const sums: SecondOrder[] = grid.t.length ? Array.from(grid.t, () => ({ ntk: new Float64Array(n * C), Phi: [], G: [] })) : [];
  const perReplica: Float64Array[][] = [];
  const total = replicas * L;
  let done = 0;
  for (let rep = 0; rep < replicas; rep++) {
    const direct = layers.map((co, i) => {
      const draws = haltonNormals(per, co.Fu.cols + co.Fr.cols, stream(seed, 'perturbative', i + 1, rep));
      const d = directTerms(co, f, P, C, m, Q, per, draws);
      onProgress?.(++done, total);
      return d;
    });
    const values: Float64Array[] = [];
    for (let k = 0; k < grid.t.length; k++) {
      const so = combine(direct, layers, k0, G0, k, C, withLayers);
      const s = sums[k];
      for (let x = 0; x < s.ntk.length; x++) s.ntk[x] += so.ntk[x] / replicas;
      if (withLayers) {
        if (!s.Phi.length) {
          s.Phi = so.Phi.map((a) => new Float64Array(a.length));
          s.G = so.G.map((a) => new Float64Array(a.length));
        }
        so.Phi.forEach((a, l) => a.forEach((v, x) => (s.Phi[l][x] += v / replicas)));
        so.G.forEach((a, l) => a.forEach((v, x) => (s.G[l][x] += v / replicas)));
      }
      values.push(trainColumns(so.ntk, n, C, P));
    }
    perReplica.push(values);
  }
  return { sums, perReplica };
}

/** K_2(t) rows against the training columns (n x P) at any t: cubic Lagrange through the 4 nearest grid values. */
function interpolator(t: Float64Array, values: Float64Array[]) {
  const K = t.length;
  const out = new Float64Array(values[0].length);
  return (s: number): Float64Array => {
    if (K === 1) return values[0];
    let i = 0;
    while (i < K - 2 && t[i + 1] < s) i++;
    const lo = Math.max(0, Math.min(i - 1, K - 4)),
      hi = Math.min(K, lo + 4);
    out.fill(0);
    for (let p = lo; p < hi; p++) {
      let c = 1;
      for (let q = lo; q < hi; q++) if (q !== p) c *= (s - t[q]) / (t[p] - t[q]);
      const v = values[p];
      for (let x = 0; x < out.length; x++) out[x] += c * v[x];
    }
    return out;
  };
}

interface Curves {
  train: number[][];
  test?: number[][];
  trainLoss: number[];
  testLoss?: number[];
  coefTrain: number[];
  coefTest?: number[];
  evaluations: number;
}

/**
 * The flow with K(t) = K0 + gamma0^2 K2(t) (train columns, rows over all points): 'kernel' integrates
 * dDelta/dt = -(1/P) K Delta, df_test/dt = (1/P) K_test Delta; always also Delta_2 (the consistent expansion).
 */
function flow(
  K0: Dense,
  k2: (t: number) => Float64Array,
  lazy: LazySignal,
  y: readonly number[],
  ytest: readonly number[] | undefined,
  gamma0: number,
  times: readonly number[],
  expansion: 'kernel' | 'linear',
  tol: number,
  maxStep: number,
  lazyTest: number[][] | undefined,
): Curves {
  const n = K0.rows,
    P = y.length,
    Pt = n - P;
  const g2 = gamma0 * gamma0;
  const kernel = expansion === 'kernel';
  // state: [Delta (P), f_test (Pt)] (kernel only), then [Delta_2 (P), f_test,2 (Pt)]
  const off = kernel ? n : 0;
  const state = new Float64Array(off + n);
  if (kernel) for (let a = 0; a < P; a++) state[a] = y[a];
  const d0 = new Float64Array(P);
  let evaluations = 0;
  let current = 0;
  const rhs = (s: Float64Array, ds: Float64Array) => {
    evaluations++;
    const K2 = k2(current);
    lazy.delta(current, d0);
    for (let mu = 0; mu < n; mu++) {
      let a1 = 0,
        a2 = 0;
      for (let b = 0; b < P; b++) {
        const k0 = K0.data[mu * n + b],
          k2v = K2[mu * P + b];
        if (kernel) a1 += (k0 + g2 * k2v) * s[b];
        a2 += k0 * s[off + b] + k2v * d0[b];
      }
      const sign = mu < P ? -1 : 1;
      if (kernel) ds[mu] = (sign * a1) / P;
      ds[off + mu] = (sign * a2) / P;
    }
  };
  // dormandPrince passes no time: integrate t as one more component
  const y0 = new Float64Array(state.length + 1);
  y0.set(state);
  const T = state.length;
  const out: Curves = { train: [], trainLoss: [], coefTrain: [], evaluations: 0 };
  if (ytest) {
    out.test = [];
    out.testLoss = [];
    out.coefTest = [];
  }
  const dd = new Float64Array(T);
  dormandPrince(
    y0,
    (s, ds) => {
      current = s[T];
      rhs(s, dd);
      ds.set(dd);
      ds[T] = 1;
    },
    times,
    tol,
    maxStep,
    (i, s) => {
      const t = times[i];
      lazy.delta(t, d0);
      const delta = kernel ? Array.from(s.subarray(0, P)) : Array.from(d0, (v, a) => v + g2 * s[off + a]);
      const f = delta.map((v, a) => y[a] - v);
      out.train.push(f);
      out.trainLoss.push(halfMeanSquare(delta));
      let c = 0;
      for (let a = 0; a < P; a++) c += d0[a] * s[off + a];
      out.coefTrain.push(c / P);
      if (ytest) {
        const f0 = lazyTest![i];
        const ft = kernel ? Array.from(s.subarray(P, n)) : f0.map((v, j) => v + g2 * s[off + P + j]);
        out.test!.push(ft);
        out.testLoss!.push(halfMeanSquare(ytest.map((v, j) => v - ft[j])));
        let ct = 0;
        for (let j = 0; j < Pt; j++) ct -= (ytest[j] - f0[j]) * s[off + P + j];
        out.coefTest!.push(ct / Pt);
      }
    },
    'the perturbative flow',
  );
  out.evaluations = evaluations;
  return out;
}

/** Grid steps per unit of P / lambda_max(K(0)) for the K_2 evaluation grid (nonlinear), unless solver.dt. */
const GRID_PER_RATE = 4;
const GRID_MIN_POINTS = 40;

export function solvePerturbative(
  cfg: Config,
  o: PerturbativeOptions,
  schedule: Schedule,
  onProgress?: (done: number, total: number) => void,
): Result {
  const started = performance.now();
  if (schedule.kind !== 'flow') throw new Error('perturbative: gradient flow only');
  const { data, model, output, solver } = cfg;
  const L = model.depth,
    act = model.activation;
  const gamma0 = model.parameterization === 'ntk' ? 0 : model.gamma0;
  const X = allInputs(cfg);
  const n = X.length,
    P = data.X.length;
  const k0 = initialKernels(X, L, act, solver.quadrature);
  const K0 = k0.ntk;
  const lazy = new LazySignal(K0, P, data.y);
  const times = schedule.t;
  const Tend = times[times.length - 1];
  const lazyRes = lazyCurves(K0, P, data.y, data.ytest, schedule);
  const withLayers = output.kernels;
  const C = withLayers ? n : P;
  const linear = act === 'linear';
  // the grid on which K_2 is evaluated (recorded times are grid points)
  const dt = o.dt ?? (Math.min(Tend / GRID_MIN_POINTS, P / (GRID_PER_RATE * Math.max(lazy.lamMax, 1e-300))) || 1);
  const grid = timeGrid(times, dt);
  const maxStep = Math.max(maxGridStep(grid.t), Tend / 1e6) || 1;

  /** second orders at the recorded times (for outputs) and the per-replica K_2 grid values (train columns) */
  let atRecord: SecondOrder[];
  let k2s: ((t: number) => Float64Array)[];
  let expectations: PerturbativeMeta['expectations'];
  let samplesUsed: number | undefined, replicas: number | undefined;
  if (linear) {
    expectations = 'closed-form';
    const Kx = k0.Kx;
    const cache = new Float64Array(P);
    k2s = [(t) => linearSecondOrder(Kx, P, L, lazy.m(t, cache), P, false).ntk];
    atRecord = times.map((t) => linearSecondOrder(Kx, P, L, lazy.m(t), C, withLayers));
  } else {
    expectations = 'quasi-monte-carlo';
    replicas = o.replicas;
    const per = Math.ceil(o.samples / replicas);
    samplesUsed = per * replicas;
    const { sums, perReplica } = sampledSecondOrder(
      k0,
      act,
      solver.quadrature,
      lazy,
      grid.t,
      C,
      withLayers,
      per,
      replicas,
      solver.seed,
      onProgress,
    );
    const pooled = sums.map((s) => trainColumns(s.ntk, n, C, P));
    k2s = [interpolator(grid.t, pooled), ...perReplica.map((v) => interpolator(grid.t, v))];
    atRecord = grid.index.map((k) => sums[k]);
  }

  const run = (k2: (t: number) => Float64Array) =>
    flow(K0, k2, lazy, data.y, data.ytest, gamma0, times, o.expansion, o.tol, maxStep, lazyRes.test);
  const main = run(k2s[0]);
  const reps = k2s.slice(1).map(run);
  const sem = (pick: (c: Curves) => number[] | undefined) => (reps.length ? pointwiseSem(reps.map((c) => pick(c)!)) : undefined);
  const trainLossSem = sem((c) => c.trainLoss);
  const testLossSem = data.ytest ? sem((c) => c.testLoss) : undefined;
  const coefTrainSem = sem((c) => c.coefTrain);
  const coefTestSem = data.ytest ? sem((c) => c.coefTest) : undefined;
  const errorEstimate =
    trainLossSem !== undefined
      ? Math.max(relativeLossError(trainLossSem, main.trainLoss), testLossSem ? relativeLossError(testLossSem, main.testLoss!) : 0)
      : undefined;

  const g2 = gamma0 * gamma0;
  const full = (base: Dense, second: Float64Array): Dense => {
    const out = dense(n, C);
    for (let mu = 0; mu < n; mu++) for (let nu = 0; nu < C; nu++) out.data[mu * C + nu] = base.data[mu * n + nu] + g2 * second[mu * C + nu];
    return out;
  };
  const ntkAt = atRecord.map((s) => full(K0, s.ntk));
  const result: Result = {
    t: [...times],
    trainLoss: main.trainLoss,
    ...(main.testLoss ? { testLoss: main.testLoss } : {}),
    ...(trainLossSem ? { trainLossSem } : {}),
    ...(testLossSem ? { testLossSem } : {}),
    ntkFinal: trainBlock(ntkAt[ntkAt.length - 1], P),
    meta: makeMeta<PerturbativeMeta>('perturbative', started, {
      expansion: o.expansion,
      expectations,
      ...(samplesUsed !== undefined ? { samples: samplesUsed, replicas, seed: solver.seed } : {}),
      grid: linear ? { points: 0, maxStep: 0 } : { points: grid.t.length, maxStep: maxGridStep(grid.t) },
      ode: { integrator: 'dormand-prince (adaptive)', tol: o.tol, evaluations: main.evaluations },
      lossCoefficient: { train: main.coefTrain, ...(main.coefTest ? { test: main.coefTest } : {}) },
      ...(coefTrainSem ? { lossCoefficientSem: { train: coefTrainSem, ...(coefTestSem ? { test: coefTestSem } : {}) } } : {}),
      ...(errorEstimate !== undefined ? { errorEstimate } : {}),
    }),
  };
  if (output.predictions) result.predictions = { train: main.train, ...(main.test ? { test: main.test } : {}) };
  if (output.kernels) {
    result.kernels = {
      Phi: Array.from({ length: L }, (_, l) => atRecord.map((s) => toRows(full(k0.Phi[l + 1], s.Phi[l])))),
      G: Array.from({ length: L }, (_, l) => atRecord.map((s) => toRows(full(k0.G[l + 1], s.G[l])))),
      ntk: ntkAt.map(toRows),
    };
  }
  if (output.alignment) result.alignment = ntkAt.map((K) => alignment(K, data.y));
  return result;
}

/** The first P columns of an n x C array, as n x P. */
function trainColumns(x: Float64Array, n: number, C: number, P: number): Float64Array {
  if (C === P) return x;
  const out = new Float64Array(n * P);
  for (let mu = 0; mu < n; mu++) out.set(x.subarray(mu * C, mu * C + P), mu * P);
  return out;
}
