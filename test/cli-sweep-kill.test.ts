import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, rawConfig, runCli, tempDir, writeIn } from './helpers.js';

const dir = tempDir('sweep-kill');

const sweepFile = writeIn(dir, 'sweep.json', {
  base: rawConfig({ P: 8, Ptest: 6, D: 4, seed: 1 }, { model: { depth: 1, activation: 'tanh', gamma0: 1 }, train: { T: 10, record: 6 } }),
  run: { kind: 'simulate', seeds: 2 },
  grid: { 'model.gamma0': [0.25, 0.5, 1, 2], width: [128, 256] },
});

const lines = (out: string) =>
  existsSync(join(out, 'results.jsonl'))
    ? readFileSync(join(out, 'results.jsonl'), 'utf8')
        .split('\n')
        .filter((l) => l !== '')
    : [];

/** Records sorted by index without wall-clock times. */
const records = (out: string) =>
  lines(out)
    .map((l) => {
      const r = JSON.parse(l);
      delete r.seconds;
      delete r.result.meta.seconds;
      delete r.result.meta.command;
      return r;
    })
    .sort((a, b) => a.index - b.index);

const sweep = (out: string) => runCli(['sweep', sweepFile, '--out', out, '--workers', '2']);

describe('dmft sweep after SIGKILL, SIGINT', () => {
  it('resumes where it was killed and ends equal to an uninterrupted run', async () => {
    const killed = join(dir, 'killed');
    const child = spawn(process.execPath, [CLI, 'sweep', sweepFile, '--out', killed, '--workers', '2'], { stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_, signal) => resolve(signal)));
    // kill as soon as some points are written, with others in flight
    while (lines(killed).length < 2) await new Promise((r) => setTimeout(r, 5));
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    const survived = lines(killed).filter((l) => l.endsWith('}'));
    expect(survived.length).toBeGreaterThanOrEqual(2);
    expect(survived.length).toBeLessThan(8);
    for (const l of survived) expect(() => JSON.parse(l)).not.toThrow();

    const resumed = sweep(killed);
    expect(resumed.status, resumed.stderr).toBe(0);
    // only the points without a record ran again
    expect(resumed.stderr.match(/^\S+Z sweep \[\d+\/\d+\] \d+% point/gm)).toHaveLength(8 - survived.length);
    const whole = join(dir, 'whole');
    expect(sweep(whole).status).toBe(0);
    expect(records(killed)).toEqual(records(whole));
    expect(records(whole).map((r) => r.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(readFileSync(join(killed, 'summary.csv'), 'utf8')).toMatch(/^index,kind,model.gamma0,width,trainLoss,/);
    expect(readFileSync(join(killed, 'summary.csv'), 'utf8').trimEnd().split('\n')).toHaveLength(9);
  });

  it('SIGINT: says how many points are recorded, releases the lock and exits 130; the same command resumes', async () => {
    const out = join(dir, 'interrupted');
    const child = spawn(process.execPath, [CLI, 'sweep', sweepFile, '--out', out, '--workers', '2'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    while (lines(out).length < 2) await new Promise((r) => setTimeout(r, 5));
    child.kill('SIGINT');
    expect(await exited, err).toBe(130);
    const recorded = lines(out).length;
    expect(recorded).toBeLessThan(8);
    expect(err.trimEnd().split('\n').at(-1)).toBe(
      `dmft: interrupted (SIGINT): ${recorded} of 8 points of this sweep finished and recorded in ${out}; run the same command to resume`,
    );
    expect(existsSync(join(out, 'sweep.lock'))).toBe(false);
    expect(existsSync(join(out, 'sweep.lock.json'))).toBe(false);
    const resumed = sweep(out);
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(resumed.stderr.match(/^\S+Z sweep \[\d+\/\d+\] \d+% point/gm)).toHaveLength(8 - recorded);
    expect(records(out).map((r) => r.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });
});
