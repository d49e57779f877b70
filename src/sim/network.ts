import type { Config } from '../core/config.js';
import { InputError } from '../core/errors.js';
import { stream } from '../core/rng.js';
import { activation, type Activation } from '../theory/activations.js';
import { allInputs } from '../core/schedule.js';
import { addLowRank, addTransposedProduct, crossDots, transpose, type LowRank } from './matrix.js';
import { Arena, kernelPath, type KernelPath } from './wasm/arena.js';

/**
 * The finite-width MLP of THEORY.md section 1, over all points (train rows first, then test rows):
 *   h^1 = W^0 x / sqrt(D),  h^{l+1} = W^l phi(h^l) / sqrt(N),  f = w . phi(h^L) / (gamma0 N),
 *   g^L = phi'(h^L) w,  g^l = phi'(h^l) (W^l)^T g^{l+1} / sqrt(N),
 * and the gradient flow velocity d theta/dt = -gamma0^2 N dLoss/d theta:
 *   dW^0/dt = gamma0/(P sqrt(D)) sum_mu Delta_mu g^1_mu x_mu^T
 *   dW^l/dt = gamma0/(P sqrt(N)) sum_mu Delta_mu g^{l+1}_mu phi(h^l_mu)^T
 *   dw/dt   = gamma0/P sum_mu Delta_mu phi(h^L_mu)
 * with Delta = y - (f - f(0)) on the training points (centered output).
 */

export interface Shape {
  D: number;
  N: number;
  L: number;
}

/** Views of the weights inside one flat vector theta = [W^0 | W^1 | .. | W^{L-1} | w]. */
export interface Params {
  /** N x D */
  W0: Float64Array;
  /** W[l - 1] = W^l, N x N, l = 1..L-1 */
  W: Float64Array[];
  /** readout, N */
  w: Float64Array;
}

export function paramCount({ D, N, L }: Shape): number {
  return N * D + (L - 1) * N * N + N;
}

export function paramViews(theta: Float64Array, { D, N, L }: Shape): Params {
  const W: Float64Array[] = [];
  let o = N * D;
  for (let l = 1; l < L; l++, o += N * N) W.push(theta.subarray(o, o + N * N));
  return { W0: theta.subarray(0, N * D), W, w: theta.subarray(o, o + N) };
}

/**
 * i.i.d. standard normal weights of seed s of base seed b: stream(b, 'sim', s, layer), in a vector from
 * `alloc` (a network's `alloc` puts them in its arena).
 */
export function initialParams(
  shape: Shape,
  base: number,
  s: number,
  alloc: (n: number) => Float64Array = (n) => new Float64Array(n),
): Float64Array {
  const theta = alloc(paramCount(shape));
  const p = paramViews(theta, shape);
  stream(base, 'sim', s, 'W', 0).fillNormal(p.W0);
  p.W.forEach((W, i) => stream(base, 'sim', s, 'W', i + 1).fillNormal(W));
  stream(base, 'sim', s, 'w').fillNormal(p.w);
  return theta;
}

/** gamma0 of the network at width N: model.gamma0, or gamma0_ntk / sqrt(N) in NTK parameterization. */
export function effectiveGamma0(cfg: Config, N: number): number {
  const { gamma0, parameterization } = cfg.model;
  if (!(gamma0 > 0)) throw new InputError('model.gamma0', 'must be > 0 to simulate a network (f = w . phi(h^L) / (gamma0 N))');
  return parameterization === 'ntk' ? gamma0 / Math.sqrt(N) : gamma0;
}

/** phi'(h) given h and phi(h): tanh' = 1 - tanh^2 saves a second tanh per unit; otherwise act.dphi(h). */
function slopeOf(act: Activation): (h: number, phi: number) => number {
  if (act.name === 'tanh') return (_h, p) => 1 - p * p;
  return (h) => act.dphi(h);
}

/**
 * Lengths of a network's big arrays: the buffers of Network (h, phi, g, back; W0T, units, cross, crossB,
 * coef), the parameters (initialParams) and the low-rank factors U, V of up to 4 stages per hidden matrix
 * (stepper.ts). With the SIMD kernels they share one arena.
 */
