import { ConvergenceError } from '../core/errors.js';
import { BLOWUP, halfMeanSquare } from '../core/result.js';
import { dense, type Dense } from '../core/linalg.js';
import type { InputCoordinates } from './coordinates.js';
import { crankNicolsonDelta, isImplicit, maxGridStep, memoryWeights, trapezoidTest, type TimeRule } from './grid.js';

/**
 * Deep linear DMFT (phi(h) = h, any L; THEORY.md sections 3-4) without sampling.
 *
 * With phi linear, g^l = z^l does not depend on the point, so G^l(t,s), B^l and r^l are point-independent,
 * and in the coordinates of ./coordinates.ts every forward field is h^l_mu(t) = E_mu . zeta^l(t) (plus the
 * constant u_perp of test points outside the training span). With m(s) = E_train^T Delta(s) / P the site
 * equations of layer l become, for zeta^l in R^R and the scalar z^l,
 *   zeta^l(t) = eta^l(t) + gamma0 int_0^t ds C^l(t,s) z^l(s),    C^l = A^{l-1}(t,s) + H^{l-1}(t,s) m(s)
 *   z^l(t)    = r^l(t)   + gamma0 int_0^t ds D^l(t,s) . zeta^l(s), D^l = B^l(t,s) + G^{l+1}(t,s) m(s)
 * (A^0 = B^L = 0, H^0 = I, G^{L+1} = 1), with Gaussian sources eta^1 = xi ~ N(0, I_R) constant,
 * eta^l ~ GP(0, H^{l-1}), r^L ~ N(0, 1) constant, r^l ~ GP(0, G^{l+1}). Here H^l(t,s) = <zeta zeta^T>, so
 * Phi^l = E H^l E^T + Kperp, G^l = <z z>, sum_a A^l_{mu a} = E_mu . (1/gamma0) d zeta^l / d r^l and
 * sum_a B^{l-1}_{mu a} E_a = (1/gamma0) d z^l / d eta^l.
 *
 * The fields are linear in the sources, so each site is solved exactly by propagating its coefficients
 * on the sources, zeta^l(t_k) = Z_k . sources, z^l(t_k) = z_k . sources, forward in time with trapezoid
 * weights w_kj (the diagonal j = k term is solved as a 2x2 system); then
 *   G^l(t_k,t_j) = z_k Sigma z_j^T   (Sigma = blockdiag(Sigma_eta, Sigma_r)),  H^l from the zeta equation
 *   (Layer.covarianceRow, O((R k)^2) per row), A^l = coefficient of r^l in gamma0 int C z,
 *   B^{l-1} = coefficient of eta^l in gamma0 int D . zeta
 * as discrete operators (weights included). Delta follows the NTK flow dDelta/dt = -(1/P) K(t) Delta by
 * Crank-Nicolson, K(t) = sum_{l=0..L} G^{l+1}(t,t) Phi^l(t,t). Everything is causal, so the solution is
 * marched in time: at each t_k the row k of every kernel and Delta(t_k) are found by a short fixed-point
 * iteration (backward fields down the layers, then forward fields up, then Delta) whose contraction
 * factor is O(dt^2) times the size of the kernels; a step too large for it is a ConvergenceError. All
 * quadratures are second order in the step; the cost is O(L R^2 K^3) for K grid times.
 */
export interface DeepLinearProblem {
  coords: InputCoordinates;
  Kx: Dense;
  P: number;
  y: readonly number[];
  L: number;
  gamma0: number;
  /** the grid and its memory weights (grid.ts; requested times are grid points) */
  rule: TimeRule;
}

export interface DeepLinearOptions {
  /** relative change of Delta(t_k) and K(t_k) at which the fixed point at t_k counts as found */
  tol: number;
  maxIterations: number;
  onProgress?: (done: number, total: number) => void;
}

