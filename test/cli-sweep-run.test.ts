import { describe, expect, it } from 'vitest';
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../dist/src/core/config.js';
import { solveLazy } from '../dist/src/theory/lazy.js';
import { rawConfig, runCli, tempDir, writeIn } from './helpers.js';

const dir = tempDir('sweep');

/** Run the compiled CLI in the test directory: its exit status and stderr (what these tests read). */
const dmft = (...args: string[]) => {
  const { status, stderr } = runCli(args, { cwd: dir });
  return { status, stderr };
};

/** Write a sweep file into the test directory; returns its path. */
const sweepAt = (name: string, value: unknown) => writeIn(dir, name, value);

const base = rawConfig(
  { P: 8, Ptest: 6, D: 4, seed: 1 },
  { model: { depth: 1, activation: 'tanh', gamma0: 1 }, train: { T: 10, record: 6 } },
);
const sweep = { base, run: { kind: 'lazy' }, grid: { 'model.depth': [1, 2, 3], 'model.activation': ['tanh', 'relu', 'erf'] } };

/** A progress line off a terminal: ISO time, count, percent, the point, its seconds, ETA. */
const PROGRESS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ sweep \[\d+\/\d+\] \d+% point \d+ \(.*\)( FAILED)? \d+\.\d s, ETA \d\d:\d\d:\d\d$/gm;

/** results.jsonl as records sorted by index, without wall-clock times (the only part that varies). */
function records(out: string) {
  return readFileSync(join(out, 'results.jsonl'), 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => {
      const r = JSON.parse(l);
      delete r.seconds;
      // when and by which command line (another --out) it ran
      if (r.result) (delete r.result.meta.seconds, delete r.result.meta.command);
      return r;
    })
    .sort((a, b) => a.index - b.index);
}