function arenaLengths({ D, N, L }: Shape, n: number, P: number): number[] {
  const { nUnits, nCross, nCoef } = scratchLengths({ D, N, L }, n, P);
  return [
    ...new Array<number>(3 * L + 1).fill(n * N),
    D * N,
    nUnits,
    nCross,
    nCross,
    nCoef,
    paramCount({ D, N, L }),
    ...new Array<number>(2 * (L - 1)).fill(4 * P * N),
  ];
}

/** Lengths of the scratch arrays units, cross (and crossB), coef of Network. */
const scratchLengths = ({ D, N }: Shape, n: number, P: number) => ({
  nUnits: (N + 1) * n,
  nCross: (P + 1) * n,
  nCoef: (Math.max(P, D) + 1) * Math.max(n, D),
});

/** The largest WebAssembly memory (65536 pages of 64 KiB): a SIMD network's arena must fit in it. */
export const MAX_ARENA_BYTES = 2 ** 32;

/**
 * Bytes one network of width N of `cfg` allocates: `arena` (its big arrays) and `total`, with what its
 * integrator adds on the heap (Cash-Karp: 8 copies of the parameters and the velocity factor; RK4 and
 * gradient descent: the stages of W^0 and w, stepper.ts).
 */
export function networkBytes(cfg: Config, N: number, integrator: 'ck' | 'rk4' | 'gd'): { arena: number; total: number } {
  const n = cfg.data.X.length + (cfg.data.Xtest?.length ?? 0),
    P = cfg.data.X.length;
  const shape = { D: cfg.data.X[0].length, N, L: cfg.model.depth };
  const arena = arenaLengths(shape, n, P).reduce((a, len) => a + Math.ceil(len / 2) * 16, 0);
  const heap = integrator === 'ck' ? 8 * (8 * paramCount(shape) + P * N) : 8 * 6 * (N * shape.D + N);
  return { arena, total: arena + heap };
}

export class Network {
  readonly shape: Shape;
  readonly act: Activation;
  private readonly slope: (h: number, phi: number) => number;
  readonly gamma0: number;
  /** training points P and all points n = P + Ptest */
  readonly P: number;
  readonly n: number;
  /** inputs, n x D */
  readonly X: Float64Array;
  readonly y: Float64Array;
  /** h[l - 1] = h^l, phi[l - 1] = phi(h^l), g[l - 1] = g^l; each n x N, point-major (row mu = point mu). */
  readonly h: Float64Array[];
  readonly phi: Float64Array[];
  readonly g: Float64Array[];
  /** raw outputs f (not centered) of the last evaluation, and f(0) */
  readonly f: Float64Array;
  readonly f0: Float64Array;
  /** Delta = y - (f - f0) on training points */
  readonly delta: Float64Array;
  /** Pending increments of W^l (index l - 1) seen by `evaluate`: W^l + a U V^T (RK stages). */
  readonly corrections: (LowRank | undefined)[];
  private readonly back: Float64Array;
  /** scratch D x N: W^0 transposed, or the velocity of W^0 transposed */
  private readonly W0T: Float64Array;
  /** scratch (N + 1) x n, unit-major: W^l x_mu, or g^{l+1} as coefficients of the rows of W^l */
  private readonly units: Float64Array;
  /** coefficients of addTransposedProduct (room for a row of zeros each) */
  private readonly cross: Float64Array;
  private readonly crossB: Float64Array;
  private readonly coef: Float64Array;
  /** which kernels run: simd when the weights and buffers are in the arena */
  readonly kernels: KernelPath;
  private readonly arena?: Arena;