export interface DeepLinearSolution {
  t: number[];
  /** Delta = y - f on training points, f - f(0) on test points, per requested time */
  delta: number[][];
  ftest: number[][];
  /** over all points, per requested time: NTK, Phi^l(t,t) (l = 1..L) and G^l(t,t) (scalars) */
  ntk: Dense[];
  Phi: Dense[][];
  G: number[][];
  gridSize: number;
  /** largest step of the grid */
  maxStep: number;
  /** everything on the grid: times, m(t_j) (K1 x R), and per layer H^l, G^l and the operators A^l, B^{l-1} (see Layer) */
  twoTime: { t: Float64Array; m: Float64Array; layers: { H: Float64Array; G: Float64Array; A: Float64Array; B: Float64Array }[] };
  iterations: number;
  maxStepIterations: number;
  residual: number;
}

export function solveDeepLinear(pb: DeepLinearProblem, opt: DeepLinearOptions): DeepLinearSolution {
  const { coords, P, L, gamma0, y } = pb;
  const { R, E } = coords;
  const n = E.rows,
    Pt = n - P;
  const grid = pb.rule;
  const t = grid.t,
    K1 = t.length;
  const ctx: Context = { R, K1, gamma0, m: new Float64Array(K1 * R), w: new Float64Array(0) };
  const layers = Array.from({ length: L }, (_, i) => new Layer(i + 1, L, ctx));
  const below = (i: number) => (i > 0 ? layers[i - 1] : undefined);
  const above = (i: number) => (i < L - 1 ? layers[i + 1] : undefined);

  const delta = new Float64Array(K1 * P);
  const ftest = new Float64Array(K1 * Pt);
  // NTK rows over all points against the training points, at the previous and current step
  let Kprev = dense(n, P),
    Kcur = dense(n, P);
  const ntkRows = (k: number): Dense => ntkAt(pb, layers, k, P);
  const setM = (k: number) => {
    for (let c = 0; c < R; c++) {
      let s = 0;
      for (let a = 0; a < P; a++) s += E.data[a * R + c] * delta[k * P + a];
      ctx.m[k * R + c] = s / P;
    }
  };

  let iterations = 0,
    maxStepIterations = 0,
    residual = 0;
  let next = 0;
  const twoTime = { t, m: ctx.m, layers: layers.map(({ H, G, A, B }) => ({ H, G, A, B })) };
  const sol: DeepLinearSolution = {
    t: [],
    delta: [],
    ftest: [],
    ntk: [],
    Phi: [],
    G: [],
    gridSize: K1,
    maxStep: maxGridStep(t),
    twoTime,
    iterations: 0,
    maxStepIterations: 0,
    residual: 0,
  };
  const yScale = Math.max(1e-300, ...y.map(Math.abs));
  const lossLimit = BLOWUP * Math.max(halfMeanSquare(y), 1);
  const pass = (k: number) => {
    for (let i = L - 1; i >= 0; i--) layers[i].update(k, below(i), above(i), false);
    for (let i = 0; i < L; i++) layers[i].update(k, below(i), above(i), true);
  };
  /** Gradient flow: the fixed point of row k with Delta(t_k) by Crank-Nicolson along the NTK. */
  const flowStep = (k: number) => {
    predict(delta, k, P, t, y);
    setM(k);
    const history: number[] = [];
    for (let it = 1; ; it++) {
      pass(k);
      const K = ntkRows(k);
      const change = k === 0 ? 0 : crankNicolson(delta, ftest, k, t[k] - t[k - 1], Kprev, K, P);
      const kScale = Math.max(1e-300, ...K.data.map(Math.abs));
      // relative change of Delta(t_k) and of K(t_k) over the last iteration (at least two iterations)
      const r = it === 1 ? Infinity : Math.max(change / yScale, maxDiff(K.data, Kcur.data) / kScale);
      Kcur = K;
      setM(k);
      if (it > 1) history.push(r);
      if (r < opt.tol) {
        iterations += it;
        maxStepIterations = Math.max(maxStepIterations, it);
        residual = Math.max(residual, r);
        return;
      }
      if (it >= opt.maxIterations)
        throw new ConvergenceError(
          `deep-linear: the fixed point at t = ${t[k].toPrecision(4)} did not converge in ${it} iterations (residual ${r.toExponential(2)} > solver.tol ${opt.tol}); raise solver.maxIterations or reduce solver.dt`,
          history,
        );
    }
  };
  /**
   * Gradient descent (THEORY.md section 6): row k needs only steps j < k (memoryWeights is strictly causal), so
   * one pass finds it exactly; then f(k) = (1/gamma0) <z^L(k) h^L(k)> = E . Cov(zeta^L, z^L) / gamma0 off the
   * fields (u_perp of test points is independent of z^L), and Delta(k) = y - f(k). At gamma0 = 0 the fields do not
   * give f, and the lazy rule Delta(k) = Delta(k-1) - (lr/P) K Delta(k-1) is the exact one.
   */
  const gdStep = (k: number) => {
    pass(k);
    Kcur = ntkRows(k);
    if (k > 0 && gamma0 === 0) {
      const h = t[k] - t[k - 1];
      for (let mu = 0; mu < n; mu++) {
        let v = 0;
        for (let b = 0; b < P; b++) v += Kprev.data[mu * P + b] * delta[(k - 1) * P + b];
        if (mu < P) delta[k * P + mu] = delta[(k - 1) * P + mu] - (h / P) * v;
        else ftest[k * Pt + mu - P] = ftest[(k - 1) * Pt + mu - P] + (h / P) * v;
      }
    } else {
      const top = layers[L - 1].readout;
      for (let mu = 0; mu < n; mu++) {
        let f = 0;
        if (k > 0) for (let c = 0; c < R; c++) f += (E.data[mu * R + c] * top[c]) / gamma0;
        if (mu < P) delta[k * P + mu] = y[mu] - f;
        else ftest[k * Pt + mu - P] = f;
      }
    }
    setM(k);
    iterations++;
    maxStepIterations = 1;
  };
  for (let k = 0; k < K1; k++) {
    ctx.w = memoryWeights(grid, k);
    if (isImplicit(grid)) flowStep(k);
    else gdStep(k);
    [Kprev, Kcur] = [Kcur, Kprev];
    // gradient descent whose loss blew up stops here, this step recorded last (solve reports the divergence)
    const blown = !isImplicit(grid) && !(halfMeanSquare(delta.subarray(k * P, (k + 1) * P)) <= lossLimit);
    while ((next < grid.index.length && grid.index[next] === k) || blown) {
      sol.t.push(t[k]);
      sol.delta.push(Array.from(delta.subarray(k * P, (k + 1) * P)));
      sol.ftest.push(Array.from(ftest.subarray(k * Pt, (k + 1) * Pt)));
      const kern = kernelsAt(pb, layers, k);
      sol.ntk.push(kern.ntk);
      sol.Phi.push(kern.Phi);
      sol.G.push(kern.G);
      next++;
      opt.onProgress?.(next, grid.index.length);
      if (blown) return Object.assign(sol, { iterations, maxStepIterations, residual });
    }
  }
  return Object.assign(sol, { iterations, maxStepIterations, residual });
}

