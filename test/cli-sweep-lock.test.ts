import { describe, expect, it, onTestFinished } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { CLI, rawConfig, runCli, tempDir, writeIn } from './helpers.js';

const dir = tempDir('sweep-lock');
/** The command line, run in the test directory. */
const dmft = (...args: string[]) => runCli(args, { cwd: dir });

const base = rawConfig(
  { P: 8, Ptest: 6, D: 4, seed: 1 },
  { model: { depth: 1, activation: 'tanh', gamma0: 1 }, train: { T: 10, record: 6 } },
);
const lazyFile = writeIn(dir, 'lazy.json', { base, run: { kind: 'lazy' }, grid: { 'model.depth': [1, 2, 3] } });

const manyFile = writeIn(dir, 'many.json', {
  base,
  run: { kind: 'simulate', seeds: 2, width: 256 },
  grid: { 'model.gamma0': [0.25, 0.5, 1, 2], 'train.T': [10, 11, 12, 13, 14, 15, 16, 17, 18, 19] },
});

const ISO = '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ';
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const keys = (out: string) =>
  readFileSync(join(out, 'results.jsonl'), 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l).index);

/** A lock as a holder leaves it: proper-lockfile's directory and the holder file. */
function fakeLock(out: string, holder: { pid: number; host: string }, mtime?: Date) {
  mkdirSync(join(out, 'sweep.lock'), { recursive: true });
  writeFileSync(join(out, 'sweep.lock.json'), JSON.stringify({ ...holder, since: '2026-01-02T03:04:05Z', command: 'dmft sweep run' }));
  if (mtime) utimesSync(join(out, 'sweep.lock'), mtime, mtime);
}
const unlocked = (out: string) => !existsSync(join(out, 'sweep.lock')) && !existsSync(join(out, 'sweep.lock.json'));

