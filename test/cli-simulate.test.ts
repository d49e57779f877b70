import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../src/core/config.js';
import { simulate } from '../src/sim/ensemble.js';
import { rawConfig, runCli, tempDir, writeIn } from './helpers.js';

// `dmft simulate` (src/cli/simulate.ts), the compiled command line (npm test builds first).
const dir = tempDir('simulate');

const config = rawConfig(
  { P: 6, Ptest: 4, D: 4, seed: 1 },
  { model: { depth: 2, activation: 'erf', gamma0: 1 }, train: { T: 2, record: 5 } },
);
const file = writeIn(dir, 'config.json', config);

describe('dmft simulate', () => {
  it('writes the INTERFACE result with width, seeds and standard errors, equal to the library', () => {
    const out = join(dir, 'res.json');
    const r = runCli([
      'simulate',
      file,
      '--width',
      '32',
      '--seeds',
      '3',
      '--integrator',
      'rk4',
      '--dt',
      '0.05',
      '--workers',
      '2',
      '--out',
      out,
    ]);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('');
    const res = JSON.parse(readFileSync(out, 'utf8'));
    const lib = simulate(parseConfig(config), { width: 32, seeds: 3, integrator: 'rk4', dt: 0.05 });
    expect(res.t).toEqual([0, 0.5, 1, 1.5, 2]);
    expect(res.width).toBe(32);
    expect(res.seeds).toBe(3);
    expect(res.trainLoss).toEqual(lib.trainLoss);
    expect(res.testLoss).toEqual(lib.testLoss);
    expect(res.trainLossSem).toEqual(lib.trainLossSem);
    expect(res.testLossSem).toHaveLength(5);
    expect(res.ntkFinal).toHaveLength(6);
    expect(res.meta.method).toBe('simulate');
    expect(res.meta.integrator).toBe('rk4');
    // default integrator (Cash-Karp) to standard output; no progress bar when stderr is not a terminal, only the
    // result's warning
    const d = runCli(['simulate', file, '--width', '16', '--seeds', '1']);
    expect(d.status).toBe(0);
    expect(d.stderr).toBe('dmft: warning: one seed: the standard errors are not estimated (reported as 0)\n');
    expect(JSON.parse(d.stdout).meta.integrator).toBe('ck');
  });

  const refused: [string[], string][] = [
    [['--width', '0', '--seeds', '2'], '--width: expected an integer >= 1, got "0"'],
    [['--width', '8', '--seeds', 'x'], '--seeds: expected an integer >= 1, got "x"'],
    [['--width', '8', '--seeds', '2', '--dt', '0'], '--dt: expected a positive number, got "0"'],
    [['--width', '8', '--seeds', '2', '--dt', '-1'], '--dt: expected a positive number, got "-1"'],
    [['--width', '8', '--seeds', '2', '--integrator', 'euler'], '--integrator: expected ck or rk4, got "euler"'],
    [['--width', '8', '--seeds', '2', '--integrator', 'ck', '--dt', '0.1'], '--dt: is the step of the rk4 integrator, not of ck'],
    [['--width', '8', '--seeds', '2', '--tol', 'abc'], '--tol: expected a positive number, got "abc"'],
    [['--width', '8', '--seeds', '2', '--workers', '0'], '--workers: expected an integer >= 1, got "0"'],
  ];
  for (const [args, message] of refused)
    it(`refuses ${args.join(' ')} in one line, exit 2`, () => {
      const r = runCli(['simulate', file, ...args]);
      expect(r.status).toBe(2);
      expect(r.stderr.trim()).toBe(`dmft: ${message}`);
      expect(r.stdout).toBe('');
    });

  it('refuses gamma0 = 0 naming model.gamma0', () => {
    const z = writeIn(dir, 'zero.json', { ...config, model: { ...config.model, gamma0: 0 } });
    const r = runCli(['simulate', z, '--width', '8', '--seeds', '1']);
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toMatch(/^dmft: model\.gamma0: must be > 0/);
  });

  it('--help documents every option', () => {
    const r = runCli(['simulate', '--help']);
    expect(r.status).toBe(0);
    for (const o of ['--width <N>', '--seeds <S>', '--integrator <name>', '--dt <h>', '--tol <x>', '--workers <W>', '--out <file>'])
      expect(r.stdout).toContain(o);
  });
});