interface Context {
  R: number;
  K1: number;
  gamma0: number;
  /** m(t_j) = E_train^T Delta(t_j) / P, K1 x R */
  m: Float64Array;
  /** trapezoid weights of int_0^{t_k} for the current step */
  w: Float64Array;
}

/**
 * One layer's site: coefficients of (zeta(t_k), z(t_k)) on its sources, its kernels H^l, G^l and the
 * response operators it hands to its neighbours. Source columns: eta (R of xi for l = 1, else R per
 * grid time), then r (one constant for l = L, else one per grid time); a field at t_k only loads on
 * sources at times <= t_k (causality), which bounds every loop below.
 */
class Layer {
  readonly nEta: number;
  readonly ns: number;
  /** K1 blocks of (R + 1) rows x ns: rows 0..R-1 zeta(t_k), row R z(t_k) */
  readonly coef: Float64Array;
  /** H^l(t_k, t_j): (R K1) x (R K1), row (k R + a), column (j R + b) */
  readonly H: Float64Array;
  /** G^l(t_k, t_j): K1 x K1 */
  readonly G: Float64Array;
  /** A^l as an operator, A[(k K1 + j) R + a] (l < L) */
  readonly A: Float64Array;
  /** B^{l-1} as an operator, B[(k K1 + j) R + a] (l >= 2) */
  readonly B: Float64Array;
  private readonly c: Float64Array;
  private readonly d: Float64Array;
  private readonly ap: Float64Array;
  private readonly bp: Float64Array;
  private readonly Y: Float64Array;
  /** C^l(t_k, t_j) rows as found at each step, Crow[(k K1 + j) R + a] */
  private readonly Crow: Float64Array;
  /** Cov(zeta(t_k), z(t_k)) at the last step found (l = L): the outputs read off the fields, f = E . readout / gamma0 */
  readonly readout: Float64Array;
  /** X(i, j) = Cov(z_i, eta_j) (l >= 2), X[(i K1 + j) R + b] */
  private readonly X: Float64Array;
  private readonly V: Float64Array;
  private readonly U: Float64Array;
  private readonly T: Float64Array;

