import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../src/core/config.js';
import { errorEstimateOf } from '../src/core/result.js';
import { relativeLossError } from '../src/dmft/observables.js';
import { solve } from '../src/dmft/solve.js';
import { simulate } from '../src/sim/ensemble.js';
import { initialKernels } from '../src/theory/kernels.js';
import { allInputs } from '../src/core/schedule.js';
import { rawConfig, refusal, runCli, tempDir, writeIn } from './helpers.js';

const raw = (model: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  rawConfig(
    { P: 6, Ptest: 4, D: 4, seed: 2 },
    { model: { depth: 1, activation: 'tanh', gamma0: 1, ...model }, train: { T: 3, record: 4 }, ...extra },
  );
const cfg = (model: Record<string, unknown>, extra: Record<string, unknown> = {}) => parseConfig(raw(model, extra));

describe('dmft solve: method choice and refusals', () => {
  it('auto picks static-ntk (gamma0 = 0 or NTK parameterization), deep-linear (linear), two-layer (L = 1)', () => {
    const small = { solver: { samples: 512 } };
    expect(solve(cfg({ gamma0: 0 })).meta.method).toBe('static-ntk');
    expect(solve(cfg({ parameterization: 'ntk' })).meta.method).toBe('static-ntk');
    expect(solve(cfg({ activation: 'linear', depth: 2 })).meta.method).toBe('deep-linear');
    expect(solve(cfg({}, small)).meta.method).toBe('two-layer');
  });

  it('refuses a method that does not fit the model, naming solver.method', () => {
    expect(refusal(() => solve(cfg({ depth: 2 }, { solver: { method: 'two-layer' } })))).toMatchObject({
      field: 'solver.method',
      reason: expect.stringMatching(/model.depth = 1/),
    });
    expect(refusal(() => solve(cfg({}, { solver: { method: 'deep-linear' } })))).toMatchObject({
      field: 'solver.method',
      reason: expect.stringMatching(/linear/),
    });
  });

  it('refuses bad solver options by name', () => {
    expect(refusal(() => cfg({}, { solver: { samples: 0 } }))).toMatchObject({ field: 'solver.samples' });
    expect(refusal(() => cfg({}, { solver: { tol: -1 } }))).toMatchObject({ field: 'solver.tol' });
    expect(refusal(() => solve(cfg({}, { solver: { replicas: 'eight' } })))).toMatchObject({ field: 'solver.replicas' });
    expect(refusal(() => solve(cfg({}, { solver: { replicas: 1 } })))).toMatchObject({ field: 'solver.replicas' });
    expect(refusal(() => solve(cfg({}, { solver: { damping: 0.5 } })))).toMatchObject({
      field: 'solver.damping',
      reason: expect.stringMatching(/unknown option for method two-layer/),
    });
    expect(refusal(() => solve(cfg({ activation: 'linear' }, { solver: { maxIterations: 0 } })))).toMatchObject({
      field: 'solver.maxIterations',
    });
    expect(refusal(() => solve(cfg({ activation: 'linear' }, { solver: { replicas: 4 } })))).toMatchObject({ field: 'solver.replicas' });
  });

  it('gradient descent: explicit times are for flows only', () => {
    const gd = { train: { steps: 10, lr: 0.1, record: 3 } };
    expect(refusal(() => solve(cfg({}, gd), { times: [0, 1] }))).toMatchObject({ field: 'times' });
    expect(refusal(() => solve(cfg({ activation: 'linear' }), { times: [0, 2, 1] }))).toMatchObject({ field: 'times[2]' });
  });
});

describe('dmft solve: outputs', () => {
  it('opt-in kernels, alignment, predictions (deep-linear); alignment at t = 0 from the static NTK', () => {
    const c = cfg({ activation: 'linear', depth: 2 }, { output: { kernels: true, alignment: true, predictions: true } });
    const r = solve(c);
    const n = 10,
      P = 6;
    const k = r.kernels as { Phi: number[][][][]; G: number[][][][]; ntk: number[][][] };
    expect([k.Phi.length, k.Phi[0].length, k.Phi[0][0].length, k.Phi[0][0][0].length]).toEqual([2, 4, n, n]);
    expect(k.G.length).toBe(2);
    expect(k.ntk.length).toBe(4);
    expect(r.predictions!.train.length).toBe(4);
    expect(r.predictions!.test![0]).toEqual([0, 0, 0, 0]);
    // independent: A = y^T K y / (|K|_F |y|^2) of the train block of the t = 0 NTK
    const K0 = initialKernels(allInputs(c), 2, 'linear').ntk;
    const y = c.data.y;
    let quad = 0,
      frob = 0;
    for (let a = 0; a < P; a++)
      for (let b = 0; b < P; b++) {
        quad += y[a] * K0.data[a * n + b] * y[b];
        frob += K0.data[a * n + b] ** 2;
      }
    const A0 = quad / (Math.sqrt(frob) * y.reduce((s, v) => s + v * v, 0));
    expect((r.alignment as number[])[0]).toBeCloseTo(A0, 12);
    expect(r.ntkFinal).toEqual(k.ntk[3].slice(0, P).map((row) => row.slice(0, P)));
  });

  it('simulate reports the kernels in the same layout as solve, and they agree within the width-N fluctuations', () => {
    const c = cfg({ activation: 'linear', depth: 2 }, { output: { kernels: true } });
    type Kernels = { Phi: number[][][][]; G: number[][][][]; ntk: number[][][] };
    const N = 1024;
    const theory = solve(c).kernels as Kernels,
      sim = simulate(c, { width: N, seeds: 1, integrator: 'rk4' }).kernels as Kernels;
    const shape = (k: Kernels) => [
      k.Phi.length,
      k.Phi[0].length,
      k.Phi[0][0].length,
      k.G.length,
      k.G[1].length,
      k.ntk.length,
      k.ntk[0].length,
    ];
    expect(shape(sim)).toEqual(shape(theory));
    expect(shape(sim)).toEqual([2, 4, 10, 2, 4, 4, 10]);
    // an entry of a width-N Gram matrix fluctuates by ~ sqrt((K_aa K_bb + K_ab^2) / N) <= sqrt(2 / N) max_a K_aa
    // (THEORY.md section 5); 6 of those over every layer, time and pair of points
    for (const which of ['Phi', 'G'] as const)
      for (let l = 0; l < 2; l++)
        for (let k = 0; k < 4; k++) {
          const T = theory[which][l][k],
            S = sim[which][l][k];
          const scale = Math.max(...T.map((row, a) => row[a]));
          for (let a = 0; a < 10; a++)
            for (let b = 0; b < 10; b++) expect(Math.abs(S[a][b] - T[a][b])).toBeLessThan(6 * Math.sqrt(2 / N) * scale);
        }
  });

  it('two-layer: histograms are densities, meta has the particles, evaluations and sampling error', () => {
    const r = solve(cfg({}, { solver: { samples: 1024 }, output: { histograms: true, kernels: true } }));
    expect(r.histograms).toHaveLength(1);
    const h = r.histograms![0];
    expect(h.layer).toBe(1);
    const width = h.edges[1] - h.edges[0];
    expect(h.initial.reduce((s, v) => s + v * width, 0)).toBeCloseTo(1, 10);
    expect(h.final.reduce((s, v) => s + v * width, 0)).toBeCloseTo(1, 10);
    expect(r.meta).toMatchObject({ method: 'two-layer', particles: 1024, replicas: 4 });
    expect(r.trainLossSem!.length).toBe(4);
    expect('samplingError' in r.meta).toBe(false);
    expect(errorEstimateOf(r.meta)).toBeGreaterThan(0);
    expect(r.meta).toMatchObject({ success: true, status: 'completed' });
  });
});

describe('dmft solve command line', () => {
  const dir = tempDir('solve');

  it('writes the INTERFACE result to --out', () => {
    const file = writeIn(dir, 'c.json', raw({ activation: 'linear', depth: 3 })),
      out = join(dir, 'r.json');
    const r = runCli(['solve', file, '--out', out]);
    expect(r.status).toBe(0);
    const res = JSON.parse(readFileSync(out, 'utf8'));
    expect(res.t).toEqual([0, 1, 2, 3]);
    expect(res.trainLoss.length).toBe(4);
    expect(res.testLoss.length).toBe(4);
    expect(res.meta).toMatchObject({ method: 'deep-linear' });
    expect(res.meta.residual).toBeLessThan(1e-8);
  });

  it('refuses a method that does not fit the model in one line, exit 2', () => {
    const r = runCli(['solve', writeIn(dir, 'bad.json', raw({}, { solver: { method: 'deep-linear' } }))]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^dmft: solver.method: "deep-linear" needs model.activation = "linear"/);
    expect(r.stdout).toBe('');
  });

  it('meta.errorEstimate is relative to the loss, floored at 1% of the loss at t = 0 (the agreement standard)', () => {
    // loss 1 -> 0.5 -> 1e-4: the last error (1e-4) counts against the floor 0.01, not against 1e-4
    expect(relativeLossError([0, 0.01, 1e-4], [1, 0.5, 1e-4])).toBeCloseTo(0.02, 15);
    expect(relativeLossError([0, 0.001, 1e-3], [1, 0.5, 1e-4])).toBeCloseTo(0.1, 15);
    expect(relativeLossError([0, 0], [0, 0])).toBe(0);
  });
});