const until = async (cond: () => boolean, what: string) => {
  const end = Date.now() + 15_000;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('dmft sweep: one process writes a directory', () => {
  it('a second sweep (or merge) on a directory being written refuses with one line naming the holder, exit 2', async () => {
    const out = join(dir, 'busy');
    // many points on one worker: it is still running when it is stopped below
    const first = spawn(process.execPath, [CLI, 'sweep', manyFile, '--out', out, '--workers', '1'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let firstErr = '';
    first.stderr.on('data', (d) => (firstErr += d));
    const exited = new Promise<number | null>((resolve) => first.on('exit', (code) => resolve(code)));
    // a failed expectation must not leave the first process running
    onTestFinished(() => {
      if (first.exitCode === null && first.signalCode === null) first.kill('SIGKILL');
    });
    await until(() => existsSync(join(out, 'sweep.lock.json')), 'the holder file');
    const second = dmft('sweep', manyFile, '--out', out);
    expect(second.status).toBe(2);
    expect(second.stderr).toMatch(
      new RegExp(
        `^dmft: --out: ${esc(out)} is locked by pid ${first.pid} on host ${esc(hostname())} since ${ISO} \\(dmft sweep run\\); --wait waits for it\\n$`,
      ),
    );
    // merge locks its --out too; merging from a directory being written warns and merges what is there
    const merge = dmft('sweep', 'merge', out, '--out', out);
    expect([merge.status, merge.stderr.split('\n').slice(-2).join('\n')]).toEqual([2, second.stderr]);
    const partial = dmft('sweep', 'merge', out, '--out', join(dir, 'busy-merged'));
    expect(partial.status, partial.stderr).toBe(0);
    expect(partial.stderr).toContain(`dmft: ${out} is still being written by pid ${first.pid} on host ${hostname()} since `);
    expect(partial.stderr).toMatch(/\nmerged \d+ of 40 points into .*busy-merged; missing: points /);
    // SIGTERM: the first says what it recorded, releases the lock and exits 143
    first.kill('SIGTERM');
    expect(await exited, firstErr).toBe(143);
    const recorded = keys(out);
    expect(firstErr.trimEnd().split('\n').at(-1)).toBe(
      `dmft: interrupted (SIGTERM): ${recorded.length} of 40 points of this sweep finished and recorded in ${out}; run the same command to resume`,
    );
    expect(new Set(recorded).size).toBe(recorded.length);
    expect(recorded.length).toBeLessThan(40);
    expect(unlocked(out)).toBe(true);
  });

  it('a live holder on another host with a fresh lock is refused too; --wait waits until it is released', async () => {
    const out = join(dir, 'waited');
    mkdirSync(out);
    fakeLock(out, { pid: process.pid, host: 'node-elsewhere' });
    expect(dmft('sweep', lazyFile, '--out', out).stderr).toBe(
      `dmft: --out: ${out} is locked by pid ${process.pid} on host node-elsewhere since 2026-01-02T03:04:05Z (dmft sweep run); --wait waits for it\n`,
    );
    const waiter = spawn(process.execPath, [CLI, 'sweep', lazyFile, '--out', out, '--wait'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    waiter.stderr.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((resolve) => waiter.on('exit', (code) => resolve(code)));
    onTestFinished(() => {
      if (waiter.exitCode === null && waiter.signalCode === null) waiter.kill('SIGKILL');
    });
    await until(() => err.includes('\n'), 'the waiting line');
    expect(err).toBe(
      `dmft: waiting for the lock on ${out}, held by pid ${process.pid} on host node-elsewhere since 2026-01-02T03:04:05Z (dmft sweep run)\n`,
    );
    await new Promise((r) => setTimeout(r, 700));
    expect(existsSync(join(out, 'results.jsonl'))).toBe(false); // still waiting
    // the holder releases its lock: the waiter runs the sweep
    spawnSync('rm', ['-r', join(out, 'sweep.lock')]);
    expect(await exited, err).toBe(0);
    expect(keys(out)).toHaveLength(3);
    expect(unlocked(out)).toBe(true);
  });

  it('a stale lock is taken over: at once if its holder on this host is gone, after 30 s without refresh from any host', () => {
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    const gone = join(dir, 'gone');
    mkdirSync(gone);
    fakeLock(gone, { pid: dead, host: hostname() });
    const r = dmft('sweep', lazyFile, '--out', gone);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr.split('\n')[0]).toBe(
      `dmft: taking over the lock of ${gone} from pid ${dead} on host ${hostname()} since 2026-01-02T03:04:05Z (dmft sweep run): that process is gone`,
    );
    expect(keys(gone)).toHaveLength(3);
    expect(unlocked(gone)).toBe(true);

    const old = join(dir, 'old');
    mkdirSync(old);
    fakeLock(old, { pid: process.pid, host: 'node-elsewhere' }, new Date(Date.now() - 60_000));
    const s = dmft('sweep', lazyFile, '--out', old);
    expect(s.status, s.stderr).toBe(0);
    expect(s.stderr.split('\n')[0]).toMatch(
      new RegExp(
        `^dmft: took over the stale lock of ${esc(old)} from pid ${process.pid} on host node-elsewhere since 2026-01-02T03:04:05Z \\(dmft sweep run\\): not refreshed since ${ISO}$`,
      ),
    );
    expect(keys(old)).toHaveLength(3);
    expect(unlocked(old)).toBe(true);
  });

  it('the lock is released on a refusal (exit 2) and by merge', () => {
    const out = join(dir, 'refusing');
    expect(dmft('sweep', lazyFile, '--out', out).status).toBe(0);
    const otherFile = writeIn(dir, 'other.json', { base, run: { kind: 'lazy' }, grid: { 'model.depth': [4] } });
    const r = dmft('sweep', otherFile, '--out', out);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/holds the results of a different sweep/);
    expect(unlocked(out)).toBe(true);
    const merged = join(dir, 'refusing-merged');
    expect(dmft('sweep', 'merge', out, '--out', merged).status).toBe(0);
    expect(unlocked(merged)).toBe(true);
  });
});
