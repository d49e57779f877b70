import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../src/core/config.js';
import { configRecord, dataHash } from '../src/core/provenance.js';
import { rawConfig, runCli, tempDir, writeIn } from './helpers.js';

// Self-describing results (docs/INTERFACE.md, "Results"): config and meta.command in every result, the same
// standard-error fields for every sampled method, curves as CSV. Runs the compiled command line.
const dir = tempDir('results');
const dmft = (args: string[]) => runCli(args, { cwd: dir });
const file = (name: string, content: unknown) => writeIn(dir, name, content);

const config = rawConfig(
  { P: 6, D: 4, Ptest: 4, seed: 1 },
  { model: { depth: 1, activation: 'tanh', gamma0: 1 }, train: { T: 4, record: 5 }, solver: { samples: 1024 } },
);

describe('self-describing results', () => {
  it('a result carries the config as run and the command; running that config again gives the same numbers', () => {
    const r = JSON.parse(dmft(['solve', file('c.json', config)]).stdout);
    expect(r.meta.command).toBe(`dmft solve ${join(dir, 'c.json')}`);
    expect(r.config.data.synthetic).toEqual(config.data.synthetic);
    expect(r.config.data.hash).toMatch(/^[0-9a-f]{14}$/);
    // defaults filled in
    expect(r.config.model.parameterization).toBe('mup');
    expect(r.config.solver).toEqual({ method: 'auto', seed: 0, samples: 1024 });
    const again = JSON.parse(dmft(['solve', file('again.json', r.config)]).stdout);
    expect(again.trainLoss).toEqual(r.trainLoss);
    expect(again.testLoss).toEqual(r.testLoss);
    // a hash that does not match the data the spec gives now is refused
    const stale = dmft(['solve', file('stale.json', { ...r.config, data: { ...r.config.data, hash: '0123456789abcd' } })]);
    expect(stale.status).toBe(2);
    expect(stale.stderr).toMatch(/^dmft: data\.hash: the data given now hash to [0-9a-f]{14}, not "0123456789abcd"/);
  });

  it('inline arrays are kept when small and replaced by their sizes and hash when large', () => {
    const small = parseConfig({
      ...config,
      data: {
        X: [
          [1, 0],
          [0, 1],
        ],
        y: [1, -1],
      },
    });
    expect(
      configRecord(
        {
          data: {
            X: [
              [1, 0],
              [0, 1],
            ],
            y: [1, -1],
          },
        },
        small,
      ).data,
    ).toEqual(small.data);
    const X = Array.from({ length: 3000 }, (_, i) => [Math.cos(i), Math.sin(i), 1, 0]);
    const big = parseConfig({ ...config, data: { X, y: X.map((x) => x[0]) } });
    expect(configRecord({ data: { X, y: 0 } }, big).data).toEqual({ P: 3000, D: 4, Ptest: 0, hash: dataHash(big.data) });
    // the hash sees every number and where the train set ends
    const moved = parseConfig({ ...config, data: { X: [[1, 0]], y: [1], Xtest: [[0, 1]], ytest: [-1] } });
    expect(dataHash(moved.data)).not.toBe(dataHash(small.data));
    const nudged = parseConfig({
      ...config,
      data: {
        X: [
          [1, 0],
          [0, 1 + 1e-15],
        ],
        y: [1, -1],
      },
    });
    expect(dataHash(nudged.data)).not.toBe(dataHash(small.data));
  });

  it('sampled methods report trainLossSem / testLossSem at the top level, and --format csv writes them', () => {
    const cfg = file('csv.json', config);
    const solved = JSON.parse(dmft(['solve', cfg]).stdout);
    expect(solved.meta.method).toBe('two-layer');
    expect(solved.trainLossSem).toHaveLength(5);
    expect(solved.testLossSem).toHaveLength(5);
    const csv = dmft(['solve', cfg, '--format', 'csv']).stdout.trim().split('\n');
    expect(csv[0]).toBe('t,trainLoss,trainLossSem,testLoss,testLossSem');
    expect(csv).toHaveLength(6);
    expect(csv[4].split(',').map(Number)).toEqual([
      solved.t[3],
      solved.trainLoss[3],
      solved.trainLossSem[3],
      solved.testLoss[3],
      solved.testLossSem[3],
    ]);
    const lazy = dmft(['lazy', cfg, '--format', 'csv']).stdout.split('\n');
    expect(lazy[0]).toBe('t,trainLoss,testLoss');
    const bad = dmft(['lazy', cfg, '--format', 'xml']);
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim()).toBe('dmft: --format: expected json or csv, got "xml"');
  });

  it('a sweep writes curves.csv in long form, and its results carry their config', () => {
    const sweep = file('sweep.json', { base: config, run: { kind: 'lazy' }, grid: { 'model.gamma0': [0, 1], 'train.record': [3, 4] } });
    const out = join(dir, 'sweep-out');
    expect(dmft(['sweep', sweep, '--out', out, '--workers', '1', '--quiet']).status).toBe(0);
    const rows = readFileSync(join(out, 'curves.csv'), 'utf8').trim().split('\n');
    expect(rows[0]).toBe('index,kind,model.gamma0,train.record,t,trainLoss,trainLossSem,testLoss,testLossSem');
    expect(rows).toHaveLength(1 + 3 + 4 + 3 + 4);
    expect(rows[4].split(',').slice(0, 5)).toEqual(['1', 'lazy', '0', '4', '0']);
    const record = JSON.parse(readFileSync(join(out, 'results.jsonl'), 'utf8').split('\n')[1]);
    expect(record.result.config.train).toEqual({ T: 4, record: 4 });
    expect(record.result.meta.command).toMatch(/^dmft sweep /);
  });
});
