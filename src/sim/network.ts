import type { Config } from '../core/config.js';
import { InputError } from '../core/errors.js';
import { stream } from '../core/rng.js';
import { activation, type Activation } from '../theory/activations.js';
import { allInputs } from '../theory/lazy.js';
import { addLowRank, combineRows, crossDots, pairAxpy, pairDots, transpose, type LowRank } from './matrix.js';

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

/** i.i.d. standard normal weights of seed s of base seed b: stream(b, 'sim', s, layer). */
export function initialParams(shape: Shape, base: number, s: number): Float64Array {
  const theta = new Float64Array(paramCount(shape));
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
  private readonly dots: Float64Array;
  private readonly dots2: Float64Array;
  private readonly cross: Float64Array;
  private readonly crossB: Float64Array;

  constructor(cfg: Config, N: number) {
    const { data, model } = cfg;
    const X = allInputs(cfg);
    const D = X[0].length, L = model.depth;
    this.shape = { D, N, L };
    this.act = activation(model.activation);
    this.slope = slopeOf(this.act);
    this.gamma0 = effectiveGamma0(cfg, N);
    this.P = data.X.length;
    this.n = X.length;
    this.X = Float64Array.from(X.flat());
    this.y = Float64Array.from(data.y);
    const buf = () => new Float64Array(this.n * N);
    this.h = Array.from({ length: L }, buf);
    this.phi = Array.from({ length: L }, buf);
    this.g = Array.from({ length: L }, buf);
    this.f = new Float64Array(this.n);
    this.f0 = new Float64Array(this.n);
    this.delta = new Float64Array(this.P);
    this.corrections = new Array(Math.max(0, L - 1)).fill(undefined);
    this.back = buf();
    this.W0T = new Float64Array(D * N);
    this.dots = new Float64Array(Math.max(this.n, D));
    this.dots2 = new Float64Array(this.n);
    // rank of a correction: at most the number of training points (one RK stage)
    this.cross = new Float64Array(this.P * this.n);
    this.crossB = new Float64Array(this.P * this.n);
  }

  /**
   * Forward pass on points mu < nf and backward fields g^l on mu < nb (nb <= nf, both >= P so that
   * Delta is defined), with W^0 = p.W0, w = p.w and W^l = p.W[l-1] + its pending correction.
   * The top matrix W^{L-1} is read once: each row's forward dot products give g^L for that unit, which
   * is at once accumulated into (W^{L-1})^T g^L.
   */
  evaluate(p: Params, nf: number, nb: number): void {
    const { D, N, L } = this.shape;
    const act = this.act.phi, slope = this.slope;
    const X = this.X, h1 = this.h[0], p1 = this.phi[0], W0T = this.W0T;
    const sD = 1 / Math.sqrt(D), sN = 1 / Math.sqrt(N);
    // h^1_mu = sum_d x_{mu d} W^0_{:, d} / sqrt(D), over columns of W^0 (long contiguous loops)
    transpose(p.W0, N, D, W0T);
    const x = this.dots;
    for (let mu = 0; mu < nf; mu++) {
      const o = mu * N;
      for (let d = 0; d < D; d++) x[d] = X[mu * D + d] * sD;
      combineRows(W0T, x, D, N, h1, o);
      for (let i = 0; i < N; i++) p1[o + i] = act(h1[o + i]);
    }
    for (let l = 1; l < L; l++) this.hiddenLayer(l, p, nf, l === L - 1 ? nb : 0);
    const hL = this.h[L - 1], pL = this.phi[L - 1], gL = this.g[L - 1], w = p.w;
    if (L === 1)
      for (let mu = 0; mu < nb; mu++) for (let i = 0; i < N; i++) gL[mu * N + i] = slope(hL[mu * N + i], pL[mu * N + i]) * w[i];
    const sf = 1 / (this.gamma0 * N);
    for (let mu = 0; mu < nf; mu++) {
      let s = 0;
      for (let i = 0; i < N; i++) s += w[i] * pL[mu * N + i];
      this.f[mu] = s * sf;
    }
    for (let mu = 0; mu < this.P; mu++) this.delta[mu] = this.y[mu] - (this.f[mu] - this.f0[mu]);
    for (let l = L - 1; l >= 1; l--) {
      if (l < L - 1) this.backAccumulate(l, p, nb);
      // g^l = phi'(h^l) (W^l)^T g^{l+1} / sqrt(N), the product being in `back`
      const hl = this.h[l - 1], pl = this.phi[l - 1], gl = this.g[l - 1], back = this.back;
      for (let k = 0; k < nb * N; k++) gl[k] = slope(hl[k], pl[k]) * back[k] * sN;
    }
  }

  /**
   * h^{l+1} = (W^l + a U V^T) phi(h^l) / sqrt(N) on mu < nf. If nb > 0 (top layer) also g^L = phi'(h^L) w
   * and back = (W^l + a U V^T)^T g^L on mu < nb, in the same pass over W^l.
   */
  private hiddenLayer(l: number, p: Params, nf: number, nb: number): void {
    const N = this.shape.N, sN = 1 / Math.sqrt(N);
    const W = p.W[l - 1], x = this.phi[l - 1], hO = this.h[l], pO = this.phi[l], gO = this.g[l], w = p.w;
    const act = this.act.phi, slope = this.slope;
    const c = this.corrections[l - 1];
    const C = this.cross, s1 = this.dots, s2 = this.dots2, back = this.back;
    if (c) crossDots(c.V, c.R, x, nf, N, C);
    if (nb > 0) back.fill(0, 0, nb * N);
    /** unit i from its dot products s: correction, h, phi, and (top layer) g^L_i into s */
    const unit = (i: number, s: Float64Array) => {
      if (c)
        for (let r = 0; r < c.R; r++) {
          const u = c.a * c.U[r * N + i];
          for (let mu = 0; mu < nf; mu++) s[mu] += u * C[r * nf + mu];
        }
      for (let mu = 0; mu < nf; mu++) {
        const k = mu * N + i;
        hO[k] = s[mu] * sN;
        pO[k] = act(hO[k]);
      }
      for (let mu = 0; mu < nb; mu++) s[mu] = gO[mu * N + i] = slope(hO[mu * N + i], pO[mu * N + i]) * w[i];
    };
    // two units per pass over their rows of W; an odd last row is paired with itself, the copy's
    // backward weights set to zero
    for (let i = 0; i < N; i += 2) {
      const k = Math.min(i + 1, N - 1);
      pairDots(W, i * N, k * N, N, x, nf, s1, s2);
      unit(i, s1);
      if (k === i) s2.fill(0);
      else unit(k, s2);
      if (nb > 0) pairAxpy(W, i * N, k * N, N, s1, s2, nb, back);
    }
    if (nb > 0 && c) this.correctBack(c, this.g[l], nb);
  }

  /** back = (W^l + a U V^T)^T g^{l+1} on mu < nb (layers below the top one). */
  private backAccumulate(l: number, p: Params, nb: number): void {
    const N = this.shape.N, W = p.W[l - 1], gU = this.g[l], back = this.back, c = this.corrections[l - 1];
    const c1 = this.dots, c2 = this.dots2;
    back.fill(0, 0, nb * N);
    for (let i = 0; i < N; i += 2) {
      const k = Math.min(i + 1, N - 1);
      for (let mu = 0; mu < nb; mu++) {
        c1[mu] = gU[mu * N + i];
        c2[mu] = k === i ? 0 : gU[mu * N + k];
      }
      pairAxpy(W, i * N, k * N, N, c1, c2, nb, back);
    }
    if (c) this.correctBack(c, gU, nb);
  }

  /** back_mu += a V (U^T g_mu): the correction's part of the transposed product. */
  private correctBack(c: LowRank, g: Float64Array, nb: number): void {
    const N = this.shape.N, B = this.crossB, back = this.back;
    crossDots(c.U, c.R, g, nb, N, B);
    for (let mu = 0; mu < nb; mu++)
      for (let r = 0; r < c.R; r++) {
        const b = c.a * B[r * nb + mu], v = r * N, o = mu * N;
        for (let j = 0; j < N; j++) back[o + j] += b * c.V[v + j];
      }
  }

  /** Velocities of W^0 and w from the last evaluation (THEORY.md section 1). */
  smallVelocity(dW0: Float64Array, dw: Float64Array): void {
    const { D, N, L } = this.shape, P = this.P, X = this.X, g1 = this.g[0], pL = this.phi[L - 1], delta = this.delta;
    const k0 = this.gamma0 / (P * Math.sqrt(D)), kw = this.gamma0 / P;
    // column d of dW^0 = sum_mu (k0 Delta_mu x_{mu d}) g^1_mu, built transposed in W0T; dw likewise
    const T = this.W0T, c = this.dots;
    for (let d = 0; d < D; d++) {
      for (let mu = 0; mu < P; mu++) c[mu] = k0 * delta[mu] * X[mu * D + d];
      combineRows(g1, c, P, N, T, d * N);
    }
    transpose(T, D, N, dW0);
    for (let mu = 0; mu < P; mu++) c[mu] = kw * delta[mu];
    combineRows(pL, c, P, N, dw);
  }

  /**
   * Factors of dW^l/dt = sum_mu U_mu V_mu^T from the last evaluation:
   * U_mu = gamma0/(P sqrt(N)) Delta_mu g^{l+1}_mu into U (P x N); V_mu = phi(h^l_mu) are rows mu < P of phi[l-1].
   */
  weightFactors(l: number, U: Float64Array): void {
    const N = this.shape.N, P = this.P, gU = this.g[l];
    const k = this.gamma0 / (P * Math.sqrt(N));
    for (let mu = 0; mu < P; mu++) {
      const a = k * this.delta[mu];
      for (let i = 0; i < N; i++) U[mu * N + i] = a * gU[mu * N + i];
    }
  }

  /** The full gradient flow velocity at p into v (dense; for integrators that need d theta/dt itself). */
  velocity(p: Params, v: Params, U: Float64Array): void {
    const N = this.shape.N, P = this.P;
    this.evaluate(p, P, P);
    this.smallVelocity(v.W0, v.w);
    v.W.forEach((dW, i) => {
      this.weightFactors(i + 1, U);
      dW.fill(0);
      addLowRank(dW, N, N, U, this.phi[i], P);
    });
  }
}