describe('dmft sweep', () => {
  const whole = join(dir, 'whole');
  const sweepFile = sweepAt('depth.json', sweep);

  it('runs every point in workers: one line each in results.jsonl, equal to the point run alone, and summary.csv', () => {
    const r = dmft('sweep', sweepFile, '--out', whole, '--workers', '2');
    expect(r.status, r.stderr).toBe(0);
    const recs = records(whole);
    expect(recs.map((x) => x.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    // point 5 = depth 2 (second value of the first, slowest axis), erf (third value of the second axis)
    expect(recs[5].params).toEqual({ 'model.depth': 2, 'model.activation': 'erf' });
    const alone = solveLazy(parseConfig({ ...base, model: { depth: 2, activation: 'erf', gamma0: 1 } }));
    expect(recs[5].result.trainLoss).toEqual(alone.trainLoss);
    expect(recs[5].result.testLoss).toEqual(alone.testLoss);
    const csv = readFileSync(join(whole, 'summary.csv'), 'utf8').trimEnd().split('\n');
    expect(csv[0]).toBe('index,kind,model.depth,model.activation,trainLoss,testLoss,trainLossSem,testLossSem,seconds,error');
    expect(csv).toHaveLength(10);
    expect(csv[6].split(',').slice(0, 6)).toEqual([
      '5',
      'lazy',
      '2',
      'erf',
      String(alone.trainLoss.at(-1)),
      String(alone.testLoss!.at(-1)),
    ]);
  });

  it('running again skips finished points; a torn last line is dropped and its point run again', () => {
    const before = readFileSync(join(whole, 'results.jsonl'), 'utf8');
    expect(dmft('sweep', sweepFile, '--out', whole).status).toBe(0);
    expect(readFileSync(join(whole, 'results.jsonl'), 'utf8')).toBe(before);
    // a kill in the middle of a write: the last line is cut short
    const lines = before.trimEnd().split('\n');
    const torn = join(dir, 'torn');
    dmft('sweep', sweepFile, '--out', torn, '--shard', '1/9'); // creates the directory with point 0
    writeFileSync(join(torn, 'results.jsonl'), lines.slice(0, 7).join('\n') + '\n' + lines[7].slice(0, 40));
    const r = dmft('sweep', sweepFile, '--out', torn);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr.match(PROGRESS)).toHaveLength(2); // the torn point and the one never written
    expect(records(torn)).toEqual(records(whole));
  });

  it('shards 1/2 and 2/2, merged, equal the whole sweep', () => {
    const [a, b, merged] = ['shard1', 'shard2', 'merged'].map((d) => join(dir, d));
    expect(dmft('sweep', sweepFile, '--out', a, '--shard', '1/2').status).toBe(0);
    expect(dmft('sweep', sweepFile, '--out', b, '--shard', '2/2', '--workers', '1').status).toBe(0);
    expect(records(a).map((x) => x.index)).toEqual([0, 2, 4, 6, 8]);
    expect(records(b).map((x) => x.index)).toEqual([1, 3, 5, 7]);
    const m = dmft('sweep', 'merge', a, b, '--out', merged);
    expect(m.status, m.stderr).toBe(0);
    expect(m.stderr).toContain(`merged all 9 points of the sweep into ${merged}\n`);
    const lines = readFileSync(join(merged, 'results.jsonl'), 'utf8').trimEnd().split('\n');
    expect(lines.map((l) => JSON.parse(l).index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(records(merged)).toEqual(records(whole));
    expect(readFileSync(join(merged, 'summary.csv'), 'utf8').split('\n')).toHaveLength(11);
    // shards of different sweeps do not merge
    const other = join(dir, 'other-shard');
    expect(dmft('sweep', sweepAt('other-grid.json', { ...sweep, grid: { 'model.depth': [4] } }), '--out', other).status).toBe(0);
    const refused = dmft('sweep', 'merge', a, other, '--out', join(dir, 'never'));
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/^dmft: .*other-shard: holds a different sweep \(id \w+\) than .*shard1 \(id \w+\)\n$/);
    expect(dmft('sweep', 'merge', dir, '--out', join(dir, 'never')).stderr).toBe(`dmft: ${dir}: not a sweep directory (no sweep.json)\n`);
    expect(existsSync(join(dir, 'never'))).toBe(false);
  });

  it('a grid of lists with a kind axis and per-point failures: failures are recorded and the exit is 1', () => {
    const out = join(dir, 'mixed');
    const mixed = {
      base,
      run: { width: 16, seeds: 2 },
      grid: [
        { kind: ['lazy'], 'model.gamma0': [0] },
        // the second diverges: gradient descent with a huge step
        {
          kind: ['simulate'],
          'model.gamma0': [0.5],
          train: [
            { T: 10, record: 6 },
            { steps: 10, lr: 1000, record: 6 },
          ],
        },
      ],
    };
    const r = dmft('sweep', sweepAt('mixed.json', mixed), '--out', out);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      /^dmft: 1 point\(s\) failed, first: point 2 \(kind="simulate", model.gamma0=0.5, train=\{.*\}\): simulation diverged at t = /m,
    );
    const recs = records(out);
    expect(recs.map((x) => [x.kind, x.error === undefined])).toEqual([
      ['lazy', true],
      ['simulate', true],
      ['simulate', false],
    ]);
    expect(recs[1].result.width).toBe(16);
    expect(recs[1].result.seeds).toBe(2);
    // running again: the failure is still reported, nothing runs; --retry-failed runs it again
    const again = dmft('sweep', sweepAt('mixed.json', mixed), '--out', out);
    expect([again.status, again.stderr]).toEqual([
      1,
      `dmft: all 3 points of this sweep are already in ${out} (1 failed; --retry-failed runs them again)\n`,
    ]);
    const retry = dmft('sweep', sweepAt('mixed.json', mixed), '--out', out, '--retry-failed');
    expect(retry.status).toBe(1);
    expect(retry.stderr.match(/^\S+Z sweep \[1\/1\] 100% point 2 .* FAILED \d+\.\d s, ETA 00:00:00$/gm)).toHaveLength(1);
    // the retried point's second line is appended, then the file is rewritten with one line per point
    expect(records(out).map((x) => x.index)).toEqual([0, 1, 2]);
  });

  it('refuses bad sweeps with one line naming the field, exit 2', () => {
    const refused = (args: string[], message: string) => {
      const r = dmft(...args);
      expect(r.stderr.trim()).toBe(`dmft: ${message}`);
      expect(r.status).toBe(2);
    };
    const bad = (name: string, s: unknown) => ['sweep', sweepAt(name, s), '--out', join(dir, name + '-out')];
    refused(
      bad('neg.json', { ...sweep, grid: { 'model.gamma0': [1, -1] } }),
      'grid.model.gamma0: must be >= 0, got -1 (point {"model.gamma0":-1})',
    );
    refused(bad('typo.json', { ...sweep, grid: { 'model.gama0': [1] } }), 'grid.model.gama0: unknown field (point {"model.gama0":1})');
    refused(
      bad('nokind.json', { base, grid: { 'model.gamma0': [1] } }),
      'run.kind: required (one of lazy, solve, simulate), or a grid axis "kind"',
    );
    refused(bad('kind.json', { base, grid: { kind: ['lazy', 'magic'] } }), 'grid.kind: expected one of lazy, solve, simulate; got "magic"');
    refused(
      bad('width.json', { base, run: { kind: 'simulate', seeds: 2 }, grid: { 'model.gamma0': [1] } }),
      'run.width: required for simulate points (in run or as a grid axis)',
    );
    refused(bad('seeds.json', { base, run: { kind: 'simulate', width: 8 }, grid: { seeds: [2, 0] } }), 'grid.seeds: must be > 0, got 0');
    refused(bad('extra.json', { ...sweep, runs: 3 }), 'runs: unknown field');
    refused(
      bad('axis.json', { ...sweep, grid: { 'model..depth': [1] } }),
      'grid.model..depth: expected a run option or a dotted config path such as model.gamma0',
    );
    refused(
      bad('values.json', { ...sweep, grid: [{ 'model.depth': [1] }, { 'model.depth': 2 }] }),
      'grid[1].model.depth: expected array, got 2',
    );
    refused(
      bad('dup.json', { ...sweep, grid: [{ 'model.depth': [1, 2] }, { 'model.depth': [2] }] }),
      'grid[1]: repeats point 1 ({"model.depth":2})',
    );
    refused(bad('base.json', { ...sweep, base: { ...base, train: { T: 0 } } }), 'base.train.T: must be > 0, got 0');
    refused(bad('nobase.json', { ...sweep, base: 'missing.json' }), 'base: cannot read file (no such file)');
    refused(['sweep', sweepFile, '--shard', '3/2'], '--shard: expected i/n with 1 <= i <= n, got "3/2"');
    refused(['sweep', sweepFile, '--workers', '0'], '--workers: expected an integer >= 1, got "0"');
    // a directory that holds another sweep
    const other = dmft('sweep', sweepAt('other.json', { ...sweep, grid: { 'model.depth': [1] } }), '--out', whole);
    expect(other.status).toBe(2);
    expect(other.stderr).toMatch(
      /^dmft: --out: .*whole holds the results of a different sweep \(id \w+, this one is \w+\); use another directory\n$/,
    );
    expect(existsSync(join(dir, 'neg.json-out'))).toBe(false);
  });
});

describe('dmft sweep: messages, duplicates, partial merges', () => {
  const small = sweepAt('small.json', {
    base,
    run: { kind: 'lazy' },
    grid: { 'model.depth': [1, 2, 3], 'model.activation': ['tanh', 'relu'] },
  });
  const lineCount = (out: string) => readFileSync(join(out, 'results.jsonl'), 'utf8').trimEnd().split('\n').length;

  it('progress lines off a terminal carry the ISO time, count, percent, seconds and ETA; --quiet silences them', () => {
    const before = Date.now();
    const out = join(dir, 'progress');
    const r = dmft('sweep', small, '--out', out, '--workers', '1');
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stderr.match(PROGRESS)!;
    expect(lines).toHaveLength(6);
    expect(lines.map((l) => l.split(' ')[2])).toEqual(['[1/6]', '[2/6]', '[3/6]', '[4/6]', '[5/6]', '[6/6]']);
    expect(lines.map((l) => l.split(' ')[3])).toEqual(['16%', '33%', '50%', '66%', '83%', '100%']);
    expect(lines[5]).toMatch(/ETA 00:00:00$/);
    for (const l of lines) {
      const t = Date.parse(l.split(' ')[0]);
      expect(t).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
      expect(t).toBeLessThanOrEqual(Date.now());
    }
    // quiet: nothing at all on a clean run (no progress, no "wrote", no "nothing to run")
    const quiet = dmft('sweep', small, '--out', join(dir, 'quiet'), '--quiet');
    expect([quiet.status, quiet.stderr]).toEqual([0, '']);
    expect(lineCount(join(dir, 'quiet'))).toBe(6);
    expect(dmft('sweep', small, '--out', join(dir, 'quiet'), '--quiet').stderr).toBe('');
  });

  it('a resumed sweep with nothing left to run says so in one line', () => {
    const out = join(dir, 'progress');
    expect(dmft('sweep', small, '--out', out)).toEqual({
      status: 0,
      stderr: `dmft: all 6 points of this sweep are already in ${out}; nothing to run\n`,
    });
    expect(dmft('sweep', small, '--out', out, '--shard', '2/2')).toEqual({
      status: 0,
      stderr: `dmft: all 3 points of shard 2/2 are already in ${out}; nothing to run\n`,
    });
  });

  it('resume drops duplicate lines of results.jsonl (the last record wins) and rewrites the file; so does merge', () => {
    const out = join(dir, 'dups');
    expect(dmft('sweep', small, '--out', out).status).toBe(0);
    const lines = readFileSync(join(out, 'results.jsonl'), 'utf8').trimEnd().split('\n');
    // a second writer appended points 1 and 4 again (marked by their seconds)
    const again = lines
      .filter((l) => [1, 4].includes(JSON.parse(l).index))
      .map((l) => JSON.stringify({ ...JSON.parse(l), seconds: 1234.5 }));
    appendFileSync(join(out, 'results.jsonl'), again.join('\n') + '\n');
    expect(lineCount(out)).toBe(8);
    // merge reads the duplicated directory as it is: one record per point, the last
    const merged = join(dir, 'dups-merged');
    const m = dmft('sweep', 'merge', out, '--out', merged);
    expect(m.status, m.stderr).toBe(0);
    expect(m.stderr).toContain(
      `dmft: ${join(out, 'results.jsonl')}: 2 line(s) repeat a point recorded earlier; merged the last record of each\n`,
    );
    expect(m.stderr).toContain(`merged all 6 points of the sweep into ${merged}\n`);
    const mergedLines = readFileSync(join(merged, 'results.jsonl'), 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(mergedLines.map((r) => r.index)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(mergedLines.filter((r) => r.seconds === 1234.5).map((r) => r.index)).toEqual([1, 4]);
    expect(readFileSync(join(merged, 'summary.csv'), 'utf8').trimEnd().split('\n')).toHaveLength(7);
    expect(lineCount(out)).toBe(8); // merge does not rewrite its inputs
    // resume: nothing runs, the file is rewritten with one line per point, the last record of each
    const r = dmft('sweep', small, '--out', out);
    expect(r).toEqual({
      status: 0,
      stderr: `dmft: ${join(out, 'results.jsonl')}: 2 line(s) repeat a point recorded earlier; kept the last record of each and rewrote the file\ndmft: all 6 points of this sweep are already in ${out}; nothing to run\n`,
    });
    const kept = readFileSync(join(out, 'results.jsonl'), 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(kept.map((x) => x.index)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(kept.filter((x) => x.seconds === 1234.5).map((x) => x.index)).toEqual([1, 4]);
    const csv = readFileSync(join(out, 'summary.csv'), 'utf8').trimEnd().split('\n');
    expect(csv.map((row) => row.split(',')[0])).toEqual(['index', '0', '1', '2', '3', '4', '5']);
    expect(csv[2]).toMatch(/,1234\.5,$/);
  });

  it('merging 1 of 2 shards says how many points are merged and which are missing, exit 0', async () => {
    const a = join(dir, 'half1');
    expect(dmft('sweep', small, '--out', a, '--shard', '1/2').status).toBe(0);
    const merged = join(dir, 'half-merged');
    const m = dmft('sweep', 'merge', a, '--out', merged);
    expect(m.status, m.stderr).toBe(0);
    expect(m.stderr.trimEnd().split('\n').at(-1)).toBe(`merged 3 of 6 points into ${merged}; missing: points 1, 3, 5 (shard 2/2?)`);
    const { shardGuess } = await import('../dist/src/cli/sweep/merge.js');
    expect(shardGuess([1, 2, 5, 6, 9, 10], 12)).toBe('shards 2/4, 3/4');
    expect(shardGuess([2, 5, 8], 9)).toBe('shard 3/3');
    expect(shardGuess([5], 6)).toBeUndefined();
  });

  it('dmft sweep --help lists the options of the default command run, and points to docs/INTERFACE.md', () => {
    const r = runCli(['sweep', '--help']);
    expect(r.status).toBe(0);
    for (const option of ['--out <dir>', '--shard <i/n>', '--workers <n>', '--retry-failed', '--wait', '--quiet'])
      expect(r.stdout).toContain(`  ${option}`);
    expect(r.stdout).toContain('docs/INTERFACE.md');
    expect(r.stdout).not.toContain('shared/');
    const run = runCli(['sweep', 'run', '--help']);
    expect(run.stdout).not.toContain('shared/');
  });
});