  constructor(
    readonly l: number,
    readonly L: number,
    private readonly ctx: Context,
  ) {
    const { R, K1 } = ctx;
    this.nEta = l === 1 ? R : R * K1;
    this.ns = this.nEta + (l === L ? 1 : K1);
    this.coef = new Float64Array(K1 * (R + 1) * this.ns);
    this.H = new Float64Array(R * K1 * R * K1);
    this.G = new Float64Array(K1 * K1);
    this.A = new Float64Array(l < L ? K1 * K1 * R : 0);
    this.B = new Float64Array(l >= 2 ? K1 * K1 * R : 0);
    this.c = new Float64Array(K1 * R);
    this.d = new Float64Array(K1 * R);
    this.ap = new Float64Array(R * this.ns);
    this.bp = new Float64Array(this.ns);
    this.Y = new Float64Array(this.ns);
    this.Crow = new Float64Array(K1 * K1 * R);
    this.X = new Float64Array(l >= 2 ? K1 * K1 * R : 0);
    this.V = new Float64Array(K1 * R);
    this.U = new Float64Array(K1 * R);
    this.T = new Float64Array(R * R);
    this.readout = new Float64Array(R);
  }

  get K1(): number {
    return this.ctx.K1;
  }

  /** Number of eta / r columns a field at t_j loads on. */
  etaEnd(j: number): number {
    return this.l === 1 ? this.ctx.R : this.ctx.R * (j + 1);
  }
  rEnd(j: number): number {
    return this.l === this.L ? 1 : j + 1;
  }