  /** `kernels`: default from kernelPath() (DMFT_SIM_KERNELS, else simd where supported). */
  constructor(cfg: Config, N: number, kernels?: KernelPath) {
    const { data, model } = cfg;
    const X = allInputs(cfg);
    const D = X[0].length,
      L = model.depth;
    this.shape = { D, N, L };
    this.act = activation(model.activation);
    this.slope = slopeOf(this.act);
    this.gamma0 = effectiveGamma0(cfg, N);
    this.P = data.X.length;
    this.n = X.length;
    this.X = Float64Array.from(X.flat());
    this.y = Float64Array.from(data.y);
    this.kernels = kernelPath(kernels);
    const n = this.n,
      P = this.P;
    const { nUnits, nCross, nCoef } = scratchLengths(this.shape, n, P);
    if (this.kernels === 'simd') this.arena = new Arena(arenaLengths(this.shape, n, P));
    const buf = () => this.alloc(n * N);
    this.h = Array.from({ length: L }, buf);
    this.phi = Array.from({ length: L }, buf);
    this.g = Array.from({ length: L }, buf);
    this.back = buf();
    this.f = new Float64Array(n);
    this.f0 = new Float64Array(n);
    this.delta = new Float64Array(P);
    this.corrections = new Array(Math.max(0, L - 1)).fill(undefined);
    this.W0T = this.alloc(D * N);
    this.units = this.alloc(nUnits);
    // rank of a correction: at most the number of training points (one RK stage)
    this.cross = this.alloc(nCross);
    this.crossB = this.alloc(nCross);
    this.coef = this.alloc(nCoef);
  }

  /** n zeros in the network's arena (simd path; throws if it has no room left), else on the JS heap. */
  readonly alloc = (n: number): Float64Array => this.arena?.alloc(n) ?? new Float64Array(n);

  /**
   * Forward pass on points mu < nf and backward fields g^l on mu < nb (nb <= nf, both >= P so that
   * Delta is defined), with W^0 = p.W0, w = p.w and W^l = p.W[l-1] + its pending correction.
   * Each W^l is read twice, by the forward products W^l phi and by the backward ones (W^l)^T g: with the
   * SIMD kernels the two separate passes (one kernel call each) beat one fused pass over row pairs.
   */
  evaluate(p: Params, nf: number, nb: number): void {
    const { D, N, L } = this.shape;
    const act = this.act.phi,
      slope = this.slope;
    const X = this.X,
      h1 = this.h[0],
      p1 = this.phi[0],
      W0T = this.W0T;
    const sD = 1 / Math.sqrt(D),
      sN = 1 / Math.sqrt(N);
    // h^1_mu = sum_d (x_{mu d} / sqrt(D)) W^0_{:, d}: rows of W^0 transposed, coefficients x^T / sqrt(D)
    transpose(p.W0, N, D, W0T);
    const xT = this.coef;
    for (let d = 0; d < D; d++) for (let mu = 0; mu < nf; mu++) xT[d * nf + mu] = X[mu * D + d] * sD;
    h1.fill(0, 0, nf * N);
    addTransposedProduct(W0T, D, xT, nf, N, h1);
    for (let k = 0; k < nf * N; k++) p1[k] = act(h1[k]);
    for (let l = 1; l < L; l++) this.hiddenLayer(l, p, nf);
    const hL = this.h[L - 1],
      pL = this.phi[L - 1],
      gL = this.g[L - 1],
      w = p.w;
    for (let mu = 0; mu < nb; mu++) for (let i = 0; i < N; i++) gL[mu * N + i] = slope(hL[mu * N + i], pL[mu * N + i]) * w[i];
    const sf = 1 / (this.gamma0 * N);
    for (let mu = 0; mu < nf; mu++) {
      let s = 0;
      for (let i = 0; i < N; i++) s += w[i] * pL[mu * N + i];
      this.f[mu] = s * sf;
    }
    for (let mu = 0; mu < this.P; mu++) this.delta[mu] = this.y[mu] - (this.f[mu] - this.f0[mu]);
    for (let l = L - 1; l >= 1; l--) {
      this.backAccumulate(l, p, nb);
      // g^l = phi'(h^l) (W^l)^T g^{l+1} / sqrt(N), the product being in `back`
      const hl = this.h[l - 1],
        pl = this.phi[l - 1],
        gl = this.g[l - 1],
        back = this.back;
      for (let k = 0; k < nb * N; k++) gl[k] = slope(hl[k], pl[k]) * back[k] * sN;
    }
  }

