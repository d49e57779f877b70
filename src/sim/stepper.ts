import { addLowRank, type LowRank } from './matrix.js';
import { paramViews, type Network, type Params } from './network.js';

/**
 * Explicit Runge-Kutta steps whose stage s evaluates the velocity at theta + h a_s k_{s-1}:
 * classical RK4 (a = 0, 1/2, 1/2, 1; b = 1/6, 1/3, 1/3, 1/6) for gradient flow, and the one-stage
 * Euler step (a = 0, b = 1), which is gradient descent theta <- theta + lr d theta/dt (THEORY.md section 1).
 *
 * The hidden matrices W^l are never given a dense increment: k_s of W^l is the rank-P sum
 * sum_mu U_mu V_mu^T (network.ts), so stage s sees W^l + h a_s U_{s-1} V_{s-1}^T through the network's
 * corrections, and the step applies h sum_s b_s k_s, a rank-(stages x P) update, in one pass over W^l.
 */
export interface Tableau {
  a: readonly number[];
  b: readonly number[];
}

export const RK4: Tableau = { a: [0, 0.5, 0.5, 1], b: [1 / 6, 1 / 3, 1 / 3, 1 / 6] };
export const EULER: Tableau = { a: [0], b: [1] };

export class LowRankStepper {
  private readonly p: Params;
  private readonly stage: Params;
  private readonly kW0: Float64Array[];
  private readonly kw: Float64Array[];
  /** per W^l: U, V of every stage, (stages x P) x N, stage s in rows s P .. (s+1) P - 1 */
  private readonly U: Float64Array[];
  private readonly V: Float64Array[];
  /** the corrections stage s > 0 hands the network, views of stage s - 1's factors */
  private readonly pending: LowRank[][];

  constructor(
    private readonly net: Network,
    theta: Float64Array,
    private readonly tableau: Tableau,
  ) {
    const { D, N } = net.shape,
      S = tableau.a.length,
      P = net.P;
    this.p = paramViews(theta, net.shape);
    this.stage = { W0: new Float64Array(N * D), W: this.p.W, w: new Float64Array(N) };
    this.kW0 = Array.from({ length: S }, () => new Float64Array(N * D));
    this.kw = Array.from({ length: S }, () => new Float64Array(N));
    this.U = this.p.W.map(() => net.alloc(S * P * N));
    this.V = this.p.W.map(() => net.alloc(S * P * N));
    this.pending = this.p.W.map((_, i) =>
      Array.from({ length: S }, (_, s) => ({
        a: 0,
        U: this.U[i].subarray(s * P * N, (s + 1) * P * N),
        V: this.V[i].subarray(s * P * N, (s + 1) * P * N),
        R: P,
      })),
    );
  }

  /** Stage 1: evaluate at theta itself on points mu < nf (backward on mu < nb); the caller may record. */
  firstStage(nf: number, nb: number): void {
    this.net.corrections.fill(undefined);
    this.net.evaluate(this.p, nf, nb);
    this.collect(0);
  }

  /** The remaining stages and the update theta <- theta + h sum_s b_s k_s. */
  finish(h: number): void {
    const { net, p, stage, tableau } = this;
    const S = tableau.a.length,
      P = net.P,
      N = net.shape.N;
    for (let s = 1; s < S; s++) {
      const a = h * tableau.a[s];
      axpyInto(stage.W0, p.W0, a, this.kW0[s - 1]);
      axpyInto(stage.w, p.w, a, this.kw[s - 1]);
      this.pending.forEach((c, i) => {
        c[s - 1].a = a;
        net.corrections[i] = c[s - 1];
      });
      net.evaluate(stage, P, P);
      this.collect(s);
    }
    net.corrections.fill(undefined);
    for (let s = 0; s < S; s++) {
      const b = h * tableau.b[s];
      axpyInto(p.W0, p.W0, b, this.kW0[s]);
      axpyInto(p.w, p.w, b, this.kw[s]);
      for (const U of this.U) scale(U.subarray(s * P * N, (s + 1) * P * N), b);
    }
    p.W.forEach((W, i) => addLowRank(W, N, N, this.U[i], this.V[i], S * P));
  }

  /** k_s of the small parameters, and the factors of k_s of each W^l. */
  private collect(s: number): void {
    const { net } = this;
    const P = net.P,
      N = net.shape.N;
    net.smallVelocity(this.kW0[s], this.kw[s]);
    this.p.W.forEach((_, i) => {
      net.weightFactors(i + 1, this.pending[i][s].U);
      this.pending[i][s].V.set(net.phi[i].subarray(0, P * N));
    });
  }
}

/** out = x + a y (out may be x). */
function axpyInto(out: Float64Array, x: Float64Array, a: number, y: Float64Array): void {
  for (let k = 0; k < out.length; k++) out[k] = x[k] + a * y[k];
}

function scale(x: Float64Array, a: number): void {
  for (let k = 0; k < x.length; k++) x[k] *= a;
}
