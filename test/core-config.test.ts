import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parseConfig, parseConfigText, recordTimes } from '../src/core/config.js';
import { VERSION } from '../src/core/version.js';
import { refusal } from './helpers.js';

const X = Array.from({ length: 10 }, (_, i) => [Math.cos(i), Math.sin(i), 0.5]);
const y = X.map((x) => x[0]);
const good = () =>
  structuredClone({
    data: { X, y, Xtest: X.slice(0, 3), ytest: y.slice(0, 3) },
    model: { depth: 2, activation: 'tanh', gamma0: 1.0 },
    train: { T: 20, record: 41 },
    solver: { method: 'auto', samples: 4000, seed: 0, dt: 0.1 },
  }) as any;

/** The one-line message parseConfig gives for `raw`. */
const message = (raw: unknown): string => refusal(() => parseConfig(raw)).message;

describe('config', () => {
  it('accepts the INTERFACE.md example and fills defaults', () => {
    const c = parseConfig(good());
    expect(c.model.parameterization).toBe('mup');
    expect(c.train).toEqual({ kind: 'flow', T: 20, record: 41 });
    expect(c.output.predictions).toBe(false);
    const d = parseConfig({ ...good(), solver: undefined });
    expect(d.solver).toEqual({ method: 'auto', seed: 0 });
    expect(parseConfig(c)).toEqual(c);
  });

  it('refuses each bad input with one line naming the field', () => {
    const cases: [(c: any) => void, string][] = [
      [(c) => (c.data.y = y.slice(1)), 'data.y: expected 10 values (one per row of data.X), got 9'],
      [(c) => (c.data.X = []), 'data.X: needs at least 1 entry'],
      [(c) => (c.data.X = X.map((r, i) => (i === 4 ? r.slice(1) : r))), 'data.X[4]: expected 3 values (the input dimension D), got 2'],
      [(c) => (c.data.X[2] = [1, NaN, 0]), 'data.X[2][1]: expected a finite number, got NaN'],
      [(c) => (c.data.y = y.map((v, i) => (i === 7 ? Infinity : v))), 'data.y[7]: expected a finite number, got Infinity'],
      [(c) => (c.data.y = y.map((v, i) => (i === 7 ? 'a' : v))), 'data.y[7]: expected number, got "a"'],
      [(c) => (c.data.Xtest = [[1, 2]]), 'data.Xtest[0]: expected 3 values (the input dimension D), got 2'],
      [(c) => (c.data.ytest = [1]), 'data.ytest: expected 3 values (one per row of data.Xtest), got 1'],
      [(c) => delete c.data.ytest, 'data.ytest: data.Xtest and data.ytest go together'],
      [(c) => (c.model.activation = 'sigmoid'), 'model.activation: expected one of linear, relu, tanh, erf, softplus, gelu; got "sigmoid"'],
      [(c) => (c.model.gamma0 = -1), 'model.gamma0: must be >= 0, got -1'],
      [(c) => (c.model.depth = 0), 'model.depth: must be > 0, got 0'],
      [(c) => (c.model.depth = 1.5), 'model.depth: expected an integer, got 1.5'],
      [(c) => (c.model.gama0 = 1), 'model.gama0: unknown field'],
      [(c) => delete c.model, 'model: required'],
      [(c) => (c.train.T = 0), 'train.T: must be > 0, got 0'],
      [(c) => (c.train.T = -3), 'train.T: must be > 0, got -3'],
      [(c) => (c.train.record = 1), 'train.record: must be >= 2, got 1'],
      [(c) => (c.train = { steps: 10, lr: 0.1, record: 20 }), 'train.record: at most train.steps + 1 = 11 with gradient descent, got 20'],
      [(c) => (c.train = { steps: 10, lr: 0 }), 'train.lr: must be > 0, got 0'],
      [(c) => (c.solver.samples = 0), 'solver.samples: must be > 0, got 0'],
      [
        (c) => (c.solver.method = 'magic'),
        'solver.method: expected one of auto, two-layer, deep-linear, monte-carlo, static-ntk, gradient-independent, perturbative; got "magic"',
      ],
      [(c) => (c.solver.dt = -0.1), 'solver.dt: must be > 0, got -0.1'],
      [(c) => (c.data = { synthetic: { kind: 'linear', P: 0, D: 3 } }), 'data.synthetic.P: must be > 0, got 0'],
      [
        (c) => (c.data = { synthetic: { kind: 'cubic', P: 4, D: 3 } }),
        'data.synthetic.kind: expected one of linear, single-index, quadratic, sum; got "cubic"',
      ],
    ];
    for (const [mutate, expected] of cases) {
      const c = good();
      mutate(c);
      expect(message(c)).toBe(expected);
    }
    expect(message([1, 2])).toBe('config: expected a JSON object, got an array of 2');
  });

  it('JSON text: 1e999 parses to Infinity and is refused; invalid JSON names the file', () => {
    const text = JSON.stringify(good()).replace('"gamma0":1', '"gamma0":1e999');
    expect(() => parseConfigText(text, 'run.json')).toThrow('model.gamma0: expected a finite number, got Infinity');
    expect(() => parseConfigText('{"data": ', 'run.json')).toThrow(/^run\.json: invalid JSON/);
  });

  it('record times: evenly spaced 0..T for flow; t = k lr at evenly spaced steps for gradient descent', () => {
    expect(recordTimes({ kind: 'flow', T: 2, record: 5 }).t).toEqual([0, 0.5, 1, 1.5, 2]);
    expect(recordTimes({ kind: 'gd', steps: 10, lr: 0.5, record: 3 })).toEqual({ t: [0, 2.5, 5], steps: [0, 5, 10] });
  });

  it('VERSION equals package.json', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    expect(VERSION).toBe(pkg.version);
  });
});
