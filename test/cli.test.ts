import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { rawConfig, runCli, tempDir, writeIn, type CliRun } from './helpers.js';

// The compiled command line (npm test builds first).
const dir = tempDir('cli');
const dmft = (args: string[], input?: string) => runCli(args, { input });
const file = (name: string, content: unknown) => writeIn(dir, name, content);

const config = rawConfig(
  { P: 6, Ptest: 4, D: 4, seed: 1 },
  { model: { depth: 2, activation: 'erf', gamma0: 1 }, train: { T: 5, record: 6 } },
);

/** One line on stderr, exit 2, no stack trace. */
function expectRefused(r: CliRun, message: string) {
  expect(r.status).toBe(2);
  expect(r.stderr.trim()).toBe(`dmft: ${message}`);
  expect(r.stdout).toBe('');
}

describe('dmft command line', () => {
  it('lazy writes the INTERFACE result to stdout or --out', () => {
    const r = dmft(['lazy', file('ok.json', config)]);
    expect(r.status).toBe(0);
    const res = JSON.parse(r.stdout);
    expect(res.t).toEqual([0, 1, 2, 3, 4, 5]);
    expect(res.trainLoss).toHaveLength(6);
    expect(res.testLoss).toHaveLength(6);
    expect(res.ntkFinal).toHaveLength(6);
    expect(res.meta.method).toBe('static-ntk');
    const out = join(dir, 'res.json');
    const w = dmft(['lazy', file('ok2.json', config), '--out', out]);
    expect(w.status).toBe(0);
    expect(w.stdout).toBe('');
    expect(JSON.parse(readFileSync(out, 'utf8')).trainLoss).toEqual(res.trainLoss);
  });

  it('solve warns on stderr when the Monte Carlo solution fails its self-check (meta.consistency), and exits 0', () => {
    // gradient independence leaves out the responses, so its output read off the fields is not the NTK flow's
    const gi = {
      ...config,
      model: { depth: 2, activation: 'tanh', gamma0: 1.5 },
      solver: { method: 'gradient-independent', samples: 3072, replicas: 6, dt: 0.25 },
    };
    const r = dmft(['solve', '-', '--workers', '1'], JSON.stringify(gi));
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).meta.warnings[0]).toMatch(/gradient independence/);
    expect(r.stderr).toMatch(
      /^dmft: warning: the train loss read off the fields differs from the NTK flow's by up to [0-9.]+% \([0-9.]+ standard errors\)/m,
    );
  });

  it('solve warns on stderr when the Monte Carlo accuracy target is missed at solver.maxSamples (meta.accuracy), and exits 0', () => {
    const tight = {
      ...config,
      train: { T: 1, record: 3 },
      solver: { samples: 64, replicas: 2, responseSamples: 4, dt: 0.25, targetError: 1e-4, maxSamples: 128 },
    };
    const r = dmft(['solve', '-', '--workers', '2'], JSON.stringify(tight));
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).meta.samples).toBe(128);
    expect(r.stderr).toMatch(
      /^dmft: warning: the sampling error of the losses, [0-9.]+%, is above solver\.targetError \(0\.01%\) at solver\.maxSamples = 128/m,
    );
  });

  it('kernels writes Phi^l, G^l and the NTK over train + test points', () => {
    const r = dmft(['kernels', '-'], JSON.stringify(config));
    expect(r.status).toBe(0);
    const k = JSON.parse(r.stdout);
    expect(k.points).toEqual({ train: 6, test: 4 });
    expect(k.Phi).toHaveLength(2);
    expect(k.G).toHaveLength(2);
    expect(k.ntk).toHaveLength(10);
  });

  it('refuses bad input with one line naming the field', () => {
    expectRefused(dmft(['lazy', join(dir, 'missing.json')]), `${join(dir, 'missing.json')}: cannot read file (no such file)`);
    expectRefused(dmft(['lazy', dir]), `${dir}: cannot read file (is a directory)`);
    expectRefused(
      dmft(['lazy', file('bad.json', '{"data": [1,')]),
      `${join(dir, 'bad.json')}: invalid JSON (Unexpected end of JSON input)`,
    );
    expectRefused(
      dmft([
        'lazy',
        file('inf.json', JSON.stringify({ ...config, model: { ...config.model, gamma0: 2 } }).replace('"gamma0":2', '"gamma0":1e999')),
      ]),
      'model.gamma0: expected a finite number, got Infinity',
    );
    expectRefused(dmft(['lazy', file('neg.json', { ...config, train: { T: -1 } })]), 'train.T: must be > 0, got -1');
    expectRefused(
      dmft(['lazy', file('act.json', { ...config, model: { ...config.model, activation: 'swish' } })]),
      'model.activation: expected one of linear, relu, tanh, erf, softplus, gelu; got "swish"',
    );
  });

  it('solve refuses a solve too large for this machine at once, one line naming solver.samples', () => {
    const big = rawConfig(
      { P: 10, Ptest: 20, D: 8, seed: 1 },
      { model: { depth: 3, activation: 'relu', gamma0: 1.5 }, train: { T: 10, record: 21 } },
    );
    // 2^24 samples: tens of TB of response Jacobians
    const started = performance.now();
    const r = dmft(['solve', '-'], JSON.stringify({ ...big, solver: { samples: 2 ** 24 } }));
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toMatch(
      /^dmft: solver\.samples: one replica of 2097152 samples \(16777216 in 8 replicas\) needs [\d.]+ GB, [\d.]+ GB of it the Jacobians .*raise solver\.replicas \(fewer samples each\)$/,
    );
    expect(r.stdout).toBe('');
    expect(performance.now() - started).toBeLessThan(20_000);
  });

  it('usage errors exit non-zero with a short message; --help exits 0', () => {
    const r = dmft(['lazy']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/missing required argument 'config'/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(dmft(['frobnicate']).status).toBe(2);
    const h = dmft(['lazy', '--help']);
    expect(h.status).toBe(0);
    expect(h.stdout).toMatch(/--out <file>/);
  });
});
