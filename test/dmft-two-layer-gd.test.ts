import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/core/config.js';
import { block, symmetricEigen } from '../src/core/linalg.js';
import type { TwoLayerMeta } from '../src/core/result.js';
import { allInputs } from '../src/core/schedule.js';
import { solve } from '../src/dmft/solve.js';
import { initialKernels } from '../src/theory/kernels.js';

/** Gradient descent of the two-layer particles (THEORY.md section 6: each particle takes the network's own step). */
const data = { synthetic: { kind: 'single-index', P: 8, Ptest: 6, D: 6, seed: 3 } };
const cfg = (activation: string, gamma0: number, train: Record<string, unknown>, solver: Record<string, unknown> = {}) =>
  parseConfig({ data, model: { depth: 1, activation, gamma0 }, train, solver });

function lambdaOverP(activation: 'linear' | 'tanh'): number {
  const c = cfg(activation, 1, { T: 1 });
  const P = c.data.X.length;
  const { values } = symmetricEigen(block(initialKernels(allInputs(c), 1, activation).ntk, 0, P, 0, P));
  return values[values.length - 1] / P;
}

describe('two-layer gradient descent', () => {
  it('linear: the particles agree with the deep-linear method at L = 1 within their sampling error', () => {
    const train = { steps: 30, lr: 1.6 / lambdaOverP('linear'), record: 11 };
    const particles = solve(cfg('linear', 1.5, train, { method: 'two-layer', samples: 65536 }));
    const exact = solve(cfg('linear', 1.5, train, { method: 'deep-linear' }));
    // the deep-linear method is exact here (test/dmft-deep-linear-gd.test.ts); the particles' error is their
    // standard error over replicas (4 SE: about 1 in 15000 for one Gaussian deviate, over 22 values)
    for (const curve of ['trainLoss', 'testLoss'] as const)
      exact[curve]!.forEach((v, k) => {
        const se = (curve === 'trainLoss' ? particles.trainLossSem! : particles.testLossSem!)[k];
        expect(Math.abs(particles[curve]![k] - v)).toBeLessThanOrEqual(4 * se + 1e-12);
      });
  }, 60_000);

  it('reports lr lambda_max(K(t_k)) / P at every recorded step, starting at that of the exact K(0)', () => {
    const ratio = 1.2;
    const r = solve(cfg('tanh', 1, { steps: 20, lr: ratio / lambdaOverP('tanh'), record: 5 }, { samples: 16384 }));
    const meta = r.meta as TwoLayerMeta;
    expect(meta.lrStability).toHaveLength(r.t.length);
    // the particles' NTK at t = 0 is a sample mean over 16384 particles: relative error O(1/sqrt(16384)) = 1%
    expect(Math.abs(meta.lrStability![0] / ratio - 1)).toBeLessThan(0.03);
    // feature learning moves the kernel
    expect(Math.abs(meta.lrStability!.at(-1)! / meta.lrStability![0] - 1)).toBeGreaterThan(0.05);
  }, 60_000);
});