  /**
   * Row k of this layer from the current rows of its neighbours; `full` also recomputes H^l(t_k, .)
   * (the backward-only pass of the step skips it).
   */
  update(k: number, below: Layer | undefined, above: Layer | undefined, full: boolean): void {
    const { R, K1, gamma0, m, w } = this.ctx;
    const { c, d, ap, bp, ns, nEta } = this;
    const rows = R + 1;
    // C^l(t_k, t_j) and D^l(t_k, t_j) as operators (weights included), j <= k
    for (let j = 0; j <= k; j++)
      for (let a = 0; a < R; a++) {
        let cv = 0,
          dv = 0;
        if (below) {
          cv = below.A[(k * K1 + j) * R + a];
          let s = 0;
          for (let b = 0; b < R; b++) s += below.H[(k * R + a) * R * K1 + j * R + b] * m[j * R + b];
          cv += w[j] * s;
        } else cv = w[j] * m[j * R + a];
        if (above) dv = above.B[(k * K1 + j) * R + a] + w[j] * above.G[k * K1 + j] * m[j * R + a];
        else dv = w[j] * m[j * R + a];
        c[j * R + a] = cv;
        d[j * R + a] = dv;
        this.Crow[(k * K1 + j) * R + a] = cv;
      }
    // history: ap = sum_{j<k} C(t_k,t_j) z_j (R x ns), bp = sum_{j<k} D(t_k,t_j) . zeta_j (ns)
    ap.fill(0);
    bp.fill(0);
    for (let j = 0; j < k; j++) {
      const o = j * rows * ns;
      this.forCausal(j, (lo, hi) => {
        for (let a = 0; a < R; a++) {
          const ca = c[j * R + a],
            da = d[j * R + a];
          const zr = o + R * ns,
            zeta = o + a * ns,
            apo = a * ns;
          for (let col = lo; col < hi; col++) {
            ap[apo + col] += ca * this.coef[zr + col];
            bp[col] += da * this.coef[zeta + col];
          }
        }
      });
    }
    // diagonal: zeta_k = e_eta + gamma0 (ap + c_k z_k),  z_k = e_r + gamma0 (bp + d_k . zeta_k)
    let dc = 0;
    for (let a = 0; a < R; a++) dc += d[k * R + a] * c[k * R + a];
    const denom = 1 - gamma0 * gamma0 * dc;
    const o = k * rows * ns;
    const etaCol = (a: number) => (this.l === 1 ? a : k * R + a);
    const rCol = nEta + (this.l === this.L ? 0 : k);
    this.forCausal(k, (lo, hi) => {
      for (let col = lo; col < hi; col++) {
        let s = (col === rCol ? 1 : 0) + gamma0 * bp[col];
        for (let a = 0; a < R; a++) s += gamma0 * d[k * R + a] * ((col === etaCol(a) ? 1 : 0) + gamma0 * ap[a * ns + col]);
        const zk = s / denom;
        this.coef[o + R * ns + col] = zk;
        for (let a = 0; a < R; a++)
          this.coef[o + a * ns + col] = (col === etaCol(a) ? 1 : 0) + gamma0 * (ap[a * ns + col] + c[k * R + a] * zk);
      }
    });
    // responses handed on: A^l from the r columns of int C z, B^{l-1} from the eta columns of int D . zeta
    if (this.l < this.L)
      for (let j = 0; j <= k; j++)
        for (let a = 0; a < R; a++) this.A[(k * K1 + j) * R + a] = ap[a * ns + nEta + j] + c[k * R + a] * this.coef[o + R * ns + nEta + j];
    if (this.l >= 2)
      for (let j = 0; j <= k; j++)
        for (let a = 0; a < R; a++) {
          let s = bp[j * R + a];
          for (let b = 0; b < R; b++) s += d[k * R + b] * this.coef[o + b * ns + j * R + a];
          this.B[(k * K1 + j) * R + a] = s;
        }
    this.covarianceRow(k, below, above, full);
  }

  /** Calls fn(lo, hi) for the eta and the r column ranges a field at t_j loads on. */
  private forCausal(j: number, fn: (lo: number, hi: number) => void): void {
    fn(0, this.etaEnd(j));
    fn(this.nEta, this.nEta + this.rEnd(j));
  }

  /**
   * G^l(t_k, t_j) = z_k Sigma z_j^T for j <= k, and (with `full`) H^l(t_k, t_j) from
   * zeta_k = eta_k + gamma0 sum_i C(t_k, t_i) z_i:
   *   H(k,j) = Sigma_eta(k,j) + gamma0 sum_i C(k,i) X(i,j) + gamma0 sum_i X(i,k)^T C(j,i)^T
   *            + gamma0^2 sum_{i,i'} C(k,i) G(i,i') C(j,i')^T,      X(i,j) = Cov(z_i, eta_j),
   * which costs O((R k)^2) per row instead of the O(R^3 k^2) of the full coefficient product. Mirrored.
   */
  private covarianceRow(k: number, below: Layer | undefined, above: Layer | undefined, full: boolean): void {
    const { R, K1 } = this.ctx;
    const { ns, nEta, Y, coef } = this;
    const rows = R + 1,
      ld = R * K1,
      zo = R * ns;
    for (let j = 0; j <= k; j++) this.G[k * K1 + j] = 0;
    const top = this.l === this.L;
    if (top) this.readout.fill(0);
    // the two independent source blocks: eta (covariance I for l = 1, else H^{l-1}), r (1 for l = L, else G^{l+1})
    const parts = [
      { off: 0, end: (j: number) => this.etaEnd(j), sigma: below?.H, ldS: ld },
      { off: nEta, end: (j: number) => this.rEnd(j), sigma: above?.G, ldS: K1 },
    ];
    for (const { off, end, sigma, ldS } of parts) {
      // Y = z_k Sigma over this block
      this.sigmaProduct(k, off, end(k), sigma, ldS, Y);
      for (let j = 0; j <= k; j++) {
        const ej = end(j),
          oj = j * rows * ns + off + zo;
        let g = 0;
        for (let col = 0; col < ej; col++) g += Y[col] * coef[oj + col];
        this.G[k * K1 + j] += g;
      }
      // Cov(zeta_k, z_k) = zeta_k Sigma z_k^T
      if (top)
        for (let a = 0; a < R; a++) {
          const oa = k * rows * ns + a * ns + off;
          let v = 0;
          for (let col = 0; col < end(k); col++) v += coef[oa + col] * Y[col];
          this.readout[a] += v;
        }
      // X(k, .) = z_k Sigma_eta is the eta block of Y
      if (off === 0 && this.l >= 2) for (let col = 0; col < end(k); col++) this.X[k * K1 * R + col] = Y[col];
    }
    for (let j = 0; j < k; j++) this.G[j * K1 + k] = this.G[k * K1 + j];
    if (full) this.forwardRow(k, below);
  }

