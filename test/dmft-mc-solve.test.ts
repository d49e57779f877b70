import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/core/config.js';
import { accuracyTarget, nextSamples, planMonteCarlo, type McSolverOptions } from '../src/dmft/monte-carlo.js';
import { chooseMethod, solve } from '../src/dmft/solve.js';
import { scheduleOf } from '../src/core/schedule.js';
import { parsedConfig, refusal } from './helpers.js';

/** `dmft solve` with the Monte Carlo methods: choice, option checks, reproducibility, opt-in outputs. */
const tiny = (solver: object = {}, output: object = {}, model: object = {}) =>
  parsedConfig(
    { P: 4, D: 3, Ptest: 2, seed: 2 },
    {
      model: { depth: 2, activation: 'tanh', gamma0: 1, ...model },
      train: { T: 2, record: 5 },
      solver: { samples: 64, replicas: 2, responseSamples: 4, dt: 0.25, ...solver },
      output,
    },
  );

describe('dmft solve: monte-carlo methods', () => {
  it('auto picks monte-carlo for deep nonlinear nets, and the approximations by name', () => {
    expect(chooseMethod(tiny())).toBe('monte-carlo');
    expect(chooseMethod(tiny({}, {}, { depth: 3, activation: 'relu' }))).toBe('monte-carlo');
    expect(chooseMethod(tiny({ method: 'gradient-independent' }))).toBe('gradient-independent');
    expect(chooseMethod(tiny({ method: 'static-ntk' }))).toBe('static-ntk');
    expect(chooseMethod(tiny({}, {}, { activation: 'linear' }))).toBe('deep-linear');
  });

  it('refuses bad options with one line naming the field', () => {
    const refuse = (solver: object, field: string) =>
      expect(refusal(() => solve(tiny(solver))).message).toMatch(new RegExp(`^${field.replace('.', '\\.')}:`));
    refuse({ responses: 'adjoint' }, 'solver.responses');
    refuse({ responseSamples: 0 }, 'solver.responseSamples');
    refuse({ responseSamplesB: 1.5 }, 'solver.responseSamplesB');
    refuse({ replicas: 1 }, 'solver.replicas');
    refuse({ ibpRidge: -1 }, 'solver.ibpRidge');
    refuse({ kinkWidth: 0 }, 'solver.kinkWidth');
    // tanh has no kink to smooth: refused rather than ignored
    refuse({ kinkWidth: 0.25 }, 'solver.kinkWidth');
    const gi = { ...tiny().solver, responseSamples: undefined };
    delete gi.responseSamples;
    expect(() => solve(parseConfig({ ...tiny(), solver: { ...gi, method: 'gradient-independent', responses: 'exact' } }))).toThrow(
      /^solver\.responses: unknown option/,
    );
    refuse({ samples: 2, replicas: 2 }, 'solver.samples');
  });

  it('is a deterministic function of the seed; another seed changes the curve within its error bars', () => {
    const a = solve(tiny()),
      b = solve(tiny()),
      c = solve(tiny({ seed: 1 }));
    expect(b.trainLoss).toEqual(a.trainLoss);
    expect(b.testLoss).toEqual(a.testLoss);
    expect(c.trainLoss[4]).not.toEqual(a.trainLoss[4]);
    const sa = a.trainLossSem![4],
      sc = c.trainLossSem![4];
    // two independent estimates: within 5 combined standard errors
    expect(Math.abs(c.trainLoss[4] - a.trainLoss[4])).toBeLessThan(5 * Math.hypot(sa, sc));
  });

  it('reports residual history, sampling errors and the opt-in outputs (kernels per layer, alignment, predictions, histograms)', () => {
    const r = solve(tiny({}, { kernels: true, alignment: true, predictions: true, histograms: true }));
    expect(r.meta.method).toBe('monte-carlo');
    // response samples over the replicas, for A and B: 4 per replica for both (tanh), relu's B default 256 capped at the 32 per replica
    expect(r.meta.responseSamples).toEqual({ A: 8, B: 8 });
    expect(solve(tiny({}, {}, { activation: 'relu' })).meta.responseSamples).toEqual({ A: 8, B: 64 });
    expect(solve(tiny({ responseSamplesB: 16 })).meta.responseSamples).toEqual({ A: 8, B: 32 });
    // unset, they grow with the samples per replica beyond 1024 (1/64; relu's B 1/4), so `samples` alone buys precision
    const perReplica = (solver: object, model: object = {}) => {
      const cfg = tiny({ responseSamples: undefined, ...solver }, {}, model);
      return planMonteCarlo(cfg, scheduleOf(cfg.train), cfg.solver as McSolverOptions, 'monte-carlo').responseSamples;
    };
    expect(perReplica({ samples: 8192, replicas: 8 })).toEqual({ A: 16, B: 16 });
    expect(perReplica({ samples: 8192, replicas: 8 }, { activation: 'relu' })).toEqual({ A: 16, B: 256 });
    expect(perReplica({ samples: 32768, replicas: 8 })).toEqual({ A: 64, B: 64 });
    expect(perReplica({ samples: 32768, replicas: 8 }, { activation: 'relu' })).toEqual({ A: 64, B: 1024 });
    expect(perReplica({ samples: 32768, replicas: 8, responseSamplesB: 300 }, { activation: 'relu' })).toEqual({ A: 64, B: 300 });
    expect(r.meta.residual).toBeLessThan(1e-6);
    expect((r.meta.residualHistory as number[][]).length).toBe(2);
    expect(r.trainLossSem).toHaveLength(5);
    expect(r.testLossSem).toHaveLength(5);
    expect((r.meta.samplingError as { alignmentSem: number[] }).alignmentSem).toHaveLength(5);
    const kern = r.kernels as { Phi: number[][][][]; G: number[][][][]; ntk: number[][][] };
    expect(kern.Phi.length).toBe(2);
    expect(kern.Phi[1].length).toBe(5);
    expect(kern.Phi[1][4].length).toBe(6);
    // the reported NTK is sum_l G^{l+1} Phi^l (THEORY.md section 2) of the reported kernels, train block = ntkFinal
    expect(kern.ntk[4][0][1]).toBeCloseTo(r.ntkFinal[0][1], 12);
    expect((r.alignment as number[]).length).toBe(5);
    for (const v of r.predictions!.train[0]) expect(Math.abs(v)).toBeLessThan(1e-12);
    const h = r.histograms as { layer: number; edges: number[]; initial: number[]; final: number[] }[];
    expect(h.map((x) => x.layer)).toEqual([1, 2]);
    const width = h[1].edges[1] - h[1].edges[0];
    expect(h[1].final.reduce((s, v) => s + v * width, 0)).toBeCloseTo(1, 12);
  });
});

