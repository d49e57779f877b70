import { describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, runCli, syntheticData, tempDir, writeIn } from './helpers.js';

// Loud failures of the compiled command line (npm test builds first): every wrong input is refused with one
// line naming the field (exit 2), every divergence exits 3 with what was recorded, nothing is silently dropped.
const dir = tempDir('fail');

/** The command line's run, and its wall-clock seconds. */
function dmft(args: string[], env: Record<string, string> = {}) {
  const started = performance.now();
  const r = runCli(args, { env });
  return { ...r, seconds: (performance.now() - started) / 1000 };
}

const file = (name: string, content: unknown) => writeIn(dir, name, content);

const data = (P: number, D = 4, Ptest = 4) => syntheticData({ P, D, Ptest, seed: 1 });
const twoLayer = { data: data(6), model: { depth: 1, activation: 'tanh', gamma0: 1 }, train: { T: 4, record: 5 } };

/** One line on stderr naming `field`, exit 2, nothing on stdout. */
function expectRefused(r: ReturnType<typeof dmft>, field: string) {
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(new RegExp(`^dmft: ${field.replace(/[.[\]]/g, '\\$&')}: `));
  expect(r.status).toBe(2);
  expect(r.stdout).toBe('');
}

describe('no silent wrong answer', () => {
  it('refuses unknown top-level config keys and sweep axes into them', () => {
    for (const key of ['modle', 'sovler', 'extra']) expectRefused(dmft(['solve', file(`${key}.json`, { ...twoLayer, [key]: 1 })]), key);
    const sweep = file('sweep-typo.json', { base: twoLayer, run: { kind: 'lazy' }, grid: { 'modle.gamma0': [0.5, 1] } });
    expectRefused(dmft(['sweep', sweep, '--out', join(dir, 'typo-out')]), 'grid.modle');
  });

  it('gradient descent that diverges exits 3, says where, and writes the curves up to it', () => {
    const out = join(dir, 'diverged.json');
    const r = dmft(['solve', file('gd.json', { ...twoLayer, train: { steps: 40, lr: 1000, record: 11 } }), '--out', out]);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/^dmft: two-layer: diverged at t = \d+/m);
    expect(r.stderr).toMatch(/lower train\.lr/);
    const partial = JSON.parse(readFileSync(out, 'utf8'));
    expect(partial.meta.diverged.t).toBeGreaterThan(0);
    expect(partial.t.length).toBe(partial.meta.diverged.recorded);
    expect(partial.t.length).toBeLessThan(11);
    // every loss kept is finite and below the blow-up limit (1e8 x max(Loss(0), 1))
    for (const v of [...partial.trainLoss, ...partial.testLoss]) expect(v).toBeLessThan(1e8 * Math.max(partial.trainLoss[0], 1));
  });

  it('lazy gradient descent above the stability edge exits 3 with the exact (diverging) curves', () => {
    const r = dmft(['lazy', file('lazy-gd.json', { ...twoLayer, train: { steps: 10, lr: 100, record: 11 } })]);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(
      /lambda_max \/ P = [\d.]+ > 2: gradient descent diverges in the lazy limit \(lower train\.lr below 2 P \/ lambda_max = [\d.]+\)/,
    );
    const result = JSON.parse(r.stdout);
    expect(result.t).toHaveLength(11);
    expect(result.meta.lrStability).toHaveLength(11);
    expect(result.meta.lrStability[0]).toBeGreaterThan(2);
    // the unstable mode grows: the last loss is far above the first
    expect(result.trainLoss[10]).toBeGreaterThan(100 * result.trainLoss[0]);
  });

  it('a sweep records a diverged point as failed, not as a success', () => {
    const sweep = file('sweep-div.json', {
      base: { ...twoLayer, train: { steps: 40, lr: 0.1, record: 5 } },
      run: { kind: 'solve' },
      grid: { 'train.lr': [0.1, 1000] },
    });
    const out = join(dir, 'div-out');
    const r = dmft(['sweep', sweep, '--out', out, '--workers', '1', '--quiet']);
    expect(r.status).toBe(1);
    const records = readFileSync(join(out, 'results.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(records.find((x) => x.params['train.lr'] === 0.1).error).toBeUndefined();
    expect(records.find((x) => x.params['train.lr'] === 1000).error).toMatch(/diverged/);
  });
});

describe('pipes', () => {
  it('a reader that stops early ends the command quietly: no stack trace, exit 0', () => {
    // over a megabyte of JSON: more than a pipe holds, so the write meets the closed pipe
    const cfg = file('big-out.json', { ...twoLayer, train: { T: 4, record: 4000 }, output: { predictions: true } });
    const r = spawnSync('bash', ['-c', `set -o pipefail; "${process.execPath}" "${CLI}" lazy "${cfg}" | head -c 10 > /dev/null`], {
      encoding: 'utf8',
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});

describe('outputs are produced or refused, never dropped', () => {
  it('simulate refuses output.histograms and produces output.alignment', () => {
    expectRefused(
      dmft([
        'simulate',
        file('hist.json', { ...twoLayer, output: { histograms: true } }),
        '--width',
        '64',
        '--seeds',
        '2',
        '--workers',
        '1',
      ]),
      'output.histograms',
    );
    const r = dmft([
      'simulate',
      file('align.json', { ...twoLayer, output: { alignment: true } }),
      '--width',
      '64',
      '--seeds',
      '2',
      '--workers',
      '1',
    ]);
    expect(r.status).toBe(0);
    const res = JSON.parse(r.stdout);
    expect(res.alignment).toHaveLength(5);
    for (const a of res.alignment) (expect(a).toBeGreaterThan(0), expect(a).toBeLessThanOrEqual(1));
    expect(res.kernels).toBeUndefined();
  });

  it('lazy produces output.kernels, the t = 0 kernels at every time, and refuses histograms', () => {
    const cfg = { ...twoLayer, model: { depth: 2, activation: 'relu', gamma0: 1 }, output: { kernels: true, alignment: true } };
    const r = dmft(['lazy', file('lazy-k.json', cfg)]);
    expect(r.status).toBe(0);
    const res = JSON.parse(r.stdout);
    const k0 = JSON.parse(dmft(['kernels', file('k0.json', cfg)]).stdout);
    expect(res.kernels.Phi).toHaveLength(2);
    expect(res.kernels.Phi[1]).toHaveLength(5);
    expect(res.kernels.Phi[1][4]).toEqual(k0.Phi[1]);
    expect(res.kernels.G[0][2]).toEqual(k0.G[0]);
    expect(res.kernels.ntk[3]).toEqual(k0.ntk);
    expect(new Set(res.alignment).size).toBe(1);
    expectRefused(dmft(['lazy', file('lazy-h.json', { ...cfg, output: { histograms: true } })]), 'output.histograms');
  });

  it('deep linear refuses output.histograms instead of a note in meta', () => {
    const cfg = { ...twoLayer, model: { depth: 2, activation: 'linear', gamma0: 1 }, output: { histograms: true } };
    expectRefused(dmft(['solve', file('dl-h.json', cfg)]), 'output.histograms');
  });
});

describe('large problems are refused at once, with the memory they need', () => {
  const quick = (r: ReturnType<typeof dmft>, field: string, pattern: RegExp) => {
    expectRefused(r, field);
    expect(r.stderr).toMatch(pattern);
    // before allocating or computing kernels: a node start-up and a parse (over a minute before the check came first)
    expect(r.seconds).toBeLessThan(10);
  };

  it('Monte Carlo at P = 1000', () => {
    const cfg = { data: data(1000, 8, 0), model: { depth: 2, activation: 'tanh', gamma0: 1 }, train: { T: 10 } };
    quick(dmft(['solve', file('mc1000.json', cfg)]), 'solver.maxSamples', /needs [\d.]+ GB.*lower data P/);
  });

  it('simulations of width 1e9, and width 30000 at depth 2', () => {
    quick(
      dmft(['simulate', file('w.json', twoLayer), '--width', '1000000000', '--seeds', '2']),
      '--width',
      /needs [\d.]+ GB .*the largest width that fits is \d+/,
    );
    const deep = file('w2.json', { ...twoLayer, model: { ...twoLayer.model, depth: 2 } });
    quick(dmft(['simulate', deep, '--width', '30000', '--seeds', '2']), '--width', /a depth-2 network of width 30000 needs [\d.]+ GB/);
  });

  it('deep linear with a large input rank, and kernels too large to write', () => {
    const dl = { data: data(800, 800, 0), model: { depth: 3, activation: 'linear', gamma0: 1 }, train: { T: 10 } };
    quick(dmft(['solve', file('dl-big.json', dl)]), 'train.T', /deep-linear solve needs about [\d.]+ GB/);
    const k = { ...twoLayer, data: data(2000), output: { kernels: true } };
    quick(dmft(['solve', file('k-big.json', k)]), 'output.kernels', /GB of JSON/);
  });
});

describe('progress off a terminal, and interrupts', () => {
  const ISO_LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ solve \d+% \(\d+\/\d+ steps\), \d+ s elapsed(, ETA \d+ s)?$/;

  it('timestamped lines on stderr at the interval asked for, none with --quiet', () => {
    const cfg = file('progress.json', { ...twoLayer, train: { T: 4, record: 41 } });
    const r = dmft(['solve', cfg], { DMFT_PROGRESS_SECONDS: '0' });
    expect(r.status).toBe(0);
    const lines = r.stderr.trim().split('\n');
    expect(lines.length).toBeGreaterThan(5);
    for (const line of lines) expect(line).toMatch(ISO_LINE);
    expect(lines[lines.length - 1]).toMatch(/ solve 100% \(41\/41 steps\)/);
    const q = dmft(['solve', cfg, '--quiet'], { DMFT_PROGRESS_SECONDS: '0' });
    expect(q.status).toBe(0);
    expect(q.stderr).toBe('');
  });

  /** Start `dmft solve`, send `signal` at its first progress line; its exit code and stderr. */
  async function interrupt(cfg: string, signal: NodeJS.Signals, args: string[] = []) {
    const child = spawn(process.execPath, [CLI, 'solve', cfg, ...args], { env: { ...process.env, DMFT_PROGRESS_SECONDS: '0' } });
    let err = '';
    child.stderr.on('data', (b) => {
      err += b;
      if (/ solve \d+%/.test(err) && !child.killed) child.kill(signal);
    });
    const code = await new Promise<number | null>((done) => child.on('exit', done));
    return { code, err };
  }

  it('SIGINT during a Monte Carlo solve in workers says how far it got and exits 130', async () => {
    const cfg = file('mc-int.json', {
      data: data(6),
      model: { depth: 2, activation: 'tanh', gamma0: 1 },
      train: { T: 10 },
      solver: { samples: 4096 },
    });
    const { code, err } = await interrupt(cfg, 'SIGINT', ['--workers', '2']);
    expect(code).toBe(130);
    expect(err).toMatch(/dmft: solve interrupted by SIGINT after [\d.]+ s: \d+\/\d+ steps finished; nothing written/);
  });

  it('SIGTERM during a deep-linear solve (one worker) does too, exit 143', async () => {
    const cfg = file('dl-int.json', {
      data: data(10, 8, 0),
      model: { depth: 3, activation: 'linear', gamma0: 1 },
      train: { T: 20, record: 41 },
    });
    const { code, err } = await interrupt(cfg, 'SIGTERM');
    expect(code).toBe(143);
    expect(err).toMatch(/dmft: solve interrupted by SIGTERM after [\d.]+ s: \d+\/41 steps finished; nothing written/);
  });
});