  /** out[col] = sum_p z_k[off + p] Sigma[p, col] over the first e columns of a source block (Sigma = I if absent). */
  private sigmaProduct(k: number, off: number, e: number, sigma: Float64Array | undefined, ldS: number, out: Float64Array): void {
    const src = k * (this.ctx.R + 1) * this.ns + this.ctx.R * this.ns + off;
    if (!sigma) {
      for (let col = 0; col < e; col++) out[col] = this.coef[src + col];
      return;
    }
    out.fill(0, 0, e);
    for (let p = 0; p < e; p++) {
      const v = this.coef[src + p];
      if (v === 0) continue;
      const so = p * ldS;
      for (let col = 0; col < e; col++) out[col] += v * sigma[so + col];
    }
  }

  /** H^l(t_k, t_j), j <= k, by the formula above. */
  private forwardRow(k: number, below: Layer | undefined): void {
    const { R, K1, gamma0: g } = this.ctx;
    const { ns, coef, Crow, X, V, U, T } = this;
    const rows = R + 1,
      ld = R * K1,
      zo = R * ns;
    // X(i, j)_b = Cov(z_i, eta_j,b): for l = 1 eta_j = xi, so it is z_i's xi coefficient for every j
    const xAt = this.l === 1 ? (i: number) => i * rows * ns + zo : (i: number, j: number) => (i * K1 + j) * R;
    const xs = this.l === 1 ? coef : X;
    if (below)
      // the column X(i, k), i < k, from Sigma_eta's column k = its row k (symmetric), just found
      for (let i = 0; i < k; i++) {
        const zi = i * rows * ns + zo,
          e = this.etaEnd(i);
        for (let b = 0; b < R; b++) {
          let s = 0;
          const hk = (k * R + b) * ld;
          for (let p = 0; p < e; p++) s += coef[zi + p] * below.H[hk + p];
          X[(i * K1 + k) * R + b] = s;
        }
      }
    // V(i') = sum_i C(k,i) G(i,i'), then U(i) = X(i,k) + gamma0 V(i)
    V.fill(0, 0, (k + 1) * R);
    for (let i = 0; i <= k; i++)
      for (let ip = 0; ip <= k; ip++) {
        const gi = this.G[i * K1 + ip];
        for (let a = 0; a < R; a++) V[ip * R + a] += Crow[(k * K1 + i) * R + a] * gi;
      }
    for (let i = 0; i <= k; i++) {
      const xo = xAt(i, k);
      for (let a = 0; a < R; a++) U[i * R + a] = xs[xo + a] + g * V[i * R + a];
    }
    for (let j = 0; j <= k; j++) {
      // T = sum_i C(k,i)^T X(i,j) + sum_{i<=j} U(i)^T C(j,i)   (R x R)
      T.fill(0);
      for (let i = 0; i <= k; i++) {
        const co = (k * K1 + i) * R,
          xo = xAt(i, j);
        for (let a = 0; a < R; a++) {
          const ca = Crow[co + a];
          for (let b = 0; b < R; b++) T[a * R + b] += ca * xs[xo + b];
        }
      }
      for (let i = 0; i <= j; i++) {
        const co = (j * K1 + i) * R;
        for (let a = 0; a < R; a++) {
          const ua = U[i * R + a];
          for (let b = 0; b < R; b++) T[a * R + b] += ua * Crow[co + b];
        }
      }
      for (let a = 0; a < R; a++)
        for (let b = 0; b < R; b++) {
          const s = (below ? below.H[(k * R + a) * ld + j * R + b] : a === b ? 1 : 0) + g * T[a * R + b];
          this.H[(k * R + a) * ld + j * R + b] = s;
          this.H[(j * R + b) * ld + k * R + a] = s;
        }
    }
  }
}