describe('dmft solve: monte-carlo accuracy target (solver.targetError, solver.maxSamples)', () => {
  const acc = { target: 0.025, maxSamples: 32768 };
  it('grows the samples by 1.2 (error / target)^2, at least 2x, in 256-sample blocks per replica, up to maxSamples', () => {
    expect(nextSamples(8192, 8, 0.025, acc)).toBeUndefined();
    expect(nextSamples(8192, 8, 0.02, acc)).toBeUndefined();
    // 1.2 (0.03 / 0.025)^2 = 1.73 < 2: twice the samples
    expect(nextSamples(8192, 8, 0.03, acc)).toBe(16384);
    // 1.2 (0.04 / 0.025)^2 = 3.07: 3.07 x 1024 = 3146 per replica -> 13 blocks of 256 = 3328
    expect(nextSamples(8192, 8, 0.04, acc)).toBe(8 * 3328);
    expect(nextSamples(8192, 8, 0.06, acc)).toBe(32768);
    expect(nextSamples(32768, 8, 0.06, acc)).toBeUndefined();
    expect(nextSamples(8192, 8, NaN, acc)).toBeUndefined();
  });

  it('applies unless solver.samples is fixed; refuses a maxSamples that cannot apply', () => {
    expect(accuracyTarget({})).toEqual({ target: 0.025, maxSamples: 32768 });
    expect(accuracyTarget({ samples: 4096 })).toBeUndefined();
    expect(accuracyTarget({ samples: 65536, targetError: 0.01 })).toEqual({ target: 0.01, maxSamples: 65536 });
    expect(() => accuracyTarget({ samples: 4096, maxSamples: 8192 })).toThrow(/^solver\.maxSamples:/);
    expect(() => solve(tiny({ targetError: 0.01, maxSamples: 32 }))).toThrow(/^solver\.maxSamples: must be >= solver\.samples \(64\)/);
    expect(() => solve(tiny({ targetError: 0 }))).toThrow(/^solver\.targetError:/);
  });

  it('repeats the solve with more samples until the target or maxSamples: the result is that solve, with the stages', () => {
    const fixed = (samples: number) => solve(tiny({ samples }));
    // a target the 64-sample solve misses: the next solve is capped at maxSamples = 256 and still misses, so a note says so
    const r = solve(tiny({ targetError: 1e-4, maxSamples: 256 }));
    const at256 = fixed(256);
    expect(r.trainLoss).toEqual(at256.trainLoss);
    expect(r.testLoss).toEqual(at256.testLoss);
    expect(r.meta.samples).toBe(256);
    const a = r.meta.accuracy as { targetError: number; maxSamples: number; stages: { samples: number; errorEstimate: number }[] };
    expect(a.stages.map((x) => x.samples)).toEqual([64, 256]);
    expect(a.stages[0].errorEstimate).toBe(fixed(64).meta.errorEstimate);
    expect(a.stages[1].errorEstimate).toBe(at256.meta.errorEstimate);
    expect(r.meta.warnings!.find((w) => /is above solver\.targetError/.test(w))).toMatch(
      /is above solver\.targetError \(0\.01%\) at solver\.maxSamples = 256/,
    );
    // a target the first solve meets: one solve, no warning of it
    const loose = solve(tiny({ targetError: 10 }));
    expect(loose.trainLoss).toEqual(fixed(64).trainLoss);
    expect((loose.meta.accuracy as typeof a).stages.length).toBe(1);
    expect((loose.meta.warnings ?? []).filter((w) => /targetError/.test(w))).toEqual([]);
    // fixed samples: no target, no meta.accuracy
    expect(fixed(64).meta.accuracy).toBeUndefined();
  });
});
