import { block, largestEigenvalue, toRows, type Dense } from '../core/linalg.js';
import { halfMeanSquare } from '../core/result.js';
import { empiricalKernels } from './kernels.js';
import type { Network } from './network.js';

/** Kernels at one recorded time over all points (train, then test): Phi[i] = Phi^{i+1}, G[i] = G^{i+1}. */
export interface KernelSnapshot {
  Phi: number[][][];
  G: number[][][];
  ntk: number[][];
}

/** What one network recorded (THEORY.md section 1: centered outputs f - f(0), losses 1/(2n) sum (y - f)^2). */
export interface Curves {
  t: number[];
  trainLoss: number[];
  testLoss?: number[];
  /** centered predictions at each recorded time */
  predictions: { train: number[][]; test?: number[][] };
  /** config.output.kernels only */
  kernels?: KernelSnapshot[];
  /** train x train NTK at the last recorded time */
  ntkFinal: number[][];
  /** gradient descent: lr lambda_max(K(t_k)) / P of this network's empirical NTK at each recorded step */
  lrStability?: number[];
}

/** Collects Curves from evaluations of `net` on all points (backward on `backPoints()` of them). */
export class Recorder {
  readonly curves: Curves;
  private readonly testResidual: Float64Array;

  constructor(
    private readonly net: Network,
    private readonly Kx: Dense,
    private readonly withKernels: boolean,
    private readonly ytest: readonly number[] | undefined,
    private readonly lr?: number,
  ) {
    this.curves = { t: [], trainLoss: [], predictions: { train: [] }, ntkFinal: [] };
    if (ytest) {
      this.curves.testLoss = [];
      this.curves.predictions.test = [];
    }
    if (withKernels) this.curves.kernels = [];
    if (lr !== undefined) this.curves.lrStability = [];
    this.testResidual = Float64Array.from(ytest ?? []);
  }

  /** Points whose backward fields a recording evaluation needs: all with kernels, else the training ones. */
  backPoints(): number {
    return this.withKernels ? this.net.n : this.net.P;
  }

  /** Record time t from the network's last evaluation (nf = n, nb = backPoints()); `last` adds ntkFinal. */
  record(t: number, last: boolean): void {
    const { net, curves, ytest } = this;
    const { P, n, f, f0 } = net;
    const centered = Array.from(f, (v, mu) => v - f0[mu]);
    curves.t.push(t);
    curves.trainLoss.push(halfMeanSquare(net.delta));
    curves.predictions.train.push(centered.slice(0, P));
    if (ytest) {
      for (let s = 0; s < n - P; s++) this.testResidual[s] = ytest[s] - centered[P + s];
      curves.testLoss!.push(halfMeanSquare(this.testResidual));
      curves.predictions.test!.push(centered.slice(P));
    }
    if (!this.withKernels && !last && this.lr === undefined) return;
    const k = empiricalKernels(net, this.Kx, this.backPoints());
    if (this.lr !== undefined) curves.lrStability!.push((this.lr * largestEigenvalue(block(k.ntk, 0, P, 0, P))) / P);
    if (this.withKernels)
      curves.kernels!.push({ Phi: k.Phi.slice(1).map(toRows), G: k.G.slice(1, net.shape.L + 1).map(toRows), ntk: toRows(k.ntk) });
    if (last)
      curves.ntkFinal = toRows(k.ntk)
        .slice(0, P)
        .map((row) => row.slice(0, P));
  }
}