/** Initial guess for Delta(t_k): the polynomial through the last (up to three) steps, extrapolated. */
function predict(delta: Float64Array, k: number, P: number, t: Float64Array, y: readonly number[]): void {
  const prev = Math.min(k, 3);
  for (let a = 0; a < P; a++) {
    let v = k === 0 ? y[a] : 0;
    for (let i = 1; i <= prev; i++) {
      let lagrange = 1;
      for (let j = 1; j <= prev; j++) if (j !== i) lagrange *= (t[k] - t[k - j]) / (t[k - i] - t[k - j]);
      v += lagrange * delta[(k - i) * P + a];
    }
    delta[k * P + a] = v;
  }
}

/** Delta(t_k) and f_test(t_k) by the Crank-Nicolson step (grid.ts); returns the max change of Delta(t_k) from its previous value. */
function crankNicolson(delta: Float64Array, ftest: Float64Array, k: number, h: number, K0: Dense, K1: Dense, P: number): number {
  const Pt = K0.rows - P;
  const prev = delta.subarray((k - 1) * P, k * P);
  const next = crankNicolsonDelta(h, P, K0.data, K1.data, prev);
  let change = 0;
  for (let a = 0; a < P; a++) {
    change = Math.max(change, Math.abs(next[a] - delta[k * P + a]));
    delta[k * P + a] = next[a];
  }
  trapezoidTest(h, P, K0.data, K1.data, prev, next, ftest.subarray((k - 1) * Pt, k * Pt), ftest.subarray(k * Pt, (k + 1) * Pt));
  return change;
}

/** Phi^l(t_k,t_k) = E H^l E^T + Kperp over all points against the first `cols` points. */
function phiAt(pb: DeepLinearProblem, layer: Layer, k: number, cols: number): Dense {
  const { R, E, Kperp } = pb.coords;
  const n = E.rows,
    ld = R * layer.K1;
  const out = dense(n, cols);
  for (let mu = 0; mu < n; mu++)
    for (let nu = 0; nu < cols; nu++) {
      let s = Kperp.data[mu * n + nu];
      for (let a = 0; a < R; a++) {
        let ha = 0;
        for (let b = 0; b < R; b++) ha += layer.H[(k * R + a) * ld + k * R + b] * E.data[nu * R + b];
        s += E.data[mu * R + a] * ha;
      }
      out.data[mu * cols + nu] = s;
    }
  return out;
}

/** NTK(t_k) = sum_{l=0..L} G^{l+1}(t_k,t_k) Phi^l(t_k,t_k) over all points against the first `cols`. */
function ntkAt(pb: DeepLinearProblem, layers: Layer[], k: number, cols: number): Dense {
  const n = pb.Kx.rows;
  const out = dense(n, cols);
  const g = (l: number) => (l > pb.L ? 1 : layers[l - 1].G[k * layers[0].K1 + k]);
  for (let mu = 0; mu < n; mu++) for (let nu = 0; nu < cols; nu++) out.data[mu * cols + nu] = g(1) * pb.Kx.data[mu * n + nu];
  layers.forEach((layer, i) => {
    const phi = phiAt(pb, layer, k, cols),
      gl = g(i + 2);
    for (let q = 0; q < out.data.length; q++) out.data[q] += gl * phi.data[q];
  });
  return out;
}

function kernelsAt(pb: DeepLinearProblem, layers: Layer[], k: number) {
  const n = pb.Kx.rows;
  return {
    ntk: ntkAt(pb, layers, k, n),
    Phi: layers.map((layer) => phiAt(pb, layer, k, n)),
    G: layers.map((layer) => layer.G[k * layer.K1 + k]),
  };
}

function maxDiff(a: Float64Array, b: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
