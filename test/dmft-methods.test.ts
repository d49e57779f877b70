import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/core/config.js';
import { METHOD_REGISTRY } from '../src/dmft/methods.js';
import { prepareSolve, solve } from '../src/dmft/solve.js';
import { syntheticData } from './helpers.js';

// The method registry (src/dmft/methods.ts): what each entry declares is what solve enforces, once, before it runs.
const data = syntheticData({ kind: 'linear', P: 4, D: 3, Ptest: 2, seed: 1 });
const model = { depth: 2, activation: 'tanh', gamma0: 1 };
const methods = Object.keys(METHOD_REGISTRY) as (keyof typeof METHOD_REGISTRY)[];
const modelOf = (m: string) =>
  m === 'two-layer' ? { ...model, depth: 1 } : m === 'deep-linear' ? { ...model, activation: 'linear' } : model;
const cfg = (m: string, extra: object = {}) =>
  parseConfig({ data, model: modelOf(m), train: { T: 1, record: 3 }, solver: { method: m }, ...extra });

describe('method registry', () => {
  it('every method of solver.method has an entry, and auto picks one of them', () => {
    expect(methods.sort()).toEqual(['deep-linear', 'gradient-independent', 'monte-carlo', 'perturbative', 'static-ntk', 'two-layer']);
    expect(prepareSolve(parseConfig({ data, model, train: { T: 1 } })).method).toBe('monte-carlo');
  });

  it('refuses gradient descent where an entry has no gd schedule, naming train.steps', () => {
    for (const m of methods) {
      const c = parseConfig({ data, model: modelOf(m), train: { steps: 2, lr: 0.1, record: 3 }, solver: { method: m } });
      if (METHOD_REGISTRY[m].schedules.includes('gd')) expect(() => prepareSolve(c), m).not.toThrow();
      else expect(() => prepareSolve(c), m).toThrow(/^train\.steps: the .* solver integrates gradient flow/);
    }
  });

  it('refuses every opt-in output an entry does not produce, naming it, and accepts the others', () => {
    for (const m of methods)
      for (const key of ['predictions', 'kernels', 'alignment', 'histograms'] as const) {
        const c = cfg(m, { output: { [key]: true } });
        if ((METHOD_REGISTRY[m].outputs as readonly string[]).includes(key)) expect(() => prepareSolve(c), `${m} ${key}`).not.toThrow();
        else
          expect(() => prepareSolve(c), `${m} ${key}`).toThrow(new RegExp(`^output\\.${key}: not produced by ${METHOD_REGISTRY[m].label}`));
      }
  });

  it("refuses another method's options, and fills in the entry's defaults", () => {
    expect(() => prepareSolve(cfg('deep-linear', { solver: { method: 'deep-linear', replicas: 4 } }))).toThrow(
      /^solver\.replicas: unknown option for method deep-linear/,
    );
    expect(() => prepareSolve(cfg('two-layer', { solver: { method: 'two-layer', replicas: 1 } }))).toThrow(
      /^solver\.replicas: must be >= 2/,
    );
    expect(prepareSolve(cfg('two-layer')).options).toMatchObject({ samples: 16384, replicas: 4, tol: 1e-4, controlVariate: false });
    expect(prepareSolve(cfg('deep-linear')).options).toMatchObject({ tol: 1e-8, maxIterations: 50, errorEstimate: true });
    // Monte Carlo keeps an unset samples unset: it means "grow the samples to the accuracy target"
    expect(prepareSolve(cfg('monte-carlo')).options.samples).toBeUndefined();
    const r = solve(cfg('two-layer', { solver: { method: 'two-layer', samples: 64 } }));
    expect(r.meta).toMatchObject({ method: 'two-layer', particles: 64, replicas: 4 });
  });
});