  /** h^{l+1} = (W^l + a U V^T) phi(h^l) / sqrt(N) on mu < nf. */
  private hiddenLayer(l: number, p: Params, nf: number): void {
    const N = this.shape.N,
      sN = 1 / Math.sqrt(N);
    const W = p.W[l - 1],
      x = this.phi[l - 1],
      hO = this.h[l],
      pO = this.phi[l];
    const act = this.act.phi;
    const c = this.corrections[l - 1],
      C = this.cross,
      S = this.units;
    // the correction's part of h^{l+1} first: a sum_r (V_r . x_mu) U_r into hO
    hO.fill(0, 0, nf * N);
    if (c) {
      crossDots(c.V, c.R, x, nf, N, C);
      for (let e = 0; e < c.R * nf; e++) C[e] *= c.a;
      addTransposedProduct(c.U, c.R, C, nf, N, hO);
    }
    // then W^l x_mu, unit-major in S
    crossDots(W, N, x, nf, N, S);
    for (let mu = 0; mu < nf; mu++)
      for (let i = 0; i < N; i++) {
        const k = mu * N + i;
        hO[k] = (S[i * nf + mu] + hO[k]) * sN;
        pO[k] = act(hO[k]);
      }
  }

  /** back = (W^l + a U V^T)^T g^{l+1} on mu < nb. */
  private backAccumulate(l: number, p: Params, nb: number): void {
    const N = this.shape.N,
      W = p.W[l - 1],
      gU = this.g[l],
      back = this.back,
      c = this.corrections[l - 1],
      S = this.units;
    // g^{l+1} unit-major in S: the coefficients of the rows of W^l
    for (let mu = 0; mu < nb; mu++) for (let i = 0; i < N; i++) S[i * nb + mu] = gU[mu * N + i];
    back.fill(0, 0, nb * N);
    addTransposedProduct(W, N, S, nb, N, back);
    if (c) this.correctBack(c, gU, nb);
  }

  /** back_mu += a sum_r (U_r . g_mu) V_r: the correction's part of the transposed product. */
  private correctBack(c: LowRank, g: Float64Array, nb: number): void {
    const N = this.shape.N,
      B = this.crossB;
    crossDots(c.U, c.R, g, nb, N, B);
    for (let e = 0; e < c.R * nb; e++) B[e] *= c.a;
    addTransposedProduct(c.V, c.R, B, nb, N, this.back);
  }

  /** Velocities of W^0 and w from the last evaluation (THEORY.md section 1). */
  smallVelocity(dW0: Float64Array, dw: Float64Array): void {
    const { D, N, L } = this.shape,
      P = this.P,
      X = this.X,
      g1 = this.g[0],
      pL = this.phi[L - 1],
      delta = this.delta;
    const k0 = this.gamma0 / (P * Math.sqrt(D)),
      kw = this.gamma0 / P;
    // column d of dW^0 = sum_mu (k0 Delta_mu x_{mu d}) g^1_mu, built transposed in W0T; dw likewise
    const T = this.W0T,
      c = this.coef;
    for (let mu = 0; mu < P; mu++) for (let d = 0; d < D; d++) c[mu * D + d] = k0 * delta[mu] * X[mu * D + d];
    T.fill(0);
    addTransposedProduct(g1, P, c, D, N, T);
    transpose(T, D, N, dW0);
    for (let mu = 0; mu < P; mu++) c[mu] = kw * delta[mu];
    dw.fill(0);
    addTransposedProduct(pL, P, c, 1, N, dw);
  }

  /**
   * Factors of dW^l/dt = sum_mu U_mu V_mu^T from the last evaluation:
   * U_mu = gamma0/(P sqrt(N)) Delta_mu g^{l+1}_mu into U (P x N); V_mu = phi(h^l_mu) are rows mu < P of phi[l-1].
   */
  weightFactors(l: number, U: Float64Array): void {
    const N = this.shape.N,
      P = this.P,
      gU = this.g[l];
    const k = this.gamma0 / (P * Math.sqrt(N));
    for (let mu = 0; mu < P; mu++) {
      const a = k * this.delta[mu];
      for (let i = 0; i < N; i++) U[mu * N + i] = a * gU[mu * N + i];
    }
  }

  /** The full gradient flow velocity at p into v (dense; for integrators that need d theta/dt itself). */
  velocity(p: Params, v: Params, U: Float64Array): void {
    const N = this.shape.N,
      P = this.P;
    this.evaluate(p, P, P);
    this.smallVelocity(v.W0, v.w);
    v.W.forEach((dW, i) => {
      this.weightFactors(i + 1, U);
      dW.fill(0);
      addLowRank(dW, N, N, U, this.phi[i], P);
    });
  }
}
